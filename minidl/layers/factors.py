"""Learn-rate and L2 factors of a layer's learnable parameters, MATLAB's
``setLearnRateFactor``/``getLearnRateFactor`` (and the L2 twins), and ``freezeWeights``,
the helper of MATLAB's transfer-learning examples.

Value semantics, as in MATLAB: ``layer = setLearnRateFactor(layer, "Weights", 0)`` returns a
changed copy and leaves the layer it was given alone (so it also works on the read-only
layers of a trained network).
"""
import copy

from ..options import received
from .base import Layer, factor


def _parameter(owner, layer, name):
    """The canonical spelling of learnable ``name`` of ``layer`` (case-insensitive)."""
    if not isinstance(layer, Layer):
        raise TypeError(f"{owner}: layer must be a minidl layer; received {received(layer)}. Pass one layer, "
                        f"e.g. layers[1], not a list.")
    learnables = getattr(layer, "learnables", {}) or {}
    if isinstance(name, str):
        for known in learnables:
            if known.lower() == name.lower():
                return known
    valid = ", ".join(repr(n) for n in learnables) or "none (it has no learnable parameters)"
    raise ValueError(f"{owner}: parameterName must name a learnable parameter of layer "
                     f"{layer.Name or type(layer).__name__!r} ({type(layer).__name__}); received {received(name)}. "
                     f"Its learnable parameters: {valid}.")


def _set(owner, kind, layer, parameterName, value):
    name = _parameter(owner, layer, parameterName)
    value = factor(owner, "factor", value)
    changed = copy.deepcopy(layer)
    setattr(changed, layer.learnables[name] + kind, value)
    return changed


def setLearnRateFactor(layer, parameterName, factor):
    """``layer = setLearnRateFactor(layer, parameterName, factor)``: a copy of ``layer`` whose
    learning rate for ``parameterName`` is ``factor`` × the global one (0 freezes it).

    Example::

        >>> from minidl import fullyConnectedLayer, getLearnRateFactor, setLearnRateFactor
        >>> layer = setLearnRateFactor(fullyConnectedLayer(10), "Weights", 0)
        >>> getLearnRateFactor(layer, "Weights"), layer.WeightLearnRateFactor
        (0, 0)
    """
    return _set("setLearnRateFactor", "LearnRateFactor", layer, parameterName, factor)


def getLearnRateFactor(layer, parameterName):
    """``factor = getLearnRateFactor(layer, parameterName)``.

    Example::

        >>> from minidl import convolution2dLayer, getLearnRateFactor
        >>> getLearnRateFactor(convolution2dLayer(3, 8, BiasLearnRateFactor=2), "Bias")
        2
    """
    name = _parameter("getLearnRateFactor", layer, parameterName)
    return getattr(layer, layer.learnables[name] + "LearnRateFactor")


def setL2Factor(layer, parameterName, factor):
    """``layer = setL2Factor(layer, parameterName, factor)``: a copy of ``layer`` whose L2
    regularization for ``parameterName`` is ``factor`` × the global L2Regularization.

    Example::

        >>> from minidl import batchNormalizationLayer, getL2Factor, setL2Factor
        >>> getL2Factor(setL2Factor(batchNormalizationLayer(), "Scale", 2), "Scale")
        2
    """
    return _set("setL2Factor", "L2Factor", layer, parameterName, factor)


def getL2Factor(layer, parameterName):
    """``factor = getL2Factor(layer, parameterName)``.

    Example::

        >>> from minidl import fullyConnectedLayer, getL2Factor
        >>> getL2Factor(fullyConnectedLayer(4), "Bias")
        0
    """
    name = _parameter("getL2Factor", layer, parameterName)
    return getattr(layer, layer.learnables[name] + "L2Factor")


def freezeWeights(layers):
    """``layers = freezeWeights(layers)``: copies of the layers with the learn-rate factor of
    every learnable parameter set to 0, as the helper of MATLAB's transfer-learning examples
    (``layers(1:10) = freezeWeights(layers(1:10))``). A single layer gives a single layer.

    Example::

        >>> from minidl import convolution2dLayer, freezeWeights, reluLayer
        >>> frozen = freezeWeights([convolution2dLayer(3, 8), reluLayer()])
        >>> frozen[0].WeightLearnRateFactor, frozen[0].BiasLearnRateFactor
        (0, 0)
    """
    if isinstance(layers, Layer):
        return freezeWeights([layers])[0]
    if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError(f"freezeWeights: layers must be a layer or a list of layers; received {received(layers)}.")
    frozen = []
    for layer in layers:
        layer = copy.deepcopy(layer)
        for prefix in (getattr(layer, "learnables", {}) or {}).values():
            setattr(layer, prefix + "LearnRateFactor", 0)
        frozen.append(layer)
    return type(layers)(frozen) if isinstance(layers, list) and type(layers) is not list else frozen
