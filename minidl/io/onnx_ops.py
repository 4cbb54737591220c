"""The ONNX operators minidl imports, one function per op: ``handler(importer, node)`` builds
the minidl layer (through its constructor, so every check runs) and registers its output.

Layout maths (the inverse of :mod:`minidl.io.onnx_export`):

* ``Conv`` weights F×C×kh×kw → ``Weights = W.transpose(2, 3, 1, 0)`` (kh×kw×C×F); ONNX pads
  [top, left, bottom, right] → Padding [top bottom left right]; ``auto_pad`` SAME_UPPER is
  MATLAB's 'same' (odd pixel bottom/right), SAME_LOWER its mirror image.
* ``Flatten``/``Reshape`` to N×K followed by ``Gemm``/``MatMul`` (``+ Add``): one fully
  connected layer. ONNX flattens C×H×W row-major, MATLAB h×w×c column-major, so
  ``Weights = W.reshape(O, C, H, W).transpose(0, 1, 3, 2).reshape(O, −1)`` with
  ``W = alpha·B`` (``transB=1``) or ``alpha·Bᵀ``, and ``Bias = beta·C``.
* ``Reshape`` to N×G×M → ``InstanceNormalization`` (unit scale, zero bias) → ``Reshape``
  back → ``Mul`` → ``Add``: group normalization with G groups (layer normalization if G = 1).
* ``BatchNormalization`` with an epsilon below minidl's minimum 1e-5 keeps
  ``sqrt(var + eps)`` exactly: ``TrainedVariance = var + eps − 1e-5``, ``Epsilon = 1e-5``.
"""
from dataclasses import dataclass

import numpy as np

from ..layers.activation import LeakyReLULayer, ReLULayer
from ..layers.combine import AdditionLayer, ConcatenationLayer, DepthConcatenationLayer
from ..layers.conv import Convolution2DLayer
from ..layers.dense import FullyConnectedLayer
from ..layers.dropout import DropoutLayer
from ..layers.normalization import BatchNormalizationLayer, GroupNormalizationLayer, LayerNormalizationLayer
from ..layers.output import SoftmaxLayer
from ..layers.pooling import AveragePooling2DLayer, GlobalAveragePooling2DLayer, MaxPooling2DLayer


@dataclass
class Tensor:
    """An activation: the layer computing it, its MATLAB-order size ((h, w, c) or (c,)),
    whether ONNX holds it flattened row-major (after Flatten or Reshape), and the order of
    its C, H, W axes in ONNX (1, 2, 3 unless a Transpose moved them)."""
    layer: str
    size: tuple
    flat: bool = False
    axes: tuple = (1, 2, 3)

    @property
    def reordered(self):
        """True when ONNX's values are not minidl's: a flattened or transposed image."""
        return (self.flat and int(np.prod(self.size[:-1])) > 1) or (not self.flat and self.axes != (1, 2, 3))


def as_float(value):
    """A float32 attribute as the shortest decimal that round-trips (1e-05, not 9.99999974e-06)."""
    return float(str(np.float32(value)))


def _same_shape(shape, size):
    """Whether a Reshape target (0 or −1 for the batch) is N×C×H×W of ``size`` (or N×C)."""
    expected = [size[2], size[0], size[1]] if len(size) == 3 else [size[0]]
    return [int(v) for v in np.reshape(shape, -1)[1:]] == expected


def conv(imp, node):
    x, values = imp.tensor(node, image=True), imp.attributes(node)
    weights = imp.const(node, 1, "weights")
    if weights.ndim != 4:
        imp.fail(node, f"expects 4-D weights F×C×kh×kw; received {weights.shape}.")
    if values.get("group", 1) != 1:
        imp.unsupported(node, f" with group={values['group']} (grouped or depthwise convolution)")
    filters, _, kh, kw = weights.shape
    bias = imp.const(node, 2, "bias", optional=True)
    stride, dilation = tuple(values.get("strides", (1, 1))), tuple(values.get("dilations", (1, 1)))
    layer = imp.build(node, Convolution2DLayer, (kh, kw), filters, Stride=stride, DilationFactor=dilation,
                      Padding=imp.padding(node, values, x.size, (kh, kw), stride, dilation),
                      Weights=weights.transpose(2, 3, 1, 0),
                      Bias=np.zeros((1, 1, filters)) if bias is None else bias.reshape(1, 1, -1))
    imp.add(node, layer, [x])


