"""Element-wise kernels (Numba): the sum of two arrays, through a ReLU or not, and the
ReLU's gradient. Twins in reference.py.

Maths, element by element (any shape; a and b of one shape and dtype)::

    add:            out = a + b,  or max(a + b, 0) if relu (NaN stays NaN, as np.maximum)
    relu_backward:  dx = dz * [z > 0]      (NaN in z gives 0*dz, as NumPy's dz*(z > 0))
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
