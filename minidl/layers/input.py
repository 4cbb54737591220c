"""Input layers: where data enters the network and is normalized."""
import numpy as np

from ..options import choice, integer, numeric_array
from .base import Layer, Memory, _fmt, _integers, layer_options, learnable_array

_NORMALIZATIONS = ("zerocenter", "zscore", "rescale-symmetric", "rescale-zero-one", "none")
# The statistics each normalization needs (MATLAB property names).
_NEEDS = {"none": (), "zerocenter": ("Mean",), "zscore": ("Mean", "StandardDeviation"),
          "rescale-symmetric": ("Min", "Max"), "rescale-zero-one": ("Min", "Max")}
_STATISTICS = ("Mean", "StandardDeviation", "Min", "Max")

_NORMALIZATION_MATHS = """

    Normalization (statistics per channel, or per element with
    ``NormalizationDimension='element'``):

    * ``'zerocenter'``: ``Z = X − Mean``
    * ``'zscore'``: ``Z = (X − Mean) / StandardDeviation``
    * ``'rescale-symmetric'``: ``Z = 2·(X − Min) / (Max − Min) − 1``  (to [−1, 1])
    * ``'rescale-zero-one'``: ``Z = (X − Min) / (Max − Min)``  (to [0, 1])
    * ``'none'``: ``Z = X``

    Before training, unless ``ResetInputNormalization`` is false and the statistics are
    given, the trainer sets the statistics of the training data from :meth:`statistics`:
    means, the *population* standard deviation (divisor N, not N − 1; MATLAB's choice is
    UNCONFIRMED), minima and maxima. A zero ``StandardDeviation`` or ``Max − Min`` (a
    constant channel) is replaced by 1 when normalizing, as scikit-learn's scalers do, so
    such a channel maps to 0 (−1 for 'rescale-symmetric') instead of dividing by zero; the
    stored statistics keep their true values. ``dL/dX = dL/dZ / divisor`` (checkLayer).
    """


