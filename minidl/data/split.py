"""MATLAB's ``splitEachLabel``, for a datastore with labels (``splitEachLabel(imds, p)``)
and for arrays (``splitEachLabel(X, Y, p)``).

Each ``p`` is a whole number of observations per label, or a proportion in (0, 1) of each
label's count, rounded down: label k with n_k observations gives floor(p·n_k) (MATLAB's
"rounds down to the nearest whole number"). p1, …, pN make N + 1 sets: the first p1 of each
label, the next p2, …, and the rest. With "randomize" (or MATLAB's "randomized") each
label's observations are drawn at random (minidl's global generator, seeded by ``rng``)
instead of taken in order.
"""
import math
import numbers

import numpy as np

from .. import _rng
from ..options import parse_name_value, received
from .datastore import Datastore

_RANDOM_OPTIONS = ("randomized", "randomize")
_NAME = "splitEachLabel"


def splitEachLabel(X, *args, **options):
    """``[imds1, imds2] = splitEachLabel(imds, p)``, ``splitEachLabel(imds, p1, …, pN,
    "randomized", Include=labels, Exclude=labels)``, or the array form
    ``(X1, Y1), (X2, Y2) = splitEachLabel(X, Y, p, ...)``.

    **Datastore form** (MATLAB's): ``imds`` has labels; it returns N + 1 datastores of the
    same kind. Each keeps the datastore's file order (a subset of it). ``Include`` /
    ``Exclude`` name the labels to keep / leave out of every output.

    **Array form**: X in MATLAB layout, observations along the **last** axis (e.g.
    H×W×C×N images), Y the labels (ints or strings). It returns N + 1 pairs; within each,
    observations are grouped by label (labels in sorted order, ``numpy.unique``) and keep
    their original relative order within a label (also with "randomize").

    Errors (ValueError): X and Y of different observation counts, a p that is not positive,
    not whole above 1, or asking more observations of a label than it has (the message names
    the label and its count), an unknown option.

    Example::

        >>> import numpy as np
        >>> from minidl.data import splitEachLabel
        >>> X = np.arange(12).reshape(2, 6)          # 6 observations in the last axis
        >>> Y = np.array([0, 1, 0, 1, 0, 1])
        >>> (X1, Y1), (X2, Y2) = splitEachLabel(X, Y, 2)
        >>> Y1.tolist(), X1[0].tolist(), Y2.tolist(), X2[0].tolist()
        ([0, 0, 1, 1], [0, 2, 1, 3], [0, 1], [4, 5])
    """
    if isinstance(X, Datastore):
        return _split_datastore(X, args, options)
    if options:
        raise ValueError(f"{_NAME}: options {', '.join(options)} are for the datastore form "
                         f"splitEachLabel(imds, p, ...); received them with arrays.")
    if not args:
        raise ValueError(f"{_NAME}: expected labels Y after X (splitEachLabel(X, Y, p)) or a datastore "
                         f"(splitEachLabel(imds, p)); received X alone.")
    Y, args = args[0], args[1:]
    proportions, randomize = _parse(list(args))
    X = np.asarray(X)
    Y = np.asarray(Y)
    if Y.ndim != 1:
        raise ValueError(f"{_NAME}: expected Y to be a vector of labels, received shape {Y.shape}.")
    if X.ndim == 0 or X.shape[-1] != Y.shape[0]:
        got = X.shape[-1] if X.ndim else "a scalar"
        raise ValueError(f"{_NAME}: expected X to hold {Y.shape[0]} observations in its last axis "
                         f"(one per label in Y), received {got} (X has shape {X.shape}).")
    classes, inverse = np.unique(Y, return_inverse=True)
    members = [np.flatnonzero(inverse.ravel() == k) for k in range(len(classes))]
    parts = _split(classes, members, proportions, randomize)
    return tuple((np.take(X, idx, axis=-1), Y[idx]) for idx in parts)


def _split_datastore(ds, args, options):
    from .labels import _datastore_labels
    args = list(args)
    pairs = []
    while len(args) >= 2 and isinstance(args[-2], str) and args[-2].lower() in ("include", "exclude"):
        pairs = args[-2:] + pairs
        del args[-2:]
    values = parse_name_value(_NAME, pairs, options, {"Include": None, "Exclude": None})
    proportions, randomize = _parse(args)
    labels = _datastore_labels(_NAME, ds)
    plain = np.asarray(labels)
    classes = [c for c in labels.order if np.any(plain == c)]
    for name, keep in (("Include", True), ("Exclude", False)):
        if values[name] is not None:
            chosen = {str(v) for v in np.atleast_1d(np.asarray(values[name])).tolist()}
            unknown = sorted(chosen - {str(c) for c in classes})
            if unknown:
                raise ValueError(f"{_NAME}: {name} names labels the datastore does not have: {unknown[:5]}; its "
                                 f"labels are {', '.join(map(str, classes[:10]))}.")
            classes = [c for c in classes if (str(c) in chosen) == keep]
    members = [np.flatnonzero(plain == c) for c in classes]
    parts = _split(classes, members, proportions, randomize)
    return tuple(ds._reordered(np.sort(idx)) for idx in parts)


def _parse(args):
    """(the p values, randomize) from splitEachLabel's trailing arguments."""
    randomize = False
    if args and isinstance(args[-1], (str, np.str_)):
        opt = str(args.pop())
        if opt.lower() not in _RANDOM_OPTIONS:
            raise ValueError(f"{_NAME}: expected option 'randomized' (or 'randomize'), received {opt!r}.")
        randomize = True
    if not args:
        raise ValueError(f"{_NAME}: expected at least one count or proportion p, received none.")
    for p in args:
        if isinstance(p, (str, np.str_)):
            raise ValueError(f"{_NAME}: the option 'randomized' must come last, received {p!r} before a count.")
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
            raise ValueError(f"{_NAME}: p must be a positive integer or a proportion in (0, 1), "
                             f"received {received(p)}.")
        if not p > 0:
            raise ValueError(f"{_NAME}: p must be positive (> 0), received {p!r}.")
        if not math.isfinite(p) or (p >= 1 and p != math.floor(p)):
            raise ValueError(f"{_NAME}: p must be a whole number of observations or a proportion in (0, 1), "
                             f"received {p!r}.")
    return args, randomize


def _split(classes, members, proportions, randomize):
    """The 0-based indices of each output set, label by label (len(proportions) + 1 sets)."""
    parts = [[] for _ in range(len(proportions) + 1)]
    generator = _rng.generator() if randomize else None
    for cls, indices in zip(classes, members):
        count = len(indices)
        sizes = [int(p) if p >= 1 else int(math.floor(p * count)) for p in proportions]
        if sum(sizes) > count:
            wanted = sizes[0] if len(sizes) == 1 else f"{' + '.join(map(str, sizes))} = {sum(sizes)}"
            label = cls.item() if isinstance(cls, np.generic) else cls
            raise ValueError(f"{_NAME}: expected at most {count} observations from label {label!r} "
                             f"(it has {count}), received {wanted}.")
        order = generator.permutation(count) if randomize else np.arange(count)
        start = 0
        for i, size in enumerate(sizes + [count - sum(sizes)]):
            parts[i].append(indices[np.sort(order[start:start + size])])
            start += size
    return [np.concatenate(chunks) if chunks else np.empty(0, dtype=np.intp) for chunks in parts]
