"""Trained networks and the execution plan they run.

A network is compiled once from validated, initialized layers into a plan: the layer
order, and which batch-normalization layers run fused with the ReLU that follows them
(one pass over memory instead of two, in both directions).
"""
import copy

import numpy as np

from ..layers.activation import ReLULayer
from ..layers.base import Layer, assign_names
from ..layers.input import ImageInputLayer
from ..layers.normalization import BatchNormalizationLayer
from ..layers.output import ClassificationOutputLayer, OutputLayer, SoftmaxLayer


def prepare_layers(layers, rng):
    """Copy, name, validate and initialize a layer array; returns the new layer list.

    The caller's layer objects are never changed (MATLAB's value semantics).
    """
    if isinstance(layers, Layer):
        layers = [layers]
    layers = list(layers)
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"Layer array element {index + 1} is a {type(layer).__name__}, not a "
                            f"minidl layer. Build the array from layer functions such as reluLayer().")
    if not layers or layers[0].NumInputs != 0:
        raise ValueError("The network must start with an input layer, e.g. imageInputLayer([28 28 1]); "
                         f"the first layer is {type(layers[0]).__name__ if layers else 'missing'}.")
    if not isinstance(layers[-1], OutputLayer):
        raise ValueError("The network must end with an output layer, e.g. classificationLayer(); "
                         f"the last layer is {type(layers[-1]).__name__}.")
    layers = copy.deepcopy(layers)
    for layer, name in zip(layers, assign_names(layers)):
        layer.Name = name
    for index, layer in enumerate(layers[1:], start=1):
        if layer.NumInputs == 0:
            raise ValueError(f"{layer.Name}: an input layer can only be the first layer (it is layer {index + 1}).")
        if isinstance(layer, OutputLayer) and index != len(layers) - 1:
            raise ValueError(f"{layer.Name}: an output layer can only be the last layer (it is layer {index + 1}).")
    if isinstance(layers[-1], ClassificationOutputLayer) and not isinstance(layers[-2], SoftmaxLayer):
        raise ValueError(f"{layers[-1].Name}: a classificationLayer must be preceded by a softmaxLayer; "
                         f"it follows {layers[-2].Name} ({type(layers[-2]).__name__}). Insert softmaxLayer().")
    size = None
    for layer in layers:
        size = layer.initialize(size, rng)
    return layers


def fused_pairs(layers):
    """Indices of batch-normalization layers whose only consumer is the ReLU right after them."""
    return {i for i in range(len(layers) - 1)
            if isinstance(layers[i], BatchNormalizationLayer) and type(layers[i + 1]) is ReLULayer}


class SeriesNetwork:
    """A trained chain of layers: ``Layers``, ``InputNames``, ``OutputNames``.

    ``predict``/``classify`` (module functions) take MATLAB layouts; the methods here work
    on the internal layout (N×C×H×W or N×C).
    """

    def __init__(self, layers):
        self.Layers = list(layers)
        self._fused = fused_pairs(self.Layers)

    @property
    def InputNames(self):
        return [self.Layers[0].Name]

    @property
    def OutputNames(self):
        return [self.Layers[-1].Name]

    @property
    def input_layer(self):
        return self.Layers[0]

    @property
    def output_layer(self):
        return self.Layers[-1]

    def predict_internal(self, X, batch_statistics=False):
        """Scores for internal-layout X. With ``batch_statistics`` batch-norm layers normalize
        with the statistics of X itself (MATLAB's behaviour while training runs)."""
        index = 0
        layers = self.Layers[:-1]
        while index < len(layers):
            layer = layers[index]
            fuse = index in self._fused
            if isinstance(layer, BatchNormalizationLayer):
                X = layer.forward(X, relu=fuse)[0] if batch_statistics else layer.predict(X, relu=fuse)
            else:
                X = layer.predict(X)
            index += 2 if fuse else 1
        return X

    def forward_train(self, X):
        """Training-mode forward through every layer but the output; returns (Y, memories)."""
        memories = [None] * len(self.Layers)
        index = 0
        while index < len(self.Layers) - 1:
            layer = self.Layers[index]
            if index in self._fused:
                X, memories[index] = layer.forward(X, relu=True)
                index += 2
            else:
                X, memories[index] = layer.forward(X)
                index += 1
        return X, memories

    def backward(self, dLdY, memories):
        """Gradients of every learnable, as a list of dicts (one per layer)."""
        grads = [{} for _ in self.Layers]
        dX = dLdY
        for index in range(len(self.Layers) - 2, 0, -1):
            if memories[index] is None:  # the ReLU half of a fused pair
                continue
            dX, grads[index] = self.Layers[index].backward(dX, memories[index])
        return grads

    def __repr__(self):
        lines = [f"SeriesNetwork with {len(self.Layers)} layers:"]
        lines += [f"  {i + 1:2d}  {layer.Name:<16s} {layer.Description}"
                  for i, layer in enumerate(self.Layers)]
        return "\n".join(lines)


# ---- MATLAB data layouts ----------------------------------------------------------------

_FORMATS = {"SSCB": (3, 2, 0, 1), "BCSS": (0, 1, 2, 3), "BSSC": (0, 3, 1, 2)}


