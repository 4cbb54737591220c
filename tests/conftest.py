"""How `make test` shares the suite between processes (pytest-xdist, ``-n 2``).

A test file is the unit handed to a worker: its module-scoped fixtures are built once and
its tests run in their written order, as in a plain ``python -m pytest tests/x.py``. The
files of tests/parallel form one unit: they share one local Ray cluster (there may be only
one on the machine) and the process-global pool of ``parpool``, so they run one after the
other in one worker."""
import pytest

ONE_UNIT = ("tests/parallel/",)


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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Every distributing mode but ``--dist each`` (which runs all tests in every worker)
    schedules by work_unit, so that no two workers ever run Ray tests at once."""
    if config.getvalue("dist") == "each":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return work_unit(nodeid)

    return ByWorkUnit(config, log)
