"""Benchmark: 1,000,000-row detection CSVs into the shared store, then one partner's query.

Prints figures; never asserts on time. Target (issue 5): 200,000 rows/s or better for the
whole ingest (read + validate + write, one transaction with ``synchronous=FULL``).

Two uploads are timed: the CSV :mod:`bench_load` writes (random times over 30 days, ids in
file order, partners SI and HR) into a new store, then another such file (other ids and
times) into the store that now holds the first. ``--time-ordered`` writes the first sorted
by time with ids in time order, as a sensor log usually is. SI uploads both released to
HR; then the time for ``visible_detections`` of one partner in a one-day window is
measured (best of ``--repeat``), and for all of HR's rows.

Run: ``.venv/bin/python bench/bench_ingest.py [--rows N] [--repeat K] [--time-ordered]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import write_detections_csv

from geo import store
from geo.io import read_detections


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_ingest(db: Path, csv: Path, rows: int, what: str) -> None:
    """Read, hash and write one file as ``ingest_file`` does, timing each step."""
    t0 = time.perf_counter()
    detections, report = read_detections(csv)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    digest = store._sha256(csv)
    t_hash = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = store.ingest(db, detections, report, file_name=csv.name, sha256=digest,
                          partner="SI", releasable_to="HR", user="bench")
    t_write = time.perf_counter() - t0
    total = t_read + t_hash + t_write
    print(f"ingest {what}: {result.accepted:,} accepted, {result.rejected} rejected, "
          f"{result.duplicates} duplicates")
    print(f"  read + validate {t_read:6.2f} s   ({rows / t_read:,.0f} rows/s)")
    print(f"  sha256          {t_hash:6.2f} s")
    print(f"  write (1 txn)   {t_write:6.2f} s   ({rows / t_write:,.0f} rows/s)")
    print(f"  total           {total:6.2f} s   ({rows / total:,.0f} rows/s; target 200,000)")
    print(f"  store {db.stat().st_size / 1e6:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--time-ordered", action="store_true",
                        help="rows sorted by time, ids in time order (a sensor log)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "detections.csv"
        t0 = time.perf_counter()
        write_detections_csv(csv, args.rows)
        if args.time_ordered:
            frame = pd.read_csv(csv).sort_values("time", kind="stable")
            frame["detection_id"] = [f"d{i}" for i in range(len(frame))]
            frame.to_csv(csv, index=False)
        shape = "time-ordered" if args.time_ordered else "random times, ids in file order"
        print(f"wrote {args.rows:,} rows ({shape}), {csv.stat().st_size / 1e6:.0f} MB, in "
              f"{time.perf_counter() - t0:.1f} s")

        db = Path(tmp) / "limes.gpkg"
        _timed_ingest(db, csv, args.rows, "into a new store")
        second = Path(tmp) / "more.csv"
        write_detections_csv(second, args.rows, seed=7)
        frame = pd.read_csv(second)
        frame["detection_id"] = "e" + frame["detection_id"]
        frame.to_csv(second, index=False)
        _timed_ingest(db, second, args.rows, f"into the store holding {args.rows:,} rows")

        t0 = time.perf_counter()
        again = store.ingest_file(db, csv, partner="SI")
        print(f"re-upload of the same file: recognised={again.already_uploaded}, "
              f"{time.perf_counter() - t0:.2f} s (the file is read and validated again)")

        start = pd.Timestamp("2024-05-10T00:00:00Z")
        for viewer in ("SI", "HR", "PL"):
            best = float("inf")
            n = 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                seen = store.visible_detections(db, [viewer], time_from=start,
                                                time_to=start + pd.Timedelta(days=1))
                best = min(best, time.perf_counter() - t0)
                n = len(seen)
            print(f"visible_detections({viewer!r}, one day): {n:,} rows in "
                  f"{best * 1000:.0f} ms (best of {args.repeat})")
        t0 = time.perf_counter()
        everything = store.visible_detections(db, ["HR"])
        print(f"visible_detections('HR', no window): {len(everything):,} rows in "
              f"{time.perf_counter() - t0:.2f} s")
    print(f"peak RSS {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
