"""Pooling layers."""
import numpy as np

from .base import Layer, Memory, as_padding, as_pair, layer_options, output_hw, resolve_padding


class MaxPooling2DLayer(Layer):
    """``Z[n,c,i,j] = max_{u<ph, v<pw} Xpad[n, c, i·sh + u, j·sw + v]``; padding never wins (−∞).

    Backward sends each ``dL/dZ`` to the position of its window's maximum (the first one on
    ties); overlapping windows add their contributions.
    """

    DefaultName = "maxpool"
    Description = "Max pooling"

    def __init__(self, PoolSize, Name="", Stride=1, Padding=0, HasUnpoolingOutputs=False):
        super().__init__(Name)
        self.PoolSize = as_pair("maxPooling2dLayer", "PoolSize", PoolSize)
        self.Stride = as_pair("maxPooling2dLayer", "Stride", Stride)
        self.Padding = as_padding("maxPooling2dLayer", Padding)
        self.PaddingMode = "same" if self.Padding == "same" else "manual"
        if HasUnpoolingOutputs:
            raise NotImplementedError("maxPooling2dLayer: HasUnpoolingOutputs=true is not supported yet.")
        self.HasUnpoolingOutputs = False
        self.PaddingSize = None

    def initialize(self, input_size, rng):
        if len(input_size) != 3:
            raise ValueError(f"{self.Name}: maxPooling2dLayer needs image input (h×w×c); "
                             f"received size {input_size}.")
        h, w, c = input_size
        self.PaddingSize = resolve_padding(self.Padding, (h, w), self.PoolSize, self.Stride)
        return (*output_hw(self.Name, (h, w), self.PoolSize, self.Stride, self.PaddingSize), c)

    def _windows(self, X):
        top, bottom, left, right = self.PaddingSize
        Xp = X
        if any(self.PaddingSize):
            Xp = np.pad(X, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=-np.inf)
        Ho, Wo = output_hw(self.Name, X.shape[2:], self.PoolSize, self.Stride, self.PaddingSize)
        (ph, pw), (sh, sw) = self.PoolSize, self.Stride
        slices = [(slice(u, u + (Ho - 1) * sh + 1, sh), slice(v, v + (Wo - 1) * sw + 1, sw))
                  for u in range(ph) for v in range(pw)]
        return Xp, slices

    def predict(self, X):
        Xp, slices = self._windows(X)
        Z = Xp[:, :, slices[0][0], slices[0][1]].copy()
        for rows, cols in slices[1:]:
            np.maximum(Z, Xp[:, :, rows, cols], out=Z)
        return Z

    def forward(self, X):
        Xp, slices = self._windows(X)
        Z = Xp[:, :, slices[0][0], slices[0][1]].copy()
        winner = np.zeros(Z.shape, np.int16)
        for k, (rows, cols) in enumerate(slices[1:], start=1):
            candidate = Xp[:, :, rows, cols]
            better = candidate > Z
            np.copyto(Z, candidate, where=better)
            winner[better] = k
        return Z, Memory(winner=winner, input_shape=X.shape, padded_shape=Xp.shape)

    def backward(self, dLdZ, memory):
        dXp = np.zeros(memory.padded_shape, dLdZ.dtype)
        N, C, H, W = memory.input_shape
        Ho, Wo = dLdZ.shape[2:]
        (ph, pw), (sh, sw) = self.PoolSize, self.Stride
        for k in range(ph * pw):
            u, v = divmod(k, pw)
            dXp[:, :, u:u + (Ho - 1) * sh + 1:sh, v:v + (Wo - 1) * sw + 1:sw] += dLdZ * (memory.winner == k)
        top, _, left, _ = self.PaddingSize
        return np.ascontiguousarray(dXp[:, :, top:top + H, left:left + W]), {}

    def _display_properties(self):
        return {"Name": self.Name, "PoolSize": self.PoolSize, "Stride": self.Stride,
                "Padding": self.Padding}


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
