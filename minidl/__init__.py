"""minidl: a small deep-learning framework with MATLAB's Deep Learning Toolbox API."""
from ._rng import rng
from .graph.network import SeriesNetwork, assembleNetwork, classify, predict
from .layers.activation import reluLayer
from .layers.base import Layer, Memory
from .layers.check import LayerCheckError, checkLayer
from .layers.conv import convolution2dLayer
from .layers.dense import fullyConnectedLayer
from .layers.input import imageInputLayer
from .layers.normalization import batchNormalizationLayer
from .layers.output import classificationLayer, softmaxLayer
from .layers.pooling import maxPooling2dLayer
from .options import OptionError
from .io.files import load, save
from .training.loop import trainNetwork
from .training.options import trainingOptions
from . import datasets
from .data import digits, splitEachLabel

__version__ = "0.1.0"
