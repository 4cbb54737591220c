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

Determinism: every reduction is split by the shape alone. Images: each channel's M
elements are cut into chunks of ``CHUNK`` consecutive elements (in n, h, w order);
features: the rows are cut into blocks of ``max(1, BLOCK // C)`` rows. Each chunk
or block gives a partial (count, mean, M2) by an exact two-pass inside the chunk,
and partials are merged in chunk order with Chan's formula::

    n = na + nb;  d = mb - ma
    mean = ma + d*nb/n;  M2 = M2a + M2b + d*d*na*nb/n

The thread count only decides who computes a chunk, never what is summed, so the
output is bit-identical under any ``NUMBA_NUM_THREADS``. Inner sums use eight
interleaved float64 accumulators in a fixed order (no fastmath: the order is ours).

All Numba functions take flat 1-D views plus the shape, and float64 per-channel
vectors, so each compiles at most twice (float32 and float64 data).
"""

import numpy as np
from numba import njit, prange

CHUNK = 8192      # elements of one channel per reduction task (images)
BLOCK = 32768     # elements per row block (features); rows = max(1, BLOCK // C)


# ---------------------------------------------------------------- inner loops

@njit(cache=True)
def _sum(v):
    """sum(v) in float64; eight lanes so LLVM can vectorize without reassociating."""
    n = v.size
    n8 = n - n % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for j in range(0, n8, 8):
        s0 += v[j]
        s1 += v[j + 1]
        s2 += v[j + 2]
        s3 += v[j + 3]
        s4 += v[j + 4]
        s5 += v[j + 5]
        s6 += v[j + 6]
        s7 += v[j + 7]
    for j in range(n8, n):
        s0 += v[j]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=True)
def _sqdev(v, m):
    """sum((v - m)**2) in float64, same lane order as _sum."""
    n = v.size
    n8 = n - n % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for j in range(0, n8, 8):
        d0 = v[j] - m
        d1 = v[j + 1] - m
        d2 = v[j + 2] - m
        d3 = v[j + 3] - m
        d4 = v[j + 4] - m
        d5 = v[j + 5] - m
        d6 = v[j + 6] - m
        d7 = v[j + 7] - m
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
        s4 += d4 * d4
        s5 += d5 * d5
        s6 += d6 * d6
        s7 += d7 * d7
    for j in range(n8, n):
        d = v[j] - m
        s0 += d * d
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=True)
def _grad_sums(g, v, m, a, off, relu):
    """(sum(g'), sum(g'*(v - m))) with g' = g masked by a*(v - m) + off > 0 if relu."""
    n = v.size
    n4 = n - n % 4
    p0 = p1 = p2 = p3 = 0.0
    q0 = q1 = q2 = q3 = 0.0
    if relu:
        for j in range(0, n4, 4):
            d0 = v[j] - m
            d1 = v[j + 1] - m
            d2 = v[j + 2] - m
            d3 = v[j + 3] - m
            g0 = g[j] if a * d0 + off > 0.0 else 0.0
            g1 = g[j + 1] if a * d1 + off > 0.0 else 0.0
            g2 = g[j + 2] if a * d2 + off > 0.0 else 0.0
            g3 = g[j + 3] if a * d3 + off > 0.0 else 0.0
            p0 += g0
            p1 += g1
            p2 += g2
            p3 += g3
            q0 += g0 * d0
            q1 += g1 * d1
            q2 += g2 * d2
            q3 += g3 * d3
        for j in range(n4, n):
            d = v[j] - m
            gj = g[j] if a * d + off > 0.0 else 0.0
            p0 += gj
            q0 += gj * d
    else:
        for j in range(0, n4, 4):
            d0 = v[j] - m
            d1 = v[j + 1] - m
            d2 = v[j + 2] - m
            d3 = v[j + 3] - m
            p0 += g[j]
            p1 += g[j + 1]
            p2 += g[j + 2]
            p3 += g[j + 3]
            q0 += g[j] * d0
            q1 += g[j + 1] * d1
            q2 += g[j + 2] * d2
            q3 += g[j + 3] * d3
        for j in range(n4, n):
            d = v[j] - m
            p0 += g[j]
            q0 += g[j] * d
    return (p0 + p1) + (p2 + p3), (q0 + q1) + (q2 + q3)


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
    """out = a*g' + k0 + k1*(v - m), g' = g masked as in _grad_sums."""
    if relu:
        for j in range(v.size):
            d = v[j] - m
            gj = g[j] if a * d + off > 0.0 else 0.0
            out[j] = a * gj + k0 + k1 * d
    else:
        for j in range(v.size):
            out[j] = a * g[j] + k0 + k1 * (v[j] - m)


@njit(cache=True)
def _merge(na, ma, m2a, nb, mb, m2b):
    """Chan's exact merge of (count, mean, M2); na may be 0."""
    n = na + nb
    if na == 0:
        return nb, mb, m2b
    d = mb - ma
    return n, ma + d * (nb / n), m2a + m2b + d * d * (na * (nb / n))


# ---------------------------------------------------------------- NCHW kernels

@njit(cache=True)
def _chunk_moments(x, c, k, C, HW, M):
    """(count, mean, M2) of chunk k of channel c: exact two-pass over its runs."""
    s = k * CHUNK
    e = min(s + CHUNK, M)
    tot = 0.0
    p = s
    while p < e:
        n = p // HW
        i = p - n * HW
        ln = min(HW - i, e - p)
        base = (n * C + c) * HW + i
        tot += _sum(x[base:base + ln])
        p += ln
    cnt = e - s
    mu = tot / cnt
    m2 = 0.0
    p = s
    while p < e:
        n = p // HW
        i = p - n * HW
        ln = min(HW - i, e - p)
        base = (n * C + c) * HW + i
        m2 += _sqdev(x[base:base + ln], mu)
        p += ln
    return cnt, mu, m2


@njit(cache=True, parallel=True)
def _moments_nchw(x, N, C, HW):
    """Per-channel (mean, M2) over N*HW elements, chunked and merged in fixed order."""
    M = N * HW
    K = (M + CHUNK - 1) // CHUNK
    cnt = np.empty(C * K, np.int64)
    mu = np.empty(C * K)
    m2 = np.empty(C * K)
    for t in prange(C * K):
        c = t // K
        cnt[t], mu[t], m2[t] = _chunk_moments(x, c, t - c * K, C, HW, M)
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
    for r in prange(N * C):
        c = r % C
        o = r * HW
        _affine(x[o:o + HW], y[o:o + HW], a[c], m[c], b[c], relu)


@njit(cache=True)
def _forward_nchw(x, N, C, HW, scale, offset, eps, relu, y):
    mean, msq = _moments_nchw(x, N, C, HW)
    var = np.empty(C)
    a = np.empty(C)
    for c in range(C):
        var[c] = msq[c] / (N * HW)
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    _affine_nchw(x, N, C, HW, a, mean, offset, relu, y)
    return mean, var


@njit(cache=True, parallel=True)
def _backward_nchw(dy, x, N, C, HW, mean, var, scale, offset, eps, relu, dx):
    M = N * HW
    K = (M + CHUNK - 1) // CHUNK
    a = np.empty(C)
    inv = np.empty(C)
    for c in range(C):
        a[c] = scale[c] / np.sqrt(var[c] + eps)
        inv[c] = 1.0 / np.sqrt(var[c] + eps)
    s1 = np.empty(C * K)
    s2 = np.empty(C * K)
    for t in prange(C * K):
        c = t // K
        s = (t - c * K) * CHUNK
        e = min(s + CHUNK, M)
        p1 = 0.0
        p2 = 0.0
        p = s
        while p < e:
            n = p // HW
            i = p - n * HW
            ln = min(HW - i, e - p)
            o = (n * C + c) * HW + i
            u, w = _grad_sums(dy[o:o + ln], x[o:o + ln], mean[c], a[c], offset[c], relu)
            p1 += u
            p2 += w
            p += ln
        s1[t] = p1
        s2[t] = p2
    doffset = np.empty(C)
    dscale = np.empty(C)
    k0 = np.empty(C)
    k1 = np.empty(C)
    for c in range(C):
        u = 0.0
        w = 0.0
        for k in range(c * K, c * K + K):
            u += s1[k]
            w += s2[k]
        doffset[c] = u
        dscale[c] = w * inv[c]
        k0[c] = -a[c] * (u / M)
        k1[c] = -a[c] * (inv[c] * inv[c]) * (w / M)
    for r in prange(N * C):
        c = r % C
        o = r * HW
        _dx(dy[o:o + HW], x[o:o + HW], dx[o:o + HW], a[c], mean[c], offset[c],
            k0[c], k1[c], relu)
    return dscale, doffset


# ---------------------------------------------------------------- NC kernels

@njit(cache=True, parallel=True)
def _moments_nc(x, N, C):
    """Per-channel (mean, M2) of x[n, c]: row blocks, two-pass, fixed-order merge."""
    R = max(1, BLOCK // C)
    K = (N + R - 1) // R
    mu = np.empty((K, C))
    m2 = np.empty((K, C))
    for k in prange(K):
        r0 = k * R
        r1 = min(r0 + R, N)
        acc = mu[k]
        for c in range(C):
            acc[c] = 0.0
        for r in range(r0, r1):
            row = x[r * C:r * C + C]
            for c in range(C):
                acc[c] += row[c]
        for c in range(C):
            acc[c] /= r1 - r0
        sq = m2[k]
        for c in range(C):
            sq[c] = 0.0
        for r in range(r0, r1):
            row = x[r * C:r * C + C]
            for c in range(C):
                d = row[c] - acc[c]
                sq[c] += d * d
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


@njit(cache=True, parallel=True)
def _affine_nc(x, N, C, a, m, b, relu, y):
    R = max(1, BLOCK // C)
    K = (N + R - 1) // R
    for k in prange(K):
        for r in range(k * R, min(k * R + R, N)):
            o = r * C
            xr = x[o:o + C]
            yr = y[o:o + C]
            if relu:
                for c in range(C):
                    t = a[c] * (xr[c] - m[c]) + b[c]
                    yr[c] = t if t > 0.0 else 0.0
            else:
                for c in range(C):
                    yr[c] = a[c] * (xr[c] - m[c]) + b[c]


@njit(cache=True)
def _forward_nc(x, N, C, scale, offset, eps, relu, y):
    mean, msq = _moments_nc(x, N, C)
    var = np.empty(C)
    a = np.empty(C)
    for c in range(C):
        var[c] = msq[c] / N
        a[c] = scale[c] / np.sqrt(var[c] + eps)
    _affine_nc(x, N, C, a, mean, offset, relu, y)
    return mean, var


@njit(cache=True, parallel=True)
def _backward_nc(dy, x, N, C, mean, var, scale, offset, eps, relu, dx):
    R = max(1, BLOCK // C)
    K = (N + R - 1) // R
    a = np.empty(C)
    inv = np.empty(C)
    for c in range(C):
        a[c] = scale[c] / np.sqrt(var[c] + eps)
        inv[c] = 1.0 / np.sqrt(var[c] + eps)
    s1 = np.empty((K, C))
    s2 = np.empty((K, C))
    for k in prange(K):
        p1 = s1[k]
        p2 = s2[k]
        for c in range(C):
            p1[c] = 0.0
            p2[c] = 0.0
        for r in range(k * R, min(k * R + R, N)):
            o = r * C
            xr = x[o:o + C]
            gr = dy[o:o + C]
            if relu:
                for c in range(C):
                    d = xr[c] - mean[c]
                    g = gr[c] if a[c] * d + offset[c] > 0.0 else 0.0
                    p1[c] += g
                    p2[c] += g * d
            else:
                for c in range(C):
                    p1[c] += gr[c]
                    p2[c] += gr[c] * (xr[c] - mean[c])
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
        doffset[c] = u
        dscale[c] = w * inv[c]
        k0[c] = -a[c] * (u / N)
        k1[c] = -a[c] * (inv[c] * inv[c]) * (w / N)
    for k in prange(K):
        for r in range(k * R, min(k * R + R, N)):
            o = r * C
            xr = x[o:o + C]
            gr = dy[o:o + C]
            dr = dx[o:o + C]
            if relu:
                for c in range(C):
                    d = xr[c] - mean[c]
                    g = gr[c] if a[c] * d + offset[c] > 0.0 else 0.0
                    dr[c] = a[c] * g + k0[c] + k1[c] * d
            else:
                for c in range(C):
                    dr[c] = a[c] * gr[c] + k0[c] + k1[c] * (xr[c] - mean[c])
    return dscale, doffset


# ---------------------------------------------------------------- dispatch

def _vec(v):
    return np.ascontiguousarray(v, dtype=np.float64).reshape(-1)


def _hw(x):
    return x.shape[2] * x.shape[3]


def bn_forward_train(x, scale, offset, epsilon, relu=False):
    """Training forward: batch statistics, normalize, scale, shift (and ReLU).

    mean = sum(x)/M, var = sum((x - mean)**2)/M (biased), over all non-channel
    elements (M = N*H*W); y = scale*(x - mean)/sqrt(var + epsilon) + offset,
    computed as a*(x - mean) + offset with a = scale/sqrt(var + epsilon), in float64;
    y = max(y, 0) if relu. Returns (y, mean, var): y of x's dtype and shape,
    mean and var float64 of length C.
    """
    scale, offset, eps, relu = _vec(scale), _vec(offset), float(epsilon), bool(relu)
    # numpy's allocator (not Numba's) asks for huge pages on large arrays: fewer faults.
    y = np.empty(x.shape, x.dtype)
    if x.ndim == 4:
        N, C = x.shape[:2]
        mean, var = _forward_nchw(x.reshape(-1), N, C, _hw(x), scale, offset, eps, relu,
                                  y.reshape(-1))
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
    dx = np.empty(x.shape, x.dtype)
    if x.ndim == 4:
        N, C = x.shape[:2]
        dscale, doffset = _backward_nchw(dy.reshape(-1), x.reshape(-1), N, C, _hw(x), mean,
                                         var, scale, offset, eps, relu, dx.reshape(-1))
    else:
        N, C = x.shape
        dscale, doffset = _backward_nc(dy.reshape(-1), x.reshape(-1), N, C, mean, var,
                                       scale, offset, eps, relu, dx.reshape(-1))
    return dx, dscale, doffset


def bn_inference(x, a, b, relu=False):
    """Folded inference: y = a[c]*x + b[c], then max(y, 0) if relu; x's dtype."""
    a, b, relu = _vec(a), _vec(b), bool(relu)
    zero = np.zeros(a.size)
    y = np.empty(x.shape, x.dtype)
    if x.ndim == 4:
        N, C = x.shape[:2]
        _affine_nchw(x.reshape(-1), N, C, _hw(x), a, zero, b, relu, y.reshape(-1))
    else:
        N, C = x.shape
        _affine_nc(x.reshape(-1), N, C, a, zero, b, relu, y.reshape(-1))
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
        mean, m2 = _moments_nchw(x.reshape(-1), N, C, _hw(x))
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
