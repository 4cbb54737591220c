"""Network validation and ``analyzeNetwork``: one report for people, for trainNetwork and
for dlnetwork.

Checks (reference §5.2): exactly one input layer; no cycles; one connected component; every
input port connected; every output used; and sizes that propagate (each layer's
``initialize`` raises a ValueError naming the layer otherwise). For trainNetwork
(TargetUsage "trainNetwork"): exactly one output layer, fed correctly (classification after
softmax, regression not after softmax). For a dlnetwork ("dlnetwork"): no output layer, and
exactly one unconnected layer output, the network's.
"""
import copy
import math

import networkx as nx
import numpy as np

from ..layers.base import Layer
from ..layers.output import ClassificationOutputLayer, OutputLayer, SoftmaxLayer
from ..options import choice, flag, name_value_pairs, received
from ..table import Table
from .layer_graph import LayerGraph


class NetworkValidationError(ValueError):
    """The network has errors; the message lists each with the layers involved."""


class AnalysisReport:
    """``analyzeNetwork``'s result, MATLAB's NetworkAnalysis object:

    - ``TotalLearnables``: the number of learnable values (NaN when the network has errors,
      as MATLAB's);
    - ``LayerInfo``: a :class:`~minidl.table.Table`, one row per layer in topological order,
      with MATLAB's columns ``Name``, ``Type``, ``ActivationSizes`` (MATLAB order with the
      batch, e.g. ``(28, 28, 8, 1)``; ``()`` where unknown or for an output layer),
      ``ActivationFormats`` (``"SSCB"``, ``"CB"``), ``LearnableSizes`` and ``StateSizes``
      (dicts name → size) and ``NumLearnables``;
    - ``Issues``: a Table with columns ``Severity`` (``"Error"``/``"Warning"``),
      ``LayerNames`` (a tuple of the layers involved) and ``Description``.

    ``Errors`` and ``Warnings`` (the descriptions, as lists of text), ``TargetUsage`` and
    ``rows`` (the same per-layer information as dicts) are minidl's own."""

    def __init__(self, target="trainNetwork"):
        self.rows, self.issues, self.layers, self.order = [], [], {}, []
        self.sizes = {}     # layer name -> output size (MATLAB order), where it propagated
        self.TargetUsage = target

    def error(self, description, layers=()):
        self.issues.append(("Error", tuple(layers), description))

    def warning(self, description, layers=()):
        self.issues.append(("Warning", tuple(layers), description))

    @property
    def Errors(self):
        return [text for severity, _, text in self.issues if severity == "Error"]

    @property
    def Warnings(self):
        return [text for severity, _, text in self.issues if severity == "Warning"]

    @property
    def TotalLearnables(self):
        return math.nan if self.Errors else sum(row["NumLearnables"] for row in self.rows)

    @property
    def LayerInfo(self):
        def with_batch(size):
            if not isinstance(size, tuple) or not size:
                return ()
            return tuple(with_batch(s) for s in size) if isinstance(size[0], tuple) else (*size, 1)

        def layout(size):
            return "" if not size else "SSCB" if len(size) == 4 else "CB" if len(size) == 2 else ""
        sizes = [with_batch(row["ActivationSize"]) for row in self.rows]
        return Table(Name=[row["Name"] for row in self.rows], Type=[row["Type"] for row in self.rows],
                     ActivationSizes=sizes,
                     ActivationFormats=[layout(s) if not (s and isinstance(s[0], tuple)) else ", ".join(map(layout, s))
                                        for s in sizes],
                     LearnableSizes=[dict(row["Learnables"]) for row in self.rows],
                     NumLearnables=[row["NumLearnables"] for row in self.rows],
                     StateSizes=[dict(row["StateSizes"]) for row in self.rows])

    @property
    def Issues(self):
        return Table(Severity=[s for s, _, _ in self.issues], LayerNames=[n for _, n, _ in self.issues],
                     Description=[d for _, _, d in self.issues])

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
        text.append(f"Total learnables: {self.TotalLearnables:,}" if not self.Errors else
                    "Total learnables: NaN (the network has errors)")
        text += [f"ERROR: {e}" for e in self.Errors] + [f"WARNING: {w}" for w in self.Warnings]
        if not self.Errors:
            text.append(f"No errors. Checked for {self.TargetUsage}.")
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


