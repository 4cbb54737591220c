"""Whole-network benchmark: minidl vs PyTorch CPU, training epochs and inference.

    make bench                                   # or: python benchmarks/network.py
    python benchmarks/network.py --quick --output /tmp/bench.md   # smoke run, < 1 min

Two networks: MATLAB's "Create Simple Deep Learning Network for Classification"
(examples/simple_cnn_digits.py) and the small residual network of
examples/residual_digits.py, each with a PyTorch twin of the same layer sizes. Both
frameworks run in this process with the same thread count (1, then all cores), on the
same 7,552 digit images (28x28x1, float32), at MiniBatchSize 32, 128 and 512.

- Training epoch, minidl: `trainNetwork` with sgdm, Shuffle 'every-epoch' and
  BatchNormalizationStatistics 'moving', timed from inside by an OutputFcn at each
  epoch's last iteration (so set-up and the end of training are left out); epoch 1 is a
  warm-up, the time is the median of epochs 2..E. The one-off cost of the default
  'population' final pass is measured on its own (see `population_pass`).
- Training epoch, PyTorch: the equivalent loop (randperm shuffle, last partial batch
  dropped, zero_grad / forward / CrossEntropyLoss / backward / SGD step with momentum 0.9,
  lr 0.01, weight decay 1e-4 on weights), one warm-up epoch, median of the next three.
- Inference: `minidl.predict` on 2,048 images, MiniBatchSize 128, vs PyTorch eval() under
  no_grad over the same mini-batches (plus the softmax); median of several calls.
- Per-layer breakdown: `layer_breakdown`, the hook that calls `minidl.profileNetwork`.

The machine may be shared: the script waits for idle CPUs before each measurement and
leaves out epochs and calls during which other processes used more than DISTURBED_LOAD
cores (measured from /proc/stat minus this process's own CPU time), as
benchmarks/batchnorm.py leaves out preempted calls. Only minidl's public API is used. Writes its section of docs/benchmarks.md.
"""

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402

import minidl  # noqa: E402
from minidl import (additionLayer, batchNormalizationLayer, classificationLayer,  # noqa: E402
                    connectLayers, convolution2dLayer, fullyConnectedLayer,
                    globalAveragePooling2dLayer, imageInputLayer, layerGraph, maxPooling2dLayer,
                    predict, reluLayer, softmaxLayer, trainingOptions, trainNetwork)
from minidl.datasets import digits, splitEachLabel  # noqa: E402

from _report import cpu_name, load_average, write_section  # noqa: E402

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None

try:
    import torch
    from torch import nn
except ImportError:  # the `bench` extra is optional; the PyTorch columns are then n/a
    torch = None

SECTION = "benchmarks/network.py"
TRAIN_IMAGES = 7552
INFER_IMAGES = 2048
INFER_BATCH = 128
# MaxEpochs per mini-batch size (epoch 1 is the warm-up): 4 at 128, MATLAB's default size,
# fewer at the others to keep the whole run under ten minutes.
EPOCHS = {32: 3, 128: 4, 512: 3}
INFER_PAIRS = 15            # predict calls of each, alternating
PROFILE_ITERATIONS = 20     # mini-batches profiled per network by layer_breakdown
POPULATION_REPEATS = 3
NETWORKS = {"simple": "MATLAB's example CNN (simple_cnn_digits)",
            "residual": "residual CNN (residual_digits)"}
LR, MOMENTUM, L2 = 0.01, 0.9, 1e-4   # MATLAB's sgdm defaults (InitialLearnRate 0.01 given)


# ---------------------------------------------------------------- a quiet machine

