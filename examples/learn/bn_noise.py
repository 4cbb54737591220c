"""Santurkar et al. (2018), "How does batch normalization help optimization?", section 2.1:
noise injected after batch norm.

If batch norm helped by keeping each layer's input distribution still ("reducing internal
covariate shift"), then shaking that distribution on purpose, right after every batch-norm
layer and differently at every step, should undo the benefit. The paper: "we perturb each
activation for each sample in the batch using i.i.d. noise sampled from a non-zero mean and
non-unit variance distribution", whose parameters change at every time step. A custom layer,
NoiseLayer, does that in training. At every training step it draws, for every channel c, a
mean m_c ~ U(−SHIFT, SHIFT), a scale s_c = exp(u), u ~ U(−ln MAX_SCALE, ln MAX_SCALE), and a
standard deviation d_c ~ U(0, MAX_STD); every activation of every sample then becomes

    z_nc = s_c·y_nc + m_c + d_c·ε_nc,   ε_nc ~ N(0, 1) i.i.d.,

so the next layer sees an input whose mean and spread jump at every step (and a per-sample
noise on top). At inference it is the identity (like dropout). The exact distributions are
our choice: the paper does not give them in its main text.

"Covariate shift", measured as the distribution the paper talks about: a pass-through layer
(ShiftMeter) before every ReLU records, at every training step, each unit's mean μ_t and
standard deviation σ_t over the mini-batch. Per step and unit, |μ_t − μ_{t−1}| / σ_{t−1} (how
far the centre jumped, in units of the spread) and |ln(σ_t / σ_{t−1})| (how much the spread
changed); reported: their medians over the steps and units of the last hidden layer. (The
paper's own ICS measure compares a layer's gradient before and after the previous layers'
update; that needs a custom training loop and is left as an exercise.)

Networks: 784 → 3 × (fully connected 100, [batch norm], [noise], ReLU) → 10, inputs in [0, 1],
SGD with momentum 0.9, learning rate 0.1, mini-batches of 64, EPOCHS epochs; conditions:
standard (no BN), BN, BN + noise, and no BN + noise (a control: the same noise without batch
norm). Several seeds.

Run: python examples/learn/bn_noise.py   (MINIDL_QUICK=1: the test suite's version).
Writes docs/figures/bn_noise.{png,json}.
"""
import time

import matplotlib.pyplot as plt
import numpy as np

from _common import QUICK, cached, error_bars, load_data, save, seeds, spread, train
from minidl import (Layer, Memory, batchNormalizationLayer, classificationLayer, classify, fullyConnectedLayer,
                    imageInputLayer, reluLayer, softmaxLayer, trainingOptions)

SEEDS = seeds((0, 1), (0, 1, 2, 3, 4))
EPOCHS = 1 if QUICK else 12
LEARN_RATE, BATCH = 0.1, 64
SHIFT, MAX_SCALE, MAX_STD = 1.0, 2.0, 1.0
RECORDS = {}       # ShiftMeter name -> [(μ, σ) per training step]; module level: trainNetwork copies layers


class NoiseLayer(Layer):
    """Training: z = s_c·y + m_c + d_c·ε with new m_c ~ U(−Shift, Shift), s_c =
    exp(U(−ln MaxScale, ln MaxScale)) and d_c ~ U(0, MaxStd) per channel at every call, ε ~ N(0, 1)
    per activation; inference: z = y."""

    DefaultName = "noise"
    Description = "time-varying non-zero-mean, non-unit-variance noise"

    def __init__(self, Name="", Shift=SHIFT, MaxScale=MAX_SCALE, MaxStd=MAX_STD, Seed=0):
        super().__init__(Name)
        self.Shift, self.MaxScale, self.MaxStd, self.Seed = Shift, MaxScale, MaxStd, Seed
        self._generator = np.random.default_rng(Seed)   # private: the noise source, not layer state

    def initialize(self, input_size, rng):
        return tuple(input_size)

    def predict(self, X):
        return X

    def forward(self, X):
        draw = self._generator
        shape = (1, X.shape[1]) + (1,) * (X.ndim - 2)            # one value per channel
        shift = draw.uniform(-self.Shift, self.Shift, shape)
        scale = np.exp(draw.uniform(-np.log(self.MaxScale), np.log(self.MaxScale), shape))
        noise = draw.uniform(0, self.MaxStd, shape) * draw.standard_normal(X.shape)
        return (scale * X + shift + noise).astype(X.dtype), Memory(scale=scale.astype(X.dtype))

    def backward(self, dLdZ, memory):
        return memory.scale * dLdZ, {}


class ShiftMeter(Layer):
    """Identity that records each unit's mean and standard deviation over every training
    mini-batch in RECORDS[Name]."""

    DefaultName = "meter"
    Description = "records the batch statistics of its input"

    def initialize(self, input_size, rng):
        return tuple(input_size)

    def predict(self, X):
        return X

    def forward(self, X):
        values = X.astype(np.float64)
        RECORDS.setdefault(self.Name, []).append((values.mean(axis=0), values.std(axis=0)))
        return X, Memory()

    def backward(self, dLdZ, memory):
        return dLdZ, {}


