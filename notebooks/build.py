"""Writes the teaching notebooks: each exercise notebook and its solutions notebook come from
one source below, so the two never drift apart. Run ``python notebooks/build.py`` after an
edit; tests/test_notebooks.py checks the committed notebooks match and runs them all.

A cell is ``("md", text)``, ``("code", text)`` or ``("task", exercise, solution)``: the
exercise notebook gets ``exercise`` (stubs that raise NotImplementedError), the solutions
notebook ``solution``.
"""
import pathlib
import sys

import nbformat

HERE = pathlib.Path(__file__).resolve().parent

SETUP = '''import os
import numpy as np
import minidl
from minidl import *
QUICK = os.environ.get("MINIDL_QUICK") == "1"   # the test suite runs a shrunken version'''

GRADER = '''def grade(check):
    """Runs one check; reports 'not implemented' for a stub instead of failing."""
    try:
        check()
    except NotImplementedError as error:
        print("NOT IMPLEMENTED YET:", error)
        return False
    except (AssertionError, LayerCheckError) as error:
        print("WRONG:", str(error)[:500])
        return False
    print("PASSED")
    return True'''

BN_HEAD = '''class MyBatchNorm(Layer):
    Learnable = ("Scale", "Offset")        # MATLAB: properties (Learnable)

    def __init__(self, numChannels, name, Epsilon=1e-5):
        self.Name = name
        self.Epsilon = Epsilon
        self.Scale = np.ones((numChannels, 1))
        self.Offset = np.zeros((numChannels, 1))

    def forward(self, X):
        """X is C×N. Return (Z, memory)."""
'''

BATCHNORM = [
    ("md", """# Exercise 1: batch normalization, forward and backward

Write batch normalization as a MATLAB-style custom layer and let `checkLayer` grade it.
For feature data (C channels × N observations, MATLAB's 'CB' layout), per channel c:

μ_c = (1/N) Σ_n x_cn,  σ²_c = (1/N) Σ_n (x_cn − μ_c)²  (the biased variance),
x̂_cn = (x_cn − μ_c) / sqrt(σ²_c + ε),  z_cn = γ_c x̂_cn + β_c.

The backward pass (derived in the unit, docs/learn/) is, with g = dL/dz:

dL/dγ_c = Σ_n g_cn x̂_cn,  dL/dβ_c = Σ_n g_cn,
dL/dx_cn = (γ_c / sqrt(σ²_c + ε)) · (g_cn − mean_n(g_c) − x̂_cn · mean_n(g_c x̂_c)).

`checkLayer` compares your backward with finite differences of L = Σ G ⊙ Z for random G
(never Σ Z, which a backward that forgets the mean terms would pass)."""),
    ("code", SETUP),
    ("code", GRADER),
    ("md", """## The layer

`forward` (training) uses the mini-batch statistics and returns `(Z, memory)`: whatever
`backward` needs. To keep the exercise short, `predict` uses the batch statistics too (a
real layer keeps running statistics for inference: `batchNormalizationLayer`)."""),
    ("task", BN_HEAD + '''        # TODO: the mean and biased variance of each channel (row), x̂, then Z = Scale·x̂ + Offset
        raise NotImplementedError("MyBatchNorm.forward")

    def predict(self, X):
        return self.forward(X)[0]

    def backward(self, X, Z, dLdZ, memory):
        """Return (dLdX, dLdScale, dLdOffset), each the size of what it differentiates."""
        # TODO: the three formulas above
        raise NotImplementedError("MyBatchNorm.backward")''',
     BN_HEAD + '''        mu = X.mean(axis=1, keepdims=True)
        var = ((X - mu) ** 2).mean(axis=1, keepdims=True)
        inv_std = 1 / np.sqrt(var + self.Epsilon)
        Xhat = (X - mu) * inv_std
        return self.Scale * Xhat + self.Offset, (Xhat, inv_std)

    def predict(self, X):
        return self.forward(X)[0]

    def backward(self, X, Z, dLdZ, memory):
        """Return (dLdX, dLdScale, dLdOffset), each the size of what it differentiates."""
        Xhat, inv_std = memory
        dLdScale = (dLdZ * Xhat).sum(axis=1, keepdims=True)
        dLdOffset = dLdZ.sum(axis=1, keepdims=True)
        g = dLdZ
        dLdX = self.Scale * inv_std * (g - g.mean(axis=1, keepdims=True)
                                       - Xhat * (g * Xhat).mean(axis=1, keepdims=True))
        return dLdX, dLdScale, dLdOffset'''),
    ("md", "## Grading: `checkLayer` (finite differences in float64)"),
    ("code", '''layer = MyBatchNorm(4, "mybn")
layer.Scale = np.array([[0.5], [1.0], [1.5], [2.0]])    # not 1: a wrong γ factor would hide
passed = grade(lambda: checkLayer(layer, [4], batch_size=6, verbose=True))'''),
    ("md", """## Your layer in a network

Once it passes, it trains like any layer. The training probe (see notebook 2) shows that its
output has mean 0 and standard deviation 1 per channel before the scale and offset learn."""),
    ("code", '''if passed:
    X, Y = digitTrain4DArrayData()[:2]
    n = 200 if QUICK else 5000
    features = X[..., :n].reshape(-1, n).T        # N×784
    layers = [featureInputLayer(784), fullyConnectedLayer(64, Name="fc1"), MyBatchNorm(64, "mybn"),
              reluLayer(), fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]
    minidl.rng(0)
    options = trainingOptions("sgdm", MaxEpochs=1 if QUICK else 4, MiniBatchSize=50, Verbose=False,
                              Probe=trainingProbe(Layers=["fc1", "mybn"], Frequency=5))
    net, info = trainNetwork(features, Y[:n], layers, options)
    print(f"final training accuracy {info.TrainingAccuracy[-1]:.0f}%")
    print("mybn output mean %.3f, std %.3f at iteration 1" % (info.Probe.Activations["mybn"].Mean[0],
                                                              info.Probe.Activations["mybn"].Std[0]))
else:
    print("Implement MyBatchNorm first.")'''),
    ("md", """## Questions

1. Which term of dL/dx does a backward that passes `checkLayer` with L = Σ Z but fails here
   leave out? (Hint: with L = Σ Z, g is constant.)
2. Why is the gradient of the bias of `fc1`, just before batch normalization, zero?"""),
]

