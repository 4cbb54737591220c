"""minidl's file format: one NumPy ``.npz`` archive, written atomically, read without pickle.

The archive holds every array (``L3.Weights`` …) plus one JSON document (``__minidl__``)
describing the network: format version, kind, and for each layer its class and its
non-array properties. Loading never unpickles and only instantiates minidl's own layer
classes, or custom classes the caller passes in ``CustomLayers``, so opening a file from
someone else cannot run their code.
"""
import json
import os

import numpy as np

from .atomic import write_atomically

FORMAT_VERSION = 1
_HEADER = "__minidl__"


class FileFormatError(ValueError):
    """A file is not a minidl network file, or was written by an incompatible version."""


def _layer_classes():
    from ..layers import (activation, combine, conv, dense, dropout, input, normalization,  # noqa: F401
                          output, pooling)  # every built-in layer class exists, even if unused so far
    from ..layers.base import Layer

    classes, pending = {}, [Layer]
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("minidl.layers."):   # not dlnetwork's hidden output
            classes[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return classes


def _encode(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"dict": {k: _encode(v) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        return {"function": getattr(value, "__name__", "function")}
    raise FileFormatError(f"save: cannot store a property of type {type(value).__name__}.")


def _decode(value):
    if isinstance(value, dict):
        if "tuple" in value:
            return tuple(_decode(v) for v in value["tuple"])
        if "dict" in value:
            return {k: _decode(v) for k, v in value["dict"].items()}
        if "function" in value:
            return None
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def layers_to_archive(layers, arrays, prefix="L"):
    """Describe layers as JSON-able dicts, putting their arrays into ``arrays``."""
    described = []
    for index, layer in enumerate(layers):
        properties = {}
        for name, value in vars(layer).items():
            if isinstance(value, np.ndarray):
                if value.dtype == object:
                    raise FileFormatError(f"save: {layer.Name}.{name} is an object array; it cannot be stored.")
                arrays[f"{prefix}{index}.{name}"] = value
                properties[name] = {"array": f"{prefix}{index}.{name}"}
            else:
                properties[name] = _encode(value)
        described.append({"class": type(layer).__name__, "properties": properties})
    return described


def layers_from_archive(described, archive, custom_layers=None):
    classes = {**_layer_classes(), **(custom_layers or {})}
    layers = []
    for entry in described:
        cls = classes.get(entry["class"])
        if cls is None:
            raise FileFormatError(f"load: the file contains a layer of class {entry['class']!r}, which is not "
                                  f"a minidl layer. Pass CustomLayers={{'{entry['class']}': YourClass}} to load it.")
        layer = cls.__new__(cls)
        for name, value in entry["properties"].items():
            if isinstance(value, dict) and set(value) == {"array"}:
                value = archive[value["array"]]
            else:
                value = _decode(value)
            object.__setattr__(layer, name, value)
        layers.append(layer)
    return layers


def write_archive(filename, header, arrays):
    """Write atomically: a crash leaves either the old file or the complete new one (see
    minidl.io.atomic for the temporary files, their mode and their cleanup)."""
    filename = os.fspath(filename)
    if not filename.endswith(".npz"):
        filename += ".npz"
    folder = os.path.dirname(os.path.abspath(filename))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} does not exist.")
    header = dict(header, format_version=FORMAT_VERSION)
    payload = {_HEADER: np.array(json.dumps(header))}
    payload.update(arrays)
    return write_atomically(filename, lambda stream: np.savez(stream, **payload))


def read_archive(filename):
    filename = os.fspath(filename)
    if not os.path.exists(filename) and os.path.exists(filename + ".npz"):
        filename += ".npz"  # save adds the extension, so load accepts the name without it
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"load: the file {filename!r} does not exist or is not a file (nor {filename + '.npz'!r}); check "
                                f"filename and the current folder ({os.getcwd()!r}).")
    try:
        loaded = np.load(filename, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not a .npz archive")
        with loaded as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise FileFormatError(f"load: {os.fspath(filename)!r} is not a readable minidl file ({error}).") from None
    if _HEADER not in arrays:
        raise FileFormatError(f"load: {os.fspath(filename)!r} is a .npz archive but not a minidl file.")
    header = json.loads(str(arrays.pop(_HEADER)))
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise FileFormatError(f"load: {os.fspath(filename)!r} uses format version {header['format_version']}; "
                              f"this minidl reads up to version {FORMAT_VERSION}. Upgrade minidl.")
    return header, arrays
