"""How batch-normalization layers get TrainedMean/TrainedVariance (BatchNormalizationStatistics).

'moving': the estimates start from the layer's given values, else 0 and 1 (as PyTorch),
and after every iteration ``stat ← (1 − decay)·stat + decay·batch_stat`` with MeanDecay /
VarianceDecay; the batch variance is the biased one used to normalize.

'population': after training, one more training-mode pass over every observation (the
last partial mini-batch included); each batch's (count, mean, M2) is merged exactly with
Chan's formula, giving the mean and the biased variance over the whole training set.
"""
import numpy as np

from ..kernels import batchnorm as kernels
from ..layers.normalization import BatchNormalizationLayer


def batchnorm_indices(layers):
    return [i for i, layer in enumerate(layers) if isinstance(layer, BatchNormalizationLayer)]


def start_moving(layers):
    """Give every batch-norm layer starting estimates: its own, else mean 0 and variance 1."""
    for index in batchnorm_indices(layers):
        layer = layers[index]
        shape = layer.Scale.shape
        if layer.TrainedMean is None:
            layer.TrainedMean = np.zeros(shape, np.float32)
        if layer.TrainedVariance is None:
            layer.TrainedVariance = np.ones(shape, np.float32)


def update_moving(layers, memories):
    """``TrainedMean ← (1 − MeanDecay)·TrainedMean + MeanDecay·μ_B`` (and the variance alike)."""
    for index in batchnorm_indices(layers):
        layer, memory = layers[index], memories[index]
        shape = layer.TrainedMean.shape
        mean = (1 - layer.MeanDecay) * layer.TrainedMean.astype(np.float64) \
            + layer.MeanDecay * memory.mean.reshape(shape)
        variance = (1 - layer.VarianceDecay) * layer.TrainedVariance.astype(np.float64) \
            + layer.VarianceDecay * memory.var.reshape(shape)
        layer.TrainedMean = mean.astype(np.float32)
        layer.TrainedVariance = variance.astype(np.float32)


def finalize_population(net, X, batch_size):
    """Set TrainedMean/TrainedVariance from one training-mode pass over all of ``X``."""
    indices = batchnorm_indices(net._layers)
    if not indices:
        return
    totals = {i: None for i in indices}
    for batch in population_batches(X.shape[0], batch_size):
        _, memories = net.forward_train(X[batch])
        for i in indices:
            memory = memories[i]
            count = np.full(memory.mean.shape, memory.count, np.int64)
            stats = (count, memory.mean, memory.var * memory.count)
            totals[i] = stats if totals[i] is None else kernels.chan_merge(*totals[i], *stats)
    for i in indices:
        count, mean, m2 = totals[i]
        layer = net._layers[i]
        shape = layer.Scale.shape
        layer.TrainedMean = mean.reshape(shape).astype(np.float32)
        layer.TrainedVariance = (m2 / count).reshape(shape).astype(np.float32)


def population_batches(count, size):
    """'truncateLast' mini-batches; a last batch of one observation joins the one before,
    so that batch normalization always sees at least two observations when it can."""
    starts = list(range(0, count, size))
    if len(starts) > 1 and count - starts[-1] == 1:
        starts.pop()
    ends = starts[1:] + [count]
    return [slice(s, e) for s, e in zip(starts, ends)]
