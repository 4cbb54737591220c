"""The fast PNG path (minidl/data/png.py, minidl/kernels/png_unfilter.py and png_chunks.py):
the unfilter and chunk-scan kernels against their twins (compiled and with
NUMBA_DISABLE_JIT=1), decoded images
against Pillow's on files Pillow writes and on files written here row filter by row filter,
and hostile files: each a clear error naming the file, or skipped under 'skipfile'."""
import io
import os
import struct
import textwrap
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from minidl import imageDatastore, readimage
from minidl.data import png
from minidl.data.image_files import decode, read_images
from minidl.kernels import reference_png
from minidl.kernels.png_chunks import READY, scan
from minidl.kernels.png_unfilter import unfilter

Image = pytest.importorskip("PIL.Image")
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}      # bytes per pixel of 8-bit colour types


# ---------------------------------------------------------------- writing PNG files by hand
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def filtered_rows(pixels, kinds):
    """The PNG row filters applied to ``pixels`` (H×W×bpp uint8), row y with filter kinds[y]:
    the specification's forward direction, from the original bytes (independent of the kernel)."""
    height, width, bpp = pixels.shape
    data = pixels.reshape(height, width * bpp).astype(np.int64)
    padded = np.zeros((height + 1, bpp + width * bpp), np.int64)
    padded[1:, bpp:] = data
    rows = []
    for y, kind in enumerate(kinds):
        a, b, c = padded[y + 1, :-bpp], padded[y, bpp:], padded[y, :-bpp]
        p = a + b - c
        paeth = np.where((abs(p - a) <= abs(p - b)) & (abs(p - a) <= abs(p - c)), a,
                         np.where(abs(p - b) <= abs(p - c), b, c))
        predictor = [0, a, b, (a + b) // 2, paeth][kind]
        rows.append(bytes([kind]) + ((data[y] - predictor) % 256).astype(np.uint8).tobytes())
    return b"".join(rows)


def png_file(pixels, colour, kinds=None, palette=None, pieces=1, extra=b"", level=6):
    """A PNG of ``pixels`` (H×W×bpp) with the given filter kinds per row (default: all five in
    turn), its compressed data split over ``pieces`` IDAT chunks, ``extra`` chunks before them."""
    height, width, _ = pixels.shape
    kinds = [y % 5 for y in range(height)] if kinds is None else kinds
    compressed = zlib.compress(filtered_rows(pixels, kinds), level)
    cuts = np.linspace(0, len(compressed), pieces + 1).astype(int)
    return (png.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)) +
            (chunk(b"PLTE", palette.astype(np.uint8).tobytes()) if palette is not None else b"") + extra +
            b"".join(chunk(b"IDAT", compressed[s:e]) for s, e in zip(cuts[:-1], cuts[1:])) + chunk(b"IEND", b""))


def pillow_image(data):
    return decode("test", "file.png", data)


def fast_image(data):
    layout = png.parse(data, Image.MAX_IMAGE_PIXELS)
    assert layout is not None, "the fast path should read this file"
    image = png.decode([layout])[0]
    if isinstance(image, Exception):
        raise image
    return image


# ---------------------------------------------------------------- the kernel and its twin
def kernel_cases(seed=0):
    """Random filtered bytes (filter kinds 0–4 at random, some rows kind 5+) for images of
    1×1 to 9×13 pixels and 1–4 bytes per pixel, back to back, as png.decode lays them out."""
    rng = np.random.default_rng(seed)
    heights, strides, bpps, chunks = [], [], [], []
    for n in range(40):
        height, width, bpp = int(rng.integers(1, 10)), int(rng.integers(1, 14)), int(rng.integers(1, 5))
        if n == 0:
            height, width = 1, 1
        rows = rng.integers(0, 256, (height, 1 + width * bpp))
        rows[:, 0] = rng.integers(0, 5, height)
        if n % 7 == 3:
            rows[height - 1, 0] = 5 + n       # a filter type PNG does not have
        heights.append(height), strides.append(width * bpp), bpps.append(bpp), chunks.append(rows.reshape(-1))
    heights, strides, bpps = (np.array(v, np.int64) for v in (heights, strides, bpps))
    raw = np.concatenate(chunks).astype(np.uint8)
    starts = np.concatenate(([0], np.cumsum(heights * (strides + 1))[:-1]))
    out_starts = np.concatenate(([0], np.cumsum(heights * strides)[:-1]))
    return raw, starts, heights, strides, bpps, out_starts


