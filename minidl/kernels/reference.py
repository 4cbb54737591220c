"""Plain NumPy float64 twins of the Numba kernels: the definitions the kernels are
tested against. Same names and signatures as the kernels; each twin computes in
float64 and returns outputs of the kernel's dtype. Written for clarity, not speed.

The batch- and group-normalization and element-wise twins are here; those of convolution, pooling and
softmax live in reference_conv.py and reference_pool.py and are re-exported here, so
``minidl.kernels.reference`` names every twin.
"""

import numpy as np

from .reference_conv import conv2d_backward_input, conv2d_backward_weights, conv2d_forward  # noqa: F401
from .reference_pool import (avg_pool2d_backward, avg_pool2d_forward, global_avg_pool_backward,  # noqa: F401
                             global_avg_pool_forward, max_pool2d_backward, max_pool2d_forward,
                             max_pool2d_predict, softmax_cross_entropy, softmax_forward)

# ================================================================ element-wise
# Twins of minidl/kernels/elementwise.py.

def add(a, b, relu=False):
    """a + b (float64), then max(., 0) if relu (np.maximum keeps NaN); a's dtype."""
    s = np.asarray(a, np.float64) + np.asarray(b, np.float64)
    return (np.maximum(s, 0) if relu else s).astype(a.dtype)


def add_max_pool(a, b, relu=False):
    """add(a, b, relu), then the max of each 2x2 block (stride 2; NaN wins, as np.max)."""
    s = np.asarray(a, np.float64) + np.asarray(b, np.float64)
    s = np.maximum(s, 0) if relu else s
    N, C, H, W = s.shape
    s = s[:, :, :H // 2 * 2, :W // 2 * 2].reshape(N, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))
    return s.astype(a.dtype)


def relu_backward(dz, z):
    """dz * (z > 0), NumPy's way (0 * inf and 0 * NaN give NaN)."""
    return (np.asarray(dz, np.float64) * (np.asarray(z) > 0)).astype(dz.dtype)


def erf(x):
    """erf(x) through Python's math.erf, element by element; x's dtype."""
    import math
    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, np.float64)).astype(x.dtype)


# ================================================================ batch norm
# Twins of minidl/kernels/batchnorm.py. Per channel c, over every non-channel
# element (M = N*H*W for x[n, c, h, w], M = N for x[n, c]). The kernels' out=
# buffers are left out: a twin always returns a new array.


def _axes(x):
    return (0, 2, 3) if x.ndim == 4 else (0,)


def _per_channel(v, x):
    """Broadcast a length-C vector against x's channel axis."""
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return v.reshape(1, -1, 1, 1) if x.ndim == 4 else v.reshape(1, -1)


def bn_forward_train(x, scale, offset, epsilon, relu=False):
    """mean = sum(x)/M; var = sum((x - mean)**2)/M (biased);
    y = scale*(x - mean)/sqrt(var + epsilon) + offset; y = max(y, 0) if relu."""
    xd = x.astype(np.float64)
    mean = xd.mean(axis=_axes(x))
    var = ((xd - _per_channel(mean, x)) ** 2).mean(axis=_axes(x))
    y = (_per_channel(scale, x) * (xd - _per_channel(mean, x))
         / np.sqrt(_per_channel(var, x) + epsilon) + _per_channel(offset, x))
    if relu:
        y = np.maximum(y, 0.0)
    return y.astype(x.dtype), mean, var


def bn_backward(dy, x, mean, var, scale, offset, epsilon, relu=False):
    """g = dy*[scale*xhat + offset > 0] if relu else dy, xhat = (x - mean)/sqrt(var + eps);
    doffset = sum(g); dscale = sum(g*xhat);
    dx = scale/sqrt(var + eps) * (g - mean(g) - xhat*mean(g*xhat))."""
    ax = _axes(x)
    g = dy.astype(np.float64)
    inv_std = 1.0 / np.sqrt(_per_channel(var, x) + epsilon)
    xhat = (x.astype(np.float64) - _per_channel(mean, x)) * inv_std
    if relu:
        g = np.where(_per_channel(scale, x) * xhat + _per_channel(offset, x) > 0, g, 0.0)
    doffset = g.sum(axis=ax)
    dscale = (g * xhat).sum(axis=ax)
    dx = (_per_channel(scale, x) * inv_std
          * (g - g.mean(axis=ax, keepdims=True)
             - xhat * (g * xhat).mean(axis=ax, keepdims=True)))
    return dx.astype(x.dtype), dscale, doffset


