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

from geo.core.cells import HexLayout, fine_cells_of
from geo.store.schema import DAY_US

__all__ = [
    "BLOCK_DAYS",
    "BLOCK_US",
    "CellCounts",
    "Markings",
    "binned_as",
    "bins_table",
    "cell_counts",
    "cell_keys",
    "page_bins",
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


def binned_as(layout: HexLayout, block_days: int = BLOCK_DAYS) -> str:
    """The name a bins' state keeps: the layout's and the block length (others: binned anew)."""
    return f"{layout.name}|{block_days}d"


def cell_keys(lon: np.ndarray, lat: np.ndarray, layout: HexLayout) -> dict[str, np.ndarray]:
    """The fine cell (``fine``) and hexagon (``hex``) of each point (degrees)."""
    return {"fine": fine_cells_of(lon, lat), "hex": layout.keys(lon, lat)}


def page_bins(
    block: np.ndarray,
    cells: dict[str, np.ndarray],
    owner: pa.ChunkedArray,
    marking: pa.ChunkedArray,
    markings: Markings,
    *,
    sign: int = 1,
    marking_to: str | None = None,
) -> list[dict[str, np.ndarray]]:
    """A page of rows counted per bin (block, owner and marking pair, fine cell, hexagon).

    Each row counts ``sign`` under its marking; with ``marking_to``, also ``-sign`` under
    ``marking_to``: a re-marking (``sign`` -1) moves the rows' counts from their marking to
    ``marking_to``.
    """
    rows = len(block)
    keys = {"block": block, "pair": markings.codes(owner, marking), **cells}
    out = [summed(keys, np.full(rows, sign, dtype=np.int64))]
    if marking_to is not None:
        to = pa.chunked_array([pa.array([marking_to] * rows, pa.string())])
        moved = keys | {"pair": markings.codes(owner, to)}
        out.append(summed(moved, np.full(rows, -sign, dtype=np.int64)))
    return out


def bins_table(pending: list[dict[str, np.ndarray]], markings: Markings) -> pa.Table:
    """The bins of ``pending`` summed into one table (zero sums left out), in key order.

    Columns ``block``, ``owner``, ``releasable_to``, ``fine``, ``hex``, ``n``: what both
    back-ends add to their bins table.
    """
    keys = {k: np.concatenate([p[k] for p in pending]) for k in ("block", "pair", "fine", "hex")}
    bins = summed(keys, np.concatenate([p["n"] for p in pending]))
    kept = bins["n"] != 0  # a re-marking within one marking moves nothing
    bins = {k: v[kept] for k, v in bins.items()}
    owner, marking = markings.columns(bins["pair"])
    return pa.table(
        {
            "block": bins["block"],
            "owner": owner,
            "releasable_to": marking,
            "fine": bins["fine"],
            "hex": bins["hex"],
            "n": bins["n"],
        }
    )


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
