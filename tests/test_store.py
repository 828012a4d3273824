"""Tests for :mod:`geo.store`: the shared GeoPackage store, releasability, duplicates, crashes.

The store is checked from the outside where possible: GDAL (pyogrio, and ``ogrinfo`` when
installed) must read it as a GeoPackage, SQLite's own ``PRAGMA integrity_check`` must pass
after a ``kill -9`` in the middle of an upload, and concurrent uploads run in separate
processes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import adbc_driver_manager
import adbc_driver_sqlite.dbapi as adbc
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo import store
from geo.core.errors import ValidationError
from geo.inputs.loader import LoadReport, read_detections
from geo.store import (
    ALL,
    bulk,
    connection,
    ingest,
    ingest_file,
    may_see,
    open_store,
    parse_releasability,
    schema,
    upload,
    uploads,
    visible_detections,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "detections.csv"
PARTNERS = ("LTU", "LVA", "POL", "EU")


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """A detections frame like read_detections returns (EPSG:4326 points, UTC times)."""
    df = pd.DataFrame(rows)
    out = gpd.GeoDataFrame(
        {
            "time": pd.to_datetime(df["time"], utc=True, format="ISO8601").astype(
                "datetime64[us, UTC]"
            ),
            **{
                c: df[c].astype("str")
                for c in (
                    "detection_id",
                    "source",
                    "partner",
                    "class",
                    "releasable_to",
                    "access",
                    "caveat",
                )
                if c in df
            },
            **{c: df[c].astype(float) for c in ("confidence",) if c in df},
            "src_row": np.arange(1, len(df) + 1, dtype=np.int64),
        },
        geometry=gpd.points_from_xy(df["lon"], df["lat"]),
        crs="EPSG:4326",
    )
    return out


def report_for(df: gpd.GeoDataFrame, name: str = "test.csv") -> LoadReport:
    return LoadReport(
        source=name,
        layer="detections",
        format="CSV",
        source_crs="EPSG:4326",
        rows_read=len(df),
        rows_accepted=len(df),
    )


def put(
    path: Path | str,
    df: gpd.GeoDataFrame,
    *,
    partner: str,
    releasable_to: str | None = None,
    sha: str | None = None,
) -> store.IngestResult:
    digest = sha or f"{abs(hash((partner, releasable_to, len(df), time.time_ns()))):064x}"[-64:]
    return ingest(
        path,
        df,
        report_for(df),
        file_name="test.csv",
        sha256=digest,
        partner=partner,
        releasable_to=releasable_to,
        user="tester",
    )


def det(i: int, **kw: Any) -> dict[str, Any]:
    row = {
        "time": f"2026-11-01T{i % 24:02d}:00:{i % 60:02d}Z",
        "detection_id": f"D{i}",
        "source": "radar-1",
        "lon": 25.0 + i % 1000 * 0.001,
        "lat": 54.5 + i // 1000 * 0.001,
        "class": "person",
        "confidence": 0.5,
    }
    row.update(kw)
    return row


def ids(df: pd.DataFrame) -> set[str]:
    return set(df["detection_id"].astype(str))


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def counts(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT count(*) FROM detections").fetchone()[0],
            conn.execute("SELECT count(*) FROM uploads").fetchone()[0],
        )
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "limes.gpkg"


# --------------------------------------------------------------------------------------
# The file is a GeoPackage
# --------------------------------------------------------------------------------------


def test_store_is_created_on_first_use_as_a_geopackage(db: Path) -> None:
    assert not db.parent.exists()
    open_store(db).close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 10300
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        srs = {r[0] for r in conn.execute("SELECT srs_id FROM gpkg_spatial_ref_sys")}
        assert srs == {-1, 0, 4326}
        contents = dict(conn.execute("SELECT table_name, data_type FROM gpkg_contents"))
        assert contents == {
            "detections": "features",
            "uploads": "attributes",
            "detections_timed": "features",
            "operations": "attributes",  # store schema 3
            "operation_layers": "attributes",
            "operation_dems": "attributes",
            "audit": "attributes",  # store schema 4
            "retracted_detections": "attributes",
        }
        assert conn.execute("SELECT * FROM gpkg_geometry_columns ORDER BY 1").fetchall() == [
            ("detections", "geom", "POINT", 4326, 0, 0),
            ("detections_timed", "geom", "POINT", 4326, 0, 0),
        ]
    finally:
        conn.close()
    layers = pyogrio.list_layers(db)
    assert sorted(tuple(x) for x in layers) == [
        ("audit", None),
        ("detections", "Point"),
        ("detections_timed", "Point"),
        ("operation_dems", None),
        ("operation_layers", None),
        ("operations", None),
        ("retracted_detections", None),
        ("uploads", None),
    ]


@pytest.mark.parametrize("umask", [0o000, 0o002, 0o022, 0o077, 0o277])
def test_a_new_store_and_its_wal_and_shm_are_private(db: Path, umask: int) -> None:
    # The store holds every partner's detections: only its owner may read it (the users
    # file is 0600 too), whatever umask the server or the command line runs under.
    old = os.umask(umask)
    try:
        put(db, frame([det(1), det(2)]), partner="LTU")
        conn = open_store(db)  # a connection in WAL mode: SQLite makes -wal and -shm
        try:
            assert conn.execute("SELECT count(*) FROM detections").fetchone()[0] == 2
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
        finally:
            conn.close()
    finally:
        os.umask(old)
    assert modes == {f.name: "0o600" for f in files}


@pytest.mark.parametrize("store_path", ["a-file/limes.gpkg", "a-file"])
def test_a_store_that_cannot_be_created_is_refused_with_a_message(
    tmp_path: Path, store_path: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(ValidationError, match=r"cannot create the store|not a Limes store"):
        put(tmp_path / store_path, frame([det(1)]), partner="LTU")
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_gdal_reads_back_what_was_stored(db: Path) -> None:
    df, rep = read_detections(SAMPLE)
    ingest_file(db, SAMPLE, partner="LTU", releasable_to="LVA")
    x0, y0, x1, y1 = df.total_bounds
    for layer in ("detections", "detections_timed"):
        back = pyogrio.read_dataframe(db, layer=layer)
        assert back.crs.to_epsg() == 4326
        assert len(back) == len(df) == rep.rows_accepted
        back = back.sort_values("src_row").reset_index(drop=True)
        assert back["detection_id"].tolist() == df["detection_id"].tolist()
        assert back["time_us"].tolist() == df["time"].array.asi8.tolist()
        assert np.array_equal(
            shapely.get_coordinates(back.geometry.array), shapely.get_coordinates(df.geometry.array)
        )
        assert set(back["owner"]) == {"LTU"}
        assert set(back["releasable_to"]) == {"LVA"}
        info = pyogrio.read_info(db, layer=layer)
        assert info["features"] == len(df)
        assert np.allclose(info["total_bounds"], (x0, y0, x1, y1))
    # The view's GeoPackage DATETIME is milliseconds; the sample's times are whole seconds.
    pd.testing.assert_series_equal(
        back["time"].astype("datetime64[us, UTC]"), df["time"], check_names=False
    )
    audit = pyogrio.read_dataframe(db, layer="uploads")
    assert audit["sha256"].tolist() == [upload._sha256(SAMPLE)]


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo not installed")
def test_ogrinfo_opens_the_store_without_warnings(db: Path) -> None:
    ingest_file(db, SAMPLE, partner="LTU")
    first = sqlite3.connect(db).execute("SELECT min(fid) FROM detections").fetchone()[0]
    for args in (
        ["-so", "-al", str(db)],
        ["-q", str(db), "uploads"],
        ["-q", str(db), "detections_timed", "-where", f"fid < {first + 3}"],
    ):
        proc = subprocess.run(
            ["ogrinfo", *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert "Warning" not in proc.stderr + proc.stdout, proc.stderr
        assert "ERROR" not in proc.stderr + proc.stdout, proc.stderr
    # The view's time is GeoPackage DATETIME text (GDAL types a view's computed column as
    # String); the layer's own time_us is exact.
    assert "time (String) = 2026-11-01T00:00:10.000Z" in proc.stdout
    assert "time_us (Integer64) = 1793491210000000" in proc.stdout


def test_times_and_positions_round_trip_exactly(db: Path) -> None:
    rows = [
        det(
            1,
            time="2026-11-01T00:00:00.123456Z",
            lon=25.123456789012345,
            lat=54.98765432109876,
            confidence=0.1 + 0.2,
        ),
        det(
            2,
            time="2026-11-01T23:59:59.999999Z",
            confidence=np.nan,
            source=np.nan,
            **{"class": np.nan},
        ),
    ]
    df = frame(rows)
    put(db, df, partner="LTU")
    back = visible_detections(db, ["LTU"])
    assert back["time"].tolist() == df["time"].tolist()
    assert (
        shapely.get_coordinates(back.geometry.array).tolist()
        == shapely.get_coordinates(df.geometry.array).tolist()
    )
    assert back["confidence"].iloc[0] == 0.1 + 0.2
    assert np.isnan(back["confidence"].iloc[1])
    assert pd.isna(back["source"].iloc[1])
    assert pd.isna(back["class"].iloc[1])
    assert back["time"].dtype == "datetime64[us, UTC]"
    assert back.crs.to_epsg() == 4326
    assert list(back.columns) == [*store.COLUMNS, "geometry"]
    # The view's GeoPackage text time is the same instant, to the millisecond (truncated).
    conn = sqlite3.connect(db)
    text = [r[0] for r in conn.execute("SELECT time FROM detections_timed ORDER BY time_us")]
    conn.close()
    assert text == ["2026-11-01T00:00:00.123Z", "2026-11-01T23:59:59.999Z"]


def test_rows_over_days_out_of_order_keep_their_values_and_gaps(db: Path, monkeypatch) -> None:
    # Written sorted by day (the fid clusters by day), in several chunks: every value must
    # stay with its row, and missing text stay NULL (not empty text).
    monkeypatch.setattr(bulk, "_APPEND_CHUNK_ROWS", 7)
    rows = [
        det(
            i,
            time=f"2026-11-{30 - i % 29:02d}T{i % 24:02d}:00:00Z",
            source=np.nan if i % 3 == 0 else f"radar-{i % 5}",
            **{"class": np.nan if i % 4 == 0 else f"c{i}"},
            confidence=np.nan if i % 5 == 0 else i / 100,
        )
        for i in range(60)
    ]
    for target in (db, db.with_name("filled.gpkg")):
        if target != db:
            put(target, frame([det(999, time="2026-11-15T00:00:00Z")]), partner="POL")
        put(target, frame(rows), partner="LTU")
        back = visible_detections(target, "LTU").set_index("detection_id").sort_index()
        want = frame(rows).set_index("detection_id").sort_index()
        assert back["time"].tolist() == want["time"].tolist()
        for name in ("source", "class", "confidence"):
            pd.testing.assert_series_equal(
                back[name], want[name], check_names=False, check_dtype=False
            )
        assert (
            shapely.get_coordinates(back.geometry.array).tolist()
            == shapely.get_coordinates(want.geometry.array).tolist()
        )
        conn = sqlite3.connect(target)
        try:
            kinds = dict(
                conn.execute(
                    "SELECT typeof(source), count(*) FROM detections WHERE owner = 'LTU' GROUP BY 1"
                ).fetchall()
            )
            days = [
                r[0]
                for r in conn.execute("SELECT time_us / 86400000000 FROM detections ORDER BY fid")
            ]
        finally:
            conn.close()
        assert kinds == {"null": 20, "text": 40}
        assert days == sorted(days)


def test_geometry_written_by_another_tool_is_read(db: Path) -> None:
    # A GeoPackage blob with an envelope (as other tools may write after an edit): header,
    # 32 bytes of envelope, then the WKB point.
    put(db, frame([det(1)]), partner="LTU")
    x, y = 24.123456789, 55.987654321
    blob = (
        b"GP\x00\x03"
        + np.int32(4326).tobytes()
        + np.array([x, x, y, y], "<f8").tobytes()
        + shapely.to_wkb(shapely.Point(x, y), byte_order=1)
    )
    conn = sqlite3.connect(db)
    try:
        fid = conn.execute("SELECT max(fid) + 1 FROM detections").fetchone()[0]
        conn.execute(
            "INSERT INTO detections (fid, geom, time_us, detection_id, owner, "
            "releasable_to, upload_id) SELECT ?, ?, time_us + 1, 'edited', owner, "
            "releasable_to, upload_id FROM detections LIMIT 1",
            (fid, blob),
        )
        conn.commit()
    finally:
        conn.close()
    back = visible_detections(db, "LTU").set_index("detection_id")
    assert shapely.get_coordinates(back.geometry.array).tolist() == [[25.001, 54.5], [x, y]]


def test_columns_empty_in_the_first_thousand_rows_read_back(db: Path) -> None:
    # The SQLite driver types a column from the first rows it reads: a column that is NULL
    # there and set later must still read (detections and the audit log).
    rows = [det(i, **{"class": np.nan if i < 1100 else "vehicle"}) for i in range(1500)]
    put(db, frame(rows), partner="LTU")
    back = visible_detections(db, "LTU")
    assert back["class"].isna().sum() == 1100
    assert set(back["class"].dropna()) == {"vehicle"}
    conn = sqlite3.connect(db)
    try:
        conn.executemany(
            "INSERT INTO uploads (uploaded_by, partner, file_name, sha256, rows_read, accepted, "
            "rejected, duplicates, releasable_to, file_markings, notes) "
            "VALUES (?, 'LTU', 'f.csv', ?, 0, 0, 0, 0, '', 0, ?)",
            [
                (None if i < 1100 else "ana", f"{i:064x}", None if i < 1100 else "a note")
                for i in range(1200)
            ],
        )
        conn.commit()
    finally:
        conn.close()
    audit = store.uploads(db, "LTU")
    assert len(audit) == 1201
    assert audit["notes"].notna().sum() == 100
    assert audit["uploaded_by"].iloc[-1] == "ana"


def test_columns_empty_beyond_the_first_read_batch_read_back(db: Path) -> None:
    # Reads go in batches of _READ_BATCH_ROWS (65,536) rows, and the driver types a column
    # from the first: NULL in the first 70,000 rows, then text or numbers, must still read.
    n = 70_000
    assert n > connection._READ_BATCH_ROWS
    rows = [
        det(i, **{"class": np.nan if i < n else "vehicle", "confidence": np.nan if i < n else 0.75})
        for i in range(n + 5)
    ]
    put(db, frame(rows), partner="LTU")
    back = visible_detections(db, "LTU")
    assert len(back) == n + 5
    assert back["class"].isna().sum() == n
    assert set(back["class"].dropna()) == {"vehicle"}
    assert back["confidence"].isna().sum() == n
    assert set(back["confidence"].dropna()) == {0.75}
    conn = sqlite3.connect(db)
    try:
        conn.executemany(
            "INSERT INTO uploads (uploaded_by, partner, file_name, sha256, rows_read, accepted, "
            "rejected, duplicates, releasable_to, file_markings, notes) "
            "VALUES (?, 'LTU', 'f.csv', ?, 0, 0, 0, 0, '', 0, ?)",
            [
                (None if i < n else "ana", f"{i:064x}", None if i < n else "a note")
                for i in range(n + 100)
            ],
        )
        conn.commit()
    finally:
        conn.close()
    audit = store.uploads(db, "LTU")
    assert len(audit) == n + 101
    assert audit["upload_id"].is_monotonic_increasing
    assert audit["notes"].notna().sum() == 100
    assert audit["uploaded_by"].iloc[-1] == "ana"


def test_values_of_another_type_beyond_the_first_read_batch_read_as_missing(db: Path) -> None:
    # Values another tool stored with the wrong type, in the first batch the driver reads
    # (row 3) or only after it (row 69,000: the driver refuses them there), read as they do
    # in a small store.
    put(db, frame([det(i) for i in range(70_000)]), partner="LTU")
    _edit(
        db,
        "UPDATE detections SET confidence = 'high', src_row = 1.5, caveat = x'ff41' "
        "WHERE detection_id = 'D3'",
    )
    _edit(
        db,
        "UPDATE detections SET ce_m = 'deep', upload_id = 'x', access = x'ff42' "
        "WHERE detection_id = 'D69000'",
    )
    seen = visible_detections(db, "LTU").set_index("detection_id")
    assert len(seen) == 70_000
    assert np.isnan(seen.loc["D3", "confidence"])
    assert seen.loc["D3", "src_row"] == 0
    assert seen.loc["D3", "caveat"] == "\ufffdA"  # bytes that are not UTF-8 in a text column
    assert np.isnan(seen.loc["D69000", "ce_m"])
    assert seen.loc["D69000", "upload_id"] == 0
    assert seen.loc["D69000", "access"] == "\ufffdB"
    assert seen.loc["D4", "confidence"] == 0.5
    assert seen.loc["D4", "upload_id"] == 1
    assert seen["caveat"].isna().sum() == seen["access"].isna().sum() == 70_000 - 1


def test_ingest_leaves_its_inputs_unchanged(db: Path) -> None:
    df = frame([det(i, releasable_to="ALL" if i % 2 else np.nan) for i in range(5)])
    before = df.copy()
    put(db, df, partner="LTU")
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize(
    "content",
    [b"detection_id,time\n1,2026-11-01T00:00:00Z\n", b"SQLite format 3\x00" + b"\x00" * 200],
)
def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "not-a-store.gpkg"
    path.write_bytes(content)
    with pytest.raises(ValidationError, match="not a Limes store"):
        open_store(path)
    assert path.read_bytes() == content


def test_someone_elses_geopackage_is_never_touched(tmp_path: Path) -> None:
    path = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(1, 2)], crs=4326).to_file(path)
    before = path.read_bytes()
    with pytest.raises(ValidationError, match="not a Limes store"):
        ingest_file(path, SAMPLE, partner="LTU")
    assert path.read_bytes() == before


# --------------------------------------------------------------------------------------
# Releasability
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ""),
        ("", ""),
        ("  ", ""),
        ("ALL", ALL),
        ("all", ALL),
        (" All ", ALL),
        ("LVA", "LVA"),
        ("POL,LVA", "LVA,POL"),
        ("LVA, POL;EU/LVA", "EU,LVA,POL"),
        ("LVA POL", "LVA,POL"),
        # unknown: the owner only
        ("ALL,LVA", ""),
        ("LVA,*", ""),
        ("rel to: lva", ""),
        ("?", ""),
        ("'LVA'", ""),
    ],
)
def test_parse_releasability(text: str | None, expected: str) -> None:
    assert parse_releasability(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ALL,LVA", "ALL cannot be combined"),
        ("LVA;x*", "not partner ids: 'x\\*'"),
    ],
)
def test_a_typed_unknown_marking_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        parse_releasability(text, strict=True)


@pytest.mark.parametrize(
    ("viewer", "owner", "marking", "sees"),
    [
        ("LTU", "LTU", None, True),  # owner, no marking
        ("LTU", "LTU", "POL", True),  # owner, released elsewhere
        ("LVA", "LTU", "LVA", True),  # listed partner
        ("LVA", "LTU", "POL,LVA", True),  # listed among others
        ("POL", "LTU", "LVA", False),  # other partner
        ("EU", "LTU", "ALL", True),  # ALL
        ("LVA", "LTU", None, False),  # missing marking: owner only
        ("LVA", "LTU", "", False),  # empty marking: owner only
        ("LVA", "LTU", "LVA,*", False),  # unknown marking: owner only
        ("LVA", "LTU", "ALL,LVA", False),  # unknown marking: owner only
        ("lva", "LTU", "LVA", False),  # ids are exact
        ("", "LTU", "", False),  # not a partner: nothing
        ("ALL", "LTU", "ALL", False),  # ALL is not a partner
    ],
)
def test_may_see(viewer: str, owner: str, marking: str | None, sees: bool) -> None:
    assert may_see(viewer, owner, marking) is sees


@pytest.fixture
def marked_store(any_store: Path | str) -> tuple[Path | str, list[tuple[str, str, str | None]]]:
    """Three owners; rows with every kind of marking, from the file or the analyst.

    On each back-end (the ``any_store`` fixture: a GeoPackage, a PostGIS store).
    """
    markings = [None, "", ALL, "LVA", "POL", "LVA,POL", "EU LTU", "ALL,LVA", "lva", "L*A", "LTU"]
    truth = []
    for owner, default in (("LTU", None), ("LVA", "POL"), ("POL", ALL)):
        rows = []
        for k, m in enumerate(markings):
            i = len(truth)
            rows.append(det(i, detection_id=f"{owner}-{k}", releasable_to=m))
            # an empty cell is no marking, as in the loaders: the upload's default applies
            truth.append((f"{owner}-{k}", owner, m if m else default))
        put(any_store, frame(rows), partner=owner, releasable_to=default)
    return any_store, truth


@pytest.mark.parametrize("viewer", [*PARTNERS, "XYZ"])
def test_store_shows_a_partner_exactly_what_may_see_allows(marked_store, viewer: str) -> None:
    db, truth = marked_store
    expected = {i for i, owner, m in truth if may_see(viewer, owner, m)}
    assert ids(visible_detections(db, [viewer])) == expected
    assert ids(visible_detections(db, viewer)) == expected  # one string is one partner


def test_each_rule_on_the_stored_rows(marked_store) -> None:
    db, _ = marked_store
    lva = visible_detections(db, ["LVA"]).set_index("detection_id")
    # own rows, whatever their marking
    assert {i for i in lva.index if i.startswith("LVA-")} == {f"LVA-{k}" for k in range(11)}
    # LTU's rows: listed (LVA, LVA,POL) and ALL; not POL, not missing, not unknown
    assert sorted(i for i in lva.index if i.startswith("LTU-")) == ["LTU-2", "LTU-3", "LTU-5"]
    # POL's upload default is ALL: its rows without a marking are everyone's
    assert "POL-0" in lva.index
    assert "POL-4" not in lva.index
    eu = ids(visible_detections(db, ["EU"]))
    assert "LTU-6" in eu
    assert "LTU-7" not in eu  # "EU LTU" lists EU; "ALL,LVA" is unknown


def test_joint_view_is_the_union_not_everything(marked_store) -> None:
    db, truth = marked_store
    joint = ids(visible_detections(db, ["LVA", "EU"]))
    assert joint == ids(visible_detections(db, ["LVA"])) | ids(visible_detections(db, ["EU"]))
    assert joint < {i for i, _, _ in truth}
    everyone = ids(visible_detections(db, [*store.owners(db), "EU"]))
    assert everyone == {i for i, _, _ in truth}
    assert visible_detections(db, []).empty


def test_file_markings_are_kept_and_unknown_ones_are_noted(any_store: Path | str) -> None:
    df = frame(
        [
            det(0, releasable_to="ALL"),
            det(1, releasable_to="POL"),
            det(2, releasable_to=np.nan),
            det(3, releasable_to="ALL,POL"),
        ]
    )
    result = put(any_store, df, partner="LTU", releasable_to="LVA")
    stored = visible_detections(any_store, ["LTU"]).set_index("detection_id")["releasable_to"]
    assert stored.to_dict() == {"D0": "ALL", "D1": "POL", "D2": "LVA", "D3": ""}
    assert result.file_markings == 2
    assert result.releasable_to == "LVA"
    assert any("1 row(s) carry an unknown marking" in n and "ALL,POL" in n for n in result.notes)
    notes = uploads(any_store, "LTU")["notes"].iloc[0]
    assert "unknown marking" in notes
    assert "2 row(s) keep the marking" in notes


def test_cot_markings_from_the_file_are_kept(db: Path, tmp_path: Path) -> None:
    cot = tmp_path / "track.cot"
    cot.write_text(
        textwrap.dedent("""\
        <?xml version="1.0" encoding="UTF-8"?>
        <events>
          <event version="2.0" uid="cot-1" type="a-h-G" time="2026-11-01T10:00:00Z"
                 start="2026-11-01T10:00:00Z" stale="2026-11-01T10:05:00Z" how="m-g"
                 access="Unrestricted" releasableTo="LVA POL">
            <point lat="54.6" lon="25.2" hae="9999999" ce="10" le="9999999"/>
          </event>
          <event version="2.0" uid="cot-2" type="a-h-G" time="2026-11-01T10:01:00Z"
                 start="2026-11-01T10:01:00Z" stale="2026-11-01T10:06:00Z" how="m-g">
            <point lat="54.7" lon="25.3" hae="120" ce="10" le="5"/>
          </event>
        </events>
        """),
        encoding="utf-8",
    )
    try:
        df, _ = read_detections(cot)
    except ValidationError as exc:  # the CoT reader is a separate piece of work
        pytest.skip(f"CoT files are not read yet: {exc}")
    if "releasable_to" not in df:
        pytest.skip("the CoT reader does not give markings yet")
    result = ingest_file(db, cot, partner="LTU")
    assert result.accepted == 2
    assert result.file_markings == 1
    assert ids(visible_detections(db, ["POL"])) == {"cot-1"}  # the file's marking
    assert ids(visible_detections(db, ["EU"])) == set()  # default: owner only
    row = visible_detections(db, ["LVA"]).iloc[0]
    assert row["releasable_to"] == "LVA,POL"
    assert row["access"] == "Unrestricted"
    assert row["ce_m"] == 10.0
    assert np.isnan(row["hae_m"])


def test_uploads_audit_log_shows_a_partner_its_own_uploads_only(any_store: Path | str) -> None:
    ingest_file(any_store, SAMPLE, partner="LTU", releasable_to="ALL", user="alice")
    put(any_store, frame([det(1)]), partner="POL")
    log = uploads(any_store, ["LTU"])
    assert log["partner"].tolist() == ["LTU"]
    assert log["uploaded_by"].tolist() == ["alice"]
    row = log.iloc[0]
    assert row["file_name"] == "detections.csv"
    assert row["sha256"] == upload._sha256(SAMPLE)
    assert (row["rows_read"], row["accepted"], row["rejected"], row["duplicates"]) == (
        22000,
        22000,
        0,
        0,
    )
    assert row["releasable_to"] == ALL
    assert row["format"] == "CSV"
    assert str(log["uploaded_at"].dtype) == "datetime64[ms, UTC]"
    assert len(uploads(any_store, ["LTU", "POL"])) == 2
    assert uploads(any_store, ["LVA"]).empty


@pytest.mark.parametrize("bad", ["ALL", "", "LTU,LVA", "L T U", None])
def test_partner_must_be_a_partner_id(any_store: Path | str, bad: Any) -> None:
    with pytest.raises(ValidationError, match="not a partner id"):
        put(any_store, frame([det(1)]), partner=bad)
    with pytest.raises(ValidationError, match="not a partner id"):
        visible_detections(any_store, [bad])


def test_time_window_is_inclusive(any_store: Path | str) -> None:
    rows = [
        det(i, time=t)
        for i, t in enumerate(
            [
                "2026-11-01T05:59:59.999999Z",
                "2026-11-01T06:00:00Z",
                "2026-11-02T06:00:00Z",
                "2026-11-02T06:00:00.000001Z",
                "2026-11-03T00:00:00Z",
            ]
        )
    ]
    put(any_store, frame(rows), partner="LTU")
    got = visible_detections(
        any_store, "LTU", time_from="2026-11-01T06:00:00Z", time_to="2026-11-02T06:00:00"
    )  # no zone: UTC
    assert got["detection_id"].tolist() == ["D1", "D2"]
    assert len(visible_detections(any_store, "LTU", time_from="2026-11-02T06:00:00.000001Z")) == 2
    with pytest.raises(ValidationError, match="time_to is before time_from"):
        visible_detections(any_store, "LTU", time_from="2026-11-02", time_to="2026-11-01")
    with pytest.raises(ValidationError, match="time_from: not a time"):
        visible_detections(any_store, "LTU", time_from="yesterday-ish")


# --------------------------------------------------------------------------------------
# Duplicates
# --------------------------------------------------------------------------------------


def test_version_changes_when_an_upload_lands(any_store: Path | str) -> None:
    assert store.version(any_store) == 0
    ingest_file(any_store, SAMPLE, partner="LTU")
    assert store.version(any_store) == 1
    ingest_file(any_store, SAMPLE, partner="LTU")  # recognised: nothing lands
    assert store.version(any_store) == 1
    put(any_store, frame([det(0)]), partner="LVA")
    assert store.version(any_store) == 2


def test_same_file_by_same_partner_adds_nothing(db: Path) -> None:
    first = ingest_file(db, SAMPLE, partner="LTU")
    before = counts(db)
    again = ingest_file(db, SAMPLE, partner="LTU", releasable_to="ALL")
    assert counts(db) == before == (22000, 1)
    assert again.already_uploaded
    assert again.upload_id == first.upload_id
    assert (again.accepted, again.rejected, again.duplicates) == (0, 0, 22000)
    assert "already as upload 1" in again.notes[0]
    # ...while another partner's copy of the same file is its own upload
    other = ingest_file(db, SAMPLE, partner="LVA")
    assert (other.accepted, other.duplicates, other.already_uploaded) == (22000, 0, False)
    assert counts(db) == (44000, 2)


def test_same_detection_id_and_source_is_stored_once(any_store: Path | str, tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", [det(i) for i in range(10)])
    # overlaps a.csv in D5..D9; D9 twice in the file; D10 from another source is new
    rows = [det(i) for i in range(5, 15)] + [det(9, confidence=0.99), det(10, source="cam-2")]
    b = write_csv(tmp_path / "b.csv", rows)
    assert ingest_file(any_store, a, partner="LTU").accepted == 10
    result = ingest_file(any_store, b, partner="LTU")
    assert (result.accepted, result.duplicates, result.rejected) == (6, 6, 0)
    seen = visible_detections(any_store, ["LTU"])
    assert len(seen) == 16
    assert seen.loc[seen["detection_id"] == "D9", "confidence"].tolist() == [0.5]  # first kept
    assert sorted(seen.loc[seen["detection_id"] == "D10", "source"]) == ["cam-2", "radar-1"]
    assert uploads(any_store, "LTU")["duplicates"].tolist() == [0, 6]


def test_first_row_of_a_file_wins_among_duplicates(any_store: Path | str) -> None:
    df = frame(
        [
            det(1, confidence=0.1, time="2026-11-01T09:00:00Z"),
            det(1, confidence=0.9, time="2026-11-01T01:00:00Z"),
        ]
    )
    result = put(any_store, df, partner="LTU")
    assert (result.accepted, result.duplicates) == (1, 1)
    assert visible_detections(any_store, "LTU")["confidence"].tolist() == [0.1]


@pytest.mark.parametrize("store_rows", [0, 1, 10], ids=["empty", "bulk", "row-by-row"])
def test_of_one_id_on_two_days_the_earlier_day_is_kept(
    any_store: Path | str, store_rows: int
) -> None:
    # Rows are written day by day, so every way of writing keeps the same row: into an
    # empty store, a small one (bulk) and one holding more than twice the upload.
    if store_rows:
        put(any_store, frame([det(i) for i in range(90, 90 + store_rows)]), partner="LTU")
    df = frame(
        [
            det(1, confidence=0.1, time="2026-11-02T09:00:00Z"),
            det(1, confidence=0.9, time="2026-11-01T23:00:00Z"),
            det(1, confidence=0.3, time="2026-11-01T23:30:00Z"),
        ]
    )
    result = put(any_store, df, partner="LTU")
    assert (result.accepted, result.duplicates) == (1, 2)
    seen = visible_detections(any_store, "LTU")
    assert seen.loc[seen["detection_id"] == "D1", "confidence"].tolist() == [0.9]


def test_rows_without_id_are_duplicates_only_when_source_time_and_position_match(
    any_store: Path | str,
) -> None:
    base = {"detection_id": np.nan, "time": "2026-11-01T10:00:00Z", "lon": 25.0, "lat": 54.5}
    rows = [
        det(0, **base),
        det(0, **base),  # same: once
        det(0, **{**base, "lon": 25.0000001}),  # moved
        det(0, **{**base, "time": "2026-11-01T10:00:00.000001Z"}),  # 1 µs later
        det(0, **{**base, "source": "cam-2"}),  # other source
        det(0, **{**base, "source": np.nan}),
        det(0, **{**base, "source": np.nan}),
    ]
    result = put(any_store, frame(rows), partner="LTU")
    assert (result.accepted, result.duplicates) == (5, 2)
    assert put(any_store, frame(rows[:1]), partner="LTU").duplicates == 1
    assert put(any_store, frame(rows[:1]), partner="LVA").accepted == 1


def test_duplicates_are_never_matched_across_partners(any_store: Path | str) -> None:
    df = frame([det(i) for i in range(3)])
    put(any_store, df, partner="LTU")
    result = put(any_store, df, partner="POL")
    assert (result.accepted, result.duplicates) == (3, 0)  # POL learns nothing of LTU's rows
    assert len(visible_detections(any_store, "POL")) == 3


def _mixed_duplicates() -> gpd.GeoDataFrame:
    no_id = {"detection_id": np.nan, "time": "2026-11-01T10:00:00Z", "lon": 25.0, "lat": 54.5}
    return frame(
        [det(i) for i in range(6)]
        + [
            det(3, confidence=0.9),
            det(3, source="cam-2"),
            det(4, source=np.nan),
            det(4, source=np.nan, confidence=0.8),
            det(0, **no_id),
            det(0, **no_id, confidence=0.7),
            det(0, **{**no_id, "lon": -0.0}),
            det(0, **{**no_id, "lon": 0.0}),
            det(0, **{**no_id, "source": np.nan}),
        ]
    )


def _stored(path: Path, owner: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT time_us, detection_id, source, confidence, src_row, hex(geom) "
            "FROM detections WHERE owner = ? ORDER BY fid",
            (owner,),
        ).fetchall()
    finally:
        conn.close()


def _index_sql(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
            "tbl_name = 'detections' ORDER BY name"
        ).fetchall()
    finally:
        conn.close()


def test_first_upload_into_an_empty_store_dedupes_like_later_ones(tmp_path: Path) -> None:
    # An empty store takes the rows without indexes and builds them afterwards; a store
    # with rows inserts them one by one with ON CONFLICT DO NOTHING: the same outcome.
    empty, busy = tmp_path / "empty.gpkg", tmp_path / "busy.gpkg"
    put(busy, frame([det(99)]), partner="POL")
    first = put(empty, _mixed_duplicates(), partner="LTU")
    later = put(busy, _mixed_duplicates(), partner="LTU")
    assert (first.accepted, first.duplicates) == (later.accepted, later.duplicates) == (11, 4)
    assert _stored(empty, "LTU") == _stored(busy, "LTU")
    assert _index_sql(empty) == _index_sql(busy)
    assert [r[4] for r in _stored(empty, "LTU")] == [1, 2, 3, 4, 5, 6, 8, 9, 11, 13, 15]
    again = put(empty, _mixed_duplicates(), partner="LTU")  # the rebuilt indexes dedupe
    assert (again.accepted, again.duplicates) == (0, 15)


#: Schema 1 of the detections table (the first release), to make a store of that schema.
_SCHEMA_1_DETECTIONS = """
CREATE TABLE detections (
  fid INTEGER PRIMARY KEY NOT NULL, geom POINT NOT NULL, time_us INTEGER NOT NULL,
  time DATETIME GENERATED ALWAYS AS
    (strftime('%Y-%m-%dT%H:%M:%fZ', (time_us / 1000) / 1000.0, 'unixepoch')) VIRTUAL,
  detection_id TEXT, source TEXT, partner TEXT, class TEXT, confidence REAL, access TEXT,
  caveat TEXT, hae_m REAL, ce_m REAL, le_m REAL, lon REAL NOT NULL, lat REAL NOT NULL,
  owner TEXT NOT NULL, releasable_to TEXT NOT NULL,
  upload_id INTEGER NOT NULL REFERENCES uploads(upload_id), src_row INTEGER);
