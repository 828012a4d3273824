"""Benchmark: 1,000,000-row detection CSVs into the shared store, then one partner's query.

Prints figures; never asserts on time. Target (issue 5): 200,000 rows/s or better for the
whole ingest (read + validate, the file hashed alongside, + write: one transaction with
``synchronous=FULL``).

Two uploads are timed: the CSV :mod:`bench_load` writes (random times over 30 days, ids in
file order, partners SI and HR) into a new store, then another such file (other ids and
times) into the store that now holds the first. Each ingest runs in a fresh process, as
``python -m geo ingest`` does (imports not timed), so that writing the CSVs does not weigh
on it; ``--runs`` rounds of both (default 3), each on a new store, and the median is
reported with the range. ``--time-ordered`` writes the files sorted by time with ids in time
order, as a sensor log usually is. SI uploads both released to HR; then the time for
``visible_detections`` of one partner in a one-day window is measured (best of
``--repeat``), and for all of HR's rows. First, the peak virtual memory (address space)
and peak RSS of a one-row ``python -m geo ingest`` into a new store are printed.

Run: ``.venv/bin/python bench/bench_ingest.py [--rows N] [--runs R] [--repeat K]
[--time-ordered]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import write_detections_csv

from geo import store


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(db: Path, csv: Path) -> None:
    """One ingest as ``ingest_file`` does it, timed step by step; prints a JSON line."""
    t0 = time.perf_counter()
    detections, report, digest = store._read_file(csv, csv.name)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = store.ingest(db, detections, report, file_name=csv.name, sha256=digest,
                          partner="SI", releasable_to="HR", user="bench")
    t_write = time.perf_counter() - t0
    print(json.dumps({"read": t_read, "write": t_write,
                      "accepted": result.accepted, "duplicates": result.duplicates,
                      "rss_mb": _peak_rss_mb()}))


def _ingest(db: Path, csv: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", str(db), str(csv)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: ``python -m geo ARGS``, then the process's peak virtual memory and peak RSS (kB).
_PEAKS = """
import sys
from cli import main
status = main(sys.argv[1:])
peaks = dict(line.split(":") for line in open("/proc/self/status")
             if line.startswith(("VmPeak", "VmHWM")))
print("peaks", peaks["VmPeak"].split()[0], peaks["VmHWM"].split()[0], status)
"""


def _one_row_peaks(tmp: Path) -> None:
    """Peak virtual memory and RSS of a one-row ``python -m geo ingest`` into a new store."""
    csv = tmp / "one.csv"
    csv.write_text("time,detection_id,lat,lon\n2024-05-01T00:00:00Z,one,45.5,15.0\n")
    proc = subprocess.run([sys.executable, "-c", _PEAKS, "ingest", str(csv), "--store",
                           str(tmp / "one.gpkg"), "--partner", "SI"], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    _, vm_kb, rss_kb, status = proc.stdout.strip().splitlines()[-1].split()
    print(f"1-row python -m geo ingest (exit {status}): peak virtual memory "
          f"{int(vm_kb) / 1024:,.0f} MB, peak RSS {int(rss_kb) / 1024:,.0f} MB")


def _write_csv(path: Path, rows: int, *, seed: int, prefix: str, time_ordered: bool) -> None:
    write_detections_csv(path, rows, seed=seed)
    frame = pd.read_csv(path)
    if time_ordered:
        frame = frame.sort_values("time", kind="stable")
    frame["detection_id"] = [f"{prefix}{i}" for i in range(len(frame))]
    frame.to_csv(path, index=False)


def _report(what: str, rows: int, runs: list[dict]) -> None:
    totals = [r["read"] + r["write"] for r in runs]
    print(f"ingest {what}: {runs[0]['accepted']:,} accepted, {runs[0]['duplicates']} "
          f"duplicates; {len(runs)} runs, each in a fresh process")
    for key, label in (("read", "read + validate (+ sha256 alongside)"),
                       ("write", "write (1 txn)")):
        values = [r[key] for r in runs]
        print(f"  {label:36s} median {statistics.median(values):5.2f} s "
              f"(range {min(values):.2f}-{max(values):.2f})")
    med = statistics.median(totals)
    print(f"  {'total':36s} median {med:5.2f} s (range {min(totals):.2f}-{max(totals):.2f})"
          f"  ->  median {rows / med:,.0f} rows/s (range {rows / max(totals):,.0f}-"
          f"{rows / min(totals):,.0f}; target 200,000)")
    print(f"  peak RSS of an ingest {max(r['rss_mb'] for r in runs):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--time-ordered", action="store_true",
                        help="rows sorted by time, ids in time order (a sensor log)")
    parser.add_argument("--child", nargs=2, metavar=("STORE", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]))
        return

    with tempfile.TemporaryDirectory() as tmp:
        _one_row_peaks(Path(tmp))
        first, second = Path(tmp) / "detections.csv", Path(tmp) / "more.csv"
        t0 = time.perf_counter()
        _write_csv(first, args.rows, seed=0, prefix="d", time_ordered=args.time_ordered)
        _write_csv(second, args.rows, seed=7, prefix="e", time_ordered=args.time_ordered)
        shape = "time-ordered" if args.time_ordered else "random times, ids in file order"
        print(f"wrote 2 x {args.rows:,} rows ({shape}), {first.stat().st_size / 1e6:.0f} MB "
              f"each, in {time.perf_counter() - t0:.1f} s")

        into_new, into_full = [], []
        for run in range(args.runs):
            db = Path(tmp) / f"limes-{run}.gpkg"
            into_new.append(_ingest(db, first))
            into_full.append(_ingest(db, second))
            if run < args.runs - 1:
                for f in Path(tmp).glob(f"limes-{run}.gpkg*"):
                    f.unlink()
        _report("into a new store", args.rows, into_new)
        _report(f"into the store holding {args.rows:,} rows", args.rows, into_full)
        print(f"  store {db.stat().st_size / 1e6:.0f} MB with {2 * args.rows:,} rows")

        t0 = time.perf_counter()
        again = store.ingest_file(db, first, partner="SI")
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
    print(f"peak RSS of this process {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
