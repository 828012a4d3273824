"""Rejected rows: which rows are still accepted, and the first reason each other row failed.

Every check works on whole columns (numpy/pandas/pyarrow). Only rows that fail get a Python
object (a reason string), so a clean million-row file costs a handful of array operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from geo.core.errors import describe

__all__ = ["Rejects", "fmt_value", "reason"]


def reason(
    problem: str, *, expected: str | None = None, got: object = None, fix: str | None = None
) -> str:
    """The part of a :func:`geo.core.errors.describe` message after the file/row/field."""
    return describe("", problem, expected=expected, got=got, fix=fix)[2:]


def fmt_value(value: object) -> object:
    """A cell value as shown in messages (numpy scalars as Python values)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Rejects:
    """Rows rejected so far; one entry per row, the first problem found.

    Attributes
    ----------
    alive
        Rows still accepted.
    found
        ``(position, field, reason)`` per rejected row.
    """

    n_rows: int
    alive: np.ndarray = field(init=False)
    found: list[tuple[int, str | None, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.alive = np.ones(self.n_rows, dtype=bool)

    def reject(
        self, mask: np.ndarray, field_name: str | None, why: str | Callable[[int], str]
    ) -> None:
        """Reject the still-alive rows in ``mask``; ``why`` may build a reason per position."""
        new = np.asarray(mask, dtype=bool) & self.alive
        if not new.any():
            return
        for i in np.flatnonzero(new):
            self.found.append((int(i), field_name, why(int(i)) if callable(why) else why))
        self.alive &= ~new

    def reject_rows(self, rows: list[tuple[int, str | None, str]]) -> None:
        """Reject rows given as ``(position, field, reason)`` (first reason per row wins)."""
        for pos, field_name, why in rows:
            if self.alive[pos]:
                self.found.append((int(pos), field_name, why))
                self.alive[pos] = False
