"""Tests of minidl.data.datasets: the synthetic digit set and splitEachLabel."""
import re

import numpy as np
import pytest

from minidl import _rng
from minidl.data import digits, splitEachLabel
from minidl.data import datasets as _datasets


@pytest.fixture(scope="module")
def data():
    return digits()


# ---------------------------------------------------------------- digits


def test_digits_shapes_dtypes_and_counts(data):
    X, Y = data
    assert X.shape == (28, 28, 1, 10000)
    assert X.dtype == np.uint8
    assert Y.shape == (10000,)
    assert Y.dtype == np.int64
    assert np.array_equal(np.bincount(Y, minlength=10), np.full(10, 1000))
    # grouped by class, 0s first
    assert np.array_equal(Y, np.repeat(np.arange(10), 1000))


def test_digits_same_seed_same_bytes_and_returns_copies(data):
    X, Y = data
    X2, Y2 = digits(0)
    assert X.tobytes() == X2.tobytes() and Y.tobytes() == Y2.tobytes()
    assert X2.flags.writeable and Y2.flags.writeable
    X2[:] = 0                      # mutating a result does not touch the cache
    X3, _ = digits(0)
    assert X3.tobytes() == X.tobytes()


def test_digits_uncached_generation_is_deterministic():
    _datasets._digits_cached.cache_clear()
    Xa, Ya = digits(3)
    _datasets._digits_cached.cache_clear()
    Xb, Yb = digits(3)
    assert Xa.tobytes() == Xb.tobytes() and Ya.tobytes() == Yb.tobytes()


def test_digits_different_seed_differs(data):
    X, _ = data
    X1, _ = digits(1)
    assert (X != X1).mean() > 0.1


def test_digits_does_not_consume_global_generator():
    _rng.rng(11)
    expected = _rng.generator().random(3)
    _rng.rng(11)
    _datasets._digits_cached.cache_clear()
    digits(2)
    assert np.array_equal(_rng.generator().random(3), expected)


def test_digits_images_white_on_black_with_sensible_ink(data):
    X, _ = data
    imgs = X[:, :, 0, :].astype(np.float64)
    assert imgs.max() == 255 or imgs.max() > 200
    peak = imgs.max(axis=(0, 1))
    assert peak.min() > 150                     # no blank image
    ink = (imgs > 128).mean(axis=(0, 1))        # fraction of bright pixels per image
    assert ink.min() > 0.01 and ink.max() < 0.4
    assert 0.05 < ink.mean() < 0.2
    # black background: the corners are dark on average
    corners = imgs[[0, 0, -1, -1], [0, -1, 0, -1], :]
    assert corners.mean() < 10


def test_digits_labels_match_glyphs_linear_classifier(data):
    """A least-squares linear classifier is far above chance but not perfect."""
    X, Y = data
    _rng.rng(0)
    (Xtr, Ytr), (Xva, Yva) = splitEachLabel(X, Y, 750, "randomize")
    A = np.hstack([Xtr.reshape(784, -1).T / 255.0, np.ones((Xtr.shape[-1], 1))])
    B = np.hstack([Xva.reshape(784, -1).T / 255.0, np.ones((Xva.shape[-1], 1))])
    W = np.linalg.solve(A.T @ A + 0.1 * np.eye(785), A.T @ np.eye(10)[Ytr])
    acc = np.mean((B @ W).argmax(axis=1) == Yva)
    assert 0.7 < acc < 0.99
    # every class is recognised well above chance
    per_class = [np.mean((B @ W).argmax(axis=1)[Yva == k] == k) for k in range(10)]
    assert min(per_class) > 0.4


def test_digits_classes_have_distinct_mean_images(data):
    X, Y = data
    means = np.stack([X[:, :, 0, Y == k].mean(axis=-1).ravel() for k in range(10)])
    d = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert d[~np.eye(10, dtype=bool)].min() > 100


@pytest.mark.parametrize("seed", [-1, 1.5, "x", True, None])
def test_digits_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match=r"^digits: .*seed"):
        digits(seed)


# ---------------------------------------------------------------- splitEachLabel


