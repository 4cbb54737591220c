"""Training progress: MATLAB's verbose table and a tqdm bar on a terminal."""
import sys
import time

import tqdm

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
    """Prints MATLAB's table (Verbose) and drives a tqdm bar when stderr is a terminal."""

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
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def start(self, messages=()):
        if self.verbose:
            for message in messages:
                self._write(message)
            self._write(self.table.header())

    def due(self, iteration):
        options = self.options
        return (iteration == 1 or iteration % options.VerboseFrequency == 0
                or (self.has_validation and iteration % options.ValidationFrequency == 0))

    def iteration(self, record, force=False):
        if self.plot is not None:
            self.plot.update(record)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(
                f"epoch {record['Epoch']}, loss {format_loss(record['TrainingLoss'])}, "
                f"{self.metric.lower()[:3]} {self.format_metric(record['TrainingMetric'])}, "
                f"lr {format_rate(record['BaseLearnRate'])}")
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
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.verbose:
            if last_record is not None:
                self.iteration_row_if_missing(last_record)
            self._write(self.table.rule())
            self._write(f"Training finished: {reason}.")
        if self.plot is not None:
            if last_record is not None:
                self.plot.add_final_validation(last_record)
            saved = self.plot.finish(reason)
            if saved and self.verbose:
                self._write(f"Training progress plot saved to {saved}.")

    def iteration_row_if_missing(self, record):
        """The final row: printed again if validation was added at the finish."""
        validated = record.get("ValidationLoss") is not None
        if record["Iteration"] != self.last_printed or (validated and not self.last_printed_validated):
            self._write(self.table.row(self._cells(record)))
            self.last_printed = record["Iteration"]
