"""The map's pre-counted bins on a PostGIS store (layout 4): filled once, read per window.

The same bins as the GeoPackage's (:mod:`geo.store.map_bins`): ``limes_map_bins`` counts
the stored rows per layout, time block (:data:`geo.store.cell_counts.BLOCK_DAYS` UTC days
of ``time_us``, aligned on 1970-01-01), owner, marking, fine cell and hexagon, under the
same row-level security as ``detections`` (enabled, forced, default deny, the rule's
policies: :mod:`geo.store.postgres.schema`); ``limes_map_bins_state`` one row per
operation: its layout, the last upload binned and ``limes_store.changes`` (retractions and
re-markings) then. The state says nothing about rows and carries no security.

:func:`window_cells` fills the bins the first time a layout and operation are asked for;
each change then keeps them itself (:mod:`geo.store.postgres.bins_keep`). A layout left
behind (changes made without keeping the bins) gets the uploads since the last fill, or
is binned anew after a retraction or re-marking. A fill takes an advisory lock
(:data:`BINS_LOCK`, which the changes take too), so no row is counted twice; it reads the
rows in pages with every partner stated as viewer (as
:func:`geo.store.postgres.schema.fill_hours`), bins them in numpy with the functions the
map uses, and writes them through a temporary table with ``INSERT ... ON CONFLICT DO
UPDATE``. The window is then read in one
``REPEATABLE READ`` transaction stating the viewers (the state, the bins and the rows of
partly covered blocks, in keyset pages, from one snapshot), with the rule in the WHERE too.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.access.releasability import VIEWERS_SETTING, postgres_where
from geo.core.cells import HexLayout
from geo.store.cell_counts import (
    BLOCK_US,
    CellCounts,
    Markings,
    bins_table,
    cell_counts,
    cell_keys,
    page_bins,
    summed,
    window_blocks,
)
from geo.store.cell_counts import binned_as as _binned_as
from geo.store.hours import HOUR_US, HOURS
from geo.store.postgres.bins_table import BINS, BINS_LOCK, BINS_STATE, EVERY_PARTNER_SQL, PACKED
from geo.store.postgres.connection import PgConnection, connect
from geo.store.postgres.schema import prepare

__all__ = ["clear_bins", "fill_bins", "window_cells"]

#: Rows read and binned at a time.
_PAGE_ROWS = 200_000

#: Bins summed in memory before they are written.
_PENDING_BINS = 600_000

#: The temporary table a fill's bins go through.
_NEW = "limes_map_bins_new"

#: Fills tried before the caller is told to read rows (each fill commits; a change may come
#: in between and need another).
_TRIES = 3


def window_cells(
    url: str,
    viewers: list[str],
    *,
    operation: str,
    layout: HexLayout,
    window: tuple[int | None, int | None],
) -> CellCounts | None:
    """The counts of the rows ``viewers`` may see in ``window`` (µs, inclusive, None: open).

    None when the bins could not be brought up to date in :data:`_TRIES` fills (changes
    kept coming): the caller reads the rows.
    """
    conn = connect(url)
    try:
        prepare(conn)
        for _ in range(_TRIES):
            with conn.transaction(viewers, repeatable_read=True):
                conn.tune_reads()
                layout_id = _current_layout(conn, layout, operation)
                if layout_id is not None:
                    return _window_counts(conn, layout_id, layout, viewers, operation, window)
            with conn.transaction():
                fill_bins(conn, layout, operation)
        return None
    finally:
        conn.close()


def _store_now(conn: PgConnection) -> tuple[int, int]:
    row = conn.execute("SELECT last_upload, changes FROM limes_store").fetchone()
    assert row is not None  # one row, made with the store
    return int(row[0]), int(row[1])


def _state(conn: PgConnection, operation: str) -> tuple[int, str, int, int] | None:
    row = conn.execute(
        f"SELECT layout, name, last_upload, changes FROM {BINS_STATE} WHERE operation = $1",
        (operation,),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), int(row[2]), int(row[3]))


def _current_layout(conn: PgConnection, layout: HexLayout, operation: str) -> int | None:
    """The bins' id of ``layout`` for ``operation`` when they hold every row, else None."""
    state = _state(conn, operation)
    if state is None or state[1] != _binned_as(layout):
        return None
    newest, changes = _store_now(conn)
    return state[0] if state[2] >= newest and state[3] == changes else None


