"""Image files for imageDatastore: finding them (folders, files, wildcards), recording
what each file was when found (size and modification time), and decoding them with Pillow.

A file is decoded from the bytes of one open file handle, and that handle's size and
modification time are checked against the recorded ones, so a file deleted, truncated or
rewritten after the datastore was made is an error naming it, never a silently different
image. Pillow is imported only here, on first decode, so ``import minidl`` never needs it.
"""
import errno
import glob
import io
import os
import stat

import numpy as np

from ..options import received
from . import png

DEFAULT_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".pnm", ".ppm", ".tif", ".tiff")


def pillow(owner):
    """The PIL.Image module, or an ImportError telling how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"{owner}: reading and writing image files needs Pillow, which minidl does not "
                          f"require: pip install minidl[images] (or pip install Pillow).") from None
    return Image


def extensions(owner, value):
    """FileExtensions as a tuple of lower-case '.ext' strings."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple, np.ndarray)) or not len(values) or \
            not all(isinstance(v, str) and v.strip(". ") for v in values):
        raise TypeError(f"{owner}: FileExtensions must be an extension such as '.png' or a list of them; "
                        f"received {received(value)}.")
    return tuple("." + str(v).lower().lstrip(".") for v in values)


def find_files(owner, location, include_subfolders, wanted):
    """The image files at ``location`` (a folder, a file, a wildcard pattern, or a list of
    them), with the wanted extensions, sorted as MATLAB sorts them: by folder, then by name,
    each location in the order given. Hidden files and folders (a name starting with '.')
    are left out. An empty result is a ValueError saying what was found instead."""
    locations = [location] if isinstance(location, (str, os.PathLike)) else location
    if isinstance(locations, np.ndarray):
        locations = locations.tolist()
    if not isinstance(locations, (list, tuple)) or not locations or \
            not all(isinstance(p, (str, os.PathLike)) for p in locations):
        raise TypeError(f"{owner}: location must be a folder or file name, a wildcard pattern, or a list of "
                        f"them; received {received(location)}.")
    found, others = [], []
    for place in map(os.fspath, locations):
        candidates = _expand(owner, place, include_subfolders)
        keep = [path for path in candidates if os.path.splitext(path)[1].lower() in wanted]
        if os.path.isfile(place) and not keep:
            raise ValueError(f"{owner}: {place!r} has extension {os.path.splitext(place)[1]!r}, which is not one "
                             f"of FileExtensions ({', '.join(wanted)}). Add it to FileExtensions.")
        found += sorted(keep, key=_matlab_order)
        others += [path for path in candidates if os.path.splitext(path)[1].lower() not in wanted]
    found = list(dict.fromkeys(os.path.abspath(path) for path in found))
    if not found:
        raise ValueError(_nothing_found(owner, locations, include_subfolders, wanted, others))
    return found


def _expand(owner, place, include_subfolders):
    """Every visible file under one location (its own files, or all below it)."""
    if glob.has_magic(place):
        matches = sorted(glob.glob(place))
        if not matches:
            raise FileNotFoundError(f"{owner}: no file or folder matches location {place!r}.")
    elif not os.path.exists(place):
        raise FileNotFoundError(f"{owner}: location {place!r} does not exist (absolute path "
                                f"{os.path.abspath(place)!r}).")
    else:
        matches = [place]
    files = []
    for match in matches:
        if os.path.isfile(match):
            files.append(match)
        elif os.path.isdir(match):
            files += _folder_files(match, include_subfolders)
    return files


def _folder_files(folder, include_subfolders):
    files = []
    for root, folders, names in os.walk(folder):
        folders[:] = [f for f in folders if not f.startswith(".")] if include_subfolders else []
        files += [os.path.join(root, n) for n in names if not n.startswith(".")]
    return [f for f in files if os.path.isfile(f)]


def _matlab_order(path):
    folder, name = os.path.split(os.path.abspath(path))
    return folder.split(os.sep), name


def _nothing_found(owner, locations, include_subfolders, wanted, others):
    where = ", ".join(repr(os.fspath(p)) for p in locations[:3]) + (" ..." if len(locations) > 3 else "")
    if others:
        kinds = sorted({os.path.splitext(p)[1].lower() or "(no extension)" for p in others})
        return (f"{owner}: no files with extensions {', '.join(wanted)} in location {where}; found {len(others)} other "
                f"file(s) with extensions {', '.join(kinds[:8])}. Set FileExtensions to read them.")
    hint = "" if include_subfolders else " Images in subfolders are read with IncludeSubfolders=True."
    return f"{owner}: no files in location {where}; the location is empty.{hint}"


def file_signatures(paths):
    """(sizes, modification times in ns) of the files, as int64 arrays, to detect changes."""
    stats = [os.stat(p) for p in paths]
    return (np.array([s.st_size for s in stats], dtype=np.int64),
            np.array([s.st_mtime_ns for s in stats], dtype=np.int64))


