"""minidl's file format: one NumPy ``.npz`` archive, written atomically, read without pickle.

The archive holds every array (``L3.Weights`` …) plus one JSON document (``__minidl__``):
format version, kind, the names of every array member, and for each layer its class, its
public configuration (constructor arguments, see minidl.layers.config) and the learnable or
state arrays its constructor does not take. Loading only instantiates minidl's own layer
classes, or custom classes the caller passes in ``CustomLayers``, through their
constructors, so opening a file from someone else cannot run their code and every check a
constructor makes runs on the file.

MATLAB-style custom layers (``saved_by_properties``: classes declaring ``Learnable`` or
``State``) are saved as MATLAB saves objects: every public property, restored on load
without calling the constructor (``cls.__new__``, then the properties; MATLAB's loadobj),
so a constructor argument the layer does not keep is no obstacle. Such an entry says
``"rebuild": "properties"``; only a class the caller supplies that is declared that way is
restored so, and a property may not replace one of its methods.

Versions: 1 saved ``vars(layer)`` (private attributes included); 2 saves the public
configuration; 3 adds dlnetworks (kind ``dlnetwork``) and layers saved by their properties.
``MIGRATIONS[v]`` turns a version-v header into version v + 1.
"""
import inspect
import json
import os
import re

import numpy as np

from ..layers import config as layer_config
from .archive import HEADER, parse_header, read_members
from .atomic import write_atomically
from .errors import ModelFileError
from .onnx_read import MAX_FILE_SIZE

FORMAT_VERSION = 3
_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
FileFormatError = ModelFileError    # the name used before version 2


def layer_classes():
    from ..layers import (activation, channel_norm, combine, conv, dense, dropout, flatten, input,  # noqa: F401
                          normalization, output, pooling, transposed_conv)  # every built-in layer class exists
    from ..layers.base import Layer

    classes, pending = {}, [Layer]
    while pending:
        cls = pending.pop()
        abstract = any(sub.__module__.startswith("minidl.") for sub in cls.__subclasses__())
        if cls.__module__.startswith("minidl.layers.") and not cls.__name__.startswith("_") and not abstract:
            classes[cls.__name__] = cls     # concrete public layers only: not Layer, OutputLayer
        pending.extend(cls.__subclasses__())
    return classes


# ---- writing ------------------------------------------------------------------------------
def _encode(layer, name, value, arrays, member):
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiubU":
            raise ValueError(f"save: {layer.Name}.{name} is an array of {value.dtype}; only numbers can be stored.")
        arrays[member] = value
        return {"array": member}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (tuple, list)):
        encoded = [_encode(layer, name, v, arrays, f"{member}.{i}") for i, v in enumerate(value)]
        return {"tuple": encoded} if isinstance(value, tuple) else encoded
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):     # a function handle (an initializer): load restores the default
        return {"function": getattr(value, "__name__", "function")}
    raise ValueError(f"save: {layer.Name}.{name} is a {type(value).__name__}; a layer property must be a "
                     f"number, text, a list/tuple of them, an array or a function.")


def saved_by_properties(cls):
    return bool(getattr(cls, "saved_by_properties", False))


def _saved_parts(layer):
    """(configuration, arrays) to save: constructor arguments and the arrays the constructor
    does not take; or, for a layer saved by its properties, its public properties."""
    if not saved_by_properties(type(layer)):
        return layer.get_config(), layer_config.extra_arrays(layer)
    names = set(layer_config.array_names(type(layer)))
    public = {k: v for k, v in vars(layer).items() if not k.startswith("_")}
    return ({k: v for k, v in public.items() if k not in names},
            {k: getattr(layer, k, None) for k in layer_config.array_names(type(layer))})


def layers_to_archive(layers, arrays, prefix="L"):
    """Describe layers as JSON-able dicts, putting their arrays into ``arrays``."""
    described = []
    for index, layer in enumerate(layers):
        entry = {"class": type(layer).__name__, "config": {}, "arrays": {}}
        config, extra = _saved_parts(layer)
        for name, value in config.items():
            entry["config"][name] = _encode(layer, name, value, arrays, f"{prefix}{index}.{name}")
        for name, value in extra.items():
            entry["arrays"][name] = _encode(layer, name, value, arrays, f"{prefix}{index}.{name}")
        if saved_by_properties(type(layer)):
            entry["rebuild"] = "properties"
        described.append(entry)
    return described


