"""Non-finite values are never hidden (issue 10, class 1): every kernel gives NaN and ±Inf
where its NumPy twin does, and predict gives the same NaN and Inf through the fused paths
(batch norm + ReLU in training mode; convolution → batch norm → ReLU folded at inference)
as through the layers one by one. An all-NaN image never gets finite scores."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl.graph.network import build_network
from minidl.graph.plan import FusedStep
from minidl.kernels import batchnorm, conv, groupnorm, pooling, reference, reference_conv, reference_pool, softmax

SPECIALS = (np.nan, np.inf, -np.inf)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the NumPy twins meet inf - inf


def assert_same_nonfinite(actual, expected, rtol=1e-4, atol=1e-4):
    """NaN exactly where ``expected`` has NaN, ±Inf where it has ±Inf, close elsewhere."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN positions differ")
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected), err_msg="+Inf positions differ")
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected), err_msg="-Inf positions differ")
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=atol)


@st.composite
def poisoned(draw, shape):
    """Random float32 data of ``shape`` with a few NaN / +Inf / -Inf at random places."""
    x = np.random.default_rng(draw(st.integers(0, 2 ** 16))).standard_normal(shape).astype(np.float32)
    for _ in range(draw(st.integers(1, 3))):
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from(SPECIALS))
    return x


SETTINGS = settings(max_examples=25, deadline=None)
IMAGES = (2, 3, 5, 6)


@SETTINGS
@given(x=poisoned(IMAGES), relu=st.booleans())
def test_batch_norm_training_forward(x, relu):
    scale, offset = np.linspace(0.5, 2, 3), np.linspace(-1, 1, 3)
    y = batchnorm.bn_forward_train(x, scale, offset, 1e-5, relu)[0]
    assert_same_nonfinite(y, reference.bn_forward_train(x, scale, offset, 1e-5, relu)[0])


@SETTINGS
@given(x=poisoned(IMAGES), relu=st.booleans())
def test_batch_norm_inference_fused_with_relu(x, relu):
    a, b = np.array([1.5, -0.5, 2.0]), np.array([0.1, -0.2, 0.0])
    assert_same_nonfinite(batchnorm.bn_inference(x, a, b, relu), reference.bn_inference(x, a, b, relu))


@SETTINGS
@given(x=poisoned(IMAGES), relu=st.booleans(), pads=st.sampled_from([(0, 0, 0, 0), (1, 1, 1, 1)]))
def test_convolution_with_its_fused_relu(x, relu, pads):
    w = np.random.default_rng(1).standard_normal((3, 3, 3, 4)).astype(np.float32)
    bias = np.array([0.5, -0.5, 0.0, 1.0], np.float32)
    assert_same_nonfinite(conv.conv2d_forward(x, w, bias, (1, 1), (1, 1), pads, relu=relu),
                          reference_conv.conv2d_forward(x, w, bias, (1, 1), (1, 1), pads, relu), rtol=1e-3)


@SETTINGS
@given(x=poisoned(IMAGES), window=st.sampled_from([((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (1, 1), (1, 1, 1, 1)),
                                                   ((2, 3), (1, 2), (0, 1, 1, 0))]))
def test_max_pooling_training_and_inference(x, window):
    expected = reference_pool.max_pool2d_predict(x, *window)
    assert_same_nonfinite(pooling.max_pool2d_predict(x, *window), expected)
    assert_same_nonfinite(pooling.max_pool2d_forward(x, *window)[0], expected)
    assert_same_nonfinite(expected, _numpy_max_pool(x, *window))


def _numpy_max_pool(x, pool, stride, pads):
    """np.max over each window (padding is -inf): NaN wherever a window holds a NaN."""
    top, bottom, left, right = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=-np.inf)
    Ho, Wo = reference_pool.pooled_hw(x.shape, pool, stride, pads)
    out = np.empty(x.shape[:2] + (Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride[0]:i * stride[0] + pool[0], j * stride[1]:j * stride[1] + pool[1]]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out


@SETTINGS
@given(x=poisoned(IMAGES), count_padding=st.booleans())
def test_average_pooling_and_global_average_pooling(x, count_padding):
    window = ((3, 3), (2, 2), (1, 1, 1, 1))
    assert_same_nonfinite(pooling.avg_pool2d_forward(x, *window, count_padding),
                          reference_pool.avg_pool2d_forward(x, *window, count_padding))
    assert_same_nonfinite(pooling.global_avg_pool_forward(x), reference_pool.global_avg_pool_forward(x))


@SETTINGS
@given(x=poisoned((5, 4)))
def test_softmax_and_softmax_cross_entropy(x):
    targets = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0]]
    assert_same_nonfinite(softmax.softmax_forward(x), reference_pool.softmax_forward(x))
    loss, probs, grad = softmax.softmax_cross_entropy(x, targets)
    ref_loss, ref_probs, ref_grad = reference_pool.softmax_cross_entropy(x, targets)
    assert_same_nonfinite(probs, ref_probs)
    assert_same_nonfinite(grad, ref_grad)
    assert np.isnan(loss) == np.isnan(ref_loss) and not (np.isfinite(loss) and not np.isfinite(ref_loss))


