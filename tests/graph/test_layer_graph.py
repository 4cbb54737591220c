"""LayerGraph API, analysis, DAG execution and gradients, transfer learning."""
import numpy as np
import pytest

import minidl
from minidl.layers.check import numerical_gradient
from minidl.graph.network import build_network


def residual_graph(fc_input=None):
    layers = [minidl.imageInputLayer([6, 6, 1], Normalization="none"),
              minidl.convolution2dLayer(3, 4, Padding="same"), minidl.batchNormalizationLayer(),
              minidl.reluLayer(Name="relu_1"),
              minidl.convolution2dLayer(3, 4, Padding="same", Name="conv_b"),
              minidl.additionLayer(2, Name="add"), minidl.reluLayer(Name="relu_2"),
              minidl.fullyConnectedLayer(3, **({} if fc_input is None else {"Weights": np.zeros((3, fc_input))})),
              minidl.softmaxLayer(), minidl.classificationLayer()]
    lgraph = minidl.layerGraph(layers)
    return minidl.connectLayers(lgraph, "relu_1", "add/in2")


def test_connections_names_and_value_semantics():
    lgraph = residual_graph()
    assert [l.Name for l in lgraph.Layers] == ["imageinput", "conv", "batchnorm", "relu_1", "conv_b", "add",
                                               "relu_2", "fc", "softmax", "classoutput"]
    c = lgraph.Connections
    assert list(zip(c.Source, c.Destination))[3:6] == [("relu_1", "conv_b"), ("relu_1", "add/in2"),
                                                        ("conv_b", "add/in1")]
    assert lgraph.InputNames == ["imageinput"] and lgraph.OutputNames == ["classoutput"]
    smaller = minidl.disconnectLayers(lgraph, "relu_1", "add/in2")
    assert len(smaller.Connections.Source) == len(c.Source) - 1 and len(lgraph.Connections.Source) == len(c.Source)
    layers = lgraph.Layers
    layers[1].NumFilters = 99
    assert lgraph.Layers[1].NumFilters == 4


def test_connect_errors_name_the_problem():
    lgraph = residual_graph()
    with pytest.raises(ValueError, match=r"input 'add/in2' is already connected \(from 'relu_1'\)"):
        minidl.connectLayers(lgraph, "conv", "add/in2")
    with pytest.raises(ValueError, match="has several inputs .*'add/in1'"):
        minidl.connectLayers(lgraph, "conv", "add")
    with pytest.raises(ValueError, match="no layer named 'Relu_9'"):
        minidl.connectLayers(lgraph, "Relu_9", "add/in1")
    with pytest.raises(ValueError, match="no port 'in3'; its inputs are in1, in2"):
        minidl.connectLayers(lgraph, "conv", "add/in3")
    with pytest.raises(ValueError, match="already in the graph"):
        minidl.addLayers(lgraph, minidl.reluLayer(Name="relu_1"))


def test_added_unnamed_layers_get_free_names():
    lgraph = minidl.addLayers(residual_graph(), [minidl.reluLayer(), minidl.convolution2dLayer(1, 1)])
    assert [l.Name for l in lgraph.Layers][-2:] == ["relu", "conv_1"]


def test_analyze_network_table_lists_sizes_and_learnables():
    report = minidl.analyzeNetwork(residual_graph(), Print=False)
    assert report.Errors == []
    rows = {row["Name"]: row for row in report.rows}
    assert rows["conv"]["ActivationSize"] == (6, 6, 4)
    assert rows["conv"]["Learnables"] == {"Weights": (3, 3, 1, 4), "Bias": (1, 1, 4)}
    assert rows["batchnorm"]["Learnables"] == {"Scale": (1, 1, 4), "Offset": (1, 1, 4)}
    assert rows["add"]["ActivationSize"] == (6, 6, 4)
    assert rows["fc"]["Learnables"]["Weights"] == (3, 144)
    assert report.TotalLearnables == (36 + 4) + 8 + (144 + 4) + (3 * 144 + 3)
    text = str(report)
    assert "conv_b" in text and "6×6×4" in text and "3×3×1×4" in text and "No errors." in text


def expect_errors(lgraph, *patterns):
    report = minidl.analyzeNetwork(lgraph, Print=False)
    for pattern in patterns:
        assert any(__import__("re").search(pattern, e) for e in report.Errors), (pattern, report.Errors)
    X = np.zeros((6, 6, 1, 8), np.float32)
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, Verbose=False)
    with pytest.raises(minidl.NetworkValidationError) as error:
        minidl.trainNetwork(X, np.arange(8) % 3, lgraph, options)
    for pattern in patterns:
        assert __import__("re").search(pattern, str(error.value))


def test_unconnected_addition_input_is_reported():
    lgraph = minidl.disconnectLayers(residual_graph(), "relu_1", "add/in2")
    expect_errors(lgraph, r"Layer 'add' has unconnected inputs: 'add/in2'\. Connect them with connectLayers")


