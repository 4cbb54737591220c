"""Batch noise as a regularizer: the same network, the same mini-batches, batch norm's
statistics taken over smaller "ghost" batches (more noise) or over the whole mini-batch.

In training, batch norm normalizes an image with the mean and variance of the images that
share its mini-batch, so the same image gives a slightly different output at every epoch:
noise, of size about 1/√m for m values per statistic. To see whether that noise regularizes,
everything else must stay fixed. Here the mini-batch (BATCH images, one SGD step) stays the
same and only the batch over which batch norm computes its statistics changes: GhostBatchNorm
(Hoffer et al. 2017) splits each mini-batch into ghost batches of G images and normalizes each
with its own mean and variance. G = BATCH is ordinary batch norm; G = 4 is much noisier. The
gradient noise of SGD is the same in every condition. At inference every variant uses the
same 'population' statistics of the whole training set.

To make overfitting visible the training set is small (the first TRAIN_IMAGES training digits),
and training goes on until the training images are fitted (EPOCHS epochs). Controls: no
normalization, and layer norm (normalizes each image on its own: no batch noise at all).
Network: 784 → 3 × (fully connected 100, norm, ReLU) → 10, pixels in [0, 1], SGD with
momentum 0.9, learning rate 0.05, mini-batches of BATCH. Per run: training-set accuracy and
loss in inference mode, test accuracy on the 5,000 test digits.

Run: python examples/learn/bn_regularization.py   (MINIDL_QUICK=1: the test suite's version).
Writes docs/figures/bn_regularization.{png,json}.
"""
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from _common import QUICK, accuracy, cached, error_bars, load_data, mlp, save, seeds, spread, train
from minidl import layerNormalizationLayer, predict, trainingOptions
from minidl.layers.normalization import BatchNormalizationLayer, BatchNormMemory

SEEDS = seeds((0,), (0, 1, 2, 3, 4))
EPOCHS = 2 if QUICK else 60
TRAIN_IMAGES = 1000
BATCH = 64
GHOSTS = (4, 16) if QUICK else (4, 8, 16, 64)
LEARN_RATE = 0.05


@dataclass(eq=False)
class GhostMemory(BatchNormMemory):
    parts: list = None           # one batch-norm memory per ghost batch


