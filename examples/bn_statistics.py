"""Where TrainedMean and TrainedVariance come from: BatchNormalizationStatistics.

During training a batch-norm layer normalizes with the statistics of each mini-batch. A
trained network must also classify one image at a time, so trainNetwork leaves behind one
fixed mean and variance per channel, TrainedMean and TrainedVariance. MATLAB offers two
ways to get them (trainingOptions(..., BatchNormalizationStatistics=...)):

  'moving'      running estimates updated after every iteration,
                    TrainedMean     <- (1 - MeanDecay)     * TrainedMean     + MeanDecay     * mu_B
                    TrainedVariance <- (1 - VarianceDecay) * TrainedVariance + VarianceDecay * var_B
                starting from 0 and 1, with MeanDecay = VarianceDecay = 0.1.
  'population'  after the last iteration, one more pass over the whole training set with
                the final weights; the per-batch statistics are merged exactly.

With the same seed both modes train exactly the same weights (the statistics are not used
while training), so any difference in accuracy comes from the statistics alone. We train
MATLAB's digit network both ways, first with MATLAB's settings, then with a short training
run where the two differ a lot, and plot both sets of statistics per channel.

Figure: docs/figures/bn_statistics.png.
"""
import os
import pathlib
import time

import matplotlib

matplotlib.use("Agg")  # no display needed: the figure goes to a PNG file
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from minidl import (batchNormalizationLayer, classificationLayer, classify, convolution2dLayer,
                    fullyConnectedLayer, imageInputLayer, maxPooling2dLayer, reluLayer, rng,
                    softmaxLayer, trainingOptions, trainNetwork)
from minidl.datasets import digits, splitEachLabel

