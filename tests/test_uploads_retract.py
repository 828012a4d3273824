"""Retracting and re-marking uploads, the audit log, and store schema 4 (issue 16).

The truth each test compares with comes from outside the code under test: the rows as
stored, read with Python's own ``sqlite3``, and the releasability rule's :func:`may_see`
applied to each of them. The schema 3 store is ``tests/data/store_schema3.gpkg.gz``, written
by the code before the audit table (``tests/data/make_store_schema3.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely import Point
from streamlit.testing.v1 import AppTest

from geo import store
from geo.access import add_user
from geo.access.releasability import may_see
from geo.core import settings
from geo.core.errors import ValidationError
from geo.inputs.loader import LoadReport
from geo.store import schema

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "data" / "store_schema3.gpkg.gz"
PARTNERS = ("LTU", "LVA", "POL", "EU")
_ROW_COLUMNS = (
    "fid, geom, time_us, detection_id, source, partner, class, confidence, access, caveat, "
    "hae_m, ce_m, le_m, owner, releasable_to, upload_id, src_row, operation"
)
_UPLOAD_COLUMNS_3 = (
    "upload_id, uploaded_at, uploaded_by, partner, file_name, sha256, format, rows_read, "
    "accepted, rejected, duplicates, releasable_to, file_markings, notes, operation"
)


def _sql(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _frame(prefix: str, n: int, markings: list[str] | None = None) -> gpd.GeoDataFrame:
    data: dict[str, object] = {
        "time": pd.date_range("2026-11-01", periods=n, freq="h", tz="UTC").astype(
            "datetime64[us, UTC]"
        ),
        "detection_id": [f"{prefix}{i}" for i in range(n)],
        "source": "radar",
    }
    if markings is not None:
        data["releasable_to"] = markings
    return gpd.GeoDataFrame(
        data, geometry=[Point(25 + i / 100, 54) for i in range(n)], crs="EPSG:4326"
    )


def _ingest(path: Path, frame: gpd.GeoDataFrame, partner: str, **kw: object) -> store.IngestResult:
    report = LoadReport(
        source="t.csv",
        layer="detections",
        format="CSV",
        source_crs="EPSG:4326",
        rows_read=len(frame),
        rows_accepted=len(frame),
    )
    digest = hashlib.sha256(frame.drop(columns="geometry").to_csv().encode()).hexdigest()
    return store.ingest(
        path, frame, report, file_name=f"{partner}.csv", sha256=digest, partner=partner, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Upload 1: LTU's 6 rows released to LVA (2 marked ALL in the file); 2: POL's 4 to
    ALL; 3: LTU's 3 for LTU only."""
    path = tmp_path / "store.gpkg"
    _ingest(path, _frame("L", 6, ["", "ALL", "", "", "ALL", ""]), "LTU", releasable_to="LVA")
    _ingest(path, _frame("P", 4), "POL", releasable_to="ALL")
    _ingest(path, _frame("Q", 3), "LTU")
    return path


def _key(detection_id: object, upload_id: object, src_row: object) -> str:
    """A row's detection id, or for a row without one its upload and file row."""
    if isinstance(detection_id, str):
        return detection_id
    return f"upload {upload_id} row {src_row}"


def _expected_ids(path: Path, viewer: str) -> set[str]:
    """The rows ``viewer`` may see (:func:`_key`), by :func:`may_see` over the stored rows."""
    rows = _sql(
        path, "SELECT detection_id, upload_id, src_row, owner, releasable_to FROM detections"
    )
    return {_key(*row[:3]) for row in rows if may_see(viewer, row[3], row[4])}


def _seen(path: Path, viewer: str) -> set[str]:
    """The rows :func:`store.visible_detections` gives ``viewer`` (:func:`_key`)."""
    seen = store.visible_detections(path, viewer)
    return {
        _key(*row)
        for row in zip(seen["detection_id"], seen["upload_id"], seen["src_row"], strict=True)
    }


def _snapshot(path: Path) -> tuple[object, ...]:
    return (
        _sql(path, f"SELECT {_ROW_COLUMNS} FROM detections ORDER BY fid"),
        _sql(path, "SELECT * FROM uploads ORDER BY upload_id"),
        _sql(path, "SELECT * FROM audit ORDER BY id"),
        _sql(path, "SELECT * FROM retracted_detections ORDER BY id"),
        store.revision(path),
    )


