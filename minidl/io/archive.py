"""Reading a ``.npz`` archive from an untrusted source: limits first, then the arrays.

Before any array is read: the file size and the total size the zip directory declares are
capped (``MaxFileSize``, the same default as the ONNX importer), member names must be plain
(``L3.Weights``; no folders, no ``..``), the JSON header is capped in size and nesting depth,
and every ``.npy`` member's declared shape and dtype must match its stored size. Never
``allow_pickle``. Every problem is a :class:`ModelFileError` naming the file and the member.
"""
import json
import os
import re
import zipfile

import numpy as np

from .errors import ModelFileError
from .onnx_read import MAX_FILE_SIZE

HEADER = "__minidl__"
MAX_DEPTH = 32                  # nesting of the JSON header
MAX_MEMBERS = 100_000
_MEMBER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_KINDS = "fiubU"                # float, int, unsigned, bool, text: nothing else is ever stored


def read_members(filename, where, max_file_size=MAX_FILE_SIZE):
    """``(header text, {member: array})`` of a minidl archive; ``where`` names the file."""
    size = os.path.getsize(filename)
    if size > max_file_size:
        raise ModelFileError(f"{where} is {size:,} bytes, more than the limit MaxFileSize={max_file_size:,}. "
                             f"If you trust the file, pass MaxFileSize={size} (or more).")
    try:
        with zipfile.ZipFile(filename) as archive:
            infos = _check_directory(archive.infolist(), where, max_file_size)
            arrays = {name: _read_member(archive, info, name, where) for name, info in infos.items()}
    except ModelFileError:
        raise
    except Exception as error:  # zipfile, zlib and numpy's header parser raise many types on hostile bytes
        detail = f"{type(error).__name__}: {str(error)[:200]}" if str(error) else type(error).__name__
        raise ModelFileError(f"{where} is not a readable minidl file: expected a NumPy .npz archive (a zip of "
                             f".npy arrays); the zip reader says {detail}. The file is truncated, corrupt, or "
                             f"not a minidl file.") from None
    if HEADER not in arrays:
        raise ModelFileError(f"{where} is a .npz archive but not a minidl file: it has no {HEADER!r} member "
                             f"(found {sorted(arrays)[:5]}).")
    text = arrays.pop(HEADER)
    if text.dtype.kind != "U" or text.ndim != 0:
        raise ModelFileError(f"{where}: member {HEADER!r} must be a text scalar holding JSON; found an array of "
                             f"dtype {text.dtype} and shape {text.shape}.")
    return str(text), arrays


def _check_directory(infos, where, max_file_size):
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{where} has {len(infos):,} members, more than the limit {MAX_MEMBERS:,}.")
    declared = sum(info.file_size for info in infos)
    if declared > max_file_size:
        raise ModelFileError(f"{where} declares {declared:,} bytes of arrays once unpacked, more than the limit "
                             f"MaxFileSize={max_file_size:,}. If you trust the file, pass MaxFileSize={declared} "
                             f"(or more).")
    members = {}
    for info in infos:
        name = info.filename[:-4] if info.filename.endswith(".npy") else None
        if name is None or not _MEMBER.match(name):
            raise ModelFileError(f"{where}: member {info.filename!r} is not an array name minidl writes (expected "
                                 f"a name like 'L3.Weights.npy': letters, digits, '_' and '.', no folders).")
        if name in members:
            raise ModelFileError(f"{where}: member {info.filename!r} appears twice.")
        members[name] = info
    return members


def _read_member(archive, info, name, where):
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ModelFileError(f"{where}: member {name!r} has .npy version {version}; expected 1.0, 2.0 or 3.0.")
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(stream, max_header_size=10_000)
        if dtype.hasobject or dtype.fields is not None or (dtype.kind not in _KINDS and name != HEADER) or (
                name == HEADER and dtype.kind != "U"):
            raise ModelFileError(f"{where}: member {name!r} has dtype {dtype}; expected "
                                 f"{'text' if name == HEADER else 'plain numbers or text (float, int, bool, str)'}.")
        count = int(np.prod(shape, dtype=object))
        stored = info.file_size - stream.tell()
        if count * dtype.itemsize != stored:
            raise ModelFileError(f"{where}: member {name!r} declares shape {shape} of {dtype} ({count * dtype.itemsize:,} "
                                 f"bytes) but stores {stored:,} bytes; the file is corrupt.")
        data = stream.read(stored)
        if len(data) != stored:
            raise ModelFileError(f"{where}: member {name!r} is truncated ({len(data):,} of {stored:,} bytes).")
    array = np.frombuffer(data, dtype=dtype).copy()
    return array.reshape(shape, order="F" if fortran else "C")


def parse_header(text, where):
    """The JSON header as a dict, refusing deep nesting (a layer's NaN/Infinity is refused by
    minidl.io.schema; a checkpoint's best loss may be Infinity)."""
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{where}: the header (member {HEADER!r}) is nested {depth} levels deep; minidl "
                             f"files nest at most {MAX_DEPTH}. The file is corrupt or crafted.")
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ModelFileError(f"{where}: the header (member {HEADER!r}) is not valid JSON ({str(error)[:200]}).") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{where}: the header (member {HEADER!r}) must be a JSON object; found "
                             f"{type(header).__name__}.")
    return header


def _depth(text):
    """Bracket nesting depth outside JSON strings."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    codes = np.frombuffer(stripped.encode("utf-8", "replace"), np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))
