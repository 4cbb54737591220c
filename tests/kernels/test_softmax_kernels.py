"""Softmax and fused softmax + cross-entropy kernels: Numba vs NumPy twin (also without
JIT), the gradient by finite differences, MATLAB's loss, stability, NaN, out= arguments,
and bit-identical results under any thread count."""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_cases import assert_close, check_without_jit_and_under_one_and_two_threads
from minidl.kernels import reference_pool as ref
from minidl.kernels import softmax as sk

# (N, K): the classification head's size, one class, one row, and several row blocks
# (sk.BLOCK // K rows each) with a partial last block.
SHAPES = [(128, 10), (5, 1), (1, 3), (7, 2), (3000, 7), (200, 1000)]


def _case(shape, dtype, seed=0, spread=5.0):
    """Logits and one-hot targets of ``dtype``."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * spread).astype(dtype)
    t = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])]
    return z, t


def _check(z, t):
    dtype = z.dtype
    p = sk.softmax_forward(z)
    assert p.dtype == dtype and p.shape == z.shape
    assert_close(p, ref.softmax_forward(z), dtype)
    loss, probs, grad = sk.softmax_cross_entropy(z, t)
    loss_r, probs_r, grad_r = ref.softmax_cross_entropy(z, t)
    assert isinstance(loss, float)
    assert probs.dtype == grad.dtype == dtype
    # float32 data: exp runs in float32, so the loss is good to float32 precision.
    np.testing.assert_allclose(loss, loss_r, rtol=1e-12 if dtype == np.float64 else 1e-6,
                               atol=1e-12 if dtype == np.float64 else 1e-6)
    assert_close(probs, probs_r, dtype)
    assert_close(grad * z.shape[0], grad_r * z.shape[0], dtype)


@pytest.fixture(scope="module", autouse=True)
def softmax_warm():
    """Compile (or load from Numba's cache) every softmax kernel once: float32 and float64,
    one block and several."""
    for dtype in (np.float32, np.float64):
        for shape in ((2, 3), (sk.BLOCK, 2)):
            _check(*_case(shape, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_match_twins(shape, dtype):
    _check(*_case(shape, dtype))


@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 300), k=st.integers(1, 40), double=st.booleans(),
       seed=st.integers(0, 2**31), spread=st.floats(0.0, 50.0), soft=st.booleans())
def test_kernels_match_twins_random(n, k, double, seed, spread, soft):
    z, t = _case((n, k), np.float64 if double else np.float32, seed, spread)
    if soft:  # probability-vector targets, some entries zero
        rng = np.random.default_rng(seed)
        t = t + rng.random((n, k)) * (rng.random((n, k)) < 0.5)
        t = (t / t.sum(axis=1, keepdims=True)).astype(z.dtype)
    _check(z, t)


def test_gradient_matches_finite_differences():
    z, t = _case((6, 5), np.float64, seed=3)
    t[1] = [0.2, 0.0, 0.5, 0.3, 0.0]  # a soft target row: still sums to 1
    _, _, grad = sk.softmax_cross_entropy(z, t)
    numeric = np.zeros_like(z)
    h = 1e-6
    for i in np.ndindex(z.shape):
        plus, minus = z.copy(), z.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (sk.softmax_cross_entropy(plus, t)[0] - sk.softmax_cross_entropy(minus, t)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ref.softmax_cross_entropy(z, t)[2], numeric, rtol=1e-6, atol=1e-9)


def test_loss_is_matlab_crossentropy_of_the_softmax():
    """-(1/N) sum T log(softmax(z)), as MATLAB's classificationLayer computes it."""
    z, t = _case((16, 4), np.float64, seed=6, spread=2.0)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss, probs, _ = sk.softmax_cross_entropy(z, t)
    np.testing.assert_allclose(loss, -np.sum(t * np.log(p)) / 16, rtol=1e-13)
    np.testing.assert_allclose(probs, p, rtol=1e-13)
    assert sk.softmax_cross_entropy(np.zeros((3, 4)), np.eye(4)[:3])[0] == pytest.approx(np.log(4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_logits_are_stable_and_need_no_clamp(dtype):
    z = np.array([[1e4, 0.0, -1e4], [500.0, 600.0, 550.0]], dtype)
    t = np.array([[0, 1, 0], [1, 0, 0]], dtype)
    loss, probs, grad = sk.softmax_cross_entropy(z, t)
    assert np.all(np.isfinite(probs)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    # Row 0's target has probability exp(-1e4): the loss is its full log, unclamped.
    want = (1e4 + (100 + np.log1p(np.exp(-100) + np.exp(-50)))) / 2
    np.testing.assert_allclose(loss, want, rtol=1e-6)
    np.testing.assert_allclose(sk.softmax_forward(z), probs, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_logits_give_a_nan_loss(dtype):
    z, t = _case((4, 5), dtype, seed=2)
    for where in [(0, 0), (2, 3), (3, 4)]:
        bad = z.copy()
        bad[where] = np.nan
        loss, probs, grad = sk.softmax_cross_entropy(bad, t)
        assert np.isnan(loss)
        assert np.isnan(probs[where[0]]).all() and np.isnan(grad[where[0]]).all()
        assert np.isnan(sk.softmax_forward(bad)[where[0]]).all()
    zero_row = t.copy()
    zero_row[1] = 0  # not a valid target row, but NaN must still surface
    bad = z.copy()
    bad[1, 2] = np.nan
    assert np.isnan(sk.softmax_cross_entropy(bad, zero_row)[0])


def test_minus_inf_logit_on_a_non_target_class_costs_nothing():
    z = np.array([[2.0, -np.inf, 0.0]])
    loss, probs, grad = sk.softmax_cross_entropy(z, np.array([[1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(loss, np.log1p(np.exp(-2.0)), rtol=1e-14)
    assert probs[0, 1] == 0 and grad[0, 1] == 0


def test_out_arguments_are_filled_and_returned():
    z, t = _case((9, 4), np.float32, seed=8)
    probs, grad = np.full_like(z, 7), np.full_like(z, 7)
    loss, p, g = sk.softmax_cross_entropy(z, t, out_probs=probs, out_grad=grad)
    assert p is probs and g is grad
    loss_r, probs_r, grad_r = ref.softmax_cross_entropy(z, t)
    assert_close(probs, probs_r, np.float32)
    assert_close(grad * 9, grad_r * 9, np.float32)
    out = np.empty_like(z)
    assert sk.softmax_forward(z, out=out) is out
    assert_close(out, probs_r, np.float32)


def _no_jit_checks():
    sk.BLOCK = 64  # several row blocks even for small inputs (read at call time)
    for shape in [(13, 10), (5, 1), (40, 7)]:
        for dtype in (np.float32, np.float64):
            _check(*_case(shape, dtype))
    return "ok"


def _digest():
    """SHA-256 of every kernel's outputs, with one and with several row blocks."""
    h = hashlib.sha256()
    for shape in [(128, 10), (20000, 10), (300, 1000)]:
        for dtype in (np.float32, np.float64):
            z, t = _case(shape, dtype, seed=shape[0], spread=4.0)
            loss, probs, grad = sk.softmax_cross_entropy(z, t)
            h.update(np.float64(loss).tobytes())
            for arr in (probs, grad, sk.softmax_forward(z)):
                h.update(arr.tobytes())
    return h.hexdigest()


def test_twins_without_jit_and_bit_identity_under_one_and_two_threads(run_in_subprocess):
    check_without_jit_and_under_one_and_two_threads(run_in_subprocess)
