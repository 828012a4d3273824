"""``timeline --dem --detections``: detections classified against the terrain at their time.

Outside truths: the shadow a wall casts (similar triangles: a 100 m wall 1.5 km in front of a
10 m eye hides a 2 m target 1 km behind it by far), and ``analyse --dem``'s own
classification of the sample's detections, which the timeline must reproduce for sensors
that watch all the time.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine

from cli import main
from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.inputs import read_border, read_detections, read_sensors
from geo.timeline import timeline

UTM = "EPSG:32634"
E0, N0 = 500_000.0, 6_000_000.0  # about 21°E, 54.1°N
CELL = 30.0
SIZE = 800  # 24 km a side
TO_LL = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
T0 = pd.Timestamp("2026-05-01T00:00:00Z")
DAY = {"time_from": T0, "time_to": T0 + pd.Timedelta(days=1)}
#: The eye: 3 km south of the border; the wall: 1.5 km south of the border, 2 km wide.
EYE = (0.0, -3_000.0)
#: Detections (east, north offsets in m) and whether the eye sees them over the wall:
#: behind the wall (in its shadow), in front of it, beside it.
POINTS = {
    "behind": (0.0, -500.0, False),
    "front": (0.0, -2_300.0, True),
    "side": (3_500.0, -3_000.0, True),
}


def _ll(e: float, n: float) -> tuple[float, float]:
    lon, lat = TO_LL.transform(E0 + e, N0 + n)
    return float(lon), float(lat)


@pytest.fixture(scope="module")
def wall_dem(tmp_path_factory: pytest.TempPathFactory) -> str:
    z = np.zeros((SIZE, SIZE), dtype=np.float32)
    row = int(SIZE / 2 + 1_500.0 / CELL)
    c0, c1 = int(SIZE / 2 - 1_000.0 / CELL), int(SIZE / 2 + 1_000.0 / CELL)
    z[row - 1 : row + 2, c0 : c1 + 1] = 100.0
    path = tmp_path_factory.mktemp("wall") / "wall.tif"
    transform = Affine(CELL, 0, E0 - SIZE * CELL / 2, 0, -CELL, N0 + SIZE * CELL / 2)
    with rasterio.open(
        path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="float32",
        crs=UTM, transform=transform,
    ) as dst:  # fmt: skip
        dst.write(z, 1)
    return str(path)


def _border() -> gpd.GeoDataFrame:
    line = shapely.LineString([_ll(-8_000.0, 0.0), _ll(8_000.0, 0.0)])
    return gpd.GeoDataFrame(geometry=[line], crs=4326)


def _tower(**cols: object) -> gpd.GeoDataFrame:
    data = {"sensor_id": ["T"], "partner": ["P"], "kind": ["tower"], "range_m": [6_000.0]}
    data |= {"height_m": [10.0]} | {k: [v] for k, v in cols.items()}
    return gpd.GeoDataFrame(data, geometry=[shapely.Point(_ll(*EYE))], crs=4326)


def _detections(names: list[str], at: pd.Timestamp) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"detection_id": names, "time": pd.to_datetime([at] * len(names))},
        geometry=[shapely.Point(_ll(*POINTS[n][:2])) for n in names],
        crs=4326,
    )


def _watched(res: object) -> int:
    return int(res.report["detections"]["watched_at_time"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(POINTS))
def test_a_static_sensor_does_not_watch_behind_a_wall(wall_dem: str, name: str) -> None:
    det = _detections([name], T0 + pd.Timedelta(hours=3))
    flat = timeline(_border(), sensors=_tower(), detections=det, **DAY)
    terrain = timeline(_border(), sensors=_tower(), detections=det, dem=wall_dem, **DAY)
    assert _watched(flat) == 1  # all three lie in the 6 km disk
    assert _watched(terrain) == int(POINTS[name][2])
    # analyse --dem's viewshed agrees (its corridor holds all three).
    rep = analyse(_border(), _tower(), detections=det, dem=wall_dem).report["detections"]
    assert rep["in_coverage"] == int(POINTS[name][2])


def test_terrain_and_schedule_together(wall_dem: str) -> None:
    """Seen over the terrain but off duty is not watched; on duty and hidden neither."""
    sensors = _tower(schedule="00:00-12:00")
    morning = _detections(list(POINTS), T0 + pd.Timedelta(hours=3))
    evening = _detections(list(POINTS), T0 + pd.Timedelta(hours=15))
    both = pd.concat([morning, evening], ignore_index=True)
    res = timeline(_border(), sensors=sensors, detections=both, dem=wall_dem, **DAY)
    assert res.report["detections"]["total"] == 6
    assert _watched(res) == 2  # front and side, in the morning


def _hover(e: float, n: float, *, height_m: float) -> gpd.GeoDataFrame:
    times = T0 + pd.to_timedelta(np.arange(0, 3_601, 30.0), unit="s")
    return gpd.GeoDataFrame(
        {"track_id": "H", "time": times, "kind": "patrol", "range_m": 6_000.0}
        | {"height_m": height_m},
        geometry=[shapely.Point(_ll(e, n))] * times.size,
        crs=4326,
    )


@pytest.mark.parametrize(("height_m", "behind_seen"), [(10.0, False), (1_000.0, True)])
def test_a_track_sees_over_the_terrain_from_where_it_is(
    wall_dem: str, height_m: float, behind_seen: bool
) -> None:
    """A patrol at the eye's place is blind behind the wall; a drone 1 km up sees over it."""
    tracks = _hover(*EYE, height_m=height_m)
    det = _detections(list(POINTS), T0 + pd.Timedelta(minutes=20))
    late = _detections(["front"], T0 + pd.Timedelta(hours=2))  # the track has gone home
    det = pd.concat([det, late], ignore_index=True)
    flat = timeline(_border(), tracks=tracks, detections=det, **DAY)
    terrain = timeline(_border(), tracks=tracks, detections=det, dem=wall_dem, **DAY)
    assert _watched(flat) == 3
    assert _watched(terrain) == 2 + int(behind_seen)


