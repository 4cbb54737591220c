"""The layer contract (minidl.layers.contract) is checked at the first forward/backward of
training, at the first predict, and by checkLayer, with one message naming the layer, the
method, the expected and the received (issue 10, class 4)."""

import numpy as np
import pytest

import minidl
from minidl import Layer, Memory
from minidl.layers import contract
from minidl.layers.contract import LayerContractError


class Double(Layer):
    """Z = 2·X: a correct custom layer, the base of the broken ones below."""

    DefaultName = "double"

    def predict(self, X):
        return 2 * X

    def forward(self, X):
        return 2 * X, Memory()

    def backward(self, dLdZ, memory):
        return 2 * dLdZ, {}


class NoInputGradient(Double):
    def backward(self, dLdZ, memory):
        return None, {}


class DropsAChannel(Double):
    def predict(self, X):
        return 2 * X[:, 1:]

    def forward(self, X):
        return 2 * X[:, 1:], Memory()


class WrongGradientSize(Double):
    def backward(self, dLdZ, memory):
        return 2 * dLdZ[:, :, :1], {}


class Float64Output(Double):
    def forward(self, X):
        return (2 * X).astype(np.float64), Memory()


class ForwardWithoutMemory(Double):
    def forward(self, X):
        return 2 * X


class Gain(Double):
    """Z = Gain·X with a learnable per-channel gain."""

    learnables = {"Gain": "Gain"}

    def __init__(self, Name=""):
        super().__init__(Name)
        self.Gain, self.GainLearnRateFactor, self.GainL2Factor = None, 1, 0

    def initialize(self, input_size, rng):
        self.Gain = np.ones((1, 1, input_size[-1]), np.float32)
        return tuple(input_size)

    def predict(self, X):
        return X * self.Gain.reshape(1, -1, 1, 1).astype(X.dtype)

    def forward(self, X):
        return self.predict(X), Memory(X=X)

    def backward(self, dLdZ, memory):
        dgain = (dLdZ * memory.X).sum(axis=(0, 2, 3)).reshape(self.Gain.shape)
        return dLdZ * self.Gain.reshape(1, -1, 1, 1).astype(dLdZ.dtype), {"Gain": dgain}


class GainWithoutGradient(Gain):
    def backward(self, dLdZ, memory):
        return super().backward(dLdZ, memory)[0], {}


class GainWrongGradientShape(Gain):
    def backward(self, dLdZ, memory):
        dX, grads = super().backward(dLdZ, memory)
        return dX, {"Gain": grads["Gain"].reshape(-1)}


class AddOnlyFirst(Layer):
    NumInputs, InputNames, DefaultName = 2, ("in1", "in2"), "add1"

    def initialize(self, input_sizes, rng):
        return tuple(input_sizes[0])

    def predict(self, A, B):
        return A + B

    def forward(self, A, B):
        return A + B, Memory()

    def backward(self, dLdZ, memory):
        return dLdZ, {}          # one gradient for two inputs


X = np.random.default_rng(0).random((6, 6, 1, 20)).astype(np.float32)
Y = np.arange(20) % 2
OPTIONS = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=10, Verbose=False)


def layers_around(custom, before_conv=False):
    """input → conv → custom → fc → softmax → output (custom first when before_conv)."""
    middle = [custom, minidl.convolution2dLayer(3, 4)] if before_conv else [minidl.convolution2dLayer(3, 4), custom]
    return [minidl.imageInputLayer([6, 6, 1]), *middle, minidl.fullyConnectedLayer(2), minidl.softmaxLayer(),
            minidl.classificationLayer()]


BROKEN = [
    (NoInputGradient, r"backward returned None for dL/dX; expected dL/dX of size 10×4×4×4\. Return the gradient "
                      r"with respect to the input: without it every layer before this one would silently stop"),
    (DropsAChannel, r"forward returned Z of size 10×3×4×4; expected Z of size 10×4×4×4"),
    (WrongGradientSize, r"backward returned dL/dX of size 10×4×1×4; expected dL/dX of size 10×4×4×4"),
    (Float64Output, r"forward returned Z of type float64; expected Z of type float32 \(its input's\)\. "
                    r"Cast with \.astype\(X\.dtype\)"),
    (ForwardWithoutMemory, r"forward returned an array of size 10×4×4×4 \(float32\); expected a pair \(Z, memory\)"),
    (GainWithoutGradient, r"backward returned gradients for \[\]; expected gradients for exactly its learnables "
                          r"\['Gain'\]"),
    (GainWrongGradientShape, r"backward returned dL/dGain of size 4; expected dL/dGain of size 1×1×4"),
]


@pytest.mark.parametrize("cls,message", BROKEN, ids=[cls.__name__ for cls, _ in BROKEN])
def test_training_stops_at_the_first_iteration_naming_the_layer_and_method(cls, message):
    with pytest.raises(LayerContractError, match=rf"^Layer 'mine' \({cls.__name__}\): {message}"):
        minidl.trainNetwork(X, Y, layers_around(cls(Name="mine")), OPTIONS)


