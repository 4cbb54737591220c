"""trainingOptions/trainNetwork contract: solvers, clipping, schedule, stopping, checkpoints."""
import glob
import os
import re

import numpy as np
import pytest

import minidl
from minidl.training.solvers import Adam, RMSProp, SGDM, threshold


class Opts:
    Momentum, GradientDecayFactor, SquaredGradientDecayFactor, Epsilon = 0.9, 0.9, 0.999, 1e-8


def test_adam_steps_match_the_folded_bias_correction_formula():
    solver = Adam(Opts)
    theta = np.array([1.0, -2.0])
    grads = [np.array([0.5, -1.0]), np.array([0.1, 0.3]), np.array([-0.2, 0.2])]
    m = v = np.zeros(2)
    expected = theta.copy()
    for t, g in enumerate(grads, start=1):
        solver.begin_iteration()
        theta = solver.step("p", theta, g, 0.01)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        expected = expected - 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(theta, expected, rtol=1e-12)


def test_rmsprop_step_puts_epsilon_outside_the_root():
    class O:
        SquaredGradientDecayFactor, Epsilon = 0.9, 1e-3
    solver = RMSProp(O)
    g = np.array([1e-4, 2.0])
    theta = solver.step("p", np.zeros(2), g, 0.1)
    s = 0.1 * g * g
    np.testing.assert_allclose(theta, -0.1 * g / (np.sqrt(s) + 1e-3), rtol=1e-12)


def test_sgdm_velocity_includes_the_learning_rate():
    solver = SGDM(Opts)
    theta = solver.step("p", np.array([1.0]), np.array([2.0]), 0.1)   # v = -0.2
    theta = solver.step("p", theta, np.array([1.0]), 0.01)             # v = 0.9·(-0.2) - 0.01
    np.testing.assert_allclose(theta, [1.0 - 0.2 - 0.18 - 0.01])


def test_gradient_threshold_methods():
    g = {"a": np.array([3.0, 4.0]), "b": np.array([0.0, 12.0])}
    out = threshold(dict(g), "l2norm", 5.0)
    np.testing.assert_allclose(out["a"], [3.0, 4.0])
    np.testing.assert_allclose(out["b"], [0.0, 5.0])
    out = threshold(dict(g), "global-l2norm", 6.5)  # global norm 13
    np.testing.assert_allclose(out["a"], [1.5, 2.0])
    np.testing.assert_allclose(out["b"], [0.0, 6.0])
    out = threshold(dict(g), "absolute-value", 3.5)
    np.testing.assert_allclose(out["a"], [3.0, 3.5])
    np.testing.assert_allclose(out["b"], [0.0, 3.5])


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    X = rng.normal(0, 1, (3, 3, 1, n)).astype(np.float32)
    X[0, 0, 0, :] += np.where(labels == 1, 1.5, -1.5)
    return X, labels


def layers(bn=True):
    result = [minidl.imageInputLayer([3, 3, 1]), minidl.convolution2dLayer(2, 3)]
    if bn:
        result.append(minidl.batchNormalizationLayer())
    return result + [minidl.reluLayer(), minidl.fullyConnectedLayer(2), minidl.softmaxLayer(),
                     minidl.classificationLayer()]


def options(**kwargs):
    base = dict(MaxEpochs=3, MiniBatchSize=16, Verbose=False)
    base.update(kwargs)
    return minidl.trainingOptions(kwargs.pop("solver", "sgdm"), **{k: v for k, v in base.items() if k != "solver"})


def test_piecewise_schedule_drops_at_the_end_of_epochs():
    X, Y = data()
    _, info = minidl.trainNetwork(X, Y, layers(), options(MaxEpochs=5, LearnRateSchedule="piecewise",
                                                          LearnRateDropPeriod=2, LearnRateDropFactor=0.5))
    np.testing.assert_allclose(info.BaseLearnRate, np.repeat([0.01, 0.01, 0.005, 0.005, 0.0025], 4))


def test_validation_patience_stops_at_the_right_iteration():
    X, Y = data()
    losses = []
    _, info = minidl.trainNetwork(X, Y, layers(), options(
        MaxEpochs=50, ValidationData=data(32, seed=1), ValidationFrequency=1, ValidationPatience=3,
        InitialLearnRate=0.5, OutputFcn=lambda i: losses.append(i.ValidationLoss)))
    v = [x for x in losses if x is not None]
    best, count, stop = np.inf, 0, None
    for k, loss in enumerate(v, start=1):
        if loss < best:
            best, count = loss, 0
        else:
            count += 1
            if count >= 3:
                stop = k
                break
    assert stop is not None and len(info.TrainingLoss) == stop
    assert info.StopReason == "Met validation criterion"


