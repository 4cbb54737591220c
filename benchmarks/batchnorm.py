"""Benchmark of the batch-norm kernels: minidl (Numba) vs its NumPy twin vs PyTorch CPU.

    make bench                      # or: python benchmarks/batchnorm.py
    NUMBA_NUM_THREADS=1 python benchmarks/batchnorm.py --output docs/benchmarks-1thread.md

Everything is measured in one run on one machine: the kernels, the twin, PyTorch
(`torch.nn.functional.batch_norm`, training=True with autograd for the backward; the
same thread count), the machine's streaming bandwidth (a Numba parallel triad), the
cold compile time and the first call in a fresh process. Writes its own section of
docs/benchmarks.md (benchmarks/_report.py keeps the other sections).
"""

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402
from numba import njit, prange  # noqa: E402

from minidl.kernels import batchnorm as bn  # noqa: E402
from minidl.kernels import reference as ref  # noqa: E402

from _report import cpu_name, write_section  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the `bench` extra is optional; the PyTorch column is then n/a
    torch = None

SHAPES = [(128, 8, 28, 28), (128, 16, 14, 14), (128, 32, 7, 7), (64, 64, 56, 56),
          (32, 128, 32, 32), (4096, 256)]
LARGEST = [(64, 64, 56, 56), (32, 128, 32, 32)]
EPS = 1e-5
# Arrays of x's size moved per call: forward reads x for the statistics, then reads
# x and writes y; backward reads x and dy for the sums, then reads both and writes dx.
PASSES = {"forward": 3, "backward": 5, "forward+backward": 8, "inference": 2}


