"""Benchmark: which fine cells the map's classifier sees as one class (issue 19).

Prints figures, asserts nothing. For the sample scenario (flat engine, its sectors) every
0.01° cell of the region :mod:`bench_map_store` fills (lon 21-28, lat 53.9-56.4), padded
with random cells beyond to 200,000; and for the case of :mod:`bench_classify` (10,000
sensors along a 3,000 km border, sectors) 200,000 cells around its border. Per case:
:meth:`geo.coverage.streamed.PointClassifier.cell_classes` the first time (edge trees
built), on a fresh classifier of the same coverage with the trees built (the geometry
alone), and again (every cell cached); cells/s, the share uniform and the cache's bytes.

    PYTHONPATH=. .venv/bin/python bench/bench_cell_classes.py
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from geo.core.cells import fine_cells_of  # noqa: E402
from geo.core.settings import SAMPLE_DIR  # noqa: E402
from geo.coverage.cell_classes import CellClassCache  # noqa: E402
from geo.coverage.streamed import PointClassifier, point_classifier  # noqa: E402
from geo.inputs import read_border, read_sectors, read_sensors  # noqa: E402

N_CELLS = 200_000


def region_cells(west: float, south: float, east: float, north: float, n: int) -> np.ndarray:
    """Every 0.01° cell of the box, then random cells within 1° of it up to ``n``."""
    lon, lat = np.meshgrid(np.arange(west, east, 0.01) + 0.005, np.arange(south, north, 0.01))
    cells = np.unique(fine_cells_of(lon.ravel(), lat.ravel() + 0.005))
    rng = np.random.default_rng(3)
    while len(cells) < n:
        more = fine_cells_of(
            rng.uniform(west - 1, east + 1, n), rng.uniform(south - 1, north + 1, n)
        )
        cells = np.unique(np.concatenate([cells, more]))
    return rng.permutation(cells)[:n]


def rss_mb() -> float:
    """This process's resident memory (MB, Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1e6


def measure(label: str, clf: PointClassifier, cells: np.ndarray) -> None:
    clf.classify(np.zeros(20_000), np.zeros(20_000))  # the point indexes built, not timed
    before = rss_mb()
    trees = replace(clf, cells=CellClassCache())
    outlines = trees.cells.outlines(trees._outlines)
    n_edges = outlines.everywhere.n_edges + (
        outlines.in_corridor.edges.n_edges if outlines.in_corridor else 0
    )
    print(f"{label}: {n_edges:,} edges, trees {rss_mb() - before:.0f} MB (RSS)")
    del trees, outlines
    t0, c0 = time.perf_counter(), time.process_time()
    got = clf.cell_classes(cells)
    first, cpu = time.perf_counter() - t0, time.process_time() - c0
    fresh = replace(clf, cells=CellClassCache())
    fresh.cells.outlines(fresh._outlines)  # trees built: the geometry alone is timed
    t0 = time.perf_counter()
    fresh.cell_classes(cells)
    geometry = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf.cell_classes(cells)
    cached = time.perf_counter() - t0
    print(
        f"{label}: {len(cells):,} cells, {got.uniform.mean():.1%} uniform; first call "
        f"{first:.2f} s (CPU {cpu:.2f} s, trees built), trees ready: {geometry:.2f} s "
        f"({len(cells) / geometry:,.0f} cells/s), cached {cached:.3f} s; "
        f"cache {clf.cells.nbytes / 1e6:.1f} MB",
        flush=True,
    )


def main() -> None:
    border = read_border(SAMPLE_DIR / "border.geojson")[0]
    sensors = read_sensors(SAMPLE_DIR / "sensors.csv")[0]
    sectors = read_sectors(SAMPLE_DIR / "sectors.geojson")[0]
    clf = point_classifier(border, sensors, sectors=sectors)
    measure("sample", clf, region_cells(21.0, 53.9, 28.0, 56.4, N_CELLS))

    import geopandas as gpd
    from bench_classify import N_SENSORS, sectors_along
    from bench_coverage import sensors_along, wiggly_border

    line = wiggly_border()
    big = point_classifier(
        gpd.GeoDataFrame({"name": ["b"]}, geometry=[line], crs=4326),
        sensors_along(line, N_SENSORS),
        sectors=sectors_along(line),
    )
    x0, y0, x1, y1 = line.bounds
    rng = np.random.default_rng(5)
    xy = np.array(
        [line.interpolate(t, normalized=True).coords[0] for t in np.linspace(0, 1, 20_000)]
    )
    at = xy[rng.integers(0, len(xy), 2 * N_CELLS)]
    cells = np.unique(fine_cells_of(*(at + rng.normal(0, 0.15, at.shape)).T))
    cells = rng.permutation(cells)[:N_CELLS]
    print(f"10,000 sensors: border {x0:.1f}..{x1:.1f} E, {y0:.1f}..{y1:.1f} N")
    measure("10,000 sensors", big, cells)


if __name__ == "__main__":
    main()
