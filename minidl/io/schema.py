"""The shape of a minidl file's header (format version 3), checked before any layer is built.

Each problem is a :class:`ModelFileError` naming the file, the part of the header or the
member at fault, what was expected and what was found.
"""
import json

import numpy as np

from .errors import ModelFileError

KINDS = ("SeriesNetwork", "DAGNetwork", "dlnetwork")
CONTENTS = ("network", "checkpoint")
_SCALARS = (type(None), bool, int, float, str)


def _found(value):
    return json.dumps(value)[:120] if not isinstance(value, np.ndarray) else f"an array {value.shape}"


def check_header(header, arrays, where):
    """Raise ModelFileError unless ``header`` describes a network (or checkpoint) whose
    members are exactly ``arrays``."""
    if header.get("kind") not in KINDS:
        raise ModelFileError(f"{where}: the header's kind must be one of {list(KINDS)}; found {_found(header.get('kind'))}.")
    contents = header.get("contents", "network")
    if contents not in CONTENTS:
        raise ModelFileError(f"{where}: the header's contents must be one of {list(CONTENTS)}; found {_found(contents)}.")
    members = header.get("members")
    if not (isinstance(members, list) and all(isinstance(m, str) for m in members)):
        raise ModelFileError(f"{where}: the header's members must be a list of array names; found {_found(members)}.")
    extra, missing = sorted(set(arrays) - set(members)), sorted(set(members) - set(arrays))
    if extra:
        raise ModelFileError(f"{where}: member {extra[0]!r} is not named in the header (members "
                             f"{members[:6]}{' ...' if len(members) > 6 else ''}); minidl reads no unnamed member. "
                             f"The file was altered.")
    if missing:
        raise ModelFileError(f"{where}: the header names member {missing[0]!r}, which the archive does not hold; "
                             f"the file is truncated or altered.")
    used = check_layers(header.get("layers"), arrays, where, "L")
    unused = sorted(set(members) - used - ({m for m in members if m.startswith("S.")}
                                           if header.get("contents") == "checkpoint" else set()))
    if unused:
        raise ModelFileError(f"{where}: member {unused[0]!r} is named in the header but belongs to no layer; "
                             f"minidl writes no such member. The file was altered.")
    if header["kind"] == "dlnetwork":
        _check_dlnetwork(header, where)
    if header["kind"] in ("DAGNetwork", "dlnetwork"):
        pairs = header.get("connections")
        if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 and all(isinstance(n, str)
                                                for n in p) for p in pairs)):
            raise ModelFileError(f"{where}: the header's connections must be a list of [source, destination] "
                                 f"names; found {_found(pairs)}.")
    if contents == "checkpoint":
        state = header.get("checkpoint")
        if not isinstance(state, dict):
            raise ModelFileError(f"{where}: a checkpoint's header must hold the trainer state (an object); "
                                 f"found {_found(state)}.")
        if state.get("best_layers") is not None:
            state_arrays = {m[2:]: arrays[m] for m in members if m.startswith("S.")}
            check_layers(state["best_layers"], state_arrays, where, "best.L", "best network's ")


def _check_dlnetwork(header, where):
    if type(header.get("initialized")) is not bool:
        raise ModelFileError(f"{where}: a dlnetwork's header must say whether it is initialized (true or false); "
                             f"found {_found(header.get('initialized'))}.")
    names = header.get("class_names")
    if names is not None and not (isinstance(names, list) and len(set(map(str, names))) == len(names) and (
            all(isinstance(n, str) for n in names) or all(type(n) is int for n in names))):
        raise ModelFileError(f"{where}: a dlnetwork's class_names must be null or a list of distinct texts or of "
                             f"distinct integers; found {_found(names)}.")
    if header.get("contents", "network") != "network":
        raise ModelFileError(f"{where}: a dlnetwork file holds a network, not a {_found(header.get('contents'))}.")


def check_layers(described, arrays, where, prefix, what=""):
    if not isinstance(described, list) or not described:
        raise ModelFileError(f"{where}: the header's {what}layers must be a nonempty list; found {_found(described)}.")
    names, used = set(), set()
    for index, entry in enumerate(described):
        label = f"{what}layer {index + 1}"
        if not (isinstance(entry, dict) and set(entry) - {"rebuild"} == {"class", "config", "arrays"}
                and isinstance(entry["class"], str) and isinstance(entry["config"], dict)
                and isinstance(entry["arrays"], dict) and entry.get("rebuild", "properties") == "properties"):
            raise ModelFileError(f"{where}: {label} must be an object with 'class' (text), 'config' and 'arrays' "
                                 f"(objects), and optionally 'rebuild': 'properties'; found {_found(entry)}.")
        name = entry["config"].get("Name")
        if not isinstance(name, str) or not name or name in names:
            raise ModelFileError(f"{where}: {label} ({entry['class']}) must have a nonempty Name unique in the "
                                 f"network; found {_found(name)}.")
        names.add(name)
        label = f"{label} ({entry['class']} {name!r})"
        for part in ("config", "arrays"):
            for key, value in entry[part].items():
                _check_value(value, arrays, where, f"{label}, property {key!r}", prefix, used)
    return used


def _check_value(value, arrays, where, label, prefix, used):
    if isinstance(value, list):
        for item in value:
            _check_value(item, arrays, where, label, prefix, used)
        return
    if not isinstance(value, dict):
        if not isinstance(value, _SCALARS) or (isinstance(value, float) and not np.isfinite(value)):
            raise ModelFileError(f"{where}: {label} holds {_found(value)}; expected a finite number, text or list.")
        return
    if len(value) != 1 or next(iter(value)) not in ("array", "tuple", "function"):
        raise ModelFileError(f"{where}: {label} holds the object {_found(value)}; expected a number, text, a list, "
                             f"or one of {{'array': member}}, {{'tuple': [...]}}, {{'function': name}}.")
    kind, content = next(iter(value.items()))
    if kind == "tuple":
        if not isinstance(content, list):
            raise ModelFileError(f"{where}: {label} holds a tuple that is not a list: {_found(content)}.")
        _check_value(content, arrays, where, label, prefix, used)
    elif kind == "function":
        if not isinstance(content, str):
            raise ModelFileError(f"{where}: {label} names a function with {_found(content)}; expected its name.")
    else:
        _check_array(content, arrays, where, label, prefix)
        used.add(content)


def _check_array(member, arrays, where, label, prefix):
    if not isinstance(member, str) or not member.startswith(prefix) or member not in arrays:
        raise ModelFileError(f"{where}: {label} refers to the array {_found(member)}, which is not one of the "
                             f"file's members; expected a member named {prefix}<index>.<property>.")
    array = arrays[member]
    if array.size == 0:
        raise ModelFileError(f"{where}: {label} (member {member!r}) is empty (size {array.shape}); minidl saves no "
                             f"empty array. The file is truncated or altered.")
    if array.dtype.kind not in "fiubU":
        raise ModelFileError(f"{where}: {label} (member {member!r}) has dtype {array.dtype}; expected floating-point "
                             f"numbers (float32), or integers or text for class names.")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ModelFileError(f"{where}: {label} (member {member!r}) contains NaN or Inf; expected finite numbers "
                             f"(a network with NaN weights cannot predict).")
