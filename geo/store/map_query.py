"""What the map needs from the store, without reading every stored row into memory.

The Map page shows, for a viewer, an operation and a time window: the detections in the
view as points (up to :data:`geo.core.settings.MAX_MAP_POINTS`), hexagon counts beyond that,
and counts per status, sector, gap and partner. The store answers the first part with its
indexes (:func:`map_points`: the rows in an extent and window, with the count of all of
them); the rest needs the coverage, which the store does not know, so :func:`window_batches`
hands the window's positions over in pages of a bounded size, for
:func:`geo.coverage.streamed.count_batches` to classify and sum. Memory grows with a page,
not with the store.

Both back-ends, one API; releasability is applied in SQL as by every read
(:func:`geo.access.releasability.sql_where`; row-level security on PostgreSQL) and once more
in Python (:func:`geo.access.releasability.visible_mask`).

GeoPackage: the rows of a window are a range of ``fid`` (the table is clustered by UTC day),
those of an extent from the grid-cell index (:mod:`geo.store.spatial_index`, brought up to
date with the uploads first): rows of the cells inside the extent are in, those of the
cells on its edge are tested exactly; the rows of given fine cells (the map's class edges)
by their keys. A store of schema 4 or older, read without being upgraded, has no index,
and one of schema 5 to 7 indexes 0.05° cells (not used): the window's positions are read
page by page and tested.
PostGIS: the B-tree on the stored fine cell (key ranges of the extent's cells, as the GiST
index on ``geom`` cannot serve under forced row-level security) and the B-tree on
``time_us`` (:mod:`geo.store.postgres.map_query`, :mod:`geo.store.postgres.extent`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pyarrow as pa

from geo.access.releasability import viewers as checked_viewers
from geo.access.releasability import visible_mask
from geo.core import settings
from geo.core.cells import NO_CELL, fine_cells_of
from geo.core.errors import ValidationError, describe
from geo.store.connection import Connection, DatabaseError, Kind, is_busy, sql_text
from geo.store.hours import HOUR_US, HOURS, hour_sql, visible_hours_sql
from geo.store.location import postgres_url
from geo.store.opening import opened_for_reading
from geo.store.postgres import map_query as pg_map
from geo.store.postgres.connection import shown_url
from geo.store.reading import _READ_COLUMNS, _frame, _visible_where, _window
from geo.store.schema import (
    DAY_OFFSET,
    DAY_SHIFT,
    DEFAULT_OPERATION,
    first_fid,
    has_hours,
    has_operations,
    schema_version,
)
from geo.store.spatial_index import (
    CELLS,
    FINE_SCHEMA,
    cell_ranges,
    has_spatial_index,
    index_new_rows,
    is_current,
    positions_of,
)

__all__ = [
    "Extent",
    "MapPoints",
    "StoreTimes",
    "WindowBatch",
    "WindowPositions",
    "has_visible",
    "map_points",
    "time_summary",
    "window_batches",
    "window_positions",
    "window_rows",
    "window_size",
]

#: Rows per page of :func:`window_batches` (and of the GeoPackage's exact edge tests).
BATCH_ROWS = 100_000

#: What looking up a row through the index costs, in rows read in order (see
#: :func:`_index_pays`).
_LOOKUP_COST = 3

#: Past this many rows in the extent's cells the index is used whatever the window holds.
_WINDOW_FIRST_ROWS = 2_000_000

#: The temporary table of the rows on an extent's edge that are in it (GeoPackage).
_EDGE_TABLE = "limes_map_edge"


class Extent(NamedTuple):
    """A map extent in degrees (EPSG:4326), bounds included.

    ``west > east`` is an extent across the antimeridian (from ``west`` to 180, then from
    -180 to ``east``).
    """

    west: float
    south: float
    east: float
    north: float

    def boxes(self) -> list[tuple[float, float, float, float]]:
        """The extent as boxes with ``west <= east`` (two across the antimeridian)."""
        w, s, e, n = (float(v) for v in self)
        if not all(math.isfinite(v) for v in (w, s, e, n)) or s > n:
            raise ValidationError(
                describe(
                    "map extent",
                    "not a box in degrees",
                    expected="finite west, south, east, north with south <= north",
                    got=tuple(self),
                    fix="Pass the map's bounds in longitude and latitude",
                )
            )
        return [(w, s, e, n)] if w <= e else [(w, s, 180.0, n), (-180.0, s, e, n)]

    def holds(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Which points lie in the extent (bounds included)."""
        inside = np.zeros(len(lon), dtype=bool)
        for w, s, e, n in self.boxes():
            inside |= (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
        return inside


class MapPoints(NamedTuple):
    """:func:`map_points`: at most ``limit`` detections, and how many match in all."""

    detections: gpd.GeoDataFrame
    total: int


class WindowBatch(NamedTuple):
    """One page of :func:`window_batches`: positions (degrees), times (µs since 1970 UTC)."""

    fid: np.ndarray
    time_us: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


class WindowPositions(NamedTuple):
    """One page of :func:`window_positions`: longitudes and latitudes (degrees, EPSG:4326)."""

    lon: np.ndarray
    lat: np.ndarray


class StoreTimes(NamedTuple):
    """:func:`time_summary`: where the visible detections lie in time (µs since 1970 UTC).

    ``hours``: the hours (``floor(time_us / 3600e6)``) holding detections, ascending, with
    ``counts`` (how many) and ``on_hour`` (how many exactly on the hour). ``bulk``: the span
    :func:`geo.coverage.views.bulk_span` gives for these times (``None`` for none).
    """

    total: int
    first_us: int | None
    last_us: int | None
    bulk: tuple[int, int] | None
    hours: np.ndarray
    counts: np.ndarray
    on_hour: np.ndarray


#: The temporary table of the times added to the stored ones by :func:`time_summary`.
_EXTRA_TABLE = "limes_extra_times"


Fetch = Callable[[str], list[tuple[Any, ...]]]


def summarise_times(source: str, fetch: Fetch, *, share: float = 0.95) -> StoreTimes:
    """A :class:`StoreTimes` of the times of ``source`` (a sub-query with a ``time_us`` column).

    ``fetch`` runs a query and returns its rows. Three queries, plain SQL (window
    functions) the same for SQLite and PostgreSQL: the hourly histogram; the shortest span
    holding ``k = ceil(share * n)`` of the ``n`` times (ties: the earliest), as
    :func:`geo.coverage.views.bulk_span` finds it (from the ``n - k + 1`` first and last
    times, kept by the database); and the first and last time within half its width of it.
    """
    h = HOUR_US
    rows = fetch(
        f"SELECT h, count(*), sum(CASE WHEN time_us % {h} = 0 THEN 1 ELSE 0 END), "
        f"min(time_us), max(time_us) FROM (SELECT time_us, "
        f"(time_us - ((time_us % {h}) + {h}) % {h}) / {h} AS h FROM {source} s) b "
        "GROUP BY h ORDER BY h"
    )
    hist = np.array(rows, dtype=np.int64).reshape(-1, 5)
    total = int(hist[:, 1].sum())
    if not total:
        empty = np.zeros(0, dtype=np.int64)
        return StoreTimes(0, None, None, None, empty, empty, empty)
    k = max(math.ceil(share * total), 1)
    # The span's start is one of the m = n - k + 1 first times, its end the same-numbered
    # of the m last: two top-m sorts, not a sort of every time.
    # The histogram says below which hour the m first lie, above which the m last: only
    # those rows are sorted (found with the index on time_us).
    m = total - k + 1
    below = (int(hist[np.searchsorted(np.cumsum(hist[:, 1]), m), 0]) + 1) * h
    above = int(hist[::-1][np.searchsorted(np.cumsum(hist[::-1, 1]), m), 0]) * h
    ((a, b),) = fetch(
        f"SELECT lo.t, hi.t FROM "
        f"(SELECT t, row_number() OVER (ORDER BY t) AS r FROM "
        f"(SELECT time_us AS t FROM {source} s WHERE time_us < {below} "
        f"ORDER BY time_us LIMIT {m}) l) lo JOIN "
        f"(SELECT t, row_number() OVER (ORDER BY t) AS r FROM "
        f"(SELECT time_us AS t FROM {source} s WHERE time_us >= {above} "
        f"ORDER BY time_us DESC LIMIT {m}) h) hi "
        "ON lo.r = hi.r ORDER BY hi.t - lo.t, lo.t LIMIT 1"
    )
    a, b = int(a), int(b)
    pad = (b - a) // 2
    ((lo, hi),) = fetch(
        f"SELECT min(time_us), max(time_us) FROM {source} s "
        f"WHERE time_us BETWEEN {a - pad} AND {b + pad}"
    )
    return StoreTimes(
        total=total,
        first_us=int(hist[:, 3].min()),
        last_us=int(hist[:, 4].max()),
        bulk=(int(lo), int(hi)),
        hours=hist[:, 0],
        counts=hist[:, 1],
        on_hour=hist[:, 2],
    )


#: The rows whose time is in ``[lo, hi]`` µs (``None``: unbounded), as a sub-query with a
#: ``time_us`` column (see :func:`summarise_hours`).
Window = Callable[[int | None, int | None], str]


def rows_hours(source: str) -> str:
    """The hourly histogram of the times of ``source``, counted row by row (no ``ORDER BY``).

    Columns ``h``, ``n``, ``on_hour``, ``min_us``, ``max_us``: as :func:`summarise_times`
    counts them, and as :func:`geo.store.hours.visible_hours_sql` reads them from the summary.
    """
    h = HOUR_US
    return (
        f"SELECT h, count(*) AS n, sum(CASE WHEN time_us % {h} = 0 THEN 1 ELSE 0 END) AS on_hour, "
        f"min(time_us) AS min_us, max(time_us) AS max_us FROM (SELECT time_us, {hour_sql()} "
        f"AS h FROM {source} s) b GROUP BY h"
    )


def summarise_hours(hours: str, window: Window, fetch: Fetch, *, share: float = 0.95) -> StoreTimes:
    """:func:`summarise_times` from an hourly histogram, reading rows of a few hours only.

    ``hours``: SQL of the histogram (:func:`rows_hours`'s columns, e.g. from the hourly
    summary, :mod:`geo.store.hours`); ``window``: the rows of a time range. The same figures
    as :func:`summarise_times` over the rows ``window(None, None)``: the histogram gives the
    total, the first and last time and the hours in which the bulk's ends can lie; the
    bulk's two top-m queries read the rows of those hours (the store's index on time or,
    in a GeoPackage, on the day finds them); the first and last time within half the
    bulk's width of it come from the histogram but for the two hours where that range
    starts and ends, whose rows are read.
    """
    hist = np.array(fetch(f"SELECT * FROM ({hours}) x ORDER BY h"), dtype=np.int64).reshape(-1, 5)
    total = int(hist[:, 1].sum())
    if not total:
        empty = np.zeros(0, dtype=np.int64)
        return StoreTimes(0, None, None, None, empty, empty, empty)
    k = max(math.ceil(share * total), 1)
    bulk = _bulk_from_hours(hist, k, window, fetch)
    return StoreTimes(
        total=total,
        first_us=int(hist[:, 3].min()),
        last_us=int(hist[:, 4].max()),
        bulk=bulk if bulk is not None else _bulk_from_rows(hist, k, window, fetch),
        hours=hist[:, 0],
        counts=hist[:, 1],
        on_hour=hist[:, 2],
    )


def _bulk_from_rows(hist: np.ndarray, k: int, window: Window, fetch: Fetch) -> tuple[int, int]:
    """The bulk of :func:`summarise_hours`, its span from the ``m`` first and last rows."""
    h = HOUR_US
    m = int(hist[:, 1].sum()) - k + 1
    below = (int(hist[np.searchsorted(np.cumsum(hist[:, 1]), m), 0]) + 1) * h
    above = int(hist[::-1][np.searchsorted(np.cumsum(hist[::-1, 1]), m), 0]) * h
    ((a, b),) = fetch(
        f"SELECT lo.t, hi.t FROM "
        f"(SELECT t, row_number() OVER (ORDER BY t) AS r FROM "
        f"(SELECT time_us AS t FROM {window(None, below - 1)} s "
        f"ORDER BY time_us LIMIT {m}) l) lo JOIN "
        f"(SELECT t, row_number() OVER (ORDER BY t) AS r FROM "
        f"(SELECT time_us AS t FROM {window(above, None)} s "
        f"ORDER BY time_us DESC LIMIT {m}) h) hi "
        "ON lo.r = hi.r ORDER BY hi.t - lo.t, lo.t LIMIT 1"
    )
    a, b = int(a), int(b)
    return _bulk_ends(hist, window, fetch, a - (b - a) // 2, b + (b - a) // 2)


def _bulk_from_hours(
    hist: np.ndarray, k: int, window: Window, fetch: Fetch
) -> tuple[int, int] | None:
    """The bulk of :func:`summarise_hours` without its span's ``m`` first and last rows.

    The bulk is the first and last time in ``[lo, hi]`` (the shortest span of ``k`` times,
    ``[a, b]``, widened by half its width each way). The histogram bounds where ``lo`` and
    ``hi`` can lie (:func:`_pad_ranges`); when no time lies in either range (the histogram's
    hours say so, or the rows of the one hour that straddles it), the bulk is the first and
    last time in ``[lo_max, hi_min]`` whatever ``a`` and ``b`` are: the rows of two hours.
    ``None`` when a range holds times: then the span is needed exactly.
    """
    (lo_min, lo_max), (hi_min, hi_max) = _pad_ranges(hist, k)
    if lo_max > hi_min:
        return None
    for f, t in ((lo_min, lo_max - 1), (hi_min + 1, hi_max)):
        if f <= t and not _empty(hist, window, fetch, f, t):
            return None
    return _bulk_ends(hist, window, fetch, lo_max, hi_min)


def _pad_ranges(hist: np.ndarray, k: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Where ``lo = a - (b - a) // 2`` and ``hi = b + (b - a) // 2`` can lie (µs, inclusive).

    ``[a, b] = [t_i, t_(i+k-1)]`` of the sorted times, ``i`` the start of the shortest
    span. The ranks ``i`` in ``[0, n - k]`` fall into segments over which the hours of
    ``t_i`` and ``t_(i+k-1)`` stay the same; there each width lies between the hours'
    bounds. The shortest width is at most the least upper bound ``w_hi``, so only the
    segments whose lower bound is at most ``w_hi`` can hold the span.
    """
    counts, first, last = hist[:, 1], hist[:, 3], hist[:, 4]
    cum = np.cumsum(counts)
    m = int(cum[-1]) - k + 1
    cuts = np.concatenate([[0], cum, cum - (k - 1)])
    starts = np.unique(cuts[(cuts >= 0) & (cuts < m)])
    ja = np.searchsorted(cum, starts, side="right")
    jb = np.searchsorted(cum, starts + (k - 1), side="right")
    low = np.maximum(first[jb] - last[ja], 0)
    w_hi = int((last[jb] - first[ja]).min())
    keep = low <= w_hi
    ja, jb, low = ja[keep], jb[keep], low[keep]
    lo = (int((first[ja] - w_hi // 2).min()), int((last[ja] - low // 2).max()))
    hi = (int((first[jb] + low // 2).min()), int((last[jb] + w_hi // 2).max()))
    return lo, hi


def _empty(hist: np.ndarray, window: Window, fetch: Fetch, lo: int, hi: int) -> bool:
    """Whether no time lies in ``[lo, hi]`` (µs): from the histogram, else one hour's rows.

    An hour whose first or last time is in the range has one there; an hour that
    straddles it (at most one: the range is then shorter than an hour) is read.
    """
    first, last = hist[:, 3], hist[:, 4]
    near = (first <= hi) & (last >= lo)
    if not near.any():
        return True
    if (((first >= lo) & (first <= hi)) | ((last >= lo) & (last <= hi))).any():
        return False
    return not fetch(f"SELECT 1 FROM {window(lo, hi)} s LIMIT 1")


def _bulk_ends(hist: np.ndarray, window: Window, fetch: Fetch, lo: int, hi: int) -> tuple[int, int]:
    """The first and last time in ``[lo, hi]`` (µs): the histogram's, the edge hours' rows.

    Every row of an hour strictly between the hours of ``lo`` and ``hi`` is in the range;
    of the two edge hours, the rows are read (only those in the range).
    """
    h = HOUR_US
    first_h, last_h = lo // h, hi // h
    inner = hist[(hist[:, 0] > first_h) & (hist[:, 0] < last_h)]
    edges = [(lo, min(hi, (first_h + 1) * h - 1))]
    if last_h > first_h:
        edges.append((max(lo, last_h * h), hi))
    union = " UNION ALL ".join(
        f"SELECT time_us FROM {window(f, t)} e{i}" for i, (f, t) in enumerate(edges)
    )
    ((e_lo, e_hi),) = fetch(f"SELECT min(time_us), max(time_us) FROM ({union}) u")
    firsts = [int(v) for v in (e_lo, *inner[:, 3].tolist()) if v is not None]
    lasts = [int(v) for v in (e_hi, *inner[:, 4].tolist()) if v is not None]
    return min(firsts), max(lasts)


def has_visible(
    path: str | os.PathLike[str], partners: Iterable[str] | str, *, operation: str | None = None
) -> bool:
    """Whether the store holds a detection of ``operation`` that ``partners`` may see.

    The question :func:`map_points` ``(..., limit=0).total > 0`` answers by counting every
    row, answered by the first one found in the hourly summary (a few thousand groups,
    :mod:`geo.store.hours`; both back-ends), or in the rows of a GeoPackage store without
    one.

    Examples
    --------
    >>> has_visible("no-such-store.gpkg", "LTU")
    False
    """
    viewers = checked_viewers(partners)
    if not viewers:
        return False
    url = postgres_url(path)
    if url is not None:
        return pg_map.has_rows(url, viewers, operation=operation)
    with opened_for_reading(path) as conn:
        where = None if conn is None else _where(conn, viewers, None, None, operation)
        if conn is None or where is None:
            return False
        table = HOURS if has_hours(conn) else "detections"
        return conn.execute(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1").fetchone() is not None


def window_size(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    operation: str | None = None,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
) -> int | None:
    """About how many rows ``partners`` may see in a window: at least those, a few more.

    From the hourly summary (:mod:`geo.store.hours`; a few thousand groups, both
    back-ends): the rows of every hour the window touches, the hours it cuts counted whole.
    None for a GeoPackage store without the summary (schema 5 or older read as it is).
    For the map, which reads a small window's rows rather than its bins
    (:func:`geo.mapview.map_window`).

    Examples
    --------
    >>> window_size("no-such-store.gpkg", "LTU")
    0
    """
    viewers = checked_viewers(partners)
    t_from, t_to = _window(time_from, time_to)
    hours = (
        None if t_from is None else t_from // HOUR_US,
        None if t_to is None else t_to // HOUR_US,
    )
    if not viewers:
        return 0
    url = postgres_url(path)
    if url is not None:
        return pg_map.hour_rows(url, viewers, operation=operation, hours=hours)
    with opened_for_reading(path) as conn:
        where = None if conn is None else _where(conn, viewers, None, None, operation)
        if conn is None or where is None:
            return 0
        if not has_hours(conn):
            return None
        for value, sql in ((hours[0], "hour >= {}"), (hours[1], "hour <= {}")):
            where += "" if value is None else " AND " + sql.format(int(value))
        return int(conn.execute(f"SELECT ifnull(sum(n), 0) FROM {HOURS} WHERE {where}").scalar())


def time_summary(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    operation: str | None = None,
    extra_us: np.ndarray | None = None,
    share: float = 0.95,
) -> StoreTimes:
    """Where the detections ``partners`` may see lie in time, computed by the store.

    The first and last time, an hourly histogram and the bulk (the span of
    :func:`geo.coverage.views.bulk_span` with ``share``), over the stored rows of the
    operation the viewers may see and the times ``extra_us`` (µs since 1970 UTC: e.g. a
    scenario's own detections, few, held in memory). The histogram comes from the store's
    hourly summary (:mod:`geo.store.hours`; counted from the rows in a store without one);
    rows are read for the bulk's ends only (:func:`summarise_hours`). Nothing grows with
    the store but the histogram (one row per hour that holds detections).

    Examples
    --------
    >>> time_summary("no-such-store.gpkg", "LTU", extra_us=np.array([0, 7_200_000_000])).hours
    array([0, 2])
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    viewers = checked_viewers(partners)
    times = np.zeros(0, dtype=np.int64) if extra_us is None else np.asarray(extra_us)
    extra = pa.table({"time_us": pa.array(times.astype(np.int64))})
    url = postgres_url(path)
    if url is not None:
        return pg_map.time_summary(
            url, viewers, operation=operation, extra=extra, extra_table=_EXTRA_TABLE,
            summarise=partial(_summarised, share=share),
        )  # fmt: skip
    with opened_for_reading(path) as conn:
        where = None if conn is None else _where(conn, viewers, None, None, operation)
        if conn is None or where is None:
            return _memory_times(times, share)
        if extra.num_rows:
            conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_EXTRA_TABLE} (time_us INTEGER)")
            conn.execute(f"DELETE FROM {_EXTRA_TABLE}")
            conn.insert(_EXTRA_TABLE, extra, constants={})

        def stored(lo: int | None, hi: int | None) -> str:
            rows = _where(conn, viewers, lo, hi, operation)
            return f"(SELECT time_us FROM detections WHERE {rows})"

        return _summarised(
            stored,
            where if has_hours(conn) else None,
            _EXTRA_TABLE if extra.num_rows else None,
            lambda sql: conn.execute(sql).fetchall(),
            share=share,
        )


def _summarised(
    stored: Window,
    summary_where: str | None,
    extra_table: str | None,
    fetch: Fetch,
    *,
    share: float,
) -> StoreTimes:
    """:func:`summarise_hours` of the stored rows ``stored`` and the times in ``extra_table``.

    ``summary_where``: the condition of the visible groups of the hourly summary (None: the
    store has none, its rows are counted).
    """

    def window(lo: int | None, hi: int | None) -> str:
        if extra_table is None:
            return stored(lo, hi)
        bounds = [f"time_us >= {int(lo)}"] if lo is not None else []
        bounds += [f"time_us <= {int(hi)}"] if hi is not None else []
        own = f"SELECT time_us FROM {extra_table} WHERE {' AND '.join(bounds) or '1 = 1'}"
        return f"(SELECT time_us FROM {stored(lo, hi)} r UNION ALL {own})"

    if summary_where is None:
        histogram = rows_hours(window(None, None))
    else:
        histogram = visible_hours_sql(summary_where)
        if extra_table is not None:
            histogram = (
                "SELECT h, CAST(sum(n) AS bigint) AS n, CAST(sum(on_hour) AS bigint) AS on_hour, "
                f"min(min_us) AS min_us, max(max_us) AS max_us FROM ({histogram} UNION ALL "
                f"{rows_hours(f'(SELECT time_us FROM {extra_table})')}) k GROUP BY h"
            )
    return summarise_hours(histogram, window, fetch, share=share)


def _memory_times(times: np.ndarray, share: float) -> StoreTimes:
    """:func:`summarise_times` of times alone (no store, or none of its rows to read).

    In an in-memory SQLite database (Python's ``sqlite3``: no store file is opened), so the
    figures come from the same queries.
    """
    import sqlite3

    mem = sqlite3.connect(":memory:")
    try:
        mem.execute("CREATE TABLE t (time_us INTEGER)")
        mem.executemany("INSERT INTO t VALUES (?)", ((int(v),) for v in times.tolist()))
        return summarise_times(
            "(SELECT time_us FROM t)", lambda sql: mem.execute(sql).fetchall(), share=share
        )
    finally:
        mem.close()


def _checked(extent: Extent | tuple[float, float, float, float] | None) -> Extent | None:
    """The extent as an :class:`Extent`, refused now (before any read) when it is not one."""
    if extent is None:
        return None
    box = Extent(*extent)
    box.boxes()
    return box


def _where(
    conn: Connection, viewers: list[str], t_from: int | None, t_to: int | None, op: str | None
) -> str | None:
    """The GeoPackage condition of the rows visible in the window and operation (None: none)."""
    if not viewers:
        return None
    where = _visible_where(viewers, t_from, t_to)
    if op is not None and has_operations(conn):
        where += f" AND operation = {sql_text(str(op))}"
    elif op not in (None, DEFAULT_OPERATION):
        return None
    return where


def _pages(
    conn: Connection, columns: dict[str, Kind], where: str, rows: int = BATCH_ROWS
) -> Iterator[pa.Table]:
    """The rows of ``where`` in pages of at most ``rows``, by ``fid`` (keyset paging)."""
    last = -(2**63)
    while True:
        page = conn.fetch_arrow(
            columns,
            f"FROM (SELECT * FROM detections WHERE fid > {last} AND {where} "
            f"ORDER BY fid LIMIT {int(rows)})",
        )
        if page.num_rows:
            yield page
        if page.num_rows < rows:
            return
        last = int(page["fid"][-1].as_py())


def _indexed(conn: Connection) -> bool:
    """Whether the cell index can answer: brought up to date first (the uploads since it last was).

    False for a store without one (schema 4 or older, read as it is) or with one of 0.05°
    cells (schema 5 to 7, read as it is: upgraded, it is made anew), and when it cannot be
    written now (another upload holds the store, a read-only file): then the rows are tested
    page by page.
    """
    if not has_spatial_index(conn) or schema_version(conn) < FINE_SCHEMA:
        return False
    if is_current(conn):
        return True
    try:
        conn.execute("BEGIN IMMEDIATE")
        index_new_rows(conn)
        conn.execute("COMMIT")
    except DatabaseError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if is_busy(exc) or "readonly" in str(exc):
            return False
        raise
    return True


def _in_ranges(conn: Connection, table: str, ranges: list[tuple[int, int]]) -> str:
    """SQL for the rows whose cell is in ``ranges`` (kept in the temporary ``table``)."""
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (lo INTEGER, hi INTEGER)")
    conn.execute(f"DELETE FROM {table}")
    if ranges:
        lo, hi = zip(*ranges, strict=True)
        conn.insert(table, pa.table({"lo": pa.array(lo), "hi": pa.array(hi)}), constants={})
    return f"fid IN (SELECT c.fid FROM {table} r JOIN {CELLS} c ON c.cell BETWEEN r.lo AND r.hi)"


def _index_pays(conn: Connection, where: str, table: str) -> bool:
    """Whether looking up the index's rows in ``table``'s ranges beats reading the window's.

    A short window over many cells: reading the window's rows (in ``fid`` order, the
    geometry alone) and testing them beats looking up every row of the cells (of every
    day), each a search of the table: measured on 50,000,000 rows, a looked-up row costs
    about :data:`_LOOKUP_COST` read rows. Both counts stop early (``LIMIT``).
    """
    in_cells = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {table} r JOIN "
        f"{CELLS} c ON c.cell BETWEEN r.lo AND r.hi LIMIT {_WINDOW_FIRST_ROWS})"
    ).scalar()
    enough = int(in_cells) * _LOOKUP_COST + 1
    in_window = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM detections WHERE {where} LIMIT {enough})"
    ).scalar()
    return bool(in_window >= enough)


