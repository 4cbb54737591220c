"""The layer protocol (MATLAB's custom-layer template, in Python) and shared helpers.

A layer maps internal-layout activations: images are N×C×H×W, features N×C. Sizes are
in MATLAB order: ``(h, w, c)`` for images and ``(c,)`` for features.
"""
from types import SimpleNamespace

import numpy as np

from . import config
from .display import layer_text
from .readonly import ReadOnlyLayerError, _read_only_message, is_read_only
from ..options import OptionError, choice, hint, integer, numeric_array, parse_name_value, real, received


class Memory(SimpleNamespace):
    """What ``forward`` keeps for ``backward`` (and batch statistics for the trainer).

    Built-in layers return a dataclass subclass naming its fields (``BatchNormMemory``);
    custom layers may fill a plain ``Memory(name=value, ...)``.
    """


class Layer:
    """Base class of every minidl layer, user-written custom layers included.

    Subclasses implement::

        initialize(input_size, rng) -> output_size   # sizes in MATLAB order
        predict(X) -> Z                              # inference mode
        forward(X) -> (Z, Memory)                    # training mode; never mutates self
        backward(dLdZ, memory) -> (dLdX, grads)      # grads: {"Weights": ..., ...}

    Custom layers may instead declare ``Learnable = ("Alpha",)`` (and ``State = (...)``) and
    write MATLAB's ``predict(self, X)`` / ``backward(self, X, Z, dLdZ, memory)`` on MATLAB
    layouts (minidl.layers.matlab_style adapts them).

    ``learnables`` maps each learnable property to the prefix of its factor properties
    (``"Weights" -> "Weight"`` gives ``WeightLearnRateFactor`` and ``WeightL2Factor``).

    A layer with state (batch normalization's ``TrainedMean``/``TrainedVariance``) names it
    in ``state_names`` and says how training updates it: ``initial_state``,
    ``moving_state(memory)`` ('moving' statistics), ``population_total(total, memory)`` and
    ``population_state(total)`` ('population' statistics). The network commits what these
    return; the layer never changes itself.

    Built-in layers also accept ``work=``, a dict the execution plan owns (one per plan step
    and input size) where they keep output and scratch arrays from one mini-batch to the next
    (see :func:`buffer`), and may offer ``fuse(consumer, mode)``: a :class:`FusedLayers`
    computing this layer and its only consumer in one step, or None.
    """

    DefaultName = "layer"
    Description = "Layer"
    Name = ""
    learnables = {}
    arrays_in_constructor = False   # True: the constructor takes the learnable/state arrays
    NumInputs = 1
    InputNames = ("in",)
    NumOutputs = 1
    OutputNames = ("out",)

    def __init_subclass__(cls, **kwargs):
        """Apply ``Learnable``/``State`` declarations and adapt MATLAB-style custom layers
        (``backward(self, X, Z, dLdZ, memory)`` on MATLAB layouts); see matlab_style.py."""
        super().__init_subclass__(**kwargs)
        from . import matlab_style
        matlab_style.adapt(cls)

    def __init__(self, Name=""):
        if not isinstance(Name, str):
            owner = getattr(self, "_owner", "") or type(self).__name__
            raise OptionError(f"{owner}: Name must be a string; received {received(Name)}.")
        self.Name = Name

    def initialize(self, input_size, rng):
        return tuple(input_size)

    def predict(self, X):
        raise NotImplementedError(f"{type(self).__name__} must implement predict(X).")

    def forward(self, X):
        return self.predict(X), Memory()

    def backward(self, dLdZ, memory):
        raise NotImplementedError(f"{type(self).__name__} must implement backward(dLdZ, memory).")

    state_names = ()

    def initial_state(self):
        """Starting values of empty state for 'moving' statistics: ``{name: value}``."""
        return {}

    def moving_state(self, memory):
        """State after one training iteration whose forward returned ``memory``."""
        return {}

    def population_total(self, total, memory):
        """``total`` (None at first) combined with one more mini-batch's ``memory``."""
        return total

    def population_state(self, total):
        """State from the total over every training observation."""
        return {}

    def fuse(self, consumer, mode):
        """A :class:`FusedLayers` for this layer followed by ``consumer`` in ``mode``
        ('train' or 'predict'), or None when the two do not fuse."""
        return None

    def learnable_factors(self, name):
        """``(LearnRateFactor, L2Factor)`` of learnable property ``name``."""
        prefix = self.learnables[name]
        return (float(getattr(self, prefix + "LearnRateFactor")),
                float(getattr(self, prefix + "L2Factor")))

    def get_config(self):
        """The public configuration the file format saves: constructor arguments read back
        as properties (see minidl.layers.config)."""
        return config.get_config(self)

    def _display_properties(self):
        return {"Name": self.Name}

    def __repr__(self):
        props = ", ".join(f"{k}={_short(v)}" for k, v in self._display_properties().items())
        return f"{type(self).__name__}({props})"

    def __str__(self):
        """MATLAB's property display (``print(layer)``); ``repr`` stays one line."""
        return layer_text(self)

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self) if cycle else str(self))

    def __setattr__(self, name, value):
        if is_read_only(self):
            raise ReadOnlyLayerError(_read_only_message(self, name))
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if is_read_only(self):
            raise ReadOnlyLayerError(_read_only_message(self, name))
        object.__delattr__(self, name)


