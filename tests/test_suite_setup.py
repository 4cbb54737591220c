"""The suite's own set-up (tests/conftest.py): how `make test` shares it between workers."""
import doctest
import importlib.util
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _conftest():
    spec = importlib.util.spec_from_file_location("suite_conftest", TESTS / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_work_unit_examples_pass():
    result = doctest.testmod(_conftest())
    assert result.attempted >= 2 and result.failed == 0


def test_every_ray_test_file_is_in_one_unit_and_every_other_file_is_its_own():
    conftest = _conftest()
    files = sorted(path.relative_to(TESTS.parent).as_posix() for path in TESTS.rglob("test_*.py"))
    ray_files = [name for name in files if name.startswith("tests/parallel/")]
    assert len(ray_files) >= 6
    assert {conftest.work_unit(f"{name}::test_x") for name in ray_files} == {"tests/parallel/"}
    others = [name for name in files if name not in ray_files]
    assert [conftest.work_unit(f"{name}::test_x[a::b]") for name in others] == others
