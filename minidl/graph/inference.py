"""MATLAB's public inference API on a compiled network: data layouts, ``predict``,
``classify``, ``activations`` and ``assembleNetwork``."""
import numpy as np

from ..layers.base import Layer
from ..layers.input import ImageInputLayer
from ..layers.output import ClassificationOutputLayer
from ..threads import computing
from .network import build_network

# ---- MATLAB data layouts ----------------------------------------------------------------

FORMATS = {"SSCB": (3, 2, 0, 1), "BCSS": (0, 1, 2, 3), "BSSC": (0, 3, 1, 2)}


def to_internal(X, input_layer, DataFormat="SSCB", owner="predict"):
    """MATLAB-layout data (H×W×C×N by default, or N×C features) → C-contiguous float32
    in the internal layout (N×C×H×W or N×C)."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
        raise TypeError(f"{owner}: X must be numeric; received an array of {X.dtype}.")
    if str(DataFormat).upper() not in FORMATS:
        raise ValueError(f"{owner}: DataFormat must be 'SSCB', 'BCSS' or 'BSSC'; received {DataFormat!r}.")
    if isinstance(input_layer, ImageInputLayer):
        h, w, c = input_layer.InputSize
        fmt = str(DataFormat).upper()
        if fmt not in FORMATS:
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
        internal = X.transpose(FORMATS[fmt])
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


def from_internal(Y, DataFormat="SSCB"):
    """Internal outputs → the caller's layout: N×K stays; N×C×H×W becomes H×W×C×N ('SSCB'),
    stays N×C×H×W ('BCSS') or becomes N×H×W×C ('BSSC')."""
    if Y.ndim == 2:
        return Y
    order = {"SSCB": (2, 3, 1, 0), "BCSS": (0, 1, 2, 3), "BSSC": (0, 2, 3, 1)}[str(DataFormat).upper()]
    return np.ascontiguousarray(Y.transpose(order))


def _batches(count, size):
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def predict(net, X, MiniBatchSize=128, DataFormat="SSCB", ExecutionEnvironment="auto"):
    """``Y = predict(net, X)``: network outputs in MATLAB layout (N×K scores for classification).

    Example::

        >>> import numpy as np, minidl
        >>> layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"),
        ...           minidl.fullyConnectedLayer(3, Weights=np.ones((3, 16)), Bias=np.zeros((3, 1))),
        ...           minidl.softmaxLayer(), minidl.classificationLayer()]
        >>> net = minidl.assembleNetwork(layers, Classes=["a", "b", "c"])
        >>> minidl.predict(net, np.zeros((4, 4, 1, 2))).shape
        (2, 3)
    """
    _check_environment("predict", ExecutionEnvironment)
    X = to_internal(X, net.input_layer, DataFormat)
    size = _positive_int("predict", "MiniBatchSize", MiniBatchSize)
    with computing():
        parts = [net.predict_internal(X[batch]) for batch in _batches(X.shape[0], size)]
        Y = np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else net.predict_internal(X)
    return from_internal(Y, DataFormat)


def classify(net, X, MiniBatchSize=128, DataFormat="SSCB", ExecutionEnvironment="auto"):
    """``YPred, scores = classify(net, X)``: the most likely class of each observation.

    Labels come back as the same kind of values the network was trained on.

    Example::

        >>> import numpy as np, minidl
        >>> layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"),
        ...           minidl.fullyConnectedLayer(3, Weights=np.ones((3, 16)), Bias=np.zeros((3, 1))),
        ...           minidl.softmaxLayer(), minidl.classificationLayer()]
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

    ``Classes`` fills a classification layer whose Classes are 'auto'. Every learnable, every
    batch-norm TrainedMean/TrainedVariance and the input layer's normalization statistics
    must be given; a missing one is an error (nothing is initialized), as in MATLAB.
    """
    originals = _layer_list(layers)
    missing = [f"{layer.Name or layer.DefaultName}.{name}" for layer in originals for name in layer.learnables
               if getattr(layer, name, None) is None]
    net = build_network(layers, _NoRandom(), owner="assembleNetwork") if not missing else None
    if net is not None:
        missing = [f"{layer.Name}.{name}" for layer in net.Layers for name in _required_state(layer)
                   if getattr(layer, name, None) is None]
    if missing:
        raise ValueError(f"assembleNetwork: these properties are empty: {', '.join(missing)}. Set them "
                         f"(as Name=Value arguments of the layer functions) or train with trainNetwork.")
    output = net.output_layer
    if isinstance(output, ClassificationOutputLayer):
        if Classes is not None:
            output.Classes = np.asarray(Classes)
        if isinstance(output.Classes, str):
            raise ValueError(f"assembleNetwork: {output.Name} has Classes 'auto'; give "
                             f"classificationLayer(Classes=[...]) or assembleNetwork(..., Classes=[...]).")
    return net


def _layer_list(layers):
    if hasattr(layers, "_graph"):
        return [data["layer"] for _, data in layers._graph.nodes(data=True)]
    return [layers] if isinstance(layers, Layer) else list(layers)


def _required_state(layer):
    """Statistics a layer needs for prediction (its learnables are checked separately)."""
    required = list(layer.state_names)
    if hasattr(layer, "missing_statistics"):
        required += layer.missing_statistics()
    return required


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
    if not (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and np.isfinite(value) and float(value) == int(value) and int(value) >= 1):
        raise ValueError(f"{owner}: {name} must be a positive integer; received {value!r}.")
    return int(value)


def activations(net, X, layer, OutputAs="channels", MiniBatchSize=128, DataFormat="SSCB"):
    """``act = activations(net, X, layer)``: the output of one layer (name or 1-based index).

    ``OutputAs``: 'channels' gives H×W×C×N for images (1×1×C×N for a vector output of an
    image network), 'rows' N×M and 'columns' M×N, where each observation is flattened in
    MATLAB's column-major order. Batch normalization uses its trained statistics.

    Example::

        >>> import numpy as np, minidl
        >>> layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"), minidl.reluLayer(),
        ...           minidl.fullyConnectedLayer(2, Weights=np.ones((2, 16)), Bias=np.zeros((2, 1))),
        ...           minidl.softmaxLayer(), minidl.classificationLayer(Classes=[0, 1])]
        >>> net = minidl.assembleNetwork(layers)
        >>> minidl.activations(net, -np.ones((4, 4, 1, 3)), "relu").shape
        (4, 4, 1, 3)
        >>> minidl.activations(net, np.ones((4, 4, 1, 3)), 3, OutputAs="rows")
        array([[16., 16.],
               [16., 16.],
               [16., 16.]], dtype=float32)
    """
    from ..layers.dense import flatten_matlab
    names = net.layer_names()
    if isinstance(layer, str):
        if layer not in names:
            raise ValueError(f"activations: the network has no layer named {layer!r}. Layers: {', '.join(names)}.")
        index = names.index(layer)
    elif np.ndim(layer) == 0 and float(layer) == int(layer) and 1 <= int(layer) <= len(names):
        index = int(layer) - 1
    else:
        raise ValueError(f"activations: layer must be a layer name or an index from 1 to {len(names)}; "
                         f"received {layer!r}.")
    if index == len(names) - 1 or names[index] in net.OutputNames:
        raise ValueError(f"activations: {names[index]!r} is an output layer and has no activations; "
                         f"use predict for the network output.")
    mode = str(OutputAs).lower()
    if mode not in ("channels", "rows", "columns"):
        raise ValueError(f"activations: OutputAs must be 'channels', 'rows' or 'columns'; received {OutputAs!r}.")
    X = to_internal(X, net.input_layer, DataFormat, owner="activations")
    size = _positive_int("activations", "MiniBatchSize", MiniBatchSize)
    with computing():
        Z = np.concatenate([net.activations_internal(X[part], index) for part in _batches(X.shape[0], size)])
    if mode == "rows":
        return flatten_matlab(Z)
    if mode == "columns":
        return np.ascontiguousarray(flatten_matlab(Z).T)
    if Z.ndim == 2 and isinstance(net.input_layer, ImageInputLayer):
        Z = Z[:, :, None, None]
    return from_internal(Z, DataFormat)
