"""What is active at one moment (``geo.timeline.moment``), against analytic answers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo.core.errors import ValidationError
from geo.timeline import moment, timeline

GEOD = Geod(ellps="WGS84")
BORDER = gpd.GeoDataFrame(geometry=[shapely.LineString([(0.0, 0.0), (1.0, 0.0)])], crs=4326)
DAY = ("2026-05-01T00:00Z", "2026-05-02T00:00Z")


def _sensors() -> gpd.GeoDataFrame:
    """Two towers: one on a 06:00-18:00 schedule, one down for an hour, near the border."""
    return gpd.GeoDataFrame(
        {
            "sensor_id": ["day", "always"],
            "partner": ["P", "Q"],
            "kind": ["tower", "tower"],
            "range_m": [20_000.0, 20_000.0],
            "schedule": ["06:00-18:00", None],
            "outages": [None, "2026-05-01T09:00:00Z/2026-05-01T10:00:00Z"],
        },
        geometry=[shapely.Point(0.2, 0.01), shapely.Point(0.8, 0.01)],
        crs=4326,
    )


def _tracks() -> gpd.GeoDataFrame:
    """One drone along the equator: fixes at 12:00 and 12:01:40 (100 s), then silent 10 min."""
    times = pd.to_datetime(
        ["2026-05-01T12:00:00Z", "2026-05-01T12:01:40Z", "2026-05-01T12:11:40Z"], utc=True
    )
    return gpd.GeoDataFrame(
        {
            "track_id": ["D1"] * 3,
            "time": times,
            "partner": ["P"] * 3,
            "kind": ["drone"] * 3,
            "range_m": [2000.0] * 3,
            "fov_deg": [np.nan] * 3,
            "height_m": [np.nan] * 3,
        },
        geometry=[shapely.Point(0.4, 0.0), shapely.Point(0.5, 0.0), shapely.Point(0.6, 0.0)],
        crs=4326,
    )


@pytest.fixture(scope="module")
def tl():
    return timeline(BORDER, sensors=_sensors(), tracks=_tracks(), time_from=DAY[0], time_to=DAY[1])


def test_a_scheduled_sensor_is_active_inside_its_schedule_only(tl) -> None:
    assert moment(tl, "2026-05-01T12:00Z").active_ids == ["day", "always"]
    assert moment(tl, "2026-05-01T20:00Z").active_ids == ["always"]
    assert moment(tl, "2026-05-01T05:59Z").active_ids == ["always"]
    # the outage of "always" from 09:00 to 10:00
    assert moment(tl, "2026-05-01T09:30Z").active_ids == ["day"]
    # only active sensors have a footprint: the 20 km disk of "always" at night
    night = moment(tl, "2026-05-01T20:00Z").sensor_footprints
    assert list(night["sensor_id"]) == ["always"]
    area = abs(GEOD.geometry_area_perimeter(night.geometry.iloc[0])[0])
    assert area == pytest.approx(np.pi * 20_000.0**2, rel=0.01)


def test_a_drones_position_is_the_linear_interpolation_between_its_fixes(tl) -> None:
    m = moment(tl, "2026-05-01T12:00:25Z")  # a quarter of the way from 0.4° to 0.5°
    assert list(m.positions["track_id"]) == ["D1"]
    p = m.positions.geometry.iloc[0]
    assert p.x == pytest.approx(0.425, abs=1e-6)
    assert p.y == pytest.approx(0.0, abs=1e-6)
    assert m.positions["heading_deg"].iloc[0] == pytest.approx(90.0, abs=0.5)  # east
    # its footprint: the 2 km range disk around that point (geodesic area within 1 %)
    disk = m.track_footprints.geometry.iloc[0]
    area = abs(GEOD.geometry_area_perimeter(disk)[0])
    assert area == pytest.approx(np.pi * 2000.0**2, rel=0.01)
    assert disk.contains(p)


def test_a_silence_longer_than_the_max_fix_gap_has_no_position(tl) -> None:
    # 600 s between the second and third fixes: longer than the default 120 s
    assert len(moment(tl, "2026-05-01T12:05:00Z").positions) == 0
    assert len(moment(tl, "2026-05-01T11:59:00Z").positions) == 0  # before its first fix


def test_the_watched_share_at_a_moment(tl) -> None:
    length_km = GEOD.line_length([0.0, 1.0], [0.0, 0.0]) / 1000.0
    night = moment(tl, "2026-05-01T20:00Z")  # only "always": 40 km of border around 0.8°
    assert night.length_km == pytest.approx(length_km, rel=1e-4)
    assert night.watched_km == pytest.approx(40.0, rel=0.01)
    noon = moment(tl, "2026-05-01T12:00:50Z")  # both towers and the drone (its 4 km apart)
    assert noon.watched_km == pytest.approx(84.0, rel=0.01)
    assert noon.watched_pct == pytest.approx(100 * noon.watched_km / noon.length_km)


def test_a_moment_outside_the_window_is_refused(tl) -> None:
    with pytest.raises(ValidationError, match=r"moment.*outside the time window"):
        moment(tl, "2026-05-03T00:00Z")
