"""``dlnetwork``: MATLAB's current network object (R2024a+), on the same plan as the others.

A dlnetwork is a layer graph without an output layer: the loss is an argument of
``trainnet``. It is a :class:`LayerGraph` (so ``addLayers``, ``connectLayers``,
``replaceLayer``, ``removeLayers`` and ``disconnectLayers`` take it and return a new,
uninitialized dlnetwork, as in MATLAB) that can also be *initialized*: every learnable set
(drawn from the global generator where the layer has none) and batch-norm state started at
``TrainedMean = 0``, ``TrainedVariance = 1``. ``Learnables`` and ``State`` are tables with
columns Layer, Parameter, Value.

Inside, an initialized dlnetwork compiles (once, on first use) into the same
:class:`~minidl.graph.network.Network` and execution plan as SeriesNetwork and DAGNetwork,
ended by a hidden :class:`NetworkOutput` that passes the output through for ``predict`` and
computes ``trainnet``'s loss in training.
"""
import copy

import numpy as np

from .. import _rng
from ..layers.output import OutputLayer
from ..options import flag, parse_name_value, received
from ..table import Table
from ..threads import computing
from .analyze import analyze
from .inference import data_format, from_internal, to_internal
from .layer_graph import LayerGraph, layerGraph
from .network import Network, layer_array

OUTPUT = "__dlnetwork_output__"


class NetworkOutput(OutputLayer):
    """The hidden end of a compiled dlnetwork: ``loss`` (trainnet's, an object with
    ``forward(Y, T)`` and ``backward(Y, T)``) or none (prediction)."""

    DefaultName = OUTPUT
    Description = "dlnetwork output"
    accepts_any_input = True     # analyze: may follow a softmax layer

    def __init__(self, loss=None):
        super().__init__(OUTPUT)
        self.loss = loss

    def forwardLoss(self, Y, T):
        return self.loss.forward(Y, T)

    def backwardLoss(self, Y, T):
        return self.loss.backward(Y, T)


