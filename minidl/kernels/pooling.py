"""Max, average and global average pooling kernels (Numba), with thin Python dispatch.

Layout: x[n, c, h, w], C-contiguous NCHW; pool (ph, pw), stride (sh, sw), explicit pads
(top, bottom, left, right), asymmetric allowed. Output (i, j) reads input rows
``r = i*sh - top + u`` and columns ``q = j*sw - left + v``, u < ph, v < pw; positions
outside the input are padding. ``Ho = (H + top + bottom - ph) // sh + 1`` (likewise Wo).
Every window must hold at least one input element (pads < pool, as the layers ensure).

Maths (twins in reference_pool.py)::

    max:  out = max over the window (padding = -inf, never wins);
          argmax = r*W + q of the winner, the first in (u, v) row-major order on ties;
          NaN wins over any number and the first NaN stays, so NaN propagates and its
          gradient flows to it; a window of -inf points at its first input element.
          dx.flat[argmax] += dz                                  (overlaps add)
    avg:  out = (sum over the window, padding = 0) / D, D = ph*pw if count_padding
          else the number of input elements in the window;  dx[window] += dz / D
    gap:  out[n, c] = sum(x[n, c]) / (H*W);                     dx[n, c] = dz[n, c] / (H*W)

Arithmetic: window sums accumulate in float64 and round once; gradients accumulate in
a float64 scratch plane (overlapping windows add there, in output order) and round
once into dx. The global-average sum runs over LANES float64 accumulators (lane l
takes every LANES-th element) folded in a fixed order. argmax is int32: H*W < 2**31.

Determinism: a task (``prange``) is a run of whole (n, c) planes, as many as make SPAN
input elements, a split fixed by the shape; each plane is computed by one thread in a
fixed order, so results are bit-identical under any ``NUMBA_NUM_THREADS``.

``out=`` arguments: a C-contiguous array of the result's shape and dtype, overwritten
and returned; it must not overlap any input. Kernels trust their inputs.
"""

import numpy as np
from numba import prange

from ._jit import kernel

LANES = 8     # float64 accumulators of the global-average sum; a power of two
SPAN = 1024   # input elements per task at least (whole planes): see _tasks


def pooled_hw(x_shape, pool, stride, pads):
    """(Ho, Wo) = floor((H + top + bottom - ph) / sh) + 1, likewise for the width."""
    (H, W), (ph, pw), (sh, sw), (top, bottom, left, right) = x_shape[2:], pool, stride, pads
    return (H + top + bottom - ph) // sh + 1, (W + left + right - pw) // sw + 1


@kernel()
def _span(i, s, p, before, size):
    """(first input index, first offset, end offset) of window i along one axis."""
    r0 = i * s - before
    return r0, max(0, -r0), min(p, size - r0)


# ---------------------------------------------------------------- windows (max and average pooling)

@kernel()
def _nan_max(val, best):
    """best, or val if it is larger or the first NaN (bitwise ops: no branches)."""
    take = (val > best) | ((val != val) & (best == best))
    return val if take else best


@kernel()
def _max_window(xp, r0, q0, u0, u1, v0, v1, W, want_arg):
    """(max, r*W + q of the winner) of one window: rows r0 + [u0, u1), columns q0 + [v0, v1).
    The winner is the first position holding the max, or the first NaN; finding it in a
    second, backward pass of integer selects keeps the loop free of unpredictable branches,
    which tracking it alongside the max does not."""
    best = xp[r0 + u0, q0 + v0]
    for u in range(u0, u1):
        for v in range(v0, v1):
            best = _nan_max(xp[r0 + u, q0 + v], best)
    k = 0
    if want_arg:
        for u in range(u1 - 1, u0 - 1, -1):
            for v in range(v1 - 1, v0 - 1, -1):
                val = xp[r0 + u, q0 + v]
                k = u * W + v if (val == best) | (val != val) else k
    return best, r0 * W + q0 + k


# Cell kinds: what one output position does. One plane loop serves all four; LLVM
# inlines these small functions, so each kernel's constant kind (and the constant 2x2
# pool size of _plane's first branch) gives it a specialized, unrolled loop nest. Bounds
# known only at run time make the window loops several times slower.
MAX_ARG, MAX, AVG, AVG_GRAD = 0, 1, 2, 3


