"""How `make test` shares the suite between processes (pytest-xdist, ``-n auto``).

A test file is the unit handed to a worker: its module-scoped fixtures are built once and
its tests run in their written order, as in a plain ``python -m pytest tests/x.py``. The
files of tests/parallel form one unit: they share one local Ray cluster (there may be only
one on the machine) and the process-global pool of ``parpool``, so they run one after the
other in one worker.

Units are handed out longest first, so that no long one is left running alone at the end:
the files in SLOW_FIRST (each a few subprocesses of 5-30 s), then the others, most tests
first."""
import pytest

ONE_UNIT = ("tests/parallel/",)
SLOW_FIRST = ("tests/test_notebooks.py", "tests/test_learn_experiments.py", "tests/test_benchmarks.py",
              "tests/test_teaching_examples.py", "tests/test_readme_and_examples.py", "tests/test_startup.py")


def work_unit(nodeid):
    """The unit a test is scheduled with: its folder if listed in ONE_UNIT, else its file.

    >>> work_unit("tests/parallel/test_digits.py::test_two_workers[2]")
    'tests/parallel/'
    >>> work_unit("tests/io/test_onnx.py::test_export[a::b]")
    'tests/io/test_onnx.py'
    """
    for folder in ONE_UNIT:
        if nodeid.startswith(folder):
            return folder
    return nodeid.split("::", 1)[0]


def unit_order(units):
    """Units (name: its node ids) in the order they are handed out: SLOW_FIRST, then by
    number of tests, most first; ties keep their order.

    >>> unit_order({"tests/a.py": [1, 2], "tests/test_startup.py": [1], "tests/b.py": [1, 2, 3]})
    ['tests/test_startup.py', 'tests/b.py', 'tests/a.py']
    """
    return sorted(units, key=lambda unit: (unit not in SLOW_FIRST, -len(units[unit])))


def pytest_collection_modifyitems(config, items):
    """In a pytest-xdist worker: the tests in unit_order (a test file's tests keep their
    order), which the scheduler keeps (no reordering by its own rule)."""
    if hasattr(config, "workerinput"):
        units = {}
        for item in items:
            units.setdefault(work_unit(item.nodeid), []).append(item)
        items[:] = [item for unit in unit_order(units) for item in units[unit]]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Every distributing mode but ``--dist each`` (which runs all tests in every worker)
    schedules by work_unit, so that no two workers ever run Ray tests at once; the units
    are handed out in the workers' collection order (pytest_collection_modifyitems)."""
    if config.getvalue("dist") == "each":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return work_unit(nodeid)

    config.option.loadscopereorder = False
    return ByWorkUnit(config, log)
