"""Pooling kernels: Numba vs NumPy twin (also without JIT), finite-difference gradients of
the twins, ties, NaN propagation, out= arguments, and bit-identical results under any
thread count."""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_cases import assert_close, check_without_jit_and_under_one_and_two_threads
from minidl.kernels import pooling as pk
from minidl.kernels import reference_pool as ref

# (shape, pool, stride, pads (top, bottom, left, right)): disjoint 2x2 windows (even and
# odd sizes: max_pool2d_predict's own kernel, by rows or along the plane), overlapping
# windows with 'same'-style padding, asymmetric pads, stride > pool, 1x1 pools, N = 1,
# a window as large as the plane, and padded 2x2 pools (whole block plus clipped border).
CASES = [((2, 3, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0)),
         ((1, 2, 7, 9), (3, 3), (1, 1), (1, 1, 1, 1)),
         ((2, 2, 9, 8), (3, 2), (2, 1), (1, 0, 0, 1)),
         ((3, 2, 10, 11), (2, 3), (3, 4), (0, 1, 2, 0)),
         ((2, 3, 5, 6), (1, 1), (1, 1), (0, 0, 0, 0)),
         ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),
         ((1, 2, 5, 5), (5, 5), (1, 1), (0, 0, 0, 0)),
         ((2, 2, 6, 7), (2, 2), (1, 2), (1, 1, 0, 1)),
         ((2, 2, 33, 35), (3, 3), (2, 2), (1, 1, 1, 1)),
         ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0, 0, 0))]


def _data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _check_all(x, pool, stride, pads, seed=1):
    """Every pooling kernel against its twin on x."""
    dtype = x.dtype
    out, argmax = pk.max_pool2d_forward(x, pool, stride, pads)
    out_r, argmax_r = ref.max_pool2d_forward(x, pool, stride, pads)
    assert out.dtype == dtype and argmax.dtype == np.int32 and out.shape == out_r.shape
    np.testing.assert_array_equal(out, out_r)  # a max is exact
    np.testing.assert_array_equal(argmax, argmax_r)
    np.testing.assert_array_equal(pk.max_pool2d_predict(x, pool, stride, pads), out)
    dz = _data(out.shape, dtype, seed)
    dx = pk.max_pool2d_backward(dz, argmax, x.shape)
    assert dx.dtype == dtype and dx.shape == x.shape
    assert_close(dx, ref.max_pool2d_backward(dz, argmax, x.shape), dtype)
    for count_padding in (True, False):
        avg = pk.avg_pool2d_forward(x, pool, stride, pads, count_padding)
        assert avg.dtype == dtype
        assert_close(avg, ref.avg_pool2d_forward(x, pool, stride, pads, count_padding), dtype)
        dxa = pk.avg_pool2d_backward(dz, x.shape, pool, stride, pads, count_padding)
        assert dxa.dtype == dtype and dxa.shape == x.shape
        assert_close(dxa, ref.avg_pool2d_backward(dz, x.shape, pool, stride, pads, count_padding),
                     dtype)
    gap = pk.global_avg_pool_forward(x)
    assert gap.shape == (*x.shape[:2], 1, 1) and gap.dtype == dtype
    assert_close(gap, ref.global_avg_pool_forward(x), dtype)
    dg = _data(gap.shape, dtype, seed + 1)
    assert_close(pk.global_avg_pool_backward(dg, x.shape), ref.global_avg_pool_backward(dg, x.shape),
                 dtype)


@pytest.fixture(scope="module", autouse=True)
def pool_warm():
    """Compile (or load from Numba's cache) every pooling kernel once: float32 and float64."""
    for dtype in (np.float32, np.float64):
        _check_all(_data((1, 1, 3, 3), dtype), (2, 2), (1, 1), (0, 1, 1, 0))


# ---------------------------------------------------------------- kernel vs twin

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,pool,stride,pads", CASES)
def test_kernels_match_twins(shape, pool, stride, pads, dtype):
    _check_all(_data(shape, dtype), pool, stride, pads)


@st.composite
def _geometry(draw):
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pads = (draw(st.integers(0, ph - 1)), draw(st.integers(0, ph - 1)),
            draw(st.integers(0, pw - 1)), draw(st.integers(0, pw - 1)))
    H = draw(st.integers(max(1, ph - pads[0] - pads[1]), 12))
    W = draw(st.integers(max(1, pw - pads[2] - pads[3]), 12))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W)
    return shape, (ph, pw), (draw(st.integers(1, 4)), draw(st.integers(1, 4))), pads


@settings(deadline=None, max_examples=25)
@given(geometry=_geometry(), double=st.booleans(), seed=st.integers(0, 2**31),
       ties=st.booleans())