class _InputLayer(Layer):
    """Normalization shared by the input layers; subclasses define the statistics shapes."""

    NumInputs = 0
    InputNames = ()
    _owner = ""

    def _set_normalization(self, Normalization, NormalizationDimension, dimensions, given):
        self.Normalization = choice(self._owner, "Normalization", Normalization, _NORMALIZATIONS)
        self.NormalizationDimension = choice(self._owner, "NormalizationDimension",
                                             NormalizationDimension, dimensions)
        for name in _STATISTICS:
            value = given[name]
            setattr(self, name, None if value is None else self._statistic_shape(name, value))

    def _statistic_shape(self, name, value):
        """A user-given statistic in its MATLAB shape (float32)."""
        array = numeric_array(self._owner, name, value).astype(np.float32)
        shapes = self._statistic_shapes()
        if array.size == 1:
            array = np.full(shapes[0], array.reshape(()), np.float32)
        for shape in shapes:
            if array.size == int(np.prod(shape)):
                return learnable_array(self._owner, name, array.reshape(shape))
        raise ValueError(f"{self._owner}: {name} must have size "
                         f"{' or '.join(_fmt(s) for s in shapes)}; received {_fmt(array.shape)}.")

    def initialize(self, input_size, rng):
        return self.InputSize

    def _reduce_axes(self, X):
        return (0, 2, 3) if X.ndim == 4 else (0,)

    def missing_statistics(self):
        """The statistics the Normalization needs that are not set yet."""
        return [name for name in _NEEDS[self.Normalization] if getattr(self, name) is None]

    def has_statistics(self):
        return not self.missing_statistics()

    def statistics(self, X):
        """The statistics ``Normalization`` needs, of training data ``X`` (internal layout
        N×C×H×W or N×C, or an iterable of its mini-batches), as ``{property: value}`` in
        MATLAB shapes (float32). Mini-batches merge exactly (counts, means and the sums of
        squared deviations M2 by Chan's formula), so data read from a datastore in
        mini-batches gets the values its arrays get in the same mini-batches; nothing is read
        when the Normalization needs no statistics."""
        needs = _NEEDS[self.Normalization]
        if not needs:
            return {}
        element = self.NormalizationDimension == "element"
        total = None
        for part in ([X] if isinstance(X, np.ndarray) else X):
            axes = (0,) if element else self._reduce_axes(part)
            total = _merged(total, _moments(part, axes, "StandardDeviation" in needs))
        reducers = {"Mean": lambda: total["mean"], "StandardDeviation": lambda: np.sqrt(total["m2"] / total["n"]),
                    "Min": lambda: total["min"], "Max": lambda: total["max"]}
        values = {}
        for name in needs:
            value = np.asarray(reducers[name](), np.float32).squeeze(axis=axes)
            values[name] = self._to_matlab(value, element)
        return values

    def _affine(self, dtype):
        """Internal-layout ``(shift, divisor, bias)``: ``Z = (X − shift) / divisor + bias``
        (divisor None: no division)."""
        missing = [name for name in _NEEDS[self.Normalization] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.Name}: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                             f"empty, so the '{self.Normalization}' "
                             f"normalization cannot run. Train the network, or give "
                             f"{', '.join(f'{m}=...' for m in missing)} of size "
                             f"{_fmt(self._statistic_shapes()[0])} to {self._owner}.")

        def internal(name):
            return self._to_internal(getattr(self, name)).astype(dtype)

        def nonzero(d):
            return np.where(d == 0, dtype.type(1), d)

        if self.Normalization == "zerocenter":
            return internal("Mean"), None, 0
        if self.Normalization == "zscore":
            return internal("Mean"), nonzero(internal("StandardDeviation")), 0
        low, span = internal("Min"), nonzero(internal("Max") - internal("Min"))
        if self.Normalization == "rescale-zero-one":
            return low, span, 0
        return low, span / 2, -1

    def predict(self, X):
        if self.Normalization == "none":
            return X
        shift, divisor, bias = self._affine(X.dtype)
        Z = X - shift
        if divisor is not None:
            Z /= divisor
        if bias:
            Z += bias
        return Z

    def forward(self, X):
        return self.predict(X), Memory()

    def backward(self, dLdZ, memory):
        divisor = None if self.Normalization == "none" else self._affine(dLdZ.dtype)[1]
        return (dLdZ if divisor is None else dLdZ / divisor), {}

    def _display_properties(self):
        return {"Name": self.Name, "InputSize": self.InputSize, "Normalization": self.Normalization}


def _moments(part, axes, squares):
    """Count, mean (float64), M2 = Σ(x − mean)² (if ``squares``), min and max of one mini-batch."""
    mean = part.mean(axis=axes, dtype=np.float64, keepdims=True)
    m2 = np.sum(np.square(part - mean), axis=axes, keepdims=True) if squares else None
    return {"n": part.size // mean.size, "mean": mean, "m2": m2,
            "min": part.min(axis=axes, keepdims=True), "max": part.max(axis=axes, keepdims=True)}


def _merged(a, b):
    """Chan's merge of two mini-batches' moments."""
    if a is None:
        return b
    n = a["n"] + b["n"]
    delta = b["mean"] - a["mean"]
    m2 = None if a["m2"] is None else a["m2"] + b["m2"] + delta ** 2 * (a["n"] * b["n"] / n)
    return {"n": n, "mean": a["mean"] + delta * (b["n"] / n), "m2": m2,
            "min": np.minimum(a["min"], b["min"]), "max": np.maximum(a["max"], b["max"])}


