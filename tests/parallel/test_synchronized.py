"""SynchronizeBatchNormalization: every worker normalizes with the statistics of the whole
mini-batch and backpropagates through them, so 2-worker training equals single-process
training to float32 rounding; without it, it does not."""
import numpy as np
import pytest

import minidl
from minidl.options import OptionError

from test_parallel import bn_layers, images, train, weights


def largest_difference(a, b):
    return max(float(np.max(np.abs(x - y) / (np.abs(y) + 1e-3))) for x, y in zip(weights(a), weights(b)))


@pytest.mark.parametrize("statistics, load", [("moving", None), ("population", [3, 1])])
def test_synchronized_training_equals_one_process(pool, statistics, load):
    single, info_single = train(bn_layers(), ExecutionEnvironment="cpu", BatchNormalizationStatistics=statistics)
    synchronized, info = train(bn_layers(), BatchNormalizationStatistics=statistics, WorkerLoad=load,
                               SynchronizeBatchNormalization=True)
    np.testing.assert_allclose(info.TrainingLoss, info_single.TrainingLoss, rtol=1e-5)
    for got, want in zip(weights(synchronized), weights(single)):      # learnables, TrainedMean/Variance
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert largest_difference(synchronized, single) < 1e-4
    unsynchronized, _ = train(bn_layers(), BatchNormalizationStatistics=statistics, WorkerLoad=load)
    assert largest_difference(unsynchronized, single) > 1e-3     # the shares' own statistics: another training


def test_a_synchronized_run_is_deterministic_and_survives_a_killed_worker(pool):
    import ray
    first, info = train(bn_layers(), SynchronizeBatchNormalization=True, BatchNormalizationStatistics="moving")

    def kill(record):
        if record["State"] == "iteration" and record["Iteration"] == 2:
            ray.kill(pool.workers[0], no_restart=False)
        return False

    again, info_again = train(bn_layers(), SynchronizeBatchNormalization=True, BatchNormalizationStatistics="moving",
                              OutputFcn=kill)
    np.testing.assert_array_equal(info_again.TrainingLoss, info.TrainingLoss)
    for x, y in zip(weights(again), weights(first)):
        np.testing.assert_array_equal(x, y)


def test_a_worker_killed_while_paused_at_a_batch_norm_exchange_gives_the_same_result(pool, monkeypatch):
    """The kill lands between two exchanges of one iteration (its computation paused at a
    batch-norm layer, its partner waiting too): the iteration starts again on both workers."""
    import ray
    from minidl.parallel.engine import ParallelEngine
    first, info = train(bn_layers(), SynchronizeBatchNormalization=True, BatchNormalizationStatistics="moving")
    original, exchanges, killed = ParallelEngine.call, [], []

    def call(self, method, jobs):
        if method == "exchange":
            exchanges.append(method)
            if len(exchanges) == 7:     # 4 exchanges per iteration (2 layers, forward and back): iteration 2's third
                ray.kill(pool.workers[1], no_restart=False)
                killed.append(len(exchanges))
        return original(self, method, jobs)

    monkeypatch.setattr(ParallelEngine, "call", call)
    again, info_again = train(bn_layers(), SynchronizeBatchNormalization=True, BatchNormalizationStatistics="moving")
    assert killed == [7] and len(exchanges) > 4 * len(info.TrainingLoss)      # the iteration ran again
    np.testing.assert_array_equal(info_again.TrainingLoss, info.TrainingLoss)
    for x, y in zip(weights(again), weights(first)):
        np.testing.assert_array_equal(x, y)
    assert ray.get([w.ready.remote() for w in pool.workers])


def test_synchronization_outside_parallel_mode_is_refused():
    with pytest.raises(OptionError, match="SynchronizeBatchNormalization .* needs ExecutionEnvironment 'parallel'; "
                                          "received ExecutionEnvironment 'cpu'"):
        minidl.trainingOptions("sgdm", ExecutionEnvironment="cpu", SynchronizeBatchNormalization=True)
