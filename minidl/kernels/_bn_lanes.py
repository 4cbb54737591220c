"""Batch-normalization kernels, part 1 of 2 (Numba): the inner loops, over float64 lanes
or over spans of short runs, and the chunking of a reduction into the partials that
``_bn_layouts.py`` merges. The maths, the chunks and why the results do not depend on
the thread count are in ``batchnorm.py``.

Every loop takes flat 1-D views plus the shape, and float64 per-channel vectors, so each
compiles at most twice (float32 and float64 data). The statistics and the backward's
sums share their loops (_lanes_sums, _span_sums, _task_sums, with a ``grad`` flag), so
both sum in the same fixed order. groupnorm.py uses _fold too.
"""

import numpy as np

from ._jit import kernel

CHUNK = 16384     # at most this many elements of one channel per partial (images)
LANES = 32        # float64 accumulators per sum; a power of two
SMALL_RUN = 256   # runs (H*W) up to this long use span lanes


# ---------------------------------------------------------------- inner loops

@kernel(inline='always')
def _zero(acc):
    for l in range(acc.size):
        acc[l] = 0.0


@kernel(inline='always')
def _fold(acc):
    """Sum of the lanes by halving (fixed order); acc.size is a power of two."""
    w = acc.size
    while w > 1:
        w //= 2
        for l in range(w):
            acc[l] += acc[l + w]
    return acc[0]


@kernel(inline='always')
def _relu(t):
    """max(t, 0) that keeps NaN, as np.maximum does (t > 0 ? t : 0 would give 0)."""
    return 0.0 if t <= 0.0 else t


@kernel(inline='always')
def _gate(g, d, a, off, relu):
    """g, or 0 where the ReLU after the normalization was off: where its input
    a*d + off is not > 0, NaN included, as the ReLU layer's mask [Z > 0]."""
    return g if not relu or a * d + off > 0.0 else 0.0


@kernel(inline='always')
def _term(h, d, a, off, relu, grad):
    """What the sums add up for one element, d = v - m: d for the statistics (so that the
    sums are sum(d) and sum(d*d)), or g' = _gate(h, d, ...) for gradients (sum(g'),
    sum(g'*d)). grad is fixed for a whole call: the shared loops measured as fast as the
    separate statistics and gradient loops they replaced."""
    return _gate(h, d, a, off, relu) if grad else d


# Lane l accumulates elements l, l + LANES, l + 2*LANES, ... of each run. The
# accumulators live in a small array, so the loops are element-wise and LLVM
# vectorizes them without reordering any sum (Numba leaves SLP vectorization off,
# so scalar accumulators would stay scalar). Four rows of LANES are added together
# before touching the accumulators, a fixed pairwise order, to cut their traffic.
# Indices come from range() over slices: no negative-index wraparound code, which
# would block vectorizing.

@kernel()
def _lanes_sums(acc1, acc2, g, v, m, a, off, relu, grad):
    """acc1[l] += t, acc2[l] += t*d for d = v - m, t = _term(g, d, ...), element l of
    each LANES-piece."""
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
            t0 = _term(h[l], d0, a, off, relu, grad)
            t1 = _term(h[l + LANES], d1, a, off, relu, grad)
            t2 = _term(h[l + 2 * LANES], d2, a, off, relu, grad)
            t3 = _term(h[l + 3 * LANES], d3, a, off, relu, grad)
            acc1[l] += (t0 + t1) + (t2 + t3)
            acc2[l] += (t0 * d0 + t1 * d1) + (t2 * d2 + t3 * d3)
        p += 4 * LANES
    while p < n:
        w = v[p:p + LANES]
        h = g[p:p + LANES]
        for l in range(w.size):
            d = w[l] - m
            t = _term(h[l], d, a, off, relu, grad)
            acc1[l] += t
            acc2[l] += t * d
        p += LANES


@kernel()
def _affine(v, out, a, m, b, relu):
    """out = a*(v - m) + b, then max(., 0) if relu; computed in float64."""
    if relu:
        for j in range(v.size):
            t = a * (v[j] - m) + b
            out[j] = _relu(t)
    else:
        for j in range(v.size):
            out[j] = a * (v[j] - m) + b


@kernel()
def _dx(g, v, out, a, m, off, k0, k1, relu):
    """out = a*g' + k0 + k1*(v - m), g' = _gate(g, v - m, a, off, relu)."""
    for j in range(v.size):
        d = v[j] - m
        out[j] = a * _gate(g[j], d, a, off, relu) + k0 + k1 * d


