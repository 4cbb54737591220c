"""The affine-warp kernel (minidl/kernels/affine_warp.py) against its NumPy float64 twin
(reference_warp.py): bit-identical, compiled and with NUMBA_DISABLE_JIT=1, on transforms
that send pixels inside, across the border and far outside the image."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from minidl.kernels import reference_warp
from minidl.kernels.affine_warp import affine_warp

ROOT = Path(__file__).resolve().parents[2]


def cases(dtype, seed=0):
    """Images N×H×W×C and inverse transforms: random affine maps (rotation up to 60°,
    scales 0.4–2.5, shifts up to 1.5 image sizes), the identity and a quarter turn."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((7, 6, 9, 3)).astype(dtype)
    inverse = np.tile(np.eye(3), (7, 1, 1))
    for n in range(5):
        angle = np.radians(rng.uniform(-60, 60))
        linear = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        inverse[n, :2, :2] = linear * rng.uniform(0.4, 2.5, 2)
        inverse[n, 2, :2] = rng.uniform(-1.5, 1.5, 2) * [9, 6]
    inverse[6, :2, :2] = [[0, -1], [1, 0]]
    inverse[6, 2, :2] = [4, -4]
    fill = np.array([0.5, -2.0, 7.0], dtype)
    return images, inverse, fill


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_equals_twin_bit_for_bit(dtype):
    images, inverse, fill = cases(dtype)
    got = affine_warp(images, inverse, fill)
    want = reference_warp.affine_warp(images, inverse, fill)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[5], images[5])                   # the identity
    assert np.any(got == fill) and np.any((got != fill) & (got != 0))   # some fill, some image


def test_kernel_writes_into_out_and_checks_it():
    images, inverse, fill = cases(np.float32, seed=1)
    out = np.empty_like(images)
    assert affine_warp(images, inverse, fill, out=out) is out
    with pytest.raises(ValueError, match="out must be a C-contiguous float32 array"):
        affine_warp(images, inverse, fill, out=np.empty(images.shape, np.float64))


_NO_JIT = textwrap.dedent("""
    import numpy as np
    from minidl.kernels import reference_warp
    from minidl.kernels.affine_warp import affine_warp
    import numba
    assert numba.config.DISABLE_JIT
    from tests.data.test_augmentation_kernel import cases
    for dtype in (np.float32, np.float64):
        images, inverse, fill = cases(dtype, seed=2)
        assert np.array_equal(affine_warp(images, inverse, fill), reference_warp.affine_warp(images, inverse, fill))
    print("ok")
""")


def test_kernel_equals_twin_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", _NO_JIT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
