"""Layers with several inputs: addition and concatenation.

Multi-input protocol: ``NumInputs = n``, ``InputNames = ('in1', ..., 'inN')``;
``initialize(input_sizes, rng)`` takes one MATLAB-order size per input;
``predict(*X)``, ``forward(*X) -> (Z, Memory)``, ``backward(dLdZ, memory) -> (dXs, {})``
with one gradient array per input.
"""
import numpy as np

from ..kernels import elementwise
from ..options import integer
from .base import FusedLayers, Layer, Memory, _fmt, buffer, layer_options

MAX_INPUTS = 1024   # inputs of one layer (each gets a port name)


class _MultiInputLayer(Layer):
    _owner = ""

    def __init__(self, NumInputs, Name=""):
        super().__init__(Name)
        self.NumInputs = integer(self._owner, "numInputs", NumInputs, 2, MAX_INPUTS)
        self.InputNames = tuple(f"in{i}" for i in range(1, self.NumInputs + 1))

    def _check_count(self, input_sizes):
        if len(input_sizes) != self.NumInputs:
            raise ValueError(f"{self.Name}: expected {self.NumInputs} input sizes (one per input "
                             f"{', '.join(self.InputNames)}); received {len(input_sizes)}.")
        return [tuple(size) for size in input_sizes]

    def _sizes_text(self, input_sizes):
        return ", ".join(f"{_fmt(size)} ({name})" for size, name in zip(input_sizes, self.InputNames))

    def _display_properties(self):
        return {"Name": self.Name, "NumInputs": self.NumInputs}


class AdditionLayer(_MultiInputLayer):
    """Element-wise sum ``Z = X1 + X2 + … + XN``; every input must have the same size.
    ``dL/dXi = dL/dZ`` for each input (each gets its own array)."""

    DefaultName = "addition"
    Description = "Element-wise addition"
    _owner = "additionLayer"

    def initialize(self, input_sizes, rng):
        sizes = self._check_count(input_sizes)
        if any(size != sizes[0] for size in sizes):
            raise ValueError(f"{self.Name}: all inputs of an addition layer must have the same size; "
                             f"received {self._sizes_text(sizes)}.")
        return sizes[0]

    def predict(self, *X, work=None, relu=False):
        if any(x.shape != X[0].shape for x in X):
            sizes = [(*x.shape[2:], x.shape[1]) for x in X]
            raise ValueError(f"{self.Name}: all inputs of an addition layer must have the same size; "
                             f"received {self._sizes_text(sizes)}.")
        dtype = np.result_type(*X)
        Z = buffer(work, "Z", X[0].shape, dtype)
        for k, x in enumerate(X[1:], start=1):
            first = X[0].astype(dtype, copy=False) if k == 1 else Z
            elementwise.add(first, x, relu=relu and k == len(X) - 1, out=Z)
        return Z

    def forward(self, *X, work=None):
        return self.predict(*X, work=work), Memory()

    def backward(self, dLdZ, memory, work=None):
        return _copies(dLdZ, self.NumInputs, work), {}

    def fuse(self, consumer, mode):
        if getattr(consumer, "fusable_activation", None) == "relu":
            return AdditionReLU(self, consumer)
        return None


def _copies(dX, count, work):
    """dX and count - 1 copies of it: each input of a sum gets its own gradient array."""
    copies = [dX]
    for i in range(1, count):
        copies.append(buffer(work, f"dX{i}", dX.shape, dX.dtype))
        np.copyto(copies[-1], dX)
    return tuple(copies)


class AdditionReLU(FusedLayers):
    """An addition followed by a ReLU as one step: ``Z = max(X1 + … + XN, 0)`` (NaN kept),
    ``dL/dXi = dL/dZ · [Z > 0]`` for every input. The sum is never stored apart from Z."""

    def __init__(self, addition, relu):
        super().__init__(addition, relu)
        self.addition = addition

    def predict(self, *X, work=None):
        return self.addition.predict(*X, work=work, relu=True)

    def forward(self, *X, work=None):
        Z = self.predict(*X, work=work)
        return Z, Memory(Z=Z)

    def backward(self, dLdZ, memory, work=None):
        dX = elementwise.relu_backward(dLdZ, memory.Z, out=buffer(work, "dX", dLdZ.shape, dLdZ.dtype))
        return _copies(dX, self.addition.NumInputs, work), ({}, {})

    def fuse(self, consumer, mode):
        if mode == "predict" and len(self.layers) == 2 and self.addition.NumInputs == 2 \
                and getattr(consumer, "fusable_pooling", None) == "max 2x2":
            return AdditionReLUPool(self.addition, self.layers[1], consumer)
        return None


