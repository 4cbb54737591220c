"""MATLAB's public inference API on a compiled network: data layouts, ``predict``,
``classify``, ``activations`` and ``assembleNetwork``."""
import math

import numpy as np

from ..data.datastore import Datastore
from ..layers.input import ImageInputLayer
from ..layers.output import ClassificationOutputLayer, class_names
from ..options import choice, integer, name_value_pairs, numeric_array, received, requested_outputs
from ..threads import computing
from .network import Network, build_network, layer_array, misported_outputs

# ---- MATLAB data layouts ----------------------------------------------------------------

FORMATS = {"SSCB": (3, 2, 0, 1), "BCSS": (0, 1, 2, 3), "BSSC": (0, 3, 1, 2)}


def data_format(owner, value):
    """The canonical spelling of a DataFormat: 'SSCB', 'BCSS' or 'BSSC' (any case)."""
    if isinstance(value, str) and value.upper() in FORMATS:
        return value.upper()
    raise ValueError(f"{owner}: DataFormat must be 'SSCB', 'BCSS' or 'BSSC'; received {received(value)}.")


def _size(shape):
    return "×".join(map(str, shape)) or "scalar"


def to_internal(X, input_layer, DataFormat="SSCB", owner="predict", allow_empty=False):
    """MATLAB-layout data (H×W×C×N by default, or N×C features) → C-contiguous float32
    in the internal layout (N×C×H×W or N×C). Refuses non-numeric or complex data, values
    beyond float32's range and, unless ``allow_empty``, data without observations."""
    X = numeric_array(owner, "X", X)
    fmt = data_format(owner, DataFormat)
    if isinstance(input_layer, ImageInputLayer):
        h, w, c = input_layer.InputSize
        hint = ""
        if fmt == "SSCB" and X.ndim in (2, 3):  # one image; MATLAB drops trailing singletons
            if X.ndim == 3 and X.shape[2] != c:
                hint = (f" A 3-D array is one H×W×C image; for {X.shape[2]} images of one channel "
                        f"add the channel dimension: X[:, :, None, :].")
            X = X[:, :, None, None] if X.ndim == 2 else X[..., None]
        if X.ndim != 4:
            raise ValueError(f"{owner}: X must be 4-D image data ({fmt}, with {h}×{w}×{c} images); "
                             f"received an array of size {_size(X.shape)}.")
        internal = X.transpose(FORMATS[fmt])
        if internal.shape[1:] != (c, h, w):
            got = internal.shape
            raise ValueError(f"{owner}: the input layer {input_layer.Name!r} expects images of size "
                             f"{h}×{w}×{c}; received {got[2]}×{got[3]}×{got[1]} images in X (data format {fmt}).{hint}")
    else:
        expected = input_layer.InputSize[-1]
        if X.ndim > 2:
            raise ValueError(f"{owner}: X must be N×{expected} feature data (one row per observation); "
                             f"received an array of size {_size(X.shape)}.")
        internal = X if X.ndim == 2 else X.reshape(1, -1)
        if internal.shape[1] != expected:
            raise ValueError(f"{owner}: the input layer {input_layer.Name!r} expects {expected} features "
                             f"per observation (X of size N×{expected}); received X of size {_size(X.shape)}.")
    if internal.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{owner}: X has no observations (size {_size(X.shape)}); give at least one.")
    with np.errstate(over="ignore"):
        result = np.ascontiguousarray(internal, dtype=np.float32)
    if internal.dtype.itemsize > 4 and not np.all(np.isfinite(result)) and \
            np.any(np.isinf(result) & np.isfinite(internal)):
        raise ValueError(f"{owner}: X has values beyond the range of float32 (about ±3.4e38), in which "
                         f"minidl computes (MATLAB uses single precision too); they would become Inf. "
                         f"Rescale the data.")
    return result


def from_internal(Y, DataFormat="SSCB"):
    """Internal outputs → the caller's layout: N×K stays; N×C×H×W becomes H×W×C×N ('SSCB'),
    stays N×C×H×W ('BCSS') or becomes N×H×W×C ('BSSC')."""
    if Y.ndim == 2:
        return Y
    order = {"SSCB": (2, 3, 1, 0), "BCSS": (0, 1, 2, 3), "BSSC": (0, 2, 3, 1)}[str(DataFormat).upper()]
    return np.ascontiguousarray(Y.transpose(order))


