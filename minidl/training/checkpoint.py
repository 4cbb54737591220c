"""Training checkpoints: what the trainer writes under ``CheckpointPath``, and how
``trainNetwork(..., ResumeFrom=file)`` checks a checkpoint before it trusts it.

A checkpoint is a network file (minidl.io) plus the trainer's state: solver state, data
order, counters, history and random generator. Before the first resumed iteration every
field is checked against the options, the training data and the network; each mismatch is
an error that names the field, what was expected, what the file holds and what to do.
"""
import datetime
import math
import os
import warnings

import numpy as np

from ..io.files import layers_like, load_checkpoint, save_checkpoint
from ..io.format import layers_to_archive

HISTORY = ("TrainingLoss", "TrainingMetric", "ValidationLoss", "ValidationMetric", "BaseLearnRate")
OWNER = "ResumeFrom"
DAMAGED = ("The file was changed, or it is not a checkpoint of this training (or of this minidl version); resume "
           "from an unchanged one.")


def write(trainer, s, solver):
    """Write a checkpoint after iteration ``s.iteration``; a failure is a warning."""
    options = trainer.options
    stamp = datetime.datetime.now().strftime("%Y_%m_%d__%H_%M_%S")
    filename = os.path.join(options.CheckpointPath, f"net_checkpoint__{s.iteration}__{stamp}.npz")
    scalars, arrays = _solver_state(solver)
    arrays["order"] = s.order
    for key, values in s.history.items():
        arrays["history." + key] = np.asarray(values, dtype=np.float64)
    state = {"solver": options.SolverName, "solver_scalars": scalars, "epoch": s.epoch, "step": s.step,
             "iteration": s.iteration, "learn_rate": s.learn_rate, "best_loss": s.best_loss,
             "best_iteration": s.best_iteration, "patience": s.patience, "rng": trainer.rng.bit_generator.state,
             "mini_batch_size": options.MiniBatchSize, "statistics": options.BatchNormalizationStatistics,
             "has_best_layers": trainer.best_layers is not None, "read_seed": trainer.read_seed,
             "execution": trainer.engine.execution()}
    if trainer.best_layers is not None:
        state["best_layers"] = layers_to_archive(trainer.best_layers, arrays, prefix="best.L")
    try:
        save_checkpoint(filename, trainer.net, state, arrays)
    except (OSError, ValueError) as error:
        warnings.warn(f"trainNetwork: could not write checkpoint {filename!r} ({error}); training continues.",
                      RuntimeWarning, stacklevel=4)


def read(filename, custom_layers):
    """(network, state, state arrays) of a checkpoint file."""
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"{OWNER}: expected the path of a checkpoint file written under CheckpointPath; "
                        f"received a {type(filename).__name__}.")
    try:
        net, state, arrays = load_checkpoint(filename, custom_layers)
    except (KeyError, TypeError, IndexError, AttributeError) as error:
        raise ValueError(f"{OWNER}: {os.fspath(filename)!r} is not a complete minidl checkpoint ({type(error).__name__}: "
                         f"{error}). {DAMAGED}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{OWNER}: {os.fspath(filename)!r} holds no trainer state (found a "
                         f"{type(state).__name__}). {DAMAGED}")
    return net, state, arrays


def check_layers(checkpoint_net, given_net):
    """The layers passed to trainNetwork must be the checkpoint's (names, classes, learnable sizes)."""
    problem = _difference(_signature(checkpoint_net.Layers), _signature(given_net.Layers))
    if problem is None and checkpoint_net.connection_pairs() != given_net.connection_pairs():
        problem = (f"the connections differ: {checkpoint_net.connection_pairs()} in the checkpoint, "
                   f"{given_net.connection_pairs()} in the layers given")
    if problem:
        raise ValueError(f"{OWNER}: the checkpoint's network does not match the layers given: {problem}. Resume with "
                         f"the layers the checkpoint was trained with, or train the new layers from the start.")


def _signature(layers):
    return [(layer.Name, type(layer).__name__, {name: np.shape(getattr(layer, name)) for name in layer.learnables
                                                 if getattr(layer, name, None) is not None})
            for layer in layers]


