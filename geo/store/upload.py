"""Uploads: a detection file or loaded detections into the store, as one audit record.

:func:`ingest_file` reads and checks a file in a child process (:mod:`geo.inputs.bounded`)
while it is hashed here; :func:`ingest` writes the rows (:func:`geo.store.bulk.insert_rows`)
and the upload's audit record in one transaction.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import geopandas as gpd

from geo.access.releasability import check_partner, parse_releasability
from geo.core.errors import ValidationError, describe
from geo.core.settings import store_name
from geo.store import bulk
from geo.store.connection import Connection, write_transaction
from geo.store.location import postgres_url, sqlite_path
from geo.store.opening import open_store
from geo.store.postgres import upload as pg_upload
from geo.store.results import Audit, IngestResult, upload_errors
from geo.store.rows import Rows, prepare_rows
from geo.store.schema import DEFAULT_OPERATION, NOW

__all__ = ["IngestResult", "ingest", "ingest_file"]

#: How an upload that cannot be written ends its message (see ``write_transaction``).
_UPLOAD_FAILURE = {
    "fix": "Nothing was added; fix that and upload the file again",
    "refused": "the store refused the upload",
    "refused_fix": "Nothing was added; undo what another tool changed in the store, or upload "
    "into a new one",
}


def ingest(
    path: str | os.PathLike[str],
    detections: gpd.GeoDataFrame | Mapping[str, Any],
    report: Any,
    *,
    file_name: str,
    sha256: str,
    partner: str,
    releasable_to: str | None = None,
    user: str | None = None,
    busy_timeout_s: float | None = None,
    operation: str = DEFAULT_OPERATION,
) -> IngestResult:
    """Add loaded detections to the store as one upload: all of it or nothing.

    Parameters
    ----------
    path
        The store (created on first use): a GeoPackage path, or a PostgreSQL URL
        (``postgresql://user@host:port/db``, see :mod:`geo.store`).
    detections
        Rows from :func:`geo.inputs.loader.read_detections` (EPSG:4326 points with ``time``; the
        optional columns are stored when present; ``releasable_to`` is the row's own
        marking), or the columns of :func:`geo.inputs.loader.read_detection_columns`. Not modified.
    report
        Its :class:`geo.inputs.loader.LoadReport` (rows read, rejected rows and why, format).
    file_name
        The file's name as the user knows it (audit log).
    sha256
        Hex SHA-256 of the file's bytes: the same partner uploading the same file again adds
        nothing.
    partner
        The partner that owns the rows (a partner id).
    releasable_to
        The marking for rows without their own: ``"ALL"`` or partner ids such as
        ``"LVA,POL"``; ``None`` (default) or empty: the owner only.
    user
        Who uploads (audit log).
    busy_timeout_s
        How long to wait for another upload to finish (default
        :data:`geo.core.settings.STORE_BUSY_TIMEOUT_S`).
    operation
        The operation the rows belong to (default the sample,
        :data:`~geo.store.schema.DEFAULT_OPERATION`); any other must be in the store.
        Duplicates are matched within one operation.

    Returns
    -------
    IngestResult

    Raises
    ------
    ValidationError
        Invalid partner or marking, an operation the store does not have, rows that did not
        come from the loader (no time, not EPSG:4326 points), a store that is not a Limes
        store, or a store that stayed busy (nothing written: retry).
    """
    owner = check_partner(partner, "partner")
    marking = parse_releasability(releasable_to, strict=True)
    _check_sha256(sha256)
    rows = prepare_rows(detections, file_name, marking)
    rejected = len(getattr(report, "rejected", []))
    rows_read = int(getattr(report, "rows_read", rows.n + rejected))
    audit = Audit(
        file_name, sha256, owner, marking, user, report, rows_read, rejected, str(operation)
    )
    url = postgres_url(path)
    if url is not None:
        return pg_upload.ingest_rows(url, rows, audit, busy_timeout_s=busy_timeout_s)
    store = sqlite_path(path)
    if audit.operation != DEFAULT_OPERATION and not store.exists():
        raise _no_operation(store, audit.operation)  # and no store is created
    conn = open_store(store, busy_timeout_s=busy_timeout_s)
    try:
        _check_no_triggers(conn, store)
        with write_transaction(conn, store, **_UPLOAD_FAILURE):
            _check_operation(conn, store, audit.operation)
            return _write_upload(conn, rows, audit)
    finally:
        conn.close()


def _check_sha256(sha256: str) -> None:
    """Refuse what is not a hex SHA-256 digest."""
    if not re.fullmatch(r"[0-9a-f]{64}", str(sha256)):
        raise ValidationError(
            describe(
                "sha256", "not a SHA-256 digest", expected="64 lower-case hex digits", got=sha256
            )
        )


def _check_no_triggers(conn: Connection, path: Path) -> None:
    """Refuse a store whose detections table has triggers another tool added.

    GDAL and QGIS keep a GeoPackage spatial index up to date with triggers that call their
    own SQL functions (``ST_IsEmpty``, ``ST_MinX`` ...), which Limes's SQLite does not have:
    every insert would fail. Limes needs no spatial index (queries go by partner and time).
    """
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'detections' "
            "ORDER BY name"
        ).fetchall()
    ]
    if names:
        spatial = any(n.startswith("rtree_detections_") for n in names)
        raise ValidationError(
            describe(
                str(path),
                "the detections table has triggers another tool added"
                + (" (a GDAL/QGIS spatial index)" if spatial else ""),
                expected="no triggers on detections (uploads cannot run them)",
                got=names,
                fix=(
                    "Nothing was added. Remove the spatial index, e.g. ogrinfo STORE -sql "
                    "\"SELECT DisableSpatialIndex('detections', 'geom')\", then upload again"
                    if spatial
                    else "Nothing was added. Drop those triggers, then upload again"
                ),
            )
        )


def _check_operation(conn: Connection, store: Path, operation: str) -> None:
    """Refuse an operation the store does not have (the sample's rows need no record)."""
    if operation == DEFAULT_OPERATION:
        return
    found = conn.execute("SELECT 1 FROM operations WHERE name = ?", (operation,)).fetchone()
    if found is None:
        raise _no_operation(store, operation)


def _no_operation(store: Path, operation: str) -> ValidationError:
    return ValidationError(
        describe(
            str(store),
            "no such operation",
            field="operation",
            expected="an operation in the store (python -m geo operation list)",
            got=operation,
            fix="Nothing was added. Create the operation first, or check its name",
        )
    )


def _write_upload(conn: Connection, rows: Rows, audit: Audit) -> IngestResult:
    """The upload in the open transaction: its audit record, then its rows.

    A file the partner uploaded before (same SHA-256) adds nothing and names that upload.
    """
    earlier = _earlier_upload(conn, rows, audit)
    if earlier is not None:
        return earlier
    upload_id = int(
        conn.execute(audit.INSERT_SQL, audit.insert_values(rows.file_markings, rows.notes)).scalar()
    )
    accepted = bulk.insert_rows(
        conn,
        rows,
        owner=audit.owner,
        marking=audit.marking,
        upload_id=upload_id,
        source=audit.file_name,
        operation=audit.operation,
    )
    duplicates = rows.n - accepted
    conn.execute(
        "UPDATE uploads SET accepted = ?, duplicates = ? WHERE upload_id = ?",
        (accepted, duplicates, upload_id),
    )
    _update_contents(conn, rows.bounds if accepted else None)
    return IngestResult(
        upload_id=upload_id,
        accepted=accepted,
        rejected=audit.rejected,
        duplicates=duplicates,
        errors=upload_errors(audit.report),
        releasable_to=audit.marking,
        file_markings=rows.file_markings,
        notes=list(rows.notes),
    )


def _earlier_upload(conn: Connection, rows: Rows, audit: Audit) -> IngestResult | None:
    """The result for a file the partner uploaded before (same SHA-256), else None.

    A retracted upload does not count: the file may be uploaded again.
    """
    earlier = conn.execute(
        "SELECT upload_id, uploaded_at, uploaded_by FROM uploads WHERE partner = ? AND "
        "sha256 = ? AND operation = ? AND retracted_at IS NULL ORDER BY upload_id LIMIT 1",
        (audit.owner, audit.sha256, audit.operation),
    ).fetchone()
    if earlier is None:
        return None
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


def _update_contents(conn: Connection, bounds: tuple[float, float, float, float] | None) -> None:
    """Update the layers' extent (``bounds``: of the rows added, if any) and last change."""
    if bounds is not None:
        conn.execute(
            "UPDATE gpkg_contents SET min_x = min(ifnull(min_x, ?1), ?1), "
            "min_y = min(ifnull(min_y, ?2), ?2), max_x = max(ifnull(max_x, ?3), ?3), "
            f"max_y = max(ifnull(max_y, ?4), ?4), last_change = {NOW} "
            "WHERE table_name IN ('detections', 'detections_timed')",
            bounds,
        )
    conn.execute(f"UPDATE gpkg_contents SET last_change = {NOW} WHERE table_name = 'uploads'")


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(
    path: str | os.PathLike[str],
    file: str | os.PathLike[str],
    *,
    partner: str,
    releasable_to: str | None = None,
    user: str | None = None,
    file_name: str | None = None,
    busy_timeout_s: float | None = None,
    operation: str = DEFAULT_OPERATION,
) -> IngestResult:
    """Validate a detection file and add it to the store (see :func:`ingest`).

    Parameters
    ----------
    path
        The store (created on first use): a GeoPackage path, or a PostgreSQL URL
        (``postgresql://user@host:port/db``, see :mod:`geo.store`).
    file
        The detection file, any format :func:`geo.inputs.loader.read_detections` reads.
    partner, releasable_to, user, busy_timeout_s, operation
        As for :func:`ingest`.
    file_name
        The name the user gave the file (e.g. of a browser upload saved to a temporary
        file); picks the format and is logged. Default: ``file``'s name.

    Returns
    -------
    IngestResult

    Raises
    ------
    ValidationError
        The whole file is refused (unreadable, no usable row, ...), or as for
        :func:`ingest`. Nothing is written then.
    """
    check_partner(partner, "partner")
    parse_releasability(releasable_to, strict=True)
    store_name(path)  # a store name Limes can use, before the file is read
    file = Path(file)
    name = Path(file_name).name if file_name else file.name
    detections, report, digest = _read_file(file, name)
    return ingest(
        path,
        detections,
        report,
        file_name=name,
        sha256=digest,
        partner=partner,
        releasable_to=releasable_to,
        user=user,
        busy_timeout_s=busy_timeout_s,
        operation=operation,
    )


def _read_file(file: Path, name: str) -> tuple[dict[str, Any], Any, str]:
    """A detection file's checked columns, its load report and its SHA-256.

    The file is read and checked in a child process with memory and time limits
    (:mod:`geo.inputs.bounded`), and hashed here on a second thread meanwhile.
    """
    from geo.inputs.bounded import read_detection_columns

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="limes-sha256") as pool:
        digest = pool.submit(_sha256, file)
        detections, report = read_detection_columns(file, source_name=name)
        return detections, report, digest.result()
