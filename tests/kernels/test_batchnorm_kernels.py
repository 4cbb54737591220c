"""Batch-norm kernels: Numba vs NumPy twin, gradients, fused ReLU, Chan merge,
stability, and bit-identical results under any thread count."""

import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_cases import assert_close, kernel_data, run_python
from minidl.kernels import batchnorm as bn
from minidl.kernels import reference as ref

pytestmark = pytest.mark.usefixtures("bn_warm")

EPS = 1e-5

# Images: odd sizes, C = 1, a single element per channel, and channels of more than
# one chunk whose length is not a multiple of CHUNK (minidl/kernels/_bn_lanes.py). Features: one row, C = 1,
# and several row blocks with a partial last block.
SHAPES = [(2, 3, 4, 5), (3, 1, 7, 9), (1, 4, 1, 1), (5, 2, 41, 43), (3, 2, 64, 65),
          (7, 5), (1, 3), (300, 1), (2000, 33), (5000, 7)]

# ---------------------------------------------------------------- kernel vs twin

@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_match_twins(shape, dtype, relu):
    x, dy, scale, offset = kernel_data(shape, dtype)

    y, mean, var = bn.bn_forward_train(x, scale, offset, EPS, relu=relu)
    y_r, mean_r, var_r = ref.bn_forward_train(x, scale, offset, EPS, relu=relu)
    assert y.dtype == dtype and y.shape == shape and y.flags.c_contiguous
    assert mean.dtype == var.dtype == np.float64 and mean.shape == (shape[1],)
    assert_close(mean, mean_r, np.float64)
    assert_close(var, var_r, np.float64)
    assert_close(y, y_r, dtype)

    dx, dscale, doffset = bn.bn_backward(dy, x, mean, var, scale, offset, EPS, relu=relu)
    dx_r, dscale_r, doffset_r = ref.bn_backward(dy, x, mean, var, scale, offset, EPS, relu=relu)
    assert dx.dtype == dtype and dx.shape == shape
    assert dscale.dtype == doffset.dtype == np.float64
    assert_close(dx, dx_r, dtype)
    assert_close(dscale, dscale_r, np.float64)
    assert_close(doffset, doffset_r, np.float64)

    a, b = bn.bn_fold(scale, offset, mean, var, EPS)
    a_r, b_r = ref.bn_fold(scale, offset, mean, var, EPS)
    assert_close(a, a_r, np.float64)
    assert_close(b, b_r, np.float64)
    yi = bn.bn_inference(x, a, b, relu=relu)
    assert yi.dtype == dtype and yi.shape == shape
    assert_close(yi, ref.bn_inference(x, a, b, relu=relu), dtype)

    count, mean_s, m2 = bn.bn_stats(x)
    count_r, mean_sr, m2_r = ref.bn_stats(x)
    assert count == count_r == x.size // shape[1]
    assert_close(mean_s, mean_sr, np.float64)
    assert_close(m2, m2_r, np.float64)


@settings(deadline=None, max_examples=30)
@given(n=st.integers(1, 9), c=st.integers(1, 5), h=st.integers(1, 40), w=st.integers(1, 40),
       images=st.booleans(), double=st.booleans(), relu=st.booleans(),
       seed=st.integers(0, 2**31), loc=st.floats(-100, 100))
def test_kernels_match_twins_random(n, c, h, w, images, double, relu, seed, loc):
    shape = (n, c, h, w) if images else (n * h * w, c)
    dtype = np.float64 if double else np.float32
    x, dy, scale, offset = kernel_data(shape, dtype, seed, loc=loc)
    y, mean, var = bn.bn_forward_train(x, scale, offset, EPS, relu)
    y_r, mean_r, var_r = ref.bn_forward_train(x, scale, offset, EPS, relu)
    assert_close(mean, mean_r, np.float64)
    np.testing.assert_allclose(var, var_r, rtol=1e-9, atol=1e-12 * (1 + loc * loc))
    assert_close(y, y_r, dtype)
    dx, dscale, doffset = bn.bn_backward(dy, x, mean, var, scale, offset, EPS, relu)
    dx_r, dscale_r, doffset_r = ref.bn_backward(dy, x, mean, var, scale, offset, EPS, relu)
    assert_close(dx, dx_r, dtype)
    assert_close(dscale, dscale_r, np.float64)
    assert_close(doffset, doffset_r, np.float64)


