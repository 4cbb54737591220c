"""``confusionchart``: MATLAB's confusion matrix chart, drawn with matplotlib (the ``plot`` extra)."""
import numpy as np

from ..options import choice, parse_name_value, path, received
from .labels import _values, confusionmat

_NORMALIZATIONS = ("absolute", "row-normalized", "column-normalized", "total-normalized")


class ConfusionMatrixChart:
    """What :func:`confusionchart` returns: ``NormalizedValues`` (the counts, as MATLAB's
    property of that name), ``ClassLabels``, ``Title``, ``Normalization``, the matplotlib
    ``Figure`` and ``Axes``; ``savefig(filename)`` writes the figure."""

    def __init__(self, counts, labels, title, normalization, figure, axes):
        self.NormalizedValues = counts
        self.ClassLabels = labels
        self.Title = title
        self.Normalization = normalization
        self.Figure, self.Axes = figure, axes

    def savefig(self, filename, **options):
        """Write the chart to ``filename`` (any format matplotlib writes: .png, .pdf, .svg)."""
        self.Figure.savefig(path("confusionchart", "filename", filename), **options)

    def __repr__(self):
        return f"<ConfusionMatrixChart {len(self.ClassLabels)}×{len(self.ClassLabels)} '{self.Title}'>"

    def __str__(self):
        return ("  ConfusionMatrixChart with properties:\n\n"
                f"    NormalizedValues: [{len(self.ClassLabels)}×{len(self.ClassLabels)} double]\n"
                f"         ClassLabels: [{len(self.ClassLabels)}×1 categorical]\n")


def _normalized(counts, normalization):
    counts = counts.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalization == "row-normalized":
            return np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
        if normalization == "column-normalized":
            return np.nan_to_num(counts / counts.sum(axis=0, keepdims=True))
        if normalization == "total-normalized":
            return counts / max(counts.sum(), 1)
    return counts


def confusionchart(trueLabels, predictedLabels=None, *pairs, **options):
    """``cm = confusionchart(trueLabels, predictedLabels)`` or ``confusionchart(m, classLabels)``
    (a confusion matrix and its class labels), with ``Title=``, ``Normalization=`` ('absolute',
    'row-normalized', 'column-normalized', 'total-normalized'). Rows are the true classes and
    columns the predicted ones, in :func:`confusionmat`'s order; the diagonal is blue, the
    rest red, as MATLAB draws it. Needs matplotlib.

    Example::

        >>> import os, tempfile
        >>> from minidl import confusionchart
        >>> cm = confusionchart(["cat", "dog", "dog"], ["cat", "cat", "dog"], Title="Pets")
        >>> cm.NormalizedValues.tolist(), cm.ClassLabels
        ([[1, 0], [1, 1]], ['cat', 'dog'])
        >>> cm.savefig(os.path.join(tempfile.mkdtemp(), "pets.png"))
    """
    values = parse_name_value("confusionchart", pairs, options, {"Title": "", "Normalization": "absolute"})
    if not isinstance(values["Title"], str):
        raise TypeError(f"confusionchart: Title must be a string; received {received(values['Title'])}.")
    normalization = choice("confusionchart", "Normalization", values["Normalization"], _NORMALIZATIONS)
    if predictedLabels is None:
        raise TypeError("confusionchart: give trueLabels and predictedLabels, or a confusion matrix and its "
                        "class labels: confusionchart(m, classLabels).")
    matrix = np.asarray(trueLabels) if isinstance(trueLabels, np.ndarray) else None
    if matrix is not None and matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] > 1 and \
            matrix.dtype.kind in "iuf" and len(np.asarray(predictedLabels).reshape(-1)) == matrix.shape[0]:
        if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
            raise ValueError("confusionchart: the confusion matrix m must hold nonnegative finite counts.")
        counts, labels = matrix, [str(v) for v in np.asarray(predictedLabels).reshape(-1).tolist()]
    else:
        truth = _values("confusionchart", "trueLabels", trueLabels)
        predicted = _values("confusionchart", "predictedLabels", predictedLabels)
        if truth.size != predicted.size:
            raise ValueError(f"confusionchart: trueLabels and predictedLabels must have the same number of labels; "
                             f"received {truth.size} and {predicted.size}.")
        counts = confusionmat(trueLabels, predictedLabels)
        labels = [str(v) for v in counts.order]
        counts = np.asarray(counts)
    try:
        import matplotlib
        if not matplotlib.is_interactive():
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("confusionchart needs matplotlib; install it with pip install 'minidl[plot]'.") from None
    shown = _normalized(counts, normalization)
    k = len(labels)
    figure, axes = plt.subplots(figsize=(1.2 + 0.6 * k, 1.0 + 0.6 * k))
    largest = max(float(np.max(shown)), 1e-12)
    colours = np.ones((k, k, 3))
    for i in range(k):
        for j in range(k):
            strength = shown[i, j] / largest
            base = np.array([0.0, 0.45, 0.74]) if i == j else np.array([0.85, 0.33, 0.10])
            colours[i, j] = 1 - strength * (1 - base) if shown[i, j] else 1
            text = f"{shown[i, j]:.3g}" if normalization != "absolute" else f"{int(counts[i, j])}"
            if shown[i, j]:
                axes.text(j, i, text, ha="center", va="center", fontsize=8,
                          color="white" if strength > 0.5 else "black")
    axes.imshow(colours, interpolation="nearest")
    axes.set_xticks(range(k), labels)
    axes.set_yticks(range(k), labels)
    axes.set_xlabel("Predicted Class")
    axes.set_ylabel("True Class")
    if values["Title"]:
        axes.set_title(values["Title"])
    figure.tight_layout()
    return ConfusionMatrixChart(np.asarray(counts), labels, values["Title"], normalization, figure, axes)
