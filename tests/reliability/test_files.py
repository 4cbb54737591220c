"""Files (issue 10, class 7): no temporary file outlives a failed or killed write, and saved
files get the mode the umask gives (minidl.io.atomic)."""
import errno
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minidl
from minidl.io import atomic, format as file_format

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def small_net():
    layers = [minidl.imageInputLayer([2, 2, 1], Normalization="none"),
              minidl.fullyConnectedLayer(2, Weights=np.ones((2, 4)), Bias=np.zeros((2, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b"])]
    return minidl.assembleNetwork(layers)


def temporary_files(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith(".minidl-"))


def failing_savez(error):
    """An np.savez that writes part of the archive, then fails with ``error``."""
    def savez(stream, **arrays):
        stream.write(b"PK\x03\x04 half an archive")
        raise error
    return savez


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt(),
                                   ValueError("cannot store")], ids=["disk full", "Ctrl-C", "exception"])
def test_a_failing_write_leaves_no_temporary_file_and_the_old_file_intact(tmp_path, monkeypatch, error):
    path = minidl.save(str(tmp_path / "net.npz"), small_net())
    before = open(path, "rb").read()
    monkeypatch.setattr(file_format.np, "savez", failing_savez(error))
    with pytest.raises(type(error)):
        minidl.save(path, small_net())
    assert temporary_files(tmp_path) == []
    assert open(path, "rb").read() == before


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_temporary_files_are_removed_by_the_next_write_into_the_folder(tmp_path):
    host = atomic._host()
    old = time.time() - 2 * atomic.STALE_AFTER
    names = {
        f".minidl-{host}.{dead_pid()}.abc.tmp": True,             # its writer is dead
        f".minidl-{host}.{os.getpid()}.xyz.tmp": True,            # this process, and not writing it
        f".minidl-{host}.{os.getppid()}.def.tmp": False,          # a live writer on this machine
        ".minidl-otherhost.1.ghi.tmp": False,                     # another machine, recent
        ".minidl-otherhost.2.jkl.tmp": True,                      # another machine, old
        ".minidl-q1w2e3.tmp": True,                               # the old name form, old
        ".minidl-r4t5y6.tmp": False,                              # the old name form, recent
        "notes.tmp": False,                                       # not minidl's
    }
    for name, _ in names.items():
        (tmp_path / name).write_bytes(b"partial")
    for name in (".minidl-otherhost.2.jkl.tmp", ".minidl-q1w2e3.tmp"):
        os.utime(tmp_path / name, (old, old))
    minidl.save(str(tmp_path / "net.npz"), small_net())
    left = set(os.listdir(tmp_path))
    assert {name for name, stale in names.items() if stale} & left == set()
    assert {name for name, stale in names.items() if not stale} <= left
    assert "net.npz" in left


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import minidl
    from minidl.io import format as file_format

    def savez(stream, **arrays):       # write half an archive, say so, then hang until killed
        stream.write(b"PK" + bytes(100000))
        stream.flush()
        open(sys.argv[2], "w").close()
        time.sleep(60)

    layers = [minidl.imageInputLayer([2, 2, 1], Normalization="none"),
              minidl.fullyConnectedLayer(2, Weights=np.ones((2, 4)), Bias=np.zeros((2, 1))),
              minidl.softmaxLayer(), minidl.classificationLayer(Classes=["a", "b"])]
    net = minidl.assembleNetwork(layers)
    file_format.np.savez = savez
    minidl.save(sys.argv[1], net)
""")


def test_a_writer_killed_mid_write_leaves_a_temporary_file_the_next_save_removes(tmp_path):
    marker = tmp_path / "writing"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "net.npz"), str(marker)],
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        deadline = time.time() + 60
        while not marker.exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the writer never started writing"
        process.kill()                       # SIGKILL: no handler, no cleanup
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert len(temporary_files(tmp_path)) == 1 and not (tmp_path / "net.npz").exists()
    minidl.save(str(tmp_path / "other.npz"), small_net())
    assert temporary_files(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_saved_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        path = minidl.save(str(tmp_path / "net.npz"), small_net())
    finally:
        os.umask(previous)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_load_names_a_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^load: the file '.*missing' does not exist"):
        minidl.load(str(tmp_path / "missing"))
    with pytest.raises(TypeError, match=r"^load: filename must be a path"):
        minidl.load(small_net())
    with pytest.raises(TypeError, match=r"^load: CustomLayers must be a dict from class name to Layer subclass"):
        minidl.load(minidl.save(str(tmp_path / "n.npz"), small_net()), CustomLayers=["PReLULayer"])
