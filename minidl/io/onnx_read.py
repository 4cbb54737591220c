"""Reading an ONNX file safely: size limits, protobuf parsing, ``onnx.checker``, and every
tensor's declared size checked against the bytes it holds before NumPy sees it.

Any problem is a :class:`ModelFileError` naming the file, the tensor or node at fault, what
was expected and what was found. The ONNX file is never allowed to point at other files
(external data is refused), so reading it opens nothing else.
"""
import os

import numpy as np

from .errors import ModelFileError
from .onnx_export import require_onnx

MAX_FILE_SIZE = 2 ** 30          # bytes; raise with MaxFileSize=... for bigger models
MAX_NODES = 10_000               # nodes in the graph; raise with MaxNodes=...
OLDEST_OPSET = 9                 # BatchNormalization lost its 'spatial' attribute in opset 9

_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
# TensorProto data types numpy_helper turns into float or integer arrays (no strings, no complex)
_FIELD = {1: "float_data", 11: "double_data", 7: "int64_data", 12: "uint64_data", 13: "uint64_data"}
# where a tensor without raw_data keeps its values (the other types use int32_data)


def read_model(filename, owner, max_file_size, max_nodes):
    """The checked ``ModelProto`` of ``filename`` and its constants ``{name: ndarray}``."""
    onnx = require_onnx(owner)
    from google.protobuf.message import DecodeError

    filename = os.fspath(filename)
    where = f"{owner}: {filename!r}"
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"{where} does not exist (or is not a file); check modelfile and the current "
                                f"folder ({os.getcwd()!r}).")
    size = os.path.getsize(filename)
    if size > max_file_size:
        raise ModelFileError(f"{where} is {size:,} bytes, more than the limit MaxFileSize={max_file_size:,}. "
                             f"If you trust the file, pass MaxFileSize={size} (or more).")
    with open(filename, "rb") as handle:
        data = handle.read(max_file_size + 1)
    if not data:
        raise ModelFileError(f"{where} is empty; expected an ONNX model (a protobuf ModelProto).")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as error:
        raise ModelFileError(f"{where} is not a readable ONNX model: the protobuf decoder says "
                             f"{error}. The file may be truncated or not an ONNX file.") from None
    graph = model.graph
    if not model.HasField("graph") or not graph.node:
        raise ModelFileError(f"{where} holds no graph (or a graph without nodes); it is truncated or not an "
                             f"ONNX model.")
    if len(graph.node) > max_nodes:
        raise ModelFileError(f"{where} has {len(graph.node):,} nodes, more than the limit MaxNodes={max_nodes:,}. "
                             f"If you trust the file, pass MaxNodes={len(graph.node)} (or more).")
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type in (5, 10, 11, 12):  # GRAPH(S), SPARSE_TENSOR(S): not plain layers
                raise ModelFileError(f"{where}: node {node.name!r} (op {node.op_type}) holds a subgraph or "
                                     f"sparse tensor; minidl imports plain feed-forward graphs only.")
    tensors = [(t.name, t, "initializer") for t in graph.initializer]
    tensors += [(node.output[0], a.t, f"Constant node {node.name!r}") for node in graph.node
                if node.op_type == "Constant" and node.output for a in node.attribute if a.type == 4]
    for name, tensor, what in tensors:
        _check_declared(tensor, name, what, size, where)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset < OLDEST_OPSET:
        raise ModelFileError(f"{where} uses ONNX opset {opset}; minidl reads opset {OLDEST_OPSET} or newer. "
                             f"Re-export the model with a newer opset (e.g. opset_version=17).")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # ValidationError, InferenceError and the checker's C++ errors
        raise ModelFileError(f"{where} fails onnx.checker: {str(error).strip()[:800]}") from None
    _check_names(model, where)
    constants = {name: _to_array(tensor, name, what, where) for name, tensor, what in tensors}
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] not in constants:
            constants[node.output[0]] = _constant_value(onnx, node, where)
    return model, opset, constants


def _check_declared(tensor, name, what, file_size, where):
    """The tensor's dims × item size must fit in the file and match the data it holds."""
    if tensor.data_location == 1:  # EXTERNAL
        raise ModelFileError(f"{where}: {what} {name!r} keeps its data in an external file; minidl reads "
                             f"self-contained models only. Save it with onnx.save_model(model, path, "
                             f"save_as_external_data=False).")
    itemsize = _ITEMSIZE.get(tensor.data_type)
    if itemsize is None:
        raise ModelFileError(f"{where}: {what} {name!r} has data type {tensor.data_type}, which minidl does "
                             f"not read (it reads float, double and integer tensors).")
    if any(d < 0 for d in tensor.dims):
        raise ModelFileError(f"{where}: {what} {name!r} declares negative dimensions {list(tensor.dims)}.")
    count = int(np.prod([int(d) for d in tensor.dims], dtype=object)) if tensor.dims else 1
    declared = count * itemsize
    if declared > file_size:
        raise ModelFileError(f"{where}: {what} {name!r} declares {'×'.join(map(str, tensor.dims))} values "
                             f"({declared:,} bytes), more than the whole file ({file_size:,} bytes); the file "
                             f"is corrupt or crafted.")
    shape = "×".join(map(str, tensor.dims)) or "scalar"
    if tensor.raw_data:
        if len(tensor.raw_data) != declared:
            raise ModelFileError(f"{where}: {what} {name!r} declares {shape} values ({declared:,} bytes) but "
                                 f"holds {len(tensor.raw_data):,} bytes; the file is truncated or corrupt.")
        return
    found = len(getattr(tensor, _FIELD.get(tensor.data_type, "int32_data")))
    if found != count:
        raise ModelFileError(f"{where}: {what} {name!r} declares {shape} values but holds {found:,}; the file "
                             f"is truncated or corrupt.")


def _check_names(model, where):
    """Every name and op type must be text (protobuf keeps invalid UTF-8 as bytes)."""
    graph = model.graph
    names = [v.name for v in (*graph.input, *graph.output, *graph.initializer)]
    for node in graph.node:
        names += [node.name, node.op_type, node.domain, *node.input, *node.output]
    for name in names:
        if not isinstance(name, str):
            raise ModelFileError(f"{where}: the name {name!r} is not valid UTF-8 text; the file is corrupt.")


def _to_array(tensor, name, what, where):
    from onnx import numpy_helper
    try:
        array = np.array(numpy_helper.to_array(tensor))
    except Exception as error:
        raise ModelFileError(f"{where}: {what} {name!r} cannot be read as an array ({error}).") from None
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ModelFileError(f"{where}: {what} {name!r} contains NaN or Inf; a network's constants must be "
                             f"finite.")
    return array


def _constant_value(onnx, node, where):
    """A Constant node's value_float(s)/value_int(s) attribute as an array."""
    for attribute in node.attribute:
        if attribute.name in ("value_float", "value_floats", "value_int", "value_ints"):
            value = np.array(onnx.helper.get_attribute_value(attribute))
            if not np.all(np.isfinite(value)):
                raise ModelFileError(f"{where}: Constant node {node.name!r} holds NaN or Inf.")
            return value
    raise ModelFileError(f"{where}: Constant node {node.name!r} has no numeric value minidl can read "
                         f"(attributes: {', '.join(a.name for a in node.attribute)}).")
