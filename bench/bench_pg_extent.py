"""Benchmark: the map's extent queries on PostGIS under forced row-level security.

Prints figures; never asserts on time. ``--rows`` detections (default 1,500,000: the
generator of ``bench_map_store.py``, random times over 30 days, positions over 21-28° E,
53.9-56.4° N, three partners with their markings) are ingested into a throwaway cluster
(``tests/pg_util.py``) and analysed. Then, as the app's role (not a superuser, row-level
security forced) stating viewer LVA, for a 0.5° x 0.3° box, the 1° x 0.5° view of
``bench_map_store.py``, a 6° x 2° box over most rows and the world, over all time, 5 days
and a day: ``EXPLAIN ANALYZE`` of the count :func:`geo.store.map_points` runs (the extent's
``fine_cell`` key ranges, :mod:`geo.store.postgres.extent`, when they pay) and of the same
count with ``geom && ST_MakeEnvelope(...)`` in their place (what the store ran before: the
GiST index cannot serve it under forced row-level security). Median of ``--runs``
execution times (ms), the time of the ranges' decision, and the indexes each plan used.
Last, :func:`geo.store.map_points` for the view over a day and the month (wall ms), with
the ranges and without them (as before, less the ``&&`` test).

Run: ``.venv/bin/python bench/bench_pg_extent.py [--rows N] [--runs R]``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from geo import store  # noqa: E402
from geo.access.releasability import postgres_where  # noqa: E402
from geo.store import Extent  # noqa: E402
from geo.store.postgres import map_query as pg_map  # noqa: E402
from geo.store.postgres.connection import connect  # noqa: E402

T0 = pd.Timestamp("2026-11-01", tz="UTC").value // 1000
DAY_US = 86_400_000_000
BOXES = {
    "0.5x0.3": (24.2, 55.1, 24.7, 55.4),
    "view 1x0.5": (24.0, 55.0, 25.0, 55.5),
    "6x2": (21.5, 54.0, 27.5, 56.0),
    "world": (-180.0, -90.0, 180.0, 90.0),
}
WINDOWS = {
    "all time": (None, None),
    "5 days": (T0 + 10 * DAY_US, T0 + 15 * DAY_US - 1),
    "a day": (T0 + 10 * DAY_US, T0 + 11 * DAY_US - 1),
}


def _gist(where: str, boxes: list[tuple[float, float, float, float]]) -> str:
    """``where`` with ``geom && ST_MakeEnvelope`` of the boxes (the store's query before)."""
    envelopes = " OR ".join(
        f"geom && ST_MakeEnvelope({w}, {s}, {e}, {n}, 4326)" for w, s, e, n in boxes
    )
    return f"{where} AND ({envelopes})"


def _count(url: str, box: tuple[float, ...], window: tuple, runs: int, *, ranges: bool) -> str:
    """Median execution time of the count, the decision's time and the plan's indexes."""
    boxes = Extent(*box).boxes()
    where0, params = pg_map._where(*window, "sample", boxes)
    where0 += f" AND {postgres_where(['LVA'])}"
    conn = connect(url)
    spent, decided, used = [], [], set()
    try:
        for _ in range(runs):
            with conn.transaction(["LVA"]):
                conn.tune_reads()  # as the map's reads: JIT off
                start = time.perf_counter()
                where = (
                    pg_map._candidates(conn, where0, params, boxes)
                    if ranges
                    else _gist(where0, boxes)
                )
                decided.append((time.perf_counter() - start) * 1000)
                plan = "\n".join(
                    r[0]
                    for r in conn.execute(
                        f"EXPLAIN ANALYZE SELECT count(*) FROM detections WHERE {where}", params
                    ).fetchall()
                )
            spent.append(float(re.search(r"Execution Time: ([\d.]+)", plan).group(1)))
            used |= set(re.findall(r"((?:Bitmap )?Index Scan (?:on|using) \w+|Seq Scan)", plan))
    finally:
        conn.close()
    return (
        f"{statistics.median(spent):8.1f} ms (decision {statistics.median(decided):5.1f} ms) "
        f"{', '.join(sorted(used))}"
    )


def main() -> None:
    """Ingest, analyse, measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import bench_map_store
    import pg_util

    reason = pg_util.why_unavailable()
    if reason is not None:
        print(f"PostGIS: skipped ({reason})")
        return
    with pg_util.running_cluster() as cluster:
        url = cluster.create_database("benchextent")
        seconds = bench_map_store._ingest(url, args.rows, 500_000)
        cluster.psql("ANALYZE detections", database="benchextent")
        print(f"ingest of {args.rows:,} rows: {seconds:.1f} s")
        for name, box in BOXES.items():
            for label, window in WINDOWS.items():
                for how, ranges in (("fine_cell ranges", True), ("&& (before)", False)):
                    got = _count(url, box, window, args.runs, ranges=ranges)
                    print(f"count {name:11s} {label:8s} {how:16s} {got}", flush=True)
        _points(url, args.runs)


def _points(url: str, runs: int) -> None:
    """map_points for the view, with the ranges and without (as before, less the && test)."""
    import bench_map_store

    find = pg_map.with_candidates
    for how, candidates in (("fine_cell ranges", find), ("no ranges", lambda c, w, p, b: w)):
        pg_map.with_candidates = candidates  # type: ignore[assignment]
        for label, (tf, tt) in (("a day", bench_map_store.DAY), ("month", bench_map_store.MONTH)):
            walls = []
            for _ in range(runs):
                start = time.perf_counter()
                got = store.map_points(
                    url, ["LVA"], time_from=tf, time_to=tt, extent=bench_map_store.VIEW
                )
                walls.append((time.perf_counter() - start) * 1000)
            print(
                f"map_points view {label:5s} {how:16s} {statistics.median(walls):6.0f} ms "
                f"(total {got.total:,})"
            )
    pg_map.with_candidates = find


if __name__ == "__main__":
    main()
