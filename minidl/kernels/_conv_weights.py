"""The weight and bias gradients' inner loops (Numba), called by
conv.conv2d_backward_weights; the method and the arithmetic are in conv.py's docstring."""
import numpy as np
from numba import prange

from ._jit import kernel

LANES = 32    # accumulator lanes of a weight-gradient dot product; a power of two
CONTRACT = {"contract"}  # the only fastmath flag: a product and the sum it enters may be one FMA


@kernel(inline='always')
def _dots(acc, x0, x1, d0, d1):
    """acc[(2*a + b)*LANES + l] += sum of x_a[p]*d_b[p] over the positions p = l (mod LANES),
    four products summed pairwise per update; the rows' length is a multiple of 4*LANES."""
    for p in range(0, x0.size, 4 * LANES):
        u, v = x0[p:p + 4 * LANES], x1[p:p + 4 * LANES]
        r, s = d0[p:p + 4 * LANES], d1[p:p + 4 * LANES]
        for i in range(LANES):
            u0, u1, u2, u3 = u[i], u[i + LANES], u[i + 2 * LANES], u[i + 3 * LANES]
            v0, v1, v2, v3 = v[i], v[i + LANES], v[i + 2 * LANES], v[i + 3 * LANES]
            r0, r1, r2, r3 = r[i], r[i + LANES], r[i + 2 * LANES], r[i + 3 * LANES]
            s0, s1, s2, s3 = s[i], s[i + LANES], s[i + 2 * LANES], s[i + 3 * LANES]
            acc[i] += (u0 * r0 + u1 * r1) + (u2 * r2 + u3 * r3)
            acc[LANES + i] += (u0 * s0 + u1 * s1) + (u2 * s2 + u3 * s3)
            acc[2 * LANES + i] += (v0 * r0 + v1 * r1) + (v2 * r2 + v3 * r3)
            acc[3 * LANES + i] += (v0 * s0 + v1 * s1) + (v2 * s2 + v3 * s3)


@kernel(inline='always')
def _sums(acc, d0):
    """acc[l] += sum of d0[p] over p = l (mod LANES), four at a time."""
    for p in range(0, d0.size, 4 * LANES):
        r = d0[p:p + 4 * LANES]
        for i in range(LANES):
            acc[i] += (r[i] + r[i + LANES]) + (r[i + 2 * LANES] + r[i + 3 * LANES])


@kernel(inline='always')
def _fold(lanes, scratch):
    """Sum of the lanes by halving (a fixed order) in float64 scratch of the same size."""
    w = lanes.size
    for l in range(w):
        scratch[l] = lanes[l]
    while w > 1:
        w //= 2
        for l in range(w):
            scratch[l] += scratch[l + w]
    return scratch[0]


@kernel(parallel=True, fastmath=CONTRACT)
def _backward_weights(xs, dzflat, xtaps, lead, chunk, run, chunks, partial, bias_partial):
    """partial[t, k, f] = sum over the chunks c of run t (c // run = t), in order, of the
    sum over chunk c's positions g of xs[xtaps[k] + g]*dzflat[f, lead + g], two taps by
    two filters at a time over LANES lanes folded in float64; bias_partial[t, f] likewise
    of dzflat[f, lead + g]."""
    T, K, F = partial.shape
    for t in prange(T):
        partial[t] = 0
        bias_partial[t] = 0
        acc = np.empty(4 * LANES, xs.dtype)
        scratch = np.empty(LANES)
        for c in range(t * run, min(chunks, (t + 1) * run)):
            _chunk(xs, dzflat, xtaps, lead, c * chunk, (c + 1) * chunk, partial[t], bias_partial[t],
                   acc, scratch)


@kernel(inline='always')
def _chunk(xs, dzflat, xtaps, lead, g0, g1, partial, bias_partial, acc, scratch):
    """partial[k, f] += sum over the positions g0 <= g < g1 of xs[xtaps[k] + g]*dzflat[f, lead + g]
    (an odd last tap or filter is paired with itself and added once);
    bias_partial[f] += sum of dzflat[f, lead + g]."""
    K, F = partial.shape
    for k in range(0, K, 2):
        k1 = min(k + 1, K - 1)
        x0 = xs[xtaps[k] + g0:xtaps[k] + g1]
        x1 = xs[xtaps[k1] + g0:xtaps[k1] + g1]
        for f in range(0, F, 2):
            f1 = min(f + 1, F - 1)
            acc[:] = 0
            _dots(acc, x0, x1, dzflat[f, lead + g0:lead + g1], dzflat[f1, lead + g0:lead + g1])
            partial[k, f] += _fold(acc[:LANES], scratch)
            if f1 > f:
                partial[k, f1] += _fold(acc[LANES:2 * LANES], scratch)
            if k1 > k:
                partial[k1, f] += _fold(acc[2 * LANES:3 * LANES], scratch)
                if f1 > f:
                    partial[k1, f1] += _fold(acc[3 * LANES:], scratch)
    for f in range(F):
        acc[:LANES] = 0
        _sums(acc, dzflat[f, lead + g0:lead + g1])
        bias_partial[f] += _fold(acc[:LANES], scratch)
