"""Instance normalization and cross-channel (local response) normalization."""

from ..options import integer, real
from .base import Layer, Memory, layer_options, require_image
from .normalization import _GROUPWISE_DEFAULTS, _GroupwiseNormalization


class InstanceNormalizationLayer(_GroupwiseNormalization):
    """Instance normalization: each channel of each observation normalized over its h·w
    elements, ``Z = Scale·(X − μ)/√(σ² + Epsilon) + Offset`` (μ, σ² biased, per n and c),
    i.e. group normalization with one channel per group. Training and prediction compute the
    same thing. Defaults: Epsilon 1e-5, Scale ones, Offset zeros (1×1×C), factors 1."""

    DefaultName = "instancenorm"
    Description = "Instance normalization"
    _owner = "instanceNormalizationLayer"

    def _groups(self, channels):
        return channels

    def initialize(self, input_size, rng):
        require_image(self, self._owner, input_size)
        return super().initialize(input_size, rng)


def instanceNormalizationLayer(*pairs, **options):
    """``instanceNormalizationLayer(Epsilon=1e-5, Scale=g, Offset=b, ...)``.

    Example::

        >>> from minidl import instanceNormalizationLayer
        >>> layer = instanceNormalizationLayer()
        >>> layer.initialize((4, 4, 3), None), layer.Scale.shape, layer.Epsilon
        ((4, 4, 3), (1, 1, 3), 1e-05)
    """
    return InstanceNormalizationLayer(**layer_options("instanceNormalizationLayer", pairs, options,
                                                      _GROUPWISE_DEFAULTS))


def _window_sum(A, before, after):
    """out[:, c] = Σ A[:, k] for k from c − before to c + after (within the channels)."""
    out = A.copy()
    C = A.shape[1]
    for shift in range(1, before + 1):
        out[:, shift:] += A[:, :C - shift]
    for shift in range(1, after + 1):
        out[:, :C - shift] += A[:, shift:]
    return out


class CrossChannelNormalizationLayer(Layer):
    """Local response normalization across channels (AlexNet's):
    ``Z_c = X_c / (K + Alpha·ss_c / WindowChannelSize)^Beta``, where ``ss_c`` sums ``X_k²``
    over the channels k from ``c − floor((w−1)/2)`` to ``c + floor(w/2)`` (w =
    WindowChannelSize; channels outside the range are left out).

    Backward, with ``d_c = K + Alpha·ss_c/w`` and ``q_c = dL/dZ_c · X_c · d_c^(−Beta−1)``:
    ``dL/dX_j = dL/dZ_j · d_j^(−Beta) − 2·Beta·Alpha/w · X_j · Σ q_c`` over the windows c that
    contain j. Defaults: Alpha 1e-4, Beta 0.75, K 2.
    """

    DefaultName = "crossnorm"
    _owner = "crossChannelNormalizationLayer"
    Description = "cross channel normalization"

    def __init__(self, WindowChannelSize, Name="", Alpha=1e-4, Beta=0.75, K=2):
        super().__init__(Name)
        owner = self._owner
        self.WindowChannelSize = integer(owner, "WindowChannelSize", WindowChannelSize, 1, 16,
                                         what="a positive integer at most 16")
        self.Alpha = real(owner, "Alpha", Alpha)
        self.Beta = real(owner, "Beta", Beta, 0.01)
        self.K = real(owner, "K", K, 1e-5)

    def _window(self):
        w = self.WindowChannelSize
        return (w - 1) // 2, w // 2

    def predict(self, X):
        return self.forward(X)[0]

    def forward(self, X):
        before, after = self._window()
        d = self.K + self.Alpha / self.WindowChannelSize * _window_sum(X * X, before, after)
        scale = d ** -self.Beta
        return (X * scale).astype(X.dtype, copy=False), Memory(X=X, d=d, scale=scale)

    def backward(self, dLdZ, memory):
        X, d, scale = memory.X, memory.d, memory.scale
        before, after = self._window()
        q = dLdZ * X * scale / d
        cross = _window_sum(q, after, before)         # the windows that contain each channel
        dX = dLdZ * scale - (2 * self.Beta * self.Alpha / self.WindowChannelSize) * X * cross
        return dX.astype(dLdZ.dtype, copy=False), {}

    def _display_properties(self):
        return {"Name": self.Name, "WindowChannelSize": self.WindowChannelSize, "Alpha": self.Alpha,
                "Beta": self.Beta, "K": self.K}


def crossChannelNormalizationLayer(windowChannelSize, *pairs, **options):
    """``crossChannelNormalizationLayer(windowChannelSize, Alpha=1e-4, Beta=0.75, K=2, Name=...)``.

    Example::

        >>> import numpy as np
        >>> from minidl import crossChannelNormalizationLayer
        >>> layer = crossChannelNormalizationLayer(5, K=1)
        >>> layer.Alpha, layer.Beta, layer.K
        (0.0001, 0.75, 1.0)
        >>> float(layer.predict(np.full((1, 1, 1, 1), 2.0))[0, 0, 0, 0])  # 2 / (1 + 1e-4·4/5)^0.75
        1.99988...
    """
    values = layer_options("crossChannelNormalizationLayer", pairs, options, {"Alpha": 1e-4, "Beta": 0.75, "K": 2})
    return CrossChannelNormalizationLayer(windowChannelSize, **values)
