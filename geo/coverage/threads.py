"""Work shared out to threads: the cores this process may use, and a map over them.

GEOS (through shapely) and the numba kernels of :mod:`geo.coverage.footprint_index` release
the GIL, so threads run them on every core without copying their inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """Number of cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: Most threads :func:`map_threads` uses in this context (None: :func:`cores`).
_AT_MOST: ContextVar[int | None] = ContextVar("limes_threads_at_most", default=None)


@contextmanager
def at_most(n: int) -> Iterator[None]:
    """While open, :func:`map_threads` called from this thread uses at most ``n`` threads.

    For work already shared out to every core by its caller (a Dask worker runs one task per
    core): the kernels' own threads would only wait on each other.

    Examples
    --------
    >>> import threading
    >>> with at_most(1):
    ...     map_threads(lambda _: threading.current_thread().name, [0, 1])
    ['MainThread', 'MainThread']
    """
    token = _AT_MOST.set(max(1, int(n)))
    try:
        yield
    finally:
        _AT_MOST.reset(token)


def map_threads(fn: Callable[[T], R], items: Sequence[T], *, name: str = "limes") -> list[R]:
    """``[fn(item) for item in items]``, on up to :func:`cores` threads (see :func:`at_most`).

    Examples
    --------
    >>> map_threads(abs, [-1, 2, -3])
    [1, 2, 3]
    """
    limit = _AT_MOST.get()
    workers = min(len(items), cores() if limit is None else min(limit, cores()))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(fn, items))


__all__ = ["at_most", "cores", "map_threads"]
