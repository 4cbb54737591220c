"""Input layers: where data enters the network and is normalized."""
import numpy as np

from ..options import OptionError, choice
from .base import Layer, Memory, layer_options, learnable_array

_NORMALIZATIONS = ("zerocenter", "none")


class ImageInputLayer(Layer):
    """Image input of size ``InputSize = [h w c]``.

    Normalization ``'zerocenter'`` (default) computes ``Z = X - Mean``. With the default
    ``NormalizationDimension='auto'`` the trainer sets ``Mean`` (1×1×c) to the per-channel
    mean of all training images before training; a user-given ``Mean`` of size 1×1×c or
    h×w×c is used as is when ``ResetInputNormalization`` is false. ``'none'`` passes X on.
    """

    DefaultName = "imageinput"
    Description = "Image input"
    NumInputs = 0
    InputNames = ()

    def __init__(self, InputSize, Name="", Normalization="zerocenter", Mean=None,
                 NormalizationDimension="auto"):
        super().__init__(Name)
        size = np.atleast_1d(np.asarray(InputSize))
        if size.size == 2:
            size = np.append(size, 1)
        if size.size != 3 or not np.all(size == np.round(size)) or np.any(size < 1):
            raise OptionError(f"imageInputLayer: InputSize must be [h w] or [h w c] positive "
                              f"integers; received {InputSize!r}.")
        self.InputSize = tuple(int(s) for s in size)
        self.Normalization = choice("imageInputLayer", "Normalization", Normalization, _NORMALIZATIONS)
        self.NormalizationDimension = choice("imageInputLayer", "NormalizationDimension",
                                             NormalizationDimension, ("auto", "channel", "element"))
        self.Mean = None
        if Mean is not None:
            mean = np.asarray(Mean, np.float32)
            h, w, c = self.InputSize
            if mean.size == c:
                mean = mean.reshape(1, 1, c)
            elif mean.size == h * w * c:
                mean = mean.reshape(h, w, c)
            else:
                raise ValueError(f"imageInputLayer: Mean must have size 1×1×{c} or {h}×{w}×{c}; "
                                 f"received {'×'.join(map(str, mean.shape))}.")
            self.Mean = learnable_array("imageInputLayer", "Mean", mean)

    def initialize(self, input_size, rng):
        return self.InputSize

    def statistics(self, X):
        """The normalization statistics of training images ``X`` (N×C×H×W), MATLAB shapes."""
        if self.Normalization == "none":
            return {}
        if self.NormalizationDimension == "element":
            mean = X.mean(axis=0, dtype=np.float64).transpose(1, 2, 0)
        else:
            mean = X.mean(axis=(0, 2, 3), dtype=np.float64).reshape(1, 1, -1)
        return {"Mean": mean.astype(np.float32)}

    def predict(self, X):
        if self.Normalization == "none":
            return X
        if self.Mean is None:
            raise ValueError(f"{self.Name}: Mean is empty. Train the network, or give "
                             f"imageInputLayer(..., Mean=m) with m of size 1×1×{self.InputSize[2]}.")
        return X - self.Mean.transpose(2, 0, 1).astype(X.dtype)[None]

    def forward(self, X):
        return self.predict(X), Memory()

    def backward(self, dLdZ, memory):
        return dLdZ, {}

    def _display_properties(self):
        return {"Name": self.Name, "InputSize": self.InputSize, "Normalization": self.Normalization}


def imageInputLayer(inputSize, *pairs, **options):
    """``imageInputLayer([h w c], Normalization="zerocenter", Name=...)``: MATLAB's image input.

    Example::

        >>> from minidl import imageInputLayer
        >>> imageInputLayer([28, 28, 1]).InputSize
        (28, 28, 1)
    """
    values = layer_options("imageInputLayer", pairs, options,
                           {"Normalization": "zerocenter", "Mean": None, "NormalizationDimension": "auto"})
    return ImageInputLayer(inputSize, **values)
