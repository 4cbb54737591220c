"""Non-finite values are never hidden (issue 10).

A NaN or Inf loss, learnable or batch-norm statistic stops training at once; the stop
reason names what became non-finite, in which layer, at which iteration; the network
returned is the last finite one. Through the fused BN+ReLU step and two unfused paths,
with 'moving' and 'population' statistics and with validation data. The Hook layer (see
training_fault_cases.py) puts the NaN or the overflow in at a chosen iteration.
"""
import re
import warnings

import numpy as np
import pytest

import minidl
from training_fault_cases import ACTIONS, arm, data, finite_values, layers, options

PATHS = ("fused", "relu-first", "leaky")


@pytest.fixture(autouse=True)
def no_actions_left():
    ACTIONS.clear()
    yield
    ACTIONS.clear()


def train(layer_list, training_options, X=None, Y=None):
    """trainNetwork recording every warning: (net, info, warning messages)."""
    if X is None:
        X, Y = data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net, info = minidl.trainNetwork(X, Y, layer_list, training_options)
    return net, info, [str(w.message) for w in caught]


CASES = [  # what the Hook does in iteration 3, the statistics, the stop reason
    ("forward", np.nan, "moving", "Training loss is nan at iteration 3"),
    ("forward", np.nan, "population", "Training loss is nan at iteration 3"),
    ("forward", 1e30, "moving", "TrainedVariance of layer 'batchnorm' became inf at iteration 3"),
    ("backward", np.nan, "moving", "Weights of layer 'conv' became nan at iteration 3"),
    ("backward", np.nan, "population", "Weights of layer 'conv' became nan at iteration 3"),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method,factor,statistics,reason", CASES)
def test_non_finite_value_stops_training_and_the_last_finite_network_is_returned(path, method, factor,
                                                                                 statistics, reason):
    common = dict(BatchNormalizationStatistics=statistics, ValidationData=data(8, seed=1), ValidationFrequency=2)
    seen = []
    minidl.rng(0)
    net, info, messages = train(layers(path), options(**common, OutputFcn=[
        arm(2, **{method: [factor]}), lambda i: seen.append((i.State, i.Iteration, i.TrainingLoss))]))
    assert info.StopReason == reason
    assert len(info.TrainingLoss) == info.OutputNetworkIteration == 2
    assert seen[-1] == ("done", 2, info.TrainingLoss[-1])          # the OutputFcn sees the returned iteration
    assert np.isfinite(info.FinalValidationLoss)
    # One warning says it (NumPy's "overflow encountered" warnings do not show).
    assert len(messages) == 1 and f"stopped training: {reason}; the network of iteration 2" in messages[0]
    # The network is exactly the one of iteration 2: the broken update was undone.
    minidl.rng(0)
    reference, _, _ = train(layers(path), options(**common, OutputFcn=lambda i: i.Iteration == 2))
    expected = finite_values(reference)
    for name, value in finite_values(net).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


def test_verbose_table_and_output_function_end_at_the_last_finite_iteration(capsys):
    seen = []
    minidl.rng(0)
    train(layers(), options(Verbose=True, VerboseFrequency=1, OutputFcn=[
        arm(2, backward=[np.nan]), lambda i: seen.append((i.State, i.Iteration))]))
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "Training finished: Weights of layer 'conv' became nan at iteration 3."
    assert [int(line.split("|")[2]) for line in lines if re.match(r"\|\s+\d+ \|", line)] == [1, 2]
    assert seen == [("start", 0), ("iteration", 1), ("iteration", 2), ("done", 2)]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("statistics", ["moving", "population"])
def test_a_huge_learning_rate_never_ends_as_max_epochs_completed(path, statistics):
    """The issue's reproducer: InitialLearnRate=1e6 overflows float32."""
    minidl.rng(0)
    net, info, messages = train(layers(path), options(MaxEpochs=4, InitialLearnRate=1e6,
                                                      BatchNormalizationStatistics=statistics))
    stop = re.fullmatch(r"(Training loss is (nan|inf)|\w+ of layer '\w+' became (nan|-?inf)) at iteration (\d+)"
                        r"(; TrainedVariance of layer 'batchnorm' became inf in the final 'population' "
                        r"statistics pass)?", info.StopReason)
    assert stop, info.StopReason
    assert len(info.TrainingLoss) == info.OutputNetworkIteration == int(stop.group(4)) - 1
    assert np.isfinite(info.TrainingLoss).all()
    assert not any("overflow encountered" in message for message in messages)
    for layer in net.Layers:
        for name in layer.learnables:
            assert np.isfinite(getattr(layer, name)).all()
        for name in layer.state_names:   # finite, or (population pass overflowed) left empty
            assert getattr(layer, name) is None or np.isfinite(getattr(layer, name)).all()


@pytest.mark.parametrize("path", PATHS)
def test_inputs_times_1e30_overflow_batch_norm_statistics_and_say_so(path):
    """The issue's reproducer: TrainedVariance overflows float32, training used to end
    'Max epochs completed' with predictions that no longer depend on the input."""
    X, Y = data()
    big = (X * 1e30, Y)
    minidl.rng(0)
    net, info, messages = train(layers(path), options(BatchNormalizationStatistics="moving"), *big)
    assert info.StopReason == "TrainedVariance of layer 'batchnorm' became inf at iteration 1"
    assert len(info.TrainingLoss) == 0 and len(messages) == 1
    finite_values(net)
    minidl.rng(0)
    net, info, messages = train(layers(path), options(ValidationData=(X[..., :8] * 1e30, Y[:8])), *big)
    assert info.StopReason == ("Max epochs completed; TrainedVariance of layer 'batchnorm' became inf in the final "
                               "'population' statistics pass")
    assert len(info.TrainingLoss) == 8 and np.isnan(info.FinalValidationLoss)
    assert len(messages) == 1 and "became inf in the final 'population' statistics pass" in messages[0]
    batchnorm = next(layer for layer in net.Layers if layer.Name == "batchnorm")
    assert batchnorm.TrainedVariance is None       # left empty: no statistics rather than wrong ones
    with pytest.raises(ValueError, match="TrainedMean and TrainedVariance are empty"):
        minidl.classify(net, X)


@pytest.mark.parametrize("path", PATHS)
def test_nan_initial_weights_are_an_error_that_names_the_layer(path):
    """The issue's reproducer: conv weights all NaN used to train to 'Max epochs completed'."""
    layer_list = layers(path)
    layer_list[1] = minidl.convolution2dLayer(3, 4, Padding="same", WeightsInitializer=lambda s: np.full(s, np.nan))
    X, Y = data()
    with pytest.raises(ValueError) as error:
        minidl.trainNetwork(X, Y, layer_list, options())
    assert "Weights" in str(error.value) and "'conv'" in str(error.value) and "nan" in str(error.value).lower()
