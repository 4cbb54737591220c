"""Training and inference from datastores (issue 13, points 3 and 6): the same numbers as
from the arrays, MATLAB's iteration semantics, bounded reads, background reading.

The reference for every result is the array path (trainNetwork(X, Y, ...)), which the rest
of the suite checks against NumPy twins and MATLAB's formulas; a datastore of the same
arrays must give bit-identical networks and histories.
"""
import os
import signal
import threading

import numpy as np
import pytest

import minidl
from minidl.data.datastore import Datastore
from minidl.training import data_source
from minidl.training.progress import bar_postfix, format_accuracy

FREE_CPUS = data_source.reader_threads      # the policy; conftest.py's two_reader_threads replaces it


class MemoryStore(Datastore):
    """The datastore protocol on arrays, recording every read (indices asked for)."""

    def __init__(self, X, Y, reads=None, fail_at=None, labels=True):
        super().__init__()
        self.X, self.Y, self.fail_at = X, Y, fail_at
        self.reads = [] if reads is None else reads
        if labels and Y is not None:
            self.Labels = Y

    def numobservations(self):
        return self.X.shape[-1] if self.X.ndim == 4 else self.X.shape[0]

    def _observations(self, indices):
        indices = np.asarray(indices)
        self.reads.append(indices.copy())
        if self.fail_at is not None and self.fail_at in indices:
            raise ValueError(f"imageDatastore: cannot read 'digit_{self.fail_at}.png': truncated file.")
        X = self.X[..., indices] if self.X.ndim == 4 else self.X[indices]
        return X, (None if self.Y is None else self.Y[indices])

    def _reordered(self, indices):
        return MemoryStore(self.X[..., indices], self.Y[indices], self.reads)


class NoisyStore(MemoryStore):
    """Random reads, as augmentedImageDatastore's: noise drawn from the generator given."""

    def _observations(self, indices, generator=None):
        X, Y = super()._observations(indices)
        generator = generator if generator is not None else minidl._rng.generator()
        return X + generator.random(X.shape, dtype=np.float32) * 0.5, Y

    def _reordered(self, indices):
        return NoisyStore(self.X[..., indices], self.Y[indices], self.reads)


def data(count=70, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((6, 6, 1, count)).astype(np.float32)
    Y = np.array(list("abc"))[(X[:3, :3].mean(axis=(0, 1, 2)) * 7).astype(int) % 3]
    return X, Y


def layers():
    return [minidl.imageInputLayer([6, 6, 1]), minidl.convolution2dLayer(3, 4, Padding="same"),
            minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.fullyConnectedLayer(3),
            minidl.softmaxLayer(), minidl.classificationLayer()]


def options(**changes):
    values = dict(MaxEpochs=2, MiniBatchSize=16, Shuffle="every-epoch", Verbose=False, InitialLearnRate=0.05)
    return minidl.trainingOptions("sgdm", **{**values, **changes})


def train(*args, **option_changes):
    minidl.rng(3)
    return minidl.trainNetwork(*args, layers(), options(**option_changes))


def assert_same_network(a, b):
    for la, lb in zip(a.Layers, b.Layers):
        for name in (*la.learnables, *la.state_names, "Mean"):
            if getattr(la, name, None) is not None:
                np.testing.assert_array_equal(getattr(la, name), getattr(lb, name), err_msg=f"{la.Name}.{name}")


@pytest.mark.parametrize("background", [False, True])
def test_datastore_training_is_bit_identical_to_the_arrays(background):
    X, Y = data()
    Xv, Yv = data(21, seed=1)
    net_a, info_a = train(X, Y, ValidationData=(Xv, Yv), ValidationFrequency=3)
    net_d, info_d = train(MemoryStore(X, Y), ValidationData=MemoryStore(Xv, Yv), ValidationFrequency=3,
                          DispatchInBackground=background)
    assert_same_network(net_a, net_d)
    for key in ("TrainingLoss", "TrainingAccuracy", "ValidationLoss", "ValidationAccuracy"):
        np.testing.assert_array_equal(info_a[key], info_d[key])
    assert info_a.FinalValidationAccuracy == info_d.FinalValidationAccuracy
    assert list(net_d.Layers[-1].Classes) == ["a", "b", "c"]
    # 70 // 16 = 4 iterations per epoch: the partial last mini-batch (6 images) is dropped.
    assert len(info_d.TrainingLoss) == 8


def test_reads_are_mini_batches_in_the_shuffled_order_and_never_the_whole_set():
    X, Y = data()
    store = MemoryStore(X, Y)
    train(store, Shuffle="never", MaxEpochs=1)
    sizes = [len(r) for r in store.reads]
    assert max(sizes) <= 16                       # memory is bounded by a mini-batch
    statistics = store.reads[:5]                  # input normalization: 70 in order, 16 at a time
    np.testing.assert_array_equal(np.concatenate(statistics), np.arange(70))
    epoch = store.reads[5:9]                      # Shuffle 'never': indices in order, last 6 dropped
    np.testing.assert_array_equal(np.concatenate(epoch), np.arange(64))
    population = store.reads[9:]                  # the 'population' pass reads all 70 once more
    np.testing.assert_array_equal(np.concatenate(population), np.arange(70))


def test_shuffle_once_reads_one_permutation_every_epoch():
    X, Y = data()
    store = MemoryStore(X, Y)
    train(store, Shuffle="once", MaxEpochs=2)
    first, second = np.concatenate(store.reads[5:9]), np.concatenate(store.reads[9:13])
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, np.arange(64)) and len(np.unique(first)) == 64


