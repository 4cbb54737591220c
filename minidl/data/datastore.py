"""What every datastore shares: random access to observations by index, and MATLAB's
sequential reading (``read``/``hasdata``/``reset``), ``shuffle``, ``subset`` and
``partition`` built on it, as methods and as MATLAB-style functions (``read(ds)``).

A datastore holds ``numobservations`` observations in a fixed order. A subclass gives two
things:

- ``_observations(indices)``: the observations at these 0-based positions, as
  ``(X, Y)``: ``X`` the predictors stacked as the array functions take them (H×W×C×N for
  images, N×C for features), ``Y`` the responses (one label or response row per
  observation) or ``None`` when the datastore has none;
- ``_reordered(indices)``: a new datastore of the same kind holding the observations at
  these positions, in this order (what ``subset``, ``shuffle`` and ``partition`` return).

It may also give ``_read(indices)``: what ``read`` returns for these positions, as the
pair ``(data, info)`` (``info`` a :class:`~minidl.struct.Struct`, or ``None`` when the
datastore has no info; ``data`` None when every observation there was skipped, and
``read`` then moves on). The default is ``(_observations(indices), None)``. With an info,
``data = read(ds)`` returns the data and ``data, info = read(ds)`` both, as MATLAB's
``[data, info] = read(ds)``.

Training and inference read mini-batches through ``_observations`` with the indices of
one mini-batch, so memory stays bounded by a few mini-batches whatever the data set size.

Partitions: ``partition(ds, N, i)`` of a datastore of n observations holds the contiguous
positions floor((i−1)·n/N) … floor(i·n/N)−1 (1-based i). The N parts cover every
observation exactly once, in order, and their sizes differ by at most one.
"""
import math

import numpy as np

from .. import _rng
from ..options import integer, received, requested_outputs


