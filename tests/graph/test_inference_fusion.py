"""Inference plan: which chains fold into one convolution, and that every folded chain
gives the scores of its layers run one by one."""
import numpy as np
import pytest

import minidl
from minidl.graph.network import build_network


def predict_steps(layers):
    net = build_network(layers, np.random.default_rng(0))
    return net, [covered for _, covered, _ in net.plan("predict").steps]


def trained_norm(channels, seed=1):
    """A batch norm with statistics and affine parameters that are not the defaults."""
    rng = np.random.default_rng(seed)
    return minidl.batchNormalizationLayer(
        TrainedMean=rng.standard_normal((1, 1, channels)), TrainedVariance=rng.uniform(0.5, 2, (1, 1, channels)),
        Scale=rng.uniform(-2, 2, (1, 1, channels)), Offset=rng.standard_normal((1, 1, channels)))


def head():
    return [minidl.fullyConnectedLayer(3), minidl.softmaxLayer(), minidl.classificationLayer()]


@pytest.mark.parametrize("body, folded", [
    # conv → ReLU → max pool 2x2 without batch norm
    ([minidl.convolution2dLayer(3, 4, Padding="same"), minidl.reluLayer(), minidl.maxPooling2dLayer(2, Stride=2)],
     [1, 2, 3]),
    # conv → max pool without ReLU; odd conv output (9x9: the last row and column dropped)
    ([minidl.convolution2dLayer(3, 4), minidl.maxPooling2dLayer(2, Stride=2)], [1, 2]),
    # strided, dilated conv → batch norm → ReLU → max pool
    ([minidl.convolution2dLayer(3, 5, Stride=2, DilationFactor=2, Padding=1), trained_norm(5),
      minidl.reluLayer(), minidl.maxPooling2dLayer(2, Stride=2)], [1, 2, 3, 4]),
    # global average pooling after conv → batch norm → ReLU, and right after a strided conv
    ([minidl.convolution2dLayer(3, 4, Padding="same"), trained_norm(4), minidl.reluLayer(),
      minidl.globalAveragePooling2dLayer()], [1, 2, 3, 4]),
    ([minidl.convolution2dLayer(2, 3, Stride=2), minidl.globalAveragePooling2dLayer()], [1, 2]),
    # a pooling that does not fold: 3x3 windows; 2x2 stride 1; 2x2 with padding
    ([minidl.convolution2dLayer(3, 4), minidl.reluLayer(), minidl.maxPooling2dLayer(3, Stride=2)], [1, 2]),
    ([minidl.convolution2dLayer(3, 4), minidl.maxPooling2dLayer(2)], [1]),
    ([minidl.convolution2dLayer(3, 4), minidl.maxPooling2dLayer(2, Stride=2, Padding=1)], [1]),
    # ReLU before batch norm: the batch norm does not fold after it
    ([minidl.convolution2dLayer(3, 4), minidl.reluLayer(), trained_norm(4)], [1, 2]),
])
def test_folded_chains_match_the_layers_one_by_one(body, folded):
    layers = [minidl.imageInputLayer([11, 11, 2], Normalization="none")] + body + head()
    net, steps = predict_steps(layers)
    assert steps[1] == folded
    X = np.random.default_rng(2).standard_normal((6, 2, 11, 11)).astype(np.float32)
    reference = X
    for layer in net.Layers[:-1]:
        reference = layer.predict(reference)
    np.testing.assert_allclose(net.predict_internal(X), reference, rtol=1e-5, atol=1e-6)
    last = folded[-1]
    Z = X
    for layer in net.Layers[:last + 1]:
        Z = layer.predict(Z)
    np.testing.assert_allclose(net.activations_internal(X, last), Z, rtol=1e-5, atol=1e-5)


def test_nan_image_gives_nan_scores_through_the_folded_pooling():
    """A NaN pixel reaches the scores of its image through conv → ReLU → max pool (not 0)."""
    layers = [minidl.imageInputLayer([8, 8, 1], Normalization="none"), minidl.convolution2dLayer(3, 4),
              minidl.reluLayer(), minidl.maxPooling2dLayer(2, Stride=2)] + head()
    net, steps = predict_steps(layers)
    assert steps[1] == [1, 2, 3]
    X = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    X[1, 0, 4, 4] = np.nan
    scores = net.predict_internal(X)
    assert np.isnan(scores[1]).all() and np.isfinite(scores[[0, 2]]).all()


