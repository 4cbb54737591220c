"""The batch-norm learning experiments (examples/learn/) run in quick mode and write their
figure and numbers; the numbers the unit quotes come from the committed full runs."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPERIMENTS = ("bn_paper_mnist", "bn_lr_sweep", "bn_batch_size", "bn_noise")
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
