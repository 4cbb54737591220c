"""analyzeNetwork's result as MATLAB's NetworkAnalysis: TotalLearnables, the LayerInfo and
Issues tables, and TargetUsage ("dlnetwork" / "trainNetwork")."""
import math

import numpy as np
import pytest

import minidl
from minidl.table import Table


def body():
    return [minidl.imageInputLayer([6, 6, 1], Normalization="none"), minidl.convolution2dLayer(3, 4, Padding="same"),
            minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.fullyConnectedLayer(3), minidl.softmaxLayer()]


def test_layer_info_has_matlab_columns_and_sizes():
    info = minidl.analyzeNetwork(body(), Plots="none")
    table = info.LayerInfo
    assert isinstance(table, Table) and len(table) == 6
    assert table.Properties.VariableNames == ["Name", "Type", "ActivationSizes", "ActivationFormats",
                                              "LearnableSizes", "NumLearnables", "StateSizes"]
    assert table.Name == ["imageinput", "conv", "batchnorm", "relu", "fc", "softmax"]
    assert table.ActivationSizes == [(6, 6, 1, 1), (6, 6, 4, 1), (6, 6, 4, 1), (6, 6, 4, 1), (3, 1), (3, 1)]
    assert table.ActivationFormats == ["SSCB"] * 4 + ["CB"] * 2       # a fully connected layer ends the image
    assert table.LearnableSizes[1] == {"Weights": (3, 3, 1, 4), "Bias": (1, 1, 4)}
    assert table.LearnableSizes[4] == {"Weights": (3, 144), "Bias": (3, 1)}
    assert table.StateSizes[2] == {"TrainedMean": (1, 1, 4), "TrainedVariance": (1, 1, 4)}
    assert table.NumLearnables == [0, 3 * 3 * 4 + 4, 4 + 4, 0, 3 * 144 + 3, 0]
    # The total against an independent count: every value of the initialized network's Learnables.
    learnables = minidl.dlnetwork(body()).Learnables
    assert info.TotalLearnables == sum(np.size(v) for v in learnables.Value) == 483


def test_feature_layers_are_cb_and_an_output_layer_has_no_activations():
    layers = [minidl.featureInputLayer(5), minidl.fullyConnectedLayer(2), minidl.regressionLayer()]
    table = minidl.analyzeNetwork(layers, Plots="none").LayerInfo
    assert table.ActivationSizes == [(5, 1), (2, 1), ()] and table.ActivationFormats == ["CB", "CB", ""]


def test_issues_name_severity_and_layers_and_errors_make_the_total_nan():
    lgraph = minidl.layerGraph(body() + [minidl.classificationLayer()])
    broken = minidl.removeLayers(lgraph, "relu")
    info = minidl.analyzeNetwork(broken, "Plots", "none")
    issues = info.Issues
    assert issues.Properties.VariableNames == ["Severity", "LayerNames", "Description"]
    assert set(issues.Severity) == {"Error"} and len(issues) == len(info.Errors) >= 2
    rows = {row.LayerNames: row.Description for row in issues}
    assert "is not used" in rows[("batchnorm",)] and "unconnected inputs" in rows[("fc",)]
    assert math.isnan(info.TotalLearnables)
    assert "Total learnables: NaN" in str(info)


def test_target_usage_dlnetwork_against_train_network():
    layers = body()
    assert minidl.analyzeNetwork(layers, Plots="none").TargetUsage == "dlnetwork"   # no output layer
    assert len(minidl.analyzeNetwork(layers, Plots="none").Issues) == 0
    for_trainnetwork = minidl.analyzeNetwork(layers, Plots="none", TargetUsage="trainNetwork")
    assert any("no output layer" in e for e in for_trainnetwork.Errors)
    with_output = layers + [minidl.classificationLayer()]
    assert minidl.analyzeNetwork(with_output, Plots="none").TargetUsage == "trainNetwork"
    assert minidl.analyzeNetwork(with_output, Plots="none").Errors == []
    issues = minidl.analyzeNetwork(with_output, Plots="none", TargetUsage="dlnetwork").Issues
    assert issues.LayerNames == [("classoutput",)] and "a dlnetwork has none" in issues.Description[0]
    net = minidl.dlnetwork(layers)
    info = minidl.analyzeNetwork(net, Plots="none")
    assert info.TargetUsage == "dlnetwork" and info.Errors == [] and info.TotalLearnables == 483
    two_ends = minidl.addLayers(minidl.dlnetwork(layers, Initialize=False), minidl.reluLayer(Name="spare"))
    two_ends = minidl.connectLayers(two_ends, "conv", "spare")
    issue = minidl.analyzeNetwork(two_ends, Plots="none").Issues[0]
    assert issue.LayerNames == ("softmax", "spare") and "one network output" in issue.Description
    with pytest.raises(minidl.OptionError, match="TargetUsage must be one of 'dlnetwork', 'trainNetwork'"):
        minidl.analyzeNetwork(layers, TargetUsage="trainnet")


def test_plots_none_prints_nothing_and_the_default_prints_the_report(capsys):
    minidl.analyzeNetwork(body(), Plots="none")
    assert capsys.readouterr().out == ""
    minidl.analyzeNetwork(body())
    out = capsys.readouterr().out
    assert "Total learnables: 483" in out and "No errors. Checked for dlnetwork." in out