# ---- retracting -----------------------------------------------------------------------------


def test_a_retracted_upload_s_rows_vanish_from_every_read_and_are_kept(db: Path) -> None:
    before = {p: store.visible_detections(db, p) for p in PARTNERS}
    stored = _sql(db, f"SELECT {_ROW_COLUMNS} FROM detections WHERE upload_id = 1 ORDER BY fid")
    assert len(stored) == 6

    result = store.retract_upload(db, 1, user="ana", partner="LTU", is_admin=False)

    assert (result["upload_id"], result["rows"], result["owner"]) == (1, 6, "LTU")
    for p in PARTNERS:
        after = store.visible_detections(db, p)
        assert 1 not in set(after["upload_id"])
        assert set(after["detection_id"]) == _expected_ids(db, p)
        kept = before[p][before[p]["upload_id"] != 1].reset_index(drop=True)
        pd.testing.assert_frame_equal(after, kept)
    assert _seen(db, "LVA") == {"P0", "P1", "P2", "P3"}  # LTU's rows released to LVA: gone
    # the rows are kept, as they were, out of every read
    assert _sql(db, f"SELECT {_ROW_COLUMNS} FROM retracted_detections ORDER BY fid") == stored
    assert _sql(db, "SELECT count(*) FROM detections WHERE upload_id = 1") == [(0,)]
    # the upload's record stays, marked, and is left out of the uploads by default
    assert store.uploads(db, "LTU")["upload_id"].tolist() == [3]
    listed = store.uploads(db, "LTU", retracted=True)
    assert listed["upload_id"].tolist() == [1, 3]
    assert listed["retracted_by"].tolist()[0] == "ana"
    assert listed["retracted_at"].notna().tolist() == [True, False]
    # the audit keeps both records: the upload and its retraction
    log = store.audit_log(db)
    of_1 = log[log["target"] == "1"]
    assert of_1["action"].tolist() == ["upload.retract", "upload"]
    assert json.loads(of_1["detail"].iloc[0]) == {
        "owner": "LTU",
        "file_name": "LTU.csv",
        "rows": 6,
        "releasable_to": "LVA",
    }
    assert json.loads(of_1["detail"].iloc[1])["retracted_by"] == "ana"


def test_owners_leave_out_a_partner_whose_uploads_are_all_retracted(db: Path) -> None:
    assert store.owners(db) == ["LTU", "POL"]
    store.retract_upload(db, 2, user="root", partner="EU", is_admin=True)
    assert store.owners(db) == ["LTU"]
    assert store.uploads(db, "POL").empty


def test_a_retracted_file_may_be_uploaded_again(db: Path) -> None:
    frame = _frame("L", 6, ["", "ALL", "", "", "ALL", ""])
    again = _ingest(db, frame, "LTU", releasable_to="LVA")
    assert (again.accepted, again.already_uploaded) == (0, True)
    store.retract_upload(db, 1, user="ana", partner="LTU", is_admin=False)
    fresh = _ingest(db, frame, "LTU", releasable_to="LVA")
    assert (fresh.accepted, fresh.duplicates, fresh.already_uploaded) == (6, 0, False)
    assert _seen(db, "LVA") == _expected_ids(db, "LVA") >= {f"L{i}" for i in range(6)}


def test_an_admin_of_another_partner_may_retract_and_is_audited_as_such(db: Path) -> None:
    store.retract_upload(db, 2, user="root", partner="EU", is_admin=True)
    entry = store.audit_log(db, limit=1).iloc[0]
    assert (entry["action"], entry["user"], entry["partner"], entry["target"]) == (
        "upload.retract",
        "root",
        "EU",
        "2",
    )
    assert not any(i.startswith("P") for i in _seen(db, "EU"))


# ---- re-marking ----------------------------------------------------------------------------