_NO_JIT_SCRIPT = textwrap.dedent("""
    import numpy as np
    from minidl.kernels import batchnorm as bn, reference as ref
    from minidl.kernels import _bn_lanes as lanes, _bn_layouts as layouts
    # Without the JIT these are plain Python reading the globals at call time:
    # small chunks exercise multi-chunk merges, run pieces and both lane layouts.
    rng = np.random.default_rng(1)
    cases = [(3, 2, 5, 7), (9, 2, 2, 3), (2, 1, 3, 3), (23, 3), (4, 1)]
    for chunk, small_run, shape in [(c, s, x) for c in (16, 64) for s in (0, 256) for x in cases]:
        lanes.CHUNK, layouts.BLOCK, lanes.SMALL_RUN, layouts.SHORT_ROW = chunk, chunk // 2, small_run, small_run
        for dtype in (np.float32, np.float64):
            for relu in (False, True):
                x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
                dy = rng.standard_normal(shape).astype(dtype)
                C = shape[1]
                s, o = rng.uniform(0.5, 2, C), rng.standard_normal(C)
                tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-6)
                y, m, v = bn.bn_forward_train(x, s, o, 1e-5, relu)
                yr, mr, vr = ref.bn_forward_train(x, s, o, 1e-5, relu)
                for u, w in [(y, yr), (m, mr), (v, vr)]:
                    np.testing.assert_allclose(u, w, **tol)
                got = bn.bn_backward(dy, x, m, v, s, o, 1e-5, relu)
                want = ref.bn_backward(dy, x, m, v, s, o, 1e-5, relu)
                for u, w in zip(got, want):
                    np.testing.assert_allclose(u, w, **tol)
                a, b = bn.bn_fold(s, o, m, v, 1e-5)
                np.testing.assert_allclose(bn.bn_inference(x, a, b, relu),
                                           ref.bn_inference(x, a, b, relu), **tol)
                for u, w in zip(bn.bn_stats(x), ref.bn_stats(x)):
                    np.testing.assert_allclose(u, w, **tol)
    print("ok")
""")


