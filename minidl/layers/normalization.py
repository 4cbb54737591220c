"""Batch normalization.

Per channel c, over every non-channel element (N·H·W of them for images, N for features):

    training:   μ_B = mean(x),  σ²_B = mean((x − μ_B)²)          (biased, as MATLAB)
                x̂ = (x − μ_B) / sqrt(σ²_B + ε),   y = Scale·x̂ + Offset
    backward:   dOffset = Σ dy,  dScale = Σ dy·x̂,
                dx = Scale / sqrt(σ²_B + ε) · (dy − mean(dy) − x̂·mean(dy·x̂))
    prediction: y = a·x + b,  a = Scale / sqrt(TrainedVariance + ε),  b = Offset − a·TrainedMean

``forward`` returns μ_B and σ²_B in its memory; the layer says how they become
``TrainedMean``/``TrainedVariance`` ('moving' or 'population', see trainingOptions) and the
network commits the result: the layer never changes itself while training.
"""
from dataclasses import dataclass

import numpy as np

from ..kernels import batchnorm as kernels
from ..kernels import groupnorm as gn_kernels
from ..options import choice, integer, real
from .base import (CONSTANT_INITIALIZERS, FusedLayers, Layer, Memory, _fmt, auto_or_count, buffer, check_channels, factors,
                   initial_constant, initializer, layer_options, learnable_array)


def _unit_interval(name, value):
    return real("batchNormalizationLayer", name, value, 0, 1, what="a scalar in [0, 1]")


class _ChannelAffine(Layer):
    """What batch, group and layer normalization share: Epsilon (>= 1e-5, MATLAB's minimum),
    a per-channel Scale and Offset with their initializers and factors, and per-channel
    arrays that read back as 1×1×C for images and C×1 for features."""

    learnables = {"Scale": "Scale", "Offset": "Offset"}
    arrays_in_constructor = True
    _owner = ""
    _PER_CHANNEL = ("Scale", "Offset")

    def _setup(self, Epsilon, NumChannels, ScaleInitializer, OffsetInitializer, factor_values, arrays):
        owner = self._owner
        self.Epsilon = real(owner, "Epsilon", Epsilon, 1e-5, what="a finite scalar >= 1e-5 (MATLAB's minimum)")
        self.ScaleInitializer = initializer(owner, "ScaleInitializer", ScaleInitializer, CONSTANT_INITIALIZERS)
        self.OffsetInitializer = initializer(owner, "OffsetInitializer", OffsetInitializer, CONSTANT_INITIALIZERS)
        factors(owner, self, **factor_values)
        arrays = {name: learnable_array(owner, name, value) for name, value in arrays.items()}
        for name, value in arrays.items():
            if value is not None and sum(d > 1 for d in value.shape) > 1:
                raise ValueError(f"{owner}: {name} must be a vector of one value per channel (1×1×C or "
                                 f"C×1); received size {_fmt(value.shape)}.")
        sizes = {v.size for v in arrays.values() if v is not None}
        NumChannels = auto_or_count(owner, "NumChannels", NumChannels)
        if NumChannels != "auto":
            sizes.add(NumChannels)
        if len(sizes) > 1:
            raise ValueError(f"{owner}: NumChannels, {', '.join(list(arrays)[:-1])} and {list(arrays)[-1]} "
                             f"must agree on the channel count; received sizes {sorted(sizes)}.")
        self.NumChannels = sizes.pop() if sizes else "auto"
        for name, value in arrays.items():
            setattr(self, name, value)

    def initialize(self, input_size, rng):
        check_channels(self, input_size, self.NumChannels)
        channels = input_size[-1]
        self.NumChannels = channels
        self._image = len(input_size) == 3
        shape = (1, 1, channels) if self._image else (channels, 1)
        for name, how in (("Scale", self.ScaleInitializer), ("Offset", self.OffsetInitializer)):
            if getattr(self, name) is None:
                setattr(self, name, initial_constant(self.Name, name + "Initializer", how, rng, shape))
        for name in self._PER_CHANNEL:
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).reshape(shape))
        return tuple(input_size)

    def _affine_grads(self, dscale, doffset, dtype):
        shape = self.Scale.shape
        return {"Scale": dscale.reshape(shape).astype(dtype), "Offset": doffset.reshape(shape).astype(dtype)}

    def _display_properties(self):
        return {"Name": self.Name, "NumChannels": self.NumChannels, "Epsilon": self.Epsilon}


