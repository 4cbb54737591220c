"""What batch normalization does for MATLAB's digit network: training with and without it.

The network is the one of MATLAB's "Create Simple Deep Learning Network for Classification"
(three conv blocks with 8, 16 and 32 filters, each followed by batchNormalizationLayer and
reluLayer). We train it on the built-in digits (750 per class for training, the rest for
validation), with and without its batch-norm layers, from the same seed, and watch:

  1. at MATLAB's learning rate 0.01, on MATLAB's raw 0-255 pixels,
  2. the same network without batch norm, but with its inputs rescaled to [0, 1],
  3. at a 30x larger learning rate, 0.3.

Then we look inside the trained networks, on 500 random validation images of all ten
digits: histograms of every channel just before (conv_k) and just after (batchnorm_k) each
batch-norm layer, and at the same convolutions of the network trained without batch norm.

Figures: docs/figures/bn_training_curves.png and docs/figures/bn_activation_histograms.png.
"""
import os
import pathlib
import time
import warnings

import matplotlib

matplotlib.use("Agg")  # no display needed: the figures go to PNG files
import matplotlib.pyplot as plt
import numpy as np

from minidl import (activations, batchNormalizationLayer, classificationLayer, classify,
                    convolution2dLayer, fullyConnectedLayer, imageInputLayer, maxPooling2dLayer,
                    reluLayer, rng, softmaxLayer, trainingOptions, trainNetwork)
from minidl.datasets import digits, splitEachLabel

