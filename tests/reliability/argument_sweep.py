"""The argument sweep: every public function and layer constructor of minidl, called with
valid arguments except for one, which gets a hostile value (None, strings, NaN, ±inf,
negative, zero, huge, bool, empty, wrong ndim, complex, object arrays, ...).

Each slot has an oracle saying whether a value must be accepted (True), must be refused
(False) or may be either (None). An outcome is one of

- ``ok``: a valid value was accepted, or an invalid one refused with a clear error;
- ``clear``: refused with ValueError/TypeError (OSError for files) naming the function
  and the argument;
- ``unclear``: refused with one of those types but without naming both, or a valid
  value was refused;
- ``crash``: any other exception type;
- ``silent``: an invalid value was accepted.

``python tests/reliability/argument_sweep.py`` prints the tally (run it against any
checkout of minidl on ``sys.path``).
"""
import contextlib
import io
import math
import os
import re
import sys
import tempfile
import time
import warnings
from collections import Counter

import numpy as np

import minidl
from argument_oracles import (HOSTILE, absent_or, array_of, boolean, classes, count, count_any, count_or_auto,
                              data_values, empty_list, image_data, image_size, initializer, int_like, is_real,
                              labels, layer_list, layers_graph_or_net, layers_or_graph, lgraph, name, network, never,
                              nonneg_int_or, one_of, padding, pair, real_in, string_list, train_data)

# ---- fixtures --------------------------------------------------------------------------------
class Fixtures:
    """Networks and data the calls need, built once."""

    def __init__(self, folder=None):
        layers = [minidl.imageInputLayer([4, 4, 1], Normalization="none"),
                  minidl.convolution2dLayer(3, 2, Padding="same", Weights=np.ones((3, 3, 1, 2)), Bias=np.zeros((1, 1, 2))),
                  minidl.reluLayer(),
                  minidl.fullyConnectedLayer(3, Weights=np.ones((3, 32)) / 32, Bias=np.zeros((3, 1))),
                  minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b", "c"])]
        self.layers = layers
        self.net = minidl.assembleNetwork(layers)
        self.X = np.random.default_rng(0).random((4, 4, 1, 5)).astype(np.float32)
        self.lgraph = minidl.layerGraph([minidl.imageInputLayer([4, 4, 1]), minidl.reluLayer(Name="relu"),
                                         minidl.additionLayer(2, Name="add")])
        self.features = [minidl.featureInputLayer(3), minidl.fullyConnectedLayer(2), minidl.softmaxLayer(),
                         minidl.classificationLayer()]
        self.F = np.random.default_rng(1).random((8, 3))
        self.Y = np.arange(8) % 2
        self.options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=4, Verbose=False)
        self.folder = folder or tempfile.mkdtemp(prefix="minidl-sweep-")
        self.saved = minidl.save(os.path.join(self.folder, "net.npz"), self.net)


# ---- the cases ---------------------------------------------------------------------------------
class Case:
    """One argument slot of one public callable: ``call(value)`` runs it with that slot
    set to ``value`` and every other argument valid."""

    def __init__(self, owner, slot, oracle, call, aliases=(), extra=None):
        self.owner, self.slot, self.oracle, self.call = owner, slot, oracle, call
        self.aliases = (slot, *aliases)
        self.values = {**HOSTILE, **(extra or {})}

    def __repr__(self):
        return f"{self.owner}({self.slot}=...)"


def slots(owner, function, args, kwargs, oracles, aliases=None, extra=None):
    """Cases for the slots of ``function(*args, **kwargs)``: a slot named in ``oracles`` is an
    int (a position in args) or a str (a keyword)."""
    cases = []
    for slot, oracle in oracles.items():
        def call(value, slot=slot):
            a, k = list(args), dict(kwargs)
            if isinstance(slot[0], int):
                a[slot[0]] = value
            else:
                k[slot[0]] = value
            return function(*a, **k)
        label = slot[1] if isinstance(slot[0], int) else slot[0]
        cases.append(Case(owner, label, oracle, call, (aliases or {}).get(label, ()), (extra or {}).get(label)))
    return cases


