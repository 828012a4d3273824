"""Items made in a thread of their own while the caller works on the last one.

Reading a store and classifying what was read take turns on one core; the SQLite driver
(and PostgreSQL's) wait outside the GIL, and so do the numba and PROJ kernels that classify
and bin the points. :func:`prefetched` runs the reading in a second thread, a few items
ahead, so on two cores a window's rows are read while the last page is counted.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar, cast

__all__ = ["prefetched"]

T = TypeVar("T")

#: How long the reading thread waits for room before it looks whether to stop (s).
_POLL_S = 0.1


def prefetched(items: Iterable[T], *, depth: int = 2) -> Iterator[T]:
    """The items of ``items`` in order, made at most ``depth`` ahead in another thread.

    ``items`` is iterated (and, when it is a generator, closed) in that thread only, so a
    connection it opens stays in one thread. An exception it raises is raised here, at the
    item where it happened. Closing the returned iterator early (or an exception in the
    caller's loop) stops the thread and closes ``items`` before it returns. Memory: at
    most ``depth + 1`` items at a time.

    Examples
    --------
    >>> list(prefetched(iter(range(5)), depth=2))
    [0, 1, 2, 3, 4]
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth!r}")
    slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                slots.put((kind, value), timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put("item", item):
                    return
            put("done", None)
        except BaseException as exc:  # handed to the caller, raised there
            put("error", exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="limes-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield cast(T, value)
    finally:
        stop.set()
        thread.join()
