"""The MATLAB example network: population statistics and the fused BN+ReLU path."""
import numpy as np
import pytest

import minidl
from minidl.datasets import digits, splitEachLabel


def example_layers():
    layers = [minidl.imageInputLayer([28, 28, 1])]
    for filters in (8, 16, 32):
        layers += [minidl.convolution2dLayer(3, filters, Padding="same"), minidl.batchNormalizationLayer(),
                   minidl.reluLayer()]
        if filters != 32:
            layers.append(minidl.maxPooling2dLayer(2, Stride=2))
    return layers + [minidl.fullyConnectedLayer(10), minidl.softmaxLayer(), minidl.classificationLayer()]


@pytest.fixture(scope="module")
def trained():
    minidl.rng(0)
    X, Y = digits()
    (XTrain, YTrain), _ = splitEachLabel(X, Y, 60, "randomize")
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, Shuffle="every-epoch", Verbose=False)
    net, info = minidl.trainNetwork(XTrain, YTrain, example_layers(), options)
    return net, info, XTrain


def test_first_batchnorm_population_statistics_equal_its_input_over_the_training_set(trained):
    """conv_1's output over all 600 images (4 full batches of 128 and the partial one of 88),
    computed here by shift-and-add in float64, has the trained mean and biased variance."""
    net, info, X = trained
    assert len(info.TrainingLoss) == 4
    image_input, conv = net.Layers[0], net.Layers[1]
    x = X.astype(np.float64)[:, :, 0, :] - image_input.Mean.reshape(()).astype(np.float64)  # H×W×N
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    W, b = conv.Weights.astype(np.float64), conv.Bias.astype(np.float64).reshape(-1)
    z = np.zeros((28, 28, x.shape[2], 8)) + b
    for u in range(3):
        for v in range(3):
            z += padded[u:u + 28, v:v + 28, :, None] * W[u, v, 0]
    bn = net.Layers[2]
    np.testing.assert_allclose(bn.TrainedMean.reshape(-1), z.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.TrainedVariance.reshape(-1), z.var(axis=(0, 1, 2)), rtol=1e-4)
    assert image_input.Mean.shape == (1, 1, 1)
    np.testing.assert_allclose(image_input.Mean.reshape(()), X.astype(np.float64).mean(), rtol=1e-5)


def run_unfused(net, X, training):
    """Every layer on its own, no fusion: the reference for the compiled plans."""
    memories = []
    for layer in net.Layers[:-1]:
        if training:
            X, memory = layer.forward(X)
            memories.append(memory)
        else:
            X = layer.predict(X)
    return X, memories


def step_layers(net, mode):
    return [covered for _, covered, _ in net.plan(mode).steps]


def test_inference_folds_conv_batchnorm_relu_and_matches_the_unfused_network(trained):
    """predict: each conv → BN → ReLU (→ 2×2 max pooling) is one folded convolution; scores
    agree with the layers run one by one (folding rounds differently, so to float32
    accuracy, not bitwise)."""
    net, _, X = trained
    assert step_layers(net, "predict")[1:4] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11]]
    Xi = np.ascontiguousarray(X[..., :32].transpose(3, 2, 0, 1), dtype=np.float32)
    scores = net.predict_internal(Xi)
    np.testing.assert_allclose(scores, run_unfused(net, Xi, training=False)[0], rtol=1e-4, atol=1e-6)
    layers = net.Layers
    for index in (1, 2, 3, 5, 6, 7, 8):  # a layer inside a fused step: computed unfused
        reference = Xi
        for layer in layers[:index + 1]:
            reference = layer.predict(reference)
        np.testing.assert_allclose(net.activations_internal(Xi, index), reference, rtol=1e-5, atol=1e-5)


def test_training_fuses_batchnorm_relu_and_softmax_cross_entropy_and_matches_unfused(trained):
    """Training plan: BN+ReLU in one step (bitwise the unfused pair), softmax and the loss in one
    stable step; loss and every gradient agree with the layers run one by one."""
    net, _, X = trained
    assert [2, 3] in step_layers(net, "train") and [6, 7] in step_layers(net, "train")
    assert 13 not in sum(step_layers(net, "train"), [])  # the softmax is inside the loss step
    Xi = np.ascontiguousarray(X[..., :32].transpose(3, 2, 0, 1), dtype=np.float32)
    T = np.eye(10, dtype=np.float32)[np.arange(32) % 10]
    loss, scores, trace = net.forward_loss(Xi, T)
    plain_out, plain_memories = run_unfused(net, Xi, training=True)
    np.testing.assert_allclose(scores, plain_out, rtol=1e-5, atol=1e-7)
    output = net.output_layer
    assert loss == pytest.approx(output.forwardLoss(plain_out, T), rel=1e-6)
    fused_grads = net.backward(trace)
    dX = output.backwardLoss(plain_out, T)
    plain_grads = [None] * len(net.Layers)
    for index in range(len(net.Layers) - 2, 0, -1):
        dX, plain_grads[index] = net.Layers[index].backward(dX, plain_memories[index])
    for index in (1, 2, 5, 6, 9, 10, 12):
        for name in fused_grads[index]:
            np.testing.assert_allclose(fused_grads[index][name], plain_grads[index][name], rtol=1e-4, atol=1e-5)
