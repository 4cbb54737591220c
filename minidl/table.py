"""``Table``: the one table type of minidl, shaped like MATLAB's ``table`` where ported code
touches one (``net.Learnables``, ``net.State``, ``lgraph.Connections``, ``countEachLabel``,
``analyzeNetwork``'s ``LayerInfo`` and ``Issues``, ``trainnet``'s training history).

- ``len(t)`` is the number of rows (MATLAB's ``height(t)``; also ``t.height``, ``t.width``);
  ``t.Layer`` or ``t["Layer"]`` is a column, kept as given (a list stays a list, a NumPy
  or categorical array stays one); ``t.Properties.VariableNames`` lists the columns.
- ``t[i]`` (0-based) is one row as a :class:`~minidl.struct.Struct`; a slice, a list of
  indices or a logical mask gives a new table of those rows.
- ``print(t)`` (and ``repr``) shows it as MATLAB displays a table: size line, centered
  headers, underlines, text in double quotes (categorical values without), arrays as
  ``{3×3×1×8 single}``, numbers right-aligned.
- ``t.to_pandas()`` gives a pandas DataFrame (pandas is optional: ``pip install
  minidl[tables]``).

Example::

    >>> from minidl.table import Table
    >>> t = Table(Source=["in", "relu"], Destination=["relu", "fc"])
    >>> len(t), t.Source, t[1].Destination
    (2, ['in', 'relu'], 'fc')
    >>> print(t)
      2×2 table
    <BLANKLINE>
        Source    Destination
        ______    ___________
    <BLANKLINE>
        "in"      "relu"
        "relu"    "fc"
    <BLANKLINE>
"""
import numbers

import numpy as np

from .struct import Struct

_DTYPE_NAMES = {"float32": "single", "float64": "double", "bool": "logical"}


class Table:
    """Columns of equal length, in order. Build with ``Table(Name=values, ...)``;
    ``array_label`` names what an array cell displays as (``"dlarray"`` in
    ``net.Learnables``; by default its MATLAB class, e.g. ``single``)."""

    def __init__(self, array_label=None, **columns):
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Table: every column must have the same number of rows; received {lengths}.")
        kept = {name: values if isinstance(values, np.ndarray) else list(values) for name, values in columns.items()}
        object.__setattr__(self, "_columns", kept)
        object.__setattr__(self, "_array_label", array_label)

    # ---- reading -------------------------------------------------------------------------
    def __len__(self):
        return len(next(iter(self._columns.values()), []))

    @property
    def height(self):
        return len(self)

    @property
    def width(self):
        return len(self._columns)

    @property
    def Properties(self):
        return Struct(VariableNames=list(self._columns))

    def __getattr__(self, name):
        columns = self.__dict__.get("_columns", {})
        if name in columns:
            return columns[name]
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"Table: the table has no column {name!r}; its columns are "
                             f"{', '.join(columns) or 'none'}.")

    def __setattr__(self, name, value):
        raise AttributeError(f"Table: tables are read-only here (setting {name!r}); build a new one with Table(...).")

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.__getattr__(key)
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            if not -len(self) <= key < len(self):
                raise IndexError(f"Table: row {key} is out of range for a table of {len(self)} rows.")
            return Struct({name: values[key] for name, values in self._columns.items()})
        rows = np.atleast_1d(np.arange(len(self))[key])      # a slice, a list of indices or a logical mask
        return Table(self._array_label, **{name: values[rows] if isinstance(values, np.ndarray)
                                           else [values[i] for i in rows] for name, values in self._columns.items()})

    def __iter__(self):
        """The rows, each a Struct."""
        return (self[i] for i in range(len(self)))

    def __eq__(self, other):
        if not isinstance(other, Table) or list(self._columns) != list(other._columns) or len(self) != len(other):
            return False
        return all(_same(a, b) for name in self._columns
                   for a, b in zip(self._columns[name], other._columns[name]))

    __hash__ = None

    def to_pandas(self):
        """A pandas DataFrame with the same columns (arrays stay arrays, one per cell)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Table.to_pandas needs pandas, which is optional: install the 'tables' extra "
                              "(pip install minidl[tables]) or pandas itself.") from None
        return pandas.DataFrame({name: pandas.Series(np.asarray(values) if isinstance(values, np.ndarray) else values,
                                                     dtype=object if _has_containers(values) else None)
                                 for name, values in self._columns.items()})

    # ---- display -------------------------------------------------------------------------
    def _cells(self, values):
        """A column's cells as (text, alignment): text "left" (MATLAB starts it at the column's
        left edge), categorical values "center", numbers "right" (a right-aligned block,
        centered under the header)."""
        categorical = hasattr(values, "categories") and isinstance(values, np.ndarray)
        plain = values.tolist() if isinstance(values, np.ndarray) else values
        arrays = [v for v in plain if _is_array(v)]
        size_width = max((len(_size(v)) for v in arrays), default=0)
        cells = []
        for value in plain:
            if isinstance(value, str):
                cells.append((value, "center") if categorical else (f'"{value}"', "left"))
            elif _is_array(value):
                kind = self._array_label or _DTYPE_NAMES.get(str(np.asarray(value).dtype), str(np.asarray(value).dtype))
                cells.append((f"{{{_size(value).ljust(size_width)} {kind}}}", "left"))
            elif value is None:
                cells.append(("{0×0 double}", "left"))
            elif isinstance(value, (bool, np.bool_)):
                cells.append(("true" if value else "false", "right"))
            elif isinstance(value, (numbers.Number, np.generic)):
                cells.append((f"{value:g}" if isinstance(value, (float, np.floating)) else str(value), "right"))
            elif isinstance(value, tuple):
                cells.append(("[" + " ".join(map(str, value)) + "]", "left"))
            elif isinstance(value, dict):
                cells.append((", ".join(f"{k} {_sized(v)}" for k, v in value.items()) or "{}", "left"))
            else:
                cells.append((str(value), "left"))
        return cells

    def __str__(self):
        names = list(self._columns)
        lines = [f"  {len(self)}×{len(names)} table", ""]
        blocks = []
        for name in names:
            cells = self._cells(self._columns[name])
            inner = max((len(text) for text, _ in cells), default=0)
            width = max(len(name), inner)
            texts = [text.ljust(width) if align == "left" else text.center(width) if align == "center"
                     else text.rjust(inner).center(width) for text, align in cells]
            blocks.append((name.center(width), "_" * width, texts))
        lines.append(("    " + "    ".join(header for header, _, _ in blocks)).rstrip())
        lines.append("    " + "    ".join(line for _, line, _ in blocks))
        lines.append("")
        for row in range(len(self)):
            lines.append(("    " + "    ".join(texts[row] for _, _, texts in blocks)).rstrip())
        lines.append("")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def _is_array(value):
    return isinstance(value, np.ndarray) and value.ndim > 0 or (
        isinstance(value, list) and all(isinstance(v, numbers.Number) for v in value))


def _size(value):
    shape = np.shape(value)
    return "×".join(map(str, shape if len(shape) > 1 else (*shape, 1)))


def _sized(value):
    return "×".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _has_containers(values):
    return any(isinstance(v, (np.ndarray, list, tuple, dict)) for v in values)


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b
