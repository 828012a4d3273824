"""The audit: retracting and re-marking uploads, recording events, and the audit log.

An upload is retracted or re-marked by its owner (a user of the partner that uploaded it)
or an admin, each in one write transaction (:func:`~geo.store.connection.write_transaction`)
that also writes an ``audit`` row: all of it lands, or nothing.

- **Retracting** moves the upload's rows out of ``detections`` into
  ``retracted_detections`` as they were, and stamps the upload ``retracted_at`` /
  ``retracted_by``. No read serves them any more (the map, counts, exports, the command
  line), no duplicate key holds them (the partner may upload the detections again), and the
  upload's record, its rows and the retraction stay in the store: the audit keeps both
  records.
- **Re-marking** gives the upload and every one of its rows a new ``releasable_to`` (rows
  that kept a marking of their own from the file get the new one too: the owner decides
  for the whole upload). The audit row holds the marking before and after, and how many
  rows had which marking before.

Both change :func:`~geo.store.reading.version` (the app's cache key; see
:func:`~geo.store.reading.revision`). :func:`record_event` writes other events (sign-ins,
changes of users) and :func:`audit_log` reads them back with the uploads and the
operations' layer versions, newest first.

Examples
--------
>>> import tempfile
>>> from geo.core.settings import SAMPLE_DIR
>>> from geo.store.reading import visible_detections
>>> from geo.store.upload import ingest_file
>>> with tempfile.TemporaryDirectory() as tmp:
...     store = Path(tmp) / "limes.gpkg"
...     up = ingest_file(store, SAMPLE_DIR / "detections.csv", partner="LTU")
...     _ = mark_upload(store, up.upload_id, "LVA", user="ana", partner="LTU", is_admin=False)
...     lva = len(visible_detections(store, "LVA"))
...     _ = retract_upload(store, up.upload_id, user="root", partner="EU", is_admin=True)
...     after = len(visible_detections(store, ["LTU", "LVA"]))
...     actions = audit_log(store)["action"].tolist()
>>> lva, after, actions
(22000, 0, ['upload.retract', 'upload.mark', 'upload'])
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from geo.access.releasability import parse_releasability
from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.store import bins_keep, hours
from geo.store.connection import Connection, Kind, sql_text, write_transaction
from geo.store.location import postgres_url, sqlite_path
from geo.store.opening import open_store, opened_for_reading
from geo.store.postgres import bins_keep as pg_bins_keep
from geo.store.postgres import dialect as pg_dialect
from geo.store.postgres.dialect import SqliteStyle
from geo.store.schema import DEFAULT_OPERATION, NOW, has_audit, has_hours, has_operations

__all__ = ["AUDIT_COLUMNS", "audit_log", "mark_upload", "record_event", "retract_upload"]

#: The columns of :func:`audit_log`, in order.
AUDIT_COLUMNS = ("at", "user", "partner", "action", "operation", "target", "detail")

#: An action: lower-case words joined by dots (``upload.retract``, ``signin.failed``).
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_ACTION_MAX_CHARS = 64
#: Longest text kept of a user name, partner, operation or target (a failed sign-in records
#: what was typed as the user name).
_TEXT_MAX_CHARS = 256

#: The detections' columns, moved as they are into ``retracted_detections``.
_ROW_COLUMNS = (
    "fid, geom, time_us, detection_id, source, partner, class, confidence, access, caveat, "
    "hae_m, ce_m, le_m, owner, releasable_to, upload_id, src_row, operation"
)

#: How a retraction or re-marking that cannot be written ends its message.
_FAILURE = {
    "fix": "Nothing was changed; fix that and try again",
    "refused": "the store refused the change",
    "refused_fix": "Nothing was changed; undo what another tool changed in the store",
}


def _no_store(path: Path) -> ValidationError:
    return ValidationError(
        describe(
            str(path),
            "no such store",
            expected="an existing store",
            got="nothing at that path",
            fix="Check --store",
        )
    )


def _upload_id(upload_id: object) -> int:
    """A positive upload id (an int, or text of one)."""
    try:
        value = int(str(upload_id).strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise ValidationError(
            describe(
                "upload_id",
                "not an upload id",
                expected="a whole number above 0 (python -m geo uploads list shows them)",
                got=upload_id,
            )
        )
    return value


def _upload(conn: Connection | SqliteStyle, path: object, upload_id: int) -> dict[str, Any]:
    """The upload's record (partner, operation, marking, retraction), or a clear error."""
    if isinstance(conn, SqliteStyle):  # PostGIS: the current layout
        audited, operation = True, "operation"
    else:
        audited = has_audit(conn)
        operation = "operation" if has_operations(conn) else sql_text(DEFAULT_OPERATION)
    retracted = "retracted_at, retracted_by" if audited else "NULL, NULL"
    row = conn.execute(
        f"SELECT partner, {operation}, releasable_to, file_name, {retracted} FROM uploads "
        "WHERE upload_id = ?",
        (upload_id,),
    ).fetchone()
    if row is None:
        raise ValidationError(
            describe(
                str(path),
                "no such upload",
                field="upload_id",
                expected="the id of an upload in the store "
                "(python -m geo uploads list --as-partner P)",
                got=upload_id,
                fix="Nothing was changed",
            )
        )
    keys = ("owner", "operation", "releasable_to", "file_name", "retracted_at", "retracted_by")
    return dict(zip(keys, row, strict=True))


