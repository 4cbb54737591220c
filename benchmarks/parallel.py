"""Parallel training benchmark: throughput of ExecutionEnvironment 'parallel' with 1 and 2
Ray workers (1 thread each) on the residual network of benchmarks/network.py, against
single-process training with 1 thread, and per iteration the split between the workers'
computing and everything else (communication, object store, merge, solver step).

    python benchmarks/quiet_session.py python benchmarks/parallel.py   # writes its section of docs/benchmarks.md

quiet_session.py pauses every other python process while the benchmark runs, as
/usr/local/bin/quiet does, but spares every process that inherits its environment marker,
so all of the Ray processes this script starts (quiet spares the command's descendants
only; under it, Ray's start-up once timed out). Each configuration trains 'moving'
statistics with sgdm for WARMUP + TIMED iterations of MiniBatchSize 128, then 256;
an OutputFcn stamps the time of each iteration, the first WARMUP are left out (JIT
loading, the workers' first copy of the network and data).
"""
import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402

import minidl  # noqa: E402
from minidl.parallel.pool import local_cluster  # noqa: E402

from _report import cpu_name, load_average, write_section  # noqa: E402
from network import load_data, minidl_network  # noqa: E402

SECTION = "benchmarks/parallel.py"
BATCHES, WARMUP, TIMED, REPEATS = (128, 256), 6, 30, 3     # BATCHES[1] = 2 × BATCHES[0]


def train(X, Y, batch, environment, pool=None, load=None, synchronized=False):
    """Median seconds per iteration, and with a pool the median of the slowest worker's
    computing per iteration. Medians: the machine is shared, and a preempted iteration
    should not count."""
    stamps, compute = [], []

    def tick(record):
        if record["State"] == "iteration":
            if pool is not None and not synchronized and record["Iteration"] in (WARMUP, WARMUP + TIMED):
                compute.append(ray.get([w.compute_seconds.remote() for w in pool.workers]))
            stamps.append(time.perf_counter())
        return record["State"] == "iteration" and record["Iteration"] >= WARMUP + TIMED

    minidl.rng(0)
    options = minidl.trainingOptions("sgdm", MaxEpochs=100, MiniBatchSize=batch, Shuffle="every-epoch",
                                     BatchNormalizationStatistics="moving", Verbose=False, WorkerLoad=load,
                                     ExecutionEnvironment=environment, OutputFcn=tick,
                                     SynchronizeBatchNormalization=synchronized)
    minidl.trainNetwork(X, Y, minidl_network("residual"), options)
    per_iteration = np.diff(stamps[WARMUP - 1:WARMUP + TIMED])
    if not compute:
        return float(np.median(per_iteration)), None
    calls = [seconds for seconds in compute[-1] if seconds]        # a worker without a share made no call
    slowest = np.max(np.array(calls)[:, -TIMED:], axis=0)
    return float(np.median(per_iteration)), float(np.median(slowest))


