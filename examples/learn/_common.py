"""Shared plumbing of the batch-norm learning experiments (examples/learn/*.py).

Quick mode (``MINIDL_QUICK=1`` or ``--quick``) runs a shrunken version for the test suite and
writes to a temporary folder, so it never overwrites the committed full-run figures and numbers.
Each experiment writes ``docs/figures/<name>.png`` and ``docs/figures/<name>.json`` (the numbers
quoted in docs/learn/).
"""
import json
import os
import pathlib
import pickle
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))          # this checkout's minidl, also when run as a plain script

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # no display needed: the figures go to PNG files
import numpy as np  # noqa: E402

from minidl import (classificationLayer, classify, digitTest4DArrayData, digitTrain4DArrayData,  # noqa: E402
                    fullyConnectedLayer, imageInputLayer, reluLayer, rng, softmaxLayer, trainNetwork)

QUICK = os.environ.get("MINIDL_QUICK") == "1" or "--quick" in sys.argv
FIGURES = pathlib.Path(os.environ.get("MINIDL_FIGURES_DIR") or (
    ROOT / "docs" / "figures" if not QUICK else pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "minidl_figures"))


CACHE = os.environ.get("MINIDL_CACHE")     # a folder: keep each run's result, reuse it on a rerun


def seeds(quick, full):
    """The seeds of an experiment; MINIDL_SEEDS="0,1,2" overrides them (e.g. to assemble the
    figure from the runs that finished)."""
    chosen = os.environ.get("MINIDL_SEEDS")
    return tuple(int(s) for s in chosen.split(",")) if chosen else (quick if QUICK else full)


def cached(key, compute):
    """compute(), or its result saved under MINIDL_CACHE by an earlier run with the same key (a
    string naming the experiment, condition and seed). Long experiments run in several
    processes, or are interrupted and resumed, without repeating finished runs."""
    if not CACHE or QUICK:
        return compute()
    path = pathlib.Path(CACHE) / f"{key}.pickle"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".partial")
    temporary.write_bytes(pickle.dumps(result))
    temporary.replace(path)
    return result


def load_data(quick_sizes=(600, 500)):
    """(XTrain, YTrain, XTest, YTest, source): real MNIST if MINIDL_MNIST names a folder with
    its IDX files, else minidl's built-in digits (5,000 training, 5,000 test images). In quick
    mode only the first quick_sizes = (training, test) images (None: all of them)."""
    folder = os.environ.get("MINIDL_MNIST")
    if folder:
        from minidl.data.mnist import loadMNIST
        XTrain, YTrain = loadMNIST(folder, "train")
        XTest, YTest = loadMNIST(folder, "test")
        source = f"MNIST (IDX files in {folder})"
    else:
        (XTrain, YTrain, _), (XTest, YTest, _) = digitTrain4DArrayData(), digitTest4DArrayData()
        source = "minidl's built-in digits (digitTrain4DArrayData / digitTest4DArrayData)"
    if QUICK and quick_sizes:
        XTrain, YTrain, XTest, YTest = (XTrain[..., :quick_sizes[0]], YTrain[:quick_sizes[0]],
                                        XTest[..., :quick_sizes[1]], YTest[:quick_sizes[1]])
    return XTrain, YTrain, XTest, YTest, source


def train(X, Y, layers, options, seed=None):
    """trainNetwork, silencing the RuntimeWarning of a diverging run (info.StopReason says it)."""
    if seed is not None:
        rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return trainNetwork(X, Y, layers, options)


def mlp(norm):
    """784 → 3 × (fully connected 100, norm(), ReLU) → 10 → softmax; norm None: none. Pixels
    are used as they are ([0, 1] for the built-in digits)."""
    layers = [imageInputLayer([28, 28, 1], Normalization="none")]
    for _ in range(3):
        layers.append(fullyConnectedLayer(100))
        if norm is not None:
            layers.append(norm())
        layers.append(reluLayer())
    return layers + [fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]


def accuracy(net, X, Y):
    """The fraction of X that net classifies as Y."""
    YPred, _ = classify(net, X)
    return float(np.mean(YPred == Y))


def spread(values):
    """mean, std (ddof=0), min, max of per-seed values, as plain floats for JSON."""
    values = np.asarray(values, dtype=float)
    return dict(mean=float(values.mean()), std=float(values.std()), min=float(values.min()),
                max=float(values.max()), seeds=[float(v) for v in values])


def error_bars(mean, low, high):
    """matplotlib's yerr for a band [low, high] around mean (rounding can make a width -1e-17)."""
    mean = np.asarray(mean, float)
    return [np.maximum(mean - np.asarray(low, float), 0), np.maximum(np.asarray(high, float) - mean, 0)]


def save(name, fig, numbers, started):
    """Write <name>.png and <name>.json (with the run's configuration and duration)."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES / f"{name}.png", dpi=110)
    numbers = dict(numbers, quick=QUICK, seconds=round(time.perf_counter() - started, 1))
    temporary = FIGURES / f".{name}.json.partial"     # never leave a half-written file behind
    temporary.write_text(json.dumps(numbers, indent=1) + "\n")
    temporary.replace(FIGURES / f"{name}.json")
    print(f"wrote {FIGURES / (name + '.png')} and {FIGURES / (name + '.json')}")
