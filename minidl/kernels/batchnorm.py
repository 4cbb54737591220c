"""Batch-normalization kernels (Numba), with thin Python dispatch.

Layouts: images ``x[n, c, h, w]`` (C-contiguous NCHW, channel c of image n is one
contiguous run of H*W elements) or features ``x[n, c]``. Statistics are per channel
over every non-channel element, ``M = N*H*W`` of them (``M = N`` for features).

Maths, per channel c (``eps`` = epsilon)::

    mean = sum(x) / M
    var  = sum((x - mean)**2) / M                     # biased
    a    = scale / sqrt(var + eps)                    # bn_fold
    b    = offset - a*mean
    y    = a*(x - mean) + offset   (training)   y = a*x + b   (inference)
    y    = max(y, 0)                              if relu (fused BN+ReLU)

    backward, with g = dy * [pre-activation > 0] if relu else dy,
    xhat = (x - mean)/sqrt(var + eps):
    doffset = sum(g)
    dscale  = sum(g*xhat)
    dx      = a * (g - doffset/M - xhat*dscale/M)

Passes: the forward reads x once for the statistics, then reads x and writes y;
the backward reads x and dy once for the two sums, then reads both and writes dx;
inference reads x and writes y. Arithmetic is float64 whatever the data type.

Determinism: every reduction is split by the shape alone into chunks (images: up
to ``CHUNK`` elements of one channel, whole runs of R = CHUNK // (H*W) images, or
pieces of a run longer than CHUNK; features: blocks of ``max(1, BLOCK // C)``
rows). Each chunk gives a partial (count, mean, M2) from sums shifted by its first
element x0 (see _moments_nchw: stable, never E[x^2] - E[x]^2), and the partials
are merged in chunk order with Chan's formula::

    n = na + nb;  d = mb - ma
    mean = ma + d*nb/n;  M2 = M2a + M2b + d*d*na*nb/n

The backward's sums are summed per chunk the same way, then in chunk order. The
thread count only decides who computes a chunk (and how many channels one task
takes), never what is summed or in which order, so the output is bit-identical
under any ``NUMBA_NUM_THREADS``. Inside a chunk the sums run over float64 lanes
(a lane takes every LANES-th element of a run, or, for short runs, one position of
each image) folded in a fixed order at the end: LLVM vectorizes this as written,
so no fastmath is needed or used.

All Numba functions take flat 1-D views plus the shape, and float64 per-channel
vectors, so each compiles at most twice (float32 and float64 data).
"""

import sys

import numpy as np
from numba import get_num_threads, njit, prange

CHUNK = 16384     # at most this many elements of one channel per partial (images)
LANES = 32        # float64 accumulators per sum; a power of two
SMALL_RUN = 256   # runs (H*W) up to this long use span lanes
SPAN = 2048       # target lanes per task for short runs (schedule only)
SHORT_ROW = 64    # second passes over runs up to this long use per-lane coefficients
BLOCK = 32768     # elements per row block (features); rows = max(1, BLOCK // C)


# ---------------------------------------------------------------- inner loops

@njit(cache=True, inline='always')
def _zero(acc):
    for l in range(acc.size):
        acc[l] = 0.0


@njit(cache=True, inline='always')
def _fold(acc):
    """Sum of the lanes by halving (fixed order); acc.size is a power of two."""
    w = acc.size
    while w > 1:
        w //= 2
        for l in range(w):
            acc[l] += acc[l + w]
    return acc[0]


# Lane l accumulates elements l, l + LANES, l + 2*LANES, ... of each run. The
# accumulators live in a small array, so the loops are element-wise and LLVM
# vectorizes them without reordering any sum (Numba leaves SLP vectorization off,
# so scalar accumulators would stay scalar). Four rows of LANES are added together
# before touching the accumulators, a fixed pairwise order, to cut their traffic.
# Indices come from range() over slices: no negative-index wraparound code, which
# would block vectorizing.

