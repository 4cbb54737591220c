"""The documentation runs: every ```python block in docs/*.md, every docstring example in
minidl, and a runnable example in docs/ for every public name of minidl.

- The blocks of one page run in order in one shared namespace; each page starts from a
  fresh namespace, in a fresh temporary working folder (examples may write files), with
  minidl's global generator as in a new process (it is restored afterwards).
- A block opened with ```python no-run is compiled (so it has no syntax errors) but not
  run. Use it only for code that truly cannot run here, e.g. code that needs PyTorch.
- doctest.testmod runs over every module of the minidl package (ELLIPSIS and
  NORMALIZE_WHITESPACE), one test per module.
- Every runnable ```python block together must name each public name of minidl (its
  __all__, or else every public callable minidl/__init__.py exports).
"""
import doctest
import importlib
import pathlib
import pkgutil
import re

import numpy as np
import pytest

import minidl
import minidl._rng

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + sorted((DOCS / "learn").glob("*.md"))   # the reference pages, then the Learn unit

# An opening fence at any indentation, ```python plus an optional tag, then the body
# up to a closing fence with the same indentation.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```python(?P<tag>[^\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                    re.S | re.M)


def python_blocks(path):
    """[(first line number of the code, tag, code)] of the ```python blocks of a page."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        indent = len(match.group("indent"))
        lines = [line[indent:] for line in match.group("body").splitlines()]
        first_line = text.count("\n", 0, match.start("body")) + 1
        blocks.append((first_line, match.group("tag").strip(), "\n".join(lines) + "\n"))
    return blocks


def _compile(path, first_line, code):
    # Leading newlines make tracebacks point at the line of the Markdown file.
    return compile("\n" * (first_line - 1) + code, str(path), "exec")


def test_docs_folder_has_the_pages():
    names = {page.name for page in PAGES}
    for name in ("index.md", "layers.md", "training.md", "batchnorm.md", "porting-from-matlab.md"):
        assert name in names, f"docs/{name} is missing"


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_docs_page_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(minidl._rng, "_generator", np.random.default_rng(0))
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for first_line, tag, code in python_blocks(page):
        compiled = _compile(page, first_line, code)
        if tag == "no-run":
            continue
        assert tag == "", f"{page.name}:{first_line}: unknown block tag {tag!r} (only 'no-run' is allowed)"
        exec(compiled, namespace)


def _modules():
    names = ["minidl"]
    names += [info.name for info in pkgutil.walk_packages(minidl.__path__, prefix="minidl.")]
    return [importlib.import_module(name) for name in sorted(names)]


MODULES = _modules()


@pytest.mark.parametrize("module", MODULES, ids=[module.__name__ for module in MODULES])
def test_module_doctests_pass(module, capsys):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = capsys.readouterr().out
    assert result.failed == 0, report


def public_names():
    """minidl.__all__, or else every public callable that minidl/__init__.py exports."""
    if hasattr(minidl, "__all__"):
        return sorted(minidl.__all__)
    return sorted(name for name, value in vars(minidl).items()
                  if not name.startswith("_") and callable(value))


def test_every_public_name_has_a_runnable_example_in_docs():
    code = "\n".join(body for page in PAGES for _, tag, body in python_blocks(page) if tag != "no-run")
    missing = [name for name in public_names() if not re.search(rf"\b{re.escape(name)}\b", code)]
    assert not missing, (f"these public names of minidl appear in no runnable ```python block of "
                         f"docs/*.md: {missing}")


def test_docs_site_builds_strictly(tmp_path):
    """``make docs``: mkdocs with --strict, the API reference generated from the docstrings."""
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "api" / "index.html").read_text()
    import minidl
    for name in minidl.__all__:
        assert f'id="minidl.{name}"' in api, name
