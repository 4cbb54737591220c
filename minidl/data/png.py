"""A fast reader for the common PNG files (8-bit grayscale, gray+alpha, RGB, RGBA or
palette, not interlaced): the chunks of a mini-batch's files walked in one Numba call
(minidl/kernels/png_chunks.py; :func:`parse`, in Python, for the files it does not vouch
for, which also says what is wrong with a broken one), the image data inflated with zlib
and the row filters of the whole mini-batch undone in one Numba call
(minidl/kernels/png_unfilter.py). Everything else (16-bit or 1/2/4-bit samples,
interlacing, unknown critical chunks, images over Pillow's MAX_IMAGE_PIXELS) is left to
Pillow, which is also the reference the fast path is tested against.

The values are Pillow's, and so MATLAB's ``imread``'s: H×W×C uint8, alpha dropped,
palette indices looked up (RGB). As libpng does, the CRC of every critical chunk (IHDR,
PLTE, IDAT, IEND) is checked and ancillary chunks (text, gamma, ...) are skipped unread.

A broken file is a :class:`PngError` saying what is wrong: truncated, a bad CRC, no IDAT
or IEND chunk, corrupt compressed data, less image data than the declared size needs, a
filter type that does not exist. Nothing is allocated from the declared size alone:
image data of up to 4 KiB is inflated whole (deflate expands at most 1032×: 4 MB at
worst), larger data at most to the declared size plus one byte, zlib growing its buffer as
data actually comes; so a few bytes claiming a 10⁵×10⁵ image cost no more memory than they
hold, and a decompression bomb stops at its declared size.
"""
import struct
import zlib

import numpy as np

from ..kernels.png_chunks import READY, scan
from ..kernels.png_unfilter import unfilter

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK = struct.Struct(">I4s")
_CRC = struct.Struct(">I")
_HEADER = struct.Struct(">IIBBBBB")
_BYTES_PER_PIXEL = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}    # 8-bit samples, by colour type
_KEPT = {0: 1, 2: 3, 4: 1, 6: 3}                     # channels kept (alpha dropped); palette: 3
_LIMIT = 2 ** 31 - 1                                 # the PNG specification's largest length, width, height
_SCREENED = np.isin(np.arange(256), [0, 2, 4, 6]).astype(np.uint8)   # colour types the chunk scan reads


class PngError(ValueError):
    """A PNG file that is broken (the reason is the message)."""


class Png:
    """What the fast path needs of one file: its size, colour type, palette and the
    compressed image data (views into the file's bytes)."""

    __slots__ = ("height", "width", "colour", "palette", "compressed")

    def __init__(self, height, width, colour, palette, compressed):
        self.height, self.width, self.colour = height, width, colour
        self.palette, self.compressed = palette, compressed

    @property
    def stride(self):
        return self.width * _BYTES_PER_PIXEL[self.colour]


