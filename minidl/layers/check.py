"""``checkLayer``: finite-difference checks of any layer, custom layers included."""
import copy
import math

import numpy as np

from ..options import flag, integer, is_real_scalar, name_value_pairs, real, received
from . import contract
from .base import Layer
from .output import OutputLayer

OWNER = "checkLayer"
MAX_VALUES = 10 ** 7    # input values of one check


class LayerCheckError(AssertionError):
    """A layer failed one of checkLayer's tests."""


def _internal_shape(input_size, batch):
    if len(input_size) == 3:
        h, w, c = input_size
        return (batch, c, h, w)
    return (batch, *input_size)


def _initialized_copies(layer, input_size, rng):
    """(float64 copy, float32 copy as trainNetwork runs it, declared output size)."""
    layer = copy.deepcopy(layer)
    layer.Name = layer.Name or layer.DefaultName
    size = layer.initialize(input_size, rng)
    as_trained = copy.deepcopy(layer)
    for name in layer.learnables:
        setattr(layer, name, np.asarray(getattr(layer, name), np.float64))
    return layer, as_trained, size


def _contract(layer, inputs, size):
    """The layer contract checked as the trainer checks it, in float32: '' or the problem."""
    inputs = [x.astype(np.float32) for x in inputs]
    try:
        result = layer.forward(*inputs)
        contract.check_forward(layer, inputs, result, size)
        contract.check_backward(layer, inputs, layer.backward(np.ones_like(result[0]), result[1]))
        try:
            Z = layer.predict(*inputs)
        except ValueError:  # e.g. batch norm before statistics exist
            return ""
        contract.check_output(layer, "predict", inputs, Z, size)
    except contract.LayerContractError as error:
        return str(error)
    return ""


def numerical_gradient(f, x, indices, step=1e-6):
    """Central differences ``(f(x + h·e_i) − f(x − h·e_i)) / 2h`` at the flat ``indices`` of x."""
    flat = x.reshape(-1)
    grad = np.empty(len(indices))
    for k, i in enumerate(indices):
        saved = flat[i]
        flat[i] = saved + step
        up = f()
        flat[i] = saved - step
        down = f()
        flat[i] = saved
        grad[k] = (up - down) / (2 * step)
    return grad


