"""Training progress: MATLAB's verbose table, a tqdm bar on a terminal, the training plot
and the OutputFcn calls.

None of them can lose a trained network: a table that cannot be written (a closed pipe, a
full disk), a bar or a plot that fails, become one warning each and training goes on
without them; an OutputFcn that raises after the start becomes a warning too.
"""
import os
import sys
import time
import warnings

import numpy as np
import tqdm

from ..struct import Struct

def _columns(metric):
    return [("Epoch", ""), ("Iteration", ""), ("Time Elapsed", "(hh:mm:ss)"), ("Mini-batch", metric),
            ("Validation", metric), ("Mini-batch", "Loss"), ("Validation", "Loss"), ("Base Learning", "Rate")]


def format_time(seconds):
    """hh:mm:ss, as MATLAB's Time Elapsed column."""
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_loss(value):
    """'%.4f', or '%e' when value ≥ 1e6 or < 1e-4 (MATLAB's loss and RMSE columns)."""
    if value != value:
        return "NaN"
    return f"{value:e}" if (abs(value) >= 1e6 or abs(value) < 1e-4) else f"{value:.4f}"


def format_rate(value):
    """'%.4f', or '%e' when value < 1e-4 (MATLAB's Base Learning Rate column)."""
    return f"{value:e}" if value < 1e-4 else f"{value:.4f}"


def format_accuracy(value):
    return f"{value:.2f}%"


class VerboseTable:
    """MATLAB's command-window table: a row at iteration 1, at multiples of VerboseFrequency
    (or ValidationFrequency when validating), and a final row if the last was not printed."""

    def __init__(self, has_validation, metric="Accuracy"):
        self.columns = [c for c in _columns(metric) if has_validation or c[0] != "Validation"]
        self.widths = [max(len(top), len(bottom)) + 4 for top, bottom in self.columns]
        self.widths[0] = max(self.widths[0], 9)

    def rule(self):
        return "|" + "=" * (sum(self.widths) + len(self.widths) - 1) + "|"

    def header(self):
        lines = [self.rule()]
        for row in (0, 1):
            cells = [c[row].center(w) for c, w in zip(self.columns, self.widths)]
            lines.append("|" + "|".join(cells) + "|")
        lines.append(self.rule())
        return "\n".join(lines)

    def row(self, values):
        cells = [f"{v} ".rjust(w) for v, w in zip(values, self.widths)]
        return "|" + "|".join(cells) + "|"


class Progress:
    """Prints MATLAB's table (Verbose), drives a tqdm bar when stderr is a terminal and the
    training plot (Plots='training-progress')."""

    def __init__(self, options, has_validation, total_iterations, metric="Accuracy", stream=None):
        self.options = options
        self.verbose = options.Verbose
        self.has_validation = has_validation
        self.metric = metric
        self.format_metric = format_accuracy if metric == "Accuracy" else format_loss
        self.table = VerboseTable(has_validation, metric)
        self.stream = stream or sys.stdout
        self.start_time = time.perf_counter()
        self.last_printed, self.last_printed_validated = 0, False
        self.bar = None
        self.plot = None
        if options.Plots == "training-progress":
            from .plot import TrainingPlot
            self.plot = TrainingPlot(metric)
        if sys.stderr.isatty():
            self.bar = tqdm.tqdm(total=total_iterations, unit="it", leave=False, dynamic_ncols=True)

    def elapsed(self):
        return time.perf_counter() - self.start_time

    def _write(self, text):
        if not self.verbose:
            return
        try:
            if self.bar is not None:
                self.bar.write(text, file=self.stream)
            else:
                print(text, file=self.stream, flush=True)
        except OSError as error:
            self.verbose = False
            if isinstance(error, BrokenPipeError):
                _discard_output(self.stream)
            _warn(f"the verbose output could not be written ({type(error).__name__}: {error}); training goes on "
                  f"without it")

    def _bar(self, method, *args):
        """Call a method of the tqdm bar; a bar that fails (stderr closed) is dropped."""
        if self.bar is None:
            return
        try:
            getattr(self.bar, method)(*args)
        except OSError:
            self.bar = None

    def _plot(self, method, *args):
        """Call a method of the training plot; a plot that fails becomes a warning and stops."""
        if self.plot is None:
            return None
        try:
            return getattr(self.plot, method)(*args)
        except Exception as error:  # matplotlib or the file system: never worth a trained network
            self.plot = None
            _warn(f"the training-progress plot failed ({type(error).__name__}: {error}); training goes on "
                  f"without it. Run from a folder you can write to, or use Plots='none'")
        return None

    def start(self, messages=()):
        for message in messages:
            self._write(message)
        self._write(self.table.header())

    def due(self, iteration):
        options = self.options
        return (iteration == 1 or iteration % options.VerboseFrequency == 0
                or (self.has_validation and iteration % options.ValidationFrequency == 0))

    def iteration(self, record, reading=None, force=False):
        """One iteration's row (when due), bar step and plot point. ``reading``, when training
        reads a datastore: (observations per second delivered, fraction of the time spent
        waiting for them), shown in the bar."""
        self._plot("update", record)
        self._bar("update", 1)
        self._bar("set_postfix_str", bar_postfix(record, self.metric, self.format_metric, reading))
        if self.verbose and (force or self.due(record["Iteration"])) and record["Iteration"] != self.last_printed:
            self._write(self.table.row(self._cells(record)))
            self.last_printed = record["Iteration"]
            self.last_printed_validated = record.get("ValidationLoss") is not None

    def _cells(self, record):
        cells = [str(record["Epoch"]), str(record["Iteration"]), format_time(record["TimeSinceStart"]),
                 self.format_metric(record["TrainingMetric"])]
        validation_metric = record.get("ValidationMetric")
        validation_loss = record.get("ValidationLoss")
        if self.has_validation:
            cells.append("" if validation_metric is None else self.format_metric(validation_metric))
        cells.append(format_loss(record["TrainingLoss"]))
        if self.has_validation:
            cells.append("" if validation_loss is None else format_loss(validation_loss))
        cells.append(format_rate(record["BaseLearnRate"]))
        return cells

    def finish(self, last_record, reason):
        self._bar("close")
        self.bar = None
        if last_record is not None:
            self.iteration_row_if_missing(last_record)
        self._write(self.table.rule())
        self._write(f"Training finished: {reason}.")
        if last_record is not None:
            self._plot("add_final_validation", last_record)
        saved = self._plot("finish", reason)
        if saved:
            self._write(f"Training progress plot saved to {saved}.")

    def iteration_row_if_missing(self, record):
        """The final row: printed again if validation was added at the finish."""
        validated = record.get("ValidationLoss") is not None
        if record["Iteration"] != self.last_printed or (validated and not self.last_printed_validated):
            self._write(self.table.row(self._cells(record)))
            self.last_printed = record["Iteration"]