@njit(cache=True)
def _lanes_shifted(acc1, acc2, v, k):
    """acc1[l] += d, acc2[l] += d*d for d = v - k, element l of each LANES-piece."""
    n = v.size
    p = 0
    while p + 4 * LANES <= n:
        w = v[p:p + 4 * LANES]
        for l in range(LANES):
            d0 = w[l] - k
            d1 = w[l + LANES] - k
            d2 = w[l + 2 * LANES] - k
            d3 = w[l + 3 * LANES] - k
            acc1[l] += (d0 + d1) + (d2 + d3)
            acc2[l] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
        p += 4 * LANES
    while p < n:
        w = v[p:p + LANES]
        for l in range(w.size):
            d = w[l] - k
            acc1[l] += d
            acc2[l] += d * d
        p += LANES


@njit(cache=True, inline='always')
def _gate(g, d, a, off, relu):
    """g, or 0 where the ReLU after the normalization was off (a*d + off <= 0)."""
    return g if not relu or a * d + off > 0.0 else 0.0


@njit(cache=True)
def _lanes_grad(acc1, acc2, g, v, m, a, off, relu):
    """acc1[l] += g', acc2[l] += g'*d for d = v - m, g' = _gate(g, d, ...);
    lanes and order as in _lanes_shifted."""
    n = v.size
    p = 0
    while p + 4 * LANES <= n:
        w = v[p:p + 4 * LANES]
        h = g[p:p + 4 * LANES]
        for l in range(LANES):
            d0 = w[l] - m
            d1 = w[l + LANES] - m
            d2 = w[l + 2 * LANES] - m
            d3 = w[l + 3 * LANES] - m
            g0 = _gate(h[l], d0, a, off, relu)
            g1 = _gate(h[l + LANES], d1, a, off, relu)
            g2 = _gate(h[l + 2 * LANES], d2, a, off, relu)
            g3 = _gate(h[l + 3 * LANES], d3, a, off, relu)
            acc1[l] += (g0 + g1) + (g2 + g3)
            acc2[l] += (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3)
        p += 4 * LANES
    while p < n:
        w = v[p:p + LANES]
        h = g[p:p + LANES]
        for l in range(w.size):
            d = w[l] - m
            gl = _gate(h[l], d, a, off, relu)
            acc1[l] += gl
            acc2[l] += gl * d
        p += LANES


@njit(cache=True)
def _affine(v, out, a, m, b, relu):
    """out = a*(v - m) + b, then max(., 0) if relu; computed in float64."""
    if relu:
        for j in range(v.size):
            t = a * (v[j] - m) + b
            out[j] = t if t > 0.0 else 0.0
    else:
        for j in range(v.size):
            out[j] = a * (v[j] - m) + b


@njit(cache=True)
def _dx(g, v, out, a, m, off, k0, k1, relu):
    """out = a*g' + k0 + k1*(v - m), g' = _gate(g, v - m, a, off, relu)."""
    for j in range(v.size):
        d = v[j] - m
        out[j] = a * _gate(g[j], d, a, off, relu) + k0 + k1 * d


@njit(cache=True)
def _affine_lanes(v, out, av, mv, bv, relu):
    """_affine with per-lane coefficients: out[p] = av[p]*(v[p] - mv[p]) + bv[p]."""
    if relu:
        for p in range(v.size):
            t = av[p] * (v[p] - mv[p]) + bv[p]
            out[p] = t if t > 0.0 else 0.0
    else:
        for p in range(v.size):
            out[p] = av[p] * (v[p] - mv[p]) + bv[p]


@njit(cache=True)
def _dx_lanes(g, v, out, av, mv, ov, k0v, k1v, relu):
    """_dx with per-lane coefficients."""
    for p in range(v.size):
        d = v[p] - mv[p]
        out[p] = av[p] * _gate(g[p], d, av[p], ov[p], relu) + k0v[p] + k1v[p] * d


@njit(cache=True, inline='always')
def _merge(na, ma, m2a, nb, mb, m2b):
    """Chan's exact merge of (count, mean, M2); na may be 0."""
    n = na + nb
    if na == 0:
        return nb, mb, m2b
    d = mb - ma
    return n, ma + d * (nb / n), m2a + m2b + d * d * (na * (nb / n))