def test_re_marking_changes_who_sees_the_rows(db: Path) -> None:
    assert {f"L{i}" for i in range(6)} <= _seen(db, "LVA")
    assert _seen(db, "POL") & {f"L{i}" for i in range(6)} == {"L1", "L4"}  # the file's ALL

    result = store.mark_upload(db, 1, "POL", user="ana", partner="LTU", is_admin=False)

    assert (result["before"], result["after"], result["rows"]) == ("LVA", "POL", 6)
    assert result["rows_before"] == {"ALL": 2, "LVA": 4}
    # the upload and every one of its rows carry the new marking (the file's ALL too)
    assert _sql(db, "SELECT DISTINCT releasable_to FROM detections WHERE upload_id = 1") == [
        ("POL",)
    ]
    assert _sql(db, "SELECT releasable_to FROM uploads WHERE upload_id = 1") == [("POL",)]
    for p in PARTNERS:
        assert _seen(db, p) == _expected_ids(db, p)
    ltu_rows = {f"L{i}" for i in range(6)}
    assert _seen(db, "LVA") & ltu_rows == set()
    assert _seen(db, "POL") & ltu_rows == ltu_rows
    assert _seen(db, "EU") & ltu_rows == set()
    assert store.uploads(db, "LTU")["releasable_to"].tolist() == ["POL", ""]
    # the audit has the marking before and after
    entry = store.audit_log(db, limit=1).iloc[0]
    assert entry["action"] == "upload.mark"
    detail = json.loads(entry["detail"])
    assert (detail["before"], detail["after"]) == ("LVA", "POL")
    # owner only: an empty marking
    store.mark_upload(db, 1, "", user="root", partner="EU", is_admin=True)
    assert _seen(db, "POL") & ltu_rows == set()
    assert _seen(db, "LTU") >= ltu_rows


def test_a_marking_is_checked_as_an_upload_s_is(db: Path) -> None:
    before = _snapshot(db)
    with pytest.raises(ValidationError, match=r"unknown marking: ALL cannot be combined"):
        store.mark_upload(db, 1, "ALL,LVA", user="ana", partner="LTU", is_admin=False)
    with pytest.raises(ValidationError, match=r"unknown marking: not partner ids"):
        store.mark_upload(db, 1, "LVA;?!", user="ana", partner="LTU", is_admin=False)
    assert _snapshot(db) == before


# ---- refusals ------------------------------------------------------------------------------


def test_an_unauthorised_user_is_refused_and_nothing_changes(db: Path) -> None:
    before = _snapshot(db)
    with pytest.raises(
        ValidationError,
        match=r"upload 1: only the uploading partner or an admin may retract it: expected a "
        r"user of partner LTU or an admin, got 'user pol of partner POL'\. Nothing was changed",
    ):
        store.retract_upload(db, 1, user="pol", partner="POL", is_admin=False)
    with pytest.raises(
        ValidationError, match=r"only the uploading partner or an admin may re-mark"
    ):
        store.mark_upload(db, 1, "ALL", user="lva", partner="LVA", is_admin=False)
    assert _snapshot(db) == before
    assert _seen(db, "LVA") == _expected_ids(db, "LVA")


def test_unknown_retracted_and_malformed_uploads_are_refused_clearly(
    db: Path, tmp_path: Path
) -> None:
    owner = {"user": "ana", "partner": "LTU", "is_admin": False}
    with pytest.raises(ValidationError, match=r"field 'upload_id': no such upload.*got 99"):
        store.retract_upload(db, 99, **owner)
    with pytest.raises(ValidationError, match=r"upload_id: not an upload id.*got 'abc'"):
        store.retract_upload(db, "abc", **owner)
    with pytest.raises(ValidationError, match=r"not an upload id.*got 0"):
        store.mark_upload(db, 0, "ALL", **owner)
    store.retract_upload(db, 1, **owner)
    before = _snapshot(db)
    with pytest.raises(ValidationError, match=r"upload 1: already retracted.*by ana"):
        store.retract_upload(db, 1, **owner)
    with pytest.raises(ValidationError, match=r"upload 1: already retracted"):
        store.mark_upload(db, 1, "ALL", **owner)
    # another partner learns nothing of the retraction: it may not change the upload at all
    with pytest.raises(ValidationError, match=r"only the uploading partner") as refused:
        store.retract_upload(db, 1, user="pol", partner="POL", is_admin=False)
    assert "ana" not in str(refused.value)
    assert "retracted" not in str(refused.value)
    assert _snapshot(db) == before
    missing = tmp_path / "none.gpkg"
    with pytest.raises(ValidationError, match=r"no such store"):
        store.retract_upload(missing, 1, **owner)
    assert not missing.exists()


# ---- the version, and the app's cache -------------------------------------------------------


