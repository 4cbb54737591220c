"""PNG's row filters undone for a whole batch of images in one call (Numba, serial, no GIL).
Twin in reference_png.py.

Maths (the PNG specification, section 9): an image of H rows of S = W·bpp bytes is stored,
after zlib, as H rows of 1 + S bytes: a filter type t, then the filtered bytes f[x]. With
a = the reconstructed byte bpp to the left, b = the one above and c = the one above-left
(0 outside the image), every byte is reconstructed modulo 256 as::

    t = 0 (None):    r = f
    t = 1 (Sub):     r = f + a
    t = 2 (Up):      r = f + b
    t = 3 (Average): r = f + floor((a + b) / 2)
    t = 4 (Paeth):   r = f + paeth(a, b, c), where p = a + b - c and paeth is the one of
                     a, b, c nearest p (ties: a, then b, then c)

``raw`` holds the images' filtered bytes back to back (image n from ``starts[n]``, with
``heights[n]`` rows of 1 + ``strides[n]`` bytes); the reconstructed bytes go to ``out``
from ``out_starts[n]`` (``heights[n]·strides[n]`` bytes). ``bad_rows[n]`` is -1, or the
first row of image n whose filter type is not 0–4 (the image is then not finished).
Serial and without the GIL: it runs on data-loading threads next to training's kernels.
"""
import numpy as np

from ._jit import kernel


@kernel(nogil=True)
def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


@kernel(nogil=True)
def _unfilter_image(raw, start, height, stride, bpp, out, first):
    """Image at raw[start:], into out[first:]; -1, or the first row with a bad filter type.
    One loop per filter type, so that the common types (None, Sub, Up) run branch-free."""
    for y in range(height):
        kind = raw[start + y * (stride + 1)]
        source = start + y * (stride + 1) + 1
        row = first + y * stride
        above = row - stride
        if kind > 4:
            return y
        if kind == 0 or (kind == 2 and y == 0):     # Up on the first row: b = 0, as None
            for x in range(stride):
                out[row + x] = raw[source + x]
        elif kind == 1:
            for x in range(min(bpp, stride)):
                out[row + x] = raw[source + x]
            for x in range(bpp, stride):
                out[row + x] = (np.int64(raw[source + x]) + out[row + x - bpp]) & 255
        elif kind == 2:
            for x in range(stride):
                out[row + x] = (np.int64(raw[source + x]) + out[above + x]) & 255
        else:
            for x in range(stride):
                a = np.int64(out[row + x - bpp]) if x >= bpp else 0
                b = np.int64(out[above + x]) if y > 0 else 0
                if kind == 3:
                    out[row + x] = (np.int64(raw[source + x]) + ((a + b) >> 1)) & 255
                else:
                    c = np.int64(out[above + x - bpp]) if x >= bpp and y > 0 else 0
                    out[row + x] = (np.int64(raw[source + x]) + _paeth(a, b, c)) & 255
    return -1


@kernel(nogil=True)
def _unfilter(raw, starts, heights, strides, bpps, out, out_starts, bad_rows):
    for n in range(starts.shape[0]):
        bad_rows[n] = _unfilter_image(raw, starts[n], heights[n], strides[n], bpps[n], out, out_starts[n])


def unfilter(raw, starts, heights, strides, bpps, out, out_starts):
    """Reconstruct the images (see the module docstring) into ``out`` (uint8, 1-D);
    ``raw`` uint8 1-D, the others int64 arrays of one entry per image. Returns
    ``bad_rows`` (int64, -1 for an image reconstructed whole)."""
    bad_rows = np.empty(starts.shape[0], np.int64)
    _unfilter(raw, starts, heights, strides, bpps, out, out_starts, bad_rows)
    return bad_rows
