"""Plain NumPy float64 twin of affine_warp.py, written for clarity (vectorized over the
whole batch, the image padded with its fill values)."""
import numpy as np

from .affine_warp import SNAP


def affine_warp(images, inverse, fill):
    """See minidl/kernels/affine_warp.py: the same maths, in float64, cast to the images' dtype."""
    count, height, width, channels = images.shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u = _snapped(x * inverse[:, 0, 0, None, None] + y * inverse[:, 1, 0, None, None] + inverse[:, 2, 0, None, None])
    v = _snapped(x * inverse[:, 0, 1, None, None] + y * inverse[:, 1, 1, None, None] + inverse[:, 2, 1, None, None])
    fill = np.asarray(fill, np.float64)
    padded = np.empty((count, height + 2, width + 2, channels))
    padded[...] = fill
    padded[:, 1:-1, 1:-1, :] = images
    outside = (u <= -1) | (u >= width) | (v <= -1) | (v >= height)
    u, v = np.where(outside, 0.0, u), np.where(outside, 0.0, v)
    left, top = np.floor(u), np.floor(v)
    a, b = (u - left)[..., None], (v - top)[..., None]
    batch = np.arange(count)[:, None, None]
    column, row = left.astype(np.intp) + 1, top.astype(np.intp) + 1     # +1: the fill border
    upper = padded[batch, row, column] * (1 - a) + padded[batch, row, column + 1] * a
    lower = padded[batch, row + 1, column] * (1 - a) + padded[batch, row + 1, column + 1] * a
    result = upper * (1 - b) + lower * b
    result[outside] = fill
    return result.astype(images.dtype)


def _snapped(coordinate):
    whole = np.floor(coordinate + 0.5)
    return np.where(np.abs(coordinate - whole) < SNAP, whole, coordinate)
