"""Regression, as MATLAB's "Train Convolutional Neural Network for Regression": predict the
angle by which each digit image was rotated.

The built-in digits are already drawn with a small random tilt (about ±15°), so an RMSE
near 7–9 degrees is the floor here; the network learns the rotation added on top.
"""
import os

import numpy as np

from minidl import (averagePooling2dLayer, batchNormalizationLayer, convolution2dLayer, dropoutLayer,
                    fullyConnectedLayer, imageInputLayer, predict, regressionLayer, reluLayer, rng,
                    trainingOptions, trainNetwork)
from minidl.datasets import digits

QUICK = os.environ.get("MINIDL_QUICK") == "1"  # the test suite runs a shrunken version


def rotate(images, degrees):
    """Rotate H×W×1×N images about their centres (bilinear, zero outside)."""
    h, w, _, n = images.shape
    theta = np.deg2rad(degrees)[None, None, :]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    y, x = rows[..., None] - (h - 1) / 2, cols[..., None] - (w - 1) / 2
    src_y = np.cos(theta) * y - np.sin(theta) * x + (h - 1) / 2   # inverse map, counter-clockwise
    src_x = np.sin(theta) * y + np.cos(theta) * x + (w - 1) / 2
    y0, x0 = np.floor(src_y).astype(int), np.floor(src_x).astype(int)
    out = np.zeros((h, w, n))
    obs = np.broadcast_to(np.arange(n), (h, w, n))
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (1 - np.abs(src_y - yy)) * (1 - np.abs(src_x - xx))
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            out += np.where(inside, weight * images[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1), 0, obs], 0)
    return out[:, :, None, :].astype(np.float32)


rng(0)
X, _ = digits()
count = 5000 if not QUICK else 600
angles = np.random.default_rng(1).uniform(-45, 45, count)
XRotated = rotate(X[..., :: 10000 // count][..., :count] / 255.0, angles)
XTrain, YTrain = XRotated[..., : count * 4 // 5], angles[: count * 4 // 5]
XValidation, YValidation = XRotated[..., count * 4 // 5:], angles[count * 4 // 5:]

layers = [
    imageInputLayer([28, 28, 1]),
    convolution2dLayer(3, 8, Padding="same"), batchNormalizationLayer(), reluLayer(),
    averagePooling2dLayer(2, Stride=2),
    convolution2dLayer(3, 16, Padding="same"), batchNormalizationLayer(), reluLayer(),
    averagePooling2dLayer(2, Stride=2),
    convolution2dLayer(3, 32, Padding="same"), batchNormalizationLayer(), reluLayer(),
    convolution2dLayer(3, 32, Padding="same"), batchNormalizationLayer(), reluLayer(),
    dropoutLayer(0.2),
    fullyConnectedLayer(1),
    regressionLayer()]

options = trainingOptions("sgdm",
    MiniBatchSize=128,
    MaxEpochs=12 if not QUICK else 1,
    InitialLearnRate=1e-3,
    LearnRateSchedule="piecewise",
    LearnRateDropFactor=0.1,
    LearnRateDropPeriod=10,
    Shuffle="every-epoch",
    ValidationData=(XValidation, YValidation),
    ValidationFrequency=30,
    Verbose=not QUICK)
net, info = trainNetwork(XTrain, YTrain, layers, options)

YPredicted = predict(net, XValidation)[:, 0]
rmse = np.sqrt(np.mean((YPredicted - YValidation) ** 2))
print(f"validation RMSE = {rmse:.2f} degrees")
