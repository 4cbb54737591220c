"""Ioffe & Szegedy (2015), section 4.1 and Figure 1, on minidl.

The paper: predict the digit class of MNIST with three fully connected hidden layers of 100
sigmoid units each, a 10-way output with cross-entropy loss, weights initialized to small
random Gaussian values, 50,000 steps of 60 examples; once as is, once with batch
normalization after each hidden layer's affine part (before its sigmoid). Figure 1(a): test
accuracy vs training steps. Figure 1(b, c): the 15th, 50th and 85th percentiles of the input
of one typical sigmoid over training, without and with batch norm.

What the paper leaves open, and what this script chooses:
  * the optimizer and learning rate: plain SGD (no momentum, no weight decay), learning rate
    LEARN_RATE for both networks, constant;
  * "small random Gaussian values": N(0, WEIGHT_STD²) for every weight matrix, biases 0;
  * the input scaling: pixels in [0, 1], no mean subtraction (the same for both networks);
  * how mini-batches are drawn: uniformly with replacement of whole batches (each step draws 60
    training images, independent of the others), from one seeded generator per run;
  * which sigmoid and on which data its input is measured: unit 0 of the last hidden layer,
    over the test images, with the network in inference mode (batch norm's moving averages);
  * batch norm's inference statistics: 'moving' (the running averages, decay 0.1).
The data are real MNIST when MINIDL_MNIST names a folder with its IDX files; otherwise
minidl's built-in digits (5,000 training images, 5,000 test images).

Run: python examples/learn/bn_paper_mnist.py   (MINIDL_STEPS=N to shorten; MINIDL_QUICK=1
for the test suite's shrunken version). Writes docs/figures/bn_paper_mnist.{png,json}.
"""
import os
import pathlib
import pickle
import time

import matplotlib.pyplot as plt
import numpy as np

from _common import CACHE, QUICK, cached, load_data, save, seeds, spread, train
from minidl import (activations, batchNormalizationLayer, classificationLayer, classify,
                    fullyConnectedLayer, imageInputLayer, sigmoidLayer, softmaxLayer, trainingOptions)

STEPS = int(os.environ.get("MINIDL_STEPS", 300 if QUICK else 50_000))
EVAL_EVERY = 100 if QUICK else 250            # steps between two measurements
SEEDS = seeds((0, 1), (0, 1, 2, 3, 4))
BATCH = 60
LEARN_RATE = float(os.environ.get("MINIDL_LR", 0.5))
WEIGHT_STD = 0.1
TRACKED_UNIT = 0


def paper_network(withBatchNorm, generator):
    """784 → 3 × (100, [batch norm], sigmoid) → 10 → softmax, weights N(0, WEIGHT_STD²)."""
    layers, fanIn = [imageInputLayer([28, 28, 1], Normalization="none")], 28 * 28
    for k in range(1, 4):
        layers.append(fullyConnectedLayer(100, Name=f"fc_{k}", Bias=np.zeros((100, 1), np.float32),
                                          Weights=(WEIGHT_STD * generator.standard_normal((100, fanIn))).astype(np.float32)))
        if withBatchNorm:
            layers.append(batchNormalizationLayer(Name=f"bn_{k}"))
        layers.append(sigmoidLayer(Name=f"sigmoid_{k}"))
        fanIn = 100
    layers += [fullyConnectedLayer(10, Name="fc_out", Bias=np.zeros((10, 1), np.float32),
                                   Weights=(WEIGHT_STD * generator.standard_normal((10, 100))).astype(np.float32)),
               softmaxLayer(), classificationLayer()]
    return layers


def run(withBatchNorm, seed, data):
    """Train one network; returns (steps, test accuracy, percentiles (3×T) of the tracked
    sigmoid's input, per-unit medians (100×T) of the last hidden layer's sigmoid inputs).
    With MINIDL_CACHE, the run's progress is saved after every measurement, so an interrupted
    run resumes where it stopped and a shorter one (MINIDL_STEPS) reuses a longer one."""
    XTrain, YTrain, XTest, YTest = data
    progress = pathlib.Path(CACHE or ".", f"paper_{LEARN_RATE}_{'bn' if withBatchNorm else 'plain'}_{seed}.progress")
    if CACHE and not QUICK and progress.is_file():
        state = pickle.loads(progress.read_bytes())
    else:
        generator = np.random.default_rng(seed)
        state = dict(generator=generator, layers=paper_network(withBatchNorm, generator), done=0,
                     steps=[], accuracy=[], percentiles=[], medians=[])
    generator, layers, done = state["generator"], state["layers"], state["done"]
    sigmoidInput = "bn_3" if withBatchNorm else "fc_3"
    # SGD without momentum has no solver state, so training in chunks of EVAL_EVERY steps
    # (each continuing from the previous network's layers and moving statistics) is
    # exactly one long run, with a look at the network after each chunk.
    options = trainingOptions("sgdm", Momentum=0, InitialLearnRate=LEARN_RATE, MaxEpochs=1,
                              MiniBatchSize=BATCH, Shuffle="never", Verbose=False,
                              BatchNormalizationStatistics="moving", L2Regularization=0)
    while done < STEPS:
        chunk = min(EVAL_EVERY, STEPS - done)
        batchIndex = generator.integers(0, XTrain.shape[3], size=chunk * BATCH)
        net, _ = train(XTrain[..., batchIndex], YTrain[batchIndex], layers, options, seed=seed + done)
        layers, done = net.Layers, done + chunk
        YPred, _ = classify(net, XTest)
        inputs = activations(net, XTest, sigmoidInput).reshape(-1, XTest.shape[3])   # 100 × N
        state["steps"].append(done)
        state["accuracy"].append(float(np.mean(YPred == YTest)))
        state["percentiles"].append(np.percentile(inputs[TRACKED_UNIT], [15, 50, 85]))
        state["medians"].append(np.median(inputs, axis=1))
        if CACHE and not QUICK:
            state.update(generator=generator, layers=layers, done=done)
            progress.with_suffix(".partial").write_bytes(pickle.dumps(state))
            progress.with_suffix(".partial").replace(progress)
    keep = np.array(state["steps"]) <= STEPS
    return (np.array(state["steps"])[keep], np.array(state["accuracy"])[keep],
            np.array(state["percentiles"])[keep].T, np.array(state["medians"])[keep].T)


