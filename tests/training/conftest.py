import pytest

from minidl.training import data_source


@pytest.fixture(autouse=True)
def two_reader_threads(monkeypatch):
    """DispatchInBackground with two real reader threads whatever CPUs this machine leaves
    free, so that the background machinery is tested everywhere (the policy itself:
    test_datastore_training.py::test_reader_threads_are_the_cpus_training_leaves_free)."""
    monkeypatch.setattr(data_source, "reader_threads", lambda: 2)