CREATE UNIQUE INDEX detections_owner_source_id
  ON detections(owner, ifnull(source, ''), detection_id) WHERE detection_id IS NOT NULL;
CREATE UNIQUE INDEX detections_owner_source_time_position
  ON detections(owner, ifnull(source, ''), time_us, lon, lat) WHERE detection_id IS NULL;
CREATE INDEX detections_day ON detections(time_us / 86400000000)"""


def _as_schema_1(path: Path) -> None:
    """Rewrite a store as the first release wrote it (rows in upload order, fid 1, 2, ...)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("DROP VIEW detections_timed")
        conn.execute("ALTER TABLE detections RENAME TO new_layout")
        conn.execute("DROP INDEX detections_dedupe_id")
        conn.execute("DROP INDEX detections_dedupe_position")
        conn.execute("DELETE FROM gpkg_contents WHERE table_name = 'detections_timed'")
        conn.execute("DELETE FROM gpkg_geometry_columns WHERE table_name = 'detections_timed'")
        for statement in _SCHEMA_1_DETECTIONS.split(";\n"):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO detections (fid, geom, time_us, detection_id, source, partner, class, "
            "confidence, access, caveat, hae_m, ce_m, le_m, lon, lat, owner, releasable_to, "
            "upload_id, src_row) SELECT row_number() OVER (ORDER BY upload_id, src_row), geom, "
            "time_us, detection_id, source, partner, class, confidence, access, caveat, hae_m, "
            "ce_m, le_m, 0, 0, owner, releasable_to, upload_id, src_row FROM new_layout"
        )
        conn.execute("DROP TABLE new_layout")
        conn.execute(
            "UPDATE gpkg_contents SET description = replace(description, "
            f"'store schema {schema.SCHEMA_VERSION}', 'store schema 1')"
        )
        # schema 3's operations (tables and the uploads' column) and schema 4's audit did
        # not exist either
        for table in (
            "operations",
            "operation_layers",
            "operation_dems",
            "audit",
            "retracted_detections",
        ):
            conn.execute(f"DROP TABLE {table}")
            conn.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (table,))
        for column in ("operation", "retracted_at", "retracted_by"):
            conn.execute(f"ALTER TABLE uploads DROP COLUMN {column}")
        conn.execute("COMMIT")
    finally:
        conn.close()
    # lon/lat from the geometry bytes (x, y: little-endian doubles after the 13-byte header)
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT fid, geom FROM detections").fetchall()
    conn.executemany(
        "UPDATE detections SET lon = ?, lat = ? WHERE fid = ?",
        [(*np.frombuffer(g[13:29], "<f8").tolist(), f) for f, g in rows],
    )
    # Schema 1 wrote a longitude of -0.0 as it came (its key compared lon as a number).
    conn.execute(
        "UPDATE detections SET geom = CAST(substr(geom, 1, 13) || "
        "x'0000000000000080' || substr(geom, 22) AS BLOB) "
        "WHERE substr(geom, 14, 8) = zeroblob(8)"
    )
    assert conn.total_changes > len(rows)
    conn.commit()
    conn.close()


