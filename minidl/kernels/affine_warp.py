"""The affine warp of image augmentation (Numba, serial): every output pixel of every
image mapped back through its inverse transform and resampled bilinearly, in one pass.
Twin in reference_warp.py.

Maths, for image n (images N×H×W×C, C-contiguous; ``inverse`` N×3×3 float64 in MATLAB's
row-vector convention; pixel centres 0-based, x = column, y = row)::

    u = x·A[0,0] + y·A[1,0] + A[2,0],   v = x·A[0,1] + y·A[1,1] + A[2,1]      (A = inverse[n])
    u, v snapped to a whole number when within SNAP of one
    out[n, y, x, c] = fill[c]                                 if u <= -1, u >= W, v <= -1 or v >= H
                    = (p00·(1-a) + p01·a)·(1-b) + (p10·(1-a) + p11·a)·b   otherwise

with i = floor(u), j = floor(v), a = u - i, b = v - j, and p00 = pixel (j, i), p01 = (j, i+1),
p10 = (j+1, i), p11 = (j+1, i+1), each ``fill[c]`` where it lies outside the image.
Arithmetic in float64, one rounding to the images' dtype at the end. Serial (no prange) and
without the GIL: it runs on data-loading threads next to the training's own parallel kernels.
"""
import math

import numpy as np

from ._jit import kernel, output

SNAP = 1e-9


@kernel()
def _snap(coordinate):
    whole = math.floor(coordinate + 0.5)
    return whole if abs(coordinate - whole) < SNAP else coordinate


@kernel()
def _pixel(images, n, row, column, channel, fill):
    if 0 <= row < images.shape[1] and 0 <= column < images.shape[2]:
        return np.float64(images[n, row, column, channel])
    return np.float64(fill[channel])


@kernel(nogil=True)
def _affine_warp(images, inverse, fill, out):
    count, height, width, channels = images.shape
    for n in range(count):
        for y in range(height):
            for x in range(width):
                u = _snap(x * inverse[n, 0, 0] + y * inverse[n, 1, 0] + inverse[n, 2, 0])
                v = _snap(x * inverse[n, 0, 1] + y * inverse[n, 1, 1] + inverse[n, 2, 1])
                if u <= -1 or u >= width or v <= -1 or v >= height:
                    for c in range(channels):
                        out[n, y, x, c] = fill[c]
                    continue
                left, top = math.floor(u), math.floor(v)
                a, b = u - left, v - top
                i, j = int(left), int(top)
                inside = 0 <= i and i + 1 < width and 0 <= j and j + 1 < height
                for c in range(channels):
                    if inside:      # the common case, without a bounds test per pixel
                        p00, p01 = np.float64(images[n, j, i, c]), np.float64(images[n, j, i + 1, c])
                        p10, p11 = np.float64(images[n, j + 1, i, c]), np.float64(images[n, j + 1, i + 1, c])
                    else:
                        p00, p01 = _pixel(images, n, j, i, c, fill), _pixel(images, n, j, i + 1, c, fill)
                        p10, p11 = _pixel(images, n, j + 1, i, c, fill), _pixel(images, n, j + 1, i + 1, c, fill)
                    out[n, y, x, c] = (p00 * (1 - a) + p01 * a) * (1 - b) + (p10 * (1 - a) + p11 * a) * b

def affine_warp(images, inverse, fill, out=None):
    """``images`` (N×H×W×C float32/float64, C-contiguous) resampled through the inverse
    transforms ``inverse`` (N×3×3 float64) into the same H×W view; ``fill`` one value per
    channel (the images' dtype). See the module docstring for the maths."""
    result = output(out, images)
    _affine_warp(images, inverse, fill, result)
    return result