def test_the_version_grows_with_every_change_of_rows_and_only_then(db: Path) -> None:
    start = store.revision(db)
    assert start == store.Revision(uploads=3, changes=0)
    assert store.version(db) == start.version == 3
    store.record_event(db, "signin", user="ana", partner="LTU")
    assert store.version(db) == 3  # an event that changes no row
    store.mark_upload(db, 3, "ALL", user="ana", partner="LTU", is_admin=False)
    assert store.revision(db) == store.Revision(3, 1)
    store.retract_upload(db, 2, user="root", partner="EU", is_admin=True)
    assert store.revision(db) == store.Revision(3, 2)
    _ingest(db, _frame("R", 2), "LVA")
    assert store.revision(db) == store.Revision(4, 2)
    versions = [3, 4, 5, store.version(db)]
    assert versions == sorted(set(versions))


@pytest.fixture
def _fresh_caches():
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _app_shows(db: Path, viewer: str) -> set[str]:
    """The stored rows the app's window (all time) holds for ``viewer`` (:func:`_key`)."""
    from ui import shared as ui

    window = ui.map_window(
        str(settings.SAMPLE_DIR), 5.0, 1.0, False, store.version(db), None, None, (viewer,)
    )
    det = window.result.layers["detections"]
    assert window.total == len(det)  # every row of the window is held: none cut
    stored = det[~det["detection_id"].astype(str).str.startswith("D")]  # not the sample's own
    return set(stored["detection_id"].astype(str))