def test_output_function_is_called_at_start_every_iteration_and_done_and_can_stop():
    X, Y = data()
    states = []

    def stop_at_five(info):
        states.append((info.State, info.Iteration))
        return info.State == "iteration" and info.Iteration == 5

    net, info = minidl.trainNetwork(X, Y, layers(), options(OutputFcn=stop_at_five))
    assert states[0] == ("start", 0)
    assert [s for s in states if s[0] == "iteration"] == [("iteration", k) for k in range(1, 6)]
    assert states[-1] == ("done", 5)
    assert len(info.TrainingLoss) == 5 and info.StopReason == "Stopped by OutputFcn"
    assert net.Layers[2].TrainedMean is not None  # finalization still ran


def test_ctrl_c_stops_after_the_current_iteration_and_returns_the_network():
    X, Y = data()

    def interrupt(info):
        if info.State == "iteration" and info.Iteration == 3:
            raise KeyboardInterrupt

    net, info = minidl.trainNetwork(X, Y, layers(), options(OutputFcn=interrupt))
    assert len(info.TrainingLoss) == 3 and info.StopReason.startswith("Stopped manually")
    assert minidl.classify(net, X).shape == (64,)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_non_finite_loss_stops_with_a_message_and_returns_a_finite_network():
    X, Y = data()
    with pytest.warns(RuntimeWarning, match=r"loss is (nan|inf) at iteration \d+"):
        net, info = minidl.trainNetwork(X, Y, layers(bn=False), options(InitialLearnRate=1e30, MaxEpochs=20,
                                                                         L2Regularization=0))
    assert info.StopReason.startswith("Training loss is")
    assert all(np.all(np.isfinite(getattr(layer, name))) for layer in net.Layers for name in layer.learnables)


def test_best_validation_loss_output_network():
    X, Y = data()
    _, info = minidl.trainNetwork(X, Y, layers(), options(
        MaxEpochs=6, ValidationData=data(32, seed=1), ValidationFrequency=2, InitialLearnRate=0.3,
        OutputNetwork="best-validation-loss"))
    validated = ~np.isnan(info.ValidationLoss)
    best = np.flatnonzero(validated)[np.argmin(info.ValidationLoss[validated])] + 1
    assert info.OutputNetworkIteration == best


def test_same_seed_gives_bit_identical_training_loss_for_each_solver():
    X, Y = data()
    for solver in ("sgdm", "adam", "rmsprop"):
        runs = []
        for _ in range(2):
            minidl.rng(3)
            _, info = minidl.trainNetwork(X, Y, layers(), options(solver=solver, Shuffle="every-epoch"))
            runs.append(info)
        np.testing.assert_array_equal(runs[0].TrainingLoss, runs[1].TrainingLoss)


@pytest.mark.parametrize("solver,unit,frequency,resume_index", [
    ("sgdm", "epoch", 1, 1), ("adam", "iteration", 3, 1), ("rmsprop", "iteration", 5, 0)])
def test_resume_from_checkpoint_equals_the_uninterrupted_run(tmp_path, solver, unit, frequency, resume_index):
    X, Y = data(70)
    common = dict(solver=solver, MaxEpochs=4, Shuffle="every-epoch", ValidationData=data(20, seed=2),
                  ValidationFrequency=4, BatchNormalizationStatistics="moving")
    minidl.rng(5)
    full_net, full_info = minidl.trainNetwork(X, Y, layers(), options(
        CheckpointPath=str(tmp_path), CheckpointFrequency=frequency, CheckpointFrequencyUnit=unit, **common))
    files = sorted(glob.glob(os.path.join(tmp_path, "net_checkpoint__*.npz")),
                   key=lambda f: int(f.split("__")[1]))
    assert files and not glob.glob(os.path.join(tmp_path, ".minidl-*"))  # no temporary files left
    checkpoint = files[resume_index]
    minidl.rng(999)  # the checkpoint restores the generator
    net, info = minidl.trainNetwork(X, Y, layers(), options(**common), ResumeFrom=checkpoint)
    np.testing.assert_array_equal(info.TrainingLoss, full_info.TrainingLoss)
    for a, b in zip(full_net.Layers, net.Layers):
        for name in list(a.learnables) + (["TrainedMean", "TrainedVariance"] if "TrainedMean" in vars(a) else []):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_checkpoint_file_names_follow_matlab(tmp_path):
    X, Y = data()
    minidl.trainNetwork(X, Y, layers(), options(MaxEpochs=2, CheckpointPath=str(tmp_path)))
    names = sorted(os.path.basename(f) for f in glob.glob(os.path.join(tmp_path, "*.npz")))
    assert [n.split("__")[1] for n in names] == ["4", "8"]
    pattern = re.compile(r"^net_checkpoint__\d+__\d{4}_\d{2}_\d{2}__\d{2}_\d{2}_\d{2}\.npz$")
    assert all(pattern.match(n) for n in names), names  # MATLAB's net_checkpoint__<iter>__<date>
    loaded = minidl.load(os.path.join(tmp_path, names[-1]))
    assert loaded.checkpoint["iteration"] == 8


