"""Benchmark: geometric coverage and detection classification. Prints figures, asserts nothing.

Targets (2-core machine): coverage for 10,000 sensors along a 3,000 km border in under 2 s;
1,000,000 detections classified (sector, coverage, gap) at 1,000,000 points/s or more.

    .venv/bin/python bench/bench_coverage.py
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.core.projection import to_projected
from geo.coverage import intervals as iv
from geo.coverage.analysis import analyse
from geo.coverage.border import prepare_border
from geo.coverage.detections import classify_points
from geo.coverage.flat import border_intervals, sensor_footprints
from geo.coverage.footprints import footprint_polygons

GEOD = Geod(ellps="WGS84")
rng = np.random.default_rng(42)


def wiggly_border(length_m: float = 2_400_000.0, n: int = 6_000) -> shapely.LineString:
    """An east-west border at about 50°N that meanders like a real one."""
    d = np.linspace(0, length_m, n)
    lon0, lat0 = GEOD.fwd(np.full(n, -5.0), np.full(n, 50.0), np.full(n, 90.0), d)[:2]
    wiggle = 20_000 * np.sin(d / 40_000) + 8_000 * np.sin(d / 7_000)
    lon, lat = GEOD.fwd(lon0, lat0, np.zeros(n), wiggle)[:2]
    return shapely.LineString(np.column_stack([lon, lat]))


def sensors_along(line: shapely.LineString, n: int) -> gpd.GeoDataFrame:
    pts = shapely.line_interpolate_point(line, rng.uniform(0, 1, n), normalized=True)
    lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    lon, lat = GEOD.fwd(lon, lat, rng.uniform(0, 360, n), rng.uniform(0, 4_000, n))[:2]
    wedge = rng.random(n) < 0.4
    return gpd.GeoDataFrame(
        {
            "sensor_id": [f"s{i}" for i in range(n)],
            "partner": rng.choice(["A", "B", "C", "D"], n),
            "kind": "camera",
            "range_m": rng.uniform(300, 4_000, n),
            "min_range_m": np.where(rng.random(n) < 0.1, 200.0, 0.0),
            "azimuth_deg": rng.uniform(0, 360, n),
            "fov_deg": np.where(wedge, rng.uniform(30, 180, n), 360.0),
            "status": np.where(rng.random(n) < 0.05, "inactive", "active"),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


def timed(label: str, fn, *args, repeat: int = 3, **kwargs):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<58} {best:8.3f} s")
    return out, best


def main() -> None:
    line = wiggly_border()
    border = gpd.GeoDataFrame({"name": ["bench"]}, geometry=[line], crs=4326)
    sensors = sensors_along(line, 10_000)
    print(
        f"border {GEOD.geometry_length(line) / 1000:,.0f} km, {len(line.coords):,} vertices; "
        f"{len(sensors):,} sensors"
    )

    def along_border():
        b = prepare_border(border)
        fp = sensor_footprints(sensors, b.acrs)
        active = np.flatnonzero(sensors["status"].to_numpy() == "active")
        owner, ivs = border_intervals(b, fp.take(active))
        covered = iv.union(ivs)
        partner = sensors["partner"].to_numpy()[active][owner]
        per_partner = [iv.union((ivs[0][partner == p], ivs[1][partner == p])) for p in "ABCD"]
        overlap = iv.at_least(
            np.concatenate([p[0] for p in per_partner]),
            np.concatenate([p[1] for p in per_partner]),
            2,
        )
        gaps = iv.subtract(b.spans, covered)
        return b, iv.length(covered), iv.length(overlap), gaps

    (b, cov, ovl, gaps), t_border = timed(
        "coverage along the border (10k sensors, 3,000 km)", along_border
    )
    print(
        f"  covered {cov / 1000:,.1f} km of {b.length_m.sum() / 1000:,.1f} km, overlap {ovl / 1000:,.1f} km, "
        f"{gaps[0].size:,} gaps"
    )
    fp = sensor_footprints(sensors, b.acrs)
    polys, _ = timed("footprint polygons (10k)", footprint_polygons, fp)
    _, t_full = timed(
        "full analyse() incl. corridor areas and map layers", analyse, border, sensors, repeat=1
    )

    # Detection classification: 1,000,000 points around the border, 10 sectors.
    n = 1_000_000
    pts = shapely.line_interpolate_point(line, rng.uniform(0, 1, n), normalized=True)
    lon, lat = GEOD.fwd(
        shapely.get_x(pts), shapely.get_y(pts), rng.uniform(0, 360, n), rng.exponential(4_000, n)
    )[:2]
    det = gpd.GeoDataFrame(
        {"time": np.full(n, pd.Timestamp("2026-11-01", tz="UTC"))},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    cuts = np.linspace(0, 1, 11)
    sector_lines = [
        shapely.ops.substring(line, a, b2, normalized=True) for a, b2 in itertools.pairwise(cuts)
    ]
    sec_proj = shapely.buffer(
        to_projected(np.asarray(sector_lines, dtype=object), b.acrs), 15_000.0, cap_style="flat"
    )
    corridor = shapely.union_all(
        shapely.buffer(to_projected(np.asarray([line], dtype=object), b.acrs), 5_000.0)
    )
    coverage = shapely.union_all(polys[sensors["status"].to_numpy() == "active"])
    (status, in_sector), t_cls = timed(
        "classify 1,000,000 detections (corridor, coverage, 10 sectors)",
        classify_points,
        det,
        b.acrs,
        corridor=corridor,
        coverage=coverage,
        sectors=sec_proj,
    )
    print(
        f"  {n / t_cls:,.0f} points/s; in coverage {np.mean(status == 'coverage'):.1%}, in gaps "
        f"{np.mean(status == 'gap'):.1%}, outside {np.mean(status == 'outside'):.1%}, "
        f"in a sector {in_sector.any(axis=1).mean():.1%}"
    )
    print()
    print(
        f"SUMMARY coverage_10k_sensors_s={t_border:.3f} (target < 2) "
        f"full_analyse_s={t_full:.3f} classify_points_per_s={n / t_cls:,.0f} (target >= 1,000,000)"
    )


if __name__ == "__main__":
    main()
