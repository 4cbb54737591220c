"""MATLAB's "Create Simple Deep Learning Network for Classification" (reference §6), with its
DigitDataset folder replaced by minidl's (``digitDataset()``: the built-in digits written as
0/…9/ PNG files), ported by mechanical changes only, as tests/porting/*: ``[a, b] = f(...)``
→ ``a, b = f(...)``, ``[l1; l2]`` → ``[l1, l2]``, ``true`` → ``True``, ``numel`` → NumPy.

Quick mode (lines marked ``# quick:``): 150 training files per label instead of 750 and
200 validation files (20 per label, the first of the 250 that splitEachLabel leaves per
label) instead of 2,500, so the four epochs of 11 iterations and the validations read about
7,000 PNG files in all; Plots off. Everything else, the layers and options, is MATLAB's.
"""
import numpy as np
import pytest

from minidl import (batchNormalizationLayer, classificationLayer, classify, convolution2dLayer, countEachLabel,
                    fullyConnectedLayer, imageDatastore, imageInputLayer, maxPooling2dLayer, reluLayer, rng,
                    softmaxLayer, splitEachLabel, trainingOptions, trainNetwork)

pytest.importorskip("PIL.Image")
from minidl import digitDataset  # noqa: E402


def numel(a):
    return np.size(a)


def test_create_simple_deep_learning_network_for_classification_from_a_folder():
    # digitDatasetPath = fullfile(matlabroot,'toolbox','nnet','nndemos', ...
    #     'nndatasets','DigitDataset');
    # imds = imageDatastore(digitDatasetPath, ...
    #     'IncludeSubfolders',true,'LabelSource','foldernames');
    # labelCount = countEachLabel(imds)
    # numTrainFiles = 750;
    # [imdsTrain,imdsValidation] = splitEachLabel(imds,numTrainFiles,'randomize');
    # layers = [
    #     imageInputLayer([28 28 1])
    #     convolution2dLayer(3,8,'Padding','same')
    #     batchNormalizationLayer
    #     reluLayer
    #     maxPooling2dLayer(2,'Stride',2)
    #     convolution2dLayer(3,16,'Padding','same')
    #     batchNormalizationLayer
    #     reluLayer
    #     maxPooling2dLayer(2,'Stride',2)
    #     convolution2dLayer(3,32,'Padding','same')
    #     batchNormalizationLayer
    #     reluLayer
    #     fullyConnectedLayer(10)
    #     softmaxLayer
    #     classificationLayer];
    # options = trainingOptions('sgdm', ...
    #     'InitialLearnRate',0.01, ...
    #     'MaxEpochs',4, ...
    #     'Shuffle','every-epoch', ...
    #     'ValidationData',imdsValidation, ...
    #     'ValidationFrequency',30, ...
    #     'Verbose',false, ...
    #     'Plots','training-progress');
    # net = trainNetwork(imdsTrain,layers,options);
    # YPred = classify(net,imdsValidation);
    # YValidation = imdsValidation.Labels;
    # accuracy = sum(YPred == YValidation)/numel(YValidation)
    rng(0)
    digitDatasetPath = digitDataset()                # MATLAB: fullfile(matlabroot, ..., 'DigitDataset')
    imds = imageDatastore(digitDatasetPath,
                          'IncludeSubfolders', True, 'LabelSource', 'foldernames')
    labelCount = countEachLabel(imds)
    numTrainFiles = 150                              # quick: 750 in MATLAB
    imdsTrain, imdsValidation = splitEachLabel(imds, numTrainFiles, 'randomize')
    imdsValidation, _ = splitEachLabel(imdsValidation, 20)   # quick: 200 validation files, not 2,500
    layers = [
        imageInputLayer([28, 28, 1]),
        convolution2dLayer(3, 8, 'Padding', 'same'),
        batchNormalizationLayer(),
        reluLayer(),
        maxPooling2dLayer(2, 'Stride', 2),
        convolution2dLayer(3, 16, 'Padding', 'same'),
        batchNormalizationLayer(),
        reluLayer(),
        maxPooling2dLayer(2, 'Stride', 2),
        convolution2dLayer(3, 32, 'Padding', 'same'),
        batchNormalizationLayer(),
        reluLayer(),
        fullyConnectedLayer(10),
        softmaxLayer(),
        classificationLayer()]
    options = trainingOptions('sgdm',
                              'InitialLearnRate', 0.01,
                              'MaxEpochs', 4,
                              'Shuffle', 'every-epoch',
                              'ValidationData', imdsValidation,
                              'ValidationFrequency', 30,
                              'Verbose', False,
                              'Plots', 'none')        # quick: no plot window
    net = trainNetwork(imdsTrain, layers, options)
    YPred = classify(net, imdsValidation)
    YValidation = imdsValidation.Labels
    accuracy = sum(YPred == YValidation) / numel(YValidation)

    assert len(labelCount) == 10
    assert imdsTrain.numobservations() == 1500 and numel(YValidation) == 200
    info = net._training_info
    # floor(1500 / 128) = 11 iterations per epoch (the last 92 images dropped), 4 epochs;
    # validation at iterations 1, 30 and 44 (the last), as MATLAB's schedule gives.
    assert len(info.TrainingLoss) == 44
    assert np.flatnonzero(np.isfinite(info.ValidationLoss)).tolist() == [0, 29, 43]
    assert accuracy > 0.5        # chance is 0.1
