"""Small stand-ins for MATLAB's example data, so the ports in this folder run in seconds.

``digitTrain4DArrayData`` returns what MATLAB's function returns (28×28×1×N images in
[0, 1], labels, N×1 rotation-like responses) but from minidl's built-in ``digits`` and only
``count`` observations; the responses are a deterministic function of each image (its
brightness-weighted slant), which a small CNN can regress.
"""
import numpy as np

import minidl


def digitTrain4DArrayData(count=300, offset=0):
    X, Y = minidl.digits(0)
    pick = np.concatenate([np.arange(c * 1000 + offset, c * 1000 + offset + count // 10) for c in range(10)])
    XTrain = X[:, :, :, pick].astype(np.float32) / 255
    YTrain = Y[pick]
    cols = np.arange(28, dtype=np.float32)[None, :, None, None] - 13.5
    rows = np.arange(28, dtype=np.float32)[:, None, None, None] - 13.5
    mass = XTrain.sum(axis=(0, 1, 2)) + 1e-6
    slant = (XTrain * cols * rows).sum(axis=(0, 1, 2)) / mass
    anglesTrain = (slant / 4).reshape(-1, 1).astype(np.float32)
    return XTrain, YTrain, anglesTrain


def digitTest4DArrayData(count=100):
    return digitTrain4DArrayData(count, offset=500)
