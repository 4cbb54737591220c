"""Convolution kernels: Numba vs NumPy twin (also without JIT), the twins' gradients,
the work contract, and bit-identical results under any thread count."""

import math
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel_cases import run_python
from minidl.kernels import conv
from minidl.kernels import reference_conv as ref

pytestmark = pytest.mark.usefixtures("conv_warm")

# (x shape, (kh, kw, C, F), stride, dilation, pads (top, bottom, left, right)):
# 'same' 3x3, stride and dilation per axis, asymmetric and one-sided pads, 1x1 and 5x5
# filters, non-square everything, C = 1 and 3, N = 1, a window as large as the padded
# input, a 1x1 filter whose outputs on the padding are the bias alone, and the example
# networks' layers at small N (several tasks and weight-gradient chunks).
CASES = [
    ((3, 2, 7, 9), (3, 3, 2, 5), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((2, 3, 10, 8), (3, 2, 3, 4), (2, 1), (2, 1), (0, 2, 1, 0)),
    ((1, 1, 5, 5), (1, 1, 1, 3), (1, 1), (1, 1), (0, 0, 0, 0)),
    ((4, 5, 6, 6), (5, 5, 5, 2), (2, 2), (1, 1), (2, 2, 2, 2)),
    ((2, 3, 9, 11), (3, 3, 3, 6), (2, 2), (2, 2), (2, 1, 0, 3)),
    ((1, 3, 8, 8), (5, 5, 3, 4), (1, 1), (1, 1), (2, 2, 2, 2)),
    ((2, 2, 5, 12), (2, 4, 2, 3), (1, 3), (1, 2), (1, 0, 2, 1)),
    ((1, 2, 3, 3), (3, 3, 2, 1), (1, 1), (1, 1), (0, 0, 0, 0)),
    ((2, 3, 4, 5), (1, 1, 3, 2), (1, 2), (1, 1), (1, 0, 0, 1)),
    ((5, 1, 28, 28), (3, 3, 1, 8), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((11, 8, 14, 14), (3, 3, 8, 16), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((33, 16, 7, 7), (3, 3, 16, 32), (1, 1), (1, 1), (1, 1, 1, 1)),
]


def conv_data(x_shape, w_shape, dtype, seed=0):
    """x, w, bias and dz (of the output's shape), all of ``dtype``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[3]).astype(dtype)
    return x, w, bias


def assert_sums_close(got, want, bound, dtype, additions):
    """|got - want| <= (additions + 3)*eps*bound: the first-order error bound of
    ``additions`` sequential additions (plus products, a pairwise 4-sum and the final
    rounding), where bound = the same sums over absolute values (the twin on |inputs|)."""
    assert got.dtype == dtype and got.shape == want.shape and got.flags.c_contiguous
    tol = (additions + 3) * np.finfo(dtype).eps * np.asarray(bound, np.float64) + np.finfo(dtype).tiny
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    assert np.all(err <= tol), f"max error {err.max():.3g}, max allowed there {tol.flat[err.argmax()]:.3g}"


def check_all(x_shape, w_shape, stride, dilation, pads, dtype, seed=0, work=None):
    """All three kernels against their twins; returns the kernels' outputs."""
    x, w, bias = conv_data(x_shape, w_shape, dtype, seed)
    kh, kw, C, F = w_shape
    z = conv.conv2d_forward(x, w, bias, stride, dilation, pads, work=work)
    abs_args = (np.abs(x).astype(np.float64), np.abs(w).astype(np.float64))
    assert_sums_close(z, ref.conv2d_forward(x, w, bias, stride, dilation, pads),
                      ref.conv2d_forward(*abs_args, np.abs(bias).astype(np.float64), stride, dilation, pads),
                      dtype, math.ceil(kh * kw * C / 4) + 1)
    dz = np.random.default_rng(seed + 1).standard_normal(z.shape).astype(dtype)
    dx = conv.conv2d_backward_input(dz, w, x_shape, stride, dilation, pads, work=work)
    abs_dz = np.abs(dz).astype(np.float64)
    assert_sums_close(dx, ref.conv2d_backward_input(dz, w, x_shape, stride, dilation, pads),
                      ref.conv2d_backward_input(abs_dz, abs_args[1], x_shape, stride, dilation, pads),
                      dtype, math.ceil(kh * kw * F / 4))
    dw, db = conv.conv2d_backward_weights(dz, x, stride, dilation, pads, dw=np.empty(w_shape, dtype),
                                          work=work)
    dw_r, db_r = ref.conv2d_backward_weights(dz, x, stride, dilation, pads, (kh, kw))
    dw_b, db_b = ref.conv2d_backward_weights(abs_dz, abs_args[0], stride, dilation, pads, (kh, kw))
    additions = conv.CHUNK // (4 * conv.LANES) + 1
    assert_sums_close(dw, dw_r, dw_b, dtype, additions)
    assert_sums_close(db, db_r, db_b, dtype, additions)
    return z, dx, dw, db


# ---------------------------------------------------------------- kernel vs twin

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x{}w{}s{}d{}p{}".format(*c))
def test_kernels_match_twins(case, dtype):
    check_all(*case, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [CASES[0], CASES[4], CASES[9], CASES[11]], ids=lambda c: "x{}w{}".format(*c))
def test_forward_relu_is_max_of_forward_and_zero(case, dtype):
    """relu=True: the same sums, then max(z, 0); within the sums' bound of the twin's relu."""
    x_shape, w_shape, stride, dilation, pads = case
    x, w, bias = conv_data(x_shape, w_shape, dtype, seed=3)
    z = conv.conv2d_forward(x, w, bias, stride, dilation, pads, relu=True)
    np.testing.assert_array_equal(z, np.maximum(conv.conv2d_forward(x, w, bias, stride, dilation, pads), 0))
    assert 0 < np.count_nonzero(z) < z.size
    bound = ref.conv2d_forward(np.abs(x), np.abs(w), np.abs(bias), stride, dilation, pads)
    assert_sums_close(z, ref.conv2d_forward(x, w, bias, stride, dilation, pads, relu=True), bound, dtype,
                      math.ceil(w_shape[0] * w_shape[1] * w_shape[2] / 4) + 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_relu_keeps_nan(dtype):
    """A NaN input makes every output that reads it NaN, with relu too (not 0)."""
    x_shape, w_shape, stride, dilation, pads = CASES[0]
    x, w, bias = conv_data(x_shape, w_shape, dtype)
    x[1, 0, 3, 4] = np.nan
    z = conv.conv2d_forward(x, w, bias, stride, dilation, pads, relu=True)
    want = ref.conv2d_forward(x, w, bias, stride, dilation, pads, relu=True)
    assert np.isnan(want).sum() == 9 * w_shape[3]
    np.testing.assert_array_equal(np.isnan(z), np.isnan(want))
    assert np.all(z[~np.isnan(z)] >= 0)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[4], CASES[6], CASES[9], CASES[10]],
                         ids=lambda c: "x{}w{}s{}".format(*c[:3]))
def test_forward_maxpool_is_the_max_of_each_2x2_block(case, dtype, relu):
    """pool="max 2x2": exactly the max of each 2x2 block of the unpooled output (odd last row
    and column dropped, strides and odd sizes included), and within the sums' bound of the
    twin's conv -> (relu ->) max pool."""
    x_shape, w_shape, stride, dilation, pads = case
    x, w, bias = conv_data(x_shape, w_shape, dtype, seed=5)
    z = conv.conv2d_forward(x, w, bias, stride, dilation, pads, relu=relu, pool="max 2x2")
    full = conv.conv2d_forward(x, w, bias, stride, dilation, pads, relu=relu)
    N, F, Ho, Wo = full.shape
    assert z.shape == (N, F, Ho // 2, Wo // 2)
    blocks = full[:, :, :Ho // 2 * 2, :Wo // 2 * 2].reshape(N, F, Ho // 2, 2, Wo // 2, 2)
    np.testing.assert_array_equal(z, blocks.max(axis=(3, 5)))
    want = ref.conv2d_forward(x, w, bias, stride, dilation, pads, relu=relu, pool="max 2x2")
    bound = ref.conv2d_forward(np.abs(x), np.abs(w), np.abs(bias), stride, dilation, pads, pool="max 2x2")
    assert_sums_close(z, want, bound, dtype, math.ceil(w_shape[0] * w_shape[1] * w_shape[2] / 4) + 1)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[6], CASES[9], CASES[11]],
                         ids=lambda c: "x{}w{}s{}".format(*c[:3]))
def test_forward_global_average_is_the_mean_of_each_plane(case, dtype, relu):
    """pool="global average": the mean over each plane of the (ReLU'd) output, summed in
    float64 (so within a few ulps of the mean of the unpooled output), and the twin's."""
    x_shape, w_shape, stride, dilation, pads = case
    x, w, bias = conv_data(x_shape, w_shape, dtype, seed=6)
    z = conv.conv2d_forward(x, w, bias, stride, dilation, pads, relu=relu, pool="global average")
    full = conv.conv2d_forward(x, w, bias, stride, dilation, pads, relu=relu)
    assert z.shape == full.shape[:2] + (1, 1) and z.dtype == dtype
    np.testing.assert_allclose(z, full.astype(np.float64).mean(axis=(2, 3), keepdims=True),
                               rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps * np.abs(full).max())
    want = ref.conv2d_forward(x, w, bias, stride, dilation, pads, relu=relu, pool="global average")
    bound = ref.conv2d_forward(np.abs(x), np.abs(w), np.abs(bias), stride, dilation, pads, pool="global average")
    assert_sums_close(z, want, bound, dtype, math.ceil(w_shape[0] * w_shape[1] * w_shape[2] / 4) + 1)


@pytest.mark.parametrize("relu", [False, True])
def test_forward_pooling_keeps_nan(relu):
    """A NaN anywhere in a 2x2 block or a plane makes the pooled output NaN (NumPy's max and
    mean), relu or not."""
    x_shape, w_shape, stride, dilation, pads = CASES[9]
    x, w, bias = conv_data(x_shape, w_shape, np.float32)
    x[2, 0, 10, 17] = np.nan
    for pool in ("max 2x2", "global average"):
        z = conv.conv2d_forward(x, w, bias, stride, dilation, pads, relu=relu, pool=pool)
        want = ref.conv2d_forward(x, w, bias, stride, dilation, pads, relu=relu, pool=pool)
        assert np.isnan(want).sum() >= w_shape[3]
        np.testing.assert_array_equal(np.isnan(z), np.isnan(want))


def _configs():
    """Random valid configurations: the padded input holds at least one dilated window."""
    def valid(c):
        (n, ch, h, w), (kh, kw, _, f), s, d, p = c
        return h + p[0] + p[1] >= (kh - 1) * d[0] + 1 and w + p[2] + p[3] >= (kw - 1) * d[1] + 1

    small, pad = st.integers(1, 3), st.integers(0, 3)
    return st.tuples(
        st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 12), st.integers(1, 12)),
        st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(0), st.integers(1, 5)),
        st.tuples(small, small), st.tuples(small, small), st.tuples(pad, pad, pad, pad),
    ).map(lambda c: (c[0], c[1][:2] + (c[0][1], c[1][3])) + c[2:]).filter(valid)