def test_classes_come_from_all_labels_not_the_first_mini_batch():
    X, Y = data()
    Y = Y.copy()
    Y[-1] = "z"                                # seen only in the last, dropped, observation
    network = layers()
    network[4] = minidl.fullyConnectedLayer(4)
    minidl.rng(3)
    net = minidl.trainNetwork(MemoryStore(X, Y, labels=False), network, options(Shuffle="never", MaxEpochs=1))
    assert list(net.Layers[-1].Classes) == ["a", "b", "c", "z"]


def test_a_worker_error_names_the_file_in_the_main_thread():
    X, Y = data()
    with pytest.raises(ValueError, match=r"digit_40\.png.*truncated"):
        train(MemoryStore(X, Y, fail_at=40), DispatchInBackground=True, ResetInputNormalization=False,
              Shuffle="never")
    assert not [t for t in threading.enumerate() if t.name.startswith("minidl-reader")]


def test_nan_in_a_datastore_is_named():
    X, Y = data()
    X[0, 0, 0, 33] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf values in observations 34"):
        train(MemoryStore(X, Y))


def test_no_labels_is_a_clear_error():
    X, _ = data()
    with pytest.raises(ValueError, match=r"has no labels or responses.*LabelSource"):
        train(MemoryStore(X, None))


def test_ctrl_c_stops_background_reading_and_returns_the_network():
    X, Y = data()

    def press(info):
        if info.Iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)

    net, info = train(MemoryStore(X, Y), DispatchInBackground=True, OutputFcn=press)
    assert info.StopReason == "Stopped manually (Ctrl-C)"
    assert len(info.TrainingLoss) == 2
    assert np.all(np.isfinite(minidl.predict(net, X)))
    assert not [t for t in threading.enumerate() if t.name.startswith("minidl-reader")]


def test_resume_from_a_checkpoint_of_datastore_training_is_bit_exact(tmp_path):
    X, Y = data()
    full, _ = train(MemoryStore(X, Y), MaxEpochs=3, CheckpointPath=str(tmp_path), DispatchInBackground=True)
    first = sorted(tmp_path.glob("net_checkpoint__4__*.npz"))[0]
    minidl.rng(99)        # the generator's state comes from the checkpoint
    resumed = minidl.trainNetwork(MemoryStore(X, Y), layers(), options(MaxEpochs=3, DispatchInBackground=True),
                                  ResumeFrom=str(first))
    assert_same_network(full, resumed)


def test_inference_from_a_datastore_equals_inference_from_the_arrays():
    X, Y = data()
    net, _ = train(X, Y, MaxEpochs=1)
    store = MemoryStore(X, Y)
    np.testing.assert_array_equal(minidl.predict(net, store, MiniBatchSize=32), minidl.predict(net, X))
    np.testing.assert_array_equal(minidl.classify(net, store), minidl.classify(net, X))
    np.testing.assert_array_equal(minidl.activations(net, store, "relu"), minidl.activations(net, X, "relu"))
    assert max(len(r) for r in store.reads) <= 128


