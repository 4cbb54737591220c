"""MATLAB's custom PReLU layer ("Define Custom Deep Learning Layer with Learnable
Parameters"), ported literally: predict and backward on MATLAB layouts (H×W×C×N), the
learnable declared once. checkLayer passes and the layer trains in a small network.

MATLAB:
    classdef preluLayer < nnet.layer.Layer
        properties (Learnable)
            Alpha
        end
        methods
            function layer = preluLayer(numChannels, name)
                layer.Name = name;
                layer.Description = "PReLU with " + numChannels + " channels";
                layer.Alpha = rand([1 1 numChannels]);
            end
            function Z = predict(layer, X)
                Z = max(X,0) + layer.Alpha .* min(0,X);
            end
            function [dLdX, dLdAlpha] = backward(layer, X, ~, dLdZ, ~)
                dLdX = layer.Alpha .* dLdZ;
                dLdX(X>0) = dLdZ(X>0);
                dLdAlpha = min(0,X) .* dLdZ;
                dLdAlpha = sum(dLdAlpha,[1 2]);
                dLdAlpha = sum(dLdAlpha,4);
            end
        end
    end
    layer = preluLayer(20,'prelu');
    validInputSize = [5 5 20];
    checkLayer(layer,validInputSize,'ObservationDimension',4)
"""
import numpy as np

import minidl
from minidl import Layer


class preluLayer(Layer):
    Learnable = ("Alpha",)          # properties (Learnable)

    def __init__(self, numChannels, name):
        self.Name = name
        self.Description = "PReLU with " + str(numChannels) + " channels"
        self.Alpha = np.random.rand(1, 1, numChannels)

    def predict(self, X):
        Z = np.maximum(X, 0) + self.Alpha * np.minimum(0, X)
        return Z

    def backward(self, X, _, dLdZ, __):
        dLdX = self.Alpha * dLdZ
        dLdX[X > 0] = dLdZ[X > 0]
        dLdAlpha = np.minimum(0, X) * dLdZ
        dLdAlpha = np.sum(dLdAlpha, axis=(0, 1), keepdims=True)
        dLdAlpha = np.sum(dLdAlpha, axis=3, keepdims=True)
        return dLdX, dLdAlpha


def main(count=200, epochs=2):
    layer = preluLayer(20, 'prelu')
    validInputSize = [5, 5, 20]
    minidl.checkLayer(layer, validInputSize, 'ObservationDimension', 4, 'verbose', False)
    X, Y = minidl.digits(0)
    pick = np.r_[0:count // 2, 1000:1000 + count // 2]
    XTrain, YTrain = X[:, :, :, pick].astype(np.float32) / 255, Y[pick]
    layers = [minidl.imageInputLayer([28, 28, 1]), minidl.convolution2dLayer(5, 20),
              minidl.batchNormalizationLayer(), preluLayer(20, 'prelu'), minidl.fullyConnectedLayer(2),
              minidl.softmaxLayer(), minidl.classificationLayer()]
    options = minidl.trainingOptions('sgdm', 'MaxEpochs', epochs, 'MiniBatchSize', 20, 'Verbose', False)
    net, info = minidl.trainNetwork(XTrain, YTrain, layers, options)
    YPred = minidl.classify(net, XTrain)
    return net, info, float(np.mean(YPred == YTrain))


if __name__ == "__main__":
    net, info, accuracy = main()
    print(f"training accuracy {accuracy:.2f}; Alpha of the first channels: {net.Layers[3].Alpha.ravel()[:4]}")
