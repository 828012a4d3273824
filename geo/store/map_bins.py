"""The map's counts per fine cell and hexagon, from pre-counted bins (GeoPackage).

Opening the Map page on a store of tens of millions of detections cannot read and classify
every row of the window. :func:`window_cells` counts the window's rows per fine cell
(:func:`geo.core.cells.fine_cells_of`) and hexagon (:meth:`geo.core.cells.HexLayout.keys`)
instead; the caller classifies each fine cell once and reads rows
(:func:`geo.store.window_positions` with ``cells``) only where a cell is not uniform.

The bins (:mod:`geo.store.bins_table`) count the stored rows per layout, time block
(:data:`BLOCK_DAYS` UTC days, aligned on 1970-01-01, by the day in the row's ``fid``), owner,
marking, fine cell and hexagon. A window takes the blocks wholly inside it from the bins
(the releasability rule on owner and marking, as on the rows) and, for a block only partly
inside, whichever is fewer rows by the hourly summary (:mod:`geo.store.hours`): the block's
rows inside the window, read and binned here, or the block's bins less its rows outside the
window. So the answer is exactly the count of the rows :func:`geo.store.window_positions`
yields. The rows of a block are those whose ``fid`` lies in the block's days; Limes numbers
each row in the day of its time (:func:`geo.store.schema.first_fid`).

The first map query for a layout and operation bins every row of the operation, in one
write transaction (the query then reads in it: the bins and the rows agree). From then on
every change keeps them current in its own transaction (:mod:`geo.store.bins_keep`: an
upload bins its rows, a retraction takes them out, a re-marking moves them). Bins left
behind (by an older Limes) are brought up to date here: the uploads since, or after a
retraction or a re-marking the bins did not see (the audit counts them) the operation
anew; a new layout for an operation replaces the old one's bins; ``python -m geo reindex``
makes them anew (after another tool edited rows) and, with :func:`geo.store.upgrade_store`,
makes the Map page's layouts ahead of its first query (this lazy fill is the safety net).
A store that cannot be written now (another upload holds it, a read-only file), one of
schema 6 or older read as it is: None, the
caller reads rows. PostGIS keeps the same bins in its own tables
(:mod:`geo.store.postgres.map_bins`: filled lazily, under row-level security).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.access.releasability import sql_where
from geo.access.releasability import viewers as checked_viewers
from geo.core.cells import HexLayout
from geo.core.progress import Progress, counted
from geo.store.bins_table import BIN_KEY, BINS, BINS_STATE, has_map_bins
from geo.store.cell_counts import (
    BLOCK_DAYS,
    CellCounts,
    binned_as,
    bins_table,
    cell_keys,
    page_bins,
    window_blocks,
)
from geo.store.cell_counts import Markings as _Markings
from geo.store.cell_counts import cell_counts as _cell_counts
from geo.store.connection import Connection, DatabaseError, is_busy, sql_text
from geo.store.hours import HOUR_US, HOURS
from geo.store.location import postgres_url
from geo.store.map_query import _where
from geo.store.opening import opened_for_reading
from geo.store.postgres import map_bins as pg_bins
from geo.store.reading import _window
from geo.store.schema import DAY_OFFSET, DAY_SHIFT, DAY_US, MAX_DAY, MIN_DAY, first_fid
from geo.store.spatial_index import has_spatial_index, positions_of, rows_of_uploads

__all__ = ["BLOCK_DAYS", "CellCounts", "bin_new_rows", "window_cells"]

#: Rows read and binned at a time.
_PAGE_ROWS = 200_000

#: Bins summed in memory before they are written (40 bytes each, a few copies while summed).
_PENDING_BINS = 600_000

#: SQLite's page cache while binning (KiB).
_CACHE_KIB = 128 * 1024

#: The audit actions that change stored rows (retract) or their markings (re-mark).
_CHANGES = "action IN ('upload.retract', 'upload.mark')"

#: The temporary table a page's bins go through on their way into the bins.
_NEW = "limes_map_bins_new"

_BLOCK_US = BLOCK_DAYS * DAY_US


def window_cells(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    operation: str,
    layout: HexLayout,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
) -> CellCounts | None:
    """How many rows ``partners`` may see in a window lie in each fine cell and hexagon.

    Parameters
    ----------
    path
        The store (a GeoPackage path or a PostgreSQL URL).
    partners, operation, time_from, time_to
        As for :func:`geo.store.window_positions` (both ends inclusive, either open).
    layout
        The map's hexagons.

    Returns
    -------
    CellCounts or None
        The counts of exactly the rows :func:`geo.store.window_positions` yields; None when
        the bins cannot answer (a store of schema 6 or older read as it is, a store that
        cannot be written now, PostGIS bins that changes kept overtaking): read the rows.

    Examples
    --------
    >>> from geo.core.projection import choose_analysis_crs
    >>> hexes = HexLayout(choose_analysis_crs([24.0], [55.0]), 4000.0)
    >>> window_cells("no-such-store.gpkg", "LTU", operation="sample", layout=hexes).n.size
    0
    """
    viewers = checked_viewers(partners)
    t_from, t_to = _window(time_from, time_to)
    url = postgres_url(path)
    if url is not None:
        return pg_bins.window_cells(
            url, viewers, operation=operation, layout=layout, window=(t_from, t_to)
        )
    with opened_for_reading(path) as conn:
        if conn is None:
            return _cell_counts(pd.DataFrame())
        if not (has_map_bins(conn) and has_spatial_index(conn)):
            return None
        where = _where(conn, viewers, t_from, t_to, operation)
        if where is None:
            return _cell_counts(pd.DataFrame())
        try:
            conn.execute("BEGIN")
            layout_id = _current_layout(conn, layout, operation)
            if layout_id is None:  # behind: bring up to date, then read in the same transaction
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
                layout_id = bin_new_rows(conn, layout, operation)
            counts = _window_counts(conn, layout_id, layout, viewers, operation, (t_from, t_to))
            conn.execute("COMMIT")
        except DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if is_busy(exc) or "readonly" in str(exc):
                return None
            raise
        return counts


def _store_now(conn: Connection) -> tuple[int, int]:
    """The store's newest upload and how many retractions and re-markings it has seen."""
    newest = int(conn.execute("SELECT ifnull(max(upload_id), 0) FROM uploads").scalar())
    changes = int(conn.execute(f"SELECT count(*) FROM audit WHERE {_CHANGES}").scalar())
    return newest, changes


