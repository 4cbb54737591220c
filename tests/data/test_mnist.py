"""readIDX and loadMNIST against hand-built IDX files, good and hostile."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minidl import loadMNIST, readIDX


def idx_bytes(array, code=0x08):
    """An IDX file's bytes, written independently of readIDX: header then big-endian values."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + np.asarray(array, dtype).tobytes()


@pytest.mark.parametrize("code, values", [(0x08, [[0, 255], [7, 1]]), (0x09, [-128, 127]), (0x0B, [-2, 300]),
                                          (0x0C, [[[1]], [[-70000]]]), (0x0D, [1.5, -2.25]), (0x0E, [1e300])])
def test_every_type_round_trips_plain_and_gz(tmp_path, code, values):
    expected = np.array(values)
    plain, packed = tmp_path / "a-idx", tmp_path / "a-idx.gz"
    plain.write_bytes(idx_bytes(expected, code))
    packed.write_bytes(gzip.compress(idx_bytes(expected, code)))
    for path in (plain, packed):
        result = readIDX(str(path))
        assert result.shape == expected.shape and result.dtype.isnative
        np.testing.assert_array_equal(result, expected)


def test_loadmnist_layout_scaling_and_labels(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 256
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "train-labels.idx1-ubyte").write_bytes(idx_bytes(np.array([3, 9])))
    X, Y = loadMNIST(tmp_path, "train")
    assert X.shape == (28, 28, 1, 2) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, :, 0, 1], images[1] / 255.0, rtol=1e-6)     # row i of the file is row i
    assert Y.tolist() == ["3", "9"]
    with pytest.raises(FileNotFoundError, match="loadMNIST: no t10k-images-idx3-ubyte"):
        loadMNIST(tmp_path, "test")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        loadMNIST(tmp_path, "validation")


def test_mismatched_counts_are_an_error(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((2, 28, 28))))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3)))
    with pytest.raises(ValueError, match=r"images of size 2×28×28 and .* labels of size 3"):
        loadMNIST(tmp_path, "test")


def test_truncated_extra_and_wrong_magic(tmp_path):
    good = idx_bytes(np.arange(10))
    path = tmp_path / "f-idx"
    path.write_bytes(good[:-3])
    with pytest.raises(ValueError, match=r"has 7 bytes of values but its header \(10 values of 1 byte\(s\)\) says "
                                         r"10; the file is truncated"):
        readIDX(str(path))
    path.write_bytes(good + b"\x00")
    with pytest.raises(ValueError, match="followed by extra data"):
        readIDX(str(path))
    path.write_bytes(b"\x1f\x8b" + good)          # gzip magic, not a .gz name
    with pytest.raises(ValueError, match="is not an IDX file"):
        readIDX(str(path))
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match=r"truncated inside its header \(6 bytes, the header needs 16\)"):
        readIDX(str(path))
    gz = tmp_path / "g-idx.gz"
    gz.write_bytes(gzip.compress(good)[:-12])       # a gzip stream cut short
    with pytest.raises(ValueError, match="readIDX: cannot read"):
        readIDX(str(gz))
    with pytest.raises(ValueError, match="readIDX: cannot read"):
        readIDX(str(tmp_path / "missing-idx"))
    with pytest.raises(TypeError, match="readIDX: filename must be a path"):
        readIDX(3)


def test_a_header_claiming_huge_sizes_allocates_nothing(tmp_path):
    import tracemalloc
    # 2^32 - 1 values of 8 bytes each, 255 dimensions of 2^32 - 1: claims far beyond memory
    for header in (bytes([0, 0, 0x0E, 1]) + struct.pack(">I", 2**32 - 1),
                   bytes([0, 0, 0x08, 255]) + struct.pack(">I", 2**32 - 1) * 255):
        for name, content in (("huge-idx", header + bytes(100)), ("huge-idx.gz", gzip.compress(header + bytes(100)))):
            (tmp_path / name).write_bytes(content)
            tracemalloc.start()
            with pytest.raises(ValueError, match="truncated"):
                readIDX(str(tmp_path / name))
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < 4 << 20, (name, peak)        # chunks of 1 MiB at most, never the claimed size


@settings(deadline=None, max_examples=60)
@given(st.binary(max_size=64))
def test_hostile_bytes_give_value_error_or_a_consistent_array(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("idx") / "x-idx"
    path.write_bytes(data)
    try:
        array = readIDX(str(path))
    except ValueError as error:
        assert "readIDX:" in str(error)
    else:                                 # accepted: then the header described the file exactly
        assert 4 + 4 * array.ndim + array.nbytes == len(data)
