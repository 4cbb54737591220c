"""trainNetwork against MATLAB's formulas, iteration counts and batch-norm statistics."""
import io
import contextlib

import numpy as np
import pytest

import minidl


def blobs(n, size=(4, 4, 1), classes=3, seed=0):
    """Separable toy images: class k has a bright pixel block k."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    X = rng.normal(0, 0.3, (*size, n)).astype(np.float32)
    for k in range(classes):
        X[k % size[0], :, 0, labels == k] += 2.0
    return X, labels


def small_layers(classes=3, size=(4, 4, 1), batchnorm=False):
    layers = [minidl.imageInputLayer(list(size))]
    if batchnorm:
        layers += [minidl.batchNormalizationLayer()]
    return layers + [minidl.fullyConnectedLayer(classes), minidl.softmaxLayer(), minidl.classificationLayer()]


def test_matlab_example_iteration_and_validation_schedule():
    """7500 observations, MiniBatchSize 128, 4 epochs: 58 iterations per epoch, 232 in all,
    validation at 1, 30, 60, ..., 210 and 232."""
    X, Y = blobs(7500, size=(2, 2, 1))
    Xv, Yv = blobs(300, size=(2, 2, 1), seed=1)
    options = minidl.trainingOptions("sgdm", MaxEpochs=4, Shuffle="every-epoch", ValidationData=(Xv, Yv),
                                     ValidationFrequency=30, Verbose=False)
    _, info = minidl.trainNetwork(X, Y, small_layers(size=(2, 2, 1)), options)
    assert len(info.TrainingLoss) == 232
    validated = np.flatnonzero(~np.isnan(info.ValidationLoss)) + 1
    assert validated.tolist() == [1, 30, 60, 90, 120, 150, 180, 210, 232]
    assert np.all(info.BaseLearnRate == 0.01)
    assert info.OutputNetworkIteration == 232
    assert np.isfinite(info.FinalValidationLoss) and 0 <= info.FinalValidationAccuracy <= 100


def test_minibatch_larger_than_data_is_clipped():
    X, Y = blobs(50)
    options = minidl.trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=128, Verbose=False)
    _, info = minidl.trainNetwork(X, Y, small_layers(), options)
    assert len(info.TrainingLoss) == 3


def test_sgdm_steps_match_hand_computed_formula():
    """Two iterations on a feature-free fc network, redone by hand in float64:
    g = dL/dW + λ·W (no L2 on the bias), v = m·v − α·g, W = W + v."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1, 1, 3, 8)).astype(np.float32)
    Y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    W0 = rng.standard_normal((2, 3)).astype(np.float32)
    b0 = rng.standard_normal((2, 1)).astype(np.float32)
    layers = [minidl.imageInputLayer([1, 1, 3], Normalization="none"),
              minidl.fullyConnectedLayer(2, Weights=W0, Bias=b0), minidl.softmaxLayer(),
              minidl.classificationLayer()]
    lr, momentum, l2 = 0.1, 0.8, 0.01
    options = minidl.trainingOptions("sgdm", InitialLearnRate=lr, Momentum=momentum, L2Regularization=l2,
                                     MaxEpochs=2, MiniBatchSize=8, Shuffle="never", Verbose=False)
    net, info = minidl.trainNetwork(X, Y, layers, options)

    x = X[0, 0].T.astype(np.float64)  # 8×3
    T = np.eye(2)[Y]
    W, b = W0.astype(np.float64), b0.astype(np.float64)[:, 0]
    vW, vb = np.zeros_like(W), np.zeros_like(b)
    losses = []
    for _ in range(2):
        z = x @ W.T + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        losses.append(-np.sum(T * np.log(p)) / 8)
        dz = (p - T) / 8
        gW, gb = dz.T @ x + l2 * W, dz.sum(0)
        vW, vb = momentum * vW - lr * gW, momentum * vb - lr * gb
        W, b = W + vW, b + vb
    np.testing.assert_allclose(info.TrainingLoss, losses, rtol=1e-5)
    np.testing.assert_allclose(net.Layers[1].Weights, W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.Layers[1].Bias[:, 0], b, rtol=1e-5, atol=1e-6)


def bn_first_network(channels=2, decay=0.1):
    return [minidl.imageInputLayer([3, 3, channels], Normalization="none"),
            minidl.batchNormalizationLayer(MeanDecay=decay, VarianceDecay=decay),
            minidl.convolution2dLayer(3, 4), minidl.reluLayer(), minidl.fullyConnectedLayer(3),
            minidl.softmaxLayer(), minidl.classificationLayer()]


