"""Benchmark: terrain-aware coverage at full size. Prints figures, asserts nothing.

Target (issue 4, 2-core machine): terrain coverage for 1,000 sensors on a 10,000 x 10,000 DEM
in under 60 s, with peak memory reported.

A rugged synthetic DEM of 10,000 x 10,000 cells (30 m, UTM 33N, 300 km a side) is written as
a tiled GeoTIFF; 1,000 sensors (cameras, radars, towers; 10 km range; a third of them wedges)
of four partners are scattered over all of it, and a winding 400 km border crosses it
diagonally. Measured:

1. ``terrain_coverage`` alone: one read of the DEM, 1,000 viewsheds on 2 threads, the count
   grids (all sensors and per partner).
2. The whole ``analyse(..., dem=...)``: the above plus the border results read from the grid,
   the corridor areas from one polygonization, and the map layers.

    .venv/bin/python bench/bench_terrain.py [N_CELLS] [N_SENSORS]
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_viewshed import CELL_M, CRS, write_dem  # noqa: E402

from geo.coverage.analysis import analyse  # noqa: E402
from geo.terrain import grids as tc  # noqa: E402

RANGE_M = 10_000.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def scene(n_cells: int, n_sensors: int, tr) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rng = np.random.default_rng(11)
    to_ll = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    size_m = n_cells * CELL_M
    x0, y0 = tr.c, tr.f
    # A winding border from the north-west corner to the south-east one.
    t = np.linspace(0.03, 0.97, 400)
    bx = x0 + t * size_m + 6_000 * np.sin(t * 40)
    by = y0 - t * size_m + 6_000 * np.cos(t * 33)
    blon, blat = to_ll.transform(bx, by)
    border = gpd.GeoDataFrame(
        geometry=[shapely.LineString(np.column_stack([blon, blat]))], crs=4326
    )
    # Sensors anywhere on the DEM (so the grid is the whole DEM), a few km inside its edge.
    sx = x0 + rng.uniform(0.02, 0.98, n_sensors) * size_m
    sy = y0 - rng.uniform(0.02, 0.98, n_sensors) * size_m
    slon, slat = to_ll.transform(sx, sy)
    kind = rng.choice(["camera", "radar", "tower"], n_sensors)
    wedge = rng.random(n_sensors) < 1 / 3
    sensors = gpd.GeoDataFrame(
        {
            "sensor_id": [f"S{i:04d}" for i in range(n_sensors)],
            "partner": rng.choice(["A", "B", "C", "D"], n_sensors),
            "kind": kind,
            "range_m": RANGE_M,
            "height_m": np.select([kind == "camera", kind == "radar"], [6.0, 10.0], 20.0),
            "azimuth_deg": rng.uniform(0, 360, n_sensors),
            "fov_deg": np.where(wedge, 90.0, 360.0),
            "min_range_m": 0.0,
            "status": "active",
        },
        geometry=gpd.points_from_xy(slon, slat),
        crs=4326,
    )
    return border, sensors


def main() -> None:
    n_cells = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n_sensors = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    load = os.getloadavg()[0]
    print(
        f"CPUs available: {len(os.sched_getaffinity(0))}; load average {load:.1f} "
        "(wall times stretch when other processes share the cores)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dem.tif"
        t = time.perf_counter()
        tr = write_dem(path, n_cells, tiled=True)
        print(
            f"DEM: {n_cells:,} x {n_cells:,} cells of {CELL_M:g} m ({CRS}), written in "
            f"{time.perf_counter() - t:.1f} s"
        )
        border, sensors = scene(n_cells, n_sensors, tr)
        print(
            f"{n_sensors:,} sensors ({RANGE_M / 1000:g} km range, a third of them 90° wedges), "
            f"4 partners; border {border.to_crs(CRS).length.iloc[0] / 1000:,.0f} km"
        )

        # Compile the kernels once, outside the timings (numba caches them on disk too).
        tc.terrain_coverage(
            path, tc.sensor_terrain(sensors.iloc[:2]), partners=["A", "B", "C", "D"]
        )

        t = time.perf_counter()
        grid = tc.terrain_coverage(path, tc.sensor_terrain(sensors), partners=["A", "B", "C", "D"])
        t_grid = time.perf_counter() - t
        rows, cols = grid.shape
        print(
            f"1. terrain_coverage: {t_grid:.1f} s wall for {grid.sensors_seen:,} viewsheds on "
            f"a {rows:,} x {cols:,} grid ({t_grid / max(grid.sensors_seen, 1) * 1e3:.1f} ms per "
            f"sensor); cells seen: {np.count_nonzero(grid.count):,}; max count "
            f"{int(grid.count.max())}; peak RSS {peak_rss_mb():,.0f} MB  (target < 60 s)"
        )
        del grid

        t = time.perf_counter()
        result = analyse(border, sensors, dem=path, corridor_km=5.0)
        t_all = time.perf_counter() - t
        rep = result.report
        print(
            f"2. analyse(..., dem=...): {t_all:.1f} s wall (coverage {rep['border']['coverage_pct']:.1f} %, "
            f"{len(rep['gaps'])} gaps, corridor {rep['corridor']['area_km2']:,.0f} km², "
            f"covered {rep['corridor']['covered_km2']:,.0f} km²); peak RSS {peak_rss_mb():,.0f} MB"
        )


if __name__ == "__main__":
    main()
