"""minibatchpredict, scores2label, testnet against hand computations; the Table type."""
import importlib.util

import numpy as np
import pytest

import minidl
from minidl.table import Table

RS = np.random.default_rng(5)
W, B = RS.standard_normal((3, 4)), RS.standard_normal((3, 1))


def net():
    return minidl.dlnetwork([minidl.featureInputLayer(4, Normalization="none"), minidl.reluLayer(Name="relu"),
                             minidl.fullyConnectedLayer(3, Name="fc", Weights=W, Bias=B), minidl.softmaxLayer()])


def hand(X):
    Z = np.maximum(X, 0) @ W.T + B.T
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def test_minibatchpredict_equals_predict_and_a_hand_computation():
    X = RS.standard_normal((7, 4))
    scores = minidl.minibatchpredict(net(), X, MiniBatchSize=3)
    np.testing.assert_allclose(scores, hand(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(scores, minidl.predict(net(), X))


def test_minibatchpredict_outputs():
    X = RS.standard_normal((5, 4))
    np.testing.assert_allclose(minidl.minibatchpredict(net(), X, Outputs="relu"), np.maximum(X, 0), rtol=1e-6)
    relu, fc = minidl.minibatchpredict(net(), X, "Outputs", ["relu", "fc"])
    np.testing.assert_allclose(fc, np.maximum(X, 0) @ W.T + B.T, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="minibatchpredict: Outputs 'nope' is not a layer"):
        minidl.minibatchpredict(net(), X, Outputs="nope")


def test_minibatchpredict_on_images_keeps_matlab_layout():
    layers = [minidl.imageInputLayer([3, 3, 2], Normalization="none"), minidl.reluLayer()]
    X = RS.standard_normal((3, 3, 2, 4))
    np.testing.assert_allclose(minidl.minibatchpredict(minidl.dlnetwork(layers), X), np.maximum(X, 0))


def test_scores2label():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    assert minidl.scores2label(scores, ["x", "y", "z"]).tolist() == ["y", "x"]
    assert minidl.scores2label(scores.T, ["x", "y", "z"], 1).tolist() == ["y", "x"]
    with pytest.raises(ValueError, match="scores2label: classNames must list one name per class"):
        minidl.scores2label(scores, ["x", "y"])


def test_testnet_metrics_against_hand_values():
    X = RS.standard_normal((12, 4))
    labels = np.array(["a", "b", "c"])[RS.integers(0, 3, 12)]
    Y = hand(X)
    T = (labels[:, None] == np.array(["a", "b", "c"])).astype(float)
    accuracy = 100 * np.mean(Y.argmax(1) == T.argmax(1))
    values = minidl.testnet(net(), X, labels, ["accuracy", "crossentropy", "fscore", "rmse"])
    assert values[0] == pytest.approx(accuracy)
    assert values[1] == pytest.approx(-np.sum(T * np.log(Y)) / 12, rel=1e-5)
    assert values[2] == pytest.approx(accuracy / 100)      # micro-averaged F1 of single-label classes
    assert values[3] == pytest.approx(np.sqrt(np.mean((Y - T) ** 2)), rel=1e-5)
    assert minidl.testnet(net(), X, labels, "accuracy") == pytest.approx(accuracy)
    with pytest.raises(minidl.OptionError, match="testnet: metrics 'auc' is not a metric"):
        minidl.testnet(net(), X, labels, "auc")


def test_testnet_regression():
    layers = [minidl.featureInputLayer(4, Normalization="none"), minidl.fullyConnectedLayer(3, Weights=W, Bias=B)]
    X, T = RS.standard_normal((6, 4)), RS.standard_normal((6, 3))
    Y = X @ W.T + B.T
    mse, l1, rmse = minidl.testnet(minidl.dlnetwork(layers), X, T, ["mse", "l1loss", "rmse"])
    assert mse == pytest.approx(np.mean((Y - T) ** 2), rel=1e-5)
    assert l1 == pytest.approx(np.mean(np.abs(Y - T)), rel=1e-5)
    assert rmse == pytest.approx(np.sqrt(np.mean((Y - T) ** 2)), rel=1e-5)


def test_table_rows_columns_and_display():
    t = Table(Layer=["fc", "fc"], Parameter=["Weights", "Bias"], Value=[np.zeros((3, 4), np.float32), np.zeros((3, 1))])
    assert len(t) == 2 and t.Parameter == ["Weights", "Bias"] and t["Layer"] == ["fc", "fc"]
    assert t.Properties.VariableNames == ["Layer", "Parameter", "Value"]
    assert t[1].Parameter == "Bias" and len(t[[False, True]]) == 1 and t[1:].Parameter == ["Bias"]
    assert [row.Parameter for row in t] == ["Weights", "Bias"]
    assert str(t).splitlines() == [
        "  2×3 table", "",
        "    Layer    Parameter       Value",
        "    _____    _________    ____________", "",
        '    "fc"     "Weights"    {3×4 single}',
        '    "fc"     "Bias"       {3×1 double}']
    with pytest.raises(AttributeError, match="no column 'Nope'"):
        t.Nope
    with pytest.raises(ValueError, match="same number of rows"):
        Table(A=[1], B=[1, 2])


def test_connections_are_tables():
    lgraph = minidl.layerGraph([minidl.featureInputLayer(2), minidl.reluLayer()])
    assert isinstance(lgraph.Connections, Table) and len(lgraph.Connections) == 1
    assert isinstance(net().Connections, Table)


def test_to_pandas_converts_or_names_the_extra():
    """With pandas: a DataFrame of the table's columns; without it (pandas is optional): an
    ImportError that names the extra to install. Whichever this machine has is checked."""
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(ImportError, match=r"pip install minidl\[tables\]"):
            net().Learnables.to_pandas()
        return
    frame = net().Learnables.to_pandas()
    assert list(frame.columns) == ["Layer", "Parameter", "Value"] and len(frame) == 2
    assert frame["Value"][0].shape == (3, 4)


def test_one_table_type_for_every_table():
    """minidl.table.Table is the only table (countEachLabel's, Learnables, Connections, ...):
    columns keep their type (a categorical column stays categorical, also in a row subset),
    categorical values print without quotes, numbers right-aligned, text left-aligned."""
    counts = minidl.countEachLabel(minidl.categorical(["b", "a", "b", "c"], ["c", "b", "a"]))
    assert type(counts) is Table and minidl.data.Table is Table
    assert (counts.height, counts.width) == (3, 2) and counts.Properties.VariableNames == ["Label", "Count"]
    subset = counts[counts.Count > 0]
    assert isinstance(subset.Label, minidl.data.Categorical) and subset.Label.categories() == ["c", "b", "a"]
    assert subset.Count.tolist() == [1, 2, 1] and counts[np.array([0, 2])].Label.tolist() == ["c", "a"]
    assert str(Table(Label=minidl.categorical(["x", "yy"]), Count=np.array([5, 1000]))).splitlines()[2:] == [
        "    Label    Count", "    _____    _____", "", "      x          5", "      yy      1000"]
    assert "{3×4     dlarray}" in str(Table("dlarray", V=[np.zeros((3, 4)), np.zeros((1, 1, 2, 8))]))
    with pytest.raises(AttributeError, match="read-only"):
        counts.Count = [1]
