"""Helpers shared by the kernel tests: test data, the closeness rule, and subprocess runs
(for NUMBA_DISABLE_JIT and NUMBA_NUM_THREADS, which must be set before Numba starts)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def kernel_data(shape, dtype, seed=0, loc=0.5, spread=2.0):
    """x, dy (of ``dtype``) and per-channel scale (either sign) and offset."""
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * spread + loc).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    scale = rng.uniform(0.5, 2.0, C) * rng.choice([-1.0, 1.0], C)
    offset = rng.standard_normal(C)
    return x, dy, scale, offset


def assert_close(got, want, dtype):
    """float64: a few ulps of float64. float32: one or two float32 ulps of the output,
    relative to the largest value (the outputs are float64 maths rounded once)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    rtol = 1e-10 if dtype == np.float64 else 3e-7
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def run_python(script, **env):
    """Run ``script`` in a fresh interpreter with extra environment variables; its stdout."""
    full_env = dict(os.environ, **env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=full_env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def check_without_jit_and_under_one_and_two_threads(run_in_subprocess):
    """The test module's ``_no_jit_checks()`` passes with NUMBA_DISABLE_JIT=1, and its
    ``_digest()`` (a hash of kernel outputs) is the same with one and with two threads."""
    assert run_in_subprocess("_no_jit_checks", NUMBA_DISABLE_JIT="1") == "ok"
    one, two = (run_in_subprocess("_digest", NUMBA_NUM_THREADS=n) for n in ("1", "2"))
    assert one == two