def bar_postfix(record, metric, format_metric, reading=None):
    """The tqdm bar's text: epoch, loss, metric, learning rate and, reading a datastore, its
    throughput and the share of time training waited for data.

    >>> bar_postfix(dict(Epoch=1, TrainingLoss=0.5, TrainingMetric=75.0, BaseLearnRate=0.01), "Accuracy",
    ...             format_accuracy, (1234.4, 0.031))
    'epoch 1, loss 0.5000, acc 75.00%, lr 0.0100, read 1234 obs/s, waiting 3%'
    """
    text = (f"epoch {record['Epoch']}, loss {format_loss(record['TrainingLoss'])}, "
            f"{metric.lower()[:3]} {format_metric(record['TrainingMetric'])}, lr {format_rate(record['BaseLearnRate'])}")
    if reading is not None:
        text += f", read {reading[0]:.0f} obs/s, waiting {reading[1]:.0%}"
    return text


def _warn(text):
    warnings.warn(f"trainNetwork: {text}.", RuntimeWarning, stacklevel=2)


def _discard_output(stream):
    """After a broken pipe nothing can be written to ``stream`` again: point its file
    descriptor at os.devnull, so that Python's flush at exit does not fail once more
    (the recipe of Python's signal documentation, "Note on SIGPIPE")."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


OUTPUT_FIELDS = ("Epoch", "Iteration", "TimeSinceStart", "TrainingLoss", "ValidationLoss", "BaseLearnRate",
                 "TrainingAccuracy", "TrainingRMSE", "ValidationAccuracy", "ValidationRMSE", "State")


def output_functions(functions, record, metric):
    """Call every OutputFcn with MATLAB's info struct; returns a stop reason or None.

    A logical or numeric true stops training. An exception at State 'start' goes to the
    caller (nothing is trained yet); later it becomes a warning and, during training, stops
    it like a true: a failing OutputFcn never costs the trained network."""
    info = Struct(dict.fromkeys(OUTPUT_FIELDS))
    for key, value in record.items():
        key = key.replace("Metric", metric)
        if key in info:
            info[key] = value
    reason = None
    for function in functions or []:
        try:
            result = function(info)
        except Exception as error:
            if info.State == "start":
                raise
            failure = f"OutputFcn {getattr(function, '__name__', repr(function))} raised {type(error).__name__}: {error}"
            at = "at the end of training" if info.State == "done" else f"at iteration {info.Iteration}"
            _warn(f"{failure} ({at}); " + ("the trained network is returned" if info.State == "done" else
                                           "training stopped, and the network is finalized and returned"))
            reason = reason or f"{failure} {at}"
            continue
        # Anything else (None, a plot handle) does not stop training.
        if isinstance(result, (bool, np.bool_, int, float, np.number)) and bool(result):
            reason = reason or "Stopped by OutputFcn"
    return reason
