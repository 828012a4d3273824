"""The map's queries on a PostGIS store: rows in a view and window, and the window in pages.

Each read is one transaction that states its viewers (row-level security, enabled and
forced); the B-tree on ``time_us`` finds the rows of a window, the B-tree on the stored
fine cell those of an extent (:mod:`geo.store.postgres.extent`: key ranges of
``fine_cell``, as the planner finds worth it; the GiST index on ``geom`` cannot serve under
forced row-level security), and the exact test of the extent (``ST_X``/``ST_Y`` between
its bounds, inclusive) decides. :mod:`geo.store.map_query` filters the rows again in
Python; the counts and the time summary, which return no rows to filter, state the rule in
their WHERE instead (:func:`geo.access.releasability.postgres_where`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pyarrow as pa

from geo.access.releasability import postgres_where
from geo.store.hours import HOURS
from geo.store.postgres.connection import PgConnection, connect
from geo.store.postgres.extent import Box, exact_sql, with_candidates
from geo.store.postgres.schema import prepare

__all__ = ["cell_pages", "has_rows", "row_pages", "time_summary", "view_rows", "window_pages"]

T = TypeVar("T")

#: Columns of a detection read for the map besides the position (``lon``, ``lat``).
_COLUMNS = (
    "fid", "time_us", "detection_id", "source", "partner", "class", "confidence", "access",
    "caveat", "hae_m", "ce_m", "le_m", "src_row", "owner", "releasable_to", "upload_id",
)  # fmt: skip


def _where(
    t_from: int | None, t_to: int | None, operation: str | None, boxes: Sequence[Box] | None
) -> tuple[str, list[object]]:
    """The condition of the rows in the window, the operation and the boxes, and its values.

    The boxes' exact test; their ``fine_cell`` ranges are added in the read's transaction
    (:func:`_candidates`).
    """
    where = ["true"]
    params: list[object] = []
    for value, sql in ((t_from, "time_us >= {}"), (t_to, "time_us <= {}")):
        if value is not None:
            params.append(int(value))
            where.append(sql.format(f"${len(params)}::bigint"))
    if operation is not None:
        params.append(str(operation))
        where.append(f"operation = ${len(params)}::text")
    if boxes is not None:
        where.append(exact_sql(boxes, params))
    return " AND ".join(where), params


def _candidates(
    conn: PgConnection, where: str, params: list[object], boxes: Sequence[Box] | None
) -> str:
    """``where`` with the boxes' ``fine_cell`` ranges, when the planner reads them by index."""
    return where if boxes is None else with_candidates(conn, where, params, boxes)


def has_rows(url: str, viewers: list[str], *, operation: str | None) -> bool:
    """Whether ``viewers`` may see a row of ``operation``: the first group found, not a count.

    The groups of the hourly summary (:mod:`geo.store.hours`, kept equal to the rows in
    the transaction of every change; a few thousand, where the rows of an operation
    without any would all be read), under the same row-level security as the rows and
    with the rule in the WHERE too (:func:`~geo.access.releasability.postgres_where`).
    """
    where, params = _where(None, None, operation, None)
    where += f" AND {postgres_where(viewers)}"  # a second line under RLS
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction(viewers):
            found = conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM {HOURS} WHERE {where})", params or None
            ).scalar()
        return bool(found)
    finally:
        conn.close()


def hour_rows(
    url: str, viewers: list[str], *, operation: str | None, hours: tuple[int | None, int | None]
) -> int:
    """The rows ``viewers`` may see of ``operation`` in the hours ``hours`` (inclusive).

    From the hourly summary (:mod:`geo.store.hours`), under row-level security and with the
    rule in the WHERE too, as :func:`has_rows`.
    """
    where, params = _where(None, None, operation, None)
    where += f" AND {postgres_where(viewers)}"
    for value, sql in ((hours[0], "hour >= {}"), (hours[1], "hour <= {}")):
        if value is not None:
            params.append(int(value))
            where += " AND " + sql.format(f"${len(params)}::bigint")
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction(viewers):
            found = conn.execute(
                f"SELECT coalesce(sum(n), 0) FROM {HOURS} WHERE {where}", params or None
            ).scalar()
        return int(found)
    finally:
        conn.close()


def view_rows(
    url: str,
    viewers: list[str],
    *,
    t_from: int | None,
    t_to: int | None,
    operation: str | None,
    boxes: Sequence[Box] | None,
    limit: int,
    total: int | None = None,
) -> tuple[int, pa.Table]:
    """How many rows ``viewers`` may see in the view and window, and at most ``limit`` of them.

    All of them (any order) when there are at most ``limit``; else the first ``limit`` in
    time order (then ``fid``). Columns: :data:`_COLUMNS`, ``lon``, ``lat``. The count
    states the rule in its WHERE too (:func:`~geo.access.releasability.postgres_where`),
    under row-level security. ``total``: the count, known already (the map's counts of
    the window): not counted again (a count reads every row of the window: 10,000,000
    rows take a minute where the first ``limit`` in time order take a fraction of a second).
    """
    where, params = _where(t_from, t_to, operation, boxes)
    where += f" AND {postgres_where(viewers)}"  # the count's second line under RLS
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction(viewers):
            conn.tune_reads()
            where = _candidates(conn, where, params, boxes)
            if total is None:
                total = int(
                    conn.execute(f"SELECT count(*) FROM detections WHERE {where}", params).scalar()
                )
            cut = f" ORDER BY time_us, fid LIMIT {int(limit)}" if total > limit else ""
            rows = conn.fetch_arrow(
                f"SELECT {', '.join(_COLUMNS)}, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                f"FROM detections WHERE {where}{cut}",
                params or None,
            )
        return total, rows
    finally:
        conn.close()


