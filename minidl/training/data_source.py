"""Where the trainer's mini-batches come from: in-memory arrays or a datastore, through one
small interface, optionally read ahead by background workers.

Every read of training data goes through a *source*: the training iterations, the
input-normalization statistics, validation and the final 'population' pass. A source has

- ``count``: the number of observations, and ``targets``: the encoded responses of all of
  them (labels are small; the predictors are what is big);
- ``reader(parts, pool)``: the mini-batches ``parts`` (index arrays or slices, in the order
  the trainer uses them) one at a time, as (predictors in the internal layout, targets).

:class:`ArraySource` indexes the in-memory array (``X[indices]``, exactly what the trainer
did before sources existed: no copy of the data set, no extra work). :class:`DatastoreSource`
reads one mini-batch at a time through the datastore protocol (``_observations(indices)``,
minidl/data/datastore.py), so memory is bounded by a few mini-batches whatever the data set
size. The trainer's order is a permutation of indices: files on disk are never reordered.

With ``DispatchInBackground=True`` a pool of background threads reads the next
``PREFETCH`` mini-batches of a datastore while the current one trains (a bounded queue:
at most ``PREFETCH`` read-ahead batches exist at once), one thread per CPU that training's
own threads leave free (:func:`reader_threads`; with none free, reading stays in the
training thread, which is faster there). The workers only call the datastore (file reads,
zlib, the nogil PNG kernel, Pillow, NumPy); the network's parallel Numba kernels run on the
main thread alone. Mini-batches come back in the trainer's order whatever worker read them, so
results are bit-identical with and without background reading. A worker's exception (a bad
file) is raised again in the main thread, with the datastore's message naming the file.

Random reads (augmentedImageDatastore): a datastore whose ``_observations`` takes a
``generator`` draws everything random of a mini-batch from it. Each mini-batch gets its
own generator, ``numpy.random.default_rng((read_seed, *tag, k))``: ``read_seed`` is drawn
once per training from the global generator (so ``rng(seed)`` repeats a run; checkpoints
keep it), the tag names the pass (statistics, epoch e, validation at iteration i,
population) and k is the mini-batch's place in it. The draws therefore depend neither on
which worker reads a mini-batch nor on when, and a run resumed from a checkpoint reads the
same augmented images as the uninterrupted one.
"""
import collections
import concurrent.futures
import contextlib
import inspect
import time

import numpy as np

from ..data.datastore import Datastore
from ..graph.inference import DatastoreView
from ..threads import maxNumCompThreads, usable_cpus

PREFETCH = 3          # mini-batches read ahead with DispatchInBackground
WORKERS = 2           # background reader threads at most (see reader_threads)


def is_datastore(value):
    return isinstance(value, Datastore)


def reader_threads():
    """How many background reader threads DispatchInBackground starts: the CPUs the process
    may run on that training's own threads (``maxNumCompThreads``) leave free, at most
    WORKERS. None free: 0, and the mini-batches are read in the training thread, because a
    reader thread on a core the parallel kernels use stalls them (measured in
    benchmarks/datastore.py and docs/streaming.md: 1.49× the array's epoch with two reader
    threads on 2 CPUs, 1.31× reading in the training thread)."""
    return max(0, min(WORKERS, len(usable_cpus()) - maxNumCompThreads()))


@contextlib.contextmanager
def background_workers(enabled):
    """A pool of reader threads while training runs (None when not ``enabled`` or no CPU is
    free for them, see :func:`reader_threads`); on the way out, read-ahead batches not
    started yet are cancelled and the running ones awaited."""
    threads = reader_threads() if enabled else 0
    if not threads:
        yield None
        return
    pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="minidl-reader")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def responses(ds, owner):
    """All responses of a datastore, without decoding its predictors when it can say them
    (``Labels`` of an imageDatastore, the last datastore of a ``combine``); otherwise read
    once, in chunks, keeping only the responses."""
    count = ds.numobservations()
    if count == 0:
        raise ValueError(f"{owner}: the datastore has no observations; give one with files (or rows) in it.")
    underlying = getattr(ds, "UnderlyingDatastores", None)
    if underlying and len(underlying) > 1:      # combine(predictors, responses): read the responses alone
        Y = _chunked(lambda indices: underlying[-1]._observations(indices)[0], count)
    else:
        labels = getattr(ds, "Labels", None)
        if labels is not None and np.size(labels) == count:
            Y = np.asarray(labels)
        else:
            Y = _chunked(lambda indices: _read_responses(ds, indices, owner), count)
    if Y is None or np.size(Y) == 0:
        raise ValueError(_no_responses(ds, owner))
    return Y


def _chunked(read, count, size=1024):
    return np.concatenate([np.asarray(read(np.arange(start, min(start + size, count))))
                           for start in range(0, count, size)])


def _read_responses(ds, indices, owner):
    Y = ds._observations(indices)[1]
    if Y is None:
        raise ValueError(_no_responses(ds, owner))
    return np.asarray(Y)


def _no_responses(ds, owner):
    return (f"{owner}: the {type(ds).__name__} has no labels or responses to train against (an imageDatastore "
            f"with LabelSource 'none'?). Give labels: imageDatastore(folder, IncludeSubfolders=True, "
            f"LabelSource='foldernames'), or combine(images, arrayDatastore(labels)).")


