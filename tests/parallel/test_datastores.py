"""Datastores in ExecutionEnvironment 'parallel': each worker reads its share of every
mini-batch from the datastore itself; the result is the one of the same data as arrays."""
import numpy as np

import minidl

from test_parallel import bn_layers, images, weights


def options(**values):
    minidl.rng(0)
    return minidl.trainingOptions("sgdm", **{**dict(MaxEpochs=2, MiniBatchSize=24, Verbose=False, Shuffle="every-epoch",
                                                    ExecutionEnvironment="parallel"), **values})


def assert_same_training(a, b):
    (net_a, info_a), (net_b, info_b) = a, b
    np.testing.assert_array_equal(info_a.TrainingLoss, info_b.TrainingLoss)
    for x, y in zip(weights(net_a), weights(net_b)):
        np.testing.assert_array_equal(x, y)


def test_an_array_datastore_trains_as_its_arrays(pool):
    """Global MiniBatchSize, WorkerLoad, shuffle, the partial last mini-batch dropped (100 = 4·24 + 4),
    'population' pass: bit for bit the training on the arrays."""
    X, Y = images(100)
    ds = minidl.combine(minidl.arrayDatastore(X, IterationDimension=4), minidl.arrayDatastore(Y))
    for load in (None, [1, 3]):
        from_arrays = tuple(minidl.trainNetwork(X, Y, bn_layers(), options(WorkerLoad=load)))
        from_datastore = tuple(minidl.trainNetwork(ds, bn_layers(), options(WorkerLoad=load)))
        assert len(from_datastore[1].TrainingLoss) == 8
        assert_same_training(from_datastore, from_arrays)


def test_an_image_datastore_of_the_digit_folder_trains_in_parallel(pool):
    imds = minidl.imageDatastore(minidl.digitDataset(), IncludeSubfolders=True, LabelSource="foldernames")
    imds = imds.subset(np.arange(1, 10001, 40))          # 250 images, 25 of each digit
    X, Y = np.stack(minidl.readall(imds), axis=3), imds.Labels
    layers = [minidl.imageInputLayer([28, 28, 1]), minidl.convolution2dLayer(3, 4, Padding="same"),
              minidl.batchNormalizationLayer(), minidl.reluLayer(), minidl.maxPooling2dLayer(2, Stride=2),
              minidl.fullyConnectedLayer(10), minidl.softmaxLayer(), minidl.classificationLayer()]
    trained = tuple(minidl.trainNetwork(imds, layers, options(MiniBatchSize=64, ValidationData=imds)))
    assert trained[1].FinalValidationAccuracy > 10      # 2 epochs of 3 iterations: above chance
    assert_same_training(trained, tuple(minidl.trainNetwork(X, Y, layers, options(MiniBatchSize=64))))
