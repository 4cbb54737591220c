"""``LayerGraph``: MATLAB's layerGraph API on a networkx DiGraph, with value semantics.

Nodes are layer names (attribute ``layer``, and ``order``: when it was added); an edge
``u → v`` carries ``ports``, a list of (output port, input port) pairs such as
``("out", "in2")``. Every function returns a new graph and leaves its argument unchanged.
"""
import copy

import networkx as nx

from ..layers.base import Layer, flatten_layers
from ..layers.naming import assign_names
from ..options import choice, name_value_pairs, received
from ..table import Table


class LayerGraph:
    """A graph of layers. Properties: ``Layers``, ``Connections`` (``.Source``,
    ``.Destination``), ``InputNames``, ``OutputNames``. Build it with :func:`layerGraph`."""

    def __init__(self, graph=None):
        if graph is not None and not isinstance(graph, nx.DiGraph):
            raise TypeError(f"LayerGraph: build layer graphs with layerGraph(layers); the graph argument is "
                            f"minidl's own networkx DiGraph, received {received(graph)}.")
        self._graph = graph if graph is not None else nx.DiGraph()

    # ---- reading ---------------------------------------------------------------------------
    def _ordered_names(self):
        return sorted(self._graph.nodes, key=lambda n: self._graph.nodes[n]["order"])

    def _layer(self, name):
        return self._graph.nodes[name]["layer"]

    @property
    def Layers(self):
        """Copies of the layers, in the order they were added (changing them changes nothing here)."""
        return [copy.deepcopy(self._layer(n)) for n in self._ordered_names()]

    def connection_pairs(self):
        """(source, destination) strings in MATLAB's form ('relu_1', 'add/in2')."""
        pairs = []
        for u, v, data in self._graph.edges(data=True):
            for out_port, in_port in data["ports"]:
                source = u if len(self._layer(u).OutputNames) <= 1 else f"{u}/{out_port}"
                destination = v if len(self._layer(v).InputNames) <= 1 else f"{v}/{in_port}"
                pairs.append((source, destination, self._graph.nodes[v]["order"], in_port))
        pairs.sort(key=lambda p: (self._graph.nodes[p[0].split("/")[0]]["order"], p[2], p[3]))
        return [(s, d) for s, d, _, _ in pairs]

    @property
    def Connections(self):
        """A table with columns Source and Destination, one row per connection."""
        pairs = self.connection_pairs()
        return Table(Source=[s for s, _ in pairs], Destination=[d for _, d in pairs])

    @property
    def InputNames(self):
        return [n for n in self._ordered_names() if self._layer(n).NumInputs == 0]

    @property
    def OutputNames(self):
        return [n for n in self._ordered_names() if self._layer(n).NumOutputs == 0]

    def __repr__(self):
        return (f"LayerGraph with {self._graph.number_of_nodes()} layers and "
                f"{sum(len(d['ports']) for _, _, d in self._graph.edges(data=True))} connections\n"
                f"  InputNames: {self.InputNames}\n  OutputNames: {self.OutputNames}")

    # ---- building ---------------------------------------------------------------------------
    def _copy(self):
        return LayerGraph(copy.deepcopy(self._graph))

    def _add(self, layers, owner="addLayers", name="larray"):
        """Add copies of ``layers`` (auto-named) and connect them in sequence; returns their names."""
        if not isinstance(layers, (Layer, list, tuple)):
            raise TypeError(f"{owner}: {name} must be a layer or a list of layers; received {received(layers)}.")
        layers = [layers] if isinstance(layers, Layer) else flatten_layers(layers)
        if not layers and owner == "replaceLayer":
            raise ValueError("replaceLayer: the replacement must contain at least one layer (larray is empty).")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"{owner}: element {index + 1} of {name} is a {type(layer).__name__}, not a minidl "
                                f"layer. Build it with layer functions such as reluLayer().")
        layers = [copy.deepcopy(layer) for layer in layers]
        for layer in layers:
            if layer.Name and layer.Name in self._graph:
                raise ValueError(f"{owner}: a layer named {layer.Name!r} is already in the graph; layer names "
                                 f"must be unique. Rename the new layer.")
        names = assign_names(layers, taken=self._graph.nodes)
        for layer, name in zip(layers, names):
            layer.Name = name
        start = max((d["order"] for _, d in self._graph.nodes(data=True)), default=-1) + 1
        for offset, layer in enumerate(layers):
            self._graph.add_node(layer.Name, layer=layer, order=start + offset)
        for first, second in zip(layers, layers[1:]):
            if first.OutputNames and second.InputNames:  # sequential links use in1 of multi-input layers
                self._connect(f"{first.Name}/{first.OutputNames[0]}", f"{second.Name}/{second.InputNames[0]}",
                              owner)
        return names

    def _parse(self, endpoint, side, owner):
        if not isinstance(endpoint, str):
            argument = "s (the source)" if side == "source" else "d (the destination)"
            raise TypeError(f"{owner}: {argument} must be a layer name or 'layer/port' string; received "
                            f"{received(endpoint)}.")
        name, _, port = endpoint.partition("/")
        if name not in self._graph:
            close = [n for n in self._graph.nodes if n.lower() == name.lower()]
            hint = f" Did you mean {close[0]!r}?" if close else f" Layers: {', '.join(self._ordered_names())}."
            raise ValueError(f"{owner}: there is no layer named {name!r}.{hint}")
        layer = self._layer(name)
        ports = list(layer.OutputNames if side == "source" else layer.InputNames)
        if not ports:
            kind = "output" if side == "source" else "input"
            raise ValueError(f"{owner}: layer {name!r} ({type(layer).__name__}) has no {kind}s, so it cannot be a "
                             f"connection {side}.")
        if not port:
            if len(ports) > 1:
                raise ValueError(f"{owner}: layer {name!r} has several {'outputs' if side == 'source' else 'inputs'} "
                                 f"({', '.join(ports)}); name one, e.g. '{name}/{ports[0]}'.")
            port = ports[0]
        if port not in ports:
            raise ValueError(f"{owner}: layer {name!r} has no port {port!r}; its "
                             f"{'outputs' if side == 'source' else 'inputs'} are {', '.join(ports)}.")
        return name, port

    def _connect(self, source, destination, owner):
        u, out_port = self._parse(source, "source", owner)
        v, in_port = self._parse(destination, "destination", owner)
        for w, _, data in self._graph.in_edges(v, data=True):
            if any(p[1] == in_port for p in data["ports"]):
                raise ValueError(f"{owner}: input '{v}/{in_port}' is already connected (from {w!r}); "
                                 f"disconnectLayers it first.")
        if self._graph.has_edge(u, v):
            self._graph.edges[u, v]["ports"].append((out_port, in_port))
        else:
            self._graph.add_edge(u, v, ports=[(out_port, in_port)])

    # ---- drawing ------------------------------------------------------------------------------
    def to_dot(self):
        """Graphviz text of the graph (layer name and type per node; ports on edges)."""
        lines = ["digraph LayerGraph {", "  rankdir=TB;", '  node [shape=box, style="rounded"];']
        for name in self._ordered_names():
            lines.append(f'  "{name}" [label="{name}\\n{self._layer(name).Description}"];')
        for u, v, data in self._graph.edges(data=True):
            for out_port, in_port in data["ports"]:
                label = f' [label="{in_port}"]' if len(self._layer(v).InputNames) > 1 else ""
                lines.append(f'  "{u}" -> "{v}"{label};')
        lines.append("}")
        return "\n".join(lines)


