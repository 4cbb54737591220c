"""Issue 12 item 1: MATLAB's calling conventions at every public function: 'Name', value
pairs, one-output and two-output forms, concatenated layer arrays, and mis-ported
multi-outputs refused with the right Python line."""
import numpy as np
import pytest

import minidl


def small_net():
    layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"), minidl.reluLayer(),
              minidl.fullyConnectedLayer(3, Weights=np.eye(3, 16), Bias=np.zeros((3, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b", "c"])]
    return minidl.assembleNetwork(layers)


X = np.random.default_rng(0).random((4, 4, 1, 5))


def test_name_value_pairs_reach_every_inference_function():
    net = small_net()
    np.testing.assert_array_equal(minidl.predict(net, X, 'MiniBatchSize', 2), minidl.predict(net, X))
    np.testing.assert_array_equal(minidl.classify(net, X, 'minibatchsize', 2), minidl.classify(net, X))
    assert minidl.activations(net, X, 'fc', 'OutputAs', 'rows').shape == (5, 3)
    assert minidl.predict(net, X.transpose(3, 2, 0, 1), 'DataFormat', 'BCSS').shape == (5, 3)


def test_name_value_pairs_reach_graph_and_check_functions():
    lgraph = minidl.layerGraph(small_net().Layers)
    new = minidl.replaceLayer(lgraph, 'relu', minidl.leakyReluLayer(), 'ReconnectBy', 'order')
    assert "leakyrelu" in [layer.Name for layer in new.Layers]
    assert minidl.analyzeNetwork(lgraph, 'Print', False, 'TargetUsage', 'trainNetwork').Errors == []
    results = minidl.checkLayer(minidl.reluLayer(), [5, 5, 3], 'ObservationDimension', 4, 'verbose', False)
    assert all(passed for _, passed, _ in results)


@pytest.mark.parametrize("call,message", [
    (lambda net: minidl.classify(net, X, 64), r"^classify: after net, X, options are 'Name', value pairs.*received 64"),
    (lambda net: minidl.classify(net, X, 'MiniBatchSiz', 64), r"^classify: unknown option 'MiniBatchSiz'\. Did you mean 'MiniBatchSize'"),
    (lambda net: minidl.predict(net, X, 'MiniBatchSize'), r"^predict: Name-Value arguments must come in pairs"),
    (lambda net: minidl.predict(net, X, 'MiniBatchSize', 2, MiniBatchSize=3), r"^predict: MiniBatchSize is given twice"),
    (lambda net: minidl.checkLayer(minidl.reluLayer(), [5, 5, 3], 'ObservationDimension', 3),
     r"^checkLayer: ObservationDimension must be the dimension after the input size"),
    (lambda net: minidl.analyzeNetwork(net, 'TargetUsage', 'dlnet'), r"^analyzeNetwork: TargetUsage must be one of"),
])
def test_bad_pairs_are_refused_naming_the_function_and_option(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(small_net())


def _train(layers):
    X = np.random.default_rng(0).random((4, 4, 1, 12)).astype(np.float32)
    options = minidl.trainingOptions('sgdm', 'MaxEpochs', 1, 'MiniBatchSize', 6, 'Verbose', False)
    return X, minidl.trainNetwork(X, np.arange(12) % 2, layers, options)


def _layers():
    unit = [minidl.fullyConnectedLayer(4), minidl.reluLayer()]      # a "convolutionalUnit(...)" function result
    return [minidl.imageInputLayer([4, 4, 1]), unit, [[minidl.fullyConnectedLayer(2)]], minidl.softmaxLayer(),
            minidl.classificationLayer()]


def test_nested_layer_arrays_concatenate_as_in_matlab():
    X, net = _train(_layers())
    assert [type(layer).__name__ for layer in net.Layers][1:4] == ["FullyConnectedLayer", "ReLULayer",
                                                                   "FullyConnectedLayer"]
    assert len(minidl.layerGraph(_layers()).Layers) == 6


def test_one_and_two_output_forms_of_trainNetwork_and_classify():
    X, net = _train(_layers())
    assert isinstance(net, minidl.SeriesNetwork)            # net = trainNetwork(...)
    net2, info = net                                        # net, info = trainNetwork(...)
    assert net2 is net and len(info.TrainingLoss) == 2
    YPred = minidl.classify(net, X)                         # YPred = classify(...)
    assert isinstance(YPred, np.ndarray) and YPred.shape == (12,)
    assert sum(YPred == np.arange(12) % 2) == np.sum(YPred == np.arange(12) % 2)
    labels, scores = minidl.classify(net, X)                # [YPred, scores] = classify(...)
    [labels2, scores2] = minidl.classify(net, X)
    np.testing.assert_array_equal(labels, YPred)
    assert scores.shape == (12, 2) and np.array_equal(scores, scores2) and np.array_equal(labels2, labels)
    with pytest.raises(ValueError):                         # three outputs: loud
        a, b, c = minidl.classify(net, X)


def test_mis_ported_multi_outputs_show_the_right_line():
    X, net = _train(_layers())
    _, info = net
    with pytest.raises(TypeError, match=r"^classify: net must be .*\(net, info\) pair.*net, info = trainNetwork"):
        minidl.classify((net, info), X)
    with pytest.raises(TypeError, match=r"^save: net must be .*net, info = trainNetwork"):
        minidl.save("unused.npz", (net, info))
    pair = minidl.classify(net, X), minidl.predict(net, X)
    with pytest.raises(TypeError, match=r"^trainNetwork: the labels are a pair.*YPred, scores = classify"):
        minidl.trainNetwork(X, pair, _layers(), minidl.trainingOptions('sgdm', Verbose=False))
    with pytest.raises(TypeError, match=r"not a pair: only the result of trainNetwork unpacks"):
        a, b = small_net()
    with pytest.raises(TypeError, match=r"save\(filename, 'net'\) names the variable; in Python pass it"):
        minidl.save("unused.npz", "net")