QUICK = os.environ.get("MINIDL_QUICK") == "1"  # the test suite runs a shrunken version
ROOT = pathlib.Path(__file__).resolve().parents[1]
# Quick runs (the test suite) must not overwrite the committed full-mode figures.
FIGURES = pathlib.Path(os.environ.get("MINIDL_FIGURES_DIR") or (
    ROOT / "docs" / "figures" if not QUICK else pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "minidl_figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

rng(0)
X, Y = digits()
(XTrain, YTrain), (XValidation, YValidation) = splitEachLabel(X, Y, 750, "randomize")
if QUICK:
    XValidation, YValidation = XValidation[..., ::10], YValidation[::10]

layers = [
    imageInputLayer([28, 28, 1]),
    convolution2dLayer(3, 8, Padding="same"),
    batchNormalizationLayer(),
    reluLayer(),
    maxPooling2dLayer(2, Stride=2),
    convolution2dLayer(3, 16, Padding="same"),
    batchNormalizationLayer(),
    reluLayer(),
    maxPooling2dLayer(2, Stride=2),
    convolution2dLayer(3, 32, Padding="same"),
    batchNormalizationLayer(),
    reluLayer(),
    fullyConnectedLayer(10),
    softmaxLayer(),
    classificationLayer()]
BN_NAMES = ["batchnorm_1", "batchnorm_2", "batchnorm_3"]  # the names trainNetwork gives them

# Setting 1 is MATLAB's example (2 of its 4 epochs): 116 iterations at lr 0.01.
# Setting 2 is a short, fast run: the same 7500 images in mini-batches of 256, one epoch at
# lr 0.1, so only 29 iterations, and the weights still change quickly when it stops.
settings = [
    dict(title="MATLAB's settings",
         perClass=750 if not QUICK else 60, MiniBatchSize=128, InitialLearnRate=0.01,
         MaxEpochs=2 if not QUICK else 1),
    dict(title="short run",
         perClass=750 if not QUICK else 60, MiniBatchSize=256, InitialLearnRate=0.1, MaxEpochs=1),
]


def statistics(net):
    """{layer name: (TrainedMean, TrainedVariance)} as flat per-channel vectors."""
    byName = {layer.Name: layer for layer in net.Layers}
    return {name: (byName[name].TrainedMean.ravel().astype(np.float64),
                   byName[name].TrainedVariance.ravel().astype(np.float64)) for name in BN_NAMES}


for setting in settings:
    setting["title"] += (f": {setting['perClass']} per class, MiniBatchSize {setting['MiniBatchSize']}, "
                         f"lr {setting['InitialLearnRate']:g}, {setting['MaxEpochs']} epoch(s)")
    XSmall, YSmall = XTrain, YTrain
    if setting["perClass"] < 750:  # quick mode: a random subset of each label
        (XSmall, YSmall), _ = splitEachLabel(XTrain, YTrain, setting["perClass"], "randomize")
    print(f"\n=== {setting['title']} ===")
    setting["results"] = {}
    for mode in ("moving", "population"):
        rng(0)  # the same seed: the same initial weights and the same shuffles in both modes
        options = trainingOptions("sgdm",
            InitialLearnRate=setting["InitialLearnRate"],
            MaxEpochs=setting["MaxEpochs"],
            MiniBatchSize=setting["MiniBatchSize"],
            Shuffle="every-epoch",
            BatchNormalizationStatistics=mode,
            Verbose=False)
        start = time.perf_counter()
        net, info = trainNetwork(XSmall, YSmall, layers, options)
        YPred, _ = classify(net, XValidation)
        accuracy = np.mean(YPred == YValidation)
        setting["results"][mode] = dict(net=net, accuracy=accuracy, stats=statistics(net))
        print(f"  {mode:10s}: validation accuracy {accuracy:.4f}  ({len(info.TrainingLoss)} iterations, "
              f"{time.perf_counter() - start:.0f} s)")
    moving, population = setting["results"]["moving"], setting["results"]["population"]
    setting["iterations"] = len(info.TrainingLoss)

    # Same weights: only TrainedMean/TrainedVariance differ between the two networks.
    same = all(np.array_equal(getattr(a, "Weights"), getattr(b, "Weights"))
               for a, b in zip(moving["net"].Layers, population["net"].Layers) if hasattr(a, "Weights"))
    print(f"  learned weights identical in both modes: {same}")
    print(f"  {'layer':12s} {'max |mean diff| / max |mean|':>30s}  {'TrainedVariance moving/population':>36s}")
    for name in BN_NAMES:
        (m1, v1), (m2, v2) = moving["stats"][name], population["stats"][name]
        ratio = v1 / v2
        print(f"  {name:12s} {np.abs(m1 - m2).max() / np.abs(m2).max():30.3f}  "
              f"{'median %.3f, range %.3f .. %.3f' % (np.median(ratio), ratio.min(), ratio.max()):>36s}")
    # The starting values 0 and 1 still weigh (1 - 0.1)^k after k iterations.
    print(f"  weight left on the starting values 0 and 1 after {setting['iterations']} iterations: "
          f"0.9^{setting['iterations']} = {0.9 ** setting['iterations']:.3f}")

if QUICK:
    print("\n(Quick mode: a few iterations on small sets; the numbers above mean little.)")
print("""
Why they differ (the numbers are those of a full run, python examples/bn_statistics.py):
* 'moving' is an exponential average with decay 0.1: each estimate is mostly the last ~10
  mini-batches, whose statistics were computed with the weights of those iterations, not
  the final ones. While the weights still change quickly (few iterations, a large learning
  rate) the estimates lag behind them. They also start from mean 0 and variance 1, and that
  start still weighs 0.9^k after k iterations (5% after 29 iterations). In the short run
  the variances are still growing with the weights, so the lagging 'moving' variances come
  out too small in almost every channel (the ratios above are mostly below 1).
  Small mini-batches would make each batch statistic noisier as well.
* 'population' is one exact pass over all training images with the final weights, so it
  has no lag, no starting value and no noise from the last few batches.
* After MATLAB's 116 iterations at lr 0.01 the two agree closely; after the 29 fast
  iterations of the short run they disagree, and the accuracy of the 'moving' network
  pays for it, although both networks have the same weights. Train the short run for a
  second epoch and the gap almost closes again.""")

# ------------------------------------------------------------------ the figure
# Rows: the three batch-norm layers. Columns: TrainedMean and TrainedVariance for setting 1,
# then for setting 2. Each panel has one point per channel for each mode.
fig = plt.figure(figsize=(15, 9), layout="constrained")
for setting, subfig in zip(settings, fig.subfigures(1, 2, wspace=0.04)):
    axes = subfig.subplots(3, 2)
    for row, name in enumerate(BN_NAMES):
        for column, (label, k) in enumerate((("TrainedMean", 0), ("TrainedVariance", 1))):
            ax = axes[row, column]
            for mode, marker, color in (("moving", "o", "tab:orange"), ("population", "x", "tab:blue")):
                values = setting["results"][mode]["stats"][name][k]
                ax.plot(np.arange(1, values.size + 1), values, marker, color=color, ms=5,
                        label=f"'{mode}' (val. acc. {setting['results'][mode]['accuracy']:.3f})")
            if k == 1:
                ax.set_yscale("log")  # the variances of batchnorm_1 are in the hundreds or more
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_ylabel(f"{label} (log scale)" if k == 1 else label, fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # channels are whole numbers
            if row == 2:
                ax.set_xlabel("channel")
    axes[0, 0].legend(fontsize=8)
    accuracies = ", ".join(f"'{mode}' {setting['results'][mode]['accuracy']:.3f}" for mode in ("moving", "population"))
    subfig.suptitle(f"{setting['title']}\n({setting['iterations']} iterations; validation accuracy {accuracies})",
                    fontsize=10)
fig.suptitle("BatchNormalizationStatistics: 'moving' (running estimates) vs 'population' "
             "(one exact pass with the final weights); same seed, same learned weights", fontsize=11)
path = FIGURES / "bn_statistics.png"
fig.savefig(path, dpi=110)
print(f"\nFigure: {path}")