def batch_normalization(imp, node):
    x, values = imp.tensor(node), imp.attributes(node)
    if values.get("training_mode", 0) or any(imp.consumers.get(name) for name in node.output[1:] if name):
        imp.unsupported(node, " in training mode")
    scale, offset, mean, variance = (imp.const(node, k, what) for k, what in
                                     enumerate(("scale", "offset", "mean", "variance"), start=1))
    epsilon = as_float(values.get("epsilon", 1e-5))
    if epsilon < 1e-5:  # minidl's (MATLAB's) minimum; sqrt(var + eps) is kept exactly
        variance = (variance.astype(np.float64) + epsilon - 1e-5).astype(np.float32)
        if np.any(variance < 0):
            imp.fail(node, f"epsilon {epsilon} is below minidl's minimum 1e-5 and a variance is too small "
                           f"to absorb the difference.")
        epsilon = 1e-5
    layer = imp.build(node, BatchNormalizationLayer, Scale=scale, Offset=offset, TrainedMean=mean,
                      TrainedVariance=variance, Epsilon=epsilon)
    imp.add(node, layer, [x])


def reshape(imp, node):
    x, shape = imp.tensor(node, flat_ok=True), [int(v) for v in imp.const(node, 1, "shape").reshape(-1)]
    following, _ = imp.next_node(node.output[0])
    if len(shape) == 3 and following is not None and following.op_type == "InstanceNormalization":
        return groupwise(imp, node, x, shape[1])
    if len(shape) == 2 and shape[1] in (-1, int(np.prod(x.size))):
        imp.tensors[node.output[0]] = Tensor(x.layer, x.size, len(x.size) == 3, x.axes)
        return
    imp.unsupported(node, f" to shape {shape} (minidl reshapes only to N×K before a fully connected layer)")


def groupwise(imp, first, x, groups):
    """Reshape → InstanceNormalization → Reshape → [Mul] → [Add], as the exporter and
    PyTorch's GroupNorm write it."""
    chain, current = [first], first.output[0]
    for op in ("InstanceNormalization", "Reshape", "Mul", "Add"):
        node, index = imp.next_node(current)
        if node is None or node.op_type != op or node.input[0] != current:
            if op in ("InstanceNormalization", "Reshape"):
                imp.unsupported(first, " to N×G×M without InstanceNormalization and Reshape back after it")
            continue
        chain.append(node)
        imp.done.add(index)
        current = node.output[0]
    norm, back = chain[1], chain[2]
    if not (np.all(imp.const(norm, 1, "scale") == 1) and np.all(imp.const(norm, 2, "bias") == 0)):
        imp.fail(norm, "per-group scale and bias are not supported (per-channel Mul and Add after it are).")
    shaper = next((n for n in imp.graph.node if back.input[1] in n.output), None)
    if shaper is not None and shaper.op_type == "Shape" and shaper.input[0] == first.input[0]:
        imp.done.add(list(imp.graph.node).index(shaper))
    elif back.input[1] not in imp.constants or not _same_shape(imp.constants[back.input[1]], x.size):
        imp.fail(back, "the shape after group normalization must be Shape(input) or the input's shape.")
    per = {op.op_type: imp.const(op, 1, op.op_type) for op in chain[3:]}
    channel_shape = (x.size[2], 1, 1) if len(x.size) == 3 else (x.size[0],)
    try:
        scale, offset = (np.broadcast_to(per.get(op, fill), channel_shape).reshape(-1) for op, fill in
                         (("Mul", 1), ("Add", 0)))
    except ValueError:
        imp.fail(chain[-1], f"Scale and Offset must be per channel (shape {channel_shape}).")
    options = dict(Epsilon=as_float(imp.attributes(norm).get("epsilon", 1e-5)), Scale=scale, Offset=offset)
    layer = (imp.build(norm, LayerNormalizationLayer, **options) if groups == 1 else
             imp.build(norm, GroupNormalizationLayer, groups, **options))
    imp.add(chain[-1], layer, [x], output=current)