def write_archive(filename, header, arrays):
    """Write atomically: a crash leaves either the old file or the complete new one (see
    minidl.io.atomic for the temporary files, their mode and their cleanup)."""
    filename = os.fspath(filename)
    if not filename.endswith(".npz"):
        filename += ".npz"
    folder = os.path.dirname(os.path.abspath(filename))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} does not exist.")
    header = dict(header, format_version=FORMAT_VERSION, members=sorted(arrays))
    payload = {HEADER: np.array(json.dumps(header))}
    payload.update(arrays)
    return write_atomically(filename, lambda stream: np.savez(stream, **payload))


# ---- reading ------------------------------------------------------------------------------
def read_archive(filename, owner="load", max_file_size=MAX_FILE_SIZE, custom_layers=None):
    """``(header, arrays)``: the header migrated to FORMAT_VERSION and checked, and exactly
    the arrays it names."""
    filename = os.fspath(filename)
    if not os.path.exists(filename) and os.path.exists(filename + ".npz"):
        filename += ".npz"  # save adds the extension, so load accepts the name without it
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"{owner}: the file {filename!r} does not exist or is not a file (nor "
                                f"{filename + '.npz'!r}); check filename and the current folder ({os.getcwd()!r}).")
    where = f"{owner}: {filename!r}"
    text, arrays = read_members(filename, where, max_file_size)
    header = parse_header(text, where)
    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise ModelFileError(f"{where}: the header's format_version must be a positive integer; found {version!r}.")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{where} uses format version {version}; this minidl reads up to version "
                             f"{FORMAT_VERSION}. Upgrade minidl.")
    classes = {**layer_classes(), **(custom_layers or {})}
    for old in range(version, FORMAT_VERSION):
        header = MIGRATIONS[old](header, arrays, classes, where)
    from .schema import check_header
    check_header(header, arrays, where)
    return header, arrays


def layers_from_archive(described, arrays, custom_layers=None, where="load", complete=True):
    """Layers rebuilt through their constructors from ``described`` (checked by
    minidl.io.schema): every constructor check runs, and a failing one names the layer.
    Layers saved by their properties are restored without their constructor. ``complete``:
    every learnable must be in the file (False for an uninitialized dlnetwork)."""
    classes = {**layer_classes(), **(custom_layers or {})}
    layers = []
    for index, entry in enumerate(described):
        cls = classes.get(entry["class"])
        label = f"layer {index + 1} ({entry['class']} {entry['config'].get('Name', '')!r})"
        if cls is None:
            raise ModelFileError(f"{where}: {label} is not a minidl layer class. If it is your own layer, pass "
                                 f"CustomLayers={{'{entry['class']}': YourClass}} to load it.")
        if complete:
            _check_complete(cls, entry, label, where)
        if entry.get("rebuild") == "properties":
            layers.append(_restore_properties(cls, entry, arrays, label, where))
            continue
        if saved_by_properties(cls):
            raise ModelFileError(f"{where}: {label} was saved through its constructor, but {cls.__name__} is saved by "
                                 f"its properties (it declares Learnable or State); the file was altered or the class "
                                 f"changed.")
        parameters = layer_config.constructor_parameters(cls)
        allowed_config = set(layer_config.config_names(cls))
        allowed_arrays = set(layer_config.array_names(cls)) - allowed_config
        for part, given, allowed in (("configuration", entry["config"], allowed_config),
                                     ("arrays", entry["arrays"], allowed_arrays)):
            unknown = sorted(set(given) - allowed)
            if unknown:
                raise ModelFileError(f"{where}: {label} has {part} {unknown}, which {cls.__name__} does not take; "
                                     f"expected names among {sorted(allowed)}.")
        values = {name: _decode(value, arrays, parameters.get(name)) for name, value in entry["config"].items()}
        try:
            layer = cls(**values)
            for name, value in entry["arrays"].items():
                setattr(layer, name, _decode(value, arrays, None))
        except Exception as error:   # the constructor refused the file's values
            raise ModelFileError(f"{where}: {label} cannot be rebuilt from the file: {type(error).__name__}: "
                                 f"{str(error)[:600]}") from None
        layers.append(layer)
    return layers


def _check_complete(cls, entry, label, where):
    given = {**entry["config"], **entry["arrays"]}
    missing = [name for name in cls.learnables if not (isinstance(given.get(name), dict) and "array" in given[name])]
    if missing:
        raise ModelFileError(f"{where}: {label} has no array for its learnable {missing[0]}; a saved network "
                             f"holds every learnable. The file is incomplete or altered.")