class FusedLayers:
    """Several layers in a chain (each the only consumer of the one before) computed as one
    execution-plan step. ``predict(X, work)``, ``forward(X, work) -> (Z, memory)`` and
    ``backward(dLdZ, memory, work) -> (dLdX, grads)`` where ``grads`` has one dict per layer."""

    def __init__(self, *layers):
        self.layers = layers

    def fuse(self, consumer, mode):
        return None

    def state_memories(self, memory):
        """``(layer, layer_memory)`` for the layers with state."""
        return []


def buffer(work, key, shape, dtype):
    """An output or scratch array kept in ``work`` (the execution plan's, reused while the
    size holds), or a new array when there is no ``work``."""
    shape = tuple(shape)
    if work is None:
        return np.empty(shape, dtype)
    array = work.get(key)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = work[key] = np.empty(shape, dtype)
    return array


def flatten_layers(layers):
    """A list of layers from nested lists/tuples of them: MATLAB's ``[layers; moreLayers]``
    concatenates layer arrays, so ``[layers, convUnit()]`` (a list inside a list) is one
    array. Elements that are not lists or tuples are kept for the caller to check."""
    flat = []
    for item in layers:
        if isinstance(item, (list, tuple)):
            flat.extend(flatten_layers(item))
        else:
            flat.append(item)
    return flat


def _short(value):
    if isinstance(value, np.ndarray):
        return f"<{'x'.join(map(str, value.shape)) or 'scalar'} {value.dtype}>"
    return repr(value)


def layer_options(owner, pairs, kwargs, defaults):
    """Parse a layer constructor's Name=Value options (``Name`` always allowed)."""
    return parse_name_value(owner, pairs, kwargs, {"Name": "", **defaults})


def auto_or_count(owner, name, value):
    """'auto' (any case) or a positive integer, as MATLAB's NumChannels / InputSize."""
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    if isinstance(value, str):
        raise OptionError(f"{owner}: {name} must be 'auto' or a positive integer; received {value!r}.")
    return integer(owner, name, value)


def factor(owner, name, value):
    """A learn-rate or L2 factor: a finite nonnegative number."""
    value = real(owner, name, value, 0)
    return int(value) if value.is_integer() else value


def factors(owner, layer, **values):
    """Validate and set learn-rate and L2 factor properties on ``layer``."""
    for name, value in values.items():
        setattr(layer, name, factor(owner, name, value))


def _integers(owner, name, value, sizes, minimum, what):
    """A scalar or a 1-D list of ``sizes`` integers >= minimum, as a NumPy int array."""
    try:
        values = None if isinstance(value, str) else numeric_array(owner, name, value)
    except TypeError:
        values = None
    if (values is None or values.dtype.kind == "b" or values.ndim > 1 or values.size not in sizes
            or not np.all(np.isfinite(values)) or not np.all(values == np.round(values))
            or np.any(values < minimum) or np.any(values > 2 ** 31 - 1)):
        raise OptionError(f"{owner}: {name} must be {what}; received {received(value)}.{hint(value)}")
    return values.reshape(-1).astype(np.int64)


def as_pair(owner, name, value, minimum=1):
    """MATLAB's scalar-or-[a b] size argument as an ``(a, b)`` tuple of ints."""
    values = _integers(owner, name, value, (1, 2), minimum,
                       f"a positive integer or a pair [a b] of them (>= {minimum})")
    if values.size == 1:
        values = np.repeat(values, 2)
    return int(values[0]), int(values[1])


def as_padding(owner, value, name="Padding"):
    """MATLAB's Padding (or a transposed convolution's Cropping): 'same', a scalar,
    [vertical horizontal] or [top bottom left right]."""
    if isinstance(value, str):
        if value.lower() == "same":
            return "same"
        raise OptionError(f"{owner}: {name} must be 'same' or nonnegative integers; received {value!r}.")
    values = _integers(owner, name, value, (1, 2, 4), 0,
                       "'same', p, [pv ph] or [t b l r] with nonnegative integers")
    if values.size == 1:
        values = np.repeat(values, 4)
    elif values.size == 2:
        values = np.array([values[0], values[0], values[1], values[1]])
    return tuple(int(v) for v in values)


