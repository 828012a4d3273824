"""The operations kept in the store: their records, every version of their layers, their DEMs.

Plain values in and out (dicts, bytes, GeoDataFrames): what an operation means is
:mod:`geo.operations`'s business. A layer version is the checked layer (EPSG:4326) as
GeoParquet bytes; versions of a layer count from 1 and never change once written. Every
write is one transaction: all of it lands, or nothing.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> border = gpd.GeoDataFrame({"name": ["b"]}, geometry=[LineString([(25, 54), (26, 54)])],
...                           crs="EPSG:4326")
>>> sensors = gpd.GeoDataFrame({"sensor_id": ["S1"]}, geometry=[Point(25.5, 54)],
...                            crs="EPSG:4326")
>>> with tempfile.TemporaryDirectory() as tmp:
...     store = Path(tmp) / "limes.gpkg"
...     put_operation(store, {"name": "op1", "partners": []},
...                   {"border": border, "sensors": sensors})
...     later = put_layer_version(store, "op1", "sensors", sensors, note="same again")
...     frame, version = operation_layer(store, "op1", "sensors")
...     names = [r["name"] for r in operation_records(store)]
1
>>> later, version, len(frame), names
(2, 2, 1, ['op1'])
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import geopandas as gpd
import pandas as pd

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.store.audit import _insert_event as insert_event
from geo.store.connection import Connection, write_transaction
from geo.store.location import postgres_url, sqlite_path
from geo.store.opening import open_store, opened_for_reading
from geo.store.postgres import dialect as pg_dialect
from geo.store.postgres.dialect import SqliteStyle
from geo.store.schema import NOW, has_operations

__all__ = [
    "LAYERS",
    "Layer",
    "layer_versions",
    "operation_dem",
    "operation_layer",
    "operation_record",
    "operation_records",
    "put_dem_version",
    "put_layer_version",
    "put_operation",
    "set_operation_partners",
]

#: The layers an operation keeps, each in versions.
Layer = Literal["border", "sectors", "sensors"]
LAYERS: tuple[Layer, ...] = ("border", "sectors", "sensors")

#: The columns of the ``operations`` table a record holds, in order.
_RECORD_COLUMNS = (
    "name",
    "title",
    "description",
    "partners",
    "corridor_km",
    "min_gap_m",
    "period_start",
    "period_end",
    "timezone",
    "created_at",
    "created_by",
)


def _layer_bytes(frame: gpd.GeoDataFrame, where: str) -> bytes:
    """The layer as GeoParquet bytes (EPSG:4326 only: the checked layers are)."""
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise ValidationError(
            describe(
                where, "not in EPSG:4326", expected="a checked layer (EPSG:4326)", got=frame.crs
            )
        )
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def _check_layer(layer: str) -> Layer:
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    return layer


#: A connection to either back-end that takes the portable SQL of this module.
AnyConnection = Connection | SqliteStyle


@contextlib.contextmanager
def _reading(path: str | os.PathLike[str]) -> Iterator[AnyConnection | None]:
    """The store for reading (None: a GeoPackage that does not exist yet)."""
    url = postgres_url(path)
    if url is not None:
        with pg_dialect.reading(url) as pg_conn:
            yield pg_conn
        return
    with opened_for_reading(path) as conn:
        yield conn


def _has_operations(conn: AnyConnection) -> bool:
    return isinstance(conn, SqliteStyle) or has_operations(conn)


@contextlib.contextmanager
def _writing(path: str | os.PathLike[str]) -> Iterator[AnyConnection]:
    """The store, opened (created on first use) for one write transaction."""
    url = postgres_url(path)
    if url is not None:
        with pg_dialect.writing(url) as pg_conn:
            yield pg_conn
        return
    store = sqlite_path(path)
    conn = open_store(store)
    try:
        with write_transaction(
            conn,
            store,
            fix="Nothing was stored; fix that and try again",
            refused="cannot write the store",
            refused_fix="Nothing was stored; fix that and try again",
        ):
            yield conn
    finally:
        conn.close()


def _no_operation(store: object, name: str) -> ValidationError:
    return ValidationError(
        describe(
            str(store),
            "no such operation",
            field="operation",
            expected="an operation in the store (python -m geo operation list)",
            got=name,
            fix="Check the name, or create the operation first",
        )
    )


def _insert_layer(
    conn: AnyConnection,
    name: str,
    layer: Layer,
    frame: gpd.GeoDataFrame,
    *,
    user: str | None,
    note: str | None,
) -> int:
    """Write the next version of ``layer`` in the open transaction; return its number."""
    data = _layer_bytes(frame, f"{name} {layer}")
    version = 1 + int(
        conn.execute(
            "SELECT ifnull(max(version), 0) FROM operation_layers "
            "WHERE operation = ? AND layer = ?",
            (name, layer),
        ).scalar()
    )
    conn.execute(
        "INSERT INTO operation_layers (operation, layer, version, created_by, note, features, "
        "sha256, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (name, layer, version, user, note, len(frame), hashlib.sha256(data).hexdigest(), data),
    )
    return version


def _touch(conn: AnyConnection, *tables: str) -> None:
    """Mark the tables changed in ``gpkg_contents`` (a GeoPackage's)."""
    if isinstance(conn, SqliteStyle):
        return
    for table in tables:
        conn.execute(f"UPDATE gpkg_contents SET last_change = {NOW} WHERE table_name = ?", (table,))


def put_operation(
    path: str | os.PathLike[str],
    record: Mapping[str, Any],
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    dem: tuple[str, bytes] | None = None,
    user: str | None = None,
) -> int:
    """Store a new operation with version 1 of its layers (and its DEM), in one transaction.

    Parameters
    ----------
    path
        The store (created on first use).
    record
        ``name`` (checked by the caller), and optionally ``title``, ``description``,
        ``partners`` (JSON-able, e.g. a list of ``{"id", "name", "colour"}``),
        ``corridor_km``, ``min_gap_m``, ``period_start``, ``period_end`` (ISO 8601 text or
        None) and ``timezone``.
    layers
        ``border`` and ``sensors`` (required) and ``sectors``: checked layers in EPSG:4326.
    dem
        The terrain model's file name and bytes, or None.
    user
        Who creates it (kept with the record and each layer version).

    Returns
    -------
    int
        The layers' version: 1.

    Raises
    ------
    ValidationError
        The store holds an operation of that name already (nothing is stored), a required
        layer is missing, or the store cannot be written.
    """
    name = str(record["name"])
    for layer in ("border", "sensors"):
        if layers.get(layer) is None:
            raise ValidationError(
                describe(name, f"no {layer} layer", expected=f"a {layer} file", got="none")
            )
    for layer in layers:
        _check_layer(layer)
    with _writing(path) as conn:
        _insert_record(conn, path, record, user)
        for layer, frame in layers.items():
            if frame is not None:
                _insert_layer(conn, name, _check_layer(layer), frame, user=user, note="created")
        if dem is not None:
            file_name, data = dem
            conn.execute(
                "INSERT INTO operation_dems (operation, version, created_by, file_name, sha256, "
                "data) VALUES (?, 1, ?, ?, ?, ?)",
                (name, user, file_name, hashlib.sha256(data).hexdigest(), data),
            )
        _touch(conn, "operations", "operation_layers", *(["operation_dems"] if dem else []))
    return 1


def _insert_record(
    conn: AnyConnection, path: str | os.PathLike[str], record: Mapping[str, Any], user: str | None
) -> None:
    """Write a new operation's record in the open transaction; refuse a name it has."""
    name = str(record["name"])
    if conn.execute("SELECT 1 FROM operations WHERE name = ?", (name,)).fetchone():
        raise ValidationError(
            describe(
                str(path),
                "an operation of that name exists already",
                field="operation",
                expected="a new name",
                got=name,
                fix="Nothing was stored. Choose another name, or store new sensors with "
                "python -m geo operation sensors",
            )
        )
    conn.execute(
        "INSERT INTO operations (name, title, description, partners, corridor_km, "
        "min_gap_m, period_start, period_end, timezone, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            str(record.get("title") or ""),
            str(record.get("description") or ""),
            json.dumps(record.get("partners") or [], ensure_ascii=False),
            float(record.get("corridor_km", settings.CORRIDOR_KM)),
            float(record.get("min_gap_m", settings.MIN_GAP_M)),
            record.get("period_start"),
            record.get("period_end"),
            str(record.get("timezone") or "UTC"),
            user,
        ),
    )


