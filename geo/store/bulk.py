"""Writing an upload's rows into the ``detections`` table, and the tricks that make it fast.

:func:`insert_rows` is the one way rows get into the store. Its plain form: the rows in
``fid`` order, in Arrow chunks the SQLite driver binds in C, each row inserted with
``INSERT ... ON CONFLICT DO NOTHING`` so that the duplicate-key indexes leave duplicates
out (see "Duplicates" in :mod:`geo.store`). The speed tricks, each switched by a field of
:class:`SpeedTricks`, live here and nowhere else; with every trick off the outcome is the
same, only slower. Each was kept because ``bench/bench_ingest.py --compare`` (1,000,000
rows, 2 cores shared with other work) shows what it gains; the figures are in
:class:`SpeedTricks`. (A new store's 64 KiB pages, the one speed choice made elsewhere, are
a property of the file: :data:`geo.store.opening.PAGE_SIZE`.)

Tried and dropped, since they did not prove themselves (write time of 1,000,000 rows into a
new store, median of 5, without against with, in interleaved runs on a machine shared with
other work): a second thread writing half of a large upload into an in-memory table copied
into the store at the end (2.15 s against 2.24 s, 2.28 against 2.38; on an idle machine once
1.97 against 1.76, once 2.01 against 2.12); building the indexes of a store as large as the
upload with a small page cache, so keys are sorted in runs (into a store of 1,000,000 rows
3.17 s against 3.28 s, 3.15 against 3.51); SQLite's sorter threads (``PRAGMA threads``:
1.93 s against 2.10 s, into a store of 1,000,000 rows 2.85 against 2.88); the large page
cache while the indexes are rebuilt (2.02 s against 2.10 s, 2.68 against 2.88).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow as pa

from geo.core.errors import ValidationError, describe
from geo.store import bins_keep, hours
from geo.store.connection import Connection, IntegrityError
from geo.store.rows import Rows, arrow_columns, arrow_rows, day_order, first_rows, subset
from geo.store.schema import (
    DAY_OFFSET,
    DAY_SHIFT,
    DAY_US,
    DEFAULT_OPERATION,
    ID_INDEX,
    POSITION_INDEX,
    first_fid,
    has_hours,
)

__all__ = ["TRICKS", "SpeedTricks", "insert_rows"]


@dataclass(frozen=True)
class SpeedTricks:
    """Which speed tricks :func:`insert_rows` uses: all of them, except in the benchmark.

    ``bench/bench_ingest.py --without NAME`` switches one off to measure what it gains;
    nothing else changes them.

    Figures: time of writing 1,000,000 rows (one transaction), median of 5 interleaved runs,
    with the trick and without it.

    Attributes
    ----------
    rebuild_indexes
        An upload into a store holding fewer rows than it brings is written without the
        duplicate-key indexes, which are then built again from all rows (sorting every key),
        instead of a B-tree insert per row at a random place. Into a new store 1.93 s
        against 2.43 s; into stores of 125,000 to 750,000 rows 2.38-2.57 s against
        2.64-2.78 s; into a store as large as the upload no gain (2.88 s against 2.92 s),
        hence :data:`_REBUILD_FACTOR`.
    writer_thread
        The driver binds a chunk on a second thread (without Python's lock) while the next
        chunk's Arrow columns are made. Into a new store 1.93 s against 2.20 s; row by row
        into a new store 2.44 s against 2.58 s, into a store of 1,000,000 rows 2.76 s
        against 3.02 s.
    large_cache
        Row by row (the indexes in place), the connection has a page cache of
        :data:`_INGEST_CACHE_KIB` KiB: into a store of 1,000,000 rows 2.74 s against 2.95 s
        and 2.76 s against 3.04 s (once 2.94 s against 2.96 s); 250,000 rows into it, no
        gain (0.74 s against 0.75 s).
    """

    rebuild_indexes: bool = True
    writer_thread: bool = True
    large_cache: bool = True


#: The tricks :func:`insert_rows` uses (the benchmark replaces this; Limes never does).
TRICKS = SpeedTricks()

#: Page cache of the connection that writes an upload row by row (KiB): a million rows fit.
_INGEST_CACHE_KIB = 262_144

#: A store holding fewer rows than this many times an upload's takes it without its
#: duplicate-key indexes and builds them again (see ``SpeedTricks.rebuild_indexes``: the
#: gain is gone once the store holds as many rows as the upload brings).
_REBUILD_FACTOR = 1

#: Rows given to the SQLite driver at a time.
_APPEND_CHUNK_ROWS = 131_072


@dataclass(frozen=True)
class _Upload:
    """What every row of one upload shares: written into the statement, not bound per row."""

    owner: str
    marking: str
    upload_id: int
    source: str
    operation: str = DEFAULT_OPERATION


def insert_rows(
    conn: Connection,
    rows: Rows,
    *,
    owner: str,
    marking: str,
    upload_id: int,
    source: str = "upload",
    tricks: SpeedTricks | None = None,
    operation: str = DEFAULT_OPERATION,
) -> int:
    """Insert the rows (in the caller's transaction); return how many were new.

    The rows go through the SQLite driver's bulk insert: Arrow columns bound in C, one
    prepared statement, day by day and in file order within a day. Duplicates (see the
    "Duplicates" of :mod:`geo.store`) are left out: the first row of a detection written is
    kept. ``owner``, ``upload_id``, ``operation`` and (for rows without their own)
    ``marking`` go into every row; ``source`` names the file in messages.

    Two ways, the same outcome:

    - Into an empty table, or one holding fewer rows than the upload brings
      (:data:`_REBUILD_FACTOR`), the rows go straight in, with the duplicate keys' indexes
      dropped and built again afterwards (``tricks.rebuild_indexes``). An index that cannot
      be built means duplicates: undone, the file's own duplicates are left out and the rows
      written again; if the build still fails (rows the partner stored before), the other
      way is taken.
    - Otherwise each row goes in with ``INSERT ... ON CONFLICT DO NOTHING``, which skips
      duplicates (and only those: a missing required value still fails the upload).

    The hourly summary (:mod:`geo.store.hours`) gets the groups of the rows inserted, and
    the map's bins their counts (:func:`geo.store.bins_keep.keep_upload`), in the same
    transaction. ``tricks``: default :data:`TRICKS`.
    """
    if rows.n == 0:
        bins_keep.keep_upload(conn, upload_id, operation, [])
        return 0
    upload = _Upload(
        owner=owner, marking=marking, upload_id=upload_id, source=source, operation=operation
    )
    new_fids = _new_fid_ranges(conn, rows.time_us)
    inserted = _insert(conn, rows, upload, TRICKS if tricks is None else tricks)
    _summarise(conn, new_fids, upload)
    bins_keep.keep_upload(conn, upload_id, operation, new_fids)
    return inserted


def _insert(conn: Connection, rows: Rows, upload: _Upload, tricks: SpeedTricks) -> int:
    """:func:`insert_rows`'s writing (one of its two ways); return how many were new."""
    if tricks.rebuild_indexes:
        inserted, rows = _insert_rebuilding(conn, rows, upload, tricks)
        if inserted is not None:
            return inserted
    if tricks.large_cache:  # for the rest of this connection: it writes one upload
        conn.execute(f"PRAGMA cache_size = -{_INGEST_CACHE_KIB}")
    return _write_rows(conn, rows, upload, tricks, skip_duplicates=True)


def _insert_rebuilding(
    conn: Connection, rows: Rows, upload: _Upload, tricks: SpeedTricks
) -> tuple[int | None, Rows]:
    """The rows written without the indexes, which are built again.

    Returns the rows inserted, or None when not done; and the rows left to write the plain
    way (without the file's own duplicates, when those were found).
    """
    stored = int(conn.execute("SELECT ifnull(sum(accepted), 0) FROM uploads").scalar())
    if stored >= _REBUILD_FACTOR * rows.n or (stored and _stored_keys(conn, rows, upload)):
        return None, rows
    inserted = _write_without_indexes(conn, rows, upload, tricks)
    if inserted is None:
        keep = first_rows(rows)
        if not keep.all():
            rows = subset(rows, keep)
            inserted = _write_without_indexes(conn, rows, upload, tricks)
    return inserted, rows


def _stored_keys(conn: Connection, rows: Rows, upload: _Upload) -> bool:
    """Whether a sample of the rows' detection ids (up to 1,000) is stored already.

    A re-upload of overlapping data finds some at once and goes the row-by-row way instead
    of trying a bulk write whose index build would fail.
    """
    ids = rows.texts.get("detection_id")
    if ids is None:
        return False
    pos = np.unique(np.linspace(0, rows.n - 1, min(rows.n, 1000)).astype(np.int64))
    source = rows.texts.get("source")
    keys = [
        [i, s]
        for i, s in zip(
            ids.iloc[pos].tolist(),
            (source.iloc[pos].fillna("").tolist() if source is not None else [""] * len(pos)),
            strict=True,
        )
        if isinstance(i, str)
    ]
    if not keys:
        return False
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM json_each(?) AS k JOIN detections AS d ON "
        "d.detection_id = k.value ->> 0 AND ifnull(d.source, '') = k.value ->> 1 "
        "AND d.owner = ? AND d.operation = ?)",
        (json.dumps(keys), upload.owner, upload.operation),
    ).scalar()
    return bool(found)


def _write_without_indexes(
    conn: Connection, rows: Rows, upload: _Upload, tricks: SpeedTricks
) -> int | None:
    """Write into the table without the indexes the rows enter, then build them again.

    A partial duplicate-key index that none of the rows enter (the position key when every
    row has an id, the id key when none has) stays: inserting costs it nothing. ``None``
    (and nothing written) when an index cannot be built: the rows hold duplicates.
    """
    ids = rows.texts.get("detection_id")
    with_id = 0 if ids is None else int(ids.notna().sum())
    untouched = {ID_INDEX} if with_id == 0 else {POSITION_INDEX} if with_id == rows.n else set()
    indexes = [
        (name, sql)
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
            "tbl_name = 'detections' AND sql IS NOT NULL"
        ).fetchall()
        if name not in untouched
    ]
    conn.execute("SAVEPOINT bulk_insert")
    try:
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name.replace(chr(34), chr(34) * 2)}"')
        inserted = _write_rows(conn, rows, upload, tricks, skip_duplicates=False)
        for _, sql in indexes:
            conn.execute(sql)
    except IntegrityError:
        conn.execute("ROLLBACK TO bulk_insert")
        conn.execute("RELEASE bulk_insert")
        return None
    conn.execute("RELEASE bulk_insert")
    return inserted


