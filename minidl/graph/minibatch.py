"""The current API's inference functions: ``minibatchpredict`` and ``scores2label``."""
import math

import numpy as np

from ..options import integer, parse_name_value, received
from .inference import _in_batches, checked_network, data_format, from_internal, internal_data


def minibatchpredict(net, X, *pairs, **options):
    """``scores = minibatchpredict(net, X, MiniBatchSize=128, Outputs=None)``: outputs in
    inference mode, computed in mini-batches.

    ``net`` is a dlnetwork (or a SeriesNetwork/DAGNetwork). X is an array or a datastore (read
    one mini-batch at a time). Images are H×W×C×N and features N×C (``DataFormat`` as in predict); the result is N×K for vector outputs and H×W×C×N for
    image outputs. ``Outputs`` names a layer (or a list of layers, giving a tuple of arrays)
    whose output to return instead of the network's, as ``activations`` did.

    Example::

        >>> import numpy as np, minidl
        >>> net = minidl.dlnetwork([minidl.featureInputLayer(2), minidl.reluLayer(Name="relu"),
        ...                          minidl.fullyConnectedLayer(1, Weights=[[1.0, 1.0]], Bias=[[0.0]])])
        >>> minidl.minibatchpredict(net, np.array([[1.0, -2.0], [3.0, 4.0]]), MiniBatchSize=1)
        array([[1.],
               [7.]], dtype=float32)
        >>> minidl.minibatchpredict(net, np.array([[1.0, -2.0]]), Outputs="relu")
        array([[1., 0.]], dtype=float32)
    """
    values = parse_name_value("minibatchpredict", pairs, options,
                              {"MiniBatchSize": 128, "Outputs": None, "DataFormat": "SSCB"})
    return predictions("minibatchpredict", net, X, **values)


def predictions(owner, net, X, MiniBatchSize=128, Outputs=None, DataFormat="SSCB"):
    """minibatchpredict's work, with ``owner`` naming the public function in messages."""
    compiled = checked_network(owner, net)
    fmt = data_format(owner, DataFormat)
    size = integer(owner, "MiniBatchSize", MiniBatchSize, maximum=math.inf)
    X = internal_data(owner, X, compiled.input_layer, fmt)
    if Outputs is None:
        return from_internal(_in_batches(compiled.predict_internal, X, size), fmt)
    names = [Outputs] if isinstance(Outputs, str) else Outputs
    layers = [name for name in compiled.layer_names() if name not in compiled.OutputNames]
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{owner}: Outputs must be a layer name or a list of layer names; received "
                        f"{received(Outputs)}.")
    results = []
    for name in names:
        if name not in layers:
            raise ValueError(f"{owner}: Outputs {name!r} is not a layer of the network; its layers are "
                             f"{', '.join(layers)}.")
        index = layers.index(name)
        Z = _in_batches(lambda part, index=index: compiled.activations_internal(part, index), X, size)
        results.append(from_internal(Z, fmt))
    return results[0] if isinstance(Outputs, str) else tuple(results)


def scores2label(scores, classNames, *args):
    """``labels = scores2label(scores, classNames)``: the class of the largest score of each
    observation (``dim``, 1-based as in MATLAB, is the class dimension: 2 for N×K scores,
    3 for H×W×C×N, the default by the number of dimensions).

    Example::

        >>> import minidl
        >>> minidl.scores2label([[0.1, 0.9], [0.8, 0.2]], ["cat", "dog"])
        array(['dog', 'cat'], dtype='<U3')
    """
    if len(args) > 1:
        raise TypeError(f"scores2label: call as scores2label(scores, classNames) or scores2label(scores, "
                        f"classNames, dim); received {2 + len(args)} arguments.")
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"scores2label: scores must be a numeric array (N×K, one row per observation); received "
                        f"{received(scores)}.") from None
    if scores.ndim not in (2, 4):
        raise ValueError(f"scores2label: scores must be N×K (or H×W×K×N); received an array of size "
                         f"{'×'.join(map(str, scores.shape)) or 'scalar'}.")
    dim = integer("scores2label", "dim", args[0], 1, scores.ndim) if args else (2 if scores.ndim == 2 else 3)
    names = np.asarray(classNames)
    if names.ndim != 1 or names.size != scores.shape[dim - 1]:
        raise ValueError(f"scores2label: classNames must list one name per class ({scores.shape[dim - 1]}, the size "
                         f"of dimension {dim} of scores); received {received(classNames)}.")
    return names[np.argmax(scores, axis=dim - 1)]