@pytest.mark.usefixtures("_fresh_caches")
def test_the_app_counts_the_store_again_after_a_retraction_or_re_marking(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app holds no stored row between reruns: each store version is counted afresh
    # (ui.shared.map_window, the store version in its key), so what a viewer is shown
    # follows retractions and re-markings, by the rule applied to the rows as stored.
    monkeypatch.setenv("LIMES_STORE", str(db))
    for viewer in ("LTU", "LVA", "POL"):
        assert _app_shows(db, viewer) == _expected_ids(db, viewer), viewer

    store.retract_upload(db, 1, user="ana", partner="LTU", is_admin=False)
    assert not any(i.startswith("L") for i in _app_shows(db, "LTU"))
    for viewer in ("LTU", "LVA", "POL"):
        assert _app_shows(db, viewer) == _expected_ids(db, viewer), viewer

    assert not any(i.startswith("Q") for i in _app_shows(db, "LVA"))
    store.mark_upload(db, 3, "LVA", user="ana", partner="LTU", is_admin=False)
    assert {f"Q{i}" for i in range(3)} <= _app_shows(db, "LVA")
    for viewer in ("LTU", "LVA", "POL"):
        assert _app_shows(db, viewer) == _expected_ids(db, viewer), viewer

    _ingest(db, _frame("R", 2), "LVA")  # a new upload: counted on the next version
    assert {"R0", "R1"} <= _app_shows(db, "LVA")
    for viewer in ("LTU", "LVA", "POL"):
        assert _app_shows(db, viewer) == _expected_ids(db, viewer), viewer


# ---- the audit log --------------------------------------------------------------------------


def _layers() -> dict[str, gpd.GeoDataFrame]:
    from shapely import LineString

    border = gpd.GeoDataFrame(
        {"name": ["b"]}, geometry=[LineString([(25.0, 54.0), (25.5, 54.2)])], crs="EPSG:4326"
    )
    sensors = gpd.GeoDataFrame(
        {"sensor_id": ["S1"], "range_m": [3000.0]}, geometry=[Point(25.1, 54.05)], crs="EPSG:4326"
    )
    return {"border": border, "sensors": sensors}


def test_the_audit_log_holds_uploads_versions_and_events_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "s.gpkg"
    layers = _layers()
    store.put_operation(path, {"name": "op1"}, layers, user="plan")
    store.put_layer_version(path, "op1", "sensors", layers["sensors"], user="plan", note="moved")
    up = _ingest(path, _frame("A", 3), "LTU", operation="op1", user="ana")
    store.record_event(path, "signin", user="ana", partner="LTU", detail={"method": "password"})
    store.mark_upload(path, up.upload_id, "ALL", user="ana", partner="LTU", is_admin=False)
    store.record_event(path, "signin.failed", user="mallory")

    log = store.audit_log(path)
    assert list(log.columns) == ["at", "user", "partner", "action", "operation", "target", "detail"]
    assert str(log["at"].dtype) == "datetime64[ms, UTC]"
    assert log["at"].is_monotonic_decreasing
    assert log["action"].tolist() == [
        "signin.failed",
        "upload.mark",
        "signin",
        "upload",
        "layer.version",
        "layer.version",
        "layer.version",
        "operation.create",
    ]
    versions = log[log["action"] == "layer.version"]
    assert versions["target"].tolist() == ["sensors v2", "sensors v1", "border v1"]
    assert json.loads(versions["detail"].iloc[0])["note"] == "moved"
    assert set(versions["user"]) == {"plan"}
    upload = log[log["action"] == "upload"].iloc[0]
    assert (upload["user"], upload["partner"], upload["operation"]) == ("ana", "LTU", "op1")
    assert json.loads(upload["detail"])["accepted"] == 3
    # filters
    assert store.audit_log(path, limit=2)["action"].tolist() == ["signin.failed", "upload.mark"]
    assert set(store.audit_log(path, operation="op1")["action"]) == {
        "upload.mark",
        "upload",
        "layer.version",
        "operation.create",
    }
    assert store.audit_log(path, operation="nope").empty
    with pytest.raises(ValidationError, match=r"limit: not a number of entries"):
        store.audit_log(path, limit=-1)


def test_record_event_refuses_what_is_not_an_action(tmp_path: Path) -> None:
    path = tmp_path / "s.gpkg"
    with pytest.raises(ValidationError, match=r"action: not an audit action.*'Sign In'"):
        store.record_event(path, "Sign In", user="ana")
    with pytest.raises(ValueError, match=r"written by the store itself"):
        store.record_event(path, "upload.retract", user="ana")
    with pytest.raises(ValidationError, match=r"detail: not JSON"):
        store.record_event(path, "signin", user="ana", detail={"x": float("nan")})
    assert not path.exists()  # nothing was written: not even a store


# ---- schema 3 -> 4 --------------------------------------------------------------------------


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    path = tmp_path / "old.gpkg"
    with gzip.open(FIXTURE, "rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def test_reading_a_schema_3_store_leaves_it_as_it_is(old_store: Path) -> None:
    digest = hashlib.sha256(old_store.read_bytes()).hexdigest()
    assert (
        "store schema 3"
        in _sql(old_store, "SELECT description FROM gpkg_contents WHERE table_name = 'detections'")[
            0
        ][0]
    )
    assert store.revision(old_store) == store.Revision(3, 0)
    assert store.owners(old_store) == ["LTU", "POL"]
    assert len(store.uploads(old_store, ["LTU", "POL"], retracted=True)) == 3
    assert store.uploads(old_store, "LTU", operation="baltic")["upload_id"].tolist() == [3]
    log = store.audit_log(old_store)
    assert log["action"].tolist() == [
        "upload",
        "upload",
        "upload",
        "layer.version",
        "layer.version",
        "operation.create",
    ]
    assert set(log.loc[log["action"] != "upload", "user"]) == {"fixture"}
    # a refused change does not upgrade it either
    with pytest.raises(ValidationError, match=r"only the uploading partner or an admin"):
        store.retract_upload(old_store, 2, user="ana", partner="LTU", is_admin=False)
    assert hashlib.sha256(old_store.read_bytes()).hexdigest() == digest


def test_a_schema_3_store_becomes_schema_4_without_loss(old_store: Path) -> None:
    rows = _sql(old_store, f"SELECT {_ROW_COLUMNS} FROM detections ORDER BY fid")
    uploads = _sql(old_store, f"SELECT {_UPLOAD_COLUMNS_3} FROM uploads ORDER BY upload_id")
    operations = _sql(old_store, "SELECT * FROM operations")
    layers = _sql(old_store, "SELECT * FROM operation_layers ORDER BY id")
    seen = {p: store.visible_detections(old_store, p) for p in PARTNERS}
    log = store.audit_log(old_store)
    assert (len(rows), len(uploads), len(layers)) == (21, 3, 2)

    store.open_store(old_store).close()  # opened for writing: upgraded

    assert _sql(old_store, f"SELECT {_ROW_COLUMNS} FROM detections ORDER BY fid") == rows
    assert _sql(old_store, f"SELECT {_UPLOAD_COLUMNS_3} FROM uploads ORDER BY upload_id") == uploads
    assert _sql(old_store, "SELECT DISTINCT retracted_at, retracted_by FROM uploads") == [
        (None, None)
    ]
    assert _sql(old_store, "SELECT * FROM operations") == operations
    assert _sql(old_store, "SELECT * FROM operation_layers ORDER BY id") == layers
    for partner, before in seen.items():
        pd.testing.assert_frame_equal(store.visible_detections(old_store, partner), before)
    pd.testing.assert_frame_equal(store.audit_log(old_store), log)
    descriptions = dict(_sql(old_store, "SELECT table_name, description FROM gpkg_contents"))
    assert set(descriptions) == {
        "detections",
        "detections_timed",
        "uploads",
        "operations",
        "operation_layers",
        "operation_dems",
        "audit",
        "retracted_detections",
    }
    assert all(f"store schema {schema.SCHEMA_VERSION})" in d for d in descriptions.values())
    assert schema.SCHEMA_VERSION >= 4  # upgraded to the current layout (5: the map's cell index)
    assert _sql(old_store, "PRAGMA integrity_check") == [("ok",)]
    listed = dict(pyogrio.list_layers(old_store).tolist())
    assert listed["audit"] is None
    assert listed["detections"] == "Point"
    # and it works as a schema 4 store: LTU retracts its sample upload
    store.retract_upload(old_store, 1, user="ana", partner="LTU", is_admin=False)
    assert (
        _seen(old_store, "LVA") == _expected_ids(old_store, "LVA") == {"P0", "P1", "P2", "P3", "P4"}
    )
    assert store.audit_log(old_store)["action"].iloc[0] == "upload.retract"


def test_a_schema_3_store_is_upgraded_by_the_first_retraction(old_store: Path) -> None:
    store.mark_upload(old_store, 3, "POL", user="root", partner="EU", is_admin=True)
    assert (
        f"store schema {schema.SCHEMA_VERSION}"
        in _sql(old_store, "SELECT description FROM gpkg_contents WHERE table_name = 'uploads'")[0][
            0
        ]
    )
    assert _sql(old_store, "SELECT action, user, partner, target FROM audit") == [
        ("upload.mark", "root", "EU", "3")
    ]
    assert _seen(old_store, "POL") == _expected_ids(old_store, "POL")
    assert {f"N{i}" for i in range(4)}.isdisjoint(_seen(old_store, "LVA"))


# ---- the command line -----------------------------------------------------------------------


def _geo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_uploads_and_audit_commands_end_to_end(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    for name, partner, roles in (
        ("ana", "LTU", "analyst"),
        ("pol", "POL", "analyst"),
        ("root", "EU", "admin"),
    ):
        add_user(users, name, partner=partner, roles=roles, password="a long enough password")
    db = tmp_path / "cli.gpkg"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIMES_STORE": str(db)}
    env["LIMES_USERS_FILE"] = str(users)
    csv = tmp_path / "ltu.csv"
    csv.write_text(
        "time,detection_id,lon,lat\n"
        + "".join(f"2026-11-01T0{i}:00:00Z,C{i},25.{i},54.5\n" for i in range(5))
    )
    done = _geo("ingest", str(csv), "--partner", "LTU", "--releasable-to", "LVA", env=env)
    assert done.returncode == 0, done.stderr
    upload_id = str(json.loads(done.stdout)["upload_id"])

    def features(partner: str) -> int:
        out = _geo("detections", "--as-partner", partner, env=env)
        assert out.returncode == 0, out.stderr
        return len(json.loads(out.stdout)["features"])

    assert (features("LVA"), features("POL")) == (5, 0)
    # refused: another partner's analyst, an unknown user, a bad marking; nothing changes
    before = _snapshot(db)
    for args, message in (
        (("mark", upload_id, "--releasable-to", "POL", "--user", "pol"), "only the uploading"),
        (("delete", upload_id, "--user", "pol"), "may retract it"),
        (("delete", upload_id, "--user", "nobody"), "no such user"),
        (("mark", upload_id, "--releasable-to", "ALL,POL", "--user", "ana"), "unknown marking"),
        (("delete", "42", "--user", "ana"), "no such upload"),
    ):
        out = _geo("uploads", *args, env=env)
        assert out.returncode == 2, out
        assert out.stdout == ""
        assert message in out.stderr
        assert "Traceback" not in out.stderr
    assert _snapshot(db) == before
    # the owner re-marks, an admin of another partner retracts
    out = _geo("uploads", "mark", upload_id, "--releasable-to", "POL", "--user", "ana", env=env)
    assert out.returncode == 0, out.stderr
    marked = json.loads(out.stdout)
    assert (marked["before"], marked["after"], marked["rows"]) == ("LVA", "POL", 5)
    assert (features("LVA"), features("POL")) == (0, 5)
    out = _geo("uploads", "list", "--as-partner", "LTU", env=env)
    assert [u["releasable_to"] for u in json.loads(out.stdout)["uploads"]] == ["POL"]
    out = _geo("uploads", "delete", upload_id, "--user", "root", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == 5
    assert (features("LTU"), features("POL")) == (0, 0)
    out = _geo("uploads", "list", "--as-partner", "LTU", env=env)
    assert json.loads(out.stdout)["uploads"] == []
    out = _geo("uploads", "list", "--as-partner", "LTU", "--retracted", env=env)
    assert json.loads(out.stdout)["uploads"][0]["retracted_by"] == "root"
    # the audit log: both records, newest first, details as JSON
    out = _geo("audit", "--limit", "3", env=env)
    assert out.returncode == 0, out.stderr
    entries = json.loads(out.stdout)["entries"]
    assert [(e["action"], e["user"], e["target"]) for e in entries] == [
        ("upload.retract", "root", upload_id),
        ("upload.mark", "ana", upload_id),
        ("upload", entries[2]["user"], upload_id),
    ]
    assert entries[1]["detail"]["rows_before"] == {"LVA": 5}
    assert entries[0]["at"].endswith("Z")
    out = _geo("audit", "--limit", "-2", env=env)
    assert out.returncode == 2
    assert "limit: not a number of entries" in out.stderr


# ---- sign-ins -------------------------------------------------------------------------------

APP = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import streamlit as st
from ui import signin
v = signin.current_viewer()
st.markdown(f"VIEWER name={{v.name}} partner={{v.partner}}")
"""


def _sign_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str) -> AppTest:
    script = tmp_path / "app.py"
    script.write_text(APP)
    users = tmp_path / "users.json"
    add_user(users, "ana", partner="LTU", roles="analyst", password="a long enough password")
    monkeypatch.setenv(settings.USERS_FILE_ENV, str(users))
    at = AppTest.from_file(str(script), default_timeout=60).run()
    at.text_input(key="signin_name").input("ana")
    at.text_input(key="signin_password").input(password)
    return at.button(key="signin_submit").click().run()


def test_sign_ins_are_recorded_in_the_audit_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "store.gpkg"
    monkeypatch.setenv("LIMES_STORE", str(db))
    at = _sign_in(tmp_path, monkeypatch, "wrong password, sorry")
    assert not at.exception
    assert "Wrong user name or password." in [e.value for e in at.error]
    at.text_input(key="signin_name").input("ana")
    at.text_input(key="signin_password").input("a long enough password")
    at = at.button(key="signin_submit").click().run()
    assert not at.exception
    assert any("VIEWER name=ana partner=LTU" in m.value for m in at.markdown)
    log = store.audit_log(db)
    assert log[["action", "user"]].values.tolist() == [["signin", "ana"], ["signin.failed", "ana"]]
    assert log["partner"].iloc[0] == "LTU"
    assert pd.isna(log["partner"].iloc[1])
    assert json.loads(log["detail"].iloc[0])["method"] == "password"
    assert store.version(db) == 0  # sign-ins change no rows: no cache is dropped


def test_a_store_that_cannot_record_a_sign_in_does_not_block_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_store = tmp_path / "notes.gpkg"
    not_a_store.write_text("not a GeoPackage")
    monkeypatch.setenv("LIMES_STORE", str(not_a_store))
    with caplog.at_level("WARNING", logger="ui.signin"):
        at = _sign_in(tmp_path, monkeypatch, "a long enough password")
    assert not at.exception
    assert not at.error
    assert any("VIEWER name=ana partner=LTU" in m.value for m in at.markdown)
    assert not_a_store.read_text() == "not a GeoPackage"
    assert any("not recorded in the audit log" in r.getMessage() for r in caplog.records)
