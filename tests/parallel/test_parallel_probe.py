"""trainingProbe in ExecutionEnvironment 'parallel': measured on the driver's replica with the
whole mini-batch and the iteration's weights, so without batch normalization it records what
single-process training records."""
import numpy as np

import minidl

from test_parallel import bn_layers, dense_layers, train


def test_the_probe_measures_the_whole_mini_batch_on_the_driver(pool):
    probe = minidl.trainingProbe(Frequency=2, NumBins=5)
    recorded = {environment: tuple(train(dense_layers(), ExecutionEnvironment=environment, Probe=probe))[1].Probe
                for environment in ("cpu", "parallel")}
    single, parallel = recorded["cpu"], recorded["parallel"]
    np.testing.assert_array_equal(parallel.Iteration, [1, 2, 4, 6])
    assert list(parallel.Activations) == list(single.Activations) and len(parallel.Activations) == 4
    for name, statistics in single.Activations.items():
        for field in ("Mean", "Std", "RMS", "Percentiles", "GradientRMS"):
            np.testing.assert_allclose(parallel.Activations[name][field], statistics[field], rtol=1e-4, atol=1e-7)
    for name, statistics in single.Learnables.items():
        for field in ("RMS", "GradientRMS", "UpdateRatio"):
            np.testing.assert_allclose(parallel.Learnables[name][field], statistics[field], rtol=1e-3)


def test_the_probe_of_a_datastore_reads_the_mini_batch_on_the_driver(pool):
    from test_parallel import images
    X, Y = images()
    ds = minidl.combine(minidl.arrayDatastore(X, IterationDimension=4), minidl.arrayDatastore(Y))
    minidl.rng(0)
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=32, Verbose=False, ExecutionEnvironment="parallel",
                                     SynchronizeBatchNormalization=True, Probe=minidl.trainingProbe(Layers=["batchnorm_1"]))
    _, info = minidl.trainNetwork(ds, bn_layers(), options)
    # the whole mini-batch, normalized with its own statistics: at iteration 1 (Offset 0, Scale 1)
    # batchnorm_1's output has mean 0 and standard deviation 1 over the mini-batch
    np.testing.assert_allclose(info.Probe.Activations.batchnorm_1.Mean[0], 0, atol=1e-6)
    np.testing.assert_allclose(info.Probe.Activations.batchnorm_1.Std[0], 1, atol=1e-3)
    np.testing.assert_array_equal(info.Probe.Iteration, [1, 2, 3])