def _preemptions():
    """Involuntary context switches of this process so far (all threads)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def timeit(fn, setup=None, least=9, budget=2.0, most=400, rounds=3):
    """Wall time in seconds of fn(): the better of `rounds` medians, each taken once
    the CPUs are idle, over calls that no other process preempted (the machine may
    be shared, and a preempted thread stalls a parallel region for a scheduler
    slice). One warm-up call; setup() runs untimed before each call. A round with
    fewer than 3 undisturbed calls uses the median of all its calls and is counted
    in DISTURBED."""
    if setup:
        setup()
    fn()
    best, disturbed = float("inf"), True
    for _ in range(rounds):
        wait_for_quiet(window=0.25, patience=20.0, record=False)
        clean, every = [], []
        start = time.perf_counter()
        while len(clean) < least and len(every) < most and (
                time.perf_counter() - start < budget or len(every) < least):
            if setup:
                setup()
            before = _preemptions()
            t = time.perf_counter()
            fn()
            dt = time.perf_counter() - t
            every.append(dt)
            if _preemptions() == before:
                clean.append(dt)
        ok = len(clean) >= 3
        value = float(np.median(clean if ok else every))
        if value < best:
            best, disturbed = value, not ok
    if disturbed:
        DISTURBED.append(fn)
    return best


DISTURBED = []


def _idle_fraction(seconds=1.0):
    """Fraction of all CPUs idle over the next `seconds` (Linux; 1.0 elsewhere)."""
    def sample():
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        values = [int(v) for v in fields]
        return values[3] + values[4], sum(values)
    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except OSError:
        return 1.0
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(least=0.85, patience=120.0, window=1.0, record=True):
    """Wait (at most `patience` s) until other processes leave the CPUs idle: on a
    shared machine their load would be measured as ours. Returns the idle fraction."""
    deadline = time.monotonic() + patience
    idle = _idle_fraction(window)
    while idle < least and time.monotonic() < deadline:
        idle = _idle_fraction(window)
    if record:
        QUIET.append(idle)
    return idle


QUIET = []


@njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]


def stream_bandwidth(n=1 << 25):
    """Bytes/s of a = b + s*c over three float32 arrays of 128 MiB (STREAM's count:
    three arrays moved per element)."""
    a = np.empty(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.ones(n, np.float32)
    return 3 * a.nbytes / timeit(lambda: _triad(a, b, c, np.float32(3.0)), least=11)


def minidl_ops(x, dy, scale, offset):
    """The public kernels as the execution plan calls them: into output buffers (out=)
    that it allocates once per mini-batch size and reuses."""
    y, mean, var = bn.bn_forward_train(x, scale, offset, EPS)
    a, b = bn.bn_fold(scale, offset, mean, var, EPS)
    y_out, dx_out = np.empty_like(x), np.empty_like(x)

    def fwd_bwd():
        _, m, v = bn.bn_forward_train(x, scale, offset, EPS, out=y_out)
        bn.bn_backward(dy, x, m, v, scale, offset, EPS, out=dx_out)

    return {
        "forward": lambda: bn.bn_forward_train(x, scale, offset, EPS, out=y_out),
        "backward": lambda: bn.bn_backward(dy, x, mean, var, scale, offset, EPS, out=dx_out),
        "forward+backward": fwd_bwd,
        "inference": lambda: bn.bn_inference(x, a, b, out=y_out),
    }


def kernel_ops(x, dy, scale, offset):
    """The Numba functions behind the API, writing into preallocated outputs: the
    API minus NumPy's allocation of the output (and the page faults on its first
    touch, which the operating system must zero)."""
    y, mean, var = bn.bn_forward_train(x, scale, offset, EPS)
    a, b = bn.bn_fold(scale, offset, mean, var, EPS)
    zero = np.zeros_like(a)
    out = np.empty_like(x).reshape(-1)
    xf, gf = x.reshape(-1), dy.reshape(-1)
    if x.ndim == 4:
        N, C, H, W = x.shape
        G = bn._group(N, C, H * W)

        def fwd():
            return bn._forward_nchw(xf, N, C, H * W, scale, offset, EPS, False, out, G)

        def bwd():
            return bn._backward_nchw(gf, xf, N, C, H * W, mean, var, scale, offset, EPS,
                                     False, out, G)

        def inf():
            bn._affine_nchw(xf, N, C, H * W, a, zero, b, False, out)
    else:
        N, C = x.shape

        def fwd():
            return bn._forward_nc(xf, N, C, scale, offset, EPS, False, out)

        def bwd():
            return bn._backward_nc(gf, xf, N, C, mean, var, scale, offset, EPS, False, out)

        def inf():
            bn._affine_nchw(xf, N, C, 1, a, zero, b, False, out)

    def fwd_bwd():
        fwd()
        bwd()

    return {"forward": fwd, "backward": bwd, "forward+backward": fwd_bwd, "inference": inf}


def twin_ops(x, dy, scale, offset):
    y, mean, var = ref.bn_forward_train(x, scale, offset, EPS)
    a, b = ref.bn_fold(scale, offset, mean, var, EPS)

    def fwd_bwd():
        _, m, v = ref.bn_forward_train(x, scale, offset, EPS)
        ref.bn_backward(dy, x, m, v, scale, offset, EPS)

    return {
        "forward": lambda: ref.bn_forward_train(x, scale, offset, EPS),
        "backward": lambda: ref.bn_backward(dy, x, mean, var, scale, offset, EPS),
        "forward+backward": fwd_bwd,
        "inference": lambda: ref.bn_inference(x, a, b),
    }


def torch_times(x, dy, scale, offset):
    """(seconds per op) for F.batch_norm in training mode with autograd, and in
    inference mode under no_grad, float32 on the CPU."""
    xt = torch.from_numpy(x).requires_grad_(True)
    w = torch.tensor(scale, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(offset, dtype=torch.float32, requires_grad=True)
    g = torch.from_numpy(dy)
    x_plain = torch.from_numpy(x)
    rm = torch.zeros(x.shape[1])
    rv = torch.ones(x.shape[1])
    state = {}

    def clear():
        xt.grad = w.grad = b.grad = None

    def forward():
        state["y"] = F.batch_norm(xt, None, None, w, b, training=True, eps=EPS)

    def before_backward():
        clear()
        forward()

    def fwd_bwd():
        F.batch_norm(xt, None, None, w, b, training=True, eps=EPS).backward(g)

    def inference():
        with torch.no_grad():
            F.batch_norm(x_plain, rm, rv, w, b, training=False, eps=EPS)

    return {
        "forward": timeit(forward),
        "backward": timeit(lambda: state["y"].backward(g), setup=before_backward),
        "forward+backward": timeit(fwd_bwd, setup=clear),
        "inference": timeit(inference),
    }


# ---------------------------------------------------------------- start-up

_STARTUP = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import numba
    from numba import njit
    t1 = time.perf_counter()
    import numpy as np
    t2 = time.perf_counter()
    from minidl.kernels import batchnorm as bn
    t3 = time.perf_counter()

    @njit(cache=True)
    def _trivial(v):
        return v + 1

    out = {"import numba": t1 - t0, "import minidl.kernels.batchnorm": t3 - t2}
    mode, only = sys.argv[1], sys.argv[2:]
    if mode == "init-first":
        t = time.perf_counter()
        _trivial(1)
        out["Numba's one-time initialisation (first call of any cached function)"] = time.perf_counter() - t
    x = np.random.default_rng(0).standard_normal((8, 4, 6, 6)).astype(np.float32)
    one, zero = np.ones(4), np.zeros(4)
    calls = [("bn_forward_train", lambda: bn.bn_forward_train(x, one, zero, 1e-5)),
             ("bn_backward", lambda: bn.bn_backward(x, x, zero, one, one, zero, 1e-5)),
             ("bn_inference", lambda: bn.bn_inference(x, one, zero)),
             ("bn_stats", lambda: bn.bn_stats(x))]
    for name, call in calls:
        if only and name not in only:
            continue
        t = time.perf_counter()
        call()
        out[name] = time.perf_counter() - t
    print(json.dumps(out))
""")