def _extent_match(conn: Connection, where: str, extent: Extent | None) -> str:
    """SQL for the rows of ``where`` that lie in ``extent``, exactly (GeoPackage).

    Rows in the grid cells strictly inside it are in (:mod:`geo.store.spatial_index`);
    those of the cells on its edge (without the index: every row of ``where``) are tested
    here and the ones in it put into a temporary table the condition names.
    """
    if extent is None:
        return "1"
    indexed = _indexed(conn)
    inside = edge = ""
    if indexed:
        inner, outer = cell_ranges(extent.boxes())
        inside = _in_ranges(conn, "limes_map_inside", inner)
        edge = _in_ranges(conn, "limes_map_edge_cells", outer)
        indexed = _index_pays(conn, where, "limes_map_inside")
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_EDGE_TABLE} (fid INTEGER PRIMARY KEY)")
    conn.execute(f"DELETE FROM {_EDGE_TABLE}")
    for page in _pages(
        conn, {"fid": "integer", "geom": "blob"}, f"{where} AND {edge}" if indexed else where
    ):
        lon, lat = positions_of(page["geom"])  # NaN where unreadable: never held
        keep = extent.holds(lon, lat)
        if keep.any():
            conn.insert(_EDGE_TABLE, pa.table({"fid": page["fid"].filter(keep)}), constants={})
    in_edge = f"fid IN (SELECT fid FROM {_EDGE_TABLE})"
    return f"({inside} OR {in_edge})" if indexed else in_edge