class DatastoreView:
    """A datastore seen as an array of observations in the internal layout: ``view[part]``
    reads the observations at ``part`` (a slice or indices) through the datastore protocol
    (H×W×C×N images or N×C features) and converts them as :func:`to_internal` does. The
    inference functions index it one mini-batch at a time, so memory stays bounded by a
    mini-batch and the outputs."""

    def __init__(self, ds, input_layer, owner):
        self.ds, self.input_layer, self.owner = ds, input_layer, owner
        self.shape = (ds.numobservations(),)

    def __getitem__(self, part):
        return self.read(np.arange(self.shape[0])[part])[0]

    def read(self, indices, **options):
        """(X internal, the datastore's responses or None) of the observations at ``indices``
        (``options`` go to the datastore's ``_observations``); fewer when the datastore skips
        unreadable files (imageDatastore's ReadFailureRule)."""
        X, Y = self.ds._observations(indices, **options)
        X = to_internal(X, self.input_layer, "SSCB", owner=self.owner, allow_empty=True)
        if X.shape[0] > len(indices):
            raise ValueError(f"{self.owner}: the {type(self.ds).__name__} returned {X.shape[0]} observations when "
                             f"asked for {len(indices)}; a datastore returns one per index (or fewer, skipping).")
        return X, Y


def internal_data(owner, X, input_layer, DataFormat="SSCB"):
    """Inference data in the internal layout: an array (MATLAB layout, converted by
    :func:`to_internal`) or a :class:`DatastoreView` of a datastore."""
    if isinstance(X, Datastore):
        if X.numobservations() == 0:
            raise ValueError(f"{owner}: the datastore has no observations; give one with files (or rows) in it.")
        return DatastoreView(X, input_layer, owner)
    return to_internal(X, input_layer, DataFormat, owner, allow_empty=True)


def _batches(count, size):
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def _in_batches(compute, X, size):
    """``compute`` over mini-batches of X, concatenated. No observations: an empty result of
    the right size (the size one observation of zeros gives), as NumPy would return."""
    with computing():
        if X.shape[0] == 0:
            return compute(np.zeros((1, *X.shape[1:]), X.dtype))[:0]
        parts = [compute(X[batch]) for batch in _batches(X.shape[0], size)]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def checked_network(owner, net):
    """``net`` if it is a trained network, else a TypeError that says where networks come from."""
    if isinstance(net, Network):
        return net
    if hasattr(net, "compiled_network"):    # a dlnetwork
        return net.compiled_network(owner)
    fix = misported_outputs(net) or "Train one with trainNetwork, or build one with assembleNetwork(layers)."
    if isinstance(net, dict) and isinstance(net.get("net"), Network):
        fix = "load returns a struct: pass s.net."
    raise TypeError(f"{owner}: net must be a trained network (SeriesNetwork or DAGNetwork); received "
                    f"{received(net)}. {fix}")


def _prediction(owner, net, X, MiniBatchSize, DataFormat, ExecutionEnvironment="auto"):
    net = checked_network(owner, net)
    _check_environment(owner, ExecutionEnvironment)
    X = internal_data(owner, X, net.input_layer, DataFormat)
    size = integer(owner, "MiniBatchSize", MiniBatchSize, maximum=math.inf)
    return from_internal(_in_batches(net.predict_internal, X, size), DataFormat)


