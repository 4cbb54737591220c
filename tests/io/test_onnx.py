"""ONNX export and import (issue 11, item 4), checked against independent references:
onnxruntime runs every exported file, PyTorch computes the networks it exports, and the
fully connected layout is pinned element by element in both directions."""
import ast
import pathlib
import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import helper, numpy_helper

import minidl
from minidl import ModelFileError, OptionError
from minidl.graph.network import build_network

ROOT = pathlib.Path(__file__).resolve().parents[2]


def noise(shape):
    """A deterministic random initializer (biases, scales) for minidl's function handles."""
    return np.random.default_rng(int(np.prod(shape))).standard_normal(shape).astype(np.float32) * 0.5


def positive(shape):
    return np.random.default_rng(int(np.prod(shape)) + 1).uniform(0.5, 1.5, shape).astype(np.float32)


def conv(size, filters, **options):
    return minidl.convolution2dLayer(size, filters, BiasInitializer=noise, **options)


def bn(channels, name=""):
    return minidl.batchNormalizationLayer(Name=name, TrainedMean=noise((channels,)), Scale=positive((channels,)),
                                          TrainedVariance=positive((channels,)), Offset=noise((channels,)),
                                          Epsilon=1e-3)


def head(classes=4):
    return [minidl.fullyConnectedLayer(classes, BiasInitializer=noise), minidl.softmaxLayer(),
            minidl.classificationLayer()]


def image(h=6, w=5, c=3, **options):
    return minidl.imageInputLayer([h, w, c], **{"Normalization": "none", **options})


def branches(first, second, merge, tail=None):
    """input → conv → {first, second} → merge → tail (a DAG)."""
    layers = [image(), conv(3, 4, Padding="same", Name="stem"), *first, merge, *(tail or head())]
    lgraph = minidl.layerGraph(layers)
    lgraph = minidl.addLayers(lgraph, second)
    lgraph = minidl.connectLayers(lgraph, "stem", second[0].Name)
    return minidl.connectLayers(lgraph, second[-1].Name, f"{merge.Name}/in2")


def three_way_sum():
    lgraph = branches([conv(1, 4, Name="a")], [conv(3, 4, Padding="same", Name="b")],
                      minidl.additionLayer(3, Name="sum"))
    return minidl.connectLayers(lgraph, "stem", "sum/in3")


