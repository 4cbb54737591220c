"""The one random-number generator minidl draws from, like MATLAB's global ``rng``.

Weight initialisation, shuffling, dropout masks and ``splitEachLabel(..., "randomize")``
all draw from :func:`generator`, so ``minidl.rng(seed)`` makes a whole run reproducible.
"""
import numpy as np

_generator = np.random.default_rng(0)


def rng(seed=0):
    """Seed minidl's global generator, as MATLAB's ``rng(seed)`` does.

    Example::

        >>> import minidl
        >>> minidl.rng(42)
    """
    global _generator
    if isinstance(seed, str) and seed == "default":
        seed = 0
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"rng: seed must be a nonnegative integer or 'default', received {seed!r}.")
    _generator = np.random.default_rng(int(seed))


def generator():
    """The current global ``numpy.random.Generator``."""
    return _generator
