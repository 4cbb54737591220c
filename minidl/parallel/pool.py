"""``parpool`` and ``gcp``: a pool of Ray actors (workers), each computing with its own
threads, so that workers × threads never exceed the CPUs Ray counts on a node.

A local pool starts a Ray cluster on this machine with one CPU per physical core (Ray's
dashboard off); ``Address`` (or the ``RAY_ADDRESS`` environment variable) connects to a
running cluster instead (``ray start --head`` on the head node). Each worker reserves
``threads`` of Ray's CPUs, so Ray never places more workers on a node than its CPUs allow.
A worker that dies is restarted by Ray (``max_restarts``); the training engine recomputes
the share it was computing (minidl/parallel/engine.py).
"""
import os
import socket
import urllib.parse

from ..options import integer, received
from ..threads import physical_cores

_current = None
CONNECT_SECONDS = 5.0


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError("parpool: parallel training runs on Ray, which is not installed; install the "
                          "'parallel' extra: pip install 'minidl[parallel]' (or pip install 'ray>=2.9').") from None
    return ray


class Pool:
    """A parallel pool: ``NumWorkers`` Ray actors. ``delete()`` stops them (and the local Ray
    cluster, if this pool started it); MATLAB's ``delete(pool)``."""

    def __init__(self, workers, threads, address, started_ray):
        self.workers, self.Threads, self.Address, self._started_ray = workers, threads, address, started_ray

    @property
    def NumWorkers(self):
        return len(self.workers)

    @property
    def Connected(self):
        return _current is self

    def delete(self):
        global _current
        ray = _ray()
        for worker in self.workers if ray.is_initialized() else ():   # after ray.shutdown() they are gone
            ray.kill(worker, no_restart=True)
        self.workers = []
        if _current is self:
            _current = None
        if self._started_ray and ray.is_initialized():
            ray.shutdown()

    def __repr__(self):
        where = self.Address or "local"
        return f"Pool(NumWorkers={self.NumWorkers}, Threads={self.Threads}, Address={where!r})"


def parpool(numWorkers=None, Address=None, Threads=None):
    """``pool = parpool(numWorkers, Address=None)``: start a pool of Ray workers (MATLAB's
    ``parpool``). Without ``Address`` (and without ``RAY_ADDRESS``) a local Ray cluster starts
    with one worker per physical core by default; with one, minidl connects to that cluster
    (``"host:port"`` of ``ray start --head``, ``"ray://host:10001"``, or ``"auto"``). Each worker
    computes with ``Threads`` threads (a minidl extension; default ``max(1, cores // numWorkers)``
    locally, 1 on a cluster), and reserves as many of Ray's CPUs. A pool that
    is already open is deleted first, as MATLAB refuses a second one.

    A cluster nobody answers at is named at once (Ray itself would wait for minutes)::

        >>> import minidl
        >>> minidl.parpool(2, Address="127.0.0.1:9")
        Traceback (most recent call last):
        ConnectionError: parpool: cannot reach the Ray cluster at '127.0.0.1:9' (...). Start it with ...

    docs/parallel.md shows a local pool and training on it.
    """
    ray = _ray()
    address = Address if Address is not None else os.environ.get("RAY_ADDRESS") or None
    if address is not None and not isinstance(address, str):
        raise TypeError(f"parpool: Address must be a Ray cluster address string such as '10.0.0.5:6379'; "
                        f"received {received(address)}.")
    if address is not None:
        _check_reachable(address)
    count = None if numWorkers is None else integer("parpool", "numWorkers", numWorkers)
    threads = None if Threads is None else integer("parpool", "Threads", Threads)
    started = _current is not None and _current._started_ray   # a replaced pool hands its cluster on
    if not ray.is_initialized():
        if address is not None:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except Exception as error:   # Ray raises ConnectionError, RuntimeError or its own types
                raise ConnectionError(f"parpool: could not connect to the Ray cluster at {address!r} ({error}). "
                                      f"Start it with 'ray start --head' there, or check RAY_ADDRESS.") from error
        else:
            ray.init(**local_cluster(physical_cores()))
        started = True
    cpus = int(ray.cluster_resources().get("CPU", 1))
    count = cpus if count is None else count
    if threads is None:
        threads = max(1, min(physical_cores(), cpus) // count) if address is None else 1
    if count * threads > cpus:
        raise ValueError(f"parpool: numWorkers × Threads must be at most the {cpus} CPUs of the Ray cluster (Ray "
                         f"reserves Threads CPUs per worker); received {count} × {threads}.")
    if _current is not None:
        _current._started_ray = False
        _current.delete()
    from .worker import actor_class
    actor = actor_class(ray).options(num_cpus=threads)
    workers = [actor.remote(threads) for _ in range(count)]
    ray.get([worker.ready.remote() for worker in workers])
    return _set_current(Pool(workers, threads, address, started))


def local_cluster(cpus):
    """``ray.init`` arguments of a local cluster of ``cpus`` CPUs whose workers import the
    same minidl as this process (a source checkout too), with Ray's dashboard off."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return dict(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": path}})


def _set_current(pool):
    global _current
    _current = pool
    return pool


def gcp(option=None):
    """``pool = gcp()``: the current pool, started with ``parpool()`` if there is none;
    ``gcp("nocreate")`` returns None instead of starting one (MATLAB's ``gcp``)."""
    if option is not None and option != "nocreate":
        raise ValueError(f"gcp: the only option is 'nocreate'; received {option!r}.")
    if _current is None and option is None:
        return parpool()
    return _current


def _check_reachable(address):
    """Ray waits minutes for an address nobody answers; a plain TCP connection says at once."""
    if address == "auto":
        return
    parsed = urllib.parse.urlsplit(address if "://" in address else "ray://" + address)
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise ValueError(f"parpool: Address must be 'host:port' (the address 'ray start --head' prints), "
                         f"'ray://host:port' or 'auto'; received {address!r}.")
    try:
        socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise ConnectionError(f"parpool: cannot reach the Ray cluster at {address!r} ({error}). Start it with "
                              f"'ray start --head' on that machine, or check Address / RAY_ADDRESS.") from None