class BatchNormalizationLayer(_ChannelAffine):
    __doc__ = __doc__

    DefaultName = "batchnorm"
    Description = "Batch normalization"
    _owner = "batchNormalizationLayer"
    _PER_CHANNEL = ("Scale", "Offset", "TrainedMean", "TrainedVariance")

    def __init__(self, Name="", NumChannels="auto", TrainedMean=None, TrainedVariance=None,
                 Epsilon=1e-5, MeanDecay=0.1, VarianceDecay=0.1, ScaleInitializer="ones",
                 OffsetInitializer="zeros", Scale=None, Offset=None, ScaleLearnRateFactor=1,
                 OffsetLearnRateFactor=1, ScaleL2Factor=1, OffsetL2Factor=1):
        super().__init__(Name)
        self._setup(Epsilon, NumChannels, ScaleInitializer, OffsetInitializer,
                    dict(ScaleLearnRateFactor=ScaleLearnRateFactor, OffsetLearnRateFactor=OffsetLearnRateFactor,
                         ScaleL2Factor=ScaleL2Factor, OffsetL2Factor=OffsetL2Factor),
                    {"Scale": Scale, "Offset": Offset, "TrainedMean": TrainedMean,
                     "TrainedVariance": TrainedVariance})
        self.MeanDecay = _unit_interval("MeanDecay", MeanDecay)
        self.VarianceDecay = _unit_interval("VarianceDecay", VarianceDecay)
        if self.TrainedVariance is not None and np.any(self.TrainedVariance < 0):
            raise ValueError("batchNormalizationLayer: TrainedVariance must be nonnegative (a variance); it has "
                             "negative values.")
        self._image = True

    state_names = ("TrainedMean", "TrainedVariance")

    def _vector(self, name):
        value = getattr(self, name)
        return None if value is None else value.reshape(-1)

    def inference_affine(self):
        """Per-channel ``(a, b)`` of the inference map ``y = a·x + b`` (float64)."""
        mean, variance = self._vector("TrainedMean"), self._vector("TrainedVariance")
        if mean is None or variance is None:
            raise ValueError(f"{self.Name}: TrainedMean and TrainedVariance are empty, so the layer "
                             f"cannot predict. Train the network with trainNetwork, or give both "
                             f"(size {self._shape_text()}) to batchNormalizationLayer.")
        return kernels.bn_fold(self._vector("Scale"), self._vector("Offset"), mean, variance, self.Epsilon)

    def _shape_text(self):
        return f"1×1×{self.NumChannels}" if self._image else f"{self.NumChannels}×1"

    def predict(self, X, work=None):
        return self._predict(X, work, relu=False)

    def forward(self, X, work=None):
        return self._forward(X, work, relu=False)

    def backward(self, dLdZ, memory, work=None):
        return self._backward(dLdZ, memory, work, relu=False)

    def _predict(self, X, work, relu):
        a, b = self.inference_affine()
        return kernels.bn_inference(X, a, b, relu, out=buffer(work, "Z", X.shape, X.dtype))

    # Synchronized batch normalization (minidl.parallel): an object whose ``statistics(layer,
    # count, mean, M2)`` returns the whole mini-batch's (count, mean, M2) and whose
    # ``gradient_sums(layer, u, w)`` the whole mini-batch's backward sums; None: this process alone.
    synchronizer = None

    def _forward(self, X, work, relu):
        count = X.size // X.shape[1]
        if self.synchronizer is not None:
            return self._forward_synchronized(X, work, relu)
        if count < 2:
            raise ValueError(f"{self.Name}: batch normalization in training needs at least 2 values per "
                             f"channel, but this batch has {count} (N={X.shape[0]}, spatial size "
                             f"{'×'.join(map(str, X.shape[2:])) or '1'}); every value would normalize "
                             f"to zero. Use a MiniBatchSize of 2 or more.")
        Z, mean, var = kernels.bn_forward_train(X, self._vector("Scale"), self._vector("Offset"),
                                                self.Epsilon, relu, out=buffer(work, "Z", X.shape, X.dtype))
        return Z, BatchNormMemory(X=X, mean=mean, var=var, count=count)

    def _forward_synchronized(self, X, work, relu):
        """Normalize with the statistics of the whole mini-batch, merged across processes."""
        count, mean, m2 = self.synchronizer.statistics(self, *kernels.bn_stats(X))
        var = m2 / count
        Z = kernels.bn_apply(X, mean, var, self._vector("Scale"), self._vector("Offset"), self.Epsilon, relu,
                             out=buffer(work, "Z", X.shape, X.dtype))
        return Z, BatchNormMemory(X=X, mean=mean, var=var, count=count)

    def _backward_synchronized(self, dLdZ, memory, work, relu):
        """dX from the whole mini-batch's sums Σg, Σg·(x − μ_B) (in this process's loss scale);
        dScale and dOffset from this process's own sums (the driver sums them across processes)."""
        args = (memory.X, memory.mean, memory.var, self._vector("Scale"), self._vector("Offset"), self.Epsilon)
        sums = kernels.bn_gradient_sums(dLdZ, *args, relu)
        total = self.synchronizer.gradient_sums(self, *sums)
        dX = kernels.bn_backward_from_sums(dLdZ, *args, total, memory.X.size // memory.X.shape[1], relu,
                                           out=buffer(work, "dX", dLdZ.shape, dLdZ.dtype))
        return dX, self._affine_grads(sums[1] * (1 / np.sqrt(memory.var + self.Epsilon)), sums[0], dLdZ.dtype)

    def _backward(self, dLdZ, memory, work, relu):
        if self.synchronizer is not None:
            return self._backward_synchronized(dLdZ, memory, work, relu)
        dX, dscale, doffset = kernels.bn_backward(dLdZ, memory.X, memory.mean, memory.var,
                                                  self._vector("Scale"), self._vector("Offset"),
                                                  self.Epsilon, relu,
                                                  out=buffer(work, "dX", dLdZ.shape, dLdZ.dtype))
        return dX, self._affine_grads(dscale, doffset, dLdZ.dtype)

    def fuse(self, consumer, mode):
        if getattr(consumer, "fusable_activation", None) == "relu":
            return BatchNormReLU(self, consumer)
        return None

    # ---- state: TrainedMean and TrainedVariance (trainingOptions' BatchNormalizationStatistics)
    def initial_state(self):
        """'moving' starts from the given estimates, else mean 0 and variance 1 (as PyTorch)."""
        shape = self.Scale.shape
        return {name: np.full(shape, value, np.float32) for name, value in
                (("TrainedMean", 0.0), ("TrainedVariance", 1.0)) if getattr(self, name) is None}

    def moving_state(self, memory):
        """``TrainedMean ← (1 − MeanDecay)·TrainedMean + MeanDecay·μ_B``, the variance alike."""
        shape = self.TrainedMean.shape
        mean = ((1 - self.MeanDecay) * self.TrainedMean.astype(np.float64)
                + self.MeanDecay * memory.mean.reshape(shape))
        variance = ((1 - self.VarianceDecay) * self.TrainedVariance.astype(np.float64)
                    + self.VarianceDecay * memory.var.reshape(shape))
        return {"TrainedMean": mean.astype(np.float32), "TrainedVariance": variance.astype(np.float32)}

    def population_total(self, total, memory):
        """Per-channel (count, mean, M2) merged exactly with Chan's formula."""
        batch = (np.full(memory.mean.shape, memory.count, np.int64), memory.mean, memory.var * memory.count)
        return batch if total is None else kernels.chan_merge(*total, *batch)

    def population_state(self, total):
        """The mean and the biased variance M2 / count over the whole training set."""
        count, mean, m2 = total
        shape = self.Scale.shape
        return {"TrainedMean": mean.reshape(shape).astype(np.float32),
                "TrainedVariance": (m2 / count).reshape(shape).astype(np.float32)}