def test_kernels_match_twins_random(geometry, double, seed, ties):
    shape, pool, stride, pads = geometry
    x = _data(shape, np.float64 if double else np.float32, seed)
    if ties:
        x = np.round(x)  # many equal values: the first in window order must win
    _check_all(x, pool, stride, pads, seed)


# ---------------------------------------------------------------- semantics

def test_ties_go_to_the_first_in_window_order_and_padding_never_wins():
    x = np.array([[[[1, 3, 3], [-np.inf, -np.inf, 0], [-np.inf, -np.inf, -np.inf]]]], np.float32)
    out, argmax = pk.max_pool2d_forward(x, (2, 2), (1, 1), (1, 0, 1, 0))
    np.testing.assert_array_equal(out[0, 0], [[1, 3, 3], [1, 3, 3], [-np.inf, -np.inf, 0]])
    # All -inf windows (bottom left) point at their first input element, never at padding.
    np.testing.assert_array_equal(argmax[0, 0], [[0, 1, 1], [0, 1, 1], [3, 3, 5]])
    np.testing.assert_array_equal(argmax, ref.max_pool2d_forward(x, (2, 2), (1, 1), (1, 0, 1, 0))[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4, 8, 10), (2, 3, 9, 7), (1, 2, 2, 3)])
def test_2x2_stride_2_kernel_keeps_the_first_winner(shape, dtype):
    """The 2x2 stride-2 kernel (training with argmax, and inference): ties (0.0 before -0.0,
    equal numbers) and NaN give the value and position of the first winner in window order,
    bit for bit those of the general window kernel and the twin."""
    rng = np.random.default_rng(7)
    x = rng.choice(np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan], dtype), shape,
                   p=[.25, .25, .2, .1, .05, .1, .05])
    geometry = ((2, 2), (2, 2), (0, 0, 0, 0))
    out, argmax = pk.max_pool2d_forward(x, *geometry)
    general, general_arg = np.empty_like(out), np.empty_like(argmax)
    pk._pool(pk._planes(x), pk._planes(general), pk._planes(general_arg), 2, 2, 2, 2, 0, 0, True, pk.MAX_ARG)
    assert out.tobytes() == general.tobytes()
    np.testing.assert_array_equal(argmax, general_arg)
    np.testing.assert_array_equal(argmax, ref.max_pool2d_forward(x, *geometry)[1])
    got = pk.max_pool2d_predict(x, *geometry)
    assert got.tobytes() == out.tobytes()
    np.testing.assert_array_equal(got, ref.max_pool2d_predict(x, *geometry))
    assert np.signbit(got).tobytes() == np.signbit(ref.max_pool2d_predict(x, *geometry)).tobytes()


def test_count_padding_sets_the_divisor():
    x = np.ones((1, 1, 2, 2), np.float32)
    counted = pk.avg_pool2d_forward(x, (2, 2), (1, 1), (1, 1, 1, 1), True)
    np.testing.assert_array_equal(counted[0, 0], [[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]])
    mean = pk.avg_pool2d_forward(x, (2, 2), (1, 1), (1, 1, 1, 1), False)
    np.testing.assert_array_equal(mean, np.ones((1, 1, 3, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_propagates_and_its_gradient_flows_to_it(dtype):
    x = _data((2, 2, 6, 6), dtype, seed=4)
    x[0, 0, 1, 1] = np.nan          # window (0, 0) of the 2x2 / stride-2 pooling
    x[1, 1, 4, 5] = x[1, 1, 5, 4] = np.nan   # two NaNs in window (2, 2): the first wins
    x[1, 1, 5, 5] = 1e30
    out, argmax = pk.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0))
    assert np.isnan(out[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1 * 6 + 1
    assert np.isnan(out[1, 1, 2, 2]) and argmax[1, 1, 2, 2] == 4 * 6 + 5
    assert np.isnan(out).sum() == 2
    assert np.isnan(pk.max_pool2d_predict(x, (2, 2), (2, 2), (0, 0, 0, 0))).sum() == 2
    dx = pk.max_pool2d_backward(np.ones_like(out), argmax, x.shape)
    assert dx[0, 0, 1, 1] == 1 and dx[1, 1, 4, 5] == 1 and dx[1, 1, 5, 5] == 0
    np.testing.assert_array_equal(argmax, ref.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0))[1])
    # Overlapping windows: every window holding the NaN outputs NaN.
    assert np.isnan(pk.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1, 1, 1))[0][0, 0, :3, :3]).all()
    assert np.isnan(pk.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), True)[0, 0, 0, 0])
    assert np.isnan(pk.global_avg_pool_forward(x)[0, 0, 0, 0])


