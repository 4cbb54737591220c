"""Oracles of the argument sweep (argument_sweep.py): the hostile values, and for each kind of
argument a function saying whether a value must be accepted (True), must be refused (False)
or may be either (None)."""
import math
import numbers

import numpy as np

import minidl

HOSTILE = {
    "None": None, "'3'": "3", "'abc'": "abc", "''": "", "b'3'": b"3", "nan": math.nan, "inf": math.inf,
    "-inf": -math.inf, "-1": -1, "0": 0, "2.5": 2.5, "1e30": 1e30, "2**70": 2 ** 70, "True": True,
    "False": False, "[]": [], "empty array": np.zeros(0), "5-D array": np.zeros((2, 2, 2, 2, 2)),
    "1+2j": 1 + 2j, "complex array": np.array([1 + 2j, 3]), "object array": np.array([object(), 1], dtype=object),
    "object()": object(), "dict": {"a": 1}, "[-1, -2]": np.array([-1, -2]), "[nan, 1]": np.array([np.nan, 1.0]),
    "[1, 2, 3]": [1, 2, 3], "[2, 3]": [2, 3], "lambda": (lambda *a: None),
}

MAX_INT = 2 ** 31 - 1


def is_real(v):
    return isinstance(v, (numbers.Real, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def int_like(v, low=1, high=MAX_INT):
    return is_real(v) and math.isfinite(v) and float(v) == int(v) and low <= v <= high


def count(v):
    return True if int_like(v) else (None if isinstance(v, list) and len(v) == 1 else False)


def count_any(v):
    """A positive integer of any size (a batch size or an epoch count may exceed any data)."""
    return True if int_like(v, 1, math.inf) else (None if isinstance(v, list) and len(v) == 1 else False)


def count_or_auto(v):
    return True if isinstance(v, str) and v.lower() == "auto" else count(v)


def pair(v):
    if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) == 1 and len(v) in (1, 2):
        return all(int_like(x) for x in v)
    return bool(count(v))


def image_size(v):
    if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) == 1 and len(v) in (2, 3):
        return all(int_like(x) for x in v)
    return False


def padding(v):
    if isinstance(v, str):
        return v.lower() == "same"
    if int_like(v, 0):
        return True
    if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) == 1 and len(v) in (1, 2, 4):
        return all(int_like(x, 0) for x in v)
    return False


def real_in(low, high, high_open=False):
    def oracle(v):
        return is_real(v) and math.isfinite(v) and v >= low and (v < high if high_open else v <= high)
    return oracle


def name(v):
    return isinstance(v, str)


def one_of(*allowed):
    return lambda v: isinstance(v, str) and v.lower() in allowed


def initializer(*allowed):
    return lambda v: callable(v) or (isinstance(v, str) and v.lower() in allowed)


def absent_or(oracle):
    return lambda v: True if v is None else oracle(v)


def array_of(*sizes, vector=False):
    """A real, finite numeric array with one of ``sizes`` elements (empty: unset, either);
    with ``vector``, at most one dimension longer than 1."""
    def oracle(v):
        if v is None:
            return True
        try:
            a = np.asarray(v)
            if a.dtype.kind == "O" and a.size and all(map(is_real, a.flat)):
                a = a.astype(float)
        except Exception:
            return False
        if a.dtype.kind not in "iuf":
            return None if a.dtype.kind == "b" else False
        if a.size == 0:
            return None
        if vector and sum(d > 1 for d in a.shape) > 1:
            return False
        return a.size in sizes and bool(np.all(np.isfinite(a)) and np.all(np.abs(a) < 3e38))
    return oracle


def classes(v):
    if isinstance(v, str):
        return v.lower() == "auto" or None
    try:
        a = np.asarray(v)
    except Exception:
        return False
    if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "iuU":
        return False
    return len(np.unique(a)) == a.size


def boolean(v):
    return True if isinstance(v, (bool, np.bool_)) else (None if is_real(v) and v in (0, 1) else False)


def network(v):
    return isinstance(v, minidl.SeriesNetwork) or isinstance(v, minidl.DAGNetwork)


def lgraph(v):
    return isinstance(v, minidl.LayerGraph)


def empty_list(v):
    return isinstance(v, list) and not v


def never(v):
    return False


def _as_array(v):
    """``v`` as an array; an object array of real numbers as float (minidl converts those)."""
    a = np.asarray(v)
    if a.dtype.kind == "O" and a.size and all(map(is_real, a.flat)):
        a = a.astype(float)
    return a


def image_data(v):
    """Oracle for X of the 4×4×1 image network (hostile values from ``data_values``)."""
    try:
        a = _as_array(v)
    except Exception:
        return False
    if a.dtype.kind not in "iufb" or a.ndim != 4 or a.shape[:3] != (4, 4, 1):
        return False
    if a.dtype.kind == "b":
        return None
    return bool(np.all(np.abs(a[np.isfinite(a)]) < 3e38)) if a.size else True


def data_values(shape_of_one, n=3):
    """Hostile data arrays for a network whose observations have ``shape_of_one``
    (image H×W×C: observations last; features C: observations first)."""
    image = len(shape_of_one) == 3
    shape = (*shape_of_one, n) if image else (n, *shape_of_one)
    empty = (*shape_of_one, 0) if image else (0, *shape_of_one)
    wrong = (*shape_of_one[:-1], shape_of_one[-1] + 1, n) if image else (n, shape_of_one[0] + 1)
    return {"N=0": np.zeros(empty), "NaN-filled": np.full(shape, np.nan), "inf-filled": np.full(shape, np.inf),
            "1e300": np.full(shape, 1e300), "complex-filled": np.zeros(shape, complex),
            "object-filled": np.zeros(shape, object), "strings": np.full(shape, "a"),
            "bool-filled": np.zeros(shape, bool), "wrong channels": np.zeros(wrong),
            "5-D": np.zeros((*shape, 1, 2)), "int-filled": np.ones(shape, int), "nested lists": np.ones(shape).tolist()}



def train_data(v):
    """X for trainNetwork on the 3-feature network with 8 labels: finite, 8 rows."""
    try:
        a = _as_array(v)
    except Exception:
        return False
    if a.dtype.kind not in "iufb" or a.shape != (8, 3):
        return False
    return None if a.dtype.kind == "b" else bool(np.all(np.isfinite(a)) and np.all(np.abs(a) < 3e38))


def labels(v):
    try:
        a = np.asarray(v)
    except Exception:
        return False
    return a.shape == (8,) and a.dtype.kind in "iuU" or (None if a.shape == (8,) and a.dtype.kind == "b" else False)


def layer_list(v):
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, minidl.Layer) for x in v)


def layers_graph_or_net(v):
    """Layers, a LayerGraph or a network (no layers at all: a network error, either is fine)."""
    return None if empty_list(v) else v is not None and layers_or_graph(v)


def layers_or_graph(v):
    return True if v is None or isinstance(v, minidl.Layer) or (
        isinstance(v, list) and all(isinstance(x, minidl.Layer) for x in v)) else network(v) or False



def nonneg_int_or(*words):
    return lambda v: (isinstance(v, str) and v.lower() in words) or int_like(v, 0, 2 ** 32 - 1)


def string_list(v):
    if v is None or isinstance(v, str):
        return True
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return True
    return None if isinstance(v, (list, tuple)) else False