def compare_kernel_with_twin(seed):
    raw, starts, heights, strides, bpps, out_starts = kernel_cases(seed)
    got, want = np.zeros(int((heights * strides).sum()), np.uint8), np.zeros(int((heights * strides).sum()), np.uint8)
    bad = unfilter(raw, starts, heights, strides, bpps, got, out_starts)
    np.testing.assert_array_equal(bad, reference_png.unfilter(raw, starts, heights, strides, bpps, want, out_starts))
    for n in np.flatnonzero(bad < 0):
        span = slice(out_starts[n], out_starts[n] + heights[n] * strides[n])
        np.testing.assert_array_equal(got[span], want[span])
    return bad, heights


def test_unfilter_kernel_equals_its_twin():
    bad, heights = compare_kernel_with_twin(0)
    assert bad.tolist() == [h - 1 if n % 7 == 3 else -1 for n, h in enumerate(heights.tolist())]


def test_unfilter_twin_inverts_the_filters_written_here():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (10, 7, 3)).astype(np.uint8)
    kinds = [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]
    raw = np.frombuffer(filtered_rows(pixels, kinds), np.uint8)
    args = (raw, np.array([0]), np.array([10]), np.array([21]), np.array([3]))
    for function in (unfilter, reference_png.unfilter):
        out = np.zeros(210, np.uint8)
        assert function(*args, out, np.array([0])).tolist() == [-1]
        np.testing.assert_array_equal(out.reshape(10, 7, 3), pixels)


_NO_JIT = textwrap.dedent("""
    import numba
    assert numba.config.DISABLE_JIT
    from tests.data.test_png import compare_kernel_with_twin, compare_scan_with_twin
    compare_kernel_with_twin(2)
    compare_scan_with_twin(3)
    print("ok")
""")


def test_unfilter_kernel_equals_its_twin_without_jit():
    from tests.kernels.kernel_cases import run_python
    assert run_python(_NO_JIT, NUMBA_DISABLE_JIT="1").strip() == "ok"


# ---------------------------------------------------------------- same pixels as Pillow
@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P"])
@pytest.mark.parametrize("size", [(1, 1), (1, 7), (5, 3), (28, 28), (17, 33)])
@pytest.mark.parametrize("optimize", [False, True])
def test_files_pillow_writes_read_as_pillow_reads_them(tmp_path, mode, size, optimize):
    rng = np.random.default_rng(sum(size))
    colours = Image.fromarray(rng.integers(0, 256, size + (3,)).astype(np.uint8))
    image = colours.quantize(200) if mode == "P" else colours.convert(mode)
    path = tmp_path / "a.png"
    image.save(path, "PNG", optimize=optimize)
    data = path.read_bytes()
    [got] = read_images("test", [str(path)], [len(data)], [os.stat(path).st_mtime_ns])
    want = pillow_image(data)
    assert got.dtype == want.dtype == np.uint8 and got.shape == size + ({"L": 1, "LA": 1}.get(mode, 3),)
    np.testing.assert_array_equal(got, want)
    if data[24] == 8:           # 8-bit samples (Pillow writes palettes of few colours in 1, 2 or 4 bits)
        np.testing.assert_array_equal(fast_image(data), want)
    else:
        assert mode == "P" and png.parse(data) is None