def population_batches(count, size):
    """'truncateLast' mini-batches; a last batch of one observation joins the one before,
    so that batch normalization always sees at least two observations when it can."""
    starts = list(range(0, count, size))
    if len(starts) > 1 and count - starts[-1] == 1:
        starts.pop()
    ends = starts[1:] + [count]
    return [slice(s, e) for s, e in zip(starts, ends)]


class ArraySource:
    """In-memory predictors (internal layout) and targets."""

    random = False

    def __init__(self, X, targets):
        self.X, self.targets, self.count = X, targets, X.shape[0]

    def batch(self, part, seed=None):
        return self.X[part], self.targets[part]

    def reader(self, parts, pool=None, seeds=None):
        return Reader(self.batch, parts, None)     # indexing an array needs no workers


class DatastoreSource:
    """A datastore read one mini-batch at a time (images H×W×C×N or features N×C, as the
    datastore protocol gives them), checked and converted to the internal layout."""

    def __init__(self, ds, targets, encode, input_layer, owner):
        self.ds, self.targets, self.encode, self.owner = ds, targets, encode, owner
        self.view = DatastoreView(ds, input_layer, owner)
        self.count = ds.numobservations()
        self.random = "generator" in inspect.signature(ds._observations).parameters
        if len(targets) != self.count:
            raise ValueError(f"{owner}: the datastore has {self.count} observations but {len(targets)} "
                             f"labels/responses; they must match.")

    def batch(self, part, seed=None):
        indices = np.arange(part.start, part.stop) if isinstance(part, slice) else np.asarray(part)
        X, Y = self.view.read(indices, **({"generator": np.random.default_rng(seed)} if self.random else {}))
        if X.shape[0] == len(indices):
            T = self.targets[indices]
        elif Y is not None:      # files skipped: the responses of those read
            T = self.encode(Y, self.owner)
        else:
            raise ValueError(f"{self.owner}: the {type(self.ds).__name__} returned {X.shape[0]} of {len(indices)} "
                             f"observations and no responses to match them.")
        if not np.isfinite(X.sum()):     # one cheap pass; Inf or NaN when a value is (or on overflow)
            finite = np.isfinite(X).reshape(X.shape[0], -1).all(axis=1)
            if not finite.all():
                raise ValueError(f"{self.owner}: NaN or Inf values in {self._where(indices, finite)} of the "
                                 f"datastore; remove or replace them (or fix the ReadFcn) before training.")
        return X, T

    def _where(self, indices, finite):
        """The observations with NaN or Inf, by file name where the datastore has files."""
        if len(finite) != len(indices):     # files were skipped: which indices were read is not known
            return f"{np.count_nonzero(~finite)} of the {len(finite)} observations read for one mini-batch"
        bad = indices[~finite][:3]
        files = getattr(self.ds, "Files", None)
        if files is not None and len(files) == self.count:
            return ", ".join(repr(files[i]) for i in bad)
        return "observations " + ", ".join(str(i + 1) for i in bad)

    def reader(self, parts, pool=None, seeds=None):
        return Reader(self.batch, parts, pool, seeds)


class Reader:
    """The mini-batches ``parts`` as (X, T), in order, one per :meth:`next`. With a
    ``pool``, up to PREFETCH batches are read ahead on its workers; without one, each batch
    is read when asked for. Use as a context manager: leaving it cancels what was read ahead."""

    def __init__(self, read, parts, pool, seeds=None):
        self.read, self.parts, self.pool = read, list(parts), pool
        self.seeds = [None] * len(self.parts) if seeds is None else seeds
        self.taken, self.submitted = 0, 0
        self.pending = collections.deque()
        self.observations, self.waited, self.started = 0, 0.0, time.perf_counter()

    def _fill(self):
        while self.pool is not None and len(self.pending) < PREFETCH and self.submitted < len(self.parts):
            self.pending.append(self.pool.submit(self.read, self.parts[self.submitted], self.seeds[self.submitted]))
            self.submitted += 1

    def next(self):
        part, seed = self.parts[self.taken], self.seeds[self.taken]
        self.taken += 1
        start = time.perf_counter()
        self._fill()        # first call: start reading ahead (a reader never asked reads nothing)
        if self.pending:
            future = self.pending.popleft()
            self._fill()
            X = future.result()     # a worker's exception is raised here, in the caller's thread
        else:
            X = self.read(part, seed)
        self.waited += time.perf_counter() - start
        self.observations += X[0].shape[0]
        return X

    def skip(self):
        """The next mini-batch's indices, without reading it (the parallel engine's workers
        read their shares themselves)."""
        part = self.parts[self.taken]
        self.taken += 1
        return part

    def rate(self):
        """(observations per second delivered, fraction of the time spent waiting for data)."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return self.observations / elapsed, self.waited / elapsed

    def close(self):
        for future in self.pending:
            future.cancel()
        self.pending.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Ordered:
    """``X[part]`` of the data in the trainer's order, served by a reader of the same parts
    in the same order: what ``commit_population_state`` indexes, without a reordered copy of
    the whole data set."""

    def __init__(self, reader):
        self.reader = reader

    def __getitem__(self, part):
        return self.reader.next()[0]