def _check_may_change(
    record: Mapping[str, Any],
    upload_id: int,
    what: str,
    *,
    user: str,
    partner: str,
    is_admin: bool,
) -> None:
    """Refuse a user who is neither of the upload's partner nor an admin, then a retracted upload.

    In that order: only who may change an upload learns when and by whom it was retracted.
    """
    if not is_admin and partner != record["owner"]:
        raise ValidationError(
            describe(
                f"upload {upload_id}",
                f"only the uploading partner or an admin may {what} it",
                expected=f"a user of partner {record['owner']} or an admin",
                got=f"user {user} of partner {partner}",
                fix=f"Nothing was changed. Ask a user of {record['owner']} or an admin",
            )
        )
    if record["retracted_at"] is not None:
        by = f" by {record['retracted_by']}" if record["retracted_by"] else ""
        raise ValidationError(
            describe(
                f"upload {upload_id}",
                "already retracted",
                expected="an upload whose rows are still served",
                got=f"retracted on {record['retracted_at']}{by}",
                fix="Nothing was changed",
            )
        )


@contextmanager
def _changing(
    path: str | os.PathLike[str],
    upload_id: object,
    what: str,
    *,
    user: str,
    partner: str,
    is_admin: bool,
) -> Iterator[tuple[Connection | SqliteStyle, int, dict[str, Any]]]:
    """The store in one write transaction, with the upload the user may change.

    The checks run first on a read (a refused change leaves even an older store's schema as
    it is), then again inside the transaction (another change may have come in between).
    """
    number = _upload_id(upload_id)
    url = postgres_url(path)
    if url is not None:
        with pg_dialect.changing(url) as pg_conn:
            record = _upload(pg_conn, pg_conn.conn.name, number)
            _check_may_change(record, number, what, user=user, partner=partner, is_admin=is_admin)
            yield pg_conn, number, record
            pg_dialect.changed(pg_conn)
        return
    store = sqlite_path(path)
    if not store.exists():
        raise _no_store(store)
    with opened_for_reading(store) as reading:
        assert reading is not None  # the store exists
        record = _upload(reading, store, number)
    _check_may_change(record, number, what, user=user, partner=partner, is_admin=is_admin)
    conn = open_store(store, create=False)
    try:
        with write_transaction(conn, store, **_FAILURE):
            record = _upload(conn, store, number)
            _check_may_change(record, number, what, user=user, partner=partner, is_admin=is_admin)
            yield conn, number, record
    finally:
        conn.close()


