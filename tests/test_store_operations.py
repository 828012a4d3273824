"""Store schema 3: operations kept in the store, and the upgrade of a store of schema 2.

The schema 2 store is ``tests/data/store_schema2.gpkg.gz``, written by the code before
operations (``tests/data/make_store_schema2.py``): what it holds is read with Python's own
``sqlite3`` before and after the upgrade, and through GDAL (pyogrio).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
from shapely import LineString, Point

from geo import store
from geo.core.errors import ValidationError
from geo.operations import SAMPLE
from geo.store import schema

FIXTURE = Path(__file__).parent / "data" / "store_schema2.gpkg.gz"
PARTNERS = ("LTU", "LVA", "POL", "EU")


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    path = tmp_path / "old.gpkg"
    with gzip.open(FIXTURE, "rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


_DETECTION_COLUMNS = (
    "fid, geom, time_us, detection_id, source, partner, class, confidence, access, caveat, "
    "hae_m, ce_m, le_m, owner, releasable_to, upload_id, src_row"
)
_UPLOAD_COLUMNS = (
    "upload_id, uploaded_at, uploaded_by, partner, file_name, sha256, format, rows_read, "
    "accepted, rejected, duplicates, releasable_to, file_markings, notes"
)


def _layers() -> dict[str, gpd.GeoDataFrame]:
    border = gpd.GeoDataFrame(
        {"name": ["b"], "src_row": [1]},
        geometry=[LineString([(25.0, 54.0), (25.5, 54.2)])],
        crs="EPSG:4326",
    )
    sensors = gpd.GeoDataFrame(
        {"sensor_id": ["S1", "S2"], "partner": ["LTU", "POL"], "range_m": [3000.0, 4000.0]},
        geometry=[Point(25.1, 54.05), Point(25.4, 54.15)],
        crs="EPSG:4326",
    )
    return {"border": border, "sensors": sensors}


def test_the_fixture_is_a_store_of_schema_2() -> None:
    assert FIXTURE.is_file()


def test_reading_a_schema_2_store_leaves_it_as_it_is(old_store: Path) -> None:
    digest = hashlib.sha256(old_store.read_bytes()).hexdigest()
    seen = {p: len(store.visible_detections(old_store, p)) for p in PARTNERS}
    # LTU: its 16 and POL's 5 (ALL); LVA: LTU's 12 released to it, POL's 5; POL: its 5 and
    # LTU's 2 rows marked ALL in the file; EU: the ALL rows only.
    assert seen == {"LTU": 21, "LVA": 17, "POL": 7, "EU": 7}
    assert len(store.uploads(old_store, ["LTU", "POL"])) == 3
    assert store.operation_records(old_store) == []
    assert store.operation_record(old_store, "x") is None
    assert store.layer_versions(old_store, "x", "sensors").empty
    assert hashlib.sha256(old_store.read_bytes()).hexdigest() == digest
    assert (
        "store schema 2"
        in _rows(
            old_store, "SELECT description FROM gpkg_contents WHERE table_name = 'detections'"
        )[0][0]
    )


def test_a_schema_2_store_opened_for_writing_becomes_schema_3_without_loss(
    old_store: Path,
) -> None:
    detections = _rows(old_store, f"SELECT {_DETECTION_COLUMNS} FROM detections ORDER BY fid")
    audit = _rows(old_store, f"SELECT {_UPLOAD_COLUMNS} FROM uploads ORDER BY upload_id")
    seen = {p: store.visible_detections(old_store, p) for p in PARTNERS}
    log = store.uploads(old_store, list(PARTNERS))
    assert len(detections) == 21
    assert len(audit) == 3

    store.open_store(old_store).close()  # opened for writing: upgraded

    assert _rows(old_store, f"SELECT {_DETECTION_COLUMNS} FROM detections ORDER BY fid") == (
        detections
    )
    assert _rows(old_store, f"SELECT {_UPLOAD_COLUMNS} FROM uploads ORDER BY upload_id") == audit
    assert _rows(old_store, "SELECT DISTINCT operation FROM detections") == [(SAMPLE,)]
    assert _rows(old_store, "SELECT DISTINCT operation FROM uploads") == [(SAMPLE,)]
    for partner, before in seen.items():
        pd.testing.assert_frame_equal(store.visible_detections(old_store, partner), before)
    pd.testing.assert_frame_equal(store.uploads(old_store, list(PARTNERS)), log)
    descriptions = dict(_rows(old_store, "SELECT table_name, description FROM gpkg_contents"))
    assert all(f"store schema {schema.SCHEMA_VERSION})" in d for d in descriptions.values())
    assert set(descriptions) == {
        "detections",
        "detections_timed",
        "uploads",
        "operations",
        "operation_layers",
        "operation_dems",
        "audit",  # schema 4
        "retracted_detections",
    }
    assert _rows(old_store, "PRAGMA integrity_check") == [("ok",)]
    # GDAL still reads it as a GeoPackage, the new tables as attribute layers
    layers = dict(pyogrio.list_layers(old_store).tolist())
    assert layers["operations"] is None
    assert layers["detections"] == "Point"
    assert len(pyogrio.read_dataframe(old_store, layer="detections_timed")) == 21
    # the duplicate keys still work, now per operation
    again = store.visible_detections(old_store, "LTU")
    frame = again[again["owner"] == "LTU"].drop(columns=["owner", "upload_id", "src_row"])
    result = _ingest(old_store, frame.assign(releasable_to=""), "LTU")
    assert (result.accepted, result.duplicates) == (0, 16)


def _ingest(path: Path, frame: gpd.GeoDataFrame, partner: str, **kw: object) -> store.IngestResult:
    from geo.inputs.loader import LoadReport

    report = LoadReport(
        source="t.csv",
        layer="detections",
        format="CSV",
        source_crs="EPSG:4326",
        rows_read=len(frame),
        rows_accepted=len(frame),
    )
    return store.ingest(
        path,
        frame,
        report,
        file_name="t.csv",
        sha256=kw.pop("sha256", "a" * 64),  # type: ignore[arg-type]
        partner=partner,
        **kw,  # type: ignore[arg-type]
    )


def _detections(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "time": pd.date_range("2026-11-01", periods=n, freq="h", tz="UTC").astype(
                "datetime64[us, UTC]"
            ),
            "detection_id": [f"D{i}" for i in range(n)],
            "source": "radar",
        },
        geometry=[Point(25 + i / 100, 54) for i in range(n)],
        crs="EPSG:4326",
    )


def test_the_same_file_may_be_uploaded_into_two_operations(tmp_path: Path) -> None:
    path = tmp_path / "s.gpkg"
    store.put_operation(path, {"name": "op1"}, _layers())
    first = _ingest(path, _detections(5), "LTU")
    other = _ingest(path, _detections(5), "LTU", operation="op1")
    again = _ingest(path, _detections(5), "LTU", operation="op1")
    assert (first.accepted, other.accepted, other.already_uploaded) == (5, 5, False)
    assert (again.accepted, again.already_uploaded) == (0, True)
    assert _rows(path, "SELECT operation, count(*) FROM detections GROUP BY 1") == [
        ("op1", 5),
        (SAMPLE, 5),
    ]
    # rows of the same detection, under another sha256, are duplicates within op1 only
    more = _ingest(path, _detections(7), "LTU", operation="op1", sha256="b" * 64)
    assert (more.accepted, more.duplicates) == (2, 5)


def test_an_upload_into_an_unknown_operation_is_refused_and_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.gpkg"
    _ingest(path, _detections(3), "LTU")
    before = path.read_bytes(), _rows(path, "SELECT count(*) FROM uploads")
    with pytest.raises(ValidationError, match=r"no such operation.*'nope'.*Create the operation"):
        _ingest(path, _detections(3), "LTU", operation="nope", sha256="c" * 64)
    assert _rows(path, "SELECT count(*) FROM uploads") == before[1]
    new = tmp_path / "new" / "s.gpkg"
    with pytest.raises(ValidationError, match=r"no such operation"):
        _ingest(new, _detections(3), "LTU", operation="nope")
    assert not new.parent.exists()  # no store, nor its folder, is created


def test_an_operation_and_its_versions_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.gpkg"
    layers = _layers()
    record = {
        "name": "baltic",
        "title": "Baltic",
        "partners": [{"id": "LTU", "name": "Lithuania", "colour": "#5587ff"}],
        "corridor_km": 3.0,
        "min_gap_m": 10.0,
        "period_start": "2026-11-01T00:00:00+00:00",
        "timezone": "Europe/Vilnius",
    }
    assert store.put_operation(path, record, layers, dem=("dem.tif", b"\x00DEM"), user="ann") == 1
    got = store.operation_record(path, "baltic")
    assert got is not None
    assert got["partners"] == record["partners"]
    assert got["created_by"] == "ann"
    assert (got["corridor_km"], got["min_gap_m"], got["timezone"]) == (3.0, 10.0, "Europe/Vilnius")
    assert got["versions"] == {"border": 1, "sensors": 1}
    for name in ("border", "sensors"):
        result = store.operation_layer(path, "baltic", name)
        assert result is not None
        pd.testing.assert_frame_equal(result[0], layers[name])
    assert store.operation_layer(path, "baltic", "sectors") is None
    assert store.operation_dem(path, "baltic") == ("dem.tif", b"\x00DEM")
    moved = layers["sensors"].copy()
    moved.loc[0, "range_m"] = 5000.0
    assert store.put_layer_version(path, "baltic", "sensors", moved, user="bo", note="S1") == 2
    latest = store.operation_layer(path, "baltic", "sensors")
    first = store.operation_layer(path, "baltic", "sensors", version=1)
    assert latest is not None
    assert first is not None
    assert (latest[1], first[1]) == (2, 1)
    pd.testing.assert_frame_equal(latest[0], moved)
    pd.testing.assert_frame_equal(first[0], layers["sensors"])
    versions = store.layer_versions(path, "baltic", "sensors")
    assert versions[["version", "created_by", "note", "features"]].values.tolist() == [
        [1, "ann", "created", 2],
        [2, "bo", "S1", 2],
    ]
    # a layer version is GeoParquet (read with pyarrow alone: the bytes, not our reader)
    blob = _rows(path, "SELECT data FROM operation_layers WHERE version = 2")[0][0]
    table = pq.read_table(io.BytesIO(blob))
    assert table["range_m"].to_pylist() == [5000.0, 4000.0]
    assert json.loads(table.schema.metadata[b"geo"])["primary_column"] == "geometry"
    with pytest.raises(ValidationError, match=r"no such sensors version.*got 7"):
        store.operation_layer(path, "baltic", "sensors", version=7)
    assert [r["name"] for r in store.operation_records(path)] == ["baltic"]


def test_an_existing_name_or_unknown_operation_is_refused_and_nothing_stored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.gpkg"
    store.put_operation(path, {"name": "op1"}, _layers())
    tables = "SELECT count(*) FROM operations UNION ALL SELECT count(*) FROM operation_layers"
    before = _rows(path, tables)
    with pytest.raises(ValidationError, match=r"exists already.*got 'op1'.*Nothing was stored"):
        store.put_operation(path, {"name": "op1"}, _layers())
    with pytest.raises(ValidationError, match=r"no such operation.*'op2'"):
        store.put_layer_version(path, "op2", "sensors", _layers()["sensors"])
    with pytest.raises(ValidationError, match=r"no such operation.*'op2'"):
        store.operation_layer(path, "op2", "border")
    not_wgs84 = _layers()["sensors"].to_crs(3346)
    with pytest.raises(ValidationError, match=r"op1 sensors: not in EPSG:4326"):
        store.put_layer_version(path, "op1", "sensors", not_wgs84)
    assert _rows(path, tables) == before


def test_the_default_operation_is_the_sample() -> None:
    assert schema.DEFAULT_OPERATION == SAMPLE
