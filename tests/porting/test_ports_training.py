"""MATLAB documentation examples ported by mechanical changes only (issue 12, item 8).

Each test keeps the MATLAB text in a comment block beside its port. The changes are syntax
only: ``[a, b] = f(...)`` → ``a, b = f(...)``, ``[l1; l2]`` → ``[l1, l2]``, ``;`` line ends,
``%`` comments, ``.^``/``.*``/``mean``/``sqrt``/``numel`` → NumPy, ``@(info) f(info)`` →
``lambda info: f(info)``, and outputs MATLAB leaves out (``[XTrain, YTrain] = f``) named
``_``. The data are MATLAB's own functions (``digitTrain4DArrayData``/``digitTest4DArrayData``,
5,000 images each, built from minidl's digit generator). Quick mode (marked ``# quick:``): a
subset of the images, by indexing as MATLAB scripts do (``XTrain(:,:,:,1:1000)``), fewer
epochs; ``Plots`` off.
"""
import glob

import numpy as np
from numpy import mean, sqrt

from minidl import (activations, additionLayer, addLayers, analyzeNetwork, averagePooling2dLayer,
                    batchNormalizationLayer, classificationLayer, classify, connectLayers, convolution2dLayer,
                    digitTest4DArrayData, digitTrain4DArrayData, fullyConnectedLayer, imageInputLayer, layerGraph,
                    maxPooling2dLayer, predict, regressionLayer, reluLayer, rng, softmaxLayer, trainingOptions,
                    trainNetwork)


# Measured with rng(0): 0.66, 0.34 (chance 0.1) and an RMSE of 0.48 of the angles' spread.
ACCURACY_SIMPLE, ACCURACY_DAG, RMSE_FRACTION = 0.45, 0.2, 0.75


def numel(a):
    return np.size(a)


def test_create_simple_deep_learning_network_for_classification():
    # [XTrain, YTrain] = digitTrain4DArrayData;
    # [XValidation, YValidation] = digitTest4DArrayData;
    # layers = [
    #     imageInputLayer([28 28 1])
    #     convolution2dLayer(3,8,'Padding','same')
    #     batchNormalizationLayer
    #     reluLayer
    #     maxPooling2dLayer(2,'Stride',2)
    #     convolution2dLayer(3,16,'Padding','same')
    #     batchNormalizationLayer
    #     reluLayer
    #     fullyConnectedLayer(10)
    #     softmaxLayer
    #     classificationLayer];
    # options = trainingOptions('sgdm', ...
    #     'InitialLearnRate',0.01, ...
    #     'MaxEpochs',4, ...
    #     'Shuffle','every-epoch', ...
    #     'ValidationData',{XValidation,YValidation}, ...
    #     'ValidationFrequency',30, ...
    #     'Verbose',false, ...
    #     'Plots','training-progress');
    # net = trainNetwork(XTrain,YTrain,layers,options);
    # YPred = classify(net,XValidation);
    # accuracy = sum(YPred == YValidation)/numel(YValidation)
    rng(0)
    XTrain, YTrain, _ = digitTrain4DArrayData()
    XValidation, YValidation, _ = digitTest4DArrayData()
    XTrain, YTrain = XTrain[:, :, :, :600], YTrain[:600]                        # quick: 600 of 5000
    XValidation, YValidation = XValidation[:, :, :, :300], YValidation[:300]    # quick: 300 of 5000
    layers = [
        imageInputLayer([28, 28, 1]),
        convolution2dLayer(3, 8, 'Padding', 'same'),
        batchNormalizationLayer(),
        reluLayer(),
        maxPooling2dLayer(2, 'Stride', 2),
        convolution2dLayer(3, 16, 'Padding', 'same'),
        batchNormalizationLayer(),
        reluLayer(),
        fullyConnectedLayer(10),
        softmaxLayer(),
        classificationLayer()]
    options = trainingOptions('sgdm',
                              'InitialLearnRate', 0.01,
                              'MaxEpochs', 4,
                              'Shuffle', 'every-epoch',
                              'ValidationData', [XValidation, YValidation],
                              'ValidationFrequency', 30,
                              'Verbose', False,
                              'Plots', 'none')               # quick: no plot window
    net = trainNetwork(XTrain, YTrain, layers, options)
    YPred = classify(net, XValidation)
    accuracy = sum(YPred == YValidation) / numel(YValidation)
    assert YPred.shape == YValidation.shape
    assert accuracy > ACCURACY_SIMPLE   # chance is 0.1; 600 images, 4 epochs of 4 iterations


