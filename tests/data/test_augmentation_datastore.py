"""augmentedImageDatastore: MATLAB's imresize, colour preprocessing, output size modes, the
order colour → augmentation → resize, fresh draws at every read and determinism under rng,
over arrays and over datastores."""
import numpy as np
import pytest

import minidl
from minidl import augmentedImageDatastore, imageDataAugmenter
from minidl.data import image_ops
from minidl.data.datastore import Datastore
from minidl.options import OptionError


def batch_of(*images):
    return np.stack([np.asarray(i, float).reshape(np.shape(i)[0], np.shape(i)[1], -1) for i in images], axis=3)


# --- imresize, by hand -------------------------------------------------------------------------
def test_upscaling_two_by_two_is_matlabs_imresize():
    # imresize([1 2; 3 4], [4 4], 'bilinear'): samples at u = 0.75, 1.25, 1.75, 2.25 (1-based),
    # edges mirrored.
    ds = augmentedImageDatastore([4, 4], batch_of([[1, 2], [3, 4]]))
    X, Y = ds._observations([0])
    expected = [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]]
    np.testing.assert_allclose(X[:, :, 0, 0], expected, rtol=1e-6)
    assert X.dtype == np.float32 and Y is None


def test_shrinking_is_antialiased_as_imresize():
    # 4 → 2: kernel stretched to width 4 (weights 1/8, 3/8, 3/8, 1/8 around u = 1.5 and 3.5).
    weights = image_ops.resize_weights(4, 2)
    np.testing.assert_allclose(weights, [[0.5, 0.375, 0.125, 0], [0, 0.125, 0.375, 0.5]])
    np.testing.assert_allclose(weights @ [1, 2, 3, 4], [1.625, 3.375])
    # 3 → 2: u = 1.25 and 2.75; weights (2/3)·tri((2/3)·d) give 2/3, 1/3 (and mirrored).
    np.testing.assert_allclose(image_ops.resize_weights(3, 2) @ [0, 3, 6], [1, 5])
    np.testing.assert_allclose(image_ops.resize_weights(5, 5), np.eye(5), atol=1e-15)


def test_an_image_already_at_the_output_size_is_unchanged():
    X = np.random.default_rng(0).random((6, 5, 2, 3))
    np.testing.assert_array_equal(augmentedImageDatastore([6, 5], X)._observations([0, 1, 2])[0],
                                  X.astype(np.float32))


# --- colour preprocessing ------------------------------------------------------------------------
def test_gray2rgb_repeats_the_channel_and_rgb2gray_uses_matlabs_weights():
    gray = np.random.default_rng(1).random((4, 4, 1, 2))
    X, _ = augmentedImageDatastore([4, 4], gray, ColorPreprocessing="gray2rgb")._observations([0, 1])
    assert X.shape == (4, 4, 3, 2)
    for c in range(3):
        np.testing.assert_array_equal(X[:, :, c, :], gray[:, :, 0, :].astype(np.float32))
    rgb = np.zeros((2, 2, 3, 3))
    for c in range(3):
        rgb[:, :, c, c] = 1.0
    X, _ = augmentedImageDatastore([2, 2], rgb, ColorPreprocessing="rgb2gray")._observations([0, 1, 2])
    np.testing.assert_allclose(X[0, 0, 0, :], [0.298936021293775, 0.587043074451121, 0.114020904255103], rtol=1e-6)
    # gray2rgb leaves RGB alone; rgb2gray leaves gray alone (as MATLAB)
    assert augmentedImageDatastore([2, 2], rgb, ColorPreprocessing="gray2rgb")._observations([0])[0].shape[2] == 3
    assert augmentedImageDatastore([4, 4], gray, ColorPreprocessing="rgb2gray")._observations([0])[0].shape[2] == 1


# --- output size modes -----------------------------------------------------------------------------
def test_centercrop_takes_the_middle_window():
    X = np.arange(6 * 7, dtype=float).reshape(6, 7, 1, 1)
    out, _ = augmentedImageDatastore([3, 4], X, OutputSizeMode="centercrop")._observations([0])
    np.testing.assert_array_equal(out[:, :, 0, 0], X[1:4, 1:5, 0, 0])     # floor((6-3)/2), floor((7-4)/2)


