"""Benchmark: classifying 100,000,000 detections from GeoParquet on a local Dask cluster.

The case of issue 19: 10,000 sensors along a 2,400 km border (bench_coverage's), 10 sectors,
detections scattered around the border (exponential distance, mean 4 km). The detections
are generated partition by partition in the workers and written as a GeoParquet dataset
(timed apart), then classified out of core (:func:`geo.coverage.dataset.analyse_dataset`).
Prints figures, asserts nothing; the data is deleted at the end. Target: 5,000,000 points/s
on 2 cores.

    PYTHONPATH=. .venv/bin/python bench/bench_dask_classify.py [--points 100000000]
        [--partition-rows 2000000] [--dir /tmp] [--scheduler tcp://host:port]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_classify import sectors_along
from bench_coverage import sensors_along, wiggly_border

N_SENSORS = 10_000
#: Bytes a point takes on disk (lon, lat, time; random floats hardly compress), with margin.
BYTES_PER_POINT = 32


def generate_partition(k: int, spec: dict[str, Any]) -> int:
    """Write partition ``k``: ``spec["rows"]`` points around the border (run on a worker).

    The file is what :func:`geo.dataset.write_partition` writes (GeoParquet 1.1, GeoArrow
    point encoding, EPSG:4326, a UTC ``time`` column), built with pyarrow from the arrays
    without a shapely point per row.
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyproj

    rng = np.random.default_rng(1_000 + k)
    n = int(spec["rows"])
    xy = shapely.get_coordinates(spec["line"])  # points along it: np.interp, not GEOS per point
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    at = rng.uniform(0, along[-1], n)
    lon0, lat0 = np.interp(at, along, xy[:, 0]), np.interp(at, along, xy[:, 1])
    d = rng.exponential(4_000.0, n)
    az = rng.uniform(0, 2 * np.pi, n)
    lat = lat0 + d * np.cos(az) / 110_574.0
    lon = lon0 + d * np.sin(az) / (111_320.0 * np.cos(np.radians(lat0)))
    t0_us = 1_793_491_200_000_000  # 2026-11-01T00:00Z
    t = pa.array(t0_us + rng.integers(0, 7 * 86_400_000_000, n), pa.timestamp("us", "UTC"))
    xy = pa.StructArray.from_arrays([pa.array(lon), pa.array(lat)], names=["x", "y"])
    meta = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "point",
                "geometry_types": ["Point"],
                "crs": pyproj.CRS("EPSG:4326").to_json_dict(),
                "bbox": [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())],
            }
        },
    }
    table = pa.table({"time": t, "geometry": xy}).replace_schema_metadata({"geo": json.dumps(meta)})
    pq.write_table(table, Path(spec["dir"]) / f"part-{k:05d}.parquet")
    return n


class PeakMemory:
    """Peak resident memory of this process and all its children (the workers), sampled."""

    def __init__(self, every_s: float = 0.2) -> None:
        import psutil

        self._me = psutil.Process()
        self.peak_total = 0
        self.peak_one = 0
        self._stop = threading.Event()
        self._every = every_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total, one = 0, 0
            for p in [self._me, *self._me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                one = max(one, rss)
            self.peak_total, self.peak_one = max(self.peak_total, total), max(self.peak_one, one)
            self._stop.wait(self._every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process's children (the workers)."""
    import psutil

    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000_000)
    ap.add_argument("--partition-rows", type=int, default=2_000_000)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--scheduler", help="an existing cluster (default: a local one)")
    args = ap.parse_args()

    from geo.coverage.dataset import count_partition, prepare_dataset_analysis, warm_up
    from geo.dataset import dask_client, dataset_files, map_partitions, warm_workers

    need = args.points * BYTES_PER_POINT
    free = shutil.disk_usage(args.dir).free
    print(f"disk: {need / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free in {args.dir}")
    if need > 0.8 * free:
        sys.exit(f"not enough room in {args.dir}: give --dir elsewhere or fewer --points")
    line = wiggly_border()
    border = gpd.GeoDataFrame({"name": ["bench"]}, geometry=[line], crs=4326)
    sensors = sensors_along(line, N_SENSORS)
    sectors = sectors_along(line)
    data = Path(tempfile.mkdtemp(prefix="limes-bench-dask-", dir=args.dir))
    sizes = [args.partition_rows] * (args.points // args.partition_rows)
    if args.points % args.partition_rows:
        sizes.append(args.points % args.partition_rows)
    try:
        with dask_client(args.scheduler) as client:
            workers = client.nthreads()
            print(f"{len(workers)} workers, {sum(workers.values())} threads; "
                  f"{args.points:,} points in {len(sizes)} partitions")  # fmt: skip
            t0 = time.perf_counter()
            futures = [
                client.submit(generate_partition, k, {"rows": n, "line": line, "dir": str(data)})
                for k, n in enumerate(sizes)
            ]
            written = sum(client.gather(futures))
            t_gen = time.perf_counter() - t0
            size = sum(f.stat().st_size for f in data.iterdir())
            print(f"generate + write {written:,} points: {t_gen:8.1f} s "
                  f"({written / t_gen:,.0f} points/s), {size / 1e9:.2f} GB")  # fmt: skip

            t0 = time.perf_counter()
            warm_workers(client, warm_up)  # as analyse_dataset: while the client prepares
            _, clf = prepare_dataset_analysis(border, sensors, sectors=sectors)
            t_cover = time.perf_counter() - t0
            print(f"coverage of {N_SENSORS:,} sensors + classifier built: {t_cover:8.1f} s")
            files = dataset_files(data)
            cpu0 = _cpu_s()
            with PeakMemory() as mem:
                t0 = time.perf_counter()
                parts = map_partitions(client, count_partition, files, clf)
                t_cls = time.perf_counter() - t0
            cpu = _cpu_s() - cpu0
            total = sum(int(p.status.sum()) for p in parts)
            status = sum(p.status for p in parts)
            print(f"classify {total:,} points from GeoParquet:  {t_cls:8.1f} s")
            print(f"  coverage / gap / outside: {status.tolist()}")
            print(f"  CPU time of the workers: {cpu:.1f} s, {total / cpu:,.0f} points per CPU "
                  f"second (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip
            print(f"  peak memory: {mem.peak_total / 1e9:.2f} GB all processes, "
                  f"{mem.peak_one / 1e9:.2f} GB the largest")  # fmt: skip
            print()
            print(
                f"SUMMARY points={total} partitions={len(files)} generate_s={t_gen:.1f} "
                f"coverage_s={t_cover:.1f} classify_s={t_cls:.1f} "
                f"classify_points_per_s={total / t_cls:,.0f} (target >= 5,000,000) "
                f"peak_rss_gb={mem.peak_total / 1e9:.2f} "
                f"points_per_cpu_s={total / cpu:,.0f}"
            )
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
