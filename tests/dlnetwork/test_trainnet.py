"""trainnet: each built-in loss and a custom loss against a hand-written NumPy loss whose
gradient comes from finite differences (one SGD step on a one-layer network), Metrics in
info, and the batch-normalization statistics policies."""
import numpy as np
import pytest

import minidl

RS = np.random.default_rng(11)
N, C, K, LR = 6, 3, 3, 0.1
X = RS.standard_normal((N, C))
W0, B0 = RS.standard_normal((K, C)) * 0.5, RS.standard_normal((K, 1)) * 0.5
LABELS = np.array(["a", "b", "c", "a", "c", "b"])
ONE_HOT = (LABELS[:, None] == np.array(["a", "b", "c"])).astype(float)


def softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def huber(r):
    return np.where(np.abs(r) <= 1, 0.5 * r * r, np.abs(r) - 0.5)


# name: (targets given to trainnet, targets as an array, softmax at the end, loss of Y and T)
CASES = {
    "crossentropy": (LABELS, ONE_HOT, True, lambda Y, T: -np.sum(T * np.log(Y)) / N),
    "index-crossentropy": (np.array([1, 2, 3, 1, 3, 2]), ONE_HOT, True, lambda Y, T: -np.sum(T * np.log(Y)) / N),
    "binary-crossentropy": (ONE_HOT, ONE_HOT, True,
                            lambda Y, T: -np.sum(T * np.log(Y) + (1 - T) * np.log(1 - Y)) / Y.size),
    "mse": (3 * ONE_HOT - 1, 3 * ONE_HOT - 1, False, lambda Y, T: np.sum((Y - T) ** 2) / Y.size),
    "l1loss": (3 * ONE_HOT - 1, 3 * ONE_HOT - 1, False, lambda Y, T: np.sum(np.abs(Y - T)) / Y.size),
    "huber": (3 * ONE_HOT - 1, 3 * ONE_HOT - 1, False, lambda Y, T: np.sum(huber(Y - T)) / Y.size),
}


def network(with_softmax):
    layers = [minidl.featureInputLayer(C, Normalization="none"),
              minidl.fullyConnectedLayer(K, Weights=W0, Bias=B0)]
    return layers + [minidl.softmaxLayer()] if with_softmax else layers


def one_step(targets, loss, with_softmax, **options):
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=N, InitialLearnRate=LR, Momentum=0,
                                     L2Regularization=0, Shuffle="never", Verbose=False, **options)
    return minidl.trainnet(X, targets, network(with_softmax), loss, options)


def finite_differences(loss_of_params, params, h=1e-6):
    grads = []
    for index, p in enumerate(params):
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            up = [q.copy() for q in params]
            down = [q.copy() for q in params]
            up[index][i] += h
            down[index][i] -= h
            g[i] = (loss_of_params(*up) - loss_of_params(*down)) / (2 * h)
        grads.append(g)
    return grads


