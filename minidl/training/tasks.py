"""What is learned: classification (labels → one-hot targets, accuracy) or regression
(responses, RMSE), and the checks on training data."""
import numpy as np

from ..graph.inference import FORMATS
from ..data.labels import check_class_count
from ..graph.network import misported_outputs


class ClassificationTask:
    """Labels → one-hot targets; metric: accuracy in percent."""

    metric = "Accuracy"

    def __init__(self, output, Y, owner):
        self.output = output
        given = None if isinstance(output.Classes, str) else np.asarray(output.Classes)
        self.classes, labels = encode_labels(Y, owner, given)
        check_class_count(owner, self.classes)
        output.Classes = self.classes
        if len(self.classes) != output.OutputSize:
            raise ValueError(f"{owner}: the data has {len(self.classes)} classes but the network outputs "
                             f"{output.OutputSize} scores. Make the last fullyConnectedLayer's OutputSize "
                             f"{len(self.classes)}.")
        self.targets = one_hot(labels, len(self.classes))

    def encode(self, Y, owner):
        _, labels = encode_labels(Y, owner, self.classes)
        return one_hot(labels, len(self.classes))

    @staticmethod
    def measure(scores, targets):
        return 100.0 * float(np.mean(scores.argmax(axis=1) == targets.argmax(axis=1)))


class RegressionTask:
    """Responses N×R (or N); metric: RMSE = sqrt(Σ squared error / N), MATLAB R2017b's form."""

    metric = "RMSE"

    def __init__(self, output, Y, owner, data_format="SSCB"):
        self.output = output
        self.data_format = data_format
        self.targets = self.encode(Y, owner)

    def encode(self, Y, owner):
        try:
            Y = np.asarray(Y, dtype=np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"{owner}: regression responses must be numeric (an N×R array, or "
                            f"H×W×C×N for image responses).") from None
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.ndim == 4:  # image responses, laid out like X
            Y = Y.transpose(FORMATS[str(self.data_format).upper()])
        if not np.all(np.isfinite(Y)):
            raise ValueError(f"{owner}: the responses contain NaN or Inf values.")
        return np.ascontiguousarray(Y)

    @staticmethod
    def measure(scores, targets):
        return float(np.sqrt(np.sum(np.square(scores - targets, dtype=np.float64)) / scores.shape[0]))


def encode_labels(Y, owner, classes=None):
    """Labels → (classes, indices). Classes are the sorted unique labels (MATLAB's categories)."""
    if isinstance(Y, tuple) and misported_outputs(Y):
        raise TypeError(f"{owner}: the labels are a pair, not one label per observation. {misported_outputs(Y)}")
    Y = np.asarray(Y)
    if Y.ndim == 2 and 1 in Y.shape:
        Y = Y.reshape(-1)
    if Y.ndim != 1:
        raise ValueError(f"{owner}: classification labels must be a vector with one label per "
                         f"observation; received an array of size {'×'.join(map(str, Y.shape))}.")
    if Y.dtype == object:  # e.g. a pandas column of strings
        kinds = {type(label) for label in Y.tolist()}
        if not kinds <= {str} and not all(issubclass(k, (int, np.integer)) for k in kinds):
            raise TypeError(f"{owner}: labels must be all strings or all integers; received values of "
                            f"types {sorted(k.__name__ for k in kinds)}.")
        Y = Y.astype(str) if kinds <= {str} else Y.astype(np.int64)
    if Y.dtype.kind == "f" and np.any(np.isnan(Y)):
        raise ValueError(f"{owner}: the labels contain NaN; every observation needs a label.")
    if Y.dtype.kind not in "iufUSb":
        raise TypeError(f"{owner}: labels must be integers or strings; received an array of {Y.dtype}.")
    if classes is None:
        classes = np.unique(Y)
    lookup = {label: index for index, label in enumerate(classes.tolist())}
    indices = np.array([lookup.get(label, -1) for label in Y.tolist()], dtype=np.int64)
    unknown = indices < 0
    if np.any(unknown):
        raise ValueError(f"{owner}: labels {sorted(set(Y[unknown].tolist()))[:5]} are not among the "
                         f"classes {classes.tolist()[:10]} (the training labels, or the output layer's "
                         f"Classes). Validation labels must use the training classes.")
    return classes, indices


def one_hot(indices, count):
    T = np.zeros((len(indices), count), np.float32)
    T[np.arange(len(indices)), indices] = 1
    return T


def check_count(X, Y, owner):
    """X (internal, observations first) and Y hold as many observations; checked before the
    labels are read, so a short Y is named as such (not as a wrong number of classes)."""
    if isinstance(Y, tuple) and misported_outputs(Y):
        raise TypeError(f"{owner}: the labels are a pair, not one label per observation. {misported_outputs(Y)}")
    count = len(Y) if isinstance(Y, (list, tuple)) else (np.shape(Y)[0] if np.ndim(Y) else 1)
    if X.shape[0] != count:
        raise ValueError(f"{owner}: X has {X.shape[0]} observations but Y has {count} "
                         f"labels/responses; they must match (observations are the last dimension of "
                         f"image data and the first of feature data).")


def check_data(X, targets, owner):
    check_count(X, targets, owner)
    if X.shape[0] == 0:
        raise ValueError(f"{owner}: X has no observations.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{owner}: X contains NaN or Inf values; remove or replace them before training.")
