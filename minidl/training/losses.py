"""``trainnet``'s loss functions and ``Metrics``, on the internal layout (N×K, or N×C×H×W).

Built-in losses, as MATLAB's trainnet documents them (Y the network output, T the targets
of the same size, N observations, S spatial elements per observation, E = N·S·C all the
elements of Y):

- ``"crossentropy"``: ``−Σ T·log(Y) / (N·S)`` (normalized by the non-channel elements);
  ``dL/dY = −T / (Y·N·S)``. Y is bounded away from zero before the log.
- ``"index-crossentropy"``: the same, with targets given as class indices (1-based, as in
  MATLAB) or labels.
- ``"binary-crossentropy"``: ``−Σ [T·log(Y) + (1−T)·log(1−Y)] / E``.
- ``"mse"`` (also ``"mean-squared-error"``, ``"l2loss"``): ``Σ (Y−T)² / E``; ``dL/dY = 2(Y−T)/E``.
- ``"l1loss"`` (also ``"mae"``, ``"mean-absolute-error"``): ``Σ |Y−T| / E``; ``dL/dY = sign(Y−T)/E``.
- ``"huber"``: ``Σ h(Y−T) / E`` with ``h(r) = r²/2`` for ``|r| ≤ 1``, else ``|r| − 1/2``
  (TransitionPoint 1); ``dL/dY = clip(Y−T, −1, 1) / E``.

A custom loss is a function ``f(Y, T) -> (loss, dLdY)`` on MATLAB layouts (N×K features,
H×W×C×N images): minidl has no automatic differentiation, so it returns the gradient too.

Metrics (``trainingOptions(Metrics=...)``, ``testnet``): ``"accuracy"`` (percent; the
class of the largest score, or Y ≥ 0.5 for one output channel), ``"rmse"``
(``sqrt(Σ (Y−T)² / E)``), and ``"fscore"``, ``"precision"``, ``"recall"`` (fractions,
micro-averaged over the classes as MATLAB's default AverageType).
"""
import numpy as np

from ..graph.inference import FORMATS, from_internal
from ..options import OptionError, choice, received

_TINY = np.finfo(np.float32).tiny
CLASSIFICATION = ("crossentropy", "index-crossentropy")
ALIASES = {"mean-squared-error": "mse", "l2loss": "mse", "mae": "l1loss", "mean-absolute-error": "l1loss"}
LOSSES = ("crossentropy", "index-crossentropy", "binary-crossentropy", "mse", "l1loss", "huber")
METRICS = ("accuracy", "rmse", "fscore", "precision", "recall")
METRIC_LABELS = {"accuracy": "Accuracy", "rmse": "RMSE", "fscore": "FScore", "precision": "Precision",
                 "recall": "Recall"}


def _counts(Y):
    spatial = int(np.prod(Y.shape[2:])) if Y.ndim > 2 else 1
    return Y.shape[0] * spatial, Y.size


class BuiltinLoss:
    """One of the built-in losses by name (see the module docstring)."""

    def __init__(self, name):
        self.name = name
        self.classification = name in CLASSIFICATION

    def forward(self, Y, T):
        Y64, T64 = np.asarray(Y, np.float64), np.asarray(T, np.float64)
        positions, elements = _counts(Y)
        if self.classification:
            return float(-(T64 * np.log(np.maximum(Y64, _TINY))).sum() / positions)
        if self.name == "binary-crossentropy":
            return float(-(T64 * np.log(np.maximum(Y64, _TINY))
                           + (1 - T64) * np.log(np.maximum(1 - Y64, _TINY))).sum() / elements)
        r = Y64 - T64
        if self.name == "mse":
            return float(np.sum(r * r) / elements)
        if self.name == "l1loss":
            return float(np.sum(np.abs(r)) / elements)
        a = np.abs(r)
        return float(np.sum(np.where(a <= 1, 0.5 * r * r, a - 0.5)) / elements)

    def backward(self, Y, T):
        positions, elements = _counts(Y)
        T = np.asarray(T, Y.dtype)
        if self.classification:
            return -T / (np.maximum(Y, _TINY) * positions)
        if self.name == "binary-crossentropy":
            return (-T / np.maximum(Y, _TINY) + (1 - T) / np.maximum(1 - Y, _TINY)) / elements
        r = Y - T
        if self.name == "mse":
            return 2 * r / elements
        if self.name == "l1loss":
            return np.sign(r) / elements
        return np.clip(r, -1, 1) / elements


