"""Sensor schedules survive every file Limes writes and reads back (issue 18, outages).

GDAL's GeoJSON reader took a text cell that starts like a date for a date and kept only that
start: an ``outages`` cell ``FROM/TO;FROM/TO`` came back as ``FROM`` (and the row was
rejected). The readers now hand such cells over as text; these tests write sensors with
``active_from``, ``active_to``, ``schedule`` and ``outages`` through every export Limes
writes (``geo.export``, ``python -m geo export``, ``python -m geo operation export``) and
through files other tools write (GDAL's own GeoJSON, Shapefile, FlatGeobuf), read them
back and compare the values with the ones first read. The sample's own outage then shows in
``python -m geo timeline`` as border unwatched over its window, checked against ``analyse``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from cli import main
from geo.core.settings import SAMPLE_DIR
from geo.export import FORMATS, write_export
from geo.inputs import read_sensors
from geo.inputs.checks.times import to_time
from geo.inputs.readers.dispatch import read_raw

TIME_FIELDS = ["active_from", "active_to"]
TEXT_FIELDS = ["schedule", "outages"]
#: The files an operation export writes for its border and sensors.
LAYERS = ("border.geojson", "sensors.geojson")
#: Two outages in one cell, times with and without seconds, empty cells on another row.
SENSORS_CSV = (
    "sensor_id,partner,kind,lat,lon,range_m,status,active_from,active_to,schedule,outages\n"
    "A,P,tower,54.60,25.70,4000,active,2026-11-01T00:00Z,2026-11-08T00:00:00Z,06:00-18:00,"
    "2026-11-02T06:00:00Z/2026-11-02T09:30:00Z;2026-11-03T00:00Z/2026-11-03T01:15Z\n"
    "B,P,tower,54.65,25.75,3000,active,,,,\n"
    "C,Q,radar,54.70,25.80,5000,active,2026-11-02T12:00:00+02:00,,22:00-06:00,"
    "2026-11-04T23:00:00Z/2026-11-05T02:00:00Z\n"
)


@pytest.fixture(scope="module")
def sensors(tmp_path_factory: pytest.TempPathFactory) -> gpd.GeoDataFrame:
    path = tmp_path_factory.mktemp("outages") / "sensors.csv"
    path.write_text(SENSORS_CSV, encoding="utf-8")
    frame, report = read_sensors(path)
    assert not report.rejected
    # What the file says, once read: the two outages of A in canonical form.
    assert frame["outages"].iloc[0] == (
        "2026-11-02T06:00:00Z/2026-11-02T09:30:00Z;2026-11-03T00:00:00Z/2026-11-03T01:15:00Z"
    )
    assert frame["active_from"].iloc[2] == pd.Timestamp("2026-11-02T10:00:00Z")
    return frame


def _assert_same_schedules(again: gpd.GeoDataFrame, first: gpd.GeoDataFrame) -> None:
    a = again.set_index("sensor_id").sort_index()
    b = first.set_index("sensor_id").sort_index()
    assert list(a.index) == list(b.index)
    present = [c for c in TIME_FIELDS + TEXT_FIELDS if c in b.columns]
    assert present == [c for c in TIME_FIELDS + TEXT_FIELDS if c in a.columns]
    for col in present:
        if col in TIME_FIELDS:
            pd.testing.assert_series_equal(a[col], b[col], check_dtype=False)
        else:
            assert a[col].fillna("").tolist() == b[col].fillna("").tolist(), col


def _export_file(out: Path, fmt: str, layer: str) -> Path:
    return out / f"{layer}.{fmt}" if fmt in ("geojson", "csv") else out


@pytest.mark.parametrize("fmt", FORMATS)
def test_sensors_round_trip_through_every_export_format(
    sensors: gpd.GeoDataFrame, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / ("sensors" if fmt in ("geojson", "csv") else f"sensors.{fmt}")
    write_export({"sensors": sensors.drop(columns=["src_row"])}, out, fmt=fmt)
    again, report = read_sensors(_export_file(out, fmt, "sensors"))
    assert not report.rejected
    _assert_same_schedules(again, sensors)


@pytest.mark.parametrize(
    ("driver", "name", "times_as_text"),
    [
        ("GeoJSON", "sensors.geojson", False),  # GDAL's GeoJSON, date-times as GDAL writes them
        ("GeoJSON", "text.geojson", True),
        ("ESRI Shapefile", "sensors.shp", True),  # a DBF has no date-time type: text
        ("FlatGeobuf", "sensors.fgb", False),
        ("GPKG", "sensors.gpkg", True),
    ],
)
def test_sensors_written_by_gdal_read_back(
    sensors: gpd.GeoDataFrame, tmp_path: Path, driver: str, name: str, times_as_text: bool
) -> None:
    frame = sensors.drop(columns=["src_row"]).copy()
    if times_as_text:
        for col in TIME_FIELDS:
            frame[col] = frame[col].map(lambda t: t.isoformat() if pd.notna(t) else None)
    with warnings.catch_warnings():  # dBASE cuts names to 10 characters: the reader copes
        warnings.filterwarnings("ignore", "Normalized/laundered field name", RuntimeWarning)
        pyogrio.write_dataframe(frame, tmp_path / name, driver=driver)
    again, report = read_sensors(tmp_path / name)
    assert not report.rejected
    _assert_same_schedules(again, sensors)


def test_operation_export_reads_back_with_its_schedules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample (its outage included) stored, exported and read back: the same sensors and
    the same timeline over the outage."""
    store = tmp_path / "limes.gpkg"
    border, sensors = SAMPLE_DIR / "border.geojson", SAMPLE_DIR / "sensors.csv"
    create = ["operation", "create", "s", "--border", str(border), "--sensors", str(sensors)]
    assert main([*create, "--store", str(store), "--user", "planner"]) == 0
    out = tmp_path / "out"
    assert main(["operation", "export", "s", "--out", str(out), "--store", str(store)]) == 0
    capsys.readouterr()
    first, _ = read_sensors(sensors)
    assert (first["outages"].fillna("") != "").sum() == 1  # the sample's outage
    again, report = read_sensors(out / "sensors.geojson")
    assert not report.rejected
    _assert_same_schedules(again, first)
    window = ["--time-from", "2026-11-03T00:00Z", "--time-to", "2026-11-04T00:00Z"]
    reports = []
    for name, b, s in (("files", border, sensors), ("exported", *(out / f for f in LAYERS))):
        path = tmp_path / f"{name}.json"
        files = ["--border", str(b), "--sensors", str(s)]
        assert main(["timeline", *files, *window, "--out", str(path)]) == 0
        reports.append(json.loads(path.read_text()))
    assert reports[0]["border"] == reports[1]["border"]
    assert reports[0]["by_hour"] == reports[1]["by_hour"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_export_keeps_the_schedules_of_the_coverage(
    sensors: gpd.GeoDataFrame, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m geo export``: the coverage layer carries each sensor's schedule fields."""
    src = tmp_path / "sensors.csv"
    src.write_text(SENSORS_CSV, encoding="utf-8")
    out = tmp_path / ("out" if fmt in ("geojson", "csv") else f"out.{fmt}")
    border = str(SAMPLE_DIR / "border.geojson")
    args = ["export", "--border", border, "--sensors", str(src), "--format", fmt]
    assert main([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    path = _export_file(out, fmt, "coverage")
    raw = read_raw(path, layer_kind="sectors", source=path.name)  # polygons, as Limes reads them
    attrs = raw.attrs[raw.attrs["sensor_id"].notna()].set_index("sensor_id").sort_index()
    first = sensors.set_index("sensor_id").sort_index()
    assert list(attrs.index) == list(first.index)
    for col in TEXT_FIELDS:
        got = attrs[col].where(attrs[col].notna(), "").astype(str)
        assert got.tolist() == first[col].fillna("").tolist(), col
    for col in TIME_FIELDS:
        parsed = to_time(attrs[col].reset_index(drop=True)).values
        assert parsed.tolist() == first[col].reset_index(drop=True).tolist(), col


def test_the_sample_outage_shows_in_the_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over 08:00-12:00 on 3 November every scheduled sample sensor is on and radar
    LTU-RAD-002 is down: the border unwatched is what ``analyse`` leaves uncovered without it."""
    first, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    down = first.loc[first["outages"].fillna("") != "", "sensor_id"].tolist()
    assert down == ["LTU-RAD-002"]
    without = tmp_path / "without.csv"
    rows = pd.read_csv(SAMPLE_DIR / "sensors.csv", dtype=str, keep_default_na=False)
    rows[rows["sensor_id"] != down[0]].to_csv(without, index=False)
    border = ["--border", str(SAMPLE_DIR / "border.geojson")]
    truth = {}
    for name, path in (("all", SAMPLE_DIR / "sensors.csv"), ("without", without)):
        assert main(["analyse", *border, "--sensors", str(path)]) == 0
        truth[name] = json.loads(capsys.readouterr().out)["border"]
    assert truth["without"]["gap_km"] > truth["all"]["gap_km"] + 5.0  # the radar alone watches
    out = tmp_path / "t.json"
    window = ["--time-from", "2026-11-03T08:00Z", "--time-to", "2026-11-03T12:00Z"]
    sensors = ["--sensors", str(SAMPLE_DIR / "sensors.csv")]
    assert main(["timeline", *border, *sensors, *window, "--out", str(out)]) == 0
    rep = json.loads(out.read_text())["border"]
    assert rep["never_watched_km"] == pytest.approx(truth["without"]["gap_km"], abs=1e-3)
    assert rep["watched_pct"] == pytest.approx(truth["without"]["coverage_pct"], abs=1e-3)
    # The day before, same hours, the radar watches: the border of all the sensors.
    before = ["--time-from", "2026-11-02T08:00Z", "--time-to", "2026-11-02T12:00Z"]
    assert main(["timeline", *border, *sensors, *before, "--out", str(out)]) == 0
    rep = json.loads(out.read_text())["border"]
    assert rep["never_watched_km"] == pytest.approx(truth["all"]["gap_km"], abs=1e-3)
    # Across the outage's start (06:00-12:00): the radar's own border is unwatched for the
    # last four hours, so it is exposed with a 240-minute unwatched interval.
    across = ["--time-from", "2026-11-03T06:00Z", "--time-to", "2026-11-03T12:00Z"]
    assert main(["timeline", *border, *sensors, *across, "--out", str(out)]) == 0
    stretches = json.loads(out.read_text())["stretches"]
    assert any(s["max_unwatched_min"] == pytest.approx(240.0, abs=0.01) for s in stretches)


def test_sensors_in_a_hand_written_kml(sensors: gpd.GeoDataFrame, tmp_path: Path) -> None:
    """KML as Google Earth writes it: every field an untyped ``<Data>`` text."""
    placemarks = []
    for row in sensors.itertuples():
        fields = {"partner": row.partner, "kind": row.kind, "range_m": row.range_m}
        fields |= {c: getattr(row, c) for c in TIME_FIELDS + TEXT_FIELDS}
        data = "".join(
            f'<Data name="{k}"><value>{v.isoformat() if isinstance(v, pd.Timestamp) else v}'
            "</value></Data>"
            for k, v in fields.items()
            if pd.notna(v)
        )
        placemarks.append(
            f"<Placemark><name>{row.sensor_id}</name><ExtendedData>{data}</ExtendedData>"
            f"<Point><coordinates>{row.geometry.x},{row.geometry.y}</coordinates></Point>"
            "</Placemark>"
        )
    kml = tmp_path / "sensors.kml"
    kml.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document>{''.join(placemarks)}</Document></kml>",
        encoding="utf-8",
    )
    again, report = read_sensors(kml)
    assert not report.rejected
    _assert_same_schedules(again, sensors)
