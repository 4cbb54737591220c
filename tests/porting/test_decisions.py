"""The choices docs/porting-from-matlab.md records where MATLAB's behaviour is unconfirmed
(reference: UNCONFIRMED), each pinned by a number: trainnet's loss normalisation, the
rotation angles of digitTrain4DArrayData, and confusionmat's default order."""
import numpy as np

import minidl

RS = np.random.default_rng(11)


def frozen_first_loss(layers, X, T, loss):
    options = minidl.trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=X.shape[-1] if X.ndim == 4 else len(X),
                                     Shuffle="never", Verbose=False)
    _, info = minidl.trainnet(X, T, layers, loss, options)
    return info.TrainingLoss[0]


def test_trainnet_losses_divide_by_positions_or_by_all_elements():
    """crossentropy: −Σ T·log Y / (N·S), N observations and S spatial positions (channels
    summed, as a per-pixel classification is averaged over pixels); mse: Σ (Y−T)² / (N·S·C),
    the mean over every element (not MATLAB R2017b regressionLayer's half-MSE over N)."""
    X = RS.standard_normal((2, 2, 3, 5))
    W = RS.standard_normal((1, 1, 3, 4))
    conv = minidl.convolution2dLayer(1, 4, Weights=W, Bias=np.zeros((1, 1, 4)), WeightLearnRateFactor=0,
                                     BiasLearnRateFactor=0)
    Z = np.einsum("hwcn,ck->hwkn", X, W[0, 0])                      # H×W×K×N scores, by hand
    Y = np.exp(Z - Z.max(axis=2, keepdims=True))
    Y /= Y.sum(axis=2, keepdims=True)
    T = np.eye(4)[RS.integers(0, 4, (2, 2, 5))].transpose(0, 1, 3, 2)  # one class per pixel
    layers = [minidl.imageInputLayer([2, 2, 3], Normalization="none"), conv, minidl.softmaxLayer()]
    expected = -np.sum(T * np.log(Y)) / (5 * 2 * 2)
    np.testing.assert_allclose(frozen_first_loss(layers, X, T, "crossentropy"), expected, rtol=1e-5)
    targets = RS.standard_normal((2, 2, 4, 5))
    layers = [minidl.imageInputLayer([2, 2, 3], Normalization="none"), conv]
    np.testing.assert_allclose(frozen_first_loss(layers, X, targets, "mse"), np.mean((Z - targets) ** 2), rtol=1e-5)


def test_digit_angles_are_within_45_degrees_either_way():
    """digitTrain4DArrayData's angles: degrees, uniform in [−45, 45] (MATLAB's data set spans
    about that range; its exact distribution is unconfirmed)."""
    for function in (minidl.digitTrain4DArrayData, minidl.digitTest4DArrayData):
        _, _, angles = function()
        assert angles.shape == (5000, 1) and -45 <= angles.min() < -44 and 44 < angles.max() <= 45
        counts, _ = np.histogram(angles, bins=9, range=(-45, 45))
        assert counts.min() > 0.8 * 5000 / 9                         # uniform: no bin far below its share


def test_confusionmat_default_order():
    """Numbers ascending; text in order of first appearance, in group then grouphat;
    categorical: its categories."""
    assert minidl.confusionmat([3, 1, 2], [2, 10, 2]).order == [1, 2, 3, 10]
    C = minidl.confusionmat(["dog", "cat", "dog"], ["cat", "bird", "dog"])
    assert C.order == ["dog", "cat", "bird"] and C.tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]
    g = minidl.categorical(["b", "a"], ["b", "a", "c"])
    assert minidl.confusionmat(g, g).order == ["b", "a", "c"]
