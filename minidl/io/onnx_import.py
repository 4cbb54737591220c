"""``importONNXNetwork`` and ``importNetworkFromONNX``: an ONNX model as a minidl DAGNetwork.

The file is read by :func:`minidl.io.onnx_read.read_model` (limits, ``onnx.checker``,
declared sizes). Each ONNX node, or short chain of nodes, becomes one minidl layer
(:mod:`minidl.io.onnx_ops` has the operators and their layout maths). ``Sub``/``Div``/``Add``
of constants right after the input become the input layer's normalization: Sub m →
'zerocenter'; [Sub m] Div s → 'zscore'; Sub a, Div d, Add −1 → 'rescale-symmetric' with
Min a and Max a + 2d; per channel or per element as the constants' shapes say.

MATLAB's ``importONNXNetwork`` returns a DAGNetwork whose output layer comes from
``OutputLayerType`` and ``Classes``; here, as there, 'auto' classes are "1", …, "K".
Without ``OutputLayerType`` (and always for ``importNetworkFromONNX``, since minidl has no
dlnetwork) a graph ending in Softmax gets a classification layer, any other a regression one.
"""
import re

import numpy as np

from ..graph.inference import assembleNetwork
from ..graph.layer_graph import LayerGraph
from ..layers.base import resolve_padding
from ..layers.input import FeatureInputLayer, ImageInputLayer
from ..layers.output import ClassificationOutputLayer, RegressionOutputLayer, SoftmaxLayer
from ..options import OptionError, choice, integer, parse_name_value, path
from .errors import ModelFileError
from .onnx_ops import HANDLERS, Tensor
from .onnx_read import MAX_FILE_SIZE, MAX_NODES, read_model