@name_value_pairs(2)
def predict(net, X, MiniBatchSize=128, DataFormat="SSCB", ExecutionEnvironment="auto"):
    """``Y = predict(net, X)``: network outputs in MATLAB layout (N×K scores for classification).

    X is an array or a datastore (read one mini-batch at a time; its responses, if any, are
    not used), for ``classify``, ``activations`` and ``minibatchpredict`` alike.

    X with no observations (N = 0) gives an empty result of the right size (0×K), as NumPy
    slicing would.

    Example::

        >>> import numpy as np, minidl
        >>> layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"),
        ...           minidl.fullyConnectedLayer(3, Weights=np.ones((3, 16)), Bias=np.zeros((3, 1))),
        ...           minidl.softmaxLayer(), minidl.classificationLayer()]
        >>> net = minidl.assembleNetwork(layers, Classes=["a", "b", "c"])
        >>> minidl.predict(net, np.zeros((4, 4, 1, 2))).shape
        (2, 3)
        >>> minidl.predict(net, np.zeros((4, 4, 1, 0))).shape
        (0, 3)
    """
    return _prediction("predict", net, X, MiniBatchSize, DataFormat, ExecutionEnvironment)


@name_value_pairs(2)
def classify(net, X, MiniBatchSize=128, DataFormat="SSCB", ExecutionEnvironment="auto"):
    """``YPred = classify(net, X)`` or ``YPred, scores = classify(net, X)``: the most likely
    class of each observation, and the N×K scores.

    As MATLAB's ``[YPred, scores] = classify(...)`` reads ``nargout``, classify returns the
    labels alone to ``YPred = classify(...)`` (so ``np.sum(YPred == YTest)`` works) and the
    pair to a statement that unpacks two values. Labels come back as the same kind of values
    the network was trained on.

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
    output = checked_network("classify", net).output_layer
    if not isinstance(output, ClassificationOutputLayer):
        raise ValueError(f"classify: the network ends in {type(output).__name__}, not a "
                         f"classificationLayer; use predict for regression networks.")
    scores = _prediction("classify", net, X, MiniBatchSize, DataFormat, ExecutionEnvironment)
    labels = np.asarray(output.Classes)[scores.argmax(axis=1)]
    return (labels, scores) if requested_outputs() > 1 else labels


@name_value_pairs(1)
def assembleNetwork(layers, Classes=None):
    """``net = assembleNetwork(layers)``: a network from layers whose learnables are all set.

    ``Classes`` fills a classification layer whose Classes are 'auto'. Every learnable, every
    batch-norm TrainedMean/TrainedVariance and the input layer's normalization statistics
    must be given; a missing one is an error (nothing is initialized), as in MATLAB.
    """
    layers = layer_array("assembleNetwork", layers)
    if Classes is not None:
        Classes = class_names("assembleNetwork", Classes)
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
            output.Classes = Classes
        if isinstance(output.Classes, str):
            raise ValueError(f"assembleNetwork: {output.Name} has Classes 'auto'; give "
                             f"classificationLayer(Classes=[...]) or assembleNetwork(..., Classes=[...]).")
    return net


def _layer_list(layers):
    if hasattr(layers, "_graph"):
        return [data["layer"] for _, data in layers._graph.nodes(data=True)]
    return layers


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


@name_value_pairs(3)
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
    net = checked_network("activations", net)
    names = net.layer_names()
    if isinstance(layer, str):
        if layer not in names:
            raise ValueError(f"activations: the network has no layer named {layer!r}. Layers: {', '.join(names)}.")
        index = names.index(layer)
    else:
        index = integer("activations", "layer", layer, 1, len(names),
                        what=f"a layer name or an index from 1 to {len(names)}") - 1
    if index == len(names) - 1 or names[index] in net.OutputNames:
        raise ValueError(f"activations: {names[index]!r} is an output layer and has no activations; "
                         f"use predict for the network output.")
    mode = choice("activations", "OutputAs", OutputAs, ("channels", "rows", "columns"))
    X = internal_data("activations", X, net.input_layer, DataFormat)
    size = integer("activations", "MiniBatchSize", MiniBatchSize, maximum=math.inf)
    Z = _in_batches(lambda part: net.activations_internal(part, index), X, size)
    if mode == "rows":
        return flatten_matlab(Z)
    if mode == "columns":
        return np.ascontiguousarray(flatten_matlab(Z).T)
    if Z.ndim == 2 and isinstance(net.input_layer, ImageInputLayer):
        Z = Z[:, :, None, None]
    return from_internal(Z, data_format("activations", DataFormat))
