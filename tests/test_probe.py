"""The training probe (trainingOptions Probe=trainingProbe(...)): every recorded number against
an independent float64 recomputation, the update ratio against the learnables themselves, and
training unchanged by the probe."""
import numpy as np
import pytest

import minidl
from minidl import (Layer, additionLayer, batchNormalizationLayer, classificationLayer, connectLayers, convolution2dLayer,
                    dropoutLayer, featureInputLayer, fullyConnectedLayer, globalAveragePooling2dLayer,
                    imageInputLayer, layerGraph, reluLayer, softmaxLayer, trainingOptions, trainingProbe,
                    trainNetwork, trainnet)

EPS = 1e-5      # batchNormalizationLayer's Epsilon
LEVELS = [10.0, 50.0, 90.0]


def _mlp_data():
    gen = np.random.default_rng(1)
    W1, b1 = gen.normal(0, 0.5, (5, 4)), gen.normal(0, 0.1, (5, 1))
    scale, offset = gen.uniform(0.5, 1.5, (5, 1)), gen.normal(0, 0.1, (5, 1))
    W2, b2 = gen.normal(0, 0.5, (3, 5)), gen.normal(0, 0.1, (3, 1))
    X = gen.normal(0, 1, (32, 4))
    Y = gen.integers(0, 3, 32)
    return [W1, b1, scale, offset, W2, b2], X, Y


def _mlp_layers(params):
    W1, b1, scale, offset, W2, b2 = [p.astype(np.float32) for p in params]
    return [featureInputLayer(4, Name="in"), fullyConnectedLayer(5, Name="fc1", Weights=W1, Bias=b1),
            batchNormalizationLayer(Name="bn", Scale=scale, Offset=offset), reluLayer(Name="relu"),
            fullyConnectedLayer(3, Name="fc2", Weights=W2, Bias=b2), softmaxLayer(Name="sm"),
            classificationLayer(Name="out")]


