"""Element-wise activations."""
import numpy as np

from .base import Layer, Memory, layer_options


class ReLULayer(Layer):
    """Rectified linear unit: ``Z = max(X, 0)``; ``dL/dX = dL/dZ · [X > 0]``."""

    DefaultName = "relu"
    Description = "ReLU"

    def predict(self, X):
        return np.maximum(X, 0)

    def forward(self, X):
        Z = np.maximum(X, 0)
        return Z, Memory(Z=Z)

    def backward(self, dLdZ, memory):
        return dLdZ * (memory.Z > 0), {}


def reluLayer(*pairs, **options):
    """``reluLayer(Name=...)``: ``max(0, x)``.

    Example::

        >>> from minidl import reluLayer
        >>> reluLayer(Name="relu_a").Name
        'relu_a'
    """
    return ReLULayer(**layer_options("reluLayer", pairs, options, {}))
