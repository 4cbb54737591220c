"""arrayDatastore, combine, and the Datastore base: MATLAB's reading and partition maths."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minidl import (arrayDatastore, combine, hasdata, numpartitions, partition, preview, read,
                    readall, reset, rng, shuffle, subset)
from minidl.data.datastore import Datastore


def test_cell_and_same_outputs_match_matlab_slicing():
    A = np.arange(24).reshape(4, 6)
    ads = arrayDatastore(A, ReadSize=3)
    first = read(ads)
    assert len(first) == 3 and all(np.array_equal(x, A[i:i + 1, :]) for i, x in enumerate(first))   # A(i,:) is 1×6
    assert len(read(ads)) == 1 and not hasdata(ads)
    columns = arrayDatastore(A, 'IterationDimension', 2, 'OutputType', 'same', 'ReadSize', 4)
    np.testing.assert_array_equal(read(columns), A[:, :4])
    np.testing.assert_array_equal(readall(columns), A)
    images = np.random.default_rng(0).random((5, 4, 3, 7))
    one = read(arrayDatastore(images, IterationDimension=4))[0]
    np.testing.assert_array_equal(one, images[..., 0])             # MATLAB drops the trailing singleton
    assert preview(arrayDatastore([7, 8, 9]))[0] == 7


def test_observations_stack_along_the_iteration_dimension():
    images = np.random.default_rng(1).random((5, 4, 3, 7)).astype(np.float32)
    X, Y = arrayDatastore(images, IterationDimension=4)._observations([6, 0])
    np.testing.assert_array_equal(X, images[..., [6, 0]]) and Y is None
    features = np.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(arrayDatastore(features)._observations([1, 2])[0], features[1:3])


def test_combine_gives_predictors_and_responses_in_step():
    images = np.random.default_rng(2).random((3, 3, 1, 6)).astype(np.float32)
    labels = np.array(["a", "b", "a", "b", "a", "c"])
    cds = combine(arrayDatastore(images, IterationDimension=4), arrayDatastore(labels))
    X, Y = cds._observations([4, 1])
    np.testing.assert_array_equal(X, images[..., [4, 1]])
    assert Y.tolist() == ["a", "b"]
    rng(7)
    mixed = shuffle(cds)
    order = np.random.default_rng(7).permutation(6)
    X, Y = mixed._observations(np.arange(6))
    np.testing.assert_array_equal(X, images[..., order])
    assert Y.tolist() == labels[order].tolist()
    image, label = read(cds)
    np.testing.assert_array_equal(image[0], images[..., 0]) and label[0] == "a"
    assert len(subset(cds, [2, 3])) == 2 and len(partition(cds, 3, 3)) == 2
    three = combine(arrayDatastore(images, IterationDimension=4), arrayDatastore(images * 2, IterationDimension=4),
                    arrayDatastore(labels))
    (X1, X2), Y = three._observations([0])
    np.testing.assert_array_equal(X2, 2 * X1)


def test_combine_and_array_errors(tmp_path):
    with pytest.raises(ValueError, match=r"combine: the datastores must hold the same number of observations; "
                                         r"received 3, 2"):
        combine(arrayDatastore([1, 2, 3]), arrayDatastore([1, 2]))
    with pytest.raises(TypeError, match=r"combine \(datastore 2\): ds must be a datastore"):
        combine(arrayDatastore([1, 2]), np.zeros(2))
    with pytest.raises(ValueError, match="give at least one datastore"):
        combine()
    with pytest.raises(ValueError, match=r"IterationDimension must be at most the number of dimensions of A \(2"):
        arrayDatastore(np.zeros((2, 3)), IterationDimension=3)
    with pytest.raises(ValueError, match="OutputType must be one of 'cell', 'same'"):
        arrayDatastore(np.zeros(3), OutputType="table")
    with pytest.raises(ValueError, match="ReadSize must be a positive integer; received 0"):
        arrayDatastore(np.zeros(3), ReadSize=0)
    with pytest.raises(TypeError, match="read: ds must be a datastore"):
        read([1, 2, 3])


@settings(deadline=None, max_examples=200)
@given(n=st.integers(0, 60), count=st.integers(1, 70))
def test_partitions_cover_everything_once_in_order_with_near_equal_sizes(n, count):
    ads = arrayDatastore(np.arange(n))
    parts = [partition(ads, count, i)._observations(np.arange(len(partition(ads, count, i))))[0].tolist()
             for i in range(1, count + 1)]
    assert sum(parts, []) == list(range(n))
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    for i, part in enumerate(parts, start=1):            # floor((i-1)·n/N) … floor(i·n/N)-1, by hand
        assert part == list(range((i - 1) * n // count, i * n // count))
    assert numpartitions(ads) == n


def test_partition_index_and_subset_checks():
    ads = arrayDatastore(np.arange(5))
    with pytest.raises(ValueError, match=r"partition: index must be .*received 4"):
        partition(ads, 3, 4)
    with pytest.raises(IndexError, match=r"indices must lie in 1…5; received values from 0 to 0"):
        subset(ads, [0])
    mask = np.array([True, False, True, False, False])
    assert subset(ads, mask).readall() == [np.int64(0), np.int64(2)]
    with pytest.raises(ValueError, match="a logical mask must have one element per observation"):
        subset(ads, mask[:3])


def test_read_reset_and_stop():
    ads = arrayDatastore(np.arange(3), ReadSize=2, OutputType="same")
    assert read(ads).tolist() == [0, 1] and read(ads).tolist() == [2]
    with pytest.raises(StopIteration, match="no more data to read; call reset"):
        read(ads)
    reset(ads)
    assert hasdata(ads) and read(ads).tolist() == [0, 1]


def test_a_subclass_with_only_the_protocol_works():
    class Squares(Datastore):
        def numobservations(self):
            return 4

        def _observations(self, indices):
            indices = np.asarray(indices)
            return indices ** 2, indices

        def _reordered(self, indices):
            raise AssertionError("not needed here")

    ds = Squares()
    X, Y = read(ds)                                 # no info: read gives what _observations gives
    assert X.tolist() == [0] and Y.tolist() == [0]
    ds.ReadSize = 3
    assert read(ds)[0].tolist() == [1, 4, 9] and not hasdata(ds)