def _restore_properties(cls, entry, arrays, label, where):
    """MATLAB's loadobj: a new object of ``cls`` (no constructor call) given the saved public
    properties. Only classes declared to be saved so; no property may shadow a method."""
    if not saved_by_properties(cls):
        raise ModelFileError(f"{where}: {label} is stored by its properties, but {cls.__name__} is not a "
                             f"MATLAB-style custom layer (one declaring Learnable or State); minidl restores only "
                             f"those that way. The file was altered.")
    values = {**entry["config"], **entry["arrays"]}
    for name in values:
        static = inspect.getattr_static(cls, name, None)
        if not _PROPERTY.match(name) or callable(static) or isinstance(static, (property, staticmethod, classmethod)):
            raise ModelFileError(f"{where}: {label} has the property {name!r}, which cannot be restored: a property "
                                 f"name is letters, digits and '_' (not first) and never one of the class's methods.")
    layer = cls.__new__(cls)
    try:
        for name, value in values.items():
            setattr(layer, name, _decode(value, arrays, None))
    except Exception as error:  # the class refused a value (its own __setattr__)
        raise ModelFileError(f"{where}: {label} cannot be restored from the file: {type(error).__name__}: "
                             f"{str(error)[:600]}") from None
    return layer


def _decode(value, arrays, default):
    if isinstance(value, dict):
        kind, content = next(iter(value.items()))
        if kind == "array":
            return arrays[content]
        if kind == "tuple":
            return tuple(_decode(v, arrays, None) for v in content)
        return default      # "function": the constructor's default
    if isinstance(value, list):
        return [_decode(v, arrays, None) for v in value]
    return value


# ---- migrations: MIGRATIONS[v] turns a version-v header into version v + 1 ---------------------
def _layers_1_to_2(described, classes, where):
    if not isinstance(described, list):
        raise ModelFileError(f"{where}: the header's layers must be a list; found {type(described).__name__}.")
    migrated = []
    for index, entry in enumerate(described):
        if not (isinstance(entry, dict) and isinstance(entry.get("class"), str)
                and isinstance(entry.get("properties"), dict)):
            raise ModelFileError(f"{where}: layer {index + 1} of the version-1 header must be an object with "
                                 f"'class' and 'properties'; found {json.dumps(entry)[:200]}.")
        cls = classes.get(entry["class"])
        names = layer_config.config_names(cls) if cls is not None else ()
        arrays = set(layer_config.array_names(cls)) - set(names) if cls is not None else ()
        properties = entry["properties"]
        migrated.append({"class": entry["class"],
                         "config": {k: v for k, v in properties.items() if k in names},
                         "arrays": {k: v for k, v in properties.items() if k in arrays and v is not None}})
    return migrated


def _members(value, found):
    if isinstance(value, dict):
        if set(value) == {"array"} and isinstance(value["array"], str):
            found.add(value["array"])
        for item in value.values():
            _members(item, found)
    elif isinstance(value, list):
        for item in value:
            _members(item, found)
    return found


def migrate_1_to_2(header, arrays, classes, where):
    """Version 1 saved ``vars(layer)``: keep the constructor's arguments and the learnable
    and state arrays, drop private and derived attributes (``_image``, ``PaddingSize``), and
    name the members (the referenced arrays, plus the trainer's ``S.*`` in a checkpoint)."""
    header = dict(header, format_version=2, layers=_layers_1_to_2(header.get("layers"), classes, where))
    checkpoint = header.get("checkpoint")
    if isinstance(checkpoint, dict) and checkpoint.get("best_layers") is not None:
        header["checkpoint"] = dict(checkpoint, best_layers=_layers_1_to_2(checkpoint["best_layers"], classes, where))
    members = _members(header["layers"], set())
    if header.get("contents") == "checkpoint":
        members |= {name for name in arrays if name.startswith("S.")}
    header["members"] = sorted(members)
    return header


def migrate_2_to_3(header, arrays, classes, where):
    """Version 3 only adds what version 2 could not hold (dlnetworks, layers saved by their
    properties): a version-2 header is a version-3 header."""
    return dict(header, format_version=3)


MIGRATIONS = {1: migrate_1_to_2, 2: migrate_2_to_3}