def message_bytes(X, Y):
    """Bytes per iteration: learnables + state to the workers, gradients + statistics back."""
    minidl.rng(0)
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=128, Verbose=False)
    net, _ = minidl.trainNetwork(X, Y, minidl_network("residual"), options)
    learnables = sum(np.asarray(getattr(layer, name)).nbytes for layer in net.Layers for name in layer.learnables)
    state = sum(np.asarray(getattr(layer, name)).nbytes for layer in net.Layers for name in layer.state_names)
    channels = [np.asarray(layer.TrainedMean).size for layer in net.Layers if layer.state_names]
    return learnables, state, 3 * 8 * sum(channels), channels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    Xall, Yall, _ = load_data()
    some = np.random.default_rng(0).permutation(Yall.size)[:2048]
    X, Y = np.ascontiguousarray(Xall[..., some]), Yall[some]
    minidl.maxNumCompThreads(1)
    ray.init(**local_cluster(2))
    pool = minidl.parpool(2, Threads=1)
    single, rows, synchronized_notes = {}, {}, []
    for _ in range(REPEATS):     # alternated, so that a slow spell of the machine hits all alike
        for batch in BATCHES:
            single.setdefault(batch, []).append(train(X, Y, batch, "cpu")[0])
            for workers, load, synchronized in ((1, [1, 0], False), (2, [1, 1], False), (2, [1, 1], True)):
                rows.setdefault((workers, batch, synchronized), []).append(
                    train(X, Y, batch, "parallel", pool, load, synchronized))
    pool.delete()
    ray.shutdown()
    # Each round times every configuration back to back: a ratio is taken within a round, the
    # table gives medians over the rounds (times and ratios each).
    speedups = {(workers, batch, synchronized): [base[0] / run[0] for base, run in zip(rows[1, batch, False], runs)]
                for (workers, batch, synchronized), runs in rows.items()}
    single_ratio = {batch: float(np.median([base[0] / t for base, t in zip(rows[1, batch, False], times)]))
                    for batch, times in single.items()}
    advised = [2 * one[0] / two[0] for one, two in zip(rows[1, BATCHES[0], False], rows[2, BATCHES[1], False])]
    single = {batch: float(np.median(times)) for batch, times in single.items()}
    rows = {key: tuple(None if values[0] is None else float(np.median(values)) for values in zip(*results))
            for key, results in rows.items()}
    learnables, state, statistics, channels = message_bytes(X, Y)
    lines = ["## Parallel training (Ray workers)", "",
             f"`benchmarks/parallel.py`, {datetime.date.today()}, {cpu_name()}, {os.cpu_count()} logical CPUs, "
             f"load average before the run {load_average()}. Residual network of `benchmarks/network.py`, "
             f"MiniBatchSize 128 and 256 (the global mini-batch, split equally), sgdm, 'moving' statistics; "
             f"{TIMED} timed iterations after {WARMUP} warm-up ones; the median iteration of each run; "
             f"{REPEATS} rounds, each running every configuration back to back, the table giving the median over the "
             f"rounds of the times and of the speed-ups taken within a round. The 1-worker runs use the same 2-worker pool with "
             f"WorkerLoad [1, 0] (the second worker gets no share and is not called). Every worker and the single process "
             f"compute with 1 thread. *Workers computing* is the slowest worker's forward + backward; "
             f"*other* is the rest of the iteration (Ray calls, object store, merging gradients and "
             f"statistics, solver step on the driver). *Synchronized BN*: `SynchronizeBatchNormalization=True`, "
             f"two more round trips per batch-norm layer per iteration (its cost is the difference to the row above "
             f"it).", "",
             "| MiniBatchSize | configuration | ms / iteration | images / s | speed-up vs 1 worker | "
             "workers computing (ms) | other (ms) |",
             "|---|---|---|---|---|---|---|"]
    for batch in BATCHES:
        lines.append(f"| {batch} | single process, 1 thread | {1e3 * single[batch]:.1f} | {batch / single[batch]:.0f} | "
                     f"{single_ratio[batch]:.2f} | – | – |")
        for workers, synchronized in ((1, False), (2, False), (2, True)):
            seconds, compute = rows[workers, batch, synchronized]
            lines.append(f"| {batch} | {workers} worker{'s' if workers > 1 else ''} × 1 thread"
                         f"{', synchronized BN' if synchronized else ''} | {1e3 * seconds:.1f} | "
                         f"{batch / seconds:.0f} | {np.median(speedups[workers, batch, synchronized]):.2f} | "
                         + ("– | – |" if synchronized else f"{1e3 * compute:.1f} | {1e3 * (seconds - compute):.1f} |"))
        extra = rows[2, batch, True][0] - rows[2, batch, False][0]
        synchronized_notes.append(f"MiniBatchSize {batch}: {1e3 * extra:+.1f} ms per iteration "
                                  f"({extra / rows[2, batch, False][0]:+.0%})")
    one, two = rows[1, BATCHES[0], False][0], rows[2, BATCHES[1], False][0]
    lines += ["", f"Scaling as MATLAB advises (docs/parallel.md: `MiniBatchSize` grows with the number of workers, "
                  f"{BATCHES[0]} images per worker): 1 worker at MiniBatchSize {BATCHES[0]} "
                  f"{BATCHES[0] / one:.0f} images/s, 2 workers at {BATCHES[1]} {BATCHES[1] / two:.0f} images/s: "
                  f"**{np.median(advised):.2f}×** (target ≥ 1.6×; rounds {', '.join(f'{r:.2f}' for r in advised)}). "
                  f"At a fixed global MiniBatchSize (the rows above) each worker's share halves while Ray's "
                  f"round trip per iteration stays: **{np.median(speedups[2, BATCHES[0], False]):.2f}×** at "
                  f"{BATCHES[0]} (rounds {', '.join(f'{r:.2f}' for r in speedups[2, BATCHES[0], False])}), "
                  f"**{np.median(speedups[2, BATCHES[1], False]):.2f}×** at {BATCHES[1]} (rounds "
                  f"{', '.join(f'{r:.2f}' for r in speedups[2, BATCHES[1], False])})."]
    lines += ["", f"Bytes per iteration and worker: learnables {learnables:,} + batch-norm state {state:,} sent; "
                  f"gradients {learnables:,} + partial statistics {statistics:,} (count, mean, M2 per channel) "
                  f"returned, plus the share's indices and scores. Synchronized batch normalization adds "
                  f"{2 * len(channels)} round trips ({len(channels)} batch-norm layers, forward and backward) carrying "
                  f"{5 * 8 * sum(channels):,} bytes each way per worker (3 + 2 float64 per channel) and costs "
                  f"{'; '.join(synchronized_notes)}.", ""]
    write_section(args.output, SECTION, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