def to_internal(X, input_layer, DataFormat="SSCB", owner="predict"):
    """MATLAB-layout data (H×W×C×N by default, or N×C features) → C-contiguous float32
    in the internal layout (N×C×H×W or N×C)."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
        raise TypeError(f"{owner}: X must be numeric; received an array of {X.dtype}.")
    if isinstance(input_layer, ImageInputLayer):
        h, w, c = input_layer.InputSize
        fmt = str(DataFormat).upper()
        if fmt not in _FORMATS:
            raise ValueError(f"{owner}: DataFormat must be 'SSCB', 'BCSS' or 'BSSC'; received {DataFormat!r}.")
        hint = ""
        if fmt == "SSCB" and X.ndim in (2, 3):  # one image; MATLAB drops trailing singletons
            if X.ndim == 3 and X.shape[2] != c:
                hint = (f" A 3-D array is one H×W×C image; for {X.shape[2]} images of one channel "
                        f"add the channel dimension: X[:, :, None, :].")
            X = X.reshape(X.shape[0], X.shape[1], -1, 1)
        if X.ndim != 4:
            raise ValueError(f"{owner}: image data must be 4-D ({fmt}, with {h}×{w}×{c} images); "
                             f"received an array of size {'×'.join(map(str, X.shape))}.")
        internal = X.transpose(_FORMATS[fmt])
        if internal.shape[1:] != (c, h, w):
            got = internal.shape
            raise ValueError(f"{owner}: the input layer {input_layer.Name!r} expects images of size "
                             f"{h}×{w}×{c}; received {got[2]}×{got[3]}×{got[1]} (data format {fmt}).{hint}")
    else:
        internal = X if X.ndim == 2 else X.reshape(1, -1)
        expected = input_layer.InputSize[-1] if hasattr(input_layer, "InputSize") else internal.shape[1]
        if internal.shape[1] != expected:
            raise ValueError(f"{owner}: the input layer {input_layer.Name!r} expects {expected} features "
                             f"per observation (N×{expected}); received {'×'.join(map(str, X.shape))}.")
    return np.ascontiguousarray(internal, dtype=np.float32)


def from_internal(Y):
    """Internal outputs → MATLAB layout: N×K stays, N×C×H×W becomes H×W×C×N."""
    return Y if Y.ndim == 2 else np.ascontiguousarray(Y.transpose(2, 3, 1, 0))


def _batches(count, size):
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def predict(net, X, MiniBatchSize=128, DataFormat="SSCB", ExecutionEnvironment="auto"):
    """``Y = predict(net, X)``: network outputs in MATLAB layout (N×K scores for classification).

    Example::

        >>> import numpy as np, minidl
        >>> layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"),
        ...           minidl.fullyConnectedLayer(3), minidl.softmaxLayer(),
        ...           minidl.classificationLayer()]
        >>> net = minidl.assembleNetwork(layers, Classes=["a", "b", "c"])
        >>> minidl.predict(net, np.zeros((4, 4, 1, 2))).shape
        (2, 3)
    """
    _check_environment("predict", ExecutionEnvironment)
    X = to_internal(X, net.input_layer, DataFormat)
    size = _positive_int("predict", "MiniBatchSize", MiniBatchSize)
    parts = [net.predict_internal(X[batch]) for batch in _batches(X.shape[0], size)]
    return from_internal(np.concatenate(parts) if parts else net.predict_internal(X))


def classify(net, X, MiniBatchSize=128, DataFormat="SSCB", ExecutionEnvironment="auto"):
    """``YPred, scores = classify(net, X)``: the most likely class of each observation.

    Labels come back as the same kind of values the network was trained on.

    Example::

        >>> import numpy as np, minidl
        >>> layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"),
        ...           minidl.fullyConnectedLayer(3), minidl.softmaxLayer(),
        ...           minidl.classificationLayer()]
        >>> net = minidl.assembleNetwork(layers, Classes=["a", "b", "c"])
        >>> labels, scores = minidl.classify(net, np.zeros((4, 4, 1, 2)))
        >>> labels.shape, scores.shape
        ((2,), (2, 3))
    """
    output = net.output_layer
    if not isinstance(output, ClassificationOutputLayer):
        raise ValueError(f"classify: the network ends in {type(output).__name__}, not a "
                         f"classificationLayer; use predict for regression networks.")
    scores = predict(net, X, MiniBatchSize, DataFormat, ExecutionEnvironment)
    return np.asarray(output.Classes)[scores.argmax(axis=1)], scores


def assembleNetwork(layers, Classes=None):
    """``net = assembleNetwork(layers)``: a network from layers whose learnables are all set.

    ``Classes`` fills a classification layer whose Classes are 'auto'. Missing weights are
    an error here (nothing is initialized at random), as in MATLAB.
    """
    layers = list(layers) if not isinstance(layers, Layer) else [layers]
    net_layers = prepare_layers(layers, _NoRandom())
    output = net_layers[-1]
    if isinstance(output, ClassificationOutputLayer):
        if Classes is not None:
            output.Classes = np.asarray(Classes)
        if isinstance(output.Classes, str):
            raise ValueError(f"assembleNetwork: {output.Name} has Classes 'auto'; give "
                             f"classificationLayer(Classes=[...]) or assembleNetwork(..., Classes=[...]).")
    return SeriesNetwork(net_layers)


class _NoRandom:
    """Stands in for the generator in assembleNetwork: every learnable must already be set."""

    def __getattr__(self, name):
        raise ValueError("assembleNetwork: a layer has no Weights/Bias (or Scale/Offset) yet. "
                         "Give every learnable as a Name=Value argument, or train with trainNetwork.")


def _check_environment(owner, value):
    if str(value).lower() not in ("auto", "cpu"):
        raise ValueError(f"{owner}: ExecutionEnvironment {value!r} is not supported; minidl runs on "
                         f"the CPU only. Use 'auto' or 'cpu'.")


def _positive_int(owner, name, value):
    if not (np.ndim(value) == 0 and float(value) == int(value) and int(value) >= 1):
        raise ValueError(f"{owner}: {name} must be a positive integer; received {value!r}.")
    return int(value)
