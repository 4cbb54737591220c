"""Compile (or load from Numba's on-disk cache) the kernels the suite runs, for one dtype.

On a fresh clone no kernel is cached yet, and compiling them is most of the suite's time.
Under pytest-xdist each worker would compile the kernels its first tests need, both workers
the same ones at the same moment. tests/conftest.py therefore runs this file once per dtype,
in two processes at once, before the workers start (``python tests/kernels/kernel_warmup.py float32``);
the workers then load what it cached. The kernel tests' own warm fixtures call the same
functions. Only compiling is done here: every result is checked by the tests themselves.
"""
import sys

import numpy as np


def batchnorm(dtype):
    """Every batch-norm kernel: images and features, training, inference and the
    synchronized (gradient sums) backward."""
    from minidl.kernels import batchnorm as bn

    for shape in ((2, 3, 4, 5), (6, 3)):
        x = np.ones(shape, dtype)
        one, zero = np.ones(3), np.zeros(3)
        y, mean, var = bn.bn_forward_train(x, one, zero, 1e-5)
        bn.bn_backward(x, x, mean, var, one, zero, 1e-5)
        bn.bn_inference(x, one, zero)
        bn.bn_stats(x)
        bn.bn_apply(x, mean, var, one, zero, 1e-5)
        sums = bn.bn_gradient_sums(x, x, mean, var, one, zero, 1e-5)
        bn.bn_backward_from_sums(x, x, mean, var, one, zero, 1e-5, sums, shape[0])
    return bn


def convolution(dtype):
    """Every convolution kernel; strides and pads are values, not types."""
    from minidl.kernels import conv

    x, w = np.ones((2, 2, 5, 5), dtype), np.ones((3, 3, 2, 3), dtype)
    z = conv.conv2d_forward(x, w, np.zeros(3, dtype), (1, 1), (1, 1), (1, 1, 1, 1))
    conv.conv2d_backward_input(z, w, x.shape, (1, 1), (1, 1), (1, 1, 1, 1))
    conv.conv2d_backward_weights(z, x, (1, 1), (1, 1), (1, 1, 1, 1), dw=np.empty_like(w))
    return conv


def others(dtype):
    """Pooling (2x2 and general windows), softmax, element-wise and group-norm kernels."""
    from minidl.kernels import elementwise as ew, groupnorm as gn, pooling as pk, softmax as sk

    x = np.ones((2, 4, 6, 6), dtype)
    for pool, stride, pads in (((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (1, 1), (1, 1, 1, 1))):
        out, argmax = pk.max_pool2d_forward(x, pool, stride, pads)
        pk.max_pool2d_predict(x, pool, stride, pads)
        pk.max_pool2d_backward(out, argmax, x.shape)
        pk.avg_pool2d_backward(pk.avg_pool2d_forward(x, pool, stride, pads, True), x.shape, pool, stride, pads, True)
    pk.global_avg_pool_backward(pk.global_avg_pool_forward(x), x.shape)
    for rows in (2, sk.BLOCK):
        z = np.ones((rows, 3), dtype)
        sk.softmax_forward(z)
        sk.softmax_cross_entropy(z, z)
    ew.relu_backward(x, ew.add(x, x, relu=True))
    ew.add_max_pool(x, x, relu=True)
    ew.erf(x)
    y, mean, rstd = gn.gn_forward(x, 2, np.ones(4), np.zeros(4), 1e-5)
    gn.gn_backward(y, x, 2, mean, rstd, np.ones(4))


if __name__ == "__main__":
    for family in (batchnorm, convolution, others):
        family(np.dtype(sys.argv[1]).type)
