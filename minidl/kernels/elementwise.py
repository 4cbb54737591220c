"""Element-wise kernels (Numba): the sum of two arrays, through a ReLU or not, and the
ReLU's gradient. Twins in reference.py.

Maths, element by element (any shape; a and b of one shape and dtype)::

    add:            out = a + b,  or max(a + b, 0) if relu (NaN stays NaN, as np.maximum)
    relu_backward:  dx = dz * [z > 0]      (NaN in z gives 0*dz, as NumPy's dz*(z > 0))
    add_max_pool:   out[n, c, i, j] = max over the 2x2 block (2i, 2j) of add(a, b, relu)
                    (a, b N×C×H×W; out N×C×(H//2)×(W//2); NaN if any of the four is NaN)
    erf:            out = erf(x), the error function (C's erf, as Python's math.erf)

Arithmetic in the data's dtype: one addition or one multiplication per element, exactly
NumPy's. Tasks are runs of BLOCK elements, so the work is shared by the threads with
no effect on any result. ``out=``: an array of a's shape and dtype, C-contiguous; it may
be one of the inputs (each element is read before it is written).
"""
import math

import numpy as np
from numba import prange

from ._jit import kernel, output

BLOCK = 32768  # elements per task


@kernel(parallel=True)
def _add(a, b, out, relu):
    zero = np.zeros(1, out.dtype)[0]
    for t in prange(-(-out.size // BLOCK)):
        for i in range(t * BLOCK, min(out.size, (t + 1) * BLOCK)):
            s = a[i] + b[i]
            out[i] = zero if relu and s <= zero else s


@kernel(parallel=True)
def _relu_backward(dz, z, out):
    zero, one = np.zeros(1, out.dtype)[0], np.ones(1, out.dtype)[0]
    for t in prange(-(-out.size // BLOCK)):
        for i in range(t * BLOCK, min(out.size, (t + 1) * BLOCK)):
            out[i] = dz[i] * (one if z[i] > zero else zero)


@kernel(inline='always')
def _max2(x, y):
    """The larger; NaN if either is NaN (a branchless select)."""
    return y if (y > x) | (y != y) else x


@kernel(parallel=True)
def _add_max_pool(a, b, out, relu):
    """Arrays (planes, h, w); one task per plane."""
    zero = np.zeros(1, out.dtype)[0]
    P, Ho, Wo = out.shape
    for t in prange(P):
        for i in range(Ho):
            top, bottom = a[t, 2 * i], a[t, 2 * i + 1]
            top_b, bottom_b = b[t, 2 * i], b[t, 2 * i + 1]
            for j in range(Wo):
                m = _max2(_max2(top[2 * j] + top_b[2 * j], bottom[2 * j] + bottom_b[2 * j]),
                          _max2(top[2 * j + 1] + top_b[2 * j + 1], bottom[2 * j + 1] + bottom_b[2 * j + 1]))
                out[t, i, j] = zero if relu & (m <= zero) else m


def add(a, b, relu=False, out=None):
    """a + b, or max(a + b, 0) with relu (NaN kept)."""
    out = output(out, a)
    _add(np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b, a.dtype).reshape(-1), out.reshape(-1),
         bool(relu))
    return out


def relu_backward(dz, z, out=None):
    """dz * [z > 0]: the gradient of max(x, 0) with respect to x, where z = max(x, 0)."""
    out = output(out, dz)
    _relu_backward(np.ascontiguousarray(dz).reshape(-1), np.ascontiguousarray(z, dz.dtype).reshape(-1),
                   out.reshape(-1))
    return out


def add_max_pool(a, b, relu=False, out=None):
    """2×2, stride-2 max pooling of add(a, b, relu), a and b (N, C, H, W); the sum is never
    stored. max(relu(s)) = relu(max(s)): the ReLU is applied once, to the max."""
    N, C, H, W = a.shape
    shape = (N, C, H // 2, W // 2)
    out = np.empty(shape, a.dtype) if out is None else out
    if out.shape != shape or out.dtype != a.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {a.dtype} array of shape {shape}, got {out.dtype} {out.shape}.")
    _add_max_pool(np.ascontiguousarray(a).reshape(N * C, H, W), np.ascontiguousarray(b, a.dtype).reshape(N * C, H, W),
                  out.reshape(N * C, *shape[2:]), bool(relu))
    return out


@kernel(parallel=True)
def _erf(x, out):
    for t in prange(-(-out.size // BLOCK)):
        for i in range(t * BLOCK, min(out.size, (t + 1) * BLOCK)):
            out[i] = math.erf(x[i])


def erf(x, out=None):
    """erf(x) element by element (the GELU layer's Gaussian CDF: 0.5·(1 + erf(x/√2)))."""
    out = output(out, x)
    _erf(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out