def _difference(saved, given, names=("the checkpoint", "the layers given")):
    if [entry[:2] for entry in saved] != [entry[:2] for entry in given]:
        return (f"{names[0]} has layers {[f'{n} ({c})' for n, c, _ in saved]}, {names[1]} "
                f"{[f'{n} ({c})' for n, c, _ in given]}")
    for (name, _, a), (_, _, b) in zip(saved, given):
        for prop in dict.fromkeys([*a, *b]):
            if a.get(prop) != b.get(prop):
                return (f"{prop} of layer {name!r} is {_size(a.get(prop))} in {names[0]} but "
                        f"{_size(b.get(prop))} in {names[1]}")
    return None


def _size(shape):
    return "empty" if shape is None else "×".join(map(str, shape)) or "a scalar"


# ---- resume ------------------------------------------------------------------------------
def restore(trainer, s, solver, state, arrays):
    """Check the checkpoint against the options, the data and the network, then load it into
    the training state ``s``, the solver and the generator. Returns the best layers or None."""
    options, count = trainer.options, trainer.count
    per_epoch = count // min(options.MiniBatchSize, count)
    _expect_same(state, "solver", options.SolverName, "the solver", "trainingOptions({!r}, ...)")
    _expect_same(state, "mini_batch_size", options.MiniBatchSize, "MiniBatchSize", "MiniBatchSize={!r}")
    _expect_same(state, "statistics", options.BatchNormalizationStatistics, "BatchNormalizationStatistics",
                 "BatchNormalizationStatistics={!r}")
    order = _array(arrays, "order")
    if order.ndim != 1 or len(order) != count:
        raise ValueError(f"{OWNER}: the checkpoint was trained on {order.size} observations but X has {count}; "
                         f"resume with the same training data.")
    if order.dtype.kind not in "iu" or not np.array_equal(np.sort(order), np.arange(count)):
        raise ValueError(f"{OWNER}: the checkpoint's shuffle order must be a permutation of 0..{count - 1}; it "
                         f"holds {_preview(order)}. {DAMAGED}")
    epoch = _integer(state, "epoch", 1, math.inf)
    step = _integer(state, "step", 0, per_epoch, f" (iterations per epoch: {count} observations // "
                                                 f"MiniBatchSize {options.MiniBatchSize})")
    iteration = _integer(state, "iteration", 0, math.inf)
    if iteration != (epoch - 1) * per_epoch + step:
        raise ValueError(f"{OWNER}: the checkpoint's 'iteration' must be (epoch - 1) * {per_epoch} + step = "
                         f"{(epoch - 1) * per_epoch + step} for epoch {epoch}, step {step}; it holds {iteration}. "
                         f"{DAMAGED}")
    if iteration > options.MaxEpochs * per_epoch:
        raise ValueError(f"{OWNER}: the checkpoint is at iteration {iteration}, beyond MaxEpochs {options.MaxEpochs} "
                         f"× {per_epoch} iterations per epoch = {options.MaxEpochs * per_epoch}. Set MaxEpochs to at "
                         f"least {math.ceil(iteration / per_epoch)}, or resume from an earlier checkpoint.")
    values = {key: _integer(state, key, 0, iteration) for key in ("best_iteration", "patience")}
    values["learn_rate"] = _number(state, "learn_rate", lambda v: math.isfinite(v) and v > 0,
                                   "a finite positive number")
    values["best_loss"] = _number(state, "best_loss", lambda v: not math.isnan(v), "a number (Inf before the first "
                                  "validation)")
    history = {}
    for key in HISTORY:
        values_k = _array(arrays, "history." + key)
        if values_k.shape != (iteration,) or values_k.dtype.kind != "f":
            raise ValueError(f"{OWNER}: the checkpoint's history {key!r} must hold {iteration} numbers (one per "
                             f"iteration); it holds a {values_k.dtype} array of size {_size(values_k.shape)}. {DAMAGED}")
        history[key] = values_k.tolist()
    solver_arrays = _solver_arrays(arrays, solver, trainer.net)
    scalars = _field(state, "solver_scalars")
    if not isinstance(scalars, dict) or set(scalars) != ({"iteration"} if "moments" in solver.state else set()):
        raise ValueError(f"{OWNER}: the checkpoint's 'solver_scalars' do not fit the {options.SolverName!r} solver; "
                         f"they hold {scalars!r}. {DAMAGED}")
    for key in scalars:
        _integer(scalars, key, 0, iteration)
    _compare_execution(state.get("execution"), trainer.engine.execution())
    generator = _generator_state(trainer.rng, _field(state, "rng"))
    read_seed = _read_seed(state)
    best_layers = _best_layers(state, arrays, trainer.net)
    # Everything checked: load it.
    _restore_solver(solver, scalars, solver_arrays)
    s.order, s.history, s.epoch, s.step, s.iteration = order, history, epoch, step, iteration
    for key, value in values.items():
        s[key] = value
    trainer.rng.bit_generator.state = generator
    trainer.read_seed = read_seed
    return best_layers


