"""The one random-number generator minidl draws from, like MATLAB's global ``rng``.

Weight initialisation, shuffling, dropout masks and ``splitEachLabel(..., "randomize")``
all draw from :func:`generator`, so ``minidl.rng(seed)`` makes a whole run reproducible.
"""
import numpy as np

from .struct import Struct

_seed = 0
_generator = np.random.default_rng(0)


def rng(seed=None):
    """MATLAB's ``rng``: ``rng(seed)``, ``rng("default")`` (seed 0), ``rng("shuffle")`` (a seed
    from the operating system), ``s = rng()`` (the current settings: Type, Seed, State) and
    ``rng(s)`` (restore settings saved earlier).

    Example::

        >>> import minidl
        >>> minidl.rng(42)
        >>> saved = minidl.rng()
        >>> saved.Seed
        42
        >>> minidl.rng(saved)
    """
    global _generator, _seed
    if seed is None:
        return Struct(Type="pcg64", Seed=_seed, State=_generator.bit_generator.state)
    if isinstance(seed, dict) and "State" in seed:
        _seed = seed.get("Seed", _seed)
        _generator = np.random.default_rng()
        _generator.bit_generator.state = seed["State"]
        return None
    if isinstance(seed, str) and seed.lower() in ("default", "shuffle"):
        seed = 0 if seed.lower() == "default" else int(np.random.SeedSequence().entropy % 2**32)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"rng: seed must be a nonnegative integer, 'default', 'shuffle' or settings from "
                         f"rng(); received {seed!r}.")
    _seed = int(seed)
    _generator = np.random.default_rng(_seed)
    return None


def generator():
    """The current global ``numpy.random.Generator``."""
    return _generator
