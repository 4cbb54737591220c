"""Softmax and fused softmax + cross-entropy kernels (Numba), with thin Python dispatch.

Layout: x[n, k], C-contiguous (N, K): one row of K class scores per observation.

Maths, per row n, with m = max_k z_k (twins in reference_pool.py)::

    s       = sum_k exp(z_k - m)
    p_k     = exp(z_k - m) / s                                  (softmax; never overflows)
    log p_k = (z_k - m) - log s                                 (stable log-sum-exp)
    loss    = -(1/N) sum_n [ sum_{k: T_nk != 0} T_nk (z_nk - m_n) - (sum_k T_nk) log s_n ]
            = -(1/N) sum_n sum_k T_nk log p_nk
    grad    = (p - T) / N

The loss is MATLAB's ``crossentropy`` of the softmax output, but computed from the logits,
so it needs no clamp of p away from 0 (a very wrong class costs its full log, not
-log(realmin)). ``grad`` is dloss/dlogits only when every row of T sums to 1 (one-hot or
any probability vector): in general it is ``p * sum_k T_k - T``, over N. Terms with
T_nk = 0 are skipped, so a logit of -inf on a class the target does not name costs
nothing; a NaN anywhere in a row makes s NaN, and ``(sum_k T) * log s`` carries it into
the loss even where T is 0, so the loss is NaN, never a silent number.

Arithmetic: exp runs in the data type (float32 exp for float32 data); the row sums, the
normalization, the gradient and the loss run in float64 and round once.

Determinism: rows are cut into blocks of ``max(1, BLOCK // K)`` rows, fixed by the shape;
each block is one task (``prange``) and the loss partials of the blocks are added in
block order. A single block runs serially, without waking the thread pool.

``out=`` arguments: C-contiguous arrays of the result's shape and dtype, overwritten and
returned; they must not overlap the inputs. Kernels trust their inputs.
"""

import numpy as np
from numba import prange

from ._jit import kernel

BLOCK = 16384   # elements per task: rows = max(1, BLOCK // K)


@kernel()
def _exp_row(z, e):
    """e = exp(z - m) (z's dtype); returns (m, s = sum(e) in float64). A NaN in z never
    becomes m (it fails the comparison) but makes its exp, and so s, NaN."""
    m = z[0]
    for k in range(1, z.size):
        m = z[k] if z[k] > m else m
    s = np.float64(0.0)  # float64 also without the JIT (NumPy keeps 0.0 + float32 float32)
    for k in range(z.size):
        e[k] = np.exp(z[k] - m)
        s += e[k]
    return m, s


@kernel()
def _softmax_rows(x, p, r0, r1):
    for n in range(r0, r1):
        m, s = _exp_row(x[n], p[n])
        r = 1.0 / s
        for k in range(x.shape[1]):
            p[n, k] = p[n, k] * r


@kernel()
def _ce_rows(z, t, p, g, r0, r1):
    """Rows [r0, r1): p and g as in the module docstring; returns
    sum_n [sum_{T != 0} T (z - m) - (sum T) log s] (float64)."""
    N, K = z.shape
    total = 0.0
    for n in range(r0, r1):
        m, s = _exp_row(z[n], p[n])
        r = 1.0 / s
        tz = 0.0
        tsum = 0.0
        for k in range(K):
            tk = np.float64(t[n, k])
            if tk != 0.0:
                tz += tk * (np.float64(z[n, k]) - m)
            tsum += tk
            pk = p[n, k] * r
            p[n, k] = pk
            g[n, k] = (pk - tk) / N
        total += tz - tsum * np.log(s)
    return total


@kernel(parallel=True)
def _softmax_blocks(x, p, rows):
    N = x.shape[0]
    for b in prange((N + rows - 1) // rows):
        _softmax_rows(x, p, b * rows, min(N, b * rows + rows))


@kernel(parallel=True)
def _ce_blocks(z, t, p, g, rows):
    N = z.shape[0]
    nb = (N + rows - 1) // rows
    partial = np.empty(nb)
    for b in prange(nb):
        partial[b] = _ce_rows(z, t, p, g, b * rows, min(N, b * rows + rows))
    total = 0.0
    for b in range(nb):
        total += partial[b]
    return total


def _rows(shape):
    return max(1, BLOCK // max(1, shape[1]))


def softmax_forward(x, out=None):
    """Softmax over axis 1 of x (N, K): ``out`` (N, K) of x's dtype."""
    out = np.empty_like(x) if out is None else out
    rows = _rows(x.shape)
    if x.shape[0] <= rows:
        _softmax_rows(x, out, 0, x.shape[0])
    else:
        _softmax_blocks(x, out, rows)
    return out


def softmax_cross_entropy(logits, targets, out_probs=None, out_grad=None):
    """Fused softmax + cross-entropy of logits (N, K) against targets (N, K):
    ``(loss, probs, grad)`` with loss a Python float, probs and grad (N, K) of the
    logits' dtype; ``grad = (probs - targets) / N`` (dloss/dlogits for rows of targets
    that sum to 1). ``out_probs`` and ``out_grad`` receive probs and grad."""
    probs = np.empty_like(logits) if out_probs is None else out_probs
    grad = np.empty_like(logits) if out_grad is None else out_grad
    N = logits.shape[0]
    rows = _rows(logits.shape)
    if N <= rows:
        total = _ce_rows(logits, targets, probs, grad, 0, N)
    else:
        total = _ce_blocks(logits, targets, probs, grad, rows)
    return -total / N + 0.0, probs, grad  # + 0.0: a zero loss prints as 0.0, not -0.0
