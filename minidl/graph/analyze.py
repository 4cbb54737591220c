"""Network validation and ``analyzeNetwork``: one report for people and for trainNetwork.

Checks (reference §5.2): exactly one input layer and one output layer; no cycles; one
connected component; every input port connected; every output used; output layers fed
correctly (classification after softmax, regression not after softmax); and sizes that
propagate (each layer's ``initialize`` raises a ValueError naming the layer otherwise).
"""
import copy

import networkx as nx
import numpy as np

from ..layers.base import Layer
from ..layers.output import ClassificationOutputLayer, OutputLayer, SoftmaxLayer
from ..options import choice, flag, name_value_pairs, received
from .layer_graph import LayerGraph


class NetworkValidationError(ValueError):
    """The network has errors; the message lists each with the layers involved."""


class AnalysisReport:
    """``analyzeNetwork``'s result: ``rows`` (one per layer: Name, Type, ActivationSize,
    Learnables {name: shape}, NumLearnables), ``TotalLearnables``, ``Errors`` and ``Warnings``
    (each a string naming the layers involved)."""

    def __init__(self):
        self.rows, self.Errors, self.Warnings, self.layers, self.order = [], [], [], {}, []
        self.sizes = {}     # layer name -> output size (MATLAB order), where it propagated

    @property
    def TotalLearnables(self):
        return sum(row["NumLearnables"] for row in self.rows)

    def raise_errors(self, owner):
        if self.Errors:
            raise NetworkValidationError(f"{owner}: the network is invalid:\n" +
                                         "\n".join(f"  - {e}" for e in self.Errors))

    def __str__(self):
        header = ("#", "Name", "Type", "Activations", "Learnables")
        body = []
        for index, row in enumerate(self.rows, start=1):
            learnables = ", ".join(f"{k} {_size(v)}" for k, v in row["Learnables"].items())
            body.append((str(index), row["Name"], row["Type"], _size(row["ActivationSize"]), learnables))
        widths = [max(len(r[i]) for r in [header] + body) for i in range(5)]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        text = [line(header), line(tuple("-" * w for w in widths))] + [line(r) for r in body]
        text.append(f"Total learnables: {self.TotalLearnables:,}")
        text += [f"ERROR: {e}" for e in self.Errors] + [f"WARNING: {w}" for w in self.Warnings]
        if not self.Errors:
            text.append("No errors.")
        return "\n".join(text)

    __repr__ = __str__


def _size(size):
    if size is None:
        return "?"
    if size == "-":
        return "-"
    if isinstance(size, tuple) and size and isinstance(size[0], tuple):
        return ", ".join(_size(s) for s in size)
    if len(size) == 1:
        return f"1×1×{size[0]}"
    return "×".join(str(d) for d in size)