def row_pages(
    url: str,
    viewers: list[str],
    *,
    t_from: int | None,
    t_to: int | None,
    operation: str | None,
    page_rows: int,
) -> Iterator[pa.Table]:
    """Every row ``viewers`` may see in the window, in pages of at most ``page_rows``, by ``fid``.

    Columns: :data:`_COLUMNS`, ``lon``, ``lat`` (those of :func:`view_rows`). One
    transaction; keyset paging on ``fid``, so the server holds one page at a time.
    """
    return _keyset_pages(
        url, viewers, f"{', '.join(_COLUMNS)}, ST_X(geom) AS lon, ST_Y(geom) AS lat",
        _where(t_from, t_to, operation, None), page_rows,
    )  # fmt: skip


def _keyset_pages(
    url: str,
    viewers: list[str],
    columns: str,
    where: tuple[str, list[object]],
    page_rows: int,
    boxes: Sequence[Box] | None = None,
) -> Iterator[pa.Table]:
    """``columns`` of the rows of ``where`` (condition, values) in pages, by ``fid``.

    ``boxes``: those whose exact test ``where`` holds, for their ``fine_cell`` ranges.
    """
    condition, params = where
    last_param = f"${len(params) + 1}::bigint"
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction(viewers):
            conn.tune_reads()
            sql = (
                f"SELECT {columns} FROM detections "
                f"WHERE {_candidates(conn, condition, params, boxes)} AND fid > {last_param} "
                f"ORDER BY fid LIMIT {int(page_rows)}"
            )
            last = -(2**63)
            while True:
                page = conn.fetch_arrow(sql, [*params, last])
                if page.num_rows:
                    yield page
                if page.num_rows < page_rows:
                    return
                last = int(page["fid"][-1].as_py())
    finally:
        conn.close()


def window_pages(
    url: str,
    viewers: list[str],
    *,
    t_from: int | None,
    t_to: int | None,
    operation: str | None,
    boxes: Sequence[Box] | None,
    page_rows: int,
) -> Iterator[pa.Table]:
    """The rows in the window (and boxes) in pages of at most ``page_rows``, by ``fid``.

    Columns ``fid``, ``time_us``, ``owner``, ``releasable_to``, ``lon``, ``lat``. One
    transaction (its viewers stated once); each page continues after the last ``fid`` read
    (keyset paging on the primary key), so the server holds one page at a time.
    """
    return _keyset_pages(
        url, viewers, "fid, time_us, owner, releasable_to, ST_X(geom) AS lon, ST_Y(geom) AS lat",
        _where(t_from, t_to, operation, boxes), page_rows, boxes,
    )  # fmt: skip


def time_summary(
    url: str,
    viewers: list[str],
    *,
    operation: str | None,
    extra: pa.Table,
    extra_table: str,
    summarise: Callable[
        [
            Callable[[int | None, int | None], str],
            str,
            str | None,
            Callable[[str], list[tuple[Any, ...]]],
        ],
        T,
    ],
) -> T:
    """``summarise(window, summary_where, extra_table, fetch)`` for the rows ``viewers`` may see.

    One transaction stating the viewers: row-level security (enabled and forced) leaves
    the rows, and the groups of the hourly summary (:mod:`geo.store.hours`), they may see
    (aggregates: no row comes back to filter again in Python), and the query's WHERE
    states the rule again (:func:`~geo.access.releasability.postgres_where`, on the rows and
    on the summary's groups alike: a second line under RLS). ``window(lo, hi)``: the
    visible rows with ``time_us`` in ``[lo, hi]`` (the B-tree on ``time_us`` finds them);
    ``summary_where``: the summary's groups of the operation; ``extra`` (column
    ``time_us``) is copied into a temporary table ``extra_table`` (passed on when it has
    rows, else None) to be added to the stored times.
    """
    where, params = _where(None, None, operation, None)
    where += f" AND {postgres_where(viewers)}"  # the rule in SQL too: a second line under RLS

    def window(lo: int | None, hi: int | None) -> str:
        bounds = "".join(
            f" AND time_us {op} {int(v)}" for v, op in ((lo, ">="), (hi, "<=")) if v is not None
        )
        return f"(SELECT time_us FROM detections WHERE {where}{bounds})"

    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction(viewers):
            if extra.num_rows:
                conn.ingest(extra_table, extra)
            return summarise(
                window,
                where,
                extra_table if extra.num_rows else None,
                lambda sql: conn.execute(sql, params or None).fetchall(),
            )
    finally:
        conn.close()


def cell_pages(
    url: str,
    viewers: list[str],
    *,
    t_from: int | None,
    t_to: int | None,
    operation: str | None,
    cells: list[int],
    page_rows: int,
) -> Iterator[pa.Table]:
    """The rows in the window whose stored ``fine_cell`` is one of ``cells``, in pages by ``fid``.

    Columns ``fid``, ``lon``, ``lat``. The B-tree on ``fine_cell`` finds them (layout 4: an
    integer equality, leakproof, so the index serves under forced row-level security); the
    rule is in the WHERE too.
    """
    condition, params = _where(t_from, t_to, operation, None)
    params = [*params, cells]
    condition += f" AND fine_cell = ANY (${len(params)}::bigint[]) AND {postgres_where(viewers)}"
    return _keyset_pages(
        url, viewers, "fid, ST_X(geom) AS lon, ST_Y(geom) AS lat", (condition, params), page_rows
    )
