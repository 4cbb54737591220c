"""Labels and classification results, MATLAB-style: ``categorical``/``categories``,
``countEachLabel``, ``confusionmat``.

:class:`Categorical` is a NumPy array of the labels themselves (ints stay ints, strings stay
strings) that also knows its category order and prints like MATLAB's categorical array, so
every minidl function that takes a plain label array takes it too, and comparisons are
element-wise: ``sum(YPred == YTest)``, ``Y == "3"``.
"""
import numpy as np

from ..options import parse_name_value, received


def _values(owner, name, value):
    """A 1-D array of labels (ints, bools or strings), refusing floats with NaN and objects."""
    if isinstance(value, str):
        value = [value]
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = None
    if array is not None and array.dtype.kind == "O" and array.size and all(isinstance(v, str) for v in array.flat):
        array = array.astype(str)
    if array is None or array.dtype.kind not in "biuUf" or array.ndim > 2 or \
            (array.ndim == 2 and min(array.shape) > 1):
        raise TypeError(f"{owner}: {name} must be a vector of labels (numbers or strings); received "
                        f"{received(value)}.")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"{owner}: {name} contains NaN or Inf; MATLAB's <undefined> labels are not supported. "
                         f"Remove those observations first.")
    return array.reshape(-1)


def _sorted_unique(values):
    return list(np.unique(values).tolist())


class Categorical(np.ndarray):
    """A label array with a category order (``categories(C)``), shown as MATLAB shows a
    categorical array; ``==`` compares element-wise, numbers and their names alike
    (``C == "3"`` where C holds 3)."""

    def __new__(cls, values, order):
        obj = np.asarray(values).view(cls)
        obj.order = list(order)
        return obj

    def __array_finalize__(self, obj):
        self.order = list(getattr(obj, "order", []) or [])

    # ndarray's pickling keeps the values only; the category order must travel too (to
    # worker processes, which read datastores in the background).
    def __reduce__(self):
        constructor, arguments, state = super().__reduce__()
        return constructor, arguments, (state, self.order)

    def __setstate__(self, state):
        values, order = state
        super().__setstate__(values)
        self.order = list(order)

    def _compare(self, other, equal):
        mine = np.asarray(self)
        theirs = other.view(np.ndarray) if isinstance(other, np.ndarray) else np.asarray(other)
        if (mine.dtype.kind in "US") != (theirs.dtype.kind in "US"):
            mine, theirs = mine.astype(str), theirs.astype(str)
        result = mine == theirs if equal else mine != theirs
        return np.asarray(result)

    def __eq__(self, other):
        return self._compare(other, True)

    def __ne__(self, other):
        return self._compare(other, False)

    __hash__ = None

    def categories(self):
        return [str(c) for c in self.order]

    def __str__(self):
        rows = [str(v) for v in np.asarray(self).reshape(-1).tolist()]
        shown = rows if len(rows) <= 30 else rows[:25] + ["⋮"] + rows[-3:]
        size = f"{len(rows)}×1" if self.ndim <= 1 else "×".join(map(str, self.shape))
        return f"  {size} categorical array\n\n" + "".join(f"     {r}\n" for r in shown)

    def __repr__(self):
        values = np.asarray(self).reshape(-1).tolist()
        head = ", ".join(map(repr, values[:6])) + (", ..." if len(values) > 6 else "")
        return f"categorical([{head}], {len(self.order)} categories)"

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def categorical(A, valueset=None, catnames=None):
    """``C = categorical(A)``, ``categorical(A, valueset)``, ``categorical(A, valueset, catnames)``.

    The categories are the sorted unique values of A (as MATLAB), or ``valueset`` in its
    order; with ``catnames`` each value of ``valueset`` is renamed. A value outside
    ``valueset`` is an error (MATLAB would make it ``<undefined>``).

    Example::

        >>> from minidl import categorical, categories
        >>> C = categorical(["dog", "cat", "dog"])
        >>> categories(C)
        ['cat', 'dog']
        >>> print(C)
          3×1 categorical array
        <BLANKLINE>
             dog
             cat
             dog
        >>> (C == "dog").tolist()
        [True, False, True]
    """
    values = _values("categorical", "A", A)
    if valueset is None:
        if catnames is not None:
            raise ValueError("categorical: catnames needs valueset; call categorical(A, valueset, catnames).")
        return Categorical(values, _sorted_unique(values))
    order = _values("categorical", "valueset", valueset)
    if len(set(order.tolist())) != order.size:
        raise ValueError(f"categorical: valueset must have unique values; received {received(valueset)}.")
    outside = sorted(set(values.tolist()) - set(order.tolist()), key=str)
    if outside:
        raise ValueError(f"categorical: A has values outside valueset: {outside[:5]}. Add them to valueset "
                         f"(minidl has no <undefined> category).")
    if catnames is None:
        return Categorical(values, order.tolist())
    names = _values("categorical", "catnames", catnames).astype(str)
    if names.size != order.size:
        raise ValueError(f"categorical: catnames must have one name per value of valueset ({order.size}); "
                         f"received {names.size}.")
    rename = dict(zip(order.tolist(), names.tolist()))
    return Categorical(np.array([rename[v] for v in values.tolist()], dtype=str), list(dict.fromkeys(names.tolist())))