def fill_bins(conn: PgConnection, layout: HexLayout, operation: str) -> int:
    """Bring the bins of ``layout`` for ``operation`` up to date (caller's transaction).

    Under :data:`BINS_LOCK`; the transaction states every partner with an upload as its
    viewer meanwhile, and none afterwards. Bins the uploads since the last fill; every row
    of the operation the first time, after a retraction or re-marking, or when ``layout``
    replaces another. Returns the rows binned.
    """
    conn.execute(f"SELECT pg_advisory_xact_lock({BINS_LOCK})").fetchall()
    _state_every_partner(conn)
    newest, changes = _store_now(conn)
    state = _state(conn, operation)
    if state is not None and state[1] == _binned_as(layout) and state[3] == changes:
        layout_id, last = state[0], state[2]
    else:
        if state is not None:
            conn.execute(f"DELETE FROM {BINS} WHERE layout = $1", (state[0],)).fetchall()
            conn.execute(f"DELETE FROM {PACKED} WHERE layout = $1", (state[0],)).fetchall()
            conn.execute(f"DELETE FROM {BINS_STATE} WHERE layout = $1", (state[0],)).fetchall()
        layout_id = int(
            conn.execute(f"SELECT coalesce(max(layout), 0) + 1 FROM {BINS_STATE}").scalar()
        )
        conn.execute(
            f"INSERT INTO {BINS_STATE} VALUES ($1, $2, $3, 0, $4)",
            (layout_id, _binned_as(layout), operation, changes),
        ).fetchall()
        last = 0
    done = _bin_uploads(conn, layout_id, layout, operation, (last, newest)) if newest > last else 0
    if done:  # the planner's figures for the writes that follow (autovacuum comes later)
        conn.execute(f"ANALYZE {BINS}").fetchall()
    conn.execute(
        f"UPDATE {BINS_STATE} SET last_upload = $1 WHERE layout = $2", (newest, layout_id)
    ).fetchall()
    conn.execute(f"SELECT set_config('{VIEWERS_SETTING}', '', true)").fetchall()
    return done


def clear_bins(conn: PgConnection) -> None:
    """Forget every bin (the next map query bins anew), in the caller's transaction."""
    conn.execute(f"SELECT pg_advisory_xact_lock({BINS_LOCK})").fetchall()
    _state_every_partner(conn)
    conn.execute(f"DELETE FROM {BINS}").fetchall()
    conn.execute(f"DELETE FROM {PACKED}").fetchall()
    conn.execute(f"DELETE FROM {BINS_STATE}").fetchall()
    conn.execute(f"SELECT set_config('{VIEWERS_SETTING}', '', true)").fetchall()


def _state_every_partner(conn: PgConnection) -> None:
    """State every partner with an upload as the transaction's viewer (row-level security)."""
    conn.execute(EVERY_PARTNER_SQL).fetchall()


def _bin_uploads(
    conn: PgConnection,
    layout_id: int,
    layout: HexLayout,
    operation: str,
    uploads: tuple[int, int],
    *,
    sign: int = 1,
    marking_to: str | None = None,
) -> int:
    """Add the rows of ``operation`` with ``uploads[0] < upload_id <= uploads[1]``; the rows.

    ``sign`` -1 takes the rows out (a retraction, before the rows go: bins that reach 0 are
    deleted); with ``marking_to`` too, they are added again under that marking (a re-marking,
    before the rows change).
    """
    markings = Markings()
    pending: list[dict[str, np.ndarray]] = []
    groups: set[tuple[int, str, str]] = set()
    done = 0
    for page in _pages(conn, operation, uploads):
        block = np.floor_divide(page["time_us"].to_numpy(), BLOCK_US)
        pending += page_bins(
            block, _cells(page, layout), page["owner"], page["releasable_to"], markings,
            sign=sign, marking_to=marking_to,
        )  # fmt: skip
        done += page.num_rows
        if sum(len(p["n"]) for p in pending) >= _PENDING_BINS:
            groups |= _write_bins(conn, layout_id, pending, markings)
            pending = []
    groups |= _write_bins(conn, layout_id, pending, markings)
    if sign < 0:
        conn.execute(f"DELETE FROM {BINS} WHERE layout = $1 AND n = 0", (layout_id,)).fetchall()
    _repack(conn, layout_id, groups)
    return done


