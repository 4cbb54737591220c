"""Batch normalization by hand: one layer's forward and backward pass, step by step.

A tiny batch (N=4 images, C=2 channels, 3x3 pixels) goes through the formulas of MATLAB's
batchNormalizationLayer with plain NumPy in float64. Every intermediate is printed, then
checked three ways:

  1. against minidl's own batchNormalizationLayer (forward and backward),
  2. against central finite differences of the loss  L = sum(G .* y)  with a random G,
  3. against a second, longer derivation of dx (the chain rule through mu_B and var_B).

The last part shows the inference form y = a.*x + b that a trained network uses, with
TrainedMean and TrainedVariance in place of the batch statistics.

Inside minidl, activations are N x C x H x W ("batch first, channel second"), so the
per-channel statistics below reduce over the axes (0, 2, 3) = (N, H, W).
"""
import os
import pathlib

import matplotlib

matplotlib.use("Agg")  # no display needed: the figure goes to a PNG file
import matplotlib.pyplot as plt
import numpy as np

from minidl import batchNormalizationLayer

QUICK = os.environ.get("MINIDL_QUICK") == "1"  # nothing to shrink here; kept for symmetry
ROOT = pathlib.Path(__file__).resolve().parents[1]
# Quick runs (the test suite) must not overwrite the committed full-mode figures.
FIGURES = pathlib.Path(os.environ.get("MINIDL_FIGURES_DIR") or (
    ROOT / "docs" / "figures" if not QUICK else pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "minidl_figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

np.set_printoptions(precision=4, suppress=True, linewidth=100)
AXES = (0, 2, 3)                    # every axis except the channel axis


def per_channel(v):
    """A length-C vector reshaped to broadcast against N x C x H x W."""
    return np.asarray(v, dtype=np.float64).reshape(1, -1, 1, 1)


def show(title, value):
    print(f"\n{title}")
    print(value)


# ------------------------------------------------------------------ the data and the layer
# Two channels on purpose far from mean 0 / variance 1, so the normalization is visible:
# channel 1 around 3 with spread 2, channel 2 around -1 with spread 0.5.
gen = np.random.default_rng(0)
N, C, H, W = 4, 2, 3, 3
X = gen.normal(size=(N, C, H, W)) * per_channel([2.0, 0.5]) + per_channel([3.0, -1.0])
m = N * H * W                       # values per channel that share one mean and variance

# Scale (gamma) and Offset (beta) are learnables, one per channel. Values that float32
# represents exactly, because minidl stores learnables in float32.
layer = batchNormalizationLayer(Name="bn", Scale=[1.5, 2.0], Offset=[0.25, 1.0])
layer.initialize((3, 3, 2), None)   # MATLAB-order input size H x W x C
Scale = per_channel(layer.Scale)    # 1x1xC in MATLAB's shape; 1xCx1x1 here to broadcast
Offset = per_channel(layer.Offset)
epsilon = layer.Epsilon             # 1e-5, MATLAB's default (and its minimum)

print(f"Batch norm by hand: N={N} images, C={C} channels, {H}x{W} pixels, so m = N*H*W = {m} "
      f"values per channel.")
print(f"Scale = {Scale.ravel()}, Offset = {Offset.ravel()}, Epsilon = {epsilon:g}")
for c in range(C):
    show(f"x, channel {c + 1} (one row per image, its 3x3 pixels flattened):", X[:, c].reshape(N, -1))

# ------------------------------------------------------------------ forward, step by step
print("\n========== FORWARD (training mode: statistics of this mini-batch) ==========")
mu = X.mean(axis=AXES, keepdims=True)                      # mu_B = sum(x) / m
show("mu_B = sum(x)/m, per channel:", mu.ravel())

var = ((X - mu) ** 2).mean(axis=AXES, keepdims=True)       # BIASED: divide by m, not m - 1
show("var_B = sum((x - mu_B)^2)/m, per channel (biased, as MATLAB):", var.ravel())
print(f"   (the unbiased variance would be m/(m-1) = {m / (m - 1):.4f} times larger: "
      f"{(var * m / (m - 1)).ravel()})")

inv_std = 1 / np.sqrt(var + epsilon)                       # epsilon keeps this finite
xhat = (X - mu) * inv_std                                  # x_hat = (x - mu_B)/sqrt(var_B + eps)
show("x_hat = (x - mu_B)/sqrt(var_B + eps), channel 1:", xhat[:, 0].reshape(N, -1))
print(f"   x_hat per channel: mean {np.round(xhat.mean(axis=AXES), 12) + 0}, variance "
      f"{np.array2string(xhat.var(axis=AXES), precision=7)} (var_B/(var_B + eps): just under 1)")

y = Scale * xhat + Offset                                  # y = Scale.*x_hat + Offset
show("y = Scale .* x_hat + Offset, channel 1:", y[:, 0].reshape(N, -1))
print(f"   y per channel: mean {y.mean(axis=AXES)} (= Offset), "
      f"std {y.std(axis=AXES)} (= Scale): the layer chooses its own mean and spread")

# ------------------------------------------------------------------ backward, step by step
print("\n========== BACKWARD for the loss L = sum(G .* y), G random ==========")
# A random G, never all ones: with L = sum(y) the true dx is exactly zero (see below), so a
# wrong backward pass could still "pass" a check that uses sum(y).
G = gen.normal(size=X.shape)                               # dL/dy
show("dL/dy = G, channel 1:", G[:, 0].reshape(N, -1))

dOffset = G.sum(axis=AXES, keepdims=True)                  # y depends on Offset with slope 1
dScale = (G * xhat).sum(axis=AXES, keepdims=True)          # ... and on Scale with slope x_hat
show("dOffset = sum(dL/dy), per channel:", dOffset.ravel())
show("dScale = sum(dL/dy .* x_hat), per channel:", dScale.ravel())

dxhat = G * Scale                                          # dL/dx_hat
show("dL/dx_hat = dL/dy .* Scale, channel 1:", dxhat[:, 0].reshape(N, -1))

# Every x_ij moves mu_B and var_B, and through them every other x_hat of its channel. Those
# two paths subtract the mean of dx_hat and its component along x_hat:
#   dx = 1/sqrt(var_B + eps) .* (dx_hat - mean(dx_hat) - x_hat .* mean(dx_hat .* x_hat))
dx = inv_std * (dxhat - dxhat.mean(axis=AXES, keepdims=True)
                - xhat * (dxhat * xhat).mean(axis=AXES, keepdims=True))
show("dL/dx = (dx_hat - mean(dx_hat) - x_hat.*mean(dx_hat.*x_hat)) / sqrt(var_B + eps), channel 1:",
     dx[:, 0].reshape(N, -1))

# The same dx the long way, through the two intermediate statistics (the classic derivation).
dvar = (dxhat * (X - mu)).sum(axis=AXES, keepdims=True) * -0.5 * (var + epsilon) ** -1.5
dmu = (-dxhat * inv_std).sum(axis=AXES, keepdims=True) + dvar * (-2 / m) * (X - mu).sum(axis=AXES, keepdims=True)
dx_long = dxhat * inv_std + dvar * 2 * (X - mu) / m + dmu / m
print(f"\nThe long way, per channel: dL/dvar_B = {dvar.ravel()}, dL/dmu_B = {dmu.ravel()}")
error_long = np.abs(dx_long - dx).max()
print(f"   max |dx(long way) - dx(compact formula)| = {error_long:.2e}")
assert error_long < 1e-12



def dx_formula(dy):
    dxh = dy * Scale
    return inv_std * (dxh - dxh.mean(axis=AXES, keepdims=True)
                      - xhat * (dxh * xhat).mean(axis=AXES, keepdims=True))


# Two facts that follow from the formula. Per channel, dx sums to zero: adding a constant to
# a whole channel moves mu_B with it and leaves x_hat unchanged. And dx is (almost) orthogonal
# to x_hat: stretching a channel around its mean leaves x_hat unchanged too, exactly so only
# if eps were 0 (eps makes x_hat depend a little on the spread).
print(f"   sum(dx) per channel        = {np.array2string(dx.sum(axis=AXES), formatter={'float': '{:.1e}'.format})}")
print(f"   sum(dx.*x_hat) per channel = {np.array2string((dx * xhat).sum(axis=AXES), formatter={'float': '{:.1e}'.format})}")
# So with L = sum(y), i.e. G all ones, dx_hat = Scale is constant per channel and dx vanishes:
print(f"   for L = sum(y) (G all ones), max |dx| = {np.abs(dx_formula(np.ones_like(G))).max():.1e}: a check "
      f"with sum(y) cannot catch a wrong dx, so the checks below use the random G")

# ------------------------------------------------------------------ check 1: minidl's layer
print("\n========== CHECK 1: minidl's batchNormalizationLayer ==========")
Z, memory = layer.forward(X)                 # training mode; memory holds mu_B and var_B
dX, grads = layer.backward(G, memory)        # gradients of the input and of the learnables
errors = {
    "mu_B": np.abs(memory.mean - mu.ravel()).max(),
    "var_B": np.abs(memory.var - var.ravel()).max(),
    "y": np.abs(Z - y).max(),
    "dx": np.abs(dX - dx).max(),
    "dScale": np.abs(grads["Scale"].ravel() - dScale.ravel()).max(),
    "dOffset": np.abs(grads["Offset"].ravel() - dOffset.ravel()).max(),
}
for name, error in errors.items():
    print(f"   max |layer - by hand| for {name:8s} = {error:.2e}")
assert max(errors.values()) < 1e-10, errors

# ------------------------------------------------------------------ check 2: finite differences
print("\n========== CHECK 2: central finite differences of L = sum(G .* y) ==========")


def loss(X, Scale, Offset):
    """The forward pass above in one function, so it can be perturbed."""
    mu = X.mean(axis=AXES, keepdims=True)
    var = ((X - mu) ** 2).mean(axis=AXES, keepdims=True)
    return np.sum(G * (Scale * (X - mu) / np.sqrt(var + epsilon) + Offset))


def numerical_gradient(f, value, h=1e-6):
    """(f(v + h) - f(v - h)) / 2h for every element of value, one at a time."""
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        saved = value[index]
        value[index] = saved + h
        up = f()
        value[index] = saved - h
        down = f()
        value[index] = saved
        grad[index] = (up - down) / (2 * h)
    return grad


Xp, Sp, Op = X.copy(), Scale.copy(), Offset.copy()
numeric = {"dx": numerical_gradient(lambda: loss(Xp, Sp, Op), Xp),
           "dScale": numerical_gradient(lambda: loss(Xp, Sp, Op), Sp),
           "dOffset": numerical_gradient(lambda: loss(Xp, Sp, Op), Op)}
by_hand = {"dx": dx, "dScale": dScale, "dOffset": dOffset}
layer_grads = {"dx": dX, "dScale": grads["Scale"].reshape(Sp.shape), "dOffset": grads["Offset"].reshape(Op.shape)}
for name in numeric:
    e_hand = np.abs(by_hand[name] - numeric[name]).max()
    e_layer = np.abs(layer_grads[name] - numeric[name]).max()
    print(f"   {name:8s}: max |by hand - numeric| = {e_hand:.2e},  max |layer - numeric| = {e_layer:.2e}")
    assert e_hand < 1e-6 and e_layer < 1e-6, (name, e_hand, e_layer)

# ------------------------------------------------------------------ inference: a.*x + b
print("\n========== INFERENCE: the folded form y = a.*x + b ==========")
# After training, the network no longer looks at batch statistics: it uses TrainedMean and
# TrainedVariance (set by trainNetwork, see examples/bn_statistics.py). Then the whole layer
# is one affine map per channel, which a framework can fold into the convolution before it:
#   a = Scale ./ sqrt(TrainedVariance + eps),   b = Offset - a .* TrainedMean
layer.TrainedMean = np.array([2.5, -0.8], dtype=np.float32).reshape(1, 1, 2)      # 1x1xC, as MATLAB
layer.TrainedVariance = np.array([4.0, 0.25], dtype=np.float32).reshape(1, 1, 2)
TrainedMean, TrainedVariance = per_channel(layer.TrainedMean), per_channel(layer.TrainedVariance)
a = Scale / np.sqrt(TrainedVariance + epsilon)
b = Offset - a * TrainedMean
print(f"   TrainedMean = {TrainedMean.ravel()}, TrainedVariance = {TrainedVariance.ravel()}")
print(f"   a = {a.ravel()},  b = {b.ravel()}")
y_inference = a * X + b
a_layer, b_layer = layer.inference_affine()
error_fold = max(np.abs(a_layer - a.ravel()).max(), np.abs(b_layer - b.ravel()).max())
error_predict = np.abs(layer.predict(X) - y_inference).max()
print(f"   max |layer.inference_affine() - (a, b)| = {error_fold:.2e}")
print(f"   max |layer.predict(X) - (a.*x + b)| = {error_predict:.2e}")
assert error_fold < 1e-12 and error_predict < 1e-12
# With the batch's own statistics as "trained" ones, inference reproduces training mode
# (up to the float32 rounding of the stored statistics): the two modes differ only in
# which mean and variance they use.
layer.TrainedMean = memory.mean.reshape(1, 1, 2).astype(np.float32)       # stored as float32,
layer.TrainedVariance = memory.var.reshape(1, 1, 2).astype(np.float32)    # as trainNetwork does
error_modes = np.abs(layer.predict(X) - y).max()
print(f"   with TrainedMean = mu_B, TrainedVariance = var_B: "
      f"max |predict - training-mode y| = {error_modes:.2e} (float32 rounding of the statistics)")
assert error_modes < 1e-5

# ------------------------------------------------------------------ the figure
# Each channel's 36 values as dots on three number lines: x, then x_hat (mean 0, variance 1),
# then y (mean Offset, standard deviation Scale). The black ticks mark the means.
fig, axes = plt.subplots(1, C, figsize=(10, 3.6), sharey=True)
jitter = np.random.default_rng(1).uniform(-0.15, 0.15, N * H * W)  # spreads the dots vertically
stages = [("x", X), ("x_hat", xhat), ("y", y)]
colors = ["tab:gray", "tab:blue", "tab:orange"]
for c, ax in enumerate(axes):
    for row, ((label, values), color) in enumerate(zip(stages, colors)):
        v = values[:, c].ravel()
        ax.scatter(v, row + jitter, s=14, color=color, alpha=0.8)
        ax.plot([v.mean()] * 2, [row - 0.3, row + 0.3], color="k", lw=2)
    ax.axvline(0, color="k", lw=0.5, ls=":")
    ax.set_yticks(range(len(stages)), [s[0] for s in stages])
    ax.set_title(f"channel {c + 1}: Scale = {Scale.ravel()[c]:g}, Offset = {Offset.ravel()[c]:g}")
    ax.set_xlabel("value")
axes[0].invert_yaxis()                  # x on top (the axes share y, so invert once)
fig.suptitle("Batch norm on one mini-batch (N=4, 3x3): x  ->  x_hat = (x - mu_B)/sqrt(var_B + eps)"
             "  ->  y = Scale.*x_hat + Offset", fontsize=10)
fig.tight_layout()
path = FIGURES / "bn_by_hand.png"
fig.savefig(path, dpi=120)
print(f"\nAll checks passed. Figure: {path}")
