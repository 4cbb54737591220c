"""``save``/``load`` for networks, dlnetworks and training checkpoints (format: minidl.io.format)."""
import os

import numpy as np

from ..graph.dlnetwork import dlnetwork
from ..graph.inference import _NoRandom
from ..graph.layer_graph import LayerGraph
from ..graph.network import DAGNetwork, Network, build_network, misported_outputs
from ..layers.base import Layer
from ..options import integer, name_value_pairs, path, received
from ..struct import Struct
from .errors import ModelFileError
from .format import layers_from_archive, layers_to_archive, read_archive, write_archive
from .onnx_read import MAX_FILE_SIZE


def network_to_archive(net, arrays):
    if isinstance(net, dlnetwork):
        names = net.class_names
        return {"kind": "dlnetwork", "initialized": net.Initialized,
                "layers": layers_to_archive([net._layer(n) for n in net._ordered_names()], arrays),
                "connections": [list(pair) for pair in net.connection_pairs()],
                "class_names": None if names is None else np.asarray(names).tolist()}
    header = {"kind": type(net).__name__, "layers": layers_to_archive(net._layers, arrays)}
    if isinstance(net, DAGNetwork):
        header["connections"] = [list(pair) for pair in net.connection_pairs()]
    return header


def dlnetwork_from_archive(header, arrays, custom_layers, where):
    """The dlnetwork of a checked header: its layers and connections, and, if it was saved
    initialized, initialized again from the file's arrays alone (nothing is drawn)."""
    layers = layers_from_archive(header["layers"], arrays, custom_layers, where, complete=header["initialized"])
    try:
        net = dlnetwork(_graph(layers, header["connections"], where), Initialize=False)
        if header["initialized"]:
            net.initialize_in_place("load", _NoRandom())
    except ModelFileError:
        raise
    except Exception as error:  # a layer refused the sizes or arrays of the file
        raise ModelFileError(f"{where}: the layers in the file do not form a valid dlnetwork: "
                             f"{type(error).__name__}: {str(error)[:800]}") from None
    if header.get("class_names") is not None:
        net.class_names = np.array(header["class_names"])
    return net


def network_from_archive(header, arrays, custom_layers=None, where="load"):
    """The network a checked header describes, built as trainNetwork builds one: every layer
    through its constructor, then the graph validated and every layer initialized against
    the sizes flowing into it (channel counts, weight shapes), before any kernel runs."""
    if header["kind"] == "dlnetwork":
        return dlnetwork_from_archive(header, arrays, custom_layers, where)
    layers = layers_from_archive(header["layers"], arrays, custom_layers, where)
    return _build(layers, header["kind"], header.get("connections"), where)


def _graph(layers, connections, where):
    graph = LayerGraph()
    for order, layer in enumerate(layers):
        graph._graph.add_node(layer.Name, layer=layer, order=order)
    for source, destination in connections:
        try:
            graph._connect(source, destination, "load")
        except (ValueError, TypeError, KeyError) as error:
            raise ModelFileError(f"{where}: the connection {source!r} -> {destination!r} is not valid: {error}") from None
    return graph


def _build(layers, kind, connections, where):
    if kind == "DAGNetwork":
        layers = _graph(layers, connections, where)
    try:
        return build_network(layers, _NoRandom(), owner="load")
    except Exception as error:  # a layer refused the sizes or arrays of the file
        raise ModelFileError(f"{where}: the layers in the file do not form a valid network: {type(error).__name__}: "
                             f"{str(error)[:800]}") from None


def layers_like(net, described, arrays, custom_layers=None, where="load"):
    """Layers described in a file (a checkpoint's best network) rebuilt and initialized in
    the shape of ``net``'s, for ``net.restore``."""
    layers = layers_from_archive(described, arrays, custom_layers, where)
    kind = "DAGNetwork" if isinstance(net, DAGNetwork) else "SeriesNetwork"
    return _build(layers, kind, net.connection_pairs(), where)._layers


