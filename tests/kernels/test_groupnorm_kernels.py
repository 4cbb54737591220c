"""Group-normalization kernels: Numba vs NumPy twin (also without JIT), stability, and
bit-identical results under any thread count."""

import textwrap

import numpy as np
import pytest

from kernel_cases import assert_close, kernel_data, run_python
from minidl.kernels import groupnorm as gn
from minidl.kernels import reference as ref

EPS = 1e-5

# (shape, groups): images and features, one group (layer norm), one channel per group,
# a single element per group, and groups longer than several LANES with a ragged tail.
CASES = [((2, 6, 4, 5), 3), ((3, 4, 7, 9), 1), ((2, 4, 1, 1), 4), ((3, 8, 5, 3), 8),
         ((2, 6, 33, 35), 2), ((7, 6), 2), ((5, 9), 1), ((4, 3), 3), ((1, 40), 5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,groups", CASES)
def test_kernels_match_twins(shape, groups, dtype):
    x, dy, scale, offset = kernel_data(shape, dtype)
    y, mean, rstd = gn.gn_forward(x, groups, scale, offset, EPS)
    y_r, mean_r, rstd_r = ref.gn_forward(x, groups, scale, offset, EPS)
    assert y.dtype == dtype and y.shape == shape and y.flags.c_contiguous
    assert mean.dtype == rstd.dtype == np.float64 and mean.shape == rstd.shape == (shape[0], groups)
    assert_close(mean, mean_r, np.float64)
    assert_close(rstd, rstd_r, np.float64)
    assert_close(y, y_r, dtype)

    dx, dscale, doffset = gn.gn_backward(dy, x, groups, mean, rstd, scale)
    dx_r, dscale_r, doffset_r = ref.gn_backward(dy, x, groups, mean, rstd, scale)
    assert dx.dtype == dtype and dx.shape == shape
    assert dscale.dtype == doffset.dtype == np.float64 and dscale.shape == (shape[1],)
    assert_close(dx, dx_r, dtype)
    assert_close(dscale, dscale_r, np.float64)
    assert_close(doffset, doffset_r, np.float64)


def test_twin_backward_matches_finite_differences():
    """The twin is the definition; check it against central differences of L = Σ G·y."""
    x, G, scale, offset = kernel_data((2, 4, 3, 2), np.float64, seed=3)
    dx, dscale, doffset = ref.gn_backward(G, x, 2, *ref.gn_forward(x, 2, scale, offset, EPS)[1:], scale)

    def loss(x=x, scale=scale, offset=offset):
        return float(np.sum(G * ref.gn_forward(x, 2, scale, offset, EPS)[0]))

    h = 1e-6
    for array, grad in ((x, dx), (scale, dscale), (offset, doffset)):
        flat, numeric = array.reshape(-1), []
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + h
            up = loss()
            flat[i] = saved - h
            numeric.append((up - loss()) / (2 * h))
            flat[i] = saved
        np.testing.assert_allclose(grad.reshape(-1), numeric, rtol=1e-6, atol=1e-7)


def test_non_contiguous_input_and_float32_parameters():
    x, dy, scale, offset = kernel_data((3, 4, 5, 6), np.float32)
    view = x.transpose(0, 1, 3, 2)
    y, mean, rstd = gn.gn_forward(view, 2, scale.astype(np.float32).reshape(1, 1, 4), offset, EPS)
    assert_close(y, ref.gn_forward(np.ascontiguousarray(view), 2, scale.astype(np.float32), offset, EPS)[0],
           np.float32)


def test_stable_for_large_mean_small_spread():
    """mean 1e4, std 0.1 in float32: E[x²] − E[x]² would lose every digit; two passes do not."""
    x, dy, scale, offset = kernel_data((4, 6, 16, 16), np.float32, seed=5, loc=1e4, spread=0.1)
    y, mean, rstd = gn.gn_forward(x, 3, scale, offset, EPS)
    y64, mean64, rstd64 = ref.gn_forward(x.astype(np.float64), 3, scale, offset, EPS)
    np.testing.assert_allclose(y, y64, atol=1e-3)
    np.testing.assert_allclose(rstd, rstd64, rtol=1e-6)
    dx = gn.gn_backward(dy, x, 3, mean, rstd, scale)[0]
    dx64 = ref.gn_backward(dy.astype(np.float64), x.astype(np.float64), 3, mean64, rstd64, scale)[0]
    np.testing.assert_allclose(dx, dx64, atol=1e-3 * float(np.abs(dx64).max()))


def test_repeated_calls_are_bit_identical():
    x, dy, scale, offset = kernel_data((4, 8, 30, 30), np.float32, seed=12)
    first = gn.gn_forward(x, 4, scale, offset, EPS)
    back = gn.gn_backward(dy, x, 4, first[1], first[2], scale)
    for _ in range(3):
        for u, w in zip(gn.gn_forward(x, 4, scale, offset, EPS), first):
            assert u.tobytes() == w.tobytes()
        for u, w in zip(gn.gn_backward(dy, x, 4, first[1], first[2], scale), back):
            assert u.tobytes() == w.tobytes()


@pytest.mark.parametrize("shape,groups", [((3, 8, 7, 9), 4), ((20, 6), 3)])
def test_out_receives_the_result_and_is_returned(shape, groups):
    """Identical with and without out=, out is the returned array, and x (forward) or
    dy (backward) may be the out array itself."""
    x, dy, scale, offset = kernel_data(shape, np.float32, seed=4)
    y, mean, rstd = gn.gn_forward(x, groups, scale, offset, EPS)
    back = gn.gn_backward(dy, x, groups, mean, rstd, scale)
    out = np.full(shape, np.nan, np.float32)
    got = gn.gn_forward(x, groups, scale, offset, EPS, out=out)
    assert got[0] is out and all(u.tobytes() == w.tobytes() for u, w in zip(got, (y, mean, rstd)))
    got = gn.gn_backward(dy, x, groups, mean, rstd, scale, out=out)
    assert got[0] is out and all(u.tobytes() == w.tobytes() for u, w in zip(got, back))
    xi, gi = x.copy(), dy.copy()
    assert gn.gn_forward(xi, groups, scale, offset, EPS, out=xi)[0].tobytes() == y.tobytes()
    assert gn.gn_backward(gi, x, groups, mean, rstd, scale, out=gi)[0].tobytes() == back[0].tobytes()
    with pytest.raises(ValueError, match="out must be a C-contiguous float32 array"):
        gn.gn_forward(x, groups, scale, offset, EPS, out=np.empty(shape, np.float64))


# ---------------------------------------------------------------- subprocesses


_NO_JIT_SCRIPT = textwrap.dedent("""
    import numpy as np
    from minidl.kernels import groupnorm as gn, reference as ref
    rng = np.random.default_rng(1)
    for shape, groups in [((2, 6, 3, 4), 3), ((5, 4), 1), ((3, 4, 2, 2), 4)]:
        for dtype in (np.float32, np.float64):
            x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
            dy = rng.standard_normal(shape).astype(dtype)
            s, o = rng.uniform(0.5, 2, shape[1]), rng.standard_normal(shape[1])
            tol = dict(rtol=3e-7, atol=3e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
            got, want = gn.gn_forward(x, groups, s, o, 1e-5), ref.gn_forward(x, groups, s, o, 1e-5)
            for u, w in zip(got, want):
                np.testing.assert_allclose(u, w, **tol)
            got = gn.gn_backward(dy, x, groups, want[1], want[2], s)
            for u, w in zip(got, ref.gn_backward(dy, x, groups, want[1], want[2], s)):
                np.testing.assert_allclose(u, w, **tol)
    print("ok")
""")


def test_kernels_match_twins_without_jit():
    assert run_python(_NO_JIT_SCRIPT, NUMBA_DISABLE_JIT="1").strip() == "ok"


_HASH_SCRIPT = textwrap.dedent("""
    import hashlib
    import numpy as np
    from minidl.kernels import groupnorm as gn
    h = hashlib.sha256()
    rng = np.random.default_rng(2024)
    for shape, groups in [((8, 16, 32, 32), 4), ((3, 6, 50, 61), 1), ((4000, 12), 3)]:
        for dtype in (np.float32, np.float64):
            x = (rng.standard_normal(shape) * 5 + 3).astype(dtype)
            dy = rng.standard_normal(shape).astype(dtype)
            s, o = rng.uniform(0.5, 2, shape[1]), rng.standard_normal(shape[1])
            y, m, r = gn.gn_forward(x, groups, s, o, 1e-5)
            for arr in (y, m, r, *gn.gn_backward(dy, x, groups, m, r, s)):
                h.update(np.ascontiguousarray(arr).tobytes())
    print(h.hexdigest())
""")


def test_bit_identical_across_thread_counts():
    one = run_python(_HASH_SCRIPT, NUMBA_NUM_THREADS="1")
    two = run_python(_HASH_SCRIPT, NUMBA_NUM_THREADS="2")
    assert one == two and len(one.strip()) == 64
