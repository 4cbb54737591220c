"""minidl: a small deep-learning framework with MATLAB's Deep Learning Toolbox API."""
import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The public names: static tools (IDEs, type checkers, the API docs) read them from these
# imports, which do not run. At run time each name is imported when it is first used
# (PEP 562, __getattr__ below, which reads the same imports), so ``import minidl`` takes
# milliseconds and Numba, networkx and tqdm load with the first function that needs them.
# A new public name goes here and in __all__.
if TYPE_CHECKING:
    from ._rng import rng
    from .graph.analyze import NetworkValidationError, analyzeNetwork
    from .graph.layer_graph import (LayerGraph, addLayers, connectLayers, disconnectLayers, layerGraph,
                                    removeLayers, replaceLayer)
    from .graph.inference import activations, assembleNetwork, classify, predict
    from .graph.network import DAGNetwork, SeriesNetwork
    from .graph.dlnetwork import dlnetwork, forward, initialize
    from .graph.minibatch import minibatchpredict, scores2label
    from .graph.plot import plot
    from .layers.activation import (ELULayer, GELULayer, LeakyReLULayer, ReLULayer, SigmoidLayer, TanhLayer,
                                    eluLayer, geluLayer, leakyReluLayer, reluLayer, sigmoidLayer, tanhLayer)
    from .layers.channel_norm import (CrossChannelNormalizationLayer, InstanceNormalizationLayer,
                                      crossChannelNormalizationLayer, instanceNormalizationLayer)
    from .layers.factors import freezeWeights, getL2Factor, getLearnRateFactor, setL2Factor, setLearnRateFactor
    from .layers.flatten import FlattenLayer, flattenLayer
    from .layers.transposed_conv import TransposedConvolution2DLayer, transposedConv2dLayer
    from .layers.base import Layer, Memory
    from .layers.check import LayerCheckError, checkLayer
    from .layers.combine import AdditionLayer, ConcatenationLayer, DepthConcatenationLayer
    from .layers.combine import additionLayer, concatenationLayer, depthConcatenationLayer
    from .layers.conv import Convolution2DLayer, convolution2dLayer
    from .layers.dense import FullyConnectedLayer, fullyConnectedLayer
    from .layers.dropout import DropoutLayer, dropoutLayer
    from .layers.input import FeatureInputLayer, ImageInputLayer, featureInputLayer, imageInputLayer
    from .layers.normalization import (BatchNormalizationLayer, GroupNormalizationLayer, LayerNormalizationLayer,
                                       batchNormalizationLayer, groupNormalizationLayer, layerNormalizationLayer)
    from .layers.output import (ClassificationOutputLayer, RegressionOutputLayer, SoftmaxLayer, classificationLayer,
                                regressionLayer, softmaxLayer)
    from .layers.pooling import (AveragePooling2DLayer, GlobalAveragePooling2DLayer, MaxPooling2DLayer,
                                 averagePooling2dLayer, globalAveragePooling2dLayer, maxPooling2dLayer)
    from .options import OptionError
    from .threads import maxNumCompThreads
    from .io.errors import ModelFileError
    from .io.files import load, save
    from .io.onnx_export import exportONNXNetwork
    from .io.onnx_import import importNetworkFromONNX, importONNXNetwork
    from .training.loop import trainNetwork
    from .training.trainnet import testnet, trainnet
    from .training.options import trainingOptions
    from .training.profile import profileNetwork
    from .parallel.pool import gcp, parpool
    from .training.probe import trainingProbe
    from . import datasets
    from .data import digits, splitEachLabel
    from .data.charts import confusionchart
    from .data.digit_arrays import digitTest4DArrayData, digitTrain4DArrayData
    from .data.labels import categorical, categories, confusionmat, countEachLabel
    from .data.datastore import hasdata, numpartitions, partition, preview, read, readall, reset, shuffle, subset
    from .data.image_datastore import ImageDatastore, imageDatastore, readimage
    from .data.array_datastore import ArrayDatastore, CombinedDatastore, arrayDatastore, combine
    from .data.digit_folder import digitDataset
    from .data.mnist import loadMNIST, readIDX
    from .data.augmentation import augment, imageDataAugmenter
    from .data.augmented_datastore import augmentedImageDatastore

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
           "OptionError", "maxNumCompThreads", "profileNetwork", "exportONNXNetwork", "importONNXNetwork",
           "importNetworkFromONNX", "ModelFileError",
           # issue 12: the missing layers, learn-rate factors
           "sigmoidLayer", "tanhLayer", "eluLayer", "geluLayer", "flattenLayer", "transposedConv2dLayer",
           "instanceNormalizationLayer", "crossChannelNormalizationLayer", "setLearnRateFactor",
           "getLearnRateFactor", "setL2Factor", "getL2Factor", "freezeWeights",
           # issue 12: data and results
           "digitTrain4DArrayData", "digitTest4DArrayData", "categorical", "categories", "countEachLabel",
           "confusionmat", "confusionchart",
           # issue 13: datastores (point 1, 4)
           "imageDatastore", "ImageDatastore", "readimage", "read", "hasdata", "reset", "readall", "preview",
           "subset", "shuffle", "partition", "numpartitions", "arrayDatastore", "ArrayDatastore", "combine",
           "CombinedDatastore", "digitDataset", "readIDX", "loadMNIST",
           # the layer classes, for isinstance (build layers with the constructor functions above)
           "ReLULayer", "LeakyReLULayer", "SigmoidLayer", "TanhLayer", "ELULayer", "GELULayer",
           "CrossChannelNormalizationLayer", "InstanceNormalizationLayer", "FlattenLayer",
           "TransposedConvolution2DLayer", "AdditionLayer", "ConcatenationLayer", "DepthConcatenationLayer",
           "Convolution2DLayer", "FullyConnectedLayer", "DropoutLayer", "FeatureInputLayer", "ImageInputLayer",
           "BatchNormalizationLayer", "GroupNormalizationLayer", "LayerNormalizationLayer",
           "ClassificationOutputLayer", "RegressionOutputLayer", "SoftmaxLayer", "AveragePooling2DLayer",
           "GlobalAveragePooling2DLayer", "MaxPooling2DLayer",
           # the current API (R2024a+)
           "dlnetwork", "initialize", "forward", "trainnet", "minibatchpredict", "scores2label", "testnet",
           # issue 13: augmentation
           "imageDataAugmenter", "augment", "augmentedImageDatastore",
           # issue 14: data-parallel training on Ray
           "parpool", "gcp",
           # issue 15: the training probe
           "trainingProbe"]


def _public_imports():
    """{name: module} of the imports under TYPE_CHECKING in this file."""
    import ast

    tree = ast.parse(__loader__.get_source(__name__))    # a plain file or inside a zip
    guarded = next(node for node in tree.body if isinstance(node, ast.If))
    return {alias.name: "." * node.level + (node.module or "")
            for node in guarded.body for alias in node.names}


_SOURCES = _public_imports()     # public name -> its module


def __getattr__(name):
    """A public name, or a submodule such as ``minidl.datasets``, imported on first use."""
    module = _SOURCES.get(name)
    if module is not None and module != ".":
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value      # later lookups find it without calling __getattr__
        return value
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":      # the submodule exists but needs a missing one
            raise
    raise AttributeError(f"module 'minidl' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SOURCES))
