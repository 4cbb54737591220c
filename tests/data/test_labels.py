"""Issue 12's data and results helpers: digitTrain4DArrayData/digitTest4DArrayData,
categorical/categories, countEachLabel, confusionmat (MATLAB's order rules, against a
hand count) and confusionchart (rendered to a file with Agg)."""
import matplotlib
import numpy as np
import pytest

import minidl
from minidl.data.datasets import synthesize

matplotlib.use("Agg")


def test_digit_arrays_have_matlabs_sizes_and_ranges():
    X, Y, angles = minidl.digitTrain4DArrayData()
    assert X.shape == (28, 28, 1, 5000) and X.dtype == np.float32
    assert X.min() == 0 and X.max() <= 1 and X.max() > 0.7
    assert Y.shape == (5000,) and minidl.categories(Y) == [str(d) for d in range(10)]
    assert np.bincount(np.asarray(Y)).tolist() == [500] * 10
    assert angles.shape == (5000, 1) and -45 <= angles.min() < -40 and 40 < angles.max() <= 45
    Xt, Yt, at = minidl.digitTest4DArrayData()
    assert Xt.shape == X.shape and not np.array_equal(Xt[..., :10], X[..., :10])
    again = minidl.digitTrain4DArrayData()
    np.testing.assert_array_equal(again[0], X)          # always the same, global rng untouched


def test_digits_are_unchanged_by_the_shared_generator():
    X, Y = minidl.digits()
    X2, labels, angles = synthesize(0)
    np.testing.assert_array_equal(X, X2)
    assert np.all(np.abs(angles) <= 15)


def test_angles_are_counterclockwise_rotations():
    """A '1' is a vertical stroke: its principal axis leans by the returned angle."""
    X, labels, angles = synthesize(5, 40, 45.0)
    ones = np.flatnonzero(labels == 1)
    agree = 0
    for i in ones:
        image = X[:, :, 0, i].astype(float)
        rows, cols = np.nonzero(image > 100)
        cov = np.cov(np.stack([cols - cols.mean(), -(rows - rows.mean())]))
        vals, vecs = np.linalg.eigh(cov)
        vx, vy = vecs[:, -1]
        lean = np.degrees(np.arctan2(-vx, vy)) if vy >= 0 else np.degrees(np.arctan2(vx, -vy))
        agree += np.sign(lean) == np.sign(angles[i]) or abs(angles[i]) < 10
    assert agree >= 0.8 * len(ones)


def test_categorical_prints_and_compares_like_matlab():
    C = minidl.categorical([2, 0, 1, 2])
    assert minidl.categories(C) == ["0", "1", "2"]
    assert (C == 2).tolist() == [True, False, False, True]
    assert (C == "2").tolist() == [True, False, False, True]
    assert (C == np.array([2, 0, 0, 0])).tolist() == [True, True, False, False]
    assert int(np.sum(C == minidl.categorical(["2", "0", "1", "1"]))) == 3
    assert str(C) == "  4×1 categorical array\n\n     2\n     0\n     1\n     2\n"
    assert C[:2].order == [0, 1, 2] and isinstance(C[:2], minidl.data.Categorical)
    named = minidl.categorical([1, 0, 1], [1, 0], ["yes", "no"])
    assert minidl.categories(named) == ["yes", "no"] and (named == "yes").tolist() == [True, False, True]
    assert minidl.categories(["b", "a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="valueset"):
        minidl.categorical([1, 5], [1, 2])


def test_count_each_label_is_a_table():
    table = minidl.countEachLabel(minidl.categorical(["b", "a", "b"], ["b", "a"]))
    assert len(table) == 2 and table.Label.tolist() == ["b", "a"] and table["Count"].tolist() == [2, 1]
    assert table.Properties.VariableNames == ["Label", "Count"]
    assert "  2×2 table" in str(table) and "_____" in str(table)


def test_confusionmat_against_a_hand_count_and_matlabs_orders():
    truth = [3, 1, 2, 3, 3, 1]
    guess = [3, 2, 2, 1, 3, 1]
    C = minidl.confusionmat(truth, guess)
    expected = np.zeros((3, 3), int)
    for t, g in zip(truth, guess):
        expected[t - 1, g - 1] += 1
    np.testing.assert_array_equal(C, expected)
    assert C.order == [1, 2, 3]
    strings = minidl.confusionmat(["z", "a", "z"], ["a", "m", "z"])      # first appearance
    assert strings.order == ["z", "a", "m"]
    cats = minidl.confusionmat(minidl.categorical(["x", "y"], ["y", "x"]), minidl.categorical(["y", "y"], ["y", "x"]))
    assert cats.order == ["y", "x"] and cats.tolist() == [[1, 0], [1, 0]]
    ordered = minidl.confusionmat(truth, guess, "Order", [3, 2, 1])
    np.testing.assert_array_equal(ordered, expected[::-1, ::-1])
    with pytest.raises(ValueError, match="Order"):
        minidl.confusionmat(truth, guess, Order=[1, 2])


def test_confusionchart_renders_to_a_file(tmp_path):
    chart = minidl.confusionchart([0, 1, 1, 2], [0, 1, 2, 2], Title="digits", Normalization="row-normalized")
    chart.savefig(tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000
    assert chart.NormalizedValues.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert chart.Axes.get_title() == "digits"
    matrix = minidl.confusionchart(np.array([[5, 1], [2, 7]]), ["cat", "dog"])
    assert matrix.ClassLabels == ["cat", "dog"]


def test_labels_work_through_training_and_the_matlab_accuracy_line():
    X, Y, _ = minidl.digitTrain4DArrayData()
    X, Y = X[..., :200], Y[:200]
    (XT, YT), (XV, YV) = minidl.splitEachLabel(X, Y, 0.75)
    layers = [minidl.imageInputLayer([28, 28, 1]), minidl.convolution2dLayer(3, 4), minidl.reluLayer(),
              minidl.fullyConnectedLayer(10), minidl.softmaxLayer(), minidl.classificationLayer()]
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=50, Verbose=False)
    net, _ = minidl.trainNetwork(XT, YT, layers, options)
    YPred = minidl.classify(net, XV)
    YPred = YPred[0] if isinstance(YPred, tuple) else YPred
    accuracy = np.sum(YPred == YV) / len(YV)        # MATLAB: accuracy = sum(YPred == YValidation)/numel(...)
    assert 0 <= accuracy <= 1
    assert minidl.confusionmat(YV, YPred).sum() == len(YV)
