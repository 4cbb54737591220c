"""MATLAB's ``imageDatastore``: a collection of image files, read one file or one
mini-batch at a time, with labels from folder names.

Values: ``read``/``readimage`` return each image as stored (uint8 for 8-bit files: 0–255,
as MATLAB's ``imread``), H×W×C with C = 1 for grayscale (MATLAB gives H×W there). For
training and inference the datastore stacks images as float32 H×W×C×N keeping those values
(0–255 for uint8, no rescaling), as MATLAB feeds uint8 images to ``imageInputLayer``, whose
``Normalization`` ("zerocenter" by default) then subtracts the mean image.
"""
import os
import warnings

import numpy as np

from ..options import choice, flag, integer, name_value_pairs, received
from ..struct import Struct
from .datastore import Datastore, with_info
from .image_files import (DEFAULT_EXTENSIONS, ImageReadError, check_unchanged, deleted, extensions, file_signatures,
                          find_files, read_images)
from .labels import Categorical, _values, categorical

_RULES = ("error", "skipfile")


class ImageDatastore(Datastore):
    """Image files and their labels (made by :func:`imageDatastore`).

    Properties, as MATLAB's: ``Files`` (absolute paths, read-only), ``Labels`` (a
    categorical, one per file, settable; empty without labels), ``ReadSize``, ``ReadFcn``
    (``None``: decode with Pillow), and minidl's ``ReadFailureRule`` ("error" or
    "skipfile") with ``SkippedFiles``, the files skipped so far by this datastore and every
    datastore made from it (subset, shuffle, partition, splitEachLabel).
    """

    def __init__(self, files, labels, signatures, read_fcn=None, read_size=1, rule="error", shared=None):
        super().__init__()
        self._files = list(files)
        self._sizes, self._mtimes = signatures
        self._labels = labels
        self.ReadFcn = read_fcn
        self.ReadSize = read_size
        self.ReadFailureRule = rule
        # Shared with every datastore made from this one: what was skipped, and the first
        # image read (the size every mini-batch must have).
        self._shared = shared if shared is not None else {"skipped": [], "reference": None}

    # --- properties ----------------------------------------------------------------------
    @property
    def Files(self):
        """The files, absolute paths, sorted by folder then name (MATLAB's order)."""
        return list(self._files)

    @property
    def Labels(self):
        """One label per file as a categorical (empty when the datastore has no labels)."""
        return self._labels

    @Labels.setter
    def Labels(self, value):
        self._labels = _labels_for("ImageDatastore.Labels", value, len(self._files))

    @property
    def ReadFcn(self):
        return self._read_fcn

    @ReadFcn.setter
    def ReadFcn(self, value):
        if value is not None and not callable(value):
            raise TypeError(f"ImageDatastore: ReadFcn must be a function of a file name returning an image, or "
                            f"None for the default reader; received {received(value)}.")
        self._read_fcn = value

    @property
    def ReadFailureRule(self):
        return self._rule

    @ReadFailureRule.setter
    def ReadFailureRule(self, value):
        self._rule = choice("imageDatastore", "ReadFailureRule", value, _RULES)

    @property
    def SkippedFiles(self):
        """The files skipped under ReadFailureRule='skipfile' so far (each once)."""
        return list(self._shared["skipped"])

    def labeled(self):
        return len(self._labels) > 0

    # --- the datastore protocol ------------------------------------------------------------
    def numobservations(self):
        return len(self._files)

    def _reordered(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        labels = self._labels[indices] if self.labeled() else self._labels
        return ImageDatastore([self._files[i] for i in indices], labels, (self._sizes[indices], self._mtimes[indices]),
                              self._read_fcn, self.ReadSize, self._rule, self._shared)

    def _image(self, i):
        """The image of file i (0-based), as stored; ImageReadError if it cannot be read."""
        [image] = self._images([i])
        if isinstance(image, ImageReadError):
            raise image
        return image

    def _images(self, indices):
        """The images of the files at ``indices``, as stored, each an array or the
        ImageReadError that says why it cannot be read. A ReadFcn is called one file at a
        time as they are taken, so never on the files after one that stops the read."""
        if self._read_fcn is None:
            return read_images("imageDatastore", [self._files[i] for i in indices], self._sizes[indices],
                               self._mtimes[indices])
        return (self._user_image(i) for i in indices)

    def _user_image(self, i):
        path = self._files[i]
        try:
            check_unchanged("imageDatastore", path, os.stat(path), self._sizes[i], self._mtimes[i])
        except FileNotFoundError:
            return deleted("imageDatastore", path)
        except ImageReadError as error:
            return error
        try:
            return self._read_fcn(path)
        except Exception as error:      # the user's reader: any failure is this file's
            failure = ImageReadError(f"imageDatastore: ReadFcn failed on {path!r} ({type(error).__name__}: "
                                     f"{error}).")
            failure.__cause__ = error
            return failure

    def _readable(self, indices, images=None):
        """[(index, image)] of the files that can be read (``images``: those files as
        :meth:`_images` read them, if already read); unreadable ones raise, or under
        'skipfile' are left out with a warning (once per file)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        read, images = images if images is not None else self._images(indices), []
        for i, image in zip(indices.tolist(), read):
            if not isinstance(image, ImageReadError):
                images.append((i, image))
            elif self._rule == "error":
                raise ImageReadError(f"{image} (To skip unreadable files with a warning instead, set "
                                     f"ReadFailureRule='skipfile'.)") from image.__cause__
            else:
                self._skip(self._files[i], image)
        return images

    def _skip(self, path, error):
        skipped = self._shared["skipped"]
        if path not in skipped:
            skipped.append(path)
            warnings.warn(f"{error} Skipped (ReadFailureRule='skipfile'); {len(skipped)} file(s) skipped so far "
                          f"(imds.SkippedFiles).", stacklevel=3)

    def _observations(self, indices):
        """(X float32 H×W×C×n, labels or None) of the readable files at ``indices``."""
        return self._observations_kept(indices)[:2]

    def _observations_kept(self, indices):
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        images = self._images(indices)
        reference = self._shared["reference"]
        if isinstance(images, np.ndarray) and len(images):     # common PNG files of one size, all read
            if reference is None:
                reference = self._shared["reference"] = (self._files[indices[0]], images.shape[1:])
            if images.shape[1:] == reference[1]:
                return (images.astype(np.float32).transpose(1, 2, 3, 0),
                        self._labels[indices] if self.labeled() else None, indices.copy())
        images = self._readable(indices, images)
        if not images:
            if reference is None and len(indices):
                raise ImageReadError(f"imageDatastore: none of the {len(indices)} file(s) asked for can be read "
                                     f"(see the warnings, imds.SkippedFiles).")
            shape = reference[1] if reference is not None else (0, 0, 0)
            return (np.zeros(shape + (0,), np.float32), (self._labels[:0] if self.labeled() else None),
                    np.zeros(0, np.int64))
        if reference is None:
            reference = self._shared["reference"] = (self._files[images[0][0]], _numeric(self._files[images[0][0]],
                                                                                     images[0][1]).shape)
        arrays = [image for _, image in images]
        if not all(type(image) is np.ndarray and image.shape == reference[1] and image.dtype.kind in "biuf"
                   for image in arrays):        # rare: say which file differs and how
            arrays = [_numeric(self._files[i], image) for i, image in images]
            for (i, _), image in zip(images, arrays):
                if image.shape != reference[1]:
                    raise ValueError(_size_message(self._files[i], image.shape, reference))
        # One copy for the mini-batch, converting to float32, observation-major: the H×W×C×N
        # result is a view, which the training's N×C×H×W layout reads without another copy.
        X = np.stack(arrays, out=np.empty((len(arrays),) + reference[1], np.float32)).transpose(1, 2, 3, 0)
        taken = np.array([i for i, _ in images], dtype=np.int64)
        return X, (self._labels[taken] if self.labeled() else None), taken

    def _read(self, indices):
        return self._read_kept(indices)[:2]

    def _read_kept(self, indices):
        images = self._readable(indices)
        taken = [i for i, _ in images]
        if not images:
            return None, None, np.zeros(0, np.int64)
        info = Struct(Filename=[self._files[i] for i in taken], FileSize=[int(self._sizes[i]) for i in taken],
                      Label=self._labels[taken] if self.labeled() else None)
        if self.ReadSize == 1 and len(indices) == 1:
            info = Struct({name: (np.asarray(value)[0].item() if value is not None else None)
                           for name, value in info.items()})
            return images[0][1], info, np.array(taken)
        return [image for _, image in images], info, np.array(taken)

    def readall(self):
        """Every readable image, as a list (MATLAB's cell array)."""
        images = self._readable(range(len(self._files)))
        return [image for _, image in images]

    def countEachLabel(self):
        """MATLAB's method form ``imds.countEachLabel()``; see :func:`~minidl.countEachLabel`."""
        from .labels import countEachLabel
        return countEachLabel(self)

    def splitEachLabel(self, *args, **options):
        """MATLAB's method form ``imds.splitEachLabel(p, ...)``; see :func:`~minidl.splitEachLabel`."""
        from .split import splitEachLabel
        return splitEachLabel(self, *args, **options)

    def preview(self):
        """The first image, as stored (whatever ReadSize is)."""
        return self._image(0)

    def readimage(self, i):
        """``img = readimage(imds, i)`` or ``img, info = readimage(imds, i)``: file i (1-based),
        whatever ReadFailureRule says (an unreadable file is an error)."""
        index = integer("readimage", "i", i, 1, len(self._files)) - 1
        image = self._image(index)
        label = np.asarray(self._labels)[index].item() if self.labeled() else None
        return with_info(image, Struct(Filename=self._files[index], FileSize=int(self._sizes[index]), Label=label))

    def partition(self, count, index):
        """``partition(imds, N, i)`` (see Datastore.partition), or ``partition(imds, "Files",
        i_or_filename)``: a datastore of that one file."""
        if isinstance(count, str) and count.lower() == "files":
            if isinstance(index, (str, os.PathLike)):
                path = os.path.abspath(os.fspath(index))
                if path not in self._files:
                    raise ValueError(f"partition: {os.fspath(index)!r} is not one of the datastore's Files.")
                return self._reordered([self._files.index(path)])
            return self.subset([index])
        return super().partition(count, index)

    def __repr__(self):
        files = self._files[:3] + (["..."] if len(self._files) > 3 else [])
        labels = (f"{len(self._labels)} labels in {len(self._labels.order)} categories: "
                  f"{', '.join(self._labels.categories()[:10])}{' ...' if len(self._labels.order) > 10 else ''}"
                  if self.labeled() else "none")
        return ("ImageDatastore with properties:\n\n"
                f"    Files: {len(self._files)} files\n" + "".join(f"           {f}\n" for f in files) +
                f"    Labels: {labels}\n    ReadSize: {self.ReadSize}\n"
                f"    ReadFcn: {'default (Pillow)' if self._read_fcn is None else repr(self._read_fcn)}\n"
                f"    ReadFailureRule: {self._rule!r}\n")


def _labels_for(owner, value, count):
    """Labels as a Categorical with one label per file (empty: no labels)."""
    if value is None or (not isinstance(value, str) and np.size(value) == 0):
        return Categorical(np.array([], dtype=str), [])
    labels = value if isinstance(value, Categorical) else categorical(_values(owner, "Labels", value))
    labels = labels.reshape(-1)
    if labels.size != count:
        raise ValueError(f"{owner}: Labels must have one label per file ({count}); received {labels.size}.")
    return labels


def _numeric(path, image):
    """An image (as decoded or as ReadFcn gave it) as a float32 H×W×C array."""
    array = np.asarray(image)
    if array.dtype.kind not in "biuf" or array.ndim not in (2, 3) or 0 in array.shape:
        raise ImageReadError(f"imageDatastore: the image of {path!r} must be a nonempty H×W or H×W×C numeric "
                             f"array; ReadFcn gave {received(image)}.")
    return (array[:, :, None] if array.ndim == 2 else array).astype(np.float32, copy=False)


def _size_message(path, shape, reference):
    size = "×".join(map(str, shape))
    expected = "×".join(map(str, reference[1]))
    hint = ", ColorPreprocessing='gray2rgb' (or 'rgb2gray')" if shape[2] != reference[1][2] else ""
    return (f"imageDatastore: {path!r} is {size} but the mini-batch needs {expected}, the size of "
            f"{reference[0]!r} (the first image read). Images of different sizes cannot be stacked; resize "
            f"them as they are read with augmentedImageDatastore(outputSize, imds{hint}), e.g. "
            f"augmentedImageDatastore([{', '.join(map(str, reference[1][:2]))}], imds).")


@name_value_pairs(1)
def imageDatastore(location, IncludeSubfolders=False, FileExtensions=DEFAULT_EXTENSIONS, LabelSource="none",
                   Labels=None, ReadFcn=None, ReadSize=1, ReadFailureRule="error"):
    """``imds = imageDatastore(location, IncludeSubfolders=True, LabelSource="foldernames")``.

    ``location``: a folder, a file, a wildcard pattern (``"photos/*.jpg"``,
    ``"data/*/img*.png"``), or a list of them. Files are sorted as MATLAB sorts them (by
    folder, then name; lists keep their order); hidden files and folders (names starting
    with '.') are left out. ``IncludeSubfolders`` reads the folders below each folder too.
    ``FileExtensions``: the extensions to take ('.png' or a list; case-insensitive;
    default: .bmp .gif .jpeg .jpg .pbm .pgm .png .pnm .ppm .tif .tiff).
    ``LabelSource="foldernames"`` labels each file by the name of its folder; ``Labels``
    gives them instead (one per file). ``ReadFcn(filename)`` replaces the Pillow reader.
    ``ReadFailureRule`` (minidl's; MATLAB's imageDatastore has none): "error" (default) or
    "skipfile": skip unreadable files with a warning, listed in ``imds.SkippedFiles``
    (``read`` then returns the next readable file, or None when none is left).

    Every file's size and modification time are recorded: a file changed or deleted later
    is an error naming it when it is read. Reading needs Pillow (``pip install minidl[images]``).

    Example::

        >>> import os, tempfile, numpy as np
        >>> from PIL import Image
        >>> from minidl import imageDatastore, countEachLabel, readimage
        >>> root = tempfile.mkdtemp()
        >>> for label in ("cat", "dog"):
        ...     os.mkdir(os.path.join(root, label))
        ...     for k in range(2):
        ...         Image.fromarray(np.full((4, 5), 10 * k, np.uint8)).save(os.path.join(root, label, f"{k}.png"))
        >>> imds = imageDatastore(root, 'IncludeSubfolders', True, 'LabelSource', 'foldernames')
        >>> len(imds.Files), imds.Labels.tolist()
        (4, ['cat', 'cat', 'dog', 'dog'])
        >>> readimage(imds, 2).shape, int(readimage(imds, 2).max())
        ((4, 5, 1), 10)
        >>> countEachLabel(imds)["Count"].tolist()
        [2, 2]
    """
    owner = "imageDatastore"
    subfolders = flag(owner, "IncludeSubfolders", IncludeSubfolders)
    wanted = extensions(owner, FileExtensions)
    source = choice(owner, "LabelSource", LabelSource, ("none", "foldernames"))
    rule = choice(owner, "ReadFailureRule", ReadFailureRule, _RULES)
    files = find_files(owner, location, subfolders, wanted)
    if source == "foldernames" and Labels is not None:
        raise ValueError(f"{owner}: give either LabelSource='foldernames' or Labels, not both.")
    if source == "foldernames":
        Labels = [os.path.basename(os.path.dirname(f)) for f in files]
    labels = _labels_for(owner, Labels, len(files))
    return ImageDatastore(files, labels, file_signatures(files), ReadFcn, ReadSize, rule)


def readimage(imds, i):
    """``img = readimage(imds, i)`` or ``img, info = readimage(imds, i)``: image ``i``
    (1-based) as stored, H×W×C, with ``info.Filename``, ``info.FileSize``, ``info.Label``."""
    if not isinstance(imds, ImageDatastore):
        raise TypeError(f"readimage: imds must be an imageDatastore; received {received(imds)}.")
    return imds.readimage(i)