def map_points(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    operation: str | None = None,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    extent: Extent | tuple[float, float, float, float] | None = None,
    limit: int = settings.MAX_MAP_POINTS,
    total: int | None = None,
) -> MapPoints:
    """The detections ``partners`` may see in an extent and time window, up to ``limit``.

    Parameters
    ----------
    path
        The store (a GeoPackage path or a PostgreSQL URL).
    partners
        The viewer(s), as for :func:`geo.store.visible_detections`.
    operation, time_from, time_to
        As for :func:`geo.store.visible_detections`.
    extent
        ``(west, south, east, north)`` in degrees, bounds included (default: everywhere).
    limit
        The most rows to return (>= 0).
    total
        How many rows match, counted already (the map's counts of :func:`window_positions`,
        same viewers, operation, window, no extent): the store does not count them again.

    Returns
    -------
    MapPoints
        ``total``: how many rows match; ``detections``: all of them in time order when
        ``total <= limit``, else the first ``limit`` in time order; the columns of
        :func:`geo.store.visible_detections`.

    Examples
    --------
    >>> map_points("no-such-store.gpkg", "LTU", extent=(20, 53, 28, 60)).total
    0
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit!r}")
    viewers = checked_viewers(partners)
    t_from, t_to = _window(time_from, time_to)
    box = _checked(extent)
    url = postgres_url(path)
    if url is not None:
        if not viewers:
            return MapPoints(_frame(None), 0)
        counted, raw = pg_map.view_rows(
            url,
            viewers,
            t_from=t_from,
            t_to=t_to,
            operation=operation,
            boxes=None if box is None else box.boxes(),
            limit=limit,
            total=total,
        )
        mask = visible_mask(
            raw["owner"].to_numpy(zero_copy_only=False),
            raw["releasable_to"].to_numpy(zero_copy_only=False),
            viewers,
        )
        if not mask.all():  # the database showed a row the rule hides: count it out too
            counted -= 0 if total is not None else int((~mask).sum())
            raw = raw.filter(pa.array(mask))
        return MapPoints(_frame(raw, shown_url(url)), counted)
    with opened_for_reading(path) as conn:
        where = None if conn is None else _where(conn, viewers, t_from, t_to, operation)
        if conn is None or where is None:
            return MapPoints(_frame(None), 0)
        where += f" AND {_extent_match(conn, where, box)}"
        if total is None:
            total = int(conn.execute(f"SELECT count(*) FROM detections WHERE {where}").scalar())
        if total > limit:
            where = _first_rows(conn, where, limit, days=box is None)
        raw = conn.fetch_arrow(_READ_COLUMNS, f"FROM (SELECT * FROM detections WHERE {where})")
        return MapPoints(_frame(raw, str(path), conn), total)


def _first_rows(conn: Connection, where: str, limit: int, *, days: bool) -> str:
    """SQL for the first ``limit`` rows of ``where`` in time order (then ``fid``), ordered.

    Their keys alone are sorted, then the rows read (half the sort of whole rows); with
    ``days``, only the days that hold them (:func:`_first_days`).
    """
    if days:
        # first: SQLite bounds its walk along fid by the first upper bound it finds in the
        # WHERE (the window's, the month's rows, not the day's: 4 s against 0.1 s)
        where = _first_days(conn, where, limit) + where
    order = "ORDER BY time_us, fid"
    return f"fid IN (SELECT fid FROM detections WHERE {where} {order} LIMIT {int(limit)}) {order}"


def _first_days(conn: Connection, where: str, limit: int) -> str:
    """SQL keeping the rows of ``where`` on the days that hold its first ``limit`` in time.

    A condition to put before ``where`` (``"fid < ... AND "``; empty: every day): SQLite
    walks ``fid`` up to the first upper bound the WHERE states, so the cut must lead.

    The table is clustered by UTC day (``fid``, see :func:`geo.store.schema.first_fid`):
    every row of a later day is later in time. The ``limit``-th row in ``fid`` order (a
    walk along the primary key, not a sort) lies on day ``D``; days up to ``D`` hold at
    least ``limit`` rows, each earlier than any of a later day, so the first ``limit`` in
    time order are among them. The sort then takes a day or so of rows, not the window's.
    """
    if limit < 1:
        return ""
    row = conn.execute(
        f"SELECT fid FROM detections WHERE {where} ORDER BY fid LIMIT 1 OFFSET {int(limit) - 1}"
    ).fetchone()
    if row is None:
        return ""
    day = (int(row[0]) >> DAY_SHIFT) - DAY_OFFSET
    return f"fid < {first_fid(day + 1)} AND "


def window_batches(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    operation: str | None = None,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    extent: Extent | tuple[float, float, float, float] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[WindowBatch]:
    """The positions and times of the rows ``partners`` may see in a window, page by page.

    Each page holds at most ``batch_rows`` rows (in ``fid`` order: by UTC day, then upload
    order), so a caller that sums over the pages (see
    :func:`geo.coverage.streamed.count_batches`) holds one page at a time, whatever the
    size of the store.

    Examples
    --------
    >>> list(window_batches("no-such-store.gpkg", "LTU"))
    []
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows!r}")
    viewers = checked_viewers(partners)
    t_from, t_to = _window(time_from, time_to)
    box = _checked(extent)
    url = postgres_url(path)
    if url is not None:
        if not viewers:
            return
        for page in pg_map.window_pages(
            url,
            viewers,
            t_from=t_from,
            t_to=t_to,
            operation=operation,
            boxes=None if box is None else box.boxes(),
            page_rows=batch_rows,
        ):
            yield _batch(page, viewers, None, None)
        return
    with opened_for_reading(path) as conn:
        where = None if conn is None else _where(conn, viewers, t_from, t_to, operation)
        if conn is None or where is None:
            return
        columns: dict[str, Kind] = {"fid": "integer", "time_us": "integer", "geom": "blob"}
        if box is not None and _indexed(conn):
            inner, outer = cell_ranges(box.boxes())
            where += f" AND {_in_ranges(conn, 'limes_map_cells', inner + outer)}"
        for page in _pages(conn, columns, where, batch_rows):
            yield _batch(page, None, box, page["geom"])