def test_cycle_is_reported():
    lgraph = minidl.disconnectLayers(residual_graph(), "relu_1", "add/in2")
    lgraph = minidl.connectLayers(lgraph, "relu_2", "add/in2")
    expect_errors(lgraph, r"form a cycle.*disconnectLayers")


def test_wrong_fully_connected_input_size_is_reported():
    expect_errors(residual_graph(fc_input=100),
                  r"fc: InputSize is 100 .* incoming activations have 144 elements")


def test_other_structural_errors():
    lgraph = minidl.addLayers(residual_graph(), minidl.reluLayer(Name="stray"))
    report = minidl.analyzeNetwork(lgraph, Print=False)
    assert any("disconnected parts" in e and "stray" in e for e in report.Errors)
    assert any("The output of layer 'stray' is not used" in e for e in report.Errors)
    no_softmax = minidl.removeLayers(residual_graph(), "softmax")
    no_softmax = minidl.connectLayers(no_softmax, "fc", "classoutput")
    assert any("must be preceded by a softmax layer" in e for e in minidl.analyzeNetwork(no_softmax, Print=False).Errors)


def test_dag_gradient_with_fan_out_and_merge_matches_finite_differences():
    minidl.rng(1)
    net = build_network(residual_graph(), np.random.default_rng(3))
    assert isinstance(net, minidl.DAGNetwork)
    for key, value, _, _ in net.learnables([{name: None for name in layer.learnables} for layer in net.Layers]):
        net.set_learnable(key, value.astype(np.float64))
    live = {key: value for key, value, _, _ in
            net.learnables([{name: None for name in layer.learnables} for layer in net.Layers])}
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 1, 6, 6))
    T = np.eye(3)[[0, 1, 2]]

    def loss():
        return net.forward_loss(X, T)[0]

    grads = net.backward(net.forward_loss(X, T)[2])
    for index, name in [(1, "Weights"), (2, "Scale"), (4, "Weights"), (7, "Weights")]:
        array = live[(index, name)]
        picks = rng.choice(array.size, min(12, array.size), replace=False)
        numeric = numerical_gradient(loss, array, picks)
        np.testing.assert_allclose(grads[index][name].reshape(-1)[picks], numeric, rtol=1e-5, atol=1e-8)


def test_dag_training_activations_save_and_layer_graph_of_net(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 6, 1, 48)).astype(np.float32)
    Y = np.arange(48) % 3
    X[0, :, 0, :] += Y * 1.0
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=16, Verbose=False)
    net, info = minidl.trainNetwork(X, Y, residual_graph(), options)
    assert isinstance(net, minidl.DAGNetwork) and len(info.TrainingLoss) == 6
    assert ("relu_1", "add/in2") in zip(net.Connections.Source, net.Connections.Destination)
    act = minidl.activations(net, X[..., :5], "add")
    assert act.shape == (6, 6, 4, 5)
    rows = minidl.activations(net, X[..., :5], "add", OutputAs="rows")
    np.testing.assert_array_equal(rows[2], act[..., 2].reshape(-1, order="F"))
    assert minidl.activations(net, X[..., :5], "add", OutputAs="columns").shape == (144, 5)
    again = minidl.load(minidl.save(tmp_path / "dag.npz", net)).net
    assert isinstance(again, minidl.DAGNetwork)
    np.testing.assert_array_equal(minidl.predict(again, X), minidl.predict(net, X))
    lgraph = minidl.layerGraph(net)
    assert lgraph.Connections == net.Connections


def test_transfer_learning_freezes_early_layers_and_replaces_the_head():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 6, 1, 48)).astype(np.float32)
    Y = np.arange(48) % 3
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=16, Verbose=False)
    net, _ = minidl.trainNetwork(X, Y, residual_graph(), options)
    lgraph = minidl.layerGraph(net)
    conv = [l for l in lgraph.Layers if l.Name == "conv"][0]
    conv.WeightLearnRateFactor = conv.BiasLearnRateFactor = 0
    lgraph = minidl.replaceLayer(lgraph, "conv", conv)
    lgraph = minidl.replaceLayer(lgraph, "fc", minidl.fullyConnectedLayer(2, Name="new_fc"))
    lgraph = minidl.replaceLayer(lgraph, "classoutput", minidl.classificationLayer(Name="new_out"))
    new_net, _ = minidl.trainNetwork(X, Y % 2, lgraph, options)
    old = {l.Name: l for l in net.Layers}
    new = {l.Name: l for l in new_net.Layers}
    np.testing.assert_array_equal(new["conv"].Weights, old["conv"].Weights)
    assert not np.array_equal(new["conv_b"].Weights, old["conv_b"].Weights)
    assert new["new_fc"].Weights.shape == (2, 144) and list(new["new_out"].Classes) == [0, 1]