def check_step(net, info, hand_loss, T, with_softmax):
    def loss_of(W, b):
        Z = X @ W.T + b.T
        return hand_loss(softmax(Z) if with_softmax else Z, T)

    gW, gb = finite_differences(loss_of, [W0, B0])
    assert info.TrainingLoss[0] == pytest.approx(loss_of(W0, B0), rel=1e-5)
    np.testing.assert_allclose(net.Learnables.Value[0], W0 - LR * gW, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.Learnables.Value[1], B0 - LR * gb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss", list(CASES))
def test_each_builtin_loss_and_its_gradient(loss):
    given, T, with_softmax, hand_loss = CASES[loss]
    net, info = one_step(given, loss, with_softmax)
    check_step(net, info, hand_loss, T, with_softmax)


def test_a_custom_loss_gets_matlab_layouts_and_its_gradient_is_used():
    T = 3 * ONE_HOT - 1
    seen = {}

    def quartic(Y, T):
        seen["shapes"] = (Y.shape, T.shape)
        return float(np.sum((Y - T) ** 4) / Y.shape[0]), 4 * (Y - T) ** 3 / Y.shape[0]

    net, info = one_step(T, quartic, False)
    assert seen["shapes"] == ((N, K), (N, K))
    check_step(net, info, lambda Y, T: np.sum((Y - T) ** 4) / N, T, False)


def test_a_custom_loss_with_a_wrong_result_is_refused_clearly():
    with pytest.raises(TypeError, match=r"trainnet: lossFcn bad must return \(loss, gradient\)"):
        one_step(ONE_HOT, _named("bad", lambda Y, T: 1.0), False)
    with pytest.raises(ValueError, match="gradient of the size of Y"):
        one_step(ONE_HOT, _named("short", lambda Y, T: (1.0, Y[:1])), False)


def _named(name, function):
    function.__name__ = name
    return function


def test_unknown_loss_names_suggest_the_valid_ones():
    with pytest.raises(minidl.OptionError, match=r"trainnet: lossFcn must be one of .*'crossentropy'.*function"):
        one_step(LABELS, "cross-entropy-loss", True)


def test_the_given_network_is_not_changed_and_the_result_is_a_dlnetwork():
    net = minidl.dlnetwork(network(True))
    trained, _ = minidl.trainnet(X, LABELS, net, "crossentropy", minidl.trainingOptions("sgdm", MaxEpochs=1,
                                                                                      Verbose=False))
    assert isinstance(trained, minidl.dlnetwork) and trained.Initialized
    np.testing.assert_allclose(net.Learnables.Value[0], W0.astype(np.float32))
    assert not np.allclose(trained.Learnables.Value[0], W0)
    assert list(trained.class_names) == ["a", "b", "c"]


def test_metrics_in_info():
    net, info = one_step(LABELS, "crossentropy", True, Metrics=["accuracy", "fscore"])
    Y0 = softmax(X @ W0.T + B0.T)
    assert info.TrainingAccuracy[0] == pytest.approx(100 * np.mean(Y0.argmax(1) == ONE_HOT.argmax(1)))
    T = 3 * ONE_HOT - 1
    net, info = one_step(T, "mse", False, Metrics="rmse")
    assert info.TrainingRMSE[0] == pytest.approx(np.sqrt(np.mean((X @ W0.T + B0.T - T) ** 2)), rel=1e-5)


def test_metrics_and_objective_options_are_checked():
    assert minidl.trainingOptions("adam", Metrics="Accuracy").Metrics == ["accuracy"]
    assert minidl.trainingOptions("adam").Metrics == [] and minidl.trainingOptions("adam").ObjectiveMetricName == "loss"
    with pytest.raises(minidl.OptionError, match="trainingOptions: Metrics must be one of"):
        minidl.trainingOptions("adam", Metrics=["accuracy", "auc-roc-x"])
    with pytest.raises(minidl.OptionError, match="ObjectiveMetricName must be 'loss' or one of the Metrics"):
        minidl.trainingOptions("adam", Metrics="rmse", ObjectiveMetricName="accuracy")


@pytest.mark.parametrize("policy", ["population", "moving"])
def test_batch_norm_statistics_follow_the_option(policy):
    frozen = dict(WeightLearnRateFactor=0, BiasLearnRateFactor=0)
    layers = [minidl.featureInputLayer(C, Normalization="none"),
              minidl.fullyConnectedLayer(K, Weights=W0, Bias=B0, **frozen),
              minidl.batchNormalizationLayer(Name="bn", ScaleLearnRateFactor=0, OffsetLearnRateFactor=0)]
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=N, Verbose=False, Shuffle="never",
                                     BatchNormalizationStatistics=policy)
    net, _ = minidl.trainnet(X, 3 * ONE_HOT - 1, layers, "mse", options)
    Z = X @ W0.T + B0.T
    mean, var = Z.mean(axis=0), Z.var(axis=0)
    if policy == "moving":      # two iterations from 0 and 1
        mean, var = 0.9 * (0.1 * mean) + 0.1 * mean, 0.9 * (0.9 + 0.1 * var) + 0.1 * var
    np.testing.assert_allclose(net.State.Value[0].ravel(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.State.Value[1].ravel(), var, rtol=1e-5, atol=1e-6)