def test_trainnet_minibatchpredict_and_testnet_take_datastores():
    X, Y = data()
    network = layers()[:-1]
    minidl.rng(3)
    net_a, info_a = minidl.trainnet(X, Y, network, "crossentropy", options(Metrics="accuracy"))
    minidl.rng(3)
    net_d, info_d = minidl.trainnet(MemoryStore(X, Y), layers()[:-1], "crossentropy",
                                    options(Metrics="accuracy", DispatchInBackground=True))
    np.testing.assert_array_equal(info_a.TrainingLoss, info_d.TrainingLoss)
    store = MemoryStore(X, Y)
    scores = minidl.minibatchpredict(net_d, store, MiniBatchSize=20)
    np.testing.assert_array_equal(scores, minidl.minibatchpredict(net_a, X))
    assert minidl.testnet(net_d, store, "accuracy") == minidl.testnet(net_a, X, Y, "accuracy")


def test_dispatch_in_background_options():
    assert minidl.trainingOptions("sgdm").DispatchInBackground is False
    assert minidl.trainingOptions("sgdm", PreprocessingEnvironment="background").DispatchInBackground is True
    with pytest.raises(ValueError, match="DispatchInBackground must be true or false"):
        minidl.trainingOptions("sgdm", DispatchInBackground="yes")
    with pytest.raises(ValueError, match="PreprocessingEnvironment 'parallel' is not supported"):
        minidl.trainingOptions("sgdm", PreprocessingEnvironment="parallel")
    X, Y = data()
    assert "[1×1 MemoryStore]" in str(minidl.trainingOptions("sgdm", ValidationData=MemoryStore(X, Y)))


def test_the_progress_bar_shows_the_datastore_throughput():
    record = dict(Epoch=2, TrainingLoss=0.25, TrainingMetric=50.0, BaseLearnRate=0.01)
    assert bar_postfix(record, "Accuracy", format_accuracy) == "epoch 2, loss 0.2500, acc 50.00%, lr 0.0100"
    assert bar_postfix(record, "Accuracy", format_accuracy, (980.2, 0.5)).endswith("read 980 obs/s, waiting 50%")


def test_random_reads_do_not_depend_on_background_workers_and_resume_exactly(tmp_path):
    X, Y = data()
    Xv, Yv = data(21, seed=1)
    common = dict(MaxEpochs=2, ValidationData=NoisyStore(Xv, Yv), ValidationFrequency=3)
    serial, info_serial = train(NoisyStore(X, Y), **common)
    background, info_background = train(NoisyStore(X, Y), DispatchInBackground=True, **common)
    assert_same_network(serial, background)
    np.testing.assert_array_equal(info_serial.ValidationLoss, info_background.ValidationLoss)
    clean, _ = train(MemoryStore(X, Y), **common)
    assert not np.array_equal(clean.Layers[1].Weights, serial.Layers[1].Weights)   # the noise did count
    full, _ = train(NoisyStore(X, Y), CheckpointPath=str(tmp_path), CheckpointFrequency=3,
                    CheckpointFrequencyUnit="iteration", DispatchInBackground=True, **common)
    middle = sorted(tmp_path.glob("net_checkpoint__3__*.npz"))[0]     # mid-epoch 1 (4 iterations per epoch)
    minidl.rng(99)
    resumed = minidl.trainNetwork(NoisyStore(X, Y), layers(), options(DispatchInBackground=True, **common),
                                  ResumeFrom=str(middle))
    assert_same_network(full, resumed)


@pytest.mark.parametrize("cpus, compute, expected", [(2, 2, 0), (2, 1, 1), (4, 2, 2), (8, 2, 2), (1, 1, 0)])
def test_reader_threads_are_the_cpus_training_leaves_free(monkeypatch, cpus, compute, expected):
    monkeypatch.setattr(data_source, "reader_threads", FREE_CPUS)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(data_source, "maxNumCompThreads", lambda: compute)
    assert data_source.reader_threads() == expected
    with data_source.background_workers(True) as pool:
        assert (pool is None) == (expected == 0)
        assert pool is None or pool._max_workers == expected
    with data_source.background_workers(False) as pool:
        assert pool is None