FACTORS = ("LearnRateFactor", "L2Factor")
SCALE_INIT = initializer("ones", "zeros", "narrow-normal")
OFFSET_INIT = initializer("zeros", "ones", "narrow-normal")
WEIGHT_INIT = initializer("glorot", "he", "narrow-normal", "zeros", "ones")
FINITE = real_in(-math.inf, math.inf)
NONNEG = real_in(0, math.inf)


def _factor_slots(prefixes):
    return {(f"{p}{f}",): NONNEG for p in prefixes for f in FACTORS}


def _conv_weights(v):
    """3×3×C×8 for some C."""
    return array_of(*range(72, 72 * 64, 72))(v)


def _fc_weights(v):
    """10×InputSize."""
    verdict = array_of(*range(10, 1000, 10))(v)
    return verdict and (v is None or np.ndim(v) == 2 and np.shape(v)[0] == 10) if verdict else verdict


def _variance(v):
    verdict = array_of(*range(1, 9), vector=True)(v)
    return verdict and (v is None or bool(np.all(np.asarray(v, np.float32) >= 0))) if verdict else verdict


def layer_cases():
    m = minidl
    c = []
    c += slots("imageInputLayer", m.imageInputLayer, [[4, 4, 1]], {}, {
        (0, "InputSize"): image_size, ("Name",): name,
        ("Normalization",): one_of("zerocenter", "zscore", "rescale-symmetric", "rescale-zero-one", "none"),
        ("Mean",): array_of(1, 16), ("StandardDeviation",): array_of(1, 16), ("Min",): array_of(1, 16),
        ("Max",): array_of(1, 16), ("NormalizationDimension",): one_of("auto", "channel", "element")})
    c += slots("featureInputLayer", m.featureInputLayer, [3], {}, {
        (0, "numFeatures"): count, ("Normalization",): one_of("zerocenter", "zscore", "rescale-symmetric",
                                                               "rescale-zero-one", "none"),
        ("Mean",): array_of(1, 3), ("NormalizationDimension",): one_of("auto", "channel")},
        aliases={"numFeatures": ("InputSize",)})
    c += slots("convolution2dLayer", m.convolution2dLayer, [3, 8], {}, {
        (0, "filterSize"): pair, (1, "numFilters"): count, ("Stride",): pair, ("DilationFactor",): pair,
        ("Padding",): padding, ("NumChannels",): count_or_auto, ("Weights",): _conv_weights,
        ("Bias",): array_of(8), ("WeightsInitializer",): WEIGHT_INIT, ("BiasInitializer",): OFFSET_INIT,
        ("Name",): name, **_factor_slots(("Weight", "Bias"))})
    c += slots("fullyConnectedLayer", m.fullyConnectedLayer, [10], {}, {
        (0, "outputSize"): count, ("InputSize",): count_or_auto,
        ("Weights",): _fc_weights,
        ("Bias",): array_of(10), ("WeightsInitializer",): WEIGHT_INIT, ("BiasInitializer",): OFFSET_INIT,
        **_factor_slots(("Weight", "Bias"))})
    normalization = {("Epsilon",): real_in(1e-5, math.inf), ("Scale",): array_of(*range(1, 9), vector=True),
                     ("Offset",): array_of(*range(1, 9), vector=True), ("NumChannels",): count_or_auto,
                     ("ScaleInitializer",): SCALE_INIT, ("OffsetInitializer",): OFFSET_INIT,
                     **_factor_slots(("Scale", "Offset"))}
    c += slots("batchNormalizationLayer", m.batchNormalizationLayer, [], {}, {
        **normalization, ("TrainedMean",): array_of(*range(1, 9), vector=True),
        ("TrainedVariance",): _variance,
        ("MeanDecay",): real_in(0, 1), ("VarianceDecay",): real_in(0, 1)})
    c += slots("groupNormalizationLayer", m.groupNormalizationLayer, [2], {}, {
        (0, "numGroups"): lambda v: count(v) or one_of("all-channels", "channel-wise")(v), **normalization},
        aliases={"numGroups": ("NumGroups",)})
    c += slots("layerNormalizationLayer", m.layerNormalizationLayer, [], {}, normalization)
    for owner in ("reluLayer", "softmaxLayer", "globalAveragePooling2dLayer"):
        c += slots(owner, getattr(m, owner), [], {}, {("Name",): name})
    c += slots("leakyReluLayer", m.leakyReluLayer, [0.1], {}, {(0, "scale"): FINITE})
    c += slots("dropoutLayer", m.dropoutLayer, [0.3], {}, {(0, "probability"): real_in(0, 1, high_open=True)})
    for owner in ("maxPooling2dLayer", "averagePooling2dLayer"):
        c += slots(owner, getattr(m, owner), [2], {}, {(0, "poolSize"): pair, ("Stride",): pair,
                                                         ("Padding",): padding})
    c += slots("maxPooling2dLayer", m.maxPooling2dLayer, [2], {}, {
        ("HasUnpoolingOutputs",): lambda v: True if v is False or (is_real(v) and v == 0) else
        (None if v is True or (is_real(v) and v == 1) else False)})
    c += slots("averagePooling2dLayer", m.averagePooling2dLayer, [2], {}, {
        ("PaddingValue",): lambda v: one_of("mean")(v) or (is_real(v) and v == 0)})
    c += slots("additionLayer", m.additionLayer, [2], {}, {(0, "numInputs"): lambda v: int_like(v, 2, 1024)})
    c += slots("depthConcatenationLayer", m.depthConcatenationLayer, [2], {},
               {(0, "numInputs"): lambda v: int_like(v, 2, 1024)})
    c += slots("concatenationLayer", m.concatenationLayer, [3, 2], {}, {
        (0, "dim"): lambda v: int_like(v, 1, 3), (1, "numInputs"): lambda v: int_like(v, 2, 1024)})
    c += slots("classificationLayer", m.classificationLayer, [], {}, {("Classes",): classes, ("Name",): name},
               extra={"Classes": {"duplicates": ["a", "a", "b"], "mixed": ["a", 1], "2-D": [["a", "b"]]}})
    c += slots("regressionLayer", m.regressionLayer, [], {}, {("ResponseNames",): string_list})
    c += slots("Layer", m.Layer, [], {}, {("Name",): name})
    # issue 12's layers
    for owner in ("sigmoidLayer", "tanhLayer", "flattenLayer"):
        c += slots(owner, getattr(m, owner), [], {}, {("Name",): name})
    c += slots("eluLayer", m.eluLayer, [1], {}, {(0, "alpha"): lambda v: is_real(v) and math.isfinite(v) and v > 0})
    c += slots("geluLayer", m.geluLayer, [], {}, {("Approximation",): one_of("none", "tanh"), ("Name",): name})
    c += slots("transposedConv2dLayer", m.transposedConv2dLayer, [3, 8], {}, {
        (0, "filterSize"): pair, (1, "numFilters"): count, ("Stride",): pair, ("Cropping",): padding,
        ("NumChannels",): count_or_auto, ("Bias",): array_of(8), ("WeightsInitializer",): WEIGHT_INIT,
        ("BiasInitializer",): OFFSET_INIT, ("Name",): name, **_factor_slots(("Weight", "Bias"))})
    c += slots("instanceNormalizationLayer", m.instanceNormalizationLayer, [], {}, normalization)
    c += slots("crossChannelNormalizationLayer", m.crossChannelNormalizationLayer, [5], {}, {
        (0, "windowChannelSize"): lambda v: int_like(v, 1, 16), ("Alpha",): FINITE,
        ("Beta",): real_in(0.01, math.inf), ("K",): real_in(1e-5, math.inf), ("Name",): name})
    for owner in ("setLearnRateFactor", "setL2Factor"):
        c += slots(owner, getattr(m, owner), [m.fullyConnectedLayer(3), "Weights", 0.5], {}, {
            (0, "layer"): lambda v: isinstance(v, m.FullyConnectedLayer) or False,
            (1, "parameterName"): one_of("weights", "bias"), (2, "factor"): NONNEG})
    for owner in ("getLearnRateFactor", "getL2Factor"):
        c += slots(owner, getattr(m, owner), [m.fullyConnectedLayer(3), "Weights"], {}, {
            (0, "layer"): lambda v: isinstance(v, m.FullyConnectedLayer) or False,
            (1, "parameterName"): one_of("weights", "bias")})
    c += slots("freezeWeights", m.freezeWeights, [[m.fullyConnectedLayer(3)]], {}, {
        (0, "layers"): lambda v: isinstance(v, m.Layer) or (isinstance(v, (list, tuple)) and
                                                            all(isinstance(x, m.Layer) for x in v))})
    return c