@SETTINGS
@given(x=poisoned((2, 4, 3, 3)), groups=st.sampled_from([1, 2, 4]))
def test_group_normalization(x, groups):
    scale, offset = np.linspace(0.5, 2, 4).reshape(1, 1, 4), np.zeros((1, 1, 4))
    y = groupnorm.gn_forward(x, groups, scale.astype(np.float32), offset.astype(np.float32), 1e-5)[0]
    assert_same_nonfinite(y, reference.gn_forward(x, groups, scale, offset, 1e-5)[0])


# ---- whole networks: fused paths against the layers one by one ------------------------------
def _network(rng):
    """conv → BN → ReLU → max pool (folds at inference) → conv → BN → ReLU → avg pool →
    group norm → fc → softmax, every property given."""
    def bn(c):
        return minidl.batchNormalizationLayer(TrainedMean=rng.standard_normal(c), Offset=rng.standard_normal(c),
                                              TrainedVariance=rng.random(c) + 0.5, Scale=rng.random(c) + 0.5)
    layers = [minidl.imageInputLayer([8, 8, 2], Normalization="none"),
              minidl.convolution2dLayer(3, 4, Padding="same", Weights=rng.standard_normal((3, 3, 2, 4)),
                                        Bias=rng.standard_normal((1, 1, 4))), bn(4), minidl.reluLayer(),
              minidl.maxPooling2dLayer(2, Stride=2),
              minidl.convolution2dLayer(3, 4, Padding=1, Weights=rng.standard_normal((3, 3, 4, 4)),
                                        Bias=np.zeros((1, 1, 4))), bn(4), minidl.reluLayer(),
              minidl.averagePooling2dLayer(2, Stride=2),
              minidl.groupNormalizationLayer(2, Scale=np.ones(4), Offset=np.zeros(4)),
              minidl.fullyConnectedLayer(3, Weights=rng.standard_normal((3, 16)), Bias=np.zeros((3, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b", "c"])]
    return minidl.assembleNetwork(layers)


def _layer_by_layer(net, X, train=False):
    """The network run one layer at a time, unfused (each layer's own predict or forward)."""
    Z = np.ascontiguousarray(X.transpose(3, 2, 0, 1), np.float32)
    for layer in net.Layers[:-1]:
        Z = layer.forward(Z)[0] if train else layer.predict(Z)
    return Z


@pytest.fixture(scope="module")
def poisoned_images():
    X = np.random.default_rng(2).standard_normal((8, 8, 2, 6)).astype(np.float32)
    X[3, 4, 0, 0] = np.nan                 # one NaN pixel
    X[0, 0, 1, 1] = np.inf                 # one +Inf pixel at a corner
    X[5, 5, 0, 2] = -np.inf
    X[:, :, :, 3] = np.nan                 # an all-NaN image
    return X                               # images 4 and 5 are finite


def test_predict_fused_and_unfused_agree_on_nan_and_inf(poisoned_images):
    net = _network(np.random.default_rng(3))
    fused = minidl.predict(net, poisoned_images)
    folded = [step.layers for step, _, _ in net.plan("predict").steps if isinstance(step, FusedStep)]
    assert [[type(layer).__name__ for layer in layers] for layers in folded] == [
        ["Convolution2DLayer", "BatchNormalizationLayer", "ReLULayer", "MaxPooling2DLayer"],
        ["Convolution2DLayer", "BatchNormalizationLayer", "ReLULayer"]]
    assert_same_nonfinite(fused, _layer_by_layer(net, poisoned_images))
    assert np.isnan(fused[:4]).all() and np.isfinite(fused[4:]).all()


def test_training_mode_fused_batch_norm_relu_keeps_nan(poisoned_images):
    net = _network(np.random.default_rng(4))
    X = np.ascontiguousarray(poisoned_images.transpose(3, 2, 0, 1))
    fused = net.predict_internal(X, batch_statistics=True)       # BN + ReLU fused, batch statistics
    assert sum(isinstance(step, FusedStep) for step, _, _ in net.plan("train").steps) == 2
    assert_same_nonfinite(fused, _layer_by_layer(net, poisoned_images, train=True))
    assert np.isnan(fused).all()          # a NaN in the batch makes every batch statistic NaN


def test_an_all_nan_image_is_never_classified_with_finite_scores(poisoned_images):
    net = _network(np.random.default_rng(5))
    labels, scores = minidl.classify(net, np.full((8, 8, 2, 2), np.nan, np.float32))
    assert np.isnan(scores).all()
    assert np.isnan(minidl.activations(net, np.full((8, 8, 2, 1), np.nan), 4)).all()   # after the folded ReLU


def test_nan_weights_give_nan_scores_not_a_confident_class():
    rng = np.random.default_rng(6)
    layers = [minidl.imageInputLayer([8, 8, 2], Normalization="none"),
              minidl.convolution2dLayer(3, 4, Padding="same", WeightsInitializer=lambda s: np.full(s, np.nan)),
              minidl.batchNormalizationLayer(TrainedMean=np.zeros(4), TrainedVariance=np.ones(4)),
              minidl.reluLayer(), minidl.fullyConnectedLayer(3), minidl.softmaxLayer(),
              minidl.classificationLayer(Classes=["a", "b", "c"])]
    net = build_network(layers, rng, owner="test")      # assembleNetwork wants every weight given
    assert np.isnan(minidl.predict(net, rng.standard_normal((8, 8, 2, 3)))).all()
