"""Running work over the partitions of a dataset on a Dask cluster.

:func:`dask_client` opens the cluster: a :class:`distributed.LocalCluster` of this machine's
cores (one worker process per core, one thread each, the memory shared out among them) by
default, an existing cluster at ``tcp://host:port``, or ``"sync"``: no cluster, partitions
one after another in this process (tests, debugging). :func:`map_partitions` runs one task
per partition file: the shared inputs (e.g. the footprint index) are sent to every worker
once (``scatter(broadcast=True)``), each task returns a small result, gathered in partition
order. Workers must be able to import Limes (its directory on their ``PYTHONPATH``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from geo.core.errors import ValidationError, describe

__all__ = [
    "SYNC",
    "dask_client",
    "iter_partitions",
    "map_partitions",
    "no_main_script",
    "warm_workers",
]

#: ``scheduler`` value: no cluster, every partition in this process.
SYNC: Final[str] = "sync"
#: Seconds to wait for an existing scheduler to answer.
_CONNECT_TIMEOUT_S: Final[int] = 10

T = TypeVar("T")


@contextmanager
def no_main_script() -> Iterator[None]:
    """Start worker processes without re-running this process's main script.

    Worker processes are spawned, and a spawned process first runs the parent's
    ``__main__`` file again. When that is a script (a Streamlit app run by AppTest, a
    notebook's kernel), the workers would run it and fail to start. While this is open,
    ``__main__`` is a bare module, so the workers start from Limes' modules alone.
    """
    import sys
    import types

    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


#: glibc's setting that Dask gives its workers and the local cluster's workers go without.
_TRIM = "MALLOC_TRIM_THRESHOLD_"


@contextmanager
def _default_malloc() -> Iterator[None]:
    """Workers started meanwhile get glibc's own memory trimming (``MALLOC_TRIM_THRESHOLD_``).

    Dask sets it to 64 KiB so that workers hand freed memory back at once; glibc then also
    maps every array over 128 KiB afresh (its dynamic threshold is off) and a page of
    262,144 points cost half as much again in page faults (measured: 0.17 s of kernel time
    per 2,000,000 points, on 0.35 s of work). Dask passes the setting through this
    process's environment (where an earlier cluster may have left it), so it is taken out
    of both while the workers start, and put back.
    """
    import dask

    before = os.environ.pop(_TRIM, None)
    try:
        with dask.config.set({f"distributed.nanny.pre-spawn-environ.{_TRIM}": None}):
            yield
    finally:
        os.environ.pop(_TRIM, None)
        if before is not None:
            os.environ[_TRIM] = before


def _local_cluster() -> Any:
    from distributed import LocalCluster

    with no_main_script(), _default_malloc():
        return LocalCluster(
            n_workers=os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            memory_limit="auto",  # the machine's memory shared out among the workers
            dashboard_address=":0",  # any free port: never a clash with a running cluster
            silence_logs=logging.ERROR,
        )


@contextmanager
def dask_client(scheduler: str | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for the scheduler (None for ``"sync"``); closed after.

    Parameters
    ----------
    scheduler
        None: a local cluster of this machine's cores, started and stopped here;
        ``tcp://host:port``: an existing cluster; ``"sync"``: no cluster.

    Raises
    ------
    ValidationError
        An address that is not ``tcp://host:port`` or where no scheduler answers.
    """
    if scheduler == SYNC:
        yield None
        return
    from distributed import Client

    if scheduler is None:
        with _local_cluster() as cluster, Client(cluster) as client:
            yield client
        return
    if not scheduler.startswith(("tcp://", "tls://")) or ":" not in scheduler.split("://", 1)[1]:
        raise ValidationError(
            describe(
                "--scheduler",
                "not a Dask scheduler address",
                expected="tcp://host:port (or 'sync', or nothing for a local cluster)",
                got=scheduler,
            )
        )
    try:
        client = Client(scheduler, timeout=_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValidationError(
            describe(
                "--scheduler",
                "no Dask scheduler answers",
                expected=f"a running scheduler at {scheduler}",
                got=" ".join(str(exc).split())[:160],
                fix="Start one (`dask scheduler`, then `dask worker ADDRESS`) or leave "
                "--scheduler out for a local cluster",
            )
        ) from None
    with client:
        _check_cluster(client)
        yield client


def _check_cluster(client: Any) -> None:
    """Refuse a cluster with no worker, or whose scheduler or workers cannot import Limes.

    Without this, a worker that cannot unpickle a task stops (the run then waits for
    workers that never come), and a scheduler that cannot says so in Dask's words only.
    ``exec`` of a fixed import, by reference, is the one call both can unpickle either way.
    """
    try:
        client.wait_for_workers(1, timeout=_CONNECT_TIMEOUT_S)
    except TimeoutError:
        raise ValidationError(
            describe(
                "--scheduler",
                "no Dask worker has joined the scheduler",
                expected=f"at least one worker at {client.scheduler.address}",
                got="none within 10 s",
                fix=f"Start `dask worker {client.scheduler.address}` on each worker host, or "
                "leave --scheduler out for a local cluster",
            )
        ) from None
    try:
        client.run_on_scheduler(exec, _IMPORT_LIMES)
        client.run(exec, _IMPORT_LIMES)
    except ImportError as exc:
        raise _limes_missing(client, exc) from None


#: What every process of a cluster must be able to run (:func:`_check_cluster`).
_IMPORT_LIMES: Final = "import geo.dataset"


def warm_workers(client: Any, fn: Callable[[], object]) -> None:
    """Start ``fn()`` on every worker now and return at once (None client: nothing).

    For what a worker loads on its first task (modules, compiled kernels): done while this
    process prepares the work, not on the first partition. The tasks run to the end though
    nothing waits for them; a partition task sent meanwhile runs after them.
    """
    if client is None:
        return
    from distributed import fire_and_forget

    for address in client.nthreads():
        fire_and_forget(client.submit(fn, pure=False, workers=[address]))


def map_partitions(
    client: Any,
    fn: Callable[..., T],
    files: Sequence[Path],
    shared: Any,
) -> list[T]:
    """``[fn(file, shared) for file in files]``, on the cluster; results in file order."""
    return list(iter_partitions(client, fn, files, shared))


def iter_partitions(
    client: Any,
    fn: Callable[..., T],
    files: Sequence[Path],
    shared: Any,
    *,
    ahead: int | None = None,
) -> Iterator[T]:
    """``fn(file, shared)`` for each file, yielded in file order as the cluster finishes them.

    At most ``ahead`` partitions are in flight (default: twice the workers' threads), so a
    caller that writes each result as it comes holds only a few at a time.
    """
    if client is None:
        for f in files:
            yield fn(f, shared)
        return
    handle = client.scatter(shared, broadcast=True, hash=False)
    if ahead is None:
        ahead = 2 * max(sum(client.nthreads().values()), 1)
    pending: list[Any] = []
    todo = iter(files)
    for f in todo:
        pending.append(client.submit(fn, f, handle, pure=False))
        if len(pending) >= ahead:
            break
    while pending:
        future = pending.pop(0)
        nxt = next(todo, None)
        if nxt is not None:
            pending.append(client.submit(fn, nxt, handle, pure=False))
        try:
            result = future.result()
        except (ImportError, RuntimeError) as exc:  # ModuleNotFoundError is an ImportError
            if not _cannot_import(exc):
                raise
            raise _limes_missing(client, exc) from exc
        finally:
            future.release()
        yield result


def _limes_missing(client: Any, exc: BaseException) -> ValidationError:
    """The message for a cluster whose scheduler or workers cannot import Limes.

    The scheduler unpickles the task graph (which names Limes's functions) and the workers
    run them: both must import this Limes and what it needs. Dask says so as an
    ``ImportError`` (a worker) or a ``RuntimeError`` about the graph's deserialization (the
    scheduler): :func:`_cannot_import`.
    """
    text = " ".join(str(exc).split())
    return ValidationError(
        describe(
            "--scheduler",
            "the Dask cluster cannot run Limes's tasks",
            expected=f"a scheduler and workers at {client.scheduler.address} that import this "
            "Limes",
            got=text[:200],
            fix="Start `dask scheduler` and every `dask worker` from this checkout with it on "
            "PYTHONPATH (PYTHONPATH=/path/to/limes dask scheduler), or leave --scheduler out "
            "for a local cluster",
        )
    )


def _cannot_import(exc: BaseException) -> bool:
    """Whether a task's error says a process of the cluster cannot import what it runs."""
    return isinstance(exc, ImportError) or "deserializ" in str(exc)
