#!/usr/bin/env python3
"""/usr/local/bin/quiet for a command that starts a Ray cluster: runs the command while every
other python process on the machine (and the Ray workers, named ``ray::...``, running before it
starts) is paused (SIGSTOP), resuming them at the end, but never
pauses a process of the command's own session. Ray's processes do not all stay descendants
of the command (some are re-parented), so they are recognised by an environment marker that
they inherit from the command instead of by the process tree. Ray's own agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) do not inherit it, which is why a
``ray::`` process is paused only if it ran before the command.

    python benchmarks/quiet_session.py python benchmarks/parallel.py
"""
import os
import signal
import subprocess
import sys
import time
import uuid

MARKER = f"MINIDL_QUIET_SESSION={uuid.uuid4().hex}".encode()


def ours(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            return MARKER in environ.read().split(b"\0")
    except OSError:
        return True      # gone, or not ours to read: leave it alone


def others(me, ray=False):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().split(b"\0")[0]
        except OSError:
            continue
        if (b"python" in command or (ray and command.startswith(b"ray::"))) and not ours(entry):
            found.append(int(entry))
    return found


def pause_others(stopped, ray=False):
    for pid in others(os.getpid(), ray):
        if pid not in stopped:
            try:
                os.kill(pid, signal.SIGSTOP)
                stopped.add(pid)
            except OSError:
                pass


def main():
    stopped = set()
    env = dict(os.environ)
    key, value = MARKER.decode().split("=")
    env[key] = value
    try:
        pause_others(stopped, ray=True)    # Ray workers running before the command are others'
        time.sleep(0.3)
        process = subprocess.Popen(sys.argv[1:], env=env)
        while process.poll() is None:
            pause_others(stopped)
            time.sleep(0.2)
        return process.returncode
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
