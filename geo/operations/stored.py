"""Operations kept in the store: created from files, listed, loaded, exported, versioned.

The files are read and checked as ``python -m geo analyse`` reads them (:mod:`geo.inputs`); the
store keeps the checked layers (:mod:`geo.store.operation_tables`). A new sensor table becomes a
new version with what changed in its audit note; two versions compare as
:func:`geo.operations.changes.sensor_changes` and :func:`~geo.operations.changes.coverage_change`.

Examples
--------
>>> import tempfile
>>> from geo.core.settings import SAMPLE_DIR
>>> with tempfile.TemporaryDirectory() as tmp:
...     created = create_operation(Path(tmp) / "limes.gpkg", Operation("demo"),
...                                border=SAMPLE_DIR / "border.geojson",
...                                sensors=SAMPLE_DIR / "sensors.csv")
>>> created["version"], created["border_km"], created["partners"]
(1, 428.347109, ['EU', 'LTU', 'LVA', 'POL'])
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import store
from geo.core.errors import ValidationError, describe
from geo.coverage import analyse
from geo.coverage.border import prepare_border
from geo.coverage.report import km
from geo.export import write_csv
from geo.inputs import LoadReport, read_border, read_sectors, read_sensors
from geo.operations.changes import coverage_change, sensor_changes
from geo.operations.model import Operation, Partner, check_name, parse_colour
from geo.terrain import open_dem

__all__ = [
    "StoredOperation",
    "create_operation",
    "diff",
    "export_operation",
    "list_operations",
    "load_operation",
    "operation_summary",
    "replace_layer",
    "save_sensors",
    "update_partners",
]

Source = str | os.PathLike[str]

#: The layers :func:`replace_layer` replaces (sensors get versions by :func:`save_sensors`).
Replaceable = Literal["border", "sectors", "dem"]
_READERS: dict[str, Callable[[Source], tuple[gpd.GeoDataFrame, LoadReport]]] = {
    "border": read_border,
    "sectors": read_sectors,
}


@dataclass(frozen=True)
class StoredOperation:
    """An operation loaded from the store: its description and one version of its layers."""

    operation: Operation
    border: gpd.GeoDataFrame
    sensors: gpd.GeoDataFrame
    sectors: gpd.GeoDataFrame | None
    sensors_version: int
    dem: tuple[str, bytes] | None = None


def border_km(border: gpd.GeoDataFrame) -> float:
    """The border's geodesic length in km, as ``analyse`` reports ``border.length_km``."""
    return km(float(prepare_border(border).length_m.sum()))


def _partners_from_sensors(sensors: gpd.GeoDataFrame) -> tuple[Partner, ...]:
    """The partners named in the sensors' ``partner`` column (display name = id)."""
    if "partner" not in sensors:
        return ()
    ids = sorted({str(p) for p in sensors["partner"].dropna() if str(p).strip()})
    return tuple(Partner(pid, pid) for pid in ids)


def _check_sensor_partners(sensors: gpd.GeoDataFrame, ids: list[str], source: str) -> None:
    """Refuse a sensor whose partner does not take part in the operation."""
    if "partner" not in sensors:
        return
    for partner, row in zip(sensors["partner"], sensors["src_row"], strict=True):
        if isinstance(partner, str) and partner and partner not in ids:
            raise ValidationError(
                describe(
                    source,
                    "the sensor's partner does not take part in the operation",
                    row=int(row),
                    field="partner",
                    expected=f"one of {', '.join(ids)}",
                    got=partner,
                    fix="Add the partner to the partners file, or correct the sensor",
                )
            )


def _record(op: Operation) -> dict[str, Any]:
    """What the store keeps of an operation's description."""
    start, end = op.period
    return {
        "name": op.name,
        "title": op.title,
        "description": op.description,
        "partners": [p.to_dict() for p in op.partners],
        "corridor_km": op.corridor_km,
        "min_gap_m": op.min_gap_m,
        "period_start": None if start is None else start.isoformat(),
        "period_end": None if end is None else end.isoformat(),
        "timezone": op.timezone,
    }


