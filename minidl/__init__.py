"""minidl: a small deep-learning framework with MATLAB's Deep Learning Toolbox API."""
from ._rng import rng
from .graph.analyze import NetworkValidationError, analyzeNetwork
from .graph.layer_graph import (LayerGraph, addLayers, connectLayers, disconnectLayers, layerGraph,
                                removeLayers, replaceLayer)
from .graph.inference import activations, assembleNetwork, classify, predict
from .graph.network import DAGNetwork, SeriesNetwork
from .graph.plot import plot
from .layers.activation import leakyReluLayer, reluLayer
from .layers.base import Layer, Memory
from .layers.check import LayerCheckError, checkLayer
from .layers.combine import additionLayer, concatenationLayer, depthConcatenationLayer
from .layers.conv import convolution2dLayer
from .layers.dense import fullyConnectedLayer
from .layers.dropout import dropoutLayer
from .layers.input import featureInputLayer, imageInputLayer
from .layers.normalization import batchNormalizationLayer, groupNormalizationLayer, layerNormalizationLayer
from .layers.output import classificationLayer, regressionLayer, softmaxLayer
from .layers.pooling import averagePooling2dLayer, globalAveragePooling2dLayer, maxPooling2dLayer
from .options import OptionError
from .threads import maxNumCompThreads
from .io.files import load, save
from .training.loop import trainNetwork
from .training.options import trainingOptions
from . import datasets
from .data import digits, splitEachLabel

__version__ = "0.1.0"

__all__ = ["imageInputLayer", "featureInputLayer", "convolution2dLayer", "batchNormalizationLayer",
           "groupNormalizationLayer", "layerNormalizationLayer", "reluLayer", "leakyReluLayer",
           "dropoutLayer", "maxPooling2dLayer", "averagePooling2dLayer",
           "globalAveragePooling2dLayer", "fullyConnectedLayer", "additionLayer",
           "concatenationLayer", "depthConcatenationLayer", "softmaxLayer", "classificationLayer",
           "regressionLayer", "trainingOptions", "trainNetwork", "rng", "predict", "classify",
           "activations", "assembleNetwork", "SeriesNetwork", "DAGNetwork", "layerGraph",
           "LayerGraph", "addLayers", "removeLayers", "replaceLayer", "connectLayers",
           "disconnectLayers", "analyzeNetwork", "plot", "NetworkValidationError", "Layer",
           "Memory", "checkLayer", "LayerCheckError", "digits", "splitEachLabel", "save", "load",
           "OptionError", "maxNumCompThreads"]
