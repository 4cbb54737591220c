"""Ctrl-C while training runs (moved out of loop.py, unchanged)."""
import signal
import threading


class StopOnInterrupt:
    """Ctrl-C (SIGINT) while training runs. The first asks training to stop after the current
    iteration; a second one, while ``raising`` is set (during the iterations), interrupts at
    once: KeyboardInterrupt, after which the interrupted iteration is undone. Later presses,
    and every press while the network is finalized, are only counted (``presses``): they cut
    the 'population' pass short, never the return of the network. Only the main thread can
    install the handler; a process that ignores SIGINT keeps ignoring it."""

    def __enter__(self):
        self.presses, self.raising, self.previous = 0, False, None
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.presses += 1
        if self.presses == 2 and self.raising:
            self.raising = False
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False
