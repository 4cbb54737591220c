"""Batch-normalization kernels, part 2 of 2 (Numba): the entry points for images
(NCHW) and features (NC) that the dispatch in ``batchnorm.py`` calls: statistics,
training forward, backward and the affine pass. The loops they run are in
``_bn_lanes.py``; the maths and the determinism argument are in ``batchnorm.py``.
"""

import numpy as np
from numba import prange

from ._bn_lanes import (_affine, _affine_lanes, _chunking, _dx, _dx_lanes, _merge, _per_lane,
                        _span_sums, _task_sums, _zero)
from ._jit import kernel

SHORT_ROW = 64    # second passes over runs up to this long use per-lane coefficients
BLOCK = 32768     # elements per row block (features); rows = max(1, BLOCK // C)


@kernel(parallel=True)
def _chunk_sums(x, dy, N, C, HW, G, mean, a, off, relu, grad):
    """The sums of every chunk (_task_sums; grad False: shifted sums of x, grad True:
    gradient sums), computed in parallel tasks: (s1, s2, shift, count), chunk k of
    channel c at index c*K + k."""
    S, P, R, Kb = _chunking(N, HW)
    K = Kb * P
    s1 = np.empty(C * K)
    s2 = np.empty(C * K)
    shift = np.empty(C * K)
    count = np.empty(C * K, np.int64)
    for t in prange(Kb * ((C + G - 1) // G) * P):
        u = np.empty(G)
        w = np.empty(G)
        k0 = np.empty(G)
        k, c0, c1, n = _task_sums(x, dy, N, C, HW, G, t, mean, a, off, relu, grad, u, w, k0)
        for c in range(c0, c1):
            q = c * K + k
            s1[q], s2[q], shift[q], count[q] = u[c - c0], w[c - c0], k0[c - c0], n
    return s1, s2, shift, count


@kernel()
def _moments_nchw(x, N, C, HW, G):
    """Per-channel (mean, M2): chunk partials by shifted sums, merged in chunk order.
    Shifting by x0, the chunk's first element: mean = x0 + S1/n, M2 = S2 - S1**2/n
    with S1 = sum(x - x0), S2 = sum((x - x0)**2). As x0 is a data point,
    (mean - x0)**2 <= M2, so the cancellation costs at most a factor n (the chunk
    size) in relative error: about 1e-12, where E[x**2] - E[x]**2 can lose all."""
    unused = np.empty(0)        # mean, a and offset are only read for gradients
    s1, s2, x0, cnt = _chunk_sums(x, x, N, C, HW, G, unused, unused, unused, False, False)
    K = cnt.size // C
    mean = np.empty(C)
    msq = np.empty(C)
    for c in range(C):
        n, m, q = 0, 0.0, 0.0
        for k in range(c * K, c * K + K):
            u, nk = s1[k], cnt[k]
            n, m, q = _merge(n, m, q, nk, x0[k] + u / nk, max(s2[k] - u * (u / nk), 0.0))
        mean[c] = m
        msq[c] = q
    return mean, msq


@kernel(parallel=True)
def _affine_nchw(x, N, C, HW, a, m, b, relu, y):
    """y = a[c]*(x - m[c]) + b[c] (then ReLU), one image or one run per iteration."""
    if HW <= SHORT_ROW:
        L = C * HW
        av = _per_lane(a, 0, C, HW)
        mv = _per_lane(m, 0, C, HW)
        bv = _per_lane(b, 0, C, HW)
        for n in prange(N):
            o = n * L
            _affine_lanes(x[o:o + L], y[o:o + L], av, mv, bv, relu)
    else:
        for r in prange(N * C):
            c = r % C
            o = r * HW
            _affine(x[o:o + HW], y[o:o + HW], a[c], m[c], b[c], relu)


@kernel(parallel=True)
def _dx_nchw(dy, x, N, C, HW, a, m, off, k0, k1, relu, dx):
    """dx = a[c]*g' + k0[c] + k1[c]*(x - m[c]), laid out as _affine_nchw."""
    if HW <= SHORT_ROW:
        L = C * HW
        av = _per_lane(a, 0, C, HW)
        mv = _per_lane(m, 0, C, HW)
        ov = _per_lane(off, 0, C, HW)
        k0v = _per_lane(k0, 0, C, HW)
        k1v = _per_lane(k1, 0, C, HW)
        for n in prange(N):
            o = n * L
            _dx_lanes(dy[o:o + L], x[o:o + L], dx[o:o + L], av, mv, ov, k0v, k1v, relu)
    else:
        for r in prange(N * C):
            c = r % C
            o = r * HW
            _dx(dy[o:o + HW], x[o:o + HW], dx[o:o + HW], a[c], m[c], off[c], k0[c], k1[c],
                relu)


@kernel()
def _forward_nchw(x, N, C, HW, scale, offset, eps, relu, y, G):
    mean, msq = _moments_nchw(x, N, C, HW, G)
    var = np.empty(C)
    a = np.empty(C)
    for c in range(C):
        var[c] = msq[c] / (N * HW)
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    _affine_nchw(x, N, C, HW, a, mean, offset, relu, y)
    return mean, var


@kernel()
def _backward_from_sums(u, w, M, dy, x, N, C, HW, mean, var, scale, offset, eps, relu, dx):
    """The backward's second pass, from the per-channel sums u = sum(g') and
    w = sum(g'*(x - mean)) over M values per channel (M = N*HW, or the whole mini-batch's
    count and sums for synchronized batch normalization): with a = scale/sqrt(var + eps)
    (as in the forward), dscale = w/sqrt(var + eps), doffset = u, and
    dx = a*g' + k0 + k1*(x - mean) for k0 = -a*u/M, k1 = -a*w/(M*(var + eps)).
    Returns (dscale, doffset)."""
    a = np.empty(C)
    dscale = np.empty(C)
    k0 = np.empty(C)
    k1 = np.empty(C)
    for c in range(C):
        inv = 1.0 / np.sqrt(var[c] + eps)
        a[c] = scale[c] / np.sqrt(var[c] + eps)
        dscale[c] = w[c] * inv
        k0[c] = -a[c] * (u[c] / M)
        k1[c] = -a[c] * (inv * inv) * (w[c] / M)
    _dx_nchw(dy, x, N, C, HW, a, mean, offset, k0, k1, relu, dx)
    return dscale, u


@kernel()
def _scales(C, scale, var, eps):
    a = np.empty(C)
    for c in range(C):
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    return a


@kernel()
def _gradient_sums_nchw(dy, x, N, C, HW, mean, var, scale, offset, eps, relu, G):
    """The backward's first pass: per channel u = sum(g'), w = sum(g'*(x - mean))."""
    s1, s2, _, _ = _chunk_sums(x, dy, N, C, HW, G, mean, _scales(C, scale, var, eps), offset, relu, True)
    K = s1.size // C
    u = np.zeros(C)
    w = np.zeros(C)
    for c in range(C):
        for k in range(c * K, c * K + K):       # chunk order
            u[c] += s1[k]
            w[c] += s2[k]
    return u, w


@kernel()
def _backward_nchw(dy, x, N, C, HW, mean, var, scale, offset, eps, relu, dx, G):
    u, w = _gradient_sums_nchw(dy, x, N, C, HW, mean, var, scale, offset, eps, relu, G)
    return _backward_from_sums(u, w, N * HW, dy, x, N, C, HW, mean, var, scale, offset, eps, relu, dx)


# ---------------------------------------------------------------- NC kernels

@kernel(parallel=True)
def _moments_nc(x, N, C):
    """Per-channel (mean, M2) of x[n, c]: row blocks, sums shifted by the block's
    first row (as in _moments_nchw), merged in block order."""
    R = max(1, BLOCK // C)
    K = (N + R - 1) // R
    mu = np.empty((K, C))
    m2 = np.empty((K, C))
    for k in prange(K):
        r0 = k * R
        r1 = min(r0 + R, N)
        x0 = np.empty(C)
        for c in range(C):
            x0[c] = x[r0 * C + c]
        s1 = mu[k]
        s2 = m2[k]
        _zero(s1)
        _zero(s2)
        # Features are images of one pixel: lanes are the channels of a row.
        _span_sums(s1, s2, x, x, C, 1, r0, r1, 0, x0, x0, x0, False, False)
        cnt = r1 - r0
        for c in range(C):
            t = s1[c]
            s1[c] = x0[c] + t / cnt
            s2[c] = max(s2[c] - t * (t / cnt), 0.0)
    mean = np.empty(C)
    msq = np.empty(C)
    for c in range(C):
        mean[c] = mu[0, c]
        msq[c] = m2[0, c]
    # Vectorized over channels; blocks are merged in order k = 1, 2, ...
    for k in range(1, K):
        na = k * R
        nb = min(na + R, N) - na
        f = nb / (na + nb)
        g = na * f
        for c in range(C):
            d = mu[k, c] - mean[c]
            mean[c] += d * f
            msq[c] += m2[k, c] + d * d * g
    return mean, msq


@kernel()
def _forward_nc(x, N, C, scale, offset, eps, relu, y):
    mean, msq = _moments_nc(x, N, C)
    var = np.empty(C)
    a = np.empty(C)
    for c in range(C):
        var[c] = msq[c] / N
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    _affine_nchw(x, N, C, 1, a, mean, offset, relu, y)   # features: HW = 1
    return mean, var


@kernel(parallel=True)
def _gradient_sums_nc(dy, x, N, C, mean, var, scale, offset, eps, relu):
    """The backward's first pass for features: u = sum(g'), w = sum(g'*(x - mean))."""
    R = max(1, BLOCK // C)
    K = (N + R - 1) // R
    a = _scales(C, scale, var, eps)
    s1 = np.empty((K, C))
    s2 = np.empty((K, C))
    for k in prange(K):
        _zero(s1[k])
        _zero(s2[k])
        _span_sums(s1[k], s2[k], dy, x, C, 1, k * R, min(k * R + R, N), 0, mean, a, offset,
                   relu, True)
    u = np.zeros(C)
    w = np.zeros(C)
    for k in range(K):                          # block order, vectorized over channels
        for c in range(C):
            u[c] += s1[k, c]
            w[c] += s2[k, c]
    return u, w


@kernel()
def _backward_nc(dy, x, N, C, mean, var, scale, offset, eps, relu, dx):
    u, w = _gradient_sums_nc(dy, x, N, C, mean, var, scale, offset, eps, relu)
    return _backward_from_sums(u, w, N, dy, x, N, C, 1, mean, var, scale, offset, eps, relu, dx)