def test_out_arguments_are_filled_and_returned():
    x = _data((2, 3, 7, 6), np.float32)
    geometry = ((3, 2), (2, 2), (1, 1, 0, 0))
    out, argmax = np.full((2, 3, 4, 3), 7, np.float32), np.full((2, 3, 4, 3), 7, np.int32)
    got = pk.max_pool2d_forward(x, *geometry, out=out, argmax=argmax)
    assert got[0] is out and got[1] is argmax
    want = ref.max_pool2d_forward(x, *geometry)
    np.testing.assert_array_equal(out, want[0])
    np.testing.assert_array_equal(argmax, want[1])
    dx = np.full(x.shape, 7, np.float32)
    assert pk.max_pool2d_backward(out, argmax, x.shape, out=dx) is dx
    assert_close(dx, ref.max_pool2d_backward(out, argmax, x.shape), np.float32)
    assert pk.max_pool2d_predict(x, *geometry, out=np.empty_like(out)).shape == out.shape
    assert pk.avg_pool2d_forward(x, *geometry, False, out=out) is out
    assert pk.avg_pool2d_backward(out, x.shape, *geometry, False, out=dx) is dx
    assert_close(dx, ref.avg_pool2d_backward(out, x.shape, *geometry, False), np.float32)
    g = np.empty((2, 3, 1, 1), np.float32)
    assert pk.global_avg_pool_forward(x, out=g) is g
    assert pk.global_avg_pool_backward(g, x.shape, out=dx) is dx
    assert_close(dx, ref.global_avg_pool_backward(g, x.shape), np.float32)


# ---------------------------------------------------------------- gradients of the twins

def _numeric_gradient(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (f(plus) - f(minus)) / (2 * h)
    return grad


@pytest.mark.parametrize("shape,pool,stride,pads", [CASES[1], CASES[2], CASES[3], CASES[7]])
def test_backward_twins_match_finite_differences(shape, pool, stride, pads):
    """Loss sum(R*Z) with random R; distinct inputs (no ties) so that max is smooth."""
    rng = np.random.default_rng(5)
    x = rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) / 7
    out, argmax = ref.max_pool2d_forward(x, pool, stride, pads)
    R = rng.standard_normal(out.shape)

    def max_loss(v):
        return float(np.sum(R * ref.max_pool2d_forward(v, pool, stride, pads)[0]))

    numeric = _numeric_gradient(max_loss, x)
    np.testing.assert_allclose(ref.max_pool2d_backward(R, argmax, shape), numeric, atol=1e-7)
    np.testing.assert_allclose(pk.max_pool2d_backward(R, argmax, shape), numeric, atol=1e-7)
    for count_padding in (True, False):
        def avg_loss(v):
            return float(np.sum(R * ref.avg_pool2d_forward(v, pool, stride, pads, count_padding)))

        numeric = _numeric_gradient(avg_loss, x)
        np.testing.assert_allclose(ref.avg_pool2d_backward(R, shape, pool, stride, pads, count_padding),
                                   numeric, atol=1e-7)
    Rg = rng.standard_normal((*shape[:2], 1, 1))
    numeric = _numeric_gradient(lambda v: float(np.sum(Rg * ref.global_avg_pool_forward(v))), x)
    np.testing.assert_allclose(ref.global_avg_pool_backward(Rg, shape), numeric, atol=1e-7)


# ---------------------------------------------------------------- without JIT, threads

def _no_jit_checks():
    for shape, pool, stride, pads in CASES[:5] + CASES[7:8] + CASES[9:]:
        for dtype in (np.float32, np.float64):
            _check_all(_data(shape, dtype), pool, stride, pads)
    return "ok"


def _digest():
    """SHA-256 of every kernel's outputs on inputs large enough to keep two threads busy."""
    h = hashlib.sha256()
    rng = np.random.default_rng(2024)
    for shape, pool, stride, pads in [((16, 8, 28, 28), (2, 2), (2, 2), (0, 0, 0, 0)),
                                      ((4, 5, 31, 30), (3, 3), (1, 1), (1, 1, 1, 1)),
                                      ((3, 7, 20, 21), (3, 2), (2, 3), (0, 1, 1, 0))]:
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal(shape).astype(dtype)
            out, argmax = pk.max_pool2d_forward(x, pool, stride, pads)
            dz = rng.standard_normal(out.shape).astype(dtype)
            arrays = [out, argmax, pk.max_pool2d_predict(x, pool, stride, pads),
                      pk.max_pool2d_backward(dz, argmax, x.shape), pk.global_avg_pool_forward(x),
                      pk.global_avg_pool_backward(dz[:, :, :1, :1].copy(), x.shape)]
            for count_padding in (True, False):
                arrays.append(pk.avg_pool2d_forward(x, pool, stride, pads, count_padding))
                arrays.append(pk.avg_pool2d_backward(dz, x.shape, pool, stride, pads, count_padding))
            for arr in arrays:
                h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def test_twins_without_jit_and_bit_identity_under_one_and_two_threads(run_in_subprocess):
    check_without_jit_and_under_one_and_two_threads(run_in_subprocess)
