"""A small table, as MATLAB's: named columns of equal length, read by name (``t.Count``,
``t["Count"]``), ``len(t)`` rows, printed as MATLAB prints a table, and ``t.to_pandas()``
when pandas is installed (it stays optional)."""
import numpy as np


class Table:
    """Columns by name, in order. ``len(t)`` is the row count; ``t.Properties.VariableNames``
    as in MATLAB; ``t.height``/``t.width``."""

    def __init__(self, **columns):
        lengths = {len(column) for column in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"Table: every column must have the same length; received {sorted(lengths)}.")
        object.__setattr__(self, "_columns", dict(columns))

    def __len__(self):
        return len(next(iter(self._columns.values()), ()))

    @property
    def height(self):
        return len(self)

    @property
    def width(self):
        return len(self._columns)

    @property
    def VariableNames(self):
        return list(self._columns)

    @property
    def Properties(self):
        from types import SimpleNamespace
        return SimpleNamespace(VariableNames=list(self._columns))

    def __getitem__(self, name):
        if isinstance(name, str):
            return self._column(name)
        raise TypeError(f"Table: index a column by its name ({', '.join(self._columns)}); received {name!r}.")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._column(name)

    def _column(self, name):
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"Table: no column {name!r}; the columns are {', '.join(self._columns)}.") from None

    def __setattr__(self, name, value):
        raise AttributeError(f"Table: columns are read-only here; build a new table (received {name!r}).")

    def to_pandas(self):
        """The table as a pandas DataFrame (needs pandas: pip install pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Table.to_pandas needs pandas, which minidl does not require: pip install pandas.") from None
        return pandas.DataFrame({name: np.asarray(column) for name, column in self._columns.items()})

    def __str__(self):
        names = list(self._columns)
        cells = [[_cell(v) for v in np.asarray(self._columns[name]).tolist()] for name in names]
        widths = [max([len(name)] + [len(c) for c in column]) for name, column in zip(names, cells)]
        lines = [f"  {len(self)}×{len(names)} table", "",
                 "    " + "    ".join(name.center(w) for name, w in zip(names, widths)).rstrip(),
                 "    " + "    ".join(("_" * len(name)).center(w) for name, w in zip(names, widths)).rstrip(), ""]
        for row in zip(*cells):
            lines.append("    " + "    ".join(c.center(w) for c, w in zip(row, widths)).rstrip())
        return "\n".join(lines) + "\n"

    def __repr__(self):
        return f"<{len(self)}×{len(self._columns)} table: {', '.join(self._columns)}>"

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def _cell(value):
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)
