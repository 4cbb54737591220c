"""Softmax and output (loss) layers."""
import numpy as np

from ..kernels import softmax as kernels
from ..options import OptionError, received
from .base import Layer, Memory, layer_options

_TINY = np.finfo(np.float32).tiny


class SoftmaxLayer(Layer):
    """``Z_k = exp(X_k − max X) / Σ_j exp(X_j − max X)`` over channels;
    ``dL/dX = Z ⊙ (dL/dZ − Σ_k dL/dZ_k · Z_k)``."""

    DefaultName = "softmax"
    Description = "Softmax"
    _owner = "softmaxLayer"

    def predict(self, X):
        return softmax(X)

    def forward(self, X):
        Z = self.predict(X)
        return Z, Memory(Z=Z)

    def backward(self, dLdZ, memory):
        Z = memory.Z
        return Z * (dLdZ - (dLdZ * Z).sum(axis=1, keepdims=True)), {}


class OutputLayer(Layer):
    """An output layer computes the loss: ``forwardLoss(Y, T)`` and ``backwardLoss(Y, T)``."""

    NumOutputs = 0
    OutputNames = ()

    def predict(self, X):
        return X

    def forward(self, X):
        return X, Memory()

    def loss_step(self, previous):
        """The training loss ``(loss, Y, dL/dX)`` as one step, absorbing ``previous`` (the
        layer feeding this one) when the two fuse; returns ``(step, absorbed)``."""
        return LossStep(self), False


class LossStep:
    """An output layer's loss and its gradient: ``forwardLoss`` then ``backwardLoss``."""

    def __init__(self, output):
        self.output = output

    def predict(self, X):
        return X

    def loss(self, X, T):
        return self.output.forwardLoss(X, T), X, self.output.backwardLoss(X, T)


class SoftmaxCrossEntropy(LossStep):
    """Softmax and cross-entropy in one stable pass over the logits X:
    ``log Y = X − max X − log Σ exp(X − max X)``, ``loss = −(1/N) Σ T·log Y``,
    ``dL/dX = (Y − T) / N`` (for targets whose rows sum to one, as one-hot labels do).
    Equal to softmaxLayer + classificationLayer except that Y is never clamped at the
    smallest float before the log: the fused form needs no clamp."""

    def predict(self, X):
        return softmax(X)

    def loss(self, X, T):
        return kernels.softmax_cross_entropy(X, np.asarray(T, X.dtype))


def class_names(owner, value):
    """'auto', or Classes as a 1-D array of unique strings or integers (MATLAB's categories)."""
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    try:
        array = np.asarray(value)
    except ValueError:   # ragged
        array = np.asarray(None)
    if array.dtype.kind == "O" and array.size and all(isinstance(x, str) for x in array.flat):
        array = array.astype(str)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iuU":
        raise OptionError(f"{owner}: Classes must be 'auto' or a list of class names (strings or integers, "
                          f"at least one); received {received(value)}.")
    names, counts = np.unique(array, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"{owner}: Classes must be unique; {names[counts > 1].tolist()[:5]} appear more than "
                         f"once. Remove the duplicates: each class is one output of the network.")
    return array