def test_a_store_of_schema_1_is_upgraded_with_its_rows(db: Path) -> None:
    rows = [det(i) for i in range(40)] + [
        det(100, time="1969-12-31T23:00:00.000001Z"),
        det(101, time="2027-03-04T05:06:07Z"),
        det(2, detection_id=np.nan, lon=-0.0),
        det(3, detection_id=np.nan, source=np.nan),
    ]
    put(db, frame(rows[:30]), partner="LTU", releasable_to="LVA")
    put(db, frame(rows[30:]), partner="LTU")
    put(db, frame(rows[:5]), partner="POL", releasable_to="ALL")
    before = {p: visible_detections(db, p) for p in ("LTU", "LVA", "POL")}
    _as_schema_1(db)
    conn = sqlite3.connect(db)
    assert {r[1] for r in conn.execute("PRAGMA table_xinfo(detections)")} >= {"lon", "time"}
    conn.close()

    assert store.version(db) == 3  # opening upgrades
    for partner, frame_before in before.items():
        pd.testing.assert_frame_equal(visible_detections(db, partner), frame_before)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        columns = {r[1] for r in conn.execute("PRAGMA table_xinfo(detections)")}
        assert not columns & {"lon", "lat", "time"}
        assert conn.execute("SELECT DISTINCT typeof(geom) FROM detections").fetchall() == [
            ("blob",)
        ]
        assert {
            r[0]
            for r in conn.execute(
                "SELECT description FROM gpkg_contents WHERE table_name IN "
                "('detections', 'uploads', 'detections_timed')"
            )
        } == {
            f"Limes shared detections (store schema {schema.SCHEMA_VERSION})",
            f"Limes upload audit log (store schema {schema.SCHEMA_VERSION})",
            schema.TIMED_DESCRIPTION,
        }
        fids = conn.execute("SELECT fid, time_us FROM detections ORDER BY fid").fetchall()
        days = [t // 86_400_000_000 for _, t in fids]
        assert days == sorted(days)  # clustered by UTC day (1969 first: floor, not truncation)
        assert [f >> 32 for f, _ in fids] == [d + (1 << 20) for d in days]
    finally:
        conn.close()
    assert [name for name, _ in _index_sql(db)] == [
        "detections_dedupe_id",
        "detections_dedupe_position",
    ]
    # the rebuilt keys dedupe as before, also the -0.0 row against a 0.0 one
    again = put(db, frame([*rows, det(2, detection_id=np.nan, lon=0.0)]), partner="LTU")
    assert (again.accepted, again.duplicates) == (0, len(rows) + 1)
    timed = pyogrio.read_dataframe(db, layer="detections_timed")
    assert len(timed) == counts(db)[0] == len(before["LTU"]) == 44 + 5  # LTU's and POL's
    assert "1969-12-31T23:00:00.000Z" in set(timed["time"])


def _upload_over(
    stored: list[dict[str, Any]],
    upload: list[dict[str, Any]],
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    factor: int,
) -> store.IngestResult:
    """``upload`` into a store holding ``stored``, with ``_REBUILD_FACTOR`` = ``factor``."""
    put(path, frame(stored), partner="LTU")
    with monkeypatch.context() as patch:
        patch.setattr(bulk, "_REBUILD_FACTOR", factor)
        return put(path, frame(upload), partner="LTU")


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _schema_cookie(path: Path) -> int:
    """SQLite's schema cookie: it changes whenever the schema does (an index dropped and
    built again), and only then."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA schema_version").fetchone()[0]
    finally:
        conn.close()


def test_a_large_upload_into_a_small_store_rebuilds_the_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 rows into a store of 40: written without the indexes, which are built again
    # from all 140 rows (the schema changes); the outcome is the same as row by row (which
    # leaves the schema as it is).
    stored = [det(i) for i in range(40)]
    upload = [det(i) for i in range(100, 200)] + [det(150, confidence=0.9)]
    cookies = {}
    results = {}
    for name, factor in (("a", 2), ("b", 0)):
        path = tmp_path / f"{name}.gpkg"
        put(path, frame(stored), partner="LTU")
        before = _schema_cookie(path)
        with monkeypatch.context() as patch:
            patch.setattr(bulk, "_REBUILD_FACTOR", factor)
            results[name] = put(path, frame(upload), partner="LTU")
        cookies[name] = (before, _schema_cookie(path))
    assert cookies["a"][0] != cookies["a"][1]  # rebuilt
    assert cookies["b"][0] == cookies["b"][1]  # row by row
    rebuilt, row_by_row = results["a"], results["b"]
    assert (
        (rebuilt.accepted, rebuilt.duplicates)
        == (row_by_row.accepted, row_by_row.duplicates)
        == (100, 1)
    )
    assert _stored(tmp_path / "a.gpkg", "LTU") == _stored(tmp_path / "b.gpkg", "LTU")
    assert _index_sql(tmp_path / "a.gpkg") == _index_sql(tmp_path / "b.gpkg")
    assert _integrity(tmp_path / "a.gpkg") == "ok"
    again = put(tmp_path / "a.gpkg", frame(upload[:5] + stored[:5]), partner="LTU")
    assert (again.accepted, again.duplicates) == (0, 10)  # the rebuilt index dedupes


@pytest.mark.parametrize("probe", [True, False], ids=["sample-finds-them", "build-fails"])
def test_a_large_upload_overlapping_the_store_skips_the_stored_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe: bool
) -> None:
    # The upload repeats stored rows: a sample of its ids finds them (row by row at once),
    # or, when the sample misses them, the index build fails and is undone.
    if not probe:
        monkeypatch.setattr(bulk, "_stored_keys", lambda *a: False)
    stored = [det(i) for i in range(40)]
    upload = [det(i) for i in range(30, 130)] + [det(35, confidence=0.9)]
    rebuilt = _upload_over(stored, upload, tmp_path / "a.gpkg", monkeypatch, factor=2)
    row_by_row = _upload_over(stored, upload, tmp_path / "b.gpkg", monkeypatch, factor=0)
    assert (
        (rebuilt.accepted, rebuilt.duplicates)
        == (row_by_row.accepted, row_by_row.duplicates)
        == (90, 11)
    )
    assert _stored(tmp_path / "a.gpkg", "LTU") == _stored(tmp_path / "b.gpkg", "LTU")
    assert _index_sql(tmp_path / "a.gpkg") == _index_sql(tmp_path / "b.gpkg")
    assert _integrity(tmp_path / "a.gpkg") == "ok"


def _table(path: Path) -> list[tuple[Any, ...]]:
    """Every stored row with every column (the geometry as hex), in ``fid`` order."""
    conn = sqlite3.connect(path)
    try:
        names = [r[1] for r in conn.execute("PRAGMA table_info(detections)")]
        return conn.execute(
            f"SELECT {', '.join(f'hex({n})' if n == 'geom' else n for n in names)} "
            "FROM detections ORDER BY fid"
        ).fetchall()
    finally:
        conn.close()


#: Every speed trick of the store's writer off: the plain way, row by row.
PLAIN = bulk.SpeedTricks(**dict.fromkeys(bulk.SpeedTricks.__dataclass_fields__, False))


def _rows_by_day(path: Path) -> list[tuple[Any, ...]]:
    """:func:`_table` with each ``fid`` as its UTC day: a row skipped as a duplicate may
    leave its number unused, as the plain way does."""
    return [(fid >> 32, *rest) for fid, *rest in _table(path)]


def _mixed_rows(first: int, n: int) -> list[dict[str, Any]]:
    """Rows over days out of order, some without id, source, class or confidence."""
    return [
        det(
            i,
            time=f"2026-11-{28 - i % 17:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            detection_id=np.nan if i % 7 == 0 else f"D{i}",
            source=np.nan if i % 3 == 0 else f"radar-{i % 5}",
            **{"class": np.nan if i % 4 == 0 else f"c{i}"},
            confidence=np.nan if i % 5 == 0 else i / 100,
        )
        for i in range(first, first + n)
    ]


@pytest.mark.parametrize("case", ["new-store", "filled-store", "file-duplicates"])
def test_rows_written_the_fast_way_are_stored_as_the_plain_way_stores_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # A large upload into a small store is written without the indexes the rows enter,
    # which are then built again, with the speed tricks: every column of every row, the
    # fids, the indexes and the counts must be what the plain way (row by row, every trick
    # off) makes.
    monkeypatch.setattr(bulk, "_APPEND_CHUNK_ROWS", 7)
    stored = _mixed_rows(1000, 30) if case == "filled-store" else []
    upload = _mixed_rows(0, 80)
    if case == "file-duplicates":  # the index build fails, the rows are written again
        upload += [{**upload[5], "time": "2026-11-02T00:00:00Z", "confidence": 0.9}, upload[14]]
    outcome = {}
    for name, tricks in (("tricks", bulk.SpeedTricks()), ("plain", PLAIN)):
        path = tmp_path / f"{name}.gpkg"
        with monkeypatch.context() as patch:
            patch.setattr(bulk, "TRICKS", tricks)
            if stored:
                put(path, frame(stored), partner="LTU", sha="1" * 64)
            before = _schema_cookie(path) if stored else None
            result = put(path, frame(upload), partner="LTU", releasable_to="LVA", sha="2" * 64)
        if before is not None:
            assert (_schema_cookie(path) != before) is (name == "tricks")  # rebuilt
        outcome[name] = (result.accepted, result.duplicates, _rows_by_day(path), _index_sql(path))
        assert _integrity(path) == "ok"
    assert outcome["tricks"] == outcome["plain"]
    accepted, duplicates, table, _ = outcome["plain"]
    assert (accepted, duplicates) == (80, 2 if case == "file-duplicates" else 0)
    assert len(table) == len(stored) + 80
    days = [day for day, *_ in table]
    assert days == sorted(days)


@pytest.mark.parametrize("way", ["fast", "plain"])
def test_a_write_that_fails_half_way_leaves_the_store_as_it_was(
    db: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    # The fast way has dropped the indexes when the disk fills up: they are back, with
    # every row as it was.
    put(db, frame(_mixed_rows(1000, 30)), partner="LTU")
    before = (_table(db), _index_sql(db), _schema_cookie(db))
    real = connection.Connection.insert
    calls = []

    def full(self: Any, table: str, data: Any, **kw: Any) -> None:
        calls.append(data.num_rows)
        if len(calls) == 2:
            raise adbc.OperationalError(
                "IO: Failed to step query: database or disk is full",
                status_code=adbc_driver_manager.AdbcStatusCode.IO,
            )
        real(self, table, data, **kw)

    monkeypatch.setattr(bulk, "_APPEND_CHUNK_ROWS", 7)
    monkeypatch.setattr(bulk, "TRICKS", bulk.SpeedTricks() if way == "fast" else PLAIN)
    monkeypatch.setattr(connection.Connection, "insert", full)
    with pytest.raises(ValidationError, match=r"cannot write the store.*disk is full.*Nothing"):
        put(db, frame(_mixed_rows(0, 80)), partner="LVA")
    assert len(calls) == 2
    assert (_table(db), _index_sql(db), _schema_cookie(db)) == before
    assert counts(db) == (30, 1)
    assert _integrity(db) == "ok"
    monkeypatch.undo()
    assert put(db, frame(_mixed_rows(0, 80)), partner="LVA").accepted == 80


def test_two_uploads_in_one_process_at_once_both_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app uploads from several sessions' threads: each upload is written on its own
    # connection, and neither sees the other's rows.
    monkeypatch.setattr(bulk, "_APPEND_CHUNK_ROWS", 50)
    uploads_ = {
        "a": [det(i) for i in range(3_000)],
        "b": [det(i, source="cam-9") for i in range(5_000, 7_500)],
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = {
            k: pool.submit(put, tmp_path / f"{k}.gpkg", frame(rows), partner="LTU")
            for k, rows in uploads_.items()
        }
        results = {k: f.result() for k, f in done.items()}
    for k, rows in uploads_.items():
        assert results[k].accepted == len(rows)
        seen = visible_detections(tmp_path / f"{k}.gpkg", "LTU")
        assert ids(seen) == {r["detection_id"] for r in rows}
        assert set(seen["source"]) == {rows[0]["source"]}


@pytest.mark.parametrize("stored_rows", [50, 70], ids=["smaller-store", "larger-store"])
@pytest.mark.parametrize("duplicates", [False, True], ids=["built", "build-fails"])
def test_an_upload_about_as_large_as_the_store_is_stored_as_the_plain_way_stores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, duplicates: bool, stored_rows: int
) -> None:
    # Either side of where the writer stops rebuilding the indexes (a store holding fewer
    # rows than the upload brings): whatever the tricks, the outcome is the plain way's:
    # the same rows, counts and indexes, and a sound file; also when the build fails on the
    # file's own duplicates and the rows are written again.
    stored = _mixed_rows(1000, stored_rows)
    upload = _mixed_rows(0, 60)
    if duplicates:
        upload += [{**upload[5], "confidence": 0.9}, upload[14]]
    outcome = {}
    for name, tricks in (("tricks", bulk.SpeedTricks()), ("plain", PLAIN)):
        path = tmp_path / f"{name}.gpkg"
        with monkeypatch.context() as patch:
            patch.setattr(bulk, "TRICKS", tricks)
            put(path, frame(stored), partner="LTU", sha="1" * 64)
            before = _schema_cookie(path)
            result = put(path, frame(upload), partner="LTU", releasable_to="LVA", sha="2" * 64)
        rebuilt = _schema_cookie(path) != before
        assert rebuilt is (name == "tricks" and stored_rows < len(upload))
        assert _integrity(path) == "ok"
        outcome[name] = (result.accepted, result.duplicates, _rows_by_day(path), _index_sql(path))
    assert outcome["tricks"] == outcome["plain"]
    assert outcome["plain"][:2] == (60, 2 if duplicates else 0)
    assert [name for name, _ in outcome["plain"][3]] == [
        "detections_dedupe_id",
        "detections_dedupe_position",
    ]


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo not installed")
def test_a_spatial_index_another_tool_added_is_named_with_the_fix(db: Path) -> None:
    # GDAL's spatial index keeps itself up to date with triggers calling GDAL's own SQL
    # functions; Limes's SQLite cannot run them: the upload is refused with what to do, and
    # the fix it names works.
    put(db, frame([det(i) for i in range(5)]), partner="LTU")

    def ogr_sql(sql: str) -> None:
        subprocess.run(
            ["ogrinfo", str(db), "-sql", sql], check=True, capture_output=True, timeout=120
        )

    ogr_sql("SELECT CreateSpatialIndex('detections', 'geom')")
    before = _table(db)
    with pytest.raises(ValidationError) as refused:
        put(db, frame([det(i) for i in range(5, 9)]), partner="LTU")
    message = str(refused.value)
    assert "GDAL/QGIS spatial index" in message
    assert "rtree_detections_geom_insert" in message
    assert "Nothing was added" in message
    assert _table(db) == before
    assert counts(db) == (5, 1)
    fix = re.search(r'-sql "(SELECT DisableSpatialIndex[^"]+)"', message)
    assert fix is not None
    ogr_sql(fix.group(1))
    assert put(db, frame([det(i) for i in range(5, 9)]), partner="LTU").accepted == 4
    assert _integrity(db) == "ok"


def test_other_triggers_on_the_detections_table_are_named(db: Path) -> None:
    put(db, frame([det(0)]), partner="LTU")
    _edit(db, "CREATE TRIGGER audit AFTER INSERT ON detections BEGIN SELECT 1; END")
    with pytest.raises(
        ValidationError,
        match=r"triggers another tool added: .*\['audit'\]"
        r".*Drop those triggers",
    ):
        put(db, frame([det(1)]), partner="LTU")
    assert counts(db) == (1, 1)


def test_a_store_another_tool_changed_refuses_the_upload_with_a_message(db: Path) -> None:
    # Not a trigger, but a constraint the rows cannot meet (another tool's CHECK): no driver
    # error escapes, and nothing is added.
    put(db, frame([det(0)]), partner="LTU")
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA writable_schema = ON")
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'detections'").fetchone()[0]
        conn.execute(
            "UPDATE sqlite_master SET sql = ? WHERE name = 'detections'",
            (sql.replace("src_row INTEGER,", "src_row INTEGER CHECK (src_row < 0),"),),
        )
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(
        ValidationError,
        match=r"the store refused the upload.*CHECK constraint"
        r".*Nothing was added",
    ):
        put(db, frame([det(1)]), partner="LTU")
    assert counts(db) == (1, 1)


@pytest.mark.parametrize("case", ["own-rows", "another-partners-rows", "no-ids"])
def test_a_large_upload_overlapping_stored_rows_is_stored_as_the_plain_way_stores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # Before writing without the indexes, a sample of the upload's ids is looked up among
    # the partner's stored rows. Whether it finds them (the partner's own), must not find
    # them (another partner's rows: never matched) or has no ids to look up, the outcome is
    # the plain way's.
    no_id = case == "no-ids"
    stored = [det(i, **({"detection_id": np.nan} if no_id else {})) for i in range(40)]
    upload = [det(i, **({"detection_id": np.nan} if no_id else {})) for i in range(30, 130)]
    owner = "POL" if case == "another-partners-rows" else "LTU"
    outcome = {}
    for name, tricks in (("tricks", bulk.SpeedTricks()), ("plain", PLAIN)):
        path = tmp_path / f"{name}.gpkg"
        with monkeypatch.context() as patch:
            patch.setattr(bulk, "TRICKS", tricks)
            put(path, frame(stored), partner=owner)
            result = put(path, frame(upload), partner="LTU")
        assert _integrity(path) == "ok"
        outcome[name] = (
            result.accepted,
            result.duplicates,
            _stored(path, "LTU"),
            _stored(path, "POL"),
            _index_sql(path),
        )
    assert outcome["tricks"] == outcome["plain"]
    assert outcome["plain"][:2] == ((100, 0) if owner == "POL" else (90, 10))


def test_ingest_file_stores_what_ingest_of_the_loaded_frame_stores(tmp_path: Path) -> None:
    # ingest_file reads columns (no shapely points); ingest takes read_detections' frame.
    rows = [det(i) for i in range(30)] + [
        det(30, source="  cam-2 ", detection_id=" D30\t", partner="LVA"),
        det(31, lon=200.0),
        det(32, time="not a time"),
        det(33, confidence=7),
        det(34, detection_id=np.nan),
        det(35, source=np.nan, lon=-0.0),
    ]
    csv = write_csv(tmp_path / "mixed.csv", rows)
    by_file = ingest_file(tmp_path / "a.gpkg", csv, partner="LTU", releasable_to="LVA")
    loaded, report = read_detections(csv)
    by_frame = ingest(
        tmp_path / "b.gpkg",
        loaded,
        report,
        file_name="mixed.csv",
        sha256="0" * 64,
        partner="LTU",
        releasable_to="LVA",
    )
    assert (by_file.accepted, by_file.rejected, by_file.errors) == (
        by_frame.accepted,
        by_frame.rejected,
        by_frame.errors,
    )
    assert by_file.accepted == 33
    assert _stored(tmp_path / "a.gpkg", "LTU") == _stored(tmp_path / "b.gpkg", "LTU")
    seen = visible_detections(tmp_path / "a.gpkg", "LVA")
    assert seen.loc[seen["detection_id"] == "D30", ["source", "partner"]].values.tolist() == [
        ["cam-2", "LVA"]
    ]  # stripped


def _edit(path: Path, sql: str) -> None:
    """Change the store as another tool could (SQLite keeps any value in any column)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def test_values_another_tool_stored_with_the_wrong_type_read_as_missing(db: Path) -> None:
    put(db, frame([det(i) for i in range(5)]), partner="LTU")
    _edit(db, "UPDATE detections SET confidence = 'high', src_row = 'x' WHERE detection_id = 'D1'")
    _edit(db, "UPDATE detections SET detection_id = 7, hae_m = '12.5' WHERE detection_id = 'D2'")
    seen = visible_detections(db, "LTU")
    assert len(seen) == 5
    row = seen.set_index(seen["detection_id"])
    assert np.isnan(row.loc["D1", "confidence"])
    assert row.loc["D1", "src_row"] == 0
    assert row.loc["7", "hae_m"] == 12.5  # a number stored as text is still the number
    assert row.loc["D3", "confidence"] == 0.5


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        ("time_us", "'yesterday'", "time_us"),
        ("geom", "x'00ff'", "geom"),
        ("geom", "'POINT (1 2)'", "geom"),
    ],
)
def test_a_row_another_tool_made_unreadable_is_named(
    db: Path, column: str, value: str, field: str
) -> None:
    put(db, frame([det(i) for i in range(5)]), partner="LTU")
    _edit(db, f"UPDATE detections SET {column} = {value} WHERE detection_id = 'D3'")
    with pytest.raises(ValidationError, match=f"field '{field}'.*correct or delete"):
        visible_detections(db, "LTU")


