"""The whole-network benchmark runs: `benchmarks/network.py --quick` writes its section of
the benchmarks page with numbers in every minidl column (and in the PyTorch columns when
torch is installed, "n/a" otherwise). A smoke test, not a timing: speed is measured by
`make bench`, never in tests (DESIGN §8)."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"^\d+(\.\d+)?(\\\*)?$")    # 12.345, or 12.345\* (a disturbed measurement)


def _importable(name):
    """Whether `import name` works in a fresh interpreter like the benchmark's."""
    return subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True).returncode == 0


def table(text, header_start):
    """The rows (lists of cells) of the Markdown table whose header starts with `header_start`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))))
    return rows


def check(rows, minidl_columns, torch_columns, has_torch):
    assert rows
    for row in rows:
        for column in minidl_columns:
            assert NUMBER.match(row[column]) and float(row[column].rstrip("\\*")) > 0, (column, row)
        for column in torch_columns:
            if has_torch:
                assert NUMBER.match(row[column]), (column, row)
            else:
                assert row[column] == "n/a", (column, row)


def test_network_benchmark_quick_run_writes_its_tables(tmp_path):
    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\n<!-- begin benchmarks/batchnorm.py -->\n\n## kept\n\n"
                      "<!-- end benchmarks/batchnorm.py -->\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "network.py"), "--quick",
                             "--output", str(output)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    text = output.read_text()
    has_torch = _importable("torch")

    # Its own section comes first; the other script's section is kept.
    assert text.index("<!-- begin benchmarks/network.py -->") < text.index("## kept")
    assert "## Whole network: training epoch and inference" in text

    training = table(text, "| network | mini-batch | threads | minidl s/epoch")
    assert [(r["network"], r["mini-batch"]) for r in training] == [("simple", "128")]
    check(training, ["minidl s/epoch", "minidl images/s", "minidl epoch 1 s"],
          ["PyTorch s/epoch", "PyTorch images/s", "minidl / PyTorch"], has_torch)
    population = table(text, "| network | mini-batch | threads | final pass s")
    assert len(population) == 1 and re.match(r"^-?\d+\.\d+(\\\*)?$", population[0]["final pass s"])
    inference = table(text, "| network | threads | minidl s")
    check(inference, ["minidl s", "minidl images/s"],
          ["PyTorch s", "PyTorch images/s", "minidl / PyTorch"], has_torch)
    assert "### Per-layer breakdown" in text        # the hook's place (n/a until wired)
