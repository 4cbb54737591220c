"""2-D convolution (cross-correlation, as in every deep-learning framework)."""
import numpy as np

from ..options import OptionError
from .base import (FusedLayers, Layer, Memory, as_padding, as_pair, auto_or_count, check_channels, factors,
                   initial_constant, initial_weights, layer_options, learnable_array, output_hw, require_image,
                   resolve_padding)


class Convolution2DLayer(Layer):
    """``Z[n,f,i,j] = Bias[f] + Σ_{c,u,v} Weights[u,v,c,f] · Xpad[n, c, i·sh + u·dh, j·sw + v·dw]``.

    ``Weights`` is FilterSize(1)×FilterSize(2)×NumChannels×NumFilters and ``Bias`` 1×1×NumFilters
    (MATLAB shapes). Output size is ``floor((in + pad − ((k−1)·d + 1)) / s) + 1``; 'same'
    padding keeps ``ceil(in / s)`` and puts the odd pixel at the bottom/right. Defaults:
    Glorot-uniform weights (fan_in = kh·kw·C, fan_out = kh·kw·F), zero bias, learn-rate
    factors 1, ``WeightL2Factor`` 1, ``BiasL2Factor`` 0.

    The computation is im2col followed by one matrix product, so BLAS does the work:
    ``cols`` is (N·Ho·Wo)×(kh·kw·C), whose column order equals the C-order reshape of the
    MATLAB-shaped ``Weights`` to (kh·kw·C)×F.
    """

    DefaultName = "conv"
    Description = "Convolution"
    learnables = {"Weights": "Weight", "Bias": "Bias"}

    def __init__(self, FilterSize, NumFilters, Name="", Stride=1, DilationFactor=1, Padding=0,
                 NumChannels="auto", Weights=None, Bias=None, WeightsInitializer="glorot",
                 BiasInitializer="zeros", WeightLearnRateFactor=1, BiasLearnRateFactor=1,
                 WeightL2Factor=1, BiasL2Factor=0):
        super().__init__(Name)
        owner = "convolution2dLayer"
        self.FilterSize = as_pair(owner, "FilterSize", FilterSize)
        if not (np.ndim(NumFilters) == 0 and float(NumFilters) == int(NumFilters) and int(NumFilters) >= 1):
            raise OptionError(f"{owner}: NumFilters must be a positive integer; received {NumFilters!r}.")
        self.NumFilters = int(NumFilters)
        self.Stride = as_pair(owner, "Stride", Stride)
        self.DilationFactor = as_pair(owner, "DilationFactor", DilationFactor)
        self.Padding = as_padding(owner, Padding)
        self.PaddingMode = "same" if self.Padding == "same" else "manual"
        self.NumChannels = auto_or_count(owner, "NumChannels", NumChannels)
        self.WeightsInitializer, self.BiasInitializer = WeightsInitializer, BiasInitializer
        factors(owner, self, WeightLearnRateFactor=WeightLearnRateFactor, BiasLearnRateFactor=BiasLearnRateFactor,
                WeightL2Factor=WeightL2Factor, BiasL2Factor=BiasL2Factor)
        kh, kw = self.FilterSize
        channels = None if self.NumChannels == "auto" else self.NumChannels
        if Weights is not None and np.size(Weights) and channels is None:
            channels = int(np.size(Weights) // (kh * kw * self.NumFilters))
        self.Weights = learnable_array(owner, "Weights", Weights,
                                       None if channels is None else (kh, kw, channels, self.NumFilters))
        self.Bias = learnable_array(owner, "Bias", Bias, (1, 1, self.NumFilters))
        if self.Weights is not None:
            self.NumChannels = channels
        self.PaddingSize = None

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

    def _columns(self, X):
        top, bottom, left, right = self.PaddingSize
        N, C, H, W = X.shape
        Xp = np.pad(X, ((0, 0), (0, 0), (top, bottom), (left, right))) if any(self.PaddingSize) else X
        (kh, kw), (sh, sw), (dh, dw) = self.FilterSize, self.Stride, self.DilationFactor
        Ho, Wo = output_hw(self.Name, (H, W), self.FilterSize, self.Stride, self.PaddingSize,
                           self.DilationFactor)
        cols = np.empty((N, Ho, Wo, kh, kw, C), X.dtype)
        for u in range(kh):
            for v in range(kw):
                window = Xp[:, :, u * dh:u * dh + (Ho - 1) * sh + 1:sh, v * dw:v * dw + (Wo - 1) * sw + 1:sw]
                cols[:, :, :, u, v, :] = window.transpose(0, 2, 3, 1)
        return cols.reshape(N * Ho * Wo, kh * kw * C), (N, C, H, W, Ho, Wo), Xp.shape

    def predict(self, X, work=None):
        return self._convolve(X, self.Weights, self.Bias, work)[0]

    def forward(self, X, work=None):
        return self._convolve(X, self.Weights, self.Bias, work)

    def _convolve(self, X, weights, bias, work):
        cols, dims, padded_shape = self._columns(X)
        N, _, _, _, Ho, Wo = dims
        weights = weights.astype(X.dtype, copy=False).reshape(-1, self.NumFilters)
        Z = cols @ weights
        Z += bias.astype(X.dtype, copy=False).reshape(-1)
        Z = np.ascontiguousarray(Z.reshape(N, Ho, Wo, self.NumFilters).transpose(0, 3, 1, 2))
        return Z, Memory(cols=cols, dims=dims, padded_shape=padded_shape)

    def fuse(self, consumer, mode):
        if mode == "predict" and hasattr(consumer, "inference_affine"):
            return FoldedConvolution(self, consumer)
        return None

    def backward(self, dLdZ, memory):
        N, C, H, W, Ho, Wo = memory.dims
        F = self.NumFilters
        (kh, kw), (sh, sw), (dh, dw) = self.FilterSize, self.Stride, self.DilationFactor
        dZ = dLdZ.transpose(0, 2, 3, 1).reshape(-1, F)
        weights = self.Weights.astype(dLdZ.dtype, copy=False).reshape(-1, F)
        grads = {"Weights": (memory.cols.T @ dZ).reshape(kh, kw, C, F),
                 "Bias": dZ.sum(axis=0).reshape(1, 1, F)}
        dcols = (dZ @ weights.T).reshape(N, Ho, Wo, kh, kw, C)
        dXp = np.zeros(memory.padded_shape, dLdZ.dtype)
        for u in range(kh):
            for v in range(kw):
                dXp[:, :, u * dh:u * dh + (Ho - 1) * sh + 1:sh, v * dw:v * dw + (Wo - 1) * sw + 1:sw] += \
                    dcols[:, :, :, u, v, :].transpose(0, 3, 1, 2)
        top, bottom, left, right = self.PaddingSize
        dX = dXp[:, :, top:top + H, left:left + W]
        return np.ascontiguousarray(dX), grads

    def _display_properties(self):
        return {"Name": self.Name, "FilterSize": self.FilterSize, "NumFilters": self.NumFilters,
                "Stride": self.Stride, "Padding": self.Padding}


class FoldedConvolution(FusedLayers):
    """Convolution → batch normalization (→ ReLU) at inference, as one convolution: with the
    normalization's ``y = a·x + b`` per filter f, ``Weights'[..., f] = a_f·Weights[..., f]`` and
    ``Bias'_f = a_f·Bias_f + b_f``; the ReLU, if any, runs in place on the result. Batch
    normalization then costs nothing at inference."""

    def __init__(self, conv, norm, relu=None):
        super().__init__(*(layer for layer in (conv, norm, relu) if layer is not None))
        self.conv, self.norm, self.relu = conv, norm, relu is not None

    def fuse(self, consumer, mode):
        if mode == "predict" and not self.relu and getattr(consumer, "fusable_activation", None) == "relu":
            return FoldedConvolution(self.conv, self.norm, consumer)
        return None

    def folded(self):
        """The folded (Weights', Bias') in MATLAB shapes, float32."""
        a, b = self.norm.inference_affine()
        weights = (self.conv.Weights * a).astype(np.float32)
        bias = (self.conv.Bias.reshape(-1) * a + b).astype(np.float32).reshape(self.conv.Bias.shape)
        return weights, bias

    def predict(self, X, work=None):
        Z = self.conv._convolve(X, *self.folded(), work)[0]
        return np.maximum(Z, 0, out=Z) if self.relu else Z


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
