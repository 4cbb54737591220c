"""One local Ray cluster (2 CPUs, no dashboard) and one 2-worker pool for the whole session;
at the end the pool and Ray stop, and no Ray process of this session may remain."""
import os
import time

import pytest


def _descendants():
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pids):
    alive = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.add(pid)
        except OSError:
            pass
    return alive


@pytest.fixture(scope="session")
def pool():
    import ray
    import minidl
    from minidl.parallel.pool import local_cluster
    before = _descendants()
    ray.init(**local_cluster(2))
    pool = minidl.parpool(2)
    yield pool
    started = _descendants() - before      # before shutdown: Ray's workers are raylet's children
    pool.delete()
    assert minidl.gcp("nocreate") is None
    ray.shutdown()
    deadline = time.monotonic() + 20
    while _alive(started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(started), f"Ray processes left behind: {sorted(_alive(started))}"