def test_randcrop_takes_random_windows_reproducibly():
    X = np.arange(8 * 9, dtype=float).reshape(8, 9, 1, 1).repeat(50, axis=3)
    ds = augmentedImageDatastore([3, 3], X, OutputSizeMode="randcrop")
    minidl.rng(4)
    first, _ = ds._observations(np.arange(50))
    corners = set()
    for k in range(50):
        top, left = divmod(int(first[0, 0, 0, k]), 9)
        assert 0 <= top <= 5 and 0 <= left <= 6
        np.testing.assert_array_equal(first[:, :, 0, k], X[top:top + 3, left:left + 3, 0, 0])
        corners.add((top, left))
    assert len(corners) > 15
    minidl.rng(4)
    np.testing.assert_array_equal(ds._observations(np.arange(50))[0], first)


def test_crops_need_images_at_least_as_large_as_the_output():
    ds = augmentedImageDatastore([5, 5], np.zeros((4, 8, 1, 1)), OutputSizeMode="centercrop")
    with pytest.raises(ValueError, match=r"OutputSizeMode='centercrop' needs images at least as large as OutputSize "
                                         r"5×5; received an image of 4×8"):
        ds._observations([0])


# --- order and randomness -----------------------------------------------------------------------------
def test_augmentation_comes_before_resizing():
    image = np.random.default_rng(2).random((4, 6))
    aug = imageDataAugmenter(RandXTranslation=[1, 1])
    X, _ = augmentedImageDatastore([8, 12], batch_of(image), DataAugmentation=aug)._observations([0])
    shifted = np.zeros_like(image)
    shifted[:, 1:] = image[:, :-1]               # one input pixel right, then resized
    expected = image_ops.resize(shifted[None, :, :, None], (8, 12))[0, :, :, 0]
    np.testing.assert_allclose(X[:, :, 0, 0], expected, rtol=1e-5, atol=1e-6)


def test_rotation_in_the_datastore_matches_hand_computed_rot90():
    X = np.random.default_rng(3).random((5, 5, 2, 4))
    out, _ = augmentedImageDatastore([5, 5], X, DataAugmentation=imageDataAugmenter(
        RandRotation=[90, 90]))._observations(np.arange(4))
    np.testing.assert_allclose(out, np.rot90(X, 1, axes=(0, 1)).astype(np.float32), atol=1e-6)


def test_draws_are_fresh_at_every_read_and_repeat_under_rng():
    X = np.random.default_rng(4).random((9, 9, 1, 6))
    ds = augmentedImageDatastore([7, 7], X, DataAugmentation=imageDataAugmenter(RandRotation=[-20, 20],
                                                                                RandXReflection=True))
    minidl.rng(9)
    first = ds._observations(np.arange(6))[0]
    second = ds._observations(np.arange(6))[0]
    assert not np.array_equal(first, second)
    minidl.rng(9)
    np.testing.assert_array_equal(ds._observations(np.arange(6))[0], first)
    np.testing.assert_array_equal(ds._observations(np.arange(6))[0], second)


def test_a_generator_passed_in_fixes_the_batch_whatever_else_drew():
    X = np.random.default_rng(5).random((9, 9, 1, 6))
    ds = augmentedImageDatastore([9, 9], X, DataAugmentation=imageDataAugmenter(RandRotation=[-20, 20]),
                                 OutputSizeMode="randcrop")
    a = ds._observations([1, 4], generator=np.random.default_rng(77))[0]
    minidl.rng(1)
    ds._observations([0, 2])                      # other draws in between change nothing
    b = ds._observations([1, 4], generator=np.random.default_rng(77))[0]
    np.testing.assert_array_equal(a, b)
    # the documented layout: row k of one n×9 uniform block is image k's transform
    angles = -20 + 40 * np.random.default_rng(77).random((2, 9))[:, 2]
    expected = minidl.augment(imageDataAugmenter(RandRotation=[angles[1]] * 2), X[:, :, 0, 4])
    np.testing.assert_allclose(a[:, :, 0, 1], expected, rtol=1e-5, atol=1e-6)


