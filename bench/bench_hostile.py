"""Benchmark: hostile uploads through the bounded reader (issue 14, point 1).

Prints figures; never asserts. For each file: what happened (refused and why, or accepted),
the time until the answer, the peak RSS of the reader process and how far this process's
own peak RSS rose. The files are made in a temporary folder: a GeoPackage whose layer is a
recursive SQL view (rows without end), one whose view returns three 300 MB strings, one
with a trigger of its own; a 20-million-row dictionary-encoded Parquet file and one whose
single dictionary value is a 300 MB string; CSVs of 5,000,001 rows (just over the cap) and
of 1,000,000 (accepted). Last, the recursive view with the GeoPackage check switched off in
the reader, so that only its time limit stops it (``--time-limit``, default 30 s).

Run: ``.venv/bin/python bench/bench_hostile.py [--time-limit S]``.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely
from shapely.geometry import Point

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from geo.core import settings  # noqa: E402
from geo.core.errors import ValidationError  # noqa: E402
from geo.inputs import bounded  # noqa: E402


class _ReaderLog(logging.Handler):
    """Keeps the child's peak RSS that :mod:`geo.inputs.bounded` logs after each read."""

    child_rss_mb = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        self.child_rss_mb = float(record.args[-1])  # type: ignore[index]


def _parent_rss_mb() -> tuple[float, float]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def _geopackage(path: Path, *statements: str) -> Path:
    """A minimal GeoPackage whose 'detections' layer the statements create (see the tests)."""
    point = (
        b"GP\x00\x01" + struct.pack("<i", 4326) + shapely.to_wkb(Point(14.5, 45.5), byte_order=1)
    )
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            PRAGMA application_id = 1196444487; PRAGMA user_version = 10300;
            CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY,
              organization TEXT, organization_coordsys_id INTEGER, definition TEXT,
              description TEXT);
            CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT,
              identifier TEXT, description TEXT, last_change DATETIME, min_x DOUBLE,
              min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
            CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT,
              geometry_type_name TEXT, srs_id INTEGER, z TINYINT, m TINYINT);
            INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326,
              'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
              || 'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],'
              || 'AUTHORITY["EPSG","4326"]]', NULL);
            INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
              VALUES ('detections', 'features', 'detections', 4326);
            INSERT INTO gpkg_geometry_columns VALUES ('detections', 'geom', 'POINT', 4326, 0, 0);
            CREATE TABLE one (geom BLOB, time TEXT);
        """)
        conn.execute("INSERT INTO one VALUES (?, '2024-05-01T12:00:00Z')", (point,))
        for sql in statements:
            conn.execute(sql)
    conn.close()
    return path


RECURSIVE = (
    "CREATE VIEW detections AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
    "FROM r) SELECT i AS fid, one.geom, one.time FROM r, one"
)


def _files(folder: Path) -> list[tuple[str, Path]]:
    files = [
        ("recursive-view GeoPackage", _geopackage(folder / "endless.gpkg", RECURSIVE)),
        (
            "view of three 300 MB strings",
            _geopackage(
                folder / "strings.gpkg",
                "CREATE VIEW detections AS WITH RECURSIVE r(i) AS (SELECT 1 "
                "UNION ALL SELECT i + 1 FROM r WHERE i < 3) SELECT i AS fid, one.geom, one.time, "
                "printf('%.*c', 300000000, 'x') AS note FROM r, one",
            ),
        ),
        (
            "GeoPackage with its own trigger",
            _geopackage(
                folder / "trigger.gpkg",
                "CREATE TABLE detections (fid INTEGER PRIMARY KEY, geom BLOB, time TEXT)",
                "CREATE TRIGGER wipe AFTER INSERT ON detections BEGIN DELETE FROM one; END",
            ),
        ),
    ]
    rows = folder / "rows.parquet"
    batch = pa.table(
        {
            "time": pa.array(["2024-05-01T12:00:00Z"]).take(np.zeros(1_000_000, np.int32)),
            "lat": np.full(1_000_000, 45.5),
            "lon": np.full(1_000_000, 14.5),
        }
    )
    with pq.ParquetWriter(rows, batch.schema, compression="zstd") as writer:
        for _ in range(20):
            writer.write_table(batch)
    files.append(("20,000,000-row dictionary Parquet", rows))
    huge = folder / "huge.parquet"
    pq.write_table(
        pa.table(
            {
                "time": pa.array(["2024-05-01T12:00:00Z"] * 1000),
                "lat": np.full(1000, 45.5),
                "lon": np.full(1000, 14.5),
                "note": pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(1000, np.int32)),
                    pa.array(["x" * 300_000_000], pa.large_string()),
                ),
            }
        ),
        huge,
        compression="zstd",
    )
    files.append(("Parquet: one 300 MB dictionary string x 1000", huge))
    for n, label in ((5_000_001, "CSV of 5,000,001 rows"), (1_000_000, "CSV of 1,000,000 rows")):
        csv = folder / f"rows{n}.csv"
        rng = np.random.default_rng(0)
        seconds = rng.integers(0, 30 * 86400, n).astype("timedelta64[s]")
        times = np.char.add((np.datetime64("2024-05-01T00:00:00") + seconds).astype(str), "Z")
        pacsv.write_csv(
            pa.table(
                {
                    "time": times,
                    "lat": np.round(45 + rng.random(n), 4),
                    "lon": np.round(14 + rng.random(n), 4),
                }
            ),
            csv,
        )
        files.append((label, csv))
    return files


def _unchecked_child(*args: Any) -> None:
    """The reader with its GeoPackage check switched off: only its limits are left."""
    import geo.inputs.readers.dispatch

    geo.inputs.readers.dispatch.check_geopackage = lambda path, source: None  # type: ignore[assignment]
    bounded._child(*args)


def _measure(label: str, path: Path, log: _ReaderLog) -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets this process's peak RSS
    before, _ = _parent_rss_mb()
    started = time.perf_counter()
    try:
        columns, _ = bounded.read_detection_columns(path)
        outcome = f"accepted, {len(columns['lon']):,} rows"
        del columns
    except ValidationError as exc:
        outcome = "refused: " + str(exc).split(": ", 1)[1][:110]
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    print(
        f"{label} ({size / 1024:,.0f} KB)\n  {outcome}\n  {seconds:.2f} s, reader peak RSS "
        f"{log.child_rss_mb:,.0f} MB, this process's peak RSS +{_parent_rss_mb()[1] - before:,.0f}"
        " MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--time-limit", type=float, default=30.0, help="reader time limit for the last case (s)"
    )
    args = parser.parse_args()
    log = _ReaderLog()
    logging.getLogger("geo.inputs.bounded").addHandler(log)
    logging.getLogger("geo.inputs.bounded").setLevel(logging.INFO)
    print(
        f"limits: {settings.MAX_ROWS_PER_FILE:,} rows, {settings.MAX_DECODED_BYTES / 1e9:g} "
        f"GB decoded, reader {settings.READ_MEMORY_LIMIT_MB:,} MB and "
        f"{settings.READ_TIME_LIMIT_S:g} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        files = _files(Path(tmp))
        bounded.read_detection_columns(settings.SAMPLE_DIR / "detections.csv")  # reader ready
        for label, path in files:
            _measure(label, path, log)
        import bench_hostile  # this file as a module the reader process can import

        settings.READ_TIME_LIMIT_S = args.time_limit
        bounded._child = bench_hostile._unchecked_child  # type: ignore[assignment]
        _measure(
            f"{files[0][0]}, GeoPackage check off (time limit {args.time_limit:g} s)",
            files[0][1],
            log,
        )


if __name__ == "__main__":
    main()