def test_batch_normalization_layer_page_example():
    # layer = batchNormalizationLayer('Name','bn1')
    # layers = [
    #     imageInputLayer([32 32 3])
    #     convolution2dLayer(3,16,'Padding',1)
    #     batchNormalizationLayer
    #     reluLayer
    #     maxPooling2dLayer(2,'Stride',2)
    #     convolution2dLayer(3,32,'Padding',1)
    #     batchNormalizationLayer
    #     reluLayer
    #     fullyConnectedLayer(10)
    #     softmaxLayer
    #     classificationLayer]
    layer = batchNormalizationLayer('Name', 'bn1')
    layers = [
        imageInputLayer([32, 32, 3]),
        convolution2dLayer(3, 16, 'Padding', 1),
        batchNormalizationLayer(),
        reluLayer(),
        maxPooling2dLayer(2, 'Stride', 2),
        convolution2dLayer(3, 32, 'Padding', 1),
        batchNormalizationLayer(),
        reluLayer(),
        fullyConnectedLayer(10),
        softmaxLayer(),
        classificationLayer()]
    assert layer.Name == "bn1"
    report = analyzeNetwork(layers, 'Print', False)
    assert report.Errors == [] and report.rows[-3]["ActivationSize"] == (10,)


def test_checkpoints_with_training_options(tmp_path):
    # checkpointPath = pwd;
    # options = trainingOptions('sgdm', ...
    #     'MaxEpochs',2, ...
    #     'Verbose',false, ...
    #     'CheckpointPath',checkpointPath);
    # net = trainNetwork(XTrain,YTrain,layers,options);
    # load convnet_checkpoint__4__2018_07_29__11_59_23.mat   % one file per epoch
    XTrain, YTrain, _ = digitTrain4DArrayData()
    XTrain, YTrain = XTrain[:, :, :, :100], YTrain[:100]          # quick: 100 images
    layers = [imageInputLayer([28, 28, 1]), convolution2dLayer(3, 4), reluLayer(),
              fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]
    checkpointPath = str(tmp_path)
    options = trainingOptions('sgdm',
                              'MaxEpochs', 2,
                              'MiniBatchSize', 50,                 # quick: 100 images
                              'Verbose', False,
                              'CheckpointPath', checkpointPath)
    net = trainNetwork(XTrain, YTrain, layers, options)
    assert len(glob.glob(f"{checkpointPath}/*_checkpoint__*")) == 2
    assert classify(net, XTrain).shape == (100,)


def test_output_function_stops_training_early():
    # options = trainingOptions('sgdm', ...
    #     'MaxEpochs',20, ...
    #     'Verbose',false, ...
    #     'OutputFcn',@(info)stopAtIteration(info,5));
    # [net,info] = trainNetwork(XTrain,YTrain,layers,options);
    # function stop = stopAtIteration(info,N)
    # stop = false;
    # if info.Iteration >= N
    #     stop = true;
    # end
    # end
    def stopAtIteration(info, N):
        stop = False
        if info.Iteration >= N:
            stop = True
        return stop
    XTrain, YTrain, _ = digitTrain4DArrayData()
    XTrain, YTrain = XTrain[:, :, :, :100], YTrain[:100]          # quick: 100 images
    layers = [imageInputLayer([28, 28, 1]), fullyConnectedLayer(10), softmaxLayer(), classificationLayer()]
    options = trainingOptions('sgdm',
                              'MaxEpochs', 20,
                              'MiniBatchSize', 10,                 # quick: 10 iterations per epoch
                              'Verbose', False,
                              'OutputFcn', lambda info: stopAtIteration(info, 5))
    net, info = trainNetwork(XTrain, YTrain, layers, options)
    assert len(info.TrainingLoss) == 5


