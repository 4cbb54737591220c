"""The teaching notebooks (notebooks/): committed as built, and executed in quick mode.

Solutions notebooks run top to bottom and every grading cell prints PASSED. Exercise
notebooks run top to bottom too (their stubs raise NotImplementedError, which the grading
cell reports as NOT IMPLEMENTED YET instead of crashing) and no check passes."""
import importlib.util
import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat", reason="the dev extra (nbformat, nbclient, ipykernel) runs notebooks")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILT = _build_module().files()


def test_committed_notebooks_are_the_built_ones():
    for path, book in BUILT.items():
        committed = nbformat.read(path, as_version=4)
        assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in book.cells], \
            f"{path.name} differs from notebooks/build.py; run python notebooks/build.py"


def _outputs(book):
    """The printed text of each code cell, cells joined by a newline. A cell's stream
    outputs are joined as they were printed: a busy kernel may send one print in pieces."""
    return "\n".join("".join(output.get("text", "") for output in cell.get("outputs", ()))
                     for cell in book.cells if cell.cell_type == "code")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every notebook executed once in quick mode, on this checkout's minidl: {name: outputs}."""
    env = dict(MINIDL_QUICK="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               MPLBACKEND="Agg")
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)     # the kernel inherits the environment
    try:
        results = {}
        for path in BUILT:
            book = nbformat.read(path, as_version=4)
            book.cells.append(nbformat.v4.new_code_cell('import minidl; print("MINIDL FROM", minidl.__file__)'))
            client = nbclient.NotebookClient(book, timeout=300, kernel_name="python3",
                                             resources={"metadata": {"path": str(path.parent)}})
            client.execute()
            results[path.stem] = _outputs(book)
        return results
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_the_kernel_uses_this_checkout(executed):
    for text in executed.values():
        assert f"MINIDL FROM {ROOT / 'minidl' / '__init__.py'}" in text


@pytest.mark.parametrize("name, checks", [("1_batchnorm_layer", 1), ("2_training_probe", 2), ("3_fold_batchnorm", 1)])
def test_solutions_pass_and_exercises_report_not_implemented(executed, name, checks):
    solutions, exercise = executed[f"{name}_solutions"], executed[name]
    assert solutions.count("PASSED") == checks and "NOT IMPLEMENTED" not in solutions and "WRONG" not in solutions
    assert exercise.count("NOT IMPLEMENTED YET") == checks and "PASSED" not in exercise
