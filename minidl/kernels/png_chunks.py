"""The chunks of a batch of PNG files walked in one call (Numba, serial, no GIL): which
files the fast path reads whole, with their size, colour type and image data. Twin in
reference_png.py.

A PNG file is an 8-byte signature, then chunks: a 4-byte big-endian length L, a 4-byte
type, L bytes of data and the CRC-32 of type and data (ISO 3309, polynomial 0xEDB88320,
computed here from its 256-entry table). File n of ``files[starts[n]:starts[n + 1]]`` gets
``found[n] = (kind, width, height, colour type, start of its IDAT data, IDAT length)``
(the start counted from the beginning of ``files``), kind being

- ``READY``: the signature, a 13-byte IHDR first declaring an 8-bit, non-interlaced image
  of a colour type in ``colours`` (a 0/1 table by colour type), width and height at most
  2³¹ − 1 (the specification's limit, so that their product cannot overflow), of at most
  ``max_pixels`` pixels (-1: no limit), ancillary chunks (skipped unread, as libpng does), exactly one IDAT
  chunk, then IEND; every critical chunk's CRC right and every chunk inside the file;
- ``ASK``: anything else (a palette, image data split over several IDAT chunks, another
  kind of PNG, a broken file): png.parse decides, so this screen never has to say why.

Hostile files: every read is checked against the file's end before it is made, lengths
over 2³¹ − 1 (the specification's limit) are refused, and the walk moves forward by at
least 12 bytes per chunk, so it ends within len(file) / 12 steps.
"""
import numpy as np

from ._jit import kernel

READY, ASK = 0, 1
FIELDS = 6
_LARGEST = 2 ** 31 - 1      # the specification's largest width, height and chunk length


def crc_table():
    """CRC-32's table: entry b is the remainder of byte b, reflected, by the polynomial."""
    table = np.arange(256, dtype=np.uint64)
    for _ in range(8):
        table = np.where(table & 1, (table >> np.uint64(1)) ^ np.uint64(0xEDB88320), table >> np.uint64(1))
    return table.astype(np.int64)


_TABLE = crc_table()
_SIGNATURE = np.frombuffer(b"\x89PNG\r\n\x1a\n", np.uint8).astype(np.int64)
_IHDR, _IDAT, _IEND = (int.from_bytes(name, "big") for name in (b"IHDR", b"IDAT", b"IEND"))


@kernel(nogil=True)
def _word(files, at):
    return (np.int64(files[at]) << 24) | (np.int64(files[at + 1]) << 16) | (np.int64(files[at + 2]) << 8) \
        | np.int64(files[at + 3])


@kernel(nogil=True)
def _crc(files, start, end, table):
    crc = np.int64(0xFFFFFFFF)
    for at in range(start, end):
        crc = table[(crc ^ files[at]) & 255] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@kernel(nogil=True)
def _walk(files, start, end, colours, max_pixels, table, signature, found):
    """found[:] for the file files[start:end]; found[0] stays ASK unless it is READY."""
    if end - start < 8 + 25 + 12:                       # signature, IHDR, IEND at least
        return
    for k in range(8):
        if files[start + k] != signature[k]:
            return
    at = start + 8
    if _word(files, at) != 13 or _word(files, at + 4) != _IHDR or _crc(files, at + 4, at + 21, table) != \
            _word(files, at + 21):
        return
    width, height = _word(files, at + 8), _word(files, at + 12)
    depth, colour = files[at + 16], files[at + 17]
    if width == 0 or height == 0 or width > _LARGEST or height > _LARGEST or depth != 8 or colours[colour] == 0 \
            or files[at + 18] != 0 or files[at + 19] != 0 or files[at + 20] != 0:
        return
    if max_pixels >= 0 and width * height > max_pixels:
        return
    at += 25
    data_start, data_length = -1, -1
    while at + 12 <= end:
        length, kind = _word(files, at), _word(files, at + 4)
        if length > _LARGEST or at + 12 + length > end:
            return
        if not (kind >> 24) & 32:                       # critical: upper-case first letter
            if _crc(files, at + 4, at + 8 + length, table) != _word(files, at + 8 + length):
                return
            if kind == _IDAT and data_start < 0:
                data_start, data_length = at + 8, length
            elif kind == _IEND and data_start >= 0:
                found[0], found[1], found[2], found[3] = READY, width, height, colour
                found[4], found[5] = data_start, data_length
                return
            else:                                       # a second IDAT, PLTE, IHDR, IEND too early, ...
                return
        at += 12 + length


@kernel(nogil=True)
def _scan(files, starts, colours, max_pixels, table, signature, found):
    for n in range(starts.shape[0] - 1):
        found[n, 0] = ASK
        _walk(files, starts[n], starts[n + 1], colours, max_pixels, table, signature, found[n])


def scan(files, starts, colours, max_pixels):
    """``found`` (int64, one row of FIELDS per file; see the module docstring) of the files
    ``files[starts[n]:starts[n + 1]]`` (uint8 1-D, int64 of one more entry than files)."""
    found = np.zeros((len(starts) - 1, FIELDS), np.int64)
    limit = -1 if max_pixels is None or max_pixels >= 2 ** 62 else int(max_pixels)   # ≥ any allowed W·H: none
    _scan(files, starts, colours, limit, _TABLE, _SIGNATURE, found)
    return found
