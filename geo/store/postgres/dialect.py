"""The GeoPackage store's SQL on PostgreSQL, for the tables both back-ends share as they are.

The operations' tables and the audit table have the same columns in both back-ends, and
their modules (:mod:`geo.store.operation_tables`, :mod:`geo.store.audit`) write portable SQL
with ``?`` parameters; :class:`SqliteStyle` runs it on PostgreSQL (``?`` becomes ``$1``,
``$2``...; ``ifnull`` becomes ``coalesce``). Detections and uploads have their own modules.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

from geo.store.postgres.connection import PgConnection, connect
from geo.store.postgres.schema import WRITE_LOCK, prepare

__all__ = ["SqliteStyle", "changed", "changing", "move_rows", "reading", "to_postgres", "writing"]

#: Text in single quotes, a ``?`` parameter, or an ``ifnull(`` call.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|\bifnull\(", re.IGNORECASE)


def to_postgres(sql: str) -> str:
    """SQL written for SQLite with ``?`` parameters, as PostgreSQL reads it.

    Examples
    --------
    >>> to_postgres("SELECT ifnull(max(v), 0) FROM t WHERE a = ? AND b = '?' AND c = ?")
    "SELECT coalesce(max(v), 0) FROM t WHERE a = $1 AND b = '?' AND c = $2"
    """
    count = 0

    def swap(found: re.Match[str]) -> str:
        nonlocal count
        token = found.group(0)
        if token == "?":
            count += 1
            return f"${count}"
        return "coalesce(" if token.lower() == "ifnull(" else token

    return _TOKENS.sub(swap, sql)


class SqliteStyle:
    """A PostGIS store's connection that takes the GeoPackage store's portable SQL."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> SqliteStyle:
        """Run one statement (``?`` parameters); returns self, to fetch its rows."""
        self.conn.execute(to_postgres(sql), params)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of the last query."""
        return self.conn.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The rows of the last query."""
        return self.conn.fetchall()

    def scalar(self) -> Any:
        """The first value of the last query's first row."""
        return self.conn.scalar()


@contextlib.contextmanager
def writing(url: str, *, lock_timeout_s: float | None = None) -> Iterator[SqliteStyle]:
    """The store in one write transaction (no viewer: these tables have no row security)."""
    conn = connect(url)
    try:
        prepare(conn, lock_timeout_s=lock_timeout_s)
        with conn.transaction(lock_timeout_s=lock_timeout_s):
            yield SqliteStyle(conn)
    finally:
        conn.close()


@contextlib.contextmanager
def reading(url: str) -> Iterator[SqliteStyle]:
    """The store in one read transaction."""
    with writing(url) as conn:
        yield conn


@contextlib.contextmanager
def changing(url: str) -> Iterator[SqliteStyle]:
    """One write transaction that may change any partner's upload (retract, re-mark).

    It states every partner that ever uploaded as a viewer (row-level security then lets it
    read and change their rows); who may change which upload is checked by the caller
    (:mod:`geo.store.audit`) before anything is written. It takes the store's write lock.
    """
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction():
            partners = [r[0] for r in conn.execute("SELECT partner FROM limes_partners").fetchall()]
        with conn.transaction(partners):
            conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})").fetchall()
            yield SqliteStyle(conn)
    finally:
        conn.close()


def move_rows(conn: SqliteStyle, upload_id: int) -> int:
    """Move an upload's rows into ``retracted_detections`` (as they are); return how many."""
    columns = (
        "fid, geom, time_us, detection_id, source, partner, class, confidence, access, caveat, "
        "hae_m, ce_m, le_m, owner, releasable_to, upload_id, src_row, operation"
    )
    moved = conn.conn.execute(
        f"WITH gone AS (DELETE FROM detections WHERE upload_id = $1 RETURNING {columns}), "
        f"kept AS (INSERT INTO retracted_detections ({columns}) SELECT {columns} FROM gone "
        "ORDER BY fid RETURNING 1) SELECT count(*) FROM kept",
        (upload_id,),
    ).scalar()
    return int(moved)


def changed(conn: SqliteStyle) -> None:
    """Count one more change to stored rows (:func:`geo.store.revision`).

    ``limes_partners`` keeps a partner whose uploads are all retracted: the audit log and
    the upload history read its uploads through it (:func:`changing`).
    """
    conn.conn.execute("UPDATE limes_store SET changes = changes + 1").fetchall()


#: ``timestamptz`` as the GeoPackage's ISO 8601 text.
_ISO = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#: The audit log's union on PostgreSQL (the GeoPackage's: ``geo.store.audit._log_sources``).
_LOG = (
    f'SELECT {_ISO.format("uploaded_at")} AS at, uploaded_by AS "user", partner, '
    "'upload' AS action, operation, upload_id::text AS target, (jsonb_build_object("
    "'file_name', file_name, 'format', format, 'rows_read', rows_read, 'accepted', accepted, "
    "'rejected', rejected, 'duplicates', duplicates, 'releasable_to', releasable_to, "
    "'file_markings', file_markings, 'notes', notes) || jsonb_strip_nulls(jsonb_build_object("
    f"'retracted_at', {_ISO.format('retracted_at')}, 'retracted_by', retracted_by)))::text "
    "AS detail, 1 AS kind, upload_id AS id FROM uploads "
    "UNION ALL SELECT created_at, created_by, NULL, 'operation.create', name, name, "
    "jsonb_build_object('title', title, 'partners', partners::jsonb, 'corridor_km', "
    "corridor_km, 'min_gap_m', min_gap_m, 'timezone', timezone)::text, 0, id FROM operations "
    "UNION ALL SELECT created_at, created_by, NULL, 'layer.version', operation, "
    "layer || ' v' || version, jsonb_build_object('layer', layer, 'version', version, 'note', "
    "note, 'features', features, 'sha256', sha256)::text, 2, id FROM operation_layers "
    "UNION ALL SELECT created_at, created_by, NULL, 'dem.version', operation, 'dem v' || "
    "version, jsonb_build_object('version', version, 'file_name', file_name, 'sha256', "
    "sha256)::text, 3, id FROM operation_dems "
    'UNION ALL SELECT at, "user", partner, action, operation, target, detail, 4, id FROM audit'
)


def audit_rows(url: str, *, limit: int | None, operation: str | None) -> list[tuple[Any, ...]]:
    """The newest entries of the audit log (every partner's uploads), newest first."""
    where, params = ("", []) if operation is None else (" WHERE operation = $1", [operation])
    sql = (
        f'SELECT at, "user", partner, action, operation, target, detail FROM ({_LOG}) AS log'
        f"{where} ORDER BY at DESC, kind DESC, id DESC"
        + ("" if limit is None else f" LIMIT {int(limit)}")
    )
    with changing(url) as conn:
        return conn.conn.execute(sql, params or None).fetchall()
