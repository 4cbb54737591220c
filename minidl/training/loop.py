"""``trainNetwork``: MATLAB's training loop (reference §2.3 and §3).

One iteration: forward (training mode), loss, backward, L2, gradient threshold, solver
step, batch-norm statistics update, record, validate, print, OutputFcn. At the end of
each epoch: learning-rate schedule, then checkpoint. At the end: output network choice,
batch-norm finalization ('population'), final validation.
"""
import math
import os
import warnings

import numpy as np

from .. import _rng
from ..graph.dlnetwork import refuse_dlnetwork
from ..graph.inference import to_internal
from ..graph.network import build_network
from ..layers.output import ClassificationOutputLayer
from ..options import parse_name_value
from ..struct import Struct
from ..threads import computing
from . import checkpoint
from .checkpoint import HISTORY
from .data_source import ArraySource, DatastoreSource, background_workers, is_datastore, population_batches, responses
from .engine import make_engine
from .interrupt import StopOnInterrupt
from .options import TrainingOptions
from .progress import Progress, output_functions
from .solvers import make_solver, update_learnables
from .tasks import ClassificationTask, RegressionTask, check_count, check_data


def trainNetwork(*args, ResumeFrom=None, DataFormat="SSCB", CustomLayers=None):
    """``net = trainNetwork(X, Y, layers, options)`` or ``net, info = trainNetwork(...)`` (the
    network returned also unpacks as the pair (net, info), so both MATLAB forms port literally).

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
    if args and is_datastore(args[0]):                  # trainNetwork(ds, layers, options): reads carry Y
        args = (args[0], None, *args[1:])
    if len(args) > 4 and isinstance(args[4], str):     # MATLAB's 'Name', value pairs
        return trainNetwork(*args[:4], **parse_name_value("trainNetwork", args[4:], {}, dict(
            ResumeFrom=ResumeFrom, DataFormat=DataFormat, CustomLayers=CustomLayers)))
    if len(args) != 4:
        raise TypeError(f"trainNetwork: call as trainNetwork(X, Y, layers, options) or trainNetwork(ds, layers, "
                        f"options); received {len(args)} arguments.")
    X, Y, layers, options = args
    refuse_dlnetwork("trainNetwork", layers)
    if not isinstance(options, TrainingOptions):
        raise TypeError(f"trainNetwork: the last argument must come from trainingOptions(...); "
                        f"received a {type(options).__name__}.")
    _check_options_against_data(options)
    rng = _rng.generator()
    with computing():
        given = build_network(layers, rng)
        if ResumeFrom is not None:
            net, state, arrays = checkpoint.read(ResumeFrom, CustomLayers)
            checkpoint.check_layers(net, given)
            net, info = Trainer(net, options, rng, DataFormat).train(X, Y, resume=(state, arrays))
        else:
            net, info = Trainer(given, options, rng, DataFormat).train(X, Y)
    net._training_info = info      # net = trainNetwork(...) and net, info = trainNetwork(...) both work
    return net


def _check_options_against_data(options):
    if options.OutputNetwork == "best-validation-loss" and options.ValidationData is None:
        raise ValueError("trainNetwork: OutputNetwork 'best-validation-loss' needs ValidationData; give "
                         "trainingOptions(..., ValidationData=(XValidation, YValidation)).")
    if options.CheckpointPath and not os.path.isdir(options.CheckpointPath):
        raise ValueError(f"trainNetwork: CheckpointPath {options.CheckpointPath!r} is not an existing folder; "
                         f"create it first (os.makedirs) or leave CheckpointPath empty.")


STOPPED_MANUALLY = "Stopped manually (Ctrl-C)"
# Overflow and invalid operations show up as NaN or Inf, which training checks and reports
# by name (see Trainer._iteration); NumPy's warnings about them would only repeat it vaguely.
QUIET = dict(over="ignore", invalid="ignore")


class Trainer:
    """Runs one training; the only code that writes a network's state while it trains."""

    def __init__(self, net, options, rng, data_format="SSCB"):
        self.net, self.options, self.rng, self.data_format = net, options, rng, data_format
        self.output = net.output_layer
        self.moving = options.BatchNormalizationStatistics == "moving"

    owner = "trainNetwork"

    # ---- set-up ----------------------------------------------------------------------
    def make_task(self, Y):
        """What is learned, from the output layer: classification or regression."""
        if isinstance(self.output, ClassificationOutputLayer):
            return ClassificationTask(self.output, Y, self.owner)
        return RegressionTask(self.output, Y, self.owner, self.data_format)

    def _source(self, X, Y, owner, task=None):
        """The data as a source (training/data_source.py); ``task`` None makes the task from Y."""
        if is_datastore(X):
            Y = responses(X, owner)
        else:
            X = to_internal(X, self.net.input_layer, self.data_format, owner=owner)
            if task is None and isinstance(self.output, ClassificationOutputLayer):
                check_count(X, Y, owner)   # labels are one per observation, whatever the layout
        if task is None:
            self.task = self.make_task(Y)
        targets = self.task.targets if task is None else task.encode(Y, owner)
        if is_datastore(X):
            return DatastoreSource(X, targets, self.task.encode, self.net.input_layer, owner)
        check_data(X, targets, owner)
        return ArraySource(X, targets)

    def _prepare(self, X, Y, resume):
        net, options = self.net, self.options
        data = self._source(X, Y, self.owner)
        self.streaming = is_datastore(X)
        self.validation = None
        if options.ValidationData is not None:
            owner = f"{self.owner} (ValidationData)"
            given = options.ValidationData
            Xv, Yv = (given, None) if is_datastore(given) else given
            self.validation = self._source(Xv, Yv, owner, self.task)
            if (self.validation.count == 1 and len(net.input_layer.InputSize) == 1 and not self.moving
                    and net.has_state()):
                raise ValueError(f"{owner}: one validation observation is too few: during 'population' "
                                 f"training batch normalization normalizes each validation mini-batch with "
                                 f"its own statistics, which needs at least 2 observations of feature data. "
                                 f"Give more validation data or BatchNormalizationStatistics='moving'.")
        random = data.random or (self.validation is not None and self.validation.random)
        self.read_seed = int(self.rng.integers(2 ** 63)) if random else None   # data_source.py: random reads
        broken = net.non_finite()
        if broken:
            name, prop, kind = broken
            where = "the checkpoint's" if resume else "the initial"
            raise ValueError(f"{'ResumeFrom' if resume else 'trainNetwork'}: {prop} of layer {name!r} contains {kind} "
                             f"in {where} network; training needs finite values. "
                             + ("Resume from an earlier checkpoint." if resume else
                                f"Check the layer's {prop} (or its initializer) and give finite values."))
        messages = [self.engine.message]
        statistics = getattr(net.input_layer, "statistics", None)
        if resume is None and statistics is not None and (
                options.ResetInputNormalization or not net.input_layer.has_statistics()):
            with self._reader(data, population_batches(data.count, options.MiniBatchSize), 0) as reader:
                values = statistics(reader.next()[0] for _ in reader.parts)
            if values:
                messages.append("Initializing input data normalization.")
            for name, value in values.items():
                setattr(net.input_layer, name, value)
        if self.moving and resume is None:
            net.start_moving_state()
        return data, messages

    def train(self, X, Y, resume=None):
        with background_workers(self.options.DispatchInBackground) as self.pool:
            return self._train(X, Y, resume)

    def _train(self, X, Y, resume):
        options = self.options
        self.engine = make_engine(self)
        X, messages = self._prepare(X, Y, resume)
        self.engine.start(X)
        count = self.count = X.count
        batch = min(options.MiniBatchSize, count)
        per_epoch = count // batch
        total = per_epoch * options.MaxEpochs
        solver = make_solver(options)
        s = Struct(epoch=1, step=0, iteration=0, learn_rate=options.InitialLearnRate,
                   history={k: [] for k in HISTORY}, best_loss=math.inf, best_iteration=0,
                   patience=0, order=np.arange(count))
        self.record, self.best_layers = None, None
        self.probe = getattr(options, "Probe", None) and options.Probe.start(self.net, self.owner)
        if resume is not None:
            self.best_layers = checkpoint.restore(self, s, solver, *resume)
        progress = Progress(options, self.validation is not None, total, metric=self.task.metric)
        progress.start(messages)
        stop_at_start = self._output_functions(dict(State="start", Epoch=s.epoch, Iteration=s.iteration,
                                                    TimeSinceStart=0.0, BaseLearnRate=s.learn_rate))
        with StopOnInterrupt() as interrupt:
            try:
                try:
                    interrupt.raising = True  # a second Ctrl-C stops at once, from here only
                    reason = stop_at_start or self._epochs(X, s, solver, progress, batch, per_epoch, total,
                                                           interrupt)
                finally:
                    interrupt.raising = False
            except KeyboardInterrupt:
                reason = STOPPED_MANUALLY
            return self._finish(X, s, reason, progress, batch, interrupt)

    def _epochs(self, X, s, solver, progress, batch, per_epoch, total, interrupt):
        options = self.options
        while s.epoch <= options.MaxEpochs:
            if s.step == 0 and (options.Shuffle == "every-epoch" or (options.Shuffle == "once" and s.epoch == 1)):
                s.order = self.rng.permutation(X.count)
            parts = [s.order[k * batch:(k + 1) * batch] for k in range(s.step, per_epoch)]
            with self._reader(X, parts, 1, s.epoch, first=s.step) as reader:
                while s.step < per_epoch:
                    reason = self._iteration(reader, s, solver, progress, batch, total)
                    if reason is None and interrupt.presses:
                        reason = STOPPED_MANUALLY
                    if reason is not None:
                        return reason
                    if self._checkpoint_due(s, "iteration"):
                        checkpoint.write(self, s, solver)
            if options.LearnRateSchedule == "piecewise" and s.epoch % options.LearnRateDropPeriod == 0:
                s.learn_rate *= options.LearnRateDropFactor
            s.epoch, s.step = s.epoch + 1, 0
            if self._checkpoint_due(s, "epoch"):
                checkpoint.write(self, s, solver)
        return "Max epochs completed"

    def _iteration(self, reader, s, solver, progress, batch, total):
        """One MATLAB iteration; returns a stop reason, or None to go on.

        The iteration is undone (the layers get back the arrays they had before it, the
        counters and history their values) when the loss, a learnable or a state value is
        not finite, or when a second Ctrl-C lands in it: a returned network is never
        half-updated and never holds NaN or Inf."""
        before = (self.net.values(), s.step, s.iteration, self.record)
        try:
            with np.errstate(**QUIET):
                broken, loss, metric = self._update(*self.engine.batch(reader), s, solver)
            if broken is None:
                s.step, s.iteration = s.step + 1, s.iteration + 1
                record = self.record = dict(
                    Epoch=s.epoch, Iteration=s.iteration, TimeSinceStart=progress.elapsed(), TrainingLoss=loss,
                    BaseLearnRate=s.learn_rate, TrainingMetric=metric, ValidationLoss=None, ValidationMetric=None,
                    State="iteration")
                for key in HISTORY:
                    s.history[key].append(math.nan if record[key] is None else record[key])
        except (KeyboardInterrupt, SystemError) as error:
            self._undo(s, before)
            # Ctrl-C landing as a Numba kernel returns reaches Python as "SystemError: ...
            # returned a result with an exception set", the KeyboardInterrupt as its cause.
            if isinstance(error, SystemError) and not isinstance(error.__cause__ or error.__context__,
                                                                 KeyboardInterrupt):
                raise
            raise KeyboardInterrupt from None
        if broken:
            self._undo(s, before)
            warnings.warn(f"trainNetwork stopped training: {broken}; the network of iteration {s.iteration} (the "
                          f"last finite one) is returned. Try a smaller InitialLearnRate, a GradientThreshold, or "
                          f"inputs of a smaller scale.", RuntimeWarning, stacklevel=5)
            return broken
        reason = None
        if self.validation is not None and (s.iteration == 1 or s.iteration == total
                                            or s.iteration % self.options.ValidationFrequency == 0):
            reason = self._validate_during_training(s, record)
        progress.iteration(record, reader.rate() if self.streaming else None)
        return self._output_functions(record) or reason

    def _update(self, X, T, s, solver):
        """Forward, loss, backward, solver step, 'moving' state: (what became non-finite or
        None, loss, metric)."""
        net, engine = self.net, self.engine
        probed = self.probe.measure(net, X, T, s.iteration + 1, engine.whole_batch) if self.probe is not None else None
        loss, scores, trace = engine.forward_loss(X, T)
        if not math.isfinite(loss):
            return f"Training loss is {loss} at iteration {s.iteration + 1}", loss, None
        metric = self.task.measure(scores, T)
        update_learnables(net, engine.gradients(trace), solver, self.options, s.learn_rate)
        if self.moving:
            engine.commit_state(trace)
        culprit = net.non_finite()
        if culprit:
            name, prop, kind = culprit
            return f"{prop} of layer {name!r} became {kind} at iteration {s.iteration + 1}", loss, metric
        if probed is not None:
            self.probe.commit(probed, net)
        return None, loss, metric

    def _undo(self, s, before):
        values, s.step, s.iteration, self.record = before
        self.net.set_values(values)
        for key in HISTORY:
            del s.history[key][s.iteration:]

    def _validate_during_training(self, s, record):
        """Validate, track the best loss and the patience counter; returns a stop reason or None."""
        self._record_validation(s, record, self.validate(batch_statistics=not self.moving))
        if record["ValidationLoss"] < s.best_loss:
            s.best_loss, s.best_iteration, s.patience = record["ValidationLoss"], s.iteration, 0
            if self.options.OutputNetwork == "best-validation-loss":
                self.best_layers = self.net.snapshot()
            return None
        s.patience += 1
        return "Met validation criterion" if s.patience >= self.options.ValidationPatience else None

    @staticmethod
    def _record_validation(s, record, result):
        record["ValidationLoss"], record["ValidationMetric"] = result
        s.history["ValidationLoss"][-1], s.history["ValidationMetric"][-1] = result

    # ---- end of training ---------------------------------------------------------------
    def _finish(self, X, s, reason, progress, batch, interrupt):
        """Output network, 'population' statistics, final validation, OutputFcn 'done'. From
        here on Ctrl-C never raises: it only cuts the 'population' pass short."""
        net, options, record = self.net, self.options, self.record
        if self.validation is not None and record is not None and record["ValidationLoss"] is None:
            # MATLAB validates at the finish when the last iteration did not (an early stop).
            self._record_validation(s, record, self.validate(batch_statistics=not self.moving))
            if record["ValidationLoss"] < s.best_loss:
                s.best_loss, s.best_iteration = record["ValidationLoss"], s.iteration
                if options.OutputNetwork == "best-validation-loss":
                    self.best_layers = net.snapshot()
        output_iteration = s.iteration
        if options.OutputNetwork == "best-validation-loss" and self.best_layers is not None:
            net.restore(self.best_layers)
            output_iteration = s.best_iteration
        finalized = True
        if not self.moving and net.has_state():
            reason, finalized = self._population_pass(X, s, batch, reason, interrupt)
        metric = self.task.metric
        info = Struct()
        for key in HISTORY:
            if self.validation is None and key.startswith("Validation"):
                continue
            info[key.replace("Metric", metric)] = np.asarray(s.history[key], dtype=np.float64)
        if self.validation is not None:
            info.FinalValidationLoss, info["FinalValidation" + metric] = (
                self.validate() if finalized else (math.nan, math.nan))
        info.OutputNetworkIteration = output_iteration
        info.StopReason = reason
        if self.probe is not None:
            info.Probe = self.probe.result(s.iteration)
        progress.finish(record, reason)
        self._output_functions(dict(record or {}, State="done", TimeSinceStart=progress.elapsed()))
        return net, info

    def _population_pass(self, X, s, batch, reason, interrupt):
        """One more training-mode pass, in the last shuffle's order (MATLAB's dispatcher);
        returns (stop reason, whether the network has its statistics)."""
        net, batches = self.net, population_batches(X.count, batch)
        before, presses, done = net.values(), interrupt.presses, []

        def until_interrupted():
            for part in batches:
                yield part
                done.append(part)
                if interrupt.presses > presses:
                    return

        with np.errstate(**QUIET), self._reader(X, [s.order[part] for part in batches], 3) as reader:
            self.engine.commit_population_state(reader, s.order, until_interrupted())
        culprit = net.non_finite()
        if culprit:
            net.set_values(before)
            name, prop, kind = culprit
            problem = f"{prop} of layer {name!r} became {kind} in the final 'population' statistics pass"
            warnings.warn(f"trainNetwork: {problem}, so the network keeps the statistics it had before the pass and "
                          f"cannot predict unless it had some. The activations exceed float32 there: scale the "
                          f"inputs down, or use a smaller InitialLearnRate.", RuntimeWarning, stacklevel=5)
            return f"{reason}; {problem}", all(v is not None for v in net.values().values())
        if len(done) < len(batches):
            observations = sum(part.stop - part.start for part in done)
            problem = (f"'population' statistics pass stopped manually after {len(done)} of {len(batches)} "
                       f"mini-batches")
            warnings.warn(f"trainNetwork: {problem}: the batch-normalization statistics come from {observations} of "
                          f"{X.count} training observations.", RuntimeWarning, stacklevel=5)
            return f"{reason}; {problem}", True
        return reason, True

    def _reader(self, data, parts, *tag, first=0):
        """A reader of ``parts``; random datastores get one seed per mini-batch (data_source.py)."""
        seeds = None if self.read_seed is None else [(self.read_seed, *tag, first + k) for k in range(len(parts))]
        return data.reader(parts, self.pool, seeds)

    def validate(self, batch_statistics=False):
        """(loss, metric) over every validation observation ('truncateLast' mini-batches).

        While 'population' training runs, batch-norm layers normalize each validation
        mini-batch with its own statistics, as MATLAB does; afterwards they use the final ones.
        """
        data = self.validation
        total_loss, scores_all, targets = 0.0, [], []
        parts = population_batches(data.count, min(self.options.MiniBatchSize, data.count))
        with np.errstate(**QUIET), self._reader(data, parts, 2, self.record["Iteration"] if self.record else 0) as reader:
            for _ in parts:
                X, T = reader.next()
                scores = self.net.predict_internal(X, batch_statistics=batch_statistics)
                total_loss += self.output.forwardLoss(scores, T) * T.shape[0]
                scores_all.append(scores)
                targets.append(T)
            T = np.concatenate(targets)
            return total_loss / T.shape[0], self.task.measure(np.concatenate(scores_all), T)

    def _output_functions(self, record):
        return output_functions(self.options.OutputFcn, record, self.task.metric)

    # ---- checkpoints ---------------------------------------------------------------------
    def _checkpoint_due(self, s, unit):
        options = self.options
        if not options.CheckpointPath or options.CheckpointFrequencyUnit != unit:
            return False
        counter = s.iteration if unit == "iteration" else s.epoch - 1
        return counter > 0 and counter % options.CheckpointFrequency == 0