def parse(data, max_pixels=None):
    """The :class:`Png` in the bytes ``data``, or None when the fast path does not read it
    (not a PNG, or a kind of PNG it leaves to Pillow); PngError when the file is broken."""
    if not data.startswith(SIGNATURE):
        return None
    view, position, header, palette, compressed = memoryview(data), len(SIGNATURE), None, None, []
    while True:
        if position + 12 > len(data):
            raise PngError(f"the file is truncated: it ends at byte {len(data)}, inside a chunk header "
                           f"(no IEND chunk)")
        length, kind = _CHUNK.unpack_from(data, position)
        end = position + 12 + length
        if length > _LIMIT or end > len(data):
            raise PngError(f"the file is truncated: its {kind.decode('latin-1')!r} chunk at byte {position} "
                           f"declares {length} bytes, the file ends at byte {len(data)}")
        if not kind[0] & 32:            # a critical chunk (upper-case first letter): checked
            body = view[position + 8:end - 4]
            if zlib.crc32(view[position + 4:end - 4]) != _CRC.unpack_from(data, end - 4)[0]:
                raise PngError(f"bad CRC in its {kind.decode('latin-1')!r} chunk at byte {position}")
            if kind == b"IHDR" and header is None and position == len(SIGNATURE) and length == 13:
                header = _HEADER.unpack(body)
                if not _fast(header, max_pixels):
                    return None
            elif header is None:
                raise PngError(f"the first chunk is {kind.decode('latin-1')!r}, not a 13-byte IHDR")
            elif kind == b"IDAT":
                compressed.append(body)
            elif kind == b"PLTE" and not compressed and length % 3 == 0 and 0 < length <= 768:
                palette = np.zeros((256, 3), np.uint8)      # indices past the palette: black, as Pillow
                palette[:length // 3] = np.frombuffer(body, np.uint8).reshape(-1, 3)
            elif kind == b"IEND":
                break
            else:
                return None     # an unknown critical chunk, or a misplaced PLTE: Pillow decides
        position = end
    if not compressed:
        raise PngError("it has no image data (no IDAT chunk)")
    if header[3] == 3 and palette is None:
        raise PngError("it is a palette image without a PLTE chunk")
    return Png(header[1], header[0], header[3], palette, compressed)     # IHDR: width, then height


def _fast(header, max_pixels):
    width, height, depth, colour, compression, filtering, interlace = header
    if width == 0 or height == 0:
        raise PngError(f"its IHDR chunk declares a {width}×{height} image")
    return (depth == 8 and colour in _BYTES_PER_PIXEL and compression == filtering == interlace == 0
            and max(width, height) <= _LIMIT and (max_pixels is None or width * height <= max_pixels))


def inflate(png):
    """The filtered rows of ``png`` (bytes): exactly height·(1 + stride) of them."""
    compressed = png.compressed[0] if len(png.compressed) == 1 else b"".join(png.compressed)
    return _inflate(compressed, png.height, png.width, png.stride)


def _inflate(compressed, height, width, stride):
    expected = height * (1 + stride)
    if len(compressed) <= _SMALL:       # deflate expands at most 1032×: a few MB at worst
        try:
            rows = zlib.decompress(compressed)
        except zlib.error:
            rows = _inflate_bounded(compressed, expected)   # says what is wrong, as below
    else:
        rows = _inflate_bounded(compressed, expected)
    if len(rows) < expected:
        raise PngError(f"its image data ends after {len(rows)} of the {expected} bytes its declared "
                       f"{width}×{height} size needs")
    return rows[:expected] if len(rows) > expected else rows    # extra data is ignored, as libpng does


_SMALL = 4096


def _inflate_bounded(compressed, expected):
    """At most expected + 1 bytes of the inflated data: enough to tell "too little", never a
    bomb's worth, whatever the compressed data claims."""
    try:
        return zlib.decompressobj().decompress(compressed, expected + 1)
    except zlib.error as error:
        raise PngError(f"its compressed image data is corrupt (zlib: {error})") from None


def decode(pngs):
    """The images of ``pngs`` (a list of :class:`Png`), each an H×W×C uint8 array or the
    PngError that stopped it; one kernel call for all of them."""
    results, rows = [None] * len(pngs), []
    for k, png in enumerate(pngs):
        try:
            rows.append((k, inflate(png)))
        except PngError as error:
            results[k] = error
    if not rows:
        return results
    shapes = [(pngs[k].height, pngs[k].width, _BYTES_PER_PIXEL[pngs[k].colour]) for k, _ in rows]
    heights, widths, bpps = np.array(shapes, np.int64).T.copy()
    raw, starts, out, out_starts, bad_rows = _unfilter_all([data for _, data in rows], heights, widths, bpps)
    sizes = heights * widths * bpps
    for (k, _), shape, first, size, bad, start in zip(rows, shapes, out_starts.tolist(), sizes.tolist(),
                                                    bad_rows.tolist(), starts.tolist()):
        png = pngs[k]
        if bad >= 0:
            kind = raw[start + bad * (1 + size // shape[0])]
            results[k] = PngError(f"row {bad + 1} has filter type {kind}, which PNG does not have (0–4)")
        elif png.colour == 3:
            results[k] = png.palette[out[first:first + size].reshape(shape[:2])]
        else:
            results[k] = _without_alpha(out[first:first + size].reshape(shape), png.colour)
    return results


def read(datas, max_pixels=None):
    """The images in the files' bytes ``datas`` (a list): per file an H×W×C uint8 array, the
    PngError that stops it, or None for a file the fast path leaves to Pillow. One kernel
    walks the chunks of every file (minidl/kernels/png_chunks.py); the files it cannot
    vouch for go through :func:`parse`. A mini-batch of common files (one size, one colour
    type, no error) comes back as one N×H×W×C array, whose items are the images."""
    files = np.frombuffer(b"".join(datas), np.uint8)
    starts = np.zeros(len(datas) + 1, np.int64)
    np.cumsum([len(data) for data in datas], out=starts[1:])
    found = scan(files, starts, _SCREENED, max_pixels)
    if len(datas) and (found[:, 0] == READY).all() and (found[:, 1:4] == found[0, 1:4]).all():
        try:
            return _read_alike(files, found)
        except PngError:
            pass            # the file-by-file path below says which file and why
    results, pngs, fast = [None] * len(datas), [], []
    for k, (data, (kind, width, height, colour, start, length)) in enumerate(zip(datas, found.tolist())):
        try:
            layout = (Png(height, width, colour, None, [files[start:start + length]]) if kind == READY
                      else parse(data, max_pixels))
        except PngError as error:
            results[k] = error
            continue
        if layout is not None:
            pngs.append(layout)
            fast.append(k)
    for k, image in zip(fast, decode(pngs)):
        results[k] = image
    return results


def _read_alike(files, found):
    """N×H×W×C uint8 images of files of one size and colour type (rows of ``found``)."""
    width, height, colour = found[0, 1:4].tolist()
    bpp, every = _BYTES_PER_PIXEL[colour], np.ones(len(found), np.int64)
    rows = [_inflate(files[start:start + length], height, width, width * bpp)
            for start, length in found[:, 4:6].tolist()]
    _, _, out, _, bad_rows = _unfilter_all(rows, every * height, every * width, every * bpp)
    if (bad_rows >= 0).any():
        raise PngError("a bad filter type")
    return _without_alpha(out.reshape(len(found), height, width, bpp), colour)


def _unfilter_all(rows, heights, widths, bpps):
    """One kernel call undoing the filters of images of the given sizes, ``rows`` being each
    one's inflated bytes: (raw, starts, out, out_starts, bad_rows) as png_unfilter.py has them."""
    strides = widths * bpps
    sizes = heights * strides
    starts = np.concatenate(([0], np.cumsum(sizes + heights)[:-1]))
    out_starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out = np.empty(int(sizes.sum()), np.uint8)
    raw = np.frombuffer(b"".join(rows), np.uint8)
    return raw, starts, out, out_starts, unfilter(raw, starts, heights, strides, bpps, out, out_starts)


def _without_alpha(images, colour):
    """The colour channels of ``images`` (…×C, of colour type ``colour``): alpha dropped into a
    contiguous array, as Pillow's."""
    kept = _KEPT[colour]
    return images if kept == images.shape[-1] else np.ascontiguousarray(images[..., :kept])
