"""Combination, dropout, leaky ReLU, average pooling, feature input and input normalizations,
regression output, group and layer normalization: float64 finite-difference checks, MATLAB
defaults and names, formulas against hand-written float64 NumPy, and errors."""
import numpy as np
import pytest

import minidl
from minidl import _rng
from minidl.layers.naming import assign_names
from minidl.layers.check import numerical_gradient


def to_internal(X):
    """MATLAB H×W×C×N → internal N×C×H×W."""
    return np.ascontiguousarray(X.transpose(3, 2, 0, 1))


# ---------------------------------------------------------------- gradient checks

@pytest.fixture
def fixed_dropout_masks(monkeypatch):
    """Every forward call draws the same u, so finite differences see one mask."""
    monkeypatch.setattr(_rng, "generator", lambda: np.random.default_rng(7))


IMAGE_STATS = dict(Mean=[0.5, -1.0], StandardDeviation=[2.0, 0.5], Min=[-3.0, -2.0], Max=[1.0, 4.0])
FEATURE_STATS = dict(Mean=[0.5, -1.0, 2.0], StandardDeviation=[2.0, 0.5, 1.0],
                     Min=[-3.0, -2.0, 0.0], Max=[1.0, 4.0, 0.5])

CASES = [
    ("leakyrelu image", lambda: minidl.leakyReluLayer(), (4, 3, 2)),
    ("leakyrelu features scale 0.3", lambda: minidl.leakyReluLayer(0.3), (6,)),
    ("avgpool 2/2", lambda: minidl.averagePooling2dLayer(2, Stride=2), (6, 6, 2)),
    ("avgpool overlapping same", lambda: minidl.averagePooling2dLayer(3, Stride=2, Padding="same"), (5, 6, 2)),
    ("avgpool mean padding", lambda: minidl.averagePooling2dLayer([2, 3], Padding=[1, 0, 2, 1],
                                                                  PaddingValue="mean"), (4, 5, 2)),
    ("gapool", lambda: minidl.globalAveragePooling2dLayer(), (3, 4, 3)),
    ("groupnorm 2 groups", lambda: minidl.groupNormalizationLayer(2, Scale=[1, 2, -1, 0.5]), (3, 4, 4)),
    ("groupnorm all-channels", lambda: minidl.groupNormalizationLayer("all-channels"), (3, 2, 3)),
    ("groupnorm channel-wise", lambda: minidl.groupNormalizationLayer("channel-wise"), (3, 4, 2)),
    ("groupnorm features", lambda: minidl.groupNormalizationLayer(3), (6,)),
    ("layernorm image", lambda: minidl.layerNormalizationLayer(Offset=[1, 2, 3]), (2, 3, 3)),
    ("layernorm features", lambda: minidl.layerNormalizationLayer(), (5,)),
    ("regression", lambda: minidl.regressionLayer(), (4,)),
    ("feature input zscore", lambda: minidl.featureInputLayer(3, Normalization="zscore", **FEATURE_STATS), (3,)),
    ("feature input rescale-symmetric",
     lambda: minidl.featureInputLayer(3, Normalization="rescale-symmetric", **FEATURE_STATS), (3,)),
    ("image input zscore", lambda: minidl.imageInputLayer([3, 2, 2], Normalization="zscore", **IMAGE_STATS),
     (3, 2, 2)),
    ("image input rescale-zero-one",
     lambda: minidl.imageInputLayer([3, 2, 2], Normalization="rescale-zero-one", **IMAGE_STATS), (3, 2, 2)),
]


@pytest.mark.parametrize("name,make,size", CASES, ids=[c[0] for c in CASES])
def test_layer_gradients(name, make, size):
    results = minidl.checkLayer(make(), size, verbose=False)
    assert all(passed for _, passed, _ in results)


def test_dropout_gradient(fixed_dropout_masks):
    results = minidl.checkLayer(minidl.dropoutLayer(0.4), (4, 3, 2), verbose=False)
    assert all(passed for _, passed, _ in results)


