"""The training probe: what every layer computes while ``trainNetwork``/``trainnet`` train.

``trainingOptions(..., Probe=trainingProbe(Frequency=10))`` records, at iteration 1 and
every ``Frequency``-th iteration, for every probed layer

- its output activations Z over the whole mini-batch: mean, standard deviation (population,
  ddof 0), ``Percentiles`` (NumPy's linear interpolation) and a histogram of ``NumBins`` bins
  between the smallest and largest value;
- the loss gradient dL/dZ of that output: its root mean square sqrt(mean(g²)) and histogram;
- for each learnable W of the layer: RMS(W), RMS(dL/dW) (the loss gradient, before L2
  regularization and gradient thresholding) and the update-to-weight ratio
  ‖W_after − W_before‖₂ / ‖W_before‖₂ of the solver step of that iteration (NaN while
  ‖W_before‖ = 0, as for biases that start at zero).

How: just before the trainer's own forward pass, the probe runs one more training-mode
forward and backward of the same mini-batch with the same weights, layer by layer (no
fused steps, so the output of a batch norm followed by a ReLU is seen too), and restores the
random generators afterwards, so dropout draws the same masks and training is unchanged.
The softmax that a classification layer absorbs into its loss is not a separate step; its
input, the logits, is recorded. The result, a :class:`ProbeRecording`, is ``info.Probe``.
"""
import math
import time

import numpy as np

from .. import _rng
from ..graph.plan import LayerStep
from ..options import OptionError, integer, parse_name_value, received
from ..struct import Struct

_DEFAULTS = {"Layers": "all", "Frequency": 1, "Percentiles": (15, 50, 85), "NumBins": 50}


class TrainingProbe:
    """What to record and how often; make one with :func:`trainingProbe`."""

    def __init__(self, Layers, Frequency, Percentiles, NumBins):
        self.Layers, self.Frequency, self.Percentiles, self.NumBins = Layers, Frequency, Percentiles, NumBins

    def __repr__(self):
        layers = repr(self.Layers) if isinstance(self.Layers, str) else list(self.Layers)
        return (f"trainingProbe(Layers={layers}, Frequency={self.Frequency}, "
                f"Percentiles={list(self.Percentiles)}, NumBins={self.NumBins})")

    def due(self, iteration):
        return iteration == 1 or iteration % self.Frequency == 0

    def start(self, net, owner="trainNetwork"):
        """A fresh recorder for one training of the compiled network ``net``."""
        return ProbeRecorder(self, net, owner)


