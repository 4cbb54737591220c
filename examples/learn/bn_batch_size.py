"""Batch norm at small mini-batches: the train/test gap, with group norm and layer norm beside it.

In training, batch norm normalizes with the statistics of the mini-batch; at inference, with
statistics of the whole training set. With 2 or 4 images per mini-batch the two differ a lot,
so the network is trained on one function and tested on another. Group norm and layer norm
normalize each observation on its own, identically in training and inference.

The network: a small CNN (conv 3×3×8 → norm → ReLU → max pool → conv 3×3×16 → norm → ReLU →
max pool → fully connected 10), with norm one of: batchNormalizationLayer,
groupNormalizationLayer(4), layerNormalizationLayer. SGD with momentum 0.9, learning rate
0.01, 3 epochs over the first 600 training images at every mini-batch size (so small
batches take more steps),
BatchNormalizationStatistics "population" (MATLAB's default). Three accuracies per run:
  * mini-batch accuracy in training mode (batch statistics), the mean over the last epoch;
  * training-set accuracy in inference mode (the TRAIN_IMAGES training images);
  * test accuracy (5,000 test images).

Run: python examples/learn/bn_batch_size.py   (MINIDL_QUICK=1: the test suite's version).
Writes docs/figures/bn_batch_size.{png,json}.
"""
import time

import matplotlib.pyplot as plt
import numpy as np

from _common import QUICK, error_bars, load_data, save, spread, train
from minidl import (batchNormalizationLayer, classificationLayer, classify, convolution2dLayer,
                    fullyConnectedLayer, groupNormalizationLayer, imageInputLayer, layerNormalizationLayer,
                    maxPooling2dLayer, reluLayer, softmaxLayer, trainingOptions)

BATCH_SIZES = (4, 32) if QUICK else (2, 8, 32)
SEEDS = (0, 1) if QUICK else (0, 1, 2)
EPOCHS = 1 if QUICK else 3
TRAIN_IMAGES = 240 if QUICK else 600     # a small training set keeps the 2-image runs affordable
NORMS = {"batch norm": batchNormalizationLayer,
         "group norm (4 groups)": lambda: groupNormalizationLayer(4), "layer norm": layerNormalizationLayer}


def cnn(norm):
    layers = [imageInputLayer([28, 28, 1], Normalization="none")]
    for filters in (8, 16):
        layers.append(convolution2dLayer(3, filters, Padding="same"))
        if norm is not None:
            layers.append(norm())
        layers += [reluLayer(), maxPooling2dLayer(2, Stride=2)]
    return layers + [fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]


def accuracy(net, X, Y):
    YPred, _ = classify(net, X)
    return float(np.mean(YPred == Y))


def main():
    started = time.perf_counter()
    XTrain, YTrain, XTest, YTest, source = load_data(quick_sizes=(TRAIN_IMAGES, 300))
    XTrain, YTrain = XTrain[..., :TRAIN_IMAGES], YTrain[:TRAIN_IMAGES]
    results = {}
    for name, norm in NORMS.items():
        rows = []
        for batch in BATCH_SIZES:
            miniBatch, trainSet, test = [], [], []
            for seed in SEEDS:
                options = trainingOptions("sgdm", InitialLearnRate=0.01, MaxEpochs=EPOCHS, MiniBatchSize=batch,
                                          Shuffle="every-epoch", Verbose=False)
                net, info = train(XTrain, YTrain, cnn(norm), options, seed=seed)
                lastEpoch = XTrain.shape[3] // batch
                miniBatch.append(float(np.nanmean(info.TrainingAccuracy[-lastEpoch:])) / 100)
                trainSet.append(accuracy(net, XTrain, YTrain))
                test.append(accuracy(net, XTest, YTest))
            rows.append(dict(batch=batch, minibatch_accuracy=spread(miniBatch), train_accuracy=spread(trainSet),
                             test_accuracy=spread(test)))
            print(f"{name:22s} batch {batch:4d}: mini-batch {np.mean(miniBatch):.3f}, training set "
                  f"{np.mean(trainSet):.3f}, test {np.mean(test):.3f} ± {np.std(test):.3f}")
        results[name] = rows

    fig, (axTest, axGap) = plt.subplots(1, 2, figsize=(13, 4.6))
    colors = dict(zip(NORMS, ("tab:blue", "tab:green", "tab:orange")))
    for name, rows in results.items():
        test = np.array([r["test_accuracy"]["seeds"] for r in rows])            # batch × seed
        gap = np.array([np.subtract(r["minibatch_accuracy"]["seeds"], r["test_accuracy"]["seeds"]) for r in rows])
        for ax, values in ((axTest, test), (axGap, gap)):
            mean = values.mean(1)
            ax.errorbar(BATCH_SIZES, mean, yerr=error_bars(mean, values.min(1), values.max(1)), marker="o",
                        capsize=4, color=colors[name], label=name)
    for ax in (axTest, axGap):
        ax.set_xscale("log", base=2)
        ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
        ax.set_xlabel("mini-batch size (images, log scale)")
        ax.legend(title=f"mean, bars min–max of {len(SEEDS)} seeds", fontsize=8)
    axTest.set_ylabel("test accuracy (fraction)")
    axGap.set_ylabel("mini-batch accuracy (training mode) − test accuracy")
    axGap.axhline(0, color="black", lw=0.6)
    axTest.set_title(f"Test accuracy after {EPOCHS} epochs (SGDM, learning rate 0.01)", fontsize=10)
    axGap.set_title("What training reports minus what the network does on new data", fontsize=10)
    fig.tight_layout()
    numbers = dict(source=source, batch_sizes=list(BATCH_SIZES), seeds=list(SEEDS), epochs=EPOCHS,
                   train_images=TRAIN_IMAGES,
                   **{name: rows for name, rows in results.items()})
    save("bn_batch_size", fig, numbers, started)


if __name__ == "__main__":
    main()
