import numpy as np
import pytest

import kernel_warmup as warm


@pytest.fixture(scope="session")
def bn_warm():
    """Compile (or load from Numba's cache) every batch-norm kernel once per session:
    float32 and float64, images and features. relu is a runtime flag, not a type."""
    return [warm.batchnorm(dtype) for dtype in (np.float32, np.float64)][0]


@pytest.fixture(scope="session")
def conv_warm():
    """Compile (or load from Numba's cache) every convolution kernel once per session,
    float32 and float64; strides and pads are values, not types."""
    return [warm.convolution(dtype) for dtype in (np.float32, np.float64)][0]


@pytest.fixture
def run_in_subprocess(request):
    """``run(name, **env)``: the requesting test module's function ``name`` called in a fresh
    interpreter with extra environment variables (NUMBA_DISABLE_JIT, NUMBA_NUM_THREADS must
    be set before Numba starts); what it returns, as printed text."""
    from kernel_cases import run_python

    module = request.module.__name__

    def run(name, **env):
        script = (f"import sys; sys.path.insert(0, 'tests/kernels'); "
                  f"import {module} as m; print(m.{name}())")
        return run_python(script, **env).strip()
    return run