def _binned_as(layout: HexLayout) -> str:
    """:func:`geo.store.cell_counts.binned_as` with this module's block length."""
    return binned_as(layout, BLOCK_DAYS)


def _current_layout(conn: Connection, layout: HexLayout, operation: str) -> int | None:
    """The bins' id of ``layout`` for ``operation`` when they hold every row, else None."""
    row = conn.execute(
        f"SELECT layout, name, last_upload, changes FROM {BINS_STATE} "
        f"WHERE operation = {sql_text(operation)}"
    ).fetchone()
    if row is None or row[1] != _binned_as(layout):
        return None
    newest, changes = _store_now(conn)
    return int(row[0]) if int(row[2]) >= newest and int(row[3]) == changes else None


def bin_new_rows(
    conn: Connection,
    layout: HexLayout,
    operation: str,
    *,
    progress: Progress | None = None,
    binned: list[int] | None = None,
) -> int:
    """Bring the bins of ``layout`` for ``operation`` up to date (caller's write transaction).

    Bins the rows of the uploads since the last call; every row of the operation the first
    time, after a retraction or re-marking, or when ``layout`` replaces another layout.
    Returns the layout's id in the bins. ``progress``: told the rows binned after each page
    (step ``"binning <operation>"``); ``binned``: the rows binned are appended to it.
    """
    newest, changes = _store_now(conn)
    op = sql_text(operation)
    row = conn.execute(
        f"SELECT layout, name, last_upload, changes FROM {BINS_STATE} WHERE operation = {op}"
    ).fetchone()
    if row is not None and row[1] == _binned_as(layout) and int(row[3]) == changes:
        layout_id, last = int(row[0]), int(row[2])
    else:
        if row is not None:
            conn.execute(f"DELETE FROM {BINS} WHERE layout = {int(row[0])}")
            conn.execute(f"DELETE FROM {BINS_STATE} WHERE layout = {int(row[0])}")
        layout_id = int(
            conn.execute(f"SELECT ifnull(max(layout), 0) + 1 FROM {BINS_STATE}").scalar()
        )
        name = sql_text(_binned_as(layout))
        conn.execute(f"INSERT INTO {BINS_STATE} VALUES ({layout_id}, {name}, {op}, 0, {changes})")
        last = 0
    if newest > last:
        where = f"operation = {op} AND upload_id > {last} AND upload_id <= {newest}"
        tell = None
        if progress is not None:
            tell = counted(progress, f"binning {operation}", rows_of_uploads(conn, where))
        done = _bin_pages(conn, layout_id, layout, where, tell=tell)
        conn.execute(f"UPDATE {BINS_STATE} SET last_upload = {newest} WHERE layout = {layout_id}")
        if binned is not None:
            binned.append(done)
    return layout_id


