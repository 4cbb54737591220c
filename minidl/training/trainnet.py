"""``trainnet`` and ``testnet``: MATLAB's current training API (R2024a+) on the same
trainer as ``trainNetwork`` (training/loop.py) and the same execution plan.

The network is a dlnetwork (or layers without an output layer, made into one); the loss is
an argument (training/losses.py). The trainer runs unchanged: the dlnetwork compiles with a
hidden output that computes the loss, and a :class:`LossTask` encodes the targets and
measures the metrics.
"""
import copy
import math

import numpy as np

from .. import _rng
from ..graph.dlnetwork import NetworkOutput, checked_dlnetwork, dlnetwork
from ..graph.layer_graph import LayerGraph
from ..graph.network import DAGNetwork, Network, layer_array
from ..layers.output import OutputLayer
from ..graph.inference import FORMATS
from ..graph.minibatch import predictions
from ..options import OptionError, integer, parse_name_value, received
from ..threads import computing
from .data_source import is_datastore, responses
from .loop import Trainer
from .losses import CLASSIFICATION, LOSSES, METRIC_LABELS, METRICS, make_loss, metric
from ..table import Table
from .options import TrainingOptions
from .tasks import RegressionTask, encode_labels, one_hot


METRIC_LABELS_INVERSE = {label: name for name, label in METRIC_LABELS.items()}


class LossTask:
    """Targets for a trainnet loss, and the metrics the trainer records: every one of
    Metrics (with none, accuracy for the cross-entropy losses and RMSE for the others); the
    first is the trainer's own (progress table, OutputFcn), ``last`` holds all of the latest
    measurement."""

    def __init__(self, loss, Y, owner, outputs, metrics, data_format="SSCB", classes=None):
        self.loss, self.outputs, self.data_format, self.classes = loss, outputs, data_format, classes
        self.names = list(metrics or (["accuracy"] if loss.classification or loss.name == "binary-crossentropy"
                                      else ["rmse"]))
        self.metric_name = self.names[0]
        self.metric = METRIC_LABELS[self.names[0]]
        self.last = {}
        self.targets = self.encode(Y, owner)

    def encode(self, Y, owner):
        if self._is_labels(Y):
            if self.loss.name == "index-crossentropy" and np.asarray(Y).dtype.kind in "iu":
                indices = np.asarray(Y).reshape(-1).astype(np.int64) - 1
                if indices.size and (indices.min() < 0 or indices.max() >= self.outputs):
                    raise ValueError(f"{owner}: index-crossentropy targets must be class indices from 1 to "
                                     f"{self.outputs} (the network's outputs); received values from "
                                     f"{indices.min() + 1} to {indices.max() + 1}.")
            else:
                self.classes, indices = encode_labels(Y, owner, self.classes)
                if len(self.classes) != self.outputs:
                    raise ValueError(f"{owner}: the targets have {len(self.classes)} classes but the network outputs "
                                     f"{self.outputs} values; make the last fullyConnectedLayer's OutputSize "
                                     f"{len(self.classes)}.")
            return one_hot(indices, self.outputs)
        return RegressionTask(None, Y, f"{owner} (T, the targets)", self.data_format).targets

    def _is_labels(self, Y):
        Y = np.asarray(Y)
        if Y.dtype.kind in "USOb":
            return True
        vector = Y.ndim == 1 or (Y.ndim == 2 and 1 in Y.shape and self.outputs != 1)
        return self.loss.classification and vector

    def measure(self, scores, targets):
        self.last = {name: metric(name, scores, targets) for name in self.names}
        return self.last[self.metric_name]


