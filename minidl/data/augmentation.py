"""MATLAB's ``imageDataAugmenter`` and ``augment``: random reflections, rotation, scale,
shear and translation, composed into one affine transform per image and applied as one
resample (see docs/augmentation.md).

The transform, in MATLAB's row-vector convention ``[x' y' 1] = [x y 1]·T`` on 0-based
pixel-centre coordinates (x right, y down) with c the image centre ((W-1)/2, (H-1)/2):

    T = Move(-c) · Rot(θ) · Shear(ψx, ψy) · Scale(sx, sy) · Reflect(fx, fy) · Move(c) · Move(tx, ty)

so a point is rotated, sheared, scaled and reflected about the centre, then translated:

    Rot(θ)     = [[cos θ, -sin θ], [sin θ, cos θ]]   θ > 0 turns the image counterclockwise on screen
    Shear      = [[1, tan ψy], [tan ψx, 1]]           x' = x + y·tan ψx,  y' = y + x·tan ψy
    Scale      = diag(sx, sy), Reflect = diag(fx, fy) with f = -1 (mirror) or 1
"""
import numpy as np

from .. import _rng
from ..options import OptionError, flag, is_real_scalar, parse_name_value, received
from . import image_ops

# Option → (default, what a drawn value must be). Ranges are [min max] or a function handle.
RANGES = {"RandRotation": (0.0, "real"), "RandScale": (1.0, "positive"), "RandXScale": (1.0, "positive"),
          "RandYScale": (1.0, "positive"), "RandXShear": (0.0, "shear"), "RandYShear": (0.0, "shear"),
          "RandXTranslation": (0.0, "real"), "RandYTranslation": (0.0, "real")}
_WHAT = {"real": "finite real numbers", "positive": "positive finite numbers",
         "shear": "angles in degrees strictly between -90 and 90"}
# The columns of the uniform draws, one row per image (a documented, stable layout).
_COLUMNS = ("RandXReflection", "RandYReflection", "RandRotation", "RandXScale", "RandYScale", "RandXShear",
            "RandYShear", "RandXTranslation", "RandYTranslation")


class ImageDataAugmenter:
    """A set of random geometric augmentations (MATLAB's ``imageDataAugmenter`` object);
    build it with :func:`imageDataAugmenter`. Properties as in MATLAB: ``FillValue``,
    ``RandXReflection``, ``RandYReflection``, ``RandRotation``, ``RandScale``,
    ``RandXScale``, ``RandYScale``, ``RandXShear``, ``RandYShear``, ``RandXTranslation``,
    ``RandYTranslation``."""

    def __init__(self, options):
        self.__dict__.update(options)

    def __setattr__(self, name, value):
        raise AttributeError(f"imageDataAugmenter: properties are read-only, as in MATLAB; build a new one with "
                             f"imageDataAugmenter({name}=...) (received {name} = {received(value)}).")

    def options(self):
        """The options as given (what ``imageDataAugmenter(**aug.options())`` rebuilds)."""
        return {name: getattr(self, name) for name in DEFAULTS}

    def __repr__(self):
        lines = ["imageDataAugmenter with properties:", ""]
        for name in DEFAULTS:
            value = getattr(self, name)
            shown = "@" + getattr(value, "__name__", "function") if callable(value) else \
                np.array2string(np.asarray(value, dtype=float), separator=" ", formatter={"float_kind": "{:g}".format})
            lines.append(f"    {name:>16}: {shown}")
        return "\n".join(lines)

    # --- the random draws --------------------------------------------------------------
    def draw(self, count, generator=None):
        """The parameters of ``count`` random transforms: a dict of arrays of length count
        (XReflection/YReflection ±1, Rotation/XShear/YShear in degrees, XScale, YScale,
        XTranslation/YTranslation in pixels).

        One ``generator.random((count, 9))`` call supplies every draw (default generator: the
        global one that ``rng`` seeds); row k belongs to image k and its columns are, in
        order, XReflection, YReflection, Rotation, XScale (or RandScale's common scale),
        YScale, XShear, YShear, XTranslation, YTranslation. A reflection mirrors when its
        uniform draw is below 0.5 (MATLAB's sign(rand - 0.5)); a [min max] range gives
        min + (max - min)·u. An option given as a function is called once per image instead
        (it draws from whatever generator it uses).
        """
        uniform = (generator if generator is not None else _rng.generator()).random((count, len(_COLUMNS)))
        drawn = {}
        for column, name in enumerate(_COLUMNS):
            if name.endswith("Reflection"):
                drawn[name[4:]] = np.where(getattr(self, name) & (uniform[:, column] < 0.5), -1.0, 1.0)
            elif name == "RandYScale" and self._common_scale:
                drawn["YScale"] = drawn["XScale"]
            else:
                option = "RandScale" if name == "RandXScale" and self._common_scale else name
                drawn[name[4:]] = _values_in_range(option, getattr(self, option), uniform[:, column])
        return drawn

    @property
    def _common_scale(self):
        return callable(self.RandScale) or not np.array_equal(self.RandScale, [1, 1])

    def transforms(self, parameters, height, width):
        """N×3×3 forward transforms (row-vector convention, see the module docstring) of the
        drawn ``parameters`` for images of height×width pixels."""
        count = len(parameters["Rotation"])
        theta = np.deg2rad(parameters["Rotation"])
        linear = np.zeros((count, 2, 2))
        linear[:, 0, 0], linear[:, 0, 1] = np.cos(theta), -np.sin(theta)
        linear[:, 1, 0], linear[:, 1, 1] = np.sin(theta), np.cos(theta)
        shear = np.ones((count, 2, 2))
        shear[:, 0, 1] = np.tan(np.deg2rad(parameters["YShear"]))
        shear[:, 1, 0] = np.tan(np.deg2rad(parameters["XShear"]))
        diagonal = np.stack([parameters["XScale"] * parameters["XReflection"],
                             parameters["YScale"] * parameters["YReflection"]], axis=1)
        linear = linear @ shear * diagonal[:, None, :]          # ·Scale·Reflect: scales the columns
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
        shift = np.stack([parameters["XTranslation"], parameters["YTranslation"]], axis=1)
        result = np.zeros((count, 3, 3))
        result[:, :2, :2] = linear
        result[:, 2, :2] = centre - np.einsum("i,nij->nj", centre, linear) + shift
        result[:, 2, 2] = 1
        return result

    def fill_for(self, owner, channels):
        """FillValue as one value per channel, or an error naming the channel count."""
        fill = np.asarray(self.FillValue, np.float64).reshape(-1)
        if fill.size not in (1, channels):
            raise ValueError(f"{owner}: FillValue must be a scalar or have one value per channel ({channels}); "
                             f"received {fill.size} values.")
        return np.broadcast_to(fill, (channels,))


