"""Hostile minidl files: every one gives ModelFileError, nothing else (issue 11).

Each test draws files with hypothesis from one valid saved network: raw byte damage
(truncation, flipped bytes), header damage (wrong types, deep nesting, foreign classes,
unknown keys) and member damage (wrong shapes, dtypes, huge declared shapes, extra and
path-traversal members). 6 tests × 60 examples = 360 files.
"""
import io
import json
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minidl
from minidl.io.errors import ModelFileError
from format_files import contents, small_net

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # large reprs of arrays
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    path = minidl.save(str(folder / "n.npz"), small_net())
    with open(path, "rb") as stream:
        raw = stream.read()
    return folder, raw, *contents(path)


def only_model_file_error(path):
    try:
        minidl.load(path)
    except ModelFileError as error:
        assert repr(path)[1:-1] in str(error) or path in str(error), str(error)   # names the file
        return
    pytest.fail("the hostile file loaded")


def write_raw(folder, data):
    path = str(folder / "h.npz")
    with open(path, "wb") as stream:
        stream.write(data)
    return path


def write_members(folder, header_text, arrays, raw_members=()):
    path = str(folder / "h.npz")
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in {"__minidl__": np.array(header_text), **arrays}.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            archive.writestr(name + ".npy", buffer.getvalue())
        for name, data in raw_members:
            archive.writestr(name, data)
    return path


@FUZZ
@given(cut=st.integers(0, 10 ** 9))
def test_truncated_files(saved, cut):
    folder, raw, _, _ = saved
    only_model_file_error(write_raw(folder, raw[:cut % len(raw)]))


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 10 ** 9), st.integers(1, 255)), min_size=1, max_size=8))
def test_flipped_bytes(saved, flips):
    folder, raw, _, _ = saved
    data = bytearray(raw)
    for position, mask in flips:
        data[position % len(data)] ^= mask
    path = write_raw(folder, bytes(data))
    try:
        minidl.load(path)     # a flip in padding or an unused field may leave a valid file
    except ModelFileError:
        pass


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
FIELDS = ["kind", "contents", "layers", "connections", "members", "format_version", "checkpoint"]


@FUZZ
@given(data=st.data())
def test_wrong_types_in_the_header(saved, data):
    folder, _, header, arrays = saved
    header = json.loads(json.dumps(header))
    where = data.draw(st.sampled_from(["top", "layer", "config", "arrays"]))
    value = data.draw(JSON)
    if where == "top":
        header[data.draw(st.sampled_from(FIELDS))] = value
    else:
        entry = header["layers"][data.draw(st.integers(0, len(header["layers"]) - 1))]
        if where == "layer":
            entry[data.draw(st.sampled_from(["class", "config", "arrays", "extra"]))] = value
        else:
            key = data.draw(st.sampled_from(sorted(entry[where]) + ["Name", "Weights", "_private"]))
            entry[where][key] = value
    path = write_members(folder, json.dumps(header), arrays)
    try:
        minidl.load(path)     # a value a constructor accepts (e.g. a new Name) is a valid file
    except ModelFileError:
        pass


@FUZZ
@given(depth=st.integers(33, 50_000), kind=st.sampled_from("[{"), where=st.sampled_from(["top", "config"]),
       cls=st.sampled_from(["builtins.eval", "os.system", "numpy.load", "subprocess.Popen", "Layer", "", "X" * 300]))
def test_deep_nesting_and_foreign_classes(saved, depth, kind, where, cls):
    folder, _, header, arrays = saved
    header = json.loads(json.dumps(header))
    nested = ('{"a": ' * depth + "1" + "}" * depth) if kind == "{" else "[" * depth + "]" * depth
    if where == "top":
        text = json.dumps(header)[:-1] + ', "x": ' + nested + "}"
        only_model_file_error(write_members(folder, text, arrays))
    header["layers"][3]["class"] = cls
    only_model_file_error(write_members(folder, json.dumps(header), arrays))


@FUZZ
@given(data=st.data())
def test_wrong_shapes_dtypes_and_values_of_arrays(saved, data):
    folder, _, header, arrays = saved
    arrays = dict(arrays)
    member = data.draw(st.sampled_from(sorted(k for k in arrays if arrays[k].dtype.kind == "f")))
    change = data.draw(st.sampled_from(["shape", "dtype", "nan", "negative", "scalar", "empty"]))
    old = arrays[member]
    if change == "shape":
        shape = data.draw(st.lists(st.integers(0, 7), max_size=4).filter(lambda s: int(np.prod(s)) != old.size))
        arrays[member] = np.ones(shape, np.float32)
    elif change == "dtype":
        arrays[member] = data.draw(st.sampled_from([old.astype(np.complex64), old.astype("S8"), old.astype("M8[s]")]))
    elif change == "nan":
        arrays[member] = np.where(np.arange(old.size).reshape(old.shape) == 0, np.nan, old).astype(np.float32)
    elif change == "negative":
        if not member.endswith(("TrainedVariance", "Weights")):
            arrays[member] = -np.abs(old) - 1
            if member.endswith(("Offset", "TrainedMean", "Bias", "Scale")):
                return   # a negative offset, mean, bias or scale is a valid value
        else:
            arrays[member] = np.full(old.shape, np.inf, np.float32)
    elif change == "scalar":
        arrays[member] = np.float32(1)
    else:
        arrays[member] = np.zeros((0,), np.float32)
    only_model_file_error(write_members(folder, json.dumps(header), arrays))


def npy_header(shape, descr="<f4"):
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


@FUZZ
@given(kind=st.sampled_from(["huge", "extra", "traversal", "object", "bomb", "missing"]),
       name=st.sampled_from(["../../etc/passwd", "/abs.npy", "a/b.npy", "..npy", "L1.Weights.npz", "L0..x.npy"]),
       size=st.integers(10 ** 6, 10 ** 13))
def test_huge_extra_traversal_and_object_members(saved, kind, name, size):
    folder, _, header, arrays = saved
    arrays, raw = dict(arrays), []
    if kind == "huge":    # a header claiming many values over a few stored bytes
        del arrays["L4.Weights"]
        raw.append(("L4.Weights.npy", npy_header((size, 36)) + b"\0" * 64))
    elif kind == "extra":
        arrays["L1.Extra" + str(size % 7)] = np.zeros(3, np.float32)
    elif kind == "traversal":
        raw.append((name, npy_header((1,)) + b"\0" * 4))
    elif kind == "object":
        del arrays["L1.Bias"]
        raw.append(("L1.Bias.npy", npy_header((1,), "|O") + b"\0" * 8))
    elif kind == "bomb":  # declares more than MaxFileSize once unpacked
        path = str(folder / "h.npz")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("__minidl__.npy", b"\0" * (2 ** 20))
            info = zipfile.ZipInfo("L9.Big.npy")
            with archive.open(info, "w", force_zip64=True) as stream:
                for _ in range(4):
                    stream.write(b"\0" * (size % (2 ** 24) + 2 ** 20))
        with pytest.raises(ModelFileError):
            minidl.load(path, MaxFileSize=2 ** 21)
        return
    else:
        del arrays[sorted(arrays)[size % len(arrays)]]
    only_model_file_error(write_members(folder, json.dumps(header), arrays, raw))