class ImageReadError(ValueError):
    """A file of an imageDatastore cannot be read: missing, changed, empty or not an image."""


def check_unchanged(owner, path, stat, size, mtime):
    if stat.st_size != size or stat.st_mtime_ns != mtime:
        raise ImageReadError(f"{owner}: {path!r} changed after the datastore was made (now {stat.st_size} bytes, "
                             f"was {size}; or a new modification time). Make the datastore again to read the "
                             f"files as they are now.")


def deleted(owner, path):
    return ImageReadError(f"{owner}: {path!r} was deleted or moved after the datastore was made. Make the "
                          f"datastore again, or remove the file from it with subset.")


_READ_ONLY = os.O_RDONLY | getattr(os, "O_BINARY", 0)      # O_BINARY: Windows


def open_unchanged(owner, path, size, mtime):
    """The bytes of ``path``, read from one descriptor whose size and time match the record
    (os-level calls: a buffered file object costs more than reading a small image)."""
    try:
        descriptor = os.open(path, _READ_ONLY)
    except FileNotFoundError:
        raise deleted(owner, path) from None
    except OSError as error:
        raise ImageReadError(f"{owner}: cannot read {path!r}: {error.strerror or error}.") from None
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):        # open() refuses a folder; os.open does not
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        check_unchanged(owner, path, status, size, mtime)
        data = os.read(descriptor, size)
        while len(data) < size:         # a short read (a network file system, a signal): go on
            more = os.read(descriptor, size - len(data))
            if not more:
                raise ImageReadError(f"{owner}: {path!r} ended after {len(data)} of its {size} bytes while "
                                     f"being read. Make the datastore again to read the files as they are now.")
            data += more
    except OSError as error:
        raise ImageReadError(f"{owner}: cannot read {path!r}: {error.strerror or error}.") from None
    finally:
        os.close(descriptor)
    if not data:
        raise ImageReadError(f"{owner}: {path!r} is empty (0 bytes); it is not an image.")
    return data


# Pillow modes → the mode decoded to: MATLAB's imread gives the colour channels without
# alpha, and an indexed (palette) image comes as RGB, as imageDatastore's reader gives it.
_CONVERT = {"P": "RGB", "PA": "RGB", "RGBA": "RGB", "RGBa": "RGB", "LA": "L", "La": "L", "RGBX": "RGB",
            "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


def decode(owner, path, data):
    """The image in ``data`` as an H×W×C array of its stored type (uint8, uint16, bool, ...):
    MATLAB's imread values, with a channel axis also for grayscale (H×W×1). Pillow decodes it."""
    Image = pillow(owner)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mode = _CONVERT.get(image.mode)
            array = np.asarray(image.convert(mode) if mode else image)
    except Exception as error:      # Pillow raises many types for a bad file
        reason = ("not in an image format Pillow knows" if type(error).__name__ == "UnidentifiedImageError"
                  else f"{type(error).__name__}: {error}")
        raise unreadable(owner, path, reason) from None
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    return array[:, :, None] if array.ndim == 2 else array


def unreadable(owner, path, reason):
    return ImageReadError(f"{owner}: {path!r} is not a readable image ({reason}); remove or replace the file.")


_GROUP = 512       # files decoded together: a mini-batch or more


def read_images(owner, paths, sizes, mtimes):
    """The images of the files ``paths`` (as :func:`decode` gives them), each checked against
    its recorded size and modification time; an unreadable file's entry is the
    ImageReadError saying why. Common PNG files take the fast path (minidl/data/png.py,
    one kernel call for each group of files), the other files Pillow. A group of common PNG
    files of one size comes back as one N×H×W×C array (its items are the images)."""
    if len(paths) > _GROUP:     # readall of a large folder: the transient buffers stay small
        return [image for start in range(0, len(paths), _GROUP)
                for image in read_images(owner, paths[start:start + _GROUP], sizes[start:start + _GROUP],
                                         mtimes[start:start + _GROUP])]
    results, datas, opened = [None] * len(paths), [], []
    for k, (path, size, mtime) in enumerate(zip(paths, np.asarray(sizes).tolist(), np.asarray(mtimes).tolist())):
        try:
            datas.append(open_unchanged(owner, path, size, mtime))
            opened.append(k)
        except ImageReadError as error:
            results[k] = error
    images = png.read(datas, pillow(owner).MAX_IMAGE_PIXELS)   # over Pillow's limit: Pillow warns or refuses
    if isinstance(images, np.ndarray) and len(opened) == len(paths):
        return images
    for k, data, image in zip(opened, datas, images):
        if image is None:
            try:
                results[k] = decode(owner, paths[k], data)
            except ImageReadError as error:
                results[k] = error
        elif isinstance(image, png.PngError):
            results[k] = unreadable(owner, paths[k], f"PNG: {image}")
        else:
            results[k] = image
    return results
