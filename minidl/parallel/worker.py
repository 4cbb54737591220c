"""A pool worker: a Ray actor that keeps a replica of the network being trained and
computes, for the indices it is sent, the loss, the scores, the gradients and the
batch-normalization partial statistics (count, mean, M2 per channel) of its share.

A worker holds nothing the driver cannot send again: the network and the data arrive once
per training as object-store references (``load``), the learnables and state with every
call. A worker that Ray restarts after a crash answers the next call with ``NotLoaded``; the
driver sends ``load`` again, then the call, and the worker recomputes exactly what the dead
one would have returned.
"""
import math
import os
import queue
import threading
import time

import numpy as np

from ..threads import computing, maxNumCompThreads
from .flat import Layout, pack_statistics

QUIET = dict(over="ignore", invalid="ignore")   # non-finite results are reported by the driver


class Worker:
    """The actor's class (made a Ray actor by :func:`actor_class`)."""

    def __init__(self, threads):
        maxNumCompThreads(threads)
        self.token, self.net, self.read, self.layout = None, None, None, None
        self.seconds = []      # time each compute call spent computing, for benchmarks/parallel.py
        self.sync = Exchange()

    def compute_seconds(self):
        """Seconds each ``compute`` call since the last ``compute_seconds`` spent computing."""
        seconds, self.seconds = self.seconds, []
        return seconds

    def ready(self):
        return os.getpid()

    def load(self, setup):
        """Receive a training: ``setup`` is ``[token, network, X, T, layout]`` (references inside a list, so that Ray
        does not fetch them at every call), with X a datastore source (training/data_source.py)
        and T None for datastores, and the layout of the flat learnables and state of each call
        (flat.py). Sent once per training, and again to a restarted worker, so that the calls of
        each iteration carry no object references (each would cost Ray's borrowing protocol)."""
        import ray
        token, *references = setup
        self.net, X, T, self.layout = ray.get(references)
        self.read = X.batch if T is None else lambda indices, seed: (X[indices], T[indices])
        self.token = token
        return token

    def compute(self, values, message):
        """(loss, scores, (layout, flat gradients), packed partial statistics) of observations
        ``indices`` (``seed``: of a random datastore's reads), ``message`` being (token, indices,
        seed): few arguments and few arrays in the reply, because Ray serializes each argument
        and each array on its own (1.6 ms of a 2-worker iteration went to that). ``values``
        stays an argument of its own: when it is an object-store reference, Ray fetches only
        references passed as arguments, not ones inside a tuple."""
        token, indices, seed = message
        net = self._prepare(token, values, None)
        start = time.perf_counter()
        result = self._compute(net, indices, seed, True)
        self.seconds.append(time.perf_counter() - start)
        return result

    def _prepare(self, token, values, synchronizer):
        if token != self.token:
            raise NotLoaded(f"parallel training: worker {os.getpid()} holds training {self.token} but was sent a "
                            f"call of training {token} (a worker restarted by Ray holds none); load it first.")
        net = self.net
        net.set_values(self.layout.unpack(values) if isinstance(values, np.ndarray) else values)
        for step, _, _ in net.plan("train").steps:
            for layer in step.layers:
                if hasattr(layer, "synchronizer"):
                    layer.synchronizer = synchronizer
        return net

    def _compute(self, net, indices, seed, statistics):
        with computing(), np.errstate(**QUIET):
            loss, scores, trace = net.forward_loss(*self.read(indices, seed))
            if not math.isfinite(loss):
                return loss, None, None, None
            gradients = {(index, name): gradient for index, layer in enumerate(net.backward(trace))
                         for name, gradient in layer.items()}
            layout = Layout(gradients)
            return (loss, np.array(scores), (layout, layout.pack(gradients)),
                    pack_statistics(partial_statistics(net, trace[0])) if statistics else None)

    # ---- synchronized batch normalization: one computation, paused at every batch-norm layer
    def compute_synchronized(self, token, values, indices, seed=None):
        """Start ``compute`` with synchronized batch normalization; returns its first message
        (see :class:`Exchange`), the following ones come from :meth:`exchange`."""
        self.sync.abort()          # a computation left waiting by an interrupted iteration
        net = self._prepare(token, values, self.sync)
        return self.sync.start(lambda: self._compute(net, indices, seed, False))

    def exchange(self, reply):
        """Give the paused computation the driver's merged values; its next message."""
        return self.sync.reply(reply)

    def abort(self):
        self.sync.abort()

    def statistics(self, token, values, indices, seed=None):
        """Partial statistics of one training-mode forward over ``indices`` ('population' pass)."""
        net = self._prepare(token, values, None)
        with computing(), np.errstate(**QUIET):
            _, memories = net.plan("train").run(self.read(indices, seed)[0], train=True)
            return partial_statistics(net, memories)

    def exit(self):
        """Die at once (tests of the restart)."""
        os._exit(1)


def partial_statistics(net, memories):
    """``[(layer name, (count, mean, M2))]`` of every stateful layer after a training forward."""
    return [(layer.Name, layer.population_total(None, memory))
            for (step, _, _), step_memory in zip(net.plan("train").steps, memories)
            for layer, memory in step.state_memories(step_memory)]


class NotLoaded(RuntimeError):
    """A call of a training the worker has not received (``load``): a worker Ray restarted."""


class _Aborted(Exception):
    pass


class Exchange:
    """Synchronized batch normalization on a worker: the training forward and backward run on
    a thread of their own, which stops at each batch-norm layer with a message for the
    driver, ``("statistics", layer name, (count, mean, M2))`` on the way forward and
    ``("sums", layer name, (Σg, Σg·(x − μ)))`` on the way back, and goes on with the driver's
    reply (the whole mini-batch's values). The last message is ``("done", None, result)``;
    an exception in the computation is raised by the actor call that waits for it. Only one
    thread computes at any time: the actor's own thread waits while the other runs."""

    def __init__(self):
        self.replies, self.messages, self.thread = queue.Queue(), queue.Queue(), None

    def statistics(self, layer, count, mean, m2):
        return self._ask(("statistics", layer.Name, (count, mean, m2)))

    def gradient_sums(self, layer, u, w):
        return self._ask(("sums", layer.Name, (u, w)))

    def _ask(self, message):
        self.messages.put(message)
        reply = self.replies.get()
        if reply is None:
            raise _Aborted
        return reply

    def start(self, work):
        def run():
            try:
                self.messages.put(("done", None, work()))
            except _Aborted:
                pass
            except BaseException as error:     # handed to the actor's thread, which raises it
                self.messages.put(("error", None, error))

        self.thread = threading.Thread(target=run, name="minidl-sync-bn", daemon=True)
        self.thread.start()
        return self._next()

    def reply(self, value):
        if self.thread is None or not self.thread.is_alive():
            raise NotLoaded("parallel training: a synchronized batch-normalization reply reached a worker that "
                            "is not computing (restarted by Ray?).")
        self.replies.put(value)
        return self._next()

    def _next(self):
        kind, name, value = self.messages.get()
        if kind == "error":
            raise value
        return kind, name, value

    def abort(self):
        if self.thread is not None and self.thread.is_alive():
            self.replies.put(None)
            self.thread.join()
        self.thread = None
        self.replies, self.messages = queue.Queue(), queue.Queue()


_actor = None


def actor_class(ray):
    """:class:`Worker` as a Ray actor that Ray restarts when its process dies."""
    global _actor
    if _actor is None:
        _actor = ray.remote(max_restarts=-1, max_task_retries=0)(Worker)
    return _actor