def _compare_execution(saved, current):
    """Resuming on another worker count, WorkerLoad or synchronization works (the training
    state does not depend on them) but is not bit for bit the uninterrupted run: a warning
    names both. Checkpoints written before minidl recorded it hold no 'execution'."""
    if saved is None or saved == current:
        return
    if not isinstance(saved, dict) or set(saved) != set(current):
        raise ValueError(f"{OWNER}: the checkpoint's 'execution' must be a record of {sorted(current)}; it holds "
                         f"{saved!r}. {DAMAGED}")
    warnings.warn(f"{OWNER}: the checkpoint was trained on {_execution_text(saved)} and training resumes on "
                  f"{_execution_text(current)}. It continues correctly, but not bit for bit as the uninterrupted "
                  f"run: each worker's share of the mini-batch (and so its batch-normalization statistics, unless "
                  f"they are synchronized) differs. Resume on the checkpoint's pool for a bit-exact "
                  f"continuation.", RuntimeWarning, stacklevel=5)


def _execution_text(layout):
    if layout["workers"] is None:
        return "a single process"
    load = ", ".join(f"{share:.3g}" for share in layout["worker_load"])
    return (f"a parallel pool of {layout['workers']} worker{'s' if layout['workers'] != 1 else ''} (WorkerLoad "
            f"[{load}], SynchronizeBatchNormalization {layout['synchronized']})")


def _read_seed(state):
    """The seed of random datastore reads (training/data_source.py); None without one."""
    value = state.get("read_seed")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** 63):
        raise ValueError(f"{OWNER}: the checkpoint's 'read_seed' must be an integer in [0, 2^63) or empty; it holds "
                         f"{value!r}. {DAMAGED}")
    return value


def _field(state, key):
    if key not in state:
        raise ValueError(f"{OWNER}: the checkpoint has no {key!r} field. {DAMAGED}")
    return state[key]


def _expect_same(state, key, expected, option, fix):
    value = _field(state, key)
    if value != expected:
        raise ValueError(f"{OWNER}: the checkpoint was trained with {option} {value!r} but the options give "
                         f"{expected!r}; resume with {fix.format(value)}, as the interrupted run.")


def _integer(state, key, low, high, why=""):
    value = _field(state, key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{OWNER}: the checkpoint's {key!r} must be an integer; it holds {value!r} (a "
                        f"{type(value).__name__}). {DAMAGED}")
    if not low <= value <= high:
        raise ValueError(f"{OWNER}: the checkpoint's {key!r} must be in [{low}, {high}]{why}; it holds "
                         f"{value}. {DAMAGED}")
    return value


def _number(state, key, valid, expected):
    value = _field(state, key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{OWNER}: the checkpoint's {key!r} must be {expected}; it holds {value!r} (a "
                        f"{type(value).__name__}). {DAMAGED}")
    if not valid(float(value)):
        raise ValueError(f"{OWNER}: the checkpoint's {key!r} must be {expected}; it holds {value!r}. {DAMAGED}")
    return float(value)


def _array(arrays, key):
    if key not in arrays:
        raise ValueError(f"{OWNER}: the checkpoint has no {key!r} array. {DAMAGED}")
    return arrays[key]


def _preview(array):
    values = array.ravel()[:8].tolist()
    return f"{values}{' ...' if array.size > 8 else ''} ({array.dtype})"


