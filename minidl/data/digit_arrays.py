"""MATLAB's ``digitTrain4DArrayData`` and ``digitTest4DArrayData``, drawn from minidl's own
digit generator (minidl.data.datasets): 5,000 images each, with labels and rotation angles."""
import numpy as np

from .datasets import synthesize
from .labels import categorical

_PER_CLASS = 500
_MAX_ANGLE = 45.0


def _arrays(seed):
    X, labels, angles = synthesize(seed, _PER_CLASS, _MAX_ANGLE)
    order = np.random.default_rng(seed + 1000).permutation(labels.size)     # mixed classes, as MATLAB's
    images = (X[..., order].astype(np.float32) / np.float32(255))
    return images, categorical(labels[order]), angles[order].reshape(-1, 1).astype(np.float64)


def digitTrain4DArrayData():
    """``[XTrain, YTrain, anglesTrain] = digitTrain4DArrayData()``: 5,000 synthetic
    handwritten-style digits as MATLAB's training set of the same name.

    ``XTrain``: 28×28×1×5000 float32 in [0, 1] (white digit on black; MATLAB's is double);
    ``YTrain``: 5000 labels 0–9 as a :class:`~minidl.data.labels.Categorical` (500 of each,
    in mixed order); ``anglesTrain``: 5000×1 rotation angles in degrees, within ±45,
    positive counterclockwise, for the regression examples. Drawn from minidl's digit
    generator (not MATLAB's images), always the same; the global ``rng`` is not touched.
    The test set (:func:`digitTest4DArrayData`) is drawn independently.

    Example::

        >>> from minidl import digitTrain4DArrayData
        >>> XTrain, YTrain, anglesTrain = digitTrain4DArrayData()
        >>> XTrain.shape, XTrain.dtype, float(XTrain.min()), float(XTrain.max()) <= 1
        ((28, 28, 1, 5000), dtype('float32'), 0.0, True)
        >>> YTrain.shape, anglesTrain.shape
        ((5000,), (5000, 1))
    """
    return _arrays(1)


def digitTest4DArrayData():
    """``[XTest, YTest, anglesTest] = digitTest4DArrayData()``: 5,000 more digits, drawn
    independently of :func:`digitTrain4DArrayData`, in the same form.

    Example::

        >>> from minidl import digitTest4DArrayData
        >>> XTest, YTest, anglesTest = digitTest4DArrayData()
        >>> XTest.shape, len(YTest), anglesTest.shape
        ((28, 28, 1, 5000), 5000, (5000, 1))
    """
    return _arrays(2)
