"""minidl's file format (version 3): public configuration, constructors, checks, migrations."""
import functools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minidl
from minidl.io import format as file_format
from minidl.io.errors import ModelFileError
from minidl.layers import config
from format_files import contents, rewrite, small_net

DATA = os.path.join(os.path.dirname(__file__), "..", "data")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_the_format_error_is_model_file_error():
    assert file_format.FileFormatError is ModelFileError and issubclass(ModelFileError, ValueError)
    assert file_format.FORMAT_VERSION == 3 and set(file_format.MIGRATIONS) == {1, 2}


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("name", ["series", "dag"])
def test_an_older_file_loads_through_the_migrations_and_predicts_as_when_saved(name, version):
    header, _ = contents(os.path.join(DATA, f"format_v{version}_{name}.npz"))
    assert header["format_version"] == version                                   # really the old format
    assert ("properties" in header["layers"][1]) == (version == 1)
    net = minidl.load(os.path.join(DATA, f"format_v{version}_{name}.npz")).net
    with np.load(os.path.join(DATA, f"format_v{version}_expected.npz")) as expected:
        np.testing.assert_array_equal(minidl.predict(net, expected[f"{name}.X"]), expected[f"{name}.Y"])


def test_a_saved_file_holds_public_configuration_only(tmp_path):
    net = small_net()
    header, arrays = contents(minidl.save(str(tmp_path / "n.npz"), net))
    assert header["format_version"] == 3 and header["members"] == sorted(arrays)
    for entry, layer in zip(header["layers"], net.Layers):
        assert set(entry["config"]) == set(config.config_names(type(layer)))
        assert not any(name.startswith("_") for name in entry["config"])
    conv = header["layers"][1]["config"]
    assert "PaddingSize" not in conv and conv["Weights"] == {"array": "L1.Weights"}
    assert "_image" not in header["layers"][2]["config"]


def test_constructor_defaults_come_from_the_class_signature():
    from minidl.layers.normalization import BatchNormalizationLayer
    defaults = config.constructor_defaults(BatchNormalizationLayer)
    assert defaults["Epsilon"] == 1e-5 and defaults["MeanDecay"] == 0.1 and "Name" not in defaults
    layer = minidl.batchNormalizationLayer()
    assert {k: getattr(layer, k) for k in ("Epsilon", "MeanDecay", "VarianceDecay")} == {
        k: defaults[k] for k in ("Epsilon", "MeanDecay", "VarianceDecay")}


def test_load_rebuilds_layers_through_their_constructors(tmp_path, monkeypatch):
    from minidl.layers.normalization import BatchNormalizationLayer
    path = minidl.save(str(tmp_path / "n.npz"), small_net())
    calls = []
    original = BatchNormalizationLayer.__init__

    @functools.wraps(original)
    def counted(self, *args, **kwargs):
        calls.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(BatchNormalizationLayer, "__init__", counted)
    minidl.load(path)
    assert len(calls) == 1 and calls[0]["Epsilon"] == 1e-5


def change(tmp_path, edit, net=None):
    header, arrays = contents(minidl.save(str(tmp_path / "n.npz"), net or small_net()))
    edit(header, arrays)
    return rewrite(None, header, arrays, str(tmp_path / "bad.npz"))


def set_config(layer, **values):
    return lambda header, arrays: header["layers"][layer]["config"].update(values)


@pytest.mark.parametrize("edit, message", [
    (set_config(2, Epsilon=-1), r"layer 3 \(BatchNormalizationLayer 'batchnorm'\) cannot be rebuilt.*Epsilon must be "
                                r"a finite scalar >= 1e-5"),
    (set_config(2, Epsilon=1e-7), r"Epsilon must be a finite scalar >= 1e-5"),
    (set_config(1, Stride={"tuple": [0, 0]}), r"layer 2 \(Convolution2DLayer 'conv'\) cannot be rebuilt.*Stride"),
    (lambda h, a: a.update({"L2.TrainedVariance": -a["L2.TrainedVariance"]}), r"TrainedVariance must be nonnegative"),
    (lambda h, a: a.update({"L2.TrainedMean": np.full(4, np.nan, np.float32)}), r"member 'L2.TrainedMean'\) contains NaN"),
    (lambda h, a: a.update({"L1.Weights": a["L1.Weights"][..., :2]}), r"layer 2 \(Convolution2DLayer 'conv'\).*Weights"),
    (lambda h, a: a.update({"L4.Weights": a["L4.Weights"][:, :5]}), r"(?s)do not form a valid network.*fc: InputSize is 5"),
    (set_config(2, NumChannels=3), r"NumChannels, Scale, Offset, TrainedMean and TrainedVariance must agree"),
    (lambda h, a: h["layers"][3].update({"class": "os.system"}), r"layer 4 \('os.system'|is not a minidl layer class"),
    (lambda h, a: h["layers"][3]["config"].update({"_image": True}), r"has configuration \['_image'\]"),
    (lambda h, a: h.update({"format_version": 99}), r"uses format version 99; this minidl reads up to version 3"),
    (lambda h, a: a.update({"L9.Extra": np.zeros(2)}) or h.update({"members": sorted(a)}), r"member 'L9.Extra' is named in the header but belongs to no layer"),
])
def test_a_bad_file_gives_model_file_error_naming_file_and_part(tmp_path, edit, message):
    path = change(tmp_path, edit)
    with pytest.raises(ModelFileError, match=message) as raised:
        minidl.load(path)
    assert str(raised.value).startswith(f"load: {path!r}")


