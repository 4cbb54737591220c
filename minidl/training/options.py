"""``trainingOptions``: MATLAB's training options, defaults and validation."""
import math

import numpy as np

from ..data.datastore import Datastore
from ..layers.display import matlab_value
from ..options import OptionError, choice, parse_name_value, received
from .losses import metric_names
from .probe import TrainingProbe

SOLVERS = ("sgdm", "adam", "rmsprop")

_COMMON = {
    "InitialLearnRate": None, "LearnRateSchedule": "none", "LearnRateDropFactor": 0.1,
    "LearnRateDropPeriod": 10, "L2Regularization": 1e-4, "GradientThresholdMethod": "l2norm",
    "GradientThreshold": math.inf, "MaxEpochs": 30, "MiniBatchSize": 128, "Shuffle": "once",
    "ValidationData": None, "ValidationFrequency": 50, "ValidationPatience": math.inf,
    "Verbose": True, "VerboseFrequency": 50, "Plots": "none", "OutputNetwork": "last-iteration",
    "BatchNormalizationStatistics": "population", "ResetInputNormalization": True,
    "CheckpointPath": "", "CheckpointFrequency": 1, "CheckpointFrequencyUnit": "epoch",
    "ExecutionEnvironment": "auto", "OutputFcn": None,
    # trainnet (R2024a+): metrics recorded and shown besides the loss, and the one that
    # OutputNetwork 'best-validation' would optimize ('loss' only, here).
    "Metrics": None, "ObjectiveMetricName": "loss",
    # Read datastores on background threads (training/data_source.py); PreprocessingEnvironment
    # 'background' is the newer spelling of DispatchInBackground=true.
    "DispatchInBackground": False, "PreprocessingEnvironment": "serial",
    # ExecutionEnvironment 'parallel' (minidl.parallel): shares of the mini-batch per worker.
    "WorkerLoad": None,
    # minidl (ExecutionEnvironment 'parallel'): batch normalization with the statistics of the
    # whole mini-batch, synchronized across the workers (docs/parallel.md).
    "SynchronizeBatchNormalization": False,
    # minidl: a trainingProbe records per-layer statistics during training (info.Probe).
    "Probe": None,
    # Accepted so that MATLAB code runs unchanged; they do not apply here (no sequences),
    # so they have no effect.
    "SequenceLength": "longest", "SequencePaddingValue": 0, "SequencePaddingDirection": "right",
}
_SOLVER_SPECIFIC = {
    "sgdm": {"Momentum": 0.9},
    "adam": {"GradientDecayFactor": 0.9, "SquaredGradientDecayFactor": 0.999, "Epsilon": 1e-8},
    "rmsprop": {"SquaredGradientDecayFactor": 0.9, "Epsilon": 1e-8},
}
_DEFAULT_LEARN_RATE = {"sgdm": 0.01, "adam": 0.001, "rmsprop": 0.001}


class TrainingOptions:
    """Options for :func:`trainNetwork`; build with :func:`trainingOptions`.

    Attributes carry MATLAB's option names; ``SolverName`` is 'sgdm', 'adam' or 'rmsprop'.
    """

    def __init__(self, solver, values):
        self.SolverName = solver
        for name, value in values.items():
            setattr(self, name, value)

    def __str__(self):
        """MATLAB's property display (``print(options)``)."""
        width = max(map(len, vars(self)))
        rows = [f"    {name:>{width}}: {_display(value)}" for name, value in vars(self).items()]
        return f"  TrainingOptions{self.SolverName.upper()} with properties:\n\n" + "\n".join(rows) + "\n"

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def _display(value):
    if isinstance(value, Datastore):
        return f"[1×1 {type(value).__name__}]"
    if isinstance(value, tuple) and len(value) == 2 and hasattr(value[0], "shape"):
        return f"{{{'×'.join(map(str, np.shape(value[0])))} array, {len(value[1])} labels}}"
    if isinstance(value, float) and math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return matlab_value(value)


