"""MATLAB-style Name=Value argument parsing shared by every public constructor.

MATLAB accepts ``f('Name', Value, ...)`` and, since R2021a, ``f(Name=Value)``; both
spellings reach :func:`parse_name_value`. Names match case-insensitively, as in MATLAB,
and an unknown name is an error that suggests the closest valid one.
"""
import difflib


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
