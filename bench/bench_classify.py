"""Benchmark: classifying detections, the corridor union and the whole ``analyse``.

The case of issue 19: 10,000 sensors along a 3,000 km border (40 % wedges, 10 % annuli),
1,000,000 detections around it. Prints figures, asserts nothing. Targets (2 cores): the
whole ``python -m geo analyse`` under 4 s, classification at 5,000,000 points/s or more.

    .venv/bin/python bench/bench_classify.py [--no-cli]

It runs on the code it is started from (``PYTHONPATH`` first): started from an older checkout
it measures the code before a change, the same way.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_coverage import GEOD, sensors_along, wiggly_border

N_SENSORS = 10_000
N_DETECTIONS = 1_000_000


def detections_around(line: shapely.LineString, n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """``n`` detections scattered around the border (exponential distance, mean 4 km)."""
    rng = np.random.default_rng(seed)
    pts = shapely.line_interpolate_point(line, rng.uniform(0, 1, n), normalized=True)
    lon, lat = GEOD.fwd(
        shapely.get_x(pts), shapely.get_y(pts), rng.uniform(0, 360, n), rng.exponential(4_000, n)
    )[:2]
    return gpd.GeoDataFrame(
        {
            "detection_id": [f"D{i:07d}" for i in range(n)],
            "time": pd.Timestamp("2026-11-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 7 * 86_400, n), unit="s"),
        },
        geometry=gpd.points_from_xy(np.round(lon, 6), np.round(lat, 6)),
        crs=4326,
    )


def sectors_along(line: shapely.LineString, n: int = 10) -> gpd.GeoDataFrame:
    """``n`` sectors cutting the border into equal stretches, 15 km deep on both sides."""
    cuts = np.linspace(0, 1, n + 1)
    lines = [
        shapely.ops.substring(line, a, b, normalized=True) for a, b in itertools.pairwise(cuts)
    ]
    polys = [shapely.buffer(ln, 0.2, cap_style="flat") for ln in lines]
    return gpd.GeoDataFrame(
        {"sector_id": [f"S{i}" for i in range(n)], "partner": ["A", "B", "C", "D", "A"] * (n // 5)},
        geometry=polys,
        crs=4326,
    )


def timed(label: str, fn: Callable[[], Any], *, repeat: int = 1) -> tuple[Any, float]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<66} {best:8.3f} s")
    return out, best


def write_inputs(
    folder: Path, border: gpd.GeoDataFrame, sensors: gpd.GeoDataFrame, det: gpd.GeoDataFrame
) -> None:
    border.to_file(folder / "border.geojson")
    s = pd.DataFrame(sensors.drop(columns="geometry"))
    s["lon"], s["lat"] = sensors.geometry.x, sensors.geometry.y
    s.to_csv(folder / "sensors.csv", index=False)
    d = pd.DataFrame({"detection_id": det["detection_id"]})
    d["time"] = det["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    d["lat"], d["lon"] = det.geometry.y, det.geometry.x
    d.to_csv(folder / "detections.csv", index=False)


def cli_seconds(folder: Path, repeat: int = 2) -> float:
    """Wall time of ``python -m geo analyse`` on the files (best of ``repeat``)."""
    import geo

    root = Path(geo.__file__).resolve().parent.parent  # the checkout being measured
    cmd = [
        sys.executable, "-m", "geo", "analyse",
        "--border", str(folder / "border.geojson"),
        "--sensors", str(folder / "sensors.csv"),
        "--detections", str(folder / "detections.csv"),
        "--out", str(folder / "report.json"),
    ]  # fmt: skip
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=root, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-cli", action="store_true", help="skip the python -m geo analyse runs")
    args = ap.parse_args()

    from geo.coverage.analysis import analyse
    from geo.coverage.detections import classify_detections
    from geo.coverage.flat import FlatEngine, flat_corridor
    from geo.coverage.footprints import footprint_polygons
    from geo.coverage.scene import prepare_scene

    line = wiggly_border()
    border = gpd.GeoDataFrame({"name": ["bench"]}, geometry=[line], crs=4326)
    sensors = sensors_along(line, N_SENSORS)
    det = detections_around(line, N_DETECTIONS)
    print(
        f"{N_SENSORS:,} sensors, {N_DETECTIONS:,} detections, border {GEOD.geometry_length(line) / 1e3:,.0f} km"
    )

    _, t_first = timed(
        "analyse(), first call in the process", lambda: analyse(border, sensors, detections=det)
    )
    result, t_analyse = timed(
        "analyse(), best of 2", lambda: analyse(border, sensors, detections=det), repeat=2
    )
    rep = result.report
    print(
        f"  corridor covered {rep['corridor']['covered_km2']:,.3f} km2, detections {rep['detections']}"
    )

    scene = prepare_scene(
        border, sensors, sectors=None, detections=det, corridor_km=5.0, min_gap_m=0.0,
        time_from=None, time_to=None,
    )  # fmt: skip
    from geo.coverage.flat import sensor_footprints

    polygons = footprint_polygons(sensor_footprints(scene.sensors, scene.acrs))
    _, t_union = timed(
        "corridor coverage: union, overlap, areas (flat_corridor)",
        lambda: flat_corridor(scene, polygons),
        repeat=2,
    )
    coverage = FlatEngine().cover(scene)
    _, t_cls_first = timed(
        "classify 1M detections, first (builds the index)",
        lambda: classify_detections(scene, coverage.corridor),
    )
    _, t_cls = timed(
        "classify 1M detections, again",
        lambda: classify_detections(scene, coverage.corridor),
        repeat=3,
    )

    sectors = sectors_along(line)
    scene_s = prepare_scene(
        border, sensors, sectors=sectors, detections=det, corridor_km=5.0, min_gap_m=0.0,
        time_from=None, time_to=None,
    )  # fmt: skip
    _, t_cls_s = timed(
        "classify 1M detections with 10 sectors",
        lambda: classify_detections(scene_s, coverage.corridor),
        repeat=3,
    )

    t_cli = np.nan
    if not args.no_cli:
        with tempfile.TemporaryDirectory() as tmp:
            write_inputs(Path(tmp), border, sensors, det)
            t_cli = cli_seconds(Path(tmp))
        print(f"{'python -m geo analyse (wall, best of 2)':<66} {t_cli:8.3f} s")
    print()
    print(
        f"SUMMARY cli_analyse_s={t_cli:.3f} (target < 4) analyse_s={t_analyse:.3f} "
        f"analyse_first_s={t_first:.3f} union_s={t_union:.3f} "
        f"classify_points_per_s={N_DETECTIONS / t_cls:,.0f} (target >= 5,000,000) "
        f"with_index_build={N_DETECTIONS / t_cls_first:,.0f} "
        f"with_10_sectors={N_DETECTIONS / t_cls_s:,.0f}"
    )


if __name__ == "__main__":
    main()
