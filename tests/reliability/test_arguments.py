"""Every public function and layer constructor checks its arguments at the boundary (issue 10):
each reproducer of the issue, then the argument sweep (argument_sweep.py) over every public
name, deterministic and hypothesis-driven."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import argument_sweep as sweep
import minidl


def small_net():
    layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"),
              minidl.fullyConnectedLayer(3, Weights=np.ones((3, 16)), Bias=np.zeros((3, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b", "c"])]
    return minidl.assembleNetwork(layers)


# ---- the reproducers -----------------------------------------------------------------
def test_no_observations_give_empty_results_of_the_right_size():
    net = small_net()
    empty = np.zeros((4, 4, 1, 0))
    assert minidl.predict(net, empty).shape == (0, 3)
    labels, scores = minidl.classify(net, empty)
    assert labels.shape == (0,) and scores.shape == (0, 3) and labels.dtype == np.asarray(["a"]).dtype
    assert minidl.activations(net, empty, 2).shape == (1, 1, 3, 0)
    assert minidl.activations(net, empty, 2, OutputAs="rows").shape == (0, 3)
    assert minidl.predict(net, np.zeros((0, 1, 4, 4)), DataFormat="BCSS").shape == (0, 3)


def test_training_on_no_observations_says_so_before_counting_classes():
    layers = [minidl.imageInputLayer([4, 4, 1]), minidl.fullyConnectedLayer(2), minidl.softmaxLayer(),
              minidl.classificationLayer()]
    with pytest.raises(ValueError, match=r"^trainNetwork: X has no observations \(size 4×4×1×0\)"):
        minidl.trainNetwork(np.zeros((4, 4, 1, 0)), np.zeros(0), layers,
                            minidl.trainingOptions("sgdm", Verbose=False))


@pytest.mark.parametrize("make,message", [
    (lambda: minidl.convolution2dLayer("3", 8), r"^convolution2dLayer: FilterSize must be .*received '3'\. "
                                                r"Pass the number itself, not a string"),
    (lambda: minidl.convolution2dLayer(3, "8"), r"^convolution2dLayer: NumFilters must be a positive integer; "
                                                r"received '8'"),
    (lambda: minidl.fullyConnectedLayer("10"), r"^fullyConnectedLayer: OutputSize must be a positive integer; "
                                               r"received '10'"),
    (lambda: minidl.convolution2dLayer(3, 8, Weights=np.ones((3, 3, 4))),
     r"^convolution2dLayer: Weights must have size 3×3×NumChannels×8 \(FilterSize×NumChannels×NumFilters\); "
     r"received 3×3×4"),
    (lambda: minidl.convolution2dLayer(3, 8, NumChannels=2, Weights=np.ones((3, 3, 1, 8))),
     r"^convolution2dLayer: Weights must have size 3×3×2×8; received 3×3×1×8"),
    (lambda: minidl.classificationLayer(Classes=["cat", "dog", "cat"]),
     r"^classificationLayer: Classes must be unique; \['cat'\] appear more than once"),
    (lambda: minidl.batchNormalizationLayer(Epsilon="1e-3"), r"^batchNormalizationLayer: Epsilon must be"),
    (lambda: minidl.maxPooling2dLayer(2, HasUnpoolingOutputs=True), r"HasUnpoolingOutputs=true is not supported"),
    (lambda: minidl.convolution2dLayer(3, 8, WeightsInitializer="glorrot"), r"WeightsInitializer.*'glorot'"),
    (lambda: minidl.leakyReluLayer("0.2"), r"^leakyReluLayer: scale must be a number; received '0.2'"),
    (lambda: minidl.additionLayer(10 ** 9), r"^additionLayer: numInputs must be an integer >= 2 \(at most 1024\)"),
])
def test_constructor_reproducers_are_refused_with_the_argument_named(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_conv_weights_size_error_never_computes_a_channel_count_from_the_wrong_array():
    with pytest.raises(ValueError) as error:
        minidl.convolution2dLayer(3, 8, Weights=np.ones((3, 3, 4)))
    assert "×0×" not in str(error.value)


def test_save_with_swapped_arguments_says_so(tmp_path):
    net = small_net()
    with pytest.raises(TypeError, match=r"^save: the arguments are swapped; call save\(filename, net\)"):
        minidl.save(net, str(tmp_path / "net.npz"))
    with pytest.raises(TypeError, match=r"^save: net must be a trained network"):
        minidl.save(str(tmp_path / "net.npz"), net.Layers)
    with pytest.raises(TypeError, match=r"^predict: net must be a trained network .* load returns a struct: "
                                        r"pass s.net"):
        minidl.predict(minidl.load(minidl.save(str(tmp_path / "net.npz"), net)), np.zeros((4, 4, 1, 1)))


@pytest.mark.parametrize("X,error,message", [
    (np.zeros((4, 4, 1, 2), complex), TypeError, r"^predict: X must be numeric with real values; received complex"),
    (np.full((4, 4, 1, 2), "a"), TypeError, r"^predict: X must be numeric \(real numbers\)"),
    (np.full((4, 4, 1, 2), 1e300), ValueError, r"^predict: X has values beyond the range of float32"),
    (np.zeros((4, 4, 1, 2, 2)), ValueError, r"^predict: X must be 4-D image data"),
    (None, TypeError, r"^predict: X must be numeric"),
])
def test_bad_data_to_predict(X, error, message):
    with pytest.raises(error, match=message):
        minidl.predict(small_net(), X)


def test_float64_data_within_float32_range_and_nan_data_are_accepted_and_nan_propagates():
    net = small_net()
    assert np.isfinite(minidl.predict(net, np.full((4, 4, 1, 1), 1e30))).all()
    assert np.isnan(minidl.predict(net, np.full((4, 4, 1, 1), np.nan))).all()


# ---- the sweep ---------------------------------------------------------------------------------
# Every public function, training ones included, must refuse bad values with a clear
# ValueError/TypeError naming the argument: never crash, never accept silently, never
# an unclear error.
UNSAFE = set()   # every slot of every public function is thrown hostile values


def _problems(results):
    bad = []
    for owner, slot, label, kind, detail in results:
        if kind not in ("ok", "clear"):
            bad.append(f"{kind}: {owner}({slot}={label}): {detail[:200]}")
    return bad


OWNERS = sorted({case.owner for case in sweep.layer_cases()} | {
    "trainingOptions", "trainNetwork", "predict", "classify", "activations", "assembleNetwork", "layerGraph",
    "LayerGraph", "addLayers", "removeLayers", "connectLayers", "disconnectLayers", "replaceLayer",
    "analyzeNetwork", "checkLayer", "save", "load", "rng", "maxNumCompThreads", "digits", "splitEachLabel",
    "profileNetwork", "SeriesNetwork", "DAGNetwork", "exportONNXNetwork", "importONNXNetwork", "importNetworkFromONNX",
    "categorical", "categories", "countEachLabel", "confusionmat", "confusionchart",
    "dlnetwork", "initialize", "forward", "trainnet", "minibatchpredict", "scores2label", "testnet",
    # issue 13: datastores (cases in datastore_sweep.py)
    "imageDatastore", "readimage", "read", "hasdata", "reset", "readall", "preview", "subset", "shuffle",
    "partition", "numpartitions", "arrayDatastore", "combine", "digitDataset", "readIDX", "loadMNIST",
    "imageDataAugmenter", "augment", "augmentedImageDatastore", "trainingProbe"})


def test_the_sweep_covers_every_public_callable():
    public = {name for name in minidl.__all__ if callable(getattr(minidl, name))}
    exempt = {"Memory", "OptionError", "NetworkValidationError", "LayerCheckError", "ModelFileError", "plot"}
    exempt |= {"digitTrain4DArrayData", "digitTest4DArrayData"}     # they take no arguments
    exempt |= {"ImageDatastore", "ArrayDatastore", "CombinedDatastore"}   # for isinstance; made by the functions
    # Valid values start a Ray cluster (seconds to minutes): tests/parallel checks their arguments.
    exempt |= {"parpool", "gcp"}
    # Layer classes are exported for isinstance; their constructor functions are swept.
    exempt |= {name for name in public if isinstance(getattr(minidl, name), type)
               and issubclass(getattr(minidl, name), minidl.Layer) and name != "Layer"}
    assert public - exempt <= set(OWNERS), sorted(public - exempt - set(OWNERS))


@pytest.mark.parametrize("owner", OWNERS)
def test_every_hostile_argument_is_accepted_correctly_or_refused_clearly(owner, tmp_path):
    results = sweep.run({owner}, skip=UNSAFE, folder=str(tmp_path))
    assert results
    assert _problems(results) == []


def _hostile_values():
    arrays = st.builds(lambda shape, fill: np.full(shape, fill),
                       st.lists(st.integers(0, 3), min_size=0, max_size=5).map(tuple),
                       st.sampled_from([np.nan, np.inf, -1.0, 0, 1e300, 1 + 1j, "x", True]))
    return st.one_of(st.sampled_from(list(sweep.HOSTILE.values())), st.none(), st.booleans(),
                     st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=6), st.binary(max_size=3), st.lists(st.integers(-3, 3), max_size=5),
                     st.complex_numbers(allow_nan=True, allow_infinity=True), arrays)


@pytest.fixture(scope="module")
def fast_cases(tmp_path_factory):
    """The sweep's cases except slow or unsafe ones (digits draws 10,000 images for each new
    seed; profileNetwork's NumIterations), and their folder."""
    folder = str(tmp_path_factory.mktemp("sweep"))
    fixtures = sweep.Fixtures(folder)
    cases = [c for c in sweep.layer_cases() + sweep.function_cases(fixtures)
             if c.owner not in ("digits", "profileNetwork")]
    return cases, folder


# derandomize: the same 300 draws on every run, so that a gap in an oracle cannot make an
# unrelated change fail; run with --hypothesis-seed=N (and derandomize off) to explore more.
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_hostile_arguments_never_crash_or_pass_silently(data, fast_cases):
    cases, folder = fast_cases
    case = data.draw(st.sampled_from(cases))
    value = data.draw(_hostile_values())
    with sweep.sandbox(folder):
        kind, detail = sweep.outcome(case, value)
    allowed = ("ok", "clear")
    assert kind in allowed, f"{kind}: {case.owner}({case.slot}={value!r}): {detail[:300]}"