def _twin_iteration(params, X, T):
    """Float64 forward and backward of the MLP by hand: ({layer: (Z, dL/dZ)}, {learnable: grad})."""
    W1, b1, scale, offset, W2, b2 = params
    n = X.shape[0]
    A1 = X @ W1.T + b1.T
    mu, var = A1.mean(0), A1.var(0)
    xhat = (A1 - mu) / np.sqrt(var + EPS)
    B = scale.T * xhat + offset.T
    R = np.maximum(B, 0)
    L = R @ W2.T + b2.T
    P = np.exp(L - L.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    dL = (P - T) / n
    dR = dL @ W2
    dB = dR * (B > 0)
    dxhat = dB * scale.T
    dA1 = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / np.sqrt(var + EPS)
    dX = dA1 @ W1
    layers = {"in": (X, dX), "fc1": (A1, dA1), "bn": (B, dB), "relu": (R, dR), "fc2": (L, dL)}
    grads = [dA1.T @ X, dA1.sum(0)[:, None], (dB * xhat).sum(0)[:, None], dB.sum(0)[:, None], dL.T @ R,
             dL.sum(0)[:, None]]
    return layers, grads


LEARNABLES = ["fc1/Weights", "fc1/Bias", "bn/Scale", "bn/Offset", "fc2/Weights", "fc2/Bias"]


def _rms(a):
    return np.sqrt(np.mean(np.square(a)))


def test_every_recorded_number_matches_a_float64_twin_of_sgd_training():
    params, X, Y = _mlp_data()
    rate, batch, bins = 0.2, 8, 12
    options = trainingOptions("sgdm", Momentum=0, L2Regularization=0, InitialLearnRate=rate, MaxEpochs=2,
                              MiniBatchSize=batch, Shuffle="never", Verbose=False,
                              Probe=trainingProbe(Frequency=1, Percentiles=LEVELS, NumBins=bins))
    net, info = trainNetwork(X.astype(np.float32), Y, _mlp_layers(params), options)
    probe = info.Probe
    np.testing.assert_array_equal(probe.Iteration, np.arange(1, 9))
    assert list(probe.Activations) == ["in", "fc1", "bn", "relu", "fc2"]    # softmax absorbed by the loss
    assert list(probe.Learnables) == LEARNABLES
    T = np.eye(3)[Y]
    for k in range(8):
        rows = slice((k % 4) * batch, (k % 4 + 1) * batch)
        layers, grads = _twin_iteration(params, X[rows], T[rows])
        for name, (Z, dZ) in layers.items():
            record = probe.Activations[name]
            close = dict(rtol=2e-4, atol=2e-6)
            np.testing.assert_allclose(record.Mean[k], Z.mean(), **close)
            np.testing.assert_allclose(record.Std[k], Z.std(), **close)
            np.testing.assert_allclose(record.RMS[k], _rms(Z), **close)
            np.testing.assert_allclose(record.Percentiles[k], np.percentile(Z, LEVELS), **close)
            np.testing.assert_allclose(record.BinEdges[k], np.linspace(Z.min(), Z.max(), bins + 1), **close)
            counts, _ = np.histogram(Z, bins)
            assert record.Histogram[k].sum() == Z.size and np.abs(record.Histogram[k] - counts).max() <= 1
            np.testing.assert_allclose(record.GradientRMS[k], _rms(dZ), rtol=2e-4, atol=1e-9)
            assert record.GradientHistogram[k].sum() == dZ.size
        new = []
        for label, p, g in zip(LEARNABLES, params, grads):
            record = probe.Learnables[label]
            np.testing.assert_allclose(record.RMS[k], _rms(p), rtol=1e-5)
            # atol: fc1's bias, just before batch norm, has gradient 0 exactly (float32 leaves ~1e-8)
            np.testing.assert_allclose(record.GradientRMS[k], _rms(g), rtol=2e-4, atol=1e-7)
            # SGD without momentum or L2: ΔW = −rate·g, so the ratio is rate·‖g‖/‖W‖
            np.testing.assert_allclose(record.UpdateRatio[k], rate * np.linalg.norm(g) / np.linalg.norm(p),
                                       rtol=2e-4, atol=1e-6)
            new.append(p - rate * g)
        params = new
    np.testing.assert_allclose(net.Layers[1].Weights, params[0], rtol=1e-4, atol=1e-6)   # the twin trained alike


def test_frequency_layer_choice_and_time_spent():
    params, X, Y = _mlp_data()
    options = trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, Verbose=False,
                              Probe=trainingProbe(Layers=["bn", "fc2"], Frequency=5, NumBins=7))
    _, info = trainNetwork(X.astype(np.float32), Y, _mlp_layers(params), options)
    np.testing.assert_array_equal(info.Probe.Iteration, [1, 5, 10])    # 12 iterations
    assert list(info.Probe.Activations) == ["bn", "fc2"]
    assert sorted(info.Probe.Learnables) == ["bn/Offset", "bn/Scale", "fc2/Bias", "fc2/Weights"]
    assert info.Probe.Activations.bn.Histogram.shape == (3, 7) and info.Probe.Activations.bn.BinEdges.shape == (3, 8)
    assert info.Probe.TimeSpent > 0 and "3 iterations of 2 layers" in repr(info.Probe)
    without = trainNetwork(X.astype(np.float32), Y, _mlp_layers(params),
                           trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, Verbose=False))
    assert "Probe" not in without._training_info


class ScaledTanh(Layer):
    """A MATLAB-style custom layer (MATLAB layouts, backward(X, Z, dLdZ, memory)):
    Z = tanh(Alpha·X), one Alpha per channel."""
    Learnable = ("Alpha",)

    def __init__(self, channels, name):
        self.Name = name
        self.Alpha = np.linspace(0.5, 1.5, channels).reshape(1, 1, channels)

    def predict(self, X):
        return np.tanh(self.Alpha * X)

    def backward(self, X, Z, dLdZ, memory):
        dLdU = dLdZ * (1 - Z * Z)
        dLdAlpha = np.sum(dLdU * X, axis=(0, 1, 3), keepdims=True)
        return dLdU * self.Alpha, dLdAlpha


def _residual_net():
    """input → conv → bn → ScaledTanh → add(+input) → global average pool → fc (a dlnetwork)."""
    minidl.rng(3)
    lgraph = layerGraph([imageInputLayer([5, 5, 2], Name="in", Normalization="none"),
                         convolution2dLayer(3, 2, Padding="same", Name="conv"), batchNormalizationLayer(Name="bn"),
                         ScaledTanh(2, "tanh"), additionLayer(2, Name="add"), dropoutLayer(0.3, Name="drop"),
                         globalAveragePooling2dLayer(Name="gap"), fullyConnectedLayer(3, Name="fc"),
                         softmaxLayer(Name="sm")])
    return minidl.dlnetwork(connectLayers(lgraph, "in", "add/in2"))


