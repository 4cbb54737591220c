"""The batch-norm teaching examples run in quick mode and write their figures as PNG files."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

EXAMPLES = {
    "bn_explained.py": ["bn_training_curves.png", "bn_activation_histograms.png"],
    "bn_by_hand.py": ["bn_by_hand.png"],
    "bn_statistics.py": ["bn_statistics.png"],
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_teaching_example_runs_and_writes_its_figures(script, tmp_path):
    figures = tmp_path / "figures"  # the example must create the folder itself
    env = dict(os.environ, MINIDL_QUICK="1", MINIDL_FIGURES_DIR=str(figures), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in EXAMPLES[script]:
        path = figures / name
        assert path.is_file(), f"{script} did not write {path}; stdout:\n{result.stdout[-2000:]}"
        assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG file"
    if script == "bn_by_hand.py":  # it asserts its own checks; make sure it got to the end
        assert "All checks passed" in result.stdout