class _Importer:
    """Walks the ONNX graph in its (topological) order, building layers and connections."""

    def __init__(self, model, opset, constants, where):
        self.graph, self.opset, self.constants, self.where = model.graph, opset, constants, where
        self.tensors, self.layers, self.links, self.done, self.names = {}, [], [], set(), set()
        self.consumers = {}
        for index, node in enumerate(self.graph.node):
            for name in node.input:
                self.consumers.setdefault(name, []).append(index)
        self.outputs = {value.name for value in self.graph.output}

    # ---- errors and lookups -------------------------------------------------------------------
    def fail(self, node, message):
        raise ModelFileError(f"{self.where}: node {node.name!r} (op {node.op_type}): {message}")

    def unsupported(self, node, detail=""):
        raise ModelFileError(f"{self.where}: node {node.name!r} has op type {node.op_type!r}{detail}, which minidl "
                             f"cannot import. Supported ops: {', '.join(sorted(HANDLERS))} (and Sub/Div/Add of "
                             f"constants right after the input). Remove or replace that operation in the source "
                             f"model, then export it again.")

    def attributes(self, node):
        from onnx import helper
        values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}

    def const(self, node, k, what, optional=False):
        name = node.input[k] if k < len(node.input) else ""
        if not name and optional:
            return None
        if name not in self.constants:
            self.fail(node, f"its {what} (input {k + 1}) must be a constant (an initializer); it is "
                            f"{'missing' if not name else 'computed in the graph'}.")
        return self.constants[name].astype(np.float32) if what != "shape" else self.constants[name]

    def tensor(self, node, k=0, image=False, flat_ok=False):
        name = node.input[k]
        found = self.tensors.get(name)
        if found is None:
            self.fail(node, f"input {name!r} is not data flowing through the network (a constant, or the "
                            f"output of a node minidl did not import).")
        if found.reordered and not flat_ok:
            self.fail(node, "its input is an image flattened or transposed; minidl does that only "
                            "right before a fully connected operation (Gemm or MatMul).")
        if image and len(found.size) != 3:
            self.fail(node, "expects image data N×C×H×W; its input is N×C.")
        return found

    def next_node(self, name):
        """The node reading tensor ``name`` when it is the only reader (and not a graph output)."""
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.outputs or users[0] in self.done:
            return None, None
        return self.graph.node[users[0]], users[0]

    def build(self, node, factory, *args, **kwargs):
        try:
            return factory(*args, **kwargs)
        except ValueError as error:
            self.fail(node, f"it cannot become a minidl layer: {error}")

    def add(self, node, layer, inputs, output=None, name=None, flat=False, axes=(1, 2, 3)):
        base = re.sub(r"[^\w.-]+", "_", name if name is not None else node.name).strip("_") or layer.DefaultName
        layer.Name, suffix = base, 1
        while layer.Name in self.names:
            layer.Name, suffix = f"{base}_{suffix}", suffix + 1
        self.names.add(layer.Name)
        sizes = [t.size for t in inputs]
        try:
            size = layer.initialize(None if not sizes else sizes[0] if len(sizes) == 1 else sizes, None)
        except ValueError as error:
            self.fail(node, f"the minidl layer for it does not fit its input: {error}")
        self.layers.append(layer)
        for tensor, port in zip(inputs, layer.InputNames):
            self.links.append((tensor.layer, layer.Name if len(inputs) == 1 else f"{layer.Name}/{port}"))
        self.tensors[output or node.output[0]] = Tensor(layer.Name, tuple(size), flat, axes)

    def padding(self, node, values, size, window, stride, dilation=(1, 1)):
        """[top bottom left right] from ONNX ``pads`` [top, left, bottom, right] or ``auto_pad``."""
        mode = values.get("auto_pad", "NOTSET")
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            top, bottom, left, right = resolve_padding("same", size[:2], window, stride, dilation)
            return [bottom, top, right, left] if mode == "SAME_LOWER" else [top, bottom, left, right]
        pads = [0, 0, 0, 0] if mode == "VALID" else list(values.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            self.fail(node, f"expects 4 pads for a 2-D operation; received {pads}.")
        return [pads[0], pads[2], pads[1], pads[3]]

    # ---- the input layer and its normalization ----------------------------------------------------
    def input_layer(self):
        inputs = [value for value in self.graph.input if value.name not in self.constants]
        if len(inputs) != 1:
            raise ModelFileError(f"{self.where} has {len(inputs)} graph inputs ({', '.join(v.name for v in inputs)}); "
                                 f"minidl networks have exactly one.")
        value = inputs[0]
        kind = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in kind.shape.dim]
        if kind.elem_type != 1 or len(dims) not in (2, 4) or not all(d > 0 for d in dims[1:]):
            raise ModelFileError(f"{self.where}: input {value.name!r} must be float32 N×C×H×W or N×C with fixed "
                                 f"C, H and W; it is type {kind.elem_type} with dimensions "
                                 f"{[d or '?' for d in dims]}. Export the model with a fixed input size.")
        size = (dims[2], dims[3], dims[1]) if len(dims) == 4 else (dims[1],)
        current, steps, chain = value.name, {}, []
        for op in ("Sub", "Div", "Add"):
            node, index = self.next_node(current)
            if (node is None or node.op_type != op or node.input[0] != current or node.input[1] not in self.constants
                    or (op == "Add" and not ("Div" in steps and np.all(self.constants[node.input[1]] == -1)))):
                continue
            steps[op] = self.constants[node.input[1]].astype(np.float32)
            chain.append(node)
            self.done.add(index)
            current = node.output[0]
        node = chain[-1] if chain else _Named(value.name, "Input")
        options = self.normalization(node, steps, size)
        factory = ImageInputLayer if len(size) == 3 else FeatureInputLayer
        layer = self.build(node, factory, size if len(size) == 3 else size[0], **options)
        self.add(node, layer, [], output=current, name=value.name)

    def normalization(self, node, steps, size):
        """Input-layer options for the constants of Sub (a), Div (d) and Add (−1)."""
        if not steps:
            return {"Normalization": "none"}
        shape = (1, size[2], size[0], size[1]) if len(size) == 3 else (1, size[0])
        try:
            full = {op: np.broadcast_to(v, shape)[0] for op, v in steps.items()}
        except ValueError:
            self.fail(node, f"its constant does not broadcast against the input (N×{'×'.join(map(str, shape[1:]))}).")
        if "Div" in full and np.any(full["Div"] == 0):
            self.fail(node, "divides the input by zero.")
        element = len(size) == 3 and any(np.any(v != v[:, :1, :1]) for v in full.values())

        def matlab(v):
            if len(size) == 1:
                return v.reshape(-1, 1)
            return v.transpose(1, 2, 0) if element else v[:, 0, 0].reshape(1, 1, -1)

        mean = full.get("Sub", np.zeros(shape[1:], np.float32))
        options = {"NormalizationDimension": "element" if element else "auto"}
        if "Add" in full:
            return {**options, "Normalization": "rescale-symmetric", "Min": matlab(mean),
                    "Max": matlab(mean + 2 * full["Div"])}
        if "Div" in full:
            return {**options, "Normalization": "zscore", "Mean": matlab(mean),
                    "StandardDeviation": matlab(full["Div"])}
        return {**options, "Normalization": "zerocenter", "Mean": matlab(mean)}

    # ---- the whole graph ----------------------------------------------------------------------
    def network(self, owner, output_type, classes):
        self.input_layer()
        for index, node in enumerate(self.graph.node):
            if index in self.done or node.op_type == "Constant":
                continue
            if node.domain not in ("", "ai.onnx") or node.op_type not in HANDLERS:
                self.unsupported(node, f" (domain {node.domain!r})" if node.domain not in ("", "ai.onnx") else "")
            HANDLERS[node.op_type](self, node)
        if len(self.graph.output) != 1:
            raise ModelFileError(f"{self.where} has {len(self.graph.output)} outputs; minidl networks have one.")
        last = _Named(self.graph.output[0].name, "output")
        result = self.tensor(last)
        if result.reordered:
            raise ModelFileError(f"{self.where}: the output is an image flattened or transposed; minidl outputs "
                                 f"images as N×C×H×W. Remove the final Flatten/Reshape/Transpose from the model.")
        last_layer = next(layer for layer in self.layers if layer.Name == result.layer)
        if output_type is None:
            output_type = "classification" if isinstance(last_layer, SoftmaxLayer) else "regression"
        if output_type == "classification":
            count = result.size[-1]
            labels = [str(k) for k in range(1, count + 1)] if isinstance(classes, str) else classes
            if len(labels) != count:
                raise OptionError(f"{owner}: Classes has {len(labels)} names but the network outputs {count} "
                                  f"scores; give one name per output, in output order.")
            output = self.build(last, ClassificationOutputLayer, Classes=labels)
        else:
            output = RegressionOutputLayer()
        self.add(last, output, [result], output=" output", name="")
        lgraph = LayerGraph()
        for order, layer in enumerate(self.layers):
            lgraph._graph.add_node(layer.Name, layer=layer, order=order)
        for source, destination in self.links:
            lgraph._connect(source, destination, owner)
        try:
            return assembleNetwork(lgraph)
        except ValueError as error:
            raise ModelFileError(f"{self.where}: the imported layers do not form a valid network: {error}") from None


