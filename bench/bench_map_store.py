"""Benchmark: opening the map on a store of 10,000,000 detections, against reading every row.

Prints figures; never asserts on time. ``--rows`` detections (default 10,000,000; random
times over 30 days, positions over the sample's border region, three partners with their
markings) are ingested into a new GeoPackage store in uploads of ``--chunk`` rows, made
chunk by chunk in memory. Then, each in a child process of its own (so each peak RSS is
its own, ``resource.getrusage``):

- ``index``: the first map query after the uploads, which brings the grid-cell index up to
  date (:mod:`geo.store.spatial_index`; once per upload);
- ``map``: what the Map page needs for partner LVA and a window (one day; the whole 30
  days): the points in a view of about 1° x 0.5° up to the point limit with the count of all
  of them (:func:`geo.store.map_points`), and the counts per status, sector and partner and
  the hexagons of the whole window, classified page by page against the sample's coverage
  (:func:`geo.store.window_batches`, :func:`geo.coverage.streamed.count_batches`); the
  coverage itself (:func:`geo.coverage.streamed.point_classifier`, cached by the app) is
  timed apart;
- ``load``: the old path, every row the partner may see read into memory
  (:func:`geo.store.visible_detections`), under an address-space limit of ``--load-gb``
  (default 12) so that it fails rather than take the machine;
- ``page``: the Map page's data functions as ``ui.shared`` calls them for LVA
  (:mod:`geo.mapview`): the analysis without the stored rows (``map_base``), the time
  bounds and hourly counts (``map_times``), the window's figures, points and hexagons
  (``map_window``; the window the page opens on, the bulk, or a day) and the headline,
  each step timed;
- ``step``: a playback step's "Unwatched then" for LVA (an hour, a day), every row of the
  step read page by page and classified against the timeline of the day
  (:func:`geo.mapview.window_moments`, :func:`geo.timeline.step_counts`), beside the points
  the map draws.

``--page-only``: only the ``page`` measurements (after the ingest), and ``times``: the
store's time summary alone (:func:`geo.store.time_summary` for LVA, operation sample: the
histogram, totals, first and last time and the bulk the Map page opens with).

With ``--page-only`` the ``page`` measurements are taken again (the map's bins then made)
and with every row of the window read (``page-rows``: :func:`geo.store.window_cells`
answering None, as before the bins). ``--pg-only`` (with ``--postgres``): PostGIS alone.

``--load-gb 0``: without the ``load`` measurements.


``--profile``: where the time of the window's counts goes (``profile``, per window: the
stages one after the other, each timed: the store's read of positions, the old read by
pages of ``fid``, time and blob, the projection, the classification, the hexagons, the
points with and without the count; then ``map_window`` as the page runs it, the read in a
thread of its own; each with its CPU seconds, the figure to compare on a busy machine).

``--bins``: the map's pre-counted bins (``bins``, :func:`geo.store.window_cells` for LVA
with 16-, 8- and 32-day blocks, each made anew): the first fill (seconds, peak RSS, the bins'
rows, the file's growth), then the whole store, the bulk, a day, a week and half a block
(a quarter in: the window a block size reads most rows for).

``--store PATH``: the GeoPackage store to measure, kept: made (the ingest above) when
``PATH`` does not exist, else measured as it is (stores of 10,000,000 rows take minutes to
make; keep them out of the repository and of ``/tmp``, e.g. under ``/work/bench-stores``). A
store of an older schema is read as it is (readers do not upgrade); ``--upgrade`` upgrades it
first (timed).

With ``--postgres`` the same on a throwaway PostGIS cluster (``tests/pg_util.py``) when one
can be started, unless its ingest would take longer than ``--pg-budget-s`` (from the rate
of the first upload): then it says so and skips.

``--pg-data DIR`` (implies ``--postgres --pg-only``): the PostGIS store kept in a cluster of its
own, the PostgreSQL data directory ``DIR`` (e.g. ``/work/bench-stores/pg-10M``;
``tests/pg_util.py``'s ``kept_cluster``): made (``initdb`` as the ``postgres`` user) and
filled with ``--rows`` when it holds no cluster yet, else started on a free port and measured
as it is; stopped at the end, also on an error. Each measurement then also notes the most
private memory (``RssAnon``, sampled every 50 ms) the server's processes held together
(``pg_anon_mb``; the shared buffers are not in it). With ``--profile`` on PostGIS: the page
step by step only (``page-profile``, below).

``--profile`` also runs ``page-profile`` (bulk window and one day): the Map page's steps one
after the other, as :func:`geo.mapview.map_window` runs them, each with wall and CPU
seconds: ``map_base``, ``map_times`` (the time summary), the window's bins
(:func:`geo.store.window_cells`; on PostGIS split into the bins of whole blocks, the hourly
summary's estimates and the rows of cut blocks), the uniform cells counted, the edge cells'
rows read and classified, the points drawn (their count known) and, apart, the count
:func:`geo.store.map_points` makes when it is not given one.

Run: ``.venv/bin/python bench/bench_map_store.py [--rows N] [--chunk N] [--postgres]
[--page-only] [--pg-data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from geo import store  # noqa: E402
from geo.inputs.loader import LoadReport  # noqa: E402

PARTNERS = [("LTU", "ALL"), ("LVA", ""), ("POL", "LVA")]
VIEW = (24.0, 55.0, 25.0, 55.5)
DAY = ("2026-11-10T00:00:00Z", "2026-11-10T23:59:59Z")
MONTH = ("2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z")


def _chunk(n: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "time": pd.Timestamp("2026-11-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 30 * 86_400_000_000, size=n), unit="us"),
        "lon": rng.uniform(21.0, 28.0, size=n),
        "lat": rng.uniform(53.9, 56.4, size=n),
        "detection_id": pd.array([f"M{seed}-{i:08d}" for i in range(n)], dtype="str"),
        "source": pd.array(rng.choice(["radar-1", "radar-2", "patrol"], size=n), dtype="str"),
    }


def _ingest(path: str, rows: int, chunk: int, budget_s: float | None = None) -> float | None:
    """Ingest ``rows`` in uploads of ``chunk``; seconds, or None when over ``budget_s``."""
    start = time.perf_counter()
    for i, at in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - at)
        owner, marking = PARTNERS[i % len(PARTNERS)]
        report = LoadReport(
            source="bench.csv",
            layer="detections",
            format="CSV",
            source_crs="EPSG:4326",
            rows_read=n,
            rows_accepted=n,
        )
        store.ingest(
            path,
            _chunk(n, i),
            report,
            file_name=f"bench{i}.csv",
            sha256=f"{i + 1:064x}",
            partner=owner,
            releasable_to=marking,
        )
        spent = time.perf_counter() - start
        if budget_s is not None and i == 0 and spent * rows / n > budget_s:
            print(
                f"  skipped: the first upload took {spent:.1f} s for {n:,} rows, so "
                f"{rows:,} would take about {spent * rows / n:.0f} s (budget {budget_s:.0f} s)"
            )
            return None
    return time.perf_counter() - start


def _child(mode: str, path: str, window: str) -> dict[str, object]:
    """One measurement (run in its own process): seconds and figures."""
    from geo.coverage.streamed import count_batches, hexagons, point_classifier
    from geo.inputs.scenario import load_scenario
    from layers.map import MAP_HEXAGON_M

    tf, tt = DAY if window == "day" else MONTH
    out: dict[str, object] = {}
    start = time.perf_counter()
    if mode == "index":
        out["total"] = store.map_points(path, ["LVA"], extent=VIEW, limit=0).total
    elif mode == "map":
        sc = load_scenario(ROOT / "sample_data")
        t0 = time.perf_counter()
        classifier = point_classifier(sc.border, sc.sensors, sectors=sc.sectors)
        out["coverage_s"] = round(time.perf_counter() - t0, 2)
        start = time.perf_counter()
        view = store.map_points(path, ["LVA"], time_from=tf, time_to=tt, extent=VIEW)
        out["view_s"] = round(time.perf_counter() - start, 2)
        out["view_points"], out["view_total"] = len(view.detections), view.total
        batches = store.window_batches(path, ["LVA"], time_from=tf, time_to=tt)
        counts = count_batches(batches, classifier, hex_size_m=MAP_HEXAGON_M)
        hexes = hexagons(counts, classifier.acrs, MAP_HEXAGON_M)
        out["window_rows"], out["hexagons"] = counts.total, len(hexes)
        out["in_gaps"] = counts.in_gaps
    elif mode == "page":
        return _page(path, window)
    elif mode == "page-rows":  # the page as before the bins: every row of the window read
        store.window_cells = lambda *a, **k: None  # type: ignore[assignment]
        return _page(path, window)
    elif mode == "step":
        return _step(path, int(window))
    elif mode == "profile":
        return _profile(path, window)
    elif mode == "page-profile":
        return _page_profile(path, window)
    elif mode == "bins":
        return _bins(path, int(window))
    elif mode == "times":
        got = store.time_summary(path, ["LVA"], operation="sample")
        out["total"], out["hours"], out["bulk"] = got.total, len(got.hours), got.bulk
    else:
        out["rows"] = len(store.visible_detections(path, ["LVA"], time_from=tf, time_to=tt))
    out["seconds"] = round(time.perf_counter() - start, 2)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return out


def _page(path: str, window: str) -> dict[str, object]:
    """The Map page's data functions for LVA, each step timed (in a child of its own)."""
    from geo.coverage.views import headline
    from geo.inputs.scenario import load_scenario
    from geo.mapview import map_base, map_times, map_window
    from layers.map import MAP_HEXAGON_M

    out: dict[str, object] = {}
    sc = load_scenario(ROOT / "sample_data")
    t0 = time.perf_counter()
    base = map_base(sc.border, sc.sensors, path, operation="sample", sectors=sc.sectors)
    t1 = time.perf_counter()
    bounds, hours = map_times(base, ("LVA",))
    t2 = time.perf_counter()
    if window == "bulk":
        tf, tt = bounds.bulk if bounds is not None else (None, None)
    else:
        tf, tt = (pd.Timestamp(t) for t in (DAY if window == "day" else MONTH))
    win = map_window(base, time_from=tf, time_to=tt, viewers=("LVA",), hex_size_m=MAP_HEXAGON_M)
    head = headline(win.result.report)
    t3 = time.perf_counter()
    out.update(
        base_s=round(t1 - t0, 2),
        times_s=round(t2 - t1, 2),
        window_s=round(t3 - t2, 2),
        seconds=round(t3 - t0, 2),
        seen=len(hours),
        window_total=win.total,
        in_gaps=head.detections_in_gaps,
        points=win.shown,
        hexagons=len(win.hexagons) if win.hexagons is not None else 0,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    )
    return out


