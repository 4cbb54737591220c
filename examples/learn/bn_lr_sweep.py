"""Learning-rate sweep with and without batch normalization, input scaling kept apart.

Both networks get the same inputs, pixels in [0, 1] (imageInputLayer Normalization="none"),
so any difference comes from batch norm and not from the scale of the data (on MATLAB's raw
0–255 pixels a plain network fails from the input scale alone; see docs/batchnorm.md). The
network: 784 → 3 × (fully connected 100, [batch norm], ReLU) → 10, Glorot initialization
(minidl's default), SGD with momentum 0.9 (MATLAB's default), mini-batches of 64, the same
number of epochs for every rate; final accuracy on the 5,000 test images, several seeds.

Run: python examples/learn/bn_lr_sweep.py   (MINIDL_QUICK=1: the test suite's version).
Writes docs/figures/bn_lr_sweep.{png,json}.
"""
import time

import matplotlib.pyplot as plt
import numpy as np

from _common import QUICK, accuracy, error_bars, load_data, mlp, save, spread, train
from minidl import batchNormalizationLayer, trainingOptions

RATES = (0.01, 0.3) if QUICK else (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
SEEDS = (0, 1) if QUICK else (0, 1, 2)
EPOCHS = 1 if QUICK else 4
BATCH = 64


def main():
    started = time.perf_counter()
    XTrain, YTrain, XTest, YTest, source = load_data()
    results = {}
    for withBatchNorm in (False, True):
        label = "with BN" if withBatchNorm else "without BN"
        table = []
        for rate in RATES:
            accuracies = []
            for seed in SEEDS:
                options = trainingOptions("sgdm", InitialLearnRate=rate, MaxEpochs=EPOCHS, MiniBatchSize=BATCH,
                                          Shuffle="every-epoch", Verbose=False)
                net, _ = train(XTrain, YTrain, mlp(batchNormalizationLayer if withBatchNorm else None), options,
                               seed=seed)
                # A diverged run (NaN loss) stops early; its predictions are one class, so
                # its accuracy is counted as it is (about chance), not dropped.
                accuracies.append(accuracy(net, XTest, YTest))
            table.append(spread(accuracies))
            print(f"{label:10s} lr {rate:6g}: test accuracy {table[-1]['mean']:.4f} ± {table[-1]['std']:.4f}")
        results[label] = table

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (label, table), color in zip(results.items(), ("tab:red", "tab:blue")):
        mean = np.array([t["mean"] for t in table])
        yerr = error_bars(mean, [t["min"] for t in table], [t["max"] for t in table])
        ax.errorbar(RATES, mean, yerr=yerr, marker="o", capsize=4, color=color,
                    label=f"{label} (mean, bars min–max of {len(SEEDS)} seeds)")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (SGD with momentum 0.9, log scale)")
    ax.set_ylabel("test accuracy after training (fraction)")
    ax.set_ylim(0, 1)
    ax.axhline(0.1, color="gray", lw=0.8, ls=":")
    ax.text(RATES[0], 0.12, "chance (0.1)", fontsize=8, color="gray")
    ax.legend(loc="lower center")
    ax.set_title(f"3-layer ReLU MLP, inputs in [0, 1], {EPOCHS} epochs of mini-batches of {BATCH}", fontsize=10)
    fig.tight_layout()
    numbers = dict(source=source, rates=list(RATES), seeds=list(SEEDS), epochs=EPOCHS, batch=BATCH,
                   **{label.replace(" ", "_"): table for label, table in results.items()})
    for label, table in results.items():
        good = [rate for rate, t in zip(RATES, table) if t["min"] >= 0.9]
        numbers[label.replace(" ", "_") + "_rates_with_all_seeds_at_least_0.9"] = good
        print(f"{label}: every seed ≥ 0.9 at learning rates {good}")
    save("bn_lr_sweep", fig, numbers, started)


if __name__ == "__main__":
    main()
