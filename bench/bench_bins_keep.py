"""Benchmark: the map's bins kept by each change (geo.store.bins_keep), against the lazy fill.

Prints figures; never asserts on time. On a GeoPackage store (``--store``, changed: use a
copy, e.g. of ``/work/bench-stores/bins-10M.gpkg``), each step timed (wall and CPU
seconds) with the rows the map's lazy fill read (``map_bins._bin_pages``) and the rows the
change binned itself (``bins_keep._bin_pages``):

1. ``first_open``: the Map page's counts (:func:`geo.store.window_cells`, LVA, the whole
   store; the layout ``bench_map_store.py --bins`` uses), binning the store if needed;
2. ``ingest_kept``: an upload of ``--rows`` rows (default 1,000,000) that keeps the bins,
   then ``open_after_ingest_kept``;
3. ``ingest_plain``: the same size of upload without keeping them (as before this change),
   then ``open_after_ingest_plain`` (the lazy fill bins it);
4. ``retract_kept``: the first of those uploads retracted, keeping the bins, then
   ``open_after_retract_kept``;
5. ``retract_plain``: the second retracted without keeping them, then
   ``open_after_retract_plain`` (the lazy fill bins every row anew).

The store ends as it began plus two retracted uploads.

Run: ``.venv/bin/python bench/bench_bins_keep.py --store /work/bench-stores/keep-10M.gpkg``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_map_store import _chunk  # noqa: E402

from geo import store  # noqa: E402
from geo.core.cells import HexLayout  # noqa: E402
from geo.core.projection import choose_analysis_crs  # noqa: E402
from geo.inputs.loader import LoadReport  # noqa: E402
from geo.inputs.scenario import load_scenario  # noqa: E402
from geo.store import bins_keep, map_bins  # noqa: E402
from layers.map import MAP_HEXAGON_M  # noqa: E402

READ = {"lazy": 0, "kept": 0}


def _counting(module: Any, key: str) -> None:
    real = module._bin_pages

    def counted(*args: Any, **kwargs: Any) -> int:
        done = real(*args, **kwargs)
        READ[key] += done
        return int(done)

    module._bin_pages = counted


def _timed(name: str, step: Callable[[], object], out: dict[str, object]) -> None:
    READ.update(lazy=0, kept=0)
    t0, c0 = time.perf_counter(), time.process_time()
    step()
    out[f"{name}_s"] = round(time.perf_counter() - t0, 2)
    out[f"{name}_cpu_s"] = round(time.process_time() - c0, 2)
    out[f"{name}_lazy_rows"] = READ["lazy"]
    out[f"{name}_kept_rows"] = READ["kept"]
    print(f"  {name}: {json.dumps({k: v for k, v in out.items() if k.startswith(name)})}")


def _upload(path: str, n: int, seed: int) -> int:
    report = LoadReport(
        source="keep.csv",
        layer="detections",
        format="CSV",
        source_crs="EPSG:4326",
        rows_read=n,
        rows_accepted=n,
    )
    got = store.ingest(
        path,
        _chunk(n, seed),
        report,
        file_name=f"keep{seed}.csv",
        sha256=f"{seed + 7_000_000:064x}",
        partner="LVA",
        releasable_to="POL",
    )
    return got.upload_id


def main() -> None:
    """Measure the steps of the module's docstring on ``--store``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a GeoPackage store (changed)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    path = args.store
    x0, y0, x1, y1 = load_scenario(ROOT / "sample_data").border.total_bounds
    layout = HexLayout(choose_analysis_crs([x0, x1], [y0, y1]), MAP_HEXAGON_M)
    _counting(map_bins, "lazy")
    _counting(bins_keep, "kept")
    keep_upload, keep_change = bins_keep.keep_upload, bins_keep.keep_change
    out: dict[str, object] = {}

    def map_open() -> None:
        got = store.window_cells(path, ["LVA"], operation="sample", layout=layout)
        assert got is not None

    def plain(step: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            bins_keep.keep_upload = lambda *a, **k: None  # type: ignore[assignment]
            bins_keep.keep_change = lambda *a, **k: None  # type: ignore[assignment]
            try:
                return step()
            finally:
                bins_keep.keep_upload, bins_keep.keep_change = keep_upload, keep_change

        return run

    print(f"store {path}, uploads of {args.rows:,} rows")
    _timed("first_open", map_open, out)
    ids: list[int] = []
    _timed("ingest_kept", lambda: ids.append(_upload(path, args.rows, 900)), out)
    _timed("open_after_ingest_kept", map_open, out)
    _timed("ingest_plain", plain(lambda: ids.append(_upload(path, args.rows, 901))), out)
    _timed("open_after_ingest_plain", map_open, out)

    def retract(upload_id: int) -> Callable[[], object]:
        return lambda: store.retract_upload(
            path, upload_id, user="bench", partner="LVA", is_admin=False
        )

    _timed("retract_kept", retract(ids[0]), out)
    _timed("open_after_retract_kept", map_open, out)
    _timed("retract_plain", plain(retract(ids[1])), out)
    _timed("open_after_retract_plain", map_open, out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
