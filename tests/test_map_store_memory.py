"""The map's queries hold a page of the store, not the store: checked under ``ulimit -v``.

A GeoPackage store of 1,000,000 detections; a child process (``bash -c 'ulimit -v N;
python ...'``) reads it. N is the address space the paged reads need, measured in a first
child without a limit, plus a margin: under it the paged reads
(:func:`geo.store.window_batches` summed, :func:`geo.store.map_points` of a view) finish
with the right counts, and reading every row (:func:`geo.store.visible_detections`, what the
Map page did) runs out of memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_store import report_for

from geo import store

ROOT = Path(__file__).resolve().parents[1]
ROWS = 1_000_000
VIEW = (24.0, 55.0, 25.0, 55.5)
CORRIDOR_KM = 15.0

CHILD = textwrap.dedent(
    """
    import json, sys
    from geo import store
    def vm_peak_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmPeak"):
                return int(line.split()[1]) // 1024
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "page":  # the Map page's data functions (geo.mapview), as ui.shared calls them
        from geo.core.settings import SAMPLE_DIR
        from geo.coverage.views import headline
        from geo.inputs.scenario import load_scenario
        from geo.mapview import map_base, map_times, map_window
        sc = load_scenario(SAMPLE_DIR)
        base = map_base(sc.border, sc.sensors, path, operation="sample", sectors=sc.sectors,
                        corridor_km={corridor_km!r})
        bounds, hours = map_times(base, ("LVA",))
        lo, hi = bounds.bulk
        win = map_window(base, time_from=lo, time_to=hi, viewers=("LVA",), hex_size_m=4000.0)
        head = headline(win.result.report)
        out = {{"seen": len(hours), "outside": hours.outside(lo, hi), "total": win.total,
                "detections": head.detections, "in_gaps": head.detections_in_gaps,
                "points": win.shown, "hexagons": int(win.hexagons["count"].sum()),
                "bulk": [str(lo), str(hi)]}}
    elif mode == "old_page":  # what the Map page did: every row read, then analysed
        from geo.core.settings import SAMPLE_DIR
        from geo.coverage import analyse
        from geo.inputs.scenario import load_scenario
        sc = load_scenario(SAMPLE_DIR)
        # compiled first (numba), as the page has it: what runs out is the rows' memory
        analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections.head(50),
                corridor_km={corridor_km!r})
        try:
            every = store.visible_detections(path, store.owners(path), operation="sample")
            full = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=every,
                           corridor_km={corridor_km!r})
            out = {{"rows": len(full.all_detections)}}
        except MemoryError as exc:
            out = {{"memory_error": str(exc)[:300]}}
    elif mode == "pages":
        n = sum(len(b.lon) for b in store.window_batches(path, ["LVA"]))
        view = store.map_points(path, ["LVA"], extent={view!r})
        out = {{"rows": n, "view": view.total, "points": len(view.detections)}}
    else:
        try:
            out = {{"rows": len(store.visible_detections(path, ["LVA"]))}}
        except MemoryError as exc:
            out = {{"memory_error": str(exc)[:300]}}
    out["vm_peak_mb"] = vm_peak_mb()
    print(json.dumps(out))
    """
).format(view=VIEW, corridor_km=CORRIDOR_KM)


def _child(mode: str, path: Path, limit_mb: int | None) -> dict[str, object]:
    limit = f"ulimit -v {limit_mb * 1024}; " if limit_mb else ""
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'{limit}exec "$0" -c "$1" "$2" "$3"',
            sys.executable,
            CHILD,
            mode,
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        timeout=600,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"failed": done.stderr.strip().splitlines()[-1:] or ["(nothing)"]}
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """1,000,000 rows, LVA's own; and how many of them lie in :data:`VIEW`."""
    path = tmp_path_factory.mktemp("big") / "limes.gpkg"
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(21.0, 28.0, ROWS), rng.uniform(53.9, 56.4, ROWS)
    start = pd.Timestamp("2026-11-01", tz="UTC").value // 1000
    time_us = rng.integers(start, start + 30 * 86_400_000_000, ROWS)
    import geopandas as gpd

    rows = gpd.GeoDataFrame(
        {
            "time": pd.Series(time_us.view("datetime64[us]")).dt.tz_localize("UTC"),
            "detection_id": pd.array([f"B{i:07d}" for i in range(ROWS)], dtype="str"),
            "source": pd.array(["radar-1"] * ROWS, dtype="str"),
            "class": pd.array(["vehicle"] * ROWS, dtype="str"),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    store.ingest(path, rows, report_for(rows), file_name="big.csv", sha256="b" * 64, partner="LVA")
    w, s, e, n = VIEW
    _generated.update(lon=lon, lat=lat, time_us=time_us)
    return path, int(((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)).sum())


#: The big store's positions and times, for the truths of the tests.
_generated: dict[str, np.ndarray] = {}


def test_paged_reads_fit_where_reading_every_row_does_not(big_store: tuple[Path, int]) -> None:
    path, in_view = big_store
    free = _child("pages", path, None)  # also brings the cell index up to date
    assert free.get("rows") == ROWS, free
    assert free["view"] == in_view
    limit_mb = int(free["vm_peak_mb"]) + 250
    capped = _child("pages", path, limit_mb)
    assert capped.get("rows") == ROWS, capped
    assert capped["view"] == in_view
    assert capped["points"] == min(in_view, 50_000)
    every = _child("all", path, limit_mb)
    assert "memory_error" in every, every
    assert "memory" in str(every["memory_error"]).lower()


def test_the_map_page_figures_fit_where_reading_every_row_does_not(
    big_store: tuple[Path, int],
) -> None:
    from geo.core.settings import SAMPLE_DIR
    from geo.coverage.streamed import point_classifier
    from geo.coverage.views import time_bounds
    from geo.inputs.scenario import load_scenario

    path, _ = big_store
    free = _child("page", path, None)
    assert "total" in free, free
    # the truth, from the generated rows: the bulk of their times, the window's classes
    times = pd.Series(pd.to_datetime(_generated["time_us"], unit="us", utc=True))
    lo, hi = time_bounds(times).bulk
    assert free["bulk"] == [str(lo), str(hi)]
    t = _generated["time_us"]
    lo_us, hi_us = lo.value // 1000, hi.value // 1000
    inside = (t >= lo_us) & (t <= hi_us)
    sc = load_scenario(SAMPLE_DIR)
    classifier = point_classifier(
        sc.border, sc.sensors, sectors=sc.sectors, corridor_km=CORRIDOR_KM
    )
    codes, _ = classifier.classify(_generated["lon"][inside], _generated["lat"][inside])
    assert free["seen"] == ROWS
    assert free["outside"] == int((~inside).sum())
    assert free["total"] == free["detections"] == int(inside.sum())
    assert free["in_gaps"] == int((codes == 1).sum())
    assert free["hexagons"] == free["total"]
    assert free["points"] == min(free["total"], 50_000)
    limit_mb = int(free["vm_peak_mb"]) + 250
    capped = _child("page", path, limit_mb)
    assert {k: v for k, v in capped.items() if k != "vm_peak_mb"} == {
        k: v for k, v in free.items() if k != "vm_peak_mb"
    }, capped
    every = _child("old_page", path, limit_mb)  # the page before: reading and analysing all
    assert "memory_error" in every, (limit_mb, every)
    assert "memory" in str(every["memory_error"]).lower()