def fully_connected(imp, node):
    """Gemm (``Y = alpha·A·B' + beta·C``) or MatMul (+ Add of a constant bias)."""
    x, values = imp.tensor(node, flat_ok=True), imp.attributes(node)
    if len(x.size) == 3 and not x.flat:
        imp.fail(node, "expects N×K input; flatten the image first (Flatten).")
    if values.get("transA", 0):
        imp.unsupported(node, " with transA=1")
    matrix = imp.const(node, 1, "weights")
    if matrix.ndim != 2:
        imp.fail(node, f"expects 2-D weights; received {matrix.shape}.")
    weights = (matrix if values.get("transB", 0) else matrix.T) * np.float32(values.get("alpha", 1.0))
    outputs, bias, output = weights.shape[0], imp.const(node, 2, "bias", optional=True), None
    if node.op_type == "MatMul":
        after, index = imp.next_node(node.output[0])
        if after is not None and after.op_type == "Add" and after.input[1] in imp.constants:
            bias, output = imp.const(after, 1, "bias"), after.output[0]
            imp.done.add(index)
    elif bias is not None:
        bias = bias * np.float32(values.get("beta", 1.0))
    try:
        bias = np.broadcast_to(np.zeros(outputs, np.float32) if bias is None else bias, (outputs,))
    except ValueError:
        imp.fail(node, f"its bias has shape {np.shape(bias)}; expected {outputs} values.")
    if weights.shape[1] != int(np.prod(x.size)):
        imp.fail(node, f"its weights take {weights.shape[1]} inputs but receive {int(np.prod(x.size))}.")
    if len(x.size) == 3:  # ONNX's row-major columns (of C×H×W, or as transposed) → MATLAB's h×w×c
        h, w, c = x.size
        matlab = np.arange(h * w * c).reshape(c, w, h).transpose(0, 2, 1)  # C×H×W: h + H·w + H·W·c
        order = matlab.transpose([axis - 1 for axis in x.axes]).reshape(-1)
        weights = weights[:, np.argsort(order)]
    layer = imp.build(node, FullyConnectedLayer, outputs, Weights=weights, Bias=bias.reshape(-1, 1))
    imp.add(node, layer, [x], output=output)


def pooling(imp, node):
    x, values = imp.tensor(node, image=True), imp.attributes(node)
    if len(node.output) > 1 and imp.consumers.get(node.output[1]):
        imp.unsupported(node, " with its Indices output used")
    if any(d != 1 for d in values.get("dilations", (1, 1))):
        imp.unsupported(node, " with dilations")
    window, stride = tuple(values["kernel_shape"]), tuple(values.get("strides", (1, 1)))
    pads = imp.padding(node, values, x.size, window, stride)
    if values.get("ceil_mode", 0):
        for size, k, s, before, after in zip(x.size, window, stride, pads[0::2], pads[1::2]):
            if (size + before + after - k) % s:
                imp.unsupported(node, " with ceil_mode=1 where it changes the output size (minidl "
                                      "rounds down, as MATLAB)")
    if node.op_type == "MaxPool":
        layer = imp.build(node, MaxPooling2DLayer, window, Stride=stride, Padding=pads)
    else:
        mean = values.get("count_include_pad", 0) == 0 and any(pads)
        layer = imp.build(node, AveragePooling2DLayer, window, Stride=stride, Padding=pads,
                          PaddingValue="mean" if mean else 0)
    imp.add(node, layer, [x])


def reduce_mean(imp, node):
    x, values = imp.tensor(node, image=True), imp.attributes(node)
    axes = values.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = imp.const(node, 1, "shape")
    if axes is None or sorted(int(a) % 4 for a in np.reshape(axes, -1)) != [2, 3]:
        imp.unsupported(node, f" over axes {axes} (minidl averages over height and width only)")
    imp.add(node, GlobalAveragePooling2DLayer(), [x], flat=not values.get("keepdims", 1))


def add(imp, node):
    """Add (two inputs) or Sum (any number): an addition layer; Sum of one input is a copy."""
    if any(name in imp.constants for name in node.input):
        imp.unsupported(node, " of a constant (minidl imports one only as the bias of a MatMul or as "
                              "input normalization)")
    if len(node.input) == 1:
        return alias(imp, node)
    imp.add(node, AdditionLayer(len(node.input)), [imp.tensor(node, k) for k in range(len(node.input))])


def concat(imp, node):
    if all(name in imp.constants for name in node.input):
        return fold(imp, node, lambda *parts: np.concatenate(parts, axis=imp.attributes(node)["axis"]))
    inputs = [imp.tensor(node, k) for k in range(len(node.input))]
    rank = 4 if len(inputs[0].size) == 3 and not inputs[0].flat else 2
    axis = imp.attributes(node)["axis"] % rank
    if axis == 0:
        imp.unsupported(node, " along the batch axis")
    layer = (DepthConcatenationLayer(len(inputs)) if axis == 1 else
             imp.build(node, ConcatenationLayer, axis - 1, len(inputs)))
    imp.add(node, layer, inputs)


def softmax(imp, node):
    x = imp.tensor(node)
    rank = 4 if len(x.size) == 3 and not x.flat else 2
    axis = imp.attributes(node).get("axis", 1 if imp.opset < 13 else -1) % rank
    if axis != 1 or (rank == 4 and imp.opset < 13 and x.size[0] * x.size[1] > 1):
        imp.unsupported(node, f" over axis {axis} (minidl's softmax runs over the channels only)")
    imp.add(node, SoftmaxLayer(), [x])


