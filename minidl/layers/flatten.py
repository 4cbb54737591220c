"""Flatten layer."""
from .base import Layer, Memory, layer_options
from .dense import flatten_matlab


class FlattenLayer(Layer):
    """Flattens h×w×c images into h·w·c features in MATLAB's column-major order (h fastest,
    then w, then c), as MATLAB's ``flattenLayer``; feature input passes unchanged.
    ``dL/dX`` is ``dL/dZ`` reshaped back."""

    DefaultName = "flatten"
    _owner = "flattenLayer"
    Description = "Flatten"

    def initialize(self, input_size, rng):
        size = 1
        for d in input_size:
            size *= int(d)
        return (size,)

    def predict(self, X):
        return flatten_matlab(X)

    def forward(self, X):
        return flatten_matlab(X), Memory(shape=X.shape)

    def backward(self, dLdZ, memory):
        shape = memory.shape
        if len(shape) == 2:
            return dLdZ, {}
        N, C, H, W = shape
        return dLdZ.reshape(N, C, W, H).transpose(0, 1, 3, 2), {}


def flattenLayer(*pairs, **options):
    """``flattenLayer(Name=...)``: h×w×c images to h·w·c features (MATLAB's order).

    Example::

        >>> import numpy as np
        >>> from minidl import flattenLayer
        >>> layer = flattenLayer()
        >>> layer.initialize((2, 3, 4), None)
        (24,)
        >>> X = np.arange(24.0).reshape(1, 4, 2, 3)      # N×C×H×W inside
        >>> layer.predict(X)[0, :4]                      # h fastest: X[0, 0, :, 0], X[0, 0, :, 1]
        array([0., 3., 1., 4.])
    """
    return FlattenLayer(**layer_options("flattenLayer", pairs, options, {}))
