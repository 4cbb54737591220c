"""Plain NumPy float64 twins of the convolution kernels (minidl/kernels/conv.py): the
definitions the kernels are tested against. Each twin computes in float64 and returns
outputs of the kernel's dtype. Written for clarity, not speed.

Layouts as in conv.py: x[n, c, h, w], w[u, v, c, f] (MATLAB order), bias[f],
z and dz[n, f, i, j]; stride (sh, sw), dilation (dh, dw), pads (top, bottom, left, right).
"""

import numpy as np


def _out_hw(x_shape, filter_size, stride, dilation, pads):
    (H, W), (kh, kw), (sh, sw), (dh, dw) = x_shape[2:], filter_size, stride, dilation
    top, bottom, left, right = pads
    return ((H + top + bottom - (kh - 1) * dh - 1) // sh + 1,
            (W + left + right - (kw - 1) * dw - 1) // sw + 1)


def _windows(padded_shape, filter_size, stride, dilation, out_hw):
    """For each tap (u, v): the slices of the padded input that tap reads,
    xpad[:, :, i*sh + u*dh, j*sw + v*dw] for all outputs (i, j)."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = filter_size, stride, dilation, out_hw
    for u in range(kh):
        for v in range(kw):
            yield u, v, (slice(None), slice(None),
                         slice(u * dh, u * dh + (Ho - 1) * sh + 1, sh),
                         slice(v * dw, v * dw + (Wo - 1) * sw + 1, sw))


def _padded(x, pads):
    top, bottom, left, right = pads
    return np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))


def conv2d_forward(x, w, bias, stride, dilation, pads, relu=False, pool=None):
    """z[n,f,i,j] = bias[f] + sum_{u,v,c} w[u,v,c,f] * xpad[n, c, i*sh + u*dh, j*sw + v*dw];
    with relu, max(z, 0) (NaN stays NaN, as with np.maximum); with pool "max 2x2", then the
    max of each 2x2 block (stride 2, an odd last row or column dropped; NaN wins, as np.max),
    with "global average" the mean of each plane (N, F, 1, 1)."""
    xp = _padded(x, pads)
    out_hw = _out_hw(x.shape, w.shape[:2], stride, dilation, pads)
    w64 = np.asarray(w, np.float64)
    z = np.zeros((x.shape[0], w.shape[3]) + out_hw) + np.asarray(bias, np.float64).reshape(1, -1, 1, 1)
    for u, v, window in _windows(xp.shape, w.shape[:2], stride, dilation, out_hw):
        z += np.einsum("ncij,cf->nfij", xp[window], w64[u, v])
    z = np.maximum(z, 0) if relu else z
    if pool == "global average":
        z = z.mean(axis=(2, 3), keepdims=True)
    elif pool == "max 2x2":
        N, F, Ho, Wo = z.shape
        z = z[:, :, :Ho // 2 * 2, :Wo // 2 * 2].reshape(N, F, Ho // 2, 2, Wo // 2, 2).max(axis=(3, 5))
    return z.astype(x.dtype)


def conv2d_backward_input(dz, w, x_shape, stride, dilation, pads):
    """dx = dL/dx for z = conv2d_forward(x, w, bias, ...) and dz = dL/dz: every tap (u, v)
    adds sum_f w[u,v,c,f] * dz[n,f,i,j] to the padded input it read; pads are dropped."""
    top, bottom, left, right = pads
    N, C, H, W = x_shape
    dxp = np.zeros((N, C, H + top + bottom, W + left + right))
    w64 = np.asarray(w, np.float64)
    for u, v, window in _windows(dxp.shape, w.shape[:2], stride, dilation, dz.shape[2:]):
        dxp[window] += np.einsum("nfij,cf->ncij", np.asarray(dz, np.float64), w64[u, v])
    return dxp[:, :, top:top + H, left:left + W].astype(dz.dtype)


def conv2d_backward_weights(dz, x, stride, dilation, pads, filter_size):
    """dw[u,v,c,f] = sum_{n,i,j} xpad[n, c, i*sh + u*dh, j*sw + v*dw] * dz[n,f,i,j];
    db[f] = sum_{n,i,j} dz[n,f,i,j]. Returns (dw (kh, kw, C, F), db (F,)) of dz's dtype."""
    xp = _padded(x, pads)
    g = np.asarray(dz, np.float64)
    dw = np.zeros(tuple(filter_size) + (x.shape[1], dz.shape[1]))
    for u, v, window in _windows(xp.shape, filter_size, stride, dilation, dz.shape[2:]):
        dw[u, v] = np.einsum("ncij,nfij->cf", xp[window], g)
    return dw.astype(dz.dtype), g.sum(axis=(0, 2, 3)).astype(dz.dtype)
