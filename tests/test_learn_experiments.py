"""The batch-norm learning experiments (examples/learn/) run in quick mode and write their
figure and numbers; the numbers the unit quotes come from the committed full runs."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPERIMENTS = ("bn_paper_mnist", "bn_lr_sweep", "bn_batch_size", "bn_noise", "bn_regularization")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_in_quick_mode_and_writes_figure_and_numbers(name, tmp_path):
    env = dict(os.environ, MINIDL_QUICK="1", MINIDL_FIGURES_DIR=str(tmp_path), MPLBACKEND="Agg")
    env.pop("MINIDL_MNIST", None)
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "learn" / f"{name}.py")], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == PNG_SIGNATURE
    numbers = json.loads((tmp_path / f"{name}.json").read_text())
    assert numbers["quick"] is True and "built-in digits" in numbers["source"]
    assert not list(tmp_path.glob(".*.partial")), "a temporary file was left behind"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_committed_numbers_are_from_a_full_run_and_quoted_in_the_unit(name):
    numbers = json.loads((ROOT / "docs" / "figures" / f"{name}.json").read_text())
    assert numbers["quick"] is False, f"docs/figures/{name}.json comes from a quick run"
    assert (ROOT / "docs" / "figures" / f"{name}.png").is_file()
    unit = "\n".join(page.read_text() for page in (ROOT / "docs" / "learn").glob("*.md"))
    assert f"figures/{name}.png" in unit and f"examples/learn/{name}.py" in unit


def _batchnorm_twin(X, G, gamma, beta, eps=1e-5):
    """float64 batch norm over axis 0 of X (N×C): output, dL/dX, dL/dScale, dL/dOffset."""
    mean, var = X.mean(0), X.var(0)
    xhat = (X - mean) / np.sqrt(var + eps)
    dX = gamma / np.sqrt(var + eps) * (G - G.mean(0) - xhat * (G * xhat).mean(0))
    return gamma * xhat + beta, dX, (G * xhat).sum(0), G.sum(0)


def test_ghost_batch_norm_normalizes_each_ghost_batch_on_its_own(monkeypatch):
    """bn_regularization.GhostBatchNorm against a float64 twin applied to each ghost batch; the
    whole mini-batch's statistics go to the trained statistics."""
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "learn"))
    monkeypatch.setattr(sys, "argv", ["pytest", "--quick"])
    from bn_regularization import GhostBatchNorm
    gen = np.random.default_rng(0)
    X = gen.normal(2, 3, (10, 5)).astype(np.float32)        # 10 observations: ghosts of 4, 4 and 2
    G = gen.standard_normal((10, 5)).astype(np.float32)
    layer = GhostBatchNorm(4)
    layer.initialize((5,), None)
    layer.Scale = gen.uniform(0.5, 2, (5, 1)).astype(np.float32)
    layer.Offset = gen.standard_normal((5, 1)).astype(np.float32)
    Z, memory = layer.forward(X)
    dX, grads = layer.backward(G, memory)
    gamma, beta = layer.Scale.reshape(-1).astype(np.float64), layer.Offset.reshape(-1).astype(np.float64)
    dScale, dOffset = np.zeros(5), np.zeros(5)
    for ghost in (slice(0, 4), slice(4, 8), slice(8, 10)):
        z, dx, ds, do = _batchnorm_twin(X[ghost].astype(np.float64), G[ghost].astype(np.float64), gamma, beta)
        np.testing.assert_allclose(Z[ghost], z, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dX[ghost], dx, rtol=1e-3, atol=1e-4)
        dScale, dOffset = dScale + ds, dOffset + do
    np.testing.assert_allclose(grads["Scale"].reshape(-1), dScale, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["Offset"].reshape(-1), dOffset, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(memory.mean, X.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(memory.var, X.astype(np.float64).var(0), rtol=1e-6)