def softmax(X):
    """Softmax over the channel axis (axis 1): the kernel for N×K scores, NumPy for images."""
    if X.ndim == 2:
        return kernels.softmax_forward(np.ascontiguousarray(X))
    shifted = np.exp(X - X.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class ClassificationOutputLayer(OutputLayer):
    """Cross-entropy for mutually exclusive classes, averaged over the N observations:
    ``loss = −(1/N) Σ_n Σ_k T_nk · log(Y_nk)``; ``dloss/dY = −T / (N·Y)``.

    ``Y`` is bounded away from zero before the log, as MATLAB does. ``Classes`` is set
    from the training labels (sorted unique values, MATLAB's ``categories``).
    """

    DefaultName = "classoutput"
    Description = "Classification output"

    _owner = "classificationLayer"

    def __init__(self, Name="", Classes="auto"):
        super().__init__(Name)
        self.Classes = class_names(self._owner, Classes)
        self.OutputSize = "auto" if isinstance(self.Classes, str) else len(self.Classes)

    def initialize(self, input_size, rng):
        if len(input_size) != 1:
            raise ValueError(f"{self.Name}: classificationLayer expects one score per class "
                             f"(a vector); received activations of size {input_size}. Put a "
                             f"fullyConnectedLayer(numClasses) and softmaxLayer before it.")
        if self.OutputSize != "auto" and self.OutputSize != input_size[0]:
            raise ValueError(f"{self.Name}: {self.OutputSize} Classes but the preceding layer "
                             f"outputs {input_size[0]} values. Make the last fullyConnectedLayer's "
                             f"OutputSize equal the number of classes.")
        self.OutputSize = input_size[0]
        return tuple(input_size)

    def forwardLoss(self, Y, T):
        return float(-(T * np.log(np.maximum(Y, _TINY))).sum(dtype=np.float64) / Y.shape[0])

    def backwardLoss(self, Y, T):
        return -T / (np.maximum(Y, _TINY) * Y.shape[0])

    def loss_step(self, previous):
        # Only MATLAB's own pair fuses: a subclass may redefine the loss.
        if type(self) is ClassificationOutputLayer and type(previous) is SoftmaxLayer:
            return SoftmaxCrossEntropy(self), True
        return super().loss_step(previous)

    def _display_properties(self):
        return {"Name": self.Name, "OutputSize": self.OutputSize}


class RegressionOutputLayer(OutputLayer):
    """Half mean squared error, divided by the number of observations N only:
    ``loss = Σ 0.5·(Y − T)² / N`` (the sum runs over all responses and spatial elements);
    ``dloss/dY = (Y − T) / N``. ``ResponseNames`` defaults to ``[]``.
    """

    DefaultName = "regressionoutput"
    Description = "Regression output"

    _owner = "regressionLayer"

    def __init__(self, Name="", ResponseNames=None):
        super().__init__(Name)
        if isinstance(ResponseNames, str):
            ResponseNames = [ResponseNames]
        if ResponseNames is None:
            ResponseNames = []
        if not (isinstance(ResponseNames, (list, tuple)) and all(isinstance(n, str) for n in ResponseNames)):
            raise OptionError(f"regressionLayer: ResponseNames must be a string or a list of strings; received "
                              f"{received(ResponseNames)}.")
        self.ResponseNames = list(ResponseNames)

    def _check(self, Y, T):
        if np.shape(Y) != np.shape(T):
            raise ValueError(f"{self.Name}: the responses have size {'×'.join(map(str, np.shape(T)))} but "
                             f"the network outputs {'×'.join(map(str, np.shape(Y)))} (internal layout); "
                             f"make the last layer output one value per response.")

    def forwardLoss(self, Y, T):
        self._check(Y, T)
        diff = np.subtract(Y, T, dtype=np.float64)
        return float(0.5 * np.sum(diff * diff) / Y.shape[0])

    def backwardLoss(self, Y, T):
        self._check(Y, T)
        return (Y - T) / Y.shape[0]

    def _display_properties(self):
        return {"Name": self.Name, "ResponseNames": self.ResponseNames}


def softmaxLayer(*pairs, **options):
    """``softmaxLayer(Name=...)``: softmax over the channel dimension.

    Example::

        >>> from minidl import softmaxLayer
        >>> softmaxLayer().Name
        ''
    """
    return SoftmaxLayer(**layer_options("softmaxLayer", pairs, options, {}))


def classificationLayer(*pairs, **options):
    """``classificationLayer(Name=..., Classes="auto")``: cross-entropy loss.

    Example::

        >>> from minidl import classificationLayer
        >>> classificationLayer().DefaultName
        'classoutput'
    """
    return ClassificationOutputLayer(**layer_options("classificationLayer", pairs, options,
                                                     {"Classes": "auto"}))



def regressionLayer(*pairs, **options):
    """``regressionLayer(Name=..., ResponseNames=[])``: half-mean-squared-error loss.

    Example::

        >>> import numpy as np
        >>> from minidl import regressionLayer
        >>> layer = regressionLayer()
        >>> layer.DefaultName, layer.ResponseNames
        ('regressionoutput', [])
        >>> layer.forwardLoss(np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2)))
        7.5
    """
    return RegressionOutputLayer(**layer_options("regressionLayer", pairs, options, {"ResponseNames": None}))
