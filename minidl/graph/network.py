"""Trained networks: validated, initialized layers compiled into execution plans.

A network holds its layers in topological order and two plans over them (see plan.py):
one for training (batch norm + ReLU fused, softmax + cross-entropy fused) and one for
inference (convolution → batch norm → ReLU folded into one convolution). Everything a
trainer does to a network goes through the methods here: the loss and its gradients, the
learnables, the state of stateful layers, snapshots for the best network.
"""
import copy
import time

import networkx as nx
import numpy as np

from ..layers.base import Layer, flatten_layers
from ..layers.display import matlab_value
from ..layers.readonly import read_only_copies
from ..layers.output import OutputLayer
from ..options import received
from .analyze import analyze
from .layer_graph import LayerGraph, layerGraph
from .plan import Plan


def misported_outputs(value):
    """The fix for a value that is a mis-ported MATLAB multi-output: a ``(net, info)`` pair
    where a network is expected, or classify's ``(labels, scores)``; else ''."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return ""
    first, second = value
    if isinstance(first, Network):
        return ("It is a (net, info) pair: MATLAB's [net, info] = trainNetwork(...) is "
                "net, info = trainNetwork(...) in Python; pass net.")
    if isinstance(first, np.ndarray) and isinstance(second, np.ndarray) and second.ndim == 2 \
            and first.ndim == 1 and len(first) == len(second):
        return ("It looks like classify's (labels, scores) pair: MATLAB's [YPred, scores] = classify(...) is "
                "YPred, scores = classify(...) in Python; pass YPred.")
    return ""


def layer_array(owner, layers, name="layers"):
    """``layers`` as a LayerGraph or a list of layers (nested lists flattened, as MATLAB's
    ``[layers; moreLayers]`` concatenates), or a TypeError naming the culprit."""
    if isinstance(layers, LayerGraph):
        return layers
    if isinstance(layers, Layer):
        return [layers]
    if not isinstance(layers, (list, tuple)):
        fix = " Get its layers with net.Layers, or its graph with layerGraph(net)." if isinstance(layers, Network) else ""
        raise TypeError(f"{owner}: {name} must be a list of layers or a LayerGraph; received "
                        f"{received(layers)}.{fix}")
    if misported_outputs(layers):
        raise TypeError(f"{owner}: {name} must be a list of layers; received a pair. {misported_outputs(layers)}")
    layers = flatten_layers(layers)
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"{owner}: element {index + 1} of {name} is a {type(layer).__name__}, not a minidl "
                            f"layer. Build the array from layer functions such as reluLayer().")
    return list(layers)


def build_network(layers, rng, owner="trainNetwork"):
    """Validate, initialize (drawing weights from ``rng``) and compile a layer array (a
    SeriesNetwork) or a LayerGraph (a DAGNetwork). The caller's layers are never changed."""
    layers = layer_array(owner, layers)
    if isinstance(layers, LayerGraph):
        lgraph, kind = layers, DAGNetwork
    else:
        lgraph, kind = layerGraph(layers), SeriesNetwork
    report = analyze(lgraph, rng)
    report.raise_errors(owner)
    return kind(lgraph, report.layers, report.sizes)


