"""The README's Python example and every example script run (examples in quick mode)."""
import os
import pathlib
import re
import subprocess
import sys

import pytest
from test_teaching_examples import EXAMPLES as TEACHING_EXAMPLES

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    assert [line.split()[:2] for line in first_block.strip().splitlines()] == [["make", "demo"], ["make", "test"]]


def test_readme_python_example_runs():
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 16
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["net"].Layers[-1].Name == "classoutput"
    assert (namespace["YPred"] == namespace["YTest"]).mean() > 0.9


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "examples").glob("*.py")
                                           if p.name not in TEACHING_EXAMPLES))   # run (and checked) there
def test_example_runs_in_quick_mode(script):
    env = dict(os.environ, MINIDL_QUICK="1",      # the examples import this checkout's minidl
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    if script == "simple_cnn_digits.py":
        last = result.stdout.strip().splitlines()[-1]
        assert re.fullmatch(r"accuracy = 0\.\d{4}|accuracy = 1\.0000", last), last
