"""The built-in digits on disk, in the layout of MATLAB's DigitDataset folder, so MATLAB's
examples that start with ``imageDatastore(digitDatasetPath, ...)`` run as written.

The folder is written atomically: the images go to a hidden temporary folder beside the
target (``.DigitDataset-partial-*``), a marker file is written last, and the temporary
folder is renamed to the target in one step. An interrupted write (an error, Ctrl-C, a full
disk) removes the temporary folder; a killed process can leave it behind, hidden and never
mistaken for the data set, which is only ever the renamed, complete folder.
"""
import json
import os
import shutil
import tempfile

import numpy as np

from ..options import path as path_argument
from .datasets import digits
from .image_files import pillow

_MARKER = ".minidl-digitdataset.json"
_DESCRIPTION = {"format": 1, "source": "minidl.digits(seed=0)", "classes": 10, "per_class": 1000,
                "size": [28, 28]}


def default_folder():
    """$MINIDL_DATA/DigitDataset if set, else the user cache ($XDG_CACHE_HOME or ~/.cache)/minidl."""
    root = os.environ.get("MINIDL_DATA") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "minidl")
    return os.path.join(root, "DigitDataset")


def digitDataset(folder=None):
    """``digitDatasetPath = digitDataset()``: the folder of minidl's digit images in MATLAB's
    DigitDataset layout, written on first use.

    The folder holds ``0/`` … ``9/``, each with 1,000 grayscale 28×28 PNG files
    (``image00001.png`` …; 10,000 in all): the images of :func:`~minidl.digits` (seed 0),
    pixel for pixel. Without ``folder`` it is kept in the user cache
    (``$MINIDL_DATA/DigitDataset`` if that variable is set, else
    ``~/.cache/minidl/DigitDataset`` or ``$XDG_CACHE_HOME/minidl/DigitDataset``) and later
    calls return it at once. A given ``folder`` must not exist yet, be empty, or already
    hold this data set. Needs Pillow (``pip install minidl[images]``).

    MATLAB's example then runs unchanged but for its first line::

        digitDatasetPath = digitDataset()     # MATLAB: fullfile(matlabroot, ..., 'DigitDataset')
        imds = imageDatastore(digitDatasetPath, 'IncludeSubfolders', True, 'LabelSource', 'foldernames')

    Example::

        >>> import os
        >>> from minidl import digitDataset
        >>> folder = digitDataset()              # the first call writes it (a few seconds)
        >>> sorted(os.listdir(folder))[1:4], sorted(os.listdir(os.path.join(folder, "7")))[:2]
        (['0', '1', '2'], ['image07001.png', 'image07002.png'])
    """
    target = os.path.abspath(default_folder() if folder is None else path_argument("digitDataset", "folder", folder))
    if _complete(target):
        return target
    if os.path.exists(target) and not (os.path.isdir(target) and not os.listdir(target)):
        if os.path.exists(os.path.join(target, _MARKER)):
            raise FileExistsError(f"digitDataset: {target!r} is a damaged DigitDataset (a class folder does not "
                                  f"hold its 1,000 PNG files, or it was written by another minidl version). "
                                  f"Delete the folder and call digitDataset again.")
        raise FileExistsError(f"digitDataset: {target!r} exists and is not minidl's DigitDataset (it has no "
                              f"marker {_MARKER}). Give a new or empty folder, or delete that one.")
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=".DigitDataset-partial-", dir=parent)
    try:
        _write(partial)
        os.chmod(partial, 0o777 & ~_umask())        # mkdtemp made it private; a data folder is not
        try:
            os.rename(partial, target)            # atomic; replaces an empty folder
        except OSError:
            if not _complete(target):             # another process finished first: use its copy
                raise
    finally:
        if os.path.isdir(partial):
            shutil.rmtree(partial, ignore_errors=True)
    return target


def _write(folder):
    Image = pillow("digitDataset")
    X, Y = digits(0)
    for label in range(10):
        os.mkdir(os.path.join(folder, str(label)))
    for i in range(Y.size):
        Image.fromarray(np.ascontiguousarray(X[:, :, 0, i])).save(
            os.path.join(folder, str(Y[i]), f"image{i + 1:05d}.png"), format="PNG")
    with open(os.path.join(folder, _MARKER), "w") as file:
        json.dump(_DESCRIPTION, file)
        file.flush()
        os.fsync(file.fileno())


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _complete(folder):
    """True if ``folder`` is a finished DigitDataset (its marker, and 1,000 PNGs per class)."""
    try:
        with open(os.path.join(folder, _MARKER)) as file:
            if json.load(file) != _DESCRIPTION:
                return False
        return all(sum(name.endswith(".png") for name in os.listdir(os.path.join(folder, str(label)))) == 1000
                   for label in range(10))
    except (OSError, ValueError):
        return False
