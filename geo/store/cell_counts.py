"""Counting rows per fine cell and hexagon: the pieces both back-ends' bins share.

:mod:`geo.store.map_bins` (GeoPackage) and :mod:`geo.store.postgres.map_bins` (PostGIS)
keep the map's pre-counted bins per time block, owner, marking, fine cell
(:func:`geo.core.cells.fine_cells_of`) and hexagon (:meth:`geo.core.cells.HexLayout.keys`);
this module sums them (:func:`summed`, :func:`cell_counts`), numbers (owner, marking) pairs
(:class:`Markings`) and splits a window into whole and partial blocks
(:func:`window_blocks`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.store.schema import DAY_US

__all__ = [
    "BLOCK_DAYS",
    "BLOCK_US",
    "CellCounts",
    "Markings",
    "cell_counts",
    "summed",
    "window_blocks",
]

#: UTC days per time block of the bins.
BLOCK_DAYS = 16

#: Microseconds per time block.
BLOCK_US = BLOCK_DAYS * DAY_US


class CellCounts(NamedTuple):
    """:func:`geo.store.window_cells`: rows per (fine cell, hexagon), unique pairs sorted by both.

    ``fine``: fine cell keys (:data:`geo.core.cells.NO_CELL` for rows whose position cannot
    be read); ``hexes``: hexagon keys (:data:`geo.core.cells.NO_HEX` where not finite);
    ``n``: rows (> 0). All int64.
    """

    fine: np.ndarray
    hexes: np.ndarray
    n: np.ndarray


def cell_counts(frame: pd.DataFrame) -> CellCounts:
    """Sum ``n`` over each (fine, hex) of ``frame``; pairs whose sum is 0 left out."""
    if frame.empty:
        empty = np.empty(0, dtype=np.int64)
        return CellCounts(empty, empty.copy(), empty.copy())
    total = frame.groupby(["fine", "hex"], sort=True)["n"].sum()
    total = total[total != 0]
    if (total < 0).any():  # cannot happen: bins behind their rows
        raise RuntimeError("the map's bins hold fewer rows than the store")
    fine = total.index.get_level_values(0).to_numpy(dtype=np.int64)
    hexes = total.index.get_level_values(1).to_numpy(dtype=np.int64)
    return CellCounts(fine, hexes, total.to_numpy(dtype=np.int64))


class Markings:
    """(owner, marking) pairs as small integers, for one fill: numbers group faster than text."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], int] = {}

    def codes(self, owner: pa.ChunkedArray, marking: pa.ChunkedArray) -> np.ndarray:
        """The pair code of each row."""
        joined = pc.binary_join_element_wise(owner, marking, "\x1f").to_numpy(zero_copy_only=False)
        local, uniques = pd.factorize(joined)
        known = [self.pairs.setdefault(tuple(u.split("\x1f", 1)), len(self.pairs)) for u in uniques]
        return np.asarray(known, dtype=np.int64)[local]

    def columns(self, codes: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """The owners and markings of pair codes."""
        pairs = sorted(self.pairs, key=self.pairs.__getitem__)
        owners = np.array([o for o, _ in pairs], dtype=object)
        markings = np.array([m for _, m in pairs], dtype=object)
        return pa.array(owners[codes], pa.string()), pa.array(markings[codes], pa.string())


def summed(keys: dict[str, np.ndarray], n: np.ndarray) -> dict[str, np.ndarray]:
    """``n`` summed over each distinct combination of ``keys`` (int64 columns), in key order."""
    if not n.size:
        return {**{k: v[:0] for k, v in keys.items()}, "n": n[:0]}
    order = np.lexsort(list(keys.values())[::-1])
    ordered = {k: v[order] for k, v in keys.items()}
    change = np.zeros(n.size, dtype=bool)
    change[0] = True
    for v in ordered.values():
        change[1:] |= v[1:] != v[:-1]
    starts = np.flatnonzero(change)
    return {**{k: v[starts] for k, v in ordered.items()}, "n": np.add.reduceat(n[order], starts)}


def window_blocks(
    t_from: int | None, t_to: int | None, block_us: int = BLOCK_US
) -> tuple[int | None, int | None, list[int]]:
    """The first and last block wholly inside a window (None: open), and those partly in it.

    Block ``b`` holds the times (µs since 1970 UTC) from ``b * block_us`` to
    ``(b + 1) * block_us - 1``; both ends of the window are inclusive.
    """
    lo = hi = None
    partial: list[int] = []
    if t_from is not None:
        first = t_from // block_us
        lo = first if t_from <= first * block_us else first + 1
        if lo != first:
            partial.append(first)
    if t_to is not None:
        last = t_to // block_us
        hi = last if t_to >= (last + 1) * block_us - 1 else last - 1
        if hi != last and last not in partial:
            partial.append(last)
    return lo, hi, partial