def _values_in_range(name, option, uniform):
    if not callable(option):
        return option[0] + (option[1] - option[0]) * uniform
    values = np.empty(len(uniform))
    for k in range(len(uniform)):
        value = option()
        _check_value(name, value, f"the value returned by the function given for {name}")
        values[k] = float(np.asarray(value).reshape(-1)[0])
    return values


def _check_value(name, value, what):
    kind = RANGES[name][1]
    scalar = is_real_scalar(value) or (isinstance(value, np.ndarray) and value.size == 1 and
                                       value.dtype.kind in "iuf")
    number = float(np.asarray(value).reshape(-1)[0]) if scalar else None
    ok = scalar and np.isfinite(number) and (kind != "positive" or number > 0) and \
        (kind != "shear" or -90 < number < 90)
    if not ok:
        raise OptionError(f"imageDataAugmenter: {what} must be one of {_WHAT[kind]}; received {received(value)}.")


def _range(name, value):
    if callable(value):
        return value
    array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if array is None or array.dtype.kind not in "iuf" or array.size != 2 or array.ndim > 2:
        raise OptionError(f"imageDataAugmenter: {name} must be a 2-element range [min max] of "
                          f"{_WHAT[RANGES[name][1]]}, or a function returning one value; received {received(value)}.")
    low, high = (float(v) for v in array.reshape(-1))
    for bound in (low, high):
        _check_value(name, bound, f"{name}'s bounds")
    if low > high:
        raise OptionError(f"imageDataAugmenter: {name} must be [min max] with min <= max; received "
                          f"[{low:g} {high:g}].")
    return np.array([low, high])


def _fill_value(value):
    array = np.asarray(value) if not isinstance(value, (str, bytes, bool)) else None
    if array is None or array.dtype.kind not in "iuf" or array.size == 0 or array.ndim > 2 or \
            (array.ndim == 2 and min(array.shape) > 1) or not np.all(np.isfinite(array)):
        raise OptionError(f"imageDataAugmenter: FillValue must be a finite real scalar or a vector with one value "
                          f"per channel; received {received(value)}.")
    return float(array.reshape(-1)[0]) if array.size == 1 else array.astype(np.float64).reshape(-1)


DEFAULTS = {"FillValue": 0.0, "RandXReflection": False, "RandYReflection": False, "RandRotation": [0, 0],
            "RandScale": [1, 1], "RandXScale": [1, 1], "RandYScale": [1, 1], "RandXShear": [0, 0],
            "RandYShear": [0, 0], "RandXTranslation": [0, 0], "RandYTranslation": [0, 0]}


