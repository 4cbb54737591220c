"""``info.Probe``: what a training probe recorded, and its plots (matplotlib, the ``plot`` extra).

Plots (each returns a matplotlib Figure; save it with ``figure.savefig(...)``):

- ``"histograms"``: per layer, the distribution of its activations over training, an image
  with the iteration across and the value up, shaded by the fraction of the mini-batch in
  each bin (log scale); the recorded percentiles drawn over it;
- ``"gradient-histograms"``: the same for the gradients dL/dZ;
- ``"distribution"``: the histogram of every layer at one iteration, overlaid (the view of
  Karpathy's makemore lecture on batch normalization), with mean and std in the legend;
- ``"percentiles"``: the recorded percentiles of each layer's activations over iterations
  (Ioffe & Szegedy 2015, Figure 1(b, c));
- ``"gradients"``: the RMS of dL/dZ per layer over iterations;
- ``"ratios"``: log10 of the update-to-weight ratio per learnable over iterations, with the
  rule-of-thumb level 10⁻³ dashed.
"""
import numpy as np

from ..options import OptionError, choice, received
from ..struct import Struct

KINDS = ("histograms", "gradient-histograms", "distribution", "percentiles", "gradients", "ratios")


class ProbeRecording(Struct):
    """``Iteration`` (the recorded iterations), ``Activations[layer]`` (Mean, Std, RMS,
    Percentiles, Histogram, BinEdges, GradientRMS, GradientHistogram, GradientBinEdges: one
    row per recorded iteration), ``Learnables["layer/Name"]`` (RMS, GradientRMS, UpdateRatio),
    ``Percentiles`` (the levels), ``Probe`` (the configuration) and ``TimeSpent`` (seconds the
    probe added to training)."""

    def __init__(self, iterations, activations, learnables, probe, seconds):
        super().__init__(Iteration=iterations, Activations=activations, Learnables=learnables,
                         Percentiles=np.array(probe.Percentiles), Probe=probe, TimeSpent=seconds)

    def __repr__(self):
        return (f"ProbeRecording: {len(self.Iteration)} iterations of {len(self.Activations)} layers "
                f"({', '.join(self.Activations)}) and {len(self.Learnables)} learnables; "
                f"{self.TimeSpent:.2f} s spent recording")

    def plot(self, kind="histograms", Layers=None, Iteration=None):
        """``figure = info.Probe.plot(kind, Layers=None, Iteration=None)``: ``kind`` one of
        'histograms', 'gradient-histograms', 'distribution', 'percentiles', 'gradients',
        'ratios' (see the module docstring); ``Layers`` a list of names (default: all
        recorded); ``Iteration`` the recorded iteration 'distribution' shows (default: the
        last)."""
        kind = choice("ProbeRecording.plot", "kind", kind, KINDS)
        names = list(self.Activations) if Layers is None else Layers
        if isinstance(names, str):
            names = [names]
        unknown = [n for n in names if n not in self.Activations]
        if unknown or not names:
            raise OptionError(f"ProbeRecording.plot: Layers must name recorded layers ({', '.join(self.Activations)}); "
                              f"received {received(Layers)}.")
        if len(self.Iteration) == 0:
            raise ValueError("ProbeRecording.plot: nothing was recorded (training stopped before iteration 1).")
        plt = _pyplot()
        if kind in ("histograms", "gradient-histograms"):
            return self._histograms(plt, names, gradients=kind == "gradient-histograms")
        if kind == "distribution":
            return self._distribution(plt, names, Iteration)
        figure, axes = plt.subplots(figsize=(8, 4.5))
        if kind == "ratios":
            for label, values in self.Learnables.items():
                if label.split("/")[0] in names:
                    with np.errstate(divide="ignore"):
                        axes.plot(self.Iteration, np.log10(values.UpdateRatio), label=label)
            axes.axhline(-3, color="black", linestyle="--", linewidth=1, label="10⁻³ (rule of thumb)")
            axes.set_ylabel("log10(‖ΔW‖ / ‖W‖)")
            axes.set_title("Update-to-weight ratio per learnable")
        elif kind == "gradients":
            for name in names:
                axes.semilogy(self.Iteration, self.Activations[name].GradientRMS, label=name)
            axes.set_ylabel("RMS of dL/dZ")
            axes.set_title("Gradient of each layer's output")
        else:
            for name, color in zip(names, _colors(plt, len(names))):
                rows = self.Activations[name].Percentiles
                for k, level in enumerate(self.Percentiles):
                    axes.plot(self.Iteration, rows[:, k], color=color, linewidth=1,
                              label=f"{name}" if k == 0 else None, alpha=0.4 + 0.6 * (k + 1) / len(self.Percentiles))
            levels = "/".join(f"{p:g}" for p in self.Percentiles)
            axes.set_ylabel(f"activation value ({levels}th percentiles)")
            axes.set_title("Percentiles of each layer's output over training")
        axes.set_xlabel("Iteration")
        axes.grid(True, alpha=0.3)
        axes.legend(loc="best", fontsize="small")
        figure.tight_layout()
        return figure

    def _histograms(self, plt, names, gradients):
        prefix = "Gradient" if gradients else ""
        columns = min(3, len(names))
        rows = -(-len(names) // columns)
        figure, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
        iterations = self.Iteration
        for axes, name in zip(grid.flat, names):
            record = self.Activations[name]
            counts, edges = record[prefix + "Histogram"], record[prefix + "BinEdges"]
            low, high = np.nanmin(edges), np.nanmax(edges)
            if not np.isfinite(low):
                axes.set_title(f"{name}: no values")
                continue
            grid_edges = np.linspace(low, high, counts.shape[1] + 1) if high > low else np.array([low - 0.5, low + 0.5])
            image = np.array([_rebin(c, e, grid_edges) for c, e in zip(counts, edges)]).T
            x = np.append(iterations, iterations[-1] + max(1, self.Probe.Frequency)) if len(iterations) else iterations
            shown = np.ma.masked_less_equal(image, 0)
            mesh = axes.pcolormesh(x, grid_edges, shown, shading="flat", cmap="viridis",
                                   norm=_log_norm(shown))
            figure.colorbar(mesh, ax=axes, label="fraction of values")
            if not gradients:
                for k in range(record.Percentiles.shape[1]):
                    axes.plot(iterations + 0.5, record.Percentiles[:, k], color="white", linewidth=0.8)
            axes.set_title(name)
            axes.set_xlabel("Iteration")
            axes.set_ylabel("dL/dZ" if gradients else "activation value")
        for axes in list(grid.flat)[len(names):]:
            axes.set_visible(False)
        figure.suptitle(("Gradient" if gradients else "Activation") + " histograms over training")
        figure.tight_layout()
        return figure

    def _distribution(self, plt, names, iteration):
        position = len(self.Iteration) - 1 if iteration is None else np.flatnonzero(self.Iteration == iteration)
        if np.size(position) == 0:
            raise OptionError(f"ProbeRecording.plot: Iteration must be a recorded iteration "
                              f"({', '.join(map(str, self.Iteration[:8]))}{', ...' if len(self.Iteration) > 8 else ''}); "
                              f"received {received(iteration)}.")
        k = int(np.ravel(position)[0])
        figure, axes = plt.subplots(figsize=(8, 4.5))
        for name in names:
            record = self.Activations[name]
            counts, edges = record.Histogram[k], record.BinEdges[k]
            centers = (edges[:-1] + edges[1:]) / 2
            density = counts / max(counts.sum(), 1) / np.diff(edges)
            axes.plot(centers, density, label=f"{name}: mean {record.Mean[k]:+.2f}, std {record.Std[k]:.2f}")
        axes.set_xlabel("activation value")
        axes.set_ylabel("density")
        axes.set_title(f"Activation distribution per layer at iteration {self.Iteration[k]}")
        axes.legend(loc="best", fontsize="small")
        axes.grid(True, alpha=0.3)
        figure.tight_layout()
        return figure


def _rebin(counts, edges, grid_edges):
    """Fractions of a histogram (its own edges) falling in each bin of ``grid_edges``,
    spreading each bin's count uniformly over its width."""
    total = counts.sum()
    if total == 0 or not np.all(np.isfinite(edges)):
        return np.zeros(len(grid_edges) - 1)
    cumulative = np.concatenate([[0.0], np.cumsum(counts) / total])
    if edges[-1] <= edges[0]:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        cumulative = np.array([0.0, 1.0])
    return np.diff(np.interp(grid_edges, edges, cumulative))


def _log_norm(image):
    from matplotlib.colors import LogNorm
    positive = image.compressed() if np.ma.isMaskedArray(image) else image[image > 0]
    if positive.size == 0:
        return None
    return LogNorm(vmin=max(positive.min(), positive.max() * 1e-4), vmax=positive.max())


def _colors(plt, count):
    return [plt.get_cmap("tab10")(k % 10) for k in range(count)]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("ProbeRecording.plot needs matplotlib; install it with pip install 'minidl[plot]'.") from None
    return plt
