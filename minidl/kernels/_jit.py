"""What every kernel shares: how it is compiled (Numba's ``njit`` with an on-disk cache
when there is a folder to keep it in, without one, rather than failing, when there is
none, and with a cache that notices edits of the helpers a kernel calls from other
files), and how it takes the array it writes to (``output``).

Every kernel is decorated with ``kernel(...)`` instead of ``numba.njit(cache=True, ...)``
so that the caching policy lives in one place.

Where the cache goes is Numba's choice, made when a function is decorated (at import),
first match wins:

1. ``NUMBA_CACHE_DIR``, if set and writable;
2. ``__pycache__`` beside the source file, if writable (a development checkout);
3. the user cache folder, ``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba`` on Linux
   (a read-only site-packages).

If none of them is writable, Numba raises ``RuntimeError: cannot cache function ...: no
locator available`` from the decorator, so the import of the kernel module fails. Here
the kernel is then compiled without a cache instead: it works, but every new process
compiles it again (seconds per kernel), and one ``KernelCacheWarning`` says so.

When a cached entry is valid: Numba keys it on the hash of the kernel's own source
file, so a kernel calling a helper from another file would keep running the old,
cached helper after the helper's file changed. Here the key also covers every module
of the kernel's package that the kernel's module takes names from, transitively.
"""
import functools
import hashlib
import os
import sys
import types
import warnings

import numba
import numpy as np
from numba import njit
from numba.core import caching


# Numba's threading layer, chosen at the first parallel kernel: OpenMP where Numba finds
# it (it starts parallel regions fastest), else TBB, else Numba's own workqueue. The
# thread policy that makes any of them safe next to BLAS is in minidl/threads.py; an
# explicit NUMBA_THREADING_LAYER wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]


class KernelCacheWarning(RuntimeWarning):
    """No writable folder for Numba's kernel cache: kernels compile in every process."""


def kernel(**options):
    """``numba.njit(cache=True, **options)``, or uncached when no cache folder is writable;
    usable as ``@kernel()`` or ``@kernel(parallel=True)``."""
    def decorate(function):
        dispatcher = njit(**options)(function)
        if not hasattr(dispatcher, "enable_caching"):     # NUMBA_DISABLE_JIT=1: plain Python
            return dispatcher
        try:
            # What Dispatcher.enable_caching() does, with minidl's cache keys.
            dispatcher._cache = _KernelCache(function)
        except RuntimeError:                              # Numba found no writable folder
            _warn_uncached()
        return dispatcher
    return decorate


def output(out, like):
    """The array a kernel writes its result to: ``out`` if given (checked: C-contiguous,
    of ``like``'s shape and dtype), else a new uninitialised array like ``like``. The caller
    owns the buffers; a kernel keeps nothing between calls."""
    if out is None:
        return np.empty(like.shape, like.dtype)
    if out.shape != like.shape or out.dtype != like.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {like.dtype} array of shape {like.shape}, "
                         f"got {out.dtype} {out.shape} (C-contiguous: {out.flags.c_contiguous}).")
    return out


@functools.cache
def _warn_uncached():
    # Cached: the first kernel without a cache warns, the others of the process do not.
    warnings.warn(
        "minidl: no writable folder for Numba's kernel cache (neither NUMBA_CACHE_DIR, nor "
        "the package's __pycache__, nor the user cache folder ~/.cache/numba), so minidl's "
        "kernels run uncached and are compiled again in every new process, which takes "
        "seconds per kernel. To fix it, set the environment variable NUMBA_CACHE_DIR to a "
        "writable folder before starting Python.",
        KernelCacheWarning, stacklevel=3)


def _source_files(module, found):
    """module's source file and, transitively, those of the modules of its package from
    which it imports functions (or which it imports)."""
    found.add(module.__file__)
    package = module.__name__.rpartition(".")[0]
    for value in list(vars(module).values()):
        name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        if not (package and isinstance(name, str) and name.rpartition(".")[0] == package):
            continue
        other = sys.modules.get(name)
        if getattr(other, "__file__", None) not in found | {None}:
            _source_files(other, found)
    return found


@functools.lru_cache(maxsize=None)
def _file_digest(path, mtime_ns, size):
    # Keyed on mtime and size too, so that a file edited while the process runs is read again.
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).digest()


class _SourcesStamp:
    """Mixin for Numba's cache locators: the source stamp (an entry is valid while it is
    unchanged) hashes the kernel's file and the sibling files it depends on. Kernels whose
    source is not a module's plain file (in a zip, an IPython cell) keep Numba's stamp."""

    @classmethod
    def from_function(cls, py_func, py_file):
        locator = super().from_function(py_func, py_file)
        if locator is not None:
            module = sys.modules.get(py_func.__module__)
            plain = getattr(module, "__file__", None) == py_file and os.path.isfile(py_file)
            locator.kernel_module = module if plain else None
        return locator

    def get_source_stamp(self):
        if self.kernel_module is None:
            return super().get_source_stamp()
        digest = hashlib.sha256()
        for path in sorted(_source_files(self.kernel_module, set())):
            stat = os.stat(path)
            digest.update(os.path.basename(path).encode())
            digest.update(_file_digest(path, stat.st_mtime_ns, stat.st_size))
        return digest.hexdigest()


class _CacheImpl(caching.CompileResultCacheImpl):
    # Numba's own locators, in its order, each with the stamp above.
    _locator_classes = [type(base.__name__, (_SourcesStamp, base), {})
                        for base in caching.CompileResultCacheImpl._locator_classes]


class _KernelCache(caching.FunctionCache):
    _impl_class = _CacheImpl