@dataclass(eq=False)
class BatchNormMemory(Memory):
    """The input and its batch statistics (per channel, float64), kept for backward and state."""
    X: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    count: int


class BatchNormReLU(FusedLayers):
    """Batch normalization and the ReLU after it in one pass over memory, both directions:
    ``Z = max(BN(X), 0)``; backward masks dL/dZ where the normalized value was not positive."""

    def predict(self, X, work=None):
        return self.layers[0]._predict(X, work, relu=True)

    def forward(self, X, work=None):
        return self.layers[0]._forward(X, work, relu=True)

    def backward(self, dLdZ, memory, work=None):
        dX, grads = self.layers[0]._backward(dLdZ, memory, work, relu=True)
        return dX, (grads, {})

    def state_memories(self, memory):
        return [(self.layers[0], memory)]


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


# ------------------------------------------------------------ group and layer normalization

_GROUPWISE_MATHS = """

    For each observation n and group g of ``C/G`` consecutive channels, over the M elements
    of the group (its channels × H × W; its channels for feature input):

        μ = mean(x),  σ² = mean((x − μ)²)                       (biased)
        x̂ = (x − μ) / sqrt(σ² + ε),   y = Scale[c]·x̂ + Offset[c]
        dOffset[c] = Σ_{n,h,w} dy,  dScale[c] = Σ_{n,h,w} dy·x̂
        dx = (Scale[c]·dy − mean_g(Scale·dy) − x̂·mean_g(Scale·dy·x̂)) / sqrt(σ² + ε)

    Training and prediction compute the same thing (no running statistics).
    """


