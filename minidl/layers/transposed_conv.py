"""2-D transposed convolution (the adjoint of a convolution; "deconvolution")."""
import numpy as np

from ..kernels import conv as kernels
from ..options import integer
from .base import (Layer, Memory, as_padding, as_pair, auto_or_count, check_channels, initial_constant,
                   initial_weights, layer_options, learnable_array, require_image, weight_and_bias_options)


class TransposedConvolution2DLayer(Layer):
    """Transposed convolution: the adjoint (input gradient) of a convolution whose filters are
    ``Weights`` — ``Z[n,f,i·sh + u − t, j·sw + v − l] += Σ_c Weights[u,v,f,c] · X[n,c,i,j]``,
    plus ``Bias[f]``, with the output cropped by ``Cropping`` ([top bottom left right]).

    ``Weights`` is FilterSize(1)×FilterSize(2)×NumFilters×NumChannels (MATLAB's order: the
    filters third) and ``Bias`` 1×1×NumFilters. Output size: ``sh·(h − 1) + kh − top −
    bottom`` (likewise for the width); ``Cropping='same'`` gives ``sh·h`` and crops
    ``kh − sh`` rows, the odd one at the bottom (right), the adjoint of 'same' padding.
    Defaults: Glorot-uniform weights, zero bias, learn-rate factors 1, ``WeightL2Factor`` 1,
    ``BiasL2Factor`` 0.

    Forward runs the convolution kernels' input gradient; backward runs the convolution
    itself (``dL/dX``) and its weight gradient with the roles of X and dL/dZ swapped.
    """

    DefaultName = "transposed-conv"
    _owner = "transposedConv2dLayer"
    Description = "Transposed convolution"
    learnables = {"Weights": "Weight", "Bias": "Bias"}

    def __init__(self, FilterSize, NumFilters, Name="", Stride=1, Cropping=0, NumChannels="auto", Weights=None,
                 Bias=None, WeightsInitializer="glorot", BiasInitializer="zeros", WeightLearnRateFactor=1,
                 BiasLearnRateFactor=1, WeightL2Factor=1, BiasL2Factor=0):
        super().__init__(Name)
        owner = self._owner
        self.FilterSize = as_pair(owner, "FilterSize", FilterSize)
        self.NumFilters = integer(owner, "NumFilters", NumFilters)
        self.Stride = as_pair(owner, "Stride", Stride)
        self.Cropping = as_padding(owner, Cropping, "Cropping")
        self.CroppingMode = "same" if self.Cropping == "same" else "manual"
        self.NumChannels = auto_or_count(owner, "NumChannels", NumChannels)
        weight_and_bias_options(owner, self, WeightsInitializer, BiasInitializer,
                                WeightLearnRateFactor=WeightLearnRateFactor, BiasLearnRateFactor=BiasLearnRateFactor,
                                WeightL2Factor=WeightL2Factor, BiasL2Factor=BiasL2Factor)
        kh, kw = self.FilterSize
        self.Weights = learnable_array(owner, "Weights", Weights)
        if self.Weights is not None:
            shape = self.Weights.shape + (1,) * (4 - self.Weights.ndim)
            if self.Weights.ndim > 4 or shape[:3] != (kh, kw, self.NumFilters) or \
                    self.NumChannels not in ("auto", shape[3]):
                raise ValueError(f"{owner}: Weights must have size {kh}×{kw}×{self.NumFilters}×NumChannels "
                                 f"(FilterSize×NumFilters×NumChannels); received "
                                 f"{'×'.join(map(str, self.Weights.shape))}. Give weights of that size, or "
                                 f"change FilterSize/NumFilters to match them.")
            self.Weights = self.Weights.reshape(shape)
            self.NumChannels = shape[3]
        self.Bias = learnable_array(owner, "Bias", Bias, (1, 1, self.NumFilters))
        self.CroppingSize = None

    def initialize(self, input_size, rng):
        require_image(self, self._owner, input_size)
        h, w, c = input_size
        check_channels(self, input_size, self.NumChannels)
        self.NumChannels = c
        (kh, kw), (sh, sw) = self.FilterSize, self.Stride
        if self.Cropping == "same":
            crops = []
            for k, s in ((kh, sh), (kw, sw)):
                total = max(k - s, 0)
                crops += [total // 2, total - total // 2]
            self.CroppingSize = tuple(crops)
        else:
            self.CroppingSize = self.Cropping
        t, b, l, r = self.CroppingSize
        out = (sh * (h - 1) + kh - t - b, sw * (w - 1) + kw - l - r)
        if self.Cropping == "same":
            out = (sh * h, sw * w)
        if min(out) < 1:
            raise ValueError(f"{self.Name or self._owner}: Cropping {self.CroppingSize} removes the whole output "
                             f"({out[0]}×{out[1]} before it is positive); use a smaller Cropping or a larger "
                             f"FilterSize/input.")
        if self.Weights is None:
            self.Weights = initial_weights(self.Name, self.WeightsInitializer, rng, (kh, kw, self.NumFilters, c),
                                           kh * kw * c, kh * kw * self.NumFilters)
        if self.Bias is None:
            self.Bias = initial_constant(self.Name, "BiasInitializer", self.BiasInitializer, rng,
                                         (1, 1, self.NumFilters))
        return (*out, self.NumFilters)

    def _output_hw(self, X):
        (kh, kw), (sh, sw) = self.FilterSize, self.Stride
        t, b, l, r = self.CroppingSize
        return sh * (X.shape[2] - 1) + kh - t - b, sw * (X.shape[3] - 1) + kw - l - r

    def predict(self, X):
        return self.forward(X)[0]

    def forward(self, X):
        Ho, Wo = self._output_hw(X)
        weights = np.ascontiguousarray(self.Weights, X.dtype)
        Z = kernels.conv2d_backward_input(np.ascontiguousarray(X), weights, (X.shape[0], self.NumFilters, Ho, Wo),
                                          self.Stride, (1, 1), self.CroppingSize)
        Z += self.Bias.reshape(1, -1, 1, 1).astype(X.dtype)
        return self._same_size(Z, X), Memory(X=X, shape=Z.shape)

    def _same_size(self, Z, X):
        """'same' with FilterSize < Stride: zero rows/columns complete the sh·h × sw·w output."""
        if self.Cropping != "same":
            return Z
        Ho, Wo = self.Stride[0] * X.shape[2], self.Stride[1] * X.shape[3]
        if Z.shape[2:] == (Ho, Wo):
            return Z
        full = np.empty((Z.shape[0], Z.shape[1], Ho, Wo), Z.dtype)
        full[...] = self.Bias.reshape(1, -1, 1, 1)
        full[:, :, :Z.shape[2], :Z.shape[3]] = Z
        return full

    def backward(self, dLdZ, memory):
        X, dtype = memory.X, dLdZ.dtype
        dB = dLdZ.sum(axis=(0, 2, 3), dtype=np.float64).astype(dtype).reshape(1, 1, -1)
        dLdZ = np.ascontiguousarray(dLdZ[:, :, :memory.shape[2], :memory.shape[3]])
        weights = np.ascontiguousarray(self.Weights, dtype)
        dX = kernels.conv2d_forward(dLdZ, weights, np.zeros(X.shape[1], dtype), self.Stride, (1, 1),
                                    self.CroppingSize)
        dW, _ = kernels.conv2d_backward_weights(np.ascontiguousarray(X, dtype), dLdZ, self.Stride, (1, 1),
                                                self.CroppingSize, dw=np.empty(self.Weights.shape, dtype))
        return dX, {"Weights": dW, "Bias": dB}

    def _display_properties(self):
        return {"Name": self.Name, "FilterSize": self.FilterSize, "NumFilters": self.NumFilters,
                "Stride": self.Stride, "Cropping": self.Cropping}


def transposedConv2dLayer(filterSize, numFilters, *pairs, **options):
    """``transposedConv2dLayer(filterSize, numFilters, Stride=1, Cropping=0 | 'same', ...)``.

    Learnables may be given in MATLAB shapes: ``Weights`` h×w×NumFilters×NumChannels,
    ``Bias`` 1×1×NumFilters. The output is ``Stride·(in − 1) + FilterSize − cropping``.

    Example::

        >>> from minidl import transposedConv2dLayer
        >>> layer = transposedConv2dLayer(4, 8, Stride=2, Cropping=1)
        >>> layer.Cropping
        (1, 1, 1, 1)
        >>> import numpy as np
        >>> layer.initialize((7, 7, 3), np.random.default_rng(0))
        (14, 14, 8)
    """
    values = layer_options("transposedConv2dLayer", pairs, options, {
        "Stride": 1, "Cropping": 0, "NumChannels": "auto", "Weights": None, "Bias": None,
        "WeightsInitializer": "glorot", "BiasInitializer": "zeros", "WeightLearnRateFactor": 1,
        "BiasLearnRateFactor": 1, "WeightL2Factor": 1, "BiasL2Factor": 0})
    return TransposedConvolution2DLayer(filterSize, numFilters, **values)
