"""Bad data in image folders: each case a clear error naming the file, or with
ReadFailureRule='skipfile' a warning, a count, and predictors still aligned with labels."""
import os
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minidl import arrayDatastore, combine, hasdata, imageDatastore, read, readimage


def _folder(tmp_path, write_image, shapes):
    """tmp/a/0.png, 1.png, ... with the given shapes; pixel values 10·k (+ channel)."""
    for k, shape in enumerate(shapes):
        write_image(str(tmp_path / "a" / f"{k}.png"), np.full(shape, 10 * k, np.uint8))
    return imageDatastore(tmp_path / "a", Labels=[f"l{k}" for k in range(len(shapes))])


@pytest.mark.parametrize("content, message", [(b"", r"is empty \(0 bytes\)"),
                                              (b"\x89PNG\r\n\x1a\nnot really", "is not a readable image"),
                                              (bytes(range(256)) * 4, "is not a readable image")])
def test_corrupt_or_empty_file_is_an_error_naming_it(tmp_path, write_image, content, message):
    imds = _folder(tmp_path, write_image, [(3, 3)] * 3)
    bad = imds.Files[1]
    with open(bad, "wb") as file:
        file.write(content)
    imds = imageDatastore(tmp_path / "a", Labels=["x", "y", "z"])       # made after the damage
    for attempt in (lambda: readimage(imds, 2), lambda: imds._observations([0, 1, 2]),
                    lambda: [read(imds) for _ in range(3)]):
        with pytest.raises(ValueError, match=message) as error:
            attempt()
        assert repr(bad) in str(error.value) and "imageDatastore" in str(error.value)
    assert readimage(imds, 3).shape == (3, 3, 1)      # the good files still read