def _write_rows(
    conn: Connection, rows: Rows, upload: _Upload, tricks: SpeedTricks, *, skip_duplicates: bool
) -> int:
    """Write the rows into ``detections`` in ``fid`` order, a chunk at a time.

    ``skip_duplicates``: ``ON CONFLICT DO NOTHING`` (the indexes are in place), else a
    plain insert (the indexes the rows enter are dropped). Returns the rows inserted.
    """
    fid, order = _fids(conn, rows.time_us, upload.source)
    in_order = bool((order == np.arange(rows.n)).all())
    cols = arrow_columns(rows)
    constants: dict[str, str | int] = {
        "owner": upload.owner,
        "upload_id": upload.upload_id,
        "operation": upload.operation,
    }
    if "releasable_to" not in cols:
        constants["releasable_to"] = upload.marking
    parts = (
        arrow_rows(
            cols,
            fid[at : at + _APPEND_CHUNK_ROWS],
            slice(at, min(at + _APPEND_CHUNK_ROWS, rows.n))
            if in_order
            else order[at : at + _APPEND_CHUNK_ROWS],
        )
        for at in range(0, rows.n, _APPEND_CHUNK_ROWS)
    )
    insert = partial(conn.insert, "detections", constants=constants, skip_conflicts=skip_duplicates)
    before = conn.total_changes
    _insert_parts(insert, parts, threaded=tricks.writer_thread)
    return conn.total_changes - before