def test_train_convolutional_neural_network_for_regression():
    # [XTrain,~,YTrain] = digitTrain4DArrayData;
    # [XValidation,~,YValidation] = digitTest4DArrayData;
    # layers = [
    #     imageInputLayer([28 28 1])
    #     convolution2dLayer(3,8,'Padding','same')
    #     batchNormalizationLayer
    #     reluLayer
    #     averagePooling2dLayer(2,'Stride',2)
    #     convolution2dLayer(3,16,'Padding','same')
    #     batchNormalizationLayer
    #     reluLayer
    #     fullyConnectedLayer(1)
    #     regressionLayer];
    # options = trainingOptions('sgdm', ...
    #     'MiniBatchSize',128, ...
    #     'MaxEpochs',30, ...
    #     'InitialLearnRate',1e-3, ...
    #     'Shuffle','every-epoch', ...
    #     'Verbose',false);
    # net = trainNetwork(XTrain,YTrain,layers,options);
    # YPred = predict(net,XValidation);
    # predictionError = YValidation - YPred;
    # rmse = sqrt(mean(predictionError.^2))
    rng(0)
    XTrain, _, YTrain = digitTrain4DArrayData()
    XValidation, _, YValidation = digitTest4DArrayData()
    XTrain, YTrain = XTrain[:, :, :, :600], YTrain[:600]                        # quick: 600 of 5000
    XValidation, YValidation = XValidation[:, :, :, :300], YValidation[:300]    # quick: 300 of 5000
    layers = [
        imageInputLayer([28, 28, 1]),
        convolution2dLayer(3, 8, 'Padding', 'same'),
        batchNormalizationLayer(),
        reluLayer(),
        averagePooling2dLayer(2, 'Stride', 2),
        convolution2dLayer(3, 16, 'Padding', 'same'),
        batchNormalizationLayer(),
        reluLayer(),
        fullyConnectedLayer(1),
        regressionLayer()]
    options = trainingOptions('sgdm',
                              'MiniBatchSize', 32,                 # quick: 128 → 32 (600 images)
                              'MaxEpochs', 4,                      # quick: 30 → 4
                              'InitialLearnRate', 1e-3,
                              'Shuffle', 'every-epoch',
                              'Verbose', False)
    net = trainNetwork(XTrain, YTrain, layers, options)
    YPred = predict(net, XValidation)
    predictionError = YValidation - YPred
    rmse = sqrt(mean(predictionError ** 2))
    assert predictionError.shape == (300, 1)
    assert rmse < RMSE_FRACTION * float(np.std(YValidation))    # better than predicting the mean angle


