"""Layers against independent float64 references and MATLAB's documented behaviour."""
import numpy as np
import pytest

import minidl
from minidl.layers.naming import assign_names


def naive_conv(X, W, b, stride, dilation, pads):
    """Direct loops over MATLAB-shaped weights W (kh, kw, C, F); X is N×C×H×W."""
    N, C, H, Wd = X.shape
    kh, kw, _, F = W.shape
    top, bottom, left, right = pads
    Xp = np.zeros((N, C, H + top + bottom, Wd + left + right))
    Xp[:, :, top:top + H, left:left + Wd] = X
    Ho = (Xp.shape[2] - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    Wo = (Xp.shape[3] - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    Z = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            for u in range(kh):
                for v in range(kw):
                    patch = Xp[:, :, i * stride[0] + u * dilation[0], j * stride[1] + v * dilation[1]]
                    Z[:, :, i, j] += patch @ W[u, v]
    return Z + b.reshape(1, F, 1, 1)


@pytest.mark.parametrize("kwargs,size", [
    (dict(Padding="same"), (7, 6, 3)),
    (dict(Stride=2, Padding="same"), (7, 6, 2)),
    (dict(Stride=[2, 3], DilationFactor=[2, 1], Padding=[1, 2, 0, 1]), (9, 8, 2)),
    (dict(), (5, 5, 1)),
])
def test_convolution_matches_direct_loops(kwargs, size):
    rng = np.random.default_rng(0)
    h, w, c = size
    W = rng.standard_normal((3, 2, c, 4))
    b = rng.standard_normal((1, 1, 4))
    layer = minidl.convolution2dLayer([3, 2], 4, Weights=W, Bias=b, **kwargs)
    out = layer.initialize(size, rng)
    layer.Weights, layer.Bias = W, b
    X = rng.standard_normal((2, c, h, w))
    Z = layer.predict(X)
    expected = naive_conv(X, W, b, layer.Stride, layer.DilationFactor, layer.PaddingSize)
    np.testing.assert_allclose(Z, expected, rtol=1e-10, atol=1e-10)
    assert out == (Z.shape[2], Z.shape[3], 4)


def test_same_padding_puts_extra_pixel_bottom_right():
    layer = minidl.convolution2dLayer(4, 1, Padding="same")
    assert layer.initialize((8, 8, 1), np.random.default_rng(0)) == (8, 8, 1)
    assert layer.PaddingSize == (1, 2, 1, 2)
    layer = minidl.convolution2dLayer(3, 1, Stride=2, Padding="same")
    assert layer.initialize((7, 7, 1), np.random.default_rng(0)) == (4, 4, 1)


def test_glorot_initialization_bounds_and_zero_bias():
    layer = minidl.convolution2dLayer(3, 16)
    minidl.rng(0)
    layer.initialize((10, 10, 8), np.random.default_rng(0))
    bound = np.sqrt(6 / (9 * 8 + 9 * 16))
    assert layer.Weights.shape == (3, 3, 8, 16) and layer.Weights.dtype == np.float32
    assert np.abs(layer.Weights).max() <= bound and np.abs(layer.Weights).max() > 0.9 * bound
    assert np.all(layer.Bias == 0) and layer.Bias.shape == (1, 1, 16)
    assert (layer.WeightL2Factor, layer.BiasL2Factor, layer.WeightLearnRateFactor) == (1, 0, 1)


def test_fully_connected_flattens_in_matlab_column_major_order():
    """Z = W · x(:) + b with x(:) MATLAB's column-major vector of the h×w×c image."""
    rng = np.random.default_rng(1)
    image = rng.standard_normal((3, 4, 2))  # h×w×c, MATLAB layout
    W = rng.standard_normal((5, 24))
    b = rng.standard_normal((5, 1))
    layers = [minidl.imageInputLayer([3, 4, 2], Normalization="none"),
              minidl.fullyConnectedLayer(5, Weights=W, Bias=b)]
    fc = layers[1]
    fc.initialize((3, 4, 2), rng)
    internal = image.transpose(2, 0, 1)[None]  # 1×C×H×W
    expected = W @ image.reshape(-1, order="F") + b[:, 0]
    np.testing.assert_allclose(fc.predict(internal)[0], expected, rtol=1e-5)


def test_predict_public_layout_end_to_end():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((3, 12)).astype(np.float32)
    layers = [minidl.imageInputLayer([2, 3, 2], Normalization="none"),
              minidl.fullyConnectedLayer(3, Weights=W, Bias=np.zeros((3, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["x", "y", "z"])]
    net = minidl.assembleNetwork(layers)
    X = rng.standard_normal((2, 3, 2, 4)).astype(np.float32)  # H×W×C×N
    logits = np.stack([W @ X[..., n].reshape(-1, order="F") for n in range(4)])
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(minidl.predict(net, X), expected, rtol=1e-5)
    labels, _ = minidl.classify(net, X)
    assert list(labels) == list(np.array(["x", "y", "z"])[expected.argmax(1)])
    bcss = X.transpose(3, 2, 0, 1)
    np.testing.assert_allclose(minidl.predict(net, bcss, DataFormat="BCSS"), expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"expects images of size 2×3×2; received 3×2×2"):
        minidl.predict(net, X.transpose(1, 0, 2, 3))


def naive_maxpool(X, pool, stride, pads):
    N, C, H, W = X.shape
    Xp = np.full((N, C, H + pads[0] + pads[1], W + pads[2] + pads[3]), -np.inf)
    Xp[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W] = X
    Ho = (Xp.shape[2] - pool[0]) // stride[0] + 1
    Wo = (Xp.shape[3] - pool[1]) // stride[1] + 1
    Z = np.empty((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            Z[:, :, i, j] = Xp[:, :, i * stride[0]:i * stride[0] + pool[0],
                               j * stride[1]:j * stride[1] + pool[1]].max(axis=(2, 3))
    return Z


@pytest.mark.parametrize("kwargs", [dict(Stride=2), dict(), dict(Stride=2, Padding="same"),
                                    dict(Stride=[1, 2], Padding=[1, 0, 1, 1])])
def test_max_pooling_matches_direct_loops(kwargs):
    layer = minidl.maxPooling2dLayer([2, 3], **kwargs)
    layer.initialize((7, 8, 2), None)
    X = np.random.default_rng(3).standard_normal((2, 2, 7, 8))
    np.testing.assert_array_equal(layer.predict(X), naive_maxpool(X, (2, 3), layer.Stride, layer.PaddingSize))
    np.testing.assert_array_equal(layer.forward(X)[0], layer.predict(X))


def test_max_pooling_default_stride_is_one():
    assert minidl.maxPooling2dLayer(2).Stride == (1, 1)


def test_softmax_and_cross_entropy_formulas():
    X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    Y = minidl.softmaxLayer().predict(X)
    np.testing.assert_allclose(Y[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    T = np.array([[0, 0, 1.0], [1.0, 0, 0]])
    loss = minidl.classificationLayer().forwardLoss(Y, T)
    assert loss == pytest.approx(-(np.log(Y[0, 2]) + np.log(Y[1, 0])) / 2)


def test_matlab_automatic_names_of_the_example_network():
    layers = [minidl.imageInputLayer([28, 28, 1])]
    for filters in (8, 16, 32):
        layers += [minidl.convolution2dLayer(3, filters, Padding="same"),
                   minidl.batchNormalizationLayer(), minidl.reluLayer()]
        if filters != 32:
            layers.append(minidl.maxPooling2dLayer(2, Stride=2))
    layers += [minidl.fullyConnectedLayer(10), minidl.softmaxLayer(), minidl.classificationLayer()]
    assert assign_names(layers) == [
        "imageinput", "conv_1", "batchnorm_1", "relu_1", "maxpool_1", "conv_2", "batchnorm_2",
        "relu_2", "maxpool_2", "conv_3", "batchnorm_3", "relu_3", "fc", "softmax", "classoutput"]


def test_automatic_names_avoid_user_names():
    layers = [minidl.reluLayer(), minidl.reluLayer(Name="relu_1"), minidl.reluLayer()]
    assert assign_names(layers) == ["relu_2", "relu_1", "relu_3"]


def test_constructors_accept_positional_pairs_and_suggest_names():
    layer = minidl.convolution2dLayer(3, 8, "Padding", "same", "Stride", 2)
    assert layer.Padding == "same" and layer.Stride == (2, 2)
    with pytest.raises(ValueError, match="unknown option 'Padd'. Did you mean 'Padding'"):
        minidl.convolution2dLayer(3, 8, Padd=1)
    with pytest.raises(ValueError, match="Name-Value arguments must come in pairs"):
        minidl.reluLayer("Name")


def test_batchnorm_properties_defaults_and_shapes():
    layer = minidl.batchNormalizationLayer()
    assert (layer.Epsilon, layer.MeanDecay, layer.VarianceDecay) == (1e-5, 0.1, 0.1)
    assert (layer.ScaleL2Factor, layer.OffsetL2Factor, layer.ScaleLearnRateFactor) == (1, 1, 1)
    assert layer.TrainedMean is None and layer.NumChannels == "auto"
    layer.initialize((4, 4, 3), None)
    assert layer.Scale.shape == (1, 1, 3) and np.all(layer.Scale == 1) and np.all(layer.Offset == 0)
    features = minidl.batchNormalizationLayer(TrainedMean=[1, 2], TrainedVariance=[3, 4])
    features.initialize((2,), None)
    assert features.TrainedMean.shape == (2, 1) and features.Scale.shape == (2, 1)


@pytest.mark.parametrize("kwargs,message", [
    (dict(Epsilon=1e-6), r"Epsilon must be a finite scalar >= 1e-5 .*received 1e-06"),
    (dict(MeanDecay=1.5), r"MeanDecay must be a scalar in \[0, 1\]; received 1.5"),
    (dict(VarianceDecay=-0.1), r"VarianceDecay must be a scalar in \[0, 1\]"),
    (dict(Scale=[1, 1], Offset=[0, 0, 0]), r"must agree on the channel count"),
])
def test_batchnorm_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        minidl.batchNormalizationLayer(**kwargs)


def test_batchnorm_errors_name_the_layer():
    layer = minidl.batchNormalizationLayer(Name="bn1")
    layer.initialize((1, 1, 3), None)
    with pytest.raises(ValueError, match="bn1: TrainedMean and TrainedVariance are empty"):
        layer.predict(np.zeros((2, 3, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"bn1: batch normalization in training needs at least 2 values per channel.*has 1"):
        layer.forward(np.zeros((1, 3, 1, 1), np.float32))
    with pytest.raises(ValueError, match="bn1: expected input with 3 channels"):
        minidl.batchNormalizationLayer(Name="bn1", Scale=np.ones(3)).initialize((4, 4, 2), None)


def test_batchnorm_prediction_formula():
    rng = np.random.default_rng(4)
    g, o, m, v = rng.random(3) + 0.5, rng.standard_normal(3), rng.standard_normal(3), rng.random(3) + 0.1
    layer = minidl.batchNormalizationLayer(Scale=g, Offset=o, TrainedMean=m, TrainedVariance=v)
    layer.initialize((2, 2, 3), None)
    X = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    c = (None, slice(None), None, None)
    expected = g[c] * (X - m[c]) / np.sqrt(v[c] + 1e-5) + o[c]
    np.testing.assert_allclose(layer.predict(X), expected, rtol=1e-5, atol=1e-5)


def test_image_input_zerocenter_uses_per_channel_mean():
    layer = minidl.imageInputLayer([2, 2, 2])
    X = np.random.default_rng(5).random((5, 2, 2, 2)).astype(np.float32)
    stats = layer.statistics(X)
    np.testing.assert_allclose(stats["Mean"].reshape(-1), X.mean(axis=(0, 2, 3)), rtol=1e-6)
    assert stats["Mean"].shape == (1, 1, 2)
    with pytest.raises(ValueError, match="Normalization must be one of"):
        minidl.imageInputLayer([2, 2], Normalization="zscor")


def test_layers_accept_learnables_in_matlab_shapes_and_check_them():
    with pytest.raises(ValueError, match=r"Bias must have size 1×1×8; received 1×1×4"):
        minidl.convolution2dLayer(3, 8, Bias=np.zeros((1, 1, 4)))
    with pytest.raises(ValueError, match=r"Weights must be OutputSize×InputSize"):
        minidl.fullyConnectedLayer(10, Weights=np.zeros((4, 5)))
    layer = minidl.fullyConnectedLayer(10, Weights=np.zeros((10, 6)))
    with pytest.raises(ValueError, match="InputSize is 6 .* incoming activations have 12 elements"):
        layer.initialize((2, 2, 3), None)