class ImageInputLayer(_InputLayer):
    __doc__ = """Image input of size ``InputSize = [h w c]``; default Normalization ``'zerocenter'``.

    Statistics ``Mean``, ``StandardDeviation``, ``Min``, ``Max`` are 1×1×c (per channel, the
    default ``NormalizationDimension='auto'`` or ``'channel'``) or h×w×c (``'element'``);
    a user-given statistic of size c or h·w·c takes the matching shape, a scalar is used
    for every channel.""" + _NORMALIZATION_MATHS

    DefaultName = "imageinput"
    Description = "Image input"
    _owner = "imageInputLayer"

    def __init__(self, InputSize, Name="", Normalization="zerocenter", Mean=None,
                 StandardDeviation=None, Min=None, Max=None, NormalizationDimension="auto"):
        super().__init__(Name)
        size = _integers("imageInputLayer", "InputSize", InputSize, (2, 3), 1, "[h w] or [h w c] positive integers")
        self.InputSize = (*(int(s) for s in size), 1)[:3]
        self._set_normalization(Normalization, NormalizationDimension, ("auto", "channel", "element"),
                                {"Mean": Mean, "StandardDeviation": StandardDeviation, "Min": Min, "Max": Max})

    def _statistic_shapes(self):
        h, w, c = self.InputSize
        return [(1, 1, c), (h, w, c)]

    @staticmethod
    def _to_matlab(value, element):
        """C (or C×H×W) statistics → 1×1×C (or H×W×C)."""
        return value.transpose(1, 2, 0) if element else value.reshape(1, 1, -1)

    @staticmethod
    def _to_internal(value):
        """a×b×C → 1×C×a×b, broadcasting against N×C×H×W."""
        return value.transpose(2, 0, 1)[None]


class FeatureInputLayer(_InputLayer):
    __doc__ = """Feature input of ``InputSize = numFeatures`` values per observation (internal
    N×C); default Normalization ``'none'``.

    Statistics ``Mean``, ``StandardDeviation``, ``Min``, ``Max`` are numFeatures×1 (per
    feature); a scalar is used for every feature.""" + _NORMALIZATION_MATHS

    DefaultName = "input"
    Description = "Feature input"
    _owner = "featureInputLayer"

    def __init__(self, InputSize, Name="", Normalization="none", Mean=None, StandardDeviation=None,
                 Min=None, Max=None, NormalizationDimension="auto"):
        super().__init__(Name)
        if isinstance(InputSize, (tuple, list)) and len(InputSize) == 1:
            InputSize = InputSize[0]    # the property reads back as (numFeatures,)
        self.InputSize = (integer("featureInputLayer", "numFeatures", InputSize),)
        self._set_normalization(Normalization, NormalizationDimension, ("auto", "channel"),
                                {"Mean": Mean, "StandardDeviation": StandardDeviation, "Min": Min, "Max": Max})

    def _statistic_shapes(self):
        return [(self.InputSize[0], 1)]

    @staticmethod
    def _to_matlab(value, element):
        return value.reshape(-1, 1)

    @staticmethod
    def _to_internal(value):
        return value.reshape(1, -1)


_STATISTIC_DEFAULTS = {"Mean": None, "StandardDeviation": None, "Min": None, "Max": None,
                       "NormalizationDimension": "auto"}


def imageInputLayer(inputSize, *pairs, **options):
    """``imageInputLayer([h w c], Normalization="zerocenter", Mean=..., Name=...)``: MATLAB's
    image input. Normalization: 'zerocenter' (default), 'zscore', 'rescale-symmetric',
    'rescale-zero-one' or 'none'.

    Example::

        >>> from minidl import imageInputLayer
        >>> imageInputLayer([28, 28, 1]).InputSize
        (28, 28, 1)
        >>> imageInputLayer([2, 2, 3], Normalization="zscore", StandardDeviation=[1, 2, 4]).StandardDeviation.shape
        (1, 1, 3)
    """
    values = layer_options("imageInputLayer", pairs, options,
                           {"Normalization": "zerocenter", **_STATISTIC_DEFAULTS})
    return ImageInputLayer(inputSize, **values)


def featureInputLayer(numFeatures, *pairs, **options):
    """``featureInputLayer(numFeatures, Normalization="none", Name=...)``: MATLAB's feature
    input (one row of ``numFeatures`` values per observation); default name 'input'.

    Example::

        >>> from minidl import featureInputLayer
        >>> layer = featureInputLayer(4, Normalization="rescale-zero-one", Min=0, Max=[1, 2, 4, 8])
        >>> layer.InputSize, layer.Normalization, layer.Max.shape
        ((4,), 'rescale-zero-one', (4, 1))
    """
    values = layer_options("featureInputLayer", pairs, options,
                           {"Normalization": "none", **_STATISTIC_DEFAULTS})
    return FeatureInputLayer(numFeatures, **values)
