"""How minidl compiles its kernels: Numba's ``njit`` with an on-disk cache.

Every kernel is decorated with ``kernel(...)`` instead of ``numba.njit(cache=True, ...)``
so that the caching policy lives in one place.
"""
from numba import njit


def kernel(**options):
    """``numba.njit(cache=True, **options)``; usable as ``@kernel()`` or ``@kernel(parallel=True)``."""
    def decorate(function):
        return njit(cache=True, **options)(function)
    return decorate