def _check_size(v):
    """One observation's size for checkLayer(reluLayer(), ...): (c,), (h, w) or (h, w, c),
    with at most a million values (a finite-difference check)."""
    values = list(v) if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) == 1 else [v]
    if not (1 <= len(values) <= 3 and all(int_like(x) for x in values)):
        return False
    return math.prod(int(x) for x in values) * 3 <= 10 ** 7


def _check_layer(*args, **options):
    """checkLayer, where a failed check (a tolerance too tight to pass) is a result, not an error."""
    try:
        return minidl.checkLayer(*args, **options)
    except minidl.LayerCheckError as failure:
        return failure


def function_cases(fx):
    m = minidl
    net, X = fx.net, fx.X
    images = {"X": data_values((4, 4, 1))}
    c = []
    c += slots("trainingOptions", m.trainingOptions, ["sgdm"], {}, {
        (0, "solverName"): one_of("sgdm", "adam", "rmsprop"), ("MaxEpochs",): count_any, ("MiniBatchSize",): count_any,
        ("InitialLearnRate",): absent_or(lambda v: real_in(0, math.inf)(v) and v > 0), ("Momentum",): real_in(0, 1),
        ("L2Regularization",): NONNEG, ("Verbose",): boolean,
        ("GradientThreshold",): lambda v: is_real(v) and not math.isnan(v) and v > 0,
        ("Shuffle",): one_of("once", "never", "every-epoch"), ("CheckpointPath",): name,
        ("OutputFcn",): lambda v: v is None or callable(v) or None,
        ("ValidationData",): lambda v: True if v is None else (None if isinstance(v, (list, tuple)) and len(v) == 2
                                                               else False)},
        aliases={"solverName": ("solver",)})
    c += slots("trainNetwork", m.trainNetwork, [fx.F, fx.Y, fx.features, fx.options], {}, {
        (0, "X"): train_data, (1, "Y"): labels, (2, "layers"): layer_list, (3, "options"): never},
        extra={"X": data_values((3,), 8)}, aliases={"Y": ("labels", "responses"), "options": ("trainingOptions",)})
    for owner in ("predict", "classify"):
        c += slots(owner, getattr(m, owner), [net, X], {}, {
            (0, "net"): network, (1, "X"): image_data, ("MiniBatchSize",): count_any,
            ("DataFormat",): one_of("sscb", "bcss", "bssc"), ("ExecutionEnvironment",): one_of("auto", "cpu")},
            extra=images)
    c += slots("activations", m.activations, [net, X, "relu"], {}, {
        (0, "net"): network, (1, "X"): image_data,
        (2, "layer"): lambda v: v in fx.net.layer_names()[:-1] if isinstance(v, str) else int_like(v, 1, 5),
        ("OutputAs",): one_of("channels", "rows", "columns"), ("MiniBatchSize",): count_any,
        ("DataFormat",): one_of("sscb", "bcss", "bssc")}, extra=images)
    c += slots("assembleNetwork", m.assembleNetwork, [fx.layers], {}, {
        (0, "layers"): never, ("Classes",): absent_or(classes)})
    c += slots("layerGraph", m.layerGraph, [fx.layers], {}, {(0, "layers"): layers_or_graph})
    c += slots("LayerGraph", m.LayerGraph, [], {}, {("graph",): lambda v: v is None})
    g = fx.lgraph
    c += slots("addLayers", m.addLayers, [g, m.reluLayer()], {}, {
        (0, "lgraph"): lgraph, (1, "larray"): lambda v: None if empty_list(v) else isinstance(v, minidl.Layer)})
    c += slots("removeLayers", m.removeLayers, [g, "relu"], {}, {
        (0, "lgraph"): lgraph, (1, "layerNames"): lambda v: None if empty_list(v) else isinstance(v, str) and v in ("relu", "add")},
        aliases={"layerNames": ("layer",)})
    c += slots("connectLayers", m.connectLayers, [g, "imageinput", "add/in2"], {}, {
        (0, "lgraph"): lgraph, (1, "s"): never, (2, "d"): never},
        aliases={"s": ("source", "layer"), "d": ("destination", "layer", "input")})
    c += slots("disconnectLayers", m.disconnectLayers, [g, "imageinput", "relu"], {}, {
        (0, "lgraph"): lgraph, (1, "s"): never, (2, "d"): never},
        aliases={"s": ("source", "layer"), "d": ("destination", "layer", "connected")})
    c += slots("replaceLayer", m.replaceLayer, [g, "relu", m.leakyReluLayer()], {}, {
        (0, "lgraph"): lgraph, (1, "layerName"): never,
        (2, "larray"): lambda v: None if empty_list(v) else isinstance(v, minidl.Layer),
        ("ReconnectBy",): one_of("name", "order")}, aliases={"layerName": ("layer",)})
    c += slots("analyzeNetwork", m.analyzeNetwork, [fx.layers], {"Print": False}, {
        (0, "net_or_layers"): layers_graph_or_net, ("Print",): boolean}, aliases={"net_or_layers": ("layers",)})
    c += slots("checkLayer", _check_layer, [m.reluLayer(), (3, 3, 2)], {"verbose": False}, {
        (0, "layer"): never, (1, "input_size"): _check_size,
        ("batch_size",): lambda v: count(v) and v * 18 <= 10 ** 7,    # checkLayer's limit on values
        ("samples",): count, ("tolerance",): lambda v: real_in(0, math.inf)(v) and v > 0,
        ("seed",): lambda v: int_like(v, 0, math.inf), ("verbose",): boolean})
    c += slots("save", m.save, [os.path.join(fx.folder, "s.npz"), net], {}, {
        (0, "filename"): lambda v: None if isinstance(v, str) else False, (1, "net"): network})
    c += slots("load", m.load, [fx.saved], {}, {
        (0, "filename"): lambda v: None if isinstance(v, str) else False, ("CustomLayers",): lambda v: v is None or (None if isinstance(v, dict) else False),
        ("MaxFileSize",): lambda v: None if int_like(v, 1, 2 ** 62) else False})
    onnx_file = os.path.join(fx.folder, "n.onnx")
    m.exportONNXNetwork(net, onnx_file)
    c += slots("exportONNXNetwork", m.exportONNXNetwork, [net, os.path.join(fx.folder, "e.onnx")], {}, {
        (0, "net"): network, (1, "filename"): lambda v: None if isinstance(v, str) else False,
        ("OpsetVersion",): lambda v: None if int_like(v, 13, 30) else False, ("NetworkName",): lambda v: None,
        ("BatchSize",): lambda v: None})
    for owner in ("importONNXNetwork", "importNetworkFromONNX"):
        options = {("OutputLayerType",): lambda v: None, ("Classes",): lambda v: None} if owner == "importONNXNetwork" else {}
        c += slots(owner, getattr(m, owner), [onnx_file], {}, {
            (0, "modelfile"): lambda v: None if isinstance(v, str) else False,
            ("MaxFileSize",): lambda v: None, ("MaxNodes",): lambda v: None, **options})
    c += slots("rng", m.rng, [0], {}, {(0, "seed"): lambda v: None if int_like(v, 2 ** 32, math.inf)
                                       else absent_or(nonneg_int_or("default", "shuffle"))(v)})
    c += slots("rng", m.rng, [0, "twister"], {}, {(1, "generator"): lambda v: True if v is None else one_of(
        "twister", "simdtwister", "combrecursive", "multfibonacci", "philox", "threefry", "v4", "v5uniform",
        "v5normal")(v)})
    c += slots("maxNumCompThreads", m.maxNumCompThreads, [1], {}, {
        (0, "n"): lambda v: v is None or one_of("automatic")(v) or int_like(v, 1, os.cpu_count())})
    c += slots("digits", m.digits, [0], {}, {(0, "seed"): lambda v: None if int_like(v, 0, math.inf) else False})
    c += slots("splitEachLabel", m.splitEachLabel, [np.arange(12).reshape(2, 6), np.arange(6) % 2, 2], {}, {
        (0, "X"): lambda v: np.ndim(v) >= 1 and np.shape(v)[-1] == 6 or None,
        (1, "Y"): lambda v: np.ndim(v) == 1 and np.size(v) == 6 or None,
        (2, "p"): lambda v: int_like(v, 1, 3) or (is_real(v) and 0 < v < 1) or None},
        aliases={"p": ("option", "observations")})
    c += slots("profileNetwork", m.profileNetwork, [fx.features, fx.F, fx.Y],
               {"NumIterations": 1, "MiniBatchSize": 4, "Print": False}, {
        (0, "net_or_layers"): layers_graph_or_net, (1, "X"): train_data, (2, "Y"): labels,
        ("MiniBatchSize",): count_any, ("NumIterations",): count}, extra={"X": data_values((3,), 8)},
        aliases={"net_or_layers": ("layers",), "Y": ("labels", "responses")})
    c += slots("trainingProbe", m.trainingProbe, [], {}, {
        ("Layers",): lambda v: None, ("Frequency",): count,
        ("NumBins",): lambda v: None if int_like(v, 1, 10_000) else False,
        ("Percentiles",): lambda v: None})   # names and levels: accepted or refused clearly
    c += current_api_cases(fx)
    for owner in ("SeriesNetwork", "DAGNetwork"):
        c += slots(owner, getattr(m, owner), [None, None], {}, {(0, "lgraph"): never},
                   aliases={"lgraph": ("trainNetwork", "assembleNetwork")})
    c += _label_cases()
    from datastore_sweep import datastore_cases
    c += datastore_cases(fx, slots)
    return c


