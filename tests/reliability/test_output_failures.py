"""Progress output that fails never costs the trained network (issue 10), each case in a
child process: a verbose table piped into a reader that goes away, a training-progress
plot that cannot be saved, an OutputFcn that raises. Each becomes one warning; the child
exits normally, without a traceback, and saves a network that predicts."""
import subprocess
import sys

from training_fault_cases import child_environment, exited_cleanly, result, run


def test_verbose_table_into_a_closed_pipe_stops_the_table_not_training(tmp_path):
    """As ``python train.py | head -3``: the reader closes the pipe after 3 lines (the
    child's OutputFcn waits for that at State 'start'); training goes on to the end, and
    the script's own later prints do not fail either."""
    (tmp_path / "child.py").write_text("""from training_fault_cases import *
import time
def wait_for_the_reader_to_go(info):
    deadline = time.monotonic() + 30
    while info.State == "start" and not os.path.exists("closed") and time.monotonic() < deadline:
        time.sleep(0.01)
X, Y = data()
net, info = minidl.trainNetwork(X, Y, layers(), options(Verbose=True, VerboseFrequency=1, OutputFcn=wait_for_the_reader_to_go))
report(net, info)
print("a print of the script after training")
""")
    child = subprocess.Popen([sys.executable, "child.py"], cwd=tmp_path, env=child_environment(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    head = [child.stdout.readline() for _ in range(3)]
    child.stdout.close()
    (tmp_path / "closed").touch()
    err = child.stderr.read()
    child.wait(timeout=60)
    assert head[0] == "Training on single CPU.\n"
    exited_cleanly(subprocess.CompletedProcess(child.args, child.returncode, "", err))
    assert "the verbose output could not be written (BrokenPipeError" in err and err.count("Warning") == 1
    assert result(tmp_path)[1] == {"StopReason": "Max epochs completed", "iterations": 8,
                                   "OutputNetworkIteration": 8}


def test_training_progress_plot_that_cannot_be_saved_is_a_warning(tmp_path):
    """A folder named like the figure stands in the way (a read-only folder does the
    same, but not for root, who may write anywhere)."""
    (tmp_path / "training-progress.png").mkdir()
    process = run(tmp_path, """
        X, Y = data()
        net, info = minidl.trainNetwork(X, Y, layers(), options(Plots="training-progress"))
        report(net, info)
    """)
    exited_cleanly(process)
    assert "the training-progress plot failed (IsADirectoryError" in process.stderr
    assert result(tmp_path)[1]["StopReason"] == "Max epochs completed"


def test_output_function_that_raises_becomes_a_warning(tmp_path):
    """At State 'done' the trained network is returned with a warning; during training the
    exception stops training like a returned true, with a warning; at 'start' (nothing
    trained yet) it goes to the caller."""
    process = run(tmp_path, """
        X, Y = data()
        def at_done(info):
            if info.State == "done":
                raise ValueError("cannot write the report")
        def at_three(info):
            if info.Iteration == 3:
                1 / 0
        net, info = minidl.trainNetwork(X, Y, layers(), options(OutputFcn=at_done))
        report(net, info, "done")
        net, info = minidl.trainNetwork(X, Y, layers(), options(OutputFcn=at_three))
        report(net, info, "three")
        try:
            minidl.trainNetwork(X, Y, layers(), options(OutputFcn=lambda info: 1 / 0))
        except ZeroDivisionError:
            print("start: raised", file=sys.stderr)
    """)
    exited_cleanly(process)
    assert ("OutputFcn at_done raised ValueError: cannot write the report (at the end of training); the trained "
            "network is returned") in process.stderr
    assert result(tmp_path, "done")[1]["StopReason"] == "Max epochs completed"
    assert "training stopped, and the network is finalized and returned" in process.stderr
    assert result(tmp_path, "three")[1] == {
        "StopReason": "OutputFcn at_three raised ZeroDivisionError: division by zero at iteration 3",
        "iterations": 3, "OutputNetworkIteration": 3}
    assert "start: raised" in process.stderr