def _operation(record: dict[str, Any]) -> Operation:
    """An :class:`Operation` from the store's record."""
    partners = tuple(
        Partner(p["id"], p.get("name") or p["id"], parse_colour(p.get("colour"), "colour"))
        for p in record["partners"]
    )
    return Operation(
        name=record["name"],
        title=record["title"],
        description=record["description"],
        partners=partners,
        corridor_km=float(record["corridor_km"]),
        min_gap_m=float(record["min_gap_m"]),
        period=(record["period_start"], record["period_end"]),
        timezone=record["timezone"],
    )


def _read_whole(
    reader: Callable[[Source], tuple[gpd.GeoDataFrame, LoadReport]], source: Source
) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """A layer read as ``analyse`` reads it, every row accepted.

    ``analyse`` leaves rejected rows out and reports them; an operation keeps its layers, so a
    file with a rejected row is refused, naming the first one (nothing is stored).
    """
    frame, report = reader(source)
    if report.rejected:
        first = report.rejected[0]
        more = len(report.rejected) - 1
        raise ValidationError(
            describe(
                Path(source).name,
                first.reason,
                row=first.row,
                field=first.field,
                fix="Nothing was stored. Correct the row"
                + (f" (and {more} more rejected row(s))" if more else "")
                + " and try again",
            )
        )
    return frame, report


def _read_dem(dem: Source) -> tuple[str, bytes]:
    """A DEM file checked as the analysis opens it, and its bytes."""
    path = Path(dem)
    with open_dem(str(path)):
        pass
    return path.name, path.read_bytes()


def create_operation(
    store_path: Source,
    op: Operation,
    *,
    border: Source,
    sensors: Source,
    sectors: Source | None = None,
    dem: Source | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """Read and check the files, then store them as a new operation (version 1).

    Partners: ``op.partners``, or when it has none the sensors' ``partner`` values (the
    display name is the id).

    Returns
    -------
    dict
        ``{"operation", "version", "border_km", "sectors", "sensors", "partners",
        "inputs"}``: ``border_km`` as ``analyse`` reports ``border.length_km``, the number of
        sectors and sensors, the partners' ids and each file's validation report (as
        ``analyse`` gives them under ``inputs``).

    Raises
    ------
    ValidationError
        A file that cannot be used (naming it, the row and the field), or an operation of
        that name in the store already. Nothing is stored then.
    """
    layers: dict[str, gpd.GeoDataFrame] = {}
    inputs: dict[str, Any] = {}
    layers["border"], inputs["border"] = _read_whole(read_border, border)
    layers["sensors"], inputs["sensors"] = _read_whole(read_sensors, sensors)
    if sectors is not None:
        layers["sectors"], inputs["sectors"] = _read_whole(read_sectors, sectors)
    dem_file = None if dem is None else _read_dem(dem)
    if op.partners:
        _check_sensor_partners(layers["sensors"], op.partner_ids, Path(sensors).name)
    else:
        op = dataclasses.replace(op, partners=_partners_from_sensors(layers["sensors"]))
    length = border_km(layers["border"])
    version = store.put_operation(store_path, _record(op), layers, dem=dem_file, user=user)
    return {
        "operation": op.name,
        "version": version,
        "border_km": length,
        "sectors": 0 if sectors is None else len(layers["sectors"]),
        "sensors": len(layers["sensors"]),
        "partners": op.partner_ids,
        "inputs": {name: report.to_dict() for name, report in inputs.items()},
    }


def list_operations(store_path: Source) -> list[dict[str, Any]]:
    """Every operation in the store: name, title, partners' ids, created_at and created_by."""
    return [
        {
            "operation": r["name"],
            "title": r["title"],
            "partners": [p["id"] for p in r["partners"]],
            "created_at": r["created_at"],
            "created_by": r["created_by"],
        }
        for r in store.operation_records(store_path)
    ]


def _record_of(store_path: Source, name: str) -> dict[str, Any]:
    record = store.operation_record(store_path, check_name(name))
    if record is None:
        raise ValidationError(
            describe(
                str(store_path),
                "no such operation",
                field="operation",
                expected="an operation in the store (python -m geo operation list)",
                got=name,
                fix="Check the name, or create it with python -m geo operation create",
            )
        )
    return record


def _layer(store_path: Source, name: str, layer: str, version: int | None = None) -> Any:
    found = store.operation_layer(store_path, name, layer, version)
    return (None, 0) if found is None else found


def load_operation(
    store_path: Source, name: str, *, sensors_version: int | None = None
) -> StoredOperation:
    """An operation and its layers (the latest version of each, or ``sensors_version``)."""
    record = _record_of(store_path, name)
    sensors, version = _layer(store_path, name, "sensors", sensors_version)
    return StoredOperation(
        operation=_operation(record),
        border=_layer(store_path, name, "border")[0],
        sensors=sensors,
        sectors=_layer(store_path, name, "sectors")[0],
        sensors_version=version,
        dem=store.operation_dem(store_path, name),
    )


def operation_summary(store_path: Source, name: str) -> dict[str, Any]:
    """What ``operation show`` prints: the description, versions and the layers' figures."""
    record = _record_of(store_path, name)
    loaded = load_operation(store_path, name)
    versions = {
        layer: store.layer_versions(store_path, name, layer).to_dict("records")
        for layer in record["versions"]
    }
    return {
        **loaded.operation.to_dict(),
        "created_at": record["created_at"],
        "created_by": record["created_by"],
        "version": loaded.sensors_version,
        "border_km": border_km(loaded.border),
        "sectors": 0 if loaded.sectors is None else len(loaded.sectors),
        "sensors": len(loaded.sensors),
        "dem": None if loaded.dem is None else loaded.dem[0],
        "versions": versions,
    }


def _json_value(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    """A layer as GeoJSON, coordinates exactly as stored (Python's shortest float text)."""
    columns = [c for c in frame.columns if c not in ("geometry", "src_row")]
    features = [
        {
            "type": "Feature",
            "properties": {c: _json_value(v) for c, v in zip(columns, row, strict=True)},
            "geometry": json.loads(shapely.to_geojson(geom)) if geom is not None else None,
        }
        for *row, geom in zip(*(frame[c].tolist() for c in columns), frame.geometry, strict=True)
    ]
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, allow_nan=False),
        encoding="utf-8",
    )