def categories(A):
    """``C = categories(A)``: the category names of a categorical array, as strings, in the
    category order (a plain label array: its sorted unique values).

    Example::

        >>> from minidl import categorical, categories
        >>> categories(categorical([3, 1, 2, 1]))
        ['1', '2', '3']
    """
    if isinstance(A, Categorical):
        return A.categories()
    return [str(v) for v in _sorted_unique(_values("categories", "A", A))]


def group_order(owner, groups):
    """MATLAB's confusionmat order of the labels in ``groups`` (arrays, concatenated): the
    categories of categorical inputs, ascending numbers, or strings in order of first appearance."""
    if all(isinstance(g, Categorical) for g in groups):
        return list(dict.fromkeys(v for g in groups for v in g.order))
    values = np.concatenate([np.asarray(g).reshape(-1) for g in groups])
    if values.dtype.kind in "US":
        return list(dict.fromkeys(values.tolist()))
    return _sorted_unique(values)


def confusionmat(group, grouphat, *pairs, **options):
    """``C = confusionmat(group, grouphat, Order=order)``: ``C[i, j]`` counts the observations
    whose true label is ``order[i]`` and whose predicted label is ``order[j]``.

    Default order, as MATLAB's: the categories of categorical inputs; ascending values for
    numbers; order of first appearance (in ``group``, then ``grouphat``) for strings. The
    order used is ``C.order`` (MATLAB's second output: ``[C, order] = confusionmat(...)``).

    Example::

        >>> from minidl import confusionmat
        >>> C = confusionmat([1, 2, 2, 3], [1, 2, 3, 3])
        >>> C.tolist(), C.order
        ([[1, 0, 0], [0, 1, 1], [0, 0, 1]], [1, 2, 3])
    """
    values = parse_name_value("confusionmat", pairs, options, {"Order": None})
    truth = _values("confusionmat", "group", group)
    predicted = _values("confusionmat", "grouphat", grouphat)
    if truth.size != predicted.size:
        raise ValueError(f"confusionmat: group and grouphat must have the same number of labels; received "
                         f"{truth.size} and {predicted.size}.")
    if (truth.dtype.kind in "US") != (predicted.dtype.kind in "US") and truth.size:
        truth, predicted = truth.astype(str), predicted.astype(str)
        group, grouphat = truth, predicted
    if values["Order"] is None:
        order = group_order("confusionmat", [group, grouphat])
    else:
        order = _values("confusionmat", "Order", values["Order"]).tolist()
        missing = sorted((set(truth.tolist()) | set(predicted.tolist())) - set(order), key=str)
        if missing or len(set(order)) != len(order):
            raise ValueError(f"confusionmat: Order must list every label once; missing {missing[:5]}"
                             f"{', or it has duplicates' if len(set(order)) != len(order) else ''}.")
    index = {value: i for i, value in enumerate(order)}
    C = np.zeros((len(order), len(order)), dtype=np.int64)
    np.add.at(C, ([index[v] for v in truth.tolist()], [index[v] for v in predicted.tolist()]), 1)
    return ConfusionMatrix(C, order)


def countEachLabel(labels):
    """``tbl = countEachLabel(imds)`` or ``countEachLabel(labels)``: a table with one row per
    category, columns ``Label`` (the categories, in order) and ``Count``. It takes a
    datastore with labels (an imageDatastore), as MATLAB's, or the labels themselves (the Y
    of your arrays).

    Example::

        >>> from minidl import countEachLabel
        >>> tbl = countEachLabel(["b", "a", "b"])
        >>> len(tbl), tbl.Label.tolist(), tbl["Count"].tolist()
        (2, ['a', 'b'], [1, 2])
        >>> print(tbl)
          2×2 table
        <BLANKLINE>
            Label    Count
            _____    _____
        <BLANKLINE>
              a        1
              b        2
        <BLANKLINE>
    """
    from .datastore import Datastore
    from .table import Table
    if isinstance(labels, Datastore):
        labels = _datastore_labels("countEachLabel", labels)
    values = labels if isinstance(labels, Categorical) else categorical(_values("countEachLabel", "labels", labels))
    plain = np.asarray(values)
    counts = np.array([int(np.sum(plain == c)) for c in values.order], dtype=np.int64)
    return Table(Label=Categorical(np.array(values.order, dtype=plain.dtype), values.order), Count=counts)


def check_class_count(owner, classes):
    """A classifier needs two classes or more: a clear error for one (the commonest cause: an
    imageDatastore labelled by folder names whose images all sit in one folder)."""
    if len(classes) < 2:
        found = f"only one class ({str(list(classes)[0])!r})" if len(classes) else "no classes"
        raise ValueError(f"{owner}: the training labels have {found}; a classifier needs at least two. With "
                         f"imageDatastore(..., LabelSource='foldernames') put each class's images in a "
                         f"subfolder named after the class and pass the parent folder with IncludeSubfolders=True.")


def _datastore_labels(owner, ds):
    labels = getattr(ds, "Labels", None)
    if labels is None or len(labels) == 0:
        raise ValueError(f"{owner}: the {type(ds).__name__} has no labels. Make it with "
                         f"LabelSource='foldernames' or Labels=..., or set imds.Labels.")
    return labels


class ConfusionMatrix(np.ndarray):
    """The counts of :func:`confusionmat`, an int64 matrix, with its class ``order``."""

    def __new__(cls, counts, order):
        obj = np.asarray(counts).view(cls)
        obj.order = list(order)
        return obj

    def __array_finalize__(self, obj):
        self.order = getattr(obj, "order", None)