class AdditionReLUPool(FusedLayers):
    """Prediction only: addition of two inputs → ReLU → 2×2 stride-2 max pooling in one
    pass, ``Z = maxpool(max(X1 + X2, 0))``; neither the sum nor its ReLU is stored."""

    def __init__(self, addition, relu, pool):
        super().__init__(addition, relu, pool)

    def predict(self, X1, X2, work=None):
        N, C, H, W = X1.shape
        dtype = np.result_type(X1, X2)
        out = buffer(work, "Z", (N, C, H // 2, W // 2), dtype)
        return elementwise.add_max_pool(X1.astype(dtype, copy=False), X2, relu=True, out=out)


class _Concatenation(_MultiInputLayer):
    """Concatenation along the MATLAB dimension ``self._dim(rank)``; ``dL/dXi`` is the slice
    of ``dL/dZ`` that came from input i."""

    def _dim(self, rank):
        raise NotImplementedError

    def initialize(self, input_sizes, rng):
        sizes = self._check_count(input_sizes)
        rank = len(sizes[0])
        dim = self._dim(rank)
        if dim > rank:
            raise ValueError(f"{self.Name}: cannot concatenate along dimension {dim} inputs of size "
                             f"{_fmt(sizes[0])} (dimensions 1 to {rank}); choose dim <= {rank}.")
        others = [size[:dim - 1] + size[dim:] for size in sizes]
        if any(len(size) != rank for size in sizes) or any(o != others[0] for o in others):
            raise ValueError(f"{self.Name}: inputs must have the same size in every dimension except "
                             f"{dim}; received {self._sizes_text(sizes)}.")
        total = sum(size[dim - 1] for size in sizes)
        return sizes[0][:dim - 1] + (total,) + sizes[0][dim:]

    def _axis(self, X):
        """Internal (N×C×H×W or N×C) axis of the MATLAB dimension (h×w×c or c)."""
        rank = X.ndim - 1
        dim = self._dim(rank)
        return 1 if dim == rank else dim + 1

    def predict(self, *X):
        return np.concatenate(X, axis=self._axis(X[0]))

    def forward(self, *X):
        axis = self._axis(X[0])
        splits = np.cumsum([x.shape[axis] for x in X[:-1]])
        return np.concatenate(X, axis=axis), Memory(axis=axis, splits=splits)

    def backward(self, dLdZ, memory):
        pieces = np.split(dLdZ, memory.splits, axis=memory.axis)
        return tuple(np.ascontiguousarray(piece) for piece in pieces), {}


class ConcatenationLayer(_Concatenation):
    """Concatenation along MATLAB dimension ``Dim``: for images 1 = height, 2 = width,
    3 = channels; for features 1 = channels. Sizes must agree in every other dimension.
    ``dL/dXi`` is the slice of ``dL/dZ`` that came from input i.
    """

    DefaultName = "concat"
    Description = "Concatenation"
    _owner = "concatenationLayer"

    def __init__(self, Dim, NumInputs, Name=""):
        self.Dim = integer(self._owner, "dim", Dim, 1, 3, "an integer >= 1 and <= 3")
        super().__init__(NumInputs, Name)

    def _dim(self, rank):
        return self.Dim

    def _display_properties(self):
        return {"Name": self.Name, "Dim": self.Dim, "NumInputs": self.NumInputs}


class DepthConcatenationLayer(_Concatenation):
    """Concatenation along the channel dimension (MATLAB dimension 3 for images, 1 for
    features); height and width must match. ``dL/dXi`` is input i's slice of ``dL/dZ``."""

    DefaultName = "depthcat"
    Description = "Depth concatenation"
    _owner = "depthConcatenationLayer"

    def _dim(self, rank):
        return rank


def additionLayer(numInputs, *pairs, **options):
    """``additionLayer(numInputs, Name=...)``: element-wise sum of ``numInputs`` (>= 2) inputs
    named ``'in1'``, …, ``'inN'``.

    Example::

        >>> from minidl import additionLayer
        >>> layer = additionLayer(3)
        >>> layer.InputNames, layer.initialize([(4, 4, 2)] * 3, None)
        (('in1', 'in2', 'in3'), (4, 4, 2))
    """
    return AdditionLayer(numInputs, **layer_options("additionLayer", pairs, options, {}))


def concatenationLayer(dim, numInputs, *pairs, **options):
    """``concatenationLayer(dim, numInputs, Name=...)``: concatenate ``numInputs`` (>= 2) inputs
    along MATLAB dimension ``dim`` (images: 1 height, 2 width, 3 channels; features: 1).

    Example::

        >>> from minidl import concatenationLayer
        >>> concatenationLayer(2, 2).initialize([(4, 3, 2), (4, 5, 2)], None)
        (4, 8, 2)
    """
    return ConcatenationLayer(dim, numInputs, **layer_options("concatenationLayer", pairs, options, {}))


def depthConcatenationLayer(numInputs, *pairs, **options):
    """``depthConcatenationLayer(numInputs, Name=...)``: concatenate ``numInputs`` (>= 2)
    inputs along the channel dimension.

    Example::

        >>> from minidl import depthConcatenationLayer
        >>> depthConcatenationLayer(2).initialize([(4, 4, 2), (4, 4, 3)], None)
        (4, 4, 5)
    """
    return DepthConcatenationLayer(numInputs, **layer_options("depthConcatenationLayer", pairs,
                                                              options, {}))
