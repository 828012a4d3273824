"""Benchmark: 1,000,000 detections written into a PostGIS store, next to the GeoPackage figure.

Prints figures; never asserts on time. The rows are made in memory (random times over 30
days, positions along the sample's border region, ids, sources, confidences), so what is
timed is :func:`geo.store.ingest` alone: the write (one transaction each, the PostgreSQL
one through binary ``COPY`` and an ``INSERT ... ON CONFLICT DO NOTHING`` into the indexed
table) and its audit record, not reading a file. Two uploads of ``--rows`` each, into a new
store and then into the store holding the first; then one partner's read of a one-day
window and of all its rows. ``--runs`` rounds (default 1), each on new stores, median shown.

PostgreSQL runs as a throwaway cluster (``tests/pg_util.py``) with ``fsync`` on: an upload
that returned is on disk, as the GeoPackage's ``synchronous=FULL`` promises.

Run: ``.venv/bin/python bench/bench_pg_ingest.py [--rows N] [--runs R]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pg_util  # noqa: E402

from geo import store  # noqa: E402
from geo.inputs.loader import LoadReport  # noqa: E402


def _columns(n: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "time": pd.Timestamp("2026-11-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 30 * 86_400_000_000, size=n), unit="us"),
        "lon": rng.uniform(21.0, 28.0, size=n),
        "lat": rng.uniform(53.9, 56.4, size=n),
        "detection_id": pd.array([f"B{seed}-{i:07d}" for i in range(n)], dtype="str"),
        "source": pd.array(rng.choice(["radar-1", "radar-2", "patrol"], size=n), dtype="str"),
        "confidence": rng.uniform(0, 1, size=n),
    }


def _report(n: int) -> LoadReport:
    return LoadReport(
        source="bench.csv",
        layer="detections",
        format="CSV",
        source_crs="EPSG:4326",
        rows_read=n,
        rows_accepted=n,
    )


def _round(target: str | Path, rows: int, uploads: list[dict[str, object]]) -> dict[str, float]:
    times = {}
    for k, columns in enumerate(uploads):
        t0 = time.perf_counter()
        result = store.ingest(
            target,
            columns,
            _report(rows),
            file_name=f"bench{k}.csv",
            sha256=f"{k + 1:064x}",
            partner="SI",
            releasable_to="HR",
        )
        times[f"upload {k + 1}"] = time.perf_counter() - t0
        assert result.accepted == rows, result.to_dict()
    t0 = time.perf_counter()
    day = store.visible_detections(
        target, "HR", time_from="2026-11-10T00:00:00Z", time_to="2026-11-10T23:59:59Z"
    )
    times["read one day"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    every = store.visible_detections(target, "HR")
    times["read all"] = time.perf_counter() - t0
    assert len(every) == 2 * rows
    assert 0 < len(day) < len(every)
    return times


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    reason = pg_util.why_unavailable()
    if reason is not None:
        print(f"skipped: {reason}")  # make bench goes on with the other benchmarks
        return
    uploads = [_columns(args.rows, seed) for seed in (1, 2)]
    figures: dict[str, dict[str, list[float]]] = {"GeoPackage": {}, "PostGIS": {}}
    with pg_util.running_cluster(durable=True) as cluster, tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            targets = {
                "GeoPackage": Path(tmp) / f"bench{run}.gpkg",
                "PostGIS": cluster.create_database(f"bench{run}"),
            }
            for name, target in targets.items():
                for step, seconds in _round(target, args.rows, uploads).items():
                    figures[name].setdefault(step, []).append(seconds)
    print(f"{args.rows:,} rows per upload, {args.runs} run(s), median (s and rows/s)")
    for name, steps in figures.items():
        for step, values in steps.items():
            median = statistics.median(values)
            rate = f"{args.rows / median:>12,.0f} rows/s" if step.startswith("upload") else ""
            print(f"  {name:<11} {step:<13} {median:8.2f} s {rate}")


if __name__ == "__main__":
    main()
