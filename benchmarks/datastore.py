"""Training from a folder of PNG files (imageDatastore) against training from an in-memory
array, and peak memory while training from a large folder.

    make bench                                      # or: python benchmarks/datastore.py
    python benchmarks/datastore.py --quick --output /tmp/bench.md   # smoke run, < 1 min

- Epoch time: MATLAB's example CNN (examples/simple_cnn_digits.py), sgdm, MiniBatchSize 128,
  Shuffle 'every-epoch', BatchNormalizationStatistics 'moving', on the 10,000 digit images
  of ``digitDataset()`` (28×28 PNG files): from the array of the same images
  (``minidl.digits(0)``, pixel for pixel what the files hold), from the folder read in the
  training thread, and from the folder with ``DispatchInBackground=True``. An OutputFcn
  stamps the end of each epoch; epoch 1 is a warm-up, the time is the median of the others.
  Three rounds (one with --quick), each timing the array, the folder and the folder in the
  background back to back, in an order that rotates; the ratios are the medians of the
  rounds' paired ratios.
- Peak memory: the peak resident set size (ru_maxrss) of a fresh process that trains one
  epoch from a folder of 10,000 and of 60,000 PNG files (the 60,000 are the 10,000 hard-linked
  six times under other names, so every file is a separate path read and decoded), with the
  default 'population' statistics pass over the whole folder and input normalization.

Run it on an otherwise idle machine (on a shared one: under a tool that pauses the others).
Writes its section of docs/benchmarks.md.
"""
import argparse
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import minidl  # noqa: E402
from minidl import (batchNormalizationLayer, classificationLayer, convolution2dLayer,  # noqa: E402
                    fullyConnectedLayer, imageDatastore, imageInputLayer, maxPooling2dLayer, reluLayer,
                    softmaxLayer, trainingOptions, trainNetwork)

from minidl.training.data_source import reader_threads  # noqa: E402

from _report import cpu_name, load_average, write_section  # noqa: E402

SECTION = "benchmarks/datastore.py"


def layers():
    return [imageInputLayer([28, 28, 1]),
            convolution2dLayer(3, 8, Padding="same"), batchNormalizationLayer(), reluLayer(),
            maxPooling2dLayer(2, Stride=2),
            convolution2dLayer(3, 16, Padding="same"), batchNormalizationLayer(), reluLayer(),
            maxPooling2dLayer(2, Stride=2),
            convolution2dLayer(3, 32, Padding="same"), batchNormalizationLayer(), reluLayer(),
            fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]


def epoch_times(data, epochs, background=False, count=10000):
    """Seconds per epoch (epochs 2..E) of trainNetwork on ``data`` (a datastore, or (X, Y))."""
    stamps, per_epoch = [], count // 128

    def stamp(info):
        if info.State == "iteration" and info.Iteration % per_epoch == 0:
            stamps.append(time.perf_counter())

    minidl.rng(0)
    options = trainingOptions("sgdm", MaxEpochs=epochs, Shuffle="every-epoch", Verbose=False, OutputFcn=stamp,
                              BatchNormalizationStatistics="moving", DispatchInBackground=background)
    trainNetwork(*(data if isinstance(data, tuple) else (data,)), layers(), options)
    return np.diff(stamps)


