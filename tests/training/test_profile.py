"""profileNetwork: a row per plan step with real times, the caller's network untouched, and
clear errors for bad input."""
import numpy as np
import pytest

import minidl


def small():
    rng = np.random.default_rng(0)
    X = rng.random((8, 8, 1, 64)).astype(np.float32)
    Y = np.arange(64) % 2
    layers = [minidl.imageInputLayer([8, 8, 1]), minidl.convolution2dLayer(3, 4, Padding="same"),
              minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.maxPooling2dLayer(2, Stride=2),
              minidl.fullyConnectedLayer(2), minidl.softmaxLayer(), minidl.classificationLayer()]
    return X, Y, layers


def test_rows_follow_the_training_plan_and_a_trained_network_is_not_changed():
    X, Y, layers = small()
    net, _ = minidl.trainNetwork(X, Y, layers, minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=16,
                                                                       Verbose=False))
    before = [{k: v.copy() for k, v in vars(layer).items() if isinstance(v, np.ndarray)} for layer in net.Layers]
    scores = minidl.predict(net, X)
    report = minidl.profileNetwork(net, X, Y, MiniBatchSize=16, NumIterations=2, Print=False)
    assert [row["Layers"] for row in report.rows] == [
        "imageinput", "conv", "batchnorm+relu", "maxpool", "fc", "softmax+classoutput (loss)"]
    assert all(row["Forward"] > 0 for row in report.rows)
    assert report.rows[2]["Predict"] == 0 and report.rows[1]["Predict"] > 0   # BN folded into the conv
    assert report.Iteration > 0 and report.Prediction > 0 and report.MiniBatchSize == 16
    for layer, arrays in zip(net.Layers, before):
        for name, value in arrays.items():
            assert np.array_equal(getattr(layer, name), value), f"{layer.Name}.{name} changed"
    np.testing.assert_array_equal(minidl.predict(net, X), scores)


def test_bad_input_gets_a_clear_error():
    X, Y, layers = small()
    bad = X.copy()
    bad[0, 0, 0, 3] = np.nan
    with pytest.raises(ValueError, match="^profileNetwork: X contains NaN"):
        minidl.profileNetwork(layers, bad, Y, Print=False)
    with pytest.raises(ValueError, match="^profileNetwork: X has 64 observations but Y has 10"):
        minidl.profileNetwork(layers, X, Y[:10], Print=False)
    with pytest.raises(TypeError, match="^profileNetwork: X must be numeric"):
        minidl.profileNetwork(layers, np.full((8, 8, 1, 4), "a"), Y[:4], Print=False)
    for name, value in (("MiniBatchSize", 0), ("NumIterations", 1.5)):
        with pytest.raises(ValueError, match=f"^profileNetwork: {name} must be a positive integer"):
            minidl.profileNetwork(layers, X, Y, Print=False, **{name: value})
    with pytest.raises(TypeError, match="^profileNetwork: layers must be a list of layers"):
        minidl.profileNetwork("conv", X, Y, Print=False)