def _insert_event(
    conn: Connection | SqliteStyle,
    action: str,
    *,
    user: str | None,
    partner: str | None,
    operation: str | None,
    target: str | None,
    detail: Mapping[str, Any] | None,
) -> int:
    """Write one ``audit`` row in the open transaction; return its id."""
    text = None if detail is None else json.dumps(dict(detail), ensure_ascii=False, default=str)
    row_id = conn.execute(
        'INSERT INTO audit ("user", partner, action, operation, target, detail) '
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (
            _cut(user),
            _cut(partner),
            action,
            _cut(operation),
            _cut(target),
            text,
        ),
    ).scalar()
    if not isinstance(conn, SqliteStyle):  # a GeoPackage's contents
        conn.execute(f"UPDATE gpkg_contents SET last_change = {NOW} WHERE table_name = 'audit'")
    return int(row_id)


def _cut(text: object) -> str | None:
    return None if text is None else str(text)[:_TEXT_MAX_CHARS]


def _move_rows(conn: Connection | SqliteStyle, upload_id: int) -> int:
    """Move the upload's rows into ``retracted_detections``, as they are; return how many."""
    if isinstance(conn, SqliteStyle):
        pg_bins_keep.keep_change(conn.conn, upload_id)
        moved = pg_dialect.move_rows(conn, upload_id)
        conn.execute(hours.delete_sql("upload_id = ?"), (upload_id,))
        return moved
    conn.execute(
        f"INSERT INTO retracted_detections ({_ROW_COLUMNS}) SELECT {_ROW_COLUMNS} "
        "FROM detections WHERE upload_id = ? ORDER BY fid",
        (upload_id,),
    )
    moved = int(conn.execute("SELECT changes()").scalar())
    bins_keep.keep_change(conn, upload_id)
    conn.execute("DELETE FROM detections WHERE upload_id = ?", (upload_id,))
    if has_hours(conn):
        conn.execute(hours.delete_sql("upload_id = ?"), (upload_id,))
    conn.execute(
        f"UPDATE gpkg_contents SET last_change = {NOW} WHERE table_name IN "
        "('detections', 'detections_timed', 'retracted_detections', 'uploads')"
    )
    return moved


def _mark_rows(conn: Connection | SqliteStyle, upload_id: int, marking: str) -> dict[str, int]:
    """Give every row of the upload ``marking``; return how many had which marking before."""
    before = {
        str(m): int(n)
        for m, n in conn.execute(
            "SELECT releasable_to, count(*) FROM detections WHERE upload_id = ? "
            "GROUP BY releasable_to ORDER BY releasable_to",
            (upload_id,),
        ).fetchall()
    }
    if isinstance(conn, SqliteStyle):  # the map's bins
        pg_bins_keep.keep_change(conn.conn, upload_id, marking_to=marking)
    else:
        bins_keep.keep_change(conn, upload_id, marking_to=marking)
    conn.execute(
        "UPDATE detections SET releasable_to = ? WHERE upload_id = ?", (marking, upload_id)
    )
    if isinstance(conn, SqliteStyle) or has_hours(conn):  # the upload's groups, made anew
        conn.execute(hours.delete_sql("upload_id = ?"), (upload_id,))
        conn.execute(hours.add_sql("upload_id = ?"), (upload_id,))
    if not isinstance(conn, SqliteStyle):  # a GeoPackage's contents
        conn.execute(
            f"UPDATE gpkg_contents SET last_change = {NOW} WHERE table_name IN "
            "('detections', 'detections_timed', 'uploads')"
        )
    return before


def _recorded(
    conn: Connection | SqliteStyle,
    action: str,
    upload_id: int,
    record: Mapping[str, Any],
    detail: Mapping[str, Any],
    user: str,
    partner: str,
) -> dict[str, Any]:
    """Write the audit row of a change to an upload; return what the change did."""
    full = {"owner": record["owner"], "file_name": record["file_name"], **detail}
    audit_id = _insert_event(
        conn,
        action,
        user=user,
        partner=partner,
        operation=record["operation"],
        target=str(upload_id),
        detail=full,
    )
    return {"upload_id": upload_id, "action": action, "operation": record["operation"]} | {
        **full,
        "audit_id": audit_id,
    }


