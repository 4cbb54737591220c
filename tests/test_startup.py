"""Start-up: ``import minidl`` loads no heavy library, and the kernel cache never fails.

Each test runs Python in a fresh process. The tests run as root in CI, and root ignores
permission bits, so a folder is made unwritable by putting a regular file where it (or
one of its parents) would be: Numba's cache locators then fail to create it exactly as
they do for a user without write permission.
"""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import minidl

ROOT = Path(__file__).resolve().parents[1]


def run(script, cwd, **env):
    """Run ``script`` with ``cwd`` first on sys.path and Numba's cache settings and the
    home folder only as given; the finished process."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    full_env.update(PYTHONPATH=str(cwd), PYTHONDONTWRITEBYTECODE="1", **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


# ---------------------------------------------------------------- import minidl

def test_import_minidl_loads_no_heavy_library():
    """The proxy for a fast import that a noisy machine cannot break: Numba, networkx,
    tqdm and matplotlib load with the first function that needs them, not before
    (the measured times are in docs/performance.md)."""
    out = run("""
        import sys
        import minidl
        print(sorted(m for m in ("numba", "networkx", "tqdm", "matplotlib") if m in sys.modules))
        print(minidl.trainNetwork.__module__, minidl.datasets.__name__)
    """, ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "minidl.training.loop minidl.datasets"]


def test_public_names_are_the_lazy_imports_and_all_resolve():
    lazy = set(minidl._SOURCES) - {"datasets"}
    assert lazy == set(minidl.__all__)
    assert set(minidl.__all__) <= set(dir(minidl))
    for name in minidl.__all__:
        assert getattr(minidl, name) is not None


def test_load_knows_every_layer_class_after_a_bare_import():
    """load() finds layer classes among Layer's subclasses, which exist only once their
    modules are imported: after a bare ``import minidl`` it must import them itself."""
    script = """
        import minidl{}
        from minidl.io.format import layer_classes
        print(sorted(layer_classes()))
    """
    bare, full = (run(script.format(extra), ROOT) for extra in ("", "; from minidl import *"))
    assert bare.returncode == 0 and full.returncode == 0, bare.stderr + full.stderr
    assert bare.stdout == full.stdout and "Convolution2DLayer" in bare.stdout


# ---------------------------------------------------------------- kernel cache

def package_without_pycache(tmp_path):
    """A copy of minidl whose kernels cannot cache beside their source (a file holds the
    name __pycache__), as in a read-only site-packages; the folder to put on sys.path."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "minidl", src / "minidl", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "minidl" / "kernels" / "__pycache__").write_text("not a folder")
    return src


_INFERENCE = """
    import numpy as np
    from minidl.kernels import batchnorm as bn
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert np.array_equal(bn.bn_inference(x, np.full(3, 2.0), np.ones(3)), 2 * x + 1)
    stats = bn._affine_nchw.stats
    print(stats.cache_path)
    print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


def test_read_only_package_caches_kernels_in_the_user_folder(tmp_path):
    src = package_without_pycache(tmp_path)
    env = dict(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    first, second = run(_INFERENCE, src, **env), run(_INFERENCE, src, **env)
    for out in (first, second):
        assert out.returncode == 0, out.stderr
        assert "KernelCacheWarning" not in out.stderr
    path, counts = first.stdout.split("\n")[:2]
    assert Path(path).parent == tmp_path / "cache" / "numba" and counts == "0 1"   # compiled, saved
    assert any(Path(path).glob("_bn_layouts._affine_nchw-*.nbi"))
    assert second.stdout.split("\n")[:2] == [path, "1 0"]                          # loaded


_UNCACHED = """
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from minidl.kernels import batchnorm as bn, groupnorm as gn, reference as ref
        from minidl.kernels._jit import KernelCacheWarning
    messages = [str(w.message) for w in caught if issubclass(w.category, KernelCacheWarning)]
    print(len(messages))
    print("NUMBA_CACHE_DIR" in messages[0])
    import numpy as np
    x = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32) * 3 + 1
    s, o = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    y, mean, var = bn.bn_forward_train(x, s, o, 1e-5, relu=True)
    y_ref, mean_ref, var_ref = ref.bn_forward_train(x, s, o, 1e-5, relu=True)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, var_ref, rtol=1e-12)
    print(bn._forward_nc.stats.cache_path)
"""


def test_nothing_writable_runs_kernels_uncached_with_one_warning(tmp_path):
    """No NUMBA_CACHE_DIR, __pycache__ or user cache folder can be created (each lies below
    a regular file): Numba itself raises "cannot cache function ...: no locator
    available" at import; minidl compiles uncached and warns once for all kernels."""
    src = package_without_pycache(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so nothing below it can be created")
    out = run(_UNCACHED, src, HOME=str(blocker), XDG_CACHE_HOME=str(blocker / "cache"),
              NUMBA_CACHE_DIR=str(blocker / "numba"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["1", "True", "None"]


# ---------------------------------------------------------------- cache keys

def test_cached_kernel_sees_an_edit_of_a_helper_in_another_file(tmp_path):
    """Numba keys a cached function on its own file only: after an edit of a helper in a
    sibling file the caller would still run the old, cached helper. minidl's keys cover
    the sibling kernel files a module imports from."""
    package = tmp_path / "src" / "kern"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "minidl" / "kernels" / "_jit.py", package / "_jit.py")
    (package / "helper.py").write_text("from ._jit import kernel\n\n\n@kernel()\ndef h(x):\n    return x + 1.0\n")
    (package / "main.py").write_text("from ._jit import kernel\nfrom .helper import h\n\n\n"
                                     "@kernel()\ndef f(x):\n    return h(x)\n")
    script = """
        from kern.main import f
        print(f(1.0), sum(f.stats.cache_hits.values()))
    """
    env = dict(NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    outs = [run(script, tmp_path / "src", **env) for _ in range(2)]
    (package / "helper.py").write_text((package / "helper.py").read_text().replace("1.0", "2.0"))
    outs.append(run(script, tmp_path / "src", **env))
    assert all(out.returncode == 0 for out in outs), [out.stderr for out in outs]
    assert [out.stdout.strip() for out in outs] == ["2.0 0", "2.0 1", "3.0 0"]