class Datastore:
    """Base class of minidl's datastores (see the module docstring for the protocol).

    ``ReadSize`` observations are returned by each ``read``. A datastore's position for
    ``read`` is its own state; ``reset`` rewinds it. ``shuffle``, ``subset`` and
    ``partition`` return new datastores and leave this one as it is, as in MATLAB.
    """

    def __init__(self):
        self._position = 0

    @property
    def ReadSize(self):
        """How many observations each ``read`` returns (a positive integer, default 1)."""
        return getattr(self, "_read_size", 1)

    @ReadSize.setter
    def ReadSize(self, value):
        self._read_size = integer(f"{type(self).__name__}.ReadSize", "ReadSize", value)

    # --- the protocol a subclass implements -------------------------------------------
    def numobservations(self):
        """The number of observations."""
        raise NotImplementedError

    def _observations(self, indices):
        raise NotImplementedError

    def _reordered(self, indices):
        raise NotImplementedError

    def _read(self, indices):
        return self._observations(indices), None

    # A datastore that may skip unreadable observations (imageDatastore with
    # ReadFailureRule="skipfile") also says which positions it kept, so that combine keeps
    # predictors and responses aligned.
    def _observations_kept(self, indices):
        """(X, Y, the positions X holds)."""
        X, Y = self._observations(indices)
        return X, Y, np.asarray(indices, dtype=np.int64)

    def _read_kept(self, indices):
        """(data, info, the positions data holds)."""
        data, info = self._read(indices)
        return data, info, np.asarray(indices, dtype=np.int64)

    # --- MATLAB's sequential reading ---------------------------------------------------
    def hasdata(self):
        """True while ``read`` has observations left to return."""
        return getattr(self, "_position", 0) < self.numobservations()

    def reset(self):
        """Rewind ``read`` to the first observation."""
        self._position = 0

    def read(self):
        """The next ``ReadSize`` observations (fewer at the end): ``data = read(ds)``, or
        ``data, info = read(ds)`` for a datastore that has an info (see the module docstring)."""
        if not self.hasdata():
            raise StopIteration(f"{type(self).__name__}: no more data to read; call reset(ds) to read "
                                f"from the start again.")
        data = None
        while data is None and self.hasdata():      # None: every observation read was skipped
            start = getattr(self, "_position", 0)
            stop = min(start + int(self.ReadSize), self.numobservations())
            data, info = self._read(np.arange(start, stop))
            self._position = stop
        return with_info(data, info)

    def readall(self):
        """All observations, in the form ``read`` gives them."""
        return self._read(np.arange(self.numobservations()))[0]

    def preview(self):
        """The first observation, in the form ``read`` gives it; the read position is unchanged."""
        if not self.numobservations():
            raise ValueError(f"{type(self).__name__}: the datastore is empty; there is nothing to preview.")
        return self._read(np.arange(1))[0]

    # --- new datastores from this one ----------------------------------------------------
    def subset(self, indices):
        """A datastore of the observations at ``indices`` (1-based, as in MATLAB, or a logical mask)."""
        return self._reordered(positions(type(self).__name__ + ".subset", indices, self.numobservations()))

    def shuffle(self, generator=None):
        """The same observations in a random order drawn from ``generator`` (default: minidl's
        global generator, which ``rng(seed)`` seeds)."""
        order = (generator or _rng.generator()).permutation(self.numobservations())
        return self._reordered(order)

    def partition(self, count, index):
        """Part ``index`` (1-based) of ``count`` contiguous parts of near-equal size, as
        MATLAB's ``partition(ds, N, index)``: part i holds observations
        floor((i-1)·n/N) … floor(i·n/N)-1."""
        owner = type(self).__name__ + ".partition"
        n = self.numobservations()
        count = integer(owner, "N", count, 1, math.inf)
        index = integer(owner, "index", index, 1, count)
        return self._reordered(np.arange((index - 1) * n // count, index * n // count))

    def numpartitions(self, pool=None):
        """The default number of parts for ``partition``: the observation count (MATLAB's
        for file datastores) or, given a pool, its worker count."""
        return pool.NumWorkers if pool is not None else self.numobservations()

    def __len__(self):
        return self.numobservations()


def with_info(data, info):
    """MATLAB's ``[data, info] = read(ds)``: the info only when two outputs are asked for."""
    return (data, info) if info is not None and requested_outputs() > 1 else data


def positions(owner, indices, count):
    """MATLAB indices (1-based integers or a logical mask of length ``count``) → 0-based positions."""
    array = np.asarray(indices)
    if array.dtype == bool:
        if array.shape != (count,):
            raise ValueError(f"{owner}: a logical mask must have one element per observation ({count}); "
                             f"received {received(indices)}.")
        return np.flatnonzero(array)
    if array.dtype.kind not in "iuf" or (array.dtype.kind == "f" and not np.all(array == np.round(array))):
        raise TypeError(f"{owner}: indices must be 1-based integers or a logical mask; received {received(indices)}.")
    array = array.reshape(-1).astype(np.int64)
    if array.size and (array.min() < 1 or array.max() > count):
        raise IndexError(f"{owner}: indices must lie in 1…{count}; received values from {array.min()} to "
                         f"{array.max()}.")
    return array - 1


# --- MATLAB's function forms: read(ds), hasdata(ds), ... -------------------------------------
def datastore_argument(owner, ds):
    """``ds`` if it is a datastore, else a TypeError naming ``owner``."""
    if not isinstance(ds, Datastore):
        raise TypeError(f"{owner}: ds must be a datastore (imageDatastore, arrayDatastore, combine, ...); "
                        f"received {received(ds)}.")
    return ds


def read(ds):
    """``data = read(ds)`` or ``data, info = read(ds)``: the next ``ds.ReadSize`` observations.

    Example::

        >>> import numpy as np
        >>> from minidl import arrayDatastore, read, hasdata, reset
        >>> ads = arrayDatastore(np.array([[1, 2], [3, 4]]))
        >>> read(ads), read(ads), hasdata(ads)
        ([array([[1, 2]])], [array([[3, 4]])], False)
        >>> reset(ads); hasdata(ads)
        True
    """
    return datastore_argument("read", ds).read()


def hasdata(ds):
    """``tf = hasdata(ds)``: true while ``read(ds)`` has data left."""
    return datastore_argument("hasdata", ds).hasdata()


def reset(ds):
    """``reset(ds)``: rewind ``read(ds)`` to the first observation (the datastore is changed
    in place, as MATLAB's handle objects are)."""
    datastore_argument("reset", ds).reset()


def readall(ds):
    """``data = readall(ds)``: every observation, in the form ``read`` gives them."""
    return datastore_argument("readall", ds).readall()


def preview(ds):
    """``data = preview(ds)``: the first observation; the read position is unchanged."""
    return datastore_argument("preview", ds).preview()


def subset(ds, indices):
    """``sub = subset(ds, indices)``: a new datastore of the observations at 1-based
    ``indices`` (or a logical mask), in that order."""
    return datastore_argument("subset", ds).subset(indices)


def shuffle(ds):
    """``dsnew = shuffle(ds)``: a new datastore with the observations in a random order drawn
    from minidl's global generator (``rng(seed)`` makes it reproducible)."""
    return datastore_argument("shuffle", ds).shuffle()


def partition(ds, N, index):
    """``sub = partition(ds, N, index)``: part ``index`` of ``N`` contiguous parts (see the
    module docstring for the ranges). An imageDatastore also takes
    ``partition(imds, "Files", index_or_filename)``."""
    return datastore_argument("partition", ds).partition(N, index)


def numpartitions(ds, pool=None):
    """``n = numpartitions(ds)``: the default part count (the observation count), or with
    a pool its worker count."""
    return datastore_argument("numpartitions", ds).numpartitions(pool)
