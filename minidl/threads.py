"""One owner of threads: ``maxNumCompThreads`` and the policy minidl computes under.

Two thread pools can run minidl's arithmetic: Numba's (the parallel kernels) and the BLAS
library NumPy ships (OpenBLAS, MKL or Accelerate: the matrix products of convolution and
fully connected layers). Each starts one thread per core, and after a call each keeps its
threads spinning for a while, so two pools of ``n`` threads on ``n`` cores fight over them:
a batch-norm call that takes 0.23 ms alone took 5.6 ms inside training.

The policy, applied by every public function that computes (``trainNetwork``, ``predict``,
``classify``, ``activations``, ...):

- Numba's pool runs ``maxNumCompThreads()`` threads (default: one per physical core);
- BLAS runs single-threaded on the calling thread, which is also Numba's first thread,

so at most ``maxNumCompThreads()`` threads compute at any moment. The matrix products of
these small networks are a small part of the time (their im2col / col2im, pooling and
normalization are Numba-parallel), and a BLAS of one thread has one summation order, so a
training run is bit-identical for any thread count. Outside minidl's calls, BLAS keeps the
limit ``maxNumCompThreads(n)`` gave it (``n`` threads), for the user's own NumPy code.

Numba's threading layer (set in minidl/kernels/_jit.py, before any kernel runs): OpenMP
where Numba finds it, else TBB, else its own workqueue. All three are correct under this
policy; OpenMP starts parallel regions fastest. An explicit ``NUMBA_THREADING_LAYER`` in
the environment wins.
"""
import contextlib
import math
import os

import numba

_controller = None


def _blas():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()
    return _controller


def usable_cpus():
    """The logical CPUs this process may run on (its affinity where the system says it)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def physical_cores():
    """Physical cores this process may run on (logical CPUs when the topology is unknown)."""
    cpus = usable_cpus()
    cores = set()
    for cpu in cpus:
        base = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
        try:
            with open(base + "physical_package_id") as package, open(base + "core_id") as core:
                cores.add((package.read().strip(), core.read().strip()))
        except OSError:
            return len(cpus)
    return len(cores) or len(cpus)


_threads = None


def maxNumCompThreads(n=None):
    """``n = maxNumCompThreads()`` returns the number of threads minidl computes with;
    ``previous = maxNumCompThreads(n)`` sets it (Numba's pool, and the BLAS pool for NumPy
    code outside minidl) and returns the previous value, as in MATLAB. ``"automatic"``
    restores the default, one thread per physical core. ``n`` is at most Numba's pool size
    (``NUMBA_NUM_THREADS``, the logical CPUs by default).

    Example::

        >>> import minidl
        >>> previous = minidl.maxNumCompThreads(1)
        >>> minidl.maxNumCompThreads()
        1
        >>> _ = minidl.maxNumCompThreads(previous)
    """
    global _threads
    current = _threads if _threads is not None else _default()
    if n is None:
        return current
    if isinstance(n, str) and n.lower() == "automatic":
        n = _default()
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or n != int(n) or n < 1:
        raise ValueError(f"maxNumCompThreads: n must be a positive integer or 'automatic'; received {n!r}.")
    n = int(n)
    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"maxNumCompThreads: n must be at most {numba.config.NUMBA_NUM_THREADS} "
                         f"(Numba's pool size, NUMBA_NUM_THREADS); received {n}.")
    _threads = n
    numba.set_num_threads(n)
    _blas().limit(limits=n, user_api="blas")
    return current


def _default():
    return max(1, min(physical_cores(), numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def computing():
    """The thread policy for the duration of one public call (see the module docstring)."""
    if _threads is None:
        maxNumCompThreads(_default())
    numba.set_num_threads(_threads)  # set_num_threads is per Python thread in Numba
    with _blas().limit(limits=1, user_api="blas"):
        yield


def blas_threads():
    """Threads the BLAS pool may use now (the smallest limit over loaded BLAS libraries)."""
    limits = [info["num_threads"] for info in _blas().info() if info["user_api"] == "blas"]
    return min(limits) if limits else 1