LAYER_CASES = {
    "zerocenter": lambda: [image(Normalization="zerocenter", Mean=noise((3,))), conv(3, 4), *head()],
    "zscore per element": lambda: [image(Normalization="zscore", NormalizationDimension="element",
                                         Mean=noise((6, 5, 3)), StandardDeviation=positive((6, 5, 3))), *head()],
    "rescale-zero-one": lambda: [image(Normalization="rescale-zero-one", Min=noise((3,)), Max=positive((3,)) + 1),
                                 *head()],
    "rescale-symmetric": lambda: [image(Normalization="rescale-symmetric", Min=noise((3,)), Max=positive((3,)) + 1),
                                  *head()],
    "convolution stride dilation padding": lambda: [image(7, 8), conv([3, 2], 4, Stride=[2, 1], DilationFactor=[1, 2],
                                                                    Padding=[0, 1, 2, 1]), *head()],
    "convolution asymmetric same": lambda: [image(7, 6), conv(4, 5, Padding="same", Stride=2), *head()],
    "batch normalization": lambda: [image(), conv(3, 4), bn(4), minidl.reluLayer(), *head()],
    "group normalization": lambda: [image(), conv(3, 6), minidl.groupNormalizationLayer(3, Scale=positive((6,)),
                                                                                      Offset=noise((6,))), *head()],
    "group normalization channel-wise": lambda: [image(), conv(3, 4), minidl.groupNormalizationLayer("channel-wise"),
                                                 *head()],
    "layer normalization": lambda: [image(), conv(3, 4), minidl.layerNormalizationLayer(Scale=positive((4,))),
                                    *head()],
    "leaky relu": lambda: [image(), conv(3, 4), minidl.leakyReluLayer(0.2), *head()],
    "max pooling padded": lambda: [image(7, 6), minidl.maxPooling2dLayer(3, Stride=2, Padding=1), *head()],
    "max pooling same": lambda: [image(7, 6), minidl.maxPooling2dLayer(2, Stride=2, Padding="same"), *head()],
    "average pooling zeros": lambda: [image(7, 6), minidl.averagePooling2dLayer(3, Stride=2, Padding=[1, 0, 1, 0]),
                                      *head()],
    "average pooling mean": lambda: [image(7, 6), minidl.averagePooling2dLayer(2, Padding=1, PaddingValue="mean"),
                                     *head()],
    "global average pooling": lambda: [image(), conv(3, 5), minidl.globalAveragePooling2dLayer(), *head()],
    "dropout": lambda: [image(), conv(3, 4), minidl.dropoutLayer(0.3), *head()],
    "features": lambda: [minidl.featureInputLayer(5, Normalization="zscore", Mean=noise((5,)),
                                                  StandardDeviation=positive((5,))),
                         minidl.fullyConnectedLayer(6, BiasInitializer=noise), bn(6), minidl.reluLayer(),
                         minidl.dropoutLayer(0.2), minidl.layerNormalizationLayer(), *head(3)],
    "addition of three": three_way_sum,
    "depth concatenation": lambda: branches([conv(1, 2, Name="a")], [conv(3, 3, Padding="same", Name="b")],
                                            minidl.depthConcatenationLayer(2, Name="cat")),
    "concatenation height": lambda: branches([conv(1, 4, Name="a")], [conv([3, 1], 4, Name="b")],
                                             minidl.concatenationLayer(1, 2, Name="cat")),
    "concatenation width": lambda: branches([conv(1, 4, Name="a")], [conv([1, 3], 4, Name="b")],
                                            minidl.concatenationLayer(2, 2, Name="cat")),
    "regression image output": lambda: [image(), conv(3, 2, Padding="same"), minidl.regressionLayer()],
}


def network(layers, seed=0):
    return build_network(layers, np.random.default_rng(seed))


def onnxruntime_run(path, X):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})[0]