def _binned(
    page: pa.Table,
    layout: HexLayout,
    markings: _Markings,
    *,
    sign: int = 1,
    marking_to: str | None = None,
) -> list[dict[str, np.ndarray]]:
    """A page of rows (``fid``, ``owner``, ``releasable_to``, ``geom``) counted per bin.

    :func:`geo.store.cell_counts.page_bins`, the block by the day in ``fid``.
    """
    day = (page["fid"].to_numpy().astype(np.int64) >> DAY_SHIFT) - DAY_OFFSET
    cells = cell_keys(*positions_of(page["geom"]), layout)
    return page_bins(
        day // BLOCK_DAYS, cells, page["owner"], page["releasable_to"], markings,
        sign=sign, marking_to=marking_to,
    )  # fmt: skip


def _bin_pages(
    conn: Connection,
    layout_id: int,
    layout: HexLayout,
    where: str,
    *,
    ranges: list[tuple[int, int]] | None = None,
    sign: int = 1,
    marking_to: str | None = None,
    tell: Callable[..., None] | None = None,
) -> int:
    """Add the rows of ``where`` to the bins of ``layout_id``, a page at a time; the rows.

    ``ranges``: the ``fid`` ranges (both ends inclusive) the rows lie in (default all);
    ``sign``, ``marking_to``: as for :func:`_binned` (-1: the rows are taken out; bins that
    reach 0 are deleted); ``tell``: called with the rows done after each page
    (:func:`geo.core.progress.counted`). The pages' bins are summed in memory up to
    :data:`_PENDING_BINS` and then written (the rows come by day: a block's bins are mostly
    written once), with SQLite's page cache raised meanwhile (each write puts keys all over
    the block's part of the B-tree).
    """
    markings = _Markings()
    pending: list[dict[str, np.ndarray]] = []
    done = 0
    cache = int(conn.execute("PRAGMA cache_size").scalar())
    conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}").fetchall()
    try:
        for lo, hi in [(None, None)] if ranges is None else ranges:
            for page in _pages(conn, where, lo, hi):
                pending += _binned(page, layout, markings, sign=sign, marking_to=marking_to)
                done += page.num_rows
                if tell is not None:
                    tell(done)
                if sum(len(f["n"]) for f in pending) >= _PENDING_BINS:
                    _write_bins(conn, layout_id, pending, markings)
                    pending = []
        _write_bins(conn, layout_id, pending, markings)
        if tell is not None:
            tell(done, last=True)
        return done
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}").fetchall()


