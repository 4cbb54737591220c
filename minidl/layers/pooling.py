"""Pooling layers."""
import numpy as np

from ..options import OptionError
from .activation import is_real_scalar
from .base import Layer, Memory, as_padding, as_pair, layer_options, output_hw, require_image, resolve_padding


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

    def _slices(self, Ho, Wo):
        """(rows, cols) of the padded input seen by window offset (u, v), in (u, v) order."""
        (ph, pw), (sh, sw) = self.PoolSize, self.Stride
        return [(slice(u, u + (Ho - 1) * sh + 1, sh), slice(v, v + (Wo - 1) * sw + 1, sw))
                for u in range(ph) for v in range(pw)]

    def _windows(self, X, fill):
        """X padded with ``fill`` and the window slices."""
        top, bottom, left, right = self.PaddingSize
        Xp = X
        if any(self.PaddingSize):
            Xp = np.pad(X, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
        Ho, Wo = output_hw(self.Name, X.shape[2:], self.PoolSize, self.Stride, self.PaddingSize)
        return Xp, self._slices(Ho, Wo)

    def _scatter(self, contributions, dLdZ, memory):
        """dL/dX: window k's ``contributions(k)`` added back at its positions, padding cropped."""
        dXp = np.zeros(memory.padded_shape, dLdZ.dtype)
        for k, (rows, cols) in enumerate(self._slices(*dLdZ.shape[2:])):
            dXp[:, :, rows, cols] += contributions(k)
        top, _, left, _ = self.PaddingSize
        H, W = memory.input_shape[2:]
        return np.ascontiguousarray(dXp[:, :, top:top + H, left:left + W])

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
        if HasUnpoolingOutputs:
            raise NotImplementedError("maxPooling2dLayer: HasUnpoolingOutputs=true is not supported yet.")
        self.HasUnpoolingOutputs = False

    def predict(self, X):
        Xp, slices = self._windows(X, -np.inf)
        Z = Xp[:, :, slices[0][0], slices[0][1]].copy()
        for rows, cols in slices[1:]:
            np.maximum(Z, Xp[:, :, rows, cols], out=Z)
        return Z

    def forward(self, X):
        Xp, slices = self._windows(X, -np.inf)
        Z = Xp[:, :, slices[0][0], slices[0][1]].copy()
        winner = np.zeros(Z.shape, np.int16)
        for k, (rows, cols) in enumerate(slices[1:], start=1):
            candidate = Xp[:, :, rows, cols]
            better = candidate > Z
            np.copyto(Z, candidate, where=better)
            winner[better] = k
        return Z, Memory(winner=winner, input_shape=X.shape, padded_shape=Xp.shape)

    def backward(self, dLdZ, memory):
        return self._scatter(lambda k: dLdZ * (memory.winner == k), dLdZ, memory), {}


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

    def _window_sum(self, X):
        Xp, slices = self._windows(X, 0)
        Z = Xp[:, :, slices[0][0], slices[0][1]].copy()
        for rows, cols in slices[1:]:
            Z += Xp[:, :, rows, cols]
        return Z, Xp.shape

    def _divisor(self, X):
        if self.PaddingValue == "mean" and any(self.PaddingSize):
            return self._window_sum(np.ones((1, 1, *X.shape[2:]), X.dtype))[0]
        return X.dtype.type(self.PoolSize[0] * self.PoolSize[1])

    def predict(self, X):
        return self.forward(X)[0]

    def forward(self, X):
        total, padded_shape = self._window_sum(X)
        divisor = self._divisor(X)
        return total / divisor, Memory(divisor=divisor, input_shape=X.shape, padded_shape=padded_shape)

    def backward(self, dLdZ, memory):
        share = dLdZ / memory.divisor
        return self._scatter(lambda k: share, dLdZ, memory), {}

    def _display_properties(self):
        return {**super()._display_properties(), "PaddingValue": self.PaddingValue}


class GlobalAveragePooling2DLayer(Layer):
    """``Z[n,c] = mean over h, w of X[n,c,h,w]``, output 1×1×C (internal N×C×1×1);
    ``dL/dX[n,c,h,w] = dL/dZ[n,c] / (H·W)``."""

    DefaultName = "gapool"
    Description = "Global average pooling"

    def initialize(self, input_size, rng):
        require_image(self, "globalAveragePooling2dLayer", input_size)
        return (1, 1, input_size[2])

    def predict(self, X):
        return X.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(X.dtype)

    def forward(self, X):
        return self.predict(X), Memory(input_shape=X.shape)

    def backward(self, dLdZ, memory):
        H, W = memory.input_shape[2:]
        return np.ascontiguousarray(np.broadcast_to(dLdZ / (H * W), memory.input_shape)), {}


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