def put_layer_version(
    path: str | os.PathLike[str],
    name: str,
    layer: str,
    frame: gpd.GeoDataFrame,
    *,
    user: str | None = None,
    note: str | None = None,
) -> int:
    """Store the next version of one layer of an operation; return its version number.

    ``note`` is kept with it (the audit: what changed). Raises :class:`ValidationError`
    for an operation the store does not have (nothing is stored).
    """
    checked = _check_layer(layer)
    with _writing(path) as conn:
        if not conn.execute("SELECT 1 FROM operations WHERE name = ?", (name,)).fetchone():
            raise _no_operation(path, name)
        version = _insert_layer(conn, name, checked, frame, user=user, note=note)
        _touch(conn, "operation_layers")
    return version


def put_dem_version(
    path: str | os.PathLike[str],
    name: str,
    dem: tuple[str, bytes],
    *,
    user: str | None = None,
) -> int:
    """Store the next version of an operation's terrain model; return its version number.

    ``dem``: the file name and bytes (checked by the caller). The versions before it stay in
    the store; :func:`operation_dem` gives the latest. Raises :class:`ValidationError` for an
    operation the store does not have (nothing is stored).
    """
    file_name, data = dem
    with _writing(path) as conn:
        if not conn.execute("SELECT 1 FROM operations WHERE name = ?", (name,)).fetchone():
            raise _no_operation(path, name)
        version = 1 + int(
            conn.execute(
                "SELECT ifnull(max(version), 0) FROM operation_dems WHERE operation = ?", (name,)
            ).scalar()
        )
        conn.execute(
            "INSERT INTO operation_dems (operation, version, created_by, file_name, sha256, "
            "data) VALUES (?, ?, ?, ?, ?, ?)",
            (name, version, user, file_name, hashlib.sha256(data).hexdigest(), data),
        )
        _touch(conn, "operation_dems")
    return version


