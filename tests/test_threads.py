"""The thread policy (minidl/threads.py): one owner of threads, never more busy threads than
cores, and a training run that does not depend on the thread count."""
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numba
import numpy as np
import pytest

import minidl
from minidl.threads import blas_threads, physical_cores

ROOT = Path(__file__).resolve().parents[1]


def test_maxNumCompThreads_gets_sets_and_returns_the_previous_value():
    default = minidl.maxNumCompThreads()
    assert default == max(1, min(physical_cores(), numba.config.NUMBA_NUM_THREADS))
    try:
        assert minidl.maxNumCompThreads(1) == default
        assert minidl.maxNumCompThreads() == 1
        assert blas_threads() == 1  # outside minidl's calls the BLAS pool follows the setting
        assert minidl.maxNumCompThreads("automatic") == 1
        assert minidl.maxNumCompThreads() == default
    finally:
        minidl.maxNumCompThreads(default)
    for bad in (0, -1, 1.5, "two", True, numba.config.NUMBA_NUM_THREADS + 1):
        with pytest.raises(ValueError, match="^maxNumCompThreads: n must be"):
            minidl.maxNumCompThreads(bad)


class Probe(minidl.Layer):
    """Records the thread pools' sizes while the network runs."""

    seen = []

    def predict(self, X):
        Probe.seen.append((blas_threads(), numba.get_num_threads()))
        return X

    def backward(self, dLdZ, memory):
        return dLdZ, {}


@pytest.mark.parametrize("threads", sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}))
def test_inside_training_blas_runs_one_thread_and_numba_the_chosen_count(threads):
    """BLAS runs on the calling thread, which is also Numba's first thread: the threads
    computing at once are Numba's, at most maxNumCompThreads() <= the cores."""
    previous = minidl.maxNumCompThreads(threads)
    try:
        Probe.seen = []
        rng = np.random.default_rng(0)
        X = rng.random((6, 6, 1, 32)).astype(np.float32)
        Y = np.arange(32) % 2
        layers = [minidl.imageInputLayer([6, 6, 1]), minidl.convolution2dLayer(3, 4),
                  minidl.batchNormalizationLayer(), Probe(Name="probe"), minidl.reluLayer(),
                  minidl.fullyConnectedLayer(2), minidl.softmaxLayer(), minidl.classificationLayer()]
        options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=8, Verbose=False)
        net, _ = minidl.trainNetwork(X, Y, layers, options)
        minidl.predict(net, X)
        assert len(Probe.seen) > 8
        assert set(Probe.seen) == {(1, threads)}
        assert threads <= os.cpu_count()
        assert blas_threads() == threads  # restored after the call
    finally:
        minidl.maxNumCompThreads(previous)


TRAIN = textwrap.dedent("""
    import sys, numpy as np, minidl
    from minidl.datasets import digits
    X, Y = digits()
    X, Y = X[..., ::10], Y[::10]
    layers = [minidl.imageInputLayer([28, 28, 1])]
    for filters in (8, 16, 32):
        layers += [minidl.convolution2dLayer(3, filters, Padding="same"), minidl.batchNormalizationLayer(),
                   minidl.reluLayer(), minidl.maxPooling2dLayer(2, Stride=2)]
    layers += [minidl.fullyConnectedLayer(10), minidl.softmaxLayer(), minidl.classificationLayer()]
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=128, Verbose=False)
    minidl.trainNetwork(X, Y, layers, options)   # compiles the kernels
    print("start", flush=True)
    options = minidl.trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=128, Verbose=False)
    minidl.trainNetwork(X, Y, layers, options)
""")


def running_threads(pid):
    """Threads of process ``pid`` in state R (running or waiting for a CPU) right now."""
    count = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as stat:
                count += stat.read().rsplit(")", 1)[1].split()[0] == "R"
        except OSError:
            pass
    return count


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_training_process_never_runs_more_threads_than_cores():
    """Sampled from outside the process (every thread's scheduler state, about every 2 ms):
    the busy threads of a training run, spinning ones included, never exceed the cores."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-c", TRAIN], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "start"
        samples = []
        while process.poll() is None:
            try:
                samples.append(running_threads(process.pid))
            except (OSError, FileNotFoundError):
                break
            time.sleep(0.002)
    finally:
        process.wait(timeout=300)
    assert process.returncode == 0
    assert len(samples) > 100
    assert max(samples) <= minidl.maxNumCompThreads() <= os.cpu_count(), np.bincount(samples)
