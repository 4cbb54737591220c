"""Issue 12's layers (sigmoid, tanh, ELU, GELU, flatten, transposed convolution, instance and
cross-channel normalization): float64 finite-difference checks, formulas against hand-written
NumPy, MATLAB's defaults, and the exported layer classes."""
import math

import numpy as np
import pytest

import minidl

CASES = [
    ("sigmoid", lambda: minidl.sigmoidLayer(), (4, 3, 2)),
    ("tanh", lambda: minidl.tanhLayer(), (5,)),
    ("elu", lambda: minidl.eluLayer(), (4, 3, 2)),
    ("elu alpha 0.3", lambda: minidl.eluLayer(0.3), (6,)),
    ("gelu", lambda: minidl.geluLayer(), (4, 3, 2)),
    ("gelu tanh", lambda: minidl.geluLayer(Approximation="tanh"), (6,)),
    ("flatten", lambda: minidl.flattenLayer(), (3, 4, 2)),
    ("flatten features", lambda: minidl.flattenLayer(), (5,)),
    ("transposed conv", lambda: minidl.transposedConv2dLayer(3, 2), (4, 3, 2)),
    ("transposed conv stride/crop", lambda: minidl.transposedConv2dLayer([4, 3], 3, Stride=[2, 3],
                                                                          Cropping=[1, 2, 0, 1]), (3, 4, 2)),
    ("transposed conv same", lambda: minidl.transposedConv2dLayer(3, 2, Stride=2, Cropping="same"), (3, 4, 2)),
    ("transposed conv same k<s", lambda: minidl.transposedConv2dLayer(2, 2, Stride=3, Cropping="same"), (3, 2, 2)),
    ("instancenorm", lambda: minidl.instanceNormalizationLayer(Scale=np.array([1.0, -2.0, 0.5])), (4, 3, 3)),
    ("crossnorm 5", lambda: minidl.crossChannelNormalizationLayer(5, Alpha=0.5, K=1), (3, 2, 7)),
    ("crossnorm 4 (asymmetric)", lambda: minidl.crossChannelNormalizationLayer(4, Alpha=2.0, Beta=0.6), (2, 3, 6)),
]


@pytest.mark.parametrize("name,make,size", CASES, ids=[c[0] for c in CASES])
def test_layer_gradients(name, make, size):
    results = minidl.checkLayer(make(), size, verbose=False)
    assert all(passed for _, passed, _ in results)


X = np.random.default_rng(0).standard_normal((2, 3, 4, 5)) * 2


def test_activation_formulas():
    np.testing.assert_allclose(minidl.sigmoidLayer().predict(X), 1 / (1 + np.exp(-X)), rtol=1e-12)
    np.testing.assert_allclose(minidl.tanhLayer().predict(X), np.tanh(X))
    np.testing.assert_allclose(minidl.eluLayer(0.7).predict(X), np.where(X > 0, X, 0.7 * (np.exp(X) - 1)))
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(minidl.geluLayer().predict(X), X / 2 * (1 + erf(X / math.sqrt(2))), rtol=1e-12)
    tanh = X / 2 * (1 + np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X ** 3)))
    np.testing.assert_allclose(minidl.geluLayer(Approximation="tanh").predict(X), tanh, rtol=1e-12)
    assert minidl.sigmoidLayer().predict(np.array([-1000.0, 1000.0])).tolist() == [0.0, 1.0]


def test_defaults_and_names():
    assert minidl.eluLayer().Alpha == 1 and minidl.eluLayer().DefaultName == "elu"
    assert minidl.geluLayer().Approximation == "none"
    c = minidl.crossChannelNormalizationLayer(5)
    assert (c.WindowChannelSize, c.Alpha, c.Beta, c.K) == (5, 1e-4, 0.75, 2)
    t = minidl.transposedConv2dLayer(3, 8)
    assert (t.Stride, t.Cropping, t.NumChannels, t.WeightL2Factor, t.BiasL2Factor) == ((1, 1), (0, 0, 0, 0), "auto", 1, 0)
    assert minidl.instanceNormalizationLayer().Epsilon == 1e-5
    for bad in (lambda: minidl.eluLayer(-1), lambda: minidl.geluLayer(Approximation="erf"),
                lambda: minidl.crossChannelNormalizationLayer(17), lambda: minidl.transposedConv2dLayer(3, 2, Cropping="valid")):
        with pytest.raises(ValueError):
            bad()