KERNELS = ("bn_forward_train", "bn_backward", "bn_inference", "bn_stats")


def startup_times():
    """In fresh processes, float32 images (the specialisation a CNN uses first):
    cold compile of each kernel alone (its own empty NUMBA_CACHE_DIR, so shared
    helpers are compiled again for each), then first calls with a warm cache."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "startup.py"
        script.write_text(_STARTUP)

        def run(cache, *args):
            env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(tmp) / cache),
                       PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
            out = subprocess.run([sys.executable, str(script), *args], env=env, cwd=ROOT,
                                 capture_output=True, text=True, check=True)
            return json.loads(out.stdout)

        cold = {name: run(f"cold-{name}", "init-first", name)[name] for name in KERNELS}
        run("warm", "init-first")  # fills the cache used below
        warm = [run("warm", "direct") for _ in range(3)]
        warm_init = [run("warm", "init-first") for _ in range(3)]
    med = lambda runs, key: float(np.median([r[key] for r in runs]))  # noqa: E731
    return cold, {k: med(warm, k) for k in warm[0]}, {k: med(warm_init, k) for k in warm_init[0]}


# ---------------------------------------------------------------- report

def load_average():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def ms(t):
    return "n/a" if t is None else f"{t * 1e3:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--no-twin", action="store_true", help="skip the NumPy twin (slow)")
    args = parser.parse_args()

    threads = numba.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    load_start = load_average()
    rng = np.random.default_rng(0)

    print(f"threads: {threads}; measuring streaming bandwidth ...", flush=True)
    wait_for_quiet()
    stream_before = stream_bandwidth()
    rows = []
    for shape in SHAPES:
        wait_for_quiet()
        x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
        dy = rng.standard_normal(shape).astype(np.float32)
        C = shape[1]
        scale, offset = rng.uniform(0.5, 2.0, C), rng.standard_normal(C)
        ours = {k: timeit(f) for k, f in minidl_ops(x, dy, scale, offset).items()}
        kern = {k: timeit(f) for k, f in kernel_ops(x, dy, scale, offset).items()}
        twin = ({k: timeit(f, least=3, budget=1.0, rounds=1) for k, f in twin_ops(x, dy, scale, offset).items()}
                if not args.no_twin else dict.fromkeys(PASSES))
        theirs = (torch_times(x, dy, scale, offset) if torch is not None
                  else dict.fromkeys(PASSES))
        for op, passes in PASSES.items():
            rows.append(dict(shape=shape, op=op, ours=ours[op], kernel=kern[op], twin=twin[op],
                             torch=theirs[op], bytes=passes * x.nbytes))
            print(f"{str(shape):18} {op:17} minidl {ms(ours[op]):>8} ms  kernel {ms(kern[op]):>8}"
                  f"  twin {ms(twin[op]):>9}  torch {ms(theirs[op]):>8}", flush=True)
    wait_for_quiet()
    stream_after = stream_bandwidth()
    stream = max(stream_before, stream_after)
    load_end = load_average()

    print("start-up (subprocesses) ...", flush=True)
    cold, warm, warm_init = startup_times()
    write_report(args.output, rows, threads, stream, stream_before, stream_after,
                 load_start, load_end, cold, warm, warm_init)
    print(f"wrote {args.output}")


def write_report(path, rows, threads, stream, stream_before, stream_after, load_start,
                 load_end, cold, warm, warm_init):
    torch_version = torch.__version__ if torch is not None else "not installed"
    lines = [
        "## Batch-normalization kernels",
        "",
        f"Generated by `benchmarks/batchnorm.py` on {datetime.date.today().isoformat()}. "
        "Reproduce with `make bench` (it installs the `bench` extra, torch==2.13.0 CPU, "
        "and runs the script; set `NUMBA_NUM_THREADS` to choose the thread count, which "
        "PyTorch is given too).",
        "",
        f"- Machine: {cpu_name()}, {os.cpu_count()} logical CPUs; {threads} threads "
        f"(Numba threading layer `{numba.threading_layer()}`, `torch.set_num_threads({threads})`).",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}, "
        f"PyTorch {torch_version}.",
        f"- Load average at start / end: {load_start} / {load_end}. The machine is shared: "
        "before each shape the script waits (up to 2 min) for the CPUs to be 85% idle; "
        "idle fraction found: " + ", ".join(f"{q:.0%}" for q in QUIET) + ".",
        f"- Streaming bandwidth: {stream / 1e9:.1f} GB/s, the better of "
        f"{stream_before / 1e9:.1f} (before) and {stream_after / 1e9:.1f} (after) "
        "for a Numba parallel triad `a = b + s*c` over three 128 MiB float32 arrays "
        "(12 bytes per element, STREAM's count).",
        "",
        "All arrays float32. Times in ms: the best of three medians (one for the NumPy "
        "twin), each over at least 9 calls (3 for the twin) made once the CPUs were idle, "
        "leaving out calls that another process preempted (counted by the process's "
        f"involuntary context switches); {len(DISTURBED)} of the measurements below had "
        "fewer than 3 such calls and use the median of all calls instead. "
        "*minidl* calls the public kernels (`bn_forward_train`, `bn_backward`, "
        "`bn_inference`) with `out=` buffers allocated once, as minidl's execution plan does "
        "in training and prediction; *kernel* calls the Numba functions behind them with a "
        "preallocated output. *NumPy twin* is `minidl.kernels.reference` "
        "(float64 maths). *PyTorch* is `torch.nn.functional.batch_norm`: training=True with "
        "autograd (backward = `y.backward(dy)` after an untimed forward), inference under "
        "`no_grad` with running statistics. Bandwidth counts x-sized arrays moved per call: "
        "forward 3 (x for the statistics, then x in and y out), backward 5 (x, dy; then x, "
        "dy in, dx out), forward+backward 8, inference 2; divided by the time. Any gap "
        "left between the *minidl* and *kernel* columns is Python dispatch (argument "
        "checks, the per-channel vectors).",
        "",
        "| shape (N, C, H, W) | pass | minidl ms | kernel ms | NumPy twin ms | PyTorch ms "
        "| minidl / PyTorch | minidl GB/s | % of stream | kernel % of stream |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r['ours'] / r['torch']:.2f}" if r["torch"] else "n/a"
        gbs = r["bytes"] / r["ours"]
        lines.append(
            f"| {r['shape']} | {r['op']} | {ms(r['ours'])} | {ms(r['kernel'])} | {ms(r['twin'])} "
            f"| {ms(r['torch'])} | {ratio} | {gbs / 1e9:.1f} | {100 * gbs / stream:.0f}% "
            f"| {100 * r['bytes'] / r['kernel'] / stream:.0f}% |")

    lines += [
        "",
        "### Start-up",
        "",
        "Fresh processes, float32 image kernels (one specialisation each); medians of "
        "three processes for the warm-cache rows. `import minidl.kernels.batchnorm` "
        "includes the `minidl` package's own `__init__`.",
        "",
        "| what | ms |",
        "|---|---:|",
    ]
    for name in KERNELS:
        lines.append(f"| cold: compile + first call of `{name}` alone (empty `NUMBA_CACHE_DIR`) "
                     f"| {cold[name] * 1e3:.0f} |")
    for key, value in warm.items():
        if key.startswith("bn_"):
            key = f"warm cache, first call of `{key}` in a fresh process" + (
                " (includes Numba's one-time initialisation)" if key == "bn_forward_train"
                else "")
        lines.append(f"| {key} | {value * 1e3:.1f} |")
    for key, value in warm_init.items():
        if key.startswith("bn_"):
            lines.append(f"| warm cache, first call of `{key}` after Numba is initialised "
                         f"| {value * 1e3:.1f} |")
        elif key.startswith("Numba"):
            lines.append(f"| {key} | {value * 1e3:.1f} |")

    lines += ["", "### Targets", ""] + targets(rows, stream, warm, warm_init)
    write_section(path, "benchmarks/batchnorm.py", lines)


def targets(rows, stream, warm, warm_init):
    def verdict(ok):
        return "**met**" if ok else "**not met**"

    out = []
    images = [r for r in rows if len(r["shape"]) == 4]
    if images and images[0]["torch"] is not None:
        for op in ("forward+backward", "inference"):
            ratios = {r["shape"]: r["ours"] / r["torch"] for r in images if r["op"] == op}
            worst = max(ratios.values())
            out.append(f"- {op} ≤ 0.5× PyTorch at every image shape: {verdict(worst <= 0.5)} "
                       f"(ratios " + ", ".join(f"{s}: {v:.2f}" for s, v in ratios.items()) + ")")
    else:
        out.append("- ratios to PyTorch: n/a (PyTorch is not installed)")
    for r in rows:
        if r["shape"] in LARGEST and r["op"] in ("forward", "backward", "forward+backward",
                                                 "inference"):
            api = r["bytes"] / r["ours"] / stream
            kern = r["bytes"] / r["kernel"] / stream
            out.append(f"- ≥ 70% of stream, {r['shape']} {r['op']}: API {api:.0%} "
                       f"{verdict(api >= 0.7)}; kernel with preallocated output {kern:.0%} "
                       f"{verdict(kern >= 0.7)}")
    first = max(v for k, v in warm_init.items() if k.startswith("bn_"))
    raw = warm["bn_forward_train"]
    out.append(f"- first call < 50 ms with a warm cache: slowest kernel "
               f"{first * 1e3:.1f} ms once Numba is initialised {verdict(first < 0.05)}; "
               f"{raw * 1e3:.0f} ms when it is the process's first Numba call, because "
               f"Numba's one-time initialisation is included {verdict(raw < 0.05)}")
    return out


if __name__ == "__main__":
    main()
