"""Element-wise kernels (add, add + ReLU, ReLU gradient): Numba vs NumPy twin (also
without JIT), NaN and infinities as NumPy gives them, out= aliasing, and bit-identical
results under one and two threads."""
import hashlib

import numpy as np
import pytest

from kernel_cases import assert_close, check_without_jit_and_under_one_and_two_threads
from minidl.kernels import elementwise as ew
from minidl.kernels import reference as ref

SHAPES = [(3, 4, 5, 6), (2, 3, 8, 7), (70001,), (2, 3), (1,)]


def _pair(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


def _check(shape, dtype):
    a, b = _pair(shape, dtype, seed=len(shape))
    for relu in (False, True):
        got = ew.add(a, b, relu=relu)
        assert got.dtype == dtype and got.shape == a.shape
        assert_close(got, ref.add(a, b, relu=relu), dtype)
        np.testing.assert_array_equal(got, np.maximum(a + b, 0) if relu else a + b)   # NumPy's own sum
    if a.ndim == 4:
        for relu in (False, True):
            pooled = ew.add_max_pool(a, b, relu=relu)
            assert pooled.dtype == dtype and pooled.shape == a.shape[:2] + (a.shape[2] // 2, a.shape[3] // 2)
            assert_close(pooled, ref.add_max_pool(a, b, relu=relu), dtype)
    z = np.maximum(a, 0)
    got = ew.relu_backward(b, z)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ref.relu_backward(b, z))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_match_twins(shape, dtype):
    _check(shape, dtype)


def test_non_finite_values_are_numpys():
    """NaN stays NaN through add and its ReLU (never 0); -inf + inf is NaN; the gradient is
    dz * [z > 0] exactly as NumPy multiplies it (0 * inf = NaN)."""
    a = np.array([np.nan, 1, -np.inf, np.inf, -2, 3], np.float32)
    b = np.array([1, np.nan, np.inf, 1, 1, -3], np.float32)
    with np.errstate(invalid="ignore"):
        want = np.maximum(a + b, 0)
    got = ew.add(a, b, relu=True)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[:3]).all() and got[3] == np.inf and got[4] == 0 and got[5] == 0
    dz = np.array([np.inf, 2, np.nan, 1, 5, -1], np.float32)
    z = np.array([0, np.nan, 1, 2, 0, 1], np.float32)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(ew.relu_backward(dz, z), dz * (z > 0))


def test_add_max_pool_keeps_nan():
    """A NaN in either input makes its 2x2 block NaN, with the ReLU too (never 0)."""
    a, b = _pair((2, 3, 6, 5), np.float32)
    a[1, 2, 3, 1] = np.nan
    b[0, 0, 0, 0] = np.nan
    for relu in (False, True):
        got = ew.add_max_pool(a, b, relu=relu)
        want = ref.add_max_pool(a, b, relu=relu)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        assert np.isnan(got).sum() == 2


def test_out_may_be_an_input():
    a, b = _pair((5, 7), np.float32)
    want = np.maximum(a + b, 0)
    assert ew.add(a, b, relu=True, out=a) is a
    np.testing.assert_array_equal(a, want)
    with pytest.raises(ValueError, match="out must be a C-contiguous float32 array of shape"):
        ew.add(a, b, out=np.empty((5, 7)))


def _no_jit_checks():
    for shape in SHAPES:
        for dtype in (np.float32, np.float64):
            _check(shape, dtype)
    return "ok"


def _digest():
    h = hashlib.sha256()
    for dtype in (np.float32, np.float64):
        a, b = _pair((9, 16, 31, 33), dtype, seed=3)
        for arr in (ew.add(a, b), ew.add(a, b, relu=True), ew.relu_backward(a, b), ew.add_max_pool(a, b, True)):
            h.update(arr.tobytes())
    return h.hexdigest()


def test_twins_without_jit_and_bit_identity_under_one_and_two_threads(run_in_subprocess):
    check_without_jit_and_under_one_and_two_threads(run_in_subprocess)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_matches_its_twin_and_known_values(dtype):
    x = np.random.default_rng(3).standard_normal((3, 4, 5)).astype(dtype) * 3
    np.testing.assert_allclose(ew.erf(x), ref.erf(x), rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(ew.erf(np.array([0.0, 1.0, -np.inf, np.inf])), [0.0, 0.8427007929497149, -1, 1])
    assert np.isnan(ew.erf(np.array([np.nan]))[0])