def _toy(n_per=(5, 3, 4)):
    Y = np.concatenate([np.full(n, k) for k, n in enumerate(n_per)])
    perm = np.random.default_rng(0).permutation(len(Y))
    Y = Y[perm]
    X = np.stack([np.arange(len(Y)), 10 * np.arange(len(Y))])  # 2 x N, obs in last axis
    return X, Y


def test_split_counts_order_and_disjointness(data):
    X, Y = data
    (X1, Y1), (X2, Y2) = splitEachLabel(X, Y, 750)
    assert X1.shape == (28, 28, 1, 7500) and X2.shape == (28, 28, 1, 2500)
    assert np.array_equal(np.bincount(Y1), np.full(10, 750))
    assert np.array_equal(np.bincount(Y2), np.full(10, 250))
    # not randomized: the first 750 of each label, in order
    assert np.array_equal(X1[..., :750], X[..., :750])
    assert np.array_equal(X2[..., :250], X[..., 750:1000])


def test_split_first_n_of_each_label_in_original_order():
    X, Y = _toy()
    (X1, Y1), (X2, Y2) = splitEachLabel(X, Y, 2)
    for k in range(3):
        idx = np.flatnonzero(Y == k)
        assert np.array_equal(X1[0][Y1 == k], idx[:2])
        assert np.array_equal(X2[0][Y2 == k], idx[2:])
    # grouped by label, labels sorted
    assert np.array_equal(Y1, [0, 0, 1, 1, 2, 2])
    assert np.array_equal(Y2, [0, 0, 0, 1, 2, 2])
    assert np.array_equal(X1[1], 10 * X1[0])


def test_split_randomize_disjoint_complete_grouped():
    X, Y = _toy((40, 30, 35))
    _rng.rng(1)
    (X1, Y1), (X2, Y2) = splitEachLabel(X, Y, 10, "randomize")
    assert np.array_equal(np.bincount(Y1), [10, 10, 10])
    assert np.array_equal(np.bincount(Y2), [30, 20, 25])
    ids1, ids2 = X1[0], X2[0]
    assert not set(ids1) & set(ids2)
    assert sorted(np.concatenate([ids1, ids2])) == list(range(len(Y)))
    assert np.array_equal(Y[ids1], Y1) and np.array_equal(Y[ids2], Y2)
    assert np.all(np.diff(Y1) >= 0) and np.all(np.diff(Y2) >= 0)
    # within a label the original relative order is kept
    for k in range(3):
        assert np.all(np.diff(ids1[Y1 == k]) > 0)
    # and it is not simply the first 10 of each label
    (F1, _), _ = splitEachLabel(X, Y, 10)
    assert not np.array_equal(F1, X1)


def test_split_randomize_reproducible_under_global_seed(data):
    X, Y = data
    _rng.rng(5)
    (a1, b1), (c1, d1) = splitEachLabel(X, Y, 750, "randomize")
    _rng.rng(5)
    (a2, b2), (c2, d2) = splitEachLabel(X, Y, 750, "randomize")
    assert a1.tobytes() == a2.tobytes() and c1.tobytes() == c2.tobytes()
    assert np.array_equal(b1, b2) and np.array_equal(d1, d2)
    _rng.rng(6)
    (a3, _), _ = splitEachLabel(X, Y, 750, "randomize")
    assert a3.tobytes() != a1.tobytes()


@pytest.mark.parametrize("option", ["randomized", "Randomize", "RANDOMIZED"])
def test_split_option_spellings(option):
    X, Y = _toy()
    _rng.rng(2)
    (A, _), _ = splitEachLabel(X, Y, 2, option)
    _rng.rng(2)
    (B, _), _ = splitEachLabel(X, Y, 2, "randomize")
    assert np.array_equal(A, B)


def test_split_proportion_rounds_down():
    X, Y = _toy((5, 3, 4))
    (X1, Y1), (X2, Y2) = splitEachLabel(X, Y, 0.5)
    # floor(2.5) = 2, floor(1.5) = 1, floor(2) = 2
    assert np.array_equal(np.bincount(Y1, minlength=3), [2, 1, 2])
    assert np.array_equal(np.bincount(Y2, minlength=3), [3, 2, 2])
    (X1, Y1), _ = splitEachLabel(*_toy((100, 100, 100)), 0.75)
    assert np.array_equal(np.bincount(Y1), [75, 75, 75])


