"""The image arithmetic behind ``augment`` and ``augmentedImageDatastore``: an affine warp
(one inverse-mapped resample per image, bilinear or nearest), MATLAB's ``imresize``
(bilinear, with its antialiasing when shrinking) and ``rgb2gray``. Plain vectorized NumPy
on batches of equal-size images stored N×H×W×C; the callers check their arguments.

Coordinates are those of pixel centres, 0-based: column x = 0…W-1, row y = 0…H-1, y
pointing down. A transform is a 3×3 matrix ``T`` in MATLAB's row-vector convention,
``[x' y' 1] = [x y 1] · T`` (input point → output point).
"""
import numpy as np

# MATLAB's rgb2gray: the luminance row of the inverse of the NTSC (YIQ) matrix.
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])

# Source coordinates this close to a whole number are taken as that number, so a rotation
# by exactly 90° or an integer translation moves pixels exactly (cos 90° is 6e-17 in floats).
_SNAP = 1e-9


def source_points(transforms, height, width):
    """For each output pixel of each image, the input point it comes from: (u, v) arrays of
    shape N×H×W, from the inverse of each N×3×3 forward ``transforms``."""
    inverse = np.linalg.inv(np.asarray(transforms, np.float64))
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u = x * inverse[:, 0, 0, None, None] + y * inverse[:, 1, 0, None, None] + inverse[:, 2, 0, None, None]
    v = x * inverse[:, 0, 1, None, None] + y * inverse[:, 1, 1, None, None] + inverse[:, 2, 1, None, None]
    return _snapped(u), _snapped(v)


def _snapped(coordinate):
    whole = np.round(coordinate)
    return np.where(np.abs(coordinate - whole) < _SNAP, whole, coordinate)


def warp(images, transforms, fill, method="bilinear"):
    """``images`` (N×H×W×C, float) warped by ``transforms`` (N×3×3) into the same H×W view.

    Bilinear: the image is taken as surrounded by ``fill`` (one value per channel), and each
    output pixel is the bilinear blend of the four pixels around its source point, so the
    border fades into the fill over one pixel and a source point farther than one pixel
    outside gives exactly ``fill``. Nearest: the pixel nearest the source point (halves
    round up), ``fill`` outside the image.
    """
    count, height, width, channels = images.shape
    u, v = source_points(transforms, height, width)
    fill = np.broadcast_to(np.asarray(fill, images.dtype), (channels,))
    padded = np.empty((count, height + 2, width + 2, channels), images.dtype)
    padded[...] = fill
    padded[:, 1:-1, 1:-1, :] = images
    batch = np.arange(count)[:, None, None]
    if method == "nearest":
        column, row = np.floor(u + 0.5), np.floor(v + 0.5)
        outside = (column < 0) | (column > width - 1) | (row < 0) | (row > height - 1)
        column = np.clip(column, -1, width).astype(np.intp) + 1
        row = np.clip(row, -1, height).astype(np.intp) + 1
        result = padded[batch, row, column]
        result[outside] = fill
        return result
    outside = (u <= -1) | (u >= width) | (v <= -1) | (v >= height)
    u, v = np.where(outside, 0.0, u), np.where(outside, 0.0, v)
    left, top = np.floor(u), np.floor(v)
    right_weight, bottom_weight = (u - left)[..., None], (v - top)[..., None]
    column, row = left.astype(np.intp) + 1, top.astype(np.intp) + 1     # +1: the fill border
    upper = padded[batch, row, column] * (1 - right_weight) + padded[batch, row, column + 1] * right_weight
    lower = padded[batch, row + 1, column] * (1 - right_weight) + padded[batch, row + 1, column + 1] * right_weight
    result = (upper * (1 - bottom_weight) + lower * bottom_weight).astype(images.dtype)
    result[outside] = fill
    return result


def resize_weights(input_length, output_length, antialias=True):
    """The output_length×input_length matrix of MATLAB's ``imresize`` along one axis,
    method 'bilinear': output pixel i (1-based) samples the input at
    u = i/s + (1 - 1/s)/2 with s = output_length/input_length, through the triangle kernel
    (stretched to width 2/s when shrinking with ``antialias``, MATLAB's default), weights
    normalised to sum 1 and indices past an edge mirrored back into the image."""
    scale = output_length / input_length
    stretch = scale if (antialias and scale < 1) else 1.0
    width = 2.0 / stretch
    centre = np.arange(1, output_length + 1) / scale + 0.5 * (1 - 1 / scale)
    first = np.floor(centre - width / 2)
    taps = int(np.ceil(width)) + 2
    index = first[:, None] + np.arange(taps)[None, :]
    weight = stretch * np.maximum(0.0, 1 - np.abs(stretch * (centre[:, None] - index)))
    weight /= weight.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(input_length), np.arange(input_length)[::-1]])
    index = mirror[np.mod(index.astype(np.int64) - 1, 2 * input_length)]
    matrix = np.zeros((output_length, input_length))
    np.add.at(matrix, (np.repeat(np.arange(output_length), taps), index.reshape(-1)), weight.reshape(-1))
    return matrix


def resize(images, output_size):
    """N×H×W×C ``images`` resized to ``output_size`` (rows, columns) as MATLAB's
    ``imresize(I, outputSize, 'bilinear')`` does (one separable weight matrix per axis)."""
    _, height, width, _ = images.shape
    rows = resize_weights(height, output_size[0]).astype(images.dtype)
    columns = resize_weights(width, output_size[1]).astype(images.dtype)
    return np.einsum("oh,nhwc,pw->nopc", rows, images, columns, optimize=True)


def crop(images, top, left, output_size):
    """The output_size window of N×H×W×C ``images`` whose top-left pixel is (top, left), 0-based."""
    return images[:, top:top + output_size[0], left:left + output_size[1], :]


def rgb2gray(images):
    """N×H×W×3 → N×H×W×1 with MATLAB's ``rgb2gray`` weights."""
    return (images @ RGB2GRAY.astype(images.dtype))[..., None]
