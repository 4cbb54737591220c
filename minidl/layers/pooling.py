"""Pooling layers (Numba kernels in minidl.kernels.pooling)."""
from dataclasses import dataclass

import numpy as np

from ..kernels import pooling as kernels
from ..options import OptionError, flag, is_real_scalar
from .base import Layer, Memory, as_padding, as_pair, buffer, layer_options, output_hw, require_image, resolve_padding


class _Pooling2DLayer(Layer):
    """Window bookkeeping shared by the 2-D pooling layers (PoolSize, Stride, Padding)."""

    _owner = ""

    def __init__(self, PoolSize, Name="", Stride=1, Padding=0):
        super().__init__(Name)
        self.PoolSize = as_pair(self._owner, "PoolSize", PoolSize)
        self.Stride = as_pair(self._owner, "Stride", Stride)
        self.Padding = as_padding(self._owner, Padding)
        self.PaddingMode = "same" if self.Padding == "same" else "manual"
        self.PaddingSize = None

    def initialize(self, input_size, rng):
        require_image(self, self._owner, input_size)
        h, w, c = input_size
        self.PaddingSize = resolve_padding(self.Padding, (h, w), self.PoolSize, self.Stride)
        (ph, pw), (top, bottom, left, right) = self.PoolSize, self.PaddingSize
        if max(top, bottom) >= ph or max(left, right) >= pw:
            raise ValueError(f"{self.Name}: padding {list(self.PaddingSize)} must be smaller than the pool size "
                             f"{list(self.PoolSize)}, or some windows would hold padding only. Reduce Padding.")
        return (*output_hw(self.Name, (h, w), self.PoolSize, self.Stride, self.PaddingSize), c)

    def _output_shape(self, X):
        return (*X.shape[:2], *kernels.pooled_hw(X.shape, self.PoolSize, self.Stride, self.PaddingSize))

    def _display_properties(self):
        return {"Name": self.Name, "PoolSize": self.PoolSize, "Stride": self.Stride,
                "Padding": self.Padding}


class MaxPooling2DLayer(_Pooling2DLayer):
    """``Z[n,c,i,j] = max_{u<ph, v<pw} Xpad[n, c, i·sh + u, j·sw + v]``; padding never wins (−∞).

    Backward sends each ``dL/dZ`` to the position of its window's maximum (the first one on
    ties); overlapping windows add their contributions.
    """

    DefaultName = "maxpool"
    Description = "Max pooling"
    _owner = "maxPooling2dLayer"

    def __init__(self, PoolSize, Name="", Stride=1, Padding=0, HasUnpoolingOutputs=False):
        super().__init__(PoolSize, Name, Stride, Padding)
        if flag(self._owner, "HasUnpoolingOutputs", HasUnpoolingOutputs):
            raise OptionError("maxPooling2dLayer: HasUnpoolingOutputs=true is not supported (minidl has no "
                              "max unpooling layer); leave it false.")
        self.HasUnpoolingOutputs = False

    @property
    def fusable_pooling(self):
        """'max 2x2' when a convolution may pool as it writes its output (execution plan)."""
        if self.PoolSize == (2, 2) and self.Stride == (2, 2) and self.PaddingSize == (0, 0, 0, 0):
            return "max 2x2"
        return None

    def predict(self, X, work=None):
        return kernels.max_pool2d_predict(X, self.PoolSize, self.Stride, self.PaddingSize,
                                          out=buffer(work, "Z", self._output_shape(X), X.dtype))

    def forward(self, X, work=None):
        shape = self._output_shape(X)
        Z, winner = kernels.max_pool2d_forward(X, self.PoolSize, self.Stride, self.PaddingSize,
                                               out=buffer(work, "Z", shape, X.dtype),
                                               argmax=buffer(work, "argmax", shape, np.int32))
        return Z, MaxPoolingMemory(argmax=winner, input_shape=X.shape)

    def backward(self, dLdZ, memory, work=None):
        return kernels.max_pool2d_backward(dLdZ, memory.argmax, memory.input_shape,
                                           out=buffer(work, "dX", memory.input_shape, dLdZ.dtype)), {}


@dataclass(eq=False)
class MaxPoolingMemory(Memory):
    """The flat index ``h·W + w`` in the input plane of each window's maximum, and the input size."""
    argmax: np.ndarray
    input_shape: tuple


@dataclass(eq=False)
class PoolingMemory(Memory):
    input_shape: tuple