def _pages(conn: Connection, where: str, lo: int | None, hi: int | None) -> Iterator[pa.Table]:
    """The rows of ``where`` (with ``fid`` from ``lo`` to ``hi``, None: open) in pages."""
    columns = {"fid": "integer", "owner": "text", "releasable_to": "text", "geom": "blob"}
    after = "" if lo is None else f" AND fid >= {int(lo)}"
    upto = "" if hi is None else f" AND fid <= {int(hi)}"
    while True:
        page = conn.fetch_arrow(
            columns,  # type: ignore[arg-type]
            f"FROM (SELECT fid, owner, releasable_to, geom FROM detections WHERE {where}"
            f"{after}{upto} ORDER BY fid LIMIT {_PAGE_ROWS})",
        )
        if page.num_rows:
            yield page
            after = f" AND fid > {int(page['fid'][-1].as_py())}"
        if page.num_rows < _PAGE_ROWS:
            return


def _write_bins(
    conn: Connection, layout_id: int, pending: list[dict[str, np.ndarray]], markings: _Markings
) -> None:
    """Add the summed bins of ``pending`` to those of ``layout_id`` (in key order)."""
    if not pending:
        return
    table = bins_table(pending, markings)
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_NEW} (block INTEGER, owner TEXT, "
        "releasable_to TEXT, fine INTEGER, hex INTEGER, n INTEGER)"
    )
    conn.execute(f"DELETE FROM {_NEW}")
    conn.insert(_NEW, table, constants={})
    key = ", ".join(BIN_KEY)
    rest = ", ".join(BIN_KEY[1:])
    conn.execute(
        f"INSERT INTO {BINS} ({key}, n) SELECT {layout_id}, {rest}, n FROM {_NEW} WHERE 1 "
        f"ORDER BY {rest} ON CONFLICT ({key}) DO UPDATE SET n = n + excluded.n"
    )
    if pc.any(pc.less(table["n"], 0)).as_py():  # rows taken out: the bins they emptied go
        _delete_empty(conn, layout_id)


def _delete_empty(conn: Connection, layout_id: int) -> None:
    """Delete the bins of ``layout_id`` that the negative bins of :data:`_NEW` emptied.

    One statement per (block, owner, marking): with those equal, SQLite finds each bin by
    its whole key (a row value ``IN`` over more columns scans the block's bins instead).
    """
    groups = conn.execute(
        f"SELECT DISTINCT block, owner, releasable_to FROM {_NEW} WHERE n < 0"
    ).fetchall()
    for block, owner, marking in groups:
        same = f"block = {int(block)} AND owner = ? AND releasable_to = ?"
        conn.execute(
            f"DELETE FROM {BINS} WHERE layout = {layout_id} AND {same} AND (fine, hex) IN "
            f"(SELECT fine, hex FROM {_NEW} WHERE {same} AND n < 0) AND n = 0",
            (owner, marking, owner, marking),
        )


def _blocks(t_from: int | None, t_to: int | None) -> tuple[int | None, int | None, list[int]]:
    """The first and last block wholly inside a window (None: open), and those partly in it."""
    return window_blocks(t_from, t_to, _BLOCK_US)


def _window_counts(
    conn: Connection,
    layout_id: int,
    layout: HexLayout,
    viewers: list[str],
    operation: str,
    window: tuple[int | None, int | None],
) -> CellCounts:
    """The window's counts, from the bins of whole blocks and the rows of partial ones."""
    t_from, t_to = window
    lo, hi, partial = _blocks(t_from, t_to)
    parts = []
    if lo is None or hi is None or lo <= hi:
        bounds = "" if lo is None else f" AND block >= {lo}"
        bounds += "" if hi is None else f" AND block <= {hi}"
        parts.append(_bin_sums(conn, layout_id, viewers, bounds))
    where = _where(conn, viewers, t_from, t_to, operation)
    visible = f"{sql_where(viewers)} AND operation = {sql_text(operation)}"
    for block in partial:
        start, end = first_fid(block * BLOCK_DAYS), first_fid((block + 1) * BLOCK_DAYS)
        days = f"fid >= {start} AND fid < {end}"
        inside, total = _block_rows(conn, visible, block, window)
        if inside <= total - inside:
            parts.append(_rows_binned(conn, f"{where} AND {days}", layout, 1))
        else:
            parts.append(_bin_sums(conn, layout_id, viewers, f" AND block = {block}"))
            for outside in _outside(start, end, window):
                parts.append(_rows_binned(conn, f"{visible} AND {outside}", layout, -1))
    return _cell_counts(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame())


