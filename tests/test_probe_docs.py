"""The probe guide and the lab guide (docs/learn/) run: their ```python blocks, in order, in
one namespace per page, as tests/test_docs.py runs docs/*.md; and every file the lab guide
names exists."""
import importlib.util
import pathlib
import re

import numpy as np
import pytest

import minidl._rng

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "docs" / "learn" / "probe.md", ROOT / "docs" / "learn" / "lab-guide.md"]


def _test_docs():
    spec = importlib.util.spec_from_file_location("docs_runner", pathlib.Path(__file__).parent / "test_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_learn_page_python_blocks_run(page, tmp_path, monkeypatch):
    docs = _test_docs()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(minidl._rng, "_generator", np.random.default_rng(0))
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for first_line, tag, code in docs.python_blocks(page):
        if tag != "no-run":
            exec(docs._compile(page, first_line, code), namespace)


def test_lab_guide_names_files_that_exist():
    text = PAGES[1].read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:notebooks|examples)/[\w/.-]+\.(?:ipynb|py))`", text))
    assert len(named) >= 10
    learn_examples = {name for name in named if name.startswith("examples/learn/")}
    missing = [name for name in named - learn_examples if not (ROOT / name).exists()]
    assert not missing, missing
    # the experiments come from the unit's own branch; once merged, they must exist too
    if (ROOT / "examples" / "learn").is_dir():
        assert not [name for name in learn_examples if not (ROOT / name).exists()]
    assert text.count("\n## ") >= 6 and text.count("**Solution.**") >= 6
