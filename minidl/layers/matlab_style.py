"""Custom layers written MATLAB's way (DESIGN §4): ``predict(self, X)`` and
``backward(self, X, Z, dLdZ, memory)`` on MATLAB layouts, learnables declared once.

A class declares ``Learnable = ("Alpha",)`` (MATLAB's ``properties (Learnable)``) and
``State = (...)`` (``properties (State)``); it then gets ``AlphaLearnRateFactor`` and
``AlphaL2Factor`` (1 by default, as MATLAB), float32 storage, checkLayer and save/load
(saved by its public properties and restored without calling the constructor, as MATLAB
saves objects: ``saved_by_properties``).
A class whose ``backward`` takes ``(X, Z, dLdZ, memory)`` — or that sets ``MatlabLayout =
True`` — is a MATLAB-style layer: its methods see H×W×C×N images and C×N features (MATLAB's
'SSCB' and 'CB' dlarray layouts). minidl keeps them as ``matlab_predict``,
``matlab_forward``, ``matlab_backward`` and ``matlab_initialize`` and installs the internal
protocol (N×C×H×W, N×C) under the usual names, converting layouts at the boundary:

- ``predict(X) -> Z``; optional ``forward(X) -> Z`` or ``(Z, state..., memory)``;
- ``backward(X, Z, dLdZ, memory) -> (dLdX, dLdW1, ...)``, learnable gradients in the order
  of ``Learnable`` (several inputs: ``backward(X1, X2, Z, dLdZ, memory) -> (dLdX1, dLdX2, ...)``);
- optional ``initialize(layout)``, where ``layout.Size`` is MATLAB's (h, w, c, NaN) or
  (c, NaN) and ``layout.Format`` 'SSCB' or 'CB'.
Image layers keep 2-D and 3-D learnables as 4-D arrays with trailing singletons (1×1×C
becomes 1×1×C×1), so that NumPy broadcasts them against H×W×C×N as MATLAB does.
Gradients of a learnable's size in another shape (MATLAB drops trailing singletons) are
reshaped to it; outputs and gradients are cast to the input's type, as MATLAB computes in
the input's precision. The output size comes from one predict call on a zero observation.
"""
import inspect
import math
from types import SimpleNamespace as Memory   # base.Memory's parent: no import of base (no cycle)

import numpy as np

_METHODS = ("predict", "forward", "backward", "initialize")


def adapt(cls):
    """Called for every Layer subclass: apply its declarations and, if it is MATLAB-style,
    install the internal protocol around its methods."""
    declared = cls.__dict__
    if "Learnable" in declared or "State" in declared:
        cls.saved_by_properties = True      # save/load: MATLAB's saveobj/loadobj, see minidl.io.format
    if "Learnable" in declared:
        cls.learnables = {name: name for name in declared["Learnable"]}
        for name in cls.learnables:
            for suffix in ("LearnRateFactor", "L2Factor"):
                if not hasattr(cls, name + suffix):
                    setattr(cls, name + suffix, 1)
    if "State" in declared:
        cls.state_names = tuple(declared["State"])
    backward = declared.get("backward")
    matlab = getattr(cls, "MatlabLayout", False) or (backward is not None and _count(backward) >= 4)
    if not matlab:
        return
    cls.saved_by_properties = True
    for name in _METHODS:
        if name in declared and declared[name] is not _INTERNAL.get(name):
            setattr(cls, "matlab_" + name, declared[name])
    for name, method in _INTERNAL.items():
        setattr(cls, name, method)
    cls.MatlabLayout = True


def _count(function):
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds for p in inspect.signature(function).parameters.values()) - 1


class Layout:
    """MATLAB's networkDataLayout for ``initialize(self, layout)``: ``Size`` with NaN for the
    batch, ``Format`` 'SSCB' or 'CB', and ``finddim(label)`` (1-based, as MATLAB)."""

    def __init__(self, size):
        self.Size = (*size, math.nan)
        self.Format = "SSCB" if len(size) == 3 else "CB"

    def finddim(self, label):
        return [k + 1 for k, c in enumerate(self.Format) if c == label]


