"""Uploads into a PostGIS store: one transaction, all or nothing, as the GeoPackage's.

The rows, without the file's own duplicates, go in with the driver's bulk ingest (binary
``COPY`` of Arrow columns into a temporary table), then one ``INSERT ... SELECT ... ORDER BY``
into ``detections``: day by day (UTC), each day in file order (``fid`` numbers them so), the
rows the partner stored already left out, so the first row of a detection stays as the
GeoPackage keeps it. A small upload finds those by the unique duplicate keys (``ON CONFLICT
DO NOTHING``); one at least as big as the store by anti-joins, and rebuilds the indexes
afterwards (:mod:`geo.store.postgres.bulk`, which also says what each locks). The
transaction states the uploading partner as its viewer (row-level security lets it write its
own rows only) and takes the store's write lock (uploads commit in the order of their ids).
The upload's groups go into the hourly summary (:mod:`geo.store.hours`) and its rows into
the map's current bins (:mod:`geo.store.postgres.bins_keep`) in the same transaction.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from geo.core.errors import ValidationError, describe
from geo.store import hours
from geo.store.postgres import bins_keep
from geo.store.postgres.bulk import (
    REBUILD_MIN_ROWS,
    TEMP_BUFFERS,
    WORK_MEM,
    drop_found_rows,
    drop_indexes,
    rebuild,
    stored_rows,
)
from geo.store.postgres.connection import PgConnection, connect
from geo.store.postgres.dialect import to_postgres
from geo.store.postgres.schema import WRITE_LOCK, prepare
from geo.store.results import Audit, IngestResult, upload_errors
from geo.store.rows import Rows, day_order, first_rows, subset
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
        # before the session's first temporary table: the staged rows stay in memory
        conn.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'").fetchall()
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
            to_postgres(audit.INSERT_SQL), audit.insert_values(rows.file_markings, rows.notes)
        ).scalar()
    )
    accepted = _insert_rows(conn, rows, audit, upload_id) if rows.n else 0
    if accepted:  # the upload's groups into the hourly summary (geo.store.hours)
        conn.execute(
            hours.add_sql(
                "upload_id = $1::bigint",
                upload=(upload_id, audit.operation or DEFAULT_OPERATION, audit.owner),
            ),
            (upload_id,),
        ).fetchall()
    # the map's bins (geo.store.postgres.bins_keep), before last_upload moves on
    bins_keep.keep_upload(conn, upload_id, audit.operation or DEFAULT_OPERATION)
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


def _firsts(rows: Rows) -> Rows:
    """The rows without the file's own duplicates (:func:`first_rows`, the first one kept).

    When every row has a detection id and no id repeats, no row is a duplicate: Arrow's
    hash count says so in a tenth of the time :func:`first_rows` takes to say it.
    """
    ids = rows.texts.get("detection_id")
    if ids is not None and not ids.isna().any():
        array = pa.array(ids, type=pa.string())
        if len(array.unique()) == len(array):
            return rows
    return subset(rows, first_rows(rows))


def _staged(rows: Rows) -> pa.Table:
    """The rows as Arrow columns in the order they are stored (``ord``): by day, file order."""
    _, order = day_order(rows.time_us)
    data: dict[str, pa.Array] = {"ord": pa.array(np.arange(rows.n, dtype=np.int64))}
    for name in ("time_us", "lon", "lat", "src_row", *FLOAT_COLUMNS):
        if name in rows.numbers:
            data[name] = pa.array(np.asarray(rows.numbers[name])[order])
    take = None if (order == np.arange(rows.n)).all() else pa.array(order)  # a sorted file
    for name, values in rows.texts.items():
        array = pa.array(values, type=pa.string())
        data[name] = array if take is None else array.take(take)
    return pa.table(data)


def _insert_rows(conn: PgConnection, rows: Rows, audit: Audit, upload_id: int) -> int:
    """Copy the rows in and insert those that are not duplicates; return how many were new.

    The file's own duplicates are left out before the copy; the partner's stored rows by the
    unique keys (incremental) or by anti-joins (rebuild), see :mod:`geo.store.postgres.bulk`.
    """
    firsts = _firsts(rows)
    staged = _staged(firsts)
    operation = audit.operation or DEFAULT_OPERATION
    conn.execute(f"DROP TABLE IF EXISTS {_STAGE}").fetchall()
    conn.ingest(_STAGE, staged)
    conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'").fetchall()
    remake = None
    if firsts.n >= max(REBUILD_MIN_ROWS, stored := stored_rows(conn)):
        if stored > 0:
            drop_found_rows(conn, _STAGE, staged.column_names, audit.owner, operation)
        remake = drop_indexes(conn)
    own = [c for c in (*TEXT_COLUMNS, *FLOAT_COLUMNS, "src_row") if c in staged.column_names]
    marking = (
        "coalesce(releasable_to, $2::text)"
        if "releasable_to" in staged.column_names
        else "$2::text"
    )
    names = ", ".join(own)
    insert = (
        f"INSERT INTO detections (geom, time_us, {names}, owner, releasable_to, upload_id, "
        f"operation) SELECT ST_SetSRID(ST_MakePoint(lon + 0.0, lat + 0.0), 4326), time_us, "
        f"{names}, $1::text, {marking}, $3::bigint, $4::text FROM {_STAGE} ORDER BY ord"
    )
    params = (audit.owner, audit.marking, upload_id, operation)
    if remake is None:  # the unique keys find the stored duplicates; count what went in
        added = f"WITH added AS ({insert} ON CONFLICT DO NOTHING RETURNING 1)"
        inserted = conn.execute(f"{added} SELECT count(*) FROM added", params).scalar()
    else:  # no duplicate is left in the stage: every row goes in (RETURNING costs 0.6 µs a row)
        inserted = conn.execute(f"SELECT count(*) FROM {_STAGE}").scalar()
        conn.execute(insert, params).fetchall()
        rebuild(conn, remake)
    conn.execute(f"DROP TABLE {_STAGE}").fetchall()
    return int(inserted)
