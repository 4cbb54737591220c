"""The digits example (examples/simple_cnn_digits.py, shrunk) on a 2-worker pool reaches the
single-process validation accuracy within 0.01."""
import numpy as np

import minidl
from minidl.datasets import digits, splitEachLabel


def example_layers():
    return [minidl.imageInputLayer([28, 28, 1]),
            minidl.convolution2dLayer(3, 8, Padding="same"), minidl.batchNormalizationLayer(), minidl.reluLayer(),
            minidl.maxPooling2dLayer(2, Stride=2),
            minidl.convolution2dLayer(3, 16, Padding="same"), minidl.batchNormalizationLayer(), minidl.reluLayer(),
            minidl.maxPooling2dLayer(2, Stride=2),
            minidl.convolution2dLayer(3, 32, Padding="same"), minidl.batchNormalizationLayer(), minidl.reluLayer(),
            minidl.fullyConnectedLayer(10), minidl.softmaxLayer(), minidl.classificationLayer()]


def test_two_workers_reach_the_single_process_accuracy(pool):
    minidl.rng(0)
    X, Y = digits()
    (XTrain, YTrain), (XValidation, YValidation) = splitEachLabel(X, Y, 60, "randomize")
    XValidation, YValidation = XValidation[..., ::4], YValidation[::4]
    accuracy = {}
    for environment in ("cpu", "parallel"):
        minidl.rng(0)
        options = minidl.trainingOptions("sgdm", InitialLearnRate=0.01, MaxEpochs=4, Shuffle="every-epoch",
                                         Verbose=False, ExecutionEnvironment=environment)
        net, _ = minidl.trainNetwork(XTrain, YTrain, example_layers(), options)
        predicted, _ = minidl.classify(net, XValidation)
        accuracy[environment] = np.mean(predicted == YValidation)
    assert accuracy["cpu"] > 0.5          # it learned something, so the comparison means something
    assert abs(accuracy["parallel"] - accuracy["cpu"]) <= 0.01, accuracy
