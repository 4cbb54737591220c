"""dlnetwork: construction, Learnables/State tables against the layers' arrays, value
semantics of the graph functions, predict against the SeriesNetwork, forward in training
mode against a NumPy hand computation."""
import numpy as np
import pytest

import minidl

RS = np.random.default_rng(7)
W1, B1 = RS.standard_normal((4, 3)), RS.standard_normal((4, 1))
SCALE, OFFSET = RS.random((4, 1)) + 0.5, RS.standard_normal((4, 1))
MEAN, VAR = RS.standard_normal((4, 1)), RS.random((4, 1)) + 0.5
W2, B2 = RS.standard_normal((2, 4)), RS.standard_normal((2, 1))


def layers():
    return [minidl.featureInputLayer(3, Name="in"),
            minidl.fullyConnectedLayer(4, Name="fc1", Weights=W1, Bias=B1),
            minidl.batchNormalizationLayer(Name="bn", Scale=SCALE, Offset=OFFSET, TrainedMean=MEAN,
                                           TrainedVariance=VAR),
            minidl.reluLayer(Name="relu"),
            minidl.fullyConnectedLayer(2, Name="fc2", Weights=W2, Bias=B2),
            minidl.softmaxLayer(Name="sm")]


def test_construction_names_layers_and_is_initialized():
    net = minidl.dlnetwork(layers())
    assert net.Initialized
    assert [layer.Name for layer in net.Layers] == ["in", "fc1", "bn", "relu", "fc2", "sm"]
    assert net.InputNames == ["in"] and net.OutputNames == ["sm"]
    assert len(net.Connections) == 5 and net.Connections.Source[0] == "in"
    unnamed = minidl.dlnetwork([minidl.featureInputLayer(3), minidl.fullyConnectedLayer(2), minidl.reluLayer()])
    assert [layer.Name for layer in unnamed.Layers] == ["input", "fc", "relu"]


def test_output_layers_are_refused_with_the_trainnet_fix():
    with pytest.raises(ValueError, match=r"dlnetwork: layer 'classoutput'.*trainnet"):
        minidl.dlnetwork(layers() + [minidl.classificationLayer()])


def test_initialize_false_and_initialize():
    net = minidl.dlnetwork([minidl.featureInputLayer(3), minidl.fullyConnectedLayer(2)], Initialize=False)
    assert not net.Initialized
    assert net.Learnables.Value == [None, None]
    with pytest.raises(ValueError, match=r"predict: the dlnetwork is not initialized.*initialize\(net\)"):
        minidl.predict(net, np.zeros((1, 3)))
    minidl.rng(3)
    ready = minidl.initialize(net)
    assert ready.Initialized and not net.Initialized
    weights = ready.Learnables.Value[0]
    bound = np.sqrt(6 / (3 + 2))       # Glorot
    assert weights.shape == (2, 3) and np.all(np.abs(weights) <= bound)
    assert np.array_equal(ready.Learnables.Value[1], np.zeros((2, 1)))


def test_an_incomplete_graph_needs_initialize_false():
    lgraph = minidl.layerGraph([minidl.featureInputLayer(3), minidl.additionLayer(2, Name="add")])
    with pytest.raises(minidl.NetworkValidationError, match="Initialize=False"):
        minidl.dlnetwork(lgraph)
    net = minidl.dlnetwork(lgraph, Initialize=False)
    net = minidl.connectLayers(net, "input", "add/in2")
    assert isinstance(net, minidl.dlnetwork) and not net.Initialized
    assert minidl.predict(minidl.initialize(net), np.ones((2, 3))).tolist() == [[2, 2, 2], [2, 2, 2]]


def test_learnables_and_state_tables_hold_the_layers_arrays():
    net = minidl.dlnetwork(layers())
    table = net.Learnables
    assert len(table) == 6
    assert table.Layer == ["fc1", "fc1", "bn", "bn", "fc2", "fc2"]
    assert table.Parameter == ["Weights", "Bias", "Scale", "Offset", "Weights", "Bias"]
    for value, expected in zip(table.Value, [W1, B1, SCALE, OFFSET, W2, B2]):
        np.testing.assert_allclose(value, expected.astype(np.float32))
    state = net.State
    assert state.Layer == ["bn", "bn"] and state.Parameter == ["TrainedMean", "TrainedVariance"]
    np.testing.assert_allclose(state.Value[0], MEAN.astype(np.float32))
    np.testing.assert_allclose(state.Value[1], VAR.astype(np.float32))
    table.Value[0][:] = 0            # copies: the network is not changed through them
    np.testing.assert_allclose(net.Learnables.Value[0], W1.astype(np.float32))