def _outside(start: int, end: int, window: tuple[int | None, int | None]) -> list[str]:
    """SQL for the rows of the ``fid`` range [start, end) outside the window, in two parts.

    The complement of :func:`geo.store.reading._visible_where`'s window within the block:
    rows before the window lie on its first day or earlier, rows after it on its last day or
    later (each row is numbered in the day of its time), so each part is a range of ``fid``
    (the primary key) with the time tested on one day only. The parts never overlap.
    """
    t_from, t_to = window
    parts = []
    if t_from is not None:
        day = min(max(t_from // DAY_US, MIN_DAY), MAX_DAY + 1)
        parts.append(
            f"fid >= {start} AND fid < {min(end, first_fid(day + 1))} "
            f"AND (fid < {first_fid(day)} OR time_us < {int(t_from)})"
        )
    if t_to is not None:
        day = min(max(t_to // DAY_US, MIN_DAY - 1), MAX_DAY)
        parts.append(
            f"fid >= {max(start, first_fid(day))} AND fid < {end} "
            f"AND (fid >= {first_fid(day + 1)} OR time_us > {int(t_to)})"
        )
    return parts


def _bin_sums(conn: Connection, layout_id: int, viewers: list[str], bounds: str) -> pd.DataFrame:
    """The bins of ``layout_id`` in ``bounds`` the viewers may see, summed per (fine, hex)."""
    table = conn.fetch_arrow(
        {"fine": "integer", "hex": "integer", "n": "integer"},
        f"FROM (SELECT fine, hex, sum(n) AS n FROM {BINS} WHERE layout = {layout_id}{bounds} "
        f"AND {sql_where(viewers)} GROUP BY fine, hex)",
    )
    return table.to_pandas()


def _block_rows(
    conn: Connection, visible: str, block: int, window: tuple[int | None, int | None]
) -> tuple[int, int]:
    """About how many visible rows of ``block`` lie in the window, and in all (hourly summary)."""
    start, end = block * _BLOCK_US, (block + 1) * _BLOCK_US - 1
    lo = start if window[0] is None else max(start, window[0])
    hi = end if window[1] is None else min(end, window[1])

    def rows(a: int, b: int) -> int:
        return int(
            conn.execute(
                f"SELECT ifnull(sum(n), 0) FROM {HOURS} WHERE {visible} "
                f"AND hour >= {a // HOUR_US} AND hour <= {b // HOUR_US}"
            ).scalar()
        )

    return rows(lo, hi), rows(start, end)


def _rows_binned(conn: Connection, where: str, layout: HexLayout, sign: int) -> pd.DataFrame:
    """The rows of ``where`` counted per (fine, hex), times ``sign``, read batch by batch."""
    parts = [pd.DataFrame({"fine": [], "hex": [], "n": []}, dtype=np.int64)]
    for batch in conn.stream_arrow({"geom": "blob"}, f"FROM detections WHERE {where}"):
        frame = pd.DataFrame(cell_keys(*positions_of(batch.column(0)), layout))
        counted = frame.groupby(["fine", "hex"]).size().rename("n").reset_index()
        counted["n"] *= sign
        parts.append(counted)
    return pd.concat(parts, ignore_index=True)
