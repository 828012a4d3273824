"""Benchmark: fading the hillshade out beyond the corridor (issue 13). Prints figures, asserts nothing.

Target: under 0.3 s for a 1,600 x 1,600 Web Mercator grid on the 2-core machine. The corridor
is the sample scenario's (flat analysis, 20 km each side by default); the grid is the sample
DEM's hillshade as the map draws it, and a square one of 1,600 px over the same bounds.

    .venv/bin/python bench/bench_fade.py [FADE_KM]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.coverage.analysis import analyse  # noqa: E402
from geo.inputs.scenario import load_scenario  # noqa: E402
from geo.terrain.hillshade import corridor_fade, read_hillshade, read_hillshade_faded  # noqa: E402


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    fade_km = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    sc = load_scenario(ROOT / "sample_data")
    corridor = analyse(sc.border, sc.sensors).layers["corridor"].union_all()
    shade, bounds = read_hillshade(str(sc.dem), z_factor=8.0, crs="EPSG:3857")
    corridor_fade(
        shade, bounds, corridor, fade_km=fade_km
    )  # load the compiled kernel from numba's cache
    for grid in (shade, np.zeros((1600, 1600))):
        t = best_of(5, lambda g=grid: corridor_fade(g, bounds, corridor, fade_km=fade_km))
        print(
            f"corridor_fade, {grid.shape[0]:,} x {grid.shape[1]:,} cells, fade {fade_km:g} km: {t * 1000:.0f} ms"
        )
    t_read = best_of(3, lambda: read_hillshade(str(sc.dem), z_factor=8.0, crs="EPSG:3857"))
    t_faded = best_of(
        3, lambda: read_hillshade_faded(str(sc.dem), corridor, fade_km=fade_km, z_factor=8.0)
    )
    print(f"read_hillshade {t_read:.2f} s, read_hillshade_faded {t_faded:.2f} s (sample DEM)")


if __name__ == "__main__":
    main()