def to_matlab(X):
    """Internal N×C×H×W → H×W×C×N, N×C → C×N (a copy: MATLAB's value semantics)."""
    return np.array(X.transpose(2, 3, 1, 0) if X.ndim == 4 else X.T, order="C")


def from_matlab(Z, dtype):
    """MATLAB-layout H×W×C×N (trailing singletons may be dropped) or C×N → internal."""
    Z = np.asarray(Z)
    if Z.ndim == 2:
        Z = Z.T
    elif 2 < Z.ndim <= 4:
        Z = Z.reshape(Z.shape + (1,) * (4 - Z.ndim)).transpose(3, 2, 0, 1)
    return np.ascontiguousarray(Z, dtype=dtype) if Z.dtype.kind in "iufb" else Z


def _initialize(self, input_size, rng):
    several = self.NumInputs > 1
    sizes = tuple(tuple(s) for s in input_size) if several else (tuple(input_size),)
    if hasattr(self, "matlab_initialize"):
        layouts = [Layout(size) for size in sizes]
        self.matlab_initialize(*layouts)
    owner = self.Name or type(self).__name__
    for name in (*self.learnables, *self.state_names):
        value = getattr(self, name, None)
        if value is None:
            raise ValueError(f"{owner}: the learnable or state property {name} is empty after initialization; "
                             f"set it in the constructor or in initialize(self, layout).")
        value = np.asarray(value, np.float32)
        if len(sizes[0]) == 3 and value.ndim in (2, 3):     # MATLAB's implicit trailing singletons:
            value = value.reshape(value.shape + (1,) * (4 - value.ndim))  # 1×1×C meets H×W×C×N
        setattr(self, name, value)
    probes = [np.zeros((*size, 1), np.float32) for size in sizes]
    Z = _first(self.matlab_predict(*probes))
    Z = np.asarray(Z)
    if Z.ndim <= 2:
        return (Z.shape[0],)
    return tuple((Z.shape + (1, 1))[:3])


def _first(result):
    return result[0] if isinstance(result, tuple) else result


def _predict(self, *X):
    return from_matlab(_first(self.matlab_predict(*[to_matlab(x) for x in X])), X[0].dtype)


def _forward(self, *X):
    Xm = [to_matlab(x) for x in X]
    method = getattr(self, "matlab_forward", None) or self.matlab_predict
    result = method(*Xm)
    Z, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
    count = len(self.state_names)
    state = {name: np.asarray(value, np.float32) for name, value in zip(self.state_names, rest[:count])}
    memory = rest[count] if len(rest) > count else None
    return from_matlab(Z, X[0].dtype), Memory(X=Xm, Z=np.asarray(Z), memory=memory, state=state)


def _backward(self, dLdZ, memory):
    result = self.matlab_backward(*memory.X, memory.Z, to_matlab(dLdZ), memory.memory)
    result = result if isinstance(result, tuple) else (result,)
    names, count = list(self.learnables), self.NumInputs
    if len(result) != count + len(names):
        raise ValueError(f"Layer {self.Name!r} ({type(self).__name__}): backward returned {len(result)} values; "
                         f"expected {count + len(names)}: the input gradient{'s' if count > 1 else ''} then one "
                         f"gradient per learnable in the order of Learnable {tuple(names)} (MATLAB's "
                         f"[dLdX, dLdW1, ...] = backward(...)).")
    dtype = dLdZ.dtype
    dX = [None if d is None else from_matlab(d, dtype) for d in result[:count]]
    grads = {name: _shaped(g, getattr(self, name), dtype) for name, g in zip(names, result[count:])}
    return (dX[0] if count == 1 else tuple(dX)), grads


def _shaped(gradient, like, dtype):
    gradient = np.asarray(gradient, dtype=dtype)
    shape = np.shape(like)
    return gradient.reshape(shape) if gradient.shape != shape and gradient.size == math.prod(shape) else gradient


def _moving_state(self, memory):
    return memory.state


def _population_total(self, total, memory):
    return memory.state       # the state the last training mini-batch returned


def _population_state(self, total):
    return total or {}


_INTERNAL = {"initialize": _initialize, "predict": _predict, "forward": _forward, "backward": _backward,
             "moving_state": _moving_state, "population_total": _population_total,
             "population_state": _population_state}