def test_sample_detections_agree_with_analyse_dem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample's sensors without schedules: each detection in the corridor is watched by
    ``timeline --dem`` exactly when ``analyse --dem`` puts it in coverage."""
    dem = str(SAMPLE_DIR / "dem.tif")
    border, _ = read_border(SAMPLE_DIR / "border.geojson")
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    sensors = sensors.drop(columns=["schedule", "outages"])
    det, _ = read_detections(SAMPLE_DIR / "detections.csv")
    status = analyse(border, sensors, detections=det, dem=dem).layers["detections"]
    inside = status[status["coverage_status"] != "outside"]
    truth = int((inside["coverage_status"] == "coverage").sum())
    assert 0 < truth < len(inside)
    # Through the command line, as a user runs it.
    files = {"sensors.csv": sensors.drop(columns=["src_row"]), "det.csv": inside}
    for name, frame in files.items():
        table = pd.DataFrame(frame.drop(columns="geometry"))
        table["lon"], table["lat"] = frame.geometry.x, frame.geometry.y
        table.to_csv(tmp_path / name, index=False)
    out = tmp_path / "t.json"
    args = ["timeline", "--border", str(SAMPLE_DIR / "border.geojson")]
    args += ["--sensors", str(tmp_path / "sensors.csv"), "--detections", str(tmp_path / "det.csv")]
    args += ["--time-from", "2026-11-01", "--time-to", "2026-11-08", "--out", str(out)]
    assert main([*args, "--dem", dem]) == 0
    rep = json.loads(out.read_text())["detections"]
    assert rep["total"] == len(inside)
    assert rep["watched_at_time"] == truth
    assert main(args) == 0  # flat: the footprints, not the viewsheds, hold them
    flat = json.loads(out.read_text())["detections"]
    assert flat["watched_at_time"] != truth
    capsys.readouterr()