def check_multi_input(layer, sizes, seed=0, batch=3):
    """checkLayer's method for several inputs: L = Σ G ⊙ Z in float64, central differences
    for every input at random entries. Returns the output of forward."""
    rng = np.random.default_rng(seed)
    layer.Name = layer.Name or layer.DefaultName
    out_size = layer.initialize(sizes, rng)
    Xs = [rng.standard_normal((batch, s[-1], *s[:-1])) for s in sizes]
    Z, memory = layer.forward(*Xs)
    assert Z.shape == (batch, out_size[-1], *out_size[:-1])
    G = rng.standard_normal(Z.shape)
    dXs, grads = layer.backward(G, memory)
    assert grads == {} and len(dXs) == len(Xs)
    for X, dX in zip(Xs, dXs):
        assert dX.shape == X.shape
        picks = rng.choice(X.size, min(40, X.size), replace=False)
        numeric = numerical_gradient(lambda: float(np.sum(G * layer.forward(*Xs)[0])), X, picks)
        np.testing.assert_allclose(dX.reshape(-1)[picks], numeric, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(layer.predict(*Xs), Z)
    return Z, Xs


@pytest.mark.parametrize("make,sizes", [
    (lambda: minidl.additionLayer(2), [(3, 4, 2)] * 2),
    (lambda: minidl.additionLayer(3), [(5,)] * 3),
    (lambda: minidl.concatenationLayer(1, 2), [(2, 3, 2), (4, 3, 2)]),
    (lambda: minidl.concatenationLayer(2, 3), [(2, 3, 2), (2, 1, 2), (2, 2, 2)]),
    (lambda: minidl.concatenationLayer(3, 2), [(2, 3, 2), (2, 3, 1)]),
    (lambda: minidl.concatenationLayer(1, 2), [(3,), (4,)]),
    (lambda: minidl.depthConcatenationLayer(3), [(3, 2, 1), (3, 2, 2), (3, 2, 3)]),
    (lambda: minidl.depthConcatenationLayer(2), [(2,), (3,)]),
], ids=["add2", "add3 features", "concat H", "concat W", "concat C", "concat features", "depthcat",
        "depthcat features"])
def test_multi_input_gradients(make, sizes):
    check_multi_input(make(), sizes)


# ---------------------------------------------------------------- defaults and names

def test_matlab_default_names():
    layers = [minidl.featureInputLayer(4), minidl.additionLayer(2), minidl.concatenationLayer(1, 2),
              minidl.depthConcatenationLayer(2), minidl.dropoutLayer(), minidl.leakyReluLayer(),
              minidl.averagePooling2dLayer(2), minidl.globalAveragePooling2dLayer(),
              minidl.groupNormalizationLayer(2), minidl.layerNormalizationLayer(), minidl.regressionLayer()]
    assert [layer.DefaultName for layer in layers] == [
        "input", "addition", "concat", "depthcat", "dropout", "leakyrelu", "avgpool", "gapool",
        "groupnorm", "layernorm", "regressionoutput"]
    assert all(layer.Name == "" for layer in layers)
    assert assign_names([minidl.dropoutLayer(), minidl.reluLayer(), minidl.dropoutLayer()]) == [
        "dropout_1", "relu", "dropout_2"]


def test_defaults():
    assert minidl.dropoutLayer().Probability == 0.5
    assert minidl.leakyReluLayer().Scale == 0.01
    avg = minidl.averagePooling2dLayer(3)
    assert (avg.PoolSize, avg.Stride, avg.Padding, avg.PaddingValue) == ((3, 3), (1, 1), (0, 0, 0, 0), 0)
    assert minidl.featureInputLayer(4).Normalization == "none"
    assert minidl.imageInputLayer([2, 2, 1]).Normalization == "zerocenter"
    features = minidl.featureInputLayer(4)
    assert (features.InputSize, features.NumInputs, features.Mean, features.StandardDeviation,
            features.Min, features.Max) == ((4,), 0, None, None, None, None)
    assert minidl.regressionLayer().ResponseNames == []
    assert minidl.regressionLayer(ResponseNames=["a", "b"]).ResponseNames == ["a", "b"]
    add = minidl.additionLayer(3, Name="add")
    assert (add.Name, add.NumInputs, add.InputNames, add.NumOutputs, add.OutputNames) == (
        "add", 3, ("in1", "in2", "in3"), 1, ("out",))
    assert minidl.concatenationLayer(3, 2).Dim == 3
    assert minidl.depthConcatenationLayer(4).InputNames == ("in1", "in2", "in3", "in4")
    for layer in (minidl.groupNormalizationLayer(2), minidl.layerNormalizationLayer()):
        assert layer.Epsilon == 1e-5 and layer.NumChannels == "auto"
        assert (layer.ScaleLearnRateFactor, layer.OffsetLearnRateFactor,
                layer.ScaleL2Factor, layer.OffsetL2Factor) == (1, 1, 1, 1)
        layer.initialize((3, 3, 4), None)
        assert layer.Scale.shape == layer.Offset.shape == (1, 1, 4) and layer.NumChannels == 4
        assert np.all(layer.Scale == 1) and np.all(layer.Offset == 0) and layer.Scale.dtype == np.float32
    features = minidl.layerNormalizationLayer()
    features.initialize((5,), None)
    assert features.Scale.shape == (5, 1)
    assert minidl.groupNormalizationLayer("All-Channels").NumGroups == "all-channels"


def test_matlab_positional_pairs():
    assert minidl.dropoutLayer("Name", "d").Name == "d" and minidl.dropoutLayer("Name", "d").Probability == 0.5
    assert minidl.dropoutLayer(0.3, "Name", "d").Probability == 0.3
    assert minidl.leakyReluLayer(0.2, "Name", "lr").Name == "lr"
    assert minidl.additionLayer(2, "Name", "add").Name == "add"
    assert minidl.groupNormalizationLayer(2, "Epsilon", 1e-3).Epsilon == 1e-3
    with pytest.raises(ValueError, match="unknown option 'Probabilty'"):
        minidl.dropoutLayer(Probabilty=0.2)


def test_learnable_factors_of_group_normalization():
    layer = minidl.groupNormalizationLayer(1, ScaleLearnRateFactor=2, OffsetL2Factor=0)
    assert layer.learnable_factors("Scale") == (2.0, 1.0)
    assert layer.learnable_factors("Offset") == (1.0, 0.0)


# ---------------------------------------------------------------- formulas

def test_addition_is_the_sum_and_each_input_gets_its_own_gradient():
    layer = minidl.additionLayer(3)
    layer.initialize([(2, 2, 1)] * 3, None)
    rng = np.random.default_rng(0)
    Xs = [rng.standard_normal((2, 1, 2, 2)) for _ in range(3)]
    Z, memory = layer.forward(*Xs)
    np.testing.assert_array_equal(Z, Xs[0] + Xs[1] + Xs[2])
    G = rng.standard_normal(Z.shape)
    dXs, _ = layer.backward(G, memory)
    assert all(np.array_equal(dX, G) for dX in dXs)
    assert len({id(dX) for dX in dXs}) == 3


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_concatenation_dimension_is_matlab_dimension(dim):
    """Concatenating MATLAB H×W×C×N arrays along dim gives the same data as the layer."""
    rng = np.random.default_rng(dim)
    sizes = [[3, 4, 2], [3, 4, 2]]
    sizes[1][dim - 1] = 5
    matlab = [rng.standard_normal((*s, 2)) for s in sizes]
    layer = minidl.concatenationLayer(dim, 2)
    out = layer.initialize([tuple(s) for s in sizes], None)
    expected = np.concatenate(matlab, axis=dim - 1)
    assert out == expected.shape[:3]
    np.testing.assert_array_equal(layer.predict(*map(to_internal, matlab)), to_internal(expected))


def test_depth_concatenation_and_feature_concatenation():
    a, b = np.ones((2, 1, 3, 3)), np.zeros((2, 2, 3, 3))
    Z = minidl.depthConcatenationLayer(2).predict(a, b)
    assert Z.shape == (2, 3, 3, 3) and np.all(Z[:, 0] == 1) and np.all(Z[:, 1:] == 0)
    f, g = np.arange(6.0).reshape(2, 3), -np.arange(4.0).reshape(2, 2)
    np.testing.assert_array_equal(minidl.concatenationLayer(1, 2).predict(f, g), np.hstack([f, g]))


def test_dropout_uses_the_global_generator_and_inverted_scaling():
    X = np.random.default_rng(1).standard_normal((4, 3, 5, 5)).astype(np.float32)
    layer = minidl.dropoutLayer(0.3)
    minidl.rng(11)
    Z, memory = layer.forward(X)
    u = np.random.default_rng(11).random(X.shape)
    expected = X.astype(np.float64) * (u >= 0.3) / 0.7
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, expected, rtol=1e-6)
    G = np.ones_like(X)
    np.testing.assert_allclose(layer.backward(G, memory)[0], (u >= 0.3) / 0.7, rtol=1e-6)
    assert layer.predict(X) is X
    minidl.rng(11)
    np.testing.assert_array_equal(layer.forward(X)[0], Z)  # reproducible with minidl.rng
    assert not np.array_equal(layer.forward(X)[0], Z)      # a new mask at every call
    np.testing.assert_array_equal(minidl.dropoutLayer(0).forward(X)[0], X)


