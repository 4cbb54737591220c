"""A small residual network on the built-in digits, built with layerGraph and additionLayer.

Like MATLAB's "Train Residual Network" examples, in miniature: a main branch of two
convolutions and a skip connection that meet in an addition layer.
"""
import os

import numpy as np

from minidl import (additionLayer, analyzeNetwork, batchNormalizationLayer, classificationLayer, classify,
                    connectLayers, convolution2dLayer, fullyConnectedLayer, globalAveragePooling2dLayer,
                    imageInputLayer, layerGraph, maxPooling2dLayer, reluLayer, rng, softmaxLayer,
                    trainingOptions, trainNetwork)
from minidl.datasets import digits, splitEachLabel

QUICK = os.environ.get("MINIDL_QUICK") == "1"  # the test suite runs a shrunken version

rng(0)
X, Y = digits()
(XTrain, YTrain), (XValidation, YValidation) = splitEachLabel(X, Y, 750 if not QUICK else 40, "randomize")
if QUICK:
    XValidation, YValidation = XValidation[..., ::20], YValidation[::20]

layers = [
    imageInputLayer([28, 28, 1]),
    convolution2dLayer(3, 16, Padding="same"),
    batchNormalizationLayer(),
    reluLayer(Name="relu_in"),
    maxPooling2dLayer(2, Stride=2),                      # 14×14×16
    convolution2dLayer(3, 16, Padding="same", Name="res_conv_1"),
    batchNormalizationLayer(Name="res_bn_1"),
    reluLayer(Name="res_relu_1"),
    convolution2dLayer(3, 16, Padding="same", Name="res_conv_2"),
    batchNormalizationLayer(Name="res_bn_2"),
    additionLayer(2, Name="add"),
    reluLayer(Name="relu_out"),
    maxPooling2dLayer(2, Stride=2),                      # 7×7×16
    convolution2dLayer(3, 32, Padding="same"),
    batchNormalizationLayer(),
    reluLayer(),
    globalAveragePooling2dLayer(),
    fullyConnectedLayer(10),
    softmaxLayer(),
    classificationLayer()]
lgraph = layerGraph(layers)
lgraph = connectLayers(lgraph, "maxpool_1", "add/in2")   # the skip connection

analyzeNetwork(lgraph)

options = trainingOptions("sgdm",
    InitialLearnRate=0.05,
    MaxEpochs=4 if not QUICK else 1,
    Shuffle="every-epoch",
    ValidationData=(XValidation, YValidation),
    ValidationFrequency=30,
    Verbose=False)
net, info = trainNetwork(XTrain, YTrain, lgraph, options)

YPred, _ = classify(net, XValidation)
accuracy = np.mean(YPred == YValidation)
print(f"accuracy = {accuracy:.4f}")