@kernel()
def _cell(src, dst, ap, i, j, r0, q0, u0, u1, v0, v1, D, kind):
    """MAX_ARG/MAX: dst[i, j] = window max of src (ap[i, j] = its index if MAX_ARG).
    AVG: dst[i, j] = window sum of src / D. AVG_GRAD: dst[window] += src[i, j] / D."""
    if kind == AVG:
        acc = np.float64(0.0)  # float64 also without the JIT (NumPy keeps 0.0 + float32 float32)
        for u in range(u0, u1):
            for v in range(v0, v1):
                acc += src[r0 + u, q0 + v]
        dst[i, j] = acc / D
    elif kind == AVG_GRAD:
        share = np.float64(src[i, j]) / D
        for u in range(u0, u1):
            for v in range(v0, v1):
                dst[r0 + u, q0 + v] += share
    else:
        best, k = _max_window(src, r0, q0, u0, u1, v0, v1, src.shape[1], kind == MAX_ARG)
        dst[i, j] = best
        if kind == MAX_ARG:
            ap[i, j] = k


@kernel()
def _whole(size, pad, pool, stride, count):
    """[lo, hi): the outputs along one axis whose windows lie inside the input."""
    lo = min(count, (pad + stride - 1) // stride)
    return lo, max(lo, min(count, (size + pad - pool) // stride + 1))


@kernel()
def _block(src, dst, ap, i0, i1, j0, j1, ph, pw, sh, sw, top, left, kind):
    """Outputs [i0, i1) x [j0, j1), whose windows lie inside the input: no clipping."""
    for i in range(i0, i1):
        for j in range(j0, j1):
            _cell(src, dst, ap, i, j, i * sh - top, j * sw - left, 0, ph, 0, pw, ph * pw, kind)


@kernel()
def _plane(src, dst, ap, H, W, Ho, Wo, ph, pw, sh, sw, top, left, count_padding, kind):
    """Every output of one plane: the unclipped block (with constant bounds for 2x2
    pools), then the outputs around it, windows clipped to the H x W input."""
    i0, i1 = _whole(H, top, ph, sh, Ho)
    j0, j1 = _whole(W, left, pw, sw, Wo)
    if ph == 2 and pw == 2:
        _block(src, dst, ap, i0, i1, j0, j1, 2, 2, sh, sw, top, left, kind)
    else:
        _block(src, dst, ap, i0, i1, j0, j1, ph, pw, sh, sw, top, left, kind)
    if (i1 - i0) * (j1 - j0) == Ho * Wo:
        return
    for i in range(Ho):
        r0, u0, u1 = _span(i, sh, ph, top, H)
        inner = i0 <= i < i1
        for j in range(Wo):
            if inner and j0 <= j < j1:
                continue
            q0, v0, v1 = _span(j, sw, pw, left, W)
            D = ph * pw if count_padding else (u1 - u0) * (v1 - v0)
            _cell(src, dst, ap, i, j, r0, q0, u0, u1, v0, v1, D, kind)


@kernel()
def _forward_plane(xp, op, ap, ph, pw, sh, sw, top, left, count_padding, kind):
    H, W = xp.shape
    Ho, Wo = op.shape
    # One call per constant kind, so that each is specialized (see _cell).
    if kind == MAX_ARG:
        _plane(xp, op, ap, H, W, Ho, Wo, ph, pw, sh, sw, top, left, True, MAX_ARG)
    elif kind == MAX:
        _plane(xp, op, ap, H, W, Ho, Wo, ph, pw, sh, sw, top, left, True, MAX)
    else:
        _plane(xp, op, ap, H, W, Ho, Wo, ph, pw, sh, sw, top, left, count_padding, AVG)


@kernel()
def _store(acc, flat):
    """flat = acc, rounded once to flat's dtype."""
    for p in range(flat.size):
        flat[p] = acc[p]


@kernel()
def _avg_grad_plane(g, dxp, acc, ap, ph, pw, sh, sw, top, left, count_padding):
    H, W = dxp.shape
    Ho, Wo = g.shape
    acc[:] = 0.0
    _plane(g, acc, ap, H, W, Ho, Wo, ph, pw, sh, sw, top, left, count_padding, AVG_GRAD)
    _store(acc.reshape(H * W), dxp.reshape(H * W))


@kernel()
def _tasks(planes, size):
    """(planes per task, number of tasks): at least SPAN elements a task, so that small
    planes share their task's set-up and scratch. Fixed by the shape."""
    per = max(1, SPAN // max(1, size))
    return per, (planes + per - 1) // per


@kernel(parallel=True)
def _pool(src, dst, arg, ph, pw, sh, sw, top, left, count_padding, kind):
    """Max or average pooling (src = x, dst = out, arg = argmax or a dummy), or the
    average-pooling gradient (src = dz, dst = dx); arrays (planes, height, width)."""
    P, H, W = src.shape
    if kind == AVG_GRAD:
        H, W = dst.shape[1], dst.shape[2]
    per, tasks = _tasks(P, H * W)
    for b in prange(tasks):
        acc = np.empty((H, W) if kind == AVG_GRAD else (1, 1))
        for t in range(b * per, min(P, b * per + per)):
            if kind == AVG_GRAD:
                _avg_grad_plane(src[t], dst[t], acc, arg[0], ph, pw, sh, sw, top, left,
                                count_padding)
            else:
                _forward_plane(src[t], dst[t], arg[t] if kind == MAX_ARG else arg[0],
                               ph, pw, sh, sw, top, left, count_padding, kind)


@kernel(parallel=True)
def _max_backward(dz, arg, dx):
    """Arrays (planes, height, width)."""
    P, H, W = dx.shape
    Ho, Wo = dz.shape[1], dz.shape[2]
    per, tasks = _tasks(P, H * W)
    for b in prange(tasks):
        acc = np.empty(H * W)
        for t in range(b * per, min(P, b * per + per)):
            acc[:] = 0.0
            g, ap = dz[t], arg[t]
            for i in range(Ho):
                for j in range(Wo):
                    acc[ap[i, j]] += g[i, j]
            _store(acc, dx[t].reshape(H * W))


# ---------------------------------------------------------------- max pooling 2x2 stride 2 (training and inference)

@kernel(inline='always')
def _wins(a, b):
    """1 if b beats a (larger, or the first NaN), else 0."""
    return 1 if (b > a) | ((b != b) & (a == a)) else 0


@kernel(inline='always')
def _first_max(a, b):
    """b if it beats a (larger, or the first NaN), else a: ties keep a. Applied in window
    order, pairs of pairs give the window's winner, as _max_window's scan does."""
    return b if _wins(a, b) else a


@kernel(parallel=True)
def _max2x2(x, out, arg, want_arg):
    """2x2, stride 2, unpadded max pooling, with the argmax if want_arg (else arg is a
    dummy); arrays (planes, h, w), tasks as in _pool. Per plane, first the horizontal pairs
    of the rows used, h[r, j] = _first_max(x[r, 2j], x[r, 2j+1]) and which of the two won,
    one long loop over the plane when the width is even (it vectorizes; the window loops,
    14 or 7 long, do not), then out[i, j] = _first_max(h[2i, j], h[2i+1, j]): the same
    winner as (x00, x01, x10, x11) in order."""
    P, H, W = x.shape
    Ho, Wo = out.shape[1], out.shape[2]
    per, tasks = _tasks(P, H * W)
    for b in prange(tasks):
        h = np.empty(2 * Ho * Wo, x.dtype)
        right = np.zeros(2 * Ho * Wo, np.int32)   # 1 where the right one of a pair won
        for t in range(b * per, min(P, b * per + per)):
            if W == 2 * Wo:
                row = x[t].reshape(H * W)
                for q in range(2 * Ho * Wo):
                    h[q] = _first_max(row[2 * q], row[2 * q + 1])
                if want_arg:
                    for q in range(2 * Ho * Wo):
                        right[q] = _wins(row[2 * q], row[2 * q + 1])
            else:
                for r in range(2 * Ho):
                    row = x[t, r]
                    for j in range(Wo):
                        h[r * Wo + j] = _first_max(row[2 * j], row[2 * j + 1])
                        right[r * Wo + j] = _wins(row[2 * j], row[2 * j + 1])
            for i in range(Ho):
                o, top = out[t, i], 2 * i * Wo
                for j in range(Wo):
                    o[j] = _first_max(h[top + j], h[top + Wo + j])
                if want_arg:
                    a = arg[t, i]
                    for j in range(Wo):
                        low = _wins(h[top + j], h[top + Wo + j])
                        a[j] = (2 * i + low) * W + 2 * j + (right[top + Wo + j] if low else right[top + j])


# ---------------------------------------------------------------- global average pooling

@kernel(parallel=True)
def _gap_forward(x, out):
    """x (planes, H*W), out (planes,)."""
    P, HW = x.shape
    per, tasks = _tasks(P, HW)
    for b in prange(tasks):
        acc = np.empty(LANES)
        for t in range(b * per, min(P, b * per + per)):
            acc[:] = 0.0
            v = x[t]
            for p in range(0, HW, LANES):
                w = v[p:p + LANES]
                for l in range(w.size):
                    acc[l] += w[l]
            width = LANES
            while width > 1:
                width //= 2
                for l in range(width):
                    acc[l] += acc[l + width]
            out[t] = acc[0] / HW


@kernel(parallel=True)
def _gap_backward(dz, dx):
    """dz (planes,), dx (planes, H*W)."""
    P, HW = dx.shape
    per, tasks = _tasks(P, HW)
    for b in prange(tasks):
        for t in range(b * per, min(P, b * per + per)):
            dx[t, :] = np.float64(dz[t]) / HW


# ---------------------------------------------------------------- dispatch

def _output(out, shape, dtype):
    return np.empty(shape, dtype) if out is None else out


def _planes(a):
    """a (N, C, h, w) as (N*C, h, w): one entry per (n, c) plane."""
    return a.reshape(-1, *a.shape[2:])


def _pool_args(pool, stride, pads):
    return (*pool, *stride, pads[0], pads[2])


def _is_2x2(pool, stride, pads):
    """The common case with its own inference kernel (_max2x2): 2x2 windows, stride 2, no
    padding."""
    return tuple(pool) == (2, 2) and tuple(stride) == (2, 2) and not any(pads)


def max_pool2d_forward(x, pool, stride, pads, out=None, argmax=None):
    """Max pooling for training: ``(out, argmax)``, both (N, C, Ho, Wo); out of x's dtype,
    argmax int32 = ``h*W + w`` of each window's winner in the unpadded input plane."""
    shape = (*x.shape[:2], *pooled_hw(x.shape, pool, stride, pads))
    out = _output(out, shape, x.dtype)
    argmax = _output(argmax, shape, np.int32)
    if _is_2x2(pool, stride, pads):
        _max2x2(_planes(x), _planes(out), _planes(argmax), True)
    else:
        _pool(_planes(x), _planes(out), _planes(argmax), *_pool_args(pool, stride, pads), True, MAX_ARG)
    return out, argmax


_NO_INDEX = np.zeros((1, 1, 1), np.int32)   # the argmax of kernels without one


def max_pool2d_predict(x, pool, stride, pads, out=None):
    """Max pooling for inference: ``out`` alone (the same values as the forward)."""
    out = _output(out, (*x.shape[:2], *pooled_hw(x.shape, pool, stride, pads)), x.dtype)
    if _is_2x2(pool, stride, pads):
        _max2x2(_planes(x), _planes(out), _NO_INDEX, False)
    else:
        _pool(_planes(x), _planes(out), _NO_INDEX, *_pool_args(pool, stride, pads), True, MAX)
    return out


def max_pool2d_backward(dz, argmax, x_shape, out=None):
    """``dx`` (x_shape, dz's dtype): each dz added at its argmax; overlapping windows add."""
    dx = _output(out, tuple(x_shape), dz.dtype)
    _max_backward(_planes(dz), _planes(argmax), _planes(dx))
    return dx


def avg_pool2d_forward(x, pool, stride, pads, count_padding, out=None):
    """Average pooling: ``out`` (N, C, Ho, Wo) of x's dtype; see the module docstring for D."""
    out = _output(out, (*x.shape[:2], *pooled_hw(x.shape, pool, stride, pads)), x.dtype)
    _pool(_planes(x), _planes(out), _NO_INDEX, *_pool_args(pool, stride, pads),
          bool(count_padding), AVG)
    return out


def avg_pool2d_backward(dz, x_shape, pool, stride, pads, count_padding, out=None):
    """``dx`` (x_shape, dz's dtype): each window element receives dz / D; overlaps add."""
    dx = _output(out, tuple(x_shape), dz.dtype)
    _pool(_planes(dz), _planes(dx), _NO_INDEX, *_pool_args(pool, stride, pads),
          bool(count_padding), AVG_GRAD)
    return dx


def global_avg_pool_forward(x, out=None):
    """``out`` (N, C, 1, 1) of x's dtype: the mean of each (n, c) plane."""
    N, C, H, W = x.shape
    out = _output(out, (N, C, 1, 1), x.dtype)
    _gap_forward(x.reshape(N * C, H * W), out.reshape(N * C))
    return out


def global_avg_pool_backward(dz, x_shape, out=None):
    """``dx`` (x_shape, dz's dtype) = dz[n, c] / (H*W) over each plane."""
    N, C, H, W = x_shape
    dx = _output(out, tuple(x_shape), dz.dtype)
    _gap_backward(dz.reshape(N * C), dx.reshape(N * C, H * W))
    return dx