def _cpu_jiffies():
    """(busy, total) clock ticks of all CPUs since boot (Linux), or None."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Meter:
    """How much CPU other processes took while we ran: the machine's busy time (from
    /proc/stat) minus this process's own CPU time (all its threads). In cores, averaged
    over the interval; 0 where /proc/stat is not available. Plus our involuntary
    context switches (preemptions)."""

    def __init__(self):
        self.wall = time.perf_counter()
        self.jiffies = _cpu_jiffies()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = usage.ru_utime + usage.ru_stime
        self.preempted = usage.ru_nivcsw

    def others(self, later=None):
        """(cores used by other processes on average, preemptions) since this meter."""
        later = later or Meter()
        wall = later.wall - self.wall
        if self.jiffies is None or later.jiffies is None or wall <= 0:
            return 0.0, later.preempted - self.preempted
        busy = (later.jiffies[0] - self.jiffies[0]) / _TICK
        return max(0.0, busy - (later.cpu - self.cpu)) / wall, later.preempted - self.preempted


def idle_fraction(seconds=0.5):
    a = _cpu_jiffies()
    time.sleep(seconds)
    b = _cpu_jiffies()
    if a is None or b is None or b[1] == a[1]:
        return 1.0
    return 1.0 - (b[0] - a[0]) / (b[1] - a[1])


def wait_for_quiet(patience, least=0.85, window=0.5):
    """Wait (at most `patience` s, and at most what is left of WAITING["budget"] over
    the whole run) until the CPUs are `least` idle: another process's load would be
    measured as ours. Returns the idle fraction found."""
    start = time.monotonic()
    deadline = start + min(patience, WAITING["budget"] - WAITING["spent"])
    idle = idle_fraction(window if patience > 0 else 0.1)
    while idle < least and time.monotonic() < deadline:
        idle = idle_fraction(window)
    WAITING["spent"] += time.monotonic() - start
    QUIET.append(idle)
    return idle


QUIET = []
WAITING = {"budget": 300.0, "spent": 0.0}   # seconds of waiting allowed in one run
# Others' load (in cores) above which a timed epoch or call counts as disturbed.
DISTURBED_LOAD = 0.10


# ---------------------------------------------------------------- threads

def set_threads(n):
    """The same thread count for minidl (Numba and BLAS) and PyTorch. Returns how."""
    if hasattr(minidl, "maxNumCompThreads"):
        minidl.maxNumCompThreads(n)
        how = f"`minidl.maxNumCompThreads({n})`"
    else:
        numba.set_num_threads(n)
        how = f"`numba.set_num_threads({n})`"
        if threadpoolctl is not None:
            threadpoolctl.threadpool_limits(n)
            how += f", `threadpoolctl.threadpool_limits({n})`"
    if torch is not None:
        torch.set_num_threads(n)
        how += f", `torch.set_num_threads({n})`"
    found = [f"Numba {numba.get_num_threads()}"]
    if threadpoolctl is not None:
        found += [f"BLAS {p['num_threads']}" for p in threadpoolctl.threadpool_info()
                  if p.get("user_api") == "blas"]
    if torch is not None:
        found.append(f"PyTorch {torch.get_num_threads()}")
    return how + " (in effect: " + ", ".join(found) + ")"


def blas_info():
    """The BLAS libraries and OpenMP runtimes loaded in this process (threadpoolctl)."""
    if threadpoolctl is None:
        return "n/a (threadpoolctl not installed)"
    pools = threadpoolctl.threadpool_info()
    blas = [f"{p.get('internal_api')} {p.get('version')} (`{Path(p.get('filepath', '?')).name}`)"
            for p in pools if p.get("user_api") == "blas"]
    openmp = [f"`{Path(p.get('filepath', '?')).name}`" for p in pools if p.get("user_api") == "openmp"]
    return (", ".join(blas) or "none found") + "; OpenMP runtimes loaded: " + (", ".join(openmp) or "none")


# ---------------------------------------------------------------- data and networks

def load_data():
    """7,552 training images (756 per class drawn at random, the last 8 of the last
    class dropped: 59 mini-batches of 128) and 2,048 held-out images, float32."""
    minidl.rng(0)
    X, Y = digits()
    (Xtrain, Ytrain), (Xrest, _) = splitEachLabel(X, Y, 756, "randomize")
    Xtrain = np.ascontiguousarray(Xtrain[..., :TRAIN_IMAGES], dtype=np.float32)
    Ytrain = np.asarray(Ytrain[:TRAIN_IMAGES])
    order = np.random.default_rng(1).permutation(Xrest.shape[-1])[:INFER_IMAGES]
    Xinfer = np.ascontiguousarray(Xrest[..., order], dtype=np.float32)
    return Xtrain, Ytrain, Xinfer


def minidl_network(name):
    """The `layers` of examples/simple_cnn_digits.py, or the layer graph of
    examples/residual_digits.py."""
    if name == "simple":
        return [
            imageInputLayer([28, 28, 1]),
            convolution2dLayer(3, 8, Padding="same"),
            batchNormalizationLayer(),
            reluLayer(),
            maxPooling2dLayer(2, Stride=2),
            convolution2dLayer(3, 16, Padding="same"),
            batchNormalizationLayer(),
            reluLayer(),
            maxPooling2dLayer(2, Stride=2),
            convolution2dLayer(3, 32, Padding="same"),
            batchNormalizationLayer(),
            reluLayer(),
            fullyConnectedLayer(10),
            softmaxLayer(),
            classificationLayer()]
    layers = [
        imageInputLayer([28, 28, 1]),
        convolution2dLayer(3, 16, Padding="same"),
        batchNormalizationLayer(),
        reluLayer(Name="relu_in"),
        maxPooling2dLayer(2, Stride=2),
        convolution2dLayer(3, 16, Padding="same", Name="res_conv_1"),
        batchNormalizationLayer(Name="res_bn_1"),
        reluLayer(Name="res_relu_1"),
        convolution2dLayer(3, 16, Padding="same", Name="res_conv_2"),
        batchNormalizationLayer(Name="res_bn_2"),
        additionLayer(2, Name="add"),
        reluLayer(Name="relu_out"),
        maxPooling2dLayer(2, Stride=2),
        convolution2dLayer(3, 32, Padding="same"),
        batchNormalizationLayer(),
        reluLayer(),
        globalAveragePooling2dLayer(),
        fullyConnectedLayer(10),
        softmaxLayer(),
        classificationLayer()]
    return connectLayers(layerGraph(layers), "maxpool_1", "add/in2")


if torch is not None:
    class ZeroCenter(nn.Module):
        """imageInputLayer's default 'zerocenter' normalization: minus the mean image."""

        def __init__(self, mean):
            super().__init__()
            self.register_buffer("mean", mean)

        def forward(self, x):
            return x - self.mean

    class Residual(nn.Module):
        def __init__(self, mean):
            super().__init__()
            self.stem = nn.Sequential(ZeroCenter(mean), nn.Conv2d(1, 16, 3, padding=1),
                                      nn.BatchNorm2d(16, eps=1e-5), nn.ReLU(), nn.MaxPool2d(2, 2))
            self.branch = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16, eps=1e-5),
                                        nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                                        nn.BatchNorm2d(16, eps=1e-5))
            self.head = nn.Sequential(nn.MaxPool2d(2, 2), nn.Conv2d(16, 32, 3, padding=1),
                                      nn.BatchNorm2d(32, eps=1e-5), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

        def forward(self, x):
            a = self.stem(x)
            return self.head(torch.relu(self.branch(a) + a))   # additionLayer, then relu_out


def torch_network(name, mean):
    """The PyTorch twin: same layer sizes, padding 1 for 3x3 ('same'), BatchNorm2d eps
    1e-5, max pooling 2 stride 2, Glorot-uniform weights and zero biases as minidl's
    (MATLAB's) defaults. Returns logits: the softmax is inside CrossEntropyLoss."""
    torch.manual_seed(0)
    if name == "simple":
        model = nn.Sequential(
            ZeroCenter(mean),
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8, eps=1e-5), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16, eps=1e-5), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32, eps=1e-5), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    else:
        model = Residual(mean)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


