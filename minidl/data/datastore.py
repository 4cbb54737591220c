"""What every datastore shares: random access to observations by index, and MATLAB's
sequential reading (``read``/``hasdata``/``reset``), ``shuffle``, ``subset`` and
``partition`` built on it.

A datastore holds ``numobservations`` observations in a fixed order. A subclass gives two
things:

- ``_observations(indices)``: the observations at these 0-based positions, as
  ``(X, Y)``: ``X`` the predictors stacked as the array functions take them (H×W×C×N for
  images, N×C for features), ``Y`` the responses (one label or response row per
  observation) or ``None`` when the datastore has none;
- ``_reordered(indices)``: a new datastore of the same kind holding the observations at
  these positions, in this order (what ``subset``, ``shuffle`` and ``partition`` return).

Training and inference read mini-batches through ``_observations`` with the indices of
one mini-batch, so memory stays bounded by a few mini-batches whatever the data set size.
"""
import math

import numpy as np

from ..options import integer, received


class Datastore:
    """Base class of minidl's datastores (see the module docstring for the protocol).

    ``ReadSize`` observations are returned by each ``read``. A datastore's position for
    ``read`` is its own state; ``reset`` rewinds it. ``shuffle``, ``subset`` and
    ``partition`` return new datastores and leave this one as it is, as in MATLAB.
    """

    ReadSize = 1

    def __init__(self):
        self._position = 0

    # --- the protocol a subclass implements -------------------------------------------
    def numobservations(self):
        """The number of observations."""
        raise NotImplementedError

    def _observations(self, indices):
        raise NotImplementedError

    def _reordered(self, indices):
        raise NotImplementedError

    # --- MATLAB's sequential reading ---------------------------------------------------
    def hasdata(self):
        """True while ``read`` has observations left to return."""
        return self._position < self.numobservations()

    def reset(self):
        """Rewind ``read`` to the first observation."""
        self._position = 0

    def read(self):
        """The next ``ReadSize`` observations (fewer at the end), as ``_observations`` gives them."""
        if not self.hasdata():
            raise StopIteration(f"{type(self).__name__}: no more data to read; call reset(ds) to read "
                                f"from the start again.")
        stop = min(self._position + int(self.ReadSize), self.numobservations())
        indices = np.arange(self._position, stop)
        self._position = stop
        return self._observations(indices)

    def readall(self):
        """All observations, as ``_observations`` gives them."""
        return self._observations(np.arange(self.numobservations()))

    # --- new datastores from this one ----------------------------------------------------
    def subset(self, indices):
        """A datastore of the observations at ``indices`` (1-based, as in MATLAB, or a logical mask)."""
        return self._reordered(positions(type(self).__name__ + ".subset", indices, self.numobservations()))

    def shuffle(self, generator=None):
        """The same observations in a random order drawn from ``generator`` (default: the
        global generator that ``rng`` seeds)."""
        order = (generator or np.random).permutation(self.numobservations())
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