def resolve_padding(padding, in_hw, window, stride, dilation=(1, 1)):
    """Explicit (top, bottom, left, right) padding; 'same' puts the extra pixel bottom/right."""
    if padding != "same":
        return padding
    pads = []
    for size, k, s, d in zip(in_hw, window, stride, dilation):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def output_hw(owner, in_hw, window, stride, pads, dilation=(1, 1)):
    """floor((in + pad - dilated window) / stride) + 1, with a clear error when it is empty."""
    out = []
    for size, k, s, d, before, after in zip(in_hw, window, stride, dilation, pads[0::2], pads[1::2]):
        extent = (k - 1) * d + 1
        if size + before + after < extent:
            raise ValueError(f"{owner}: the window ({extent} after dilation) is larger than the "
                             f"padded input ({size + before + after}); use a smaller FilterSize/"
                             f"PoolSize, more Padding, or a larger input.")
        out.append((size + before + after - extent) // s + 1)
    return tuple(out)


def learnable_array(owner, name, value, shape=None):
    """A float32 copy of a user-given learnable/statistic, checked against ``shape`` if known."""
    if value is None:
        return None
    array = np.array(numeric_array(owner, name, value), dtype=np.float32)
    if array.size == 0:
        return None
    if shape is not None and array.shape != tuple(shape):
        if array.size == int(np.prod(shape)) and _squeezed(array.shape) == _squeezed(shape):
            array = array.reshape(shape)
        else:
            raise ValueError(f"{owner}: {name} must have size {_fmt(shape)}; received {_fmt(array.shape)}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{owner}: {name} must be finite; it contains NaN or Inf (after conversion to "
                         f"float32, whose largest value is 3.4e38).")
    return array


def _squeezed(shape):
    return tuple(d for d in shape if d != 1)


def _fmt(shape):
    return "×".join(str(d) for d in shape)


def glorot(rng, shape, fan_in, fan_out):
    """Glorot (Xavier) uniform on [-a, a], a = sqrt(6 / (fan_in + fan_out)), as MATLAB."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def he(rng, shape, fan_in):
    """He normal: N(0, 2 / fan_in), as MATLAB's 'he' initializer."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


WEIGHTS_INITIALIZERS = ("glorot", "he", "narrow-normal", "zeros", "ones")
CONSTANT_INITIALIZERS = ("zeros", "ones", "narrow-normal")


def initializer(owner, name, value, allowed):
    """A function handle ``f(shape) -> array``, or one of MATLAB's initializer names."""
    return value if callable(value) else choice(owner, name, value, allowed)


def weight_and_bias_options(owner, layer, WeightsInitializer, BiasInitializer, **factor_values):
    """Set a weights-and-bias layer's initializers and its learn-rate and L2 factors (the
    options convolution, transposed convolution and fully connected layers share)."""
    layer.WeightsInitializer = initializer(owner, "WeightsInitializer", WeightsInitializer, WEIGHTS_INITIALIZERS)
    layer.BiasInitializer = initializer(owner, "BiasInitializer", BiasInitializer, CONSTANT_INITIALIZERS)
    factors(owner, layer, **factor_values)


def initial_weights(owner, initializer, rng, shape, fan_in, fan_out):
    """Weights from MATLAB's initializer names or a function handle ``f(shape) -> array``."""
    if callable(initializer):
        return _from_function(owner, "WeightsInitializer", initializer, shape)
    kind = str(initializer).lower()
    if kind == "glorot":
        return glorot(rng, shape, fan_in, fan_out)
    if kind == "he":
        return he(rng, shape, fan_in)
    if kind == "narrow-normal":
        return (rng.standard_normal(shape) * 0.01).astype(np.float32)
    if kind == "zeros":
        return np.zeros(shape, np.float32)
    if kind == "ones":
        return np.ones(shape, np.float32)
    raise OptionError(f"{owner}: WeightsInitializer must be 'glorot', 'he', 'narrow-normal', 'zeros', "
                      f"'ones' or a function; received {initializer!r}.")


def initial_constant(owner, name, initializer, rng, shape):
    """Bias/Scale/Offset from 'zeros', 'ones', 'narrow-normal' or a function handle."""
    if callable(initializer):
        return _from_function(owner, name, initializer, shape)
    kind = str(initializer).lower()
    if kind == "zeros":
        return np.zeros(shape, np.float32)
    if kind == "ones":
        return np.ones(shape, np.float32)
    if kind == "narrow-normal":
        return (rng.standard_normal(shape) * 0.01).astype(np.float32)
    raise OptionError(f"{owner}: {name} must be 'zeros', 'ones', 'narrow-normal' or a function; "
                      f"received {initializer!r}.")


def _from_function(owner, name, function, shape):
    """The array an initializer function returns for ``shape``, checked and as float32."""
    value = numeric_array(owner, f"the array {name} returned", function(shape))
    if value.size != int(np.prod(shape)):
        raise ValueError(f"{owner}: {name} returned an array of size {_fmt(value.shape)} for size "
                         f"{_fmt(shape)}; it must return an array of the size it is given.")
    return value.astype(np.float32).reshape(shape)


def require_image(layer, owner, input_size):
    """Raise unless the incoming activations are images (h×w×c)."""
    if len(input_size) != 3:
        raise ValueError(f"{layer.Name}: {owner} needs image input (h×w×c); received size {input_size}.")


def check_channels(layer, input_size, expected, what="channels"):
    """Raise if the incoming channel count differs from the one the layer was built for
    (``expected`` None or 'auto': not fixed yet)."""
    if expected not in (None, "auto") and input_size[-1] != expected:
        raise ValueError(f"{layer.Name or type(layer).__name__}: expected input with {expected} {what} "
                         f"(from its {what} property), received {input_size[-1]}. Check the "
                         f"preceding layer or leave the property unset ('auto').")
