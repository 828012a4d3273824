"""Malformed files become a :class:`ValidationError` with a message, never a traceback.

Issue 14, point 5: a GeoParquet whose ``geo`` metadata is malformed (a geometry column that is
missing or of the wrong type, ``geo`` not JSON, no ``columns``, an unknown ``encoding``, CRS
garbage) raised ``KeyError``/``AttributeError``/``TypeError`` past the validation: a traceback
in the page, and ``python -m geo ingest`` exited 1 instead of 2. Each case goes through the
public reader and through the command line. Malformed files of other formats (a truncated
GeoPackage, KML with broken XML, GPX with bad times) are checked the same way.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shapely.geometry import Point

from geo.core.errors import ValidationError
from geo.inputs.loader import read_detections

ROOT = Path(__file__).resolve().parents[1]

DETECTIONS = gpd.GeoDataFrame(
    {
        "detection_id": ["d1", "d2"],
        "time": ["2024-05-01T12:00:00Z", "2024-05-01T12:05:00Z"],
        "count": [1, 2],
    },
    geometry=[Point(14.5, 45.5), Point(14.6, 45.6)],
    crs="EPSG:4326",
)

Edit = Callable[[dict[str, Any]], object]


def _geometry(meta: dict[str, Any]) -> dict[str, Any]:
    column: dict[str, Any] = meta["columns"]["geometry"]
    return column


#: case -> (new ``geo`` value: an edit of the valid metadata or raw bytes, key, message part).
GEO_CASES: dict[str, tuple[Edit | bytes, str, str]] = {
    "primary_column_not_in_file": (
        lambda m: m.update(primary_column="geom", columns={"geom": _geometry(m)}),
        "geo.primary_column",
        r"not in the file.*got 'geom'",
    ),
    "primary_column_not_described": (
        lambda m: m.update(primary_column="geom"),
        "geo.columns.geom",
        "not described",
    ),
    "primary_column_missing": (
        lambda m: m.pop("primary_column"),
        "geo.primary_column",
        "no 'primary_column' key",
    ),
    "primary_column_not_text": (
        lambda m: m.update(primary_column=["geometry"]),
        "geo.primary_column",
        "not named",
    ),
    "not_json": (b"{not json", "geo", "not JSON"),
    "not_utf8": (b"\xff\xfe{", "geo", "not JSON"),
    "json_not_an_object": (b"[1, 2]", "geo", "not a JSON object"),
    "no_columns": (lambda m: m.pop("columns"), "geo.columns", "no 'columns' key"),
    "columns_a_list": (lambda m: m.update(columns=[1]), "geo.columns", "no geometry columns"),
    "column_metadata_text": (
        lambda m: m.update(columns={"geometry": "WKB"}),
        "geo.columns.geometry",
        "got 'WKB'",
    ),
    "unknown_encoding": (
        lambda m: _geometry(m).update(encoding="banana"),
        "geo.columns.geometry.encoding",
        "unknown geometry encoding.*got 'banana'",
    ),
    "encoding_a_number": (
        lambda m: _geometry(m).update(encoding=5),
        "geo.columns.geometry.encoding",
        "got 5",
    ),
    "native_encoding_on_wkb": (
        lambda m: _geometry(m).update(encoding="point"),
        "geo.columns.geometry.encoding",
        "does not hold point geometry.*got 'type binary'",
    ),
    "geometry_column_of_numbers": (
        lambda m: m.update(primary_column="count", columns={"count": _geometry(m)}),
        "geo.columns.count.encoding",
        "does not hold WKB geometry.*got 'type int64'",
    ),
    "geometry_column_of_text": (
        lambda m: m.update(primary_column="detection_id", columns={"detection_id": _geometry(m)}),
        "geo.columns.detection_id.encoding",
        "does not hold WKB geometry",
    ),
    "crs_garbage_text": (
        lambda m: _geometry(m).update(crs="banana"),
        "geo.columns.geometry.crs",
        "CRS cannot be understood.*got 'banana'",
    ),
    "crs_garbage_object": (
        lambda m: _geometry(m).update(crs={"type": "nope"}),
        "geo.columns.geometry.crs",
        "CRS cannot be understood",
    ),
    "crs_a_number": (
        lambda m: _geometry(m).update(crs=12345678),
        "geo.columns.geometry.crs",
        "not PROJJSON.*got 12345678",
    ),
}


def _geoparquet(tmp_path: Path, name: str, geo: Edit | bytes) -> Path:
    """A GeoParquet of :data:`DETECTIONS` with its ``geo`` metadata replaced or edited."""
    valid = tmp_path / "valid.parquet"
    DETECTIONS.to_parquet(valid)
    table = pq.read_table(valid)
    if isinstance(geo, bytes):
        value = geo
    else:
        meta = json.loads(table.schema.metadata[b"geo"])
        geo(meta)
        value = json.dumps(meta).encode()
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"geo": value}), path)
    return path


def ingest(path: Path, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "geo",
            "ingest",
            str(path),
            "--store",
            str(store),
            "--partner",
            "SI",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_refused_by_cli(path: Path, store: Path, *parts: str) -> None:
    proc = ingest(path, store)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {path.name}")
    for part in parts:
        assert part in proc.stderr


@pytest.mark.parametrize("case", list(GEO_CASES))
def test_malformed_geoparquet_metadata_is_a_validation_error(tmp_path: Path, case: str) -> None:
    edit, key, message = GEO_CASES[case]
    path = _geoparquet(tmp_path, case, edit)
    with pytest.raises(
        ValidationError,
        match=rf"^{case}\.parquet, field '{key}': unusable GeoParquet metadata: "
        rf"(?s:.*){message}(?s:.*)\. Write the file again with geopandas",
    ):
        read_detections(path)
    assert_refused_by_cli(path, tmp_path / "store.gpkg", f"field '{key}'", "Write the file again")
    assert not (tmp_path / "store.gpkg").exists()


def test_valid_geoparquet_of_either_encoding_still_loads(tmp_path: Path) -> None:
    for encoding in ("WKB", "geoarrow"):
        path = tmp_path / f"{encoding}.parquet"
        DETECTIONS.to_parquet(path, geometry_encoding=encoding)
        got, report = read_detections(path)
        assert report.format == "GeoParquet"
        assert list(got.geometry) == list(DETECTIONS.geometry)


def test_geoarrow_column_not_matching_its_encoding_is_a_validation_error(tmp_path: Path) -> None:
    valid = tmp_path / "valid.parquet"
    DETECTIONS.to_parquet(valid, geometry_encoding="geoarrow")
    table = pq.read_table(valid)
    meta = json.loads(table.schema.metadata[b"geo"])
    meta["columns"]["geometry"]["encoding"] = "polygon"  # the column holds points
    path = tmp_path / "points_as_polygons.parquet"
    pq.write_table(
        table.replace_schema_metadata({**table.schema.metadata, b"geo": json.dumps(meta).encode()}),
        path,
    )
    with pytest.raises(
        ValidationError,
        match=r"^points_as_polygons\.parquet, field "
        r"'geo\.columns\.geometry': could not decode the GeoParquet geometry "
        r"\('polygon' encoding\)",
    ):
        read_detections(path)
    assert_refused_by_cli(path, tmp_path / "store.gpkg", "'polygon' encoding")


# ---- other formats: already messages; kept that way ------------------------------------------


KML_HEAD = (
    b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
    b"<Placemark><name>d1</name><TimeStamp><when>2024-05-01T12:00:00Z</when></TimeStamp>"
    b"<Point><coordinates>14.5,45.5</coordinates></Point></Placemark>"
)
GPX_BAD_TIMES = (
    b'<?xml version="1.0"?><gpx version="1.1" creator="t" '
    b'xmlns="http://www.topografix.com/GPX/1/1">'
    b'<wpt lat="45.5" lon="14.5"><time>yesterday</time><name>d1</name></wpt>'
    b'<wpt lat="45.6" lon="14.6"><time>2024-13-45T99:00:00Z</time></wpt></gpx>'
)


def _truncated_gpkg(tmp_path: Path, n_bytes: int) -> bytes:
    whole = tmp_path / "whole.gpkg"
    frame = DETECTIONS.assign(time=pd.to_datetime(DETECTIONS["time"]))
    pd.concat([frame] * 200, ignore_index=True).to_file(whole, driver="GPKG")
    data = whole.read_bytes()
    return data[: n_bytes if n_bytes > 0 else len(data) // 2]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("head.gpkg", lambda p: _truncated_gpkg(p, 4096), "could not be read as GPKG"),
        ("half.gpkg", lambda p: _truncated_gpkg(p, 0), "could not be read as GPKG"),
        ("cut.kml", lambda p: KML_HEAD + b"<Placemark><name", "could not be read as KML"),
        ("mismatched.kml", lambda p: KML_HEAD + b"</Placemark></kml>", "could not be read as KML"),
        ("times.gpx", lambda p: GPX_BAD_TIMES, "none of the 2 features can be used"),
    ],
)
def test_malformed_file_of_other_formats_is_a_validation_error(
    tmp_path: Path, name: str, content: Callable[[Path], bytes], message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content(tmp_path))
    with pytest.raises(ValidationError, match=rf"^{re.escape(name)}: {message}"):
        read_detections(path)
    assert_refused_by_cli(path, tmp_path / "store.gpkg", message)
