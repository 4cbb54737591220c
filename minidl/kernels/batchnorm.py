"""Batch-normalization kernels: the public functions, their maths, and the Python
dispatch to the Numba code in ``_bn_layouts.py`` (entry points per layout) and
``_bn_lanes.py`` (inner loops and chunking).

Layouts: images ``x[n, c, h, w]`` (C-contiguous NCHW, channel c of image n is one
contiguous run of H*W elements) or features ``x[n, c]``. Statistics are per channel
over every non-channel element, ``M = N*H*W`` of them (``M = N`` for features).

Maths, per channel c (``eps`` = epsilon)::

    mean = sum(x) / M
    var  = sum((x - mean)**2) / M                     # biased
    a    = scale / sqrt(var + eps)                    # bn_fold
    b    = offset - a*mean
    y    = a*(x - mean) + offset   (training)   y = a*x + b   (inference)
    y    = max(y, 0)                              if relu (fused BN+ReLU; NaN stays NaN)

    backward, with g = dy * [pre-activation > 0] if relu else dy (0 where it is NaN),
    xhat = (x - mean)/sqrt(var + eps):
    doffset = sum(g)
    dscale  = sum(g*xhat)
    dx      = a * (g - doffset/M - xhat*dscale/M)

Passes: the forward reads x once for the statistics, then reads x and writes y;
the backward reads x and dy once for the two sums, then reads both and writes dx;
inference reads x and writes y. Arithmetic is float64 whatever the data type.

Determinism: every reduction is split by the shape alone into chunks (images: up
to ``CHUNK`` elements of one channel: whole runs of R images, the N images cut into
B = ceil(N / max(1, CHUNK // (H*W))) blocks of equal size R = ceil(N / B), or pieces of a
run longer than CHUNK; features: blocks of ``max(1, BLOCK // C)``
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

Outputs: every function writing an x-sized array takes ``out=``, an array of x's
shape and dtype, C-contiguous, that receives the result and is returned; x itself (or
dy, for the backward) may be passed, as each element is read before its own output
is written. Without ``out`` a new array is allocated. The caller owns its buffers:
nothing is kept between calls.

All Numba functions take flat 1-D views plus the shape, and float64 per-channel
vectors, so each compiles at most twice (float32 and float64 data).
"""

import numpy as np
from numba import get_num_threads

from . import _bn_lanes as lanes
from ._bn_layouts import (_affine_nchw, _backward_from_sums, _backward_nc, _backward_nchw, _forward_nc,
                          _forward_nchw, _gradient_sums_nc, _gradient_sums_nchw, _moments_nc, _moments_nchw)
from ._jit import output

SPAN = 2048       # target lanes per task for short runs (schedule only)


def _vec(v):
    return np.ascontiguousarray(v, dtype=np.float64).reshape(-1)


def _hw(x):
    return x.shape[2] * x.shape[3]


def _group(N, C, HW):
    """Channels per reduction task: as many as keep the runs read in memory order,
    while leaving at least four tasks per thread. Schedule only: results do not
    depend on it."""
    _, P, _, blocks = lanes._chunking(N, HW)
    G = max(1, min(C, SPAN // HW)) if P == 1 and HW <= lanes.SMALL_RUN else C
    tasks = 4 * get_num_threads()
    while G > 1 and blocks * P * -(-C // G) < tasks:
        G = -(-G // 2)
    return G


def bn_forward_train(x, scale, offset, epsilon, relu=False, out=None):
    """Training forward: batch statistics, normalize, scale, shift (and ReLU).

    mean = sum(x)/M, var = sum((x - mean)**2)/M (biased), over all non-channel
    elements (M = N*H*W); y = scale*(x - mean)/sqrt(var + epsilon) + offset,
    computed as a*(x - mean) + offset with a = scale/sqrt(var + epsilon), in float64;
    y = max(y, 0) if relu. Returns (y, mean, var): y of x's dtype and shape,
    mean and var float64 of length C.
    """
    scale, offset, eps, relu = _vec(scale), _vec(offset), float(epsilon), bool(relu)
    y = output(out, x)
    if x.ndim == 4:
        N, C = x.shape[:2]
        mean, var = _forward_nchw(x.reshape(-1), N, C, _hw(x), scale, offset, eps, relu,
                                  y.reshape(-1), _group(N, C, _hw(x)))
    else:
        N, C = x.shape
        mean, var = _forward_nc(x.reshape(-1), N, C, scale, offset, eps, relu, y.reshape(-1))
    return y, mean, var


def bn_backward(dy, x, mean, var, scale, offset, epsilon, relu=False, out=None):
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
    dx = output(out, x)
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


def _layout(x):
    """(N, C, HW) of images or features (features: HW = 1)."""
    return (*x.shape[:2], _hw(x)) if x.ndim == 4 else (*x.shape, 1)


def bn_apply(x, mean, var, scale, offset, epsilon, relu=False, out=None):
    """The normalization of bn_forward_train with given statistics (synchronized batch
    normalization: the mean and biased variance of the whole mini-batch across processes):
    y = a*(x - mean) + offset, a = scale/sqrt(var + epsilon), then ReLU if relu; the same
    arithmetic as bn_forward_train, so bn_apply(x, *bn_forward_train(x, ...)[1:], ...)
    reproduces its y bit for bit."""
    mean, var = _vec(mean), _vec(var)
    scale, offset, eps = _vec(scale), _vec(offset), float(epsilon)
    y = output(out, x)
    N, C, HW = _layout(x)
    _affine_nchw(x.reshape(-1), N, C, HW, scale / np.sqrt(var + eps), mean, offset, bool(relu), y.reshape(-1))
    return y


def bn_gradient_sums(dy, x, mean, var, scale, offset, epsilon, relu=False):
    """The backward's per-channel sums over this array, float64 length C:
    (sum(g), sum(g*(x - mean))) with g as in bn_backward (in the same chunk order)."""
    mean, var = _vec(mean), _vec(var)
    scale, offset, eps, relu = _vec(scale), _vec(offset), float(epsilon), bool(relu)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    N, C, HW = _layout(x)
    if x.ndim == 4:
        return _gradient_sums_nchw(dy.reshape(-1), x.reshape(-1), N, C, HW, mean, var, scale, offset, eps, relu,
                                   _group(N, C, HW))
    return _gradient_sums_nc(dy.reshape(-1), x.reshape(-1), N, C, mean, var, scale, offset, eps, relu)


def bn_backward_from_sums(dy, x, mean, var, scale, offset, epsilon, sums, count, relu=False, out=None):
    """dx of bn_backward from given sums ``(u, w)`` = (sum(g), sum(g*(x - mean))) over
    ``count`` values per channel: dx = a*(g - u/count - (x - mean)*w/(count*(var + epsilon))).
    With this array's own sums and count it is bn_backward's dx bit for bit; synchronized
    batch normalization passes the sums of the whole mini-batch (see minidl/parallel)."""
    mean, var = _vec(mean), _vec(var)
    scale, offset, eps, relu = _vec(scale), _vec(offset), float(epsilon), bool(relu)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    dx = output(out, x)
    N, C, HW = _layout(x)
    _backward_from_sums(_vec(sums[0]), _vec(sums[1]), count, dy.reshape(-1), x.reshape(-1), N, C, HW, mean, var,
                        scale, offset, eps, relu, dx.reshape(-1))
    return dx


def bn_inference(x, a, b, relu=False, out=None):
    """Folded inference: y = a[c]*x + b[c], then max(y, 0) if relu; x's dtype."""
    a, b, relu = _vec(a), _vec(b), bool(relu)
    zero = np.zeros(a.size)
    y = output(out, x)
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
