"""MATLAB-style Name=Value argument parsing shared by every public constructor, and the
argument checks every public function makes at its boundary.

MATLAB accepts ``f('Name', Value, ...)`` and, since R2021a, ``f(Name=Value)``; both
spellings reach :func:`parse_name_value`. Names match case-insensitively, as in MATLAB,
and an unknown name is an error that suggests the closest valid one.

:func:`integer`, :func:`real`, :func:`flag` and :func:`numeric_array` check one argument
each and raise an error naming the function (``owner``), the argument, what is expected and
what was received (:func:`received`), with a fix for a number given as a string.
"""
import difflib
import dis
import functools
import inspect
import math
import sys
import os
import numbers

import numpy as np


class OptionError(ValueError):
    """A public function received an invalid Name=Value option."""


def parse_name_value(owner, pairs, kwargs, defaults):
    """Merge positional ``('Name', Value, ...)`` pairs and keyword options into ``defaults``.

    ``owner`` names the function or layer in error messages. Returns a new dict with the
    canonical (default) spelling of every name.
    """
    if len(pairs) % 2:
        raise OptionError(
            f"{owner}: Name-Value arguments must come in pairs; received {len(pairs)} "
            f"positional values ({pairs!r}). Use Name=Value, e.g. {owner}(Name=value).")
    given = list(zip(pairs[0::2], pairs[1::2])) + list(kwargs.items())
    canonical = {name.lower(): name for name in defaults}
    values = dict(defaults)
    for name, value in given:
        if not isinstance(name, str):
            raise OptionError(f"{owner}: option names must be strings; received {name!r}.")
        key = canonical.get(name.lower())
        if key is None:
            raise OptionError(f"{owner}: unknown option {name!r}.{suggest(name, defaults)}")
        values[key] = value
    return values


def suggest(name, valid):
    """A ' Did you mean ...?' hint naming the closest valid spelling, or ''."""
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    if close:
        return f" Did you mean {lowered[close[0]]!r}?"
    return f" Valid options: {', '.join(sorted(valid))}."


def choice(owner, name, value, allowed):
    """Return the canonical spelling of string option ``value`` from ``allowed``."""
    if isinstance(value, str):
        for option in allowed:
            if value.lower() == option.lower():
                return option
    raise OptionError(
        f"{owner}: {name} must be one of {', '.join(repr(a) for a in allowed)}; "
        f"received {value!r}.{suggest(str(value), allowed) if isinstance(value, str) else ''}")


# ---- argument checks shared by the public functions and layer constructors ------------------
MAX_COUNT = 2 ** 31 - 1   # sizes and counts: the kernels index with int32


def received(value):
    """How a message shows a received value: short, and an array by its size and type."""
    if isinstance(value, np.ndarray):
        return f"an array of size {'×'.join(map(str, value.shape)) or 'scalar'} ({value.dtype})"
    if isinstance(value, dict):
        return f"a {type(value).__name__} with keys {', '.join(map(str, value))[:60]}"
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def hint(value):
    """A fix for the commonest slip: a number given as a string ('8' for 8)."""
    if isinstance(value, (str, bytes)):
        return " Pass the number itself, not a string."
    if isinstance(value, (bool, np.bool_)):
        return " A logical true/false is not a number here."
    return ""


def is_real_scalar(value):
    """True for a Python or NumPy real number, or a 0-d array of one (not a bool, string,
    complex number or longer array)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return True
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def integer(owner, name, value, minimum=1, maximum=MAX_COUNT, what=None):
    """``value`` as an int in [minimum, maximum] (an integral float such as 8.0 counts);
    ``what`` describes the valid values in the message."""
    whole = is_real_scalar(value) and math.isfinite(value) and float(value) == int(value)
    if whole and minimum <= int(value) <= maximum:
        return int(value)
    if what is None:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        if whole and int(value) > maximum:
            what += f" (at most {maximum})"
    raise OptionError(f"{owner}: {name} must be {what}; received {received(value)}.{hint(value)}")


def path(owner, name, value):
    """``value`` as a file name (a str or os.PathLike), else a TypeError naming ``name``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{owner}: {name} must be a path (a string or os.PathLike); received {received(value)}.")
    return os.fspath(value)