def assert_close(actual, expected, rtol=1e-5):
    """Equal to ``rtol`` relative to the output's scale (softmax outputs, features)."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def internal_input(net, count=3, seed=1):
    """Random data in the layout ONNX uses (N×C×H×W or N×C), float32."""
    size = net.Layers[0].InputSize
    shape = (count, size[2], size[0], size[1]) if len(size) == 3 else (count, size[0])
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", LAYER_CASES)
def test_every_layer_exports_to_onnxruntime_and_imports_back_identically(case, tmp_path):
    net = network(LAYER_CASES[case]())
    path = minidl.exportONNXNetwork(net, tmp_path / "net.onnx")
    X = internal_input(net)
    expected = minidl.predict(net, X, DataFormat="BCSS")
    assert_close(onnxruntime_run(path, X), expected)
    again = minidl.importONNXNetwork(path)
    assert [layer.Name for layer in again.Layers] == [layer.Name for layer in net.Layers]
    if case == "rescale-symmetric":  # Max comes back as Min + 2·(Max − Min)/2, exact to rounding
        assert_close(minidl.predict(again, X, DataFormat="BCSS"), expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(minidl.predict(again, X, DataFormat="BCSS"), expected)


def example_network(name):
    """The layers (and graph) of examples/<name>.py: its assignments to layers and lgraph."""
    path = ROOT / "examples" / f"{name}.py"
    tree = ast.parse(path.read_text())
    kept = [node for node in tree.body if isinstance(node, ast.Assign) and
            getattr(node.targets[0], "id", None) in ("layers", "lgraph")]
    namespace = {name: getattr(minidl, name) for name in minidl.__all__}
    exec(compile(ast.Module(kept, type_ignores=[]), str(path), "exec"), namespace)
    return namespace.get("lgraph", namespace["layers"])


@pytest.mark.parametrize("name", ["simple_cnn_digits", "residual_digits"])
def test_example_networks_trained_briefly_match_onnxruntime_and_round_trip(name, tmp_path):
    minidl.rng(0)
    X, Y = minidl.digits()
    (XTrain, YTrain), (XTest, _) = minidl.splitEachLabel(X, Y, 20, "randomize")
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=50, Verbose=False)
    net, _ = minidl.trainNetwork(XTrain, YTrain, example_network(name), options)
    XTest = XTest[..., :40]
    path = minidl.exportONNXNetwork(net, tmp_path / f"{name}.onnx")
    scores = minidl.predict(net, XTest)
    assert_close(onnxruntime_run(path, XTest.transpose(3, 2, 0, 1).astype(np.float32)), scores)
    again = minidl.importONNXNetwork(path, Classes=net.output_layer.Classes)
    np.testing.assert_array_equal(minidl.predict(again, XTest), scores)
    np.testing.assert_array_equal(minidl.classify(again, XTest), minidl.classify(net, XTest))


def test_fully_connected_after_convolution_follows_each_side_flatten_order(tmp_path):
    """H ≠ W and C > 1: MATLAB flattens h×w×c column-major (k = h + H·w + H·W·c), ONNX and
    PyTorch flatten C×H×W row-major (k = c·H·W + h·W + w). An identity fully connected
    layer shows which element lands where."""
    H, W, C, N = 3, 5, 2, 4
    K = H * W * C
    X = np.random.default_rng(0).standard_normal((H, W, C, N)).astype(np.float32)
    layers = [image(H, W, C), minidl.fullyConnectedLayer(K, Weights=np.eye(K), Bias=np.zeros((K, 1))),
              minidl.regressionLayer()]
    net = minidl.assembleNetwork(layers)
    matlab_order = np.stack([X[..., n].ravel(order="F") for n in range(N)])
    np.testing.assert_array_equal(minidl.predict(net, X), matlab_order)
    path = minidl.exportONNXNetwork(net, tmp_path / "fc.onnx")
    np.testing.assert_array_equal(onnxruntime_run(path, X.transpose(3, 2, 0, 1)), matlab_order)

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(K, K, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(K))
    nchw = torch.from_numpy(X.transpose(3, 2, 0, 1).copy())
    imported = minidl.importONNXNetwork(torch_export(model, nchw, tmp_path / "flatten.onnx"))
    np.testing.assert_array_equal(minidl.predict(imported, nchw.numpy(), DataFormat="BCSS"),
                                  nchw.reshape(N, -1).numpy())
    weights = imported.Layers[1].Weights
    for h, w, c in [(0, 1, 0), (2, 4, 1), (1, 0, 1)]:
        assert weights[c * H * W + h * W + w, h + H * w + H * W * c] == 1


def torch_export(model, x, path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy (TorchScript) exporter's deprecation notice
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, **options)
    return path


class TorchNet(torch.nn.Module):
    """Convolution (+ batch norm, folded by the exporter), residual addition, group norm,
    concatenation, batch norm nodes, max and average pooling, a flatten computed from the
    dynamic batch size, linear layers, softmax."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.gn = nn.Conv2d(8, 8, 3, padding=1), nn.GroupNorm(4, 8)
        self.conv3, self.bn_cat = nn.Conv2d(8, 4, 1), nn.BatchNorm2d(12)
        self.pool, self.avg = nn.MaxPool2d(2), nn.AvgPool2d(2, stride=1, padding=1)
        self.fc, self.bn_fc, self.fc2 = nn.Linear(12 * 6 * 4, 10), nn.BatchNorm1d(10, eps=1e-6), nn.Linear(10, 5)
        for module in self.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(y + self.gn(self.conv2(y)))
        y = torch.cat([y, self.conv3(y)], 1)
        y = self.avg(self.pool(torch.relu(self.bn_cat(y))))
        y = torch.relu(self.bn_fc(self.fc(y.view(y.size(0), -1))))  # Shape → Gather → … → Reshape
        return torch.softmax(self.fc2(y), 1)