QUICK = os.environ.get("MINIDL_QUICK") == "1"  # the test suite runs a shrunken version
ROOT = pathlib.Path(__file__).resolve().parents[1]
# Quick runs (the test suite) must not overwrite the committed full-mode figures.
FIGURES = pathlib.Path(os.environ.get("MINIDL_FIGURES_DIR") or (
    ROOT / "docs" / "figures" if not QUICK else pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "minidl_figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

rng(0)
X, Y = digits()                              # 28x28x1x10000 uint8 images, pixels 0..255
numTrainFiles = 750 if not QUICK else 60
(XTrain, YTrain), (XValidation, YValidation) = splitEachLabel(X, Y, numTrainFiles, "randomize")
if QUICK:
    XValidation, YValidation = XValidation[..., ::10], YValidation[::10]


def digitNetwork(withBatchNorm=True, inputNormalization="zerocenter"):
    """MATLAB's example network; withBatchNorm=False drops its three batch-norm layers."""
    layers = [imageInputLayer([28, 28, 1], Normalization=inputNormalization)]
    for numFilters in (8, 16, 32):
        layers.append(convolution2dLayer(3, numFilters, Padding="same"))
        if withBatchNorm:
            layers.append(batchNormalizationLayer())
        layers.append(reluLayer())
        if numFilters < 32:
            layers.append(maxPooling2dLayer(2, Stride=2))
    return layers + [fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]


# MATLAB trains 4 epochs; 2 (116 iterations of 128 images) are enough to see the difference.
maxEpochs = 2 if not QUICK else 1
validationFrequency = 20 if not QUICK else 4
runs = [  # (label, learning rate, batch norm?, input normalization)
    ("BN, lr 0.01 (MATLAB's example)", 0.01, True, "zerocenter"),
    ("no BN, lr 0.01", 0.01, False, "zerocenter"),
    ("no BN, lr 0.01, inputs rescaled to [0, 1]", 0.01, False, "rescale-zero-one"),
    ("BN, lr 0.3", 0.3, True, "zerocenter"),
    ("no BN, lr 0.3, inputs rescaled to [0, 1]", 0.3, False, "rescale-zero-one"),
]
results = []
for label, learnRate, withBatchNorm, inputNormalization in runs:
    rng(0)  # same seed: the same initial conv and fc weights and the same shuffles in every run
    options = trainingOptions("sgdm",
        InitialLearnRate=learnRate,
        MaxEpochs=maxEpochs,
        Shuffle="every-epoch",
        ValidationData=(XValidation, YValidation),
        ValidationFrequency=validationFrequency,
        Verbose=False)
    start = time.perf_counter()
    # A diverging run can reach a NaN or Inf loss; trainNetwork then stops early with a
    # RuntimeWarning and says so in info.StopReason; the summary below reports it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        net, info = trainNetwork(XTrain, YTrain, digitNetwork(withBatchNorm, inputNormalization), options)
    YPred, _ = classify(net, XValidation)
    accuracy = np.mean(YPred == YValidation)
    results.append(dict(label=label, net=net, info=info, accuracy=accuracy,
                        seconds=time.perf_counter() - start,
                        stoppedEarly=info.StopReason != "Max epochs completed"))
    print(f"{label:44s} validation accuracy {accuracy:.4f}   ({info.StopReason}, "
          f"{len(info.TrainingLoss)} iterations, {results[-1]['seconds']:.0f} s)")

# ------------------------------------------------------------------ what happened, and why
print(f"""
Summary (final validation accuracy on {YValidation.size} images, {maxEpochs} epoch(s)):
  {'run':44s} {'accuracy':>9s}  {'first loss':>10s}  {'last 10 losses':>14s}""")
for r in results:
    loss = r["info"].TrainingLoss
    print(f"  {r['label']:44s} {r['accuracy']:9.4f}  {loss[0]:10.2f}  {np.nanmean(loss[-10:]):14.3f}"
          + ("   stopped: " + r["info"].StopReason if r["stoppedEarly"] else ""))
if QUICK:
    print("\n(Quick mode: a few iterations on 600 images; the numbers above mean nothing yet.)")
print("""
Why (the numbers are those of a full run, python examples/bn_explained.py):
* MATLAB's digits are raw 0..255 pixels and 'zerocenter' only subtracts the mean image, so
  the first convolution's outputs have standard deviations of tens (conv_1 below). Without
  batch norm the initial loss is about 9 times that of the BN network, the first SGDM steps at
  lr 0.01 are far too large, and the network collapses to a constant prediction that it
  never leaves (validation accuracy 0.1 = chance, loss log(10) = 2.30). Each batch-norm
  layer divides its channels by their batch standard deviation, so the scale of the input
  and of the weights before it no longer matters.
* Rescaling the inputs to [0, 1] rescues the plain network at lr 0.01, but it learns more
  slowly than the batch-norm network: batch norm keeps every layer's input centred and of
  unit spread while the weights below it change, so one learning rate suits every layer.
* At lr 0.3 the batch-norm network still trains. The plain network, even with rescaled
  inputs, collapses to a constant prediction again. With batch norm, a conv layer's output
  does not change when its weights are scaled, so a large step that grows the weights
  also shrinks the effective size of the following steps.""")

# ------------------------------------------------------------------ figure 1: training curves
def smooth(values, width=9):
    """Centred moving average that ignores NaN (iterations after an early stop)."""
    values = np.asarray(values, dtype=float)
    kernel = np.ones(min(width, values.size))
    ok = np.isfinite(values)
    total = np.convolve(np.where(ok, values, 0), kernel, mode="same")
    count = np.convolve(ok.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


fig, (axLoss, axAccuracy) = plt.subplots(1, 2, figsize=(12, 4.6))
styles = ["-", "-", "--", "-", "--"]
colors = ["tab:blue", "tab:red", "tab:orange", "tab:green", "tab:purple"]  # one per run
for r, style, color in zip(results, styles, colors):
    info = r["info"]
    iterations = np.arange(1, len(info.TrainingLoss) + 1)
    legend = f"{r['label']} (val. acc. {r['accuracy']:.3f})"
    axLoss.plot(iterations, info.TrainingLoss, color=color, alpha=0.2, lw=0.8)
    axLoss.plot(iterations, smooth(info.TrainingLoss), color=color, ls=style, lw=1.8, label=legend)
    axAccuracy.plot(iterations, info.TrainingAccuracy, color=color, alpha=0.2, lw=0.8)
    axAccuracy.plot(iterations, smooth(info.TrainingAccuracy), color=color, ls=style, lw=1.8, label=legend)
    # Validation accuracy (with batch norm: batch statistics during training, the trained
    # statistics for the final point, as in MATLAB): markers on the same axis.
    validation = np.asarray(info.ValidationAccuracy, dtype=float)
    measured = np.flatnonzero(np.isfinite(validation))
    axAccuracy.plot(measured + 1, validation[measured], color=color, ls="none", marker="o", ms=4)
    axAccuracy.plot([iterations[-1]], [100 * r["accuracy"]], color=color, marker="*", ms=11, ls="none")
axLoss.set_yscale("log")
axLoss.set_xlabel("iteration")
axLoss.set_ylabel("training loss (cross-entropy, log scale)")
axAccuracy.set_xlabel("iteration")
axAccuracy.set_ylabel("accuracy (%): lines training mini-batches,\n"
                      "dots validation during training, stars final validation")
axAccuracy.set_ylim(0, 100)
axAccuracy.legend(loc="lower right", fontsize=8)
fig.suptitle("MATLAB's digit network with and without batch normalization (same seed; "
             "light: every mini-batch, dark: moving average)", fontsize=10)
fig.tight_layout()
fig.savefig(FIGURES / "bn_training_curves.png", dpi=120)
plt.close(fig)

# ------------------------------------------------------------------ figure 2: inside the BN network
# Activations of the trained batch-norm network (run 1) on validation images, channel by
# channel, just before each batch-norm layer (the convolution's output) and just after it.
# activations() runs in prediction mode, so batch norm uses its TrainedMean/TrainedVariance.
# The validation set is sorted by label, so the sample is drawn at random from all of it:
# every digit is in it (its first 500 images would be zeros and ones only).
net, plainNet = results[0]["net"], results[2]["net"]   # BN at lr 0.01; no BN, [0, 1] inputs, lr 0.01
sample = np.random.default_rng(0).choice(YValidation.size, size=min(500, YValidation.size), replace=False)
XSample = XValidation[..., np.sort(sample)]
digitsInSample = np.unique(np.asarray(YValidation)[sample])
print(f"\nInside the trained networks ({sample.size} random validation images, digits "
      f"{', '.join(map(str, digitsInSample))}), per channel:")
print(f"  {'network':9s} {'layer':12s} {'channel means':>24s}  {'channel std devs':>24s}")
panels = [("BN", net, "conv_{}", "BN network, before batch norm"),
          ("BN", net, "batchnorm_{}", "BN network, after batch norm"),
          ("no BN", plainNet, "conv_{}", "network without BN ([0, 1] inputs)")]
fig, axes = plt.subplots(3, 3, figsize=(15, 9))
for k in range(3):
    bn = next(layer for layer in net.Layers if layer.Name == f"batchnorm_{k + 1}")
    for column, (which, model, pattern, description) in enumerate(panels):
        name = pattern.format(k + 1)
        A = activations(model, XSample, name)             # H x W x C x N
        numChannels = A.shape[2]
        perChannel = np.moveaxis(A, 2, 0).reshape(numChannels, -1).astype(np.float64)
        means, stds = perChannel.mean(axis=1), perChannel.std(axis=1)
        print(f"  {which:9s} {name:12s} {means.min():10.2f} .. {means.max():10.2f}  "
              f"{stds.min():10.2f} .. {stds.max():10.2f}")
        ax = axes[k, column]
        # The x range is the 0.5–99.5 percentile range of all channels together, so a few
        # extreme values do not squeeze the rest; values outside it are not drawn, and the
        # lines stop at the range's ends (baseline=None: no vertical "wall" down to zero).
        low, high = np.percentile(perChannel, [0.5, 99.5])
        edges = np.linspace(low, high, 60)
        colormap = plt.get_cmap("viridis")
        for c in range(numChannels):
            counts, _ = np.histogram(perChannel[c], bins=edges, density=True)
            ax.stairs(counts, edges, color=colormap(c / max(1, numChannels - 1)), alpha=0.8, baseline=None)
        ax.set_yscale("log")
        ax.set_title(f"{description}: {name}, {numChannels} channels", fontsize=9)
    # After batch norm, channel c has mean ~ Offset(c) and std ~ Scale(c): the layer picks them.
    offset, scale = bn.Offset.ravel(), bn.Scale.ravel()
    print(f"  {'':12s} learned Offset {offset.min():6.2f} .. {offset.max():5.2f}, "
          f"Scale {scale.min():5.2f} .. {scale.max():5.2f}")
for ax in axes[-1]:
    ax.set_xlabel("activation value")
for ax in axes.ravel():
    ax.set_ylabel("density (log scale)", fontsize=8)
fig.suptitle(f"Per-channel activation histograms on {sample.size} validation images of all 10 digits (one line "
             "per channel; x range: 0.5–99.5 percentiles).\nBefore batch norm the channels have very different "
             "centres and widths; after it, mean ≈ Offset and std ≈ Scale. Right: the network trained without BN.",
             fontsize=10)
fig.tight_layout()
fig.savefig(FIGURES / "bn_activation_histograms.png", dpi=120)
plt.close(fig)
print(f"\nFigures: {FIGURES / 'bn_training_curves.png'}, {FIGURES / 'bn_activation_histograms.png'}")
