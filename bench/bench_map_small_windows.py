"""Benchmark: the Map page's two paths for a window, rows read against the bins, by its rows.

Prints figures; never asserts on time. For each window of a GeoPackage store (``--store``:
the first ``--hours`` hours of its detections, and the whole store), ``map_window`` for LVA
on the operation ``sample`` (the bundled sample's coverage), both paths forced with
:data:`geo.core.settings.MAP_BINS_FROM_ROWS` (10^12: every row read; 0: the bins), each with
a new classifier (``cold``: ``PointClassifier.cell_classes``' first pass) and again with the
same one (``warm``), best of two, wall and CPU seconds; ``rows`` is the window's size by the
hourly summary (:func:`geo.store.window_size`), ``total`` the rows counted. Where the rows
path stops being faster is the threshold (docs/store.md, "Small windows read rows").

The store's bins must be current (``python -m geo reindex --store STORE`` first; the bins
path would bin every row on its first call otherwise). Stores of other sizes: a copy of one
under ``/work/bench-stores`` thinned with SQL (``DELETE FROM detections WHERE fid % 5 >= 2``)
and then ``python -m geo reindex``.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_map_small_windows.py --store STORE``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo import store
from geo.core import settings
from geo.inputs.scenario import load_scenario
from geo.mapview import map_base, map_window
from layers.map import MAP_HEXAGON_M

ROOT = Path(__file__).resolve().parents[1]


def _base(path: str, sc: Any) -> Any:
    """A new ``map_base`` (a new classifier), its indexes built as the app's first view does."""
    base = map_base(sc.border, sc.sensors, path, operation="sample", sectors=sc.sectors)
    base.classifier.classify(np.array([24.0]), np.array([55.0]))
    return base


def _timed(base: Any, window: tuple[Any, Any], threshold: int) -> tuple[float, float, int]:
    """``map_window`` for LVA with ``threshold``: wall s, CPU s, the rows counted."""
    settings.MAP_BINS_FROM_ROWS = threshold  # type: ignore[misc]
    cpu0, t0 = time.process_time(), time.perf_counter()
    got = map_window(
        base, time_from=window[0], time_to=window[1], viewers=("LVA",), hex_size_m=MAP_HEXAGON_M
    )
    return time.perf_counter() - t0, time.process_time() - cpu0, got.total


def main() -> None:
    """Print one line per window: its rows, then each path cold and warm."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--hours", default="24,96,168,336", help="window lengths, comma-separated")
    args = parser.parse_args()
    sc = load_scenario(ROOT / "sample_data")
    first = pd.Timestamp(
        int(store.time_summary(args.store, ["LVA"], operation="sample").first_us) * 1000, tz="UTC"
    )
    print("window rows total | rows cold | bins cold | rows warm | bins warm (wall/CPU s)")
    for hours in [*map(int, args.hours.split(",")), None]:
        window = (None, None)
        if hours is not None:
            window = (first, first + pd.Timedelta(hours=hours) - pd.Timedelta(microseconds=1))
        rows = store.window_size(args.store, ["LVA"], operation="sample", time_from=window[0],
                                 time_to=window[1])  # fmt: skip
        best: dict[str, tuple[Any, Any]] = {}
        total = 0
        for name, threshold in (("rows", 10**12), ("bins", 0)):
            cold, warm = [], []
            for _ in range(2):
                base = _base(args.store, sc)
                cold.append(_timed(base, window, threshold))
                warm.append(_timed(base, window, threshold))
            best[name] = (min(cold), min(warm))
            total = cold[0][2]
        shown = [f"{best[p][i][0]:.2f}/{best[p][i][1]:.2f}" for i in (0, 1) for p in best]
        label = "all" if hours is None else f"{hours}h"
        print(f"{label} {rows:,} {total:,} | {shown[0]} | {shown[1]} | {shown[2]} | {shown[3]}")


if __name__ == "__main__":
    main()
