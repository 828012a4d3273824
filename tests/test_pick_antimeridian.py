"""A gap picked near the antimeridian: its box crosses 180° and its details find every row.

:func:`geo.mapview.pick_box` gives the box the details of a pick read from the store
(:func:`geo.mapview.rows_near`) when the map does not hold every detection. Near 180° the
gap's corridor goes on at -180°: the box must cross the antimeridian (``west > east``, as
:class:`geo.store.Extent` reads it), not stop at ±180°. The truth reads every row into
memory: the rows within the corridor's depth of the gap's line (in an equidistant
projection centred on 180°) must all be listed, and the rows listed are those in the box.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from test_store import put

from geo import store
from geo.mapview import map_base, map_window, pick_box, rows_near
from geo.store import Extent
from layers.map import MAP_HEXAGON_M

CORRIDOR_KM = 15.0
LAT = 60.0


def _scene(east_end: float) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A border along 60° N from 179° E to ``east_end``; one tower near its west end."""
    border = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(179.0, LAT), (east_end, LAT)])], crs="EPSG:4326"
    )
    sensors = gpd.GeoDataFrame(
        {"sensor_id": ["t1"], "partner": ["LTU"], "kind": ["tower"], "range_m": [5_000.0]},
        geometry=[shapely.Point(179.05, LAT)],
        crs="EPSG:4326",
    )
    return border, sensors


def _rows(n: int) -> gpd.GeoDataFrame:
    """Detections within the corridor's depth of 60° N, on both sides of 180°."""
    rng = np.random.default_rng(7)
    lon = rng.uniform(178.9, 181.0, n)
    lon = np.where(lon > 180.0, lon - 360.0, lon)  # as stored: -180..180
    lat = LAT + rng.uniform(-0.12, 0.12, n)
    start = pd.Timestamp("2026-11-01T00:00:00Z")
    return gpd.GeoDataFrame(
        {
            "time": start + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
            "detection_id": [f"d{i}" for i in range(n)],
            "source": ["radar"] * n,
            "src_row": np.arange(1, n + 1, dtype=np.int64),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def _near_line(line: shapely.Geometry, lon: np.ndarray, lat: np.ndarray, km: float) -> np.ndarray:
    """Which points lie within ``km`` of a line, measured in an equidistant projection at 180°."""
    aeqd = pyproj.Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={LAT} +lon_0=180 +datum=WGS84", always_xy=True
    )
    xy = np.column_stack(aeqd.transform(*shapely.get_coordinates(line).T))
    x, y = aeqd.transform(lon, lat)
    return shapely.distance(shapely.LineString(xy), shapely.points(x, y)) <= km * 1000.0


@pytest.mark.parametrize("east_end", [179.99, 180.5], ids=["ends-before-180", "crosses-180"])
def test_a_gap_at_the_antimeridian_lists_the_rows_on_both_sides(
    any_store: Path | str, east_end: float
) -> None:
    border, sensors = _scene(east_end)
    put(any_store, _rows(600), partner="LTU")
    base = map_base(border, sensors, any_store, operation="sample", corridor_km=CORRIDOR_KM)
    window = map_window(
        base, time_from=None, time_to=None, viewers=("LTU",), hex_size_m=MAP_HEXAGON_M, limit=5
    )
    assert window.cut
    gaps = window.result.layers["gaps"]
    assert len(gaps) == 1
    gap = window.result.report["gaps"][0]
    box = pick_box(window.result, {"gaps": [gap]})
    assert box is not None
    near, held = rows_near(
        base, window, box, time_from=None, time_to=None, viewers=("LTU",), limit=10**6
    )
    got = set(near.layers["detections"]["detection_id"])
    assert held == len(got)
    # every row read into memory: the rows in the box, and those in the gap's corridor
    every = store.visible_detections(any_store, ["LTU"])
    lon, lat = every.geometry.x.to_numpy(), every.geometry.y.to_numpy()
    assert got == set(every["detection_id"][Extent(*box).holds(lon, lat)])
    along = _near_line(gaps.geometry.iloc[0], lon, lat, CORRIDOR_KM)
    assert (along & (lon > 179.0)).any()  # rows along the gap on both sides of 180°
    assert (along & (lon < -179.0)).any()
    assert set(every["detection_id"][along]) <= got  # each row along the gap is listed
    west, _, east, _ = box
    assert west > 0 > east  # across the antimeridian, not clipped at 180° (nor the world)