class _Named:
    """Stands in for a node in messages about the graph's input and output."""

    def __init__(self, name, op_type):
        self.name, self.op_type, self.input, self.output = name, op_type, [name], [name]


def _import(modelfile, owner, output_type, classes, max_file_size, max_nodes):
    path(owner, "modelfile", modelfile)
    max_file_size = integer(owner, "MaxFileSize", max_file_size, maximum=2 ** 62)
    max_nodes = integer(owner, "MaxNodes", max_nodes, maximum=2 ** 62)
    if output_type is not None:
        output_type = choice(owner, "OutputLayerType", output_type, ("classification", "regression"))
    if not isinstance(classes, str):
        classes = list(np.asarray(classes).reshape(-1))
    elif classes.lower() != "auto":
        raise OptionError(f"{owner}: Classes must be 'auto' or a list of class names; received {classes!r}.")
    model, opset, constants = read_model(modelfile, owner, max_file_size, max_nodes)
    return _Importer(model, opset, constants, f"{owner}: {str(modelfile)!r}").network(owner, output_type, classes)


def importONNXNetwork(modelfile, *pairs, **options):
    """``net = importONNXNetwork(modelfile, OutputLayerType=..., Classes=...)``: a DAGNetwork.

    ``OutputLayerType``: 'classification' or 'regression' (default: classification when the
    graph ends in Softmax, else regression). ``Classes``: the class names, or 'auto' for
    "1", …, "K" (MATLAB's categorical(1:K)). ``MaxFileSize`` (bytes, default 2^30) and
    ``MaxNodes`` (default 10,000) cap what is read; raise them for big models you trust.
    A bad file, an unsupported operation or a cap exceeded raises ModelFileError naming the
    file, the node and its op type.

    Example::

        >>> import os, tempfile, numpy as np, minidl
        >>> layers = [minidl.featureInputLayer(3), minidl.fullyConnectedLayer(2, Weights=np.eye(2, 3),
        ...           Bias=np.zeros((2, 1))), minidl.softmaxLayer(), minidl.classificationLayer(Classes=[0, 1])]
        >>> path = minidl.exportONNXNetwork(minidl.assembleNetwork(layers), os.path.join(tempfile.mkdtemp(), "f.onnx"))
        >>> net = minidl.importONNXNetwork(path, OutputLayerType="classification", Classes=["no", "yes"])
        >>> minidl.classify(net, np.array([[0.0, 2.0, 0.0]]))
        array(['yes'], dtype='<U3')
    """
    values = parse_name_value("importONNXNetwork", pairs, options, {
        "OutputLayerType": None, "Classes": "auto", "MaxFileSize": MAX_FILE_SIZE, "MaxNodes": MAX_NODES})
    return _import(modelfile, "importONNXNetwork", values["OutputLayerType"], values["Classes"],
                   values["MaxFileSize"], values["MaxNodes"])


def importNetworkFromONNX(modelfile, *pairs, **options):
    """``net = importNetworkFromONNX(modelfile)``: MATLAB's newer name. MATLAB returns a
    dlnetwork without output layer; minidl has no dlnetwork, so this returns the DAGNetwork
    of :func:`importONNXNetwork` with the output layer chosen from the graph (Softmax at the
    end: classification with classes "1", …, "K"; otherwise regression). ``predict`` gives
    the same scores either way. Options ``MaxFileSize`` and ``MaxNodes`` as there.

    Example::

        >>> import os, tempfile, numpy as np, minidl
        >>> layers = [minidl.featureInputLayer(2), minidl.fullyConnectedLayer(1, Weights=[[2.0, -1.0]],
        ...           Bias=[[0.5]]), minidl.regressionLayer()]
        >>> path = minidl.exportONNXNetwork(minidl.assembleNetwork(layers), os.path.join(tempfile.mkdtemp(), "r.onnx"))
        >>> minidl.predict(minidl.importNetworkFromONNX(path), np.array([[1.0, 1.0]]))
        array([[1.5]], dtype=float32)
    """
    values = parse_name_value("importNetworkFromONNX", pairs, options,
                              {"MaxFileSize": MAX_FILE_SIZE, "MaxNodes": MAX_NODES})
    return _import(modelfile, "importNetworkFromONNX", None, "auto", values["MaxFileSize"], values["MaxNodes"])
