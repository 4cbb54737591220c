"""Plain NumPy twins of png_unfilter.py (one image at a time, one row at a time, in int64
reduced modulo 256) and png_chunks.py (the chunks walked with struct and zlib's CRC-32)."""
import struct
import zlib

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


def scan(files, starts, colours, max_pixels):
    """See minidl/kernels/png_chunks.py: (kind, width, height, colour, IDAT start, IDAT length)
    per file, kind 0 (READY) or 1 (ASK)."""
    found = np.zeros((len(starts) - 1, 6), np.int64)
    found[:, 0] = 1
    for n in range(len(starts) - 1):
        data = bytes(files[starts[n]:starts[n + 1]])
        result = _walk(data, colours, max_pixels)
        if result is not None:
            found[n] = (0, *result[:3], starts[n] + result[3], result[4])
    return found


def _walk(data, colours, max_pixels):
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[8:16] != struct.pack(">I", 13) + b"IHDR":
        return None
    position, image = 8, None
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if length > 2 ** 31 - 1 or end > len(data):
            return None
        if kind[0] & 32:            # ancillary: skipped unread
            position = end
            continue
        if zlib.crc32(data[position + 4:end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            return None
        if position == 8:           # IHDR
            width, height, depth, colour, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", data, 16)
            if (width == 0 or height == 0 or max(width, height) > 2 ** 31 - 1 or depth != 8 or not colours[colour]
                    or compression or filtering or interlace
                    or (max_pixels is not None and width * height > max_pixels)):
                return None
        elif kind == b"IDAT" and image is None:
            image = (position + 8, length)
        elif kind == b"IEND" and image is not None:
            return (width, height, colour) + image
        else:
            return None
        position = end
    return None