# ---------------------------------------------------------------- minidl

def minidl_training(name, X, Y, batch, epochs, patience, between=None):
    """Per-epoch seconds of trainNetwork ('moving' statistics) from its OutputFcn:
    info.TimeSinceStart at each epoch's last iteration, minus the time this OutputFcn
    spent waiting for a quiet machine or running ``between()`` (PyTorch's paired epoch)
    at the end of each epoch. Returns (net, epochs, finish) where epochs is [(seconds,
    others' load, preemptions)] and finish the seconds from the last iteration to State
    'done' (the trainer's own end, without a final pass)."""
    per_epoch = X.shape[-1] // batch
    marks, state = [], {"wait": 0.0, "meter": None, "done": None, "last": None}

    def output(info):
        if info.State == "start":
            state["meter"] = Meter()
        elif info.State == "iteration" and info.Iteration % per_epoch == 0:
            load, preempted = state["meter"].others()
            marks.append((info.TimeSinceStart - state["wait"], load, preempted))
            t = time.perf_counter()
            if between is not None:
                between()
            if info.Epoch < epochs:
                wait_for_quiet(patience)
            spent = time.perf_counter() - t
            state["wait"] += spent
            state["last"] = info.TimeSinceStart + spent
            state["meter"] = Meter()
        elif info.State == "done":
            state["done"] = info.TimeSinceStart - state["last"]
        return False

    options = trainingOptions("sgdm", MaxEpochs=epochs, MiniBatchSize=batch, Shuffle="every-epoch",
                              Verbose=False, InitialLearnRate=LR, BatchNormalizationStatistics="moving",
                              OutputFcn=output)
    minidl.rng(0)
    net, _ = trainNetwork(X, Y, minidl_network(name), options)
    ends = [0.0] + [m[0] for m in marks]
    per = [(ends[i + 1] - ends[i], marks[i][1], marks[i][2]) for i in range(len(marks))]
    return net, per, state["done"]


