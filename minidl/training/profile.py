"""``profileNetwork``: where a training iteration and a prediction spend their time, per step
of the execution plan (a fused step covers several layers)."""
import math
import statistics
import time

import numpy as np

from .. import _rng
from ..graph.inference import to_internal
from ..graph.network import Network, build_network
from ..layers.output import ClassificationOutputLayer
from ..options import integer, name_value_pairs
from ..struct import Struct
from ..threads import computing
from .tasks import ClassificationTask, RegressionTask, check_count, check_data


@name_value_pairs(3)
def profileNetwork(net_or_layers, X, Y, MiniBatchSize=128, NumIterations=10, DataFormat="SSCB", Print=True):
    """``report = profileNetwork(layers, X, Y)``: milliseconds per plan step of a training
    iteration (forward, backward) and of a prediction, the median over ``NumIterations``
    mini-batches of ``MiniBatchSize`` observations after one warm-up.

    ``net_or_layers`` is a layer array, a LayerGraph (initialized as trainNetwork would, from
    minidl's generator) or a trained network, which is not changed: no learnable is updated.
    Each row also gives the step's forward timed *alone*: after each profiled iteration,
    the step's forward is called again, three times in a row, on that mini-batch's input,
    outside the iteration; ``Alone`` is the median of all these calls. Timing it between
    the iterations (not once at the end) pairs it with them, so a machine that slows
    down or speeds up moves both columns alike, and a step that is slow only next to the
    others (threads fighting, caches flushed) shows as ``Forward`` much larger than ``Alone``.
    ``report.rows`` holds the rows (``Step``, ``Layers``, ``Forward``, ``Backward``,
    ``Alone``, ``Predict``, all in ms), ``report.Iteration`` and ``report.Prediction`` the
    totals in ms per mini-batch.

    Example::

        >>> import numpy as np, minidl
        >>> X = np.random.default_rng(0).random((8, 8, 1, 64)).astype(np.float32)
        >>> Y = np.arange(64) % 2
        >>> layers = [minidl.imageInputLayer([8, 8, 1]), minidl.convolution2dLayer(3, 4),
        ...           minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.fullyConnectedLayer(2),
        ...           minidl.softmaxLayer(), minidl.classificationLayer()]
        >>> report = minidl.profileNetwork(layers, X, Y, MiniBatchSize=16, NumIterations=2, Print=False)
        >>> [row["Layers"] for row in report.rows][:3]
        ['imageinput', 'conv', 'batchnorm+relu']
    """
    if isinstance(net_or_layers, Network):
        net = build_network(net_or_layers.to_layer_graph(), _rng.generator(), owner="profileNetwork")
    else:
        net = build_network(net_or_layers, _rng.generator(), owner="profileNetwork")
    X = to_internal(X, net.input_layer, DataFormat, owner="profileNetwork")
    output = net.output_layer
    if isinstance(output, ClassificationOutputLayer):
        check_count(X, Y, "profileNetwork")
        targets = ClassificationTask(output, Y, "profileNetwork").targets
    else:
        targets = RegressionTask(output, Y, "profileNetwork", DataFormat).targets
    check_data(X, targets, "profileNetwork")
    MiniBatchSize = integer("profileNetwork", "MiniBatchSize", MiniBatchSize, maximum=math.inf)
    NumIterations = integer("profileNetwork", "NumIterations", NumIterations, maximum=10 ** 5)
    size = min(MiniBatchSize, X.shape[0])
    batches = [slice(i * size, (i + 1) * size) for i in range(max(1, X.shape[0] // size))]
    batches = [batches[i % len(batches)] for i in range(int(NumIterations) + 1)]
    statistics_ = getattr(net.input_layer, "statistics", None)
    if statistics_ is not None and not net.input_layer.has_statistics():
        for name, value in statistics_(X).items():
            setattr(net.input_layer, name, value)
    net.start_moving_state()
    with computing():
        return _profile(net, X, targets, batches, Print)


def _profile(net, X, targets, batches, show):
    train, infer = net.plan("train"), net.plan("predict")
    times = {}

    def timer(plan):
        return lambda k, phase, seconds: times.setdefault((plan, k, phase), []).append(seconds)

    train.timer, infer.timer = timer("train"), timer("predict")
    try:
        totals = {"iteration": [], "prediction": []}
        alone = [[] for _ in train.steps]
        for i, part in enumerate(batches):
            if i == 1:
                times.clear()
            start = time.perf_counter()
            trace = net.forward_loss(X[part], targets[part])[2]
            net.backward(trace)
            middle = time.perf_counter()
            net.predict_internal(X[part])
            if i:
                totals["iteration"].append(middle - start)
                totals["prediction"].append(time.perf_counter() - middle)
                train.timer = None
                _time_alone(train, X[part], alone)
                train.timer = timer("train")
    finally:
        train.timer = infer.timer = None
    ms = lambda values: 1e3 * statistics.median(values) if values else 0.0  # noqa: E731
    names = net.layer_names()
    rows = []
    # A prediction step counts on the row of the training step holding its first layer; the
    # steps folded into it (batch norm after a convolution) then cost 0 at prediction.
    first = {infer_covered[0]: p for p, (_, infer_covered, _) in enumerate(infer.steps)}
    for k, (step, covered, _) in enumerate(train.steps):
        predict_steps = [first[i] for i in covered if i in first]
        rows.append({"Step": k + 1, "Layers": "+".join(names[i] for i in covered),
                     "Forward": ms(times.get(("train", k, "forward"), [])),
                     "Backward": ms(times.get(("train", k, "backward"), [])),
                     "Alone": ms(alone[k]),
                     "Predict": sum(ms(times.get(("predict", p, "forward"), [])) for p in predict_steps)})
    in_steps = {i for _, covered, _ in train.steps for i in covered}
    rest = [i for i in range(len(names)) if i not in in_steps]
    rows.append({"Step": len(train.steps) + 1, "Layers": "+".join(names[i] for i in rest) + " (loss)",
                 "Forward": ms(times.get(("train", len(train.steps), "forward"), [])), "Backward": 0.0,
                 "Alone": float("nan"), "Predict": sum(ms(times.get(("predict", first[i], "forward"), []))
                                                       for i in rest if i in first)})
    report = Struct(rows=rows, Iteration=ms(totals["iteration"]), Prediction=ms(totals["prediction"]),
                    MiniBatchSize=batches[0].stop - batches[0].start)
    if show:
        print(format_report(report))
    return report


def _time_alone(plan, X, samples, repeats=3):
    """Append to samples[k] the seconds of ``repeats`` calls of step k's training forward
    on its own, on the inputs a training run of X gives it."""
    outputs, _ = plan.run(X, train=True)
    for k, (step, _, inputs) in enumerate(plan.steps):
        values = [outputs[s] for s in inputs] or [X]
        work = plan.work(k, values[0])
        for _ in range(repeats):
            start = time.perf_counter()
            step.forward(values, work)
            samples[k].append(time.perf_counter() - start)


def format_report(report):
    """The report as a text table (what ``profileNetwork`` prints)."""
    width = max(len("Layers"), *(len(row["Layers"]) for row in report.rows))
    lines = [f"Training iteration {report.Iteration:.2f} ms, prediction {report.Prediction:.2f} ms "
             f"per mini-batch of {report.MiniBatchSize} (median):",
             f"{'Step':>4}  {'Layers':<{width}}  {'Forward':>8}  {'Backward':>8}  {'Alone':>8}  {'Predict':>8}"]
    for row in report.rows:
        lines.append(f"{row['Step']:>4}  {row['Layers']:<{width}}  {row['Forward']:8.3f}  {row['Backward']:8.3f}  "
                     f"{row['Alone']:8.3f}  {row['Predict']:8.3f}")
    total = {key: float(np.sum([row[key] for row in report.rows])) for key in ("Forward", "Backward", "Predict")}
    lines.append(f"{'':>4}  {'sum':<{width}}  {total['Forward']:8.3f}  {total['Backward']:8.3f}  "
                 f"{'':>8}  {total['Predict']:8.3f}")
    return "\n".join(lines)
