"""Benchmark: the Export page's detections file of a window past the point limit.

Prints figures; never asserts on time. ``--rows`` detections (default 1,000,000; the store of
``bench_map_store.py``: random times over 30 days, positions over the sample's border
region, three partners with their markings) are ingested into a new GeoPackage store. Then,
each in a child process of its own (its peak RSS its own, ``resource.getrusage``), the CSV
(zip) of the whole month for LVA, the detections layer only:

- ``pages``: as the Export page writes it past the limit: the window's analysis
  (:func:`geo.mapview.map_window`, at most 50,000 points held) and every detection written
  a page at a time (:func:`geo.mapview.window_detections`, ``export_bytes(detections=...)``);
- ``memory``: the old path: every row LVA may see read (:func:`geo.store.visible_detections`),
  analysed with the scenario's own (:func:`geo.coverage.analyse`) and exported in one piece.

Run: ``.venv/bin/python bench/bench_export_file.py [--rows N] [--chunk N]``.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_map_store import MONTH, _ingest  # noqa: E402

VIEWERS = ("LVA",)


def _rows_in(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as z, z.open("detections.csv") as f:
        return sum(1 for _ in f) - 1


def _child(mode: str, path: str) -> dict[str, object]:
    """One file written (in its own process): seconds, rows and peak RSS."""
    import geopandas as gpd

    from geo import store
    from geo.coverage import analyse
    from geo.coverage.views import visible_rows
    from geo.inputs.scenario import load_scenario
    from geo.mapview import map_base, map_window, window_detections
    from layers.map import MAP_HEXAGON_M
    from layers.snapshot import export_bytes

    sc = load_scenario(ROOT / "sample_data")
    tf, tt = (pd.Timestamp(t) for t in MONTH)
    start = time.perf_counter()
    if mode == "pages":
        base = map_base(sc.border, sc.sensors, path, operation="sample", sectors=sc.sectors,
                        detections=sc.detections)  # fmt: skip
        win = map_window(base, time_from=tf, time_to=tt, viewers=VIEWERS, hex_size_m=MAP_HEXAGON_M)

        def pages():
            return window_detections(base, time_from=tf, time_to=tt, viewers=VIEWERS)

        data = export_bytes(win.result, fmt="csv", shown=["detections"], detections=pages)
        held = win.shown
    else:
        own = sc.detections.assign(owner=sc.detections["partner"], upload_id=-1)
        rows = store.visible_detections(path, store.owners(path), operation="sample")
        every = gpd.GeoDataFrame(pd.concat([own, rows], ignore_index=True), crs="EPSG:4326")
        full = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=every)
        cut = full.windowed(tf, tt, visible=visible_rows(full.all_detections, VIEWERS))
        data = export_bytes(cut, fmt="csv", shown=["detections"])
        held = len(full.all_detections)
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "rows_in_file": _rows_in(data),
        "rows_held": held,
        "zip_mb": round(len(data) / 2**20, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    """Ingest, then write the file both ways, each in a process of its own."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--chunk", type=int, default=250_000)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.gpkg")
        spent = _ingest(path, args.rows, args.chunk)
        print(f"ingest: {args.rows:,} rows in {spent:.1f} s")
        for mode in ("pages", "memory"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", mode, path],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            lines = done.stdout.strip().splitlines()
            tail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            print(f"{mode}: {lines[-1] if lines and not done.returncode else 'failed: ' + tail}")


if __name__ == "__main__":
    main()