PROBE = [
    ("md", """# Exercise 2: watching a network train with the training probe

`trainingOptions(..., Probe=trainingProbe(...))` records, during training, every layer's
activation statistics and histograms, the RMS of the gradients, and the update-to-weight
ratio ‖ΔW‖/‖W‖ of every learnable (docs/learn/probe.md). Here: the same network with and
without batch normalization, on the built-in digits scaled to [0, 1]."""),
    ("code", SETUP),
    ("code", GRADER),
    ("code", '''X, Y = digitTrain4DArrayData()[:2]
n = 100 if QUICK else 1000
X, Y = X[..., :n], Y[:n]

def network(batch_norm):
    def maybe_bn(name):
        return [batchNormalizationLayer(Name=name)] if batch_norm else []
    return [imageInputLayer([28, 28, 1], Normalization="none"),
            convolution2dLayer(3, 8, Padding="same", Name="conv1"), *maybe_bn("bn1"), reluLayer(Name="relu1"),
            maxPooling2dLayer(2, Stride=2),
            convolution2dLayer(3, 16, Padding="same", Name="conv2"), *maybe_bn("bn2"), reluLayer(Name="relu2"),
            fullyConnectedLayer(10, Name="fc"), softmaxLayer(), classificationLayer()]

def train(batch_norm, epochs):
    minidl.rng(0)
    options = trainingOptions("sgdm", InitialLearnRate=0.01, MaxEpochs=epochs, MiniBatchSize=50,
                              Verbose=False, Probe=trainingProbe(Frequency=2))
    return trainNetwork(X, Y, network(batch_norm), options)

epochs = 1           # 20 iterations; try 3 epochs, and InitialLearnRate=0.05 (see question 3)
net_bn, info_bn = train(True, epochs)
net_plain, info_plain = train(False, epochs)
print(info_bn.Probe)
print(f"accuracy of the last mini-batch: with BN {info_bn.TrainingAccuracy[-1]:.0f}%, "
      f"without {info_plain.TrainingAccuracy[-1]:.0f}%")'''),
    ("md", """## Activation histograms over training

Each panel: one layer; across, the iteration; up, the activation value; the shade, the
fraction of the mini-batch's values in that bin. The white lines are the 15th, 50th and
85th percentiles (Ioffe & Szegedy's Figure 1(b, c) shows the same percentiles)."""),
    ("code", '''figure = info_bn.Probe.plot("histograms", Layers=["conv1", "bn1", "relu1", "conv2", "bn2", "relu2"])'''),
    ("code", '''figure = info_plain.Probe.plot("histograms", Layers=["conv1", "relu1", "conv2", "relu2"])'''),
    ("md", """## Update-to-weight ratios

A common rule of thumb (Karpathy's lectures): log10 of ‖ΔW‖/‖W‖ near −3. Much higher, the
learning rate is too large for that learnable; much lower, it barely learns."""),
    ("code", '''figure = info_bn.Probe.plot("ratios")'''),
    ("md", """## Your turn

**Task 1.** The probe's `UpdateRatio` of iteration k is ‖W_k − W_{k−1}‖ / ‖W_{k−1}‖. Write
`update_ratio` and check it against the probe with two trainings, one iteration apart
(training is deterministic after `minidl.rng(0)`)."""),
    ("task", '''def update_ratio(W_before, W_after):
    # TODO: the Frobenius norm of the change over the Frobenius norm of W_before (use float64)
    raise NotImplementedError("update_ratio")''',
     '''def update_ratio(W_before, W_after):
    W_before = np.asarray(W_before, np.float64)
    return np.linalg.norm(np.asarray(W_after, np.float64) - W_before) / np.linalg.norm(W_before)'''),
    ("code", '''def check_update_ratio():
    update_ratio(np.ones(2), np.full(2, 2.0))      # a stub fails here, before the two trainings
    def trained(iterations, probe=None):     # the first `iterations` mini-batches of 20, in order
        minidl.rng(0)
        options = trainingOptions("sgdm", InitialLearnRate=0.01, MaxEpochs=1, MiniBatchSize=20, Shuffle="never",
                                  Verbose=False, Probe=probe)
        return trainNetwork(X[..., :20 * iterations], Y[:20 * iterations], network(True), options)
    W_before = trained(2).Layers[1].Weights
    net, info = trained(3, trainingProbe(Layers="conv1", Frequency=1))
    recorded = info.Probe.Learnables["conv1/Weights"].UpdateRatio[-1]
    mine = update_ratio(W_before, net.Layers[1].Weights)
    print(f"probe {recorded:.6g}, yours {mine:.6g}")
    assert abs(mine - recorded) <= 1e-6 * recorded, "the two ratios differ"

grade(check_update_ratio)'''),
    ("md", """**Task 2.** The probe records Mean, Std and RMS of each layer's output. Which identity
links them? Write it and check it on `relu1`."""),
    ("task", '''def rms_from_mean_and_std(mean, std):
    # TODO
    raise NotImplementedError("rms_from_mean_and_std")''',
     '''def rms_from_mean_and_std(mean, std):
    return np.sqrt(mean ** 2 + std ** 2)      # E[z²] = E[z]² + Var[z] (population std)'''),
    ("code", '''def check_rms():
    record = info_bn.Probe.Activations["relu1"]
    np.testing.assert_allclose(rms_from_mean_and_std(record.Mean, record.Std), record.RMS, rtol=1e-9)

grade(check_rms)'''),
    ("md", """## Questions

1. Compare the spread of `conv2` with and without batch normalization over training. What
   does `bn2` keep fixed, and what does it leave free?
2. In the ratio plot, which learnables update fastest relative to their size? Why do the
   batch-norm offsets start with no ratio at all (NaN)?
3. Train both networks again with `InitialLearnRate=0.05`. Which one fails now, and what do
   the histograms of `bn2` and `relu2` show? (Hint: dead ReLUs.)"""),
]

