"""The hardware ceiling of 2-worker data-parallel training on this machine, without Ray:
the per-worker compute of benchmarks/parallel.py (forward + loss + backward of the
worker's share of a mini-batch of the residual network, 1 thread) in two independent
processes at once, against one process alone.

    /usr/local/bin/quiet python benchmarks/parallel_ceiling.py   # writes its section of docs/benchmarks.md

Two spawned processes (1 Numba / BLAS thread each) receive commands over pipes; for a
measurement one of them, or both at once (started at the same instant), run ITERATIONS
timed forward + backward passes on a share after WARMUP untimed ones. For MiniBatchSize
N the ceiling of the speed-up is

    t_alone(N) / t_together(N/2)

(one worker computing the whole mini-batch alone, against the slower of two computing
half each at the same time): the speed-up 2-worker training would reach if sending,
merging and the solver step cost nothing. Medians of the iterations; the best of REPEATS
alternated rounds.
"""
import argparse
import datetime
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTION = "benchmarks/parallel_ceiling.py"
BATCHES, WARMUP, ITERATIONS, REPEATS = (128, 256), 3, 25, 3


def child(connection):
    import minidl
    from minidl.graph.inference import to_internal
    from minidl.threads import computing
    from network import load_data, minidl_network
    minidl.maxNumCompThreads(1)
    X, Y, _ = load_data()
    some = np.random.default_rng(0).permutation(Y.size)[:1024]     # every class
    X, Y = np.ascontiguousarray(X[..., some]), Y[some]
    minidl.rng(0)
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=128, Verbose=False,
                                     BatchNormalizationStatistics="moving")
    net, _ = minidl.trainNetwork(X, Y, minidl_network("residual"), options)
    Xi = to_internal(X, net.input_layer, "SSCB", owner="benchmark")
    T = np.eye(10, dtype=np.float32)[np.searchsorted(np.unique(Y), Y)]
    rng = np.random.default_rng(os.getpid())
    connection.send("ready")
    while True:
        command = connection.recv()
        if command is None:
            return
        share, start_at = command
        times = []
        with computing():
            for k in range(WARMUP + ITERATIONS):
                if k == WARMUP:
                    while time.time() < start_at:     # both processes start timing together
                        time.sleep(0.001)
                indices = np.sort(rng.choice(len(Y), share, replace=False))
                begin = time.perf_counter()
                loss, _, trace = net.forward_loss(Xi[indices], T[indices])   # as the Ray worker computes
                net.backward(trace)
                if k >= WARMUP:
                    times.append(time.perf_counter() - begin)
        connection.send(float(np.median(times)))


def measure(connections, share):
    start_at = time.time() + 1.0 + 0.05 * WARMUP * share / 64    # after both have warmed up
    for connection in connections:
        connection.send((share, start_at))
    return [connection.recv() for connection in connections]


def lscpu():
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "lscpu unavailable"
    keep = ("Model name", "CPU(s):", "Thread(s) per core", "Core(s) per socket", "Socket(s)", "L2 cache",
            "Hypervisor vendor")
    return "; ".join(" ".join(line.split()) for line in lines if line.strip().startswith(keep))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    os.environ["NUMBA_NUM_THREADS"] = "1"     # the children inherit it: 1 thread each, as a pool worker
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe() for _ in range(2)]
    processes = [context.Process(target=child, args=(theirs,), daemon=True) for _, theirs in pipes]
    for process in processes:
        process.start()
    connections = [ours for ours, _ in pipes]
    assert [connection.recv() for connection in connections] == ["ready", "ready"]
    results = {}
    for _ in range(REPEATS):
        for batch in BATCHES:
            results.setdefault(("alone", batch), []).append(measure(connections[:1], batch)[0])
            results.setdefault(("alone", batch // 2), []).append(measure(connections[:1], batch // 2)[0])
            results.setdefault(("together", batch // 2), []).append(max(measure(connections, batch // 2)))
    for connection in connections:
        connection.send(None)
    for process in processes:
        process.join(30)
    best = {key: min(values) for key, values in results.items()}
    from _report import cpu_name, load_average, write_section
    lines = ["## Parallel training: the hardware ceiling (no Ray)", "",
             f"`benchmarks/parallel_ceiling.py`, {datetime.date.today()}, {cpu_name()}, {os.cpu_count()} logical "
             f"CPUs, load average before the run {load_average()}; `lscpu`: {lscpu()}. The per-worker compute of "
             f"`benchmarks/parallel.py` (forward + loss + backward of a share of the residual network, 1 thread, "
             f"the share's images indexed out of the data as a pool worker does) in 2 independent processes: "
             f"one alone, or both at once. Median of {ITERATIONS} iterations after {WARMUP} warm-up ones, the best "
             f"of {REPEATS} alternated rounds (a share of 128 images alone is measured twice per round: as the "
             f"whole of MiniBatchSize 128 and as half of 256).", "",
             "| MiniBatchSize N | 1 process, N images (ms) | 1 process, N/2 images (ms) | "
             "2 processes at once, N/2 images each (ms, slower one) | slowdown of a process when both compute | "
             "**ceiling of the 2-worker speed-up** |",
             "|---|---|---|---|---|---|"]
    for batch in BATCHES:
        alone, half, together = best["alone", batch], best["alone", batch // 2], best["together", batch // 2]
        lines.append(f"| {batch} | {1e3 * alone:.1f} | {1e3 * half:.1f} | {1e3 * together:.1f} | "
                     f"{together / half:.2f}× | **{alone / together:.2f}×** |")
    lines += ["", "Every round (ms): " + "; ".join(
        f"{kind} {share}: " + ", ".join(f"{1e3 * v:.1f}" for v in values) for (kind, share), values in results.items()),
        ""]
    write_section(args.output, SECTION, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
