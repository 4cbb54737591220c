"""Santurkar et al. (2018), "How does batch normalization help optimization?", section 2.1:
noise injected after batch norm.

If batch norm helped by keeping each layer's input distribution still ("reducing internal
covariate shift"), then shaking that distribution on purpose, right after every batch-norm
layer and differently at every step, should undo the benefit. A custom layer, NoiseLayer,
does that in training: at every training step it draws, for every channel c, a shift
m_c ~ U(−SHIFT, SHIFT) and a scale s_c = exp(u), u ~ U(−ln SCALE, ln SCALE), and returns
z = s_c·y + m_c. The next layer therefore sees an input whose mean and spread jump at every
step. At inference it is the identity (like dropout). A simplification of the paper's
version, which also draws the noise per sample.

Networks: 784 → 3 × (fully connected 100, [batch norm], [noise], ReLU) → 10, inputs in [0, 1],
SGD with momentum 0.9, learning rate 0.1, mini-batches of 64; conditions: no BN, BN, BN +
noise, and no BN + noise (a control: the same noise without batch norm). Several seeds.

Run: python examples/learn/bn_noise.py   (MINIDL_QUICK=1: the test suite's version).
Writes docs/figures/bn_noise.{png,json}.
"""
import time

import matplotlib.pyplot as plt
import numpy as np

from _common import QUICK, error_bars, load_data, save, spread, train
from minidl import (Layer, Memory, batchNormalizationLayer, classificationLayer, classify, fullyConnectedLayer,
                    imageInputLayer, reluLayer, softmaxLayer, trainingOptions)

SEEDS = (0, 1) if QUICK else (0, 1, 2)
EPOCHS = 1 if QUICK else 6
LEARN_RATE, BATCH = 0.1, 64
SHIFT, SCALE = 1.0, 2.0


class NoiseLayer(Layer):
    """Training: z = s_c·y + m_c with a new shift m_c ~ U(−Shift, Shift) and scale
    s_c = exp(U(−ln MaxScale, ln MaxScale)) per channel at every call; inference: z = y."""

    DefaultName = "noise"
    Description = "time-varying shift and scale noise"

    def __init__(self, Name="", Shift=SHIFT, MaxScale=SCALE, Seed=0):
        super().__init__(Name)
        self.Shift, self.MaxScale, self.Seed = Shift, MaxScale, Seed
        self._generator = np.random.default_rng(Seed)   # private: the noise source, not layer state

    def initialize(self, input_size, rng):
        return tuple(input_size)

    def predict(self, X):
        return X

    def forward(self, X):
        shape = (1, X.shape[1]) + (1,) * (X.ndim - 2)            # one value per channel
        shift = self._generator.uniform(-self.Shift, self.Shift, shape).astype(X.dtype)
        scale = np.exp(self._generator.uniform(-np.log(self.MaxScale), np.log(self.MaxScale), shape)).astype(X.dtype)
        return scale * X + shift, Memory(scale=scale)

    def backward(self, dLdZ, memory):
        return memory.scale * dLdZ, {}


def mlp(withBatchNorm, withNoise, seed):
    layers = [imageInputLayer([28, 28, 1], Normalization="none")]
    for k in range(3):
        layers.append(fullyConnectedLayer(100))
        if withBatchNorm:
            layers.append(batchNormalizationLayer())
        if withNoise:
            layers.append(NoiseLayer(Seed=1000 * seed + k))
        layers.append(reluLayer())
    return layers + [fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]


CONDITIONS = {"no BN": (False, False), "BN": (True, False), "BN + noise": (True, True),
              "no BN + noise": (False, True)}


def main():
    started = time.perf_counter()
    XTrain, YTrain, XTest, YTest, source = load_data()
    results = {}
    for name, (withBatchNorm, withNoise) in CONDITIONS.items():
        losses, test = [], []
        for seed in SEEDS:
            options = trainingOptions("sgdm", InitialLearnRate=LEARN_RATE, MaxEpochs=EPOCHS, MiniBatchSize=BATCH,
                                      Shuffle="every-epoch", Verbose=False)
            net, info = train(XTrain, YTrain, mlp(withBatchNorm, withNoise, seed), options, seed=seed)
            YPred, _ = classify(net, XTest)
            losses.append(np.asarray(info.TrainingLoss, float))
            test.append(float(np.mean(YPred == YTest)))
        results[name] = dict(losses=np.array(losses), test=spread(test))
        print(f"{name:14s} test accuracy {np.mean(test):.4f} ± {np.std(test):.4f} (min {min(test):.4f}, "
              f"max {max(test):.4f})")

    fig, (axLoss, axTest) = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw=dict(width_ratios=[2, 1]))
    colors = dict(zip(CONDITIONS, ("tab:red", "tab:blue", "tab:cyan", "tab:orange")))
    width = 1 if QUICK else 25
    for name, r in results.items():
        kernel = np.ones(width) / width                     # moving average over `width` iterations
        smooth = np.array([np.convolve(loss, kernel, mode="valid") for loss in r["losses"]])
        steps = np.arange(smooth.shape[1]) + width
        axLoss.plot(steps, smooth.mean(0), color=colors[name], label=name)
        axLoss.fill_between(steps, smooth.min(0), smooth.max(0), color=colors[name], alpha=0.25, lw=0)
    axLoss.set_yscale("log")
    axLoss.set_xlabel("iteration (mini-batches of 64)")
    axLoss.set_ylabel(f"training loss (cross-entropy, mean of {width} iterations)")
    axLoss.legend(title=f"mean; band min–max of {len(SEEDS)} seeds")
    names = list(results)
    means = np.array([results[n]["test"]["mean"] for n in names])
    yerr = error_bars(means, [results[n]["test"]["min"] for n in names], [results[n]["test"]["max"] for n in names])
    axTest.bar(names, means, yerr=yerr, capsize=5, color=[colors[n] for n in names])
    axTest.set_ylabel("test accuracy (fraction; bars min–max)")
    axTest.set_ylim(min(0.8, means.min() - 0.05) if not QUICK else 0, 1)
    axTest.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"Noise with a new mean and scale at every step after each batch norm (shift U(±{SHIFT}), "
                 f"scale in [1/{SCALE}, {SCALE}]); {EPOCHS} epochs, learning rate {LEARN_RATE}", fontsize=10)
    fig.tight_layout()
    numbers = dict(source=source, seeds=list(SEEDS), epochs=EPOCHS, learn_rate=LEARN_RATE, batch=BATCH,
                   shift=SHIFT, max_scale=SCALE,
                   test_accuracy={name: r["test"] for name, r in results.items()},
                   final_training_loss={name: spread(r["losses"][:, -width:].mean(1)) for name, r in results.items()})
    save("bn_noise", fig, numbers, started)


if __name__ == "__main__":
    main()
