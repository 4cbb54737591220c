"""trainnet records every metric of Metrics (MATLAB's TrainingHistory/ValidationHistory
columns), each against a hand computation: frozen weights make every iteration's training
metrics the metrics of fixed softmax scores on that mini-batch."""
import numpy as np

import minidl
from minidl.table import Table

RS = np.random.default_rng(8)
W, B = RS.standard_normal((3, 4)), RS.standard_normal((3, 1))
X = RS.standard_normal((24, 4))
T = RS.integers(0, 3, 24)


def hand(Xpart, Tpart):
    Z = Xpart @ W.T + B.T
    Y = np.exp(Z - Z.max(axis=1, keepdims=True))
    Y /= Y.sum(axis=1, keepdims=True)
    onehot = np.eye(3)[Tpart]
    accuracy = 100 * np.mean(Y.argmax(1) == Tpart)
    return {"Accuracy": accuracy, "FScore": accuracy / 100, "RMSE": np.sqrt(np.mean((Y - onehot) ** 2)),
            "Loss": -np.sum(onehot * np.log(Y)) / len(Tpart)}


def test_every_metric_is_recorded_per_iteration_and_per_validation():
    layers = [minidl.featureInputLayer(4, Normalization="none"),
              minidl.fullyConnectedLayer(3, Weights=W, Bias=B, WeightLearnRateFactor=0, BiasLearnRateFactor=0),
              minidl.softmaxLayer()]
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=6, Shuffle="never", Verbose=False,
                                     Metrics=["accuracy", "fscore", "rmse"], ValidationData=(X[:9], T[:9]),
                                     ValidationFrequency=3)
    net, info = minidl.trainnet(X, T, layers, "crossentropy", options)
    history = info.TrainingHistory
    assert isinstance(history, Table) and len(history) == 8
    assert history.Properties.VariableNames == ["Iteration", "Epoch", "Loss", "LearnRate", "Accuracy", "FScore", "RMSE"]
    assert history.Epoch.tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    for row in history:
        start = (row.Iteration - 1) % 4 * 6
        expected = hand(X[start:start + 6], T[start:start + 6])
        for name, value in expected.items():
            np.testing.assert_allclose(row[name], value, rtol=1e-5, err_msg=name)
    np.testing.assert_array_equal(info.TrainingFScore, history.FScore)
    validation = info.ValidationHistory
    assert validation.Iteration.tolist() == [1, 3, 6, 8]
    expected = hand(X[:9], T[:9])
    for name in ("Accuracy", "FScore", "RMSE", "Loss"):
        np.testing.assert_allclose(validation[name], expected[name], rtol=1e-5)
        if name != "Loss":
            np.testing.assert_allclose(info["FinalValidation" + name], expected[name], rtol=1e-5)
            assert np.isnan(info["Validation" + name][1]) and len(info["Validation" + name]) == 8
    values = minidl.testnet(net, X[:9], T[:9], ["accuracy", "fscore", "rmse"])
    np.testing.assert_allclose(values, [info.FinalValidationAccuracy, info.FinalValidationFScore,
                                        info.FinalValidationRMSE], rtol=1e-6)


def test_one_metric_by_default_and_no_validation_history_without_validation_data():
    layers = [minidl.featureInputLayer(4), minidl.fullyConnectedLayer(3), minidl.softmaxLayer()]
    options = minidl.trainingOptions("adam", MaxEpochs=1, MiniBatchSize=8, Verbose=False)
    _, info = minidl.trainnet(X, T, layers, "crossentropy", options)
    assert info.TrainingHistory.Properties.VariableNames[-1] == "Accuracy" and "ValidationHistory" not in info