def _residual_data():
    gen = np.random.default_rng(4)
    return gen.normal(0, 1, (5, 5, 2, 12)).astype(np.float32), np.arange(12) % 3    # every class in every 3+ rows


def _train_residual(net, X, Y, probe, iterations=3, solver="adam"):
    minidl.rng(5)     # the dropout masks
    options = trainingOptions(solver, MaxEpochs=1, MiniBatchSize=4, Shuffle="never", Verbose=False, Probe=probe)
    return trainnet(X[..., :4 * iterations], Y[:4 * iterations], net, "crossentropy", options)


def test_residual_dag_with_a_matlab_style_layer_matches_float64_through_its_layers():
    net0 = _residual_net()
    X, Y = _residual_data()
    minidl.rng(5)
    layers = {layer.Name: layer for layer in net0.Layers}
    # the dropout mask trainnet will draw at iteration 1 (dropout draws from the global generator)
    _, info = _train_residual(net0, X, Y, trainingProbe(Percentiles=LEVELS, NumBins=9), iterations=1)
    minidl.rng(5)
    x = np.ascontiguousarray(X[..., :4].transpose(3, 2, 0, 1), dtype=np.float64)
    values, memories = {"in": x}, {}
    chain = [("conv", "in"), ("bn", "conv"), ("tanh", "bn")]
    for name, source in chain:
        values[name], memories[name] = layers[name].forward(values[source])
    values["add"] = values["tanh"] + x
    values["drop"], memories["drop"] = layers["drop"].forward(values["add"])
    values["gap"] = values["drop"].mean(axis=(2, 3))
    W, b = layers["fc"].Weights.astype(np.float64), layers["fc"].Bias.astype(np.float64)
    values["fc"] = values["gap"] @ W.T + b.T
    P = np.exp(values["fc"] - values["fc"].max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    values["sm"] = P
    T = np.eye(3)[Y[:4]]
    grads = {"sm": -T / (P * 4), "fc": (P - T) / 4}     # trainnet's crossentropy, then the softmax
    grads["gap"] = grads["fc"] @ W
    grads["drop"] = np.broadcast_to(grads["gap"][:, :, None, None] / 25, values["drop"].shape)
    grads["add"], _ = layers["drop"].backward(grads["drop"], memories["drop"])
    grads["tanh"] = grads["add"]
    grads["bn"], tanh_grads = layers["tanh"].backward(grads["tanh"], memories["tanh"])
    grads["conv"], _ = layers["bn"].backward(grads["bn"], memories["bn"])
    dconv_input, _ = layers["conv"].backward(grads["conv"], memories["conv"])
    grads["in"] = dconv_input + grads["add"]        # fan-out: the convolution path plus the skip
    probe = info.Probe
    assert list(probe.Activations) == ["in", "conv", "bn", "tanh", "add", "drop", "gap", "fc", "sm"]
    for name, Z in values.items():
        record = probe.Activations[name]
        np.testing.assert_allclose([record.Mean[0], record.Std[0]], [Z.mean(), Z.std()], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(record.Percentiles[0], np.percentile(Z, LEVELS), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(record.GradientRMS[0], _rms(grads[name]), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(probe.Learnables["tanh/Alpha"].GradientRMS[0], _rms(tanh_grads["Alpha"]), rtol=1e-4)


def test_update_ratio_is_the_measured_change_of_the_learnables_and_training_is_unchanged():
    X, Y = _residual_data()
    before, _ = _train_residual(_residual_net(), X, Y, None, iterations=2)
    after, info = _train_residual(_residual_net(), X, Y, trainingProbe(), iterations=3)
    plain, plain_info = _train_residual(_residual_net(), X, Y, None, iterations=3)
    for layer, old in zip(after.Layers, before.Layers):
        for name in getattr(old, "learnables", ()):
            W0 = np.asarray(getattr(old, name), np.float64)
            W1 = np.asarray(getattr(layer, name), np.float64)
            record = info.Probe.Learnables[f"{layer.Name}/{name}"]
            np.testing.assert_allclose(record.UpdateRatio[-1], np.linalg.norm(W1 - W0) / np.linalg.norm(W0),
                                       rtol=1e-6)
            np.testing.assert_allclose(record.RMS[-1], _rms(W0), rtol=1e-6)
    # with the probe on, training (dropout masks included) is bit for bit the same as without
    np.testing.assert_array_equal(info.TrainingLoss, plain_info.TrainingLoss)
    for layer, other in zip(after.Layers, plain.Layers):
        for name in getattr(layer, "learnables", ()):
            np.testing.assert_array_equal(getattr(layer, name), getattr(other, name))


@pytest.mark.filterwarnings("ignore:.*final .population. statistics pass")
def test_zero_weights_give_nan_ratio_and_undone_iterations_are_not_recorded():
    params, X, Y = _mlp_data()
    params[1] = np.zeros_like(params[1])     # fc1 bias starts at zero: ratio undefined at iteration 1
    options = trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=8, Verbose=False, Probe=trainingProbe())
    _, info = trainNetwork(X.astype(np.float32), Y, _mlp_layers(params), options)
    ratio = info.Probe.Learnables["fc1/Bias"].UpdateRatio
    assert np.isnan(ratio[0]) and np.all(np.isfinite(ratio[1:]))
    # the second iteration overflows float32: training stops and undoes it, so it is not recorded
    with pytest.warns(RuntimeWarning, match="stopped training"):
        _, info = trainNetwork(X.astype(np.float32), Y, _mlp_layers(params),
                               trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=8, Verbose=False,
                                               InitialLearnRate=1e38, Probe=trainingProbe()))
    assert len(info.TrainingLoss) == 1 and list(info.Probe.Iteration) == [1]
    # an OutputFcn that stops at the start: nothing recorded, arrays of the right shapes, a clear plot error
    _, info = trainNetwork(X.astype(np.float32), Y, _mlp_layers(params),
                           trainingOptions("sgdm", MaxEpochs=1, Verbose=False, OutputFcn=lambda state: True,
                                           Probe=trainingProbe(NumBins=4)))
    assert len(info.Probe.Iteration) == 0 and info.Probe.Learnables == {}
    assert info.Probe.Activations.bn.Histogram.shape == (0, 4) and info.Probe.Activations.bn.Percentiles.shape == (0, 3)
    with pytest.raises(ValueError, match="nothing was recorded"):
        info.Probe.plot("ratios")


@pytest.mark.parametrize("options, message", [
    (dict(Frequency=0), "Frequency must be a positive integer"),
    (dict(Percentiles=[50, 101]), r"Percentiles must be numbers in \[0, 100\]"),
    (dict(Percentiles=[np.nan]), "Percentiles"),
    (dict(Percentiles="median"), "Percentiles"),
    (dict(NumBins=2.5), "NumBins must be"),
    (dict(Layers=[3]), "Layers must be 'all' or a list of layer names"),
    (dict(Layer="all"), "Layers"),
])
def test_bad_probe_options_are_named(options, message):
    with pytest.raises(minidl.OptionError, match=message):
        trainingProbe(**options)


def test_bad_probe_values_in_training_are_named():
    with pytest.raises(minidl.OptionError, match="Probe must come from trainingProbe"):
        trainingOptions("sgdm", Probe="on")
    params, X, Y = _mlp_data()
    options = trainingOptions("sgdm", MaxEpochs=1, Verbose=False, Probe=trainingProbe(Layers=["fc1", "nope", "out"]))
    with pytest.raises(ValueError, match=r"trainNetwork: trainingProbe Layers \['nope', 'out'\]"):
        trainNetwork(X.astype(np.float32), Y, _mlp_layers(params), options)
    assert "Probe: trainingProbe(Layers='all', Frequency=1" in str(trainingOptions("sgdm", Probe=trainingProbe()))


def test_an_iteration_undone_after_its_record_is_dropped(monkeypatch):
    """A second Ctrl-C after the update (here: while the iteration's record is written) undoes
    the iteration; the probe drops it too."""
    import minidl.training.loop as loop
    calls = []

    def elapsed(self):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return 0.0

    monkeypatch.setattr(loop.Progress, "elapsed", elapsed)
    params, X, Y = _mlp_data()
    _, info = trainNetwork(X.astype(np.float32), Y, _mlp_layers(params),
                           trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=8, Verbose=False, Probe=trainingProbe()))
    assert info.StopReason.startswith("Stopped manually")
    assert len(info.TrainingLoss) == len(info.Probe.Iteration) == len(info.Probe.Learnables["fc1/Weights"].RMS)
    assert len(info.Probe.Activations["bn"].Mean) == len(info.TrainingLoss) < 4