def mlp(withBatchNorm, withNoise, seed):
    layers = [imageInputLayer([28, 28, 1], Normalization="none")]
    for k in range(3):
        layers.append(fullyConnectedLayer(100))
        if withBatchNorm:
            layers.append(batchNormalizationLayer())
        if withNoise:
            layers.append(NoiseLayer(Seed=1000 * seed + k))
        layers += [ShiftMeter(Name=f"meter_{k + 1}"), reluLayer()]
    return layers + [fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]


CONDITIONS = {"standard (no BN)": (False, False), "BN": (True, False), "BN + noise": (True, True),
              "no BN + noise": (False, True)}


def shift(records):
    """Medians over steps and units of |Δμ|/σ and |Δ ln σ| between consecutive steps."""
    mean, std = (np.array([r[i] for r in records]) for i in (0, 1))     # steps × units
    std = np.maximum(std, 1e-12)
    return float(np.median(np.abs(np.diff(mean, axis=0)) / std[:-1])), \
        float(np.median(np.abs(np.diff(np.log(std), axis=0))))


def run(withBatchNorm, withNoise, seed, data):
    """(training loss per iteration, test accuracy, (centre jump, spread change) of the last
    hidden layer's ReLU input) of one training run."""
    XTrain, YTrain, XTest, YTest = data
    RECORDS.clear()
    options = trainingOptions("sgdm", InitialLearnRate=LEARN_RATE, MaxEpochs=EPOCHS, MiniBatchSize=BATCH,
                              Shuffle="every-epoch", Verbose=False)
    net, info = train(XTrain, YTrain, mlp(withBatchNorm, withNoise, seed), options, seed=seed)
    losses = np.asarray(info.TrainingLoss, float)
    YPred, _ = classify(net, XTest)
    # the training steps only: the final 'population' pass runs the meters again
    return losses, float(np.mean(YPred == YTest)), shift(RECORDS["meter_3"][:len(losses)])


def main():
    started = time.perf_counter()
    XTrain, YTrain, XTest, YTest, source = load_data()
    data = (XTrain, YTrain, XTest, YTest)
    results = {}
    for name, (withBatchNorm, withNoise) in CONDITIONS.items():
        runs = [cached(f"noise_{EPOCHS}_{MAX_STD}_{name}_{seed}", lambda: run(withBatchNorm, withNoise, seed, data))
                for seed in SEEDS]
        losses, test, shifts = zip(*runs)
        results[name] = dict(losses=np.array(losses), test=spread(test), centre=spread([s[0] for s in shifts]),
                             spread=spread([s[1] for s in shifts]))
        print(f"{name:18s} test accuracy {np.mean(test):.4f} ± {np.std(test):.4f} (min {min(test):.4f}, max "
              f"{max(test):.4f}); step-to-step shift: centre {results[name]['centre']['mean']:.3f}, spread "
              f"{results[name]['spread']['mean']:.3f}", flush=True)

    fig, (axLoss, axTest, axShift) = plt.subplots(1, 3, figsize=(17, 4.6), gridspec_kw=dict(width_ratios=[2, 1, 1]))
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
    for ax, key, label in ((axTest, "test", "test accuracy (fraction; bars min–max)"),
                           (axShift, "centre", "step-to-step jump of a unit's mean, |Δμ|/σ\n"
                                               "(median, last hidden layer; bars min–max)")):
        means = np.array([results[n][key]["mean"] for n in names])
        yerr = error_bars(means, [results[n][key]["min"] for n in names], [results[n][key]["max"] for n in names])
        ax.bar(range(len(names)), means, yerr=yerr, capsize=5, color=[colors[n] for n in names])
        ax.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=8)
        ax.set_ylabel(label)
    axShift.set_yscale("log")
    fig.suptitle(f"Noise with a new mean and variance at every step after each batch norm (mean U(±{SHIFT}), "
                 f"scale in [1/{MAX_SCALE}, {MAX_SCALE}], per-sample std up to {MAX_STD}); {EPOCHS} epochs, "
                 f"learning rate {LEARN_RATE}", fontsize=10)
    fig.tight_layout()
    numbers = dict(source=source, seeds=list(SEEDS), epochs=EPOCHS, learn_rate=LEARN_RATE, batch=BATCH,
                   shift=SHIFT, max_scale=MAX_SCALE, max_std=MAX_STD,
                   test_accuracy={name: r["test"] for name, r in results.items()},
                   final_training_loss={name: spread(r["losses"][:, -width:].mean(1)) for name, r in results.items()},
                   centre_jump={name: r["centre"] for name, r in results.items()},
                   spread_change={name: r["spread"] for name, r in results.items()})
    save("bn_noise", fig, numbers, started)


if __name__ == "__main__":
    main()