def export_operation(store_path: Source, name: str, out_dir: Source) -> dict[str, Any]:
    """Write an operation's layers as files ``analyse`` reads back to the same report.

    ``border.geojson``, ``sensors.geojson``, ``sectors.geojson`` (when it has sectors), its
    DEM under its file name, ``partners.csv`` and a ``scenario.json`` manifest naming them
    (as ``sample_data/scenario.json``). Returns ``{"operation", "version", "out", "files"}``.
    """
    loaded = load_operation(store_path, name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"border": "border.geojson", "sensors": "sensors.geojson"}
    _write_geojson(loaded.border, out / files["border"])
    _write_geojson(loaded.sensors, out / files["sensors"])
    if loaded.sectors is not None:
        files["sectors"] = "sectors.geojson"
        _write_geojson(loaded.sectors, out / files["sectors"])
    if loaded.dem is not None:
        files["dem"] = Path(loaded.dem[0]).name
        (out / files["dem"]).write_bytes(loaded.dem[1])
    op = loaded.operation
    partners = pd.DataFrame([p.to_dict() for p in op.partners], columns=["id", "name", "colour"])
    write_csv(partners, out / "partners.csv")
    manifest = {
        "name": op.title or op.name,
        "description": op.description,
        **files,
        "partners": {p.id: {"name": p.name} for p in op.partners},
        "operation": op.to_dict(),
    }
    (out / "scenario.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    written = sorted([*files.values(), "partners.csv", "scenario.json"])
    return {"operation": name, "version": loaded.sensors_version, "out": str(out), "files": written}


def save_sensors(
    store_path: Source,
    name: str,
    sensors: Source | gpd.GeoDataFrame,
    *,
    user: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Store a new sensor version; its audit note holds ``note`` and what changed.

    ``sensors``: a file (read and checked as ``analyse`` reads it) or a checked frame.
    Returns ``{"operation", "version", "changes", "inputs"}``. A table equal to the latest
    version is refused (nothing to save).
    """
    inputs: dict[str, Any] = {}
    if isinstance(sensors, gpd.GeoDataFrame):
        frame = sensors
    else:
        frame, report = _read_whole(read_sensors, sensors)
        inputs["sensors"] = report.to_dict()
    latest = load_operation(store_path, name)
    changes = sensor_changes(latest.sensors, frame)
    if not changes:
        raise ValidationError(
            describe(
                str(sensors) if not isinstance(sensors, gpd.GeoDataFrame) else "sensors",
                "no change",
                expected=f"sensors that differ from version {latest.sensors_version}",
                got="the same sensors",
                fix="Nothing was stored",
            )
        )
    text = json.dumps({"note": note, **changes.to_dict()}, ensure_ascii=False)
    version = store.put_layer_version(store_path, name, "sensors", frame, user=user, note=text)
    return {"operation": name, "version": version, "changes": changes.to_dict(), "inputs": inputs}


def replace_layer(
    store_path: Source,
    name: str,
    layer: Replaceable,
    file: Source,
    *,
    user: str | None = None,
) -> dict[str, Any]:
    """Store a file as the next version of a layer, read and checked as on creation.

    ``layer``: ``"border"`` or ``"sectors"`` (read as ``analyse`` reads them, every row
    accepted) or ``"dem"`` (checked as the analysis opens it, kept in the store). The earlier
    versions stay in the store.

    Returns
    -------
    dict
        ``{"operation", "layer", "version", "inputs"}``: ``inputs`` holds the file's
        validation report (empty for a DEM).

    Raises
    ------
    ValidationError
        No such operation, or a file that cannot be used (naming it, the row and the field).
        Nothing is stored then.
    """
    _record_of(store_path, name)
    inputs: dict[str, Any] = {}
    if layer == "dem":
        dem = _read_dem(file)
        current = store.operation_dem(store_path, name)
        if current is not None and current[1] == dem[1]:
            raise _unchanged(file, layer)
        version = store.put_dem_version(store_path, name, dem, user=user)
    elif layer in _READERS:
        frame, report = _read_whole(_READERS[layer], file)
        inputs[layer] = report.to_dict()
        if _same_layer(frame, _layer(store_path, name, layer)[0]):
            raise _unchanged(file, layer)
        note = json.dumps({"note": f"replaced from {Path(file).name}"}, ensure_ascii=False)
        version = store.put_layer_version(store_path, name, layer, frame, user=user, note=note)
    else:
        raise ValueError(f"layer must be one of border, sectors, dem, got {layer!r}")
    return {"operation": name, "layer": layer, "version": version, "inputs": inputs}


def _same_layer(new: gpd.GeoDataFrame, current: gpd.GeoDataFrame | None) -> bool:
    """Whether ``new`` holds exactly the rows of ``current``: geometries and attributes."""
    if current is None or len(new) != len(current):
        return False
    attrs = [c for c in new.columns if c != new.geometry.name]
    if sorted(attrs) != sorted(c for c in current.columns if c != current.geometry.name):
        return False
    if list(new.geometry.to_wkb()) != list(current.geometry.to_wkb()):
        return False
    return all(new[c].astype(str).tolist() == current[c].astype(str).tolist() for c in attrs)


def _unchanged(file: Source, layer: str) -> ValidationError:
    """The refusal of a file that holds the layer's current version as it is."""
    return ValidationError(
        describe(
            Path(file).name,
            "no change",
            expected=f"a {layer} that differs from the operation's current one",
            got=f"the same {layer} as the latest version",
            fix="Nothing was stored. Choose the new file",
        )
    )


#: The longest display name of a partner.
PARTNER_NAME_MAX_CHARS = 80


def _checked_partner(partner: Partner, where: str) -> Partner:
    """``partner`` with its display name stripped, or a ValidationError naming the field."""
    shown = partner.name.strip() if isinstance(partner.name, str) else ""
    if not shown or len(shown) > PARTNER_NAME_MAX_CHARS or not shown.isprintable():
        raise ValidationError(
            describe(
                where,
                "not a display name",
                field="name",
                expected=f"1–{PARTNER_NAME_MAX_CHARS} printable characters",
                got=partner.name,
                fix="Type the partner's name, e.g. Lithuania",
            )
        )
    colour = partner.colour
    if colour is not None and (
        len(colour) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour)
    ):
        raise ValidationError(
            describe(where, "not a colour", field="colour", expected="#RRGGBB", got=colour)
        )
    rgb = None if colour is None else (int(colour[0]), int(colour[1]), int(colour[2]))
    return Partner(partner.id, shown, rgb)


def update_partners(
    store_path: Source,
    name: str,
    partners: Sequence[Partner],
    *,
    user: str | None = None,
    partner: str | None = None,
) -> dict[str, Any]:
    """Change the display names and colours of an operation's partners.

    The partners taking part stay the same: ``partners`` must hold each of the operation's
    partner ids once (in any order; the operation keeps its order). The change is audited
    (action ``operation.partners``, by ``user`` of ``partner``, the changes as its detail) in
    the same transaction. Nothing is written when nothing changes. Whether a colour may be
    used on the map is the caller's check (:func:`layers.colour.partner_colour_clashes`).

    Returns
    -------
    dict
        ``{"operation", "partners", "changed"}``: the partners as stored (``Partner.to_dict``)
        and, per partner changed, ``{"id", "name": [before, after], "colour": [before,
        after]}`` (colours as ``#rrggbb`` or None).

    Raises
    ------
    ValidationError
        No such operation, a partner id it does not have or one of its partners missing, a
        repeated id, an empty display name or a bad colour. Nothing is stored then.
    """
    current = load_operation(store_path, name).operation.partners
    by_id: dict[str, Partner] = {}
    for p in partners:  # (p, not partner: that is who changes them)
        where = f"operation {name}, partner {p.id}"
        if p.id not in {q.id for q in current}:
            raise ValidationError(
                describe(
                    where,
                    "not a partner of the operation",
                    field="id",
                    expected=f"one of {', '.join(q.id for q in current)}",
                    got=p.id,
                )
            )
        if p.id in by_id:
            raise ValidationError(describe(where, "listed twice", field="id", got=p.id))
        by_id[p.id] = _checked_partner(p, where)
    missing = [q.id for q in current if q.id not in by_id]
    if missing:
        raise ValidationError(
            describe(
                f"operation {name}",
                "partners missing",
                expected="every partner of the operation",
                got=f"none for {', '.join(missing)}",
            )
        )
    new = [by_id[q.id] for q in current]
    changed = [
        {
            "id": a.id,
            "name": [a.name, b.name],
            "colour": [a.to_dict()["colour"], b.to_dict()["colour"]],
        }
        for a, b in zip(current, new, strict=True)
        if a != b
    ]
    if changed:
        store.set_operation_partners(
            store_path,
            name,
            [p.to_dict() for p in new],
            user=user,
            partner=partner,
            detail={"changed": changed},
        )
    return {"operation": name, "partners": [p.to_dict() for p in new], "changed": changed}


@contextmanager
def _dem_file(dem: tuple[str, bytes] | None) -> Iterator[str | None]:
    """The stored DEM as a temporary file for the analysis (None: no DEM)."""
    if dem is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="limes-dem-") as tmp:
        path = Path(tmp) / Path(dem[0]).name
        path.write_bytes(dem[1])
        yield str(path)


def diff(store_path: Source, name: str, v_from: int, v_to: int) -> dict[str, Any]:
    """What changed between two sensor versions: sensors and border coverage.

    Returns ``{"operation", "from", "to", "added", "removed", "changed", "coverage"}``
    (``coverage``: :meth:`~geo.operations.changes.CoverageChange.to_dict`, with the
    operation's corridor depth, minimum gap and DEM).
    """
    before = load_operation(store_path, name, sensors_version=v_from)
    after = load_operation(store_path, name, sensors_version=v_to)
    op = before.operation
    reports = []
    with _dem_file(before.dem) as dem:
        for state in (before, after):
            reports.append(
                analyse(
                    state.border,
                    state.sensors,
                    sectors=state.sectors,
                    corridor_km=op.corridor_km,
                    min_gap_m=op.min_gap_m,
                    dem=dem,
                ).report
            )
    return {
        "operation": name,
        "from": before.sensors_version,
        "to": after.sensors_version,
        **sensor_changes(before.sensors, after.sensors).to_dict(),
        "coverage": coverage_change(reports[0], reports[1]).to_dict(),
    }