def folder_of(count, base):
    """A folder of ``count`` PNG files (a multiple of 10,000): the DigitDataset, hard-linked."""
    if count == 10000:
        return base
    target = Path(base).parent / f"DigitDataset-x{count // 10000}"
    if not target.exists():
        partial = Path(str(target) + ".partial")
        for copy in range(count // 10000):
            for label in range(10):
                folder = partial / str(label)
                folder.mkdir(parents=True, exist_ok=True)
                for name in os.listdir(Path(base) / str(label)):
                    os.link(Path(base) / str(label) / name, folder / f"c{copy}-{name}")
        partial.rename(target)
    return str(target)


def peak_memory(folder, quick):
    """(peak RSS in MB of a process training one epoch from ``folder``, RSS before training, peak
    of the memory allocated while training (tracemalloc: Python objects and NumPy arrays), MB)."""
    result = subprocess.run([sys.executable, __file__, "--memory-run", folder] + (["--quick"] if quick else []),
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"the memory run on {folder} failed:\n{result.stderr[-3000:]}")
    return tuple(float(v) for v in result.stdout.split()[-3:])


def memory_run(folder, quick):
    imds = imageDatastore(folder, IncludeSubfolders=True, LabelSource="foldernames")
    if quick:
        imds = minidl.subset(imds, np.arange(1, imds.numobservations() + 1, 10))
    options = trainingOptions("sgdm", MaxEpochs=1, Verbose=False, DispatchInBackground=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainNetwork(imds, layers(), options)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()             # a second, traced run: what training itself allocates
    trainNetwork(imds, layers(), options)
    traced = tracemalloc.get_traced_memory()[1] / 2 ** 20
    print(f"{peak:.1f} {before:.1f} {traced:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 images, 2 epochs: a smoke run")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--memory-run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_run:
        return memory_run(args.memory_run, args.quick)
    base = minidl.digitDataset()
    count, epochs = (1000, 2) if args.quick else (10000, 3)
    imds = imageDatastore(base, IncludeSubfolders=True, LabelSource="foldernames")
    X, Y = minidl.digits(0)
    order = np.argsort([f"{label}/{k:05d}" for k, label in enumerate(Y)], kind="stable")   # the folder's order
    X, Y = X[..., order].astype(np.float32), Y[order]
    if args.quick:
        imds = minidl.subset(imds, np.arange(1, 10001, 10))
        X, Y = X[..., ::10], Y[::10]
    # Paired: each round times the three ways back to back, so that a change of the machine's
    # load between rounds moves the array's time and the folder's together; the order rotates
    # from round to round, so that no way is always the first or the last.
    rounds = 1 if args.quick else 3
    ways = {"array": lambda: epoch_times((X, Y), epochs, count=count),
            "serial": lambda: epoch_times(imds, epochs, count=count),
            "background": lambda: epoch_times(imds, epochs, True, count=count)}
    runs = {name: [] for name in ways}
    for r in range(rounds):
        for name in list(ways)[r % 3:] + list(ways)[:r % 3]:
            runs[name].append(np.median(ways[name]()))
    array, serial, background = (np.median(runs[name]) for name in ("array", "serial", "background"))
    serial_ratio, background_ratio = (np.median(np.divide(runs[name], runs["array"]))
                                      for name in ("serial", "background"))
    small, small_before, small_traced = peak_memory(base, args.quick)
    large, large_before, large_traced = peak_memory(folder_of(60000, base), args.quick)
    n = "1,000" if args.quick else "10,000"
    lines = [
        "## Training from a folder of PNG files (imageDatastore)",
        "",
        f"MATLAB's example CNN, MiniBatchSize 128, one epoch of {n} 28×28 digit images; "
        f"{os.cpu_count()} CPUs ({cpu_name()}), load average before the run {load_average()}. "
        f"{rounds} round(s), each timing the three ways back to back (the order rotating); the table gives "
        f"the median epoch and the median of the rounds' ratios.",
        "",
        "| data | s per epoch | × array |",
        "|---|---|---|",
        f"| in-memory array | {array:.3f} | 1.00 |",
        f"| folder, read in the training thread | {serial:.3f} | {serial_ratio:.2f} |",
        f"| folder, DispatchInBackground=true | {background:.3f} | {background_ratio:.2f} |",
        "",
        *(["No CPU is left free by training here, so DispatchInBackground starts no reader thread "
           "(docs/streaming.md): both folder rows run the same code, and their difference is the "
           "machine's noise.", ""] if reader_threads() == 0 else []),
        "| folder | peak RSS (MB) | RSS before training (MB) | peak allocated while training (MB, tracemalloc) |",
        "|---|---|---|---|",
        f"| {'1,000' if args.quick else '10,000'} PNG files | {small:.0f} | {small_before:.0f} | {small_traced:.1f} |",
        f"| {'6,000' if args.quick else '60,000'} PNG files | {large:.0f} | {large_before:.0f} | {large_traced:.1f} |",
        "",
        f"Peak memory ratio (6× the files): **{large / small:.2f}×** in RSS, **{large_traced / small_traced:.2f}×** "
        f"in what training allocates (target < 2×); epoch from the folder "
        f"with DispatchInBackground: **{background_ratio:.2f}×** the array's (target ≤ 1.3×).",
    ]
    write_section(args.output, SECTION, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
