"""``trainNetwork``: MATLAB's training loop (reference §2.3 and §3).

One iteration: forward (training mode), loss, backward, L2, gradient threshold, solver
step, batch-norm statistics update, record, validate, print, OutputFcn. At the end of
each epoch: learning-rate schedule, then checkpoint. At the end: output network choice,
batch-norm finalization ('population'), final validation.
"""
import datetime
import math
import os
import signal
import threading
import warnings

import numpy as np

from .. import _rng
from ..graph.inference import to_internal
from ..graph.network import build_network
from ..io.files import load_checkpoint, save_checkpoint
from ..layers.output import ClassificationOutputLayer
from ..struct import Struct
from .options import TrainingOptions
from .progress import Progress
from .tasks import ClassificationTask, RegressionTask, check_data
from ..threads import computing
from .solvers import make_solver, restore_solver_state, solver_state, update_learnables


def trainNetwork(*args, ResumeFrom=None, DataFormat="SSCB", CustomLayers=None):
    """``net, info = trainNetwork(X, Y, layers, options)``.

    X is H×W×C×N (images) or N×C (features); Y has one label per observation
    (classification) or one row of responses (regression). ``layers`` is a list of layers
    (the result is a SeriesNetwork). Iterations per epoch = floor(N / MiniBatchSize): the
    last partial mini-batch of each epoch is dropped, as in MATLAB. ``info`` has MATLAB's
    fields: TrainingLoss, TrainingAccuracy (or TrainingRMSE), ValidationLoss,
    ValidationAccuracy (or ValidationRMSE), BaseLearnRate, FinalValidationLoss,
    FinalValidationAccuracy (or FinalValidationRMSE), OutputNetworkIteration, and
    StopReason. ``ResumeFrom`` (a minidl extension) continues from a checkpoint file
    written under ``CheckpointPath``, bit for bit as if never interrupted. ``DataFormat``
    'BCSS' (N×C×H×W) or 'BSSC' (N×H×W×C) takes NumPy-native image arrays, for X and
    ValidationData alike.

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
    _check_options_against_data(options)
    rng = _rng.generator()
    with computing():
        if ResumeFrom is not None:
            net, state, arrays = load_checkpoint(ResumeFrom, CustomLayers)
            return Trainer(net, options, rng, DataFormat).train(X, Y, resume=(state, arrays))
        return Trainer(build_network(layers, rng), options, rng, DataFormat).train(X, Y)


def _check_options_against_data(options):
    if options.OutputNetwork == "best-validation-loss" and options.ValidationData is None:
        raise ValueError("trainNetwork: OutputNetwork 'best-validation-loss' needs ValidationData; give "
                         "trainingOptions(..., ValidationData=(XValidation, YValidation)).")
    if options.CheckpointPath and not os.path.isdir(options.CheckpointPath):
        raise ValueError(f"trainNetwork: CheckpointPath {options.CheckpointPath!r} is not an existing folder; "
                         f"create it first (os.makedirs) or leave CheckpointPath empty.")


STOPPED_MANUALLY = "Stopped manually (Ctrl-C)"
HISTORY = ("TrainingLoss", "TrainingMetric", "ValidationLoss", "ValidationMetric", "BaseLearnRate")


class Trainer:
    """Runs one training; the only code that writes a network's state while it trains."""

    def __init__(self, net, options, rng, data_format="SSCB"):
        self.net, self.options, self.rng, self.data_format = net, options, rng, data_format
        self.output = net.output_layer
        self.moving = options.BatchNormalizationStatistics == "moving"

    # ---- set-up ----------------------------------------------------------------------
    def _prepare(self, X, Y, resume):
        net, options = self.net, self.options
        X = to_internal(X, net.input_layer, self.data_format, owner="trainNetwork")
        if isinstance(self.output, ClassificationOutputLayer):
            self.task = ClassificationTask(self.output, Y, "trainNetwork")
        else:
            self.task = RegressionTask(self.output, Y, "trainNetwork", self.data_format)
        check_data(X, self.task.targets, "trainNetwork")
        self.validation = None
        if options.ValidationData is not None:
            owner = "trainNetwork (ValidationData)"
            Xv = to_internal(options.ValidationData[0], net.input_layer, self.data_format, owner=owner)
            Tv = self.task.encode(options.ValidationData[1], owner)
            check_data(Xv, Tv, owner)
            if (Xv.shape[0] == 1 and Xv.ndim == 2 and not self.moving
                    and net.has_state()):
                raise ValueError(f"{owner}: one validation observation is too few: during 'population' "
                                 f"training batch normalization normalizes each validation mini-batch with "
                                 f"its own statistics, which needs at least 2 observations of feature data. "
                                 f"Give more validation data or BatchNormalizationStatistics='moving'.")
            self.validation = (Xv, Tv)
        messages = ["Training on single CPU."]
        statistics = getattr(net.input_layer, "statistics", None)
        if resume is None and statistics is not None and (
                options.ResetInputNormalization or not net.input_layer.has_statistics()):
            values = statistics(X)
            if values:
                messages.append("Initializing input data normalization.")
            for name, value in values.items():
                setattr(net.input_layer, name, value)
        if self.moving and resume is None:
            net.start_moving_state()
        return X, messages

    def train(self, X, Y, resume=None):
        options = self.options
        X, messages = self._prepare(X, Y, resume)
        count = self.count = X.shape[0]
        batch = min(options.MiniBatchSize, count)
        per_epoch = count // batch
        total = per_epoch * options.MaxEpochs
        solver = make_solver(options)
        s = Struct(epoch=1, step=0, iteration=0, learn_rate=options.InitialLearnRate,
                   history={k: [] for k in HISTORY}, best_loss=math.inf, best_iteration=0,
                   patience=0, order=np.arange(count))
        best_layers = None
        if resume is not None:
            best_layers = self._restore(s, solver, *resume)
        progress = Progress(options, self.validation is not None, total, metric=self.task.metric)
        progress.start(messages)
        stop_at_start = self._output_functions(dict(State="start", Epoch=s.epoch, Iteration=s.iteration,
                                                    TimeSinceStart=0.0, BaseLearnRate=s.learn_rate))
        self.record, self.best_layers = None, best_layers
        with _StopOnInterrupt() as interrupt:
            try:
                if stop_at_start:
                    reason = "Stopped by OutputFcn"
                else:
                    reason = self._epochs(X, s, solver, progress, batch, per_epoch, total, interrupt)
            except KeyboardInterrupt:
                reason = STOPPED_MANUALLY
        return self._finish(X, s, reason, progress, batch)

    def _epochs(self, X, s, solver, progress, batch, per_epoch, total, interrupt):
        options = self.options
        while s.epoch <= options.MaxEpochs:
            if s.step == 0 and (options.Shuffle == "every-epoch" or (options.Shuffle == "once" and s.epoch == 1)):
                s.order = self.rng.permutation(X.shape[0])
            while s.step < per_epoch:
                reason = self._iteration(X, s, solver, progress, batch, total)
                if reason is None and interrupt.requested:
                    reason = STOPPED_MANUALLY
                if reason is not None:
                    return reason
                if self._checkpoint_due(s, "iteration"):
                    self._save_checkpoint(s, solver)
            if options.LearnRateSchedule == "piecewise" and s.epoch % options.LearnRateDropPeriod == 0:
                s.learn_rate *= options.LearnRateDropFactor
            s.epoch, s.step = s.epoch + 1, 0
            if self._checkpoint_due(s, "epoch"):
                self._save_checkpoint(s, solver)
        return "Max epochs completed"

    def _iteration(self, X, s, solver, progress, batch, total):
        """One MATLAB iteration; returns a stop reason, or None to go on."""
        net, options, targets = self.net, self.options, self.task.targets
        indices = s.order[s.step * batch:(s.step + 1) * batch]
        loss, scores, trace = net.forward_loss(X[indices], targets[indices])
        if not math.isfinite(loss):
            warnings.warn(f"trainNetwork: training stopped because the loss is {loss} at iteration "
                          f"{s.iteration + 1}; the network of iteration {s.iteration} is returned. Try a "
                          f"smaller InitialLearnRate or a GradientThreshold.", RuntimeWarning, stacklevel=4)
            return f"Training loss is {loss} at iteration {s.iteration + 1}"
        grads = net.backward(trace)
        update_learnables(net, grads, solver, options, s.learn_rate)
        if self.moving:
            net.commit_state(trace)
        s.step += 1
        s.iteration += 1
        record = self.record = dict(
            Epoch=s.epoch, Iteration=s.iteration, TimeSinceStart=progress.elapsed(), TrainingLoss=loss,
            BaseLearnRate=s.learn_rate, TrainingMetric=self.task.measure(scores, targets[indices]),
            ValidationLoss=None, ValidationMetric=None, State="iteration")
        reason = None
        if self.validation is not None and (s.iteration == 1 or s.iteration == total
                                            or s.iteration % options.ValidationFrequency == 0):
            reason = self._validate_during_training(s, record)
        for key in HISTORY:
            s.history[key].append(math.nan if record[key] is None else record[key])
        progress.iteration(record)
        if self._output_functions(record):
            reason = "Stopped by OutputFcn"
        return reason

    def _validate_during_training(self, s, record):
        """Validate, track the best loss and the patience counter; returns a stop reason or None."""
        record["ValidationLoss"], record["ValidationMetric"] = self.validate(batch_statistics=not self.moving)
        if record["ValidationLoss"] < s.best_loss:
            s.best_loss, s.best_iteration, s.patience = record["ValidationLoss"], s.iteration, 0
            if self.options.OutputNetwork == "best-validation-loss":
                self.best_layers = self.net.snapshot()
            return None
        s.patience += 1
        return "Met validation criterion" if s.patience >= self.options.ValidationPatience else None

    # ---- end of training ---------------------------------------------------------------
    def _finish(self, X, s, reason, progress, batch):
        net, options, record = self.net, self.options, self.record
        if self.validation is not None and record is not None and record["ValidationLoss"] is None:
            # MATLAB validates at the finish when the last iteration did not (an early stop).
            record["ValidationLoss"], record["ValidationMetric"] = self.validate(batch_statistics=not self.moving)
            s.history["ValidationLoss"][-1] = record["ValidationLoss"]
            s.history["ValidationMetric"][-1] = record["ValidationMetric"]
            if record["ValidationLoss"] < s.best_loss:
                s.best_loss, s.best_iteration = record["ValidationLoss"], s.iteration
                if options.OutputNetwork == "best-validation-loss":
                    self.best_layers = net.snapshot()
        output_iteration = s.iteration
        if options.OutputNetwork == "best-validation-loss" and self.best_layers is not None:
            net.restore(self.best_layers)
            output_iteration = s.best_iteration
        if not self.moving:
            # One more training-mode pass, in the last shuffle's order (MATLAB's dispatcher).
            net.commit_population_state(X[s.order], population_batches(X.shape[0], batch))
        metric = self.task.metric
        info = Struct()
        for key in HISTORY:
            if self.validation is None and key.startswith("Validation"):
                continue
            info[key.replace("Metric", metric)] = np.asarray(s.history[key], dtype=np.float64)
        if self.validation is not None:
            info.FinalValidationLoss, info["FinalValidation" + metric] = self.validate()
        info.OutputNetworkIteration = output_iteration
        info.StopReason = reason
        progress.finish(record, reason)
        self._output_functions(dict(record or {}, State="done", TimeSinceStart=progress.elapsed()))
        return net, info

    def validate(self, batch_statistics=False):
        """(loss, metric) over every validation observation ('truncateLast' mini-batches).

        While 'population' training runs, batch-norm layers normalize each validation
        mini-batch with its own statistics, as MATLAB does; afterwards they use the final ones.
        """
        X, T = self.validation
        total_loss, scores_all = 0.0, []
        size = min(self.options.MiniBatchSize, X.shape[0])
        for part in population_batches(X.shape[0], size):
            scores = self.net.predict_internal(X[part], batch_statistics=batch_statistics)
            total_loss += self.output.forwardLoss(scores, T[part]) * (part.stop - part.start)
            scores_all.append(scores)
        return total_loss / X.shape[0], self.task.measure(np.concatenate(scores_all), T)

    def _output_functions(self, record):
        metric = self.task.metric
        info = Struct({key: None for key in (
            "Epoch", "Iteration", "TimeSinceStart", "TrainingLoss", "ValidationLoss", "BaseLearnRate",
            "TrainingAccuracy", "TrainingRMSE", "ValidationAccuracy", "ValidationRMSE", "State")})
        for key, value in record.items():
            key = key.replace("Metric", metric)
            if key in info:
                info[key] = value
        stop = False
        for function in self.options.OutputFcn or []:
            result = function(info)
            # A logical or numeric true stops training; anything else (None, a plot handle) does not.
            if isinstance(result, (bool, np.bool_, int, float, np.number)) and bool(result):
                stop = True
        return stop

    # ---- checkpoints ---------------------------------------------------------------------
    def _checkpoint_due(self, s, unit):
        options = self.options
        if not options.CheckpointPath or options.CheckpointFrequencyUnit != unit:
            return False
        counter = s.iteration if unit == "iteration" else s.epoch - 1
        return counter > 0 and counter % options.CheckpointFrequency == 0

    def _save_checkpoint(self, s, solver):
        best_layers = self.best_layers
        folder = self.options.CheckpointPath
        stamp = datetime.datetime.now().strftime("%Y_%m_%d__%H_%M_%S")
        filename = os.path.join(folder, f"convnet_checkpoint__{s.iteration}__{stamp}.npz")
        scalars, arrays = solver_state(solver)
        arrays["order"] = s.order
        for key, values in s.history.items():
            arrays["history." + key] = np.asarray(values, dtype=np.float64)
        state = {"solver": self.options.SolverName, "solver_scalars": scalars, "epoch": s.epoch, "step": s.step,
                 "iteration": s.iteration, "learn_rate": s.learn_rate, "best_loss": s.best_loss,
                 "best_iteration": s.best_iteration, "patience": s.patience,
                 "rng": self.rng.bit_generator.state, "has_best_layers": best_layers is not None}
        if best_layers is not None:
            from ..io.format import layers_to_archive
            state["best_layers"] = layers_to_archive(best_layers, arrays, prefix="best.L")
        try:
            save_checkpoint(filename, self.net, state, arrays)
        except (OSError, ValueError) as error:
            warnings.warn(f"trainNetwork: could not write checkpoint {filename!r} ({error}); training continues.",
                          RuntimeWarning, stacklevel=3)

    def _restore(self, s, solver, state, arrays):
        if state["solver"] != self.options.SolverName:
            raise ValueError(f"trainNetwork: the checkpoint was trained with {state['solver']!r} but the options "
                             f"use {self.options.SolverName!r}; resume with the same solver.")
        restore_solver_state(solver, state["solver_scalars"],
                             {k: v for k, v in arrays.items() if k.split(".")[0] in vars(solver)})
        if len(arrays["order"]) != self.count:
            raise ValueError(f"trainNetwork: the checkpoint was trained on {len(arrays['order'])} observations "
                             f"but X has {self.count}; resume with the same training data.")
        s.order = arrays["order"]
        s.history = {key: arrays["history." + key].tolist() for key in HISTORY}
        for key in ("epoch", "step", "iteration", "learn_rate", "best_loss", "best_iteration", "patience"):
            s[key] = state[key]
        self.rng.bit_generator.state = state["rng"]
        if state.get("has_best_layers"):
            from ..io.format import layers_from_archive
            return layers_from_archive(state["best_layers"], arrays)
        return None


def population_batches(count, size):
    """'truncateLast' mini-batches; a last batch of one observation joins the one before,
    so that batch normalization always sees at least two observations when it can."""
    starts = list(range(0, count, size))
    if len(starts) > 1 and count - starts[-1] == 1:
        starts.pop()
    ends = starts[1:] + [count]
    return [slice(s, e) for s, e in zip(starts, ends)]


class _StopOnInterrupt:
    """The first Ctrl-C asks training to stop after the current iteration (so no layer is left
    half-updated); a second one interrupts at once. Only the main thread can install it."""

    def __enter__(self):
        self.requested, self.previous = False, None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False
