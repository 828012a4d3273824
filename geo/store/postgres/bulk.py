"""The PostGIS upload's speed tricks: set-based duplicates, and index rebuilds for big uploads.

An upload's rows are first copied into a temporary table (binary ``COPY``: no WAL, no
index), already without the file's own duplicates (:func:`geo.store.rows.first_rows`).
From there one ``INSERT ... SELECT`` moves them into ``detections``, in one of two ways:

- **incremental** (the upload brings fewer rows than the store holds, or fewer than
  :data:`REBUILD_MIN_ROWS`): ``ON CONFLICT DO NOTHING`` against the unique duplicate keys,
  every index kept up to date row by row.
  Locks: ``ROW EXCLUSIVE`` on ``detections``, which readers never wait for.
- **rebuild** (the upload brings at least as many rows as the store holds, and at least
  :data:`REBUILD_MIN_ROWS`): the rows the partner already stored are taken out of the
  temporary table with two hash anti-joins, then ``detections``' indexes (and its primary
  key) are dropped, the rows inserted, and every index built again from sorted input (the
  GiST on ``geom`` with PostGIS's Hilbert-curve sort, B-trees bottom up; PostgreSQL builds
  them in parallel workers). Keeping the indexes up to date row by row costs 15 to 20 µs a
  row on this machine (GiST 6, duplicate key 5, primary key 2.4, time and upload 1.5 each);
  building them costs less than a fifth of that. Locks: ``ACCESS EXCLUSIVE`` on
  ``detections`` from the drop to the commit, so readers of detections wait for such an
  upload (a one-hour read waited 14 to 15 s while a million rows went into a store of a
  million, 2 shared cores: ``bench/bench_pg_ingest.py``); the ``uploads`` table and the other
  tables are not locked beyond the rows written.

Both ways run in the upload's one transaction: all or nothing, the indexes too (a failed
rebuild rolls back to the indexes as they were).
"""

from __future__ import annotations

from geo.store.postgres.connection import PgConnection

__all__ = [
    "MAINTENANCE_WORK_MEM",
    "REBUILD_MIN_ROWS",
    "TEMP_BUFFERS",
    "WORK_MEM",
    "drop_found_rows",
    "drop_indexes",
    "rebuild",
    "stored_rows",
]

#: The fewest rows an upload rebuilds the indexes for (and locks readers out): below it,
#: keeping them up to date costs under 2 s, and readers never wait.
REBUILD_MIN_ROWS = 100_000

#: Memory for building one index in the upload's transaction (``SET LOCAL``).
MAINTENANCE_WORK_MEM = "512MB"

#: Memory for the session's temporary tables (the staged rows; set before their first use).
TEMP_BUFFERS = "1GB"

#: Memory for the anti-joins and the sort by writing order.
WORK_MEM = "256MB"


def stored_rows(conn: PgConnection) -> float:
    """How many rows ``detections`` holds, estimated as the planner does (no scan, no RLS).

    The density of the last statistics (``reltuples / relpages``) times the pages the table
    has now; a table never measured counts 60 rows a page (its rows are about 130 bytes).
    """
    return float(
        conn.execute(
            "SELECT CASE WHEN c.relpages > 0 AND c.reltuples >= 0 "
            "THEN c.reltuples / c.relpages ELSE 60 END "
            "* (pg_relation_size(c.oid) / current_setting('block_size')::int) "
            "FROM pg_class c WHERE c.oid = 'detections'::regclass"
        ).scalar()
    )


def drop_found_rows(
    conn: PgConnection, stage: str, columns: list[str], owner: str, operation: str
) -> None:
    """Delete from ``stage`` the rows whose duplicate key the partner stored already.

    The keys of the store's unique indexes (see :mod:`geo.store.postgres.schema`): detection
    id and source, or, without an id, time, position and source; within the partner's rows
    of the operation. ``columns``: the stage's (a file may have no ids, or no sources). Run
    before the indexes are dropped, the planner picks hash anti-joins over the stored rows
    when they are fewer than the upload's.
    """
    conn.execute(f"ANALYZE {stage}").fetchall()
    source = "coalesce(s.source, '')" if "source" in columns else "''"
    position = (
        "d.detection_id IS NULL AND d.time_us = s.time_us "
        "AND ST_X(d.geom) = s.lon + 0.0 AND ST_Y(d.geom) = s.lat + 0.0"
    )
    matches = [position]
    if "detection_id" in columns:
        matches = [
            "s.detection_id IS NOT NULL AND d.detection_id = s.detection_id",
            f"s.detection_id IS NULL AND {position}",
        ]
    for match in matches:
        conn.execute(
            f"DELETE FROM {stage} s USING detections d WHERE {match} "
            f"AND coalesce(d.source, '') = {source} "
            "AND d.owner = $1::text AND d.operation = $2::text",
            (owner, operation),
        ).fetchall()


def drop_indexes(conn: PgConnection) -> list[str]:
    """Lock ``detections``, drop its indexes and key constraints; return the SQL that remakes them.

    Every index of the table (also ones added later or by others), as ``pg_get_indexdef``
    and ``pg_get_constraintdef`` state them, constraints first.
    """
    conn.execute("SET LOCAL maintenance_work_mem = '" + MAINTENANCE_WORK_MEM + "'").fetchall()
    conn.execute("LOCK TABLE detections IN ACCESS EXCLUSIVE MODE").fetchall()
    found = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), "
        "quote_ident(c.conname), "
        "pg_get_constraintdef(c.oid) FROM pg_index i LEFT JOIN pg_constraint c "
        "ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
        "WHERE i.indrelid = 'detections'::regclass ORDER BY c.conname IS NULL, 1"
    ).fetchall()
    remake = []
    for index, definition, constraint, constraint_def in found:
        if constraint is not None:
            conn.execute(f"ALTER TABLE detections DROP CONSTRAINT {constraint}").fetchall()
            remake.append(f"ALTER TABLE detections ADD CONSTRAINT {constraint} {constraint_def}")
        else:
            conn.execute(f"DROP INDEX {index}").fetchall()
            remake.append(definition)
    return remake


def rebuild(conn: PgConnection, remake: list[str]) -> None:
    """Build the indexes :func:`drop_indexes` dropped, in its order."""
    for statement in remake:
        conn.execute(statement).fetchall()
