"""Issue 18 in the app: the sample's schedules and tracks, the editor keeping schedules, the
Map page's "When is it blind" section checked against ``python -m geo timeline``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.inputs import load_scenario, read_sensors, read_tracks
from geo.operations import checked_sensors, sensor_table
from geo.operations.editing import SCHEDULE_COLUMNS, TABLE_COLUMNS

PARTNERS = ["EU", "LTU", "LVA", "POL"]


# ---- step 1: the scenario's tracks, the sample's schedules, the editor ------------------------


def test_load_scenario_reads_the_manifests_tracks() -> None:
    sc = load_scenario(SAMPLE_DIR)
    direct, _ = read_tracks(SAMPLE_DIR / "tracks.csv")
    assert sc.tracks is not None
    pd.testing.assert_frame_equal(sc.tracks, direct)
    assert "tracks" in sc.reports
    assert sc.dem == SAMPLE_DIR / "dem.tif"


def test_a_scenario_without_tracks_has_none(tmp_path: Path) -> None:
    for name in ("border.geojson", "sensors.csv"):
        shutil.copy(SAMPLE_DIR / name, tmp_path / name)
    (tmp_path / "scenario.json").write_text(
        json.dumps({"border": "border.geojson", "sensors": "sensors.csv"}), encoding="utf-8"
    )
    sc = load_scenario(tmp_path)
    assert sc.tracks is None
    assert "tracks" not in sc.reports


def test_the_sample_sensors_have_schedules_and_an_outage() -> None:
    sensors, report = read_sensors(SAMPLE_DIR / "sensors.csv")
    assert not report.rejected
    scheduled = sensors["schedule"].fillna("").astype(str) != ""
    assert 10 <= int(scheduled.sum()) < len(sensors)  # some, not all
    assert (sensors["outages"].fillna("").astype(str) != "").sum() == 1


def test_the_sample_manifest_keeps_dem_and_tracks() -> None:
    # make_sample.py writes the manifest the repository holds (dem and tracks included)
    src = (Path(__file__).parents[1] / "sample_data" / "make_sample.py").read_text("utf-8")
    manifest = json.loads((SAMPLE_DIR / "scenario.json").read_text("utf-8"))
    for key in ("dem", "tracks"):
        assert manifest[key]
        assert f'"{key}": "{manifest[key]}"' in src


def test_the_editor_keeps_every_schedule_column() -> None:
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    sensors = sensors.iloc[:6].copy()
    sensors["active_from"] = pd.Timestamp("2026-11-01T00:00Z")
    sensors["active_to"] = pd.Timestamp("2026-11-10T00:00Z")
    sensors.loc[sensors.index[0], "schedule"] = "22:00-06:00"
    sensors.loc[sensors.index[1], "outages"] = "2026-11-02T10:00:00Z/2026-11-02T11:00:00Z"
    table = sensor_table(sensors)
    assert list(table.columns) == [*TABLE_COLUMNS, *SCHEDULE_COLUMNS]
    table.loc[2, "range_m"] = 1234.0  # an edit elsewhere
    checked = checked_sensors(table, partners=PARTNERS)
    for column in SCHEDULE_COLUMNS:
        pd.testing.assert_series_equal(
            checked[column].reset_index(drop=True),
            sensors[column].reset_index(drop=True),
            check_names=False,
            check_dtype=False,
        )
    assert checked["range_m"].iloc[2] == 1234.0


def test_a_bad_schedule_in_the_editor_is_refused_naming_the_sensor() -> None:
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    table = sensor_table(sensors.iloc[:3])
    table.loc[1, "schedule"] = "25:00-26:00"
    with pytest.raises(ValidationError, match=f"sensor {table.loc[1, 'sensor_id']}.*schedule"):
        checked_sensors(table, partners=PARTNERS)
