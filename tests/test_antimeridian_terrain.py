"""Line of sight over a DEM that crosses the antimeridian (the Bering scene of
``test_antimeridian.py``, its sensors on 80 m masts: their horizon, 40 km, lies past their
range).

On flat ground a sensor sees its whole disk, so over a flat DEM every detection has its
flat-earth status, except within a cell or two of a disk's edge. That must hold for a DEM
in lon/lat whose columns run on past 180° (GDAL's way: x from 177.5 to 182.5), where PROJ
gives 179.2° W for a sensor the grid holds at 180.8°, and for a DEM in a metric CRS (UTM
zone 1). The lon/lat DEM and the scene moved 30° west give the same figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from pyproj import Geod
from test_antimeridian import CASES, scene

from geo.coverage.analysis import Analysis, analyse

GEOD = Geod(ellps="WGS84")
MAST_M = 80.0
#: Statuses may differ within this distance (m) of a disk's edge: two cells of the DEMs.
EDGE_M = 600.0
WEST, SOUTH, NORTH = 177.5, 64.3, 65.7  # the DEMs' extent (unwrapped), 5° of longitude


def flat_dem(path: Path, kind: str, shift: float) -> Path:
    """A flat DEM (0 m) under the scene moved by ``shift``: ``lonlat`` (x past 180° where it
    crosses) or ``utm`` (the zone of the scene's centre), cells of about 250 m."""
    west = WEST + shift
    if kind == "lonlat":
        crs, transform, shape = "EPSG:4326", Affine(0.005, 0, west, 0, -0.0025, NORTH), (560, 1000)
    else:
        zone = int((180.0 + shift) // 6) % 60 + 1
        crs = f"EPSG:{32600 + zone}"
        to_utm = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
        xs, ys = to_utm.transform([west, west + 5, west, west + 5], [SOUTH, SOUTH, NORTH, NORTH])
        x0, y1 = min(xs), max(ys)
        transform = Affine(250.0, 0, x0, 0, -250.0, y1)
        shape = (int((y1 - min(ys)) // 250) + 1, int((max(xs) - x0) // 250) + 1)
    with rasterio.open(
        path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
        dtype="float32", crs=crs, transform=transform,
    ) as dst:  # fmt: skip
        dst.write(np.zeros(shape, dtype=np.float32), 1)
    return path


def run(shift: float, dem: Path | None) -> Analysis:
    case = CASES["bering"]
    border, sensors, detections = scene(case, shift)
    return analyse(
        border, sensors.assign(height_m=MAST_M), detections=detections,
        corridor_km=case.corridor_km, dem=dem,
    )  # fmt: skip


def near_a_disk_edge(result: Analysis) -> np.ndarray:
    """Per detection: whether it lies within :data:`EDGE_M` of a sensor's range (geodesic)."""
    det, sensors = result.layers["detections"], result.layers["sensors"]
    lon, lat = det.geometry.x.to_numpy(), det.geometry.y.to_numpy()
    near = np.zeros(lon.size, dtype=bool)
    for x, y, reach in zip(sensors.geometry.x, sensors.geometry.y, sensors["range_m"], strict=True):
        d = GEOD.inv(np.full(lon.size, x), np.full(lon.size, y), lon, lat)[2]
        near |= np.abs(d - reach) <= EDGE_M
    return near


@pytest.mark.parametrize("kind", ["lonlat", "utm"])
def test_over_a_flat_dem_across_180_statuses_are_the_flat_ones(tmp_path: Path, kind: str) -> None:
    flat = run(0.0, None)
    over = run(0.0, flat_dem(tmp_path / f"{kind}.tif", kind, 0.0))
    assert over.report["terrain"]["sensors_off_terrain"] == []
    got = over.layers["detections"]["coverage_status"].astype(str).to_numpy()
    want = flat.layers["detections"]["coverage_status"].astype(str).to_numpy()
    clear = ~near_a_disk_edge(flat)
    assert clear.mean() > 0.9
    bad = np.flatnonzero(clear & (got != want))
    assert bad.size == 0, over.layers["detections"].iloc[bad[:5]].assign(flat=want[bad[:5]])
    # the sensor past 180° sees: detections it covers are covered, on both sides of 180°
    past = over.layers["detections"].geometry.x.to_numpy() < 0
    assert ((got == "coverage") & past).sum() >= 20
    assert over.report["border"]["covered_km"] == pytest.approx(
        flat.report["border"]["covered_km"], rel=0.01
    )


def test_a_lonlat_dem_across_180_gives_the_scene_moved_away(tmp_path: Path) -> None:
    here = run(0.0, flat_dem(tmp_path / "here.tif", "lonlat", 0.0))
    away = run(-30.0, flat_dem(tmp_path / "away.tif", "lonlat", -30.0))
    for key, value in away.report["border"].items():
        assert here.report["border"][key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
    status_here = here.layers["detections"]["coverage_status"].astype(str).to_numpy()
    status_away = away.layers["detections"]["coverage_status"].astype(str).to_numpy()
    assert (status_here == status_away).all()
