"""Small saved networks and a way to rewrite their contents (shared by the format tests)."""
import json

import numpy as np

import minidl


def small_net(channels=4):
    """input → conv → batch norm (``channels`` wide) → relu → fc → softmax → classification."""
    rng = np.random.default_rng(0)
    layers = [minidl.imageInputLayer([3, 3, 1], Normalization="none"),
              minidl.convolution2dLayer(1, channels, Weights=rng.standard_normal((1, 1, 1, channels)),
                                        Bias=np.zeros((1, 1, channels))),
              minidl.batchNormalizationLayer(Scale=np.ones(channels), Offset=np.zeros(channels),
                                             TrainedMean=rng.standard_normal(channels),
                                             TrainedVariance=rng.uniform(0.5, 2, channels)),
              minidl.reluLayer(), minidl.fullyConnectedLayer(2, Weights=rng.standard_normal((2, 9 * channels)),
                                                             Bias=np.zeros((2, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b"])]
    return minidl.assembleNetwork(layers)


def contents(path):
    """(header dict, {member: array}) read the plain way."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return json.loads(str(arrays.pop("__minidl__"))), arrays


def rewrite(path, header, arrays, target, members=True):
    """Write ``header`` and ``arrays`` to ``target``; ``members`` keeps the header's member list
    consistent with the arrays (so only the change under test is wrong)."""
    if members:
        header = dict(header, members=sorted(arrays))
    np.savez(target, __minidl__=np.array(json.dumps(header)), **arrays)
    return target