@pytest.mark.parametrize("opset", [13, 17])
def test_pytorch_network_imports_and_matches_pytorch(opset, tmp_path):
    torch.manual_seed(0)
    model = TorchNet().eval()
    x = torch.randn(6, 3, 10, 6)  # H ≠ W
    path = torch_export(model, x, tmp_path / "torch.onnx", opset_version=opset)
    assert {"BatchNormalization", "Shape", "InstanceNormalization"} <= {n.op_type for n in onnx.load(path).graph.node}
    net = minidl.importONNXNetwork(path, Classes=list("abcde"))
    kinds = {type(layer).__name__ for layer in net.Layers}
    assert {"BatchNormalizationLayer", "GroupNormalizationLayer", "AdditionLayer", "DepthConcatenationLayer",
            "MaxPooling2DLayer", "AveragePooling2DLayer", "FullyConnectedLayer", "SoftmaxLayer"} <= kinds
    with torch.no_grad():
        expected = model(x).numpy()
    scores = minidl.predict(net, x.numpy(), DataFormat="BCSS")
    assert_close(scores, expected)
    labels, _ = minidl.classify(net, x.numpy(), DataFormat="BCSS")
    np.testing.assert_array_equal(labels, np.array(list("abcde"))[expected.argmax(axis=1)])


def tiny_model(op="Relu", name="node_1", **attributes):
    """x (N×4) → op → y, as a hand-written ONNX model."""
    node = helper.make_node(op, ["x"], ["y"], name=name, **attributes)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_unsupported_op_names_the_op_and_the_node(tmp_path):
    path = tmp_path / "tanh.onnx"
    onnx.save(tiny_model("Tanh", "my_tanh"), str(path))
    with pytest.raises(ModelFileError, match=r"'my_tanh' has op type 'Tanh'.*Supported ops: .*Conv"):
        minidl.importONNXNetwork(path)
    onnx.save(tiny_model("Relu"), str(path))
    assert minidl.importNetworkFromONNX(path).Layers[-1].Description == "Regression output"


def fc_model_with(weights_tensor):
    node = helper.make_node("Gemm", ["x", "W"], ["y"], name="fc", transB=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 2])],
                              [weights_tensor])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_bad_files_give_model_file_error(tmp_path):
    net = network(LAYER_CASES["batch normalization"]())
    data = pathlib.Path(minidl.exportONNXNetwork(net, tmp_path / "net.onnx")).read_bytes()
    path = tmp_path / "bad.onnx"
    for cut in [0, 1, 10, *range(50, len(data), len(data) // 40), len(data) - 1]:
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="bad.onnx"):
            minidl.importONNXNetwork(path)
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match=f"MaxFileSize={len(data)}"):
        minidl.importONNXNetwork(path, MaxFileSize=len(data) - 1)
    with pytest.raises(ModelFileError, match="MaxNodes"):
        minidl.importONNXNetwork(path, MaxNodes=2)
    assert minidl.importONNXNetwork(path, MaxFileSize=len(data), MaxNodes=100).Layers[2].Epsilon == 1e-3

    huge = onnx.TensorProto(name="W", data_type=onnx.TensorProto.FLOAT, dims=[10 ** 6, 10 ** 6], raw_data=b"\0" * 16)
    nan = numpy_helper.from_array(np.full((2, 4), np.nan, np.float32), "W")
    external = numpy_helper.from_array(np.ones((2, 4), np.float32), "W")
    external.data_location = onnx.TensorProto.EXTERNAL
    external.external_data.add(key="location", value="../../secret")
    for tensor, message in [(huge, "more than the whole file"), (nan, "NaN"), (external, "external file")]:
        path.write_bytes(fc_model_with(tensor).SerializeToString())
        with pytest.raises(ModelFileError, match=message):
            minidl.importONNXNetwork(path)