def population_pass(name, X, Y, batch, repeats):
    """Seconds of trainNetwork's 'population' final pass (MATLAB's default
    BatchNormalizationStatistics): an OutputFcn stops training after one iteration,
    and the trainer then passes once over the whole training set in training mode to
    compute the final statistics; timed from that iteration to State 'done'.
    Median of `repeats` runs, and the most other processes used meanwhile (cores). The
    trainer's own finish time (the same interval of a 'moving' run) is subtracted by
    the caller."""
    times, loads = [], []
    for _ in range(repeats):
        marks = {}

        def output(info):
            if info.State in ("iteration", "done"):
                marks[info.State] = info.TimeSinceStart
            if info.State == "iteration":
                marks["meter"] = Meter()
            elif info.State == "done":
                loads.append(marks["meter"].others()[0])
            return info.State == "iteration"

        options = trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=batch, Shuffle="every-epoch",
                                  Verbose=False, InitialLearnRate=LR,
                                  BatchNormalizationStatistics="population", OutputFcn=output)
        minidl.rng(0)
        trainNetwork(X, Y, minidl_network(name), options)
        times.append(marks["done"] - marks["iteration"])
    return float(np.median(times)), max(loads)


def layer_breakdown(net, X, Y):
    """HOOK: the per-layer breakdown table, one row per step of minidl's execution plan.

    Calls minidl's public per-layer profiler when there is one
    (`minidl.profileNetwork(net, X, Y, MiniBatchSize=..., NumIterations=..., Print=False)`,
    whose report has `.rows`, a list of dicts, and the totals `.Iteration` and
    `.Prediction` in ms per mini-batch) and renders its report as a Markdown table;
    returns "n/a" (with the reason) when there is none or the call fails, so the harness
    keeps working while the profiler's API changes."""
    profiler = getattr(minidl, "profileNetwork", None)
    if profiler is None:
        return ["n/a: minidl has no public per-layer profiler (`minidl.profileNetwork`)."]
    try:
        report = profiler(net, X, Y, MiniBatchSize=INFER_BATCH, NumIterations=PROFILE_ITERATIONS,
                          Print=False)
    except Exception as error:  # a harness must not fail because the hook's target changed
        return [f"n/a: `minidl.profileNetwork` failed: {type(error).__name__}: {error}"]
    rows = getattr(report, "rows", report)
    if isinstance(rows, dict) and rows and all(isinstance(v, (list, tuple, np.ndarray))
                                               for v in rows.values()):
        rows = [dict(zip(rows, row)) for row in zip(*rows.values())]
    if not (isinstance(rows, (list, tuple)) and rows and all(isinstance(r, dict) for r in rows)):
        return ["```text", str(report), "```"]
    lines = []
    totals = [f"{key.lower()} {getattr(report, key):.2f} ms" for key in ("Iteration", "Prediction")
              if isinstance(getattr(report, key, None), (int, float))]
    if totals:
        lines += ["Per mini-batch of " f"{INFER_BATCH} (median): training " + ", ".join(totals) + ".", ""]
    keys = list(rows[0])
    lines += ["| " + " | ".join(map(str, keys)) + " |",
              "|" + "|".join("---:" if isinstance(rows[0][k], (int, float)) else "---" for k in keys) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k)) for k in keys) + " |")
    norm = [(row["Layers"], row["Forward"] / row["Alone"]) for row in rows
            if ("batchnorm" in str(row.get("Layers")) or "_bn_" in str(row.get("Layers")))
            and row.get("Alone")]
    if norm:
        lines += ["", "Batch normalization, Forward inside the iteration / Alone (issue 9: at most 1.5): "
                  + ", ".join(f"{name} {ratio:.2f}" for name, ratio in norm)
                  + f"; largest {max(r for _, r in norm):.2f}."]
    return lines


