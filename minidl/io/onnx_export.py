"""``exportONNXNetwork``: a trained minidl network as an ONNX model (optional extra ``onnx``).

Layouts. ONNX activations are N×C×H×W (images) or N×C (features), as minidl's are inside;
ONNX convolution weights are F×C×kh×kw (OIHW) and its Flatten is row-major over C×H×W.
minidl's public properties are MATLAB-shaped, so the export rearranges them:

* convolution ``Weights`` kh×kw×C×F → ``W[f, c, u, v] = Weights[u, v, c, f]``
  (``transpose(3, 2, 0, 1)``); ``Bias`` 1×1×F → F;
* fully connected after an image input h×w×c: MATLAB flattens column-major (h fastest,
  then w, then c), ONNX's Flatten row-major (w fastest, then h, then c), so column
  ``c·H·W + h·W + w`` of the ONNX weight matrix is column ``c·H·W + w·H + h`` of ``Weights``
  (``reshape(O, C, W, H).transpose(0, 1, 3, 2)``); ``Gemm`` with ``transB=1``;
* per-channel statistics 1×1×C → C; input normalization statistics broadcast as 1×C×1×1
  (per channel) or 1×C×H×W (per element).

One ONNX node per layer where ONNX has the operator, named as the layer and writing a
tensor named as the layer; helper nodes and weights are named ``<layer>/<part>``. Input
normalization is ``Sub`` (``Div``) (``Add``), exactly the arithmetic of the input layer.
Group and layer normalization are ``Reshape`` to N×G×M, ``InstanceNormalization`` (unit
scale, zero offset), ``Reshape`` back, ``Mul`` by Scale and ``Add`` of Offset, which any
opset from 13 runs. Output layers carry no computation at
inference and are left out: the graph ends at the layer before them (the softmax).
"""
import os

import numpy as np

from ..graph.analyze import analyze
from ..graph.network import Network
from ..layers.activation import LeakyReLULayer, ReLULayer
from ..layers.combine import AdditionLayer, ConcatenationLayer, DepthConcatenationLayer
from ..layers.conv import Convolution2DLayer
from ..layers.dense import FullyConnectedLayer
from ..layers.dropout import DropoutLayer
from ..layers.input import FeatureInputLayer, ImageInputLayer
from ..layers.normalization import BatchNormalizationLayer, GroupNormalizationLayer, LayerNormalizationLayer
from ..layers.output import OutputLayer, SoftmaxLayer
from ..layers.pooling import AveragePooling2DLayer, GlobalAveragePooling2DLayer, MaxPooling2DLayer
from ..options import OptionError, integer, parse_name_value, path, received
from .atomic import write_atomically

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax over one axis (channels of N×C×H×W) exists from opset 13


def require_onnx(owner):
    """The ``onnx`` module, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError(f"{owner} needs the onnx package: pip install 'minidl[onnx]' "
                          f"(installs onnx and onnxruntime).") from None
    return onnx


class _Graph:
    """Nodes and initializers being collected; ``node`` returns its output tensor's name."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []

    def const(self, name, array, dtype=np.float32):
        self.initializers.append(self.numpy_helper.from_array(np.array(array, dtype, order="C"), name))
        return name

    def node(self, op, inputs, output, **attributes):
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], name=output, **attributes))
        return output


def _input(g, layer, x, size):
    """``Z = (X − shift) / divisor + bias``: the input layer's own inference map."""
    if layer.Normalization == "none":
        return x
    shift, divisor, bias = layer._affine(np.dtype(np.float32))
    z = g.node("Sub", [x, g.const(f"{x}/shift", shift)], f"{x}/sub")
    if divisor is not None:
        z = g.node("Div", [z, g.const(f"{x}/divisor", divisor)], f"{x}/div")
    if bias:
        z = g.node("Add", [z, g.const(f"{x}/bias", np.float32(bias))], f"{x}/add")
    return z


def _pads(padding):
    """minidl's (top, bottom, left, right) → ONNX's [top, left, bottom, right]."""
    top, bottom, left, right = padding
    return [int(top), int(left), int(bottom), int(right)]


def _conv(g, layer, x, size):
    """``W = Weights.transpose(3, 2, 0, 1)`` (kh×kw×C×F → F×C×kh×kw), ``B = Bias(:)``."""
    weights = g.const(f"{layer.Name}/W", layer.Weights.transpose(3, 2, 0, 1))
    bias = g.const(f"{layer.Name}/B", layer.Bias.reshape(-1))
    return g.node("Conv", [x, weights, bias], layer.Name, kernel_shape=list(layer.FilterSize),
                  strides=list(layer.Stride), dilations=list(layer.DilationFactor), pads=_pads(layer.PaddingSize),
                  group=1)


def _batchnorm(g, layer, x, size):
    """Inference form: ``Scale·(x − TrainedMean)/sqrt(TrainedVariance + Epsilon) + Offset``."""
    names = [g.const(f"{layer.Name}/{p}", getattr(layer, p).reshape(-1))
             for p in ("Scale", "Offset", "TrainedMean", "TrainedVariance")]
    return g.node("BatchNormalization", [x, *names], layer.Name, epsilon=layer.Epsilon)