def test_export_options_and_atomic_replacement(tmp_path):
    net = network(LAYER_CASES["zerocenter"]())
    path = tmp_path / "net.onnx"
    minidl.exportONNXNetwork(net, path, OpsetVersion=13, BatchSize=2, NetworkName="digits")
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 13 and model.graph.name == "digits"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    before = path.read_bytes()
    with pytest.raises(OptionError, match="OpsetVersion"):
        minidl.exportONNXNetwork(net, path, OpsetVersion=12)

    class Square(minidl.Layer):
        def predict(self, X):
            return X * X

    odd = minidl.assembleNetwork([image(Normalization="none"), Square(Name="square"), minidl.regressionLayer()])
    with pytest.raises(ValueError, match="'square' \\(Square\\) has no ONNX export"):
        minidl.exportONNXNetwork(odd, path)
    with pytest.raises(TypeError, match="SeriesNetwork or DAGNetwork"):
        minidl.exportONNXNetwork(LAYER_CASES["zerocenter"](), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx"]
    with pytest.raises(OptionError, match="OutputLayerType"):
        minidl.importONNXNetwork(path, OutputLayerType="pixelclassification")
    with pytest.raises(OptionError, match="Classes has 3 names"):
        minidl.importONNXNetwork(path, Classes=["a", "b", "c"])
    assert list(minidl.importONNXNetwork(path).output_layer.Classes) == ["1", "2", "3", "4"]


@pytest.mark.parametrize("perm", [[0, 2, 3, 1], [0, 1, 3, 2], [0, 3, 2, 1]])
def test_transpose_then_flatten_before_gemm_matches_onnxruntime(perm, tmp_path):
    """Exporters that flatten in another order (H×W×C, or MATLAB's own column-major order)
    write Transpose → Flatten → Gemm; minidl folds the order into the weights."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], name="t", perm=perm),
             helper.make_node("Flatten", ["t"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "W", "B"], ["y"], name="fc", transB=1)]
    weights = [numpy_helper.from_array(rng.standard_normal((4, 30)).astype(np.float32), "W"),
               numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "B")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2, 3, 5])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])], weights)
    path = tmp_path / "transpose.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    X = rng.standard_normal((3, 2, 3, 5)).astype(np.float32)
    net = minidl.importONNXNetwork(path)
    assert_close(minidl.predict(net, X, DataFormat="BCSS"), onnxruntime_run(path, X))


def test_other_operator_forms_match_onnxruntime(tmp_path):
    """Forms neither minidl's exporter nor the PyTorch test writes: per-element Sub/Div input
    normalization, auto_pad SAME_LOWER, ReduceMean over H and W, MatMul + Add, Identity."""
    rng = np.random.default_rng(3)
    consts = {"mean": rng.standard_normal((1, 2, 5, 4)), "std": rng.uniform(0.5, 2, (2, 1, 1)),
              "W": rng.standard_normal((3, 2, 3, 3)), "M": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"], name="sub"),
             helper.make_node("Div", ["s", "std"], ["d"], name="div"),
             helper.make_node("Conv", ["d", "W"], ["c"], name="conv", auto_pad="SAME_LOWER", strides=[2, 2]),
             helper.make_node("Identity", ["c"], ["i"], name="same"),
             helper.make_node("ReduceMean", ["i"], ["r"], name="mean_hw", axes=[2, 3], keepdims=0),
             helper.make_node("MatMul", ["r", "M"], ["m"], name="matmul"),
             helper.make_node("Add", ["m", "b"], ["y"], name="bias")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2, 5, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()])
    path = tmp_path / "forms.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    net = minidl.importNetworkFromONNX(path)
    assert net.Layers[0].Normalization == "zscore" and net.Layers[0].NormalizationDimension == "element"
    assert net.Layers[1].PaddingSize == (1, 1, 1, 0)  # SAME_LOWER: the odd pixel of the width on the left
    X = rng.standard_normal((3, 2, 5, 4)).astype(np.float32)
    assert_close(minidl.predict(net, X, DataFormat="BCSS"), onnxruntime_run(path, X))