def test_flatten_is_matlabs_column_major_order():
    Xm = np.arange(2 * 3 * 4 * 2, dtype=float).reshape(2, 3, 4, 2, order="F")   # h×w×c×n, MATLAB
    internal = np.ascontiguousarray(Xm.transpose(3, 2, 0, 1))
    out = minidl.flattenLayer().predict(internal)
    np.testing.assert_array_equal(out, Xm.reshape(24, 2, order="F").T)          # MATLAB's X(:, n)


def test_transposed_convolution_against_scatter_definition():
    rng = np.random.default_rng(1)
    layer = minidl.transposedConv2dLayer([3, 2], 4, Stride=[2, 1], Cropping=[1, 0, 0, 1])
    size = layer.initialize((3, 4, 2), rng)
    W, B = layer.Weights.astype(float), rng.standard_normal((1, 1, 4))
    layer.Bias = B.astype(np.float32)
    Xi = rng.standard_normal((2, 2, 3, 4))
    full = np.zeros((2, 4, 2 * 2 + 3, 3 + 2))
    for i in range(3):
        for j in range(4):
            for u in range(3):
                for v in range(2):
                    full[:, :, 2 * i + u, j + v] += Xi[:, :, i, j] @ W[u, v].T
    expected = full[:, :, 1:, :-1] + B.reshape(1, -1, 1, 1)
    got = layer.predict(Xi)
    assert got.shape[2:] == size[:2] == (6, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    same = minidl.transposedConv2dLayer(4, 1, Stride=2, Cropping="same")
    assert same.initialize((5, 3, 1), rng) == (10, 6, 1)


def test_cross_channel_normalization_formula():
    layer = minidl.crossChannelNormalizationLayer(4, Alpha=0.3, Beta=0.6, K=1.5)
    C = X.shape[1]
    expected = np.empty_like(X)
    for c in range(C):
        window = range(max(c - 1, 0), min(c + 2, C - 1) + 1)          # floor(3/2)=1 before, 2 after
        ss = sum(X[:, k] ** 2 for k in window)
        expected[:, c] = X[:, c] / (1.5 + 0.3 * ss / 4) ** 0.6
    np.testing.assert_allclose(layer.predict(X), expected, rtol=1e-12)


def test_instance_normalization_formula():
    layer = minidl.instanceNormalizationLayer()
    layer.initialize((4, 5, 3), None)
    mean, var = X.mean(axis=(2, 3), keepdims=True), X.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(layer.predict(X), (X - mean) / np.sqrt(var + 1e-5), rtol=1e-6, atol=1e-6)


def test_layer_classes_are_exported():
    assert isinstance(minidl.fullyConnectedLayer(3), minidl.FullyConnectedLayer)
    assert isinstance(minidl.transposedConv2dLayer(3, 2), minidl.TransposedConvolution2DLayer)
    for name in minidl.__all__:
        value = getattr(minidl, name)
        if name.endswith("Layer") and isinstance(value, type):
            assert issubclass(value, minidl.Layer), name


def test_new_layers_train_and_save(tmp_path):
    Xd = np.random.default_rng(2).random((6, 6, 2, 12)).astype(np.float32)
    Y = np.arange(12) % 2
    layers = [minidl.imageInputLayer([6, 6, 2], Normalization="none"), minidl.convolution2dLayer(3, 3),
              minidl.crossChannelNormalizationLayer(3), minidl.geluLayer(),
              minidl.transposedConv2dLayer(2, 2, Stride=2), minidl.instanceNormalizationLayer(),
              minidl.eluLayer(), minidl.tanhLayer(), minidl.sigmoidLayer(), minidl.flattenLayer(),
              minidl.fullyConnectedLayer(2), minidl.softmaxLayer(), minidl.classificationLayer()]
    options = minidl.trainingOptions("adam", MaxEpochs=2, MiniBatchSize=6, Verbose=False)
    net, _ = minidl.trainNetwork(Xd, Y, layers, options)
    before = minidl.predict(net, Xd)
    minidl.save(str(tmp_path / "n.npz"), net)
    again = minidl.load(str(tmp_path / "n.npz")).net
    np.testing.assert_allclose(minidl.predict(again, Xd), before, rtol=1e-6)