def _cells(page: pa.Table, layout: HexLayout) -> dict[str, np.ndarray]:
    """The fine cell and hexagon of each row of a page with ``lon`` and ``lat``."""
    lon = page["lon"].to_numpy().astype(np.float64)
    return cell_keys(lon, page["lat"].to_numpy().astype(np.float64), layout)


def _pages(conn: PgConnection, operation: str, uploads: tuple[int, int]) -> Iterator[pa.Table]:
    """The rows of ``operation`` in the upload range, in pages by ``fid`` (keyset)."""
    return _keyset(
        conn, "time_us, owner, releasable_to",
        "operation = $1 AND upload_id > $2 AND upload_id <= $3", [operation, *uploads],
    )  # fmt: skip


def _keyset(
    conn: PgConnection, columns: str, condition: str, params: list[object]
) -> Iterator[pa.Table]:
    """``fid``, ``columns``, ``lon`` and ``lat`` of the rows of ``condition``, in pages.

    Keyset paging on ``fid`` (as :func:`geo.store.postgres.map_query.window_pages`) in the
    caller's transaction: each page of at most :data:`_PAGE_ROWS` rows continues after the
    last ``fid`` read, so memory holds one page whatever the store.
    """
    sql = (
        f"SELECT fid, {columns}, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM detections "
        f"WHERE {condition} AND fid > ${len(params) + 1}::bigint ORDER BY fid LIMIT {_PAGE_ROWS}"
    )
    last = -(2**63)
    while True:
        page = conn.fetch_arrow(sql, [*params, last])
        if page.num_rows:
            yield page
        if page.num_rows < _PAGE_ROWS:
            return
        last = int(page["fid"][-1].as_py())


def _write_bins(
    conn: PgConnection, layout_id: int, pending: list[dict[str, np.ndarray]], markings: Markings
) -> set[tuple[int, str, str]]:
    """Add the summed bins of ``pending`` to those of ``layout_id``; their groups touched.

    The groups: the (block, owner, marking) of the bins written, for :func:`_repack`.
    """
    if not pending:
        return set()
    table = bins_table(pending, markings)
    touched = table.select(["block", "owner", "releasable_to"]).to_pandas().drop_duplicates()
    conn.execute(f"DROP TABLE IF EXISTS {_NEW}").fetchall()
    conn.ingest(_NEW, table)
    conn.execute(
        f"INSERT INTO {BINS} (layout, block, owner, releasable_to, fine, hex, n) "
        f"SELECT $1, block, owner, releasable_to, fine, hex, n FROM {_NEW} "
        "ON CONFLICT (layout, block, owner, releasable_to, fine, hex) "
        f"DO UPDATE SET n = {BINS}.n + excluded.n",
        (layout_id,),
    ).fetchall()
    conn.execute(f"DROP TABLE {_NEW}").fetchall()
    return {(int(b), str(o), str(m)) for b, o, m in touched.itertuples(index=False, name=None)}


