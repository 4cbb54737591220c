"""The custom PReLU layer of MATLAB's documentation, ported literally (examples/
prelu_matlab_style.py holds the MATLAB text beside the port): checkLayer, training, factors,
save/load (by properties, as MATLAB saves objects); and the MATLAB-style layer protocol's loud failures."""
import os
import sys

import numpy as np
import pytest

import minidl

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
from prelu_matlab_style import main, preluLayer  # noqa: E402


def test_literal_prelu_port_passes_checklayer_with_matlab_options():
    results = minidl.checkLayer(preluLayer(20, 'prelu'), [5, 5, 20], 'ObservationDimension', 4, 'verbose', False)
    assert all(passed for _, passed, _ in results) and len(results) == 5


def test_literal_prelu_port_trains_and_alpha_learns(tmp_path):
    minidl.rng(0)
    np.random.seed(0)
    net, info, accuracy = main(count=100, epochs=2)
    assert accuracy > 0.6 and np.all(np.isfinite(info.TrainingLoss))
    layer = net.Layers[3]
    assert layer.Alpha.shape == (1, 1, 20, 1) and layer.Alpha.dtype == np.float32
    assert (layer.AlphaLearnRateFactor, layer.AlphaL2Factor) == (1, 1)
    # save/load as MATLAB's save/load: the layer is stored by its properties and restored without
    # calling preluLayer(numChannels, name) (whose numChannels is not kept), its class named by the
    # caller; the loaded network predicts exactly as the saved one.
    path = minidl.save(str(tmp_path / "prelu.npz"), net)
    with pytest.raises(minidl.ModelFileError, match=r"layer 4 \(preluLayer 'prelu'\) is not a minidl layer class.*"
                                                    r"CustomLayers=\{'preluLayer': YourClass\}"):
        minidl.load(path)
    again = minidl.load(path, CustomLayers={"preluLayer": preluLayer}).net
    X = np.random.default_rng(3).random((28, 28, 1, 7)).astype(np.float32)
    np.testing.assert_array_equal(minidl.predict(again, X), minidl.predict(net, X))
    restored = again.Layers[3]
    np.testing.assert_array_equal(restored.Alpha, layer.Alpha)
    assert type(restored) is preluLayer and restored.Description == "PReLU with 20 channels"


def test_declared_learnable_gets_factors_that_the_trainer_uses():
    layer = preluLayer(2, 'p')
    layer.AlphaLearnRateFactor = 0
    X = np.random.default_rng(0).random((3, 3, 2, 20)).astype(np.float32)
    layers = [minidl.imageInputLayer([3, 3, 2], Normalization="none"), layer, minidl.fullyConnectedLayer(2),
              minidl.softmaxLayer(), minidl.classificationLayer()]
    net = minidl.trainNetwork(X, np.arange(20) % 2, layers,
                              minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=5, Verbose=False))
    np.testing.assert_array_equal(net.Layers[1].Alpha.ravel(), layer.Alpha.astype(np.float32).ravel())


class WrongCount(minidl.Layer):
    Learnable = ("W",)

    def __init__(self):
        self.Name, self.W = "wrong", np.ones((3, 1))

    def predict(self, X):
        return self.W * X

    def backward(self, X, Z, dLdZ, memory):
        return self.W * dLdZ          # the dLdW output is missing


def test_matlab_style_backward_with_a_missing_gradient_is_refused_by_name():
    with pytest.raises(ValueError, match=r"'wrong'.*backward returned 1 values; expected 2.*Learnable \('W',\)"):
        minidl.checkLayer(WrongCount(), 3, verbose=False)


class Scale(minidl.Layer):
    """Feature layer (C×N in MATLAB layout) whose learnable is made by initialize(layout)."""
    Learnable = ("S",)

    def __init__(self):
        self.Name, self.S = "scale", None

    def initialize(self, layout):
        self.S = np.full((layout.Size[layout.finddim("C")[0] - 1], 1), 2.0)

    def predict(self, X):
        return self.S * X

    def backward(self, X, Z, dLdZ, memory):
        return self.S * dLdZ, np.sum(X * dLdZ, axis=1, keepdims=True)


def test_feature_layer_sees_c_by_n_and_initializes_from_the_layout():
    assert Scale().MatlabLayout and Scale.learnables == {"S": "S"}
    minidl.checkLayer(Scale(), [4, 1], 'ObservationDimension', 2, 'verbose', False)
    given = Scale()
    given.S = np.full((4, 1), 2.0)            # assembleNetwork initializes nothing, as in MATLAB
    net = minidl.assembleNetwork([minidl.featureInputLayer(4, Normalization="none"), given,
                                  minidl.regressionLayer()])
    np.testing.assert_allclose(minidl.predict(net, np.ones((3, 4))), 2 * np.ones((3, 4)))
