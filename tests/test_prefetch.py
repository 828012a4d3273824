"""geo.core.prefetch: items made ahead in another thread, in order, errors raised in place."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from geo.core.prefetch import prefetched


def test_every_item_in_order_made_in_another_thread() -> None:
    threads: set[int] = set()

    def items() -> Iterator[int]:
        for i in range(1000):
            threads.add(threading.get_ident())
            yield i

    assert list(prefetched(items(), depth=3)) == list(range(1000))
    assert threads
    assert threading.get_ident() not in threads


def test_the_thread_stays_at_most_depth_ahead() -> None:
    made: list[int] = []
    ahead: list[int] = []

    def items() -> Iterator[int]:
        for i in range(50):
            made.append(i)
            yield i

    for i in prefetched(items(), depth=2):
        time.sleep(0.002)
        ahead.append(len(made) - (i + 1))
    assert max(ahead) <= 3  # two waiting, one in the making
    assert max(ahead) >= 1  # it did read ahead


def test_an_error_is_raised_at_its_item_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("row 3: bad geometry")

    got = []
    with pytest.raises(ValueError, match="row 3: bad geometry"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_closes_the_source_in_its_thread() -> None:
    closed_in: list[int] = []

    def items() -> Iterator[int]:
        try:
            yield from range(10_000)
        finally:
            closed_in.append(threading.get_ident())

    it = prefetched(items(), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()  # type: ignore[attr-defined]
    assert len(closed_in) == 1
    assert closed_in[0] != threading.get_ident()
    assert not any(t.name == "limes-prefetch" for t in threading.enumerate())


def test_a_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth must be >= 1"):
        list(prefetched([1], depth=0))