@pytest.mark.parametrize("cls,message", BROKEN, ids=[cls.__name__ for cls, _ in BROKEN])
def test_check_layer_reports_the_same_problem_with_the_same_words(cls, message):
    with pytest.raises(minidl.LayerCheckError) as failure:
        minidl.checkLayer(cls(Name="mine"), (4, 4, 4), batch_size=10, verbose=False)   # as in training
    with pytest.raises(LayerContractError) as training:
        minidl.trainNetwork(X, Y, layers_around(cls(Name="mine")), OPTIONS)
    assert str(training.value) in str(failure.value)


def test_predict_checks_the_output_size_too():
    layers = [minidl.imageInputLayer([6, 6, 1], Normalization="none"),
              minidl.convolution2dLayer(3, 4, Weights=np.ones((3, 3, 1, 4)), Bias=np.zeros((1, 1, 4))),
              DropsAChannel(Name="mine"),
              minidl.fullyConnectedLayer(2, Weights=np.ones((2, 64)), Bias=np.zeros((2, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=[0, 1])]
    net = minidl.assembleNetwork(layers)
    with pytest.raises(LayerContractError, match=r"^Layer 'mine' \(DropsAChannel\): predict returned Z of size "
                                                 r"3×3×4×4; expected Z of size 3×4×4×4"):
        minidl.predict(net, X[..., :3])


def test_a_layer_with_several_inputs_must_return_one_gradient_per_input():
    lgraph = minidl.layerGraph([minidl.imageInputLayer([6, 6, 1]), minidl.convolution2dLayer(3, 4, Name="c1"),
                                AddOnlyFirst(Name="add"), minidl.fullyConnectedLayer(2), minidl.softmaxLayer(),
                                minidl.classificationLayer()])
    lgraph = minidl.addLayers(lgraph, minidl.convolution2dLayer(3, 4, Name="c2"))
    lgraph = minidl.connectLayers(minidl.connectLayers(lgraph, "imageinput", "c2"), "c2", "add/in2")
    with pytest.raises(LayerContractError, match=r"^Layer 'add' \(AddOnlyFirst\): backward returned an array of "
                                                 r"size 10×4×4×4 \(float32\); expected a tuple of 2 input gradients"):
        minidl.trainNetwork(X, Y, lgraph, OPTIONS)


def test_none_is_fine_where_no_layer_before_learns():
    """Right after the input layer nothing upstream learns, so dL/dX is never needed."""
    net, info = minidl.trainNetwork(X, Y, layers_around(NoInputGradient(), before_conv=True), OPTIONS)
    assert info.StopReason == "Max epochs completed"


def test_a_correct_custom_layer_trains_and_its_learnable_changes():
    net, info = minidl.trainNetwork(X, Y, layers_around(Gain(Name="gain")), OPTIONS)
    assert not np.array_equal(net.Layers[2].Gain, np.ones((1, 1, 4)))
    assert minidl.checkLayer(Gain(), (6, 6, 4), verbose=False)[0] == (
        "results follow the layer contract (float32, as in training)", True, "")


def test_the_check_runs_once_per_input_size_not_every_iteration(monkeypatch):
    calls = {"forward": 0, "backward": 0, "predict": 0}

    def counting(name, check):
        def counted(*args, **kwargs):
            calls[name] += 1
            return check(*args, **kwargs)
        return counted

    monkeypatch.setattr(contract, "check_forward", counting("forward", contract.check_forward))
    monkeypatch.setattr(contract, "check_backward", counting("backward", contract.check_backward))
    monkeypatch.setattr(contract, "check_output", counting("predict", contract.check_output))
    options = minidl.trainingOptions("sgdm", MaxEpochs=3, MiniBatchSize=5, Verbose=False,
                                     BatchNormalizationStatistics="moving")
    net, info = minidl.trainNetwork(X, Y, layers_around(Gain()), options)
    assert len(info.TrainingLoss) == 12
    steps = 4        # input, conv, gain, fc (softmax and the loss are one step)
    assert calls["forward"] == steps and calls["backward"] == steps - 1     # the input step has no backward
    minidl.predict(net, X)
    minidl.predict(net, X)
    # check_forward checks Z with check_output (steps calls); prediction adds one per step
    # (softmax is a step of its own at inference), once for the two calls of one size.
    assert calls["predict"] == steps + steps + 1


def test_an_error_inside_a_layer_method_says_which_layer_raised_it():
    class Raises(Double):
        def forward(self, X):
            return X[:, :, :, 99], Memory()

    with pytest.raises(IndexError) as error:
        minidl.trainNetwork(X, Y, layers_around(Raises(Name="mine")), OPTIONS)
    assert "(in the forward method of layer 'mine', Raises)" in error.value.__notes__
