"""Benchmark: the siting planner at full size. Prints figures, asserts nothing.

Targets (issue 17, 2-core machine):

1. geometric: 10,000 candidates along a 3,000 km border, N = 20: the whole plan (the analysis
   before, the candidates' border, the reduction, lazy greedy, the MILP under its time limit,
   the analysis after) in under 5 s;
2. terrain: 2,000 candidate viewsheds on the sample DEM and the choice in under 60 s.

The 3,000 km border is synthetic: a winding line across Russia at 55° N (on land, so the
candidate grid is not emptied by the sea), 300 existing sensors along it. Its 10,000
candidates are the candidate grid of the corridor itself (:func:`geo.siting.candidate_grid`,
spacing chosen to give about 10,000); the time of making the grid is printed apart. The
terrain case plans on the sample scenario (428 km, ``sample_data/dem.tif``) with a candidate
grid of about 2,000 points. The geometric case runs three times: with the 300 existing sensors, and
with none (every gap open: the choice is harder), at 8 km range and at 20 km (each candidate
overlaps many others: the MILP cannot finish in the time limit, the bound comes from greedy
and the Lagrangian).

    .venv/bin/python bench/bench_siting.py [TIME_LIMIT_S]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.core.settings import SAMPLE_DIR  # noqa: E402
from geo.inputs import read_border, read_sensors  # noqa: E402
from geo.siting import SiteParams, candidate_grid, new_sensors, plan_sites  # noqa: E402


def long_border() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A winding ~3,000 km border across Russia and 300 existing sensors along it."""
    lon = np.linspace(42.0, 84.0, 4000)
    lat = 55.0 + 0.3 * np.sin(lon * 1.3) + 0.03 * np.sin(lon * 5.1)
    line = shapely.LineString(np.column_stack([lon, lat]))
    border = gpd.GeoDataFrame({"name": ["long"]}, geometry=[line], crs="EPSG:4326")
    rng = np.random.default_rng(3)
    at = shapely.line_interpolate_point(line, rng.random(300), normalized=True)
    sensors = new_sensors(
        shapely.get_x(at) + rng.normal(0, 0.02, 300),
        shapely.get_y(at) + rng.normal(0, 0.01, 300),
        SiteParams(count=1, range_m=6000.0),
    )
    sensors["partner"] = "A"
    return border, sensors


def geometric(time_limit_s: float, *, existing: bool = True, range_m: float = 8000.0) -> None:
    border, sensors = long_border()
    if not existing:
        sensors = sensors.iloc[:0]
    params = SiteParams(count=20, range_m=range_m, spacing_m=1720.0, time_limit_s=time_limit_s)
    t0 = time.perf_counter()
    cands = candidate_grid(border, sensors, params)
    t_grid = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    plan = plan_sites(border, sensors, params, candidates=cands)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = plan.method
    print(f"geometric{'' if existing else ', no existing sensor'}, range {range_m / 1000:g} km: border {plan.before['length_km']:.0f} km, {len(cands):,} candidates "
          f"(grid made in {t_grid:.2f} s), N = {params.count}")  # fmt: skip
    print(
        f"  plan_sites total {total:.2f} s wall, {cpu:.2f} s CPU (target < 5 s); steps {m['time_s']}"
    )
    print(f"  reduction {m['reduction']}")
    print(f"  greedy {m['greedy']}")
    print(f"  lagrangian {m.get('lagrangian')}")
    print(f"  milp {m['milp']}")
    print(f"  covered km before {plan.before['covered_km']:.1f}, after {plan.after['covered_km']:.1f},"
          f" upper bound {plan.upper_bound_km:.1f}"
          f" (plan within {100 * (plan.upper_bound_km - plan.after['covered_km']) / (plan.upper_bound_km - plan.before['covered_km']):.2f} % of the bound's gain)")  # fmt: skip


def terrain(time_limit_s: float) -> None:
    border, _ = read_border(SAMPLE_DIR / "border.geojson")
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    dem = SAMPLE_DIR / "dem.tif"
    params = SiteParams(count=10, range_m=8000.0, spacing_m=1480.0, time_limit_s=time_limit_s)
    t0 = time.perf_counter()
    cands = candidate_grid(border, sensors, params, dem_path=dem)
    t_grid = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    plan = plan_sites(border, sensors, params, candidates=cands, dem_path=dem)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = plan.method
    print(f"terrain: sample border {plan.before['length_km']:.0f} km, {len(cands):,} candidate "
          f"viewsheds (grid made in {t_grid:.2f} s), N = {params.count}, range 8 km")  # fmt: skip
    print(
        f"  plan_sites total {total:.2f} s wall, {cpu:.2f} s CPU (target < 60 s); steps {m['time_s']}"
    )
    print(f"  reduction {m['reduction']}; milp {m['milp']}")
    print(f"  covered km before {plan.before['covered_km']:.1f}, after {plan.after['covered_km']:.1f},"
          f" upper bound {plan.upper_bound_km:.1f}")  # fmt: skip


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    limit = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    geometric(limit)
    geometric(limit, existing=False)
    geometric(limit, existing=False, range_m=20_000.0)
    terrain(limit)