class CustomLoss:
    """A user's ``f(Y, T) -> (loss, dLdY)`` on MATLAB layouts, called once per mini-batch."""

    classification = False
    name = "custom"

    def __init__(self, function, data_format="SSCB"):
        self.function, self.data_format, self._last = function, data_format, None

    def _call(self, Y, T):
        if self._last is not None and self._last[0] is Y and self._last[1] is T:
            return self._last[2]
        label = getattr(self.function, "__name__", "the loss function")
        result = self.function(from_internal(Y, self.data_format), from_internal(np.asarray(T, Y.dtype),
                                                                               self.data_format))
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise TypeError(f"trainnet: lossFcn {label} must return (loss, gradient), the loss and its gradient "
                            f"with respect to the network output Y; received {received(result)}.")
        loss, gradient = result
        gradient = np.asarray(gradient, dtype=Y.dtype)
        expected = from_internal(Y, self.data_format).shape
        if np.ndim(loss) != 0 or gradient.shape != expected:
            raise ValueError(f"trainnet: lossFcn {label} must return a scalar loss and a gradient of the size of Y "
                             f"({'×'.join(map(str, expected))}); received a loss of size {np.shape(loss)} and a "
                             f"gradient of size {'×'.join(map(str, gradient.shape))}.")
        if gradient.ndim == 4:
            gradient = np.ascontiguousarray(gradient.transpose(FORMATS[str(self.data_format).upper()]))
        self._last = (Y, T, (float(loss), gradient))
        return self._last[2]

    def forward(self, Y, T):
        return self._call(Y, T)[0]

    def backward(self, Y, T):
        return self._call(Y, T)[1]


def make_loss(owner, lossFcn, data_format="SSCB"):
    """A loss object for ``lossFcn``: a built-in name (any case, aliases allowed) or a function."""
    if callable(lossFcn):
        return CustomLoss(lossFcn, data_format)
    if isinstance(lossFcn, str):
        lossFcn = ALIASES.get(lossFcn.lower(), lossFcn)
    try:
        return BuiltinLoss(choice(owner, "lossFcn", lossFcn, LOSSES))
    except OptionError as error:
        raise OptionError(f"{error} Or give a function returning (loss, gradient).") from None


def metric_names(owner, value):
    """``Metrics`` as a list of canonical names ([] for none)."""
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)):
        raise OptionError(f"{owner}: Metrics must be a metric name or a list of them ({', '.join(METRICS)}); "
                          f"received {received(value)}.")
    return [choice(owner, "Metrics", name, METRICS) for name in values]


def metric(name, Y, T):
    """The value of metric ``name`` for outputs Y and targets T (internal layout)."""
    if name == "rmse":
        return float(np.sqrt(np.mean(np.square(np.asarray(Y, np.float64) - T))))
    if Y.shape[1] == 1:
        predicted, actual = np.asarray(Y) >= 0.5, np.asarray(T) >= 0.5
        if name == "accuracy":
            return 100.0 * float(np.mean(predicted == actual))
    else:
        predicted = np.argmax(Y, axis=1)
        actual = np.argmax(T, axis=1)
        if name == "accuracy":
            return 100.0 * float(np.mean(predicted == actual))
        classes = np.arange(Y.shape[1]).reshape((1, -1) + (1,) * (Y.ndim - 2))
        predicted = np.expand_dims(predicted, 1) == classes
        actual = np.expand_dims(actual, 1) == classes
    tp = float(np.sum(predicted & actual))
    precision = tp / max(float(np.sum(predicted)), 1.0)
    recall = tp / max(float(np.sum(actual)), 1.0)
    if name == "precision":
        return precision
    if name == "recall":
        return recall
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
