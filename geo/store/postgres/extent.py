"""The rows of a map extent on a PostGIS store, found through the ``fine_cell`` B-tree.

``detections`` has row-level security enabled and forced: PostgreSQL then lets an index
serve only conditions whose operators are leakproof. PostGIS's ``&&`` is not, so the GiST
index on ``geom`` never serves the app's role (a sequential scan of every row, or the
window's rows through the ``time_us`` B-tree). ``bigint`` comparisons are leakproof: the
stored fine cell of each row (``fine_cell``, layout 4, :mod:`geo.store.postgres.bins_table`)
and its B-tree find the candidates instead, as key ranges (:func:`fine_ranges`), and the
exact inclusive test of the extent (:func:`exact_sql`) decides.

A fine cell key is ``column << 20 | row`` (:func:`geo.core.cells.fine_key`): the cells of
one fine column between two rows are consecutive keys, so a box is one range per fine
column it spans. PostgreSQL computes ``fine_cell`` with the same floating-point steps as
:func:`geo.core.cells.fine_indices`, and both column and row grow with the coordinate
(never down): a point inside a box has its column and row between those of the box's
corners. The corners are padded by :data:`geo.core.cells.BOX_SLACK_DEG` all the same.

Many ranges cost planning time (about 7 ms for 600) and, where the planner reads the rows
some other way, a test of each range per row (the world in 256 ranges, by a sequential
scan: 16-24 s against 1.4 s): a box wider than :data:`MAX_RANGES` fine columns gets runs
of neighbouring columns per range (the rows of the columns between come in too), and the
ranges are left out (:func:`with_candidates`) when the boxes' columns hold most of the
rows (:func:`share_in`) or when the planner would not read them through the index. The
rows are the same either way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from geo.core.cells import BOX_SLACK_DEG, fine_indices
from geo.store.postgres.connection import PgConnection

__all__ = [
    "FINE_CELL_INDEX",
    "MAX_RANGES",
    "MAX_SHARE",
    "Box",
    "exact_sql",
    "fine_ranges",
    "share_in",
    "with_candidates",
]

#: A box ``(west, south, east, north)`` in degrees (west <= east, south <= north).
Box = tuple[float, float, float, float]

#: A fine cell key's row bits (``column << 20 | row``, :func:`geo.core.cells.fine_key`).
_SHIFT = 20

#: The B-tree on ``fine_cell`` (:data:`geo.store.postgres.bins_table.FINE_CELL_SQL`).
FINE_CELL_INDEX = "detections_fine_cell"

#: The most key ranges an extent is searched with (one per fine column of 0.01°: a box up
#: to about 2.5° wide keeps its own; planning 256 ranges takes about 3 ms).
MAX_RANGES = 256

#: Past this share of the rows in an extent's cells, the rows are read without the ranges
#: (measured on 1,500,000 rows: the index reads cost about 2 to 3 µs a row, a scan of all
#: rows under 1 µs; at 70 % both took about 1 s).
MAX_SHARE = 0.5


def fine_ranges(
    boxes: Sequence[Box], *, max_ranges: int = MAX_RANGES
) -> list[tuple[int, int]] | None:
    """Inclusive ranges of ``fine_cell`` keys that hold every point of ``boxes``, sorted.

    One range per fine column a box spans (its rows from the box's south to its north);
    past ``max_ranges`` columns in all, runs of ``k`` neighbouring columns per range (the
    rows of the columns between come in too), ``k`` the smallest that keeps at most
    ``max_ranges`` plus one per box. None when a box is not inside -180..180, -90..90: a
    stored point outside (a key that is not ``column << 20 | row``) could lie in it.

    Examples
    --------
    A box over two fine columns and three rows (column, first row, last row):

    >>> ranges = fine_ranges([(24.005, 55.005, 24.015, 55.025)])
    >>> [(a >> 20, a & 0xFFFFF, b & 0xFFFFF) for a, b in ranges]
    [(20400, 14500, 14502), (20401, 14500, 14502)]
    >>> len(fine_ranges([(-180.0, -90.0, 180.0, 90.0)]))
    256
    """
    if max_ranges < 1:
        raise ValueError(f"max_ranges must be >= 1, got {max_ranges!r}")
    spans = [span for span in map(_span, boxes) if span is not None]
    if len(spans) < len(boxes):
        return None
    columns = sum(x1 - x0 + 1 for x0, x1, _, _ in spans)
    k = max(-(-columns // max_ranges), 1)
    lo, hi = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for x0, x1, y0, y1 in spans:
        first = np.arange(x0, x1 + 1, k, dtype=np.int64)
        lo.append((first << _SHIFT) | y0)
        hi.append((np.minimum(first + k - 1, x1) << _SHIFT) | y1)
    return _joined(np.concatenate(lo), np.concatenate(hi))


def _span(box: Box) -> tuple[int, int, int, int] | None:
    """The fine columns and rows (first, last) a box's points can be filed under, or None.

    None for a box not inside -180..180, -90..90. The corners are padded by the slack.
    """
    w, s, e, n = (float(v) for v in box)
    if not (-180.0 <= w <= e <= 180.0 and -90.0 <= s <= n <= 90.0):
        return None
    d = BOX_SLACK_DEG
    fx, fy, _ = fine_indices(np.array([w - d, e + d]), np.array([s - d, n + d]))
    # a point of the box is at -180 or east of it, at -90 or north of it: column and row >= 0
    return max(int(fx[0]), 0), int(fx[1]), max(int(fy[0]), 0), int(fy[1])


def _joined(lo: np.ndarray, hi: np.ndarray) -> list[tuple[int, int]]:
    """The ranges ``[lo, hi]`` sorted, overlapping ones joined."""
    if not lo.size:
        return []
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], np.maximum.accumulate(hi[order])
    cut = np.flatnonzero(lo[1:] > hi[:-1])
    first = np.concatenate([[0], cut + 1])
    last = np.concatenate([cut, [lo.size - 1]])
    return [(int(a), int(b)) for a, b in zip(lo[first], hi[last], strict=True)]


def share_in(conn: PgConnection, boxes: Sequence[Box]) -> float:
    """About which share of the rows the fine columns of ``boxes`` hold (0 to 1; at least theirs).

    The planner's estimates (``EXPLAIN``, from the statistics of ``fine_cell``) of the rows
    in one key range per box, from its first column's first row to its last column's last:
    whole columns, which the histogram of keys estimates well, against all rows. (It cannot
    estimate the box's own ranges: it reads a range of keys as evenly filled, where the
    rows of a column lie in its latitudes only; nor, under row-level security, the exact
    test.)
    """
    spans = [span for span in map(_span, boxes) if span is not None]
    if not spans:
        return 0.0
    bounds = [v for x0, x1, _, _ in spans for v in (x0 << _SHIFT, ((x1 + 1) << _SHIFT) - 1)]
    terms = " OR ".join(
        f"fine_cell BETWEEN ${i + 1}::bigint AND ${i + 2}::bigint" for i in range(0, len(bounds), 2)
    )
    inside = _rows(conn, f"({terms})", bounds)
    every = _rows(conn, "fine_cell >= $1::bigint", [-(2**63)])
    return min(inside / every, 1.0) if every > 0 else 0.0


def _rows(conn: PgConnection, where: str, params: Sequence[object]) -> float:
    """The planner's estimate of the rows of ``detections`` in ``where`` (``params``: not empty).

    With parameters: the driver runs a query without any through ``COPY``, which cannot
    hold an ``EXPLAIN``.
    """
    plan = conn.execute(
        f"EXPLAIN (FORMAT JSON) SELECT fid FROM detections WHERE {where}", params
    ).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"])


def exact_sql(boxes: Sequence[Box], params: list[object]) -> str:
    """The rows in one of ``boxes``, bounds included (their values appended to ``params``)."""
    parts = []
    for box in boxes:
        params.extend(float(v) for v in box)
        w, s, e, n = (f"${len(params) - 3 + i}::float8" for i in range(4))
        parts.append(f"(ST_X(geom) BETWEEN {w} AND {e} AND ST_Y(geom) BETWEEN {s} AND {n})")
    return f"({' OR '.join(parts) or 'false'})"


def _ranges_sql(ranges: Sequence[tuple[int, int]]) -> str:
    """``fine_cell`` in one of the ranges (integers, written in the SQL: none come from users)."""
    terms = " OR ".join(f"fine_cell BETWEEN {int(a)} AND {int(b)}" for a, b in ranges)
    return f"({terms or 'false'})"


def with_candidates(
    conn: PgConnection, where: str, params: Sequence[object], boxes: Sequence[Box]
) -> str:
    """``where`` (rows of ``detections``) with ``fine_cell`` in the ranges of ``boxes``, if it pays.

    ``where`` holds the boxes' exact test (:func:`exact_sql`: ``params`` is not empty, see
    :func:`_rows`), so the result is the same either way. The ranges are left out when the
    boxes' columns hold more than :data:`MAX_SHARE` of the rows (:func:`share_in`), and
    when the planner, asked in
    the caller's transaction (``EXPLAIN`` of the count: the same viewers and statistics),
    would not read them through the ``fine_cell`` index: tested row by row, many ranges
    cost more than they save.
    """
    ranges = fine_ranges(boxes)
    if ranges is None:
        return where
    if share_in(conn, boxes) > MAX_SHARE:
        return where
    candidate = f"{where} AND {_ranges_sql(ranges)}"
    plan = conn.execute(
        f"EXPLAIN (FORMAT JSON) SELECT count(*) FROM detections WHERE {candidate}", list(params)
    ).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return candidate if FINE_CELL_INDEX in _index_names(plan) else where


def _index_names(plan: Any) -> set[str]:
    """The ``Index Name`` of every node of an ``EXPLAIN (FORMAT JSON)`` plan."""
    if isinstance(plan, list):
        return set().union(*(_index_names(p) for p in plan)) if plan else set()
    if not isinstance(plan, dict):
        return set()
    found = {str(plan["Index Name"])} if "Index Name" in plan else set()
    for value in plan.values():
        if isinstance(value, (list, dict)):
            found |= _index_names(value)
    return found