def bn_data(n=70, channels=2):
    rng = np.random.default_rng(7)
    scale = np.array([2.0, 0.5])[:channels, None]
    shift = np.array([3.0, -1.0])[:channels, None]
    X = (rng.standard_normal((3, 3, channels, n)) * scale + shift).astype(np.float32)
    return X, np.arange(n) % 3


def test_population_statistics_are_whole_training_set_mean_and_biased_variance():
    X, Y = bn_data()
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=16, Verbose=False)
    net, _ = minidl.trainNetwork(X, Y, bn_first_network(), options)
    bn = net.Layers[1]
    x = X.astype(np.float64)  # the last partial batch (70 = 4·16 + 6) is included
    np.testing.assert_allclose(bn.TrainedMean.reshape(-1), x.mean(axis=(0, 1, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.TrainedVariance.reshape(-1), x.var(axis=(0, 1, 3)), rtol=1e-5)
    assert bn.TrainedMean.shape == (1, 1, 2)


def test_moving_statistics_follow_the_decay_formula():
    X, Y = bn_data()
    decay = 0.3
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=16, Shuffle="never", Verbose=False,
                                     BatchNormalizationStatistics="moving")
    net, _ = minidl.trainNetwork(X, Y, bn_first_network(decay=decay), options)
    mean, var = np.zeros(2), np.ones(2)
    x = X.astype(np.float64)
    for _ in range(2):
        for start in range(0, 64, 16):  # 4 full batches per epoch, the partial one dropped
            batch = x[..., start:start + 16]
            mean = (1 - decay) * mean + decay * batch.mean(axis=(0, 1, 3))
            var = (1 - decay) * var + decay * batch.var(axis=(0, 1, 3))
    bn = net.Layers[1]
    np.testing.assert_allclose(bn.TrainedMean.reshape(-1), mean, rtol=1e-5)
    np.testing.assert_allclose(bn.TrainedVariance.reshape(-1), var, rtol=1e-5)


def test_moving_statistics_start_from_given_values():
    X, Y = bn_data()
    layers = bn_first_network(decay=0.5)
    layers[1] = minidl.batchNormalizationLayer(MeanDecay=0.5, VarianceDecay=0.5,
                                               TrainedMean=[10, 20], TrainedVariance=[5, 6])
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=64, Shuffle="never", Verbose=False,
                                     BatchNormalizationStatistics="moving")
    net, _ = minidl.trainNetwork(X, Y, layers, options)
    batch = X[..., :64].astype(np.float64)
    np.testing.assert_allclose(net.Layers[1].TrainedMean.reshape(-1),
                               0.5 * np.array([10, 20]) + 0.5 * batch.mean(axis=(0, 1, 3)), rtol=1e-5)
    np.testing.assert_allclose(net.Layers[1].TrainedVariance.reshape(-1),
                               0.5 * np.array([5, 6]) + 0.5 * batch.var(axis=(0, 1, 3)), rtol=1e-5)


def test_training_does_not_change_the_callers_layers():
    X, Y = bn_data()
    layers = bn_first_network()
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=16, Verbose=False)
    minidl.trainNetwork(X, Y, layers, options)
    assert layers[2].Weights is None and layers[1].TrainedMean is None and layers[1].Name == ""


