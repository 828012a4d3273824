"""Benchmark: viewsheds. Prints figures, asserts nothing.

Targets (2-core machine): one viewshed on a 1,000 x 1,000 window within 2x of
``gdal_viewshed`` on the same window; 1,000 sensors on a 10,000 x 10,000 DEM in under 60 s.

1. One observer, 1,001 x 1,001 window (30 m cells, 15 km range) of a rugged synthetic DEM in
   UTM: the compiled kernel alone; the whole GeoTIFF path in-process (windowed read, kernel,
   deflate-compressed write); ``python -m geo viewshed`` and ``gdal_viewshed`` as processes.
2. Many sensors: a smaller run (``N_SENSORS`` sensors, 10 km range, on a ``BIG`` x ``BIG``
   DEM), measured on 1 and 2 threads, from the DEM in memory and with a windowed read of a
   tiled GeoTIFF per sensor, each visibility added into a count grid; then extrapolated to
   1,000 sensors on 10,000 x 10,000. A sensor's cost depends on its window (range / cell
   size), not on the size of the DEM, so the extrapolation scales the measured per-sensor
   wall time by 1,000 / ``N_SENSORS``.

    .venv/bin/python bench/bench_viewshed.py
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyproj
import rasterio
from affine import Affine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.terrain import dem as dem_io  # noqa: E402
from geo.terrain.grid_metric import range_window  # noqa: E402
from geo.terrain.viewshed import VISIBLE, viewshed  # noqa: E402
from geo.terrain.viewshed_file import viewshed_geotiff  # noqa: E402

CELL_M = 30.0
CRS = "EPSG:32633"
ORIGIN = (600_000.0, 5_400_000.0)  # upper-left corner, UTM 33N
BIG = 6_000
N_SENSORS = 200
SENSOR_RANGE_M = 10_000.0
TO_LL = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rugged(n_rows: int, n_cols: int, *, seed: int = 1, row0: int = 0) -> np.ndarray:
    """Ridges and valleys a few km across, with roughness (m, float32)."""
    rng = np.random.default_rng(seed + row0)
    y, x = np.mgrid[row0 : row0 + n_rows, 0:n_cols].astype(np.float32)
    z = (
        90 * np.sin(x / 23.0) * np.cos(y / 31.0)
        + 70 * np.sin((x + 2 * y) / 47.0)
        + 40 * np.cos((3 * x - y) / 61.0)
        + 120 * np.sin(x / 410.0) * np.sin(y / 330.0)
        + 300
    )
    return (z + rng.normal(0.0, 2.0, z.shape).astype(np.float32)).astype(np.float32)


def write_dem(path: Path, n: int, *, tiled: bool) -> Affine:
    tr = Affine(CELL_M, 0, ORIGIN[0], 0, -CELL_M, ORIGIN[1])
    opts = {"tiled": True, "blockxsize": 256, "blockysize": 256} if tiled else {}
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs=CRS,
        transform=tr,
        **opts,
    ) as dst:
        step = 512
        for r in range(0, n, step):
            h = min(step, n - r)
            dst.write(rugged(h, n, row0=r), 1, window=rasterio.windows.Window(0, r, n, h))
    return tr


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def part1(tmp: Path) -> None:
    n = 1001
    path = tmp / "window.tif"
    tr = write_dem(path, n, tiled=True)
    row = col = 500
    x, y = tr @ (col + 0.5, row + 0.5)
    lon, lat = TO_LL.transform(x, y)
    range_m = 500 * CELL_M
    heights = rugged(n, n).astype(np.float64)
    kwargs = {
        "observer_height_m": 10.0,
        "target_height_m": 2.0,
        "max_distance_m": range_m,
        "cell_size_m": CELL_M,
    }
    viewshed(heights, row, col, **kwargs)  # load the compiled kernel from numba's cache
    t_kernel = median_time(lambda: viewshed(heights, row, col, **kwargs), 20)
    out = tmp / "ours.tif"
    viewshed_geotiff(path, lon, lat, observer_height_m=10.0, range_m=range_m, out_path=out)
    t_geotiff = median_time(
        lambda: viewshed_geotiff(
            path, lon, lat, observer_height_m=10.0, range_m=range_m, out_path=out
        ),
        10,
    )
    with rasterio.open(out) as ds:
        shape = ds.shape

    print(
        f"1. One viewshed, {shape[0]:,} x {shape[1]:,} window, 30 m cells, 15 km range (measured)"
    )
    print(f"   kernel alone (array API, float64)          {t_kernel * 1e3:8.1f} ms")
    print(f"   GeoTIFF path in-process (read+kernel+write) {t_geotiff * 1e3:8.1f} ms")

    cli = [
        sys.executable,
        "-m",
        "geo",
        "viewshed",
        "--dem",
        str(path),
        "--lon",
        repr(lon),
        "--lat",
        repr(lat),
        "--observer-height-m",
        "10",
        "--range-m",
        repr(range_m),
        "--out",
        str(tmp / "cli.tif"),
    ]
    t_cli = median_time(lambda: subprocess.run(cli, cwd=ROOT, check=True, capture_output=True), 3)
    print(
        f"   python -m geo viewshed (process)           {t_cli * 1e3:8.1f} ms "
        "(mostly interpreter start and imports)"
    )
    gdal = shutil.which("gdal_viewshed")
    if gdal is None:
        print("   gdal_viewshed not installed: no comparison")
        return
    cmd = [
        gdal,
        "-q",
        "-om",
        "NORMAL",
        "-vv",
        "1",
        "-iv",
        "0",
        "-ov",
        "255",
        "-oz",
        "10",
        "-tz",
        "2",
        "-md",
        repr(range_m),
        "-cc",
        "0.87",
        "-ox",
        repr(x),
        "-oy",
        repr(y),
        str(path),
        str(tmp / "gdal.tif"),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    t_gdal = median_time(lambda: subprocess.run(cmd, check=True, capture_output=True), 10)
    t_start = median_time(
        lambda: subprocess.run([gdal, "--version"], capture_output=True, check=False), 10
    )
    print(
        f"   gdal_viewshed (process)                    {t_gdal * 1e3:8.1f} ms "
        f"(of which ~{t_start * 1e3:.0f} ms process start)"
    )
    print(
        f"   ratio Limes in-process / gdal_viewshed: {t_geotiff / t_gdal:.2f} "
        f"(without GDAL's process start: {t_geotiff / max(t_gdal - t_start, 1e-9):.2f}); "
        "target <= 2"
    )


def run_sensors(
    n_threads: int,
    sensors: list[tuple[int, int, float, float, float]],
    task: Callable[..., None],
    shape: tuple[int, int],
) -> tuple[float, float, np.ndarray]:
    """Run every sensor on ``n_threads`` threads; return wall and CPU time, count grid."""
    local = threading.local()
    grids: list[np.ndarray] = []
    lock = threading.Lock()

    def grid() -> np.ndarray:
        if not hasattr(local, "grid"):
            local.grid = np.zeros(shape, dtype=np.uint16)
            with lock:
                grids.append(local.grid)
        return local.grid

    t, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(lambda s: task(s, grid()), sensors))
    counts = np.sum(grids, axis=0, dtype=np.uint32)
    return time.perf_counter() - t, time.process_time() - cpu, counts


def part2(tmp: Path) -> None:
    rng = np.random.default_rng(7)
    margin = int(SENSOR_RANGE_M / CELL_M) + 1  # full windows: the costly case
    t = time.perf_counter()
    path = tmp / "big.tif"
    tr = write_dem(path, BIG, tiled=True)
    t_write = time.perf_counter() - t
    # (row, col, observer height m, lon, lat): a camera, a radar mast or a tower.
    sensors: list[tuple[int, int, float, float, float]] = []
    for r, c, h in zip(
        rng.integers(margin, BIG - margin, N_SENSORS),
        rng.integers(margin, BIG - margin, N_SENSORS),
        rng.choice([6.0, 10.0, 20.0], N_SENSORS),
        strict=True,
    ):
        lon, lat = TO_LL.transform(*(tr @ (int(c) + 0.5, int(r) + 0.5)))
        sensors.append((int(r), int(c), float(h), lon, lat))
    print()
    print(
        f"2. Many sensors: {N_SENSORS} sensors, {SENSOR_RANGE_M / 1000:g} km range "
        f"(windows up to {2 * margin - 1} x {2 * margin - 1} cells), on a {BIG:,} x {BIG:,} "
        f"DEM (30 m cells); synthetic DEM written as a tiled GeoTIFF in {t_write:.1f} s"
    )

    # (a) The DEM in memory (float32), a window cut per sensor.
    with rasterio.open(path) as ds:
        heights = ds.read(1)
    print(
        f"   DEM in memory: {heights.nbytes / 1e6:,.0f} MB; peak RSS so far {peak_rss_mb():,.0f} MB"
    )
    shape = heights.shape

    crs = pyproj.CRS(CRS)

    def in_memory(sensor: tuple[int, int, float, float, float], counts: np.ndarray) -> None:
        r, c, h, _, _ = sensor
        # Ground metres, as the GeoTIFF path measures them (UTM's scale factor removed).
        metric = dem_io.ground_metric(tr, crs, row=r, col=c, n_rows=shape[0])
        rows, cols = range_window(r, c, shape=shape, max_distance_m=SENSOR_RANGE_M, metric=metric)
        vis = viewshed(
            heights[rows, cols],
            r - rows.start,
            c - cols.start,
            observer_height_m=h,
            max_distance_m=SENSOR_RANGE_M,
            cell_size_m=metric.take_rows(rows),
        )
        counts[rows, cols] += vis == VISIBLE

    in_memory(sensors[0], np.zeros(shape, dtype=np.uint16))  # kernel for this array layout

    # (b) A windowed read of the GeoTIFF per sensor (the CLI's path, without the write).
    def from_file(sensor: tuple[int, int, float, float, float], counts: np.ndarray) -> None:
        _, _, h, lon, lat = sensor
        win = dem_io.read_window(path, lon, lat, radius_m=SENSOR_RANGE_M)
        vis = viewshed(
            win.heights,
            win.row,
            win.col,
            observer_height_m=h,
            max_distance_m=SENSOR_RANGE_M,
            cell_size_m=win.metric,
            earth_radius_m=win.earth_radius_m,
        )
        r0, c0 = int(win.window.row_off), int(win.window.col_off)
        counts[r0 : r0 + vis.shape[0], c0 : c0 + vis.shape[1]] += vis == VISIBLE

    results = {}
    for name, task in (("DEM in memory", in_memory), ("windowed reads", from_file)):
        for n_threads in (1, 2):
            wall, cpu, counts = run_sensors(n_threads, sensors, task, shape)
            results[name, n_threads] = (wall, cpu, counts)
            print(
                f"   {name:<15} {n_threads} thread(s): {wall:6.2f} s wall, {cpu:6.2f} s CPU "
                f"for {N_SENSORS} sensors = {wall / N_SENSORS * 1e3:5.1f} ms wall, "
                f"{cpu / N_SENSORS * 1e3:5.1f} ms CPU per sensor (measured); peak RSS "
                f"{peak_rss_mb():,.0f} MB"
            )
    same = np.array_equal(results["DEM in memory", 2][2], results["windowed reads", 2][2])
    seen = np.count_nonzero(results["DEM in memory", 2][2])
    print(
        f"   count grids of both paths identical: {same}; cells seen by at least one "
        f"sensor: {seen:,}"
    )

    print(
        "   Extrapolated to 1,000 sensors on a 10,000 x 10,000 DEM (2 threads), from the "
        "measured wall time, and from CPU time / 2 (two free cores):"
    )
    for name in ("DEM in memory", "windowed reads"):
        wall, cpu, _ = results[name, 2]
        print(
            f"     {name:<15} {wall / N_SENSORS * 1000:6.1f} s wall, "
            f"{cpu / N_SENSORS * 1000 / 2:6.1f} s CPU/2 (target < 60 s)"
        )
    print(
        "     memory: DEM in memory 400 MB (float32) + a uint16 count grid of 200 MB per "
        "thread; windowed reads hold only a window per thread (~3.6 MB float64 here) + "
        "the count grids"
    )
    print(f"   peak RSS of this run (getrusage): {peak_rss_mb():,.0f} MB")


def main() -> None:
    import os

    load = os.getloadavg()
    print(
        f"CPUs available: {len(os.sched_getaffinity(0))}; load average {load[0]:.1f} "
        "(wall times stretch when other processes share the cores)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        part1(Path(tmp))
        part2(Path(tmp))


if __name__ == "__main__":
    main()