@settings(deadline=None, max_examples=25)
@given(config=_configs(), double=st.booleans(), seed=st.integers(0, 2**31))
def test_kernels_match_twins_random(config, double, seed):
    check_all(*config, np.float64 if double else np.float32, seed)


_NO_JIT_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, "tests/kernels")
    import numpy as np
    from minidl.kernels import _conv_weights, conv
    from test_conv_kernels import CASES, check_all
    # Plain Python reads the module's constants at call time: small ones give many
    # blocks, tasks and chunks even on these small shapes.
    defaults = conv.BLOCK, conv.LANES, conv.CHUNK, conv.TASK, conv.GROUPS
    for constants in [(16, 4, 32, 20, 3), defaults]:
        conv.BLOCK, conv.LANES, conv.CHUNK, conv.TASK, conv.GROUPS = constants
        _conv_weights.LANES = conv.LANES
        for case in CASES[:9]:
            for dtype in (np.float32, np.float64):
                check_all(*case, dtype)
    print("ok")
""")


def test_weight_gradient_tasks_summing_runs_of_chunks(monkeypatch):
    """At most GROUPS tasks: here 3 chunks of the batch in 2 tasks, the first summing two."""
    monkeypatch.setattr(conv, "GROUPS", 2)
    work = conv.conv2d_work(*CASES[10], np.float32)
    assert (work.chunks, work.run, len(work.partial)) == (3, 2, 2)
    check_all(*CASES[10], np.float32, work=work)


def test_kernels_match_twins_without_jit():
    assert run_python(_NO_JIT_SCRIPT, NUMBA_DISABLE_JIT="1").strip() == "ok"


# ---------------------------------------------------------------- twins' gradients

@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[6]])
def test_twin_backward_matches_finite_differences(case):
    """L = sum(R*z) with random R; z is linear in x, in w and in bias, so central
    differences with step 1 are exact but for rounding."""
    x_shape, w_shape, stride, dilation, pads = case
    x, w, bias = conv_data(x_shape, w_shape, np.float64, seed=5)
    z = ref.conv2d_forward(x, w, bias, stride, dilation, pads)
    R = np.random.default_rng(6).standard_normal(z.shape)
    dx = ref.conv2d_backward_input(R, w, x_shape, stride, dilation, pads)
    dw, db = ref.conv2d_backward_weights(R, x, stride, dilation, pads, w_shape[:2])

    def loss(x=x, w=w, bias=bias):
        return float(np.sum(R * ref.conv2d_forward(x, w, bias, stride, dilation, pads)))

    for name, array, grad in (("x", x, dx), ("w", w, dw), ("bias", bias, db)):
        numeric = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[i] += 1.0
            minus[i] -= 1.0
            numeric[i] = (loss(**{name: plus}) - loss(**{name: minus})) / 2
        np.testing.assert_allclose(grad, numeric, rtol=1e-10, atol=1e-10, err_msg=name)


# ---------------------------------------------------------------- work and out=

def test_outputs_given_are_filled_and_returned():
    x_shape, w_shape, stride, dilation, pads = CASES[4]
    x, w, bias = conv_data(x_shape, w_shape, np.float32)
    work = conv.conv2d_work(x_shape, w_shape, stride, dilation, pads, np.float32)
    z = np.full((2, 6) + conv.conv_output_hw(x_shape, w_shape, stride, dilation, pads), np.nan, np.float32)
    assert conv.conv2d_forward(x, w, bias, stride, dilation, pads, out=z, work=work) is z
    dx = np.full(x_shape, np.nan, np.float32)
    assert conv.conv2d_backward_input(z, w, x_shape, stride, dilation, pads, out=dx, work=work) is dx
    dw, db = np.full(w_shape, np.nan, np.float32), np.full(6, np.nan, np.float32)
    got = conv.conv2d_backward_weights(z, x, stride, dilation, pads, dw=dw, db=db, work=work)
    assert got[0] is dw and got[1] is db
    assert all(np.all(np.isfinite(a)) for a in (z, dx, dw, db))


def test_a_work_serves_iteration_after_iteration():
    """The plan's pattern: the same input and gradient buffers, new contents each
    iteration; the first layer skips the input gradient. Each result equals a fresh
    computation, bit for bit, whatever was packed before."""
    case = CASES[10]
    x_shape, w_shape, stride, dilation, pads = case
    work = conv.conv2d_work(x_shape, w_shape, stride, dilation, pads, np.float32)
    x_buf = np.empty(x_shape, np.float32)
    dz_buf = np.empty((x_shape[0], w_shape[3], 14, 14), np.float32)
    for it, skip_input in enumerate([False, True, False, True]):
        x, w, bias = conv_data(x_shape, w_shape, np.float32, seed=it)
        x_buf[...] = x
        dz_buf[...] = np.random.default_rng(100 + it).standard_normal(dz_buf.shape)
        z = conv.conv2d_forward(x_buf, w, bias, stride, dilation, pads, work=work)
        if not skip_input:
            dx = conv.conv2d_backward_input(dz_buf, w, x_shape, stride, dilation, pads, work=work)
            fresh = conv.conv2d_backward_input(dz_buf.copy(), w, x_shape, stride, dilation, pads)
            assert dx.tobytes() == fresh.tobytes()
        dw, db = conv.conv2d_backward_weights(dz_buf, x_buf, stride, dilation, pads, work=work)
        fresh_dw, fresh_db = conv.conv2d_backward_weights(dz_buf.copy(), x_buf.copy(), stride, dilation, pads,
                                                          dw=np.empty(w_shape, np.float32))
        assert z.tobytes() == conv.conv2d_forward(x.copy(), w, bias, stride, dilation, pads).tobytes()
        assert dw.tobytes() == fresh_dw.tobytes() and db.tobytes() == fresh_db.tobytes()


def test_wrong_work_or_missing_filter_size_is_an_error():
    x_shape, w_shape, stride, dilation, pads = CASES[0]
    x, w, bias = conv_data(x_shape, w_shape, np.float32)
    other = conv.conv2d_work(x_shape, w_shape, (2, 2), dilation, pads, np.float32)
    with pytest.raises(ValueError, match="conv2d_work"):
        conv.conv2d_forward(x, w, bias, stride, dilation, pads, work=other)
    with pytest.raises(ValueError, match="conv2d_work"):
        conv.conv2d_forward(x.astype(np.float64), w, bias, stride, dilation, pads,
                            work=conv.conv2d_work(x_shape, w_shape, stride, dilation, pads, np.float32))
    with pytest.raises(ValueError, match="dw"):
        conv.conv2d_backward_weights(x[:, :1], x, stride, dilation, pads)


# ---------------------------------------------------------------- determinism

_HASH_SCRIPT = textwrap.dedent("""
    import hashlib
    import numpy as np
    from minidl.kernels import conv
    h = hashlib.sha256()
    rng = np.random.default_rng(2024)
    cases = [((32, 1, 28, 28), (3, 3, 1, 8), (1, 1), (1, 1), (1, 1, 1, 1)),
             ((32, 8, 14, 14), (3, 3, 8, 16), (1, 1), (1, 1), (1, 1, 1, 1)),
             ((32, 16, 7, 7), (3, 3, 16, 32), (1, 1), (1, 1), (1, 1, 1, 1)),
             ((9, 3, 17, 13), (3, 5, 3, 7), (2, 1), (1, 2), (2, 1, 0, 3))]
    for x_shape, w_shape, stride, dilation, pads in cases:
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal(x_shape).astype(dtype)
            w = rng.standard_normal(w_shape).astype(dtype)
            b = rng.standard_normal(w_shape[3]).astype(dtype)
            z = conv.conv2d_forward(x, w, b, stride, dilation, pads)
            dz = rng.standard_normal(z.shape).astype(dtype)
            dx = conv.conv2d_backward_input(dz, w, x_shape, stride, dilation, pads)
            dw, db = conv.conv2d_backward_weights(dz, x, stride, dilation, pads, dw=np.empty_like(w))
            for a in (z, dx, dw, db, conv.conv2d_forward(x, w, b, stride, dilation, pads, relu=True)):
                h.update(a.tobytes())
    print(h.hexdigest())
""")


def test_bit_identical_under_one_and_two_threads():
    digests = {threads: run_python(_HASH_SCRIPT, NUMBA_NUM_THREADS=threads) for threads in ("1", "2")}
    assert digests["1"] == digests["2"] and len(digests["1"].strip()) == 64