def _groupwise(g, layer, x, size):
    """Reshape N×C×H×W → N×G×(C/G·H·W), InstanceNormalization per (n, g), reshape back,
    then ``·Scale + Offset`` per channel (shape C×1×1 for images, C for features)."""
    channels = size[-1]
    groups = getattr(layer, "NumGroups", "all-channels")  # layer normalization: one group
    groups = {"all-channels": 1, "channel-wise": channels}.get(groups, groups)
    name = layer.Name
    grouped = g.node("Reshape", [x, g.const(f"{name}/grouped_shape", [0, groups, -1], np.int64)], f"{name}/grouped")
    normalized = g.node("InstanceNormalization", [grouped, g.const(f"{name}/unit", np.ones(groups)),
                                                  g.const(f"{name}/zero", np.zeros(groups))],
                        f"{name}/normalized", epsilon=layer.Epsilon)
    shape = [0, channels, size[0], size[1]] if len(size) == 3 else [0, channels]
    back = g.node("Reshape", [normalized, g.const(f"{name}/shape", shape, np.int64)], f"{name}/reshaped")
    per_channel = (channels, 1, 1) if len(size) == 3 else (channels,)
    scaled = g.node("Mul", [back, g.const(f"{name}/Scale", layer.Scale.reshape(per_channel))], f"{name}/scaled")
    return g.node("Add", [scaled, g.const(f"{name}/Offset", layer.Offset.reshape(per_channel))], name)


def _fully_connected(g, layer, x, size):
    """Gemm ``Z = X·Wᵀ + B``; an image input h×w×c is first flattened (ONNX row-major), and
    the columns of ``Weights`` (MATLAB column-major) are permuted to match."""
    weights = layer.Weights
    if len(size) == 3:
        h, w, c = size
        weights = weights.reshape(-1, c, w, h).transpose(0, 1, 3, 2).reshape(weights.shape[0], -1)
        x = g.node("Flatten", [x], f"{layer.Name}/flatten", axis=1)
    return g.node("Gemm", [x, g.const(f"{layer.Name}/W", weights), g.const(f"{layer.Name}/B", layer.Bias.reshape(-1))],
                  layer.Name, transB=1)


def _max_pool(g, layer, x, size):
    return g.node("MaxPool", [x], layer.Name, kernel_shape=list(layer.PoolSize), strides=list(layer.Stride),
                  pads=_pads(layer.PaddingSize))


def _average_pool(g, layer, x, size):
    """PaddingValue 0: padded zeros count in the divisor (``count_include_pad=1``);
    'mean': only input elements count (``count_include_pad=0``)."""
    return g.node("AveragePool", [x], layer.Name, kernel_shape=list(layer.PoolSize), strides=list(layer.Stride),
                  pads=_pads(layer.PaddingSize), count_include_pad=int(layer.PaddingValue == 0))


def _addition(g, layer, inputs, sizes):
    """``Add`` of two inputs, ``Sum`` of more (ONNX's variadic sum)."""
    return g.node("Add" if len(inputs) == 2 else "Sum", inputs, layer.Name)


def _concatenation(g, layer, inputs, sizes):
    """MATLAB dimension → ONNX axis: images 1 (height) → 2, 2 (width) → 3, 3 (channels) → 1;
    features 1 → 1."""
    image = len(sizes[0]) == 3
    dim = layer.Dim if isinstance(layer, ConcatenationLayer) else (3 if image else 1)
    axis = {1: 2, 2: 3, 3: 1}[dim] if image else 1
    return g.node("Concat", list(inputs), layer.Name, axis=axis)


_SINGLE = {
    Convolution2DLayer: _conv,
    BatchNormalizationLayer: _batchnorm,
    GroupNormalizationLayer: _groupwise,
    LayerNormalizationLayer: _groupwise,
    FullyConnectedLayer: _fully_connected,
    MaxPooling2DLayer: _max_pool,
    AveragePooling2DLayer: _average_pool,
    GlobalAveragePooling2DLayer: lambda g, layer, x, size: g.node("GlobalAveragePool", [x], layer.Name),
    ReLULayer: lambda g, layer, x, size: g.node("Relu", [x], layer.Name),
    LeakyReLULayer: lambda g, layer, x, size: g.node("LeakyRelu", [x], layer.Name, alpha=layer.Scale),
    DropoutLayer: lambda g, layer, x, size: g.node("Dropout", [x, g.const(f"{layer.Name}/ratio",
                                                                           np.float32(layer.Probability))],
                                                   layer.Name),
    SoftmaxLayer: lambda g, layer, x, size: g.node("Softmax", [x], layer.Name, axis=1),
    ImageInputLayer: _input,
    FeatureInputLayer: _input,
}
_MULTI = {AdditionLayer: _addition, ConcatenationLayer: _concatenation, DepthConcatenationLayer: _concatenation}


def _value_info(helper, name, size, batch):
    """An ONNX float tensor type: N×C×H×W for an h×w×c size, N×C for a vector."""
    dims = [batch, size[2], size[0], size[1]] if len(size) == 3 else [batch, size[0]]
    return helper.make_tensor_value_info(name, 1, dims)  # 1 = TensorProto.FLOAT


