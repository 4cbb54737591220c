"""Group-normalization kernels (Numba), with thin Python dispatch. Layer norm is group
norm with one group.

Layouts: images ``x[n, c, h, w]`` or features ``x[n, c]`` (then S = 1 below). The C
channels are cut into G groups of ``C/G`` consecutive channels; group g of observation n
is one contiguous run of ``M = (C/G)*S`` elements, ``S = H*W``.

Maths, per (n, g), over the M elements of the group (``eps`` = epsilon)::

    mean = sum(x) / M
    var  = sum((x - mean)**2) / M                      # biased, two passes
    rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd
    y    = scale[c] * xhat + offset[c]

    backward, with d = scale[c] * dy:
    doffset[c] = sum over n, h, w of dy
    dscale[c]  = sum over n, h, w of dy * xhat
    dx         = rstd * (d - sum(d)/M - xhat * sum(d * xhat)/M)     # sums over the group

Determinism: one task per (n, g), split by the shape alone; within a task the sums run
over ``LANES`` float64 accumulators (lane l takes every LANES-th element) folded by
halving in a fixed order; per-channel dscale/doffset partials of each observation are
added over n in order 0..N-1. The thread count only decides who runs a task, so the
output is bit-identical under any ``NUMBA_NUM_THREADS``. No fastmath.
"""

import numpy as np
from numba import prange

from ._bn_lanes import _fold
from ._jit import kernel, output

LANES = 16   # float64 accumulators per sum; a power of two


@kernel()
def _sum(v):
    acc = np.zeros(LANES)
    for p in range(0, v.size, LANES):
        w = v[p:p + LANES]
        for l in range(w.size):
            acc[l] += w[l]
    return _fold(acc)


@kernel()
def _sum_sqdev(v, m):
    acc = np.zeros(LANES)
    for p in range(0, v.size, LANES):
        w = v[p:p + LANES]
        for l in range(w.size):
            d = w[l] - m
            acc[l] += d * d
    return _fold(acc)


@kernel()
def _sum_grad(g, v, m):
    """(sum(g), sum(g*(v - m)))."""
    acc1 = np.zeros(LANES)
    acc2 = np.zeros(LANES)
    for p in range(0, v.size, LANES):
        w = v[p:p + LANES]
        h = g[p:p + LANES]
        for l in range(w.size):
            acc1[l] += h[l]
            acc2[l] += h[l] * (w[l] - m)
    return _fold(acc1), _fold(acc2)


@kernel(parallel=True)
def _forward(x, y, groups, S, scale, offset, eps, mean, rstd):
    N = x.shape[0]
    cg = x.shape[1] // (groups * S)
    M = cg * S
    for t in prange(N * groups):
        n = t // groups
        g = t - n * groups
        v = x[n, g * M:(g + 1) * M]
        m = _sum(v) / M
        r = 1.0 / np.sqrt(_sum_sqdev(v, m) / M + eps)
        mean[n, g] = m
        rstd[n, g] = r
        for k in range(cg):
            c = g * cg + k
            a = scale[c] * r
            b = offset[c]
            for j in range(k * S, (k + 1) * S):
                y[n, g * M + j] = a * (v[j] - m) + b


@kernel(parallel=True)
def _backward(dy, x, dx, groups, S, mean, rstd, scale, part_dy, part_dyx):
    N = x.shape[0]
    cg = x.shape[1] // (groups * S)
    M = cg * S
    for t in prange(N * groups):
        n = t // groups
        g = t - n * groups
        m = mean[n, g]
        r = rstd[n, g]
        sum_d = 0.0
        sum_dxhat = 0.0
        for k in range(cg):
            c = g * cg + k
            lo = g * M + k * S
            s1, s2 = _sum_grad(dy[n, lo:lo + S], x[n, lo:lo + S], m)
            part_dy[n, c] = s1
            part_dyx[n, c] = s2 * r
            sum_d += scale[c] * s1
            sum_dxhat += scale[c] * s2 * r
        k0 = sum_d / M
        k1 = sum_dxhat / M
        for k in range(cg):
            c = g * cg + k
            lo = g * M + k * S
            for j in range(lo, lo + S):
                xhat = (x[n, j] - m) * r
                dx[n, j] = r * (scale[c] * dy[n, j] - k0 - xhat * k1)


@kernel()
def _column_sums(part):
    """Sum over rows in order 0..N-1, per column."""
    out = np.zeros(part.shape[1])
    for n in range(part.shape[0]):
        for c in range(part.shape[1]):
            out[c] += part[n, c]
    return out


def _flat(x):
    """(contiguous N x (C*S) view, S)."""
    x = np.ascontiguousarray(x)
    S = int(np.prod(x.shape[2:], dtype=np.int64)) if x.ndim > 2 else 1
    return x.reshape(x.shape[0], -1), S


def _vector(v):
    return np.ascontiguousarray(np.asarray(v, np.float64).reshape(-1))


def gn_forward(x, num_groups, scale, offset, epsilon, out=None):
    """Group-normalize x (N x C x H x W or N x C; C divisible by num_groups).

    Returns ``(y, mean, rstd)``: y of x's dtype and shape (written into ``out`` if given:
    C-contiguous, x's shape and dtype, x itself allowed), mean and rstd float64 (N, G).
    """
    xf, S = _flat(x)
    y = output(out, x)
    mean = np.empty((x.shape[0], num_groups))
    rstd = np.empty((x.shape[0], num_groups))
    _forward(xf, y.reshape(xf.shape), num_groups, S, _vector(scale), _vector(offset),
             float(epsilon), mean, rstd)
    return y, mean, rstd


def gn_backward(dy, x, num_groups, mean, rstd, scale, out=None):
    """Gradients of group normalization: ``(dx, dscale, doffset)``; dx of x's dtype (written
    into ``out`` if given, as in gn_forward; x or dy allowed), dscale and doffset float64
    of length C."""
    xf, S = _flat(x)
    dyf, _ = _flat(np.asarray(dy, x.dtype))
    N, C = x.shape[0], x.shape[1]
    dx = output(out, x)
    part_dy = np.empty((N, C))
    part_dyx = np.empty((N, C))
    _backward(dyf, xf, dx.reshape(xf.shape), num_groups, S, np.ascontiguousarray(mean, np.float64),
              np.ascontiguousarray(rstd, np.float64), _vector(scale), part_dy, part_dyx)
    return dx, _column_sums(part_dyx), _column_sums(part_dy)