def test_same_seed_gives_identical_training_loss():
    X, Y = bn_data()
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=16, Shuffle="every-epoch", Verbose=False)
    runs = []
    for _ in range(2):
        minidl.rng(11)
        _, info = minidl.trainNetwork(X, Y, bn_first_network(), options)
        runs.append(info.TrainingLoss)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_verbose_table_header_rows_and_formats():
    X, Y = blobs(200)
    Xv, Yv = blobs(40, seed=2)
    options = minidl.trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=32, ValidationData=(Xv, Yv),
                                     ValidationFrequency=5, VerboseFrequency=7)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _, info = minidl.trainNetwork(X, Y, small_layers(), options)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Training on single CPU."
    assert lines[1] == "Initializing input data normalization."
    assert lines[2].startswith("|====") and lines[5].startswith("|====")
    headers = [c.strip() for c in lines[3].strip("|").split("|")]
    assert headers == ["Epoch", "Iteration", "Time Elapsed", "Mini-batch", "Validation", "Mini-batch",
                       "Validation", "Base Learning"]
    assert [c.strip() for c in lines[4].strip("|").split("|")] == [
        "", "", "(hh:mm:ss)", "Accuracy", "Accuracy", "Loss", "Loss", "Rate"]
    rows = [line for line in lines[6:] if line.startswith("|") and not line.startswith("|=")]
    iterations = [int(r.strip("|").split("|")[1]) for r in rows]
    # iteration 1, multiples of 5 (validation) or 7 (verbose), and the last (18)
    assert iterations == [1, 5, 7, 10, 14, 15, 18]
    first = [c.strip() for c in rows[0].strip("|").split("|")]
    assert first[0] == "1" and first[2] == "00:00:00"
    assert first[3] == f"{info.TrainingAccuracy[0]:.2f}%" and first[4] == f"{info.ValidationAccuracy[0]:.2f}%"
    assert first[5] == f"{info.TrainingLoss[0]:.4f}" and first[7] == "0.0100"
    seventh = [c.strip() for c in rows[2].strip("|").split("|")]
    assert seventh[4] == "" and seventh[6] == ""  # no validation at iteration 7
    assert lines[-2].startswith("|====") and lines[-1] == "Training finished: Max epochs completed."


def test_number_formats():
    from minidl.training.progress import format_loss, format_rate, format_time
    assert format_loss(0.12345) == "0.1235" and format_loss(5e-5) == "5.000000e-05"
    assert format_loss(2e6) == "2.000000e+06"
    assert format_rate(0.01) == "0.0100" and format_rate(1e-5) == "1.000000e-05"
    assert format_time(3725) == "01:02:05"


@pytest.mark.parametrize("call,message", [
    (lambda X, Y, L, o: minidl.trainNetwork(X, Y[:-1], L, o), "X has 60 observations but Y has 59 labels"),
    (lambda X, Y, L, o: minidl.trainNetwork(X[:, :, 0, :], Y, L, o), r"received 4×4×60 .*X\[:, :, None, :\]"),
    (lambda X, Y, L, o: minidl.trainNetwork(np.where(X > 1, np.nan, X), Y, L, o), "X contains NaN"),
    (lambda X, Y, L, o: minidl.trainNetwork(X, Y, L, minidl.trainingOptions(
        "sgdm", ValidationData=(X, Y + 5), Verbose=False)), r"labels \[5, 6, 7\] are not among the classes \[0, 1, 2\]"),
    (lambda X, Y, L, o: minidl.trainNetwork(X, Y, L[:-2] + L[-1:], o), "must be preceded by a softmax layer; it follows .fc."),
    (lambda X, Y, L, o: minidl.trainNetwork(X, Y, L), "call as trainNetwork"),
])
def test_bad_training_input_gets_clear_errors(call, message):
    X, Y = blobs(60)
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, Verbose=False)
    with pytest.raises((ValueError, TypeError), match=message):
        call(X, Y, small_layers(), options)


def test_wrong_number_of_classes_is_reported():
    X, Y = blobs(60)
    with pytest.raises(ValueError, match="data has 3 classes but the network outputs 4"):
        minidl.trainNetwork(X, Y, small_layers(classes=4), minidl.trainingOptions("sgdm", Verbose=False))


@pytest.mark.parametrize("kwargs,message", [
    (dict(MaxEpochs=0), r"MaxEpochs must be an integer in \[1, inf\]; received 0"),
    (dict(Shuffle="always"), "Shuffle must be one of 'once', 'never', 'every-epoch'"),
    (dict(MaxEpoch=3), "unknown option 'MaxEpoch'. Did you mean 'MaxEpochs'"),
    (dict(Momentum=1.5), r"Momentum must be a number in \[0, 1\]"),
    (dict(ExecutionEnvironment="gpu"), "'gpu' is not supported"),
])
def test_training_options_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        minidl.trainingOptions("sgdm", **kwargs)


def test_training_options_defaults_and_pair_syntax():
    options = minidl.trainingOptions("sgdm", "MaxEpochs", 4, "Shuffle", "every-epoch")
    assert (options.MaxEpochs, options.Shuffle, options.InitialLearnRate, options.Momentum) == (4, "every-epoch", 0.01, 0.9)
    assert (options.MiniBatchSize, options.L2Regularization, options.ValidationFrequency) == (128, 1e-4, 50)
    assert options.BatchNormalizationStatistics == "population"
    assert minidl.trainingOptions("adam").InitialLearnRate == 0.001
    assert "MaxEpochs: 4" in repr(options)