@pytest.mark.parametrize("colour", [0, 2, 3, 4, 6])
@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4, None])
def test_each_filter_and_colour_type_written_here_reads_as_pillow_reads_it(colour, kind):
    rng = np.random.default_rng(colour * 10 + (kind or 7))
    pixels = rng.integers(0, 256, (9, 11, CHANNELS[colour])).astype(np.uint8)
    pixels[:3] = pixels[:3] // 64 * 64      # flat runs too: Paeth's ties, equal neighbours
    palette = rng.integers(0, 256, (256, 3)) if colour == 3 else None
    data = png_file(pixels, colour, None if kind is None else [kind] * 9, palette)
    got = fast_image(data)
    np.testing.assert_array_equal(got, pillow_image(data))
    expected = palette[pixels[:, :, 0]] if colour == 3 else pixels[:, :, :{0: 1, 2: 3, 4: 1, 6: 3}[colour]]
    np.testing.assert_array_equal(got, expected)


def test_split_image_data_ancillary_chunks_and_a_short_palette_read_as_pillow_reads_them():
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 5, (6, 8, 1)).astype(np.uint8)       # indices 3 and 4 are past the palette
    text = chunk(b"tEXt", b"Comment\x00hello")
    broken_text = text[:-1] + bytes([text[-1] ^ 1])                # an ancillary chunk's CRC is not checked
    data = png_file(pixels, 3, palette=np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]]), pieces=3,
                    extra=text + broken_text)
    got = fast_image(data)
    np.testing.assert_array_equal(got, pillow_image(data.replace(broken_text, b"")))
    assert got[pixels[:, :, 0] >= 3].max() == 0                   # black, as Pillow gives them


@pytest.mark.parametrize("kind", ["16-bit", "1-bit", "interlaced", "jpeg", "huge"])
def test_other_files_are_left_to_pillow(tmp_path, kind):
    gray = np.random.default_rng(4).integers(0, 256, (6, 5)).astype(np.uint8)
    file = io.BytesIO()
    if kind == "interlaced":        # Pillow does not write Adam7: a 2×2 image by hand (passes 1, 6 and 7)
        header = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 1)
        rows = bytes([0, 10, 0, 20, 0, 30, 40])
        file.write(png.SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    else:
        image = {"16-bit": Image.fromarray(gray.astype(np.uint16) * 257), "1-bit": Image.fromarray(gray > 99)}
        image.get(kind, Image.fromarray(gray)).save(file, "JPEG" if kind == "jpeg" else "PNG")
    data = file.getvalue()
    assert png.parse(data, 20 if kind == "huge" else Image.MAX_IMAGE_PIXELS) is None
    path = tmp_path / "a.png"
    path.write_bytes(data)
    np.testing.assert_array_equal(readimage(imageDatastore(str(path)), 1), pillow_image(data))
    if kind == "interlaced":
        assert pillow_image(data)[:, :, 0].tolist() == [[10, 20], [30, 40]]


# ---------------------------------------------------------------- hostile files
GOOD = png_file(np.arange(12, dtype=np.uint8).reshape(3, 4, 1), 0)


def _flip(data, position):
    damaged = bytearray(data)
    damaged[position] ^= 0x40
    return bytes(damaged)


def _idat(compressed, width, height, colour=0):
    return (png.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)) +
            chunk(b"IDAT", compressed) + chunk(b"IEND", b""))


OVERFLOWING = _idat(zlib.compress(b"\xff" * 5000), 3 * 2 ** 30, 3 * 2 ** 30)