def test_members_not_named_in_the_header_are_refused(tmp_path):
    header, arrays = contents(minidl.save(str(tmp_path / "n.npz"), small_net()))
    arrays["../../etc/passwd"] = np.zeros(1)
    path = rewrite(None, header, arrays, str(tmp_path / "bad.npz"), members=False)
    with pytest.raises(ModelFileError, match=r"member '\.\./\.\./etc/passwd\.npy' is not an array name"):
        minidl.load(path)
    del arrays["../../etc/passwd"]
    arrays["L1.Spare"] = np.zeros(1)
    path = rewrite(None, header, arrays, str(tmp_path / "bad.npz"), members=False)
    with pytest.raises(ModelFileError, match=r"member 'L1.Spare' is not named in the header"):
        minidl.load(path)


def test_size_limit_and_max_file_size(tmp_path):
    path = minidl.save(str(tmp_path / "n.npz"), small_net())
    with pytest.raises(ModelFileError, match=r"more than the limit MaxFileSize=100\. If you trust the file, pass "
                                             r"MaxFileSize=\d+"):
        minidl.load(path, MaxFileSize=100)
    assert minidl.load(path, MaxFileSize=10 ** 7).net is not None
    with pytest.raises(ValueError, match=r"^load: MaxFileSize"):
        minidl.load(path, MaxFileSize=0)


def test_deep_nesting_is_refused_with_a_clear_message(tmp_path):
    header, arrays = contents(minidl.save(str(tmp_path / "n.npz"), small_net()))
    text = json.dumps(header)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    np.savez(str(tmp_path / "deep.npz"), __minidl__=np.array(text), **arrays)
    with pytest.raises(ModelFileError, match=r"nested 100001 levels deep; minidl files nest at most 32"):
        minidl.load(str(tmp_path / "deep.npz"))


def test_a_custom_layer_saves_its_constructor_arguments_and_learnables(tmp_path):
    class Scale(minidl.Layer):
        learnables = {"Alpha": "Alpha"}

        def __init__(self, Name="", Start=2.0):
            super().__init__(Name)
            self.Start, self.Alpha, self.AlphaLearnRateFactor, self.AlphaL2Factor = Start, None, 1, 0

        def initialize(self, input_size, rng):
            if self.Alpha is None:
                self.Alpha = np.full((1, 1, input_size[-1]), self.Start, np.float32)
            return tuple(input_size)

        def predict(self, X):
            return X * self.Alpha.reshape(1, -1, 1, 1)

    scale = Scale(Name="s", Start=3.0)
    scale.Alpha = np.full((1, 1, 1), 3.0, np.float32)
    layers = [minidl.imageInputLayer([2, 2, 1], Normalization="none"), scale,
              minidl.fullyConnectedLayer(2, Weights=np.ones((2, 4)), Bias=np.zeros((2, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b"])]
    net = minidl.assembleNetwork(layers)
    header, _ = contents(minidl.save(str(tmp_path / "c.npz"), net))
    assert header["layers"][1] == {"class": "Scale", "config": {"Name": "s", "Start": 3.0},
                                   "arrays": {"Alpha": {"array": "L1.Alpha"}}}
    with pytest.raises(ModelFileError, match=r"CustomLayers=\{'Scale': YourClass\}"):
        minidl.load(str(tmp_path / "c.npz"))
    loaded = minidl.load(str(tmp_path / "c.npz"), CustomLayers={"Scale": Scale}).net
    X = np.random.default_rng(1).standard_normal((2, 2, 1, 3)).astype(np.float32)
    np.testing.assert_array_equal(minidl.predict(loaded, X), minidl.predict(net, X))


def test_the_crash_reproducer_gives_model_file_error_in_a_subprocess(tmp_path):
    """The issue's reproducer: a wide batch norm whose statistics are cut to length 1 crashed
    the interpreter (SIGSEGV) or predicted wrong numbers; now load refuses the file."""
    script = textwrap.dedent(f"""
        import json, sys, numpy as np, minidl
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from format_files import contents, small_net
        path = minidl.save({str(tmp_path / "wide.npz")!r}, small_net(channels=300_000))
        header, arrays = contents(path)
        arrays = {{k: (v.reshape(-1)[:1] if k.startswith("L2.") else v) for k, v in arrays.items()}}
        np.savez(path, __minidl__=np.array(json.dumps(header)), **arrays)
        try:
            net = minidl.load(path).net
            minidl.predict(net, np.ones((3, 3, 1, 2), np.float32))
        except minidl.ModelFileError as error:
            print("ModelFileError:", error)
            sys.exit(0)
        sys.exit("no error")
    """)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                             cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert process.returncode == 0, process.stderr[-2000:]
    assert "layer 3 (BatchNormalizationLayer 'batchnorm') cannot be rebuilt" in process.stdout
    assert "must agree on the channel count" in process.stdout
