"""Fully connected layer."""
from dataclasses import dataclass

import numpy as np

from ..options import integer
from .base import (Layer, Memory, auto_or_count, buffer, initial_constant, initial_weights, layer_options,
                   learnable_array, weight_and_bias_options)


def flatten_matlab(X):
    """N×C×H×W → N×(H·W·C) in MATLAB's column-major order of h×w×c (h fastest, then w, then c)."""
    if X.ndim == 2:
        return X
    return X.transpose(0, 1, 3, 2).reshape(X.shape[0], -1)


class FullyConnectedLayer(Layer):
    """``Z = X · Weightsᵀ + Biasᵀ`` with ``Weights`` OutputSize×InputSize and ``Bias`` OutputSize×1.

    Image input h×w×c is flattened in MATLAB's column-major order, so InputSize = h·w·c
    and weights exported from MATLAB load unchanged. The output is a feature vector of
    length OutputSize (MATLAB shows it as 1×1×OutputSize). Defaults: Glorot-uniform
    weights (fan_in = InputSize, fan_out = OutputSize), zero bias, ``BiasL2Factor`` 0.
    """

    DefaultName = "fc"
    _owner = "fullyConnectedLayer"
    arrays_in_constructor = True
    Description = "Fully connected"
    learnables = {"Weights": "Weight", "Bias": "Bias"}

    def __init__(self, OutputSize, Name="", InputSize="auto", Weights=None, Bias=None,
                 WeightsInitializer="glorot", BiasInitializer="zeros", WeightLearnRateFactor=1,
                 BiasLearnRateFactor=1, WeightL2Factor=1, BiasL2Factor=0):
        super().__init__(Name)
        owner = "fullyConnectedLayer"
        self.OutputSize = integer(owner, "OutputSize", OutputSize)
        self.InputSize = auto_or_count(owner, "InputSize", InputSize)
        weight_and_bias_options(owner, self, WeightsInitializer, BiasInitializer,
                                WeightLearnRateFactor=WeightLearnRateFactor, BiasLearnRateFactor=BiasLearnRateFactor,
                                WeightL2Factor=WeightL2Factor, BiasL2Factor=BiasL2Factor)
        self.Weights = learnable_array("fullyConnectedLayer", "Weights", Weights)
        if self.Weights is not None:
            if self.Weights.ndim != 2 or self.Weights.shape[0] != self.OutputSize:
                raise ValueError(f"fullyConnectedLayer: Weights must be OutputSize×InputSize "
                                 f"({self.OutputSize}×InputSize); received "
                                 f"{'×'.join(map(str, self.Weights.shape))}.")
            self.InputSize = self.Weights.shape[1]
        self.Bias = learnable_array("fullyConnectedLayer", "Bias", Bias, (self.OutputSize, 1))

    def initialize(self, input_size, rng):
        n_in = int(np.prod(input_size))
        if self.InputSize != "auto" and self.InputSize != n_in:
            raise ValueError(f"{self.Name}: InputSize is {self.InputSize} (from its Weights), but the "
                             f"incoming activations have {n_in} elements (size "
                             f"{'×'.join(map(str, input_size))}). Fix the preceding layers or the Weights.")
        self.InputSize = n_in
        if self.Weights is None:
            self.Weights = initial_weights(self.Name, self.WeightsInitializer, rng,
                                           (self.OutputSize, n_in), n_in, self.OutputSize)
        if self.Bias is None:
            self.Bias = initial_constant(self.Name, "BiasInitializer", self.BiasInitializer, rng,
                                         (self.OutputSize, 1))
        return (self.OutputSize,)

    def _weights(self, X):
        """Weights whose columns follow X's own C-order flattening (c, h, w), so that the
        activations need no transpose: column ``c·H·W + h·W + w`` of the result is column
        ``c·H·W + w·H + h`` (MATLAB's order) of ``Weights``."""
        weights = self.Weights.astype(X.dtype, copy=False)
        if X.ndim == 2:
            return weights
        _, C, H, W = X.shape
        return weights.reshape(-1, C, W, H).transpose(0, 1, 3, 2).reshape(weights.shape[0], -1)

    def predict(self, X, work=None):
        return self.forward(X, work)[0]

    def forward(self, X, work=None):
        flat = X.reshape(X.shape[0], -1)
        Z = np.matmul(flat, self._weights(X).T, out=buffer(work, "Z", (X.shape[0], self.OutputSize), X.dtype))
        Z += self.Bias.astype(X.dtype, copy=False).reshape(-1)
        return Z, DenseMemory(X=X)

    def backward(self, dLdZ, memory, work=None):
        X = memory.X
        flat = X.reshape(X.shape[0], -1)
        weights = self._weights(X)
        dweights = dLdZ.T @ flat
        if X.ndim == 4:  # back to MATLAB's column order
            _, C, H, W = X.shape
            dweights = dweights.reshape(-1, C, H, W).transpose(0, 1, 3, 2).reshape(dweights.shape)
        grads = {"Weights": np.ascontiguousarray(dweights), "Bias": dLdZ.sum(axis=0).reshape(-1, 1)}
        if work is not None and not work["need_dx"]:
            return None, grads
        dX = np.matmul(dLdZ, weights, out=buffer(work, "dX", flat.shape, dLdZ.dtype))
        return dX.reshape(X.shape), grads

    def _display_properties(self):
        return {"Name": self.Name, "OutputSize": self.OutputSize, "InputSize": self.InputSize}


@dataclass(eq=False)
class DenseMemory(Memory):
    X: np.ndarray


def fullyConnectedLayer(outputSize, *pairs, **options):
    """``fullyConnectedLayer(outputSize, Weights=W, Bias=b, ...)`` with W OutputSize×InputSize.

    Example::

        >>> from minidl import fullyConnectedLayer
        >>> fullyConnectedLayer(10).OutputSize
        10
    """
    values = layer_options("fullyConnectedLayer", pairs, options, {
        "InputSize": "auto", "Weights": None, "Bias": None, "WeightsInitializer": "glorot",
        "BiasInitializer": "zeros", "WeightLearnRateFactor": 1, "BiasLearnRateFactor": 1,
        "WeightL2Factor": 1, "BiasL2Factor": 0})
    return FullyConnectedLayer(outputSize, **values)
