"""Element-wise activations."""
from dataclasses import dataclass

import numpy as np

from ..kernels import elementwise
from ..options import OptionError, real
from .base import Layer, Memory, buffer, layer_options


class ReLULayer(Layer):
    """Rectified linear unit: ``Z = max(X, 0)``; ``dL/dX = dL/dZ · [X > 0]``. NaN stays NaN.

    A normalization or convolution before it may compute it in the same pass
    (``fusable_activation``; see the execution plan)."""

    DefaultName = "relu"
    _owner = "reluLayer"
    Description = "ReLU"
    fusable_activation = "relu"

    def predict(self, X, work=None):
        return np.maximum(X, 0, out=buffer(work, "Z", X.shape, X.dtype))

    def forward(self, X, work=None):
        Z = self.predict(X, work)
        return Z, ReLUMemory(Z=Z)

    def backward(self, dLdZ, memory, work=None):
        return elementwise.relu_backward(dLdZ, memory.Z, out=buffer(work, "dX", dLdZ.shape, dLdZ.dtype)), {}


@dataclass(eq=False)
class ReLUMemory(Memory):
    Z: np.ndarray


def reluLayer(*pairs, **options):
    """``reluLayer(Name=...)``: ``max(0, x)``.

    Example::

        >>> from minidl import reluLayer
        >>> reluLayer(Name="relu_a").Name
        'relu_a'
    """
    return ReLULayer(**layer_options("reluLayer", pairs, options, {}))


class LeakyReLULayer(Layer):
    """Leaky ReLU: ``Z = X`` where ``X ≥ 0``, else ``Scale·X``;
    ``dL/dX = dL/dZ`` where ``X ≥ 0``, else ``Scale·dL/dZ``. Default ``Scale`` 0.01."""

    DefaultName = "leakyrelu"
    _owner = "leakyReluLayer"
    Description = "Leaky ReLU"

    def __init__(self, Scale=0.01, Name=""):
        super().__init__(Name)
        self.Scale = real("leakyReluLayer", "Scale", Scale, what="a finite real scalar")

    def predict(self, X):
        return np.where(X >= 0, X, X * self.Scale)

    def forward(self, X):
        positive = X >= 0
        return np.where(positive, X, X * self.Scale), Memory(positive=positive)

    def backward(self, dLdZ, memory):
        return np.where(memory.positive, dLdZ, dLdZ * self.Scale), {}

    def _display_properties(self):
        return {"Name": self.Name, "Scale": self.Scale}


def leading_value(owner, name, value, pairs, default):
    """MATLAB's optional leading positional argument: in ``f('Name', 'x')`` the first
    "value" is really an option name. Returns ``(value, pairs)``; a string that is not the
    option ``Name`` was meant as the value."""
    if isinstance(value, str):
        if value.lower() != "name":
            raise OptionError(f"{owner}: {name} must be a number; received {value!r}. Pass the number "
                              f"itself, not a string (the only Name-Value option is Name).")
        return default, (value, *pairs)
    return value, pairs


def leakyReluLayer(scale=0.01, *pairs, **options):
    """``leakyReluLayer(scale=0.01, Name=...)``: ``x`` for ``x ≥ 0``, ``scale·x`` otherwise.

    Example::

        >>> from minidl import leakyReluLayer
        >>> leakyReluLayer().Scale, leakyReluLayer(0.2, Name="lr").Name
        (0.01, 'lr')
        >>> leakyReluLayer("Name", "lr").Scale
        0.01
    """
    scale, pairs = leading_value("leakyReluLayer", "scale", scale, pairs, 0.01)
    return LeakyReLULayer(scale, **layer_options("leakyReluLayer", pairs, options, {}))