def test_state_starts_at_zero_mean_and_unit_variance():
    net = minidl.dlnetwork([minidl.featureInputLayer(3), minidl.batchNormalizationLayer()])
    assert np.array_equal(net.State.Value[0], np.zeros((3, 1), np.float32))
    assert np.array_equal(net.State.Value[1], np.ones((3, 1), np.float32))


def test_graph_functions_return_new_uninitialized_networks():
    net = minidl.dlnetwork(layers())
    edited = minidl.replaceLayer(net, "relu", minidl.leakyReluLayer(0.1, Name="leaky"))
    assert isinstance(edited, minidl.dlnetwork) and not edited.Initialized
    assert [layer.Name for layer in net.Layers][3] == "relu" and net.Initialized
    assert [layer.Name for layer in edited.Layers][3] == "leaky"
    np.testing.assert_allclose(edited.Learnables.Value[0], W1.astype(np.float32))   # values kept
    removed = minidl.removeLayers(net, "sm")
    assert removed.OutputNames == ["fc2"]
    grown = minidl.addLayers(removed, minidl.softmaxLayer(Name="sm2"))
    grown = minidl.initialize(minidl.connectLayers(grown, "fc2", "sm2"))
    np.testing.assert_allclose(minidl.predict(grown, np.ones((2, 3))), minidl.predict(net, np.ones((2, 3))),
                               rtol=1e-6)


def _hand_inference(X):
    Z = X @ W1.T + B1.T
    Z = SCALE.T * (Z - MEAN.T) / np.sqrt(VAR.T + 1e-5) + OFFSET.T
    Z = np.maximum(Z, 0) @ W2.T + B2.T
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def test_predict_equals_the_series_network_and_a_hand_computation():
    X = RS.standard_normal((9, 3))
    net = minidl.dlnetwork(layers())
    series = minidl.assembleNetwork(layers() + [minidl.classificationLayer(Classes=["a", "b"])])
    Y = minidl.predict(net, X)
    np.testing.assert_array_equal(Y, minidl.predict(series, X))
    np.testing.assert_allclose(Y, _hand_inference(X), rtol=1e-5, atol=1e-6)


def test_forward_uses_batch_statistics_and_returns_the_moving_state():
    X = RS.standard_normal((6, 3))
    net = minidl.dlnetwork(layers())
    Y, state = minidl.forward(net, X)
    Z = X @ W1.T + B1.T
    mu, var = Z.mean(axis=0), Z.var(axis=0)          # biased batch variance
    H = np.maximum(SCALE.T * (Z - mu) / np.sqrt(var + 1e-5) + OFFSET.T, 0) @ W2.T + B2.T
    E = np.exp(H - H.max(axis=1, keepdims=True))
    np.testing.assert_allclose(Y, E / E.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(state.Value[0].ravel(), 0.9 * MEAN.ravel() + 0.1 * mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.Value[1].ravel(), 0.9 * VAR.ravel() + 0.1 * var, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.State.Value[0], MEAN.astype(np.float32))        # forward changes nothing
    net.State = state
    np.testing.assert_array_equal(net.State.Value[0], state.Value[0])
    updated = minidl.predict(net, X)
    assert not np.allclose(updated, _hand_inference(X))


def test_state_assignment_checks_its_rows():
    net = minidl.dlnetwork(layers())
    with pytest.raises(TypeError, match="State must be a table"):
        net.State = {"bn": 1}
    wrong = minidl.dlnetwork([minidl.featureInputLayer(3), minidl.batchNormalizationLayer(Name="other")]).State
    with pytest.raises(ValueError, match="'other'"):
        net.State = wrong


def test_display_lists_the_properties():
    text = repr(minidl.dlnetwork(layers()))
    assert "dlnetwork with properties:" in text and "Learnables: [6×3 table]" in text
    assert "State: [2×3 table]" in text and "Initialized: 1" in text