def _label_vector(v):
    """A vector of labels: numbers (finite) or strings; anything else refused, either for odd cases."""
    try:
        a = np.asarray(v)
    except Exception:
        return False
    if a.dtype.kind in "US" or (a.dtype.kind in "biu" and a.ndim <= 1):
        return None if a.ndim > 1 else True
    if a.dtype.kind == "f":
        return None if not np.all(np.isfinite(a)) or a.ndim > 1 else True
    return None if a.dtype.kind == "O" else False


def _label_cases():
    m = minidl
    c = []
    c += slots("categorical", m.categorical, [[1, 2, 1]], {}, {(0, "A"): lambda v: None if _label_vector(v) else False})
    c += slots("categories", m.categories, [[1, 2, 1]], {}, {(0, "A"): lambda v: None if _label_vector(v) else False})
    c += slots("countEachLabel", m.countEachLabel, [[1, 2, 1]], {}, {
        (0, "labels"): lambda v: None if _label_vector(v) else False})
    c += slots("confusionmat", m.confusionmat, [[1, 2, 1], [1, 1, 2]], {}, {
        (0, "group"): lambda v: None if _label_vector(v) else False,
        (1, "grouphat"): lambda v: None if _label_vector(v) else False,
        ("Order",): lambda v: True if v is None else None})
    c += slots("confusionchart", m.confusionchart, [[1, 2, 1], [1, 1, 2]], {}, {
        (0, "trueLabels"): lambda v: None if _label_vector(v) else False,
        ("Title",): lambda v: isinstance(v, str),
        ("Normalization",): one_of("absolute", "row-normalized", "column-normalized", "total-normalized")})
    return c


