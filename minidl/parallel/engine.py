"""``ExecutionEnvironment="parallel"``: the engine that runs an iteration's forward, loss and
backward on the workers of the current pool (:func:`minidl.parallel.pool.gcp`).

One iteration, with N the global ``MiniBatchSize`` and n_w worker w's share
(``WorkerLoad``, default equal; shares are consecutive runs of the shuffled batch):

- the driver puts the learnables and state in Ray's object store once; each worker
  computes the mean loss L_w and the gradients g_w of its share;
- the driver combines them in worker order, ``L = Σ_w n_w L_w / N`` and
  ``g = Σ_w (n_w / N) g_w`` (float64 sums), so a run is deterministic for a given worker
  count and seed; the Trainer then applies L2, the threshold and the solver as ever;
- batch normalization normalizes each share with the share's own statistics (as MATLAB
  and PyTorch's DistributedDataParallel do); the per-channel (count, mean, M2) of the
  shares are merged with Chan's formula (kernels.batchnorm.chan_merge), so the 'moving'
  update sees the statistics of the whole mini-batch;
- the 'population' pass sends whole mini-batches to the workers (one each per round) and
  merges their statistics in mini-batch order: the result equals the single-process one;
- with ``SynchronizeBatchNormalization`` the workers stop at every batch-norm layer for the
  whole mini-batch's statistics (forward) and gradient sums (backward): see
  :meth:`ParallelEngine.synchronized_compute`;
- a datastore is read by the workers, each its own share (``DatastoreSource.batch``), and
  the learnables and gradients travel as one flat array each way (flat.py).
"""
import math
import time
import uuid
from types import SimpleNamespace

import numpy as np

from ..kernels.batchnorm import chan_merge
from ..training.data_source import ArraySource
from .flat import Layout, unpack_statistics, weighted_sum
from .pool import _ray, gcp
from .worker import NotLoaded

INLINE_BYTES = 90_000   # Ray's max_direct_call_object_size is 100 kB; the dict's pickle adds some
RETRIES = 5   # deaths of one worker during one call before training gives up
RESTART_SECONDS = 300   # the longest wait for Ray to restart a worker