def _cell(value):
    if isinstance(value, float):
        return "–" if value != value else f"{value:.3f}"
    return str(value)


# ---------------------------------------------------------------- PyTorch

def torch_training(name, X, Y, mean, batch):
    """The PyTorch twin's model and a function that trains it one epoch and returns
    (seconds, others' load, preemptions)."""
    model = torch_network(name, mean)
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    # MATLAB's L2 factors: 1 for weights (and batch-norm scales), 0 for biases and offsets.
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": L2},
                                 {"params": rest, "weight_decay": 0.0}], lr=LR, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    count, per_epoch = X.shape[0], X.shape[0] // batch

    def epoch():
        meter = Meter()
        t = time.perf_counter()
        model.train()
        order = torch.randperm(count, generator=generator)
        for i in range(per_epoch):
            index = order[i * batch:(i + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[index]), Y[index])
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - t,) + meter.others()
    return model, epoch


def torch_predict(model, X):
    model.eval()
    batches = X.split(INFER_BATCH)

    def run():
        with torch.no_grad():
            return torch.cat([torch.softmax(model(b), dim=1) for b in batches]).numpy()
    return run


# ---------------------------------------------------------------- the run

def paired(ours, theirs):
    """Summary of paired measurements [(seconds, others' load, ...)], minidl's and PyTorch's
    taken one right after the other: (our median, their median, median of the pairs'
    ratios, disturbed, our load, their load). Pairs during either of which other processes
    used more than DISTURBED_LOAD cores are left out while at least one pair is left;
    ``disturbed`` says none was. Without PyTorch, theirs is empty and its values None."""
    pairs = list(zip(ours, theirs)) or [(o, None) for o in ours]
    clean = [(o, t) for o, t in pairs if o[1] <= DISTURBED_LOAD and (t is None or t[1] <= DISTURBED_LOAD)]
    kept = clean or pairs
    ours_s = float(np.median([o[0] for o, _ in kept]))
    if not theirs:
        return ours_s, None, None, not clean, max(o[1] for o, _ in kept), None
    return (ours_s, float(np.median([t[0] for _, t in kept])), float(np.median([o[0] / t[0] for o, t in kept])),
            not clean, max(o[1] for o, _ in kept), max(t[1] for _, t in kept))