def trainingOptions(solverName, *pairs, **options):
    """``options = trainingOptions("sgdm", MaxEpochs=4, Shuffle="every-epoch", ...)``.

    Defaults follow MATLAB: InitialLearnRate 0.01 (sgdm) or 0.001 (adam, rmsprop),
    Momentum 0.9, MiniBatchSize 128, MaxEpochs 30, L2Regularization 1e-4, Shuffle 'once',
    ValidationFrequency 50, Verbose true, VerboseFrequency 50,
    BatchNormalizationStatistics 'population'. ``ValidationData`` is a tuple ``(X, Y)`` or a
    datastore. ``DispatchInBackground`` (default false) reads datastores on background threads
    while training computes, one per CPU training's own threads leave free (none free: in
    the training thread; docs/streaming.md).

    Example::

        >>> from minidl import trainingOptions
        >>> options = trainingOptions("sgdm", MaxEpochs=4, Shuffle="every-epoch")
        >>> options.InitialLearnRate, options.Momentum, options.MiniBatchSize
        (0.01, 0.9, 128)
    """
    solver = choice("trainingOptions", "the solver name", solverName, SOLVERS)
    defaults = {**_COMMON, **_SOLVER_SPECIFIC[solver]}
    for name in list(options) + list(pairs[0::2]):
        other = [s for s in SOLVERS if s != solver and str(name).lower() in
                 (n.lower() for n in _SOLVER_SPECIFIC[s])]
        if other and str(name).lower() not in (n.lower() for n in defaults):
            raise OptionError(f"trainingOptions: {name!r} is an option of the {' and '.join(repr(s) for s in other)} "
                              f"solver{'s' if len(other) > 1 else ''}, not of {solver!r}.")
    values = parse_name_value("trainingOptions", pairs, options, defaults)
    if values["InitialLearnRate"] is None:
        values["InitialLearnRate"] = _DEFAULT_LEARN_RATE[solver]
    return TrainingOptions(solver, _validated(values))


