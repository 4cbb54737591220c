"""MATLAB's ``arrayDatastore`` (in-memory arrays read slice by slice) and ``combine``
(several datastores read side by side: predictors and responses for training).
"""
import numpy as np

from ..options import choice, integer, name_value_pairs, received
from .datastore import Datastore, datastore_argument


class ArrayDatastore(Datastore):
    """An array read along one dimension (made by :func:`arrayDatastore`). Properties
    ``Data`` (the array), ``IterationDimension`` (1-based), ``ReadSize``, ``OutputType``."""

    def __init__(self, data, dimension, read_size=1, output_type="cell"):
        super().__init__()
        self.Data = data
        self.IterationDimension = dimension
        self.ReadSize = read_size
        self.OutputType = choice("arrayDatastore", "OutputType", output_type, ("cell", "same"))

    def numobservations(self):
        return self.Data.shape[self.IterationDimension - 1]

    def _reordered(self, indices):
        taken = np.take(self.Data, np.asarray(indices, dtype=np.int64), axis=self.IterationDimension - 1)
        return ArrayDatastore(taken, self.IterationDimension, self.ReadSize, self.OutputType)

    def _observations(self, indices):
        """The slices along IterationDimension, stacked along it (H×W×C×n for IterationDimension=4
        of an image array, n×C for IterationDimension=1 of a feature matrix); no responses."""
        return np.take(self.Data, np.asarray(indices, dtype=np.int64), axis=self.IterationDimension - 1), None

    def _read(self, indices):
        block = self._observations(indices)[0]
        if self.OutputType == "same":
            return block, None
        return [self._element(block, k) for k in range(len(indices))], None

    def _element(self, block, k):
        """One slice, as MATLAB's A(…, k, …): the iteration dimension is kept unless it is
        the last one (MATLAB drops trailing singleton dimensions)."""
        axis = self.IterationDimension - 1
        if axis == self.Data.ndim - 1:
            return np.take(block, k, axis=axis)
        return np.take(block, [k], axis=axis)


@name_value_pairs(1)
def arrayDatastore(A, IterationDimension=1, ReadSize=1, OutputType="cell"):
    """``ads = arrayDatastore(A, IterationDimension=4, ReadSize=128, OutputType="same")``.

    ``read(ads)`` returns the next ``ReadSize`` slices of ``A`` along
    ``IterationDimension`` (1-based; default 1, rows): with ``OutputType="cell"`` (the
    default) a list of slices (MATLAB's cell array), each slice as MATLAB's ``A(i, :)``
    keeps its iteration dimension, except the last dimension of A, which is dropped as
    MATLAB drops trailing singleton dimensions; with ``"same"`` one array of the slices
    stacked along the iteration dimension. Training and inference take the slices stacked
    (H×W×C×N images need IterationDimension=4; N×C features the default 1).

    Example::

        >>> import numpy as np
        >>> from minidl import arrayDatastore, read
        >>> ads = arrayDatastore(np.arange(6).reshape(3, 2), ReadSize=2)
        >>> read(ads)
        [array([[0, 1]]), array([[2, 3]])]
        >>> images = np.zeros((28, 28, 1, 10), np.float32)
        >>> read(arrayDatastore(images, IterationDimension=4)).__getitem__(0).shape
        (28, 28, 1)
    """
    owner = "arrayDatastore"
    if isinstance(A, Datastore) or isinstance(A, (str, bytes, dict)):
        raise TypeError(f"{owner}: A must be an array; received {received(A)}.")
    data = A if isinstance(A, np.ndarray) else np.asarray(A)
    if data.ndim == 0:
        data = data.reshape(1)
    dimension = integer(owner, "IterationDimension", IterationDimension)
    if dimension > data.ndim:
        raise ValueError(f"{owner}: IterationDimension must be at most the number of dimensions of A "
                         f"({data.ndim}, size {'×'.join(map(str, data.shape))}); received {dimension}.")
    return ArrayDatastore(data, dimension, ReadSize, OutputType)


class CombinedDatastore(Datastore):
    """Datastores read side by side (made by :func:`combine`); property ``UnderlyingDatastores``.

    ``read`` returns a list with one entry per underlying datastore, what each one's read
    gives (MATLAB's 1×k cell). For training, ``_observations`` gives ``(X, Y)``: the first
    datastore's observations as the predictors and the last one's as the responses (k = 2);
    with k > 2 the predictors are a tuple (one per network input) and the responses the last.
    """

    def __init__(self, datastores):
        super().__init__()
        self.UnderlyingDatastores = list(datastores)
        self.ReadSize = self.UnderlyingDatastores[0].ReadSize

    def numobservations(self):
        return self.UnderlyingDatastores[0].numobservations()

    def _reordered(self, indices):
        combined = CombinedDatastore([ds._reordered(indices) for ds in self.UnderlyingDatastores])
        combined.ReadSize = self.ReadSize
        return combined

    def _observations(self, indices):
        parts = [X for X, _, _ in self._aligned(indices, lambda ds, i: ds._observations_kept(i))]
        if len(parts) == 1:
            return parts[0], None
        return (parts[0] if len(parts) == 2 else tuple(parts[:-1])), parts[-1]

    def _read(self, indices):
        results = self._aligned(indices, lambda ds, i: ds._read_kept(i))
        if any(data is None for data, _, _ in results):
            return None, None
        return [data for data, _, _ in results], None

    def _aligned(self, indices, kept):
        """Each datastore's result for the same positions: when one skipped some (unreadable
        files), all are read again without them."""
        indices = np.asarray(indices, dtype=np.int64)
        while True:
            results = [kept(ds, indices) for ds in self.UnderlyingDatastores]
            if all(len(result[-1]) == len(indices) for result in results):
                return results
            common = set.intersection(*(set(result[-1].tolist()) for result in results))
            indices = np.array([i for i in indices.tolist() if i in common], dtype=np.int64)


def combine(*datastores):
    """``cds = combine(ds1, ds2, ...)``: the datastores read side by side, observation i of
    each together; they must hold the same number of observations.

    ``combine(imds, arrayDatastore(Y))`` (images and their responses) trains a network:
    the first datastore gives the predictors, the last the responses.

    Example::

        >>> import numpy as np
        >>> from minidl import arrayDatastore, combine, read
        >>> X = np.random.rand(28, 28, 1, 5).astype(np.float32)
        >>> cds = combine(arrayDatastore(X, IterationDimension=4), arrayDatastore(np.arange(5)))
        >>> image, label = read(cds)
        >>> image[0].shape, int(label[0])
        ((28, 28, 1), 0)
    """
    if not datastores:
        raise ValueError("combine: give at least one datastore, e.g. combine(imds, arrayDatastore(Y)).")
    for k, ds in enumerate(datastores, start=1):
        datastore_argument(f"combine (datastore {k})", ds)
    counts = [ds.numobservations() for ds in datastores]
    if len(set(counts)) > 1:
        raise ValueError(f"combine: the datastores must hold the same number of observations; received "
                         f"{', '.join(map(str, counts))}. Subset them to the same observations first.")
    return CombinedDatastore(datastores)
