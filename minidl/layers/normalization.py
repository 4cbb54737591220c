"""Batch normalization.

Per channel c, over every non-channel element (N·H·W of them for images, N for features):

    training:   μ_B = mean(x),  σ²_B = mean((x − μ_B)²)          (biased, as MATLAB)
                x̂ = (x − μ_B) / sqrt(σ²_B + ε),   y = Scale·x̂ + Offset
    backward:   dOffset = Σ dy,  dScale = Σ dy·x̂,
                dx = Scale / sqrt(σ²_B + ε) · (dy − mean(dy) − x̂·mean(dy·x̂))
    prediction: y = a·x + b,  a = Scale / sqrt(TrainedVariance + ε),  b = Offset − a·TrainedMean

``forward`` returns μ_B and σ²_B in its memory; the trainer alone turns them into
``TrainedMean``/``TrainedVariance`` ('moving' or 'population', see trainingOptions).
"""
import numpy as np

from ..kernels import batchnorm as kernels
from ..options import OptionError
from .base import (Layer, Memory, check_channels, initial_constant, layer_options,
                   learnable_array)


def _unit_interval(name, value):
    if not (np.ndim(value) == 0 and np.isfinite(value) and 0 <= float(value) <= 1):
        raise OptionError(f"batchNormalizationLayer: {name} must be a scalar in [0, 1]; received {value!r}.")
    return float(value)