# --- reading, labels, shuffling ----------------------------------------------------------------------
def labelled_images(count=10):
    X = np.ones((3, 3, 1, count)) * np.arange(count)     # image k is all k
    return X, np.arange(count) * 10


def test_read_returns_tables_of_minibatch_size_with_input_and_response():
    X, Y = labelled_images()
    ds = augmentedImageDatastore([2, 2], X, Y)
    assert ds.MiniBatchSize == 128 and ds.NumObservations == 10
    ds.MiniBatchSize = 4
    sizes, responses = [], []
    while ds.hasdata():
        table = ds.read()
        assert table.Properties.VariableNames == ["input", "response"]
        assert all(image.shape == (2, 2, 1) for image in table.input)
        sizes.append(len(table))
        responses.extend(table.response)
        np.testing.assert_allclose([image.mean() * 10 for image in table.input], table.response, rtol=1e-6)
    assert sizes == [4, 4, 2] and responses == list(range(0, 100, 10))
    ds.reset()
    assert len(ds.readall()) == 10
    assert augmentedImageDatastore([2, 2], X).read().Properties.VariableNames == ["input"]


def test_shuffle_and_subset_keep_images_with_their_labels():
    X, Y = labelled_images()
    minidl.rng(0)
    shuffled = augmentedImageDatastore([3, 3], X, minidl.categorical(Y)).shuffle()
    images, labels = shuffled._observations(np.arange(10))
    assert sorted(np.asarray(labels).tolist()) == list(range(0, 100, 10))
    assert list(np.asarray(labels)) != list(range(0, 100, 10))
    np.testing.assert_allclose(images[0, 0, 0, :] * 10, np.asarray(labels))
    assert isinstance(labels, minidl.data.Categorical)
    part = augmentedImageDatastore([3, 3], X, Y).subset([3, 1])
    np.testing.assert_array_equal(part._observations([0, 1])[1], [20, 0])


# --- any datastore -----------------------------------------------------------------------------------
class ListDatastore(Datastore):
    """A minimal datastore of equal-size images with labels."""

    def __init__(self, images, labels):
        super().__init__()
        self.images, self.labels = images, np.asarray(labels)

    def numobservations(self):
        return len(self.images)

    def _observations(self, indices):
        return np.stack([self.images[i] for i in indices], axis=3), self.labels[indices]

    def _reordered(self, indices):
        return ListDatastore([self.images[i] for i in indices], self.labels[indices])


def test_any_datastore_is_read_through_its_observations():
    rng = np.random.default_rng(6)
    images = [rng.random((4, 6, 3)) for _ in range(3)]
    ds = augmentedImageDatastore([8, 12], ListDatastore(images, ["a", "b", "c"]), ColorPreprocessing="rgb2gray")
    X, labels = ds._observations([2, 0])
    assert X.shape == (8, 12, 1, 2) and list(labels) == ["c", "a"]
    gray = image_ops.rgb2gray(np.stack([images[2], images[0]]).astype(np.float32))
    np.testing.assert_allclose(X.transpose(3, 0, 1, 2), image_ops.resize(gray, (8, 12)), rtol=1e-5, atol=1e-6)


def write_pngs(folder):
    """A labelled folder tree of PNGs of three sizes, gray and RGB: cat/ (2 files), dog/ (1)."""
    from PIL import Image
    rng = np.random.default_rng(7)
    arrays = {"cat/a.png": rng.integers(0, 256, (6, 8), dtype=np.uint8),
              "cat/b.png": rng.integers(0, 256, (5, 5, 3), dtype=np.uint8),
              "dog/c.png": rng.integers(0, 256, (10, 4), dtype=np.uint8)}
    for name, array in arrays.items():
        (folder / name).parent.mkdir(exist_ok=True)
        Image.fromarray(array).save(folder / name)
    return arrays


