"""The one random-number generator minidl draws from, like MATLAB's global ``rng``.

Weight initialisation, shuffling, dropout masks and ``splitEachLabel(..., "randomize")``
all draw from :func:`generator`, so ``minidl.rng(seed)`` makes a whole run reproducible.
"""
import numpy as np

from .struct import Struct

_seed = 0
_generator = np.random.default_rng(0)


GENERATORS = ("twister", "simdTwister", "combRecursive", "multFibonacci", "philox", "threefry", "v4",
              "v5uniform", "v5normal")
_type = "twister"


def rng(seed=None, generator=None):
    """MATLAB's ``rng``: ``rng(seed)``, ``rng(seed, generator)`` (e.g. ``rng(0, "twister")``),
    ``rng("default")`` (seed 0, 'twister'), ``rng("shuffle")`` (a seed from the operating
    system), ``s = rng()`` (the current settings: Type, Seed, State) and ``rng(s)`` (restore
    settings saved earlier).

    It seeds minidl's generator (weights, shuffling, dropout) and NumPy's global one, so
    ``np.random.rand`` in a ported script is reproducible too. With the 'twister' generator
    (MATLAB's default) NumPy's global Mersenne Twister gets MATLAB's seeding (seed 0 is
    MT seed 5489), so ``np.random.rand(1, 3)`` after ``rng(0)`` gives MATLAB's
    ``rand(1, 3)``: 0.8147 0.9058 0.1270 (``np.random.rand`` only; minidl's own draws use
    NumPy's PCG64 and differ from MATLAB's). Other generator names are accepted and
    reported in ``Type``; they change nothing else.

    Example::

        >>> import numpy as np
        >>> import minidl
        >>> minidl.rng(42)
        >>> saved = minidl.rng()
        >>> saved.Seed, saved.Type
        (42, 'twister')
        >>> minidl.rng(0, "twister")
        >>> np.round(np.random.rand(1, 3), 4)
        array([[0.8147, 0.9058, 0.127 ]])
        >>> minidl.rng(saved)
    """
    global _generator, _seed, _type
    if seed is None and generator is None:
        return Struct(Type=_type, Seed=_seed, State=_generator.bit_generator.state,
                      NumPyState=np.random.get_state())
    if isinstance(seed, dict) and "State" in seed:
        _seed = seed.get("Seed", _seed)
        _type = seed.get("Type", _type) if seed.get("Type") in GENERATORS else _type
        _generator = np.random.default_rng()
        _generator.bit_generator.state = seed["State"]
        if "NumPyState" in seed:
            np.random.set_state(seed["NumPyState"])
        return None
    kind = _type if generator is None else _generator_name(generator)
    if seed is None:
        seed = _seed
    if isinstance(seed, str) and seed.lower() in ("default", "shuffle"):
        if seed.lower() == "default":
            seed, kind = 0, "twister" if generator is None else kind
        else:
            seed = int(np.random.SeedSequence().entropy % 2**32)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"rng: seed must be a nonnegative integer, 'default', 'shuffle' or settings from "
                         f"rng(); received {seed!r}.")
    _seed, _type = int(seed), kind
    _generator = np.random.default_rng(_seed)
    np.random.seed((5489 if _seed == 0 else _seed) if _seed < 2**32 else
                   np.random.SeedSequence(_seed).generate_state(4))
    return None


def _generator_name(generator):
    if isinstance(generator, str):
        for name in GENERATORS:
            if generator.lower() == name.lower():
                return name
    raise ValueError(f"rng: generator must be one of {', '.join(GENERATORS)}; received {generator!r}.")


def generator():
    """The current global ``numpy.random.Generator``."""
    return _generator
