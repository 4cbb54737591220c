"""minidl/parallel/flat.py: the learnables, gradients and batch-norm statistics of a message
packed into one flat array and back, bit for bit and with their dtypes and shapes."""
import numpy as np

from minidl.parallel.flat import Layout, pack_statistics, unpack_statistics, weighted_sum


def test_arrays_of_several_dtypes_come_back_bit_for_bit():
    rng = np.random.default_rng(0)
    arrays = {(0, "Weights"): rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
              (0, "Bias"): rng.standard_normal((1, 1, 4)).astype(np.float32),
              (2, "TrainedMean"): rng.standard_normal(4), "count": np.int64(2 ** 40 + 3)}
    layout = Layout(arrays)
    flat = layout.pack(arrays)
    assert flat.dtype == np.float64 and flat.size == 72 + 4 + 4 + 1
    back = layout.unpack(flat)
    assert list(back) == list(arrays)
    for key, array in arrays.items():
        assert back[key].dtype == np.asarray(array).dtype and back[key].shape == np.shape(array)
        np.testing.assert_array_equal(back[key], array)


def test_batch_norm_statistics_round_trip_and_other_state_passes_through():
    rng = np.random.default_rng(1)
    partials = [("bn_1", (64, rng.standard_normal(8), rng.random(8))),
                ("bn_2", (np.float64(64.0), rng.standard_normal((1, 1, 3)), rng.random((1, 1, 3))))]
    layout, flat = pack_statistics(partials)
    assert flat.dtype == np.float64 and flat.size == 1 + 8 + 8 + 1 + 3 + 3
    back = unpack_statistics((layout, flat))
    assert [name for name, _ in back] == ["bn_1", "bn_2"]
    for (_, got), (_, want) in zip(back, partials):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
            assert np.shape(g) == np.shape(w)
    other = [("lstm", {"HiddenState": np.zeros(3)})]
    assert pack_statistics(other) is other and unpack_statistics(other) is other


def test_weighted_sum_is_float64_in_the_order_given():
    a, b = np.float32([1e8, 1]), np.float32([1, 1e-8])
    total = weighted_sum([a, b], [0.5, 0.5])
    assert total.dtype == np.float64
    np.testing.assert_array_equal(total, 0.5 * a.astype(np.float64) + 0.5 * b.astype(np.float64))