def analyze(lgraph, rng=None):
    """Validate ``lgraph`` and propagate sizes through initialized copies of its layers.

    ``rng`` draws initial weights (the trainer passes the global generator); by default a
    private generator is used so that analysis does not change the global random state.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    report = AnalysisReport()
    graph = lgraph._graph
    names = lgraph._ordered_names()
    layers = {name: copy.deepcopy(graph.nodes[name]["layer"]) for name in names}
    report.layers = layers
    errors = report.Errors
    inputs = [n for n in names if layers[n].NumInputs == 0]
    outputs = [n for n in names if isinstance(layers[n], OutputLayer)]
    if not names:
        errors.append("The network has no layers.")
        return report
    if not inputs:
        errors.append("The network has no input layer. Add one, e.g. imageInputLayer([28 28 1]).")
    elif len(inputs) > 1:
        errors.append(f"The network has {len(inputs)} input layers ({', '.join(inputs)}); minidl supports one.")
    if not outputs:
        errors.append("The network has no output layer. Add one, e.g. classificationLayer().")
    elif len(outputs) > 1:
        errors.append(f"The network has {len(outputs)} output layers ({', '.join(outputs)}); minidl supports one.")
    cycles = list(nx.simple_cycles(graph))
    for cycle in cycles[:3]:
        errors.append(f"Layers {' -> '.join(cycle + cycle[:1])} form a cycle. Remove one of these connections "
                      f"with disconnectLayers.")
    components = list(nx.weakly_connected_components(graph))
    if len(components) > 1:
        parts = sorted((sorted(c, key=names.index) for c in components), key=lambda c: names.index(c[0]))
        errors.append("The network has " + str(len(parts)) + " disconnected parts: " +
                      "; ".join("{" + ", ".join(p) + "}" for p in parts) + ". Connect them with connectLayers "
                      "or remove the unused layers with removeLayers.")
    for name in names:
        layer = layers[name]
        connected = {p[1] for _, _, d in graph.in_edges(name, data=True) for p in d["ports"]}
        missing = [port for port in layer.InputNames if port not in connected]
        if missing:
            errors.append(f"Layer {name!r} has unconnected inputs: " +
                          ", ".join(f"'{name}/{p}'" for p in missing) +
                          ". Connect them with connectLayers(lgraph, source, " + f"'{name}/{missing[0]}').")
        if layer.NumOutputs and graph.out_degree(name) == 0:
            errors.append(f"The output of layer {name!r} is not used. Connect it to another layer or remove "
                          f"the layer.")
    for name in outputs:
        sources = list(graph.predecessors(name))
        if len(sources) != 1:
            continue
        before = layers[sources[0]]
        if isinstance(layers[name], ClassificationOutputLayer) and not isinstance(before, SoftmaxLayer):
            errors.append(f"Classification layer {name!r} must be preceded by a softmax layer; it follows "
                          f"{sources[0]!r}. Insert softmaxLayer() before it.")
        if (not isinstance(layers[name], ClassificationOutputLayer) and isinstance(before, SoftmaxLayer)
                and not getattr(layers[name], "accepts_any_input", False)):
            errors.append(f"Regression layer {name!r} must not be preceded by a softmax layer ({sources[0]!r}).")
    if cycles or len(components) > 1:
        report.order = names
    else:
        report.order = list(nx.lexicographical_topological_sort(graph, key=names.index))
    _propagate_sizes(report, graph, layers, rng)
    for name in (n for n in names if layers[n].Name != n):
        report.Warnings.append(f"Layer {name!r} was renamed.")
    return report


def _propagate_sizes(report, graph, layers, rng):
    sizes = report.sizes
    structural = bool(report.Errors)
    for name in report.order:
        layer = layers[name]
        row = {"Name": name, "Type": layer.Description, "ActivationSize": None, "Learnables": {},
               "NumLearnables": 0}
        report.rows.append(row)
        ports = {p[1]: u for u, _, d in graph.in_edges(name, data=True) for p in d["ports"]}
        incoming = [sizes.get(ports.get(port)) for port in layer.InputNames]
        if structural and (layer.NumInputs and any(s is None for s in incoming)):
            continue
        if layer.NumInputs and any(s is None for s in incoming):
            continue
        try:
            argument = None if layer.NumInputs == 0 else (incoming[0] if layer.NumInputs == 1 else tuple(incoming))
            sizes[name] = tuple(layer.initialize(argument, rng))
        except ValueError as error:
            message = str(error)
            report.Errors.append(message if name in message else f"Layer {name!r}: {message}")
            continue
        row["ActivationSize"] = "-" if isinstance(layer, OutputLayer) else sizes[name]
        for learnable in layer.learnables:
            value = getattr(layer, learnable, None)
            if value is not None:
                row["Learnables"][learnable] = tuple(np.shape(value))
                row["NumLearnables"] += int(np.size(value))


@name_value_pairs(1)
def analyzeNetwork(net_or_layers, Print=True, TargetUsage="trainNetwork"):
    """``analyzeNetwork(layers | lgraph | net)``: print and return the analysis report.

    Example::

        >>> import minidl
        >>> layers = [minidl.imageInputLayer([8, 8, 1]), minidl.convolution2dLayer(3, 4),
        ...           minidl.reluLayer(), minidl.fullyConnectedLayer(2), minidl.softmaxLayer(),
        ...           minidl.classificationLayer()]
        >>> report = minidl.analyzeNetwork(layers, Print=False)
        >>> report.rows[1]["ActivationSize"], report.rows[1]["Learnables"]["Weights"], report.Errors
        ((6, 6, 4), (3, 3, 1, 4), [])
    """
    Print = flag("analyzeNetwork", "Print", Print)
    if choice("analyzeNetwork", "TargetUsage", TargetUsage, ("trainNetwork", "dlnetwork")) != "trainNetwork":
        raise ValueError("analyzeNetwork: TargetUsage 'dlnetwork' is not supported by this analysis yet; it checks "
                         "networks for trainNetwork. Use TargetUsage='trainNetwork' (the default).")
    if isinstance(net_or_layers, LayerGraph):
        lgraph = net_or_layers
    elif hasattr(net_or_layers, "to_layer_graph"):
        lgraph = net_or_layers.to_layer_graph()
    else:
        if not isinstance(net_or_layers, (Layer, list, tuple)):
            raise TypeError(f"analyzeNetwork: the argument must be layers (a list), a LayerGraph or a network; "
                            f"received {received(net_or_layers)}.")
        lgraph = LayerGraph()
        lgraph._add(net_or_layers, "analyzeNetwork", "layers")
    report = analyze(lgraph)
    if Print:
        print(report)
    return report
