"""Uploads into a PostGIS store: one transaction, all or nothing, as the GeoPackage's.

The rows go in with the driver's bulk ingest (binary ``COPY`` of Arrow columns into a
temporary table), then one ``INSERT ... SELECT ... ORDER BY ... ON CONFLICT DO NOTHING`` into
``detections``: day by day (UTC), each day in file order, so the unique duplicate keys keep
the first row of a detection as the GeoPackage does. The transaction states the uploading
partner as its viewer (row-level security lets it write its own rows only) and takes the
store's write lock (uploads commit in the order of their ids).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from geo.core.errors import ValidationError, describe
from geo.store.postgres.connection import PgConnection, connect
from geo.store.postgres.schema import WRITE_LOCK, prepare
from geo.store.results import Audit, IngestResult, upload_errors
from geo.store.rows import Rows, day_order
from geo.store.schema import DEFAULT_OPERATION, FLOAT_COLUMNS, TEXT_COLUMNS

__all__ = ["ingest_rows"]

#: The temporary table an upload's rows are copied into.
_STAGE = "limes_upload_rows"


def ingest_rows(
    url: str, rows: Rows, audit: Audit, *, busy_timeout_s: float | None = None
) -> IngestResult:
    """Write one upload (its audit record and rows) into the PostGIS store at ``url``.

    Raises
    ------
    ValidationError
        The store cannot be reached or is not a Limes store, the operation is not in it, or
        another upload kept it busy past the timeout (nothing written).
    """
    conn = connect(url)
    try:
        prepare(conn, lock_timeout_s=busy_timeout_s)
        with conn.transaction([audit.owner], lock_timeout_s=busy_timeout_s):
            conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})").fetchall()
            return _write_upload(conn, rows, audit)
    finally:
        conn.close()


def _write_upload(conn: PgConnection, rows: Rows, audit: Audit) -> IngestResult:
    """The upload in the open transaction: its audit record, then its rows."""
    if (
        audit.operation != DEFAULT_OPERATION
        and not conn.execute(
            "SELECT 1 FROM operations WHERE name = $1", (audit.operation,)
        ).fetchall()
    ):
        raise ValidationError(
            describe(
                conn.name,
                "no such operation",
                field="operation",
                expected="an operation in the store (python -m geo operation list)",
                got=audit.operation,
                fix="Nothing was added. Create the operation first, or check its name",
            )
        )
    earlier = conn.execute(
        "SELECT upload_id, to_char(uploaded_at AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\'), uploaded_by FROM uploads WHERE partner = $1 AND '
        "sha256 = $2 AND operation = $3 AND retracted_at IS NULL ORDER BY upload_id LIMIT 1",
        (audit.owner, audit.sha256, audit.operation),
    ).fetchone()
    if earlier is not None:
        by = f" by {earlier[2]}" if earlier[2] else ""
        return IngestResult(
            upload_id=int(earlier[0]),
            accepted=0,
            rejected=audit.rejected,
            duplicates=rows.n,
            errors=upload_errors(audit.report),
            already_uploaded=True,
            releasable_to=audit.marking,
            notes=[
                f"{audit.owner} uploaded this file (same SHA-256) already as upload "
                f"{earlier[0]} on {earlier[1]}{by}; nothing was added"
            ],
        )
    upload_id = int(
        conn.execute(
            "INSERT INTO uploads (uploaded_by, partner, file_name, sha256, format, rows_read, "
            "accepted, rejected, duplicates, releasable_to, file_markings, notes, operation) "
            "VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 0, $8, $9, $10, $11) RETURNING upload_id",
            (
                audit.user,
                audit.owner,
                audit.file_name,
                audit.sha256,
                getattr(audit.report, "format", None),
                audit.rows_read,
                audit.rejected,
                audit.marking,
                rows.file_markings,
                "; ".join(rows.notes) or None,
                audit.operation,
            ),
        ).scalar()
    )
    accepted = _insert_rows(conn, rows, audit, upload_id) if rows.n else 0
    conn.execute(
        "UPDATE uploads SET accepted = $1, duplicates = $2 WHERE upload_id = $3",
        (accepted, rows.n - accepted, upload_id),
    ).fetchall()
    conn.execute("UPDATE limes_store SET last_upload = $1", (upload_id,)).fetchall()
    conn.execute(
        "INSERT INTO limes_partners VALUES ($1) ON CONFLICT DO NOTHING", (audit.owner,)
    ).fetchall()
    return IngestResult(
        upload_id=upload_id,
        accepted=accepted,
        rejected=audit.rejected,
        duplicates=rows.n - accepted,
        errors=upload_errors(audit.report),
        releasable_to=audit.marking,
        file_markings=rows.file_markings,
        notes=list(rows.notes),
    )


def _staged(rows: Rows) -> pa.Table:
    """The rows as Arrow columns in the order they are stored (``ord``): by day, file order."""
    _, order = day_order(rows.time_us)
    data: dict[str, pa.Array] = {"ord": pa.array(np.arange(rows.n, dtype=np.int64))}
    for name in ("time_us", "lon", "lat", "src_row", *FLOAT_COLUMNS):
        if name in rows.numbers:
            data[name] = pa.array(np.asarray(rows.numbers[name])[order])
    take = pa.array(order)
    for name, values in rows.texts.items():
        array = pa.array(values, type=pa.string())
        data[name] = array.take(take)
    return pa.table(data)


def _insert_rows(conn: PgConnection, rows: Rows, audit: Audit, upload_id: int) -> int:
    """Copy the rows in and insert those that are not duplicates; return how many were new."""
    staged = _staged(rows)
    conn.execute(f"DROP TABLE IF EXISTS {_STAGE}").fetchall()
    conn.ingest(_STAGE, staged)
    own = [c for c in (*TEXT_COLUMNS, *FLOAT_COLUMNS, "src_row") if c in staged.column_names]
    marking = (
        "coalesce(releasable_to, $2::text)"
        if "releasable_to" in staged.column_names
        else "$2::text"
    )
    names = ", ".join(own)
    inserted = conn.execute(
        f"WITH added AS (INSERT INTO detections (geom, time_us, {names}, owner, "
        "releasable_to, upload_id, operation) "
        f"SELECT ST_SetSRID(ST_MakePoint(lon + 0.0, lat + 0.0), 4326), time_us, {names}, "
        f"$1::text, {marking}, $3::bigint, $4::text FROM {_STAGE} ORDER BY ord "
        "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM added",
        (audit.owner, audit.marking, upload_id, audit.operation or DEFAULT_OPERATION),
    ).scalar()
    conn.execute(f"DROP TABLE {_STAGE}").fetchall()
    return int(inserted)
