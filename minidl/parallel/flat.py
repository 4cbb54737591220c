"""Many arrays as one flat array per message: the learnables and state the driver sends each
iteration, and the gradients and batch-norm statistics each worker returns.

Ray serializes every NumPy array of a message on its own (metadata, buffer, a copy on the way
in), a cost per array that the ~40 small arrays of a network pay twice per worker per
iteration; one flat array pays it once, and the driver sums the workers' gradients in one
float64 operation instead of one per learnable. Packing upcasts to the widest dtype of the
arrays (float32 for minidl's networks) and unpacking casts back, so every value arrives bit
for bit.
"""
import numpy as np


class Layout:
    """Where each array of ``{key: array}`` sits in the flat array: keys, shapes, dtypes."""

    def __init__(self, arrays):
        self.keys = tuple(arrays)
        self.shapes = tuple(np.shape(arrays[key]) for key in self.keys)
        self.dtypes = tuple(np.asarray(arrays[key]).dtype.str for key in self.keys)
        self.ends = tuple(int(end) for end in np.cumsum([int(np.prod(shape)) for shape in self.shapes]))
        self.dtype = np.result_type(*self.dtypes) if self.keys else np.dtype(np.float32)

    def __eq__(self, other):
        return isinstance(other, Layout) and (self.keys, self.shapes, self.dtypes) == (
            other.keys, other.shapes, other.dtypes)

    def pack(self, arrays):
        if not self.keys:
            return np.zeros(0, self.dtype)
        return np.concatenate([np.asarray(arrays[key], self.dtype).ravel() for key in self.keys])

    def unpack(self, flat):
        """``{key: array}``: views of ``flat`` where the dtype is the flat one."""
        arrays, start = {}, 0
        for key, shape, dtype, end in zip(self.keys, self.shapes, self.dtypes, self.ends):
            arrays[key] = flat[start:end].reshape(shape).astype(dtype, copy=False)
            start = end
        return arrays


def pack_statistics(partials):
    """``[(layer name, (count, mean, M2))]`` as (Layout, one float64 array); anything else
    (a layer keeping other state) as given, for the driver's merge to refuse by name."""
    if not all(isinstance(total, tuple) and len(total) == 3 for _, total in partials):
        return partials
    arrays = {(name, k): np.asarray(value) for name, total in partials for k, value in enumerate(total)}
    layout = Layout(arrays)
    return layout, layout.pack(arrays)


def unpack_statistics(packed):
    """The ``[(layer name, (count, mean, M2))]`` of :func:`pack_statistics`."""
    if not (isinstance(packed, tuple) and len(packed) == 2 and isinstance(packed[0], Layout)):
        return packed
    arrays = packed[0].unpack(packed[1])
    names = list(dict.fromkeys(name for name, _ in arrays))
    return [(name, tuple(arrays[name, k] for k in range(3))) for name in names]


def weighted_sum(arrays, weights):
    """``Σ_k weights[k]·arrays[k]`` in float64, added in the order given (deterministic)."""
    total = np.zeros(arrays[0].shape, np.float64)
    for array, weight in zip(arrays, weights):
        total += weight * array
    return total