def test_an_image_datastore_of_mixed_sizes_and_colours(tmp_path):
    arrays = write_pngs(tmp_path)
    imds = minidl.imageDatastore(str(tmp_path), IncludeSubfolders=True, LabelSource="foldernames")
    ds = augmentedImageDatastore([5, 5], imds, ColorPreprocessing="gray2rgb")
    X, labels = ds._observations([0, 1, 2])
    assert X.shape == (5, 5, 3, 3) and [str(v) for v in labels] == ["cat", "cat", "dog"]
    for k, name in enumerate(["cat/a.png", "cat/b.png", "dog/c.png"]):
        image = arrays[name].astype(np.float32)
        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        expected = rgb if rgb.shape[:2] == (5, 5) else image_ops.resize(rgb[None], (5, 5))[0]
        np.testing.assert_allclose(X[..., k], expected, rtol=1e-5, atol=1e-4)
    table = minidl.read(ds)
    assert len(table) == 3 and table.Properties.VariableNames == ["input", "response"]
    minidl.rng(0)
    shuffled = ds.shuffle()
    images, labels = shuffled._observations([0, 1, 2])
    for k in range(3):       # each image still carries its own label: dog/c.png is the only 10×4 one
        is_dog = str(labels[k]) == "dog"
        expected = image_ops.resize(np.repeat(arrays["dog/c.png"].astype(np.float32)[None, :, :, None], 3, 3),
                                    (5, 5))[0]
        assert np.allclose(images[..., k], expected, atol=1e-4) == is_dog


def test_channel_mismatch_names_the_observation_and_the_fix(tmp_path):
    write_pngs(tmp_path)
    imds = minidl.imageDatastore(str(tmp_path), IncludeSubfolders=True, LabelSource="foldernames")
    ds = augmentedImageDatastore([4, 4], imds)
    with pytest.raises(ValueError, match=r"observation 2 has 3 channel\(s\) where the first has 1; set "
                                         r"ColorPreprocessing='gray2rgb'"):
        ds._observations([0, 1])


# --- bad arguments -----------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, message", [
    (lambda X: augmentedImageDatastore([0, 4], X), OptionError, "outputSize must be a positive integer; received 0"),
    (lambda X: augmentedImageDatastore([4], X), OptionError, r"outputSize must be \[rows columns\]"),
    (lambda X: augmentedImageDatastore("28", X), OptionError, r"outputSize must be \[rows columns\]"),
    (lambda X: augmentedImageDatastore([4, 4], X, np.arange(3)), ValueError,
     r"Y must have one response per observation of X \(2\)"),
    (lambda X: augmentedImageDatastore([4, 4], X, DataAugmentation="flip"), OptionError,
     "DataAugmentation must be 'none' or an imageDataAugmenter; received 'flip'"),
    (lambda X: augmentedImageDatastore([4, 4], X, ColorPreprocessing="gray2RGBA"), OptionError,
     "ColorPreprocessing must be one of 'none', 'gray2rgb', 'rgb2gray'; received 'gray2RGBA'"),
    (lambda X: augmentedImageDatastore([4, 4], X, "OutputSizeMode", "crop"), OptionError,
     "OutputSizeMode must be one of 'resize', 'centercrop', 'randcrop'"),
    (lambda X: augmentedImageDatastore([4, 4], X, OutputSize="same"), OptionError, "unknown option 'OutputSize'"),
    (lambda X: augmentedImageDatastore([4, 4], np.zeros((0, 4, 1, 1))), ValueError, "X must be a non-empty"),
    (lambda X: augmentedImageDatastore([4, 4], np.array(["a"])), TypeError, "X must be numeric"),
    (lambda X: augmentedImageDatastore([4, 4], ListDatastore([X[..., 0]], [1]), [1]), TypeError,
     "Y cannot be given with a datastore"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call(np.zeros((4, 4, 1, 2)))


def test_a_read_function_that_gives_no_image_is_named(tmp_path):
    write_pngs(tmp_path)
    imds = minidl.imageDatastore(str(tmp_path), IncludeSubfolders=True, ReadFcn=lambda path: "not an image")
    with pytest.raises(TypeError, match="observation 1 of the datastore is not a non-empty H×W or H×W×C numeric "
                                        "image; received 'not an image'"):
        augmentedImageDatastore([4, 4], imds)