def test_bulk_insert_falls_back_when_an_index_cannot_be_built(db: Path, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "first_rows", lambda rows: np.ones(rows.n, dtype=bool))
    result = put(db, _mixed_duplicates(), partner="LTU")
    assert (result.accepted, result.duplicates) == (11, 4)
    assert [name for name, _ in _index_sql(db)] == [
        "detections_dedupe_id",
        "detections_dedupe_position",
    ]
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# All or nothing, crashes, concurrency
# --------------------------------------------------------------------------------------


def test_a_failed_upload_leaves_the_store_as_it_was(db: Path, monkeypatch) -> None:
    ingest_file(db, SAMPLE, partner="LTU")
    before = counts(db)
    original = bulk.insert_rows

    def insert_then_fail(*args: Any, **kwargs: Any) -> int:
        assert original(*args, **kwargs) == 3
        raise OSError("disk on fire")

    monkeypatch.setattr(bulk, "insert_rows", insert_then_fail)
    with pytest.raises(OSError, match="disk on fire"):
        put(db, frame([det(i) for i in range(3)]), partner="LVA")
    assert counts(db) == before
    monkeypatch.undo()
    assert put(db, frame([det(i) for i in range(3)]), partner="LVA").accepted == 3


def test_a_store_that_cannot_be_written_says_so(db: Path, monkeypatch) -> None:
    put(db, frame([det(0)]), partner="LTU")

    def disk_full(*args: Any, **kwargs: Any) -> int:
        raise adbc.OperationalError(
            "IO: Failed to step query: database or disk is full",
            status_code=adbc_driver_manager.AdbcStatusCode.IO,
        )

    monkeypatch.setattr(bulk, "insert_rows", disk_full)
    with pytest.raises(ValidationError, match=r"cannot write the store.*disk is full.*Nothing"):
        put(db, frame([det(1)]), partner="LTU")
    assert counts(db) == (1, 1)