def current_api_cases(fx):
    """dlnetwork, initialize, forward, trainnet, minibatchpredict, scores2label, testnet."""
    m = minidl
    body = fx.features[:-1]                     # no output layer
    dl = m.dlnetwork(body)
    dl_oracle = lambda v: isinstance(v, m.dlnetwork)   # noqa: E731
    features = {"X": data_values((3,), 8)}
    c = slots("dlnetwork", m.dlnetwork, [body], {}, {
        (0, "layers"): lambda v: None if v is None or empty_list(v) or isinstance(v, (m.Layer, m.LayerGraph)) else layer_list(v),
        ("Initialize",): boolean})
    c += slots("initialize", m.initialize, [m.dlnetwork(body, Initialize=False)], {}, {(0, "net"): dl_oracle})
    c += slots("forward", m.forward, [dl, fx.F], {}, {
        (0, "net"): dl_oracle, (1, "X"): lambda v: None, ("DataFormat",): one_of("sscb", "bcss", "bssc")},
        extra=features)
    c += slots("trainnet", m.trainnet, [fx.F, fx.Y, body, "crossentropy", fx.options], {}, {
        (0, "X"): train_data, (1, "T"): labels, (2, "net_or_layers"): lambda v: None,
        (3, "lossFcn"): lambda v: None if callable(v) else one_of(
            "crossentropy", "index-crossentropy", "binary-crossentropy", "mse", "l1loss", "huber", "l2loss",
            "mean-squared-error", "mae", "mean-absolute-error")(v), (4, "options"): never},
        extra=features, aliases={"T": ("targets", "labels", "responses"), "net_or_layers": ("layers", "net"),
                                 "options": ("trainingOptions",)})
    c += slots("minibatchpredict", m.minibatchpredict, [dl, fx.F], {}, {
        (0, "net"): lambda v: dl_oracle(v) or network(v), (1, "X"): lambda v: None, ("MiniBatchSize",): count_any,
        ("Outputs",): lambda v: True if v is None else (None if isinstance(v, (str, list, tuple)) else False),
        ("DataFormat",): one_of("sscb", "bcss", "bssc")}, extra=features)
    c += slots("scores2label", m.scores2label, [np.eye(2), ["a", "b"]], {}, {
        (0, "scores"): lambda v: None, (1, "classNames"): lambda v: None})
    c += slots("testnet", m.testnet, [dl, fx.F, fx.Y, "accuracy"], {}, {
        (0, "net"): dl_oracle, (1, "X"): lambda v: None, (2, "T"): lambda v: None,
        (3, "metrics"): lambda v: None if isinstance(v, (str, list, tuple)) else False,
        ("MiniBatchSize",): count_any}, extra=features, aliases={"T": ("targets", "labels", "classes")})
    return c