def test_dag_network_with_addition_layer():
    # layers = [
    #     imageInputLayer([28 28 1],'Name','input')
    #     convolution2dLayer(5,16,'Padding','same','Name','conv_1')
    #     batchNormalizationLayer('Name','BN_1')
    #     reluLayer('Name','relu_1')
    #     convolution2dLayer(3,32,'Padding','same','Stride',2,'Name','conv_2')
    #     batchNormalizationLayer('Name','BN_2')
    #     reluLayer('Name','relu_2')
    #     convolution2dLayer(3,32,'Padding','same','Name','conv_3')
    #     batchNormalizationLayer('Name','BN_3')
    #     reluLayer('Name','relu_3')
    #     additionLayer(2,'Name','add')
    #     averagePooling2dLayer(2,'Stride',2,'Name','avpool')
    #     fullyConnectedLayer(10,'Name','fc')
    #     softmaxLayer('Name','softmax')
    #     classificationLayer('Name','classOutput')];
    # lgraph = layerGraph(layers);
    # skipConv = convolution2dLayer(1,32,'Stride',2,'Name','skipConv');
    # lgraph = addLayers(lgraph,skipConv);
    # lgraph = connectLayers(lgraph,'relu_1','skipConv');
    # lgraph = connectLayers(lgraph,'skipConv','add/in2');
    # options = trainingOptions('sgdm','MaxEpochs',8,'Shuffle','every-epoch','Verbose',false);
    # net = trainNetwork(XTrain,YTrain,lgraph,options);
    # YPredicted = classify(net,XValidation);
    # accuracy = mean(YPredicted == YValidation)
    rng(0)                                                                      # quick: a fixed seed
    XTrain, YTrain, _ = digitTrain4DArrayData()
    XValidation, YValidation, _ = digitTest4DArrayData()
    XTrain, YTrain = XTrain[:, :, :, :200], YTrain[:200]                        # quick: 200 images
    XValidation, YValidation = XValidation[:, :, :, :100], YValidation[:100]    # quick: 100 images
    layers = [
        imageInputLayer([28, 28, 1], 'Name', 'input'),
        convolution2dLayer(5, 16, 'Padding', 'same', 'Name', 'conv_1'),
        batchNormalizationLayer('Name', 'BN_1'),
        reluLayer('Name', 'relu_1'),
        convolution2dLayer(3, 32, 'Padding', 'same', 'Stride', 2, 'Name', 'conv_2'),
        batchNormalizationLayer('Name', 'BN_2'),
        reluLayer('Name', 'relu_2'),
        convolution2dLayer(3, 32, 'Padding', 'same', 'Name', 'conv_3'),
        batchNormalizationLayer('Name', 'BN_3'),
        reluLayer('Name', 'relu_3'),
        additionLayer(2, 'Name', 'add'),
        averagePooling2dLayer(2, 'Stride', 2, 'Name', 'avpool'),
        fullyConnectedLayer(10, 'Name', 'fc'),
        softmaxLayer('Name', 'softmax'),
        classificationLayer('Name', 'classOutput')]
    lgraph = layerGraph(layers)
    skipConv = convolution2dLayer(1, 32, 'Stride', 2, 'Name', 'skipConv')
    lgraph = addLayers(lgraph, skipConv)
    lgraph = connectLayers(lgraph, 'relu_1', 'skipConv')
    lgraph = connectLayers(lgraph, 'skipConv', 'add/in2')
    options = trainingOptions('sgdm', 'MaxEpochs', 1, 'Shuffle', 'every-epoch', 'Verbose', False,  # quick: 8 → 1
                              'MiniBatchSize', 25)                                                # quick
    net = trainNetwork(XTrain, YTrain, lgraph, options)
    YPredicted = classify(net, XValidation)
    accuracy = mean(YPredicted == YValidation)
    assert accuracy > ACCURACY_DAG and YPredicted.shape == (100,)
    assert ("skipConv", "add/in2") in [tuple(c) for c in net.connection_pairs()] or "skipConv" in net.layer_names()


def test_extract_image_features_with_activations():
    # layer = 'fc';
    # featuresTrain = activations(net,XTrain,layer,'OutputAs','rows');
    # featuresTest = activations(net,XTest,layer,'OutputAs','rows');
    # YPred = classify(net, XTest, 'MiniBatchSize', 64);
    XTrain, YTrain, _ = digitTrain4DArrayData()
    XTest, _, _ = digitTest4DArrayData()
    XTrain, YTrain, XTest = XTrain[:, :, :, :100], YTrain[:100], XTest[:, :, :, :50]   # quick: 100 and 50
    layers = [imageInputLayer([28, 28, 1]), convolution2dLayer(3, 4), reluLayer(),
              fullyConnectedLayer(10, 'Name', 'fc'), softmaxLayer(), classificationLayer()]
    net = trainNetwork(XTrain, YTrain, layers, trainingOptions('sgdm', 'MaxEpochs', 1, 'MiniBatchSize', 50,
                                                               'Verbose', False))
    layer = 'fc'
    featuresTrain = activations(net, XTrain, layer, 'OutputAs', 'rows')
    featuresTest = activations(net, XTest, layer, 'OutputAs', 'rows')
    YPred = classify(net, XTest, 'MiniBatchSize', 64)
    assert featuresTrain.shape == (100, 10) and featuresTest.shape == (50, 10)
    np.testing.assert_array_equal(YPred, np.asarray(net.Layers[-1].Classes)[featuresTest.argmax(axis=1)])
