"""save/load of a dlnetwork (bit-exact Learnables, State, initialized flag, classes) and of
MATLAB-style custom layers, restored from their properties without their constructor
(MATLAB's loadobj), with the hostile-file checks that this opens."""
import numpy as np
import pytest

import minidl
from minidl.io.errors import ModelFileError
from format_files import contents, rewrite


def trained(tmp_path=None):
    minidl.rng(4)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 3))
    T = np.array(["no", "yes"])[(X[:, 0] > X[:, 1]).astype(int)]
    layers = [minidl.featureInputLayer(3), minidl.fullyConnectedLayer(5), minidl.batchNormalizationLayer(),
              minidl.reluLayer(), minidl.fullyConnectedLayer(2), minidl.softmaxLayer()]
    options = minidl.trainingOptions("adam", MaxEpochs=2, MiniBatchSize=8, Verbose=False,
                                     BatchNormalizationStatistics="moving")
    net, _ = minidl.trainnet(X, T, layers, "crossentropy", options)
    return net, X, T


def test_a_trained_dlnetwork_round_trips_bit_for_bit(tmp_path):
    net, X, T = trained()
    path = minidl.save(str(tmp_path / "dl.npz"), net)
    header, _ = contents(path)
    assert header["kind"] == "dlnetwork" and header["initialized"] is True and header["class_names"] == ["no", "yes"]
    again = minidl.load(path).net
    assert isinstance(again, minidl.dlnetwork) and again.Initialized
    for kind in ("Learnables", "State"):
        saved, loaded = getattr(net, kind), getattr(again, kind)
        assert saved.Layer == loaded.Layer and saved.Parameter == loaded.Parameter
        for a, b in zip(saved.Value, loaded.Value):
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    assert again.State.Parameter == ["TrainedMean", "TrainedVariance"]
    assert np.array_equal(minidl.predict(again, X), minidl.predict(net, X))
    assert minidl.testnet(again, X, T, "accuracy") == minidl.testnet(net, X, T, "accuracy")
    assert again.Connections == net.Connections


def test_an_uninitialized_dlnetwork_stays_uninitialized_with_what_it_had(tmp_path):
    W = np.arange(6, dtype=np.float32).reshape(2, 3)
    net = minidl.dlnetwork([minidl.featureInputLayer(3), minidl.fullyConnectedLayer(2, Weights=W),
                            minidl.softmaxLayer()], Initialize=False)
    again = minidl.load(minidl.save(str(tmp_path / "u.npz"), net)).net
    assert not again.Initialized and again.Layers[1].Bias is None
    np.testing.assert_array_equal(again.Layers[1].Weights, W)
    with pytest.raises(ValueError, match="not initialized"):
        minidl.predict(again, np.ones((1, 3)))


@pytest.mark.parametrize("edit, message", [
    (lambda h, a: h.update({"initialized": "yes"}), r"must say whether it is initialized"),
    (lambda h, a: h.update({"class_names": ["a", "a"]}), r"class_names must be null or a list of distinct"),
    (lambda h, a: h.update({"connections": [["input", "nowhere"]]}), r"connection 'input' -> 'nowhere' is not valid"),
    (lambda h, a: a.pop("L1.Weights") is None or h["layers"][1]["config"].pop("Weights"),
     r"no array for its learnable Weights"),
])
def test_a_bad_dlnetwork_file_is_refused_by_name(tmp_path, edit, message):
    net, _, _ = trained()
    header, arrays = contents(minidl.save(str(tmp_path / "dl.npz"), net))
    edit(header, arrays)
    with pytest.raises(ModelFileError, match=message):
        minidl.load(rewrite(None, header, arrays, str(tmp_path / "bad.npz")))


class Affine(minidl.Layer):
    """A MATLAB-style layer whose constructor argument (numChannels) is not a property."""
    Learnable = ("Scale",)
    State = ("Seen",)

    def __init__(self, numChannels, name):
        self.Name, self.Note = name, f"{numChannels} channels"
        self.Scale, self.Seen = np.full((numChannels, 1), 2.0), np.zeros((numChannels, 1))

    def predict(self, X):
        return self.Scale * X

    def backward(self, X, Z, dLdZ, memory):
        return self.Scale * dLdZ, np.sum(X * dLdZ, axis=1, keepdims=True)


def saved_affine(tmp_path):
    layer = Affine(3, "aff")
    layer.Scale = np.array([[1.5], [-2.0], [0.25]])
    layer.ScaleLearnRateFactor = 0          # an instance property: saved and restored too
    net = minidl.dlnetwork([minidl.featureInputLayer(3), layer])
    return net, minidl.save(str(tmp_path / "affine.npz"), net)


def test_a_matlab_style_layer_is_restored_from_its_properties(tmp_path, monkeypatch):
    net, path = saved_affine(tmp_path)
    header, _ = contents(path)
    entry = header["layers"][1]
    assert entry["rebuild"] == "properties" and entry["config"] == {
        "Name": "aff", "Note": "3 channels", "ScaleLearnRateFactor": 0}
    assert set(entry["arrays"]) == {"Scale", "Seen"}
    monkeypatch.setattr(Affine, "__init__", lambda *a, **k: pytest.fail("load called the constructor"))
    again = minidl.load(path, CustomLayers={"Affine": Affine}).net
    layer = again.Layers[1]
    assert layer.Note == "3 channels" and layer.ScaleLearnRateFactor == 0
    X = np.array([[1.0, 2.0, 4.0]])
    np.testing.assert_array_equal(minidl.predict(again, X), [[1.5, -4.0, 1.0]])


@pytest.mark.parametrize("edit, message", [
    (lambda e: e["config"].update({"predict": "x"}), r"property 'predict', which cannot be restored"),
    (lambda e: e["config"].update({"__class__": "x"}), r"property '__class__', which cannot be restored"),
    (lambda e: e.update({"class": "ReLULayer", "config": {"Name": "aff"}, "arrays": {}}),
     r"is stored by its properties, but ReLULayer is not a MATLAB-style custom layer"),
    (lambda e: e.pop("rebuild"), r"was saved through its constructor, but Affine is saved by its properties"),
    (lambda e: e.update({"rebuild": "pickle"}), r"optionally 'rebuild': 'properties'"),
])
def test_restoring_by_properties_refuses_hostile_entries(tmp_path, edit, message):
    _, path = saved_affine(tmp_path)
    header, arrays = contents(path)
    edit(header["layers"][1])
    if header["layers"][1]["class"] == "ReLULayer":
        arrays = {k: v for k, v in arrays.items() if not k.startswith("L1.")}
    with pytest.raises(ModelFileError, match=message):
        minidl.load(rewrite(None, header, arrays, str(tmp_path / "bad.npz")), CustomLayers={"Affine": Affine})


def test_save_refuses_a_property_it_cannot_store_and_writes_nothing(tmp_path):
    layer = Affine(2, "aff")
    layer.Helper = {"a": 1}
    net = minidl.dlnetwork([minidl.featureInputLayer(2), layer])
    with pytest.raises(ValueError, match=r"save: aff.Helper is a dict"):
        minidl.save(str(tmp_path / "x.npz"), net)
    assert not list(tmp_path.iterdir())
