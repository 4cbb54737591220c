"""2-D convolution (cross-correlation, as in every deep-learning framework)."""
from dataclasses import dataclass

import numpy as np

from ..kernels import conv as kernels
from ..options import integer, numeric_array
from .base import (FusedLayers, Layer, Memory, _fmt, as_padding, as_pair, auto_or_count, buffer, check_channels,
                   initial_constant, initial_weights, layer_options, learnable_array, output_hw,
                   require_image, resolve_padding, weight_and_bias_options)


class Convolution2DLayer(Layer):
    """``Z[n,f,i,j] = Bias[f] + Σ_{c,u,v} Weights[u,v,c,f] · Xpad[n, c, i·sh + u·dh, j·sw + v·dw]``.

    ``Weights`` is FilterSize(1)×FilterSize(2)×NumChannels×NumFilters and ``Bias`` 1×1×NumFilters
    (MATLAB shapes). Output size is ``floor((in + pad − ((k−1)·d + 1)) / s) + 1``; 'same'
    padding keeps ``ceil(in / s)`` and puts the odd pixel at the bottom/right. Defaults:
    Glorot-uniform weights (fan_in = kh·kw·C, fan_out = kh·kw·F), zero bias, learn-rate
    factors 1, ``WeightL2Factor`` 1, ``BiasL2Factor`` 0.

    Backward: ``dL/dX`` correlates dL/dZ with the flipped filters, ``dL/dWeights[u,v,c,f] =
    Σ_{n,i,j} Xpad[n, c, i·sh + u·dh, j·sw + v·dw] · dL/dZ[n,f,i,j]``, ``dL/dBias[f] = Σ dL/dZ[n,f,·,·]``.
    The Numba kernels of minidl.kernels.conv compute all three without im2col.
    """

    DefaultName = "conv"
    _owner = "convolution2dLayer"
    arrays_in_constructor = True
    Description = "Convolution"
    learnables = {"Weights": "Weight", "Bias": "Bias"}

    def __init__(self, FilterSize, NumFilters, Name="", Stride=1, DilationFactor=1, Padding=0,
                 NumChannels="auto", Weights=None, Bias=None, WeightsInitializer="glorot",
                 BiasInitializer="zeros", WeightLearnRateFactor=1, BiasLearnRateFactor=1,
                 WeightL2Factor=1, BiasL2Factor=0):
        super().__init__(Name)
        owner = "convolution2dLayer"
        self.FilterSize = as_pair(owner, "FilterSize", FilterSize)
        self.NumFilters = integer(owner, "NumFilters", NumFilters)
        self.Stride = as_pair(owner, "Stride", Stride)
        self.DilationFactor = as_pair(owner, "DilationFactor", DilationFactor)
        self.Padding = as_padding(owner, Padding)
        self.PaddingMode = "same" if self.Padding == "same" else "manual"
        self.NumChannels = auto_or_count(owner, "NumChannels", NumChannels)
        weight_and_bias_options(owner, self, WeightsInitializer, BiasInitializer,
                                WeightLearnRateFactor=WeightLearnRateFactor, BiasLearnRateFactor=BiasLearnRateFactor,
                                WeightL2Factor=WeightL2Factor, BiasL2Factor=BiasL2Factor)
        kh, kw = self.FilterSize
        channels = None if self.NumChannels == "auto" else self.NumChannels
        if Weights is not None and channels is None:
            channels = self._channels_of(numeric_array(owner, "Weights", Weights))
        self.Weights = learnable_array(owner, "Weights", Weights,
                                       None if channels is None else (kh, kw, channels, self.NumFilters))
        self.Bias = learnable_array(owner, "Bias", Bias, (1, 1, self.NumFilters))
        if self.Weights is not None:
            self.NumChannels = channels
        self.PaddingSize = None

    def _channels_of(self, weights):
        """NumChannels read from given Weights (None when empty); the size must be kh·kw·C·F."""
        kh, kw = self.FilterSize
        per_channel = kh * kw * self.NumFilters
        if weights.size and (weights.size % per_channel or weights.ndim > 4):
            raise ValueError(f"convolution2dLayer: Weights must have size {kh}×{kw}×NumChannels×{self.NumFilters} "
                             f"(FilterSize×NumChannels×NumFilters); received {_fmt(weights.shape)}. Give weights "
                             f"of that size, or change FilterSize/NumFilters to match them.")
        return weights.size // per_channel or None

    def initialize(self, input_size, rng):
        require_image(self, "convolution2dLayer", input_size)
        h, w, c = input_size
        check_channels(self, input_size, self.NumChannels)
        self.NumChannels = c
        kh, kw = self.FilterSize
        self.PaddingSize = resolve_padding(self.Padding, (h, w), self.FilterSize, self.Stride,
                                           self.DilationFactor)
        out = output_hw(self.Name, (h, w), self.FilterSize, self.Stride, self.PaddingSize,
                        self.DilationFactor)
        if self.Weights is None:
            self.Weights = initial_weights(self.Name, self.WeightsInitializer, rng,
                                           (kh, kw, c, self.NumFilters), kh * kw * c, kh * kw * self.NumFilters)
        if self.Bias is None:
            self.Bias = initial_constant(self.Name, "BiasInitializer", self.BiasInitializer, rng,
                                         (1, 1, self.NumFilters))
        return (*out, self.NumFilters)

    def predict(self, X, work=None):
        return self._convolve(X, self.Weights, self.Bias, work)

    def forward(self, X, work=None):
        return self._convolve(X, self.Weights, self.Bias, work), ConvolutionMemory(X=X)

    def _kernel_work(self, X, work):
        """The kernels' scratch for X's size, kept in the plan's ``work``."""
        if work is None:
            return None
        scratch = work.get("conv")
        if scratch is None:
            scratch = work["conv"] = kernels.conv2d_work(X.shape, self.Weights.shape, self.Stride,
                                                         self.DilationFactor, self.PaddingSize, X.dtype)
        return scratch

    def _convolve(self, X, weights, bias, work, relu=False, pool=None):
        Ho, Wo = kernels.conv_output_hw(X.shape, weights.shape, self.Stride, self.DilationFactor, self.PaddingSize)
        out = buffer(work, "Z", (X.shape[0], self.NumFilters, *kernels.pooled_size(Ho, Wo, pool)), X.dtype)
        return kernels.conv2d_forward(X, np.ascontiguousarray(weights, X.dtype), bias.reshape(-1).astype(X.dtype),
                                      self.Stride, self.DilationFactor, self.PaddingSize, out=out,
                                      work=self._kernel_work(X, work), relu=relu, pool=pool)

    def fuse(self, consumer, mode):
        if mode == "predict":
            return FoldedConvolution(self).fuse(consumer, mode)
        return None

    def backward(self, dLdZ, memory, work=None):
        X, dtype = memory.X, dLdZ.dtype
        scratch = self._kernel_work(X, work)
        dX = None
        if work is None or work["need_dx"]:
            dX = kernels.conv2d_backward_input(dLdZ, np.ascontiguousarray(self.Weights, dtype), X.shape,
                                               self.Stride, self.DilationFactor, self.PaddingSize,
                                               out=buffer(work, "dX", X.shape, dtype), work=scratch)
        dW, dB = kernels.conv2d_backward_weights(dLdZ, X, self.Stride, self.DilationFactor, self.PaddingSize,
                                                 dw=np.empty(self.Weights.shape, dtype),
                                                 db=np.empty(self.NumFilters, dtype), work=scratch)
        return dX, {"Weights": dW, "Bias": dB.reshape(1, 1, -1)}

    def _display_properties(self):
        return {"Name": self.Name, "FilterSize": self.FilterSize, "NumFilters": self.NumFilters,
                "Stride": self.Stride, "Padding": self.Padding}