class Network:
    """A compiled network. ``predict``/``classify`` (module functions) take MATLAB layouts;
    the methods here work on the internal layout (N×C×H×W or N×C)."""

    def __init__(self, lgraph, layers_by_name, sizes=None):
        if not isinstance(lgraph, LayerGraph) or not isinstance(layers_by_name, dict):
            raise TypeError(f"{type(self).__name__}: networks come from trainNetwork, assembleNetwork or load; "
                            f"this constructor takes a LayerGraph and its initialized layers, received "
                            f"{received(lgraph)}.")
        graph = lgraph._graph
        names = lgraph._ordered_names()
        order = list(nx.lexicographical_topological_sort(graph, key=names.index))
        position = {name: i for i, name in enumerate(order)}
        self._layers = [layers_by_name[name] for name in order]
        self._pairs = lgraph.connection_pairs()
        self._sources = []
        for name in order:
            ports = {p[1]: u for u, _, d in graph.in_edges(name, data=True) for p in d["ports"]}
            self._sources.append([position[ports[port]] for port in layers_by_name[name].InputNames])
        self._output_index = next(i for i, layer in enumerate(self._layers) if isinstance(layer, OutputLayer))
        self._plans = {}
        self._sizes = None if sizes is None else [sizes.get(name) for name in order]

    def plan(self, mode):
        """The execution plan for 'train' or 'predict', compiled on first use."""
        if mode not in self._plans:
            if self._sizes is None:   # a loaded network: the sizes its layers declare, once
                sizes = analyze(self.to_layer_graph()).sizes
                self._sizes = [sizes.get(layer.Name) for layer in self._layers]
            self._plans[mode] = Plan(self._layers, self._sources, self._output_index, mode, self._sizes)
        return self._plans[mode]

    # ---- MATLAB properties ------------------------------------------------------------------
    @property
    def Layers(self):
        """Read-only copies of the layers in execution order (a LayerArray, printed as MATLAB
        prints one): assigning a property raises, as in MATLAB, with the fix."""
        return read_only_copies(self._layers)

    @property
    def InputNames(self):
        return [layer.Name for layer in self._layers if layer.NumInputs == 0]

    @property
    def OutputNames(self):
        return [layer.Name for layer in self._layers if isinstance(layer, OutputLayer)]

    @property
    def input_layer(self):
        return self._layers[0]

    @property
    def output_layer(self):
        return self._layers[self._output_index]

    def layer_names(self):
        return [layer.Name for layer in self._layers]

    def connection_pairs(self):
        return list(self._pairs)

    def to_layer_graph(self):
        """``layerGraph(net)``: the network's layers (copies) and connections as a LayerGraph."""
        graph = LayerGraph()
        for order, layer in enumerate(self._layers):
            graph._graph.add_node(layer.Name, layer=copy.deepcopy(layer), order=order)
        for source, destination in self._pairs:
            graph._connect(source, destination, "layerGraph")
        return graph

    # ---- computing --------------------------------------------------------------------------
    def predict_internal(self, X, batch_statistics=False):
        """Network outputs (a new array) for internal-layout X. With ``batch_statistics``
        batch normalization uses the statistics of X itself (MATLAB's behaviour while
        'population' training runs)."""
        plan = self.plan("train" if batch_statistics else "predict")
        outputs, _ = plan.run(X, train=batch_statistics)
        Y = outputs[plan.result]
        return (plan.loss.predict(Y) if plan.result != self._sources[self._output_index][0] else Y).copy()

    def activations_internal(self, X, index):
        """The output of layer ``index`` (a new array; prediction mode). A layer inside a
        fused step is computed unfused from the step's input."""
        plan = self.plan("predict")
        k = plan.step_of(index)
        outputs, _ = plan.run(X, train=False, stop=k)
        step, covered, inputs = plan.steps[k]
        if covered[-1] == index:
            return outputs[index].copy()
        values = [outputs[source] for source in inputs] or [X]
        for member in covered[:covered.index(index) + 1]:
            values = [self._layers[member].predict(*values)]
        return values[0].copy()

    def forward_loss(self, X, T):
        """Training-mode forward and loss: ``(loss, Y, trace)``; ``trace`` feeds ``backward``
        and ``commit_state``. Y and the trace live in the plan's buffers until the next call."""
        plan = self.plan("train")
        outputs, memories = plan.run(X, train=True)
        start = time.perf_counter()
        loss, Y, dLdX = plan.loss.loss(outputs[plan.result], T)
        if plan.timer:
            plan.timer(len(plan.steps), "forward", time.perf_counter() - start)
        return loss, Y, (memories, dLdX)

    def backward(self, trace):
        """Gradients of every learnable: one dict per layer, in layer order."""
        memories, dLdX = trace
        return self.plan("train").backward(dLdX, memories, len(self._layers))

    # ---- learnables -------------------------------------------------------------------------
    def learnables(self, grads):
        """``(key, value, gradient, (LearnRateFactor, L2Factor))`` for every learnable with a
        gradient; ``key`` is ``(layer index, property name)``, stable across checkpoints."""
        for index, (layer, layer_grads) in enumerate(zip(self._layers, grads)):
            for name, grad in layer_grads.items():
                yield (index, name), getattr(layer, name), grad, layer.learnable_factors(name)

    def set_learnable(self, key, value):
        index, name = key
        setattr(self._layers[index], name, value)

    def snapshot(self):
        """Copies of the layers, for ``restore`` (OutputNetwork 'best-validation-loss')."""
        return copy.deepcopy(self._layers)

    def restore(self, layers):
        self._layers[:] = layers
        self._plans.clear()

    # ---- values: undo and the check for NaN/Inf -------------------------------------------------
    def layer_classes(self):
        """{class name: class} of the network's own layers (custom classes included)."""
        return {type(layer).__name__: type(layer) for layer in self._layers}

    def values(self):
        """``{(layer index, property): array or None}`` of every learnable and state property.
        The arrays themselves, not copies: training replaces them and never writes into them,
        so ``set_values`` with an earlier result undoes every update since, at no cost."""
        return {(index, name): getattr(layer, name, None) for index, layer in enumerate(self._layers)
                for name in (*layer.learnables, *layer.state_names)}

    def set_values(self, values):
        for (index, name), value in values.items():
            setattr(self._layers[index], name, value)

    def non_finite(self):
        """``(layer name, property, 'nan' | 'inf' | '-inf')`` of the first learnable or state
        value that is not finite, or None."""
        for (index, name), value in self.values().items():
            value = np.asarray(value) if value is not None else np.zeros(0)
            if value.dtype.kind in "fc" and not np.isfinite(value).all():
                kind = "nan" if np.isnan(value).any() else "inf" if (value == np.inf).any() else "-inf"
                return self._layers[index].Name, name, kind
        return None

    # ---- state (batch-norm statistics) ------------------------------------------------------
    def has_state(self):
        return any(layer.state_names for layer in self._layers)

    def _set_state(self, layer, values):
        for name, value in values.items():
            setattr(layer, name, value)

    def start_moving_state(self):
        """Give empty state its starting values ('moving' statistics)."""
        for layer in self._layers:
            self._set_state(layer, layer.initial_state())

    def moving_states(self, memories):
        """``[(layer name, {state property: value})]``: each stateful layer's state after one
        'moving' update from a training forward's memories. Nothing is changed."""
        return [(layer.Name, layer.moving_state(layer_memory))
                for (step, _, _), memory in zip(self.plan("train").steps, memories)
                for layer, layer_memory in step.state_memories(memory)]

    def commit_state(self, trace):
        """After an iteration: every stateful layer's state from its memory ('moving')."""
        memories, _ = trace
        by_name = {layer.Name: layer for layer in self._layers}
        for name, values in self.moving_states(memories):
            self._set_state(by_name[name], values)

    def forward_internal(self, X):
        """Training-mode outputs (a new array) for internal-layout X, and the updated state
        ``[(layer name, {property: value})]`` (see ``moving_states``); nothing is changed."""
        plan = self.plan("train")
        outputs, memories = plan.run(X, train=True)
        return outputs[plan.result].copy(), self.moving_states(memories)

    def commit_population_state(self, X, batches):
        """'population' statistics: one training-mode pass over ``X`` in ``batches``; each
        stateful layer combines the mini-batches' statistics exactly."""
        if not self.has_state():
            return
        plan, totals = self.plan("train"), {}
        for part in batches:
            _, memories = plan.run(X[part], train=True)
            for (step, _, _), memory in zip(plan.steps, memories):
                for layer, layer_memory in step.state_memories(memory):
                    totals[id(layer)] = (layer, layer.population_total(
                        totals.get(id(layer), (None, None))[1], layer_memory))
        for layer, total in totals.values():
            self._set_state(layer, layer.population_state(total))

    def __str__(self):
        """MATLAB's property display (``print(net)``)."""
        rows = [("Layers", f"[{len(self._layers)}×1 nnet.cnn.layer.Layer]")]
        if hasattr(type(self), "Connections"):
            rows.append(("Connections", f"[{len(self.connection_pairs())}×2 table]"))
        rows += [("InputNames", matlab_value(list(self.InputNames))), ("OutputNames", matlab_value(list(self.OutputNames)))]
        width = max(len(name) for name, _ in rows)
        return (f"  {type(self).__name__} with properties:\n\n"
                + "".join(f"    {name.rjust(width)}: {value}\n" for name, value in rows))

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def __iter__(self):
        """``net, info = trainNetwork(...)``: the network trainNetwork returns is also the
        pair (net, info), so MATLAB's one- and two-output calls both port literally."""
        info = getattr(self, "_training_info", None)
        if info is None:
            raise TypeError(f"{type(self).__name__} is one network, not a pair: only the result of trainNetwork "
                            f"unpacks as net, info = trainNetwork(...). Write net = ... for this one.")
        return iter((self, info))

    def __repr__(self):
        lines = [f"{type(self).__name__} with {len(self._layers)} layers:"]
        lines += [f"  {i + 1:2d}  {layer.Name:<16s} {layer.Description}" for i, layer in enumerate(self._layers)]
        return "\n".join(lines)


class SeriesNetwork(Network):
    """A trained chain of layers: ``Layers``, ``InputNames``, ``OutputNames``."""

    @classmethod
    def from_layers(cls, layers):
        graph = LayerGraph()
        for order, layer in enumerate(layers):
            graph._graph.add_node(layer.Name, layer=layer, order=order)
        for first, second in zip(layers, layers[1:]):
            graph._connect(first.Name, second.Name, "SeriesNetwork")
        return cls(graph, {layer.Name: layer for layer in layers})


class DAGNetwork(Network):
    """A trained directed acyclic graph of layers; adds ``Connections`` (Source, Destination)."""

    @property
    def Connections(self):
        from ..table import Table
        return Table(Source=[s for s, _ in self._pairs], Destination=[d for _, d in self._pairs])

    @classmethod
    def from_layers_and_connections(cls, layers, pairs):
        graph = LayerGraph()
        for order, layer in enumerate(layers):
            graph._graph.add_node(layer.Name, layer=layer, order=order)
        for source, destination in pairs:
            graph._connect(source, destination, "load")
        return cls(graph, {layer.Name: layer for layer in layers})
