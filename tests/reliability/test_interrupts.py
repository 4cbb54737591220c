"""Ctrl-C never costs the trained network (issue 10), each case in a child process.

The Hook layer (training_fault_cases.py) sends its own process SIGINT at a chosen call:
a forward or backward pass of an iteration, a validation, the final 'population' pass.
The child must exit normally, without a traceback, and save a network that predicts.
"""
import signal
import subprocess
import sys
import time

import numpy as np

from training_fault_cases import Hook, child_environment, exited_cleanly, result, run


def test_ctrl_c_in_an_iteration_stops_after_it(tmp_path):
    process = run(tmp_path, """
        X, Y = data()
        net, info = minidl.trainNetwork(X, Y, layers(), options(OutputFcn=arm(2, forward=["sigint"])))
        report(net, info)
    """)
    exited_cleanly(process)
    net, summary = result(tmp_path)
    assert summary == {"StopReason": "Stopped manually (Ctrl-C)", "iterations": 3, "OutputNetworkIteration": 3}


def test_second_ctrl_c_interrupts_at_once_and_undoes_the_iteration(tmp_path):
    """Ctrl-C in the forward pass of iteration 3, again at its very end (a layer's state
    update, after the solver step): the update of iteration 3 is undone, so the network
    equals a run stopped after iteration 2."""
    process = run(tmp_path, """
        X, Y = data()
        def stateful():
            result = layers()
            result[2] = StatefulHook(Name="hook")
            return result
        common = dict(BatchNormalizationStatistics="moving")
        minidl.rng(0)
        net, info = minidl.trainNetwork(X, Y, stateful(), options(**common,
            OutputFcn=arm(2, forward=["sigint"], moving_state=["sigint"])))
        report(net, info)
        minidl.rng(0)
        net, info = minidl.trainNetwork(X, Y, stateful(), options(**common, OutputFcn=lambda i: i.Iteration == 2))
        report(net, info, "reference")
    """)
    exited_cleanly(process)
    net, summary = result(tmp_path)
    reference, _ = result(tmp_path, "reference")
    assert summary == {"StopReason": "Stopped manually (Ctrl-C)", "iterations": 2, "OutputNetworkIteration": 2}
    for a, b in zip(net.Layers, reference.Layers):
        for name in (*a.learnables, *a.state_names):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=f"{a.Name}.{name}")
    assert net.Layers[2].Calls[0] == 2


def test_ctrl_c_twice_during_validation_still_validates_and_returns(tmp_path):
    process = run(tmp_path, """
        X, Y = data()
        net, info = minidl.trainNetwork(X, Y, layers(), options(
            BatchNormalizationStatistics="moving", ValidationData=data(8, seed=1), ValidationFrequency=2,
            OutputFcn=arm(3, predict=["sigint", "sigint"])))
        assert np.isfinite(info.ValidationLoss[3]) and np.isfinite(info.FinalValidationLoss)
        report(net, info)
    """)
    exited_cleanly(process)
    _, summary = result(tmp_path)
    assert summary == {"StopReason": "Stopped manually (Ctrl-C)", "iterations": 4, "OutputNetworkIteration": 4}


def test_ctrl_c_in_the_population_pass_keeps_the_batches_done(tmp_path):
    """Twice in the final 'population' pass (4 mini-batches): the pass stops after its
    first mini-batch; the statistics come from those 8 observations, with a warning."""
    process = run(tmp_path, """
        X, Y = data()
        net, info = minidl.trainNetwork(X, Y, layers(), options(OutputFcn=arm(8, forward=["sigint", "sigint"])))
        batchnorm = next(layer for layer in net.Layers if layer.Name == "batchnorm")
        report(net, info)
    """)
    exited_cleanly(process)
    assert "the batch-normalization statistics come from 8 of 32 training observations" in process.stderr
    _, summary = result(tmp_path)
    assert summary == {"StopReason": "Max epochs completed; 'population' statistics pass stopped manually after 1 "
                                     "of 4 mini-batches", "iterations": 8, "OutputNetworkIteration": 8}


def test_ctrl_c_at_done_is_ignored(tmp_path):
    process = run(tmp_path, """
        X, Y = data()
        net, info = minidl.trainNetwork(X, Y, layers(), options(
            OutputFcn=lambda i: i.State == "done" and os.kill(os.getpid(), signal.SIGINT)))
        report(net, info)
    """)
    exited_cleanly(process)
    assert result(tmp_path)[1]["StopReason"] == "Max epochs completed"


def test_ctrl_c_pressed_twice_from_outside(tmp_path):
    """The issue's reproducer: two Ctrl-C 0.3 s apart, from another process. Each forward
    pass of the Hook takes 0.1 s, so the second one lands in the final 'population' pass
    (4 mini-batches), unless the machine is slow, when it lands in the iteration."""
    (tmp_path / "child.py").write_text("""from training_fault_cases import *
import sys, time

class Slow(Hook):
    def forward(self, X):
        time.sleep(0.1)
        return super().forward(X)

def started(info):
    if info.State == "iteration" and info.Iteration == 1:
        print("training", file=sys.stderr, flush=True)

X, Y = data()
slow = layers()
slow[2] = Slow(Name="hook")
net, info = minidl.trainNetwork(X, Y, slow, options(MaxEpochs=100, OutputFcn=started))
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the test is about trainNetwork, not about this script
report(net, info)
""")
    child = subprocess.Popen([sys.executable, "child.py"], cwd=tmp_path, env=child_environment(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stderr.readline() == "training\n"
    child.send_signal(signal.SIGINT)
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    exited_cleanly(subprocess.CompletedProcess(child.args, child.returncode, out, err))
    _, summary = result(tmp_path, custom={"Slow": Hook})
    assert summary["StopReason"].startswith("Stopped manually (Ctrl-C)")
    assert 1 <= summary["iterations"] == summary["OutputNetworkIteration"] < 400


class _KernelInterrupted(Hook):
    """Raises, in the backward pass of iteration 3, what a Ctrl-C landing as a Numba
    kernel returns looks like in Python (or, with ``cause=None``, an unrelated SystemError)."""

    calls, cause = 0, KeyboardInterrupt

    def backward(self, dLdZ, memory):
        type(self).calls += 1
        if type(self).calls == 3:
            error = SystemError("CPUDispatcher(<function _backward_nchw>) returned a result with an exception set")
            if self.cause is not None:
                raise error from self.cause()
            raise error
        return dLdZ, {}


def test_ctrl_c_inside_a_kernel_counts_as_ctrl_c():
    """The interrupted iteration is undone and the network of iteration 2 returned, as for
    a KeyboardInterrupt; any other SystemError propagates."""
    import minidl
    from training_fault_cases import data, layers, options

    def network(hook):
        result = layers()
        result[2] = hook
        return result

    X, Y = data()
    minidl.rng(0)
    net, info = minidl.trainNetwork(X, Y, network(_KernelInterrupted(Name="hook")), options())
    assert info.StopReason == "Stopped manually (Ctrl-C)" and len(info.TrainingLoss) == 2
    minidl.rng(0)
    reference, _ = minidl.trainNetwork(X, Y, layers(), options(MaxEpochs=1, OutputFcn=lambda i: i.Iteration == 2))
    for ours, theirs in zip(net.Layers, reference.Layers):
        for name in ours.learnables:
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
    _KernelInterrupted.calls, _KernelInterrupted.cause = 0, None
    try:
        minidl.trainNetwork(X, Y, network(_KernelInterrupted(Name="hook")), options())
    except SystemError as error:
        assert "exception set" in str(error)
    else:
        raise AssertionError("an unrelated SystemError must propagate")
