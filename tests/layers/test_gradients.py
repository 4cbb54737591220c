"""Float64 finite-difference gradient check of every layer (loss Σ G⊙Z, G random)."""
import numpy as np
import pytest

import minidl

CASES = [
    ("conv same", lambda: minidl.convolution2dLayer(3, 4, Padding="same"), (6, 5, 3)),
    ("conv stride/dilation", lambda: minidl.convolution2dLayer([3, 2], 2, Stride=[2, 1],
                                                                DilationFactor=[1, 2], Padding=[1, 0, 2, 1]), (7, 6, 2)),
    ("batchnorm image", lambda: minidl.batchNormalizationLayer(), (4, 3, 3)),
    ("batchnorm features", lambda: minidl.batchNormalizationLayer(), (5,)),
    ("relu", lambda: minidl.reluLayer(), (4, 4, 2)),
    ("maxpool 2/2", lambda: minidl.maxPooling2dLayer(2, Stride=2), (6, 6, 2)),
    ("maxpool overlapping same", lambda: minidl.maxPooling2dLayer(3, Stride=2, Padding="same"), (5, 6, 2)),
    ("fc image", lambda: minidl.fullyConnectedLayer(4), (3, 2, 2)),
    ("fc features", lambda: minidl.fullyConnectedLayer(3), (5,)),
    ("softmax", lambda: minidl.softmaxLayer(), (5,)),
    ("classification", lambda: minidl.classificationLayer(), (5,)),
    ("image input", lambda: minidl.imageInputLayer([4, 4, 2], Mean=np.ones((1, 1, 2))), (4, 4, 2)),
]


@pytest.mark.parametrize("name,make,size", CASES, ids=[c[0] for c in CASES])
def test_layer_gradients(name, make, size):
    results = minidl.checkLayer(make(), size, verbose=False)
    assert all(passed for _, passed, _ in results)


def test_batchnorm_gradient_would_catch_missing_mean_term():
    """The weighted loss is what makes the check meaningful: with Σ Z every BN dX is zero."""
    layer = minidl.batchNormalizationLayer()
    layer.initialize((3, 3, 2), np.random.default_rng(0))
    X = np.random.default_rng(1).standard_normal((4, 2, 3, 3))
    _, memory = layer.forward(X)
    dX, _ = layer.backward(np.ones_like(X), memory)
    assert np.max(np.abs(dX)) < 1e-5  # Σ Z hides the whole gradient...
    G = np.random.default_rng(2).standard_normal(X.shape)
    dX, _ = layer.backward(G, memory)
    assert np.max(np.abs(dX)) > 0.1  # ...a random weighting exposes it.


def test_check_layer_reports_a_wrong_backward():
    class Broken(minidl.Layer):
        def predict(self, X):
            return 2 * X

        def backward(self, dLdZ, memory):
            return dLdZ, {}  # should be 2·dLdZ

    with pytest.raises(minidl.LayerCheckError, match="dL/dX"):
        minidl.checkLayer(Broken(), (3,), verbose=False)


@pytest.mark.parametrize("make,sizes", [
    (lambda: minidl.additionLayer(3), ((3, 3, 2), (3, 3, 2), (3, 3, 2))),
    (lambda: minidl.depthConcatenationLayer(2), ((3, 3, 2), (3, 3, 1))),
    (lambda: minidl.concatenationLayer(1, 2), ((2, 3, 2), (4, 3, 2))),
], ids=["addition", "depthcat", "concat"])
def test_check_layer_handles_several_inputs(make, sizes):
    results = minidl.checkLayer(make(), sizes, verbose=False)
    assert sum(title.startswith("dL/dX") for title, _, _ in results) == len(sizes)
    assert all(passed for _, passed, _ in results)