def _as_float(value):
    """float(value); an int too large for a float counts as infinite (not an OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _number(name, value, low=-math.inf, high=math.inf, low_open=False, high_open=False,
            integer=False, allow_inf=False):
    ok = np.ndim(value) == 0 and isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, bool) and not math.isnan(_as_float(value))
    if ok and not allow_inf:
        ok = math.isfinite(_as_float(value))
    if ok and integer and math.isfinite(_as_float(value)):
        ok = float(value) == int(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        kind = "an integer" if integer else "a number"
        raise OptionError(f"trainingOptions: {name} must be {kind} in {lo}{low}, {high}{hi}; "
                          f"received {value!r}.")
    if integer and math.isfinite(_as_float(value)):
        return int(value)
    return float(value)


def _worker_load(load):
    """WorkerLoad (ExecutionEnvironment 'parallel'): relative shares of the mini-batch, one
    non-negative number per worker, not all zero (its length is checked against the pool)."""
    if load is None or (np.ndim(load) == 1 and np.size(load) == 0):
        return None
    values = np.asarray(load, dtype=object).reshape(-1) if np.ndim(load) <= 1 else None
    if values is None or not all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
                                 and math.isfinite(x) and x >= 0 for x in values) or not sum(values) > 0:
        raise OptionError(f"trainingOptions: WorkerLoad must be a vector of non-negative finite numbers, one per "
                          f"parallel worker, not all zero (relative shares of MiniBatchSize); received {load!r}.")
    return [float(x) for x in values]


def _validated(v):
    v["InitialLearnRate"] = _number("InitialLearnRate", v["InitialLearnRate"], 0, low_open=True)
    v["LearnRateSchedule"] = choice("trainingOptions", "LearnRateSchedule", v["LearnRateSchedule"],
                                    ("none", "piecewise"))
    v["LearnRateDropFactor"] = _number("LearnRateDropFactor", v["LearnRateDropFactor"], 0, 1)
    v["LearnRateDropPeriod"] = _number("LearnRateDropPeriod", v["LearnRateDropPeriod"], 1, integer=True)
    v["L2Regularization"] = _number("L2Regularization", v["L2Regularization"], 0)
    v["GradientThresholdMethod"] = choice("trainingOptions", "GradientThresholdMethod",
                                          v["GradientThresholdMethod"],
                                          ("l2norm", "global-l2norm", "absolute-value"))
    v["GradientThreshold"] = _number("GradientThreshold", v["GradientThreshold"], 0, low_open=True,
                                     allow_inf=True)
    v["MaxEpochs"] = _number("MaxEpochs", v["MaxEpochs"], 1, integer=True)
    v["MiniBatchSize"] = _number("MiniBatchSize", v["MiniBatchSize"], 1, integer=True)
    v["Shuffle"] = choice("trainingOptions", "Shuffle", v["Shuffle"], ("once", "never", "every-epoch"))
    v["ValidationFrequency"] = _number("ValidationFrequency", v["ValidationFrequency"], 1, integer=True)
    v["ValidationPatience"] = _number("ValidationPatience", v["ValidationPatience"], 1, integer=True,
                                      allow_inf=True)
    v["PreprocessingEnvironment"] = choice("trainingOptions", "PreprocessingEnvironment",
                                           v["PreprocessingEnvironment"], ("serial", "background", "parallel"))
    if v["PreprocessingEnvironment"] == "parallel":
        raise OptionError("trainingOptions: PreprocessingEnvironment 'parallel' is not supported; use 'background' "
                          "(background threads read the datastore) or 'serial'.")
    for name in ("Verbose", "ResetInputNormalization", "DispatchInBackground", "SynchronizeBatchNormalization"):
        if not isinstance(v[name], (bool, np.bool_, int, float)) or v[name] not in (0, 1):
            raise OptionError(f"trainingOptions: {name} must be true or false (or 1 or 0); received {v[name]!r}.")
        v[name] = bool(v[name])
    v["DispatchInBackground"] = v["DispatchInBackground"] or v["PreprocessingEnvironment"] == "background"
    v["VerboseFrequency"] = _number("VerboseFrequency", v["VerboseFrequency"], 1, integer=True)
    v["Plots"] = choice("trainingOptions", "Plots", v["Plots"], ("none", "training-progress"))
    v["OutputNetwork"] = choice("trainingOptions", "OutputNetwork", v["OutputNetwork"],
                                ("last-iteration", "best-validation-loss", "best-validation", "auto"))
    # Newer releases: 'auto' is the last iteration here, and 'best-validation' the same as
    # 'best-validation-loss' for the loss objective.
    v["OutputNetwork"] = {"auto": "last-iteration", "best-validation": "best-validation-loss"}.get(
        v["OutputNetwork"], v["OutputNetwork"])
    v["BatchNormalizationStatistics"] = choice("trainingOptions", "BatchNormalizationStatistics",
                                               v["BatchNormalizationStatistics"],
                                               ("population", "moving", "auto"))
    if v["BatchNormalizationStatistics"] == "auto":  # trainNetwork's classic behaviour
        v["BatchNormalizationStatistics"] = "population"
    v["CheckpointFrequency"] = _number("CheckpointFrequency", v["CheckpointFrequency"], 1, integer=True)
    v["CheckpointFrequencyUnit"] = choice("trainingOptions", "CheckpointFrequencyUnit",
                                          v["CheckpointFrequencyUnit"], ("epoch", "iteration"))
    v["ExecutionEnvironment"] = choice("trainingOptions", "ExecutionEnvironment", v["ExecutionEnvironment"],
                                       ("auto", "cpu", "gpu", "multi-gpu", "parallel"))
    if v["ExecutionEnvironment"] not in ("auto", "cpu", "parallel"):
        raise OptionError(f"trainingOptions: ExecutionEnvironment {v['ExecutionEnvironment']!r} is not "
                          f"supported; minidl trains on the CPU. Use 'auto', 'cpu' or 'parallel' (a Ray pool).")
    v["WorkerLoad"] = _worker_load(v["WorkerLoad"])
    if v["SynchronizeBatchNormalization"] and v["ExecutionEnvironment"] != "parallel":
        raise OptionError(f"trainingOptions: SynchronizeBatchNormalization synchronizes batch statistics across the "
                          f"workers of a parallel pool, so it needs ExecutionEnvironment 'parallel'; received "
                          f"ExecutionEnvironment {v['ExecutionEnvironment']!r}. One process always normalizes "
                          f"with the statistics of the whole mini-batch: drop the option.")
    if "Momentum" in v:
        v["Momentum"] = _number("Momentum", v["Momentum"], 0, 1)
    if "GradientDecayFactor" in v:
        v["GradientDecayFactor"] = _number("GradientDecayFactor", v["GradientDecayFactor"], 0, 1, high_open=True)
    if "SquaredGradientDecayFactor" in v:
        v["SquaredGradientDecayFactor"] = _number("SquaredGradientDecayFactor",
                                                  v["SquaredGradientDecayFactor"], 0, 1, high_open=True)
    if "Epsilon" in v:
        v["Epsilon"] = _number("Epsilon", v["Epsilon"], 0, low_open=True)
    functions = v["OutputFcn"]
    if functions is not None:
        functions = list(functions) if isinstance(functions, (list, tuple)) else [functions]
        for function in functions:
            if not callable(function):
                raise OptionError(f"trainingOptions: OutputFcn must be a function or a list of "
                                  f"functions; received {function!r}.")
        v["OutputFcn"] = functions
    v["Metrics"] = metric_names("trainingOptions", v["Metrics"])
    objective = v["ObjectiveMetricName"]
    if not isinstance(objective, str) or objective.lower() not in ["loss", *v["Metrics"]]:
        raise OptionError(f"trainingOptions: ObjectiveMetricName must be 'loss' or one of the Metrics "
                          f"({', '.join(repr(m) for m in v['Metrics']) or 'none given'}); received {objective!r}.")
    v["ObjectiveMetricName"] = objective.lower()
    validation = v["ValidationData"]
    if validation is not None and not isinstance(validation, Datastore) and not (
            isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise OptionError("trainingOptions: ValidationData must be a pair (X, Y) of predictors and "
                          f"labels/responses, or a datastore whose reads carry both; received a "
                          f"{type(validation).__name__}.")
    if v["Probe"] is not None and not isinstance(v["Probe"], TrainingProbe):
        raise OptionError(f"trainingOptions: Probe must come from trainingProbe(...) or be None; received "
                          f"{received(v['Probe'])}.")
    if not isinstance(v["CheckpointPath"], str):
        raise OptionError(f"trainingOptions: CheckpointPath must be a folder path string; "
                          f"received {v['CheckpointPath']!r}.")
    return v
