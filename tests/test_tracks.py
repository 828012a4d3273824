"""Reading tracks (GPX, KML gx:Track, CSV) and sensors' schedule columns.

Real files from ../shared/realdata (see its PROVENANCE.md) are read when present: their
expected counts and times come from the provenance notes (gpxpy's and GDAL's own reading).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.inputs import read_sensors, read_tracks
from geo.inputs.checks.schedule import daily_windows, outage_intervals

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def _real(rel: str) -> Path:
    path = REAL / rel
    if not path.exists():
        pytest.skip(f"{rel} not present (../shared/realdata)")
    return path


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_csv_tracks_per_track_values_fill_rows(tmp_path: Path) -> None:
    f = _write(
        tmp_path,
        "t.csv",
        "track_id,time,lat,lon,partner,kind,range_m\n"
        "D1,2026-05-01T00:00:00Z,0,0.10,LTU,drone,1500\n"
        "D1,2026-05-01T00:00:05Z,0,0.11,,,\n"
        "P1,2026-05-01T00:00:00,0,0.50,POL,patrol,\n",
    )
    t, rep = read_tracks(f)
    assert t["track_id"].tolist() == ["D1", "D1", "P1"]
    assert t["partner"].tolist() == ["LTU", "LTU", "POL"]
    assert t["kind"].tolist() == ["drone", "drone", "patrol"]
    assert t["range_m"].tolist()[:2] == [1500.0, 1500.0]
    assert np.isnan(t["range_m"].iloc[2])
    assert str(t["time"].dt.tz) == "UTC"
    assert rep.naive_times == 1
    assert rep.rows_accepted == 3


def test_csv_tracks_bad_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    f = _write(
        tmp_path,
        "t.csv",
        "track_id,time,lat,lon,kind,range_m,fov_deg\n"
        "D1,2026-05-01T00:00:00Z,0,0.1,drone,1500,\n"
        "D1,yesterday,0,0.1,drone,1500,\n"
        "D1,1901-12-13T20:45:52Z,0,0.1,drone,1500,\n"
        "D1,2026-05-01T00:00:10Z,0,0.1,submarine,1500,\n"
        "D1,2026-05-01T00:00:15Z,0,0.1,drone,-5,\n"
        "D1,2026-05-01T00:00:20Z,0,0.1,drone,100,400\n"
        ",2026-05-01T00:00:25Z,0,0.1,drone,100,\n",
    )
    t, rep = read_tracks(f)
    assert len(t) == 1
    why = {e.row: (e.field, e.reason) for e in rep.rejected}
    assert why[2][0] == "time"
    assert "not a time" in why[2][1]
    assert "before 1980" in why[3][1]
    assert why[4][0] == "kind"
    assert "unknown track kind" in why[4][1]
    assert why[5][0] == "range_m"
    assert why[6][0] == "fov_deg"
    assert why[7][0] == "track_id"


def test_csv_without_track_id_is_refused(tmp_path: Path) -> None:
    f = _write(tmp_path, "t.csv", "time,lat,lon\n2026-05-01T00:00:00Z,0,0.1\n")
    with pytest.raises(ValidationError, match=r"t.csv.*'track_id' missing.*Add a track_id"):
        read_tracks(f)


def test_gpx_track_points_with_times() -> None:
    t, _ = read_tracks(_real("tracks/gpx/fiona_test_gpx.gpx"))
    assert len(t) == 19
    # The track's <name> (a CDATA section in the file).
    assert t["track_id"].unique().tolist() == ["Running 6/11/14 8:19 am"]
    assert t["time"].min() == pd.Timestamp("2014-06-11T12:21:40Z")
    assert t["time"].max() == pd.Timestamp("2014-06-11T12:24:04Z")


def test_gpx_with_untimed_tracks_keeps_timed_ones() -> None:
    t, rep = read_tracks(_real("tracks/gpx/gpxpy_korita-zbevnica.gpx"))
    assert rep.rows_read == 871
    # Two of its four tracks have times; a GPX without track names would give "track 3".
    assert sorted(t["track_id"].unique()) == ["ACTIVE LOG", "ACTIVE LOG #2"]
    assert t["time"].min() == pd.Timestamp("2010-10-03T09:36:30Z")
    assert t["time"].max() == pd.Timestamp("2010-10-03T13:19:31Z")
    assert all("time is missing" in e.reason for e in rep.rejected)


def test_gpx_with_reset_clock_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="before 1980-01-07"):
        read_tracks(_real("tracks/gpx/gpxpy_Mojstrovka.gpx"))


def test_gpx_route_without_tracks_is_refused() -> None:
    with pytest.raises(ValidationError, match="no tracks with timed points"):
        read_tracks(_real("tracks/gpx/togeojson_opencpn.gpx"))


def test_kml_gx_track_keeps_its_times() -> None:
    t, _ = read_tracks(_real("tracks/kml/togeojson_gxtrack.kml"))
    assert len(t) == 7
    assert t["time"].is_monotonic_increasing
    assert t["time"].iloc[0] == pd.Timestamp("2010-05-28T02:02:09Z")


def test_kml_gx_multitrack() -> None:
    t, _ = read_tracks(_real("tracks/kml/togeojson_gxmultitrack.kml"))
    from_tracks = t[t["time"].notna()]
    assert len(from_tracks) >= 26


def test_tracks_from_real_gpx_run_through_the_timeline(tmp_path: Path) -> None:
    from geo.timeline import timeline

    t, _ = read_tracks(_real("malformed/gpxpy_track-with-empty-segment.gpx"))
    # A border line 300 m west of the track, north-south.
    lon0 = float(t.geometry.x.min()) - 0.004
    border = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(lon0, 50.77), (lon0, 50.79)])], crs=4326
    )
    rep = timeline(
        border,
        tracks=t,
        time_from=t["time"].min(),
        time_to=t["time"].max(),
        track_range_m=1000.0,
        track_partner="DE",
    ).report
    assert rep["border"]["watched_pct"] > 0
    assert rep["parameters"]["tracks"] == 1
    assert list(rep["partners"]) == ["DE"]


# ---- schedules on sensors --------------------------------------------------------------


def test_daily_windows_and_outages_parse() -> None:
    assert daily_windows("06:00-18:00;20:00-24:00") == [(21600, 64800), (72000, 86400)]
    assert daily_windows("22:00-06:00") == [(79200, 21600)]
    for bad, why in (
        ("25:00-26:00", "not a time of day"),
        ("06:00", "not a window"),
        ("06:00-06:00", "same time"),
        ("6-18", "not a window"),
        ("", "no window"),
    ):
        with pytest.raises(ValueError, match=why):
            daily_windows(bad)
    ((a, b),) = outage_intervals("2026-05-01T10:00+02:00/2026-05-01T11:00+02:00")
    assert a == pd.Timestamp("2026-05-01T08:00Z")
    assert b == pd.Timestamp("2026-05-01T09:00Z")
    for bad, why in (
        ("2026-05-01T10:00Z", "not FROM/TO"),
        ("2026-05-01T11:00Z/2026-05-01T10:00Z", "ends before it starts"),
        ("x/y", "not an ISO 8601 time"),
    ):
        with pytest.raises(ValueError, match=why):
            outage_intervals(bad)


def test_sensor_schedule_columns_checked_per_row(tmp_path: Path) -> None:
    f = _write(
        tmp_path,
        "s.csv",
        "sensor_id,partner,kind,lat,lon,range_m,active_from,active_to,schedule,outages\n"
        "A,P,tower,0,0.5,1000,2026-05-01T00:00Z,,22:00-06:00,\n"
        "B,P,tower,0,0.5,1000,,,25:00-26:00,\n"
        "C,P,tower,0,0.5,1000,,,,2026-05-01T10:00Z/2026-05-01T09:00Z\n"
        "D,P,tower,0,0.5,1000,2026-05-02,2026-05-01,,\n"
        "E,P,tower,0,0.5,1000,soon,,,\n"
        "F,P,tower,0,0.5,1000,,,06:00-18:00; 20:00-22:00,2026-05-01T10:00Z/2026-05-01T11:00Z\n",
    )
    s, rep = read_sensors(f)
    assert s["sensor_id"].tolist() == ["A", "F"]
    assert s["schedule"].tolist() == ["22:00-06:00", "06:00-18:00;20:00-22:00"]
    assert s["outages"].iloc[1] == "2026-05-01T10:00:00Z/2026-05-01T11:00:00Z"
    assert s["active_from"].iloc[0] == pd.Timestamp("2026-05-01T00:00Z")
    why = {e.row: (e.field, e.reason) for e in rep.rejected}
    assert why[2][0] == "schedule"
    assert "25:00" in why[2][1]
    assert "HH:MM-HH:MM" in why[2][1]
    assert why[3][0] == "outages"
    assert "ends before it starts" in why[3][1]
    assert why[4][0] == "active_to"
    assert "not after active_from" in why[4][1]
    assert why[5][0] == "active_from"
    assert "not a time" in why[5][1]
    summary = rep.summary()
    assert "row 2, field 'schedule'" in summary


def test_analyse_ignores_schedules(tmp_path: Path) -> None:
    """The same sensors with and without schedule columns give the same analysis."""
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    border = gpd.read_file(SAMPLE_DIR / "border.geojson")
    plain = analyse(border, sensors).report
    timed = sensors.assign(
        schedule="00:00-01:00", outages="2026-05-01T00:00:00Z/2026-05-02T00:00:00Z"
    )
    with_schedule = analyse(border, timed).report
    assert with_schedule["border"] == plain["border"]
    assert with_schedule["gaps"] == plain["gaps"]
    plain_csv = tmp_path / "sensors.csv"  # the sample has schedules: a copy without them
    rows = pd.read_csv(SAMPLE_DIR / "sensors.csv", dtype=str, keep_default_na=False)
    assert {"schedule", "outages"} <= set(rows.columns)
    rows.drop(columns=["schedule", "outages"]).to_csv(plain_csv, index=False)
    sample, _ = read_sensors(plain_csv)
    assert not {"schedule", "outages"} & set(sample.columns)  # no columns, none made up
    assert analyse(border, sample).report["border"] == plain["border"]


def test_cot_position_reports_are_tracks_by_uid(tmp_path: Path) -> None:
    events = "".join(
        f'<event version="2.0" uid="{uid}" type="a-f-A-M-F-Q" time="2026-05-01T00:00:{s:02d}Z" '
        f'start="2026-05-01T00:00:{s:02d}Z" stale="2026-05-01T00:05:00Z" how="m-g">'
        f'<point lat="0.0" lon="{10.1 + s * 1e-4:.4f}" hae="120" ce="5" le="5"/></event>'
        for uid in ("UAV-7", "UAV-8")
        for s in (0, 10, 20)
    )
    f = _write(tmp_path, "pli.cot", f'<?xml version="1.0"?><events>{events}</events>')
    t, rep = read_tracks(f)
    assert t.groupby("track_id").size().to_dict() == {"UAV-7": 3, "UAV-8": 3}
    assert any("CoT event uid" in n for n in rep.notes)
