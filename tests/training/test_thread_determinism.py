"""A whole trainNetwork run is bit-identical with 1 and 2 threads (DESIGN §6: every kernel
splits its work by the data's shape, never by the thread count; BLAS runs one thread)."""
import numba
import numpy as np
import pytest

import minidl
from minidl.datasets import digits, splitEachLabel


def residual_graph():
    layers = [minidl.imageInputLayer([28, 28, 1]),
              minidl.convolution2dLayer(3, 8, Padding="same"), minidl.batchNormalizationLayer(),
              minidl.reluLayer(Name="relu_in"), minidl.maxPooling2dLayer(2, Stride=2),
              minidl.convolution2dLayer(3, 8, Padding="same", Name="res_conv"),
              minidl.batchNormalizationLayer(Name="res_bn"), minidl.additionLayer(2, Name="add"),
              minidl.reluLayer(Name="relu_out"), minidl.averagePooling2dLayer(2, Stride=2),
              minidl.convolution2dLayer(3, 16, Padding="same", Stride=2, DilationFactor=1),
              minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.globalAveragePooling2dLayer(),
              minidl.fullyConnectedLayer(10), minidl.softmaxLayer(), minidl.classificationLayer()]
    return minidl.connectLayers(minidl.layerGraph(layers), "maxpool", "add/in2")


def series_layers():
    layers = [minidl.imageInputLayer([28, 28, 1])]
    for filters in (8, 16):
        layers += [minidl.convolution2dLayer(3, filters, Padding="same"), minidl.batchNormalizationLayer(),
                   minidl.reluLayer(), minidl.maxPooling2dLayer(2, Stride=2)]
    return layers + [minidl.fullyConnectedLayer(10), minidl.softmaxLayer(), minidl.classificationLayer()]


def train(layers, threads, statistics):
    previous = minidl.maxNumCompThreads(threads)
    try:
        minidl.rng(3)
        X, Y = digits()
        (XTrain, YTrain), (XVal, YVal) = splitEachLabel(X, Y, 40, "randomize")
        options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=64, Shuffle="every-epoch",
                                         Verbose=False, ValidationData=(XVal[..., ::20], YVal[::20]),
                                         ValidationFrequency=3, BatchNormalizationStatistics=statistics)
        net, info = minidl.trainNetwork(XTrain, YTrain, layers, options)
        return net, info, minidl.predict(net, XVal[..., :100])
    finally:
        minidl.maxNumCompThreads(previous)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs Numba's pool of 2 threads")
@pytest.mark.parametrize("build, statistics", [(series_layers, "population"), (residual_graph, "moving")])
def test_training_is_bit_identical_with_one_and_two_threads(build, statistics):
    one, two = train(build(), 1, statistics), train(build(), 2, statistics)
    for layer_one, layer_two in zip(one[0].Layers, two[0].Layers):
        for name, value in vars(layer_one).items():
            if isinstance(value, np.ndarray):
                assert np.array_equal(value, getattr(layer_two, name)), f"{layer_one.Name}.{name}"
    for key, value in one[1].items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, two[1][key], err_msg=key)
    assert np.array_equal(one[2], two[2])
    assert np.all(np.isfinite(one[1].TrainingLoss)) and one[1].TrainingLoss[-1] < one[1].TrainingLoss[0]
