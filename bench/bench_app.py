"""Benchmark: app rerun time with a warm cache, and map payload sizes. Prints figures only.

Targets: a rerun with a warm cache under 300 ms; the map payload under 10 MB for the sample
scenario and for 1,000,000 detections.

    .venv/bin/python bench/bench_app.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.coverage.analysis import analyse  # noqa: E402
from geo.inputs.scenario import load_scenario  # noqa: E402
from layers.map import build_map  # noqa: E402


def rerun_times() -> list[float]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    t0 = time.perf_counter()
    at.run()
    print(f"first run (cold cache)                         {time.perf_counter() - t0:8.3f} s")
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    for key in ("LTU", "EU"):
        at.selectbox(key="partner").set_value(key).run()  # warm the partner's deck
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    assert not at.exception, at.exception
    return times


def main() -> None:
    times = rerun_times()
    print(
        f"rerun with warm cache: median {np.median(times) * 1000:6.0f} ms, max {max(times) * 1000:6.0f} ms "
        f"over {len(times)} reruns (target < 300 ms)"
    )

    sc = load_scenario(ROOT / "sample_data")
    result = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)
    size = len(build_map(result).to_json().encode())
    print(
        f"map payload, sample scenario ({len(sc.detections):,} detections): {size / 1e6:6.2f} MB (target < 10 MB)"
    )

    # 1,000,000 detections around the sample border.
    rng = np.random.default_rng(7)
    n = 1_000_000
    geod = Geod(ellps="WGS84")
    line = sc.border.geometry.iloc[0]
    pts = shapely.line_interpolate_point(line, rng.uniform(0, 1, n), normalized=True)
    lon, lat = geod.fwd(
        shapely.get_x(pts), shapely.get_y(pts), rng.uniform(0, 360, n), rng.exponential(3_000, n)
    )[:2]
    det = gpd.GeoDataFrame(
        {
            "time": pd.Timestamp("2026-11-01", tz="UTC")
            + pd.to_timedelta(rng.uniform(0, 7 * 86400, n), unit="s")
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    t0 = time.perf_counter()
    big = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=det)
    t_an = time.perf_counter() - t0
    t0 = time.perf_counter()
    payload = build_map(big).to_json().encode()
    t_map = time.perf_counter() - t0
    print(
        f"1,000,000 detections: analysis {t_an:.2f} s, map build {t_map:.2f} s, payload {len(payload) / 1e6:6.2f} MB "
        f"(target < 10 MB)"
    )


if __name__ == "__main__":
    main()
