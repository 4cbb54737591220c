"""MATLAB's ``augmentedImageDatastore``: images from an array or any datastore, each
colour-converted, randomly augmented and resized (or cropped) to one output size, fresh at
every read (see docs/augmentation.md)."""
import numpy as np

from .. import _rng
from ..options import OptionError, choice, integer, numeric_array, parse_name_value, received
from . import image_ops
from .augmentation import ImageDataAugmenter
from .datastore import Datastore
from .image_datastore import ImageDatastore
from .table import Table

OPTIONS = {"DataAugmentation": "none", "ColorPreprocessing": "none", "OutputSizeMode": "resize"}
OWNER = "augmentedImageDatastore"


class AugmentedImageDatastore(Datastore):
    """Resized, augmented images and their responses (MATLAB's ``augmentedImageDatastore``;
    build it with :func:`augmentedImageDatastore`). Properties: ``OutputSize``,
    ``OutputSizeMode``, ``ColorPreprocessing``, ``DataAugmentation``, ``MiniBatchSize``
    (observations per ``read``, default 128) and ``NumObservations``.

    Each observation goes through, in MATLAB's order: colour preprocessing, then the
    augmentation (the output keeps the image's own size, FillValue where no input pixel
    lands), then resizing or cropping to ``OutputSize`` (skipped when the image already has
    that size).

    **Random draws.** ``_observations(indices, generator=None)`` draws everything random in
    one batch from ``generator`` (a ``numpy.random.Generator``), by default the global one
    that ``rng`` seeds: first ``ImageDataAugmenter.draw(n)`` (one n×9 block of uniforms),
    then, for ``OutputSizeMode="randcrop"``, an n×2 block (crop column, crop row). So the
    result depends only on the generator's state and the indices. Code that decodes
    mini-batches on several threads should, in the main thread and in mini-batch order,
    draw one seed per mini-batch from ``minidl._rng.generator()`` (e.g.
    ``generator().integers(2**63)``) and pass ``numpy.random.default_rng(seed)`` with the
    indices: the batch is then the same whichever thread makes it, and a run is repeatable
    under ``rng(seed)``.
    """

    def __init__(self, output_size, source, responses, augmentation, color, mode, channels):
        super().__init__()
        self._source, self._responses = source, responses
        # An array source is shared, never copied: subsets and shuffles keep their own order.
        self._order = None if isinstance(source, Datastore) else np.arange(source.shape[3])
        self._channels = channels
        self.OutputSize, self.DataAugmentation = output_size, augmentation
        self.ColorPreprocessing, self.OutputSizeMode = color, mode
        self.MiniBatchSize = 128

    @property
    def MiniBatchSize(self):
        """Observations returned by each ``read`` (MATLAB's default 128)."""
        return self._read_size

    @MiniBatchSize.setter
    def MiniBatchSize(self, value):
        self._read_size = integer(f"{OWNER}.MiniBatchSize", "MiniBatchSize", value)

    ReadSize = MiniBatchSize

    @property
    def NumObservations(self):
        return self.numobservations()

    def numobservations(self):
        if isinstance(self._source, Datastore):
            return self._source.numobservations()
        return len(self._order)

    def _reordered(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._position = 0
        if isinstance(self._source, Datastore):
            new._source = self._source._reordered(indices)
        else:
            new._order = self._order[indices]
        return new

    def _observations(self, indices, generator=None):
        """(X float32 H×W×C×n at OutputSize, responses or None) of the observations at
        ``indices``; see the class docstring for the random draws."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        count, groups, responses = self._groups(indices)
        generator = generator if generator is not None else _rng.generator()
        augmenter = self.DataAugmentation
        parameters = augmenter.draw(count, generator) if isinstance(augmenter, ImageDataAugmenter) else None
        corners = generator.random((count, 2)) if self.OutputSizeMode == "randcrop" else None
        X = np.empty((count,) + self.OutputSize + (self._channels,), np.float32)
        for members, batch in groups:      # one vectorized pass per image size
            if parameters is not None:
                chosen = {name: values[members] for name, values in parameters.items()}
                transforms = augmenter.transforms(chosen, batch.shape[1], batch.shape[2])
                batch = image_ops.warp(batch, transforms, augmenter.fill_for(OWNER, batch.shape[3]).astype(np.float32))
            X[members] = self._sized(batch, None if corners is None else corners[members])
        return np.ascontiguousarray(X.transpose(1, 2, 3, 0)), responses

    def _groups(self, indices):
        """(n, [(positions, N×H×W×C float32 colour-converted batch)] by image size, responses)
        of the observations at ``indices``."""
        if not isinstance(self._source, Datastore):
            batch = np.asarray(self._source[..., self._order[indices]], np.float32).transpose(3, 0, 1, 2)
            responses = None if self._responses is None else _take(self._responses, self._order[indices])
            return len(indices), [(np.arange(len(indices)), self._coloured(batch, indices))], responses
        images, responses, taken = _source_images(self._source, indices)
        sizes = {}
        for k, image in enumerate(images):
            sizes.setdefault(_image_size(image, taken[k]), []).append(k)
        groups = [(np.array(members), self._coloured(np.stack([np.asarray(images[k], np.float32).reshape(size)
                                                               for k in members]), taken[members]))
                  for size, members in sizes.items()]
        return len(images), groups, responses

    def _coloured(self, batch, indices):
        """N×H×W×C ``batch`` with the ColorPreprocessing applied, checked against the channel count."""
        if self.ColorPreprocessing == "gray2rgb" and batch.shape[3] == 1:
            batch = np.repeat(batch, 3, axis=3)
        elif self.ColorPreprocessing == "rgb2gray" and batch.shape[3] == 3:
            batch = image_ops.rgb2gray(batch)
        if batch.shape[3] != self._channels:
            raise ValueError(f"{OWNER}: observation {indices[0] + 1} has {batch.shape[3]} channel(s) where the "
                             f"first has {self._channels}; set ColorPreprocessing='gray2rgb' or 'rgb2gray' to "
                             f"make them agree.")
        return batch

    def _sized(self, batch, corners):
        """N×H×W×C ``batch`` brought to OutputSize by the OutputSizeMode."""
        height, width = batch.shape[1:3]
        target = self.OutputSize
        if (height, width) == target:
            return batch
        if self.OutputSizeMode == "resize":
            return image_ops.resize(batch, target)
        if height < target[0] or width < target[1]:
            raise ValueError(f"{OWNER}: OutputSizeMode={self.OutputSizeMode!r} needs images at least as large as "
                             f"OutputSize {target[0]}×{target[1]}; received an image of {height}×{width}. Use "
                             f"OutputSizeMode='resize', or a smaller OutputSize.")
        if corners is None:       # centercrop
            return image_ops.crop(batch, (height - target[0]) // 2, (width - target[1]) // 2, target)
        lefts = np.floor(corners[:, 0] * (width - target[1])).astype(int)
        tops = np.floor(corners[:, 1] * (height - target[0])).astype(int)
        return np.stack([image_ops.crop(batch[k:k + 1], tops[k], lefts[k], target)[0] for k in range(len(batch))])

    # --- MATLAB's read: a table with columns input (and response) ------------------------
    def _read(self, indices):
        """What ``read`` returns (``MiniBatchSize`` observations at a time): a Table with
        ``input`` (a list of H×W×C images, MATLAB's cell column) and, when there are
        responses, ``response``; no info."""
        X, responses = self._observations(indices)
        columns = {"input": [X[..., k] for k in range(X.shape[3])]}
        if responses is not None:
            columns["response"] = responses
        return Table(**columns), None

    def __repr__(self):
        return (f"augmentedImageDatastore with {self.numobservations()} observations: OutputSize "
                f"{self.OutputSize[0]}×{self.OutputSize[1]}, OutputSizeMode {self.OutputSizeMode!r}, "
                f"ColorPreprocessing {self.ColorPreprocessing!r}, DataAugmentation "
                f"{'none' if isinstance(self.DataAugmentation, str) else 'imageDataAugmenter'}")


def _image_size(image, position):
    """(H, W, C) of one image from a datastore, or an error naming the observation."""
    shape = np.shape(image)
    if not (isinstance(image, np.ndarray) and image.dtype.kind in "biuf" and len(shape) in (2, 3) and 0 not in shape):
        raise TypeError(f"{OWNER}: observation {position + 1} of the datastore is not a non-empty H×W or H×W×C "
                        f"numeric image; received {received(image)}.")
    return shape[:2] + ((shape[2],) if len(shape) == 3 else (1,))


def _take(responses, indices):
    return responses[..., indices] if responses.ndim == 4 else responses[indices]


def _source_images(source, indices):
    """(images, responses, positions) of a datastore at ``indices``: an imageDatastore's
    images one by one as stored (any sizes; unreadable files it skips are left out), any
    other datastore's as its ``_observations`` stacks them."""
    if isinstance(source, ImageDatastore):
        data, _, taken = source._read_kept(np.asarray(indices, dtype=np.int64))
        images = [] if data is None else data if isinstance(data, list) else [data]
        return images, (source.Labels[taken] if source.labeled() else None), taken
    X, responses, taken = source._observations_kept(indices)
    X = np.asarray(X)
    return ([X[..., k] for k in range(X.shape[-1])] if X.ndim == 4 else [X]), responses, taken


def augmentedImageDatastore(outputSize, X, *args, **options):
    """MATLAB's ``augmentedImageDatastore(outputSize, X, Y)``, ``(outputSize, X)`` and
    ``(outputSize, imds)``, with options ``DataAugmentation`` ("none" or an
    :func:`imageDataAugmenter`), ``ColorPreprocessing`` ("none", "gray2rgb", "rgb2gray")
    and ``OutputSizeMode`` ("resize", "centercrop", "randcrop"), as Name=Value or 'Name',
    value pairs.

    ``outputSize`` is [rows columns] (a third element, the channels, is ignored as in
    MATLAB). ``X`` is an H×W×C×N array (2-D or 3-D: one image) or any datastore whose
    observations are images; ``Y`` the labels (length N) or responses (N×R, or H×W×C×N)
    for an array ``X``. Outputs are float32. Resizing is MATLAB's ``imresize`` bilinear,
    antialiased when shrinking; crops take ``floor`` of MATLAB's corner
    ((W−w)/2 or (W−w)·rand).

    Example::

        >>> import numpy as np, minidl
        >>> X = np.random.default_rng(0).random((28, 28, 1, 10))
        >>> aug = minidl.imageDataAugmenter(RandRotation=[-10, 10])
        >>> ds = minidl.augmentedImageDatastore([32, 32], X, np.arange(10), DataAugmentation=aug)
        >>> batch = ds.read()
        >>> len(batch), batch.input[0].shape, batch.response[:3]
        (10, (32, 32, 1), array([0, 1, 2]))
    """
    Y, pairs = (args[0], args[1:]) if args and not isinstance(args[0], str) else (None, args)
    given = parse_name_value(OWNER, pairs, options, OPTIONS)
    size = _output_size(outputSize)
    augmentation = given["DataAugmentation"]
    if isinstance(augmentation, str) and augmentation.lower() == "none":
        augmentation = "none"
    elif not isinstance(augmentation, ImageDataAugmenter):
        raise OptionError(f"{OWNER}: DataAugmentation must be 'none' or an imageDataAugmenter; received "
                          f"{received(augmentation)}.")
    color = choice(OWNER, "ColorPreprocessing", given["ColorPreprocessing"], ("none", "gray2rgb", "rgb2gray"))
    mode = choice(OWNER, "OutputSizeMode", given["OutputSizeMode"], ("resize", "centercrop", "randcrop"))
    if isinstance(X, Datastore):
        if Y is not None:
            raise TypeError(f"{OWNER}: Y cannot be given with a datastore (its responses come from the datastore); "
                            f"received {received(Y)}.")
        source, responses = X, None
        channels = _first_channels(X) if color == "none" else None
    else:
        source = _image_array(X)
        responses = None if Y is None else _responses(Y, source.shape[3])
        channels = source.shape[2]
    channels = {"gray2rgb": 3, "rgb2gray": 1}.get(color, channels)
    return AugmentedImageDatastore(size, source, responses, augmentation, color, mode, channels)


def _output_size(value):
    array = np.asarray(value) if not isinstance(value, (str, bytes)) else np.array([])
    if array.ndim > 1 or array.size not in (2, 3) or array.dtype.kind not in "iuf":
        raise OptionError(f"{OWNER}: outputSize must be [rows columns] (or [rows columns channels]) of positive "
                          f"integers; received {received(value)}.")
    return tuple(integer(OWNER, "outputSize", v) for v in array[:2].tolist())


def _image_array(X):
    array = numeric_array(OWNER, "X", X)
    if array.ndim not in (2, 3, 4) or 0 in array.shape:
        raise ValueError(f"{OWNER}: X must be a non-empty H×W×C×N image array (or one H×W or H×W×C image); "
                         f"received {received(array)}.")
    return array.reshape(array.shape[:2] + (array.shape[2] if array.ndim > 2 else 1, -1))


def _responses(Y, count):
    array = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
    length = array.shape[-1] if array.ndim == 4 else (len(array) if array.ndim else 0)
    if length != count:
        raise ValueError(f"{OWNER}: Y must have one response per observation of X ({count}); received "
                         f"{received(Y)}.")
    return array


def _first_channels(datastore):
    if datastore.numobservations() == 0:
        return 1
    images, _, taken = _source_images(datastore, np.arange(1))
    return _image_size(images[0], taken[0])[2] if images else 1