class BatchNormalizationLayer(Layer):
    __doc__ = __doc__

    DefaultName = "batchnorm"
    Description = "Batch normalization"
    learnables = {"Scale": "Scale", "Offset": "Offset"}

    def __init__(self, Name="", NumChannels="auto", TrainedMean=None, TrainedVariance=None,
                 Epsilon=1e-5, MeanDecay=0.1, VarianceDecay=0.1, ScaleInitializer="ones",
                 OffsetInitializer="zeros", Scale=None, Offset=None, ScaleLearnRateFactor=1,
                 OffsetLearnRateFactor=1, ScaleL2Factor=1, OffsetL2Factor=1):
        super().__init__(Name)
        if not (np.ndim(Epsilon) == 0 and np.isfinite(Epsilon) and float(Epsilon) >= 1e-5):
            raise OptionError(f"batchNormalizationLayer: Epsilon must be a finite scalar >= 1e-5 "
                              f"(MATLAB's minimum); received {Epsilon!r}.")
        self.Epsilon = float(Epsilon)
        self.MeanDecay = _unit_interval("MeanDecay", MeanDecay)
        self.VarianceDecay = _unit_interval("VarianceDecay", VarianceDecay)
        self.ScaleInitializer, self.OffsetInitializer = ScaleInitializer, OffsetInitializer
        self.ScaleLearnRateFactor, self.OffsetLearnRateFactor = ScaleLearnRateFactor, OffsetLearnRateFactor
        self.ScaleL2Factor, self.OffsetL2Factor = ScaleL2Factor, OffsetL2Factor
        given = {"Scale": Scale, "Offset": Offset, "TrainedMean": TrainedMean,
                 "TrainedVariance": TrainedVariance}
        sizes = {int(np.size(v)) for v in given.values() if v is not None and np.size(v)}
        if NumChannels != "auto":
            sizes.add(int(NumChannels))
        if len(sizes) > 1:
            raise ValueError(f"batchNormalizationLayer: NumChannels, Scale, Offset, TrainedMean and "
                             f"TrainedVariance must agree on the channel count; received sizes {sorted(sizes)}.")
        self.NumChannels = sizes.pop() if sizes else "auto"
        for name, value in given.items():
            array = learnable_array("batchNormalizationLayer", name, value)
            setattr(self, name, array)
        if self.TrainedVariance is not None and np.any(self.TrainedVariance < 0):
            raise ValueError("batchNormalizationLayer: TrainedVariance must be nonnegative.")
        self._image = True

    _PER_CHANNEL = ("Scale", "Offset", "TrainedMean", "TrainedVariance")

    def _vector(self, name):
        value = getattr(self, name)
        return None if value is None else value.reshape(-1)

    def initialize(self, input_size, rng):
        check_channels(self, input_size, None if self.NumChannels == "auto" else self.NumChannels)
        channels = input_size[-1]
        self.NumChannels = channels
        self._image = len(input_size) == 3
        shape = (1, 1, channels) if self._image else (channels, 1)
        for name, initializer in (("Scale", self.ScaleInitializer), ("Offset", self.OffsetInitializer)):
            if getattr(self, name) is None:
                setattr(self, name, initial_constant(self.Name, name + "Initializer", initializer, rng, shape))
        for name in self._PER_CHANNEL:
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).reshape(shape))
        return tuple(input_size)

    def folded(self):
        """Per-channel ``(a, b)`` of the inference affine map ``y = a·x + b``."""
        mean, variance = self._vector("TrainedMean"), self._vector("TrainedVariance")
        if mean is None or variance is None:
            raise ValueError(f"{self.Name}: TrainedMean and TrainedVariance are empty, so the layer "
                             f"cannot predict. Train the network with trainNetwork, or give both "
                             f"(size {self._shape_text()}) to batchNormalizationLayer.")
        return kernels.bn_fold(self._vector("Scale"), self._vector("Offset"), mean, variance, self.Epsilon)

    def _shape_text(self):
        return f"1×1×{self.NumChannels}" if self._image else f"{self.NumChannels}×1"

    def predict(self, X, relu=False):
        a, b = self.folded()
        return kernels.bn_inference(X, a, b, relu)

    def forward(self, X, relu=False):
        count = X.size // X.shape[1]
        if count < 2:
            raise ValueError(f"{self.Name}: batch normalization in training needs at least 2 values per "
                             f"channel, but this batch has {count} (N={X.shape[0]}, spatial size "
                             f"{'×'.join(map(str, X.shape[2:])) or '1'}); every value would normalize "
                             f"to zero. Use a MiniBatchSize of 2 or more.")
        Z, mean, var = kernels.bn_forward_train(X, self._vector("Scale"), self._vector("Offset"),
                                                self.Epsilon, relu)
        return Z, Memory(X=X, mean=mean, var=var, count=count, relu=relu)

    def backward(self, dLdZ, memory):
        dX, dscale, doffset = kernels.bn_backward(dLdZ, memory.X, memory.mean, memory.var,
                                                  self._vector("Scale"), self._vector("Offset"),
                                                  self.Epsilon, memory.relu)
        shape = self.Scale.shape
        return dX, {"Scale": dscale.reshape(shape).astype(dLdZ.dtype),
                    "Offset": doffset.reshape(shape).astype(dLdZ.dtype)}

    def _display_properties(self):
        return {"Name": self.Name, "NumChannels": self.NumChannels, "Epsilon": self.Epsilon}


def batchNormalizationLayer(*pairs, **options):
    """``batchNormalizationLayer(Epsilon=1e-5, MeanDecay=0.1, Scale=g, TrainedMean=m, ...)``.

    Scale, Offset, TrainedMean and TrainedVariance read back as 1×1×C for image input and
    C×1 for feature input (MATLAB's shapes). Epsilon must be at least 1e-5.

    Example::

        >>> from minidl import batchNormalizationLayer
        >>> layer = batchNormalizationLayer(Name="bn", Epsilon=1e-3)
        >>> layer.Epsilon, layer.MeanDecay
        (0.001, 0.1)
    """
    values = layer_options("batchNormalizationLayer", pairs, options, {
        "NumChannels": "auto", "TrainedMean": None, "TrainedVariance": None, "Epsilon": 1e-5,
        "MeanDecay": 0.1, "VarianceDecay": 0.1, "ScaleInitializer": "ones",
        "OffsetInitializer": "zeros", "Scale": None, "Offset": None, "ScaleLearnRateFactor": 1,
        "OffsetLearnRateFactor": 1, "ScaleL2Factor": 1, "OffsetL2Factor": 1})
    return BatchNormalizationLayer(**values)