def retract_upload(
    path: str | os.PathLike[str],
    upload_id: int | str,
    *,
    user: str,
    partner: str,
    is_admin: bool,
) -> dict[str, Any]:
    """Retract an upload: its rows are served to nobody any more; the records stay.

    Parameters
    ----------
    path
        The store (an existing one).
    upload_id
        The upload (see :func:`geo.store.uploads`).
    user, partner
        Who retracts it, and the partner they work for (kept in the audit).
    is_admin
        Whether the user is an admin (who may retract any partner's upload).

    Returns
    -------
    dict
        ``upload_id``, ``action`` (``"upload.retract"``), ``owner``, ``operation``,
        ``file_name``, ``rows`` (rows retracted) and ``audit_id``.

    Raises
    ------
    ValidationError
        No such store or upload, an upload retracted already, a user who is neither of the
        uploading partner nor an admin ("only the uploading partner or an admin may retract
        it"), or a store that cannot be written. Nothing is changed then.
    """
    with _changing(path, upload_id, "retract", user=user, partner=partner, is_admin=is_admin) as (
        conn,
        number,
        record,
    ):
        rows = _move_rows(conn, number)
        now = "now()" if isinstance(conn, SqliteStyle) else NOW
        conn.execute(
            f"UPDATE uploads SET retracted_at = {now}, retracted_by = ? WHERE upload_id = ?",
            (_cut(user), number),
        )
        detail = {"rows": rows, "releasable_to": record["releasable_to"]}
        return _recorded(conn, "upload.retract", number, record, detail, user, partner)


def mark_upload(
    path: str | os.PathLike[str],
    upload_id: int | str,
    releasable_to: str | None,
    *,
    user: str,
    partner: str,
    is_admin: bool,
) -> dict[str, Any]:
    """Change an upload's releasability: the upload's marking and every one of its rows'.

    Parameters
    ----------
    path
        The store (an existing one).
    upload_id
        The upload (see :func:`geo.store.uploads`).
    releasable_to
        The new marking: ``"ALL"``, partner ids (``"LVA,POL"``), or ``None`` / empty for
        the owner only (checked as the analyst's marking of an upload is).
    user, partner, is_admin
        As for :func:`retract_upload`.

    Returns
    -------
    dict
        ``upload_id``, ``action`` (``"upload.mark"``), ``owner``, ``operation``,
        ``file_name``, ``before`` (the upload's marking before), ``after``, ``rows`` (the
        upload's rows, all now marked ``after``), ``rows_before`` (how many rows had which
        marking before) and ``audit_id``.

    Raises
    ------
    ValidationError
        An unknown marking, or as for :func:`retract_upload`. Nothing is changed then.
    """
    marking = parse_releasability(releasable_to, strict=True)
    with _changing(path, upload_id, "re-mark", user=user, partner=partner, is_admin=is_admin) as (
        conn,
        number,
        record,
    ):
        before = _mark_rows(conn, number, marking)
        conn.execute("UPDATE uploads SET releasable_to = ? WHERE upload_id = ?", (marking, number))
        detail = {
            "before": record["releasable_to"],
            "after": marking,
            "rows": sum(before.values()),
            "rows_before": before,
        }
        return _recorded(conn, "upload.mark", number, record, detail, user, partner)


