"""What a change of sensors does, checked against two independent coverage runs."""

from __future__ import annotations

import pytest

from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.inputs import read_border, read_sensors
from geo.operations.changes import coverage_change, sensor_changes


@pytest.fixture(scope="module")
def sample():
    border, _ = read_border(SAMPLE_DIR / "border.geojson")
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    return border, sensors


def _report(border, sensors):
    # min_gap_m=0: every uncovered stretch is listed, so the gaps are the exact complement.
    return analyse(border, sensors, min_gap_m=0.0).report


def test_removing_a_sensor_only_loses_and_the_books_balance(sample):
    border, sensors = sample
    before = _report(border, sensors)
    cams = sensors[sensors["kind"] == "camera"]
    dropped = cams.iloc[0]["sensor_id"]
    after = _report(border, sensors[sensors["sensor_id"] != dropped])
    change = coverage_change(before, after)
    assert change.gained_km == pytest.approx(0.0, abs=1e-6)
    assert change.covered_after_km <= change.covered_before_km
    # The difference of two independent runs equals what the comparison says was lost.
    assert change.net_km == pytest.approx(change.gained_km - change.lost_km, abs=2e-3)
    assert sensor_changes(sensors, sensors[sensors["sensor_id"] != dropped]).to_dict() == {
        "added": [],
        "removed": [dropped],
        "changed": {},
    }


def test_a_longer_range_closes_gaps_and_reports_the_field(sample):
    border, sensors = sample
    before = _report(border, sensors)
    edited = sensors.copy()
    radars = edited.index[edited["kind"] == "radar"]
    sid = edited.loc[radars[0], "sensor_id"]
    old = float(edited.loc[radars[0], "range_m"])
    edited.loc[radars[0], "range_m"] = old * 3
    after = _report(border, edited)
    change = coverage_change(before, after)
    assert change.lost_km == pytest.approx(0.0, abs=1e-6)
    assert change.gained_km > 0
    assert change.net_km == pytest.approx(change.gained_km, abs=2e-3)
    # A gap that is gone entirely is "closed"; its length is part of the gain.
    assert sum(g["length_km"] for g in change.closed) <= change.gained_km + 1e-3
    assert sensor_changes(sensors, edited).changed == {sid: {"range_m": [old, old * 3]}}


def test_moving_a_sensor_reports_its_position(sample):
    _, sensors = sample
    moved = sensors.copy()
    moved.loc[moved.index[0], "geometry"] = moved.geometry.iloc[0].__class__(
        moved.geometry.iloc[0].x + 0.01, moved.geometry.iloc[0].y
    )
    diff = sensor_changes(sensors, moved).changed
    ((sid, fields),) = diff.items()
    assert sid == sensors["sensor_id"].iloc[0]
    assert set(fields) == {"lon"}
    assert fields["lon"][1] - fields["lon"][0] == pytest.approx(0.01)
