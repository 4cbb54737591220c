"""``Plots='training-progress'``: MATLAB's two-panel training figure, drawn with matplotlib.

Top: accuracy (or RMSE), bottom: loss; training per iteration, validation as points
joined by a dashed line. Live in an interactive matplotlib session; otherwise the
finished figure is saved as a PNG (``training-progress.png`` in the current folder).
"""
FILENAME = "training-progress.png"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("trainingOptions: Plots='training-progress' needs matplotlib; install it with "
                          "pip install 'minidl[plot]'.") from None
    import matplotlib.pyplot as plt
    return matplotlib, plt


class TrainingPlot:
    def __init__(self, metric, filename=FILENAME):
        matplotlib, self.plt = _pyplot()
        self.live = matplotlib.is_interactive()
        self.metric, self.filename = metric, filename
        self.figure, (self.top, self.bottom) = self.plt.subplots(2, 1, sharex=True, figsize=(9, 6))
        self.top.set_ylabel(f"{metric}{' (%)' if metric == 'Accuracy' else ''}")
        self.bottom.set_ylabel("Loss")
        self.bottom.set_xlabel("Iteration")
        self.data = {key: [] for key in ("it", "metric", "loss", "vit", "vmetric", "vloss")}

    def update(self, record):
        d = self.data
        d["it"].append(record["Iteration"])
        d["metric"].append(record["TrainingMetric"])
        d["loss"].append(record["TrainingLoss"])
        if record.get("ValidationLoss") is not None:
            d["vit"].append(record["Iteration"])
            d["vmetric"].append(record["ValidationMetric"])
            d["vloss"].append(record["ValidationLoss"])
        if self.live:
            self.draw()
            self.plt.pause(0.001)

    def add_final_validation(self, record):
        """Validation computed at the finish (after an early stop) joins the plot."""
        d = self.data
        if record.get("ValidationLoss") is not None and (not d["vit"] or d["vit"][-1] != record["Iteration"]):
            d["vit"].append(record["Iteration"])
            d["vmetric"].append(record["ValidationMetric"])
            d["vloss"].append(record["ValidationLoss"])

    def draw(self, title=""):
        d = self.data
        for axes, train, valid in ((self.top, d["metric"], d["vmetric"]), (self.bottom, d["loss"], d["vloss"])):
            axes.clear()
            axes.plot(d["it"], train, color="tab:blue", linewidth=1, label="Training")
            if valid:
                axes.plot(d["vit"], valid, "o--", color="black", markersize=3, linewidth=1, label="Validation")
            axes.grid(True, alpha=0.3)
            axes.legend(loc="best")
        self.top.set_ylabel(f"{self.metric}{' (%)' if self.metric == 'Accuracy' else ''}")
        self.bottom.set_ylabel("Loss")
        self.bottom.set_xlabel("Iteration")
        if title:
            self.top.set_title(title)

    def finish(self, reason):
        self.draw(f"Training finished: {reason}")
        if self.live:
            self.plt.show(block=False)
            return None
        self.figure.savefig(self.filename, dpi=100, bbox_inches="tight")
        self.plt.close(self.figure)
        return self.filename