# ---------------------------------------------------------------- NCHW kernels
#
# Chunks, fixed by the shape: runs are cut into P pieces of S = min(HW, CHUNK)
# positions, and R = max(1, CHUNK // HW) images make an image block. Chunk
# k = b*P + j of channel c holds images [b*R, b*R + R) at positions [j*S, j*S + S).
# Tasks (image block, group of G channels, piece) read memory in order; G only
# decides who computes which chunks, never how, so it may follow the thread count.


@njit(cache=True, inline='always')
def _chunking(N, HW):
    """(S, P, R, number of image blocks)."""
    S = min(HW, CHUNK)
    R = max(1, CHUNK // HW)
    return S, (HW + S - 1) // S, R, (N + R - 1) // R


@njit(cache=True, inline='always')
def _task(t, C, G, P, S, HW):
    """Task t -> (b, c0, c1, j, lo, w): image block b, channels [c0, c1), piece j
    covering positions [lo, lo + w) of each run."""
    ng = (C + G - 1) // G
    b = t // (ng * P)
    r = t - b * ng * P
    g = r // P
    j = r - g * P
    return b, g * G, min(g * G + G, C), j, j * S, min(S, HW - j * S)


@njit(cache=True, inline='always')
def _span_fold(acc, lo, n, tmp):
    """sum(acc[lo:lo + n]) in a fixed order: into LANES lanes, then _fold."""
    _zero(tmp)
    for p in range(0, n, LANES):
        w = acc[lo + p:lo + min(p + LANES, n)]
        for l in range(w.size):
            tmp[l] += w[l]
    return _fold(tmp)


# Short runs (HW <= SMALL_RUN) would spend their time in loop set-up, so for them a
# lane is a position in the contiguous span x[n, c0:c1, :], and the reduction
# walks the images, four at a time (added pairwise before the accumulators).

@njit(cache=True)
def _span_shifted(acc1, acc2, x, C, HW, n0, n1, c0, kv):
    """acc1[p] += d, acc2[p] += d*d over images [n0, n1), d = x[n, c0*HW + p] - kv[p]."""
    L = kv.size
    st = C * HW
    n = n0
    while n + 4 <= n1:
        o = (n * C + c0) * HW
        v0 = x[o:o + L]
        v1 = x[o + st:o + st + L]
        v2 = x[o + 2 * st:o + 2 * st + L]
        v3 = x[o + 3 * st:o + 3 * st + L]
        for p in range(L):
            d0 = v0[p] - kv[p]
            d1 = v1[p] - kv[p]
            d2 = v2[p] - kv[p]
            d3 = v3[p] - kv[p]
            acc1[p] += (d0 + d1) + (d2 + d3)
            acc2[p] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
        n += 4
    while n < n1:
        o = (n * C + c0) * HW
        v0 = x[o:o + L]
        for p in range(L):
            d0 = v0[p] - kv[p]
            acc1[p] += d0
            acc2[p] += d0 * d0
        n += 1


@njit(cache=True)
def _span_grad(acc1, acc2, dy, x, C, HW, n0, n1, c0, mv, av, ov, relu):
    """acc1[p] += g', acc2[p] += g'*d over images [n0, n1), d = x - mv[p],
    g' = _gate(dy, d, av[p], ov[p], relu); order as in _span_shifted."""
    L = mv.size
    st = C * HW
    n = n0
    while n + 4 <= n1:
        o = (n * C + c0) * HW
        v0 = x[o:o + L]
        v1 = x[o + st:o + st + L]
        v2 = x[o + 2 * st:o + 2 * st + L]
        v3 = x[o + 3 * st:o + 3 * st + L]
        h0 = dy[o:o + L]
        h1 = dy[o + st:o + st + L]
        h2 = dy[o + 2 * st:o + 2 * st + L]
        h3 = dy[o + 3 * st:o + 3 * st + L]
        for p in range(L):
            d0 = v0[p] - mv[p]
            d1 = v1[p] - mv[p]
            d2 = v2[p] - mv[p]
            d3 = v3[p] - mv[p]
            g0 = _gate(h0[p], d0, av[p], ov[p], relu)
            g1 = _gate(h1[p], d1, av[p], ov[p], relu)
            g2 = _gate(h2[p], d2, av[p], ov[p], relu)
            g3 = _gate(h3[p], d3, av[p], ov[p], relu)
            acc1[p] += (g0 + g1) + (g2 + g3)
            acc2[p] += (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3)
        n += 4
    while n < n1:
        o = (n * C + c0) * HW
        v0 = x[o:o + L]
        h0 = dy[o:o + L]
        for p in range(L):
            d0 = v0[p] - mv[p]
            g0 = _gate(h0[p], d0, av[p], ov[p], relu)
            acc1[p] += g0
            acc2[p] += g0 * d0
        n += 1


@njit(cache=True, inline='always')
def _per_lane(v, c0, c1, HW):
    """v[c] repeated over the HW positions of each channel c in [c0, c1)."""
    out = np.empty((c1 - c0) * HW)
    for c in range(c0, c1):
        for p in range((c - c0) * HW, (c - c0 + 1) * HW):
            out[p] = v[c]
    return out


@njit(cache=True, inline='always')
def _task_sums(x, dy, N, C, HW, G, t, mean, a, off, relu, grad, s1, s2, k):
    """Chunk sums of task t for each of its channels c0 + i: s1[i], s2[i] and k[i].
    grad False: shifted sums of x (k = the chunk's first element, the shift).
    grad True: sums of g' and g'*(x - mean) (k unused)."""
    S, P, R, Kb = _chunking(N, HW)
    b, c0, c1, j, lo, w = _task(t, C, G, P, S, HW)
    n0 = b * R
    n1 = min(n0 + R, N)
    g = c1 - c0
    for c in range(c0, c1):
        k[c - c0] = np.float64(x[(n0 * C + c) * HW + lo])
    if P == 1 and HW <= SMALL_RUN:
        acc1 = np.empty(g * HW)
        acc2 = np.empty(g * HW)
        _zero(acc1)
        _zero(acc2)
        if grad:
            _span_grad(acc1, acc2, dy, x, C, HW, n0, n1, c0, _per_lane(mean, c0, c1, HW),
                       _per_lane(a, c0, c1, HW), _per_lane(off, c0, c1, HW), relu)
        else:
            _span_shifted(acc1, acc2, x, C, HW, n0, n1, c0, _per_lane(k, 0, g, HW))
        tmp = np.empty(LANES)
        for i in range(g):
            s1[i] = _span_fold(acc1, i * HW, HW, tmp)
            s2[i] = _span_fold(acc2, i * HW, HW, tmp)
    else:
        acc1 = np.empty((g, LANES))
        acc2 = np.empty((g, LANES))
        for i in range(g):
            _zero(acc1[i])
            _zero(acc2[i])
        for n in range(n0, n1):
            for c in range(c0, c1):
                o = (n * C + c) * HW + lo
                if grad:
                    _lanes_grad(acc1[c - c0], acc2[c - c0], dy[o:o + w], x[o:o + w], mean[c],
                                a[c], off[c], relu)
                else:
                    _lanes_shifted(acc1[c - c0], acc2[c - c0], x[o:o + w], k[c - c0])
        for i in range(g):
            s1[i] = _fold(acc1[i])
            s2[i] = _fold(acc2[i])
    return b * P + j, c0, c1, (n1 - n0) * w


@njit(cache=True, parallel=True)
def _moments_nchw(x, N, C, HW, G):
    """Per-channel (mean, M2): chunk partials by shifted sums, merged in chunk order.
    Shifting by x0, the chunk's first element: mean = x0 + S1/n, M2 = S2 - S1**2/n
    with S1 = sum(x - x0), S2 = sum((x - x0)**2). As x0 is a data point,
    (mean - x0)**2 <= M2, so the cancellation costs at most a factor n (the chunk
    size) in relative error: about 1e-12, where E[x**2] - E[x]**2 can lose all."""
    S, P, R, Kb = _chunking(N, HW)
    K = Kb * P
    ng = (C + G - 1) // G
    cnt = np.empty(C * K, np.int64)
    mu = np.empty(C * K)
    m2 = np.empty(C * K)
    for t in prange(Kb * ng * P):
        s1 = np.empty(G)
        s2 = np.empty(G)
        k0 = np.empty(G)
        # mean, a and offset (here k0 thrice) are only read for gradients.
        k, c0, c1, n = _task_sums(x, x, N, C, HW, G, t, k0, k0, k0, False, False, s1, s2, k0)
        for c in range(c0, c1):
            u = s1[c - c0]
            q = c * K + k
            cnt[q] = n
            mu[q] = k0[c - c0] + u / n
            m2[q] = max(s2[c - c0] - u * (u / n), 0.0)
    mean = np.empty(C)
    msq = np.empty(C)
    for c in range(C):
        n, m, q = 0, 0.0, 0.0
        for k in range(c * K, c * K + K):
            n, m, q = _merge(n, m, q, cnt[k], mu[k], m2[k])
        mean[c] = m
        msq[c] = q
    return mean, msq


@njit(cache=True, parallel=True)
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


@njit(cache=True, parallel=True)
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


@njit(cache=True)
def _forward_nchw(x, N, C, HW, scale, offset, eps, relu, y, G):
    mean, msq = _moments_nchw(x, N, C, HW, G)
    var = np.empty(C)
    a = np.empty(C)
    for c in range(C):
        var[c] = msq[c] / (N * HW)
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    _affine_nchw(x, N, C, HW, a, mean, offset, relu, y)
    return mean, var


@njit(cache=True, inline='always')
def _grad_coefs(u, w, M, var, scale, eps):
    """From u = sum(g'), w = sum(g'*(x - mean)): a = scale/sqrt(var + eps) (as in the
    forward), dscale = w/sqrt(var + eps), and k0, k1 with dx = a*g' + k0 + k1*(x - mean)."""
    a = scale / np.sqrt(var + eps)
    inv = 1.0 / np.sqrt(var + eps)
    return a, w * inv, -a * (u / M), -a * (inv * inv) * (w / M)


@njit(cache=True, parallel=True)
def _backward_nchw(dy, x, N, C, HW, mean, var, scale, offset, eps, relu, dx, G):
    M = N * HW
    S, P, R, Kb = _chunking(N, HW)
    K = Kb * P
    ng = (C + G - 1) // G
    a = np.empty(C)
    for c in range(C):
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    s1 = np.empty(C * K)
    s2 = np.empty(C * K)
    for t in prange(Kb * ng * P):
        u = np.empty(G)
        w = np.empty(G)
        k0 = np.empty(G)
        k, c0, c1, n = _task_sums(x, dy, N, C, HW, G, t, mean, a, offset, relu, True, u, w, k0)
        for c in range(c0, c1):
            s1[c * K + k] = u[c - c0]
            s2[c * K + k] = w[c - c0]
    dscale = np.empty(C)
    doffset = np.empty(C)
    k0 = np.empty(C)
    k1 = np.empty(C)
    for c in range(C):
        u = 0.0
        w = 0.0
        for k in range(c * K, c * K + K):
            u += s1[k]
            w += s2[k]
        a[c], dscale[c], k0[c], k1[c] = _grad_coefs(u, w, M, var[c], scale[c], eps)
        doffset[c] = u
    _dx_nchw(dy, x, N, C, HW, a, mean, offset, k0, k1, relu, dx)
    return dscale, doffset


# ---------------------------------------------------------------- NC kernels

@njit(cache=True, parallel=True)
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
        _span_shifted(s1, s2, x, C, 1, r0, r1, 0, x0)
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


@njit(cache=True)
def _forward_nc(x, N, C, scale, offset, eps, relu, y):
    mean, msq = _moments_nc(x, N, C)
    var = np.empty(C)
    a = np.empty(C)
    for c in range(C):
        var[c] = msq[c] / N
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    _affine_nchw(x, N, C, 1, a, mean, offset, relu, y)   # features: HW = 1
    return mean, var


@njit(cache=True, parallel=True)
def _backward_nc(dy, x, N, C, mean, var, scale, offset, eps, relu, dx):
    R = max(1, BLOCK // C)
    K = (N + R - 1) // R
    a = np.empty(C)
    for c in range(C):
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    s1 = np.empty((K, C))
    s2 = np.empty((K, C))
    for k in prange(K):
        _zero(s1[k])
        _zero(s2[k])
        _span_grad(s1[k], s2[k], dy, x, C, 1, k * R, min(k * R + R, N), 0, mean, a, offset,
                   relu)
    doffset = np.empty(C)
    dscale = np.empty(C)
    k0 = np.empty(C)
    k1 = np.empty(C)
    for c in range(C):
        u = 0.0
        w = 0.0
        for k in range(K):
            u += s1[k, c]
            w += s2[k, c]
        a[c], dscale[c], k0[c], k1[c] = _grad_coefs(u, w, N, var[c], scale[c], eps)
        doffset[c] = u
    _dx_nchw(dy, x, N, C, 1, a, mean, offset, k0, k1, relu, dx)
    return dscale, doffset


# ---------------------------------------------------------------- dispatch

def _vec(v):
    return np.ascontiguousarray(v, dtype=np.float64).reshape(-1)


def _hw(x):
    return x.shape[2] * x.shape[3]


def _group(N, C, HW):
    """Channels per reduction task: as many as keep the runs read in memory order,
    while leaving at least four tasks per thread. Schedule only: results do not
    depend on it."""
    R = max(1, CHUNK // HW)
    P = -(-HW // min(HW, CHUNK))
    G = max(1, min(C, SPAN // HW)) if P == 1 and HW <= SMALL_RUN else C
    tasks = 4 * get_num_threads()
    while G > 1 and -(-N // R) * P * -(-C // G) < tasks:
        G = -(-G // 2)
    return G


_RECYCLED = {}          # (shape, dtype) -> outputs handed out earlier, kept for reuse
_RECYCLE_MIN_BYTES = 1 << 20
_RECYCLE_SLOTS = 3


def _output(shape, dtype):
    """An uninitialised output array, reusing an earlier output nobody references any more.

    A fresh large array costs the operating system one page fault per page on first touch,
    which for tens of MB takes longer than the kernel itself. Training and inference ask for
    the same shapes again and again, so a few such arrays are kept and handed out again once
    the caller has let go of them (no view or reference left: only this cache holds them).
    """
    dtype = np.dtype(dtype)
    if int(np.prod(shape)) * dtype.itemsize < _RECYCLE_MIN_BYTES:
        return np.empty(shape, dtype)
    slots = _RECYCLED.setdefault((tuple(shape), dtype.str), [])
    for array in slots:
        if sys.getrefcount(array) <= 3:  # the list, the loop variable and getrefcount's argument
            return array
    array = np.empty(shape, dtype)
    if len(slots) < _RECYCLE_SLOTS:
        slots.append(array)
    return array


def bn_forward_train(x, scale, offset, epsilon, relu=False):
    """Training forward: batch statistics, normalize, scale, shift (and ReLU).

    mean = sum(x)/M, var = sum((x - mean)**2)/M (biased), over all non-channel
    elements (M = N*H*W); y = scale*(x - mean)/sqrt(var + epsilon) + offset,
    computed as a*(x - mean) + offset with a = scale/sqrt(var + epsilon), in float64;
    y = max(y, 0) if relu. Returns (y, mean, var): y of x's dtype and shape,
    mean and var float64 of length C.
    """
    scale, offset, eps, relu = _vec(scale), _vec(offset), float(epsilon), bool(relu)
    y = _output(x.shape, x.dtype)
    if x.ndim == 4:
        N, C = x.shape[:2]
        mean, var = _forward_nchw(x.reshape(-1), N, C, _hw(x), scale, offset, eps, relu,
                                  y.reshape(-1), _group(N, C, _hw(x)))
    else:
        N, C = x.shape
        mean, var = _forward_nc(x.reshape(-1), N, C, scale, offset, eps, relu, y.reshape(-1))
    return y, mean, var


def bn_backward(dy, x, mean, var, scale, offset, epsilon, relu=False):
    """Gradient of bn_forward_train (batch statistics depend on x).

    With g = dy*[a*(x - mean) + offset > 0] if relu (mask recomputed from x,
    exactly as the forward computes its pre-activation) else g = dy,
    xhat = (x - mean)/sqrt(var + epsilon), a = scale/sqrt(var + epsilon), per channel:
    doffset = sum(g), dscale = sum(g*xhat),
    dx = a*(g - mean(g) - xhat*mean(g*xhat)).
    Returns (dx, dscale, doffset): dx of x's dtype, the others float64 length C.
    """
    mean, var = _vec(mean), _vec(var)
    scale, offset, eps, relu = _vec(scale), _vec(offset), float(epsilon), bool(relu)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    dx = _output(x.shape, x.dtype)
    if x.ndim == 4:
        N, C = x.shape[:2]
        dscale, doffset = _backward_nchw(dy.reshape(-1), x.reshape(-1), N, C, _hw(x), mean,
                                         var, scale, offset, eps, relu, dx.reshape(-1),
                                         _group(N, C, _hw(x)))
    else:
        N, C = x.shape
        dscale, doffset = _backward_nc(dy.reshape(-1), x.reshape(-1), N, C, mean, var,
                                       scale, offset, eps, relu, dx.reshape(-1))
    return dx, dscale, doffset


def bn_inference(x, a, b, relu=False):
    """Folded inference: y = a[c]*x + b[c], then max(y, 0) if relu; x's dtype."""
    a, b, relu = _vec(a), _vec(b), bool(relu)
    zero = np.zeros(a.size)
    y = _output(x.shape, x.dtype)
    if x.ndim == 4:
        N, C = x.shape[:2]
        _affine_nchw(x.reshape(-1), N, C, _hw(x), a, zero, b, relu, y.reshape(-1))
    else:
        N, C = x.shape
        _affine_nchw(x.reshape(-1), N, C, 1, a, zero, b, relu, y.reshape(-1))
    return y


def bn_fold(scale, offset, mean, var, epsilon):
    """a = scale/sqrt(var + epsilon), b = offset - a*mean (float64), so that the
    inference output a*x + b equals scale*(x - mean)/sqrt(var + epsilon) + offset."""
    a = _vec(scale) / np.sqrt(_vec(var) + float(epsilon))
    return a, _vec(offset) - a * _vec(mean)


def bn_stats(x):
    """(count, mean, m2) per channel: count = N*H*W (int, the same for every
    channel), mean = sum(x)/count, m2 = sum((x - mean)**2), float64 length C."""
    if x.ndim == 4:
        N, C = x.shape[:2]
        mean, m2 = _moments_nchw(x.reshape(-1), N, C, _hw(x), _group(N, C, _hw(x)))
        return N * _hw(x), mean, m2
    N, C = x.shape
    mean, m2 = _moments_nc(x.reshape(-1), N, C)
    return N, mean, m2


def chan_merge(count_a, mean_a, m2_a, count_b, mean_b, m2_b):
    """Exact merge of two sets of per-channel statistics (Chan et al.):

    n = na + nb, d = mean_b - mean_a, mean = mean_a + d*nb/n,
    m2 = m2_a + m2_b + d**2*na*nb/n. If na == 0 the b statistics are returned as
    they are (so merging into an empty accumulator is exact). Counts may be ints
    or int arrays; the biased variance of the union is m2/n.
    """
    na = np.asarray(count_a)
    nb = np.asarray(count_b)
    mean_a, m2_a, mean_b, m2_b = _vec(mean_a), _vec(m2_a), _vec(mean_b), _vec(m2_b)
    n = na + nb
    f = nb / np.maximum(n, 1)
    d = mean_b - mean_a
    mean = np.where(na == 0, mean_b, mean_a + d * f)
    m2 = np.where(na == 0, m2_b, m2_a + m2_b + d * d * (na * f))
    count = int(n) if n.ndim == 0 else n
    return count, mean, m2