def trainingProbe(*pairs, **options):
    """``probe = trainingProbe(Layers="all", Frequency=1, Percentiles=[15, 50, 85], NumBins=50)``:
    a training probe, given to ``trainingOptions(..., Probe=probe)``.

    ``Layers`` is "all" (every layer except the output layer) or a list of layer names;
    ``Frequency`` records iteration 1 and every Frequency-th iteration; ``Percentiles`` are
    in [0, 100]; ``NumBins`` is the number of histogram bins. ``info.Probe`` then holds the
    :class:`ProbeRecording`. See the module docstring for the exact quantities.

    Example::

        >>> import numpy as np, minidl
        >>> minidl.rng(0)
        >>> X = np.random.default_rng(0).random((64, 3)).astype(np.float32)
        >>> Y = (X.sum(axis=1) > 1.5).astype(int)
        >>> layers = [minidl.featureInputLayer(3), minidl.fullyConnectedLayer(4, Name="fc"),
        ...           minidl.reluLayer(Name="relu"), minidl.fullyConnectedLayer(2),
        ...           minidl.softmaxLayer(), minidl.classificationLayer()]
        >>> probe = minidl.trainingProbe(Layers=["fc", "relu"], Frequency=2)
        >>> options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=16, Verbose=False,
        ...                                  Probe=probe)
        >>> net, info = minidl.trainNetwork(X, Y, layers, options)
        >>> info.Probe.Iteration
        array([1, 2, 4])
        >>> info.Probe.Activations["relu"].Percentiles.shape, sorted(info.Probe.Learnables)
        ((3, 3), ['fc/Bias', 'fc/Weights'])
    """
    values = parse_name_value("trainingProbe", pairs, options, _DEFAULTS)
    layers = values["Layers"]
    if isinstance(layers, str) and layers.lower() == "all":
        layers = "all"
    elif isinstance(layers, str):
        layers = (layers,)
    elif isinstance(layers, (list, tuple)) and layers and all(isinstance(n, str) for n in layers):
        layers = tuple(layers)
    else:
        raise OptionError(f"trainingProbe: Layers must be 'all' or a list of layer names; received "
                          f"{received(layers)}.")
    frequency = integer("trainingProbe", "Frequency", values["Frequency"])
    bins = integer("trainingProbe", "NumBins", values["NumBins"], maximum=10_000)
    try:
        percentiles = np.asarray(values["Percentiles"], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        percentiles = None
    if percentiles is None or not np.all((percentiles >= 0) & (percentiles <= 100)):   # NaN fails too
        raise OptionError(f"trainingProbe: Percentiles must be numbers in [0, 100]; received "
                          f"{received(values['Percentiles'])}.")
    return TrainingProbe(layers, frequency, tuple(float(p) for p in percentiles), bins)


def _summary(values, percentiles, bins):
    """(mean, std, rms, percentiles, histogram counts, bin edges) of the finite values, float64."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        nan = math.nan
        return nan, nan, nan, np.full(len(percentiles), nan), np.zeros(bins, np.int64), np.full(bins + 1, nan)
    counts, edges = np.histogram(v, bins)
    return (float(v.mean()), float(v.std()), float(np.sqrt(np.mean(v * v))),
            np.percentile(v, percentiles) if percentiles else np.zeros(0), counts, edges)


def _rms(value):
    value = np.asarray(value, dtype=np.float64)
    return float(np.sqrt(np.mean(value * value))) if value.size else math.nan


class ProbeRecorder:
    """Records one training run. The trainer calls ``measure`` before its forward pass and
    ``commit`` once the iteration's update is kept (an undone iteration is never committed)."""

    def __init__(self, probe, net, owner):
        self.probe, self.seconds, self._steps = probe, 0.0, {}
        names = [layer.Name for _, layer, _ in self._nodes(net)]
        if probe.Layers == "all":
            self.layers = names
        else:
            unknown = [name for name in probe.Layers if name not in names]
            if unknown:
                raise ValueError(f"{owner}: trainingProbe Layers {unknown} are not layers the probe can record; "
                                 f"the network's are {names} (the output layer, and a softmax absorbed into "
                                 f"the classification loss, have no activations of their own to record).")
            self.layers = list(probe.Layers)
        self.iterations = []
        self.activations = {name: [] for name in self.layers}
        self.learnables = {}

    @staticmethod
    def _nodes(net):
        """``(layer index, layer, input indices)`` of every training layer in execution order,
        unfused (from the network's training plan)."""
        nodes = []
        for step, covered, inputs in net.plan("train").steps:
            previous = inputs
            for index, layer in zip(covered, step.layers):
                nodes.append((index, layer, list(previous)))
                previous = [index]
        return nodes

    def measure(self, net, X, T, iteration, whole_batch=None):
        """The statistics of this iteration (before the update), or None when not due.
        ``whole_batch(X)``, if given, reads the mini-batch's predictors from what the engine
        holds (in parallel mode: the indices the workers read)."""
        if not self.probe.due(iteration):
            return None
        X = X if whole_batch is None else whole_batch(X)
        start = time.perf_counter()
        generator = _rng.generator()
        saved = generator.bit_generator.state, np.random.get_state()
        try:
            rows, learnables = self._forward_backward(net, X, T)
        finally:
            generator.bit_generator.state = saved[0]
            np.random.set_state(saved[1])
        self.seconds += time.perf_counter() - start
        return Struct(iteration=iteration, rows=rows, learnables=learnables, before=net.values())

    def _forward_backward(self, net, X, T):
        """One unfused training-mode forward and backward: ({layer name: statistics row},
        {(layer index, learnable): (label, RMS of its gradient)}) of the probed layers."""
        percentiles, bins = self.probe.Percentiles, self.probe.NumBins
        plan, wanted, nodes = net.plan("train"), set(self.layers), self._nodes(net)
        outputs, memories, works, rows, learnables = {}, {}, {}, {}, {}
        for index, layer, inputs in nodes:
            works[index] = {"need_dx": True}
            outputs[index], memories[index] = self._step(layer).forward([outputs[s] for s in inputs] or [X],
                                                                        works[index])
            if layer.Name in wanted:
                rows[layer.Name] = list(_summary(outputs[index], percentiles, bins))
        _, _, dLdY = plan.loss.loss(outputs[plan.result], T)
        upstream = {plan.result: dLdY}
        for index, layer, inputs in reversed(nodes):
            dZ = upstream.pop(index, None)
            if dZ is None:     # no path to the loss
                continue
            if layer.Name in wanted:
                _, _, rms, _, counts, edges = _summary(dZ, (), bins)
                rows[layer.Name] += [rms, counts, edges]
            if not inputs:
                continue
            dX, (grads,) = self._step(layer).backward(dZ, memories[index], works[index])
            if layer.Name in wanted:
                learnables.update({(index, name): (f"{layer.Name}/{name}", _rms(grad)) for name, grad in grads.items()})
            for source, d in zip(inputs, dX if len(inputs) > 1 else (dX,)):
                upstream[source] = d if source not in upstream else upstream[source] + d
        for row in rows.values():
            if len(row) == 6:      # no gradient reached this layer
                row += [math.nan, np.zeros(bins, np.int64), np.full(bins + 1, math.nan)]
        return rows, dict(sorted(learnables.items(), key=lambda item: item[0][0]))    # in layer order

    def _step(self, layer):
        """The layer as a plan step of its own (kept: inspecting its signature costs)."""
        step = self._steps.get(id(layer))
        if step is None or step.layer is not layer:
            step = self._steps[id(layer)] = LayerStep(layer)
        return step

    def commit(self, pending, net):
        """Keep a measured iteration, with the update ratios of the step just taken."""
        start = time.perf_counter()
        after = net.values()
        self.iterations.append(pending.iteration)
        for name, row in pending.rows.items():
            self.activations[name].append(row)
        for key, (label, grad_rms) in pending.learnables.items():
            old = np.asarray(pending.before[key], dtype=np.float64)
            norm = float(np.linalg.norm(old))
            change = float(np.linalg.norm(np.asarray(after[key], dtype=np.float64) - old))
            self.learnables.setdefault(label, []).append(
                (_rms(old), grad_rms, change / norm if norm > 0 else math.nan))
        self.seconds += time.perf_counter() - start

    def result(self, last_iteration):
        """The :class:`ProbeRecording` of the committed iterations up to ``last_iteration`` (an
        iteration undone after its commit, by a second Ctrl-C, is dropped)."""
        while self.iterations and self.iterations[-1] > last_iteration:
            self.iterations.pop()
            for rows in (*self.activations.values(), *self.learnables.values()):
                rows.pop()
        from .probe_plot import ProbeRecording
        fields = ("Mean", "Std", "RMS", "Percentiles", "Histogram", "BinEdges",
                  "GradientRMS", "GradientHistogram", "GradientBinEdges")
        count, bins, p = len(self.iterations), self.probe.NumBins, len(self.probe.Percentiles)
        empty = {"Percentiles": (0, p), "Histogram": (0, bins), "BinEdges": (0, bins + 1),
                 "GradientHistogram": (0, bins), "GradientBinEdges": (0, bins + 1)}
        activations = Struct()
        for name, rows in self.activations.items():
            activations[name] = Struct({field: np.array([row[k] for row in rows]) if count else
                                        np.zeros(empty.get(field, (0,)))
                                        for k, field in enumerate(fields)})
        learnables = Struct({label: Struct(zip(("RMS", "GradientRMS", "UpdateRatio"),
                                               np.array(rows, dtype=np.float64).T))
                             for label, rows in self.learnables.items()})
        return ProbeRecording(np.array(self.iterations, dtype=np.int64), activations, learnables,
                              self.probe, self.seconds)