def bn_inference(x, a, b, relu=False):
    """y = a*x + b per channel; y = max(y, 0) if relu."""
    y = _per_channel(a, x) * x.astype(np.float64) + _per_channel(b, x)
    if relu:
        y = np.maximum(y, 0.0)
    return y.astype(x.dtype)


def bn_fold(scale, offset, mean, var, epsilon):
    """a = scale/sqrt(var + epsilon); b = offset - a*mean."""
    a = np.asarray(scale, np.float64) / np.sqrt(np.asarray(var, np.float64) + epsilon)
    return a, np.asarray(offset, np.float64) - a * np.asarray(mean, np.float64)


def bn_stats(x):
    """count = M (int); mean = sum(x)/M; m2 = sum((x - mean)**2)."""
    xd = x.astype(np.float64)
    mean = xd.mean(axis=_axes(x))
    m2 = ((xd - _per_channel(mean, x)) ** 2).sum(axis=_axes(x))
    return x.size // x.shape[1], mean, m2


def chan_merge(count_a, mean_a, m2_a, count_b, mean_b, m2_b):
    """n = na + nb; mean = (na*mean_a + nb*mean_b)/n;
    m2 = m2_a + m2_b + (mean_b - mean_a)**2 * na*nb/n; b as is when na == 0."""
    if np.all(np.asarray(count_a) == 0):
        return count_b, np.asarray(mean_b, np.float64), np.asarray(m2_b, np.float64)
    n = count_a + count_b
    d = np.asarray(mean_b, np.float64) - np.asarray(mean_a, np.float64)
    mean = (count_a * np.asarray(mean_a, np.float64) + count_b * np.asarray(mean_b, np.float64)) / n
    m2 = np.asarray(m2_a, np.float64) + np.asarray(m2_b, np.float64) + d * d * count_a * count_b / n
    return n, mean, m2

# ============================================================ end batch norm

# ======================================================== group normalization
# Twins of minidl/kernels/groupnorm.py. The C channels form num_groups groups of
# C/num_groups consecutive channels; statistics are per (observation n, group g)
# over the group's channels and all spatial elements (M of them). Layer norm is
# one group.


def _grouped(a, num_groups):
    """a (N x C x ... ) in float64 as N x G x M."""
    return np.asarray(a, np.float64).reshape(a.shape[0], num_groups, -1)


def gn_forward(x, num_groups, scale, offset, epsilon):
    """mean = sum(x)/M; var = sum((x - mean)**2)/M (biased); rstd = 1/sqrt(var + epsilon);
    y = scale[c]*(x - mean)*rstd + offset[c]. Returns y (x's dtype), mean, rstd (N, G)."""
    xg = _grouped(x, num_groups)
    mean = xg.mean(axis=2)
    var = ((xg - mean[:, :, None]) ** 2).mean(axis=2)
    rstd = 1.0 / np.sqrt(var + epsilon)
    xhat = ((xg - mean[:, :, None]) * rstd[:, :, None]).reshape(x.shape)
    y = _per_channel(scale, x) * xhat + _per_channel(offset, x)
    return y.astype(x.dtype), mean, rstd


def gn_backward(dy, x, num_groups, mean, rstd, scale):
    """xhat = (x - mean)*rstd; d = scale[c]*dy; doffset[c] = sum_{n,h,w} dy;
    dscale[c] = sum_{n,h,w} dy*xhat; dx = rstd*(d - mean_g(d) - xhat*mean_g(d*xhat))."""
    xhat = (_grouped(x, num_groups) - mean[:, :, None]) * rstd[:, :, None]
    g = np.asarray(dy, np.float64)
    d = _grouped(_per_channel(scale, x) * g, num_groups)
    dx = rstd[:, :, None] * (d - d.mean(axis=2, keepdims=True)
                             - xhat * (d * xhat).mean(axis=2, keepdims=True))
    ax = _axes(x)
    dscale = (g * xhat.reshape(x.shape)).sum(axis=ax)
    doffset = g.sum(axis=ax)
    return dx.reshape(x.shape).astype(x.dtype), dscale, doffset

# ==================================================== end group normalization