class dlnetwork(LayerGraph):  # noqa: N801 -- MATLAB's class name
    """``net = dlnetwork(layers)`` or ``dlnetwork(lgraph)``; ``dlnetwork(layers, Initialize=False)``
    leaves it uninitialized (``net = initialize(net)`` later; trainnet initializes too).

    Properties: ``Layers``, ``Connections``, ``Learnables`` and ``State`` (tables with columns
    Layer, Parameter, Value; settable, as ``net.State = state`` after ``forward``),
    ``InputNames``, ``OutputNames``, ``Initialized``.

    Example::

        >>> import minidl
        >>> net = minidl.dlnetwork([minidl.featureInputLayer(3), minidl.fullyConnectedLayer(2),
        ...                          minidl.batchNormalizationLayer(), minidl.softmaxLayer()])
        >>> net.Learnables.Parameter
        ['Weights', 'Bias', 'Scale', 'Offset']
        >>> net.State.Parameter, net.State.Value[0].ravel()
        (['TrainedMean', 'TrainedVariance'], array([0., 0.], dtype=float32))
        >>> minidl.predict(net, [[1.0, 2.0, 3.0]]).shape
        (1, 2)
    """

    _analysis_target = "dlnetwork"      # analyzeNetwork's default TargetUsage

    def __init__(self, layers=None, *pairs, **options):
        values = parse_name_value("dlnetwork", pairs, options, {"Initialize": True})
        initialize_now = flag("dlnetwork", "Initialize", values["Initialize"])
        super().__init__()
        self._compiled, self._initialized, self._sizes = None, False, None
        self.class_names = None     # minidl: the classes trainnet found in the labels
        if layers is None:
            return
        source = layers if isinstance(layers, LayerGraph) else layerGraph(layer_array("dlnetwork", layers))
        self._graph = copy.deepcopy(source._graph)
        for name in self._ordered_names():
            if isinstance(self._layer(name), OutputLayer):
                raise ValueError(f"dlnetwork: layer {name!r} is an output layer ({type(self._layer(name)).__name__}); "
                                 f"a dlnetwork has none: the loss is an argument of trainnet. Remove it "
                                 f"(e.g. layers[:-1]) and call trainnet(X, T, net, \"crossentropy\", options) "
                                 f"(\"mse\" for regression).")
        if initialize_now:
            self.initialize_in_place("dlnetwork")

    # ---- graph editing keeps the type; the result is uninitialized, as in MATLAB ---------------
    def _copy(self):
        result = dlnetwork()
        result._graph = copy.deepcopy(self._graph)
        return result

    def clone(self, layers=()):
        """A copy that keeps the initialization; ``layers`` (by name) replace copies of the
        network's own (trainnet's result)."""
        result = self._copy()
        result._initialized, result._sizes = self._initialized, self._sizes
        result.class_names = getattr(self, "class_names", None)
        for layer in layers:
            if layer.Name in result._graph:
                result._graph.nodes[layer.Name]["layer"] = layer
        return result

    def output_size(self):
        """The size of the network output (MATLAB order), once initialized."""
        return self._sizes[self._sinks()[0]]

    def to_layer_graph(self):
        """``layerGraph(net)``: a plain LayerGraph of copies of the layers."""
        return LayerGraph(copy.deepcopy(self._graph))

    # ---- initialization and compilation ------------------------------------------------------
    def _sinks(self):
        return [n for n in self._ordered_names() if self._layer(n).NumOutputs and self._graph.out_degree(n) == 0]

    def _with_output(self, output):
        """A LayerGraph of the same layer objects, its output feeding ``output``."""
        lgraph = LayerGraph(self._graph.copy())
        order = max((d["order"] for _, d in self._graph.nodes(data=True)), default=-1) + 1
        lgraph._graph.add_node(OUTPUT, layer=output, order=order)
        sinks = self._sinks()
        if sinks:
            last = self._layer(sinks[0])
            lgraph._connect(f"{sinks[0]}/{last.OutputNames[0]}", OUTPUT, "dlnetwork")
        return lgraph

    def initialize_in_place(self, owner, rng=None):
        report = analyze(self._with_output(NetworkOutput()), _rng.generator() if rng is None else rng)
        if report.Errors:
            report.error("Fix the network, or create it with dlnetwork(layers, Initialize=False) and call "
                         "initialize(net) when it is complete.")
        report.raise_errors(owner)
        for name in self._ordered_names():
            layer = report.layers[name]
            for key, value in layer.initial_state().items():
                setattr(layer, key, value)
            self._graph.nodes[name]["layer"] = layer
        self._sizes = {name: size for name, size in report.sizes.items()}
        self._initialized, self._compiled = True, None

    def compiled_network(self, owner="predict", output=None):
        """The compiled Network (shared layers) ending in ``output`` (default: pass-through)."""
        if not self._initialized:
            raise ValueError(f"{owner}: the dlnetwork is not initialized (its layers were edited, or it was created "
                             f"with Initialize=False); call net = initialize(net) first.")
        if output is not None:
            lgraph = self._with_output(output)
            return Network(lgraph, {n: lgraph._layer(n) for n in lgraph._graph.nodes}, self._sizes)
        if self._compiled is None:
            self._compiled = self.compiled_network(owner, NetworkOutput())
        return self._compiled

    # ---- MATLAB properties ---------------------------------------------------------------------
    @property
    def Initialized(self):
        return self._initialized

    @property
    def OutputNames(self):
        return self._sinks()

    def _table(self, kind):
        rows = [(name, prop, _copy(getattr(self._layer(name), prop, None)))
                for name in self._ordered_names()
                for prop in (self._layer(name).learnables if kind == "Learnables" else self._layer(name).state_names)]
        return Table("dlarray", Layer=[r[0] for r in rows], Parameter=[r[1] for r in rows], Value=[r[2] for r in rows])

    def _set_table(self, kind, table):
        current = self._table(kind)
        if not isinstance(table, Table) or set(table.Properties.VariableNames) < {"Layer", "Parameter", "Value"}:
            raise TypeError(f"dlnetwork: {kind} must be a table with columns Layer, Parameter and Value (as "
                            f"net.{kind} or the state forward returns); received {received(table)}.")
        known = set(zip(current.Layer, current.Parameter))
        for layer, prop, value in zip(table.Layer, table.Parameter, table.Value):
            if (layer, prop) not in known:
                raise ValueError(f"dlnetwork: the network has no {kind[:-1] if kind == 'Learnables' else kind} "
                                 f"parameter {prop!r} of layer {layer!r}; {kind} rows must come from this network.")
            old = getattr(self._layer(layer), prop, None)
            value = np.array(value, dtype=np.float32)
            if old is not None and value.shape != np.shape(old):
                raise ValueError(f"dlnetwork: {layer}.{prop} must have size {'×'.join(map(str, np.shape(old)))}; "
                                 f"received size {'×'.join(map(str, value.shape))}.")
            setattr(self._layer(layer), prop, value)
        self._compiled = None

    @property
    def Learnables(self):
        """Table (Layer, Parameter, Value) of every learnable, in layer order; values are copies."""
        return self._table("Learnables")

    @Learnables.setter
    def Learnables(self, table):
        self._set_table("Learnables", table)

    @property
    def State(self):
        """Table (Layer, Parameter, Value) of every state value (batch norm's TrainedMean and
        TrainedVariance); values are copies."""
        return self._table("State")

    @State.setter
    def State(self, table):
        self._set_table("State", table)

    def __repr__(self):
        rows = {"Layers": f"[{len(self._graph)}×1 Layer]", "Connections": f"[{len(self.Connections)}×2 table]",
                "Learnables": f"[{len(self.Learnables)}×3 table]", "State": f"[{len(self.State)}×3 table]",
                "InputNames": "{" + ", ".join(f"'{n}'" for n in self.InputNames) + "}",
                "OutputNames": "{" + ", ".join(f"'{n}'" for n in self.OutputNames) + "}",
                "Initialized": str(int(self._initialized))}
        width = max(map(len, rows))
        return "  dlnetwork with properties:\n\n" + "\n".join(f"    {k:>{width}}: {v}" for k, v in rows.items())


