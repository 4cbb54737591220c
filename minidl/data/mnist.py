"""MNIST's IDX files, which users download themselves (minidl ships no copy).

IDX (LeCun et al.): a big-endian header — two zero bytes, a type code, the number of
dimensions d — then d big-endian uint32 sizes, then the values, row-major. MNIST uses type
0x08 (unsigned bytes): images are N×28×28, labels N. Files may be gzip-compressed (.gz),
as they are distributed.
"""
import gzip
import math
import os
import zlib

import numpy as np

from ..options import path as path_argument, received

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def readIDX(filename):
    """``A = readIDX(filename)``: the array stored in an IDX file (``.gz`` or not), with the
    file's dimensions and value type.

    The header is checked before any data is read: a file that is not IDX, or whose size
    differs from what its header says (truncated, or followed by extra data), raises
    ValueError naming the file and the expected and found sizes. Memory is allocated only
    for data actually in the file, so a damaged or hostile header claiming 2³² values
    costs nothing.

    Example::

        >>> import gzip, os, tempfile, numpy as np
        >>> from minidl import readIDX
        >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
        >>> with gzip.open(path, "wb") as f:
        ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
        >>> readIDX(path)
        array([7, 2, 1], dtype=uint8)
    """
    filename = path_argument("readIDX", "filename", filename)
    opener = gzip.open if filename.endswith(".gz") else open
    try:
        with opener(filename, "rb") as file:
            head = file.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _TYPES:
                raise ValueError(f"readIDX: {filename!r} is not an IDX file (it should start with two zero bytes "
                                 f"and a type code in {sorted(_TYPES)}); received {received(head)} as its first "
                                 f"bytes.")
            dtype, ndim = np.dtype(_TYPES[head[2]]), head[3]
            sizes = file.read(4 * ndim)
            if len(sizes) < 4 * ndim:
                raise ValueError(f"readIDX: {filename!r} is truncated inside its header ({4 + len(sizes)} bytes, "
                                 f"the header needs {4 + 4 * ndim}).")
            shape = tuple(int(v) for v in np.frombuffer(sizes, ">u4"))
            expected = math.prod(shape) * dtype.itemsize        # Python ints: no overflow
            wanted = expected + 1                               # one byte more reveals extra data
            if opener is open:                                  # never ask for more than the file holds
                wanted = min(wanted, os.fstat(file.fileno()).st_size - 4 - 4 * ndim)
            data = _read_at_most(file, wanted)
    except (OSError, EOFError, zlib.error) as error:            # missing, unreadable, or a damaged .gz
        raise ValueError(f"readIDX: cannot read {filename!r}: {error}") from None
    if len(data) != expected:
        found = f"{len(data)} bytes of values" if len(data) <= expected else "more bytes of values"
        raise ValueError(f"readIDX: {filename!r} has {found} but its header ({'×'.join(map(str, shape))} values "
                         f"of {dtype.itemsize} byte(s)) says {expected}; the file is "
                         f"{'truncated' if len(data) < expected else 'followed by extra data'}. Download it again.")
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _read_at_most(file, count, chunk=1 << 20):
    """Up to ``count`` bytes, read in chunks, so memory grows with the data actually there."""
    parts, total = [], 0
    while total < count:
        part = file.read(min(chunk, count - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def loadMNIST(folder, split="train"):
    """``[X, Y] = loadMNIST(folder, split)``: MNIST's ``"train"`` (60,000) or ``"test"``
    (10,000) images from the IDX files in ``folder``, in the form of
    ``digitTrain4DArrayData``: ``X`` 28×28×1×N float32 in [0, 1] (pixel / 255), ``Y`` the
    digits as a categorical.

    The files keep their distributed names (``train-images-idx3-ubyte`` … or with ``.gz``).
    A missing file raises FileNotFoundError naming the names looked for; images and labels
    of different counts raise ValueError.

    Example::

        >>> import os, tempfile, numpy as np
        >>> from minidl import loadMNIST
        >>> folder = tempfile.mkdtemp()
        >>> with open(os.path.join(folder, "t10k-images-idx3-ubyte"), "wb") as f:
        ...     _ = f.write(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes([255] * 784))
        >>> with open(os.path.join(folder, "t10k-labels-idx1-ubyte"), "wb") as f:
        ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 1, 5]))
        >>> X, Y = loadMNIST(folder, "test")
        >>> X.shape, float(X.max()), Y.tolist()
        ((28, 28, 1, 1), 1.0, ['5'])
    """
    from .labels import categorical

    folder = path_argument("loadMNIST", "folder", folder)
    if split not in _FILES:
        raise ValueError(f"loadMNIST: split must be 'train' or 'test'; received {received(split)}.")
    paths = [_find(folder, name) for name in _FILES[split]]
    images, labels = readIDX(paths[0]), readIDX(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"loadMNIST: {paths[0]!r} holds images of size {'×'.join(map(str, images.shape))} and "
                         f"{paths[1]!r} labels of size {'×'.join(map(str, labels.shape))}; expected N×28×28 "
                         f"images and N labels.")
    X = (images.transpose(1, 2, 0)[:, :, None, :].astype(np.float32) / np.float32(255))
    return np.ascontiguousarray(X), categorical(labels.astype(str))


def _find(folder, name):
    for candidate in (name, name + ".gz", name.replace("-idx", ".idx"), name.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"loadMNIST: no {name} (or {name}.gz) in {folder!r}. Download MNIST's four IDX files "
                            f"into that folder.")
