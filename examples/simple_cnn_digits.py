"""MATLAB's "Create Simple Deep Learning Network for Classification", in minidl.

The MATLAB original loads DigitDataset with imageDatastore; minidl draws a data set in
its spirit (10,000 images of the digits 0-9, 28x28, 1,000 per class) with
minidl.datasets.digits(). Everything else reads line for line like the MATLAB code.
"""
import os

import numpy as np

from minidl import (batchNormalizationLayer, classificationLayer, classify, convolution2dLayer,
                    fullyConnectedLayer, imageInputLayer, maxPooling2dLayer, reluLayer, rng,
                    softmaxLayer, trainingOptions, trainNetwork)
from minidl.datasets import digits, splitEachLabel

QUICK = os.environ.get("MINIDL_QUICK") == "1"  # the test suite runs a shrunken version

rng(0)
X, Y = digits()                                   # imds = imageDatastore(digitDatasetPath, ...)
numTrainFiles = 750 if not QUICK else 60
(XTrain, YTrain), (XValidation, YValidation) = splitEachLabel(X, Y, numTrainFiles, "randomize")
if QUICK:
    XValidation, YValidation = XValidation[..., ::10], YValidation[::10]

layers = [
    imageInputLayer([28, 28, 1]),
    convolution2dLayer(3, 8, Padding="same"),
    batchNormalizationLayer(),
    reluLayer(),
    maxPooling2dLayer(2, Stride=2),
    convolution2dLayer(3, 16, Padding="same"),
    batchNormalizationLayer(),
    reluLayer(),
    maxPooling2dLayer(2, Stride=2),
    convolution2dLayer(3, 32, Padding="same"),
    batchNormalizationLayer(),
    reluLayer(),
    fullyConnectedLayer(10),
    softmaxLayer(),
    classificationLayer()]

options = trainingOptions("sgdm",
    InitialLearnRate=0.01,
    MaxEpochs=4 if not QUICK else 1,
    Shuffle="every-epoch",
    ValidationData=(XValidation, YValidation),
    ValidationFrequency=30,
    Verbose=False,
    Plots="none")                                 # MATLAB: 'training-progress'
net, info = trainNetwork(XTrain, YTrain, layers, options)

YPred, _ = classify(net, XValidation)
accuracy = np.sum(YPred == YValidation) / YValidation.size
print(f"accuracy = {accuracy:.4f}")
