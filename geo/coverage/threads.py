"""Work shared out to threads: the cores this process may use, and a map over them.

GEOS (through shapely) and the numba kernels of :mod:`geo.coverage.footprint_index` release
the GIL, so threads run them on every core without copying their inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """Number of cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_threads(fn: Callable[[T], R], items: Sequence[T], *, name: str = "limes") -> list[R]:
    """``[fn(item) for item in items]``, on up to :func:`cores` threads.

    Examples
    --------
    >>> map_threads(abs, [-1, 2, -3])
    [1, 2, 3]
    """
    workers = min(len(items), cores())
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(fn, items))


__all__ = ["cores", "map_threads"]