@name_value_pairs(2)
def save(filename, net):
    """``save(filename, net)``: write a network (SeriesNetwork, DAGNetwork or dlnetwork) to a
    ``.npz`` file atomically; returns the path. A dlnetwork keeps its Learnables, State,
    initialized flag and classes bit for bit.

    Example::

        >>> import os, tempfile, numpy as np, minidl
        >>> layers = [minidl.imageInputLayer([2, 2, 1], Normalization="none"),
        ...           minidl.fullyConnectedLayer(2, Weights=np.ones((2, 4)), Bias=np.zeros((2, 1))),
        ...           minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b"])]
        >>> net = minidl.assembleNetwork(layers)
        >>> path = minidl.save(os.path.join(tempfile.mkdtemp(), "net.npz"), net)
        >>> minidl.load(path).net.Layers[1].Weights.shape
        (2, 4)
    """
    _check_arguments("save", filename, net)
    arrays = {}
    header = network_to_archive(net, arrays)
    header["contents"] = "network"
    return write_archive(filename, header, arrays)


def _check_arguments(owner, filename, net):
    """save's arguments: a path and a network, in that order (MATLAB's save(filename, ...))."""
    if isinstance(net, (str, os.PathLike)) and isinstance(filename, (Network, dlnetwork)):
        raise TypeError(f"{owner}: the arguments are swapped; call {owner}(filename, net), the file name first "
                        f"as in MATLAB's save(filename, 'net').")
    path(owner, "filename", filename)
    if not isinstance(net, (Network, dlnetwork)):
        fix = misported_outputs(net) or (f"MATLAB's save(filename, 'net') names the variable; in Python pass it: "
                                         f"{owner}(filename, net)." if isinstance(net, str) else "")
        raise TypeError(f"{owner}: net must be a trained network (SeriesNetwork or DAGNetwork, from "
                        f"trainNetwork, assembleNetwork or load) or a dlnetwork; received {received(net)}. {fix}".rstrip())


@name_value_pairs(1)
def load(filename, CustomLayers=None, MaxFileSize=MAX_FILE_SIZE):
    """``s = load(filename)``: a struct with field ``net`` (and ``checkpoint`` for training
    checkpoints). Never unpickles; custom layer classes must be passed in ``CustomLayers``
    (a dict class name → class). A file, or the arrays it unpacks to, larger than
    ``MaxFileSize`` bytes (default 2^30) is refused; raise it for a big model you trust.
    Any problem with the file is a :class:`ModelFileError` naming the file and the part
    at fault."""
    path("load", "filename", filename)
    MaxFileSize = integer("load", "MaxFileSize", MaxFileSize, maximum=2 ** 62)
    if CustomLayers is not None and not (isinstance(CustomLayers, dict) and all(
            isinstance(cls, type) and issubclass(cls, Layer) for cls in CustomLayers.values())):
        raise TypeError(f"load: CustomLayers must be a dict from class name to Layer subclass, e.g. "
                        f"{{'PReLULayer': PReLULayer}}; received {received(CustomLayers)}.")
    header, arrays = read_archive(filename, "load", MaxFileSize, CustomLayers)
    result = Struct(net=network_from_archive(header, arrays, CustomLayers, f"load: {os.fspath(filename)!r}"))
    if header.get("contents") == "checkpoint":
        result.checkpoint = Struct(header["checkpoint"])
    return result


def save_checkpoint(filename, net, state, state_arrays):
    """A training checkpoint: the network plus the trainer state needed to resume exactly."""
    arrays = {f"S.{key}": value for key, value in state_arrays.items()}
    header = network_to_archive(net, arrays)
    header["contents"] = "checkpoint"
    header["checkpoint"] = state
    return write_archive(filename, header, arrays)


def load_checkpoint(filename, CustomLayers=None):
    """(network, state, state arrays) of a checkpoint file written under CheckpointPath."""
    header, arrays = read_archive(filename, "ResumeFrom", custom_layers=CustomLayers)
    if header.get("contents") != "checkpoint":
        raise ModelFileError(f"trainNetwork: {filename!r} is a saved network, not a training checkpoint; "
                              f"resume needs a file written by CheckpointPath.")
    state_arrays = {key[2:]: value for key, value in arrays.items() if key.startswith("S.")}
    where = f"ResumeFrom: {os.fspath(filename)!r}"
    return network_from_archive(header, arrays, CustomLayers, where), header["checkpoint"], state_arrays

