"""geo.timeline.views: the timeline's pieces, exposure and one moment as map lines."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.core.projection import GEOD
from geo.timeline import exposed_layer, piece_layer, timeline, watched_at, watched_layer

L_M = float(GEOD.inv(0.0, 0.0, 1.0, 0.0)[2])
M_PER_DEG = 6_378_137.0 * np.pi / 180.0
T0 = pd.Timestamp("2026-05-01T00:00:00Z")


def _border() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)


def _geodesic_km(frame: gpd.GeoDataFrame) -> float:
    return sum(GEOD.geometry_length(g) for g in frame.geometry) / 1000


def _outage_timeline() -> object:
    sensors = gpd.GeoDataFrame(
        {
            "sensor_id": ["S"],
            "partner": ["P"],
            "kind": ["tower"],
            "range_m": [30_000.0],
            "outages": ["2026-05-01T10:00Z/2026-05-01T10:45Z"],
        },
        geometry=[shapely.Point(0.5, 0.0)],
        crs=4326,
    )
    return timeline(_border(), sensors=sensors, time_from="2026-05-01", time_to="2026-05-02")


def test_moments_follow_the_outage() -> None:
    tl = _outage_timeline()
    covered = watched_at(tl, "2026-05-01T09:00Z")
    assert not watched_at(tl, "2026-05-01T10:30Z").any()
    layer = watched_layer(tl, "2026-05-01T09:00Z")
    assert layer.crs.equals("EPSG:4326")
    # A 30 km disk on the line watches 60 km of it (geodesic, within 0.5 %).
    assert len(layer) == 1
    assert _geodesic_km(layer) == pytest.approx(60.0, rel=0.005)
    assert tl.pieces.length_m[covered].sum() / 1000 == pytest.approx(60.0, rel=0.005)
    assert watched_layer(tl, "2026-05-01T10:30Z").empty


def test_exposed_layer_and_piece_layer() -> None:
    tl = _outage_timeline()
    exposed = exposed_layer(tl, 30)
    # Everything is exposed: the 60 km by the 45-min outage, the rest never watched.
    assert _geodesic_km(exposed) == pytest.approx(L_M / 1000, rel=0.005)
    assert exposed["max_unwatched_min"].max() == pytest.approx(1440.0)
    only_outage = exposed_layer(tl, 60)
    assert only_outage["max_unwatched_min"].tolist() == [1440.0, 1440.0]
    assert _geodesic_km(only_outage) == pytest.approx(L_M / 1000 - 60.0, rel=0.005)
    pieces = piece_layer(tl)
    assert len(pieces) == len(tl.pieces)
    mid = pieces[pieces["max_unwatched_min"] < 1440]
    assert set(mid["max_unwatched_min"]) == {45.0}
    assert mid["start_km"].min() == pytest.approx(L_M / 2000 - 30, abs=0.2)
    assert mid["end_km"].max() == pytest.approx(L_M / 2000 + 30, abs=0.2)


def test_drone_watches_its_disk_at_each_moment() -> None:
    v, r = 25.0, 2000.0
    t = np.arange(0.0, 3600.0, 5.0)
    s = 10_000.0 + v * t
    tracks = gpd.GeoDataFrame(
        {"track_id": "D", "time": T0 + pd.to_timedelta(t, unit="s"), "range_m": r},
        geometry=shapely.points(s / M_PER_DEG, np.zeros_like(s)),
        crs=4326,
    )
    tl = timeline(_border(), tracks=tracks, time_from=T0, time_to=T0 + pd.Timedelta(hours=1))
    at = T0 + pd.Timedelta(seconds=1000)
    layer = watched_layer(tl, at)
    assert len(layer) == 1
    assert _geodesic_km(layer) == pytest.approx(2 * r / 1000, abs=0.1)
    centre = (layer["start_km"].iloc[0] + layer["end_km"].iloc[0]) / 2
    assert centre == pytest.approx((10_000.0 + v * 1000) / 1000, abs=0.05)