def test_dropout_keeps_one_minus_p_on_average():
    minidl.rng(3)
    Z, memory = minidl.dropoutLayer(0.25).forward(np.ones((200, 500)))
    assert abs(np.mean(memory.mask > 0) - 0.75) < 0.005
    assert set(np.unique(Z)) == {0.0, 1 / 0.75}


def test_leaky_relu_formula():
    X = np.array([[-2.0, -0.5, 0.0, 3.0]])
    layer = minidl.leakyReluLayer(0.1)
    np.testing.assert_array_equal(layer.predict(X), [[-0.2, -0.05, 0.0, 3.0]])
    Z, memory = layer.forward(X)
    np.testing.assert_array_equal(Z, layer.predict(X))
    np.testing.assert_array_equal(layer.backward(np.ones_like(X), memory)[0], [[0.1, 0.1, 1.0, 1.0]])
    assert layer.predict(X.astype(np.float32)).dtype == np.float32


def naive_avgpool(X, pool, stride, pads, exclude_padding=False):
    N, C, H, W = X.shape
    Xp = np.zeros((N, C, H + pads[0] + pads[1], W + pads[2] + pads[3]))
    inside = np.zeros(Xp.shape[2:])
    Xp[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W] = X
    inside[pads[0]:pads[0] + H, pads[2]:pads[2] + W] = 1
    Ho = (Xp.shape[2] - pool[0]) // stride[0] + 1
    Wo = (Xp.shape[3] - pool[1]) // stride[1] + 1
    Z = np.empty((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            rows = slice(i * stride[0], i * stride[0] + pool[0])
            cols = slice(j * stride[1], j * stride[1] + pool[1])
            count = inside[rows, cols].sum() if exclude_padding else pool[0] * pool[1]
            Z[:, :, i, j] = Xp[:, :, rows, cols].sum(axis=(2, 3)) / count
    return Z


@pytest.mark.parametrize("kwargs", [dict(Stride=2), dict(), dict(Stride=2, Padding="same"),
                                    dict(Stride=[1, 2], Padding=[1, 0, 1, 1]),
                                    dict(Stride=[1, 2], Padding=[1, 0, 1, 1], PaddingValue="mean")])
def test_average_pooling_matches_direct_loops(kwargs):
    layer = minidl.averagePooling2dLayer([2, 3], **kwargs)
    out = layer.initialize((7, 8, 2), None)
    X = np.random.default_rng(3).standard_normal((2, 2, 7, 8))
    expected = naive_avgpool(X, (2, 3), layer.Stride, layer.PaddingSize, kwargs.get("PaddingValue") == "mean")
    np.testing.assert_allclose(layer.predict(X), expected, rtol=1e-12, atol=1e-12)
    assert out == (*expected.shape[2:], 2)
    assert layer.predict(X.astype(np.float32)).dtype == np.float32


def test_average_pooling_padded_zeros_count_in_the_divisor():
    layer = minidl.averagePooling2dLayer(2, Padding=[1, 0, 1, 0])
    layer.initialize((2, 2, 1), None)
    Z = layer.predict(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(Z[0, 0], [[0.25, 0.5], [0.5, 1.0]])
    layer = minidl.averagePooling2dLayer(2, Padding=[1, 0, 1, 0], PaddingValue="mean")
    layer.initialize((2, 2, 1), None)
    np.testing.assert_array_equal(layer.predict(np.ones((1, 1, 2, 2)))[0, 0], np.ones((2, 2)))


def test_global_average_pooling_formula():
    layer = minidl.globalAveragePooling2dLayer()
    assert layer.initialize((3, 5, 4), None) == (1, 1, 4)
    X = np.random.default_rng(4).standard_normal((2, 4, 3, 5)).astype(np.float32)
    Z, memory = layer.forward(X)
    assert Z.shape == (2, 4, 1, 1) and Z.dtype == np.float32
    np.testing.assert_allclose(Z[:, :, 0, 0], X.astype(np.float64).mean(axis=(2, 3)), rtol=1e-6)
    dX = layer.backward(np.ones((2, 4, 1, 1), np.float32), memory)[0]
    assert dX.shape == X.shape and np.allclose(dX, 1 / 15)


def test_regression_loss_is_half_squared_error_over_observations_only():
    rng = np.random.default_rng(5)
    Y, T = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((4, 2, 3, 3))
    layer = minidl.regressionLayer()
    assert layer.forwardLoss(Y, T) == pytest.approx(np.sum(0.5 * (Y - T) ** 2) / 4, rel=1e-12)
    np.testing.assert_allclose(layer.backwardLoss(Y, T), (Y - T) / 4, rtol=1e-12)
    Y32, T32 = Y.astype(np.float32), T.astype(np.float32)
    assert layer.backwardLoss(Y32, T32).dtype == np.float32


def naive_group_norm(X, groups, scale, offset, eps=1e-5):
    """Loops over observations and groups, MATLAB-shaped scale/offset read per channel."""
    N, C = X.shape[:2]
    Z = np.empty_like(X, dtype=np.float64)
    per = C // groups
    for n in range(N):
        for g in range(groups):
            block = X[n, g * per:(g + 1) * per].astype(np.float64)
            mu = block.mean()
            var = ((block - mu) ** 2).mean()
            for k in range(per):
                c = g * per + k
                Z[n, c] = scale[c] * (block[k] - mu) / np.sqrt(var + eps) + offset[c]
    return Z


@pytest.mark.parametrize("make,groups,size", [
    (lambda **kw: minidl.groupNormalizationLayer(2, **kw), 2, (3, 4, 4)),
    (lambda **kw: minidl.groupNormalizationLayer("all-channels", **kw), 1, (3, 4, 4)),
    (lambda **kw: minidl.groupNormalizationLayer("channel-wise", **kw), 4, (3, 4, 4)),
    (lambda **kw: minidl.groupNormalizationLayer(2, **kw), 2, (4,)),
    (lambda **kw: minidl.layerNormalizationLayer(**kw), 1, (3, 4, 4)),
    (lambda **kw: minidl.layerNormalizationLayer(**kw), 1, (4,)),
], ids=["groups2", "all-channels", "channel-wise", "features", "layernorm", "layernorm features"])
def test_group_and_layer_normalization_formulas(make, groups, size):
    rng = np.random.default_rng(6)
    scale, offset = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    layer = make(Scale=scale, Offset=offset, Epsilon=1e-3)
    layer.initialize(size, None)
    X = (rng.standard_normal((3, 4, *size[:-1])) * 3 + 2).astype(np.float32)
    before = layer.Scale.copy()
    Z, memory = layer.forward(X)
    assert Z.dtype == np.float32 and Z.shape == X.shape
    np.testing.assert_allclose(Z, naive_group_norm(X, groups, scale, offset, 1e-3), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.predict(X), Z)  # no running statistics
    assert np.array_equal(layer.Scale, before)
    assert memory.mean.shape == (3, groups)
    _, grads = layer.backward(np.ones_like(X), memory)
    assert grads["Scale"].shape == layer.Scale.shape and grads["Scale"].dtype == np.float32


def test_layer_norm_normalizes_each_observation_over_all_its_elements():
    X = np.random.default_rng(8).standard_normal((2, 3, 4, 5)) * 4 + 1
    layer = minidl.layerNormalizationLayer()
    layer.initialize((4, 5, 3), None)
    Z = layer.predict(X)
    np.testing.assert_allclose(Z.mean(axis=(1, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(Z.var(axis=(1, 2, 3)), 1, rtol=1e-5)


def test_feature_input_normalizations():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((50, 3)) * [1.0, 5.0, 0.1] + [0.0, 10.0, -3.0]
    expected = {
        "zerocenter": X - X.mean(0),
        "zscore": (X - X.mean(0)) / X.std(0),  # population (biased) standard deviation
        "rescale-zero-one": (X - X.min(0)) / (X.max(0) - X.min(0)),
        "rescale-symmetric": 2 * (X - X.min(0)) / (X.max(0) - X.min(0)) - 1,
        "none": X,
    }
    needs = {"zerocenter": {"Mean"}, "zscore": {"Mean", "StandardDeviation"},
             "rescale-zero-one": {"Min", "Max"}, "rescale-symmetric": {"Min", "Max"}, "none": set()}
    for mode, want in expected.items():
        layer = minidl.featureInputLayer(3, Normalization=mode)
        stats = layer.statistics(X)
        assert set(stats) == needs[mode]
        for name, value in stats.items():
            assert value.shape == (3, 1) and value.dtype == np.float32
            setattr(layer, name, value)
        np.testing.assert_allclose(layer.predict(X), want, rtol=1e-5, atol=1e-5)
    layer = minidl.featureInputLayer(3, Normalization="rescale-symmetric")
    for name, value in layer.statistics(X).items():
        setattr(layer, name, value)
    Z = layer.predict(X)
    assert Z.min() == pytest.approx(-1, abs=1e-6) and Z.max() == pytest.approx(1, abs=1e-6)


def test_image_input_zscore_and_rescale_per_channel_and_element():
    rng = np.random.default_rng(10)
    X = (rng.random((6, 2, 3, 4)) * [[[3.0]], [[0.5]]] + 1).astype(np.float32)
    Xd = X.astype(np.float64)
    layer = minidl.imageInputLayer([3, 4, 2], Normalization="zscore")
    stats = layer.statistics(X)
    assert stats["Mean"].shape == stats["StandardDeviation"].shape == (1, 1, 2)
    np.testing.assert_allclose(stats["StandardDeviation"].reshape(-1), Xd.std(axis=(0, 2, 3)), rtol=1e-6)
    for name, value in stats.items():
        setattr(layer, name, value)
    c = (None, slice(None), None, None)
    want = (Xd - Xd.mean(axis=(0, 2, 3))[c]) / Xd.std(axis=(0, 2, 3))[c]
    np.testing.assert_allclose(layer.predict(X), want, rtol=1e-5, atol=1e-5)

    layer = minidl.imageInputLayer([3, 4, 2], Normalization="rescale-symmetric", NormalizationDimension="element")
    stats = layer.statistics(X)
    assert stats["Min"].shape == stats["Max"].shape == (3, 4, 2)
    np.testing.assert_array_equal(stats["Max"], X.max(axis=0).transpose(1, 2, 0))
    for name, value in stats.items():
        setattr(layer, name, value)
    want = 2 * (Xd - Xd.min(0)) / (Xd.max(0) - Xd.min(0)) - 1
    np.testing.assert_allclose(layer.predict(X), want, rtol=1e-5, atol=1e-5)


def test_user_given_statistics_take_matlab_shapes():
    layer = minidl.imageInputLayer([2, 2, 3], Normalization="zscore", Mean=[1, 2, 3], StandardDeviation=2)
    assert layer.Mean.shape == (1, 1, 3) and np.all(layer.StandardDeviation == 2)
    assert minidl.imageInputLayer([2, 2, 3], Mean=np.zeros(12)).Mean.shape == (2, 2, 3)
    layer = minidl.featureInputLayer(2, Normalization="zscore", Mean=[[1, 2]], StandardDeviation=[2, 4])
    assert layer.Mean.shape == (2, 1)
    np.testing.assert_allclose(layer.predict(np.array([[3.0, 6.0]])), [[1.0, 1.0]])


def test_constant_channel_does_not_divide_by_zero():
    X = np.stack([np.full(5, 2.0), np.arange(5.0)], axis=1)  # feature 1 is constant
    for mode, constant in (("zscore", 0.0), ("rescale-zero-one", 0.0), ("rescale-symmetric", -1.0)):
        layer = minidl.featureInputLayer(2, Normalization=mode)
        for name, value in layer.statistics(X).items():
            setattr(layer, name, value)
        Z = layer.predict(X)
        assert np.all(np.isfinite(Z)) and np.all(Z[:, 0] == constant), mode
    assert np.all(layer.Max[0] == layer.Min[0])  # the stored statistics stay true


# ---------------------------------------------------------------- errors

def test_multi_input_errors_name_the_layer_and_sizes():
    layer = minidl.additionLayer(2, Name="add")
    with pytest.raises(ValueError, match=r"add: all inputs of an addition layer must have the same size; "
                                         r"received 4×4×2 \(in1\), 4×4×3 \(in2\)"):
        layer.initialize([(4, 4, 2), (4, 4, 3)], None)
    with pytest.raises(ValueError, match=r"add: .*received 2×2×1 \(in1\), 2×2×3 \(in2\)"):
        layer.predict(np.zeros((1, 1, 2, 2)), np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"add: expected 2 input sizes .*received 3"):
        layer.initialize([(4,)] * 3, None)
    with pytest.raises(ValueError, match=r"cat: inputs must have the same size in every dimension except 3; "
                                         r"received 4×4×2 \(in1\), 4×5×3 \(in2\)"):
        minidl.concatenationLayer(3, 2, Name="cat").initialize([(4, 4, 2), (4, 5, 3)], None)
    with pytest.raises(ValueError, match=r"cat: cannot concatenate along dimension 2 inputs of size 4"):
        minidl.concatenationLayer(2, 2, Name="cat").initialize([(4,), (4,)], None)
    with pytest.raises(ValueError, match=r"dc: inputs must have the same size in every dimension except 3"):
        minidl.depthConcatenationLayer(2, Name="dc").initialize([(4, 4, 2), (4, 5, 2)], None)
    for make in (lambda: minidl.additionLayer(1), lambda: minidl.depthConcatenationLayer(2.5),
                 lambda: minidl.concatenationLayer(0, 2)):
        with pytest.raises(ValueError, match=r"must be an integer >= "):
            make()


@pytest.mark.parametrize("make,message", [
    (lambda: minidl.dropoutLayer(1), r"dropoutLayer: Probability must be a scalar in \[0, 1\); received 1"),
    (lambda: minidl.dropoutLayer(-0.1), r"Probability must be a scalar in \[0, 1\)"),
    (lambda: minidl.leakyReluLayer(np.inf), r"leakyReluLayer: Scale must be a finite real scalar"),
    (lambda: minidl.leakyReluLayer([0.1, 0.2]), r"Scale must be a finite real scalar"),
    (lambda: minidl.averagePooling2dLayer(2, PaddingValue=1), r"PaddingValue must be 0 or 'mean'; received 1"),
    (lambda: minidl.averagePooling2dLayer(0), r"averagePooling2dLayer: PoolSize must be a positive integer"),
    (lambda: minidl.groupNormalizationLayer(0), r"numGroups must be a positive integer, 'all-channels'"),
    (lambda: minidl.groupNormalizationLayer("per-channel"), r"numGroups must be one of 'all-channels'"),
    (lambda: minidl.groupNormalizationLayer(2, Epsilon=1e-6), r"Epsilon must be a finite scalar >= 1e-5"),
    (lambda: minidl.layerNormalizationLayer(Scale=[1, 2], Offset=[0, 0, 0]), r"must agree on the channel"),
    (lambda: minidl.featureInputLayer(0), r"numFeatures must be a positive integer"),
    (lambda: minidl.featureInputLayer(3, Normalization="zscor"), r"Normalization must be one of.*'zscore'"),
    (lambda: minidl.featureInputLayer(3, Mean=[1, 2]), r"featureInputLayer: Mean must have size 3×1; received 2"),
    (lambda: minidl.imageInputLayer([2, 2, 3], Min=[1, 2]), r"Min must have size 1×1×3 or 2×2×3; received 2"),
])
def test_constructor_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_runtime_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"gn: the number of channels \(6\) must be divisible by NumGroups \(4\)"):
        minidl.groupNormalizationLayer(4, Name="gn").initialize((3, 3, 6), None)
    with pytest.raises(ValueError, match="ln: expected input with 3 channels"):
        minidl.layerNormalizationLayer(Name="ln", Scale=np.ones(3)).initialize((4, 4, 2), None)
    with pytest.raises(ValueError, match=r"gap: globalAveragePooling2dLayer needs image input"):
        minidl.globalAveragePooling2dLayer(Name="gap").initialize((5,), None)
    with pytest.raises(ValueError, match=r"ap: averagePooling2dLayer needs image input"):
        minidl.averagePooling2dLayer(2, Name="ap").initialize((5,), None)
    layer = minidl.featureInputLayer(2, Name="in", Normalization="zscore")
    with pytest.raises(ValueError, match=r"in: Mean and StandardDeviation are empty, so the 'zscore' "
                                         r"normalization cannot run.*size 2×1"):
        layer.predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"out: the responses have size 2×3 but the network outputs 2×4"):
        minidl.regressionLayer(Name="out").forwardLoss(np.zeros((2, 4)), np.zeros((2, 3)))