def test_save_load_round_trip_predicts_identically(tmp_path):
    X, Y = data()
    net, _ = minidl.trainNetwork(X, Y, layers(), options())
    path = minidl.save(tmp_path / "net.npz", net)
    again = minidl.load(path).net
    np.testing.assert_array_equal(minidl.predict(net, X), minidl.predict(again, X))
    assert [l.Name for l in again.Layers] == [l.Name for l in net.Layers]


def test_load_rejects_foreign_files_without_running_code(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a minidl file"):
        minidl.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable minidl file"):
        minidl.load(tmp_path / "junk.npz")


def test_training_progress_plot_is_saved_as_png(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, Y = data()
    minidl.trainNetwork(X, Y, layers(), options(Plots="training-progress", ValidationData=data(16, seed=3),
                                                ValidationFrequency=2))
    png = tmp_path / "training-progress.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regression_training_reports_loss_and_rmse_by_matlab_formulas():
    """Half mean squared error over observations; RMSE = sqrt(Σ squared error / N)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    W = np.array([[1.0, -2.0, 0.5], [0.3, 0.0, 1.0]], np.float32)
    Y = X @ W.T
    W0 = np.zeros((2, 3), np.float32)
    layers = [minidl.featureInputLayer(3), minidl.fullyConnectedLayer(2, Weights=W0, Bias=np.zeros((2, 1))),
              minidl.regressionLayer()]
    options = minidl.trainingOptions("sgdm", MaxEpochs=30, MiniBatchSize=40, InitialLearnRate=0.1,
                                     Shuffle="never", Verbose=False, L2Regularization=0,
                                     ValidationData=(X[:10], Y[:10]))
    net, info = minidl.trainNetwork(X, Y, layers, options)
    assert info.TrainingLoss[0] == pytest.approx(0.5 * np.sum(Y.astype(np.float64) ** 2) / 40, rel=1e-5)
    assert info.TrainingRMSE[0] == pytest.approx(np.sqrt(np.sum(Y.astype(np.float64) ** 2) / 40), rel=1e-5)
    assert info.TrainingLoss[-1] < 0.01 * info.TrainingLoss[0]
    prediction = minidl.predict(net, X[:10])
    assert info.FinalValidationRMSE == pytest.approx(np.sqrt(np.sum((prediction - Y[:10]) ** 2) / 10), rel=1e-4)
    assert "TrainingAccuracy" not in info


def test_given_input_statistics_are_kept_without_reset():
    X, Y = data()
    given = np.full((1, 1, 1), 0.25, np.float32)
    layers_given = layers()
    layers_given[0] = minidl.imageInputLayer([3, 3, 1], Mean=given)
    net, _ = minidl.trainNetwork(X, Y, layers_given, options(ResetInputNormalization=False, MaxEpochs=1))
    np.testing.assert_array_equal(net.Layers[0].Mean, given)
    net, _ = minidl.trainNetwork(X, Y, layers_given, options(MaxEpochs=1))
    np.testing.assert_allclose(net.Layers[0].Mean.reshape(()), X.astype(np.float64).mean(), rtol=1e-5)


def test_given_class_order_is_kept():
    X, Y = data()
    labels = np.where(Y == 1, "yes", "no")
    layer_list = layers()
    layer_list[-1] = minidl.classificationLayer(Classes=["yes", "no"])
    net, _ = minidl.trainNetwork(X, labels, layer_list, options(MaxEpochs=1))
    assert list(net.Layers[-1].Classes) == ["yes", "no"]
    predicted, scores = minidl.classify(net, X)
    assert list(predicted) == list(np.array(["yes", "no"])[scores.argmax(1)])


def test_early_stop_still_validates_at_the_finish():
    X, Y = data()
    _, info = minidl.trainNetwork(X, Y, layers(), options(
        ValidationData=data(16, seed=3), ValidationFrequency=50, OutputFcn=lambda i: i.Iteration == 3))
    assert np.flatnonzero(~np.isnan(info.ValidationLoss)).tolist() == [0, 2]


def test_options_checked_before_training(tmp_path):
    X, Y = data()
    with pytest.raises(ValueError, match="CheckpointPath .* is not an existing folder"):
        minidl.trainNetwork(X, Y, layers(), options(CheckpointPath=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="'best-validation-loss' needs ValidationData"):
        minidl.trainNetwork(X, Y, layers(), options(OutputNetwork="best-validation-loss"))
    assert options(OutputNetwork="auto").OutputNetwork == "last-iteration"


def test_data_format_for_numpy_native_images():
    X, Y = data()
    minidl.rng(2)
    _, a = minidl.trainNetwork(X, Y, layers(), options(MaxEpochs=1))
    minidl.rng(2)
    _, b = minidl.trainNetwork(X.transpose(3, 2, 0, 1), Y, layers(), options(MaxEpochs=1), DataFormat="BCSS")
    np.testing.assert_array_equal(a.TrainingLoss, b.TrainingLoss)


def test_rng_settings_round_trip():
    minidl.rng(7)
    saved = minidl.rng()
    first = minidl._rng.generator().random(3)
    minidl.rng(saved)
    np.testing.assert_array_equal(minidl._rng.generator().random(3), first)
    assert saved.Seed == 7 and saved.Type == "twister"     # MATLAB's name for the default generator


def test_rng_seeds_numpys_global_generator_as_matlab_does():
    minidl.rng(0, "twister")
    np.testing.assert_allclose(np.random.rand(1, 3), [[0.8147237, 0.9057919, 0.1269868]], atol=1e-7)   # MATLAB
    minidl.rng(1)
    a = np.random.rand(2)
    minidl.rng("default")
    assert minidl.rng().Seed == 0 and minidl.rng().Type == "twister"
    minidl.rng(1)
    np.testing.assert_array_equal(np.random.rand(2), a)
    minidl.rng(3, "philox")
    assert minidl.rng().Type == "philox"
    minidl.rng("shuffle")
    with pytest.raises(ValueError, match="generator"):
        minidl.rng(0, "mersenne")
    saved = minidl.rng()
    expected = np.random.rand(3)
    np.random.rand(5)
    minidl.rng(saved)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def test_sigint_requests_a_stop_after_the_current_iteration():
    import signal
    X, Y = data()

    def send_sigint(info):
        if info.State == "iteration" and info.Iteration == 2:
            signal.raise_signal(signal.SIGINT)

    net, info = minidl.trainNetwork(X, Y, layers(), options(OutputFcn=send_sigint))
    assert len(info.TrainingLoss) == 2 and info.StopReason.startswith("Stopped manually")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_object_string_labels_train_and_save(tmp_path):
    X, Y = data()
    labels = np.array(["cat", "dog"] * 32, dtype=object)
    net, _ = minidl.trainNetwork(X, labels, layers(), options(MaxEpochs=1, CheckpointPath=str(tmp_path)))
    again = minidl.load(minidl.save(tmp_path / "net", net))  # load finds net.npz too
    assert list(again.net.Layers[-1].Classes) == ["cat", "dog"]


@pytest.mark.parametrize("labels,message", [
    ([None, 1] * 32, "labels must be all strings or all integers"),
    (np.r_[np.arange(63) % 2, np.nan], "labels contain NaN"),
])
def test_bad_labels_get_clear_errors(labels, message):
    X, _ = data()
    with pytest.raises((TypeError, ValueError), match=message):
        minidl.trainNetwork(X, labels, layers(), options(MaxEpochs=1))


def test_resume_with_different_data_is_refused(tmp_path):
    X, Y = data(40)
    minidl.trainNetwork(X, Y, layers(), options(MaxEpochs=2, CheckpointPath=str(tmp_path)))
    checkpoint = glob.glob(os.path.join(tmp_path, "*.npz"))[0]
    with pytest.raises(ValueError, match="trained on 40 observations but X has 30"):
        minidl.trainNetwork(X[..., :30], Y[:30], layers(), options(MaxEpochs=2), ResumeFrom=checkpoint)


def test_best_validation_includes_the_validation_at_the_finish():
    X, Y = data()
    _, info = minidl.trainNetwork(X, Y, layers(), options(
        MaxEpochs=10, ValidationData=data(32, seed=1), ValidationFrequency=4, InitialLearnRate=0.3,
        OutputNetwork="best-validation-loss", OutputFcn=lambda i: i.Iteration == 6))
    validated = np.flatnonzero(~np.isnan(info.ValidationLoss))
    assert validated.tolist() == [0, 3, 5]
    assert info.OutputNetworkIteration == validated[np.argmin(info.ValidationLoss[validated])] + 1


def test_option_validation_messages():
    with pytest.raises(ValueError, match="'Epsilon' is an option of the 'adam' and 'rmsprop' solvers, not of 'sgdm'"):
        minidl.trainingOptions("sgdm", Epsilon=1e-8)
    with pytest.raises(ValueError, match="ResetInputNormalization must be true or false"):
        minidl.trainingOptions("sgdm", ResetInputNormalization="false")


def test_output_function_can_stop_at_start():
    X, Y = data()
    _, info = minidl.trainNetwork(X, Y, layers(), options(OutputFcn=lambda i: i.State == "start"))
    assert len(info.TrainingLoss) == 0 and info.StopReason == "Stopped by OutputFcn"


def test_image_regression_responses_follow_data_format():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 2, 4, 4)).astype(np.float32)  # BCSS
    Y = 2 * X[:, :1]
    layer_list = [minidl.imageInputLayer([4, 4, 2], Normalization="none"), minidl.convolution2dLayer(1, 1),
                  minidl.regressionLayer()]
    net, info = minidl.trainNetwork(X, Y, layer_list, options(MaxEpochs=2, MiniBatchSize=3), DataFormat="BCSS")
    assert len(info.TrainingRMSE) == 4


def test_pooling_padding_must_be_smaller_than_the_pool():
    with pytest.raises(ValueError, match=r"padding \[1, 1, 1, 1\] must be smaller than the pool size"):
        minidl.analyzeNetwork([minidl.imageInputLayer([4, 4, 1]), minidl.maxPooling2dLayer(1, Padding=1),
                               minidl.fullyConnectedLayer(2), minidl.softmaxLayer(),
                               minidl.classificationLayer()], Print=False).raise_errors("test")


def test_matlab_options_without_effect_are_accepted():
    o = minidl.trainingOptions("sgdm", SequenceLength="longest", DispatchInBackground=False,
                               PreprocessingEnvironment="serial")
    assert o.SequenceLength == "longest"


def test_predict_answers_in_the_callers_data_format():
    rng = np.random.default_rng(0)
    layer_list = [minidl.imageInputLayer([4, 5, 2], Normalization="none"),
                  minidl.convolution2dLayer(1, 3, Weights=rng.standard_normal((1, 1, 2, 3)), Bias=np.zeros((1, 1, 3))),
                  minidl.regressionLayer()]
    net = minidl.assembleNetwork(layer_list)
    X = rng.standard_normal((4, 5, 2, 6)).astype(np.float32)
    sscb = minidl.predict(net, X)
    assert sscb.shape == (4, 5, 3, 6)
    np.testing.assert_array_equal(minidl.predict(net, X.transpose(3, 2, 0, 1), DataFormat="BCSS"),
                                  sscb.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(minidl.predict(net, X.transpose(3, 0, 1, 2), DataFormat="BSSC"),
                                  sscb.transpose(3, 0, 1, 2))
    with pytest.raises(ValueError, match="DataFormat must be 'SSCB', 'BCSS' or 'BSSC'"):
        minidl.predict(net, X, DataFormat="CB")


def test_progress_bar_on_a_terminal(monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    X, Y = data()
    minidl.trainNetwork(X, Y, layers(), options(MaxEpochs=2))
    text = terminal.getvalue()
    assert "8/8" in text and "epoch 2" in text and "loss " in text and "acc " in text and "lr 0.0100" in text