def test_addition_then_relu_is_one_step_in_both_modes_and_matches_the_layers():
    """additionLayer → reluLayer fuse (Z = max(X1 + X2, 0)); predict, the training forward and
    every gradient agree with the layers run one by one, and a NaN in one input stays NaN."""
    layers = [minidl.imageInputLayer([5, 5, 3], Normalization="none"),
              minidl.convolution2dLayer(3, 3, Padding="same", Name="a"),
              minidl.convolution2dLayer(1, 3, Name="b"), minidl.additionLayer(2, Name="add"),
              minidl.reluLayer(Name="relu")] + head()
    lgraph = minidl.connectLayers(minidl.layerGraph(layers), "a", "add/in2")
    net = build_network(lgraph, np.random.default_rng(0))
    names = [layer.Name for layer in net.Layers]
    add = names.index("add")
    for mode in ("predict", "train"):
        assert [add, add + 1] in [covered for _, covered, _ in net.plan(mode).steps]
    X = np.random.default_rng(1).standard_normal((4, 3, 5, 5))
    a, b, addition, relu = (net.Layers[names.index(n)] for n in ("a", "b", "add", "relu"))
    A = a.predict(X)
    S = addition.predict(b.predict(A), A)
    np.testing.assert_array_equal(net.activations_internal(X, add + 1), relu.predict(S))
    T = np.eye(3)[[0, 1, 2, 0]]
    loss, _, trace = net.forward_loss(X, T)
    fused = net.backward(trace)
    # The same gradients through the unfused layers, by hand: dS = dZ·[S > 0] to both inputs.
    fc = net.Layers[names.index("fc")]
    Z, relu_memory = relu.forward(S)
    F, fc_memory = fc.forward(Z)
    output = net.output_layer
    P = net.Layers[names.index("softmax")].predict(F)
    assert loss == pytest.approx(output.forwardLoss(P, T), rel=1e-12)
    dF = P - T                                    # softmax + cross-entropy, mean over N
    dF /= len(T)
    dZ, fc_grads = fc.backward(dF, fc_memory)
    np.testing.assert_allclose(fused[names.index("fc")]["Weights"], fc_grads["Weights"], rtol=1e-10)
    dS = relu.backward(dZ, relu_memory)[0]
    dB, b_grads = b.backward(dS, b.forward(A)[1])
    np.testing.assert_allclose(fused[names.index("b")]["Weights"], b_grads["Weights"], rtol=1e-10)
    _, a_grads = a.backward(dS + dB, a.forward(X)[1])
    np.testing.assert_allclose(fused[names.index("a")]["Weights"], a_grads["Weights"], rtol=1e-10, atol=1e-14)
    X[2, 1, 2, 2] = np.nan
    scores = net.predict_internal(X)
    assert np.isnan(scores[2]).all() and np.isfinite(scores[[0, 1, 3]]).all()


def test_addition_relu_max_pool_is_one_prediction_step():
    """At inference additionLayer → reluLayer → maxPooling2dLayer(2, Stride=2) run as one pass
    (the residual example's add → relu_out → maxpool_2), with the scores of the layers run one
    by one; in training, the pooling stays a step of its own (it keeps its argmax)."""
    layers = [minidl.imageInputLayer([6, 7, 3], Normalization="none"),
              minidl.convolution2dLayer(3, 3, Padding="same", Name="a"),
              minidl.convolution2dLayer(1, 3, Name="b"), minidl.additionLayer(2, Name="add"),
              minidl.reluLayer(Name="relu"), minidl.maxPooling2dLayer(2, Stride=2, Name="pool")] + head()
    lgraph = minidl.connectLayers(minidl.layerGraph(layers), "a", "add/in2")
    net = build_network(lgraph, np.random.default_rng(0))
    names = [layer.Name for layer in net.Layers]
    add = names.index("add")
    assert [add, add + 1, add + 2] in [covered for _, covered, _ in net.plan("predict").steps]
    assert [add, add + 1] in [covered for _, covered, _ in net.plan("train").steps]
    X = np.random.default_rng(1).standard_normal((4, 3, 6, 7)).astype(np.float32)
    X[3, 0, 2, 2] = np.nan
    layer = dict(zip(names, net.Layers))
    A = layer["a"].predict(X)
    pooled = layer["pool"].predict(layer["relu"].predict(layer["add"].predict(layer["b"].predict(A), A)))
    reference = layer["softmax"].predict(layer["fc"].predict(pooled))
    scores = net.predict_internal(X)
    np.testing.assert_allclose(scores[:3], reference[:3], rtol=1e-5, atol=1e-6)
    assert np.isnan(scores[3]).all() and np.isnan(reference[3]).all()
    np.testing.assert_allclose(net.activations_internal(X, add + 2)[:3], pooled[:3], rtol=1e-6)
