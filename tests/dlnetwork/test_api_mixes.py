"""The old and the current training APIs do not mix (MATLAB refuses too): a dlnetwork given to
trainNetwork, a SeriesNetwork/DAGNetwork or layers with an output layer given to trainnet are
clear errors that show the right call, and the call they show works."""
import numpy as np
import pytest

import minidl

RS = np.random.default_rng(2)
X = RS.random((32, 2))
T = (X[:, 0] > X[:, 1]).astype(int)
LAYERS = [minidl.featureInputLayer(2), minidl.fullyConnectedLayer(2), minidl.softmaxLayer()]
OPTIONS = minidl.trainingOptions("adam", MaxEpochs=1, MiniBatchSize=8, Verbose=False)


def test_train_network_refuses_a_dlnetwork_and_names_trainnet():
    with pytest.raises(TypeError, match=r"trainNetwork: a dlnetwork is trained with trainnet, not trainNetwork.*"
                                        r"trainnet\(X, Y, net, \"crossentropy\", options\)"):
        minidl.trainNetwork(X, T, minidl.dlnetwork(LAYERS), OPTIONS)


@pytest.mark.parametrize("graph", [False, True])
def test_trainnet_refuses_a_trained_network_and_the_call_it_shows_keeps_the_weights(graph):
    minidl.rng(0)
    layers = LAYERS + [minidl.classificationLayer()]
    net, _ = minidl.trainNetwork(X, T, minidl.layerGraph(layers) if graph else layers, OPTIONS)
    kind = "DAGNetwork" if graph else "SeriesNetwork"
    with pytest.raises(TypeError, match=rf"trainnet: a {kind} \(from trainNetwork\) is not trained with trainnet"):
        minidl.trainnet(X, T, net, "crossentropy", OPTIONS)
    shown = (minidl.dlnetwork(minidl.removeLayers(minidl.layerGraph(net), "classoutput")) if graph
             else minidl.dlnetwork(net.Layers[:-1]))
    np.testing.assert_allclose(minidl.predict(shown, X), minidl.predict(net, X), rtol=1e-6)
    again, _ = minidl.trainnet(X, T, shown, "crossentropy", OPTIONS)
    assert again.Initialized


def test_trainnet_refuses_layers_with_an_output_layer():
    with pytest.raises(ValueError, match=r"trainnet: the layers hold an output layer \(RegressionOutputLayer 'out'\); "
                                         r"trainnet takes the loss as an argument.*layers\[:-1\]"):
        minidl.trainnet(X, T, LAYERS[:2] + [minidl.regressionLayer(Name="out")], "mse", OPTIONS)