@kernel()
def _affine_lanes(v, out, av, mv, bv, relu):
    """_affine with per-lane coefficients: out[p] = av[p]*(v[p] - mv[p]) + bv[p]."""
    if relu:
        for p in range(v.size):
            t = av[p] * (v[p] - mv[p]) + bv[p]
            out[p] = _relu(t)
    else:
        for p in range(v.size):
            out[p] = av[p] * (v[p] - mv[p]) + bv[p]


@kernel()
def _dx_lanes(g, v, out, av, mv, ov, k0v, k1v, relu):
    """_dx with per-lane coefficients."""
    for p in range(v.size):
        d = v[p] - mv[p]
        out[p] = av[p] * _gate(g[p], d, av[p], ov[p], relu) + k0v[p] + k1v[p] * d


@kernel(inline='always')
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
# positions, and the N images are cut into equal blocks of R images: as few blocks as
# keep R*HW <= CHUNK (where HW <= CHUNK), so that threads get equal work. Chunk
# k = b*P + j of channel c holds images [b*R, b*R + R) at positions [j*S, j*S + S).
# Tasks (image block, group of G channels, piece) read memory in order; G only
# decides who computes which chunks, never how, so it may follow the thread count.


@kernel(inline='always')
def _chunking(N, HW):
    """(S, P, R, number of image blocks)."""
    S = min(HW, CHUNK)
    most = max(1, CHUNK // HW)
    blocks = (N + most - 1) // most
    R = (N + blocks - 1) // blocks
    return S, (HW + S - 1) // S, R, (N + R - 1) // R


@kernel(inline='always')
def _task(t, C, G, P, S, HW):
    """Task t -> (b, c0, c1, j, lo, w): image block b, channels [c0, c1), piece j
    covering positions [lo, lo + w) of each run."""
    ng = (C + G - 1) // G
    b = t // (ng * P)
    r = t - b * ng * P
    g = r // P
    j = r - g * P
    return b, g * G, min(g * G + G, C), j, j * S, min(S, HW - j * S)


@kernel(inline='always')
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

@kernel()
def _span_sums(acc1, acc2, dy, x, C, HW, n0, n1, c0, mv, av, ov, relu, grad):
    """acc1[p] += t, acc2[p] += t*d over images [n0, n1), d = x[n, c0*HW + p] - mv[p],
    t = _term(dy, d, av[p], ov[p], relu, grad)."""
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
            t0 = _term(h0[p], d0, av[p], ov[p], relu, grad)
            t1 = _term(h1[p], d1, av[p], ov[p], relu, grad)
            t2 = _term(h2[p], d2, av[p], ov[p], relu, grad)
            t3 = _term(h3[p], d3, av[p], ov[p], relu, grad)
            acc1[p] += (t0 + t1) + (t2 + t3)
            acc2[p] += (t0 * d0 + t1 * d1) + (t2 * d2 + t3 * d3)
        n += 4
    while n < n1:
        o = (n * C + c0) * HW
        v0 = x[o:o + L]
        h0 = dy[o:o + L]
        for p in range(L):
            d0 = v0[p] - mv[p]
            t0 = _term(h0[p], d0, av[p], ov[p], relu, grad)
            acc1[p] += t0
            acc2[p] += t0 * d0
        n += 1


@kernel(inline='always')
def _per_lane(v, c0, c1, HW):
    """v[c] repeated over the HW positions of each channel c in [c0, c1)."""
    out = np.empty((c1 - c0) * HW)
    for c in range(c0, c1):
        for p in range((c - c0) * HW, (c - c0 + 1) * HW):
            out[p] = v[c]
    return out


@kernel(inline='always')
def _task_sums(x, dy, N, C, HW, G, t, mean, a, off, relu, grad, s1, s2, k):
    """Chunk sums of task t for each of its channels c0 + i: s1[i], s2[i] and k[i].
    grad False: shifted sums of x (k = the chunk's first element, the shift; dy, mean,
    a and off are not read). grad True: sums of g' and g'*(x - mean) (k unused)."""
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
            mv, av, ov = _per_lane(mean, c0, c1, HW), _per_lane(a, c0, c1, HW), _per_lane(off, c0, c1, HW)
        else:
            mv = _per_lane(k, 0, g, HW)
            av, ov = mv, mv        # only read for gradients
        _span_sums(acc1, acc2, dy, x, C, HW, n0, n1, c0, mv, av, ov, relu, grad)
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
                    m, ac, oc = mean[c], a[c], off[c]
                else:
                    m, ac, oc = k[c - c0], 0.0, 0.0     # ac and oc only read for gradients
                _lanes_sums(acc1[c - c0], acc2[c - c0], dy[o:o + w], x[o:o + w], m, ac, oc, relu, grad)
        for i in range(g):
            s1[i] = _fold(acc1[i])
            s2[i] = _fold(acc2[i])
    return b * P + j, c0, c1, (n1 - n0) * w
