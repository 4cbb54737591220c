"""How tests/data/format_v2_*.npz were made: run with minidl at commit c5b3aa0 (format
version 2, constructor configuration) from the repository root. Kept for the record; the
files are fixed inputs of tests/io/test_format.py and must not be regenerated with newer
code. The networks are those of make_format_v1_files.py."""
import numpy as np

import minidl


def series():
    minidl.rng(1)
    layers = [minidl.imageInputLayer([6, 6, 2], Normalization="zerocenter"),
              minidl.convolution2dLayer(3, 4, Padding="same"), minidl.batchNormalizationLayer(),
              minidl.reluLayer(), minidl.maxPooling2dLayer(2, Stride=2),
              minidl.fullyConnectedLayer(3), minidl.softmaxLayer(), minidl.classificationLayer()]
    X = np.random.default_rng(0).standard_normal((6, 6, 2, 24)).astype(np.float32)
    Y = np.arange(24) % 3
    options = minidl.trainingOptions("sgdm", MaxEpochs=2, MiniBatchSize=8, Verbose=False)
    net, _ = minidl.trainNetwork(X, Y, layers, options)
    return net, X


def dag():
    minidl.rng(2)
    lgraph = minidl.layerGraph([minidl.featureInputLayer(5, Normalization="zscore"),
                                minidl.fullyConnectedLayer(5, Name="fc1"), minidl.reluLayer(Name="relu1"),
                                minidl.additionLayer(2, Name="add"), minidl.fullyConnectedLayer(2),
                                minidl.regressionLayer()])
    lgraph = minidl.connectLayers(lgraph, "input", "add/in2")
    X = np.random.default_rng(3).standard_normal((16, 5)).astype(np.float32)
    Y = np.random.default_rng(4).standard_normal((16, 2)).astype(np.float32)
    options = minidl.trainingOptions("adam", MaxEpochs=2, MiniBatchSize=8, Verbose=False)
    net, _ = minidl.trainNetwork(X, Y, lgraph, options)
    return net, X


if __name__ == "__main__":
    expected = {}
    for name, (net, X) in {"series": series(), "dag": dag()}.items():
        minidl.save(f"tests/data/format_v2_{name}.npz", net)
        expected[f"{name}.X"], expected[f"{name}.Y"] = X, minidl.predict(net, X)
    np.savez("tests/data/format_v2_expected.npz", **expected)
