"""A pool worker: a Ray actor that keeps a replica of the network being trained and
computes, for the indices it is sent, the loss, the scores, the gradients and the
batch-normalization partial statistics (count, mean, M2 per channel) of its share.

A worker holds nothing the driver cannot send again: the network and the data arrive as
object-store references (``setup``, loaded once per training and cached), the learnables
and state with every call. A worker that Ray restarts after a crash therefore recomputes
exactly what the dead one would have returned.
"""
import math
import os
import time

import numpy as np

from ..threads import computing, maxNumCompThreads

QUIET = dict(over="ignore", invalid="ignore")   # non-finite results are reported by the driver


class Worker:
    """The actor's class (made a Ray actor by :func:`actor_class`)."""

    def __init__(self, threads):
        maxNumCompThreads(threads)
        self.token, self.net, self.X, self.T = None, None, None, None
        self.seconds = []      # time each compute call spent computing, for benchmarks/parallel.py

    def compute_seconds(self):
        """Seconds each ``compute`` call since the last ``compute_seconds`` spent computing."""
        seconds, self.seconds = self.seconds, []
        return seconds

    def ready(self):
        return os.getpid()

    def _load(self, setup, ray):
        """``setup`` is ``[token, network, X, T]`` (references inside a list, so that Ray does not
        fetch them at every call); a new token means a new training."""
        token, *references = setup
        if token != self.token:
            self.net, self.X, self.T = ray.get(references)
            self.token = token
        return self.net

    def compute(self, setup, values, indices):
        """(loss, scores, gradients per layer, partial statistics) of observations ``indices``."""
        import ray
        net = self._load(setup, ray)
        net.set_values(values)
        start = time.perf_counter()
        with computing(), np.errstate(**QUIET):
            loss, scores, trace = net.forward_loss(self.X[indices], self.T[indices])
            result = (loss, None, None, None) if not math.isfinite(loss) else (
                loss, np.array(scores), net.backward(trace), partial_statistics(net, trace[0]))
        self.seconds.append(time.perf_counter() - start)
        return result

    def statistics(self, setup, values, indices):
        """Partial statistics of one training-mode forward over ``indices`` ('population' pass)."""
        import ray
        net = self._load(setup, ray)
        net.set_values(values)
        with computing(), np.errstate(**QUIET):
            _, memories = net.plan("train").run(self.X[indices], train=True)
            return partial_statistics(net, memories)

    def exit(self):
        """Die at once (tests of the restart)."""
        os._exit(1)


def partial_statistics(net, memories):
    """``[(layer name, (count, mean, M2))]`` of every stateful layer after a training forward."""
    return [(layer.Name, layer.population_total(None, memory))
            for (step, _, _), step_memory in zip(net.plan("train").steps, memories)
            for layer, memory in step.state_memories(step_memory)]


_actor = None


def actor_class(ray):
    """:class:`Worker` as a Ray actor that Ray restarts when its process dies."""
    global _actor
    if _actor is None:
        _actor = ray.remote(max_restarts=-1, max_task_retries=0)(Worker)
    return _actor
