"""Training from image folders (imageDatastore) and from arrayDatastore/combine: the same
numbers as from the arrays they hold; bad files named from background workers."""
import os

import numpy as np
import pytest

import minidl

Image = pytest.importorskip("PIL.Image")


def write_folder(root, count=60, seed=0):
    """root/<label>/k.png: 8×8 grayscale images of three classes; returns (X H×W×1×N float32, labels) in
    imageDatastore's order (folders, then file names)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in ("one", "three", "two"):
        for k in range(count // 3):
            array = (rng.random((8, 8)) * 120 + 60 * ("one", "three", "two").index(label)).astype(np.uint8)
            os.makedirs(root / label, exist_ok=True)
            Image.fromarray(array).save(root / label / f"{k:03d}.png")
            images.append(array)
            labels.append(label)
    return np.stack(images, axis=-1)[:, :, None, :].astype(np.float32), np.array(labels)


def layers():
    return [minidl.imageInputLayer([8, 8, 1]), minidl.convolution2dLayer(3, 4, Padding="same"),
            minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.fullyConnectedLayer(3),
            minidl.softmaxLayer(), minidl.classificationLayer()]


def train(*args, **changes):
    minidl.rng(5)
    options = minidl.trainingOptions("sgdm", **{**dict(MaxEpochs=2, MiniBatchSize=16, Verbose=False,
                                                      Shuffle="every-epoch"), **changes})
    return minidl.trainNetwork(*args, layers(), options)


def weights(net):
    return [np.asarray(getattr(layer, name)) for layer in net.Layers
            for name in (*layer.learnables, *layer.state_names) if getattr(layer, name, None) is not None]


def assert_same(a, b):
    for wa, wb in zip(weights(a), weights(b), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_image_folder_array_datastore_and_combine_train_bit_identically(tmp_path):
    X, Y = write_folder(tmp_path)
    imds = minidl.imageDatastore(str(tmp_path), IncludeSubfolders=True, LabelSource="foldernames")
    reference, info = train(X, Y, ValidationData=(X[..., ::4], Y[::4]), ValidationFrequency=2)
    from_folder, info_folder = train(imds, ValidationData=minidl.subset(imds, np.arange(1, 61, 4)),
                                     ValidationFrequency=2, DispatchInBackground=True)
    assert_same(reference, from_folder)
    np.testing.assert_array_equal(info.ValidationLoss, info_folder.ValidationLoss)
    combined = minidl.combine(minidl.arrayDatastore(X, IterationDimension=4), minidl.arrayDatastore(Y))
    from_combine, _ = train(combined, ValidationData=(X[..., ::4], Y[::4]), ValidationFrequency=2)
    assert_same(reference, from_combine)
    np.testing.assert_array_equal(minidl.classify(from_folder, imds), minidl.classify(reference, X))


def test_a_corrupt_file_read_in_the_background_is_named(tmp_path):
    write_folder(tmp_path)
    bad = tmp_path / "two" / "007.png"
    bad.write_bytes(bad.read_bytes()[:30])          # truncated: not a readable PNG
    imds = minidl.imageDatastore(str(tmp_path), IncludeSubfolders=True, LabelSource="foldernames")
    with pytest.raises(Exception, match=r"007\.png"):
        train(imds, DispatchInBackground=True)


def test_augmented_training_is_the_same_with_and_without_background_workers(tmp_path):
    write_folder(tmp_path)
    imds = minidl.imageDatastore(str(tmp_path), IncludeSubfolders=True, LabelSource="foldernames")
    augmenter = minidl.imageDataAugmenter(RandXReflection=True, RandRotation=[-20, 20], RandXTranslation=[-2, 2])

    def augmented():
        return minidl.augmentedImageDatastore([8, 8], imds, DataAugmentation=augmenter)

    serial, info = train(augmented(), ValidationData=augmented(), ValidationFrequency=2)
    background, info_background = train(augmented(), ValidationData=augmented(), ValidationFrequency=2,
                                         DispatchInBackground=True)
    assert_same(serial, background)
    np.testing.assert_array_equal(info.ValidationLoss, info_background.ValidationLoss)
    plain, _ = train(imds, ValidationData=imds, ValidationFrequency=2)
    assert not np.array_equal(plain.Layers[1].Weights, serial.Layers[1].Weights)   # augmentation did run


def test_a_folder_of_one_class_is_a_clear_error_when_training(tmp_path):
    """imageDatastore(..., LabelSource='foldernames') over one subfolder: trainNetwork names
    the cause (one class) and the fix, instead of a size mismatch."""
    import numpy as np
    from PIL import Image

    import minidl
    (tmp_path / "cat").mkdir()
    for i in range(4):
        Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(tmp_path / "cat" / f"{i}.png")
    imds = minidl.imageDatastore(str(tmp_path), IncludeSubfolders=True, LabelSource="foldernames")
    layers = [minidl.imageInputLayer([4, 4, 1]), minidl.fullyConnectedLayer(2), minidl.softmaxLayer(),
              minidl.classificationLayer()]
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=2, Verbose=False)
    with pytest.raises(ValueError, match=r"trainNetwork: the training labels have only one class \('cat'\)"):
        minidl.trainNetwork(imds, layers, options)