def test_kernels_match_twins_without_jit():
    assert run_python(_NO_JIT_SCRIPT, NUMBA_DISABLE_JIT="1").strip() == "ok"


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", [(3, 2, 3, 4), (9, 3)])
def test_backward_matches_finite_differences(shape, relu):
    """Loss L = sum(G*y) with random G (sum(y) alone has a zero gradient through
    the normalization and would hide errors)."""
    x, G, scale, offset = kernel_data(shape, np.float64, seed=3)

    def loss(x, scale, offset):
        return float(np.sum(G * bn.bn_forward_train(x, scale, offset, EPS, relu)[0]))

    _, mean, var = bn.bn_forward_train(x, scale, offset, EPS, relu)
    dx, dscale, doffset = bn.bn_backward(G, x, mean, var, scale, offset, EPS, relu)
    h = 1e-6

    def numeric(arr, which):
        grad = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            args = [x, scale, offset]
            plus, minus = arr.copy(), arr.copy()
            plus[i] += h
            minus[i] -= h
            args[which] = plus
            lp = loss(*args)
            args[which] = minus
            grad[i] = (lp - loss(*args)) / (2 * h)
        return grad

    np.testing.assert_allclose(dx, numeric(x, 0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dscale, numeric(scale, 1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(doffset, numeric(offset, 2), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- fused ReLU

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 2, 41, 43), (2000, 33)])
def test_fused_relu_is_bitwise_unfused_bn_then_relu(shape, dtype):
    """Forward: y_fused == max(y, 0) exactly. Backward: bitwise equal to masking dy
    by (y > 0) and running the plain backward. The kernel masks on the float64
    pre-activation; y > 0 on the rounded output agrees unless a positive
    pre-activation underflows the output dtype (below 1e-45 in float32)."""
    x, dy, scale, offset = kernel_data(shape, dtype, seed=5)
    y, mean, var = bn.bn_forward_train(x, scale, offset, EPS)
    y_relu, mean_relu, var_relu = bn.bn_forward_train(x, scale, offset, EPS, relu=True)
    assert np.array_equal(y_relu, np.maximum(y, 0))
    assert np.array_equal(mean_relu, mean) and np.array_equal(var_relu, var)
    assert 0.2 < np.mean(y > 0) < 0.8

    fused = bn.bn_backward(dy, x, mean, var, scale, offset, EPS, relu=True)
    masked = np.where(y > 0, dy, 0).astype(dtype)
    unfused = bn.bn_backward(masked, x, mean, var, scale, offset, EPS)
    for f, u in zip(fused, unfused):
        assert f.tobytes() == u.tobytes()

    a, b = bn.bn_fold(scale, offset, mean, var, EPS)
    assert np.array_equal(bn.bn_inference(x, a, b, relu=True),
                          np.maximum(bn.bn_inference(x, a, b), 0))


# ---------------------------------------------------------------- statistics

@pytest.mark.parametrize("shape", [(7, 3, 5, 6), (5, 2, 41, 43), (301, 4)])
def test_chan_merge_of_two_parts_equals_whole(shape):
    x = kernel_data(shape, np.float64, seed=7, loc=50.0)[0]
    count, mean, m2 = bn.bn_stats(x)
    for cut in (1, shape[0] // 3, shape[0] - 1):
        merged = bn.chan_merge(*bn.bn_stats(x[:cut]), *bn.bn_stats(x[cut:]))
        assert merged[0] == count
        np.testing.assert_allclose(merged[1], mean, rtol=1e-13)
        np.testing.assert_allclose(merged[2], m2, rtol=1e-11)
        twin = ref.chan_merge(*ref.bn_stats(x[:cut]), *ref.bn_stats(x[cut:]))
        for u, w in zip(merged, twin):
            np.testing.assert_allclose(u, w, rtol=1e-11)


def test_chan_merge_into_empty_and_batch_by_batch():
    """The population pass: start from count 0 and merge batches (the last one
    partial); the result is the biased variance over everything."""
    x = kernel_data((50, 3, 4, 4), np.float32, seed=8, loc=-3.0)[0]
    C = x.shape[1]
    count, mean, m2 = 0, np.zeros(C), np.zeros(C)
    first = bn.bn_stats(x[:16])
    once = bn.chan_merge(count, mean, m2, *first)
    assert once[0] == first[0]
    assert np.array_equal(once[1], first[1]) and np.array_equal(once[2], first[2])
    for start in range(0, 50, 16):
        count, mean, m2 = bn.chan_merge(count, mean, m2, *bn.bn_stats(x[start:start + 16]))
    xd = x.astype(np.float64)
    assert count == 50 * 16
    np.testing.assert_allclose(mean, xd.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(m2 / count, xd.var(axis=(0, 2, 3)), rtol=1e-11)


def test_forward_statistics_are_biased_and_consistent_with_stats():
    x = kernel_data((4, 3, 5, 5), np.float64, seed=9)[0]
    _, mean, var = bn.bn_forward_train(x, np.ones(3), np.zeros(3), EPS)
    count, mean_s, m2 = bn.bn_stats(x)
    np.testing.assert_array_equal(mean, mean_s)
    np.testing.assert_allclose(var, m2 / count, rtol=1e-15)
    np.testing.assert_allclose(var, x.var(axis=(0, 2, 3), ddof=0), rtol=1e-12)


# ---------------------------------------------------------------- stability

@pytest.mark.parametrize("shape", [(16, 3, 30, 30), (6000, 3)])
def test_float32_large_mean_small_spread_is_stable(shape):
    """mean 1e4, std 0.1: E[x^2] - E[x]^2 in float32 or even float64 would lose
    most digits; the two-pass, chunked statistics do not."""
    rng = np.random.default_rng(11)
    x = (1e4 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
    C = shape[1]
    scale, offset = np.full(C, 1.5), np.full(C, 0.25)
    y, mean, var = bn.bn_forward_train(x, scale, offset, EPS)
    y64, mean64, var64 = ref.bn_forward_train(x.astype(np.float64), scale, offset, EPS)
    np.testing.assert_allclose(y, y64, atol=1e-3)
    np.testing.assert_allclose(var, var64, rtol=1e-9)
    a, b = bn.bn_fold(scale, offset, mean, var, EPS)
    np.testing.assert_allclose(bn.bn_inference(x, a, b), y64, atol=1e-3)


@pytest.mark.parametrize("shape", [(4, 2, 9, 9), (100, 2)])
def test_constant_channel_gives_offset(shape):
    x = np.empty(shape, np.float32)
    x[:, 0] = 1234.567
    x[:, 1] = -0.1
    offset = np.array([0.5, -2.0])
    y, mean, var = bn.bn_forward_train(x, np.array([3.0, 0.7]), offset, EPS)
    assert np.all(var == 0)
    expected = offset.reshape((1, 2) + (1,) * (x.ndim - 2)).astype(np.float32)
    assert np.array_equal(y, np.broadcast_to(expected, shape))
    dx = bn.bn_backward(np.ones_like(x), x, mean, var, np.ones(2), offset, EPS)[0]
    assert np.all(np.isfinite(dx))


# ---------------------------------------------------------------- determinism

_HASH_SCRIPT = textwrap.dedent("""
    import hashlib
    import numpy as np
    from minidl.kernels import batchnorm as bn
    h = hashlib.sha256()
    rng = np.random.default_rng(2024)
    for shape in [(8, 3, 64, 64), (3, 1, 100, 111), (20000, 5)]:
        for dtype in (np.float32, np.float64):
            x = (rng.standard_normal(shape) * 5 + 3).astype(dtype)
            dy = rng.standard_normal(shape).astype(dtype)
            C = shape[1]
            s, o = rng.uniform(0.5, 2, C), rng.standard_normal(C)
            for relu in (False, True):
                y, m, v = bn.bn_forward_train(x, s, o, 1e-5, relu)
                dx, ds, do = bn.bn_backward(dy, x, m, v, s, o, 1e-5, relu)
                a, b = bn.bn_fold(s, o, m, v, 1e-5)
                yi = bn.bn_inference(x, a, b, relu)
                for arr in (y, m, v, dx, ds, do, yi, *bn.bn_stats(x)[1:]):
                    h.update(np.ascontiguousarray(arr).tobytes())
    print(h.hexdigest())
""")


def test_bit_identical_across_thread_counts_and_runs():
    one = run_python(_HASH_SCRIPT, NUMBA_NUM_THREADS="1")
    two = run_python(_HASH_SCRIPT, NUMBA_NUM_THREADS="2")
    again = run_python(_HASH_SCRIPT, NUMBA_NUM_THREADS="2")
    assert one == two == again and len(one.strip()) == 64


@pytest.mark.parametrize("shape", [(9, 7, 5, 6), (3, 5, 20, 20), (2, 3, 130, 131)])
def test_task_grouping_does_not_change_a_bit(shape):
    """The channels-per-task count follows the thread count; the chunks and their
    arithmetic must not."""
    x, dy, scale, offset = kernel_data(shape, np.float32, seed=13)
    N, C, H, W = shape
    xf, gf = x.reshape(-1), dy.reshape(-1)
    mean, m2 = bn._moments_nchw(xf, N, C, H * W, 1)
    var = m2 / (N * H * W)
    sums = bn._backward_nchw(gf, xf, N, C, H * W, mean, var, scale, offset, EPS, True,
                             np.empty_like(xf), 1)
    for G in range(2, C + 1):
        m, q = bn._moments_nchw(xf, N, C, H * W, G)
        assert m.tobytes() == mean.tobytes() and q.tobytes() == m2.tobytes()
        got = bn._backward_nchw(gf, xf, N, C, H * W, mean, var, scale, offset, EPS, True,
                                np.empty_like(xf), G)
        assert all(u.tobytes() == w.tobytes() for u, w in zip(got, sums))


def test_repeated_calls_are_bit_identical():
    x, dy, scale, offset = kernel_data((4, 3, 70, 70), np.float32, seed=12)
    first = bn.bn_forward_train(x, scale, offset, EPS)
    back = bn.bn_backward(dy, x, first[1], first[2], scale, offset, EPS)
    for _ in range(3):
        for u, w in zip(bn.bn_forward_train(x, scale, offset, EPS), first):
            assert u.tobytes() == w.tobytes()
        for u, w in zip(bn.bn_backward(dy, x, first[1], first[2], scale, offset, EPS), back):
            assert u.tobytes() == w.tobytes()


# ---------------------------------------------------------------- out= and NaN

def _calls(x, dy, scale, offset, relu):
    """Each public kernel writing an x-sized array, as f(out) -> its result tuple."""
    _, mean, var = bn.bn_forward_train(x, scale, offset, EPS)
    a, b = bn.bn_fold(scale, offset, mean, var, EPS)
    return {
        "forward": lambda out: bn.bn_forward_train(x, scale, offset, EPS, relu, out=out),
        "backward": lambda out: bn.bn_backward(dy, x, mean, var, scale, offset, EPS, relu, out=out),
        "inference": lambda out: (bn.bn_inference(x, a, b, relu, out=out),)}


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", [(3, 4, 9, 10), (5, 2, 41, 43), (2000, 33)])
def test_out_receives_the_result_and_is_returned(shape, relu):
    x, dy, scale, offset = kernel_data(shape, np.float32, seed=14)
    for name, call in _calls(x, dy, scale, offset, relu).items():
        fresh = call(None)
        out = np.full(shape, np.nan, np.float32)
        given = call(out)
        assert given[0] is out, name
        for u, w in zip(given, fresh):
            assert u.tobytes() == w.tobytes(), name
        again = call(out)                  # a used buffer: nothing depends on its old contents
        assert again[0] is out and out.tobytes() == fresh[0].tobytes(), name


@pytest.mark.parametrize("shape", [(3, 4, 9, 10), (2000, 33)])
def test_out_may_be_the_input(shape):
    """In place: every element is read before its own output is written."""
    x, dy, scale, offset = kernel_data(shape, np.float64, seed=15)
    y, mean, var = bn.bn_forward_train(x, scale, offset, EPS, True)
    dx = bn.bn_backward(dy, x, mean, var, scale, offset, EPS, True)[0]
    a, b = bn.bn_fold(scale, offset, mean, var, EPS)
    yi = bn.bn_inference(x, a, b, True)
    x1, x2, g = x.copy(), x.copy(), dy.copy()
    assert bn.bn_forward_train(x1, scale, offset, EPS, True, out=x1)[0].tobytes() == y.tobytes()
    assert bn.bn_backward(g, x, mean, var, scale, offset, EPS, True, out=g)[0].tobytes() == dx.tobytes()
    assert bn.bn_inference(x2, a, b, True, out=x2).tobytes() == yi.tobytes()


def test_out_that_does_not_fit_is_refused():
    x, dy, scale, offset = kernel_data((4, 3, 5, 6), np.float32)
    for out in (np.empty((4, 3, 5, 7), np.float32), np.empty(x.shape, np.float64),
                np.empty((4, 3, 6, 5), np.float32).transpose(0, 1, 3, 2)):
        with pytest.raises(ValueError, match="out must be a C-contiguous float32 array"):
            bn.bn_forward_train(x, scale, offset, EPS, out=out)


@pytest.mark.parametrize("shape", [(3, 2, 5, 6), (5, 2, 41, 43), (40, 2)])
def test_nan_input_gives_nan_output_with_and_without_fused_relu(shape):
    """NaN propagates like np.maximum (a fused max written as t > 0 ? t : 0 gives 0). In
    training a NaN makes its channel's statistics, and so the whole channel, NaN; the
    backward's ReLU mask is 0 there, as the ReLU layer's [Z > 0]. The other channel is
    untouched."""
    x, dy, scale, offset = kernel_data(shape, np.float32, seed=16)
    x[(1, 0) + (2,) * (x.ndim - 2)] = np.nan
    for relu in (False, True):
        y, mean, var = bn.bn_forward_train(x, scale, offset, EPS, relu)
        assert np.isnan(y[:, 0]).all() and np.isnan(mean[0]) and np.isnan(var[0])
        assert not np.isnan(y[:, 1]).any()
        y_r = ref.bn_forward_train(x, scale, offset, EPS, relu)[0]
        np.testing.assert_array_equal(np.isnan(y), np.isnan(y_r))
        dx = bn.bn_backward(dy, x, mean, var, scale, offset, EPS, relu)[0]
        assert np.isnan(dx[:, 0]).all() and not np.isnan(dx[:, 1]).any()

        a, b = bn.bn_fold(scale, offset, np.zeros(2), np.ones(2), EPS)
        yi = bn.bn_inference(x, a, b, relu)
        np.testing.assert_array_equal(np.isnan(yi), np.isnan(x))
        np.testing.assert_array_equal(yi, ref.bn_inference(x, a, b, relu))
