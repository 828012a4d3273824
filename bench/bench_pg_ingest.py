"""Benchmark: 1,000,000 detections written into a PostGIS store, next to the GeoPackage figure.

Prints figures; never asserts on time. The rows are made in memory (random times over 30
days, positions along the sample's border region, ids, sources, confidences), so what is
timed is :func:`geo.store.ingest` alone: the write (one transaction each; the PostgreSQL one
through binary ``COPY`` into a temporary table and one ``INSERT ... SELECT`` into
``detections``, see ``geo/store/postgres/bulk.py``) and its audit record, not reading a
file. Two uploads of ``--rows`` each, into a new store and then into the store holding the
first; then one partner's read of a one-day window and of all its rows, and the longest a
one-hour read took while the second upload ran (a reader waits for an upload that rebuilds
the indexes). ``--runs`` rounds (default 1), each on new stores, median shown.

PostgreSQL runs as a throwaway cluster (``tests/pg_util.py``) with ``fsync`` on: an upload
that returned is on disk, as the GeoPackage's ``synchronous=FULL`` promises.

``--before CHECKOUT`` (a checkout of the code before a change, e.g. ``git worktree add
/tmp/before main``) also runs the PostGIS uploads on that code, in a process of its own, on
the same rows and server, and prints both. ``--no-gpkg`` skips the GeoPackage. The machine's
load average is printed with the figures: wall times on shared cores depend on it.

Run: ``.venv/bin/python bench/bench_pg_ingest.py [--rows N] [--runs R] [--before CHECKOUT]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: The checkout measured: this one, or the one ``--before`` names.
ROOT = Path(os.environ.get("LIMES_BENCH_ROOT", Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

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


def _reader(target: str | Path, done: threading.Event, waits: list[float]) -> None:
    """Read one hour of detections again and again until ``done``; note each read's time."""
    while not done.is_set():
        t0 = time.perf_counter()
        store.visible_detections(
            target, "HR", time_from="2026-11-10T00:00:00Z", time_to="2026-11-10T01:00:00Z"
        )
        waits.append(time.perf_counter() - t0)
        time.sleep(0.2)


def _round(target: str | Path, rows: int, uploads: list[dict[str, object]]) -> dict[str, float]:
    times = {}
    for k, columns in enumerate(uploads):
        done, waits = threading.Event(), []  # a reader during the second upload
        reader = threading.Thread(target=_reader, args=(target, done, waits))
        if k:
            reader.start()
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
        if k:
            done.set()
            reader.join()
            times["longest read"] = max(waits)  # an hour's rows, while upload 2 ran
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


def _before(checkout: Path, url: str, rows: int) -> dict[str, float]:
    """:func:`_round` on the PostGIS store at ``url`` with the code of ``checkout``."""
    root = str(checkout.resolve())
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--rows", str(rows), "--url", url],
        check=True, cwd=root, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": root, "LIMES_BENCH_ROOT": root},
    )  # fmt: skip
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _load() -> str:
    return (
        "load average "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
        + f" on {os.cpu_count()} cores"
    )


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--before", type=Path, help="a checkout of the code before the change")
    ap.add_argument("--no-gpkg", action="store_true", help="measure PostGIS only")
    ap.add_argument("--url", help=argparse.SUPPRESS)  # --before's process: one round, JSON
    args = ap.parse_args()
    uploads = [_columns(args.rows, seed) for seed in (1, 2)]
    if args.url:
        print(json.dumps(_round(args.url, args.rows, uploads)))
        return
    reason = pg_util.why_unavailable()
    if reason is not None:
        print(f"skipped: {reason}")  # make bench goes on with the other benchmarks
        return
    names = ["PostGIS"] + ([] if args.before is None else ["PostGIS before"])
    names += [] if args.no_gpkg else ["GeoPackage"]
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    loads = []
    with pg_util.running_cluster(durable=True) as cluster, tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for name in names:
                loads.append(_load())
                if name == "GeoPackage":
                    steps = _round(Path(tmp) / f"bench{run}.gpkg", args.rows, uploads)
                elif name == "PostGIS":
                    steps = _round(cluster.create_database(f"bench{run}"), args.rows, uploads)
                else:
                    url = cluster.create_database(f"before{run}")
                    steps = _before(args.before, url, args.rows)
                for step, seconds in steps.items():
                    figures[name].setdefault(step, []).append(seconds)
    loads.append(_load())
    print(f"{args.rows:,} rows per upload, {args.runs} run(s), median (s and rows/s)")
    print("  " + "; ".join(dict.fromkeys(loads)))
    for name, steps in figures.items():
        for step, values in steps.items():
            median = statistics.median(values)
            rate = f"{args.rows / median:>12,.0f} rows/s" if step.startswith("upload") else ""
            print(f"  {name:<14} {step:<13} {median:8.2f} s {rate}")


if __name__ == "__main__":
    main()
