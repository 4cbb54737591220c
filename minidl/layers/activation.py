"""Element-wise activations."""
from dataclasses import dataclass

import numpy as np

from ..kernels import elementwise
from ..options import OptionError, choice, real
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


class SigmoidLayer(Layer):
    """Sigmoid: ``Z = 1 / (1 + exp(−X))``; ``dL/dX = dL/dZ · Z · (1 − Z)``."""

    DefaultName = "sigmoid"
    _owner = "sigmoidLayer"
    Description = "sigmoid"

    def predict(self, X):
        E = np.exp(-np.abs(X))        # never overflows
        return np.where(X >= 0, 1 / (1 + E), E / (1 + E)).astype(X.dtype, copy=False)

    def forward(self, X):
        Z = self.predict(X)
        return Z, Memory(Z=Z)

    def backward(self, dLdZ, memory):
        return dLdZ * memory.Z * (1 - memory.Z), {}


class TanhLayer(Layer):
    """Hyperbolic tangent: ``Z = tanh(X)``; ``dL/dX = dL/dZ · (1 − Z²)``."""

    DefaultName = "tanh"
    _owner = "tanhLayer"
    Description = "Hyperbolic tangent"

    def predict(self, X):
        return np.tanh(X)

    def forward(self, X):
        Z = np.tanh(X)
        return Z, Memory(Z=Z)

    def backward(self, dLdZ, memory):
        return dLdZ * (1 - memory.Z * memory.Z), {}


class ELULayer(Layer):
    """Exponential linear unit: ``Z = X`` where ``X ≥ 0``, else ``Alpha·(exp(X) − 1)``;
    ``dL/dX = dL/dZ`` where ``X ≥ 0``, else ``dL/dZ · Alpha·exp(X)``. Default ``Alpha`` 1."""

    DefaultName = "elu"
    _owner = "eluLayer"
    Description = "ELU"

    def __init__(self, Alpha=1, Name=""):
        super().__init__(Name)
        self.Alpha = real("eluLayer", "Alpha", Alpha, 0, low_open=True, what="a positive finite real scalar")

    def predict(self, X):
        return np.where(X >= 0, X, self.Alpha * np.expm1(np.minimum(X, 0))).astype(X.dtype, copy=False)

    def forward(self, X):
        return self.predict(X), Memory(X=X)

    def backward(self, dLdZ, memory):
        X = memory.X
        return np.where(X >= 0, dLdZ, dLdZ * self.Alpha * np.exp(np.minimum(X, 0))).astype(dLdZ.dtype, copy=False), {}

    def _display_properties(self):
        return {"Name": self.Name, "Alpha": self.Alpha}


_SQRT_2_OVER_PI = float(np.sqrt(2 / np.pi))


class GELULayer(Layer):
    """Gaussian error linear unit: ``Z = X·Φ(X)``, ``Φ(x) = (1 + erf(x/√2))/2``, and
    ``dL/dX = dL/dZ · (Φ(X) + X·φ(X))`` with ``φ(x) = exp(−x²/2)/√(2π)``.

    ``Approximation='tanh'``: ``Z = X/2 · (1 + tanh(u))``, ``u = √(2/π)·(X + 0.044715·X³)``,
    ``dZ/dX = (1 + tanh u)/2 + X/2 · (1 − tanh²u) · √(2/π)·(1 + 3·0.044715·X²)``.
    Default ``Approximation`` 'none'."""

    DefaultName = "gelu"
    _owner = "geluLayer"
    Description = "GELU"

    def __init__(self, Name="", Approximation="none"):
        super().__init__(Name)
        self.Approximation = choice("geluLayer", "Approximation", Approximation, ("none", "tanh"))

    def predict(self, X):
        return self.forward(X)[0]

    def forward(self, X):
        if self.Approximation == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (X + 0.044715 * X ** 3))
            return (X * 0.5 * (1 + t)).astype(X.dtype, copy=False), Memory(X=X, t=t)
        cdf = 0.5 * (1 + elementwise.erf(np.ascontiguousarray(X / np.sqrt(2).astype(X.dtype))))
        return (X * cdf).astype(X.dtype, copy=False), Memory(X=X, t=cdf)

    def backward(self, dLdZ, memory):
        X, t = memory.X, memory.t
        if self.Approximation == "tanh":
            slope = 0.5 * (1 + t) + 0.5 * X * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * X * X)
        else:
            slope = t + X * np.exp(-0.5 * X * X) / np.sqrt(2 * np.pi)
        return (dLdZ * slope).astype(dLdZ.dtype, copy=False), {}

    def _display_properties(self):
        return {"Name": self.Name, "Approximation": self.Approximation}


def sigmoidLayer(*pairs, **options):
    """``sigmoidLayer(Name=...)``: ``1 / (1 + exp(−x))``.

    Example::

        >>> from minidl import sigmoidLayer
        >>> import numpy as np
        >>> sigmoidLayer().predict(np.array([[0.0, 2.0]]))
        array([[0.5       , 0.88079708]])
    """
    return SigmoidLayer(**layer_options("sigmoidLayer", pairs, options, {}))


def tanhLayer(*pairs, **options):
    """``tanhLayer(Name=...)``: ``tanh(x)``.

    Example::

        >>> from minidl import tanhLayer
        >>> tanhLayer(Name="t").Name
        't'
    """
    return TanhLayer(**layer_options("tanhLayer", pairs, options, {}))


def eluLayer(alpha=1, *pairs, **options):
    """``eluLayer(alpha=1, Name=...)``: ``x`` for ``x ≥ 0``, ``alpha·(exp(x) − 1)`` otherwise.

    Example::

        >>> from minidl import eluLayer
        >>> eluLayer().Alpha, eluLayer(0.5, Name="e").Alpha
        (1.0, 0.5)
    """
    alpha, pairs = leading_value("eluLayer", "alpha", alpha, pairs, 1)
    return ELULayer(alpha, **layer_options("eluLayer", pairs, options, {}))


def geluLayer(*pairs, **options):
    """``geluLayer(Approximation='none' | 'tanh', Name=...)``: ``x·Φ(x)``.

    Example::

        >>> from minidl import geluLayer
        >>> geluLayer().Approximation, geluLayer(Approximation="tanh").Approximation
        ('none', 'tanh')
    """
    return GELULayer(**layer_options("geluLayer", pairs, options, {"Approximation": "none"}))