class GhostBatchNorm(BatchNormalizationLayer):
    """Batch normalization whose training statistics come from ghost batches of GhostSize
    observations (the last one may be smaller); the whole mini-batch's mean and variance still
    feed the 'population' or 'moving' statistics, so inference is ordinary batch norm."""

    def __init__(self, GhostSize, **options):
        super().__init__(**options)
        self.GhostSize = GhostSize

    def _ghosts(self, X):
        return [slice(i, i + self.GhostSize) for i in range(0, X.shape[0], self.GhostSize)]

    def _forward(self, X, work, relu):
        parts = [super(GhostBatchNorm, self)._forward(X[g], None, relu) for g in self._ghosts(X)]
        axes = (0,) + tuple(range(2, X.ndim))
        values = X.astype(np.float64)
        memory = GhostMemory(X=X, mean=values.mean(axis=axes), var=values.var(axis=axes),
                             count=X.size // X.shape[1], parts=[m for _, m in parts])
        return np.concatenate([z for z, _ in parts]), memory

    def _backward(self, dLdZ, memory, work, relu):
        results = [super(GhostBatchNorm, self)._backward(dLdZ[g], m, None, relu)
                   for g, m in zip(self._ghosts(dLdZ), memory.parts)]
        grads = {name: sum(r[1][name] for r in results) for name in results[0][1]}
        return np.concatenate([dx for dx, _ in results]), grads


CONDITIONS = {"no normalization": None, "layer norm": layerNormalizationLayer,
              **{f"BN, ghost batches of {g}" if g < BATCH else f"BN (statistics of all {BATCH})":
                 (lambda g=g: GhostBatchNorm(g)) for g in GHOSTS}}


def run(norm, seed, data):
    """(training-set accuracy, training-set loss, test accuracy), all in inference mode."""
    XTrain, YTrain, XTest, YTest = data
    options = trainingOptions("sgdm", InitialLearnRate=LEARN_RATE, MaxEpochs=EPOCHS, MiniBatchSize=BATCH,
                              Shuffle="every-epoch", Verbose=False)
    net, _ = train(XTrain, YTrain, mlp(norm), options, seed=seed)
    scores = predict(net, XTrain).astype(np.float64)                       # N × 10
    classes = list(net.Layers[-1].Classes)
    truth = np.array([classes.index(y) for y in YTrain])
    loss = float(-np.mean(np.log(np.maximum(scores[np.arange(len(truth)), truth], 1e-12))))
    return accuracy(net, XTrain, YTrain), loss, accuracy(net, XTest, YTest)


def short(name):
    """A condition's name as a two-line tick label."""
    return (name.replace("BN, ghost batches of ", "BN, ghost\nbatches of ").replace(" (statistics of all", "\n(all")
            .replace("no normalization", "no\nnormalization").replace("layer norm", "layer\nnorm"))


def main():
    started = time.perf_counter()
    XTrain, YTrain, XTest, YTest, source = load_data(quick_sizes=(TRAIN_IMAGES, 500))
    data = (XTrain[..., :TRAIN_IMAGES], YTrain[:TRAIN_IMAGES], XTest, YTest)
    results = {}
    for name, norm in CONDITIONS.items():
        trainSet, loss, test = zip(*[cached(f"regularization_{EPOCHS}_{LEARN_RATE}_{name}_{seed}",
                                            lambda: run(norm, seed, data)) for seed in SEEDS])
        results[name] = dict(train_accuracy=spread(trainSet), train_loss=spread(loss), test_accuracy=spread(test),
                             gap=spread(np.subtract(trainSet, test)))
        print(f"{name:28s} training set {np.mean(trainSet):.4f} (loss {np.mean(loss):.4f}), test "
              f"{np.mean(test):.4f} ± {np.std(test):.4f}", flush=True)

    fig, (axTest, axLoss) = plt.subplots(1, 2, figsize=(13, 4.6))
    names = list(results)
    colors = ["tab:gray", "tab:orange"] + list(plt.cm.Blues(np.linspace(0.9, 0.4, len(GHOSTS))))
    for ax, key, label in ((axTest, "test_accuracy", "test accuracy (fraction)"),
                           (axLoss, "train_loss", "training-set loss, inference mode (log scale)")):
        means = np.array([results[n][key]["mean"] for n in names])
        yerr = error_bars(means, [results[n][key]["min"] for n in names], [results[n][key]["max"] for n in names])
        ax.bar(range(len(names)), means, yerr=yerr, capsize=5, color=colors)
        ax.set_xticks(range(len(names)), [short(n) for n in names], fontsize=8)
        ax.set_ylabel(label)
        ax.set_title(f"mean of {len(SEEDS)} seeds, bars min–max", fontsize=9)
    low = min(results[n]["test_accuracy"]["min"] for n in names)
    axTest.set_ylim(max(0, low - 0.03), min(1, max(results[n]["test_accuracy"]["max"] for n in names) + 0.02))
    axLoss.set_yscale("log")
    fig.suptitle(f"{TRAIN_IMAGES} training images, {EPOCHS} epochs, mini-batches of {BATCH}: batch norm's statistics "
                 f"from ghost batches (more noise) or the whole mini-batch", fontsize=10)
    fig.tight_layout()
    numbers = dict(source=source, seeds=list(SEEDS), epochs=EPOCHS, train_images=TRAIN_IMAGES, batch=BATCH,
                   ghost_sizes=list(GHOSTS), learn_rate=LEARN_RATE, results=results)
    save("bn_regularization", fig, numbers, started)


if __name__ == "__main__":
    main()