def analyze(lgraph, rng=None, target="trainNetwork"):
    """Validate ``lgraph`` for ``target`` ("trainNetwork": one output layer at the end;
    "dlnetwork": no output layer, the one unconnected layer output is the network's output)
    and propagate sizes through initialized copies of its layers.

    ``rng`` draws initial weights (the trainer passes the global generator); by default a
    private generator is used so that analysis does not change the global random state.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    report = AnalysisReport(target)
    graph = lgraph._graph
    names = lgraph._ordered_names()
    layers = {name: copy.deepcopy(graph.nodes[name]["layer"]) for name in names}
    report.layers = layers
    inputs = [n for n in names if layers[n].NumInputs == 0]
    outputs = [n for n in names if isinstance(layers[n], OutputLayer)]
    if not names:
        report.error("The network has no layers.")
        return report
    if not inputs:
        report.error("The network has no input layer. Add one, e.g. imageInputLayer([28 28 1]).")
    elif len(inputs) > 1:
        report.error(f"The network has {len(inputs)} input layers ({', '.join(inputs)}); minidl supports one.", inputs)
    network_outputs = _check_outputs(report, graph, names, layers, outputs)
    cycles = list(nx.simple_cycles(graph))
    for cycle in cycles[:3]:
        report.error(f"Layers {' -> '.join(cycle + cycle[:1])} form a cycle. Remove one of these connections "
                     f"with disconnectLayers.", cycle)
    components = list(nx.weakly_connected_components(graph))
    if len(components) > 1:
        parts = sorted((sorted(c, key=names.index) for c in components), key=lambda c: names.index(c[0]))
        report.error("The network has " + str(len(parts)) + " disconnected parts: " +
                     "; ".join("{" + ", ".join(p) + "}" for p in parts) + ". Connect them with connectLayers "
                     "or remove the unused layers with removeLayers.", [n for p in parts[1:] for n in p])
    for name in names:
        layer = layers[name]
        connected = {p[1] for _, _, d in graph.in_edges(name, data=True) for p in d["ports"]}
        missing = [port for port in layer.InputNames if port not in connected]
        if missing:
            report.error(f"Layer {name!r} has unconnected inputs: " + ", ".join(f"'{name}/{p}'" for p in missing) +
                         ". Connect them with connectLayers(lgraph, source, " + f"'{name}/{missing[0]}').", [name])
        if layer.NumOutputs and graph.out_degree(name) == 0 and name not in network_outputs:
            report.error(f"The output of layer {name!r} is not used. Connect it to another layer or remove "
                         f"the layer.", [name])
    if cycles or len(components) > 1:
        report.order = names
    else:
        report.order = list(nx.lexicographical_topological_sort(graph, key=names.index))
    _propagate_sizes(report, graph, layers, rng)
    for name in (n for n in names if layers[n].Name != n):
        report.warning(f"Layer {name!r} was renamed.", [name])
    return report


def _check_outputs(report, graph, names, layers, outputs):
    """The output-layer checks of the target; returns the layers whose unconnected output is
    a network output (dlnetwork: the one such layer)."""
    if report.TargetUsage == "dlnetwork":
        for name in outputs:
            report.error(f"Layer {name!r} is an output layer ({type(layers[name]).__name__}); a dlnetwork has none: "
                         f"the loss is an argument of trainnet. Remove it, or analyze for trainNetwork "
                         f"(TargetUsage='trainNetwork').", [name])
        sinks = [n for n in names if n not in outputs and layers[n].NumOutputs and graph.out_degree(n) == 0]
        if len(sinks) > 1:
            report.error(f"The network has {len(sinks)} unconnected layer outputs ({', '.join(sinks)}); minidl's "
                         f"dlnetwork has one network output. Connect the others or remove them.", sinks)
        return sinks[:1]
    if not outputs:
        report.error("The network has no output layer. Add one, e.g. classificationLayer(), or analyze it for "
                     "trainnet (TargetUsage='dlnetwork').")
    elif len(outputs) > 1:
        report.error(f"The network has {len(outputs)} output layers ({', '.join(outputs)}); minidl supports one.",
                     outputs)
    for name in outputs:
        sources = list(graph.predecessors(name))
        if len(sources) != 1:
            continue
        before = layers[sources[0]]
        if isinstance(layers[name], ClassificationOutputLayer) and not isinstance(before, SoftmaxLayer):
            report.error(f"Classification layer {name!r} must be preceded by a softmax layer; it follows "
                         f"{sources[0]!r}. Insert softmaxLayer() before it.", [name, sources[0]])
        if (not isinstance(layers[name], ClassificationOutputLayer) and isinstance(before, SoftmaxLayer)
                and not getattr(layers[name], "accepts_any_input", False)):
            report.error(f"Regression layer {name!r} must not be preceded by a softmax layer ({sources[0]!r}).",
                         [name, sources[0]])
    return ()


def _propagate_sizes(report, graph, layers, rng):
    sizes = report.sizes
    for name in report.order:
        layer = layers[name]
        row = {"Name": name, "Type": layer.Description, "ActivationSize": None, "Learnables": {},
               "NumLearnables": 0, "StateSizes": {}}
        report.rows.append(row)
        ports = {p[1]: u for u, _, d in graph.in_edges(name, data=True) for p in d["ports"]}
        incoming = [sizes.get(ports.get(port)) for port in layer.InputNames]
        if layer.NumInputs and any(s is None for s in incoming):
            continue
        try:
            argument = None if layer.NumInputs == 0 else (incoming[0] if layer.NumInputs == 1 else tuple(incoming))
            sizes[name] = tuple(layer.initialize(argument, rng))
        except ValueError as error:
            message = str(error)
            report.error(message if name in message else f"Layer {name!r}: {message}", [name])
            continue
        row["ActivationSize"] = "-" if isinstance(layer, OutputLayer) else sizes[name]
        for learnable in layer.learnables:
            value = getattr(layer, learnable, None)
            if value is not None:
                row["Learnables"][learnable] = tuple(np.shape(value))
                row["NumLearnables"] += int(np.size(value))
        state = {**{n: getattr(layer, n, None) for n in layer.state_names}, **layer.initial_state()}
        row["StateSizes"] = {n: tuple(np.shape(v)) for n, v in state.items() if v is not None}


def target_usage(net_or_layers, lgraph, requested):
    """MATLAB's TargetUsage: as requested, else "dlnetwork" for a dlnetwork and for layers
    without an output layer, "trainNetwork" for trained networks and layers ending in one."""
    if requested is not None:
        return choice("analyzeNetwork", "TargetUsage", requested, ("dlnetwork", "trainNetwork"))
    if getattr(net_or_layers, "_analysis_target", None):
        return net_or_layers._analysis_target
    if hasattr(net_or_layers, "to_layer_graph"):
        return "trainNetwork"
    has_output = any(isinstance(d["layer"], OutputLayer) for _, d in lgraph._graph.nodes(data=True))
    return "trainNetwork" if has_output else "dlnetwork"


@name_value_pairs(1)
def analyzeNetwork(net_or_layers, Plots="analyzer", TargetUsage=None, Print=True):
    """``info = analyzeNetwork(net)``: check a network (layers, a LayerGraph, a dlnetwork or a
    trained network) and return MATLAB's NetworkAnalysis (``TotalLearnables``, ``LayerInfo``
    and ``Issues``, see :class:`AnalysisReport`).

    MATLAB opens an app; minidl prints the report instead (``Plots="none"`` as in MATLAB, or
    ``Print=False``, stays quiet). ``TargetUsage`` is "dlnetwork" (no output layer: the loss
    goes to trainnet; a layer output left unconnected is the network output) or
    "trainNetwork" (an output layer at the end); by default "dlnetwork" for a dlnetwork or
    layers without an output layer, "trainNetwork" otherwise.

    Example::

        >>> import minidl
        >>> layers = [minidl.imageInputLayer([8, 8, 1]), minidl.convolution2dLayer(3, 4),
        ...           minidl.reluLayer(), minidl.fullyConnectedLayer(2), minidl.softmaxLayer()]
        >>> info = minidl.analyzeNetwork(layers, Plots="none")
        >>> info.TotalLearnables, len(info.Issues), info.TargetUsage
        (330, 0, 'dlnetwork')
        >>> info.LayerInfo.ActivationSizes[1], info.LayerInfo.LearnableSizes[1]["Weights"]
        ((6, 6, 4, 1), (3, 3, 1, 4))
        >>> issue = minidl.analyzeNetwork(layers + [minidl.classificationLayer()], Plots="none",
        ...                               TargetUsage="dlnetwork").Issues[0]
        >>> issue.Severity, issue.LayerNames
        ('Error', ('classoutput',))
    """
    plots = choice("analyzeNetwork", "Plots", Plots, ("analyzer", "none"))
    show = flag("analyzeNetwork", "Print", Print) and plots == "analyzer"
    if isinstance(net_or_layers, LayerGraph):
        lgraph = net_or_layers
    elif hasattr(net_or_layers, "to_layer_graph"):
        lgraph = net_or_layers.to_layer_graph()
    else:
        if not isinstance(net_or_layers, (Layer, list, tuple)):
            raise TypeError(f"analyzeNetwork: the argument must be layers (a list), a LayerGraph, a dlnetwork or a "
                            f"network; received {received(net_or_layers)}.")
        lgraph = LayerGraph()
        lgraph._add(net_or_layers, "analyzeNetwork", "layers")
    report = analyze(lgraph, target=target_usage(net_or_layers, lgraph, TargetUsage))
    if show:
        print(report)
    return report