def _check_event(action: str, detail: Mapping[str, Any] | None) -> None:
    """Refuse an action that is not lower-case words joined by dots, or a detail not JSON."""
    if len(action) > _ACTION_MAX_CHARS or not _ACTION.fullmatch(action):
        raise ValidationError(
            describe(
                "action",
                "not an audit action",
                expected="lower-case words joined by dots, e.g. signin.failed",
                got=action,
            )
        )
    if action in ("upload", "upload.retract", "upload.mark"):
        raise ValueError(f"{action!r} is written by the store itself, not by record_event")
    if detail is not None:
        try:
            json.dumps(dict(detail), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                describe("detail", "not JSON", expected="JSON-able values", got=str(exc))
            ) from exc


def record_event(
    path: str | os.PathLike[str],
    action: str,
    *,
    user: str | None,
    partner: str | None = None,
    operation: str | None = None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
    busy_timeout_s: float | None = None,
) -> int:
    """Write one event into the store's audit table (created on first use); return its id.

    Parameters
    ----------
    path
        The store (created, or upgraded, on first use).
    action
        What happened: lower-case words joined by dots, e.g. ``"signin"``,
        ``"signin.failed"``, ``"user.roles"`` (at most 64 characters). Uploads, retractions,
        re-markings and layer versions are recorded by the functions that make them.
    user, partner, operation, target
        Who did it, for which partner, in which operation, to what (text; at most 256
        characters of each are kept).
    detail
        More, JSON-able (kept as JSON text).
    busy_timeout_s
        How long to wait for an upload being written (default
        :data:`geo.core.settings.STORE_BUSY_TIMEOUT_S`; a sign-in waits less).

    Raises
    ------
    ValidationError
        An action that is not lower-case words joined by dots, a detail that is not
        JSON-able, or a store that cannot be written (busy, read-only, not a store).
    ValueError
        ``action`` is one of the actions the store's own functions write.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     store = Path(tmp) / "limes.gpkg"
    ...     _ = record_event(store, "signin", user="ana", partner="LTU")
    ...     log = audit_log(store)
    >>> log[["user", "partner", "action"]].values.tolist()
    [['ana', 'LTU', 'signin']]
    """
    _check_event(action, detail)
    timeout = settings.STORE_BUSY_TIMEOUT_S if busy_timeout_s is None else busy_timeout_s
    event = {"user": user, "partner": partner, "operation": operation, "target": target}
    url = postgres_url(path)
    if url is not None:
        with pg_dialect.writing(url, lock_timeout_s=timeout) as pg_conn:
            return _insert_event(pg_conn, action, **event, detail=detail)
    store = sqlite_path(path, "the audit log")
    conn = open_store(store, busy_timeout_s=timeout)
    try:
        with write_transaction(conn, store, **_FAILURE):
            return _insert_event(conn, action, **event, detail=detail)
    finally:
        conn.close()


#: The columns the audit log's union reads, and their kinds.
_LOG_COLUMNS: dict[str, Kind] = {
    **dict.fromkeys(AUDIT_COLUMNS, "text"),
    "kind": "integer",
    "id": "integer",
}


def _log_sources(conn: Connection) -> list[str]:
    """The SELECTs whose union is the audit log (each of :data:`_LOG_COLUMNS`)."""
    audited, operations = has_audit(conn), has_operations(conn)
    operation = "operation" if operations else sql_text(DEFAULT_OPERATION)
    # A retracted upload's detail says when and by whom (json_patch leaves out NULLs).
    retracted = (
        (
            "json_patch(",
            ", json_object('retracted_at', retracted_at, 'retracted_by', retracted_by))",
        )
        if audited
        else ("", "")
    )
    sources = [  # the first names the columns
        'SELECT uploaded_at AS at, uploaded_by AS "user", partner AS partner, '
        f"'upload' AS action, {operation} AS operation, CAST(upload_id AS TEXT) AS target, "
        f"{retracted[0]}json_object('file_name', file_name, 'format', format, 'rows_read', "
        "rows_read, 'accepted', accepted, 'rejected', rejected, 'duplicates', duplicates, "
        "'releasable_to', releasable_to, 'file_markings', file_markings, 'notes', notes)"
        f"{retracted[1]} AS detail, 1 AS kind, upload_id AS id FROM uploads"
    ]
    if operations:
        sources += [
            "SELECT created_at, created_by, NULL, 'operation.create', name, name, "
            "json_object('title', title, 'partners', CASE WHEN json_valid(partners) THEN "
            "json(partners) ELSE partners END, 'corridor_km', corridor_km, 'min_gap_m', "
            "min_gap_m, 'timezone', timezone), 0, id FROM operations",
            "SELECT created_at, created_by, NULL, 'layer.version', operation, "
            "layer || ' v' || version, json_object('layer', layer, 'version', version, "
            "'note', note, 'features', features, 'sha256', sha256), 2, id FROM operation_layers",
            "SELECT created_at, created_by, NULL, 'dem.version', operation, "
            "'dem v' || version, json_object('version', version, 'file_name', file_name, "
            "'sha256', sha256), 3, id FROM operation_dems",
        ]
    if audited:
        sources.append(
            'SELECT at, "user", partner, action, operation, target, detail, 4, id FROM audit'
        )
    return sources