def _copy(value):
    return None if value is None else np.array(value, copy=True)


def refuse_dlnetwork(owner, net):
    """trainNetwork does not train a dlnetwork (MATLAB refuses it too): say which call does."""
    if isinstance(net, dlnetwork):
        raise TypeError(f"{owner}: a dlnetwork is trained with trainnet, not trainNetwork (as in MATLAB): "
                        f"net = trainnet(X, Y, net, \"crossentropy\", options) (\"mse\" for regression). For "
                        f"trainNetwork, pass layers that end in an output layer, e.g. "
                        f"[*net.Layers, classificationLayer()].")


def checked_dlnetwork(owner, net):
    if isinstance(net, dlnetwork):
        return net
    fix = (" Make one with dlnetwork(layers) (without the output layer)." if isinstance(net, (Network, list))
           else "")
    raise TypeError(f"{owner}: net must be a dlnetwork; received {received(net)}.{fix}")


def initialize(net):
    """``net = initialize(net)``: a copy of a dlnetwork with every learnable set (from the
    global generator where missing) and batch-norm state at TrainedMean 0, TrainedVariance 1.
    Values already set are kept.

    Example::

        >>> import minidl
        >>> net = minidl.dlnetwork([minidl.featureInputLayer(3), minidl.fullyConnectedLayer(2)], Initialize=False)
        >>> net.Initialized, minidl.initialize(net).Initialized
        (False, True)
    """
    result = checked_dlnetwork("initialize", net)._copy()
    result.initialize_in_place("initialize")
    return result


def forward(net, X, *pairs, **options):
    """``Y, state = forward(net, X)``: the output in training mode (batch normalization uses
    the statistics of X) and the updated state: for batch normalization
    ``TrainedMean ← (1 − MeanDecay)·TrainedMean + MeanDecay·μ_X`` and the same for
    TrainedVariance with VarianceDecay and the (biased) batch variance. The network is not
    changed; as in MATLAB, assign ``net.State = state`` to keep the new state.

    Example::

        >>> import numpy as np, minidl
        >>> net = minidl.dlnetwork([minidl.featureInputLayer(2), minidl.batchNormalizationLayer()])
        >>> Y, state = minidl.forward(net, np.array([[1.0, 2.0], [3.0, 6.0]]))
        >>> Y
        array([[-0.99999..., -0.99999...],
               [ 0.99999...,  0.99999...]], dtype=float32)
        >>> state.Value[0].ravel()           # 0.9 * 0 + 0.1 * [2, 4]
        array([0.2, 0.4], dtype=float32)
        >>> net.State = state
    """
    net = checked_dlnetwork("forward", net)
    fmt = data_format("forward", parse_name_value("forward", pairs, options, {"DataFormat": "SSCB"})["DataFormat"])
    compiled = net.compiled_network("forward")
    X = to_internal(X, compiled.input_layer, fmt, owner="forward")
    with computing(), np.errstate(over="ignore", invalid="ignore"):
        Y, states = compiled.forward_internal(X)
    updated = dict(((layer, prop), value) for layer, values in states for prop, value in values.items())
    state = net.State
    values = [updated.get((layer, prop), value) for layer, prop, value in zip(state.Layer, state.Parameter, state.Value)]
    return from_internal(Y, fmt), Table("dlarray", Layer=state.Layer, Parameter=state.Parameter, Value=values)