HOSTILE = {
    "truncated in IDAT": (GOOD[:GOOD.index(b"IDAT") + 10], r"truncated: its 'IDAT' chunk at byte 33 declares"),
    "truncated before IEND": (GOOD[:-12], r"truncated: it ends at byte \d+, inside a chunk header"),
    "bad IHDR CRC": (_flip(GOOD, 20), r"bad CRC in its 'IHDR' chunk at byte 8"),
    "bad IDAT CRC": (_flip(GOOD, GOOD.index(b"IEND") - 6), r"bad CRC in its 'IDAT' chunk"),
    "no IDAT": (png.SIGNATURE + GOOD[8:33] + chunk(b"IEND", b""), r"no image data \(no IDAT chunk\)"),
    "zero width": (_idat(zlib.compress(b"\0"), 0, 1), r"declares a 0×1 image"),
    "not IHDR first": (png.SIGNATURE + chunk(b"IEND", b""), r"the first chunk is 'IEND', not a 13-byte IHDR"),
    "corrupt zlib": (_idat(b"x\x9c\xff\xff\xff\xff", 4, 3), r"compressed image data is corrupt \(zlib"),
    "bad filter type": (_idat(zlib.compress(bytes([0, 1, 2, 3, 4, 9, 1, 2, 3, 4])), 4, 2), r"row 2 has filter type 9"),
    "palette without PLTE": (_idat(zlib.compress(bytes(5)), 4, 1, colour=3), r"palette image without a PLTE"),
    "huge declared size": (_idat(zlib.compress(bytes(100)), 9000, 9000), r"ends after 100 of the 81009000 bytes"),
    "short image data": (_idat(zlib.compress(bytes(10)), 4, 3), r"ends after 10 of the 15 bytes its declared 4×3"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_png_is_an_error_naming_the_file_and_what_is_wrong(tmp_path, case):
    content, reason = HOSTILE[case]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bad.png").write_bytes(content)
    (tmp_path / "a" / "good.png").write_bytes(GOOD)
    imds = imageDatastore(tmp_path / "a")
    bad = str(tmp_path / "a" / "bad.png")
    for attempt in (lambda: readimage(imds, 1), lambda: imds._observations([1, 0])):
        with pytest.raises(ValueError, match=reason) as error:
            attempt()
        assert f"imageDatastore: {bad!r} is not a readable image (PNG: " in str(error.value)
    skipping = imageDatastore(tmp_path / "a", ReadFailureRule="skipfile")
    with pytest.warns(UserWarning, match=reason):
        X, _ = skipping._observations([0, 1])
    np.testing.assert_array_equal(X[..., 0], pillow_image(GOOD))
    assert skipping.SkippedFiles == [bad]


def test_huge_declared_size_allocates_only_what_the_data_holds():
    content = HOSTILE["huge declared size"][0]
    tracemalloc.start()
    try:
        with pytest.raises(png.PngError):
            fast_image(content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 20                    # the declared image is 81 MB


def test_decompression_bomb_inflates_only_the_declared_size():
    """28×28 declared, 200 MB of zeros compressed into the IDAT: the image is read, the rest
    never inflated (as libpng ignores extra data)."""
    stream = zlib.compressobj(9)
    bomb = stream.compress(bytes(29 * 28)) + b"".join(stream.compress(bytes(2 ** 20)) for _ in range(200))
    content = _idat(bomb + stream.flush(), 28, 28)
    assert len(content) < 300_000
    tracemalloc.start()
    try:
        image = fast_image(content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert image.shape == (28, 28, 1) and image.max() == 0 and peak < 4 * 2 ** 20


def test_image_over_pillows_limit_is_pillows_decompression_bomb_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5)
    path = tmp_path / "big.png"
    path.write_bytes(GOOD)                      # 12 pixels: over twice the limit
    [result] = read_images("imageDatastore", [str(path)], [len(GOOD)], [os.stat(path).st_mtime_ns])
    assert isinstance(result, ValueError) and "DecompressionBombError" in str(result) and repr(str(path)) in str(result)


def test_files_are_decoded_in_groups_with_the_same_results(tmp_path, monkeypatch):
    from minidl.data import image_files
    rng = np.random.default_rng(5)
    contents = [png_file(rng.integers(0, 256, (3, 4, 1)).astype(np.uint8), 0) for _ in range(4)]
    contents.insert(2, HOSTILE["bad IDAT CRC"][0])
    jpeg = io.BytesIO()
    Image.fromarray(np.full((3, 4), 99, np.uint8)).save(jpeg, "JPEG")
    contents.append(jpeg.getvalue())
    paths = [str(tmp_path / f"{k}.png") for k in range(len(contents))]
    for path, content in zip(paths, contents):
        Path(path).write_bytes(content)
    signatures = image_files.file_signatures(paths)
    whole = read_images("test", paths, *signatures)
    monkeypatch.setattr(image_files, "_GROUP", 2)
    grouped = read_images("test", paths, *signatures)
    assert [type(image) for image in whole] == [type(image) for image in grouped] == \
        [np.ndarray] * 2 + [image_files.ImageReadError] + [np.ndarray] * 3
    for k in (0, 1, 3, 4, 5):
        np.testing.assert_array_equal(grouped[k], pillow_image(contents[k]))
        np.testing.assert_array_equal(whole[k], grouped[k])


def test_a_read_fcn_is_not_called_after_the_file_that_stops_the_read(tmp_path):
    for k in range(3):
        (tmp_path / f"{k}.png").write_bytes(GOOD)
    calls = []

    def reader(name):
        calls.append(os.path.basename(name))
        if name.endswith("1.png"):
            raise OSError("device not ready")
        return np.zeros((2, 2))

    imds = imageDatastore(tmp_path, ReadFcn=reader)
    with pytest.raises(ValueError, match=r"ReadFcn failed on .*1\.png' \(OSError: device not ready\)"):
        imds._observations([0, 1, 2])
    assert calls == ["0.png", "1.png"]


@pytest.mark.parametrize("colour", [0, 2, 3, 4, 6])
def test_images_are_c_contiguous_as_pillows_are(colour):
    pixels = np.random.default_rng(colour).integers(0, 256, (4, 5, CHANNELS[colour])).astype(np.uint8)
    palette = np.arange(768).reshape(256, 3) % 256 if colour == 3 else None
    assert fast_image(png_file(pixels, colour, palette=palette)).flags.c_contiguous


# ---------------------------------------------------------------- the chunk scan and batches
def scan_cases(seed):
    """Files the scan must vouch for or leave to png.parse: each colour type, split image
    data, ancillary chunks, a PLTE in a gray image, bytes after IEND, every hostile file,
    and damaged copies of good ones (a byte flipped, cut short) and garbage."""
    rng = np.random.default_rng(seed)
    text = chunk(b"tEXt", b"Comment\x00hi")
    files = [GOOD, GOOD + b"trailing", png_file(np.zeros((2, 3, 1), np.uint8), 0, extra=text),
             png_file(np.ones((2, 3, 1), np.uint8), 0, palette=np.zeros((4, 3))),
             png_file(np.ones((5, 2, 1), np.uint8), 0, pieces=2), png.SIGNATURE, b""]
    files += [png_file(rng.integers(0, 256, (3, 5, CHANNELS[c])).astype(np.uint8), c,
                       palette=np.arange(30).reshape(10, 3) if c == 3 else None) for c in CHANNELS]
    files += [content for content, _ in HOSTILE.values()] + [OVERFLOWING]
    for _ in range(60):
        good = files[int(rng.integers(0, 3))]
        files += [_flip(good, int(rng.integers(0, len(good)))), good[:int(rng.integers(0, len(good)))]]
    files += [rng.integers(0, 256, int(rng.integers(0, 80))).astype(np.uint8).tobytes() for _ in range(10)]
    return files


def compare_scan_with_twin(seed):
    files = scan_cases(seed)
    joined = np.frombuffer(b"".join(files), np.uint8)
    starts = np.concatenate(([0], np.cumsum([len(f) for f in files]))).astype(np.int64)
    colours = png._SCREENED
    for limit in (None, float("inf"), 2 ** 70, 14, 10 ** 6):
        found = scan(joined, starts, colours, limit)
        np.testing.assert_array_equal(found, reference_png.scan(joined, starts, colours, limit))
    return files, found


def test_chunk_scan_equals_its_twin_and_vouches_only_for_what_parse_reads_whole():
    files, found = compare_scan_with_twin(4)
    assert found[:, 0].tolist().count(READY) > 8        # the good files and copies damaged only where unread
    assert found[0].tolist() == [READY, 4, 3, 0, GOOD.index(b"IDAT") + 4, len(GOOD) - GOOD.index(b"IDAT") - 4 - 16]
    offset = 0
    for data, (kind, width, height, colour, start, length) in zip(files, found.tolist()):
        if kind == READY:
            layout = png.parse(data)
            assert (layout.width, layout.height, layout.colour, layout.palette) == (width, height, colour, None)
            assert [bytes(body) for body in layout.compressed] == [data[start - offset:start - offset + length]]
        offset += len(data)
    assert found[[k for k, f in enumerate(files) if f in [c for c, _ in HOSTILE.values()]], 0].tolist().count(
        READY) == 3          # corrupt zlib, bad filter type, short data: found inflating (the huge one is over 10⁶)


def test_a_size_whose_pixel_count_overflows_int64_is_pillows_to_refuse(tmp_path, monkeypatch):
    """3·2³⁰ × 3·2³⁰ (over the specification's 2³¹ − 1): in int64 their product wraps to a
    negative number, which would pass any pixel limit; the scan and parse leave it to Pillow."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big.png").write_bytes(OVERFLOWING)
    (tmp_path / "a" / "good.png").write_bytes(GOOD)
    assert png.parse(OVERFLOWING, Image.MAX_IMAGE_PIXELS) is None and png.parse(OVERFLOWING) is None
    for limit in (Image.MAX_IMAGE_PIXELS, None, float("inf")):     # no limit: Pillow refuses it on its own
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        skipping = imageDatastore(tmp_path / "a", ReadFailureRule="skipfile")
        with pytest.warns(UserWarning, match="big.png' is not a readable image"):
            images = skipping.readall()
        assert len(images) == 1 and skipping.SkippedFiles == [str(tmp_path / "a" / "big.png")]
        np.testing.assert_array_equal(images[0], pillow_image(GOOD))


def test_alike_files_come_as_one_array_and_a_broken_one_only_fails_itself(tmp_path):
    rng = np.random.default_rng(6)
    for colour in (0, 6):
        pixels = [rng.integers(0, 256, (4, 3, CHANNELS[colour])).astype(np.uint8) for _ in range(5)]
        paths = [str(tmp_path / f"{colour}-{k}.png") for k in range(5)]
        for path, image in zip(paths, pixels):
            Path(path).write_bytes(png_file(image, colour))
        from minidl.data.image_files import file_signatures
        batch = read_images("test", paths, *file_signatures(paths))
        assert isinstance(batch, np.ndarray) and batch.shape == (5, 4, 3, 1 if colour == 0 else 3)
        assert batch.flags.c_contiguous
        for got, path in zip(batch, paths):
            np.testing.assert_array_equal(got, pillow_image(Path(path).read_bytes()))
    content = Path(paths[3]).read_bytes()
    Path(paths[3]).write_bytes(_flip(content, len(content) - 14))       # the IDAT chunk's CRC
    mixed = read_images("test", paths, *file_signatures(paths))
    assert isinstance(mixed, list) and "bad CRC in its 'IDAT' chunk" in str(mixed[3]) and paths[3] in str(mixed[3])
    for k in (0, 1, 2, 4):
        np.testing.assert_array_equal(mixed[k], batch[k])
    rows = bytearray(filtered_rows(np.zeros((4, 3, 4), np.uint8), [0] * 4))
    rows[2 * 13] = 9                                                    # row 3's filter type
    Path(paths[1]).write_bytes(_idat(zlib.compress(bytes(rows)), 3, 4, colour=6))   # alike the others
    Path(paths[3]).write_bytes(content)                                 # good again
    assert png.read([Path(p).read_bytes() for p in paths[:3]])[1].args[0] == "row 3 has filter type 9, which PNG does not have (0–4)"
    mixed = read_images("test", paths, *file_signatures(paths))
    assert isinstance(mixed, list) and "row 3 has filter type 9" in str(mixed[1])
    for k in (0, 2, 3, 4):
        np.testing.assert_array_equal(mixed[k], batch[k])