def audit_log(
    path: str | os.PathLike[str], *, limit: int | None = None, operation: str | None = None
) -> pd.DataFrame:
    """The audit log: uploads, operations and their layer versions, and events; newest first.

    Parameters
    ----------
    path
        The store. A store that does not exist yet has an empty log.
    limit
        At most this many entries (the newest).
    operation
        Only entries of this operation (sign-ins belong to none).

    Returns
    -------
    pandas.DataFrame
        Columns ``at`` (datetime64[ms, UTC]), ``user``, ``partner``, ``action``,
        ``operation``, ``target``, ``detail`` (JSON text, or missing); text is pandas
        ``str``. Actions: ``upload`` (target: the upload id; detail: file name, rows read,
        accepted, rejected, duplicates, the marking and, once retracted, when and by
        whom), ``upload.retract`` and ``upload.mark`` (detail: the marking before and
        after), ``operation.create``, ``layer.version`` (target e.g. ``sensors v2``; detail:
        the layer, version, note and features), ``dem.version``, and the events of
        :func:`record_event` (``signin``, ``signin.failed``, ...).

    Raises
    ------
    ValidationError
        A ``limit`` below 0, or a file that is not a Limes store.

    Examples
    --------
    >>> list(audit_log("no-such-store.gpkg").columns)
    ['at', 'user', 'partner', 'action', 'operation', 'target', 'detail']
    """
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValidationError(
            describe("limit", "not a number of entries", expected="a whole number ≥ 0", got=limit)
        )
    url = postgres_url(path)
    with contextlib.nullcontext(None) if url is not None else opened_for_reading(path) as conn:
        if url is not None:
            rows = pg_dialect.audit_rows(url, limit=limit, operation=operation)
            raw = pa.table(
                {
                    name: pa.array([r[i] for r in rows], pa.string())
                    for i, name in enumerate(AUDIT_COLUMNS)
                }
            )
        elif conn is None:
            raw = pa.table({name: pa.array([], pa.string()) for name in AUDIT_COLUMNS})
        else:
            # The newest entries (a subquery: fetch_arrow's source takes no ORDER BY), put in
            # order again here.
            union = " UNION ALL ".join(_log_sources(conn))
            where = "" if operation is None else f" WHERE operation = {sql_text(str(operation))}"
            newest = f"ORDER BY at DESC, kind DESC, id DESC LIMIT {-1 if limit is None else limit}"
            raw = conn.fetch_arrow(_LOG_COLUMNS, f"FROM (SELECT * FROM ({union}){where} {newest})")
            raw = raw.sort_by([("at", "descending"), ("kind", "descending"), ("id", "descending")])
    frame = pd.DataFrame(
        {
            name: pd.Series(pd.array(raw[name].cast(pa.large_string()), dtype="str"))
            for name in AUDIT_COLUMNS
        }
    )
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601").astype(
        "datetime64[ms, UTC]"
    )
    return frame