class ScaleLayer(minidl.Layer):
    """A custom layer: Z = Alpha ⊙ X with one learnable per channel."""

    learnables = {"Alpha": "Alpha"}
    DefaultName = "scale"

    def __init__(self, Name=""):
        super().__init__(Name)
        self.Alpha, self.AlphaLearnRateFactor, self.AlphaL2Factor = None, 1, 0

    def initialize(self, input_size, rng):
        if self.Alpha is None:
            self.Alpha = np.ones((1, 1, input_size[-1]), np.float32)
        return tuple(input_size)

    def predict(self, X):
        return X * self.Alpha.reshape(1, -1, 1, 1).astype(X.dtype)

    def forward(self, X):
        return self.predict(X), minidl.Memory(X=X)

    def backward(self, dLdZ, memory):
        dAlpha = (dLdZ * memory.X).sum(axis=(0, 2, 3)).reshape(1, 1, -1)
        return dLdZ * self.Alpha.reshape(1, -1, 1, 1).astype(dLdZ.dtype), {"Alpha": dAlpha}


def test_custom_layer_passes_check_layer_and_trains_in_a_graph():
    results = minidl.checkLayer(ScaleLayer(), (4, 4, 3), verbose=False)
    assert all(passed for _, passed, _ in results)
    lgraph = minidl.replaceLayer(residual_graph(), "relu_2", [ScaleLayer(Name="custom"), minidl.reluLayer()])
    X = np.random.default_rng(0).standard_normal((6, 6, 1, 32)).astype(np.float32)
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=16, Verbose=False, InitialLearnRate=0.1)
    net, _ = minidl.trainNetwork(X, np.arange(32) % 3, lgraph, options)
    custom = [l for l in net.Layers if l.Name == "custom"][0]
    assert not np.allclose(custom.Alpha, 1)


def test_plot_and_dot(tmp_path):
    lgraph = residual_graph()
    minidl.plot(lgraph, tmp_path / "graph.png")
    assert (tmp_path / "graph.png").read_bytes()[:4] == b"\x89PNG"
    dot = lgraph.to_dot()
    assert dot.startswith("digraph") and '"relu_1" -> "add" [label="in2"];' in dot


def test_assemble_network_requires_every_learnable_and_statistic():
    fc = minidl.fullyConnectedLayer(2, Weights=np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"assembleNetwork: these properties are empty: fc.Bias"):
        minidl.assembleNetwork([minidl.imageInputLayer([2, 2, 1], Normalization="none"), fc,
                                minidl.softmaxLayer(), minidl.classificationLayer(Classes=[0, 1])])
    layers = [minidl.imageInputLayer([2, 2, 1]), minidl.batchNormalizationLayer(Scale=[1], Offset=[0]),
              minidl.fullyConnectedLayer(2, Weights=np.ones((2, 4)), Bias=np.zeros((2, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=[0, 1])]
    with pytest.raises(ValueError, match=r"imageinput.Mean, batchnorm.TrainedMean, batchnorm.TrainedVariance"):
        minidl.assembleNetwork(layers)
    with pytest.raises(minidl.NetworkValidationError, match="^assembleNetwork: the network is invalid"):
        minidl.assembleNetwork(layers[:2] + layers[3:])


def test_user_names_are_kept_and_duplicates_warned():
    lgraph = minidl.layerGraph([minidl.imageInputLayer([4, 4, 1]), minidl.fullyConnectedLayer(4, Name="fc"),
                                minidl.fullyConnectedLayer(3)])
    assert [l.Name for l in lgraph.Layers] == ["imageinput", "fc", "fc_1"]
    with pytest.warns(UserWarning, match=r"\['a'\] are used more than once"):
        lgraph = minidl.layerGraph([minidl.reluLayer(Name="a"), minidl.reluLayer(Name="a")])
    assert [l.Name for l in lgraph.Layers] == ["a_1", "a_2"]
    lgraph = minidl.layerGraph([minidl.convolution2dLayer(1, 1, Name="conv_1")])
    lgraph = minidl.addLayers(lgraph, [minidl.convolution2dLayer(1, 1), minidl.convolution2dLayer(1, 1),
                                       minidl.convolution2dLayer(1, 1, Name="conv_3")])
    assert [l.Name for l in lgraph.Layers] == ["conv_1", "conv_2", "conv_4", "conv_3"]


def test_replace_layer_errors_name_replace_layer():
    lgraph = residual_graph()
    with pytest.raises(ValueError, match="^replaceLayer: a layer named 'fc' is already in the graph"):
        minidl.replaceLayer(lgraph, "relu_2", minidl.reluLayer(Name="fc"))
    with pytest.raises(ValueError, match="^replaceLayer: the replacement must contain at least one layer"):
        minidl.replaceLayer(lgraph, "relu_2", [])


def test_network_layers_are_copies():
    net = build_network(residual_graph(), np.random.default_rng(0))
    layers = net.Layers
    layers[1].Weights[...] = 0                     # the copy's array, not the network's
    assert np.any(net.Layers[1].Weights != 0)
    with pytest.raises(AttributeError, match="read-only"):    # as MATLAB refuses net.Layers(2).Weights = ...
        layers[1].Weights *= 0
