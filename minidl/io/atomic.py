"""Atomic file writes, and the temporary files they leave behind when a writer is killed.

A file is written to ``.minidl-<host>.<pid>.<random>.tmp`` in the destination folder, made
durable (fsync), given the mode a new file gets under the umask (``0o666 & ~umask``, as
``open`` would; mkstemp alone gives 0600), then renamed over the destination: readers see
the old file or the complete new one, never a part. On any failure (an exception, disk full,
Ctrl-C) the temporary file is removed before the error propagates.

A writer killed outright (``kill -9``, power loss) cannot clean up, so every write first
removes the stale temporary files of its folder:

- those named by this machine whose process is no longer running (or is this process,
  which is not writing them);
- any other ``.minidl-*.tmp`` (another machine's, or an older name form) last modified more
  than ``STALE_AFTER`` seconds ago: no write takes that long, and a live writer on another
  machine sharing the folder cannot be asked.
"""
import os
import re
import socket
import tempfile
import threading
import time

PREFIX = ".minidl-"
STALE_AFTER = 3600.0
_PATTERN = re.compile(r"^\.minidl-(?P<host>[A-Za-z0-9-]*)\.(?P<pid>\d+)\..*\.tmp$")
_lock = threading.Lock()
_writing = set()    # temporary files this process is writing now


def _host():
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())


def _umask():
    """The process umask (reading it means setting it; the restrictive value in between
    can only make another thread's new file more private, never less)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:         # e.g. another user's process: it exists
        return True
    return True


def _stale(entry, now):
    match = _PATTERN.match(entry.name)
    if match and match["host"] == _host():
        pid = int(match["pid"])
        if pid == os.getpid():
            return entry.path not in _writing
        return not _running(pid)
    try:
        return now - entry.stat().st_mtime > STALE_AFTER
    except OSError:
        return False


def remove_stale_temporary_files(folder):
    """Remove the temporary files killed writers left in ``folder``; returns their paths."""
    removed, now = [], time.time()
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(PREFIX) and e.name.endswith(".tmp")]
    except OSError:
        return removed
    with _lock:
        for entry in entries:
            if _stale(entry, now):
                try:
                    os.unlink(entry.path)
                    removed.append(entry.path)
                except OSError:     # gone already, or not ours to remove
                    pass
    return removed


def write_atomically(filename, write, owner="save"):
    """Call ``write(binary_file)`` on a temporary file in the destination's folder, then
    rename it to ``filename``; on any failure the temporary file is removed. ``owner``
    names the public function in the error for a missing folder."""
    folder = os.path.dirname(os.path.abspath(filename))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{owner}: the folder {folder!r} does not exist; create it first.")
    remove_stale_temporary_files(folder)
    path = None
    try:
        with _lock:
            handle, path = tempfile.mkstemp(dir=folder, prefix=f"{PREFIX}{_host()}.{os.getpid()}.", suffix=".tmp")
            _writing.add(path)
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(path, 0o666 & ~_umask())
        os.replace(path, filename)
    except BaseException:
        if path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass
        raise
    finally:
        _writing.discard(path)
    return filename
