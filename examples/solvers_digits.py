"""The MATLAB example network trained with each solver at MATLAB's default learning rate.

sgdm 0.01, adam 0.001, rmsprop 0.001 (trainingOptions' defaults), 4 epochs each.
"""
import os

import numpy as np

from minidl import (batchNormalizationLayer, classificationLayer, classify, convolution2dLayer,
                    fullyConnectedLayer, imageInputLayer, maxPooling2dLayer, reluLayer, rng,
                    softmaxLayer, trainingOptions, trainNetwork)
from minidl.datasets import digits, splitEachLabel

QUICK = os.environ.get("MINIDL_QUICK") == "1"  # the test suite runs a shrunken version

X, Y = digits()
layers = [imageInputLayer([28, 28, 1]),
          convolution2dLayer(3, 8, Padding="same"), batchNormalizationLayer(), reluLayer(),
          maxPooling2dLayer(2, Stride=2),
          convolution2dLayer(3, 16, Padding="same"), batchNormalizationLayer(), reluLayer(),
          maxPooling2dLayer(2, Stride=2),
          convolution2dLayer(3, 32, Padding="same"), batchNormalizationLayer(), reluLayer(),
          fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]

for solver in ("sgdm", "adam", "rmsprop"):
    rng(0)
    (XTrain, YTrain), (XValidation, YValidation) = splitEachLabel(X, Y, 750 if not QUICK else 30, "randomize")
    options = trainingOptions(solver, MaxEpochs=4 if not QUICK else 1, Shuffle="every-epoch", Verbose=False)
    net, info = trainNetwork(XTrain, YTrain, layers, options)
    YPred, _ = classify(net, XValidation)
    print(f"{solver:8s} InitialLearnRate {options.InitialLearnRate:g}: accuracy = {np.mean(YPred == YValidation):.4f}")