def layerGraph(layers=None):
    """``lgraph = layerGraph()``, ``layerGraph(layers)`` (connected in sequence) or ``layerGraph(net)``.

    Example::

        >>> import minidl
        >>> lgraph = minidl.layerGraph([minidl.imageInputLayer([8, 8, 1]), minidl.reluLayer()])
        >>> lgraph.Connections.Source, lgraph.Connections.Destination
        (['imageinput'], ['relu'])
    """
    if layers is None:
        return LayerGraph()
    if hasattr(layers, "to_layer_graph"):
        return layers.to_layer_graph()
    graph = LayerGraph()
    graph._add(layers, "layerGraph", "layers")
    return graph


def addLayers(lgraph, larray):
    """``lgraph = addLayers(lgraph, larray)``: add layers, connected in sequence among themselves only.

    Example::

        >>> import minidl
        >>> lgraph = minidl.addLayers(minidl.layerGraph(), [minidl.reluLayer(), minidl.reluLayer()])
        >>> [layer.Name for layer in lgraph.Layers]
        ['relu_1', 'relu_2']
    """
    result = _checked(lgraph, "addLayers")._copy()
    result._add(larray)
    return result


def removeLayers(lgraph, layerNames):
    """``lgraph = removeLayers(lgraph, names)``: remove layers and all their connections.

    Example::

        >>> import minidl
        >>> lgraph = minidl.layerGraph([minidl.imageInputLayer([4, 4, 1]), minidl.reluLayer()])
        >>> [layer.Name for layer in minidl.removeLayers(lgraph, "relu").Layers]
        ['imageinput']
    """
    result = _checked(lgraph, "removeLayers")._copy()
    names = [layerNames] if isinstance(layerNames, str) else layerNames
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
        raise TypeError(f"removeLayers: layerNames must be a layer name or a list of names; received "
                        f"{received(layerNames)}.")
    for name in names:
        if name not in result._graph:
            raise ValueError(f"removeLayers: there is no layer named {name!r}.")
        result._graph.remove_node(name)
    return result