def dropout(imp, node):
    x, values = imp.tensor(node, flat_ok=True), imp.attributes(node)
    ratio = imp.const(node, 1, "ratio", optional=True)
    if (len(node.input) > 2 and node.input[2] and np.any(imp.const(node, 2, "training_mode"))) or \
            (len(node.output) > 1 and imp.consumers.get(node.output[1])):
        imp.unsupported(node, " in training mode or with its mask used")
    probability = as_float(values.get("ratio", 0.5) if ratio is None else ratio.reshape(()))
    imp.add(node, imp.build(node, DropoutLayer, probability), [x], flat=x.flat, axes=x.axes)


def elementwise(imp, node, layer):
    x = imp.tensor(node, flat_ok=True)
    imp.add(node, layer, [x], flat=x.flat, axes=x.axes)


def alias(imp, node):
    imp.tensors[node.output[0]] = imp.tensor(node, flat_ok=True)


def flatten(imp, node):
    x = imp.tensor(node, flat_ok=True)
    if imp.attributes(node).get("axis", 1) != 1:
        imp.unsupported(node, " with axis other than 1")
    imp.tensors[node.output[0]] = Tensor(x.layer, x.size, len(x.size) == 3, x.axes)


def transpose(imp, node):
    """A Transpose of an image's C, H, W axes, read only by Flatten/Reshape and a fully
    connected layer (exporters flatten in their own order this way, e.g. H×W×C)."""
    x, perm = imp.tensor(node, flat_ok=True), list(imp.attributes(node).get("perm", []))
    if len(x.size) != 3 or x.flat or sorted(perm) != [0, 1, 2, 3] or perm[0] != 0:
        imp.unsupported(node, f" with perm {perm} (minidl reads transposes of an image's C, H, W axes only, "
                              f"before Flatten and Gemm)")
    imp.tensors[node.output[0]] = Tensor(x.layer, x.size, axes=tuple(x.axes[p - 1] for p in perm[1:]))


# ---- shape arithmetic (PyTorch's x.view(x.size(0), -1) with a dynamic batch) -------------------
BATCH = -(2 ** 62)  # stands for the batch size, unknown until run time


def shape(imp, node):
    """Shape of an activation in ONNX's order, the batch size as the marker BATCH."""
    x = imp.tensor(node, flat_ok=True)
    if x.flat or len(x.size) == 1:
        dims = [int(np.prod(x.size))]
    else:
        chw = (x.size[2], x.size[0], x.size[1])
        dims = [chw[axis - 1] for axis in x.axes]
    values = imp.attributes(node)
    imp.constants[node.output[0]] = np.array([BATCH, *dims], np.int64)[values.get("start", 0):values.get("end")]


def fold(imp, node, function):
    """A node computed once on constants (shape arithmetic); its result is a new constant."""
    if not all(name in imp.constants for name in node.input if name):
        imp.unsupported(node, " on data (minidl computes it only on constants, such as shapes)")
    imp.constants[node.output[0]] = np.asarray(function(*(imp.constants[name] for name in node.input if name)))


def unsqueeze(imp, node):
    """Unsqueeze of a constant; axes from the attribute (opset < 13) or the second input."""
    def expand(data, axes=None):
        axes = np.reshape(imp.attributes(node).get("axes") if axes is None else axes, -1)
        for axis in sorted(int(a) % (data.ndim + len(axes)) for a in axes):
            data = np.expand_dims(data, axis)
        return data
    fold(imp, node, expand)


def gather(imp, node):
    fold(imp, node, lambda data, indices: np.take(data, indices, axis=imp.attributes(node).get("axis", 0)))


def relu(imp, node):
    elementwise(imp, node, ReLULayer())


def leaky_relu(imp, node):
    elementwise(imp, node, imp.build(node, LeakyReLULayer, as_float(imp.attributes(node).get("alpha", 0.01))))


def global_average_pool(imp, node):
    imp.add(node, GlobalAveragePooling2DLayer(), [imp.tensor(node, image=True)])


HANDLERS = {
    "Conv": conv, "BatchNormalization": batch_normalization, "Relu": relu, "LeakyRelu": leaky_relu,
    "MaxPool": pooling, "AveragePool": pooling, "GlobalAveragePool": global_average_pool,
    "ReduceMean": reduce_mean, "Gemm": fully_connected, "MatMul": fully_connected, "Flatten": flatten,
    "Transpose": transpose, "Reshape": reshape, "Add": add, "Sum": add, "Concat": concat,
    "Softmax": softmax, "Dropout": dropout, "Identity": alias,
    "Shape": shape, "Gather": gather, "Unsqueeze": unsqueeze,  # shape arithmetic, on constants only
}