def _repack(conn: PgConnection, layout_id: int, groups: set[tuple[int, str, str]]) -> None:
    """Pack the bins of ``layout_id`` in each (block, owner, marking) of ``groups`` anew.

    :data:`~geo.store.postgres.bins_table.PACKED` then holds the same bins as
    :data:`~geo.store.postgres.bins_table.BINS` (a group whose bins all went, none).
    """
    if not groups:
        return
    blocks, owners, marks = (list(c) for c in zip(*sorted(groups), strict=True))
    picked = (
        "(SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[]) "
        "AS g(block, owner, releasable_to)) g"
    )
    params = (layout_id, blocks, owners, marks)
    conn.execute(
        f"DELETE FROM {PACKED} p USING {picked} WHERE p.layout = $1 AND p.block = g.block "
        "AND p.owner = g.owner AND p.releasable_to = g.releasable_to",
        params,
    ).fetchall()
    conn.execute(
        f"INSERT INTO {PACKED} SELECT b.layout, b.block, b.owner, b.releasable_to, "
        f"array_agg(b.fine), array_agg(b.hex), array_agg(b.n) FROM {BINS} b "
        f"JOIN {picked} USING (block, owner, releasable_to) WHERE b.layout = $1 "
        "GROUP BY b.layout, b.block, b.owner, b.releasable_to",
        params,
    ).fetchall()


def _window_counts(
    conn: PgConnection,
    layout_id: int,
    layout: HexLayout,
    viewers: list[str],
    operation: str,
    window: tuple[int | None, int | None],
) -> CellCounts:
    """The window's counts: the bins of whole blocks, the rows or bins less rows of the rest.

    A block partly inside is read whichever way reads fewer rows by the hourly summary:
    its rows inside the window, or its bins less its rows outside. The blocks taken from
    the bins are consecutive (the whole ones, and cut ones at either end), so their bins
    are summed in one query: one scan of the bins, not one per part.
    """
    rule = postgres_where(viewers)  # a second line under row-level security
    lo, hi, partial = window_blocks(*window)
    binned = [(lo, hi)] if lo is None or hi is None or lo <= hi else []
    parts = []
    for block in partial:
        start, end = block * BLOCK_US, (block + 1) * BLOCK_US - 1
        inside = (start if window[0] is None else max(start, window[0]),
                  end if window[1] is None else min(end, window[1]))  # fmt: skip
        n_in = _hour_rows(conn, rule, operation, inside)
        if n_in <= _hour_rows(conn, rule, operation, (start, end)) - n_in:
            parts.append(_rows_binned(conn, rule, operation, layout, inside, 1))
            continue
        binned.append((block, block))
        for outside in ((start, inside[0] - 1), (inside[1] + 1, end)):
            if outside[0] <= outside[1]:
                parts.append(_rows_binned(conn, rule, operation, layout, outside, -1))
    if binned:
        parts.append(_bin_sums(conn, layout_id, rule, _spanned(binned)))
    return cell_counts(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame())


def _spanned(ranges: list[tuple[int | None, int | None]]) -> tuple[int | None, int | None]:
    """The first and last block of consecutive ranges of blocks (inclusive, None: open)."""
    starts, ends = [r[0] for r in ranges], [r[1] for r in ranges]
    return (None if None in starts else min(s for s in starts if s is not None),
            None if None in ends else max(e for e in ends if e is not None))  # fmt: skip


def _bin_sums(
    conn: PgConnection, layout_id: int, rule: str, blocks: tuple[int | None, int | None]
) -> pd.DataFrame:
    """The visible bins of ``layout_id`` in the blocks (inclusive, None: open) per (fine, hex).

    From the packed bins, a block at a time (a few rows under the policy, their arrays
    summed here): memory holds a block's bins and the sums, however many blocks.
    """
    bounds = "".join(
        f" AND block {op} {int(b)}" for b, op in zip(blocks, (">=", "<="), strict=True)
        if b is not None
    )  # fmt: skip
    found = conn.execute(
        f"SELECT DISTINCT block FROM {PACKED} WHERE layout = $1{bounds} AND {rule} ORDER BY 1",
        (layout_id,),
    ).fetchall()
    got = summed({"fine": np.zeros(0, np.int64), "hex": np.zeros(0, np.int64)},
                 np.zeros(0, np.int64))  # fmt: skip
    for (block,) in found:
        table = conn.fetch_arrow(
            f"SELECT fine, hex, n FROM {PACKED} WHERE layout = $1 AND block = $2 AND {rule}",
            (layout_id, int(block)),
        )
        flat = {
            c: pc.list_flatten(table[c]).to_numpy().astype(np.int64) for c in table.column_names
        }
        keys = {k: np.concatenate([got[k], flat[k]]) for k in ("fine", "hex")}
        got = summed(keys, np.concatenate([got["n"], flat["n"]]))
    return pd.DataFrame(got)


