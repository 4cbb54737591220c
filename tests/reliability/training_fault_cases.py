"""Shared by the training fault tests: tiny data and networks, a Hook layer that acts at a
chosen moment (poison a value, send this process SIGINT), and a runner for child processes.

A child script starts with ``from training_fault_cases import *`` and ends with
``report(net, info)``, which saves the network and a summary for the test to check.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import numpy as np

import minidl

ROOT = pathlib.Path(minidl.__file__).resolve().parents[1]
HERE = pathlib.Path(__file__).resolve().parent

# What the Hook layers do at the next calls of each method, in order: None (nothing),
# "sigint" (send this process SIGINT), or a number to multiply the values with.
ACTIONS = {}


class Hook(minidl.Layer):
    """Passes values through, in both directions, until ACTIONS tells it otherwise."""

    def predict(self, X):
        return _act("predict", X)

    def forward(self, X):
        return _act("forward", X), minidl.Memory()

    def backward(self, dLdZ, memory):
        return _act("backward", dLdZ), {}


class StatefulHook(Hook):
    """A Hook with state, updated after the solver step ('moving' statistics): its
    ``moving_state`` acts too, at the last moment of an iteration."""

    state_names = ("Calls",)

    def __init__(self, Name=""):
        super().__init__(Name)
        self.Calls = None

    def initial_state(self):
        return {"Calls": np.zeros(1)}

    def moving_state(self, memory):
        return {"Calls": _act("moving_state", self.Calls + 1)}


def _act(method, values):
    queue = ACTIONS.get(method)
    if not queue:
        return values
    action = queue.pop(0)
    if action == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
        return values
    return values if action is None else values * np.float32(action)


def arm(iteration, state="iteration", **actions):
    """An OutputFcn that sets the Hook's actions after ``iteration`` (or at ``state``)."""
    def output_function(info):
        if info.State == state and (state != "iteration" or info.Iteration == iteration):
            ACTIONS.update({method: list(queue) for method, queue in actions.items()})
    return output_function


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    X = rng.random((6, 6, 1, n)).astype(np.float32)
    X[:3, :, 0, labels == 1] += 1.0
    return X, labels


def layers(path="fused"):
    """conv → Hook → batch norm and an activation: 'fused' (BN+ReLU, one plan step),
    'relu-first' (ReLU, then BN) or 'leaky' (BN, leaky ReLU): two unfused paths."""
    middle = {"fused": [minidl.batchNormalizationLayer(), minidl.reluLayer()],
              "relu-first": [minidl.reluLayer(), minidl.batchNormalizationLayer()],
              "leaky": [minidl.batchNormalizationLayer(), minidl.leakyReluLayer()]}[path]
    return [minidl.imageInputLayer([6, 6, 1]), minidl.convolution2dLayer(3, 4, Padding="same"), Hook(Name="hook"),
            *middle, minidl.fullyConnectedLayer(2), minidl.softmaxLayer(), minidl.classificationLayer()]


def options(solver="sgdm", **kwargs):
    """8 observations a mini-batch: 4 iterations an epoch, 8 in all."""
    return minidl.trainingOptions(solver, **{"MaxEpochs": 2, "MiniBatchSize": 8, "Verbose": False, **kwargs})


def finite_values(net):
    """{layer.property: array} of every learnable and state value; all must be finite."""
    values = {}
    for layer in net.Layers:
        for name in (*layer.learnables, *layer.state_names):
            value = getattr(layer, name)
            assert value is not None and np.isfinite(value).all(), f"{layer.Name}.{name} = {value}"
            values[f"{layer.Name}.{name}"] = value
    return values


def report(net, info, name="result"):
    """In a child: save the network and a summary of ``info`` for the test."""
    minidl.save(f"{name}.npz", net)
    summary = {"StopReason": info.StopReason, "iterations": len(info.TrainingLoss),
               "OutputNetworkIteration": info.OutputNetworkIteration}
    pathlib.Path(f"{name}.json").write_text(json.dumps(summary))


# ---- the parent's side --------------------------------------------------------------------
def run(tmp_path, body, timeout=120):
    """Run ``body`` (after ``from training_fault_cases import *``) in a fresh Python in
    ``tmp_path``; returns the CompletedProcess."""
    script = tmp_path / "child.py"
    script.write_text("from training_fault_cases import *\n" + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=child_environment(),
                          capture_output=True, text=True, timeout=timeout)


def child_environment():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]), MPLBACKEND="Agg")


def exited_cleanly(process):
    assert process.returncode == 0, process.stderr[-3000:]
    assert "Traceback" not in process.stderr and "Exception ignored" not in process.stderr, process.stderr[-3000:]


def result(tmp_path, name="result", custom=None):
    """(network, summary) a child saved with ``report``; the network must predict finite scores."""
    custom = custom or {"Hook": Hook, "StatefulHook": StatefulHook}
    net = minidl.load(tmp_path / f"{name}.npz", CustomLayers=custom).net
    finite_values(net)
    X, labels = data()
    predicted, scores = minidl.classify(net, X)
    assert np.isfinite(scores).all() and predicted.shape == labels.shape
    return net, json.loads((tmp_path / f"{name}.json").read_text())
