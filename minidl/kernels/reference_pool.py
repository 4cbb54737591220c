"""Plain NumPy float64 twins of the pooling and softmax kernels (minidl/kernels/pooling.py,
minidl/kernels/softmax.py): the definitions the kernels are tested against. Same names and
positional arguments as the kernels (no ``out=``); each twin computes in float64 and returns
outputs of the kernel's dtype. Written for clarity, not speed.

Pooling windows, on x[n, c, h, w] with pool (ph, pw), stride (sh, sw) and pads
(top, bottom, left, right): output (i, j) sees the padded positions
``(i*sh + u, j*sw + v)``, u < ph, v < pw, i.e. input row ``i*sh - top + u`` and column
``j*sw - left + v``; ``Ho = (H + top + bottom - ph) // sh + 1`` (likewise Wo).
"""

import numpy as np


def pooled_hw(x_shape, pool, stride, pads):
    """(Ho, Wo) = floor((H + top + bottom - ph) / sh) + 1, likewise for the width."""
    (H, W), (ph, pw), (sh, sw), (top, bottom, left, right) = x_shape[2:], pool, stride, pads
    return (H + top + bottom - ph) // sh + 1, (W + left + right - pw) // sw + 1


def _windows(x, pool, stride, pads, fill):
    """x padded with ``fill`` (float64, or x's own dtype for ints) and, in (u, v) row-major
    order, the slices of the padded array that window offset (u, v) sees."""
    top, bottom, left, right = pads
    Ho, Wo = pooled_hw(x.shape, pool, stride, pads)
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    slices = [(slice(u, u + (Ho - 1) * stride[0] + 1, stride[0]),
               slice(v, v + (Wo - 1) * stride[1] + 1, stride[1]))
              for u in range(pool[0]) for v in range(pool[1])]
    return xp, slices


# ================================================================ max pooling

def max_pool2d_forward(x, pool, stride, pads):
    """``out[n,c,i,j] = max over the window``; ``argmax`` (int32) = ``h*W + w`` of the winner in
    the unpadded plane. Padding never wins. Candidates are visited in (u, v) row-major order
    and replace the winner only if strictly larger, so ties go to the first; a NaN replaces
    any non-NaN winner and is never replaced, so a window holding NaN outputs its first NaN
    and points at it. Every window must hold at least one input element."""
    N, C, H, W = x.shape
    xp, slices = _windows(x.astype(np.float64), pool, stride, pads, -np.inf)
    index, _ = _windows(np.arange(H * W).reshape(1, 1, H, W), pool, stride, pads, -1)
    Ho, Wo = pooled_hw(x.shape, pool, stride, pads)
    out = np.full((N, C, Ho, Wo), -np.inf)
    argmax = np.full((N, C, Ho, Wo), -1, np.int64)
    for rows, cols in slices:
        cand = xp[:, :, rows, cols]
        where = index[:, :, rows, cols]
        take = (where >= 0) & ((argmax < 0) | (~np.isnan(out) & ~(cand <= out)))
        out = np.where(take, cand, out)
        argmax = np.where(take, where, argmax)
    return out.astype(x.dtype), argmax.astype(np.int32)


def max_pool2d_predict(x, pool, stride, pads):
    """The output of ``max_pool2d_forward`` alone."""
    return max_pool2d_forward(x, pool, stride, pads)[0]


def max_pool2d_backward(dz, argmax, x_shape):
    """``dx[n,c].flat[argmax[n,c,i,j]] += dz[n,c,i,j]``; overlapping windows add."""
    N, C, H, W = x_shape
    dx = np.zeros((N * C, H * W))
    planes = np.repeat(np.arange(N * C), dz[0, 0].size)
    np.add.at(dx, (planes, argmax.reshape(-1)), dz.astype(np.float64).reshape(-1))
    return dx.reshape(x_shape).astype(dz.dtype)


# ================================================================ average pooling

def _divisor(x_shape, pool, stride, pads, count_padding):
    """D: ph*pw if padding counts, else each window's number of input elements."""
    if count_padding:
        return float(pool[0] * pool[1])
    ones, slices = _windows(np.ones((1, 1, *x_shape[2:])), pool, stride, pads, 0.0)
    return sum(ones[:, :, rows, cols] for rows, cols in slices)


def avg_pool2d_forward(x, pool, stride, pads, count_padding):
    """``out = (sum over the window, padding = 0) / D``, D as in ``_divisor``."""
    xp, slices = _windows(x.astype(np.float64), pool, stride, pads, 0.0)
    total = sum(xp[:, :, rows, cols] for rows, cols in slices)
    return (total / _divisor(x.shape, pool, stride, pads, count_padding)).astype(x.dtype)


def avg_pool2d_backward(dz, x_shape, pool, stride, pads, count_padding):
    """Every element of window (i, j) receives ``dz[n,c,i,j] / D``; overlaps add; padding is
    cropped."""
    top, bottom, left, right = pads
    N, C, H, W = x_shape
    share = dz.astype(np.float64) / _divisor(x_shape, pool, stride, pads, count_padding)
    dxp, slices = _windows(np.zeros(x_shape), pool, stride, pads, 0.0)
    for rows, cols in slices:
        dxp[:, :, rows, cols] += share
    return dxp[:, :, top:top + H, left:left + W].astype(dz.dtype)


# ================================================================ global average pooling

def global_avg_pool_forward(x):
    """``out[n,c,0,0] = mean over h, w of x[n,c,h,w]``."""
    return x.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(x.dtype)


def global_avg_pool_backward(dz, x_shape):
    """``dx[n,c,h,w] = dz[n,c,0,0] / (H*W)``."""
    share = dz.astype(np.float64).reshape(*x_shape[:2], 1, 1) / (x_shape[2] * x_shape[3])
    return np.broadcast_to(share, x_shape).astype(dz.dtype)


# ================================================================ softmax

def softmax_forward(x):
    """``p[n,k] = exp(x[n,k] - m_n) / sum_j exp(x[n,j] - m_n)``, ``m_n = max_k x[n,k]``."""
    z = x.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(x.dtype)


def softmax_cross_entropy(logits, targets):
    """``(loss, probs, grad)``: probs = softmax(logits), ``m_n = max_k z_nk``,
    ``lse_n = log sum_j exp(z_nj - m_n)``;
    ``loss = -(1/N) sum_n [sum_{k: T_nk != 0} T_nk (z_nk - m_n) - (sum_k T_nk) lse_n]``,
    which is ``-(1/N) sum T log p``; ``grad = (probs - T) / N`` (dloss/dlogits when every
    row of T sums to 1)."""
    z = logits.astype(np.float64)
    t = np.asarray(targets, np.float64)
    N = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    probs = np.exp(shifted - lse[:, None])
    rows = np.where(t != 0, t * shifted, 0.0).sum(axis=1) - t.sum(axis=1) * lse
    loss = -float(rows.sum()) / N + 0.0  # + 0.0: never -0.0
    return loss, probs.astype(logits.dtype), ((probs - t) / N).astype(logits.dtype)
