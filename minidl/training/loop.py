"""``trainNetwork``: MATLAB's training loop (reference §2.3 and §3)."""
import copy
import math

import numpy as np

from .. import _rng
from ..graph.network import SeriesNetwork, prepare_layers, to_internal
from ..layers.base import Layer
from ..layers.output import ClassificationOutputLayer
from . import bn_statistics
from .options import TrainingOptions
from .progress import Progress
from .solvers import make_solver, update_learnables


class Struct(dict):
    """A dict whose keys read as attributes, like a MATLAB struct (``info.TrainingLoss``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


def encode_labels(Y, owner, classes=None):
    """Labels → (classes, indices). Classes are the sorted unique labels (MATLAB's categories)."""
    Y = np.asarray(Y)
    if Y.ndim == 2 and 1 in Y.shape:
        Y = Y.reshape(-1)
    if Y.ndim != 1:
        raise ValueError(f"{owner}: classification labels must be a vector with one label per "
                         f"observation; received an array of size {'×'.join(map(str, Y.shape))}.")
    if classes is None:
        classes = np.unique(Y)
    indices = np.searchsorted(classes, Y)
    indices = np.clip(indices, 0, len(classes) - 1)
    unknown = classes[indices] != Y
    if np.any(unknown):
        raise ValueError(f"{owner}: labels {sorted(set(Y[unknown].tolist()))[:5]} do not occur in the "
                         f"training labels (classes {classes.tolist()[:10]}). Validation labels must use "
                         f"the training classes.")
    return classes, indices


def one_hot(indices, count):
    T = np.zeros((len(indices), count), np.float32)
    T[np.arange(len(indices)), indices] = 1
    return T


def _check_data(X, count, owner):
    if X.shape[0] != count:
        raise ValueError(f"{owner}: X has {X.shape[0]} observations but Y has {count} labels; "
                         f"they must match (observations are the last dimension of X).")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{owner}: X contains NaN or Inf values; remove or replace them before training.")


def trainNetwork(*args):
    """``net, info = trainNetwork(X, Y, layers, options)``.

    X is H×W×C×N (images) or N×C (features); Y has one label per observation. ``layers`` is a
    list of layers (the result is a SeriesNetwork). Each iteration: forward in training mode,
    loss, backward, L2, gradient threshold, solver step, batch-norm statistics update;
    iterations per epoch = floor(N / MiniBatchSize) (the last partial batch is dropped).
    ``info`` has MATLAB's fields: TrainingLoss, TrainingAccuracy, ValidationLoss,
    ValidationAccuracy, BaseLearnRate, FinalValidationLoss, FinalValidationAccuracy,
    OutputNetworkIteration.

    Example::

        >>> import numpy as np, minidl
        >>> minidl.rng(0)
        >>> X = np.random.default_rng(0).random((6, 6, 1, 64)).astype(np.float32)
        >>> Y = (X.mean(axis=(0, 1, 2)) > 0.5).astype(int)
        >>> layers = [minidl.imageInputLayer([6, 6, 1]), minidl.fullyConnectedLayer(2),
        ...           minidl.softmaxLayer(), minidl.classificationLayer()]
        >>> options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=16, Verbose=False)
        >>> net, info = minidl.trainNetwork(X, Y, layers, options)
        >>> len(info.TrainingLoss)
        8
    """
    if len(args) != 4:
        raise TypeError(f"trainNetwork: call as trainNetwork(X, Y, layers, options); received "
                        f"{len(args)} arguments.")
    X, Y, layers, options = args
    if not isinstance(options, TrainingOptions):
        raise TypeError(f"trainNetwork: the last argument must come from trainingOptions(...); "
                        f"received a {type(options).__name__}.")
    if not (isinstance(layers, Layer) or isinstance(layers, (list, tuple))):
        raise TypeError(f"trainNetwork: layers must be a list of layers; received a {type(layers).__name__}.")
    rng = _rng.generator()
    net = SeriesNetwork(prepare_layers(layers, rng))
    return Trainer(net, options, rng).train(X, Y)


class Trainer:
    """Runs one training; the only code that writes a network's state while it trains."""

    def __init__(self, net, options, rng):
        self.net, self.options, self.rng = net, options, rng
        self.output = net.output_layer
        if not isinstance(self.output, ClassificationOutputLayer):
            raise NotImplementedError("trainNetwork: only classification networks are supported so far.")

    def train(self, X, Y):
        net, options = self.net, self.options
        X = to_internal(X, net.input_layer, owner="trainNetwork")
        classes, labels = encode_labels(Y, "trainNetwork")
        _check_data(X, len(labels), "trainNetwork")
        self.output.Classes = classes
        if len(classes) != self.output.OutputSize:
            raise ValueError(f"trainNetwork: the data has {len(classes)} classes but the network "
                             f"outputs {self.output.OutputSize} scores ({net.Layers[-3].Name}). Make "
                             f"the last fullyConnectedLayer's OutputSize {len(classes)}.")
        T = one_hot(labels, len(classes))
        validation = self._validation_data(classes)
        messages = ["Training on single CPU."]
        if options.ResetInputNormalization or getattr(net.input_layer, "Mean", 1) is None:
            if net.input_layer.Normalization != "none":
                messages.append("Initializing input data normalization.")
            for name, value in net.input_layer.statistics(X).items():
                setattr(net.input_layer, name, value)
        moving = options.BatchNormalizationStatistics == "moving"
        if moving:
            bn_statistics.start_moving(net.Layers)

        count = X.shape[0]
        batch = min(options.MiniBatchSize, count)
        per_epoch = count // batch
        total = per_epoch * options.MaxEpochs
        solver = make_solver(options)
        learn_rate = options.InitialLearnRate
        history = {k: [] for k in ("TrainingLoss", "TrainingAccuracy", "ValidationLoss",
                                   "ValidationAccuracy", "BaseLearnRate")}
        progress = Progress(options, validation is not None, total)
        progress.start(messages)
        self._call_output_functions(dict(State="start", Epoch=0, Iteration=0,
                                         TimeSinceStart=progress.elapsed(), BaseLearnRate=learn_rate))
        order = np.arange(count)
        iteration, record, reason = 0, None, "Max epochs completed"
        best = (math.inf, None, 0)
        patience_count = 0
        stop = False
        try:
            for epoch in range(1, options.MaxEpochs + 1):
                if options.Shuffle == "every-epoch" or (options.Shuffle == "once" and epoch == 1):
                    order = self.rng.permutation(count)
                for step in range(per_epoch):
                    indices = order[step * batch:(step + 1) * batch]
                    scores, memories = net.forward_train(X[indices])
                    loss = self.output.forwardLoss(scores, T[indices])
                    if not math.isfinite(loss):
                        reason = f"Training loss is {loss} at iteration {iteration + 1}"
                        stop = True
                        break
                    grads = net.backward(self.output.backwardLoss(scores, T[indices]), memories)
                    update_learnables(net.Layers, grads, solver, options, learn_rate)
                    if moving:
                        bn_statistics.update_moving(net.Layers, memories)
                    iteration += 1
                    record = dict(Epoch=epoch, Iteration=iteration, TimeSinceStart=progress.elapsed(),
                                  TrainingLoss=loss, BaseLearnRate=learn_rate,
                                  TrainingAccuracy=100.0 * float(np.mean(scores.argmax(1) == labels[indices])),
                                  ValidationLoss=None, ValidationAccuracy=None, State="iteration")
                    if validation is not None and (iteration == 1 or iteration % options.ValidationFrequency == 0
                                                   or iteration == total):
                        record["ValidationLoss"], record["ValidationAccuracy"] = self._validate(
                            *validation, batch_statistics=not moving)
                        if record["ValidationLoss"] < best[0]:
                            snapshot = copy.deepcopy(net.Layers) if options.OutputNetwork == "best-validation-loss" else None
                            best, patience_count = (record["ValidationLoss"], snapshot, iteration), 0
                        else:
                            patience_count += 1
                            if patience_count >= options.ValidationPatience:
                                reason, stop = "Met validation criterion", True
                    for key in history:
                        value = record[key]
                        history[key].append(math.nan if value is None else value)
                    progress.iteration(record)
                    if self._call_output_functions(record):
                        reason, stop = "Stopped by OutputFcn", True
                    if stop:
                        break
                if stop:
                    break
                if options.LearnRateSchedule == "piecewise" and epoch % options.LearnRateDropPeriod == 0:
                    learn_rate *= options.LearnRateDropFactor
        except KeyboardInterrupt:
            reason = "Stopped manually (Ctrl-C)"

        output_iteration = iteration
        if options.OutputNetwork == "best-validation-loss" and best[1] is not None:
            net.Layers[:] = best[1]
            output_iteration = best[2]
        if not moving:
            bn_statistics.finalize_population(net, X, batch)
        info = Struct({key: np.asarray(values, dtype=np.float64) for key, values in history.items()})
        if validation is None:
            del info["ValidationLoss"], info["ValidationAccuracy"]
        else:
            info.FinalValidationLoss, info.FinalValidationAccuracy = self._validate(*validation)
        info.OutputNetworkIteration = output_iteration
        progress.finish(record, reason)
        self._call_output_functions(dict(record or {}, State="done", TimeSinceStart=progress.elapsed()))
        return net, info

    def _validation_data(self, classes):
        data = self.options.ValidationData
        if data is None:
            return None
        Xv = to_internal(data[0], self.net.input_layer, owner="trainNetwork (ValidationData)")
        _, labels = encode_labels(data[1], "trainNetwork (ValidationData)", classes)
        _check_data(Xv, len(labels), "trainNetwork (ValidationData)")
        return Xv, labels

    def _validate(self, X, labels, batch_statistics=False):
        """(loss, accuracy %) over every validation observation ('truncateLast' mini-batches).

        While 'population' training runs, batch-norm layers normalize each validation
        mini-batch with its own statistics, as MATLAB does; afterwards they use the final ones.
        """
        total_loss, correct = 0.0, 0
        classes = len(self.output.Classes)
        for batch in bn_statistics.population_batches(X.shape[0], min(self.options.MiniBatchSize, X.shape[0])):
            scores = self.net.predict_internal(X[batch], batch_statistics=batch_statistics)
            size = batch.stop - batch.start
            total_loss += self.output.forwardLoss(scores, one_hot(labels[batch], classes)) * size
            correct += int(np.sum(scores.argmax(1) == labels[batch]))
        return total_loss / X.shape[0], 100.0 * correct / X.shape[0]

    def _call_output_functions(self, record):
        functions = self.options.OutputFcn or []
        info = Struct({key: record.get(key) for key in (
            "Epoch", "Iteration", "TimeSinceStart", "TrainingLoss", "ValidationLoss", "BaseLearnRate",
            "TrainingAccuracy", "TrainingRMSE", "ValidationAccuracy", "ValidationRMSE", "State")})
        stop = False
        for function in functions:
            stop = bool(function(info)) or stop
        return stop