def test_skipfile_warns_counts_and_keeps_labels_aligned(tmp_path, write_image):
    imds = _folder(tmp_path, write_image, [(3, 3)] * 4)
    for k in (1, 2):
        with open(imds.Files[k], "wb") as file:
            file.write(b"garbage")
    imds = imageDatastore(tmp_path / "a", Labels=["l0", "l1", "l2", "l3"], ReadFailureRule="skipfile")
    with pytest.warns(UserWarning) as record:
        X, Y = imds._observations([3, 1, 0, 2])
    messages = [str(r.message) for r in record]
    assert len(messages) == 2 and "1.png' is not a readable image (not in an image format" in messages[0]
    assert "Skipped (ReadFailureRule='skipfile'); 1 file(s) skipped so far" in messages[0]
    assert "2.png'" in messages[1] and "2 file(s) skipped so far" in messages[1]
    assert X.shape == (3, 3, 1, 2) and Y.tolist() == ["l3", "l0"]
    np.testing.assert_array_equal(X[0, 0, 0], [30, 0])            # image k is filled with 10·k
    assert imds.SkippedFiles == [imds.Files[1], imds.Files[2]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                             # a file is reported once
        labels = []
        while hasdata(imds):                                       # read moves past skipped files
            image, info = read(imds)
            labels.append(info.Label)
        assert labels == ["l0", "l3"]
        cds = combine(imds, arrayDatastore(np.array([100, 101, 102, 103])))
        X, Y = cds._observations([0, 1, 2, 3])
        np.testing.assert_array_equal(X[0, 0, 0], [0, 30])
        np.testing.assert_array_equal(Y, [100, 103])                # responses of the kept images only
        assert read(cds)[1] == [100]
    assert imds.shuffle().SkippedFiles == imds.SkippedFiles        # shared with derived datastores


def test_different_sizes_name_the_file_its_size_and_the_fix(tmp_path, write_image):
    imds = _folder(tmp_path, write_image, [(4, 4), (4, 4), (5, 4), (4, 4, 3)])
    imds._observations([0, 1])
    with pytest.raises(ValueError) as error:
        imds._observations([0, 2])
    text = str(error.value)
    assert repr(imds.Files[2]) in text and "is 5×4×1" in text and "needs 4×4×1" in text
    assert repr(imds.Files[0]) in text and "augmentedImageDatastore([4, 4], imds)" in text
    with pytest.raises(ValueError, match=r"is 4×4×3 .* ColorPreprocessing='gray2rgb'"):
        imds._observations([3])                       # later mini-batches keep the first image's size
    assert readimage(imds, 3).shape == (5, 4, 1)      # reading one image of any size is fine


def test_changed_or_deleted_file_after_creation_is_an_error(tmp_path, write_image):
    imds = _folder(tmp_path, write_image, [(3, 3)] * 3)
    write_image(imds.Files[0], np.full((3, 3), 99, np.uint8))      # same name, different image
    os.utime(imds.Files[0], ns=(1, 1))                             # whatever the clock's resolution
    with pytest.raises(ValueError, match=r"0\.png' changed after the datastore was made"):
        readimage(imds, 1)
    os.remove(imds.Files[1])
    with pytest.raises(ValueError, match=r"1\.png' was deleted or moved after the datastore was made"):
        imds._observations([1])
    os.remove(imds.Files[2])
    os.mkdir(imds.Files[2])                                        # now a folder: cannot be read
    with pytest.raises(ValueError, match=r"cannot read .*2\.png'"):
        readimage(imds, 3)
    custom = imageDatastore(tmp_path / "a", ReadFcn=lambda name: np.zeros((2, 2)))
    os.utime(custom.Files[0], ns=(5, 5))
    with pytest.raises(ValueError, match="changed after the datastore was made"):
        readimage(custom, 1)
    os.remove(custom.Files[0])
    with pytest.raises(ValueError, match="was deleted or moved after the datastore was made"):
        readimage(custom, 1)


def test_empty_folder_wrong_extensions_missing_location(tmp_path, write_image):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"^imageDatastore: no files in location .*empty'; the location is empty"):
        imageDatastore(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    for name in ("a.txt", "b.csv", ".hidden.png"):
        (tmp_path / "text" / name).write_text("x")
    with pytest.raises(ValueError, match=r"no files with extensions .*\.png.*; found 2 other file\(s\) with "
                                         r"extensions \.csv, \.txt\. Set FileExtensions"):
        imageDatastore(tmp_path / "text")
    assert len(imageDatastore(tmp_path / "text", FileExtensions=[".txt", "csv"]).Files) == 2
    with pytest.raises(FileNotFoundError, match="does not exist"):
        imageDatastore(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no file or folder matches .*\*\.jpg"):
        imageDatastore(str(tmp_path / "*.jpg"))
    with pytest.raises(ValueError, match=r"'.*a\.txt' has extension '\.txt', which is not one of FileExtensions"):
        imageDatastore(tmp_path / "text" / "a.txt")
    with pytest.raises(TypeError, match="location must be a folder or file name"):
        imageDatastore(3)
    with pytest.raises(TypeError, match="FileExtensions must be an extension"):
        imageDatastore(tmp_path / "text", FileExtensions=[3])
    with pytest.raises(ValueError, match="LabelSource must be one of 'none', 'foldernames'"):
        imageDatastore(tmp_path / "text", LabelSource="folders")


def test_a_failing_readfcn_names_the_file_and_can_be_skipped(tmp_path, write_image):
    _folder(tmp_path, write_image, [(3, 3)] * 2)

    def reader(name):
        if name.endswith("1.png"):
            raise OSError("device not ready")
        return np.ones((3, 3))
    with pytest.raises(ValueError, match=r"ReadFcn failed on .*1\.png' \(OSError: device not ready\)"):
        imageDatastore(tmp_path / "a", ReadFcn=reader)._observations([0, 1])
    lenient = imageDatastore(tmp_path / "a", ReadFcn=reader, ReadFailureRule="skipfile")
    with pytest.warns(UserWarning, match="device not ready"):
        assert lenient._observations([0, 1])[0].shape == (3, 3, 1, 1)


def test_readfcn_result_must_be_an_image(tmp_path, write_image):
    _folder(tmp_path, write_image, [(3, 3)])
    imds = imageDatastore(tmp_path / "a", ReadFcn=lambda name: "not an image")
    assert readimage(imds, 1) == "not an image"                    # read gives what ReadFcn gives
    with pytest.raises(ValueError, match=r"0\.png' must be a nonempty H×W or H×W×C numeric array"):
        imds._observations([0])


def test_without_pillow_reading_says_how_to_install_it(tmp_path, write_image, monkeypatch):
    imds = _folder(tmp_path, write_image, [(3, 3)])
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.delitem(sys.modules, "PIL.Image", raising=False)
    listed = imageDatastore(tmp_path / "a")                        # listing needs no Pillow
    with pytest.raises(ImportError, match=r"needs Pillow.*pip install minidl\[images\]"):
        readimage(listed, 1)


def _png(width, height, payload=b""):
    """A PNG file's bytes with the given header size (valid chunk CRCs), for hostile headers."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(payload)) + chunk(b"IEND", b"")


def test_a_header_claiming_a_huge_image_is_refused_without_allocating(tmp_path):
    import tracemalloc
    (tmp_path / "bomb.png").write_bytes(_png(100_000, 100_000, bytes(10)))      # 10¹⁰ pixels claimed
    imds = imageDatastore(tmp_path / "bomb.png")
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"bomb\.png' is not a readable image"):
        readimage(imds, 1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20


def test_an_empty_selection_reads_as_no_observations(tmp_path, write_image):
    imds = _folder(tmp_path, write_image, [(3, 3)] * 2)
    X, Y = imds._observations([])
    assert X.shape[-1] == 0 and len(Y) == 0


@settings(deadline=None, max_examples=40)
@given(st.binary(max_size=200), st.integers(0, 70))
def test_hostile_png_bytes_give_an_image_or_a_clear_error(tmp_path_factory, noise, width):
    from minidl.data.image_files import decode
    data = _png(width, 3, noise) if width % 2 else b"\x89PNG\r\n\x1a\n" + noise
    try:
        image = decode("imageDatastore", "x.png", data)
    except ValueError as error:
        assert "'x.png' is not a readable image" in str(error)
    else:
        assert image.ndim == 3 and image.shape[:2] == (3, width)


def test_nan_next_to_a_skipped_file_is_a_clear_error(tmp_path, write_image):
    from minidl.training.data_source import DatastoreSource
    imds = _folder(tmp_path, write_image, [(3, 3)] * 4)

    def reader(name):
        if name.endswith("1.png"):
            raise OSError("device not ready")
        return np.full((3, 3), np.nan if name.endswith("2.png") else 1.0)
    lenient = imageDatastore(tmp_path / "a", ReadFcn=reader, ReadFailureRule="skipfile", Labels=list("abcd"))
    from minidl import imageInputLayer
    source = DatastoreSource(lenient, np.arange(4), lambda Y, owner: np.arange(len(Y)),
                             imageInputLayer([3, 3, 1], Normalization="none"), "trainNetwork")
    with pytest.warns(UserWarning, match="device not ready"), \
            pytest.raises(ValueError, match=r"trainNetwork: NaN or Inf values in 1 of the 3 observations read "
                                            r"for one mini-batch of the datastore"):
        source.batch(slice(0, 4))