# ---- running ---------------------------------------------------------------------------------
_ALLOWED = (ValueError, TypeError, OSError)


def names_culprit(case, message):
    """The message names the function and the argument (an alias of it)."""
    def mentions(word):
        if len(word) == 1:
            return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", message) is not None
        return re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![a-z])", message, re.I) is not None
    return mentions(case.owner) and any(mentions(alias) for alias in case.aliases)


def outcome(case, value):
    """(kind, detail) for one call: 'ok', 'clear', 'unclear', 'crash' or 'silent'."""
    try:
        scalar = isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"
        expected = case.oracle(value.item() if scalar else value)   # a 0-d array is a scalar
    except Exception:  # noqa: BLE001 -- an oracle that cannot judge a value lets either pass
        expected = None
    try:
        case.call(value)
    except _ALLOWED as error:
        if expected is True:
            return "unclear", f"refused a valid value: {type(error).__name__}: {error}"
        if names_culprit(case, str(error)):
            return "clear", ""
        return "unclear", f"{type(error).__name__}: {error}"
    except Exception as error:  # noqa: BLE001 -- the point is to classify every failure
        return "crash", f"{type(error).__name__}: {error}"
    return ("silent", "accepted") if expected is False else ("ok", "")


@contextlib.contextmanager
def sandbox(folder):
    """Calls run in ``folder`` (save writes files), quietly, and leave minidl's random
    generator and thread count as they were."""
    saved_rng, threads, cwd = minidl.rng(), minidl.maxNumCompThreads(), os.getcwd()
    try:
        os.chdir(folder)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        os.chdir(cwd)
        minidl.rng(saved_rng)
        minidl.maxNumCompThreads(threads)