def test_split_into_three_sets():
    X, Y = _toy((10, 10, 10))
    (X1, Y1), (X2, Y2), (X3, Y3) = splitEachLabel(X, Y, 5, 3)
    assert np.array_equal(np.bincount(Y1), [5, 5, 5])
    assert np.array_equal(np.bincount(Y2), [3, 3, 3])
    assert np.array_equal(np.bincount(Y3), [2, 2, 2])
    assert len(set(X1[0]) | set(X2[0]) | set(X3[0])) == 30


def test_split_string_labels_sorted():
    Y = np.array(["cat", "dog", "ant", "cat", "ant", "dog"])
    X = np.arange(6)
    (X1, Y1), (X2, Y2) = splitEachLabel(X, Y, 1)
    assert Y1.tolist() == ["ant", "cat", "dog"]
    assert X1.tolist() == [2, 0, 1]
    assert X2.tolist() == [4, 3, 5]
    (X1, Y1), _ = splitEachLabel(X, list(Y), 1)          # a plain list of labels works too
    assert Y1.tolist() == ["ant", "cat", "dog"]


def test_split_error_n_larger_than_label_count():
    X, Y = _toy((5, 3, 4))
    msg = "splitEachLabel: expected at most 3 observations from label 1 (it has 3), received 4."
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        splitEachLabel(X, Y, 4)
    with pytest.raises(ValueError, match=r"^splitEachLabel: expected at most 3 .* received 2 \+ 2 = 4\.$"):
        splitEachLabel(X, Y, 2, 2)
    Ys = np.array(["a"] * 5 + ["b"] * 2)
    with pytest.raises(ValueError, match=r"^splitEachLabel: expected at most 2 observations from label 'b' \(it has 2\), received 3\.$"):
        splitEachLabel(np.arange(7), Ys, 3)


@pytest.mark.parametrize("n", [0, -3, 0.0, -0.5])
def test_split_error_nonpositive(n):
    X, Y = _toy()
    with pytest.raises(ValueError, match=r"^splitEachLabel: p must be positive \(> 0\), received " + re.escape(repr(n))):
        splitEachLabel(X, Y, n)


@pytest.mark.parametrize("n", [1.5, True, None, [3]])
def test_split_error_not_a_count_or_proportion(n):
    X, Y = _toy()
    with pytest.raises(ValueError, match=r"^splitEachLabel: p must be .* received"):
        splitEachLabel(X, Y, n)


def test_split_error_mismatched_counts():
    X = np.zeros((28, 28, 1, 10))
    Y = np.zeros(9, dtype=int)
    msg = "splitEachLabel: expected X to hold 9 observations in its last axis (one per label in Y), received 10 (X has shape (28, 28, 1, 10))."
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        splitEachLabel(X, Y, 1)


def test_split_error_unknown_option():
    X, Y = _toy()
    msg = "splitEachLabel: expected option 'randomized' (or 'randomize'), received 'shuffle'."
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        splitEachLabel(X, Y, 2, "shuffle")


def test_split_error_no_count_and_misplaced_option():
    X, Y = _toy()
    with pytest.raises(ValueError, match=r"^splitEachLabel: expected at least one count"):
        splitEachLabel(X, Y)
    with pytest.raises(ValueError, match=r"^splitEachLabel: expected at least one count"):
        splitEachLabel(X, Y, "randomize")
    with pytest.raises(ValueError, match=r"^splitEachLabel: the option 'randomized' must come last"):
        splitEachLabel(X, Y, "randomize", 2)


def test_split_error_labels_not_a_vector():
    with pytest.raises(ValueError, match=r"^splitEachLabel: expected Y to be a vector"):
        splitEachLabel(np.zeros((2, 4)), np.zeros((2, 2)), 1)


def test_docstring_examples_run():
    import doctest

    results = doctest.testmod(_datasets, verbose=False)
    assert results.attempted >= 2 and results.failed == 0
