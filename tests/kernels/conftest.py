import numpy as np
import pytest


@pytest.fixture(scope="session")
def bn_warm():
    """Compile (or load from Numba's cache) every batch-norm kernel once per session:
    float32 and float64, images and features. relu is a runtime flag, not a type."""
    from minidl.kernels import batchnorm as bn

    for dtype in (np.float32, np.float64):
        for shape in ((2, 3, 4, 5), (6, 3)):
            x = np.ones(shape, dtype)
            one, zero = np.ones(3), np.zeros(3)
            y, mean, var = bn.bn_forward_train(x, one, zero, 1e-5)
            bn.bn_backward(x, x, mean, var, one, zero, 1e-5)
            bn.bn_inference(x, one, zero)
            bn.bn_stats(x)
    return bn


@pytest.fixture(scope="session")
def conv_warm():
    """Compile (or load from Numba's cache) every convolution kernel once per session,
    float32 and float64; strides and pads are values, not types."""
    from minidl.kernels import conv

    for dtype in (np.float32, np.float64):
        x, w = np.ones((2, 2, 5, 5), dtype), np.ones((3, 3, 2, 3), dtype)
        z = conv.conv2d_forward(x, w, np.zeros(3, dtype), (1, 1), (1, 1), (1, 1, 1, 1))
        conv.conv2d_backward_input(z, w, x.shape, (1, 1), (1, 1), (1, 1, 1, 1))
        conv.conv2d_backward_weights(z, x, (1, 1), (1, 1), (1, 1, 1, 1), dw=np.empty_like(w))
    return conv


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