def _insert_parts(
    insert: Callable[[pa.Table], None], parts: Iterator[pa.Table], *, threaded: bool
) -> None:
    """``insert`` each part; ``threaded``: on a second thread while the next is made."""
    if not threaded:
        for part in parts:
            insert(part)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="limes-store") as writer:
        pending: Future[None] | None = None
        for part in parts:
            if pending is not None:
                pending.result()
            pending = writer.submit(insert, part)
        if pending is not None:
            pending.result()


#: The temporary table of the ``fid`` ranges an upload's rows take (see :func:`_summarise`).
_NEW_FIDS = "limes_new_fids"


def _day_ends(conn: Connection, days: list[int]) -> dict[int, int]:
    """The largest ``fid`` stored on each of the UTC ``days`` (days without rows left out)."""
    found = conn.execute(
        f"SELECT value, (SELECT max(fid) FROM detections WHERE "
        f"fid >= ((value + {DAY_OFFSET}) << {DAY_SHIFT}) AND "
        f"fid < ((value + {DAY_OFFSET + 1}) << {DAY_SHIFT})) FROM json_each(?)",
        (json.dumps(days),),
    ).fetchall()
    return {int(d): int(f) for d, f in found if f is not None}


def _new_fid_ranges(conn: Connection, time_us: np.ndarray) -> list[tuple[int, int]]:
    """The ``fid`` ranges the rows will take: per day of theirs, after the day's last row.

    Read before the rows are written (:func:`_fids` numbers a day's new rows on from its
    last), so that afterwards exactly the new rows are found by their ``fid``, without a
    scan of the table (which has no index on ``upload_id``).
    """
    days = np.unique(time_us // DAY_US).tolist()
    ends = _day_ends(conn, days)
    return [(ends.get(d, first_fid(d) - 1) + 1, first_fid(d + 1) - 1) for d in days]


def _summarise(conn: Connection, new_fids: list[tuple[int, int]], upload: _Upload) -> None:
    """Add the groups of the upload's new rows (in ``new_fids``) to the hourly summary."""
    if not has_hours(conn):
        return  # a store without the summary (before schema 6) gets none
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_NEW_FIDS} (lo INTEGER, hi INTEGER)")
    conn.execute(f"DELETE FROM {_NEW_FIDS}")
    lo, hi = zip(*new_fids, strict=True)
    conn.insert(_NEW_FIDS, pa.table({"lo": pa.array(lo), "hi": pa.array(hi)}), constants={})
    # "+": no automatic index on upload_id (SQLite would build one from every stored row,
    # 5.9 s against 1.3 s for 500,000 new rows in a store of 1,500,000): the fid ranges find
    # the rows
    conn.execute(
        hours.add_sql(
            f"+d.upload_id = {int(upload.upload_id)}",
            source=f"{_NEW_FIDS} r CROSS JOIN detections d ON d.fid BETWEEN r.lo AND r.hi",
            upload=(upload.upload_id, upload.operation, upload.owner),
        )
    )


def _fids(conn: Connection, time_us: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``fid`` of each row (see :func:`~geo.store.schema.first_fid`) and the order of the rows.

    Rows of a day are numbered on from the store's last row of that day, in file order.
    """
    day, order = day_order(time_us)
    days, starts, counts = np.unique(day[order], return_index=True, return_counts=True)
    found = _day_ends(conn, days.tolist())
    last = np.array([found.get(d, 0) for d in days.tolist()], dtype=np.int64)
    first_number = np.where(last > 0, (last & ((1 << DAY_SHIFT) - 1)) + 1, 1)
    number = (
        np.arange(len(day), dtype=np.int64)
        - np.repeat(starts, counts)
        + np.repeat(first_number, counts)
    )
    if len(number) and int(number.max()) >= 1 << DAY_SHIFT:
        raise ValidationError(
            describe(
                source,
                "too many detections in one day",
                expected=f"fewer than {1 << DAY_SHIFT:,} a day",
            )
        )
    return ((day[order] + DAY_OFFSET) << DAY_SHIFT) + number, order
