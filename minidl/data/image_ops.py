"""The image arithmetic behind ``augment`` and ``augmentedImageDatastore``: an affine warp
(one inverse-mapped resample per image, bilinear or nearest), MATLAB's ``imresize``
(bilinear, with its antialiasing when shrinking) and ``rgb2gray``, on batches of equal-size
images stored N×H×W×C (vectorized NumPy; the bilinear warp is a Numba kernel); the callers
check their arguments.

Coordinates are those of pixel centres, 0-based: column x = 0…W-1, row y = 0…H-1, y
pointing down. A transform is a 3×3 matrix ``T`` in MATLAB's row-vector convention,
``[x' y' 1] = [x y 1] · T`` (input point → output point).
"""
import numpy as np

# MATLAB's rgb2gray: the luminance row of the inverse of the NTSC (YIQ) matrix.
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def inverse_transforms(transforms):
    """The N×3×3 inverses of N×3×3 forward transforms (output pixel → input point)."""
    return np.linalg.inv(np.asarray(transforms, np.float64))


def warp(images, transforms, fill, method="bilinear"):
    """``images`` (N×H×W×C, float) warped by ``transforms`` (N×3×3) into the same H×W view.

    Bilinear (minidl/kernels/affine_warp.py): the image is taken as surrounded by ``fill``
    (one value per channel), and each output pixel is the bilinear blend of the four pixels
    around its source point, so the border fades into the fill over one pixel and a source
    point farther than one pixel outside gives exactly ``fill``; source coordinates within
    1e-9 of a whole pixel are snapped to it (a quarter turn, cos 90° = 6e-17 in floats,
    still moves pixels exactly). Nearest: the pixel nearest the source point (halves round
    up), ``fill`` outside the image.
    """
    count, height, width, channels = images.shape
    fill = np.ascontiguousarray(np.broadcast_to(np.asarray(fill, images.dtype), (channels,)))
    inverse = inverse_transforms(transforms)
    if method == "bilinear":
        from ..kernels.affine_warp import affine_warp
        return affine_warp(np.ascontiguousarray(images), inverse, fill)
    y, x = np.mgrid[0:height, 0:width]
    column, row = (np.floor(x * inverse[:, 0, k, None, None] + y * inverse[:, 1, k, None, None]
                            + inverse[:, 2, k, None, None] + 0.5) for k in (0, 1))
    outside = (column < 0) | (column > width - 1) | (row < 0) | (row > height - 1)
    batch = np.arange(count)[:, None, None]
    result = images[batch, np.clip(row, 0, height - 1).astype(np.intp), np.clip(column, 0, width - 1).astype(np.intp)]
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
