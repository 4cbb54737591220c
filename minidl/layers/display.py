"""MATLAB's display of layers and layer arrays: ``print(layer)`` shows the property blocks
MATLAB shows (``  ReLULayer with properties:`` / ``    Name: 'relu'``), ``print`` of a
layer array the numbered table (``  3×1 Layer array with layers:``). ``repr`` stays short."""
import numpy as np

_HIDDEN_SUFFIXES = ("LearnRateFactor", "L2Factor", "Initializer")


def matlab_value(value):
    """A property value as MATLAB displays it: 'text', [3 3], [3×3×1×8 single], [], 1/0."""
    if value is None:
        return "[]"
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return "[]"
        if value.size == 1:
            return matlab_value(value.item())
        kind = "single" if value.dtype == np.float32 else "double" if value.dtype.kind == "f" else str(value.dtype)
        return f"[{'×'.join(map(str, value.shape))} {kind}]"
    if isinstance(value, (tuple, list)):
        if all(isinstance(v, str) for v in value):
            return "{" + "  ".join(f"'{v}'" for v in value) + "}"
        return "[" + " ".join(matlab_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.5g}"
    if callable(value):
        return f"@{getattr(value, '__name__', 'function')}"
    return str(value)


def _block(pairs):
    width = max(len(name) for name, _ in pairs)
    return [f"    {name.rjust(width)}: {matlab_value(value)}" for name, value in pairs]


def layer_text(layer):
    """MATLAB's property display of one layer."""
    properties = {name: value for name, value in vars(layer).items() if not name.startswith("_")}
    learnables = list(getattr(layer, "learnables", {}) or {})
    state = list(getattr(layer, "state_names", ()) or ())
    hyper = [(name, value) for name, value in properties.items()
             if name != "Name" and name not in learnables and name not in state
             and not name.endswith(_HIDDEN_SUFFIXES)]
    groups = [("", [("Name", getattr(layer, "Name", ""))])]
    for title, names in (("Hyperparameters", None), ("Learnable Parameters", learnables), ("State Parameters", state)):
        pairs = hyper if names is None else [(name, properties.get(name)) for name in names]
        if pairs:
            groups.append((title, pairs))
    width = max(len(name) for _, pairs in groups for name, _ in pairs)
    lines = [f"  {type(layer).__name__} with properties:", ""]
    for title, pairs in groups:
        if title:
            lines += ["", f"   {title}"]
        lines += [f"    {name.rjust(width)}: {matlab_value(value)}" for name, value in pairs]
    if any(name.endswith(_HIDDEN_SUFFIXES) for name in properties):
        lines += ["", "  Show all properties (the factors and initializers): vars(layer)"]
    return "\n".join(lines) + "\n"


def layer_summary(layer):
    """The description column of a layer array: the layer's one-line summary."""
    summary = getattr(layer, "summary", None)
    if callable(summary):
        try:
            return str(summary())
        except Exception:  # noqa: BLE001 -- a display never fails on one layer's summary
            pass
    return _described(layer) or getattr(layer, "Description", type(layer).__name__)


def _described(layer):
    """MATLAB's one-line descriptions of the commonest layers, from their properties."""
    has = vars(layer)
    pair = lambda v: "  ".join(map(str, v)) if isinstance(v, tuple) else str(v)   # noqa: E731
    if "NumFilters" in has and "FilterSize" in has:
        h, w = layer.FilterSize
        what = "transposed convolutions" if "Cropping" in has else "convolutions"
        extent = ("cropping", has.get("Cropping")) if "Cropping" in has else ("padding", has.get("Padding"))
        return (f"{layer.NumFilters} {h}×{w} {what} with stride [{pair(layer.Stride)}] and {extent[0]} "
                f"{extent[1]!r}" if extent[1] == "same" else
                f"{layer.NumFilters} {h}×{w} {what} with stride [{pair(layer.Stride)}] and {extent[0]} "
                f"[{pair(extent[1])}]")
    if "OutputSize" in has and isinstance(has["OutputSize"], int):
        return f"{layer.OutputSize} fully connected layer"
    if "Normalization" in has and "InputSize" in has:
        size = has["InputSize"]
        size = "×".join(map(str, size)) if isinstance(size, (tuple, list)) else str(size)
        kind = "images" if isinstance(has["InputSize"], (tuple, list)) and len(has["InputSize"]) == 3 else "features"
        return f"{size} {kind} with '{layer.Normalization}' normalization"
    return None


def layers_text(layers, what="Layer array"):
    """MATLAB's display of a layer array: number, name, type and summary of each layer."""
    rows = [(str(i), f"'{layer.Name}'", getattr(layer, "Description", type(layer).__name__), layer_summary(layer))
            for i, layer in enumerate(layers, 1)]
    lines = [f"  {len(rows)}×1 {what} with layers:", ""]
    if rows:
        widths = [max(len(row[k]) for row in rows) for k in range(3)]
        for row in rows:
            lines.append(f"    {row[0].rjust(widths[0])}   {row[1].ljust(widths[1])}   {row[2].ljust(widths[2])}   "
                         f"{row[3]}".rstrip())
    return "\n".join(lines) + "\n"


class LayerArray(list):
    """A list of layers that prints as MATLAB prints a layer array (``print(net.Layers)``)."""

    def __str__(self):
        return layers_text(self)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))