def _hour_rows(conn: PgConnection, rule: str, operation: str, span: tuple[int, int]) -> int:
    """About how many visible rows of ``operation`` lie in ``span`` (hourly summary)."""
    return int(
        conn.execute(
            f"SELECT coalesce(sum(n), 0) FROM {HOURS} WHERE operation = $1 AND {rule} "
            "AND hour >= $2 AND hour <= $3",
            (operation, span[0] // HOUR_US, span[1] // HOUR_US),
        ).scalar()
    )


def _rows_binned(
    conn: PgConnection,
    rule: str,
    operation: str,
    layout: HexLayout,
    span: tuple[int, int],
    sign: int,
) -> pd.DataFrame:
    """The visible rows of ``operation`` in the ``time_us`` span per (fine, hex), × ``sign``.

    Read in pages (:func:`_span_pages`) and summed page by page: memory holds a page and
    the span's cells, however many rows the span has.
    """
    got = summed({"fine": np.zeros(0, np.int64), "hex": np.zeros(0, np.int64)},
                 np.zeros(0, np.int64))  # fmt: skip
    for page in _span_pages(conn, rule, operation, span):
        cells = _cells(page, layout)
        keys = {k: np.concatenate([got[k], cells[k]]) for k in ("fine", "hex")}
        got = summed(keys, np.concatenate([got["n"], np.ones(page.num_rows, np.int64)]))
    return pd.DataFrame({"fine": got["fine"], "hex": got["hex"], "n": got["n"] * sign})


def _span_pages(
    conn: PgConnection, rule: str, operation: str, span: tuple[int, int]
) -> Iterator[pa.Table]:
    """The visible rows of ``operation`` in the ``time_us`` span, in pages of times.

    The hourly summary (exact in the transaction's snapshot) cuts the span into runs of
    whole hours of at most :data:`_PAGE_ROWS` rows; each run is one query through the
    B-tree on ``time_us`` that reads its own rows only (no sort; keyset pages by ``fid``
    re-read and sorted every row of the span for each page: 0.6 s a page of a day of
    10,000,000 rows). An hour of more rows than a page is read in keyset pages by ``fid``.
    """
    condition = f"operation = $1 AND time_us >= $2 AND time_us <= $3 AND {rule}"
    for lo, hi, rows in _hour_runs(conn, rule, operation, span):
        if rows > _PAGE_ROWS:
            yield from _keyset(conn, "time_us", condition, [operation, lo, hi])
            continue
        page = conn.fetch_arrow(
            f"SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat FROM detections WHERE {condition}",
            [operation, lo, hi],
        )
        if page.num_rows:
            yield page


def _hour_runs(
    conn: PgConnection, rule: str, operation: str, span: tuple[int, int]
) -> list[tuple[int, int, int]]:
    """``span`` cut at hour edges into runs of at most :data:`_PAGE_ROWS` rows (or one hour).

    Each run ``(first µs, last µs, rows)``; together they cover the span exactly, each
    microsecond once (the hours without rows too).
    """
    hours = conn.execute(
        f"SELECT hour, sum(n)::bigint FROM {HOURS} WHERE operation = $1 AND {rule} "
        "AND hour >= $2 AND hour <= $3 GROUP BY hour ORDER BY hour",
        (operation, span[0] // HOUR_US, span[1] // HOUR_US),
    ).fetchall()
    runs: list[tuple[int, int, int]] = []
    lo, rows = span[0], 0
    for hour, n in hours:
        edge = int(hour) * HOUR_US  # the run so far ends before this hour
        if rows and rows + int(n) > _PAGE_ROWS and lo < edge:
            runs.append((lo, edge - 1, rows))
            lo, rows = edge, 0
        rows += int(n)
    runs.append((lo, span[1], rows))
    return runs
