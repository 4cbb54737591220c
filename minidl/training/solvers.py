"""Solvers, L2 regularization and gradient thresholding, exactly as MATLAB (reference §2.4–2.6).

Each learnable p has a global learning rate α and its own ``α_p = α · LearnRateFactor_p``.
A learnable with LearnRateFactor 0 is frozen: no L2, no state change, no step.
"""
import numpy as np


class SGDM:
    """``v ← Momentum·v − α_p·g;  θ ← θ + v`` (the velocity includes the learning rate)."""

    state = {"velocity": 1}  # per-learnable state: field -> arrays per learnable (checkpoints)

    def __init__(self, options):
        self.momentum = options.Momentum
        self.velocity = {}

    def step(self, key, theta, grad, rate):
        v = self.velocity.get(key)
        v = -rate * grad if v is None else self.momentum * v - rate * grad
        self.velocity[key] = v
        return theta + v


class Adam:
    """``m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
    θ ← θ − α_p·sqrt(1−β2ᵗ)/(1−β1ᵗ) · m / (sqrt(v) + ε)``, t counting iterations."""

    state = {"moments": 2}

    def __init__(self, options):
        self.beta1 = options.GradientDecayFactor
        self.beta2 = options.SquaredGradientDecayFactor
        self.epsilon = options.Epsilon
        self.moments, self.iteration = {}, 0

    def begin_iteration(self):
        self.iteration += 1

    def step(self, key, theta, grad, rate):
        m, v = self.moments.get(key, (0.0, 0.0))
        m = self.beta1 * m + (1 - self.beta1) * grad
        v = self.beta2 * v + (1 - self.beta2) * grad * grad
        self.moments[key] = (m, v)
        t = self.iteration
        rate_t = rate * np.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        return theta - rate_t * m / (np.sqrt(v) + self.epsilon)


class RMSProp:
    """``s ← ρ·s + (1−ρ)·g²;  θ ← θ − α_p·g / (sqrt(s) + ε)``."""

    state = {"squares": 1}

    def __init__(self, options):
        self.rho = options.SquaredGradientDecayFactor
        self.epsilon = options.Epsilon
        self.squares = {}

    def step(self, key, theta, grad, rate):
        s = self.squares.get(key, 0.0)
        s = self.rho * s + (1 - self.rho) * grad * grad
        self.squares[key] = s
        return theta - rate * grad / (np.sqrt(s) + self.epsilon)


SOLVER_CLASSES = {"sgdm": SGDM, "adam": Adam, "rmsprop": RMSProp}


def make_solver(options):
    return SOLVER_CLASSES[options.SolverName](options)


def threshold(gradients, method, limit):
    """Clip gradients (a dict key → array) in place of MATLAB's GradientThreshold.

    'l2norm': each array with ‖g‖₂ > T is scaled by T/‖g‖₂. 'global-l2norm': all arrays are
    scaled by T/L when L = sqrt(Σ‖g‖²) > T. 'absolute-value': each element clipped to [−T, T].
    """
    if not np.isfinite(limit):
        return gradients
    if method == "l2norm":
        for key, g in gradients.items():
            norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
            if norm > limit:
                gradients[key] = g * (limit / norm)
    elif method == "global-l2norm":
        norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in gradients.values())))
        if norm > limit:
            for key in gradients:
                gradients[key] = gradients[key] * (limit / norm)
    else:
        for key in gradients:
            gradients[key] = np.clip(gradients[key], -limit, limit)
    return gradients


def update_learnables(net, grads, solver, options, learn_rate):
    """One MATLAB parameter update: L2, thresholding, then the solver step, per learnable."""
    if hasattr(solver, "begin_iteration"):
        solver.begin_iteration()
    selected = {}
    for key, weights, grad, (rate_factor, l2_factor) in net.learnables(grads):
        if rate_factor == 0:
            continue
        if options.L2Regularization and l2_factor:
            grad = grad + (options.L2Regularization * l2_factor) * weights
        selected[key] = (weights, grad, rate_factor)
    clipped = threshold({key: g for key, (_, g, _) in selected.items()},
                        options.GradientThresholdMethod, options.GradientThreshold)
    for key, (theta, _, rate_factor) in selected.items():
        new = solver.step(key, theta, clipped[key], learn_rate * rate_factor)
        net.set_learnable(key, new.astype(theta.dtype, copy=False))