#: Runs an upload in a child process that stops inside the transaction, after its rows are
#: written (a tiny page cache spills them into the WAL), until the file argv[4] appears (or
#: it is killed).
_PAUSE_INSIDE = """
import os, sys, time
from geo import store
from geo.store import bulk
original = bulk.insert_rows
def pause(conn, rows, **kw):
    conn.execute("PRAGMA cache_size = 16")  # uncommitted pages spill into the WAL
    n = original(conn, rows, **kw)
    print("inside", n, flush=True)
    deadline = time.monotonic() + 300
    while not os.path.exists(sys.argv[4]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return n
bulk.insert_rows = pause
result = store.ingest_file(sys.argv[1], sys.argv[2], partner=sys.argv[3],
                           busy_timeout_s=float(sys.argv[5]))
print("done", result.upload_id, result.accepted, flush=True)
"""

_INGEST = """
import sys
from geo import store
from geo.core.errors import ValidationError
print("started", flush=True)
try:
    result = store.ingest_file(sys.argv[1], sys.argv[2], partner=sys.argv[3],
                               busy_timeout_s=float(sys.argv[4]))
except ValidationError as exc:
    print("refused", exc, flush=True)
    sys.exit(2)
print("done", result.upload_id, result.accepted, flush=True)
"""


def _child(script: str, *args: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proc: subprocess.Popen[str], prefix: str, timeout: float = 120) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(
        f"child never printed {prefix!r}: {proc.stderr.read() if proc.stderr else ''}"
    )


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)
        for stream in (p.stdout, p.stderr):
            if stream is not None:
                stream.close()