def real(owner, name, value, low=-math.inf, high=math.inf, low_open=False, high_open=False, finite=True,
         what=None):
    """``value`` as a float in the interval (finite unless ``finite`` is False); ``what``
    describes the valid values in the message."""
    ok = is_real_scalar(value) and not math.isnan(value) and (math.isfinite(value) or not finite)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if ok:
        return float(value)
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    what = what or f"a {'finite ' if finite else ''}real number in {interval}"
    raise OptionError(f"{owner}: {name} must be {what}; received {received(value)}.{hint(value)}")


def flag(owner, name, value):
    """A logical scalar: True/False, or 1/0 as MATLAB allows."""
    if isinstance(value, (bool, np.bool_)) or (is_real_scalar(value) and value in (0, 1)):
        return bool(value)
    raise OptionError(f"{owner}: {name} must be true or false; received {received(value)}.")


def numeric_array(owner, name, value):
    """``value`` as a real numeric NumPy array (not strings, objects or complex numbers)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):   # ragged nested lists
        array = None
    if array is not None and array.dtype.kind == "O" and array.size and all(map(is_real_scalar, array.flat)):
        array = array.astype(np.float64)   # e.g. Python ints beyond int64
    if array is not None and array.dtype.kind == "c":
        raise TypeError(f"{owner}: {name} must be numeric with real values; received complex values "
                        f"({received(value)}). Take the real part ({name}.real) if that is what you mean.")
    if array is None or array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: {name} must be numeric (real numbers); received {received(value)}.")
    return array


# ---- MATLAB's 'Name', value pairs for every public function ----------------------------------
def name_value_pairs(positional):
    """Decorator: ``f(a, b, 'Name', value, ...)`` calls ``f(a, b, Name=value, ...)``.

    The first ``positional`` arguments stay positional; every later positional argument must
    be part of a MATLAB 'Name', value pair naming one of f's keyword parameters (matched
    case-insensitively, with a suggestion for a misspelling). Keyword calls pass through
    unchanged, so ``f(a, b, Name=value)`` keeps working.
    """
    def decorate(function):
        parameters = inspect.signature(function).parameters
        options = [name for name in list(parameters)[positional:]
                   if parameters[name].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                inspect.Parameter.KEYWORD_ONLY)]
        leading = ", ".join(list(parameters)[:positional])
        owner = function.__name__

        @functools.wraps(function)
        def call(*args, **kwargs):
            if len(args) > positional:
                kwargs = _pairs_as_keywords(owner, leading, args[positional:], kwargs, options)
                args = args[:positional]
            return function(*args, **kwargs)
        return call
    return decorate


def _pairs_as_keywords(owner, leading, pairs, kwargs, options):
    if not isinstance(pairs[0], str):
        raise OptionError(f"{owner}: after {leading}, options are 'Name', value pairs or Name=value "
                          f"({', '.join(options)}); received {received(pairs[0])} as argument "
                          f"{leading.count(',') + 2}. Name the option, e.g. {owner}(..., {options[0]}=...).")
    given = parse_name_value(owner, pairs, {}, dict.fromkeys(options, _UNSET))
    merged = dict(kwargs)
    for name, value in given.items():
        if value is _UNSET:
            continue
        if name in kwargs:
            raise OptionError(f"{owner}: {name} is given twice (as a 'Name', value pair and as {name}=...); "
                              f"give it once.")
        merged[name] = value
    return merged


_UNSET = object()


def requested_outputs():
    """MATLAB's ``nargout`` for the public function being called: the n of the caller's
    ``a, b = f(...)`` (or ``[a, b] = f(...)``), else 1. It reads the instruction after the
    call in the first frame outside minidl, so ``Y = f(...)``, ``g(f(...))`` and ``return
    f(...)`` count as one output."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back
    return 1 if frame is None else _unpacked_after(frame.f_code, frame.f_lasti)


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


@functools.lru_cache(maxsize=256)
def _unpacked_after(code, offset):
    """The n of an UNPACK_SEQUENCE n right after the call at ``offset`` (which may point into
    the call's inline caches, as in Python 3.11+), else 1."""
    for instruction in dis.get_instructions(code):
        if instruction.offset > offset and instruction.opname not in ("CACHE", "EXTENDED_ARG", "NOP"):
            if instruction.opname == "UNPACK_SEQUENCE":
                return instruction.argval
            return 2 if instruction.opname == "UNPACK_EX" else 1
    return 1