def connectLayers(lgraph, s, d):
    """``lgraph = connectLayers(lgraph, "relu_1", "add/in2")``.

    Example::

        >>> import minidl
        >>> lgraph = minidl.layerGraph([minidl.imageInputLayer([4, 4, 1]), minidl.reluLayer(),
        ...                              minidl.additionLayer(2, Name="add")])
        >>> lgraph = minidl.connectLayers(lgraph, "imageinput", "add/in2")
        >>> lgraph.Connections.Destination
        ['relu', 'add/in2', 'add/in1']
    """
    result = _checked(lgraph, "connectLayers")._copy()
    result._connect(s, d, "connectLayers")
    return result


def disconnectLayers(lgraph, s, d):
    """``lgraph = disconnectLayers(lgraph, s, d)``: remove one connection.

    Example::

        >>> import minidl
        >>> lgraph = minidl.layerGraph([minidl.imageInputLayer([4, 4, 1]), minidl.reluLayer()])
        >>> minidl.disconnectLayers(lgraph, "imageinput", "relu").Connections.Source
        []
    """
    result = _checked(lgraph, "disconnectLayers")._copy()
    u, out_port = result._parse(s, "source", "disconnectLayers")
    v, in_port = result._parse(d, "destination", "disconnectLayers")
    ports = result._graph.edges[u, v]["ports"] if result._graph.has_edge(u, v) else []
    if (out_port, in_port) not in ports:
        raise ValueError(f"disconnectLayers: {s!r} is not connected to {d!r}.")
    ports.remove((out_port, in_port))
    if not ports:
        result._graph.remove_edge(u, v)
    return result


@name_value_pairs(3)
def replaceLayer(lgraph, layerName, larray, ReconnectBy="name"):
    """``lgraph = replaceLayer(lgraph, name, larray)``: splice layers in place of one layer.

    The first new layer takes the old layer's incoming connections and the last one its
    outgoing ones (ports matched by name, or by order with ``ReconnectBy="order"``).

    Example::

        >>> import minidl
        >>> lgraph = minidl.layerGraph([minidl.imageInputLayer([4, 4, 1]), minidl.reluLayer(),
        ...                              minidl.fullyConnectedLayer(3)])
        >>> lgraph = minidl.replaceLayer(lgraph, "relu", minidl.leakyReluLayer(Name="leaky"))
        >>> lgraph.Connections.Destination
        ['leaky', 'fc']
    """
    result = _checked(lgraph, "replaceLayer")._copy()
    graph = result._graph
    reconnect_by = choice("replaceLayer", "ReconnectBy", ReconnectBy, ("name", "order"))
    if not isinstance(layerName, str):
        raise TypeError(f"replaceLayer: layerName must be the name of a layer in the graph; received "
                        f"{received(layerName)}.")
    if layerName not in graph:
        raise ValueError(f"replaceLayer: there is no layer named {layerName!r}.")
    old = result._layer(layerName)
    incoming = [(u, p) for u, _, d in graph.in_edges(layerName, data=True) for p in d["ports"]]
    outgoing = [(v, p) for _, v, d in graph.out_edges(layerName, data=True) for p in d["ports"]]
    order = graph.nodes[layerName]["order"]
    graph.remove_node(layerName)
    names = result._add(larray, "replaceLayer")
    for offset, name in enumerate(names):  # keep the replaced layer's place in Layers
        graph.nodes[name]["order"] = order + offset / (len(names) + 1)
    first, last = result._layer(names[0]), result._layer(names[-1])
    for u, (out_port, in_port) in incoming:
        port = _match_port(in_port, old.InputNames, first.InputNames, reconnect_by)
        result._connect(f"{u}/{out_port}", f"{names[0]}/{port}", "replaceLayer")
    for v, (out_port, in_port) in outgoing:
        port = _match_port(out_port, old.OutputNames, last.OutputNames, reconnect_by)
        result._connect(f"{names[-1]}/{port}", f"{v}/{in_port}", "replaceLayer")
    return result


def _match_port(port, old_ports, new_ports, reconnect_by):
    if reconnect_by == "order":
        index = list(old_ports).index(port)
        if index >= len(new_ports):
            raise ValueError(f"replaceLayer: the new layer has no port number {index + 1} to take {port!r}.")
        return new_ports[index]
    if port not in new_ports:
        raise ValueError(f"replaceLayer: the new layer has no port named {port!r} (it has "
                         f"{', '.join(new_ports)}); use ReconnectBy='order'.")
    return port


def _checked(lgraph, owner):
    if not isinstance(lgraph, LayerGraph):
        raise TypeError(f"{owner}: lgraph (the first argument) must be a LayerGraph (from layerGraph); "
                        f"received {received(lgraph)}.")
    return lgraph
