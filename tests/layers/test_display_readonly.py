"""MATLAB-like display of layers, layer arrays, networks and trainingOptions, and the
read-only layers of a trained network (issue 12, items 6 and 7)."""
import copy

import numpy as np
import pytest

import minidl
from minidl.layers.readonly import ReadOnlyLayerError


def small_net():
    layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"),
              minidl.convolution2dLayer(3, 2, Weights=np.ones((3, 3, 1, 2)), Bias=np.zeros((1, 1, 2))),
              minidl.reluLayer(), minidl.fullyConnectedLayer(2, Weights=np.ones((2, 8)), Bias=np.zeros((2, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b"])]
    return minidl.assembleNetwork(layers)


def test_layer_prints_matlabs_property_block_and_keeps_a_short_repr():
    assert str(minidl.reluLayer(Name="relu")) == "  ReLULayer with properties:\n\n    Name: 'relu'\n"
    text = str(minidl.convolution2dLayer(3, 8, Padding="same"))
    assert text.startswith("  Convolution2DLayer with properties:\n\n              Name: ''\n\n   Hyperparameters\n")
    assert "        FilterSize: [3 3]\n" in text and "       PaddingMode: 'same'\n" in text
    assert "   Learnable Parameters\n           Weights: []\n              Bias: []\n" in text
    assert "\n" not in repr(minidl.convolution2dLayer(3, 8))
    bn = str(minidl.batchNormalizationLayer())
    assert "   State Parameters\n" in bn and "TrainedMean: []" in bn


def test_layer_array_and_network_print_as_matlab():
    net = small_net()
    text = str(net.Layers)
    assert text.startswith("  6×1 Layer array with layers:\n\n")
    assert "2   'conv'" in text and "2 3×3 convolutions with stride [1  1] and padding [0  0  0  0]" in text
    assert str(net) == ("  SeriesNetwork with properties:\n\n         Layers: [6×1 nnet.cnn.layer.Layer]\n"
                        "     InputNames: {'imageinput'}\n    OutputNames: {'classoutput'}\n")
    options = str(minidl.trainingOptions("sgdm", MaxEpochs=4))
    assert options.startswith("  TrainingOptionsSGDM with properties:\n\n")
    assert "    MaxEpochs: 4\n" in options.replace(" " * 10, "") or "MaxEpochs: 4" in options
    assert "GradientThreshold: Inf" in options and "ValidationData: []" in options


def test_a_trained_networks_layers_are_read_only_with_matlabs_fix():
    net = small_net()
    with pytest.raises(ReadOnlyLayerError, match=r"layerGraph\(net\).*replaceLayer"):
        net.Layers[1].WeightLearnRateFactor = 0
    with pytest.raises(AttributeError):
        net.Layers[1].Name = "x"
    editable = copy.deepcopy(net.Layers[1])
    editable.WeightLearnRateFactor = 0
    assert editable.WeightLearnRateFactor == 0 and net.Layers[1].WeightLearnRateFactor == 1
    frozen = minidl.freezeWeights(net.Layers)
    assert frozen[1].WeightLearnRateFactor == 0 and frozen[3].BiasLearnRateFactor == 0
    frozen[1].Name = "conv_frozen"                                 # the copies are editable
    layer = minidl.setLearnRateFactor(net.Layers[3], "weights", 0)
    assert layer.WeightLearnRateFactor == 0
    lgraph = minidl.replaceLayer(minidl.layerGraph(net), "conv", frozen[1])
    X = np.random.default_rng(0).random((4, 4, 1, 4)).astype(np.float32)
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=4, Verbose=False, InitialLearnRate=0.1)
    trained, _ = minidl.trainNetwork(X, np.array(["a", "b", "a", "b"]), lgraph, options)
    conv = next(l for l in trained.Layers if l.Name == "conv_frozen")
    np.testing.assert_array_equal(conv.Weights, np.ones((3, 3, 1, 2)))    # frozen: unchanged
    again, _ = minidl.trainNetwork(X, np.array(["a", "b", "a", "b"]), net.Layers, options)   # layers of a net
    assert isinstance(again, minidl.SeriesNetwork)


def test_factor_helpers_refuse_unknown_parameters():
    with pytest.raises(ValueError, match="Weights"):
        minidl.getLearnRateFactor(minidl.reluLayer(), "Weights")
    with pytest.raises(ValueError, match="'Weights', 'Bias'"):
        minidl.setLearnRateFactor(minidl.fullyConnectedLayer(2), "Scale", 1)
