"""ExecutionEnvironment='parallel' on a local 2-worker Ray pool (conftest.py): gradients
summed in worker order, batch-norm statistics merged exactly, restart of a dead worker,
checkpoints and resume, and the options around it."""
import copy
import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

import minidl
from minidl.graph.inference import to_internal
from minidl.graph.network import build_network
from minidl.options import OptionError
from minidl.parallel.engine import ParallelEngine
from minidl.training.data_source import ArraySource, population_batches


def images(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((8, 8, 2, n)).astype(np.float32) * 2 + 1
    Y = (X[:4].mean(axis=(0, 1, 2)) > X[4:].mean(axis=(0, 1, 2))).astype(int)
    return X, Y


def bn_layers():
    return [minidl.imageInputLayer([8, 8, 2], Normalization="none"), minidl.convolution2dLayer(3, 4),
            minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.convolution2dLayer(3, 3),
            minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.fullyConnectedLayer(2),
            minidl.softmaxLayer(), minidl.classificationLayer()]


def dense_layers():
    return [minidl.imageInputLayer([8, 8, 2], Normalization="none"), minidl.fullyConnectedLayer(6),
            minidl.reluLayer(), minidl.fullyConnectedLayer(2), minidl.softmaxLayer(), minidl.classificationLayer()]


def train(layers, X=None, Y=None, seed=0, **options):
    X, Y = images() if X is None else (X, Y)
    minidl.rng(seed)
    values = dict(MaxEpochs=2, MiniBatchSize=32, Verbose=False, Shuffle="every-epoch", ExecutionEnvironment="parallel")
    values.update(options)
    return minidl.trainNetwork(X, Y, layers, minidl.trainingOptions("sgdm", **values))


def weights(net):
    return [np.array(getattr(layer, name)) for layer in net.Layers
            for name in (*layer.learnables, *layer.state_names) if getattr(layer, name, None) is not None]


def test_pool_is_the_current_one(pool):
    assert pool.NumWorkers == 2 and minidl.gcp() is pool and minidl.gcp("nocreate") is pool
    assert pool.Threads == 1    # 2 workers × 1 thread on a 2-CPU cluster
    with pytest.raises(ValueError, match="nocreate"):
        minidl.gcp("create")


def test_without_batch_norm_the_summed_gradients_are_the_single_process_ones(pool):
    """Σ_w (n_w/N)·g_w is the gradient of the whole mini-batch: the same training to rounding,
    for equal shares and for WorkerLoad [3, 1]."""
    single, info_single = train(dense_layers(), ExecutionEnvironment="cpu")
    for load in (None, [3, 1]):
        parallel, info = train(dense_layers(), WorkerLoad=load)
        np.testing.assert_allclose(info.TrainingLoss, info_single.TrainingLoss, rtol=1e-5)
        np.testing.assert_array_equal(info.TrainingAccuracy, info_single.TrainingAccuracy)
        for a, b in zip(weights(parallel), weights(single)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_population_statistics_equal_the_single_process_ones(pool):
    """Same weights, same data: the workers' statistics merged in mini-batch order equal the
    single-process pass; the first layer's also equal float64 NumPy statistics of its input."""
    X, Y = images(90)
    minidl.rng(3)
    net = build_network(bn_layers(), np.random.default_rng(3))
    Xi = to_internal(X, net.input_layer, "SSCB", owner="test")
    T = np.eye(2, dtype=np.float32)[Y]
    reference = copy.deepcopy(net)
    order = np.random.default_rng(1).permutation(90)
    reference.commit_population_state(Xi[order], population_batches(90, 32))
    options = minidl.trainingOptions("sgdm", ExecutionEnvironment="parallel")
    engine = ParallelEngine(SimpleNamespace(net=net, options=options, owner="test"))
    engine.start(ArraySource(Xi, T))
    batches = population_batches(90, 32)
    engine.commit_population_state(SimpleNamespace(seeds=[None] * len(batches)), order, batches)
    for got, want in zip(weights(net), weights(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    conv = np.float64(net.Layers[1].predict(Xi))
    bn = [layer for layer in net.Layers if layer.state_names][0]
    np.testing.assert_allclose(bn.TrainedMean.ravel(), conv.mean(axis=(0, 2, 3)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(bn.TrainedVariance.ravel(), conv.var(axis=(0, 2, 3)), rtol=1e-6)


def test_moving_statistics_merge_the_shares_exactly(pool):
    """The 'moving' update sees the Chan merge of the shares: the whole mini-batch's
    statistics (checked on the first batch-norm layer, whose input does not depend on it)."""
    X, Y = images(64)
    net = build_network(bn_layers(), np.random.default_rng(4))
    Xi = to_internal(X, net.input_layer, "SSCB", owner="test")
    T = np.eye(2, dtype=np.float32)[Y]
    options = minidl.trainingOptions("sgdm", ExecutionEnvironment="parallel", WorkerLoad=[1, 2])
    engine = ParallelEngine(SimpleNamespace(net=net, options=options, owner="test"))
    engine.start(ArraySource(Xi, T))
    indices = np.arange(5, 53)
    _, scores, (_, totals) = engine.forward_loss((indices, None), T[indices])
    assert scores.shape == (48, 2)
    count, mean, m2 = totals[net.Layers[2].Name]
    conv = np.float64(net.Layers[1].predict(Xi[indices]))
    assert np.all(count == 48 * 36)
    np.testing.assert_allclose(mean, conv.mean(axis=(0, 2, 3)), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m2 / count, conv.var(axis=(0, 2, 3)), rtol=1e-6)


@pytest.mark.parametrize("statistics", ["population", "moving"])
def test_a_parallel_run_is_deterministic(pool, statistics):
    a, info_a = train(bn_layers(), BatchNormalizationStatistics=statistics)
    b, info_b = train(bn_layers(), BatchNormalizationStatistics=statistics)
    np.testing.assert_array_equal(info_a.TrainingLoss, info_b.TrainingLoss)
    for x, y in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("synchronized", [False, True])
def test_learnables_sent_through_the_object_store_train_as_sent_inline(pool, monkeypatch, synchronized):
    """A network over INLINE_BYTES goes to the workers as one object-store reference per
    iteration instead of inside the call: the same training, bit for bit."""
    from minidl.parallel import engine
    options = dict(BatchNormalizationStatistics="population", SynchronizeBatchNormalization=synchronized)
    inline, info_inline = train(bn_layers(), **options)
    monkeypatch.setattr(engine, "INLINE_BYTES", 0)
    stored, info_stored = train(bn_layers(), **options)
    np.testing.assert_array_equal(info_stored.TrainingLoss, info_inline.TrainingLoss)
    for x, y in zip(weights(stored), weights(inline)):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def uninterrupted(pool):
    return train(bn_layers())


@pytest.mark.parametrize("how", ["ray.kill", "os._exit"])
def test_a_worker_killed_mid_epoch_is_restarted_with_the_same_result(pool, uninterrupted, how):
    import ray
    uninterrupted, info = uninterrupted
    killed = []

    def kill(record):
        if record["State"] == "iteration" and record["Iteration"] == 2:     # epoch 1 has 3 iterations
            worker = pool.workers[1]
            if how == "ray.kill":
                ray.kill(worker, no_restart=False)
            else:
                worker.exit.remote()
            killed.append(record["Iteration"])
        return False

    restarted, info_restarted = train(bn_layers(), OutputFcn=kill)
    assert killed == [2]
    np.testing.assert_array_equal(info_restarted.TrainingLoss, info.TrainingLoss)
    for x, y in zip(weights(restarted), weights(uninterrupted)):
        np.testing.assert_array_equal(x, y)
    assert ray.get([w.ready.remote() for w in pool.workers])     # the pool works on


def test_ctrl_c_stops_the_workers_and_returns_the_network(pool):
    def press(record):
        if record["Iteration"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return False

    net, info = train(bn_layers(), OutputFcn=press)
    assert info.StopReason == "Stopped manually (Ctrl-C)" and len(info.TrainingLoss) == 2
    assert all(np.isfinite(w).all() for w in weights(net))
    again, _ = train(dense_layers(), MaxEpochs=1)     # the pool is ready for the next training
    assert again is not None


def test_resume_from_a_parallel_checkpoint_is_bit_exact(pool, tmp_path):
    whole, info = train(bn_layers(), MaxEpochs=3)
    train(bn_layers(), MaxEpochs=3, CheckpointPath=str(tmp_path), CheckpointFrequency=1)
    first = sorted(tmp_path.iterdir(), key=lambda p: int(p.name.split("__")[1]))[0]
    minidl.rng(0)
    options = minidl.trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=32, Verbose=False, Shuffle="every-epoch",
                                     ExecutionEnvironment="parallel")
    X, Y = images()
    resumed, info_resumed = minidl.trainNetwork(X, Y, bn_layers(), options, ResumeFrom=str(first))
    np.testing.assert_array_equal(info_resumed.TrainingLoss, info.TrainingLoss)
    for x, y in zip(weights(resumed), weights(whole)):
        np.testing.assert_array_equal(x, y)


def test_verbose_validation_and_output_functions_work_in_parallel(pool, capsys):
    X, Y = images()
    Xv, Yv = images(40, seed=1)
    records = []
    net, info = train(bn_layers(), Verbose=True, VerboseFrequency=1, ValidationData=(Xv, Yv),
                      ValidationFrequency=2, OutputFcn=lambda r: records.append(dict(r)) or False)
    out = capsys.readouterr().out
    assert "Training on parallel pool with 2 workers." in out and "|       2 |           6 |" in out
    assert [r["State"] for r in records] == ["start"] + ["iteration"] * 6 + ["done"]
    predicted, _ = minidl.classify(net, Xv)
    assert info.FinalValidationAccuracy == pytest.approx(100 * np.mean(predicted == Yv))
    assert np.isfinite(info.ValidationLoss[[0, 1, 3, 5]]).all()


def test_trainnet_runs_in_parallel(pool):
    X, Y = images()
    layers = dense_layers()[:-1]
    results = []
    for environment in ("cpu", "parallel"):
        minidl.rng(0)
        options = minidl.trainingOptions("adam", MaxEpochs=1, MiniBatchSize=24, Verbose=False,
                                         ExecutionEnvironment=environment)
        results.append(minidl.trainnet(X, Y, layers, "crossentropy", options))
    np.testing.assert_allclose(results[1][1].TrainingLoss, results[0][1].TrainingLoss, rtol=1e-5)


def test_worker_load_must_match_the_pool(pool):
    with pytest.raises(ValueError, match=r"WorkerLoad must give one share per worker .*\(2\); received 3"):
        train(dense_layers(), WorkerLoad=[1, 1, 1])


@pytest.mark.parametrize("load", [[0, 0], [1, -1], [1, float("nan")], "equal", [[1, 2]], [True, 1]])
def test_bad_worker_load_is_refused_by_name(load):
    with pytest.raises(OptionError, match="WorkerLoad must be a vector of non-negative finite numbers"):
        minidl.trainingOptions("sgdm", WorkerLoad=load)


def test_an_unreachable_cluster_is_named():
    with pytest.raises(ConnectionError, match=r"cannot reach the Ray cluster at '127\.0\.0\.1:9'"):
        minidl.parpool(2, Address="127.0.0.1:9")
    with pytest.raises(ValueError, match="Address must be 'host:port'"):
        minidl.parpool(2, Address="nowhere")


def test_a_pool_larger_than_the_cluster_is_refused_and_the_open_one_kept(pool):
    import ray
    with pytest.raises(ValueError, match=r"numWorkers × Threads must be at most the 2 CPUs .* received 3 × 1"):
        minidl.parpool(3)
    with pytest.raises(ValueError, match=r"received 2 × 2"):
        minidl.parpool(2, Threads=2)
    with pytest.raises(OptionError, match="parpool: numWorkers must be a positive integer"):
        minidl.parpool(0)
    with pytest.raises(TypeError, match="parpool: Address must be a Ray cluster address string"):
        minidl.parpool(2, Address=6379)
    assert minidl.gcp("nocreate") is pool and len(ray.get([w.ready.remote() for w in pool.workers])) == 2