def training_row(name, batch, epochs, threads, data, repeats, patience):
    """One row of the training table, and (minidl net, PyTorch model or None). A PyTorch
    epoch runs right after each of minidl's (from its OutputFcn), so that each pair meets
    the same machine. minidl's run is repeated once if every timed pair was disturbed."""
    Xtrain, Ytrain, Xt, Yt, mean = data
    model = epoch = None
    if torch is not None:
        model, epoch = torch_training(name, Xt, Yt, mean, batch)
        epoch()                                   # PyTorch's warm-up epoch
    for attempt in range(2):
        theirs = []
        between = None if epoch is None else (lambda: theirs.append(epoch()))
        wait_for_quiet(patience)
        net, ours, finish = minidl_training(name, Xtrain, Ytrain, batch, epochs, patience, between)
        ours_s, theirs_s, ratio_s, disturbed, ours_load, theirs_load = paired(ours[1:], theirs[1:])
        if not disturbed:
            break
    wait_for_quiet(patience)
    population, population_load = population_pass(name, Xtrain, Ytrain, batch, repeats)
    row = dict(network=name, batch=batch, threads=threads, images=(Xtrain.shape[-1] // batch) * batch,
               first=ours[0][0], ours=ours_s, theirs=theirs_s, ratio=ratio_s, disturbed=disturbed,
               ours_load=ours_load, theirs_load=theirs_load,
               population=population - finish, population_disturbed=population_load > DISTURBED_LOAD)
    print(f"train {name:8} B={batch:3} threads={threads}: minidl {ours_s:7.3f} s/epoch (epochs "
          + ", ".join(f"{e[0]:.2f} [{e[1]:.2f}]" for e in ours)
          + f"), population pass {row['population']:.3f} s, PyTorch {fmt(theirs_s, '.3f')} s/epoch ("
          + ", ".join(f"{e[0]:.2f} [{e[1]:.2f}]" for e in theirs) + f")  [others' load], ratio {fmt(ratio_s, '.2f')}",
          flush=True)
    return row, (net, model)


def time_pairs(ours, theirs, pairs, patience):
    """Seconds per call of ours() and theirs() called in pairs, one right after the other
    (the order swapped every pair), each pair once the machine is quiet; one warm-up call
    each. Returns ``paired(...)`` of the calls."""
    ours()
    if theirs is not None:
        theirs()
    timed = ([], [])
    for i in range(pairs):
        wait_for_quiet(patience)
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            fn = (ours, theirs)[which]
            if fn is None:
                continue
            meter = Meter()
            t = time.perf_counter()
            fn()
            timed[which].append((time.perf_counter() - t,) + meter.others())
    return paired(*timed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one network, MiniBatchSize 128, all cores, 2 epochs")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    args = parser.parse_args()
    global torch
    if args.no_torch:
        torch = None

    started = time.perf_counter()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if args.quick:
        networks, epochs, threads = ["simple"], {128: 2}, [cores]
        calls, repeats, patience = 3, 1, 0.0
    else:
        networks, epochs, threads = list(NETWORKS), EPOCHS, sorted({1, cores})
        calls, repeats, patience = INFER_PAIRS, POPULATION_REPEATS, 30.0
    load_start = load_average()
    Xtrain, Ytrain, Xinfer = load_data()
    if torch is not None:
        Xt = torch.from_numpy(np.ascontiguousarray(Xtrain.transpose(3, 2, 0, 1)))
        Yt = torch.from_numpy(Ytrain.astype(np.int64))
        Xi = torch.from_numpy(np.ascontiguousarray(Xinfer.transpose(3, 2, 0, 1)))
        mean = Xt.mean(dim=0, keepdim=True)
    else:
        Xt = Yt = Xi = mean = None
    data = (Xtrain, Ytrain, Xt, Yt, mean)

    train_rows, infer_rows, how_threads, breakdowns = [], [], {}, {}
    for n in threads:
        how_threads[n] = set_threads(n)
        for name in networks:
            nets = {}
            for batch, E in epochs.items():
                row, nets[batch] = training_row(name, batch, E, n, data, repeats, patience)
                train_rows.append(row)
            batch = INFER_BATCH if INFER_BATCH in nets else next(iter(nets))
            net, model = nets[batch]
            theirs = None if model is None else torch_predict(model, Xi)
            ours_s, theirs_s, ratio_s, disturbed, _, _ = time_pairs(
                lambda: predict(net, Xinfer, MiniBatchSize=INFER_BATCH), theirs, calls, patience)
            infer_rows.append(dict(network=name, threads=n, ours=ours_s, theirs=theirs_s, ratio=ratio_s,
                                   disturbed=disturbed))
            print(f"infer {name:8} threads={n}: minidl {ours_s:.4f} s, PyTorch {fmt(theirs_s, '.4f')} s, "
                  f"ratio {fmt(ratio_s, '.2f')}", flush=True)
            if n == threads[-1]:
                breakdowns[name] = layer_breakdown(net, Xtrain, Ytrain)
    runtime = time.perf_counter() - started
    facts = dict(load_start=load_start, load_end=load_average(), runtime=runtime, cores=cores,
                 how_threads=how_threads, blas=blas_info(), quick=args.quick, epochs=epochs,
                 calls=calls, repeats=repeats,
                 patience=patience)
    write_section(args.output, SECTION, report(train_rows, infer_rows, breakdowns, facts))
    print(f"wrote {args.output} ({runtime:.0f} s)")


# ---------------------------------------------------------------- report

def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def git_head():
    """The commit, and whether minidl/ had uncommitted changes (work in progress measured)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "minidl")
    except (OSError, subprocess.CalledProcessError):
        return "git: unknown"
    return f"git `{head}`" + (" plus uncommitted changes in `minidl/`" if dirty else "")


def report(train_rows, infer_rows, breakdowns, facts):
    torch_version = torch.__version__ if torch is not None else "not installed"
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not initialised"
    star = "\\*"

    def mark(disturbed):
        return star if disturbed else ""

    epochs = ", ".join(f"{E} at {B}" for B, E in facts["epochs"].items())
    lines = [
        "## Whole network: training epoch and inference",
        "",
        f"Generated by `benchmarks/network.py` on {datetime.date.today().isoformat()} "
        f"(minidl {minidl.__version__}, {git_head()})"
        + (", **quick smoke run** (`--quick`): one network, one mini-batch size, few epochs"
           if facts["quick"] else "")
        + f"; the run took {facts['runtime'] / 60:.1f} min. Reproduce with `make bench` or "
        "`python benchmarks/network.py` (`--quick` for a smoke run).",
        "",
        f"- Machine: {cpu_name()}, {os.cpu_count()} logical CPUs ({facts['cores']} usable); "
        f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__} "
        f"(threading layer `{layer}`), PyTorch {torch_version}.",
        f"- BLAS (threadpoolctl): {facts['blas']}.",
        "- Threads: " + "; ".join(f"{n}: {how}" for n, how in facts["how_threads"].items()) + ".",
        f"- Load average at start / end: {facts['load_start']} / {facts['load_end']}. The machine "
        "is shared: before each measurement (and between minidl's epochs, from the OutputFcn, "
        f"the wait left out of the epoch time) the script waits up to {facts['patience']:.0f} s "
        f"(at most {WAITING['budget'] / 60:.0f} min in all; it waited {WAITING['spent'] / 60:.1f}) "
        f"for the CPUs to be 85% idle; it found {min(QUIET):.0%} idle at worst, "
        f"{np.median(QUIET):.0%} in the median of {len(QUIET)} waits.",
        "",
        f"Data: {TRAIN_IMAGES:,} digit images of 28×28×1, float32 (`minidl.datasets.digits()`, "
        f"756 per class drawn with `splitEachLabel(..., \"randomize\")` after `rng(0)`, the first "
        f"{TRAIN_IMAGES:,} kept); inference on {INFER_IMAGES:,} held-out images. Networks: "
        "*simple* = the `layers` of `examples/simple_cnn_digits.py` (3 conv 3×3 + batch norm + "
        "ReLU, 8/16/32 channels, 2 max pools, fully connected 10); *residual* = the layer graph "
        "of `examples/residual_digits.py` (skip `maxpool_1` → `add/in2`, global average "
        "pooling). The PyTorch twins have the same layers (padding 1, BatchNorm2d eps 1e-5, "
        "the input layer's zero-centring as a subtraction of the mean image, Glorot weights), "
        "CrossEntropyLoss on logits, SGD momentum 0.9, lr 0.01, weight decay 1e-4 on weights.",
        "",
        "### Training epoch",
        "",
        "*minidl*: `trainNetwork(X, Y, layers, trainingOptions(\"sgdm\", MaxEpochs=E, "
        "MiniBatchSize=B, Shuffle=\"every-epoch\", Verbose=False, InitialLearnRate=0.01, "
        "BatchNormalizationStatistics=\"moving\"))`, each epoch timed by an OutputFcn at its "
        "last iteration (`info.TimeSinceStart`), so set-up and the end of training are left "
        f"out; epoch 1 is a warm-up (its time is shown: it includes any JIT compilation); E = {epochs}. "
        "*PyTorch*: the same loop by hand (randperm shuffle, zero_grad / forward / loss / backward "
        "/ step), one warm-up epoch before minidl starts, then one epoch right after each of "
        "minidl's, run from minidl's OutputFcn (and left out of minidl's time), so that each "
        "pair of epochs meets the same machine: this virtual machine's speed drifts by up to "
        "2× over minutes, which unpaired timings would mistake for a difference between the "
        "frameworks. Times are medians over the pairs of epochs 2..E, and *minidl / PyTorch* is "
        "the median of the pairs' ratios (< 1: minidl is faster). Both drop the last partial "
        "mini-batch, so an epoch is ⌊7552/B⌋·B images. A pair during which other processes "
        f"used more than {DISTURBED_LOAD} cores counts as disturbed and is left out while an "
        f"undisturbed one is left; minidl's run is repeated once when none is; {star}: none was "
        "left. *Others' load*: the most other processes used during the pairs kept, in cores.",
        "",
        "| network | mini-batch | threads | minidl s/epoch | minidl images/s | minidl epoch 1 s "
        "| PyTorch s/epoch | PyTorch images/s | minidl / PyTorch | others' load minidl / PyTorch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in train_rows:
        theirs_ips = None if r["theirs"] is None else r["images"] / r["theirs"]
        lines.append(
            f"| {r['network']} | {r['batch']} | {r['threads']} | {r['ours']:.3f} "
            f"| {r['images'] / r['ours']:.0f} | {r['first']:.3f} | {fmt(r['theirs'], '.3f')} "
            f"| {fmt(theirs_ips, '.0f')} | {fmt(r['ratio'], '.2f')}{mark(r['disturbed'])} "
            f"| {r['ours_load']:.2f} / {fmt(r['theirs_load'], '.2f')} |")
    lines += [
        "",
        "### 'population' final pass",
        "",
        "MATLAB's default `BatchNormalizationStatistics=\"population\"` adds one pass over the "
        "training set in training mode after the last iteration, to compute the final "
        "batch-norm statistics: a one-off cost per `trainNetwork` call, not per epoch. Timed "
        "from the last iteration to the OutputFcn's `State=\"done\"` in a 'population' run "
        "that an OutputFcn stops after its first iteration (the pass still runs over all "
        f"{TRAIN_IMAGES:,} images), "
        + ("one run" if facts["repeats"] == 1 else f"median of {facts['repeats']} runs")
        + ", minus the same "
        "interval of the 'moving' run above (the trainer's own finish); "
        f"{star}: other processes used more than {DISTURBED_LOAD} cores meanwhile.",
        "",
        "| network | mini-batch | threads | final pass s | in minidl epochs |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in train_rows:
        lines.append(f"| {r['network']} | {r['batch']} | {r['threads']} "
                     f"| {r['population']:.3f}{mark(r['population_disturbed'])} "
                     f"| {r['population'] / r['ours']:.2f} |")
    lines += [
        "",
        "### Inference",
        "",
        f"*minidl*: `predict(net, X, MiniBatchSize={INFER_BATCH})` on {INFER_IMAGES:,} images "
        f"(the network trained at MiniBatchSize {INFER_BATCH} above). *PyTorch*: `eval()` and "
        f"`no_grad()` over the same mini-batches of {INFER_BATCH}, softmax included. Seconds "
        f"per call: medians of {facts['calls']} pairs of calls, minidl's and PyTorch's one right "
        "after the other (which goes first alternates), each pair once the machine is quiet, "
        "after a warm-up call of each; *minidl / PyTorch* is the median of the pairs' ratios. "
        f"Pairs during which other processes used more than {DISTURBED_LOAD} cores are left "
        f"out while one is left ({star}: none was).",
        "",
        "| network | threads | minidl s | minidl images/s | PyTorch s | PyTorch images/s "
        "| minidl / PyTorch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in infer_rows:
        theirs_ips = None if r["theirs"] is None else INFER_IMAGES / r["theirs"]
        lines.append(f"| {r['network']} | {r['threads']} | {r['ours']:.4f} | {INFER_IMAGES / r['ours']:.0f} "
                     f"| {fmt(r['theirs'], '.4f')} | {fmt(theirs_ips, '.0f')} "
                     f"| {fmt(r['ratio'], '.2f')}{mark(r['disturbed'])} |")
    lines += [
        "",
        "### Per-layer breakdown",
        "",
        "<!-- hook: layer_breakdown(net, X, Y) in benchmarks/network.py -->",
        "",
        f"`minidl.profileNetwork(net, X, Y, MiniBatchSize={INFER_BATCH}, "
        f"NumIterations={PROFILE_ITERATIONS})` on each network trained at MiniBatchSize "
        f"{INFER_BATCH} above, {facts['cores']} threads, called by `layer_breakdown` in "
        "`benchmarks/network.py`. One row per step of minidl's execution plan, ms per "
        "mini-batch: *Forward* and *Backward* are medians inside a training iteration, "
        "*Alone* the same forward called on its own (a step whose *Alone* is much less than "
        "its *Forward* waits for something else), *Predict* the step in `predict` (0 for a batch "
        "normalization folded into its convolution). See docs/performance.md.",
        "",
    ]
    for name, table in breakdowns.items():
        lines += [f"*{name}*:", ""] + table + [""]
    return lines


if __name__ == "__main__":
    main()
