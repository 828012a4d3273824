"""Uploads that expand without limit (issue 14, point 1) are refused, the server unharmed.

A few KB can stand for endless work: a GeoPackage whose layer is a recursive SQL view (rows
without end), a view returning 300 MB strings, a 270 KB Parquet file of 20 million
dictionary-encoded rows. Each is made here and refused with a message saying which limit, what
the file holds and how to fix it, before its rows are decoded (:mod:`geo.inputs.guard`); what no
check foresees is stopped by the reader process's memory and time limits (:mod:`geo.inputs.bounded`),
which the app and ``python -m geo ingest`` read every upload with. Normal files read exactly
as before.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import struct
import subprocess
import sys
import time
import types
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point
from streamlit.testing.v1 import AppTest

import geo.inputs.guard
import geo.inputs.readers.csv
from geo import store
from geo.core import settings
from geo.core.errors import ValidationError
from geo.inputs import bounded, loader

ROOT = Path(__file__).resolve().parents[1]

DETECTIONS = gpd.GeoDataFrame(
    {
        "detection_id": ["d1", "d2", "d3"],
        "time": ["2024-05-01T12:00:00Z", "2024-05-01T13:30:15Z", "2024-05-02T00:00:00Z"],
        "source": ["R-01", "C-02", "patrol"],
        "confidence": [0.5, 0.95, 1.0],
    },
    geometry=[Point(14.2, 45.52), Point(14.31, 45.6), Point(14.65, 45.43)],
    crs="EPSG:4326",
)


@pytest.fixture
def no_gdal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any GDAL read fail the test: the file must be refused before GDAL sees it."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("GDAL was handed a file that should have been refused")

    for name in ("list_layers", "read_arrow", "read_info", "read_dataframe", "open_arrow"):
        monkeypatch.setattr(pyogrio, name, boom)


def _rss_mb() -> tuple[float, float]:
    """This process's resident memory now and its peak since :func:`_reset_peak` (MB)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)


# --------------------------------------------------------------------------------------
# Hostile GeoPackages, made with sqlite3
# --------------------------------------------------------------------------------------


def _gpkg_point(lon: float, lat: float) -> bytes:
    """A GeoPackage geometry blob: 'GP', version 0, little-endian without envelope, SRS, WKB."""
    return b"GP\x00\x01" + struct.pack("<i", 4326) + shapely.to_wkb(Point(lon, lat), byte_order=1)


