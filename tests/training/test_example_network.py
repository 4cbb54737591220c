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
    """Every layer on its own, no fusion: the reference for the fused plan."""
    memories = []
    for layer in net.Layers[:-1]:
        if training:
            X, memory = layer.forward(X)
            memories.append(memory)
        else:
            X = layer.predict(X)
    return X, memories


def test_fused_batchnorm_relu_equals_the_unfused_pair(trained):
    net, _, X = trained
    assert net._fused == {2, 6, 10}
    Xi = np.ascontiguousarray(X[..., :32].transpose(3, 2, 0, 1), dtype=np.float32)
    fused_scores = net.predict_internal(Xi)
    np.testing.assert_array_equal(fused_scores, run_unfused(net, Xi, training=False)[0])

    fused_out, fused_memories = net.forward_train(Xi)
    plain_out, plain_memories = run_unfused(net, Xi, training=True)
    np.testing.assert_array_equal(fused_out, plain_out)
    G = np.random.default_rng(0).standard_normal(fused_out.shape).astype(np.float32)
    fused_grads = net.backward(G, fused_memories)
    dX = G
    plain_grads = [None] * len(net.Layers)
    for index in range(len(net.Layers) - 2, 0, -1):
        dX, plain_grads[index] = net.Layers[index].backward(dX, plain_memories[index])
    for index in (1, 2, 5, 6, 9, 10, 12):
        for name in fused_grads[index]:
            np.testing.assert_allclose(fused_grads[index][name], plain_grads[index][name], rtol=1e-5, atol=1e-6)