def main():
    started = time.perf_counter()
    XTrain, YTrain, XTest, YTest, source = load_data(quick_sizes=(5000, 500))   # quick: 500 test images
    data = (XTrain, YTrain, XTest, YTest)
    print(f"data: {source}; {STEPS} steps of {BATCH}, SGD lr {LEARN_RATE}, seeds {SEEDS}")
    # Seed by seed, both networks (so that an interrupted run leaves pairs of finished runs)
    runs = {(withBatchNorm, seed): cached(f"paper_{STEPS}_{LEARN_RATE}_{'bn' if withBatchNorm else 'plain'}_{seed}",
                                          lambda: run(withBatchNorm, seed, data))
            for seed in SEEDS for withBatchNorm in (False, True)}
    results = {}
    for withBatchNorm in (False, True):
        label = "with BN" if withBatchNorm else "without BN"
        runs_of = [runs[withBatchNorm, seed] for seed in SEEDS]
        steps = runs_of[0][0]
        accuracy = np.array([r[1] for r in runs_of])                    # seeds × T
        # Drift: how far each last-layer sigmoid's median input moves from the first
        # measurement to the end; the median of that over the 100 units, per seed.
        drift = [np.median(np.abs(r[3][:, -1] - r[3][:, 0])) for r in runs_of]
        results[label] = dict(steps=steps, accuracy=accuracy, runs=runs_of, drift=drift)
        print(f"{label:10s} final test accuracy {accuracy[:, -1].mean():.4f} ± {accuracy[:, -1].std():.4f}; "
              f"median |Δ median input| of the 100 last-layer sigmoids {np.mean(drift):.3f}")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    colors = {"without BN": "tab:red", "with BN": "tab:blue"}
    for label, r in results.items():
        mean, low, high = r["accuracy"].mean(0), r["accuracy"].min(0), r["accuracy"].max(0)
        axes[0].plot(r["steps"], mean, color=colors[label], label=f"{label} (mean of {len(SEEDS)} seeds)")
        axes[0].fill_between(r["steps"], low, high, color=colors[label], alpha=0.25, lw=0)
    axes[0].set_xlabel("training step (mini-batches of 60)")
    axes[0].set_ylabel("test accuracy (fraction)")
    axes[0].set_ylim(0.5 if not QUICK else 0, 1)
    axes[0].set_title("(a) test accuracy; band: min–max over seeds", fontsize=10)
    axes[0].legend(loc="lower right")
    for ax, label, letter in ((axes[1], "without BN", "b"), (axes[2], "with BN", "c")):
        r = results[label]
        for p, style in zip(r["runs"][0][2], (":", "-", "--")):
            ax.plot(r["steps"], p, color=colors[label], ls=style)
        ax.legend(["15th percentile", "50th (median)", "85th percentile"], loc="best", fontsize=8)
        ax.set_xlabel("training step")
        ax.set_ylabel("input of sigmoid unit 0, last hidden layer")
        ax.set_title(f"({letter}) {label}: its input over the test set (seed {SEEDS[0]})", fontsize=10)
    lows = [p.min() for r in results.values() for p in r["runs"][0][2]]
    highs = [p.max() for r in results.values() for p in r["runs"][0][2]]
    for ax in axes[1:]:
        ax.set_ylim(min(lows) - 0.2, max(highs) + 0.2)          # the same scale for (b) and (c)
    fig.suptitle(f"Ioffe & Szegedy 2015, Figure 1, on {source.split(' (')[0]} ({STEPS} steps)", fontsize=11)
    fig.tight_layout()

    numbers = dict(source=source, steps=STEPS, batch=BATCH, learn_rate=LEARN_RATE, weight_std=WEIGHT_STD,
                   seeds=list(SEEDS), eval_every=EVAL_EVERY)
    for label, r in results.items():
        key = label.replace(" ", "_")
        acc = r["accuracy"]
        reach = [next((int(s) for s, a in zip(r["steps"], run) if a >= 0.9), None) for run in acc]
        numbers[key] = dict(
            final_accuracy=spread(acc[:, -1]),
            accuracy_at={int(s): spread(acc[:, i]) for i, s in enumerate(r["steps"])
                         if s in (500, 1000, 2000, 2500, 5000, 10_000, 20_000, 30_000, 40_000, STEPS)},
            steps_to_90_percent=reach,
            median_abs_drift_of_median_input=spread(r["drift"]),
            tracked_unit_percentiles_first=[float(v) for v in r["runs"][0][2][:, 0]],
            tracked_unit_percentiles_last=[float(v) for v in r["runs"][0][2][:, -1]])
    save("bn_paper_mnist", fig, numbers, started)


if __name__ == "__main__":
    main()