def run(select=None, skip=(), verbose=False, folder=None):
    """[(owner, slot, value label, kind, detail)] over every case (owners in ``select``,
    (owner, slot) pairs in ``skip`` left out); files go to ``folder`` (default: a new one)."""
    fx = Fixtures(folder)
    results = []
    with sandbox(fx.folder):
        for case in layer_cases() + function_cases(fx):
            if (select is not None and case.owner not in select) or (case.owner, case.slot) in skip:
                continue
            start = time.perf_counter()
            for label, value in case.values.items():
                kind, detail = outcome(case, value)
                results.append((case.owner, case.slot, label, kind, detail))
            if verbose:
                print(f"{time.perf_counter() - start:6.2f} s {case.owner} {case.slot}", file=sys.__stderr__, flush=True)
    return results


def tally(results):
    counts = Counter(kind for *_, kind, _ in results)
    refused_or_accepted = {"tried": len(results), **{k: counts.get(k, 0) for k in
                                                      ("ok", "clear", "unclear", "crash", "silent")}}
    return refused_or_accepted


if __name__ == "__main__":
    results = run(set(sys.argv[1:]) or None, verbose=True)
    print(minidl.__file__)
    for owner, slot, label, kind, detail in results:
        if kind not in ("ok", "clear"):
            print(f"{kind:8s} {owner}({slot}={label}): {detail[:160]}")
    print(tally(results))