def _geopackage(path: Path, *statements: str) -> Path:
    """A minimal GeoPackage whose 'detections' layer the ``statements`` create."""
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            PRAGMA application_id = 1196444487; PRAGMA user_version = 10300;
            CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
              organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
              definition TEXT NOT NULL, description TEXT);
            CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY,
              data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '',
              last_change DATETIME, min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
              srs_id INTEGER);
            CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL,
              column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
              srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
              PRIMARY KEY (table_name, column_name));
            INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326,
              'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
              || 'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],'
              || 'AUTHORITY["EPSG","4326"]]', NULL);
            INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
              VALUES ('detections', 'features', 'detections', 4326);
            INSERT INTO gpkg_geometry_columns VALUES ('detections', 'geom', 'POINT', 4326, 0, 0);
            CREATE TABLE one (geom BLOB, time TEXT);
        """)
        conn.execute(
            "INSERT INTO one VALUES (?, '2024-05-01T12:00:00Z')", (_gpkg_point(14.5, 45.5),)
        )
        for sql in statements:
            conn.execute(sql)
    conn.close()
    return path


RECURSIVE_VIEW = (
    "CREATE VIEW detections AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL "
    "SELECT i + 1 FROM r) SELECT i AS fid, one.geom, one.time FROM r, one"
)
HUGE_STRINGS_VIEW = (
    "CREATE VIEW detections AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL "
    "SELECT i + 1 FROM r WHERE i < 3) SELECT i AS fid, one.geom, one.time, "
    "printf('%.*c', 300000000, 'x') AS note FROM r, one"
)
COMPUTED_COLUMN = (
    "CREATE TABLE detections (fid INTEGER PRIMARY KEY, geom BLOB, time TEXT, note "
    "TEXT GENERATED ALWAYS AS (printf('%.*c', 300000000, 'x')) VIRTUAL)"
)
VIRTUAL_TABLE = "CREATE VIRTUAL TABLE detections USING rtree(id, minx, maxx, miny, maxy)"


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        (RECURSIVE_VIEW, r"holds the view 'detections'"),
        (HUGE_STRINGS_VIEW, r"holds the view 'detections'"),
        (COMPUTED_COLUMN, r"table 'detections' has the computed column 'note' \(GENERATED ALWAYS"),
        (VIRTUAL_TABLE, r"holds the virtual table 'detections'"),
    ],
)
def test_geopackage_that_is_more_than_plain_tables_never_reaches_gdal(
    tmp_path: Path, sql: str, match: str, no_gdal: None
) -> None:
    path = _geopackage(tmp_path / "det.gpkg", sql)
    with pytest.raises(ValidationError, match=match):
        loader.read_detections(path)


def _gdal_geopackage(path: Path, rows: int = 3) -> Path:
    frame = DETECTIONS.iloc[np.arange(rows) % len(DETECTIONS)].reset_index(drop=True)
    frame["detection_id"] = [f"d{i}" for i in range(rows)]
    frame.to_file(path, driver="GPKG", layer="detections")
    return path


def test_trigger_in_a_geopackage_is_refused(tmp_path: Path, no_gdal: None) -> None:
    path = _gdal_geopackage(tmp_path / "det.gpkg")
    with sqlite3.connect(path) as conn:  # GDAL's own triggers (spatial index, counts) are fine
        assert (
            conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0]
            > 5
        )
        conn.execute(
            "CREATE TRIGGER wipe AFTER INSERT ON detections BEGIN DELETE FROM detections; END"
        )
    conn.close()
    with pytest.raises(ValidationError, match=r"holds the trigger 'wipe' on 'detections'"):
        loader.read_detections(path)


def test_geopackage_layer_over_the_row_cap_is_refused_by_its_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_gdal: None
) -> None:
    path = _gdal_geopackage(tmp_path / "det.gpkg", rows=30)
    monkeypatch.setattr(settings, "MAX_ROWS_PER_FILE", 20)
    with pytest.raises(
        ValidationError,
        match=r"too many features in layer 'detections': "
        r"expected at most 20 features per file, got '30 features'\. Split it "
        r"into files of at most 20 features each",
    ):
        loader.read_detections(path)


# --------------------------------------------------------------------------------------
# Parquet: dictionaries and run lengths
# --------------------------------------------------------------------------------------


def _dictionary_parquet(path: Path, rows: int, *, groups: int = 1) -> Path:
    """``rows`` identical detections (dictionary and run-length encoded: a few hundred KB)."""
    n = rows // groups
    batch = pa.table(
        {
            "time": pa.array(["2024-05-01T12:00:00Z"]).take(np.zeros(n, np.int32)),
            "lat": np.full(n, 45.5),
            "lon": np.full(n, 14.5),
        }
    )
    with pq.ParquetWriter(path, batch.schema, compression="zstd") as writer:
        for _ in range(groups):
            writer.write_table(batch)
    return path


def test_twenty_million_row_parquet_is_refused_by_the_row_cap_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _dictionary_parquet(tmp_path / "det.parquet", 20_000_000, groups=20)
    assert path.stat().st_size < 400 * 1024

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a page was decoded")

    for name in ("read", "read_row_group", "read_row_groups", "iter_batches"):
        monkeypatch.setattr(pq.ParquetFile, name, boom)
    monkeypatch.setattr(pq, "read_table", boom)
    match = (
        r"det\.parquet: the file holds too many rows: expected at most 5,000,000 rows per "
        r"file, got '20,000,000 rows'\. Split it into files of at most 5,000,000 rows"
    )
    with pytest.raises(ValidationError, match=match):
        loader.read_detections(path)


@pytest.mark.parametrize("typed", [False, True], ids=["text", "arrow_dictionary"])
def test_parquet_dictionary_expanding_past_the_size_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: bool
) -> None:
    # 1,000 rows sharing one 100 KB note: 100 MB of text from a file of a few KB.
    note = pa.array(["x" * 100_000]).take(np.zeros(1000, np.int32))
    table = pa.table(
        {
            "time": pa.array(["2024-05-01T12:00:00Z"] * 1000),
            "lat": np.full(1000, 45.5),
            "lon": np.full(1000, 14.5),
            "note": note.dictionary_encode() if typed else note,
        }
    )
    path = tmp_path / "det.parquet"
    pq.write_table(table, path, compression="zstd")
    assert path.stat().st_size < 20_000
    monkeypatch.setattr(settings, "MAX_DECODED_BYTES", 50_000_000)
    with pytest.raises(
        ValidationError,
        match=r"det\.parquet: the file would decode to more than "
        r"the size limit \(repeated dictionary values\): expected at most 47\.7 MB"
        r" of values, got '95\.\d MB of values'",
    ):
        loader.read_detections(path)
    monkeypatch.setattr(settings, "MAX_DECODED_BYTES", 200_000_000)
    assert len(loader.read_detections(path)[0]) == 1000


def test_parquet_read_within_the_caps_equals_pyarrow(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "time": ["2024-05-01T12:00:00Z", None, "2024-05-01T12:01:00Z"] * 100,
            "id": [f"x{i}" for i in range(300)],
            "lat": np.arange(300.0),
            "kind": pd.Categorical(["a", "b", "a"] * 100),
        }
    )
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    assert geo.inputs.guard.read_parquet_table(path, "t.parquet").equals(
        pq.read_table(path), check_metadata=True
    )


# --------------------------------------------------------------------------------------
# Rows of CSV and GDAL formats
# --------------------------------------------------------------------------------------


def test_csv_over_the_row_cap_is_refused_while_streaming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "MAX_ROWS_PER_FILE", 1000)
    row = "2024-05-01T12:00:00Z,45.5,14.5,{}\n"
    path = tmp_path / "det.csv"
    path.write_text("time,lat,lon,detection_id\n" + "".join(row.format(i) for i in range(1001)))

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the table was built")

    with monkeypatch.context() as m:
        m.setattr(geo.inputs.readers.csv, "_csv_table", boom)
        with pytest.raises(
            ValidationError,
            match=r"det\.csv: the file holds too many rows: "
            r"expected at most 1,000 rows per file, got 'more than 1,000 rows'",
        ):
            loader.read_detections(path)
    # At the cap it reads; line breaks inside quotes are not rows (counted by parsing).
    path.write_text(
        "time,lat,lon,note\n" + "".join(row.format('"two\nlines"') for _ in range(1000))
    )
    assert len(loader.read_detections(path)[0]) == 1000


def test_gdal_stops_one_feature_past_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "MAX_ROWS_PER_FILE", 20)
    frame = DETECTIONS.iloc[np.arange(30) % 3].reset_index(drop=True)
    path = tmp_path / "det.geojson"
    frame.to_file(path, driver="GeoJSON")
    asked: list[object] = []
    real = pyogrio.read_arrow
    monkeypatch.setattr(
        pyogrio,
        "read_arrow",
        lambda *a, **kw: asked.append(kw.get("max_features")) or real(*a, **kw),
    )
    with pytest.raises(
        ValidationError,
        match=r"det\.geojson: the file holds too many features: "
        r"expected at most 20 features per file, got 'more than 20 features'",
    ):
        loader.read_detections(path)
    assert asked == [21]


# --------------------------------------------------------------------------------------
# The reader process: time and memory limits, nothing of the parent's __main__
# --------------------------------------------------------------------------------------


def test_recursive_view_geopackage_is_refused_within_seconds_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _geopackage(tmp_path / "endless.gpkg", RECURSIVE_VIEW)
    assert path.stat().st_size < 64 * 1024
    bounded.read_detections(settings.SAMPLE_DIR / "detections.csv")  # reader process ready
    monkeypatch.setattr(settings, "READ_TIME_LIMIT_S", 20.0)  # without the check: 20 s, fail
    _reset_peak()
    before, _ = _rss_mb()
    started = time.perf_counter()
    with pytest.raises(
        ValidationError,
        match=r"endless\.gpkg: the GeoPackage holds the view "
        r"'detections': a stored SQL query, which Limes never runs",
    ) as info:
        bounded.read_detections(path, source_name="endless.gpkg")
    assert time.perf_counter() - started < 10
    assert _rss_mb()[1] - before < 200
    assert "Save the layer as a plain table" in str(info.value)
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("limes-reader")]


def _big_csv(path: Path, rows: int) -> Path:
    times = pd.date_range("2024-05-01", periods=rows, freq="s").strftime("%Y-%m-%dT%H:%M:%SZ")
    pd.DataFrame(
        {"time": times, "lat": 45.5, "lon": 14.5, "detection_id": [f"d{i}" for i in range(rows)]}
    ).to_csv(path, index=False)
    return path


def test_reader_running_past_the_time_limit_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _big_csv(tmp_path / "slow.csv", 300_000)
    bounded.read_detections(settings.SAMPLE_DIR / "detections.csv")  # reader process ready
    monkeypatch.setattr(settings, "READ_TIME_LIMIT_S", 0.05)
    started = time.perf_counter()
    with pytest.raises(
        ValidationError,
        match=r"slow\.csv: reading the file took longer than the "
        r"time limit \(0\.05 s\) and was stopped.*Split it into smaller files",
    ):
        bounded.read_detection_columns(path)
    assert time.perf_counter() - started < 5
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("limes-reader")]
    monkeypatch.undo()
    assert len(bounded.read_detection_columns(path)[0]["lon"]) == 300_000


def test_reader_needing_more_than_the_memory_limit_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _big_csv(tmp_path / "big.csv", 100_000)
    monkeypatch.setattr(settings, "READ_MEMORY_LIMIT_MB", 300)  # less than a reader starts with
    _reset_peak()
    before, _ = _rss_mb()
    with pytest.raises(ValidationError, match=r"big\.csv: .*memory.* limit.*300 MB"):
        bounded.read_detections(path)
    assert _rss_mb()[1] - before < 200


def test_reader_never_runs_the_parents_main_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Streamlit installs the page it runs as __main__; a child must not run it again.
    marker = tmp_path / "ran"
    page = tmp_path / "page.py"
    page.write_text(f"open({str(marker)!r}, 'w').close()\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", main)
    frame, _ = bounded.read_detections(settings.SAMPLE_DIR / "detections.csv")
    assert len(frame) == 22000
    assert not marker.exists()


# --------------------------------------------------------------------------------------
# Normal files read exactly as before
# --------------------------------------------------------------------------------------


def _write(directory: Path, fmt: str) -> Path:
    if fmt == "csv":
        return settings.SAMPLE_DIR / "detections.csv"
    path = directory / f"det.{fmt}"
    if fmt == "gpkg":
        _gdal_geopackage(path, rows=12)
    elif fmt == "gpx":
        frame = DETECTIONS.rename(columns={"detection_id": "name"})
        frame["time"] = pd.to_datetime(frame["time"])
        pyogrio.write_dataframe(
            frame[["name", "time", "geometry"]], path, driver="GPX", layer="waypoints"
        )
    elif fmt == "kml":
        DETECTIONS.to_file(path, driver="LIBKML")
    elif fmt == "parquet":
        DETECTIONS.to_parquet(path)
    elif fmt == "cot":
        path.write_text(
            "<events>"
            + "".join(
                f'<event version="2.0" uid="u{i}" type="a-h-G" how="m-g" time="2024-05-01T12:0{i}:00Z"'
                f' start="2024-05-01T12:00:00Z" stale="2024-05-01T13:00:00Z"><point lat="45.5"'
                f' lon="14.{i}" hae="9999999" ce="5" le="9999999"/></event>'
                for i in range(5)
            )
            + "</events>"
        )
    return path


@pytest.mark.parametrize("fmt", ["csv", "gpx", "kml", "gpkg", "parquet", "cot"])
def test_normal_files_read_exactly_as_in_process(tmp_path: Path, fmt: str) -> None:
    path = _write(tmp_path, fmt)
    expected, expected_report = loader.read_detections(path)
    frame, report = bounded.read_detections(path)
    assert_geodataframe_equal(frame, expected, check_less_precise=False)
    assert report == expected_report
    columns, report = bounded.read_detection_columns(path)
    want, want_report = loader.read_detection_columns(path)
    assert list(columns) == list(want)
    assert report == want_report
    for name, values in want.items():
        if isinstance(values, pd.Series):
            pd.testing.assert_series_equal(columns[name], values, check_exact=True)
        else:
            assert columns[name].dtype == values.dtype
            assert columns[name].flags.writeable
            np.testing.assert_array_equal(columns[name], values)


# --------------------------------------------------------------------------------------
# Command line and app: the message, nothing stored
# --------------------------------------------------------------------------------------


def test_cli_ingest_of_a_hostile_file_exits_2_with_the_message(tmp_path: Path) -> None:
    path = _geopackage(tmp_path / "endless.gpkg", RECURSIVE_VIEW)
    db = tmp_path / "store.gpkg"
    proc = subprocess.run(
        [sys.executable, "-m", "geo", "ingest", str(path), "--store", str(db), "--partner", "SI"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "endless.gpkg: the GeoPackage holds the view 'detections'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not proc.stdout
    assert not db.exists()


def _upload(files: list[tuple[str, bytes, str]]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader[0].set_value(files).run()
    return at


def test_upload_page_shows_the_refusals_and_stores_nothing(tmp_path: Path) -> None:
    endless = _geopackage(tmp_path / "endless.gpkg", RECURSIVE_VIEW).read_bytes()
    rows = _dictionary_parquet(tmp_path / "rows.parquet", 20_000_000, groups=20).read_bytes()
    at = _upload(
        [
            ("endless.gpkg", endless, "application/geopackage+sqlite3"),
            ("rows.parquet", rows, "application/octet-stream"),
        ]
    )
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(
        e.startswith(
            "Refused, nothing will be stored: endless.gpkg: the GeoPackage holds "
            "the view 'detections'"
        )
        for e in errors
    ), errors
    assert any(
        e.startswith("Refused, nothing will be stored: rows.parquet: the file holds too many rows")
        and "20,000,000 rows" in e
        for e in errors
    ), errors
    assert not [b for b in at.button if b.key == "upload_confirm"]
    assert store.version(Path(os.environ["LIMES_STORE"])) == 0  # no upload stored


def test_store_ingest_reads_in_the_reader_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parent never reads the file itself: a reader past its time limit refuses it.
    path = _big_csv(tmp_path / "det.csv", 300_000)
    bounded.read_detections(settings.SAMPLE_DIR / "detections.csv")
    calls: list[object] = []
    monkeypatch.setattr(loader, "read_detection_columns", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(settings, "READ_TIME_LIMIT_S", 0.05)
    db = tmp_path / "store.gpkg"
    with pytest.raises(ValidationError, match="took longer than the time limit"):
        store.ingest_file(db, path, partner="SI")
    assert not calls
    assert not db.exists()


def test_a_reader_under_a_lower_memory_limit_keeps_it(tmp_path):
    # A server run under `ulimit -v` lower than READ_MEMORY_LIMIT_MB: the reader may not raise
    # the limit (setrlimit refuses), so it keeps the lower one and still reads.
    csv = tmp_path / "d.csv"
    csv.write_text("time,lat,lon,detection_id\n2026-11-03T10:00:00Z,54.6,25.3,E1\n")
    code = (
        "import resource, sys; from geo.core import settings; from geo.inputs import bounded; "
        "assert settings.READ_MEMORY_LIMIT_MB * 2**20 > 3 * 2**30; "
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30)); "
        "rows, report = bounded.read_detections(sys.argv[1]); print(len(rows))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(csv)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def test_at_most_max_concurrent_reads_readers_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six uploads read at once by six threads (six users): never more readers than the cap."""
    import threading

    path = _big_csv(tmp_path / "many.csv", 50_000)
    running, most, lock = 0, 0, threading.Lock()
    child = bounded._run_child

    def counted(*args: object) -> object:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.2)  # each reader overlaps the others' starts
            return child(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(bounded, "_run_child", counted)
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(len(bounded.read_detection_columns(path)[0]["lon"]))
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [50_000] * 6  # every file read whole, none refused
    assert most == settings.MAX_CONCURRENT_READS == 2


def test_a_file_waiting_past_the_turn_wait_is_refused_and_the_next_one_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "READ_SLOT_WAIT_S", 0.2)
    for _ in range(settings.MAX_CONCURRENT_READS):  # every turn taken by other uploads
        assert bounded._SLOTS.acquire(timeout=5)
    try:
        started = time.perf_counter()
        with pytest.raises(
            ValidationError,
            match=r"detections\.csv: not read: the server was busy reading other uploads for "
            r"0\.2 s \(it reads at most 2 at once\)\. Nothing was stored; upload the file again",
        ):
            bounded.read_detections(settings.SAMPLE_DIR / "detections.csv")
        assert 0.2 <= time.perf_counter() - started < 5
    finally:
        for _ in range(settings.MAX_CONCURRENT_READS):
            bounded._SLOTS.release()
    detections, report = bounded.read_detections(settings.SAMPLE_DIR / "detections.csv")
    assert len(detections) == report.rows_accepted == 22_000
