"""Plain NumPy twin of png_unfilter.py, written for clarity: one image at a time, one row
at a time, in int64 reduced modulo 256."""
import numpy as np


def unfilter(raw, starts, heights, strides, bpps, out, out_starts):
    """See minidl/kernels/png_unfilter.py: the same reconstruction into ``out`` (an image with
    a bad filter type is left out); returns bad_rows."""
    bad_rows = np.full(len(starts), -1, np.int64)
    for n, (start, height, stride, bpp, first) in enumerate(zip(starts, heights, strides, bpps, out_starts)):
        rows = np.asarray(raw[start:start + height * (stride + 1)], np.int64).reshape(height, stride + 1)
        image = np.zeros((height + 1, bpp + stride), np.int64)     # a row of zeros above, bpp zeros on the left
        for y in range(height):
            kind, filtered, above = rows[y, 0], rows[y, 1:], image[y, bpp:]
            if kind > 4:
                bad_rows[n] = y
                break
            if kind == 0:
                image[y + 1, bpp:] = filtered
            elif kind == 2:
                image[y + 1, bpp:] = (filtered + above) % 256
            else:               # Sub, Average, Paeth depend on the byte to the left: byte by byte
                for x in range(stride):
                    a, b, c = image[y + 1, x], image[y, bpp + x], image[y, x]
                    predictor = {1: a, 3: (a + b) // 2, 4: _paeth(a, b, c)}[kind]
                    image[y + 1, bpp + x] = (filtered[x] + predictor) % 256
        if bad_rows[n] < 0:
            out[first:first + height * stride] = image[1:, bpp:].reshape(-1)
    return bad_rows


def _paeth(a, b, c):
    p = a + b - c
    return (a, b, c)[int(np.argmin([abs(p - a), abs(p - b), abs(p - c)]))]   # ties: the first