def _step(path: str, hours: int) -> dict[str, object]:
    """A playback step's "Unwatched then" for LVA over every row (in a child of its own).

    The first ``hours`` of the day as the step, the day as the timeline's span: the rows
    read page by page (:func:`geo.mapview.window_moments`) and classified
    (:func:`geo.timeline.step_counts`), against the layer the map draws.
    """
    from geo.inputs.scenario import load_scenario
    from geo.mapview import map_base, map_window, window_moments
    from geo.timeline import step_counts, timeline
    from layers.map import MAP_HEXAGON_M

    sc = load_scenario(ROOT / "sample_data")
    base = map_base(sc.border, sc.sensors, path, operation="sample", sectors=sc.sectors)
    tl = timeline(
        sc.border, sensors=sc.sensors, tracks=sc.tracks, sectors=sc.sectors,
        time_from=DAY[0], time_to=DAY[1],
    )  # fmt: skip
    tf = pd.Timestamp(DAY[0])
    tt = tf + pd.Timedelta(hours=hours)
    win = map_window(base, time_from=tf, time_to=tt, viewers=("LVA",), hex_size_m=MAP_HEXAGON_M)
    start = time.perf_counter()
    rows = window_moments(base, time_from=tf, time_to=tt, viewers=("LVA",))
    got = step_counts(tl, rows, base.classifier)
    return {
        "step_h": hours,
        "seconds": round(time.perf_counter() - start, 2),
        "detections": got.detections,
        "unwatched": got.unwatched,
        "drawn": win.shown,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _profile(path: str, window: str) -> dict[str, object]:
    """The window's counts stage by stage (one after the other), then as the page runs them."""
    from geo.core.cells import NO_HEX, HexLayout
    from geo.coverage.streamed import WindowCounts, _hex_add_keys, point_classifier
    from geo.coverage.views import headline
    from geo.inputs.scenario import load_scenario
    from geo.mapview import map_base, map_window
    from layers.map import MAP_HEXAGON_M

    sc = load_scenario(ROOT / "sample_data")
    clf = point_classifier(sc.border, sc.sensors, sectors=sc.sectors)
    tf, tt = (pd.Timestamp(t) for t in DAY) if window == "day" else (None, None)
    spent: dict[str, float] = {}

    def timed(name: str, make):  # type: ignore[no-untyped-def]
        t0, cpu0 = time.perf_counter(), time.process_time()
        got = make()
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0
        cpu = name.replace("_s", "_cpu_s")
        spent[cpu] = spent.get(cpu, 0.0) + time.process_time() - cpu0
        return got

    old = store.window_batches(path, ["LVA"], time_from=tf, time_to=tt)
    timed("read_old_pages_s", lambda: sum(len(b.lon) for b in old))
    pages = timed(
        "read_positions_s",
        lambda: list(store.window_positions(path, ["LVA"], time_from=tf, time_to=tt)),
    )
    clf.classify(pages[0].lon[:1], pages[0].lat[:1])  # indexes built (cached by the app)
    counts = WindowCounts()
    layout = HexLayout(clf.acrs, MAP_HEXAGON_M)
    for page in pages:
        # projection and hexagon of each point (HexLayout.keys), then the merge into counts
        keys = timed("project_s", lambda p=page: layout.keys(p.lon, p.lat))
        codes, _ = timed("classify_s", lambda p=page: clf.classify(p.lon, p.lat))
        ok = keys != NO_HEX
        weights = np.ones(int(ok.sum()), dtype=np.int64)
        timed(
            "hexagons_s",
            lambda k=keys[ok], g=(codes == 1)[ok], w=weights: _hex_add_keys(counts, k, w, g),
        )
    rows = sum(len(p.lon) for p in pages)
    del pages
    timed("points_counted_s", lambda: store.map_points(path, ["LVA"], time_from=tf, time_to=tt))
    timed(
        "points_total_known_s",
        lambda: store.map_points(path, ["LVA"], time_from=tf, time_to=tt, total=rows),
    )
    base = map_base(sc.border, sc.sensors, path, operation="sample", sectors=sc.sectors)
    base.classifier.classify(np.array([24.0]), np.array([55.0]))
    cpu0, t0 = time.process_time(), time.perf_counter()
    win = map_window(base, time_from=tf, time_to=tt, viewers=("LVA",), hex_size_m=MAP_HEXAGON_M)
    spent["map_window_s"] = round(time.perf_counter() - t0, 2)
    spent["map_window_cpu_s"] = round(time.process_time() - cpu0, 2)
    return {
        "rows": rows,
        **{k: round(v, 2) for k, v in spent.items()},
        "window_total": win.total,
        "in_gaps": headline(win.result.report).detections_in_gaps,
        "hexagons": len(counts.hex_keys),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _page_profile(path: str, window: str) -> dict[str, object]:
    """The Map page's steps for LVA one after the other, each timed (wall and CPU seconds)."""
    from geo.core.cells import HexLayout
    from geo.coverage.streamed import add_groups, add_points, new_counts
    from geo.inputs.scenario import load_scenario
    from geo.mapview import map_base, map_times, map_window
    from geo.store import map_bins
    from geo.store.postgres import map_bins as pg_bins
    from layers.map import MAP_HEXAGON_M

    spent: dict[str, float] = {}

    def timed(name: str, make):  # type: ignore[no-untyped-def]
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            return make()
        finally:
            spent[f"{name}_s"] = spent.get(f"{name}_s", 0.0) + time.perf_counter() - t0
            cpu = f"{name}_cpu_s"
            spent[cpu] = spent.get(cpu, 0.0) + time.process_time() - cpu0

    def wrap(module, name: str, label: str) -> None:  # type: ignore[no-untyped-def]
        inner = getattr(module, name)
        setattr(module, name, lambda *a, **k: timed(label, lambda: inner(*a, **k)))

    for module in (pg_bins, map_bins):  # inside window_cells: which part takes the time
        wrap(module, "_bin_sums", "cells_bin_sums")
        wrap(module, "_rows_binned", "cells_cut_rows")
    wrap(pg_bins, "_hour_rows", "cells_hour_estimates")
    wrap(map_bins, "_block_rows", "cells_hour_estimates")

    sc = load_scenario(ROOT / "sample_data")
    base = timed("map_base", lambda: map_base(
        sc.border, sc.sensors, path, operation="sample", sectors=sc.sectors))  # fmt: skip
    bounds, _ = timed("map_times", lambda: map_times(base, ("LVA",)))
    if window == "bulk":
        tf, tt = bounds.bulk if bounds is not None else (None, None)
    else:
        tf, tt = (pd.Timestamp(t) for t in DAY)
    clf = base.classifier
    clf.classify(np.array([24.0]), np.array([55.0]))  # indexes built (cached by the app)
    layout = HexLayout(clf.acrs, MAP_HEXAGON_M)
    counts = new_counts(clf)
    cells = timed("window_cells", lambda: store.window_cells(
        path, ["LVA"], operation="sample", layout=layout, time_from=tf, time_to=tt))  # fmt: skip
    edge = None
    if cells is not None:
        fine, at = np.unique(cells.fine, return_inverse=True)
        classes = timed("cell_classes", lambda: clf.cell_classes(fine))
        whole = classes.uniform[at]
        known = (classes.codes[at][whole], classes.in_sector[at][whole])
        timed("uniform_counted", lambda: add_groups(
            counts, clf, known, cells.hexes[whole], cells.n[whole]))  # fmt: skip
        edge = fine[~classes.uniform]
        spent["edge_cells"] = len(edge)
    rows = store.window_positions(
        path, ["LVA"], operation="sample", time_from=tf, time_to=tt, cells=edge
    )
    for page in iter(lambda: timed("edge_rows_read", lambda: next(rows, None)), None):
        timed("edge_rows_classified", lambda p=page: add_points(
            counts, clf, np.asarray(p.lon, float), np.asarray(p.lat, float),
            hex_size_m=MAP_HEXAGON_M))  # fmt: skip
    total = counts.total
    timed("points", lambda: store.map_points(
        path, ["LVA"], operation="sample", time_from=tf, time_to=tt, total=total))  # fmt: skip
    counted = timed("points_counted", lambda: store.map_points(
        path, ["LVA"], operation="sample", time_from=tf, time_to=tt)).total  # fmt: skip
    steps = {k: round(v, 2) for k, v in spent.items()}  # before map_window calls them again
    t0, cpu0 = time.perf_counter(), time.process_time()
    win = map_window(base, time_from=tf, time_to=tt, viewers=("LVA",), hex_size_m=MAP_HEXAGON_M)
    steps["map_window_s"] = round(time.perf_counter() - t0, 2)
    steps["map_window_cpu_s"] = round(time.process_time() - cpu0, 2)
    return {
        **steps,
        "window_total": total,
        "points_total": counted,
        "map_window_total": win.total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _bins(path: str, block_days: int) -> dict[str, object]:
    """The map's bins (:func:`geo.store.window_cells`) for LVA with ``block_days`` per block.

    Made anew (the bins cleared first): the first call bins every row (seconds, peak RSS,
    the bins' rows, the file's growth); then the whole store, the bulk, a day and a week.
    """
    import os

    from geo.core.cells import HexLayout
    from geo.core.projection import choose_analysis_crs
    from geo.inputs.scenario import load_scenario
    from geo.store import map_bins
    from geo.store.bins_table import BINS, clear_map_bins
    from geo.store.connection import connect
    from layers.map import MAP_HEXAGON_M

    map_bins.BLOCK_DAYS = block_days
    map_bins._BLOCK_US = block_days * 86_400_000_000
    x0, y0, x1, y1 = load_scenario(ROOT / "sample_data").border.total_bounds
    layout = HexLayout(choose_analysis_crs([x0, x1], [y0, y1]), MAP_HEXAGON_M)
    conn = connect(Path(path), busy_timeout_s=30)
    conn.execute("BEGIN IMMEDIATE")
    clear_map_bins(conn)
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.close()
    size0 = os.path.getsize(path)
    out: dict[str, object] = {"block_days": block_days}

    def timed(name: str, tf: str | None = None, tt: str | None = None) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        got = store.window_cells(
            path, ["LVA"], operation="sample", layout=layout, time_from=tf, time_to=tt
        )
        out[f"{name}_s"] = round(time.perf_counter() - t0, 2)
        out[f"{name}_cpu_s"] = round(time.process_time() - c0, 2)
        out[f"{name}_rows"] = None if got is None else int(got.n.sum())
        out[f"{name}_pairs"] = None if got is None else len(got.n)

    timed("first_fill_whole")
    out["fill_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    conn = connect(Path(path), busy_timeout_s=30)
    out["bin_rows"] = int(conn.execute(f"SELECT count(*) FROM {BINS}").scalar())
    conn.close()
    out["file_growth_mb"] = round((os.path.getsize(path) - size0) / 2**20, 1)
    timed("whole")
    times = store.time_summary(path, ["LVA"], operation="sample")
    bulk = [
        None if t is None else pd.Timestamp(t * 1000, tz="UTC").isoformat()
        for t in (times.bulk or (None, None))
    ]
    timed("bulk", *bulk)
    timed("day", *DAY)
    timed("week", "2026-11-08T06:00:00Z", "2026-11-15T05:59:59Z")
    # the worst window for the blocks: half of one (a quarter in), read as rows either way
    day_us = 86_400_000_000
    first = (pd.Timestamp("2026-11-10T00:00:00Z").value // 1000 // day_us) // block_days
    lo = (first * block_days) * day_us + block_days * day_us // 4
    hi = lo + block_days * day_us // 2 - 1
    timed("half_block", *(pd.Timestamp(t * 1000, tz="UTC").isoformat() for t in (lo, hi)))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return out


#: The PostgreSQL server whose processes' memory :func:`_measure` samples (``--pg-data``).
_SERVER_PID: list[int] = []


def _anon_kib(pid: int) -> int:
    """A process's private resident memory (``RssAnon``, KiB); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _server_anon_kib(server: int) -> int:
    """The private memory of the server and its children (backends, workers) together."""
    try:
        children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    except OSError:
        children = []
    return _anon_kib(server) + sum(_anon_kib(int(c)) for c in children)


def _measure(mode: str, path: str, window: str, limit_gb: float | None = None) -> str:
    """Run :func:`_child` in a new process (under an address-space limit if given).

    With a kept cluster (``--pg-data``), the most private memory its processes held
    together meanwhile (sampled every 50 ms) is added as ``pg_anon_mb``.
    """

    def limit() -> None:
        if limit_gb is not None:
            cap = int(limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    child = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, path, window],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    peak = [0]
    if _SERVER_PID:
        import threading

        def sample() -> None:
            while child.poll() is None:
                peak[0] = max(peak[0], _server_anon_kib(_SERVER_PID[0]))
                time.sleep(0.05)

        threading.Thread(target=sample, daemon=True).start()
    out, err = child.communicate()
    lines = out.strip().splitlines()
    if child.returncode or not lines:
        tail = (err.strip().splitlines() or ["(no message)"])[-1]
        return f"failed ({tail[:160]})"
    if _SERVER_PID and lines[-1].startswith("{"):
        got = json.loads(lines[-1])
        got["pg_anon_mb"] = peak[0] // 1024
        return json.dumps(got)
    return lines[-1]


def _run(
    name: str,
    path: str,
    rows: int,
    chunk: int,
    load_gb: float,
    budget: float | None,
    page_only: bool = False,
    profile: bool = False,
    bins: bool = False,
    kept: bool | None = None,
) -> None:
    """Measure the store ``path``: ingested first unless it exists (``kept``: a PostGIS one)."""
    if kept if kept is not None else Path(path).exists():
        print(f"{name}: the store {path} as it is")
    else:
        print(f"{name}: {rows:,} detections in uploads of {chunk:,}")
        spent = _ingest(path, rows, chunk, budget)
        if spent is None:
            return
        print(f"  ingest: {spent:.1f} s ({rows / spent:,.0f} rows/s)")
    if bins:
        for block_days in (16, 8, 32):
            print(f"  map bins, {block_days}-day blocks: {_measure('bins', path, str(block_days))}")
        return
    if profile:
        for window in ("bulk", "day"):
            print(f"  page step by step, window {window}: {_measure('page-profile', path, window)}")
        if name == "PostGIS":
            return
        for window in ("all", "day"):
            print(
                f"  window counts stage by stage, window {window}: "
                f"{_measure('profile', path, window)}"
            )
        return
    for _ in range(2):
        print(f"  time_summary alone: {_measure('times', path, 'month')}")
    for window in ("bulk", "day"):
        print(f"  Map page's data functions, window {window}: {_measure('page', path, window)}")
    if page_only:
        for window in ("bulk", "day"):
            print(f"  the same again (bins made): {_measure('page', path, window)}")
            print(f"  the same, every row read: {_measure('page-rows', path, window)}")
    for hours in ("1", "24"):
        print(f"  playback step of {hours} h, Unwatched then: {_measure('step', path, hours)}")
    if page_only:
        if load_gb > 0:
            print(f"  load every row, window month: {_measure('load', path, 'month', load_gb)}")
        return
    print(f"  index (first map query after the uploads): {_measure('index', path, 'day')}")
    for window in ("day", "month"):
        print(f"  map, window {window}: {_measure('map', path, window)}")
        print(f"  load every row, window {window}: {_measure('load', path, window, load_gb)}")


def main() -> None:
    """Parse the options, then ingest and time each back-end."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--load-gb", type=float, default=12.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--pg-only", action="store_true", help="with --postgres: no GeoPackage")
    parser.add_argument("--pg-budget-s", type=float, default=300.0)
    parser.add_argument("--page-only", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--bins", action="store_true", help="the map's bins (window_cells)")
    parser.add_argument("--pg-data", help="PostGIS cluster kept: made when missing, else reused")
    parser.add_argument("--store", help="GeoPackage store kept: made when missing, else reused")
    parser.add_argument("--upgrade", action="store_true", help="upgrade --store first (timed)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "STORE", "WINDOW"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    if args.pg_data:
        _kept_postgres(args)
        return
    if args.store:
        if Path(args.store).exists() and args.upgrade:
            start = time.perf_counter()
            store.open_store(args.store).close()
            print(f"upgrade of {args.store}: {time.perf_counter() - start:.1f} s")
        _run(
            "GeoPackage", args.store, args.rows, args.chunk, args.load_gb, None,
            args.page_only, args.profile, args.bins,
        )  # fmt: skip
    elif not (args.pg_only and args.postgres):
        with tempfile.TemporaryDirectory() as tmp:
            gpkg = str(Path(tmp) / "limes.gpkg")
            _run(
                "GeoPackage", gpkg, args.rows, args.chunk, args.load_gb, None,
                args.page_only, args.profile,
            )  # fmt: skip
    if not args.postgres:
        return
    import pg_util

    reason = pg_util.why_unavailable()
    if reason is not None:
        print(f"PostGIS: skipped ({reason})")
        return
    with pg_util.running_cluster() as cluster:
        url = cluster.create_database("benchmap")
        _run(
            "PostGIS", url, args.rows, args.chunk, args.load_gb, args.pg_budget_s,
            args.page_only, args.profile,
        )  # fmt: skip


def _kept_postgres(args: argparse.Namespace) -> None:
    """The measurements on the PostGIS store kept in the cluster ``args.pg_data``."""
    import pg_util

    reason = pg_util.why_unavailable()
    if reason is not None:
        print(f"PostGIS: skipped ({reason})")
        return
    import signal

    def stop(signum: int, _frame: object) -> None:  # the cluster is stopped on the way out
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    with pg_util.kept_cluster(Path(args.pg_data)) as (cluster, made):
        url = cluster.create_database("benchmap") if made else cluster.url("benchmap")
        pid = cluster.postmaster_pid()
        _SERVER_PID[:] = [] if pid is None else [pid]
        print(f"PostGIS cluster {args.pg_data} ({'made now' if made else 'as it is'}), {url}")
        _run(
            "PostGIS", url, args.rows, args.chunk, args.load_gb, None,
            args.page_only, args.profile, args.bins, kept=not made,
        )  # fmt: skip


if __name__ == "__main__":
    main()
