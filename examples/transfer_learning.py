"""Transfer learning, MATLAB style: train on digits 0-4, then reuse the network for 5-9.

layerGraph(net) turns a trained network back into an editable graph; replaceLayer swaps
the last fully connected and output layers; LearnRateFactor 0 freezes the early layers.
"""
import os

import numpy as np

from minidl import (batchNormalizationLayer, classificationLayer, classify, convolution2dLayer,
                    fullyConnectedLayer, imageInputLayer, layerGraph, maxPooling2dLayer, reluLayer,
                    replaceLayer, rng, softmaxLayer, trainingOptions, trainNetwork)
from minidl.datasets import digits, splitEachLabel

QUICK = os.environ.get("MINIDL_QUICK") == "1"  # the test suite runs a shrunken version

rng(0)
X, Y = digits()
(XTrain, YTrain), (XTest, YTest) = splitEachLabel(X, Y, 300 if not QUICK else 40, "randomize")
first, second = YTrain < 5, YTrain >= 5

layers = [imageInputLayer([28, 28, 1]),
          convolution2dLayer(3, 8, Padding="same"), batchNormalizationLayer(), reluLayer(),
          maxPooling2dLayer(2, Stride=2),
          convolution2dLayer(3, 16, Padding="same"), batchNormalizationLayer(), reluLayer(),
          maxPooling2dLayer(2, Stride=2),
          fullyConnectedLayer(5), softmaxLayer(), classificationLayer()]
options = trainingOptions("sgdm", MaxEpochs=3 if not QUICK else 1, Shuffle="every-epoch", Verbose=False)
net, _ = trainNetwork(XTrain[..., first], YTrain[first], layers, options)

# Reuse it: freeze the convolutions, replace the classifier head for the new classes.
lgraph = layerGraph(net)
for layer in lgraph.Layers:
    if layer.Name.startswith("conv"):
        layer.WeightLearnRateFactor = 0
        layer.BiasLearnRateFactor = 0
        lgraph = replaceLayer(lgraph, layer.Name, layer)
lgraph = replaceLayer(lgraph, "fc", fullyConnectedLayer(5, Name="fc_new"))
lgraph = replaceLayer(lgraph, "classoutput", classificationLayer(Name="classoutput_new"))

options = trainingOptions("sgdm", MaxEpochs=2 if not QUICK else 1, InitialLearnRate=0.02, Verbose=False)
newNet, _ = trainNetwork(XTrain[..., second], YTrain[second], lgraph, options)

frozen = {l.Name: l for l in net.Layers}
assert all(np.array_equal(frozen[l.Name].Weights, l.Weights) for l in newNet.Layers if l.Name.startswith("conv"))
test = YTest >= 5
YPred, _ = classify(newNet, XTest[..., test])
print(f"accuracy on digits 5-9 with frozen features = {np.mean(YPred == YTest[test]):.4f}")