class AveragePooling2DLayer(_Pooling2DLayer):
    """``Z[n,c,i,j] = Σ_{u<ph, v<pw} Xpad[n, c, i·sh + u, j·sw + v] / D``.

    ``PaddingValue=0`` (default): padding is zeros and counts in the divisor, ``D = ph·pw``.
    ``PaddingValue='mean'``: padded positions are left out, D = the number of input
    (unpadded) elements in the window (UNCONFIRMED reading of MATLAB's 'mean').
    Backward: every element of a window receives ``dL/dZ / D``; overlaps add.
    """

    DefaultName = "avgpool"
    Description = "Average pooling"
    _owner = "averagePooling2dLayer"

    def __init__(self, PoolSize, Name="", Stride=1, Padding=0, PaddingValue=0):
        super().__init__(PoolSize, Name, Stride, Padding)
        if isinstance(PaddingValue, str) and PaddingValue.lower() == "mean":
            self.PaddingValue = "mean"
        elif is_real_scalar(PaddingValue) and PaddingValue == 0:
            self.PaddingValue = 0
        else:
            raise OptionError(f"averagePooling2dLayer: PaddingValue must be 0 or 'mean'; "
                              f"received {PaddingValue!r}.")

    def predict(self, X, work=None):
        return self.forward(X, work)[0]

    def forward(self, X, work=None):
        Z = kernels.avg_pool2d_forward(X, self.PoolSize, self.Stride, self.PaddingSize, self.PaddingValue == 0,
                                       out=buffer(work, "Z", self._output_shape(X), X.dtype))
        return Z, PoolingMemory(input_shape=X.shape)

    def backward(self, dLdZ, memory, work=None):
        dX = kernels.avg_pool2d_backward(dLdZ, memory.input_shape, self.PoolSize, self.Stride, self.PaddingSize,
                                         self.PaddingValue == 0,
                                         out=buffer(work, "dX", memory.input_shape, dLdZ.dtype))
        return dX, {}

    def _display_properties(self):
        return {**super()._display_properties(), "PaddingValue": self.PaddingValue}


class GlobalAveragePooling2DLayer(Layer):
    """``Z[n,c] = mean over h, w of X[n,c,h,w]``, output 1×1×C (internal N×C×1×1);
    ``dL/dX[n,c,h,w] = dL/dZ[n,c] / (H·W)``."""

    DefaultName = "gapool"
    _owner = "globalAveragePooling2dLayer"
    Description = "Global average pooling"
    fusable_pooling = "global average"   # a convolution may pool as it writes its output

    def initialize(self, input_size, rng):
        require_image(self, "globalAveragePooling2dLayer", input_size)
        return (1, 1, input_size[2])

    def predict(self, X, work=None):
        return kernels.global_avg_pool_forward(X, out=buffer(work, "Z", (*X.shape[:2], 1, 1), X.dtype))

    def forward(self, X, work=None):
        return self.predict(X, work), PoolingMemory(input_shape=X.shape)

    def backward(self, dLdZ, memory, work=None):
        return kernels.global_avg_pool_backward(dLdZ, memory.input_shape,
                                                out=buffer(work, "dX", memory.input_shape, dLdZ.dtype)), {}


def maxPooling2dLayer(poolSize, *pairs, **options):
    """``maxPooling2dLayer(poolSize, Stride=1, Padding=0 | 'same')``. Stride defaults to 1, as in MATLAB.

    Example::

        >>> from minidl import maxPooling2dLayer
        >>> maxPooling2dLayer(2, Stride=2).Stride
        (2, 2)
    """
    values = layer_options("maxPooling2dLayer", pairs, options,
                           {"Stride": 1, "Padding": 0, "HasUnpoolingOutputs": False})
    return MaxPooling2DLayer(poolSize, **values)


def averagePooling2dLayer(poolSize, *pairs, **options):
    """``averagePooling2dLayer(poolSize, Stride=1, Padding=0 | 'same', PaddingValue=0 | 'mean')``.

    Defaults as MATLAB: Stride 1, Padding 0, PaddingValue 0 (padded zeros count in the mean).

    Example::

        >>> from minidl import averagePooling2dLayer
        >>> layer = averagePooling2dLayer(2, Stride=2)
        >>> layer.initialize((6, 5, 3), None), layer.PaddingValue
        ((3, 2, 3), 0)
    """
    values = layer_options("averagePooling2dLayer", pairs, options,
                           {"Stride": 1, "Padding": 0, "PaddingValue": 0})
    return AveragePooling2DLayer(poolSize, **values)


def globalAveragePooling2dLayer(*pairs, **options):
    """``globalAveragePooling2dLayer(Name=...)``: mean over height and width, output 1×1×C.

    Example::

        >>> from minidl import globalAveragePooling2dLayer
        >>> globalAveragePooling2dLayer().initialize((7, 7, 16), None)
        (1, 1, 16)
    """
    return GlobalAveragePooling2DLayer(**layer_options("globalAveragePooling2dLayer", pairs, options, {}))