def _solver_state(solver):
    """The solver's per-learnable state as arrays ``field.layer.property.part``, plus
    Adam's step counter; hyperparameters come from the options."""
    arrays = {}
    for field in solver.state:
        for (index, name), entry in getattr(solver, field).items():
            for part, value in enumerate(entry if isinstance(entry, tuple) else (entry,)):
                arrays[f"{field}.{index}.{name}.{part}"] = np.asarray(value)
    return ({"iteration": solver.iteration} if hasattr(solver, "iteration") else {}), arrays


def _solver_arrays(arrays, solver, net):
    """{field: {(layer index, property): tuple of arrays}}, each checked against the network."""
    learnables, grouped = net.values(), {field: {} for field in solver.state}
    for key, value in arrays.items():
        parts = key.split(".")
        if key in ("order",) or parts[0] in ("history", "best"):
            continue
        if (len(parts) != 4 or parts[0] not in solver.state or not parts[1].isdigit() or not parts[3].isdigit()
                or int(parts[3]) >= solver.state[parts[0]]):
            raise ValueError(f"{OWNER}: the checkpoint holds the array {key!r}, which is not state of the "
                             f"{type(solver).__name__} solver (expected {'/'.join(solver.state)}.<layer>.<property>"
                             f".<part>). {DAMAGED}")
        target = (int(parts[1]), parts[2])
        if learnables.get(target) is None:
            raise ValueError(f"{OWNER}: the solver state {key!r} belongs to no learnable of the checkpoint's network "
                             f"(layer {target[0]}, property {target[1]!r}). {DAMAGED}")
        if np.shape(learnables[target]) != value.shape:
            raise ValueError(f"{OWNER}: the solver state {key!r} has size {_size(value.shape)}, but {target[1]} of "
                             f"layer {net.layer_names()[target[0]]!r} is {_size(np.shape(learnables[target]))}. "
                             f"{DAMAGED}")
        if value.dtype.kind != "f" or not np.isfinite(value).all():
            raise ValueError(f"{OWNER}: the solver state {key!r} must hold finite floating-point numbers; it holds "
                             f"{_preview(value)}. {DAMAGED}")
        grouped[parts[0]].setdefault(target, {})[int(parts[3])] = value
    for field, entries in grouped.items():
        for target, parts in entries.items():
            if len(parts) != solver.state[field]:
                raise ValueError(f"{OWNER}: the solver state {field} of {target} has {len(parts)} of "
                                 f"{solver.state[field]} arrays. {DAMAGED}")
            entries[target] = tuple(parts[k] for k in sorted(parts))
    return grouped


def _restore_solver(solver, scalars, grouped):
    for key, value in scalars.items():
        setattr(solver, key, value)
    for field, entries in grouped.items():
        getattr(solver, field).clear()
        for target, parts in entries.items():
            getattr(solver, field)[target] = parts if len(parts) > 1 else parts[0]


def _generator_state(rng, state):
    """The generator state, tried on a fresh generator of the same kind first."""
    try:
        probe = type(rng.bit_generator)()
        probe.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"{OWNER}: the checkpoint's 'rng' is not a state of the {type(rng.bit_generator).__name__} "
                         f"generator ({type(error).__name__}: {error}). {DAMAGED}") from None
    return probe.state


def _best_layers(state, arrays, net):
    has_best = _field(state, "has_best_layers")
    if not isinstance(has_best, bool):
        raise TypeError(f"{OWNER}: the checkpoint's 'has_best_layers' must be true or false; it holds "
                        f"{has_best!r}. {DAMAGED}")
    if not has_best:
        return None
    try:
        classes = net.layer_classes()  # the trainer's own, custom classes included
        layers = layers_like(net, _field(state, "best_layers"), arrays, classes, OWNER)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{OWNER}: the checkpoint's best network cannot be read ({type(error).__name__}: "
                         f"{error}). {DAMAGED}") from None
    problem = _difference(_signature(net.Layers), _signature(layers), ("its network", "its best network"))
    if problem:
        raise ValueError(f"{OWNER}: the checkpoint's best network does not match its network: {problem}. {DAMAGED}")
    return layers