def test_kill_9_mid_upload_leaves_exactly_the_rows_before(
    db: Path, tmp_path: Path, children
) -> None:
    ingest_file(db, SAMPLE, partner="LTU")
    before = counts(db)
    big = write_csv(tmp_path / "big.csv", [det(i) for i in range(30_000)])
    wal = Path(f"{db}-wal")
    assert not wal.exists()  # the last connection to close checkpointed and removed it
    child = _child(_PAUSE_INSIDE, db, big, "LVA", tmp_path / "never", 30)
    children.append(child)
    assert _wait_for(child, "inside").split() == ["inside", "30000"]
    assert wal.stat().st_size > 1_000_000  # the rows had reached the disk, uncommitted
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert counts(db) == before
    assert visible_detections(db, "LVA").empty
    result = ingest_file(db, big, partner="LVA")  # not recorded as uploaded: it lands now
    assert (result.accepted, result.already_uploaded) == (30_000, False)
    assert counts(db) == (before[0] + 30_000, before[1] + 1)


def test_kill_9_of_the_cli_while_it_commits_is_all_or_nothing(
    db: Path, tmp_path: Path, children
) -> None:
    ingest_file(db, SAMPLE, partner="LTU")
    before = counts(db)
    big = write_csv(tmp_path / "big.csv", [det(i) for i in range(150_000)])
    wal = Path(f"{db}-wal")
    proc = subprocess.Popen(
        [sys.executable, "-m", "geo", "ingest", str(big), "--store", str(db), "--partner", "LVA"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children.append(proc)
    deadline = time.monotonic() + 300
    # The upload's pages stay in its page cache until COMMIT writes them to the WAL: kill it
    # as soon as the WAL grows, i.e. in the middle of writing the commit.
    while proc.poll() is None and time.monotonic() < deadline:
        if wal.exists() and wal.stat().st_size > 2_000_000:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    assert proc.wait(timeout=60) == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert counts(db) in (before, (before[0] + 150_000, before[1] + 1))


def test_concurrent_uploads_both_land(db: Path, tmp_path: Path, children) -> None:
    open_store(db).close()
    a = write_csv(tmp_path / "a.csv", [det(i) for i in range(2_000)])
    b = write_csv(tmp_path / "b.csv", [det(i) for i in range(1_000, 4_000)])
    release = tmp_path / "release"
    first = _child(_PAUSE_INSIDE, db, a, "LTU", release, 30)
    children.append(first)
    _wait_for(first, "inside")  # first holds the write lock...
    second = _child(_INGEST, db, b, "LTU", 60)  # ...second waits for it, then lands
    children.append(second)
    _wait_for(second, "started")
    time.sleep(1.0)
    release.touch()
    assert _wait_for(first, "done").split()[1:] == ["1", "2000"]
    assert _wait_for(second, "done").split()[1:] == ["2", "2000"]  # 1,000 were duplicates
    assert first.wait(timeout=60) == 0
    assert second.wait(timeout=60) == 0
    assert counts(db) == (4_000, 2)
    assert ids(visible_detections(db, "LTU")) == {f"D{i}" for i in range(4_000)}


def test_a_busy_store_says_retry_and_changes_nothing(db: Path, tmp_path: Path, children) -> None:
    open_store(db).close()
    a = write_csv(tmp_path / "a.csv", [det(i) for i in range(1_000)])
    b = write_csv(tmp_path / "b.csv", [det(i) for i in range(1_000, 1_500)])
    release = tmp_path / "release"
    first = _child(_PAUSE_INSIDE, db, a, "LTU", release, 30)
    children.append(first)
    _wait_for(first, "inside")
    second = _child(_INGEST, db, b, "LVA", 0.5)
    children.append(second)
    line = _wait_for(second, "refused")
    release.touch()
    assert "the store is busy" in line
    assert "Retry" in line
    assert second.wait(timeout=60) == 2
    assert visible_detections(db, "LVA").empty  # readers are not blocked by the writer
    assert _wait_for(first, "done", timeout=120)
    assert ingest_file(db, b, partner="LVA").accepted == 500  # the retry lands
    assert counts(db) == (1_500, 2)


def test_the_same_file_uploaded_twice_at_once_lands_once(
    db: Path, tmp_path: Path, children
) -> None:
    open_store(db).close()
    a = write_csv(tmp_path / "a.csv", [det(i) for i in range(1_000)])
    release = tmp_path / "release"
    first = _child(_PAUSE_INSIDE, db, a, "LTU", release, 30)
    children.append(first)
    _wait_for(first, "inside")
    second = _child(_INGEST, db, a, "LTU", 60)
    children.append(second)
    _wait_for(second, "started")
    time.sleep(1.0)
    release.touch()
    done = [_wait_for(p, "done").split() for p in (first, second)]
    assert done[0][1] == done[1][1]  # the same upload id
    assert sorted(int(d[2]) for d in done) == [0, 1_000]
    assert counts(db) == (1_000, 1)


# --------------------------------------------------------------------------------------
# Backup
# --------------------------------------------------------------------------------------


def test_backup_copies_a_store_in_use(db: Path, tmp_path: Path) -> None:
    ingest_file(db, SAMPLE, partner="LTU", releasable_to="LVA")
    reader = open_store(db)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM detections").fetchone()  # a reader holds a snapshot
    try:
        summary = store.backup(db, tmp_path / "copies" / "copy.gpkg")
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    copy = tmp_path / "copies" / "copy.gpkg"
    assert summary == {
        "store": str(db),
        "out": str(copy),
        "bytes": copy.stat().st_size,
        "detections": 22000,
        "uploads": 1,
    }
    assert not Path(f"{copy}-wal").exists()
    assert ids(visible_detections(copy, "LVA")) == ids(visible_detections(db, "LVA"))
    assert tuple(pyogrio.list_layers(copy)[0]) == ("detections", "Point")
    assert list(copy.parent.iterdir()) == [copy]  # no temporary file left


def test_backup_refuses_to_overwrite_the_store(db: Path) -> None:
    ingest_file(db, SAMPLE, partner="LTU")
    size = db.stat().st_size
    for out in (db, Path(f"{db}-wal"), db.parent / "." / db.name):
        with pytest.raises(ValidationError, match="would overwrite the store"):
            store.backup(db, out)
    assert db.stat().st_size == size
    assert counts(db) == (22000, 1)


# --------------------------------------------------------------------------------------
# Command line (a contract)
# --------------------------------------------------------------------------------------


def test_cli_ingest_detections_and_backup(db: Path, tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "some-bad.csv", [det(0), det(1, confidence=87), det(2, lat=95)])
    proc = run_cli(
        "ingest",
        str(bad),
        "--store",
        str(db),
        "--partner",
        "LTU",
        "--releasable-to",
        "LVA, POL",
        "--user",
        "alice",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert list(out)[:5] == ["upload_id", "accepted", "rejected", "duplicates", "errors"]
    assert (out["upload_id"], out["accepted"], out["rejected"], out["duplicates"]) == (1, 1, 2, 0)
    assert [e["row"] for e in out["errors"]] == [2, 3]
    assert "confidence" in out["errors"][0]["reason"]
    assert out["releasable_to"] == "LVA,POL"

    proc = run_cli("detections", "--store", str(db), "--as-partner", "POL")
    assert proc.returncode == 0, proc.stderr
    fc = json.loads(proc.stdout)
    assert fc["type"] == "FeatureCollection"
    assert len(fc["features"]) == 1
    feature = fc["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [25.0, 54.5]}
    assert feature["properties"]["time"] == "2026-11-01T00:00:00Z"
    assert feature["properties"]["owner"] == "LTU"
    assert feature["properties"]["hae_m"] is None

    geojson = tmp_path / "eu.geojson"
    proc = run_cli("detections", "--store", str(db), "--as-partner", "EU", "--out", str(geojson))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"out": str(geojson), "features": 0}
    assert json.loads(geojson.read_text()) == {"type": "FeatureCollection", "features": []}

    copy = tmp_path / "copy.gpkg"
    proc = run_cli("backup", "--store", str(db), "--out", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["detections"] == 1


def test_cli_geojson_is_read_by_gdal(db: Path, tmp_path: Path) -> None:
    ingest_file(db, SAMPLE, partner="LTU", releasable_to="ALL")
    out = tmp_path / "pol.geojson"
    assert (
        run_cli(
            "detections", "--store", str(db), "--as-partner", "POL", "--out", str(out)
        ).returncode
        == 0
    )
    back = pyogrio.read_dataframe(out)
    assert len(back) == 22000
    assert back.crs.to_epsg() == 4326
    ref, _ = read_detections(SAMPLE)
    assert sorted(back["detection_id"]) == sorted(ref["detection_id"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--releasable-to", "ALL,LVA"], "unknown marking: ALL cannot be combined"),
        (["--releasable-to", "LVA;?"], "unknown marking: not partner ids"),
        (["--partner", "ALL"], "not a partner id"),
    ],
)
def test_cli_refuses_bad_markings_and_partners(db: Path, args: list[str], message: str) -> None:
    argv = ["ingest", str(SAMPLE), "--store", str(db), "--partner", "LTU", *args]
    if args[0] == "--partner":
        argv = ["ingest", str(SAMPLE), "--store", str(db), *args]
    proc = run_cli(*argv)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not db.parent.exists()  # nothing created: no store, no folder


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("detection_id,lat,lon\nD1,54.5,25.0\n", "no time column"),
        (
            "time,detection_id,lat,lon\n9999-01-01T00:00:00Z,D1,54.5,25.0\n",
            "a time outside what the store keeps",
        ),
        (
            "time,detection_id,lat,lon\n2026-11-01T00:00:00Z,D1,54.5,25.0\n"
            "4900-06-01T00:00:00Z,D2,54.5,25.0\n",
            "a time outside what the store keeps",
        ),
    ],
    ids=["no-time-column", "year-9999", "one-row-after-4800"],
)
def test_cli_refuses_a_whole_file_with_exit_2(
    db: Path, tmp_path: Path, content: str, message: str
) -> None:
    refused = tmp_path / "refused.csv"
    refused.write_text(content, encoding="utf-8")
    proc = run_cli("ingest", str(refused), "--store", str(db), "--partner", "LTU")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not db.parent.exists()  # a refused upload creates nothing: no store, no folder
    proc = run_cli("ingest", str(tmp_path / "missing.csv"), "--store", str(db), "--partner", "LTU")
    assert proc.returncode == 2
    assert "no such file" in proc.stderr
    proc = run_cli("detections", "--store", str(tmp_path / "nope.gpkg"), "--as-partner", "LTU")
    assert proc.returncode == 2
    assert "no such store" in proc.stderr
    assert not (tmp_path / "nope.gpkg").exists()


def test_cli_store_defaults_to_limes_store(tmp_path, monkeypatch):
    # Without --store the commands use $LIMES_STORE, as the app does (then the app's default).
    target = tmp_path / "env-store.gpkg"
    monkeypatch.setenv("LIMES_STORE", str(target))
    csv = tmp_path / "d.csv"
    csv.write_text("time,lat,lon,detection_id\n2026-11-03T10:00:00Z,54.6,25.3,E1\n")
    proc = run_cli("ingest", str(csv), "--partner", "LTU")
    assert proc.returncode == 0, proc.stderr
    assert target.exists()
    assert json.loads(proc.stdout)["accepted"] == 1
    proc = run_cli("detections", "--as-partner", "LTU")
    assert proc.returncode == 0, proc.stderr
    assert "E1" in proc.stdout