class _GroupwiseNormalization(_ChannelAffine):
    __doc__ = "Shared by group and layer normalization." + _GROUPWISE_MATHS

    def __init__(self, Name="", Epsilon=1e-5, NumChannels="auto", Scale=None, Offset=None,
                 ScaleInitializer="ones", OffsetInitializer="zeros", ScaleLearnRateFactor=1,
                 OffsetLearnRateFactor=1, ScaleL2Factor=1, OffsetL2Factor=1):
        super().__init__(Name)
        self._setup(Epsilon, NumChannels, ScaleInitializer, OffsetInitializer,
                    dict(ScaleLearnRateFactor=ScaleLearnRateFactor, OffsetLearnRateFactor=OffsetLearnRateFactor,
                         ScaleL2Factor=ScaleL2Factor, OffsetL2Factor=OffsetL2Factor),
                    {"Scale": Scale, "Offset": Offset})

    def _groups(self, channels):
        return 1

    def initialize(self, input_size, rng):
        self._groups(input_size[-1])  # validates the grouping against the channel count
        return super().initialize(input_size, rng)

    def predict(self, X):
        return self.forward(X)[0]

    def forward(self, X):
        groups = self._groups(X.shape[1])
        Z, mean, rstd = gn_kernels.gn_forward(X, groups, self.Scale, self.Offset, self.Epsilon)
        return Z, Memory(X=X, groups=groups, mean=mean, rstd=rstd)

    def backward(self, dLdZ, memory):
        dX, dscale, doffset = gn_kernels.gn_backward(dLdZ, memory.X, memory.groups, memory.mean,
                                                     memory.rstd, self.Scale)
        return dX, self._affine_grads(dscale, doffset, dLdZ.dtype)


