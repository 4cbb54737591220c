"""Dropout."""
import numpy as np

from .. import _rng
from ..options import real
from .activation import leading_value
from .base import Layer, Memory, layer_options


class DropoutLayer(Layer):
    """Inverted dropout with ``Probability`` p (default 0.5).

    Training: ``mask = [u ≥ p] / (1 − p)`` with ``u`` uniform on [0, 1) drawn from minidl's
    global generator (``minidl.rng``) at every forward call; ``Z = X ⊙ mask`` and
    ``dL/dX = dL/dZ ⊙ mask``. Each element is kept with probability 1 − p, and the
    expectation of Z is X. Prediction is the identity.
    """

    DefaultName = "dropout"
    _owner = "dropoutLayer"
    Description = "Dropout"

    def __init__(self, Probability=0.5, Name=""):
        super().__init__(Name)
        self.Probability = real("dropoutLayer", "Probability", Probability, 0, 1, high_open=True,
                                what="a scalar in [0, 1)")

    def predict(self, X):
        return X

    def forward(self, X):
        p = self.Probability
        keep = _rng.generator().random(X.shape) >= p
        mask = np.where(keep, 1.0 / (1.0 - p), 0.0).astype(X.dtype)
        return X * mask, Memory(mask=mask)

    def backward(self, dLdZ, memory):
        return dLdZ * memory.mask, {}

    def _display_properties(self):
        return {"Name": self.Name, "Probability": self.Probability}


def dropoutLayer(probability=0.5, *pairs, **options):
    """``dropoutLayer(probability=0.5, Name=...)``: inverted dropout in training, identity
    in prediction.

    Example::

        >>> from minidl import dropoutLayer
        >>> dropoutLayer().Probability, dropoutLayer(0.2).Probability
        (0.5, 0.2)
        >>> dropoutLayer("Name", "drop1").Name
        'drop1'
    """
    probability, pairs = leading_value("dropoutLayer", "probability", probability, pairs, 0.5)
    return DropoutLayer(probability, **layer_options("dropoutLayer", pairs, options, {}))
