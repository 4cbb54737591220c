"""ResumeFrom checks a checkpoint against the options, the data and the network before the
first iteration (issue 10): each mismatch or damaged field is one clear error naming
ResumeFrom, what was expected, what the file holds, and what to do."""
import json

import numpy as np
import pytest

import minidl
from training_fault_cases import Hook, data, layers, options

COMMON = dict(BatchNormalizationStatistics="moving", Shuffle="every-epoch")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The checkpoint after iteration 6 (epoch 2, step 2) of 8."""
    folder = tmp_path_factory.mktemp("checkpoints")
    X, Y = data()
    minidl.rng(0)
    minidl.trainNetwork(X, Y, layers(), options(**COMMON, CheckpointPath=str(folder), CheckpointFrequency=3,
                                                CheckpointFrequencyUnit="iteration"))
    return next(folder.glob("net_checkpoint__6__*.npz"))


def tamper(source, target, state=None, drop=(), arrays=None):
    """A copy of checkpoint ``source`` with trainer-state fields changed or dropped."""
    with np.load(source, allow_pickle=False) as archive:
        contents = {key: archive[key] for key in archive.files}
    header = json.loads(str(contents["__minidl__"]))
    fields = header["checkpoint"]
    for key in drop:
        (fields if key in fields else contents).pop(key)
    fields.update(state or {})
    contents.update(arrays or {})
    header["members"] = sorted(set(contents) - {"__minidl__"})  # consistent, so the trainer's checks run
    contents["__minidl__"] = np.array(json.dumps(header))
    np.savez(target, **contents)
    return target


def resume(path, layer_list=None, **changes):
    X, Y = data()
    calls = []
    opts = options(**{**COMMON, **changes}, OutputFcn=lambda info: calls.append(info.State))
    try:
        return minidl.trainNetwork(X, Y, layer_list or layers(), opts, ResumeFrom=path,
                                   CustomLayers={"Hook": Hook})
    finally:
        assert calls == [] or calls[-1] == "done"


DAMAGED = "resume from an unchanged one"
CASES = {
    "MiniBatchSize differs": (dict(), dict(MiniBatchSize=16), ValueError,
                              "trained with MiniBatchSize 8 but the options give 16; resume with MiniBatchSize=8"),
    "solver differs": (dict(), dict(solver="adam"), ValueError, "trained with the solver 'sgdm' but the options give "
                                                                 r"'adam'; resume with trainingOptions\('sgdm', ...\)"),
    "statistics differ": (dict(), dict(BatchNormalizationStatistics="population"), ValueError,
                          "BatchNormalizationStatistics 'moving' but the options give 'population'"),
    "too few MaxEpochs": (dict(), dict(MaxEpochs=1), ValueError, "at iteration 6, beyond MaxEpochs 1 × 4 iterations "
                                                                  "per epoch = 4. Set MaxEpochs to at least 2"),
    "order all zeros": (dict(arrays={"S.order": np.zeros(32, np.int64)}), {}, ValueError,
                        r"shuffle order must be a permutation of 0..31; it holds \[0, 0, 0, 0, 0, 0, 0, 0\] ..."),
    "order of floats": (dict(arrays={"S.order": np.arange(32.0)}), {}, ValueError, "must be a permutation"),
    "negative epoch": (dict(state={"epoch": -5}), {}, ValueError, r"'epoch' must be in \[1, inf\]; it holds -5"),
    "huge step": (dict(state={"step": 10**9}), {}, ValueError,
                  r"'step' must be in \[0, 4\] \(iterations per epoch: 32 observations // MiniBatchSize 8\); it holds "
                  r"1000000000"),
    "iteration does not add up": (dict(state={"iteration": 10**9}), {}, ValueError,
                                  r"'iteration' must be \(epoch - 1\) \* 4 \+ step = 6 for epoch 2, step 2"),
    "epoch as text": (dict(state={"epoch": "2"}), {}, TypeError, "'epoch' must be an integer; it holds '2' "
                                                                 r"\(a str\)"),
    "epoch true": (dict(state={"epoch": True}), {}, TypeError, "'epoch' must be an integer"),
    "learning rate as text": (dict(state={"learn_rate": "0.01"}), {}, TypeError, "'learn_rate' must be a finite "
                                                                                 "positive number"),
    "negative learning rate": (dict(state={"learn_rate": -1}), {}, ValueError, "'learn_rate' must be a finite "
                                                                               "positive number; it holds -1"),
    "best loss NaN": (dict(state={"best_loss": float("nan")}), {}, ValueError, "'best_loss' must be a number"),
    "patience beyond": (dict(state={"patience": 99}), {}, ValueError, r"'patience' must be in \[0, 6\]"),
    "random generator": (dict(state={"rng": {"bit_generator": "MT19937"}}), {}, ValueError,
                         "'rng' is not a state of the PCG64 generator"),
    "best layers flag": (dict(state={"has_best_layers": "no"}), {}, TypeError, "'has_best_layers' must be true or "
                                                                               "false"),
    "solver scalars": (dict(state={"solver_scalars": {"iteration": 3}}), {}, ValueError,
                       "'solver_scalars' do not fit the 'sgdm' solver"),
    "missing epoch": (dict(drop=["epoch"]), {}, ValueError, f"the checkpoint has no 'epoch' field. .*{DAMAGED}"),
    "missing order": (dict(drop=["S.order"]), {}, ValueError, "the checkpoint has no 'order' array"),
    "missing history": (dict(drop=["S.history.TrainingLoss"]), {}, ValueError,
                        "no 'history.TrainingLoss' array"),
    "short history": (dict(arrays={"S.history.TrainingLoss": np.zeros(2)}), {}, ValueError,
                      "history 'TrainingLoss' must hold 6 numbers"),
    "velocity of a wrong size": (dict(arrays={"S.velocity.1.Weights.0": np.zeros((2, 2, 1, 4), np.float32)}), {},
                                 ValueError, "solver state 'velocity.1.Weights.0' has size 2×2×1×4, but Weights "
                                             "of layer 'conv' is 3×3×1×4"),
    "velocity of no learnable": (dict(arrays={"S.velocity.0.Weights.0": np.zeros(3, np.float32)}), {}, ValueError,
                                 r"'velocity.0.Weights.0' belongs to no learnable of the checkpoint's network \(layer "
                                 r"0, property 'Weights'\)"),
    "velocity NaN": (dict(arrays={"S.velocity.1.Bias.0": np.full((1, 1, 4), np.nan, np.float32)}), {}, ValueError,
                     "must hold finite floating-point numbers"),
    "foreign solver state": (dict(arrays={"S.moments.1.Bias.0": np.zeros((1, 1, 4), np.float32)}), {}, ValueError,
                             "'moments.1.Bias.0', which is not state of the SGDM solver"),
    "NaN weights": (dict(arrays={"L1.Weights": np.full((3, 3, 1, 4), np.nan, np.float32)}), {}, minidl.ModelFileError,
                    r"layer 2 \(Convolution2DLayer 'conv'\), property 'Weights' \(member 'L1.Weights'\) contains NaN"),
}


@pytest.mark.parametrize("name", CASES)
def test_a_bad_checkpoint_is_refused_before_the_first_iteration(name, checkpoint, tmp_path):
    change, option_changes, error, message = CASES[name]
    path = tamper(checkpoint, tmp_path / "changed.npz", **change)
    with pytest.raises(error, match=message) as raised:
        resume(path, **option_changes)
    assert str(raised.value).startswith("ResumeFrom: ")


def test_a_different_layer_set_is_refused(checkpoint):
    wider = layers()
    wider[1] = minidl.convolution2dLayer(3, 8, Padding="same")
    with pytest.raises(ValueError, match="ResumeFrom: the checkpoint's network does not match the layers given: "
                                         "Weights of layer 'conv' is 3×3×1×4 in the checkpoint but 3×3×1×8 in the "
                                         "layers given. Resume with the layers the checkpoint was trained with"):
        resume(checkpoint, wider)
    with pytest.raises(ValueError, match=r"the checkpoint has layers \['imageinput \(ImageInputLayer\)', .* the "
                                         r"layers given \['imageinput \(ImageInputLayer\)', 'conv"):
        resume(checkpoint, layers()[:2] + layers()[3:])


def test_resume_from_something_that_is_not_a_file_name():
    with pytest.raises(TypeError, match="ResumeFrom: expected the path of a checkpoint file"):
        resume(42)


def test_the_unchanged_checkpoint_resumes_exactly(checkpoint, tmp_path):
    """The checks refuse nothing that is right: the resumed run ends as the full run did."""
    X, Y = data()
    minidl.rng(0)
    full_net, full_info = minidl.trainNetwork(X, Y, layers(), options(**COMMON))
    net, info = resume(tamper(checkpoint, tmp_path / "copy.npz"))
    np.testing.assert_array_equal(info.TrainingLoss, full_info.TrainingLoss)
    for a, b in zip(net.Layers, full_net.Layers):
        for name in (*a.learnables, *a.state_names):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