def set_operation_partners(
    path: str | os.PathLike[str],
    name: str,
    partners: Sequence[Mapping[str, Any]],
    *,
    user: str | None = None,
    partner: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Replace the partners of an operation's record (their ids, names and colours); audited.

    One transaction writes the record and its audit row (action ``operation.partners``,
    target the operation): both land, or neither. The layers and their versions are
    untouched. What the partners must be (the same ids, checked names and colours) is
    :func:`geo.operations.update_partners`'s business.

    Parameters
    ----------
    path
        The store.
    name
        The operation.
    partners
        JSON-able, as :func:`put_operation` takes them: ``{"id", "name", "colour"}`` each.
    user, partner
        Who changes them, and the partner they work for (kept in the audit).
    detail
        What changed, JSON-able (the audit row's detail).

    Returns
    -------
    int
        The id of the audit row.

    Raises
    ------
    ValidationError
        The store has no such operation, or cannot be written (nothing changed then).
    """
    text = json.dumps([dict(p) for p in partners], ensure_ascii=False)
    # (opening a GeoPackage for writing would create it)
    if postgres_url(path) is None and not sqlite_path(path).exists():
        raise _no_operation(path, name)
    with _writing(path) as conn:
        if not conn.execute("SELECT 1 FROM operations WHERE name = ?", (name,)).fetchone():
            raise _no_operation(path, name)
        conn.execute("UPDATE operations SET partners = ? WHERE name = ?", (text, name))
        _touch(conn, "operations")
        return insert_event(
            conn,
            "operation.partners",
            user=user,
            partner=partner,
            operation=name,
            target=name,
            detail=detail,
        )


def _record(row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(_RECORD_COLUMNS, row, strict=True))
    record["partners"] = json.loads(record["partners"])
    return record


def operation_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every operation's record (the ``operations`` columns, ``partners`` parsed), by name.

    A store that does not exist yet, or one from before operations, has none.
    """
    with _reading(path) as conn:
        if conn is None or not _has_operations(conn):
            return []
        rows = conn.execute(
            f"SELECT {', '.join(_RECORD_COLUMNS)} FROM operations ORDER BY name"
        ).fetchall()
    return [_record(r) for r in rows]


def operation_record(path: str | os.PathLike[str], name: str) -> dict[str, Any] | None:
    """One operation's record, or None when the store does not have it.

    As :func:`operation_records`, with ``versions``: the latest version of each layer it has,
    and ``dem_version``: its latest DEM's (None without one).
    """
    with _reading(path) as conn:
        if conn is None or not _has_operations(conn):
            return None
        row = conn.execute(
            f"SELECT {', '.join(_RECORD_COLUMNS)} FROM operations WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        versions = conn.execute(
            "SELECT layer, max(version) FROM operation_layers WHERE operation = ? GROUP BY layer",
            (name,),
        ).fetchall()
        dem = conn.execute(
            "SELECT max(version) FROM operation_dems WHERE operation = ?", (name,)
        ).scalar()
    record = _record(row)
    record["versions"] = {layer: int(v) for layer, v in sorted(versions)}
    record["dem_version"] = None if dem is None else int(dem)
    return record


def operation_layer(
    path: str | os.PathLike[str], name: str, layer: str, version: int | None = None
) -> tuple[gpd.GeoDataFrame, int] | None:
    """A version of an operation's layer (default the latest) and its number.

    None when the operation has no such layer (e.g. no sectors). Raises
    :class:`ValidationError` for an operation the store does not have, or a version it does
    not hold.
    """
    checked = _check_layer(layer)
    with _reading(path) as conn:
        if (
            conn is None
            or not _has_operations(conn)
            or not conn.execute("SELECT 1 FROM operations WHERE name = ?", (name,)).fetchone()
        ):
            raise _no_operation(path, name)
        sql = "SELECT version, data FROM operation_layers WHERE operation = ? AND layer = ?"
        params: tuple[Any, ...] = (name, checked)
        if version is not None:
            sql, params = sql + " AND version = ?", (*params, int(version))
        row = conn.execute(sql + " ORDER BY version DESC LIMIT 1", params).fetchone()
    if row is None:
        if version is None:
            return None
        raise ValidationError(
            describe(
                str(path),
                f"no such {layer} version",
                field="version",
                expected=f"a version of {name}'s {layer} (python -m geo operation show {name})",
                got=version,
            )
        )
    return gpd.read_parquet(io.BytesIO(row[1])), int(row[0])


def layer_versions(path: str | os.PathLike[str], name: str, layer: str) -> pd.DataFrame:
    """The versions of one layer of an operation, oldest first.

    Columns ``version``, ``created_at``, ``created_by``, ``note``, ``features``; empty for an
    operation or layer the store does not have.
    """
    checked = _check_layer(layer)
    columns = ["version", "created_at", "created_by", "note", "features"]
    with _reading(path) as conn:
        rows = (
            []
            if conn is None or not _has_operations(conn)
            else conn.execute(
                f"SELECT {', '.join(columns)} FROM operation_layers WHERE operation = ? AND "
                "layer = ? ORDER BY version",
                (name, checked),
            ).fetchall()
        )
    return pd.DataFrame(rows, columns=columns)


def operation_dem(path: str | os.PathLike[str], name: str) -> tuple[str, bytes] | None:
    """The latest terrain model of an operation: its file name and bytes; None if it has none."""
    with _reading(path) as conn:
        if conn is None or not _has_operations(conn):
            return None
        row = conn.execute(
            "SELECT file_name, data FROM operation_dems WHERE operation = ? "
            "ORDER BY version DESC LIMIT 1",
            (name,),
        ).fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))