@dataclass(eq=False)
class ConvolutionMemory(Memory):
    X: np.ndarray


class FoldedConvolution(FusedLayers):
    """Convolution (→ batch normalization) (→ ReLU) (→ 2×2 max pooling or global average
    pooling) at inference, as one convolution: with the normalization's ``y = a·x + b`` per
    filter f, ``Weights'[..., f] = a_f·Weights[..., f]`` and ``Bias'_f = a_f·Bias_f + b_f``,
    so batch normalization costs nothing; the ReLU and a 2×2 stride-2 unpadded max pooling
    or a global average pooling run inside the convolution kernel as it writes its output,
    so neither the convolution's nor the ReLU's output is ever stored. Each layer joins only in that order, and only if the one before is its
    only input (the execution plan's rule)."""

    def __init__(self, conv, norm=None, relu=None, pool=None):
        super().__init__(*(layer for layer in (conv, norm, relu, pool) if layer is not None))
        self.conv, self.norm, self.relu = conv, norm, relu is not None
        self.pool = None if pool is None else pool.fusable_pooling
        self._members = (conv, norm, relu, pool)

    def fuse(self, consumer, mode):
        conv, norm, relu, pool = self._members
        if mode != "predict" or pool is not None:
            return None
        if norm is None and relu is None and hasattr(consumer, "inference_affine"):
            return FoldedConvolution(conv, consumer)
        if relu is None and getattr(consumer, "fusable_activation", None) == "relu":
            return FoldedConvolution(conv, norm, consumer)
        if kernels.POOLS.get(getattr(consumer, "fusable_pooling", None)):
            return FoldedConvolution(conv, norm, relu, consumer)
        return None

    def folded(self):
        """The folded (Weights', Bias') in MATLAB shapes, float32."""
        if self.norm is None:
            return self.conv.Weights.astype(np.float32), self.conv.Bias.astype(np.float32)
        a, b = self.norm.inference_affine()
        weights = (self.conv.Weights * a).astype(np.float32)
        bias = (self.conv.Bias.reshape(-1) * a + b).astype(np.float32).reshape(self.conv.Bias.shape)
        return weights, bias

    def predict(self, X, work=None):
        return self.conv._convolve(X, *self.folded(), work, relu=self.relu, pool=self.pool)


def convolution2dLayer(filterSize, numFilters, *pairs, **options):
    """``convolution2dLayer(filterSize, numFilters, Stride=1, Padding=0 | 'same', ...)``.

    Learnables may be given in MATLAB shapes: ``Weights`` h×w×C×F, ``Bias`` 1×1×F.

    Example::

        >>> from minidl import convolution2dLayer
        >>> layer = convolution2dLayer(3, 8, Padding="same")
        >>> layer.FilterSize, layer.NumFilters, layer.Padding
        ((3, 3), 8, 'same')
    """
    values = layer_options("convolution2dLayer", pairs, options, {
        "Stride": 1, "DilationFactor": 1, "Padding": 0, "NumChannels": "auto", "Weights": None,
        "Bias": None, "WeightsInitializer": "glorot", "BiasInitializer": "zeros",
        "WeightLearnRateFactor": 1, "BiasLearnRateFactor": 1, "WeightL2Factor": 1, "BiasL2Factor": 0})
    return Convolution2DLayer(filterSize, numFilters, **values)