def exportONNXNetwork(net, filename, *pairs, **options):
    """``exportONNXNetwork(net, filename, OpsetVersion=17, NetworkName="Network", BatchSize=[])``.

    Writes ``net`` (a SeriesNetwork or DAGNetwork) to the ONNX file ``filename``, replacing
    it atomically if it exists; returns the file name. ``OpsetVersion``: from 13 to the
    newest the installed onnx package knows. ``BatchSize``: a fixed batch dimension, or
    ``[]``/None (default) for a dynamic one named ``N``. The graph's input is named as the
    input layer and takes N×C×H×W (or N×C) float32; its output is the output of the layer
    before the output layer (the softmax scores of a classification network).

    Example::

        >>> import os, tempfile, numpy as np, onnx, minidl
        >>> layers = [minidl.imageInputLayer([2, 2, 1], Normalization="zerocenter", Mean=0.5),
        ...           minidl.fullyConnectedLayer(1, Weights=np.ones((1, 4)), Bias=[[0.0]]), minidl.regressionLayer()]
        >>> path = minidl.exportONNXNetwork(minidl.assembleNetwork(layers), os.path.join(tempfile.mkdtemp(), "n.onnx"))
        >>> [node.op_type for node in onnx.load(path).graph.node]
        ['Sub', 'Flatten', 'Gemm']
    """
    onnx = require_onnx("exportONNXNetwork")
    from onnx import helper, numpy_helper

    values = parse_name_value("exportONNXNetwork", pairs, options,
                              {"OpsetVersion": DEFAULT_OPSET, "NetworkName": "Network", "BatchSize": None})
    opset, batch = values["OpsetVersion"], values["BatchSize"]
    newest = onnx.defs.onnx_opset_version()
    if not (isinstance(opset, (int, np.integer)) and not isinstance(opset, bool) and MIN_OPSET <= opset <= newest):
        raise OptionError(f"exportONNXNetwork: OpsetVersion must be an integer from {MIN_OPSET} to {newest} "
                          f"(the newest this onnx package knows); received {opset!r}.")
    if batch is not None and np.size(batch) == 0:
        batch = None
    if batch is not None:
        batch = integer("exportONNXNetwork", "BatchSize", batch, maximum=2 ** 31 - 1,
                        what="a positive integer or [] (dynamic)")
    name = values["NetworkName"]
    if not (isinstance(name, str) and name):
        raise OptionError(f"exportONNXNetwork: NetworkName must be a non-empty string; received {received(name)}.")
    filename = path("exportONNXNetwork", "filename", filename)
    if not filename:
        raise ValueError("exportONNXNetwork: filename is empty; give the name of the file to write, e.g. 'net.onnx'.")
    if not isinstance(net, Network):
        raise TypeError(f"exportONNXNetwork: net must be a SeriesNetwork or DAGNetwork; received a "
                        f"{type(net).__name__}. Build one with trainNetwork or assembleNetwork first.")
    report = analyze(net.to_layer_graph())
    sizes = {row["Name"]: row["ActivationSize"] for row in report.rows}
    sources = {}
    for source, destination in net.connection_pairs():
        name, _, port = destination.partition("/")
        sources.setdefault(name, {})[port] = source.split("/")[0]

    g, tensors, graph_inputs, result = _Graph(helper, numpy_helper), {}, [], None
    for layer in net.Layers:
        ports = sources.get(layer.Name, {})
        inputs = [tensors[ports.get(port) or ports.get("")] for port in layer.InputNames]
        in_sizes = [sizes[ports.get(port) or ports.get("")] for port in layer.InputNames]
        if isinstance(layer, OutputLayer):
            result = (inputs[0], in_sizes[0])
            continue
        kind = type(layer)
        if kind in _MULTI:
            tensors[layer.Name] = _MULTI[kind](g, layer, inputs, in_sizes)
        elif kind in _SINGLE:
            if layer.NumInputs == 0:
                graph_inputs.append(_value_info(helper, layer.Name, layer.InputSize, batch or "N"))
                inputs, in_sizes = [layer.Name], [layer.InputSize]
            tensors[layer.Name] = _SINGLE[kind](g, layer, inputs[0], in_sizes[0])
        else:
            raise ValueError(f"exportONNXNetwork: layer {layer.Name!r} ({kind.__name__}) has no ONNX export; "
                             f"supported layers: {', '.join(sorted(c.__name__ for c in {**_SINGLE, **_MULTI}))}. "
                             f"Replace it (replaceLayer) with supported layers before exporting.")
    graph = helper.make_graph(g.nodes, str(values["NetworkName"]), graph_inputs,
                              [_value_info(helper, result[0], result[1], batch or "N")], g.initializers)
    opsets = [helper.make_opsetid("", int(opset))]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="minidl",
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model, full_check=True)
    filename = os.fspath(filename)
    data = model.SerializeToString()
    write_atomically(filename, lambda stream: stream.write(data), "exportONNXNetwork")
    return filename
