"""The layer contract, checked where minidl first calls a layer (DESIGN §4).

``predict(X) -> Z``, ``forward(X) -> (Z, memory)`` and ``backward(dLdZ, memory) -> (dLdX,
grads)`` with, for a batch of N observations in the internal layout:

- Z: an array of the layer's output size (what ``initialize`` returned, as N×C×H×W or N×C)
  and of X's dtype;
- dLdX: an array of X's size and dtype (a tuple of them, one per input, for a layer with
  several inputs). ``None`` only where no layer before it learns: otherwise every layer
  before it would silently stop learning;
- grads: a dict with one gradient per learnable (``learnables``), each of the learnable's
  size and of X's dtype.

The execution plan checks each layer's results at its first call for an input size, and
``checkLayer`` checks the same things with the same messages; the per-iteration cost is a
dict lookup. A violation raises :class:`LayerContractError` naming the layer, the method,
what was expected and what was received.
"""
from collections import namedtuple

import numpy as np

from ..options import received

Like = namedtuple("Like", "shape dtype")   # what the backward check needs of an input


class LayerContractError(ValueError):
    """A layer's predict, forward or backward returned something the layer contract forbids."""


def internal_shape(size, batch):
    """The internal-layout shape of ``batch`` observations of MATLAB-order ``size``."""
    size = tuple(size)
    return (batch, size[-1], *size[:-1]) if len(size) == 3 else (batch, *size)


def _fmt(shape):
    return "×".join(map(str, shape))


def _fail(layer, method, expected, got, fix=""):
    name = layer.Name or layer.DefaultName
    raise LayerContractError(f"Layer {name!r} ({type(layer).__name__}): {method} returned {got}; expected {expected}."
                             f"{' ' + fix if fix else ''} (The layer contract: docs/custom-layers.md.)")


def _array(layer, method, what, value, shape, dtype, fix=""):
    """Raise unless ``value`` is an array of ``shape`` (None: any with N rows) and ``dtype``."""
    if not isinstance(value, np.ndarray):
        _fail(layer, method, f"{what} as a NumPy array of size {_fmt(shape)}", received(value), fix)
    if value.shape != tuple(shape):
        _fail(layer, method, f"{what} of size {_fmt(shape)}", f"{what} of size {_fmt(value.shape)}", fix)
    if value.dtype != dtype:
        _fail(layer, method, f"{what} of type {dtype} (its input's)", f"{what} of type {value.dtype}",
              "Cast with .astype(X.dtype).")


def check_output(layer, method, inputs, Z, size=None):
    """``Z`` from ``layer.predict(*inputs)`` or ``forward``, whose declared output size
    (MATLAB order) is ``size`` (None: unknown, only the observation count is checked)."""
    X = inputs[0]
    if size is not None:
        shape = internal_shape(size, X.shape[0])
    else:
        shape = (X.shape[0], *np.shape(Z)[1:]) if isinstance(Z, np.ndarray) and Z.ndim else (X.shape[0], "...")
    _array(layer, method, "Z", Z, shape, X.dtype,
           "Keep one row per observation and the output size initialize returned.")


def check_forward(layer, inputs, result, size=None):
    if not (isinstance(result, tuple) and len(result) == 2):
        _fail(layer, "forward", "a pair (Z, memory)", received(result),
              "Return the output and what backward needs: return Z, Memory(...).")
    check_output(layer, "forward", inputs, result[0], size)


def check_backward(layer, inputs, result, need_dx=True):
    """``result`` of ``layer.backward`` for a forward on ``inputs`` (arrays, or anything with
    their ``shape`` and ``dtype``); ``need_dx``: a layer before this one learns, so the input
    gradient is needed."""
    if not (isinstance(result, tuple) and len(result) == 2):
        _fail(layer, "backward", "a pair (dLdX, grads)", received(result),
              "Return the input gradient and a dict of learnable gradients: return dLdX, {}.")
    dX, grads = result
    if len(inputs) > 1:
        if not (isinstance(dX, (tuple, list)) and len(dX) == len(inputs)):
            _fail(layer, "backward", f"a tuple of {len(inputs)} input gradients (one per input "
                                     f"{', '.join(layer.InputNames)})", received(dX))
        pairs = [(x, d, f"dL/dX{k}") for k, (x, d) in enumerate(zip(inputs, dX), start=1)]
    else:
        pairs = [(inputs[0], dX, "dL/dX")]
    for X, d, what in pairs:
        if d is None and not need_dx:
            continue
        if d is None:
            _fail(layer, "backward", f"{what} of size {_fmt(X.shape)}", f"None for {what}",
                  "Return the gradient with respect to the input: without it every layer before this one "
                  "would silently stop learning.")
        _array(layer, "backward", what, d, X.shape, X.dtype)
    if not isinstance(grads, dict):
        _fail(layer, "backward", "a dict of learnable gradients as its second value", received(grads))
    names = set(layer.learnables)
    if set(grads) != names:
        _fail(layer, "backward", f"gradients for exactly its learnables {sorted(names)}",
              f"gradients for {sorted(map(str, grads))}",
              "Give one gradient per learnable, keyed by its property name.")
    for name in layer.learnables:
        _array(layer, "backward", f"dL/d{name}", grads[name], np.shape(getattr(layer, name)), inputs[0].dtype)
