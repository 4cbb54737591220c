"""Checkpoints record where training computed (worker count, WorkerLoad, synchronization);
resuming elsewhere works and warns, naming both."""
import warnings

import numpy as np
import pytest

import minidl

from test_parallel import bn_layers, images, train, weights


def checkpoints(path):
    return sorted(path.iterdir(), key=lambda p: int(p.name.split("__")[1]))


def resume(first, **values):
    minidl.rng(0)
    options = minidl.trainingOptions("sgdm", **{**dict(MaxEpochs=3, MiniBatchSize=32, Verbose=False,
                                                       Shuffle="every-epoch", ExecutionEnvironment="parallel"),
                                                **values})
    X, Y = images()
    return minidl.trainNetwork(X, Y, bn_layers(), options, ResumeFrom=str(first))


def test_a_checkpoint_records_the_pool_and_resumes_elsewhere_with_a_warning(pool, tmp_path):
    train(bn_layers(), MaxEpochs=3, WorkerLoad=[3, 1], CheckpointPath=str(tmp_path))
    first = checkpoints(tmp_path)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the same pool: no warning, and bit for bit (test_parallel.py)
        same, _ = resume(first, WorkerLoad=[3, 1])
    with pytest.warns(RuntimeWarning, match=r"trained on a parallel pool of 2 workers \(WorkerLoad \[0\.75, 0\.25\], "
                                            r"SynchronizeBatchNormalization False\) and training resumes on a "
                                            r"single process\. It continues correctly, but not bit for bit"):
        single, info = resume(first, ExecutionEnvironment="cpu")
    assert len(info.TrainingLoss) == 9 and all(np.isfinite(w).all() for w in weights(single))
    with pytest.warns(RuntimeWarning, match=r"WorkerLoad \[0\.75, 0\.25\].* resumes on a parallel pool of 2 workers "
                                            r"\(WorkerLoad \[0\.5, 0\.5\], SynchronizeBatchNormalization True\)"):
        resume(first, SynchronizeBatchNormalization=True)


def test_a_single_process_checkpoint_resumes_in_parallel(pool, tmp_path):
    train(bn_layers(), MaxEpochs=3, ExecutionEnvironment="cpu", CheckpointPath=str(tmp_path))
    with pytest.warns(RuntimeWarning, match="trained on a single process and training resumes on a parallel pool "
                                            "of 2 workers"):
        _, info = resume(checkpoints(tmp_path)[1])
    assert len(info.TrainingLoss) == 9