def window_positions(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    operation: str | None = None,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    cells: np.ndarray | None = None,
) -> Iterator[WindowPositions]:
    """The positions of the rows ``partners`` may see in a window, batch by batch.

    The rows of :func:`window_batches` (without an extent), the positions only: what the
    map's counts need (:func:`geo.coverage.streamed.count_batches`). GeoPackage: one query
    of the geometry column alone, read batch by batch as the caller goes
    (:meth:`~geo.store.connection.Connection.stream_arrow`): no ``fid`` or time to convert,
    no query per page (a third of the read of 10,000,000 rows). PostGIS: the pages of
    :func:`window_batches`. Memory holds a batch, whatever the window holds.

    ``cells``: fine cell keys (:func:`geo.core.cells.fine_cells_of`; :data:`NO_CELL` for the
    rows whose position cannot be read, given then as NaN): only the window's rows in one
    of them (:func:`geo.store.window_cells` counts them), found on a GeoPackage through the
    cell index (runs of consecutive keys), or, when the index holds more rows in them than
    the window holds (:func:`_index_pays`), from the window's rows; on PostGIS through the
    stored ``fine_cell`` (its B-tree), exactly those cells; kept exactly here.

    Examples
    --------
    >>> list(window_positions("no-such-store.gpkg", "LTU"))
    []
    """
    viewers = checked_viewers(partners)
    t_from, t_to = _window(time_from, time_to)
    wanted = None if cells is None else np.unique(np.asarray(cells, dtype=np.int64))
    url = postgres_url(path)
    if url is not None and wanted is not None:
        for page in pg_map.cell_pages(
            url, viewers, t_from=t_from, t_to=t_to, operation=operation,
            cells=wanted[wanted != NO_CELL].tolist(), page_rows=_PG_CELL_PAGE_ROWS,
        ):  # fmt: skip
            lon = page["lon"].to_numpy().astype(np.float64)
            lat = page["lat"].to_numpy().astype(np.float64)
            yield _in_cells(lon, lat, wanted)
        return
    if url is not None:
        for page in window_batches(
            path, viewers, operation=operation, time_from=time_from, time_to=time_to
        ):
            yield _in_cells(page.lon, page.lat, wanted)
        return
    with opened_for_reading(path) as conn:
        where = None if conn is None else _where(conn, viewers, t_from, t_to, operation)
        if conn is None or where is None or (wanted is not None and not wanted.size):
            return
        if wanted is not None and _indexed(conn):
            table = "limes_map_fine_cells"
            in_cells = _in_ranges(conn, table, _key_ranges(wanted))
            if _index_pays(conn, where, table):
                where += f" AND {in_cells}"
        for batch in conn.stream_arrow({"geom": "blob"}, f"FROM detections WHERE {where}"):
            yield _in_cells(*positions_of(batch.column(0)), wanted)


