"""Atomic file writes shared by minidl's writers: a crash leaves the old file or the
complete new one, never a truncated file."""
import os
import tempfile


def atomic_write(filename, data, owner):
    """Write ``data`` (bytes, or a function ``write(handle)`` filling a binary file) to a
    temporary file in the target's folder, flush it to disk, then rename it over
    ``filename``. ``owner`` names the public function in the error for a missing folder."""
    folder = os.path.dirname(os.path.abspath(filename))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{owner}: the folder {folder!r} does not exist.")
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".minidl-", suffix=".tmp", delete=False)
    try:
        with handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, filename)
    except BaseException:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
        raise