@name_value_pairs(2)
def checkLayer(layer, input_size, batch_size=3, samples=40, tolerance=1e-5,
               seed=0, verbose=True, ObservationDimension=None):
    """Check a layer's backward against central finite differences, in float64.

    The loss is ``L = Σ G ⊙ Z`` with random weights G (never ``Σ Z``, which hides errors such
    as a missing mean term in batch normalization). Checks dL/dX and the gradient of every
    learnable at ``samples`` random entries, that ``forward`` leaves the layer unchanged, and
    that ``predict`` and ``forward`` agree in size. First, in float32 as trainNetwork calls
    the layer, it checks the layer contract (minidl.layers.contract: output and gradient
    sizes and types, no None for dL/dX, one gradient per learnable) with the same messages
    training and prediction give. ``input_size`` is MATLAB-order (h, w, c)
    or (c,); for a layer with several inputs, a tuple of such sizes. Raises
    :class:`LayerCheckError` on a failure; returns the list of results.
    ``ObservationDimension`` (MATLAB's option) is accepted where observations come last, as
    in MATLAB's layouts: 4 for an (h, w, c) size, 2 for (c,) or MATLAB's [c 1]; the check
    always uses ``batch_size`` observations.

    Example::

        >>> from minidl import checkLayer, reluLayer
        >>> results = checkLayer(reluLayer(), (4, 4, 2), verbose=False)
        >>> all(passed for _, passed, _ in results)
        True
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"checkLayer: layer must be a minidl Layer; received {received(layer)}.")
    several = layer.NumInputs > 1
    input_size = _observation_dimension(input_size, ObservationDimension, several)
    sizes = _input_sizes(layer, input_size, several)
    batch_size, samples = integer(OWNER, "batch_size", batch_size), integer(OWNER, "samples", samples)
    values = batch_size * sum(math.prod(size) for size in sizes)
    if values > MAX_VALUES:
        raise ValueError(f"checkLayer: batch_size × input_size is {values:,} values, more than a finite-difference "
                         f"check can take ({MAX_VALUES:,}); check the layer on a smaller input_size or batch_size.")
    tolerance = real(OWNER, "tolerance", tolerance, 0, low_open=True)
    rng = np.random.default_rng(integer(OWNER, "seed", seed, 0, math.inf))
    verbose = flag(OWNER, "verbose", verbose)
    layer, as_trained, output_size = _initialized_copies(layer, sizes if several else sizes[0], rng)
    inputs = [rng.standard_normal(_internal_shape(size, batch_size)) for size in sizes]
    X = inputs[0]
    results = []

    if isinstance(layer, OutputLayer):
        T = np.zeros_like(X)
        T[np.arange(X.shape[0]), rng.integers(0, X.shape[1], X.shape[0])] = 1
        Y = np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)
        analytic = layer.backwardLoss(Y, T)
        picks = rng.choice(Y.size, min(samples, Y.size), replace=False)
        numeric = numerical_gradient(lambda: layer.forwardLoss(Y, T), Y, picks)
        results.append(_compare("backwardLoss vs finite differences of forwardLoss",
                                analytic.reshape(-1)[picks], numeric, tolerance))
        return _report(layer, results, verbose)

    problem = _contract(as_trained, inputs, output_size)
    results.append(("results follow the layer contract (float32, as in training)", not problem, problem))
    if problem:
        return _report(layer, results, verbose)
    before = {name: np.array(getattr(layer, name), copy=True) for name in vars(layer)
              if isinstance(getattr(layer, name), np.ndarray)}
    Z, memory = layer.forward(*inputs)
    unchanged = all(np.array_equal(before[name], getattr(layer, name)) for name in before)
    results.append(("forward does not change the layer", unchanged,
                    "" if unchanged else "forward modified a property; return state in Memory instead"))
    G = rng.standard_normal(Z.shape)
    dX, grads = layer.backward(G, memory)
    dX = dX if several else (dX,)

    def loss():
        return float(np.sum(G * layer.forward(*inputs)[0]))

    for k, (x, dx) in enumerate(zip(inputs, dX), start=1):
        picks = rng.choice(x.size, min(samples, x.size), replace=False)
        title = f"dL/dX{k if several else ''} vs finite differences"
        results.append(_compare(title, np.asarray(dx).reshape(-1)[picks], numerical_gradient(loss, x, picks),
                                tolerance))
    for name in layer.learnables:
        value = getattr(layer, name)
        if name not in grads:
            results.append((f"dL/d{name} returned", False, f"backward returned no gradient for {name}"))
            continue
        if np.shape(grads[name]) != value.shape:
            results.append((f"dL/d{name} size", False, f"gradient size {np.shape(grads[name])} differs "
                                                     f"from {name} size {value.shape}"))
            continue
        picks = rng.choice(value.size, min(samples, value.size), replace=False)
        results.append(_compare(f"dL/d{name} vs finite differences", np.asarray(grads[name]).reshape(-1)[picks],
                                numerical_gradient(loss, value, picks), tolerance))
    try:
        predicted = layer.predict(*inputs)
        same = np.shape(predicted) == np.shape(Z)
        results.append(("predict and forward sizes agree", same,
                        "" if same else f"predict gives {np.shape(predicted)}, forward {np.shape(Z)}"))
    except ValueError as error:  # e.g. batch norm before statistics exist
        results.append(("predict and forward sizes agree", True, f"predict not available: {error}"))
    return _report(layer, results, verbose)


def _observation_dimension(input_size, dimension, several):
    """``input_size`` without MATLAB's trailing observation singleton ([c 1] with
    ObservationDimension 2 is (c,)), after checking that observations come last."""
    if dimension is None:
        return input_size
    dimension = integer(OWNER, "ObservationDimension", dimension)
    sizes = input_size if several and isinstance(input_size, (list, tuple)) else [input_size]
    result = []
    for size in sizes:
        size = [size] if is_real_scalar(size) else list(size) if isinstance(size, (list, tuple, np.ndarray)) else size
        if isinstance(size, list) and len(size) == 2 and size[-1] == 1 and dimension == 2:
            size = size[:1]                                    # MATLAB's [c 1] for c×N features
        if not (isinstance(size, list) and (dimension == len(size) + 1 or (len(size) == 2 and dimension == 4))):
            raise ValueError(f"checkLayer: ObservationDimension must be the dimension after the input size "
                             f"(4 for [h w c], 2 for [c 1]), as minidl's layouts put observations last; received "
                             f"{received(dimension)} for input_size {received(input_size)}.")
        result.append(size)
    return tuple(result) if several else result[0]


def _input_sizes(layer, input_size, several):
    """One MATLAB-order size per input: (h, w, c) or (c,) each, as tuples of ints."""
    def size(value):
        if is_real_scalar(value):
            return (integer(OWNER, "input_size", value),)
        if not isinstance(value, (list, tuple, np.ndarray)) or np.ndim(value) != 1 or len(value) not in (1, 2, 3):
            raise TypeError(f"checkLayer: input_size must be one observation's size, (h, w, c), (h, w) or (c,)"
                            f"{', one per input' if several else ''}; received {received(value)}.")
        sizes = tuple(integer(OWNER, "input_size", v) for v in value)
        return sizes + (1,) if len(sizes) == 2 else sizes   # (h, w): one channel, as imageInputLayer
    if not several:
        return (size(input_size),)
    if not isinstance(input_size, (list, tuple)) or len(input_size) != layer.NumInputs:
        raise TypeError(f"checkLayer: {layer.Name or type(layer).__name__} has {layer.NumInputs} inputs, so "
                        f"input_size must be a tuple of {layer.NumInputs} sizes; received {received(input_size)}.")
    return tuple(size(value) for value in input_size)


def _compare(title, analytic, numeric, tolerance):
    scale = max(1.0, float(np.max(np.abs(numeric))) if numeric.size else 1.0)
    error = float(np.max(np.abs(analytic - numeric))) if numeric.size else 0.0
    passed = error <= tolerance * scale
    return title, passed, f"max abs error {error:.3g} (scale {scale:.3g})"


def _report(layer, results, verbose):
    if verbose:
        for title, passed, detail in results:
            print(f"  {'PASS' if passed else 'FAIL'}  {layer.Name}: {title}  {detail}")
    failures = [f"{title}: {detail}" for title, passed, detail in results if not passed]
    if failures:
        raise LayerCheckError(f"checkLayer: {layer.Name} ({type(layer).__name__}) failed: " + "; ".join(failures))
    return results