#: Rows per page of a PostGIS store's rows of given fine cells.
_PG_CELL_PAGE_ROWS = 500_000


def _in_cells(lon: np.ndarray, lat: np.ndarray, wanted: np.ndarray | None) -> WindowPositions:
    """The positions whose fine cell is in ``wanted`` (sorted; None: all of them)."""
    if wanted is None:
        return WindowPositions(lon, lat)
    keep = np.isin(fine_cells_of(lon, lat), wanted, assume_unique=False)
    return WindowPositions(lon[keep], lat[keep])


def _key_ranges(keys: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive integers among ``keys``, as (first, last) ranges."""
    keys = np.unique(keys)
    if not keys.size:
        return []
    breaks = np.flatnonzero(np.diff(keys) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [keys.size - 1]])
    return [(int(keys[a]), int(keys[b])) for a, b in zip(starts, ends, strict=True)]


def window_rows(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    operation: str | None = None,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[gpd.GeoDataFrame]:
    """Every row ``partners`` may see in a window, page by page, as full detections.

    Pages of at most ``batch_rows`` rows in ``fid`` order (each page in time order), with
    the columns of :func:`geo.store.visible_detections`; together they hold the rows
    :func:`map_points` counts in its ``total``. For a file of every detection of a window
    (the Export page's) written one page at a time, whatever the size of the store.

    Examples
    --------
    >>> list(window_rows("no-such-store.gpkg", "LTU"))
    []
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows!r}")
    viewers = checked_viewers(partners)
    t_from, t_to = _window(time_from, time_to)
    url = postgres_url(path)
    if url is not None:
        if not viewers:
            return
        pages = pg_map.row_pages(
            url, viewers, t_from=t_from, t_to=t_to, operation=operation, page_rows=batch_rows
        )
        for raw in pages:
            mask = visible_mask(
                raw["owner"].to_numpy(zero_copy_only=False),
                raw["releasable_to"].to_numpy(zero_copy_only=False),
                viewers,
            )
            yield _frame(raw if mask.all() else raw.filter(pa.array(mask)), shown_url(url))
        return
    with opened_for_reading(path) as conn:
        where = None if conn is None else _where(conn, viewers, t_from, t_to, operation)
        if conn is None or where is None:
            return
        for raw in _pages(conn, _READ_COLUMNS, where, batch_rows):
            yield _frame(raw, str(path), conn)


def _batch(
    page: pa.Table,
    viewers: list[str] | None,
    extent: Extent | None,
    blobs: pa.ChunkedArray | None,
) -> WindowBatch:
    """A page as a :class:`WindowBatch`: the rule applied again (``viewers``), the extent exact."""
    if blobs is not None:  # an unreadable blob (another tool's) is NaN, as the bins count it:
        lon, lat = positions_of(blobs)  # in no cell, outside any extent
    else:
        lon = page["lon"].to_numpy(zero_copy_only=False).astype(float)
        lat = page["lat"].to_numpy(zero_copy_only=False).astype(float)
    keep = np.ones(page.num_rows, dtype=bool)
    if viewers is not None:
        keep &= visible_mask(
            page["owner"].to_numpy(zero_copy_only=False),
            page["releasable_to"].to_numpy(zero_copy_only=False),
            viewers,
        )
    if extent is not None:
        keep &= extent.holds(lon, lat)
    fid = page["fid"].to_numpy(zero_copy_only=False).astype(np.int64)
    time_us = page["time_us"].to_numpy(zero_copy_only=False).astype(np.int64)
    if keep.all():
        return WindowBatch(fid, time_us, lon, lat)
    return WindowBatch(fid[keep], time_us[keep], lon[keep], lat[keep])