class ParallelEngine:
    def __init__(self, trainer):
        self.net, self.ray, self.owner = trainer.net, _ray(), trainer.owner
        self.pool = gcp()
        count = self.pool.NumWorkers
        load = trainer.options.WorkerLoad or [1.0] * count
        if len(load) != count:
            raise ValueError(f"{trainer.owner}: WorkerLoad must give one share per worker of the parallel pool "
                             f"({count}); received {len(load)} values.")
        self.load = np.asarray(load, np.float64) / np.sum(load)
        self.synchronized = trainer.options.SynchronizeBatchNormalization
        self.message = f"Training on parallel pool with {count} workers."

    def execution(self):
        """Where training computes, as checkpoints record it (training/checkpoint.py)."""
        return {"workers": self.pool.NumWorkers, "worker_load": self.load.tolist(), "synchronized": self.synchronized}

    def start(self, source):
        """Arrays go into the object store once; a datastore source goes to every worker, which
        reads its share of each mini-batch itself (``_observations(indices)``)."""
        ray = self.ray
        self.targets = source.targets
        self.source = source
        data = (source.X, source.targets) if isinstance(source, ArraySource) else (source, None)
        self.layout = Layout({key: value for key, value in self.net.values().items() if value is not None})
        self.token = uuid.uuid4().hex
        self.setup = [self.token, *map(ray.put, (self.net, *data, self.layout))]
        self.call("load", [(w, (self.setup,)) for w in range(self.pool.NumWorkers)])

    # ---- one iteration ----------------------------------------------------------------------
    def batch(self, reader):
        """The next mini-batch's (indices, seed of its random reads) (the workers read the data)
        and targets."""
        indices = reader.skip()
        return (indices, reader.seeds[reader.taken - 1]), self.targets[indices]

    def whole_batch(self, batch):
        """The whole mini-batch's predictors, read on the driver: the training probe measures
        one forward and backward of it with the iteration's weights, on the driver's replica
        (docs/parallel.md)."""
        indices, seed = batch
        return self.source.batch(indices, seed)[0]

    def shares(self, count):
        """Bounds of each worker's share of ``count`` observations: ⌊N·Σ_{v≤w} load_v⌉."""
        ends = np.rint(np.cumsum(self.load) * count).astype(int)
        ends[-1] = count
        return list(zip(np.concatenate([[0], ends[:-1]]), ends))

    def forward_loss(self, batch, T):
        (indices, seed), values = batch, self.shared(self.layout.pack(self.net.values()))
        jobs = [(w, (self.token, values, indices[a:b], None if seed is None else (*seed, w)))
                for w, (a, b) in enumerate(self.shares(len(indices))) if b > a]
        weights = [len(args[2]) / len(indices) for _, args in jobs]
        if self.synchronized:
            results, statistics = self.synchronized_compute(jobs, weights)
        else:
            results = self.call("compute", [(w, (values, (token, part, seed)))
                                            for w, (token, values, part, seed) in jobs])
        loss = float(sum(weight * float(result[0]) for weight, result in zip(weights, results)))
        if not np.isfinite(loss):
            return loss, None, None
        scores = np.concatenate([result[1] for result in results])
        layout = results[0][2][0]
        gradients = [{} for _ in self.net.layer_names()]
        for (layer, name), gradient in layout.unpack(weighted_sum([r[2][1] for r in results], weights)).items():
            gradients[layer][name] = gradient
        if not self.synchronized:
            statistics = merge([unpack_statistics(result[3]) for result in results])
        return loss, scores, (gradients, statistics)

    def synchronized_compute(self, jobs, weights):
        """Synchronized batch normalization: the workers' computations stop at every batch-norm
        layer (worker.Exchange); forward, the driver merges their (count, mean, M2) with Chan's
        formula in worker order and sends every worker the whole mini-batch's; backward, it
        sends ``Σ_w (n_w/N)·(Σg, Σg·(x − μ))_w``, the sums of the mini-batch's mean loss. Two
        round trips per batch-norm layer. A worker that dies restarts the iteration on all.
        Returns (each worker's result, {layer name: (count, mean, M2)} of the mini-batch)."""
        for attempt in range(RETRIES + 1):
            try:
                return self._exchanges(jobs, weights)
            except _WorkerLost as lost:
                if attempt == RETRIES:
                    raise RuntimeError(f"parallel training: worker {lost.worker + 1} of the pool died {RETRIES + 1} "
                                       f"times during one iteration with synchronized batch normalization; "
                                       f"training stops. Check the Ray cluster (ray status).") from lost.__cause__

    def _exchanges(self, jobs, weights):
        messages, totals = self.call("compute_synchronized", jobs), {}
        workers = [w for w, _ in jobs]
        while any(kind != "done" for kind, _, _ in messages):
            if any(kind == "done" for kind, _, _ in messages):   # a non-finite loss: no backward there
                self.call("abort", [(w, ()) for w, (kind, _, _) in zip(workers, messages) if kind != "done"])
                return [value if kind == "done" else (math.nan, None, None, None)
                        for kind, _, value in messages], totals
            kind, name, _ = messages[0]
            if any(message[:2] != (kind, name) for message in messages):
                raise RuntimeError(f"parallel training: the workers disagree on the batch-normalization layer to "
                                   f"synchronize ({[message[:2] for message in messages]}).")
            if kind == "statistics":
                reply = totals[name] = merge([[(name, value)] for _, _, value in messages])[name]
            else:
                reply = tuple(weighted_sum([value[k] for _, _, value in messages], weights) for k in range(2))
            messages = self.call("exchange", [(w, (reply,)) for w in workers])
        return [value for _, _, value in messages], totals

    @staticmethod
    def gradients(trace):
        return trace[0]

    def commit_state(self, trace):
        """'moving': each layer's update from the statistics of the whole mini-batch."""
        layers = self.stateful_layers()
        for name, (count, mean, m2) in trace[1].items():
            layer = layers[name]
            _set(layer, layer.moving_state(SimpleNamespace(count=count, mean=mean, var=m2 / np.maximum(count, 1))))

    def commit_population_state(self, reader, order, batches):
        """'population': whole mini-batches on the workers, one per worker per round, their
        statistics merged in mini-batch order."""
        values, workers = self.shared(self.net.values()), self.pool.NumWorkers
        totals, batches = None, iter(zip(batches, reader.seeds))
        while True:
            parts = [part for _, part in zip(range(workers), batches)]
            if not parts:
                break
            results = self.call("statistics", [(w, (self.token, values, order[part], seed))
                                               for w, (part, seed) in enumerate(parts)])
            totals = merge(results if totals is None else [totals] + results)
            totals = list(totals.items())
        layers = self.stateful_layers()
        for name, total in totals or []:
            _set(layers[name], layers[name].population_state(total))

    def shared(self, values):
        """The learnables and state as every worker receives them: inside the call when small
        (Ray sends arguments under 100 kB with the call, sparing a trip to the object store),
        else put into the object store once for all workers."""
        size = values.nbytes if isinstance(values, np.ndarray) else sum(
            value.nbytes for value in values.values() if isinstance(value, np.ndarray))
        return values if size < INLINE_BYTES else self.ray.put(values)

    def stateful_layers(self):
        return {layer.Name: layer for step, _, _ in self.net.plan("train").steps
                for layer in step.layers if layer.state_names}

    # ---- calls to the workers ---------------------------------------------------------------
    def call(self, method, jobs):
        """Run ``method`` on each ``(worker index, args)``; results in the jobs' order. A
        worker that dies is restarted by Ray and its call sent again; Ctrl-C cancels the calls."""
        ray = self.ray
        workers = self.pool.workers
        references = [getattr(workers[w], method).remote(*args) for w, args in jobs]
        results = []
        try:
            for k, (w, args) in enumerate(jobs):
                deaths, deadline = 0, time.monotonic() + RESTART_SECONDS
                while True:
                    try:
                        results.append(ray.get(references[k]))
                        break
                    except ray.exceptions.RayActorError as error:
                        if method == "exchange":   # the worker's paused computation is gone
                            raise _WorkerLost(w) from error
                        # ActorUnavailableError: Ray is restarting the worker (a process start and the
                        # imports, seconds on a busy machine); ActorDiedError and the like: it died.
                        restarting = isinstance(error, ray.exceptions.ActorUnavailableError)
                        deaths += not restarting
                        if deaths > RETRIES or time.monotonic() > deadline:
                            raise RuntimeError(f"parallel training: worker {w + 1} of the pool failed ({error}) "
                                               f"{deaths} times, or did not come back within {RESTART_SECONDS} s; "
                                               f"training stops. Check the Ray cluster (ray status) and start a "
                                               f"new pool with parpool.") from error
                        time.sleep(0.5)
                        references[k] = getattr(workers[w], method).remote(*args)
                    except ray.exceptions.RayTaskError as error:
                        cause = error.as_instanceof_cause()
                        if isinstance(cause, NotLoaded) and method == "exchange":
                            raise _WorkerLost(w) from error
                        if not isinstance(cause, NotLoaded) or deaths > RETRIES:
                            raise cause from None
                        deaths += 1       # a restarted worker holds no training: load it, then call again
                        workers[w].load.remote(self.setup)
                        references[k] = getattr(workers[w], method).remote(*args)
        except BaseException:
            for reference in references[len(results):]:
                try:
                    ray.cancel(reference)
                except Exception:   # best effort: the results are dropped whether or not it stops
                    pass
            raise
        return results


class _WorkerLost(Exception):
    def __init__(self, worker):
        super().__init__(worker)
        self.worker = worker


def merge(partials):
    """``{layer name: (count, mean, M2)}`` from the workers' partial statistics, merged in
    the workers' order with Chan's formula."""
    totals = {}
    for partial in partials:
        for name, total in partial:
            if not (isinstance(total, tuple) and len(total) == 3):
                raise TypeError(f"parallel training: layer {name!r} keeps state that is not per-channel "
                                f"(count, mean, M2) statistics, which minidl cannot merge across workers; train "
                                f"it with ExecutionEnvironment 'cpu'.")
            totals[name] = total if name not in totals else chan_merge(*totals[name], *total)
    return totals


def _set(layer, values):
    for name, value in values.items():
        setattr(layer, name, value)
