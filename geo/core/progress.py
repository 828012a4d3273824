"""Progress of a long step (rows done of a total), told to whoever runs it.

A store's one-time work (indexing every row, binning it for the map) takes minutes on tens
of millions of rows. The functions that do it take a :data:`Progress` callback and call it
after each page; the command line prints it (``python -m geo reindex``), the app shows it in
a status box. :func:`every` keeps a callback from being called more than once in a while.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Progress", "counted", "every"]

#: ``progress(step, done, total)``: ``done`` of ``total`` rows of the named step are done
#: (``total`` from the store's hourly summary: about the rows the step reads).
Progress = Callable[[str, int, int], None]


def every(report: Progress, *, seconds: float = 3.0) -> Progress:
    """``report``, called at most once every ``seconds`` for a step, and always at its end.

    The first call of each step is told at once, so a reader sees at the start what is done.

    Examples
    --------
    >>> told = []
    >>> tell = every(lambda step, done, total: told.append(done), seconds=60)
    >>> for done in (0, 10, 20, 30):
    ...     tell("indexing", done, 30)
    >>> told
    [0, 30]
    """
    last: dict[str, tuple[float, int, int]] = {}

    def throttled(step: str, done: int, total: int) -> None:
        now = time.monotonic()
        if step in last and last[step][1:] == (done, total):
            return  # told already
        if step not in last or now - last[step][0] >= seconds or done >= total:
            last[step] = (now, done, total)
            report(step, done, total)

    return throttled


def counted(progress: Progress | None, step: str, total: int) -> Callable[..., None]:
    """A callback ``tell(done, last=False)`` of the rows done in ``step``, for ``progress``.

    Tells ``progress`` (if any) at once that ``step`` starts (0 done). ``total`` is an
    estimate: it grows to the rows done if they pass it, and the last call (``last``) gives
    the rows done as the total, so the step ends at 100 %.
    """

    def tell(done: int, last: bool = False) -> None:
        if progress is not None:
            progress(step, done, done if last else max(total, done))

    tell(0)
    return tell