FOLD = [
    ("md", """# Exercise 3: folding batch normalization into the convolution

At inference a batch-normalization layer is an affine map per channel with fixed numbers:
z = γ (y − μ) / sqrt(σ² + ε) + β, where y = W ∗ x + b is the convolution before it.
So the pair is one convolution with

W'_f = W_f · γ_f / sqrt(σ²_f + ε),  b'_f = (b_f − μ_f) · γ_f / sqrt(σ²_f + ε) + β_f.

minidl does this itself at inference (the execution plan folds conv → BN → ReLU); here you do
it by hand and check that predictions do not change."""),
    ("code", SETUP),
    ("code", GRADER),
    ("code", '''X, Y = digitTrain4DArrayData()[:2]
n = 200 if QUICK else 5000
X, Y = X[..., :n], Y[:n]
minidl.rng(0)
layers = [imageInputLayer([28, 28, 1]), convolution2dLayer(3, 8, Padding="same", Name="conv"),
          batchNormalizationLayer(Name="bn"), reluLayer(Name="relu"), maxPooling2dLayer(2, Stride=2),
          fullyConnectedLayer(10, Name="fc"), softmaxLayer(), classificationLayer()]
options = trainingOptions("sgdm", InitialLearnRate=0.05, MaxEpochs=1 if QUICK else 3, MiniBatchSize=50,
                          Verbose=False)
net = trainNetwork(X, Y, layers, options)
conv, bn = net.Layers[1], net.Layers[2]
print(conv.Weights.shape, conv.Bias.shape, bn.Scale.shape, bn.TrainedMean.shape)'''),
    ("md", """**Task.** Write `fold_batchnorm`. MATLAB shapes: `Weights` h×w×C×F, `Bias` 1×1×F,
`Scale`, `Offset`, `TrainedMean`, `TrainedVariance` 1×1×F."""),
    ("task", '''def fold_batchnorm(weights, bias, scale, offset, mean, variance, epsilon):
    """(folded weights h×w×C×F, folded bias 1×1×F)."""
    # TODO
    raise NotImplementedError("fold_batchnorm")''',
     '''def fold_batchnorm(weights, bias, scale, offset, mean, variance, epsilon):
    """(folded weights h×w×C×F, folded bias 1×1×F)."""
    factor = np.asarray(scale, np.float64) / np.sqrt(np.asarray(variance, np.float64) + epsilon)   # 1×1×F
    folded_weights = np.asarray(weights, np.float64) * factor.reshape(1, 1, 1, -1)
    folded_bias = (np.asarray(bias, np.float64) - mean) * factor + offset
    return folded_weights.astype(np.float32), folded_bias.astype(np.float32)'''),
    ("code", '''def check_fold():
    W, b = fold_batchnorm(conv.Weights, conv.Bias, bn.Scale, bn.Offset, bn.TrainedMean, bn.TrainedVariance,
                          bn.Epsilon)
    folded = [net.Layers[0],
              convolution2dLayer(3, 8, Padding="same", Name="conv", Weights=W, Bias=b),
              *net.Layers[3:]]              # no batch normalization layer any more
    folded_net = assembleNetwork(folded)
    before, after = predict(net, X), predict(folded_net, X)
    difference = np.abs(before - after).max()
    print(f"largest difference of the predicted probabilities: {difference:.2e}")
    assert difference < 1e-5, "the folded network predicts differently"
    assert np.array_equal(classify(net, X), classify(folded_net, X))
    print(f"layers before: {len(net.Layers)}, after: {len(folded_net.Layers)}")

grade(check_fold)'''),
    ("md", """## Questions

1. Why can the fold not be done during training?
2. The convolution's own bias b is redundant before batch normalization in training: why?
   What does the fold do with it?"""),
]

NOTEBOOKS = {"1_batchnorm_layer": BATCHNORM, "2_training_probe": PROBE, "3_fold_batchnorm": FOLD}


def notebook(cells, solutions):
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in cells:
        if cell[0] == "md":
            book.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
        else:
            book.cells.append(nbformat.v4.new_code_cell(cell[2] if cell[0] == "task" and solutions else cell[1]))
    for k, cell in enumerate(book.cells):    # stable ids: rebuilding changes nothing
        cell["id"] = f"cell-{k}"
    return book


def files():
    """{path: notebook} of every exercise and solutions notebook."""
    result = {}
    for name, cells in NOTEBOOKS.items():
        result[HERE / f"{name}.ipynb"] = notebook(cells, solutions=False)
        result[HERE / "solutions" / f"{name}_solutions.ipynb"] = notebook(cells, solutions=True)
    return result


if __name__ == "__main__":
    (HERE / "solutions").mkdir(exist_ok=True)
    for path, book in files().items():
        nbformat.write(book, path)
        print("wrote", path.relative_to(HERE.parent), file=sys.stderr)