def imageDataAugmenter(*pairs, **options):
    """MATLAB's ``imageDataAugmenter(Name=Value, ...)`` (or ``'Name', value`` pairs): the
    random affine augmentation an ``augmentedImageDatastore`` applies to each image.

    Options and defaults (each range a 2-element ``[min max]`` drawn uniformly, or a
    function taking no argument that returns one value):

    - ``RandXReflection``/``RandYReflection`` (False): mirror left-right/up-down with
      probability 0.5;
    - ``RandRotation`` ([0 0]), degrees, positive counterclockwise;
    - ``RandScale`` ([1 1]) one scale for both axes, or ``RandXScale``/``RandYScale``
      ([1 1]) one per axis (not both: MATLAB refuses RandScale with RandXScale/RandYScale);
    - ``RandXShear``/``RandYShear`` ([0 0]), shear angles in degrees in (-90, 90);
    - ``RandXTranslation``/``RandYTranslation`` ([0 0]), pixels (x right, y down);
    - ``FillValue`` (0): the value of pixels that come from outside the image, a scalar
      or one per channel.

    Example::

        >>> import minidl
        >>> aug = minidl.imageDataAugmenter(RandRotation=[-10, 10], RandXReflection=True)
        >>> aug.RandRotation
        array([-10.,  10.])
        >>> minidl.imageDataAugmenter("RandScale", [0.9, 1.1], RandXScale=[1, 2])
        Traceback (most recent call last):
        ...
        minidl.options.OptionError: imageDataAugmenter: RandScale cannot be combined with RandXScale or RandYScale (MATLAB refuses it too); give either RandScale, or RandXScale/RandYScale.
    """
    given = parse_name_value("imageDataAugmenter", pairs, options, dict.fromkeys(DEFAULTS, _UNSET))
    values = {name: _default(name) if value is _UNSET else value for name, value in given.items()}
    values["FillValue"] = _fill_value(values["FillValue"])
    for name in ("RandXReflection", "RandYReflection"):
        values[name] = flag("imageDataAugmenter", name, values[name])
    for name in RANGES:
        values[name] = _range(name, values[name])
    augmenter = ImageDataAugmenter(values)
    if augmenter._common_scale and any(callable(values[name]) or not np.array_equal(values[name], [1, 1])
                                       for name in ("RandXScale", "RandYScale")):
        raise OptionError("imageDataAugmenter: RandScale cannot be combined with RandXScale or RandYScale (MATLAB "
                          "refuses it too); give either RandScale, or RandXScale/RandYScale.")
    return augmenter


_UNSET = object()     # an option not given (None given is a wrong value, as in MATLAB)


def _default(name):
    value = DEFAULTS[name]
    return list(value) if isinstance(value, list) else value


def augment(augmenter, images):
    """MATLAB's ``augment(augmenter, I)``: ``I`` transformed by one random transform drawn
    from ``augmenter`` (from the global generator that ``rng`` seeds).

    ``I`` is one image (H×W or H×W×C), or a list of images (MATLAB's cell array), which all
    get the same transform, each about its own centre; the result has the same form. A
    4-D H×W×C×N array (a minidl extension: MATLAB refuses it) gets one transform per image,
    as ``augmentedImageDatastore`` applies them. Numeric images are resampled bilinearly
    and keep their type (integers rounded and clipped to their range, as MATLAB does);
    logical images use the nearest pixel. Pixels that come from outside the image get
    ``FillValue``.

    Example (a 3×3 image turned 90° counterclockwise)::

        >>> import numpy as np, minidl
        >>> I = np.arange(9.0).reshape(3, 3)
        >>> minidl.augment(minidl.imageDataAugmenter(RandRotation=[90, 90]), I)
        array([[2., 5., 8.],
               [1., 4., 7.],
               [0., 3., 6.]])
    """
    if not isinstance(augmenter, ImageDataAugmenter):
        raise TypeError(f"augment: the first argument must be an imageDataAugmenter; received {received(augmenter)}.")
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("augment: the list of images is empty; give at least one image.")
        parameters = augmenter.draw(1)
        return type(images)(_augment_one(augmenter, image, parameters, f"augment: image {k + 1}")
                            for k, image in enumerate(images))
    array = np.asarray(images)
    if array.ndim == 4:
        parameters = augmenter.draw(array.shape[3])
        return np.stack([_augment_one(augmenter, array[..., k], {n: v[k:k + 1] for n, v in parameters.items()},
                                      "augment") for k in range(array.shape[3])], axis=3)
    return _augment_one(augmenter, array, augmenter.draw(1), "augment")


def _augment_one(augmenter, image, parameters, owner):
    array = np.asarray(image)
    if array.ndim not in (2, 3) or array.dtype.kind not in "biuf" or 0 in array.shape:
        raise TypeError(f"{owner}: an image must be a non-empty numeric or logical H×W or H×W×C array; received "
                        f"{received(image)}.")
    planes = array.reshape(array.shape[0], array.shape[1], -1)[None]
    fill = augmenter.fill_for(owner, planes.shape[3])
    transform = augmenter.transforms(parameters, array.shape[0], array.shape[1])
    if array.dtype.kind == "b":
        return image_ops.warp(planes, transform, fill.astype(bool), "nearest")[0].reshape(array.shape)
    work = planes.astype(np.float64 if array.dtype != np.float32 else np.float32)
    result = image_ops.warp(work, transform, fill)[0].reshape(array.shape)
    if array.dtype.kind in "iu":
        limits = np.iinfo(array.dtype)
        return np.clip(np.round(result), limits.min, limits.max).astype(array.dtype)
    return result.astype(array.dtype)
