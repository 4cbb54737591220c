"""``Table``: a small column table that behaves like MATLAB's ``table`` where ported code
touches it (``net.Learnables``, ``net.State``, ``lgraph.Connections``, ``countEachLabel``).

- ``len(t)`` is the number of rows (MATLAB's ``height(t)``); ``t.Layer`` or ``t["Layer"]``
  is a column (a list); ``t.Properties.VariableNames`` lists the columns.
- ``t[i]`` (0-based) is one row as a :class:`~minidl.struct.Struct`; a slice, a list of
  indices or a logical mask gives a new table of those rows.
- ``print(t)`` shows it as MATLAB displays a table: size line, centered headers,
  underlines, strings in double quotes, arrays as ``{3×3×1×8 single}``.
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
        object.__setattr__(self, "_columns", {name: list(values) for name, values in columns.items()})
        object.__setattr__(self, "_array_label", array_label)

    # ---- reading -------------------------------------------------------------------------
    def __len__(self):
        return len(next(iter(self._columns.values()), []))

    @property
    def Properties(self):
        return Struct(VariableNames=list(self._columns))

    def __getattr__(self, name):
        columns = self.__dict__.get("_columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(f"the table has no column {name!r}; its columns are {', '.join(columns) or 'none'}.")

    def __setattr__(self, name, value):
        raise AttributeError("Table: tables are read-only here; build a new one with Table(...).")

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.__getattr__(key)
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            if not -len(self) <= key < len(self):
                raise IndexError(f"Table: row {key} is out of range for a table of {len(self)} rows.")
            return Struct({name: values[key] for name, values in self._columns.items()})
        rows = np.arange(len(self))[key]      # a slice, a list of indices or a logical mask
        return Table(self._array_label, **{name: [values[i] for i in np.atleast_1d(rows)]
                                           for name, values in self._columns.items()})

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
        return pandas.DataFrame({name: pandas.Series(values, dtype=object if _has_arrays(values) else None)
                                 for name, values in self._columns.items()})

    # ---- display -------------------------------------------------------------------------
    def _cell(self, value):
        if isinstance(value, str):
            return f'"{value}"', "left"
        if isinstance(value, np.ndarray) and value.ndim > 0 or isinstance(value, (list, tuple)):
            shape = np.shape(value)
            size = "×".join(map(str, shape if len(shape) > 1 else (*shape, 1)))
            kind = self._array_label or _DTYPE_NAMES.get(str(np.asarray(value).dtype), str(np.asarray(value).dtype))
            return f"{{{size} {kind}}}", "left"
        if value is None:
            return "{0×0 double}", "left"
        if isinstance(value, (numbers.Number, np.generic)):
            return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value), "right"
        return str(value), "left"

    def __repr__(self):
        names = list(self._columns)
        cells = {name: [self._cell(v) for v in self._columns[name]] for name in names}
        widths = {name: max([len(name)] + [len(text) for text, _ in cells[name]]) for name in names}
        lines = [f"  {len(self)}×{len(names)} table", ""]
        lines.append(("    " + "    ".join(name.center(widths[name]) for name in names)).rstrip())
        lines.append("    " + "    ".join("_" * widths[name] for name in names))
        lines.append("")
        for row in range(len(self)):
            parts = []
            for name in names:
                text, align = cells[name][row]
                parts.append(text.rjust(widths[name]) if align == "right" else text.ljust(widths[name]))
            lines.append(("    " + "    ".join(parts)).rstrip())
        lines.append("")
        return "\n".join(lines)

    __str__ = __repr__


def _has_arrays(values):
    return any(isinstance(v, (np.ndarray, list, tuple)) for v in values)


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b
