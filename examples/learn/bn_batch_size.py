"""Batch norm at small mini-batches: the train/test gap, with group norm and layer norm beside it.

In training, batch norm normalizes with the statistics of the mini-batch; at inference, with
statistics of the whole training set. For a fully connected layer the statistics of a channel
come from m = MiniBatchSize values only: with 2 images x̂ is ±1 whatever the values, with 8
it is a noisy estimate. The network is trained on one function and tested on another. Group
norm and layer norm normalize each observation on its own, identically in training and
inference. A network without normalization is the control: it shows what the batch size does
to plain SGD, so that what is left is the normalization's doing.

The network: 784 → 3 × (fully connected 100, norm, ReLU) → 10, pixels in [0, 1], with norm one
of: none, batchNormalizationLayer, groupNormalizationLayer(4) (4 groups of 25 units),
layerNormalizationLayer. SGD with momentum 0.9 and the linear scaling rule (Goyal et al.
2017): learning rate BASE_RATE × MiniBatchSize / 64, so that every batch size takes the same
expected step per epoch; EPOCHS epochs over the first TRAIN_IMAGES training digits at every batch size (a
smaller batch takes more, smaller steps). Batch norm's statistics: "population" (MATLAB's
default). Per run:
  * the mini-batch accuracy training reports (training mode), mean over the last epoch;
  * the accuracy on the same training images in inference mode;
  * the test accuracy (5,000 test digits).
"mini-batch − training set" is the train/inference discrepancy (the same images, two
functions); "training set − test" is the ordinary generalization gap.

Run: python examples/learn/bn_batch_size.py   (MINIDL_QUICK=1: the test suite's version).
Writes docs/figures/bn_batch_size.{png,json}.
"""
import time

import matplotlib.pyplot as plt
import numpy as np

from _common import QUICK, accuracy, cached, error_bars, load_data, mlp, save, seeds, spread, train
from minidl import batchNormalizationLayer, groupNormalizationLayer, layerNormalizationLayer, trainingOptions

BATCH_SIZES = (8, 32) if QUICK else (2, 8, 32, 128)
SEEDS = seeds((0, 1), (0, 1, 2))
EPOCHS = 1 if QUICK else 3
TRAIN_IMAGES = 240 if QUICK else 2500     # the first ones; every batch size sees them EPOCHS times
BASE_RATE = 0.05                      # at a mini-batch of 64; scaled linearly with the batch size
NORMS = {"no normalization": None, "batch norm": batchNormalizationLayer,
         "group norm (4 groups)": lambda: groupNormalizationLayer(4), "layer norm": layerNormalizationLayer}


def learn_rate(batch):
    return BASE_RATE * batch / 64


def run(norm, batch, seed, data):
    """(mini-batch accuracy in training mode over the last epoch, training-set accuracy,
    test accuracy) of one training run."""
    XTrain, YTrain, XTest, YTest = data
    options = trainingOptions("sgdm", InitialLearnRate=learn_rate(batch), MaxEpochs=EPOCHS, MiniBatchSize=batch,
                              Shuffle="every-epoch", Verbose=False)
    net, info = train(XTrain, YTrain, mlp(norm), options, seed=seed)
    lastEpoch = XTrain.shape[3] // batch
    return (float(np.nanmean(info.TrainingAccuracy[-lastEpoch:])) / 100, accuracy(net, XTrain, YTrain),
            accuracy(net, XTest, YTest))


def main():
    started = time.perf_counter()
    XTrain, YTrain, XTest, YTest, source = load_data(quick_sizes=(TRAIN_IMAGES, 300))
    XTrain, YTrain = XTrain[..., :TRAIN_IMAGES], YTrain[:TRAIN_IMAGES]
    data = (XTrain, YTrain, XTest, YTest)
    results = {}
    for name, norm in NORMS.items():
        rows = []
        for batch in BATCH_SIZES:
            miniBatch, trainSet, test = zip(*[
                cached(f"batch_size_{TRAIN_IMAGES}_{EPOCHS}_{BASE_RATE}_{name}_{batch}_{seed}", lambda: run(norm, batch, seed, data))
                for seed in SEEDS])
            rows.append(dict(batch=batch, learn_rate=learn_rate(batch), minibatch_accuracy=spread(miniBatch),
                             train_accuracy=spread(trainSet), test_accuracy=spread(test),
                             minibatch_minus_train=spread(np.subtract(miniBatch, trainSet)),
                             minibatch_minus_test=spread(np.subtract(miniBatch, test)),
                             train_minus_test=spread(np.subtract(trainSet, test))))
            print(f"{name:22s} batch {batch:4d}: mini-batch {np.mean(miniBatch):.3f}, training set "
                  f"{np.mean(trainSet):.3f}, test {np.mean(test):.3f} ± {np.std(test):.3f}", flush=True)
        results[name] = rows

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    colors = dict(zip(NORMS, ("tab:gray", "tab:blue", "tab:green", "tab:orange")))
    panels = (("test_accuracy", "test accuracy (fraction)", "Test accuracy"),
              ("minibatch_minus_train", "mini-batch accuracy (training mode)\n− training-set accuracy (inference)",
               "Train/inference discrepancy: the same images, two functions"),
              ("train_minus_test", "training-set − test accuracy (both inference)", "Generalization gap"))
    for ax, (key, ylabel, title) in zip(axes, panels):
        for name, rows in results.items():
            values = np.array([r[key]["seeds"] for r in rows])            # batch × seed
            mean = values.mean(1)
            ax.errorbar(BATCH_SIZES, mean, yerr=error_bars(mean, values.min(1), values.max(1)), marker="o",
                        capsize=4, color=colors[name], label=name)
        ax.set_xscale("log", base=2)
        ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
        ax.set_xlabel("mini-batch size (images, log scale)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(title=f"mean, bars min–max of {len(SEEDS)} seeds", fontsize=8, title_fontsize=8)
    axes[1].axhline(0, color="black", lw=0.6)
    axes[2].axhline(0, color="black", lw=0.6)
    fig.suptitle(f"MLP 3 × 100, SGDM, learning rate {BASE_RATE} × batch / 64, {EPOCHS} epochs of "
                 f"{XTrain.shape[3]} images", fontsize=11)
    fig.tight_layout()
    numbers = dict(source=source, batch_sizes=list(BATCH_SIZES), seeds=list(SEEDS), epochs=EPOCHS,
                   base_rate=BASE_RATE, train_images=int(XTrain.shape[3]), test_images=int(XTest.shape[3]),
                   **{name: rows for name, rows in results.items()})
    save("bn_batch_size", fig, numbers, started)


if __name__ == "__main__":
    main()