class GroupNormalizationLayer(_GroupwiseNormalization):
    __doc__ = ("Group normalization: ``NumGroups`` groups of C/NumGroups consecutive channels "
               "(``'all-channels'``: one group; ``'channel-wise'``: one channel per group)."
               + _GROUPWISE_MATHS)

    DefaultName = "groupnorm"
    Description = "Group normalization"
    _owner = "groupNormalizationLayer"

    def __init__(self, NumGroups, Name="", **options):
        if isinstance(NumGroups, str):
            NumGroups = choice(self._owner, "numGroups", NumGroups, ("all-channels", "channel-wise"))
        else:
            NumGroups = integer(self._owner, "numGroups", NumGroups,
                                what="a positive integer, 'all-channels' or 'channel-wise'")
        self.NumGroups = NumGroups
        super().__init__(Name, **options)

    def _groups(self, channels):
        if self.NumGroups == "all-channels":
            return 1
        if self.NumGroups == "channel-wise":
            return channels
        if channels % self.NumGroups:
            raise ValueError(f"{self.Name or self._owner}: the number of channels ({channels}) must be "
                             f"divisible by NumGroups ({self.NumGroups}). Choose NumGroups among "
                             f"the divisors of {channels}.")
        return self.NumGroups

    def _display_properties(self):
        return {"Name": self.Name, "NumGroups": self.NumGroups, "NumChannels": self.NumChannels,
                "Epsilon": self.Epsilon}


class LayerNormalizationLayer(_GroupwiseNormalization):
    __doc__ = ("Layer normalization: each observation normalized over all its C·H·W elements "
               "(C for feature input), i.e. group normalization with one group."
               + _GROUPWISE_MATHS)

    DefaultName = "layernorm"
    Description = "Layer normalization"
    _owner = "layerNormalizationLayer"


_GROUPWISE_DEFAULTS = {
    "Epsilon": 1e-5, "NumChannels": "auto", "Scale": None, "Offset": None,
    "ScaleInitializer": "ones", "OffsetInitializer": "zeros", "ScaleLearnRateFactor": 1,
    "OffsetLearnRateFactor": 1, "ScaleL2Factor": 1, "OffsetL2Factor": 1}


def groupNormalizationLayer(numGroups, *pairs, **options):
    """``groupNormalizationLayer(numGroups, Epsilon=1e-5, Scale=g, Offset=b, ...)``.

    ``numGroups``: a positive integer dividing the channel count, ``'all-channels'`` or
    ``'channel-wise'``. Defaults: Epsilon 1e-5 (at least 1e-5), Scale ones and Offset zeros
    (1×1×C for images, C×1 for features), learn-rate and L2 factors 1.

    Example::

        >>> from minidl import groupNormalizationLayer
        >>> layer = groupNormalizationLayer(4)
        >>> layer.NumGroups, layer.Epsilon, layer.initialize((8, 8, 16), None)
        (4, 1e-05, (8, 8, 16))
        >>> layer.Scale.shape
        (1, 1, 16)
    """
    values = layer_options("groupNormalizationLayer", pairs, options, _GROUPWISE_DEFAULTS)
    return GroupNormalizationLayer(numGroups, **values)


def layerNormalizationLayer(*pairs, **options):
    """``layerNormalizationLayer(Epsilon=1e-5, Scale=g, Offset=b, ...)``: per-observation
    normalization over all channels and spatial elements, per-channel Scale and Offset.

    Defaults as :func:`groupNormalizationLayer`.

    Example::

        >>> from minidl import layerNormalizationLayer
        >>> layer = layerNormalizationLayer()
        >>> layer.initialize((5,), None), layer.Scale.shape
        ((5,), (5, 1))
    """
    return LayerNormalizationLayer(**layer_options("layerNormalizationLayer", pairs, options,
                                                   _GROUPWISE_DEFAULTS))