class _LossTrainer(Trainer):
    """The trainer, recording every metric of Metrics: per training iteration, per
    validation and at the final validation, into ``info`` (``Training<Metric>``,
    ``Validation<Metric>``, ``FinalValidation<Metric>``) and MATLAB's TrainingHistory and
    ValidationHistory tables."""
    owner = "trainnet"

    def __init__(self, net, options, rng, data_format, task_maker):
        super().__init__(net, options, rng, data_format)
        self._task_maker = task_maker
        self._training, self._validation, self._pending = {}, {}, None

    def make_task(self, Y):
        return self._task_maker(Y)

    def _update(self, X, T, s, solver):
        result = super()._update(X, T, s, solver)
        if result[0] is None:
            self._training[s.iteration + 1] = dict(self.task.last)
        return result

    def validate(self, batch_statistics=False):
        result = super().validate(batch_statistics)
        self._pending = dict(self.task.last)    # the final validation unless recorded below
        return result

    def _record_validation(self, s, record, result):
        super()._record_validation(s, record, result)
        self._validation[record["Iteration"]], self._pending = self._pending, None

    def train(self, X, Y, resume=None):
        net, info = super().train(X, Y, resume)
        names, count = self.task.names, len(info.TrainingLoss)
        iterations = np.arange(1, count + 1)

        def column(values, name):
            return np.array([values.get(i, {}).get(name, math.nan) for i in iterations], dtype=np.float64)
        training = {METRIC_LABELS[n]: column(self._training, n) for n in names}
        for label, values in training.items():
            info["Training" + label] = values
        history = dict(Iteration=iterations, Epoch=np.array(self._epoch_numbers(count)), Loss=info.TrainingLoss,
                       LearnRate=info.BaseLearnRate)
        info.TrainingHistory = Table(**history, **training)
        if "ValidationLoss" in info:
            validation = {METRIC_LABELS[n]: column(self._validation, n) for n in names}
            for label, values in validation.items():
                info["Validation" + label] = values
                final = self._pending.get(METRIC_LABELS_INVERSE[label], math.nan) if self._pending else math.nan
                info["FinalValidation" + label] = final
            done = ~np.isnan(info.ValidationLoss)
            info.ValidationHistory = Table(Iteration=iterations[done], Loss=info.ValidationLoss[done],
                                           **{label: values[done] for label, values in validation.items()})
        return net, info

    def _epoch_numbers(self, count):
        per_epoch = max(self.count // min(self.options.MiniBatchSize, self.count), 1)
        return [(i - 1) // per_epoch + 1 for i in range(1, count + 1)]


def trainnet(*args, DataFormat="SSCB"):
    """``net, info = trainnet(X, T, net_or_layers, lossFcn, options)``.

    ``net_or_layers`` is a dlnetwork or layers without an output layer (a list or a
    LayerGraph); an uninitialized network is initialized first (from the global generator).
    ``lossFcn`` is "crossentropy", "index-crossentropy", "binary-crossentropy", "mse",
    "l1loss" or "huber" (see :mod:`minidl.training.losses` for their exact definitions) or a
    function ``f(Y, T) -> (loss, dLdY)``. T holds labels (classification losses: sorted unique
    labels are the classes, as ``categories``) or numeric targets laid out like the output.
    Training runs exactly as trainNetwork's (options, BatchNormalizationStatistics, OutputFcn,
    checkpoints); ``info`` has the same fields, with the first of ``Metrics`` as its metric.
    The given network is not changed.

    Example::

        >>> import numpy as np, minidl
        >>> minidl.rng(0)
        >>> X = np.random.default_rng(0).random((32, 2))
        >>> T = (X[:, 0] > X[:, 1]).astype(int)
        >>> layers = [minidl.featureInputLayer(2), minidl.fullyConnectedLayer(2), minidl.softmaxLayer()]
        >>> options = minidl.trainingOptions("adam", MaxEpochs=2, MiniBatchSize=8, Verbose=False,
        ...                                  Metrics="accuracy")
        >>> net, info = minidl.trainnet(X, T, layers, "crossentropy", options)
        >>> type(net).__name__, len(info.TrainingLoss), len(info.TrainingAccuracy)
        ('dlnetwork', 8, 8)
    """
    if args and is_datastore(args[0]):       # trainnet(ds, net_or_layers, lossFcn, options): reads carry T
        args = (args[0], None, *args[1:])
    if len(args) != 5:
        raise TypeError(f"trainnet: call as trainnet(X, T, net_or_layers, lossFcn, options) or trainnet(ds, "
                        f"net_or_layers, lossFcn, options); received {len(args)} arguments.")
    X, T, given, lossFcn, options = args
    if not isinstance(options, TrainingOptions):
        raise TypeError(f"trainnet: options must come from trainingOptions(...); received {received(options)}.")
    if options.ObjectiveMetricName != "loss" and options.OutputNetwork == "best-validation-loss":
        raise OptionError(f"trainnet: OutputNetwork 'best-validation' with ObjectiveMetricName "
                          f"{options.ObjectiveMetricName!r} is not supported; minidl picks the network with the "
                          f"lowest validation loss (ObjectiveMetricName 'loss').")
    _check_network(given)
    loss = make_loss("trainnet", lossFcn, DataFormat)
    with computing():
        net = given.clone() if isinstance(given, dlnetwork) else dlnetwork(
            layer_array("trainnet", given, "net_or_layers"), Initialize=False)
        if not net.Initialized:
            net.initialize_in_place("trainnet")
        compiled = net.compiled_network("trainnet", NetworkOutput(loss))
        outputs = int(net.output_size()[-1])
        state = {}

        def task(Y):
            state["task"] = LossTask(loss, Y, "trainnet", outputs, options.Metrics, DataFormat,
                                     getattr(given, "class_names", None) if loss.classification else None)
            return state["task"]

        trained, info = _LossTrainer(compiled, options, _rng.generator(), DataFormat, task).train(X, T)
    result = net.clone(copy.deepcopy(list(trained.Layers)))   # editable copies, not read-only views
    if state["task"].classes is not None:
        result.class_names = state["task"].classes
    return result, info


def _check_network(given):
    """trainnet takes a dlnetwork or layers without an output layer (MATLAB refuses the
    trainNetwork kinds too): name the right call."""
    if isinstance(given, Network):
        graph = "net.Layers[:-1]" if not isinstance(given, DAGNetwork) else \
            f"removeLayers(layerGraph(net), {given.Layers[-1].Name!r})"
        raise TypeError(f"trainnet: a {type(given).__name__} (from trainNetwork) is not trained with trainnet (as in "
                        f"MATLAB); trainnet takes a dlnetwork or layers without an output layer: "
                        f"trainnet(X, T, dlnetwork({graph}), \"crossentropy\", options) keeps its weights. Or train it "
                        f"further with trainNetwork(X, Y, layerGraph(net), options).")
    layers = given if isinstance(given, dlnetwork) else layer_array("trainnet", given, "net_or_layers")
    found = [layer for layer in (layers.Layers if isinstance(layers, LayerGraph) else layers)
             if isinstance(layer, OutputLayer)]
    if found:
        named = f" {found[0].Name!r}" if found[0].Name else ""
        raise ValueError(f"trainnet: the layers hold an output layer ({type(found[0]).__name__}{named}); trainnet takes the loss as an argument instead (as in MATLAB): "
                         f"remove it, e.g. trainnet(X, T, layers[:-1], \"crossentropy\", options) (\"mse\" for "
                         f"regression), or train these layers with trainNetwork(X, Y, layers, options).")


def testnet(net, X, *args, **options):
    """``values = testnet(net, X, T, metrics)`` or ``testnet(net, ds, metrics)`` (a datastore
    whose reads carry the targets): metrics of a dlnetwork's predictions
    (inference mode) against targets T. ``metrics`` is a name or a list of names: "accuracy",
    "rmse", "fscore", "precision", "recall", or a loss ("crossentropy", "mse", ...). One name
    gives a float, several an array. Labels map to classes as in trainnet (the trained
    network's classes, else the sorted unique labels of T).

    Example::

        >>> import numpy as np, minidl
        >>> net = minidl.dlnetwork([minidl.featureInputLayer(2), minidl.softmaxLayer()])
        >>> X = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
        >>> round(minidl.testnet(net, X, ["a", "b", "b"], "accuracy"), 4)
        66.6667
    """
    net = checked_dlnetwork("testnet", net)
    if is_datastore(X):
        args = (responses(X, "testnet"), *args)
    if len(args) < 2:
        raise TypeError("testnet: call as testnet(net, X, T, metrics) or testnet(net, ds, metrics).")
    T, metrics, pairs = args[0], args[1], args[2:]
    values = parse_name_value("testnet", pairs, options, {"MiniBatchSize": 128, "DataFormat": "SSCB"})
    integer("testnet", "MiniBatchSize", values["MiniBatchSize"], maximum=math.inf)
    names = [metrics] if isinstance(metrics, str) else metrics
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"testnet: metrics must be a metric name or a list of them ({', '.join(METRICS)}, or a loss "
                        f"such as 'crossentropy'); received {received(metrics)}.")
    checked = []
    for name in names:
        lowered = name.lower()
        if lowered not in METRICS and lowered not in LOSSES and lowered not in ("mean-squared-error", "l2loss", "mae"):
            raise OptionError(f"testnet: metrics {name!r} is not a metric; use {', '.join(METRICS)} or a loss "
                              f"({', '.join(LOSSES)}).")
        checked.append(lowered)
    scores = predictions("testnet", net, X, values["MiniBatchSize"], None, values["DataFormat"])
    internal = np.ascontiguousarray(scores.transpose(FORMATS[values["DataFormat"].upper()])) if scores.ndim == 4 else scores
    classification = any(n in CLASSIFICATION or n in ("accuracy", "fscore", "precision", "recall") for n in checked)
    task_loss = make_loss("testnet", "crossentropy" if classification else "mse")
    task = LossTask(task_loss, T, "testnet", internal.shape[1], [], values["DataFormat"],
                    getattr(net, "class_names", None))
    if task.targets.shape[0] != internal.shape[0]:
        raise ValueError(f"testnet: X has {internal.shape[0]} observations but T has {task.targets.shape[0]} "
                         f"targets; they must match.")
    if task.targets.shape != internal.shape:
        raise ValueError(f"testnet: T must give one target per output (size "
                         f"{'×'.join(map(str, internal.shape))} in the internal layout); received targets of size "
                         f"{'×'.join(map(str, task.targets.shape))}.")
    results = [metric(n, internal, task.targets) if n in METRICS else make_loss("testnet", n).forward(internal, task.targets)
               for n in checked]
    return results[0] if isinstance(metrics, str) else np.array(results)
