"""Operations, their layer versions and DEMs, and audit events: the same on both back-ends.

Each test runs on a GeoPackage and on a PostGIS store (the ``any_store`` fixture) through
the public API only; a last test checks both back-ends give the same records.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely import Point
from test_store_operations import _layers

from geo import store
from geo.core.errors import ValidationError
from geo.inputs.loader import LoadReport
from geo.operations import SAMPLE


def _ingest(
    where: Path | str, n: int, partner: str, *, sha256: str = "a" * 64, **kw: object
) -> store.IngestResult:
    frame = gpd.GeoDataFrame(
        {
            "time": pd.date_range("2026-11-01", periods=n, freq="h", tz="UTC"),
            "detection_id": [f"D{i}" for i in range(n)],
            "source": "radar",
        },
        geometry=[Point(25 + i / 100, 54) for i in range(n)],
        crs="EPSG:4326",
    )
    report = LoadReport(
        source="t.csv",
        layer="detections",
        format="CSV",
        source_crs="EPSG:4326",
        rows_read=n,
        rows_accepted=n,
    )
    return store.ingest(
        where, frame, report, file_name="t.csv", sha256=sha256, partner=partner,
        releasable_to="ALL", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_same_file_may_be_uploaded_into_two_operations(any_store: Path | str) -> None:
    store.put_operation(any_store, {"name": "op1"}, _layers())
    first = _ingest(any_store, 5, "LTU")
    other = _ingest(any_store, 5, "LTU", operation="op1")
    again = _ingest(any_store, 5, "LTU", operation="op1")
    assert (first.accepted, other.accepted, other.already_uploaded) == (5, 5, False)
    assert (again.accepted, again.already_uploaded) == (0, True)
    assert len(store.visible_detections(any_store, "EU", operation="op1")) == 5
    assert len(store.visible_detections(any_store, "EU", operation=SAMPLE)) == 5
    more = _ingest(any_store, 7, "LTU", operation="op1", sha256="b" * 64)
    assert (more.accepted, more.duplicates) == (2, 5)


def test_an_upload_into_an_unknown_operation_adds_nothing(any_store: Path | str) -> None:
    _ingest(any_store, 3, "LTU")
    before = store.revision(any_store)
    with pytest.raises(ValidationError, match=r"no such operation.*'nope'.*Create the operation"):
        _ingest(any_store, 3, "LTU", operation="nope", sha256="c" * 64)
    assert store.revision(any_store) == before
    assert len(store.uploads(any_store, "LTU")) == 1


def test_an_operation_and_its_versions_round_trip(any_store: Path | str) -> None:
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
    assert store.put_operation(any_store, record, layers, dem=("dem.tif", b"\x00DEM"), user="ann")
    got = store.operation_record(any_store, "baltic")
    assert got is not None
    assert got["partners"] == record["partners"]
    assert (got["corridor_km"], got["min_gap_m"], got["timezone"]) == (3.0, 10.0, "Europe/Vilnius")
    assert got["versions"] == {"border": 1, "sensors": 1}
    assert got["dem_version"] == 1
    assert pd.Timestamp(got["created_at"]).tzinfo is not None
    for name in ("border", "sensors"):
        result = store.operation_layer(any_store, "baltic", name)
        assert result is not None
        pd.testing.assert_frame_equal(result[0], layers[name])
    assert store.operation_layer(any_store, "baltic", "sectors") is None
    assert store.operation_dem(any_store, "baltic") == ("dem.tif", b"\x00DEM")
    assert store.put_dem_version(any_store, "baltic", ("dem2.tif", b"\x01")) == 2
    assert store.operation_dem(any_store, "baltic") == ("dem2.tif", b"\x01")
    moved = layers["sensors"].copy()
    moved.loc[0, "range_m"] = 5000.0
    assert store.put_layer_version(any_store, "baltic", "sensors", moved, user="bo", note="S1") == 2
    latest = store.operation_layer(any_store, "baltic", "sensors")
    first = store.operation_layer(any_store, "baltic", "sensors", version=1)
    assert latest is not None
    assert first is not None
    pd.testing.assert_frame_equal(latest[0], moved)
    pd.testing.assert_frame_equal(first[0], layers["sensors"])
    versions = store.layer_versions(any_store, "baltic", "sensors")
    assert versions[["version", "created_by", "note", "features"]].values.tolist() == [
        [1, "ann", "created", 2],
        [2, "bo", "S1", 2],
    ]
    with pytest.raises(ValidationError, match=r"no such sensors version.*got 7"):
        store.operation_layer(any_store, "baltic", "sensors", version=7)
    partners = [{"id": "LTU", "name": "Lietuva", "colour": "#5587ff"}]
    assert store.set_operation_partners(any_store, "baltic", partners, user="ann") > 0
    assert store.operation_record(any_store, "baltic")["partners"] == partners  # type: ignore[index]
    assert [r["name"] for r in store.operation_records(any_store)] == ["baltic"]


def test_an_existing_name_or_unknown_operation_is_refused(any_store: Path | str) -> None:
    store.put_operation(any_store, {"name": "op1"}, _layers())
    with pytest.raises(ValidationError, match=r"exists already.*got 'op1'.*Nothing was stored"):
        store.put_operation(any_store, {"name": "op1"}, _layers())
    with pytest.raises(ValidationError, match=r"no such operation.*'op2'"):
        store.put_layer_version(any_store, "op2", "sensors", _layers()["sensors"])
    with pytest.raises(ValidationError, match=r"no such operation.*'op2'"):
        store.operation_layer(any_store, "op2", "border")
    with pytest.raises(ValidationError, match=r"no such operation.*'op2'"):
        store.set_operation_partners(any_store, "op2", [])
    not_wgs84 = _layers()["sensors"].to_crs(3346)
    with pytest.raises(ValidationError, match=r"op1 sensors: not in EPSG:4326"):
        store.put_layer_version(any_store, "op1", "sensors", not_wgs84)
    assert store.layer_versions(any_store, "op1", "sensors")["version"].tolist() == [1]


def test_events_are_recorded(any_store: Path | str) -> None:
    first = store.record_event(any_store, "signin", user="ana", partner="LTU")
    second = store.record_event(any_store, "signin.failed", user="bob", detail={"why": "password"})
    assert second > first
    with pytest.raises(ValidationError, match="not an audit action"):
        store.record_event(any_store, "Sign In", user="ana")


def test_retracting_and_re_marking_an_upload(any_store: Path | str) -> None:
    first = _ingest(any_store, 4, "LTU")  # released to ALL
    second = _ingest(any_store, 6, "LVA", sha256="d" * 64)
    before = store.revision(any_store)
    with pytest.raises(ValidationError, match="only the uploading partner or an admin"):
        store.retract_upload(any_store, first.upload_id, user="eve", partner="POL", is_admin=False)
    marked = store.mark_upload(
        any_store, second.upload_id, "POL", user="lia", partner="LVA", is_admin=False
    )
    assert (marked["before"], marked["after"], marked["rows"]) == ("ALL", "POL", 6)
    assert len(store.visible_detections(any_store, "EU")) == 4
    assert len(store.visible_detections(any_store, "POL")) == 10
    done = store.retract_upload(any_store, first.upload_id, user="adm", partner="EU", is_admin=True)
    assert done["rows"] == 4
    assert len(store.visible_detections(any_store, ["LTU", "LVA", "POL", "EU"])) == 6
    assert store.uploads(any_store, "LTU").empty
    kept = store.uploads(any_store, "LTU", retracted=True)
    assert kept["retracted_by"].tolist() == ["adm"]
    assert store.owners(any_store) == ["LVA"]
    after = store.revision(any_store)
    assert (after.uploads, after.changes) == (before.uploads, before.changes + 2)
    with pytest.raises(ValidationError, match="already retracted"):
        store.retract_upload(any_store, first.upload_id, user="adm", partner="EU", is_admin=True)
    # The same file may come again once retracted.
    assert _ingest(any_store, 4, "LTU").accepted == 4
    log = store.audit_log(any_store)
    assert log["action"].tolist()[:4] == ["upload", "upload.retract", "upload.mark", "upload"]
    assert log["target"].tolist()[1] == str(first.upload_id)
    assert json.loads(log["detail"].tolist()[2])["after"] == "POL"
    assert len(store.audit_log(any_store, limit=2)) == 2


def test_a_partner_whose_uploads_are_all_retracted_stays_in_the_audit_and_history(
    any_store: Path | str,
) -> None:
    first = _ingest(any_store, 4, "LTU")
    _ingest(any_store, 3, "POL", sha256="b" * 64)
    store.retract_upload(any_store, first.upload_id, user="adm", partner="EU", is_admin=True)
    # no map shows LTU's rows any more, so LTU has no live upload
    assert store.owners(any_store) == ["POL"]
    # but the record keeps LTU: the history an admin manages and the audit trail
    assert store.owners(any_store, retracted=True) == ["LTU", "POL"]
    kept = store.uploads(any_store, store.owners(any_store, retracted=True), retracted=True)
    assert sorted(kept["partner"]) == ["LTU", "POL"]
    assert kept.set_index("partner").loc["LTU", "retracted_by"] == "adm"
    log = store.audit_log(any_store)
    of_ltu = log[log["target"] == str(first.upload_id)]
    assert sorted(of_ltu["action"]) == ["upload", "upload.retract"]
    assert (
        json.loads(of_ltu[of_ltu["action"] == "upload"]["detail"].iloc[0])["retracted_by"] == "adm"
    )
