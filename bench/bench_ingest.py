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
and peak RSS of a one-row ``python -m geo ingest`` into a new store are printed; and the
peak RSS and virtual memory of reading the store in a fresh process (all of HR's rows, a
one-day window, the audit log), once it holds ``N`` rows and once ``2 * N``.

The speed tricks of :mod:`geo.store.bulk` (:class:`~geo.store.bulk.SpeedTricks`) can be
switched off here, and only here, to see what each gains: ``--without writer_thread,...``
runs every ingest without them; ``--compare [NAMES]`` runs, in each round, every ingest
once with all tricks (but those ``--without`` names) and once without each trick of NAMES
(default: all the others) in turn, in an order shuffled per round so that other load on
the machine weighs on all alike, and prints the median and best rows/s and write time of
each. ``page_size`` (a new
store's 64 KiB pages, :data:`geo.store.opening.PAGE_SIZE`) is switched off by creating the
empty store with SQLite's default 4 KiB pages first.

Run: ``.venv/bin/python bench/bench_ingest.py [--rows N] [--runs R] [--repeat K]
[--time-ordered] [--without NAMES] [--compare [NAMES]]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import resource
import sqlite3
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

from bench_load import write_detections_csv  # noqa: E402

from geo import store  # noqa: E402
from geo.store import bulk, upload  # noqa: E402

#: What ``--without`` may name: the fields of SpeedTricks, and the page size of a new store.
TRICKS = (*(f.name for f in dataclasses.fields(bulk.SpeedTricks)), "page_size")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(db: Path, csv: Path, without: list[str]) -> None:
    """One ingest as ``ingest_file`` does it, timed step by step; prints a JSON line."""
    bulk.TRICKS = bulk.SpeedTricks(**{name: False for name in without if name != "page_size"})
    if "page_size" in without and not db.exists():
        _small_pages(db)
    t0 = time.perf_counter()
    detections, report, digest = upload._read_file(csv, csv.name)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = store.ingest(
        db,
        detections,
        report,
        file_name=csv.name,
        sha256=digest,
        partner="SI",
        releasable_to="HR",
        user="bench",
    )
    t_write = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "read": t_read,
                "write": t_write,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rss_mb": _peak_rss_mb(),
            }
        )
    )


def _small_pages(db: Path) -> None:
    """An empty file with SQLite's default 4 KiB pages (the store keeps a file's page size)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("VACUUM")
    finally:
        conn.close()


def _ingest(db: Path, csv: Path, without: list[str] | tuple[str, ...] = ()) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(db), str(csv), ",".join(without)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
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
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _PEAKS,
            "ingest",
            str(csv),
            "--store",
            str(tmp / "one.gpkg"),
            "--partner",
            "SI",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    _, vm_kb, rss_kb, status = proc.stdout.strip().splitlines()[-1].split()
    print(
        f"1-row python -m geo ingest (exit {status}): peak virtual memory "
        f"{int(vm_kb) / 1024:,.0f} MB, peak RSS {int(rss_kb) / 1024:,.0f} MB"
    )


def _write_csv(path: Path, rows: int, *, seed: int, prefix: str, time_ordered: bool) -> None:
    write_detections_csv(path, rows, seed=seed)
    frame = pd.read_csv(path)
    if time_ordered:
        frame = frame.sort_values("time", kind="stable")
    frame["detection_id"] = [f"{prefix}{i}" for i in range(len(frame))]
    frame.to_csv(path, index=False)


def _report(what: str, rows: int, runs: list[dict]) -> None:
    totals = [r["read"] + r["write"] for r in runs]
    print(
        f"ingest {what}: {runs[0]['accepted']:,} accepted, {runs[0]['duplicates']} "
        f"duplicates; {len(runs)} runs, each in a fresh process"
    )
    for key, label in (
        ("read", "read + validate (+ sha256 alongside)"),
        ("write", "write (1 txn)"),
    ):
        values = [r[key] for r in runs]
        print(
            f"  {label:36s} median {statistics.median(values):5.2f} s "
            f"(range {min(values):.2f}-{max(values):.2f})"
        )
    med = statistics.median(totals)
    print(
        f"  {'total':36s} median {med:5.2f} s (range {min(totals):.2f}-{max(totals):.2f})"
        f"  ->  median {rows / med:,.0f} rows/s (range {rows / max(totals):,.0f}-"
        f"{rows / min(totals):,.0f}; target 200,000)"
    )
    print(f"  peak RSS of an ingest {max(r['rss_mb'] for r in runs):.0f} MB")


#: Reads the store argv[1] in a fresh process, then prints its peak virtual memory and RSS.
_READ_PEAKS = """
import sys
from geo import store  # noqa: E402
path = sys.argv[1]
n = len(store.visible_detections(path, "HR"))
day = len(store.visible_detections(path, "HR", time_from="2024-05-10", time_to="2024-05-11"))
log = len(store.uploads(path, "SI"))
peaks = dict(line.split(":") for line in open("/proc/self/status")
             if line.startswith(("VmPeak", "VmHWM")))
print("peaks", peaks["VmPeak"].split()[0], peaks["VmHWM"].split()[0], n, day, log)
"""


def _read_peaks(db: Path, rows: int) -> None:
    """Peak virtual memory and RSS of reading every row of the store in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", _READ_PEAKS, str(db)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    _, vm_kb, rss_kb, n, day, log = proc.stdout.strip().splitlines()[-1].split()
    print(
        f"read of the store of {rows:,} rows in a fresh process ({int(n):,} rows of HR, "
        f"{int(day):,} in one day, {log} uploads of SI): peak virtual memory "
        f"{int(vm_kb) / 1024:,.0f} MB, peak RSS {int(rss_kb) / 1024:,.0f} MB"
    )


def _compare(
    tmp: Path, first: Path, second: Path, rows: int, runs: int, tricks: list[str], base: list[str]
) -> None:
    """Each round: every variant (all tricks but ``base``, then without each of ``tricks``
    too, in an order shuffled per round) into a new store, then into that store holding
    the first file.

    Prints the median and the best of each variant's rows/s and write time: on a machine
    shared with other work the best run is the least disturbed one.
    """
    variants: list[tuple[str, ...]] = [(), *((name,) for name in tricks)]
    if base:
        print(f"every run without: {', '.join(base)}")
    results: dict[tuple[str, ...], dict[str, list[dict]]] = {
        v: {"new": [], "full": []} for v in variants
    }
    shuffle = random.Random(15)
    for run in range(runs):
        for variant in shuffle.sample(variants, len(variants)):
            db = tmp / f"compare-{run}-{'-'.join(variant) or 'all'}.gpkg"
            results[variant]["new"].append(_ingest(db, first, (*base, *variant)))
            results[variant]["full"].append(_ingest(db, second, (*base, *variant)))
            for f in tmp.glob(f"{db.name}*"):
                f.unlink()
        print(f"round {run + 1} of {runs} done", flush=True)
    print(
        f"\nrows/s of the whole ingest, median and best of {runs} runs, and the median and "
        "best time of writing (1 transaction); target 200,000 rows/s"
    )
    for key, what in (("new", "into a new store"), ("full", f"into a store of {rows:,} rows")):
        print(f"{what}:")
        for variant in variants:
            done = results[variant][key]
            totals = [rows / (r["read"] + r["write"]) for r in done]
            writes = [r["write"] for r in done]
            label = (
                "all tricks" + (" but those" if base else "")
                if not variant
                else f"without {variant[0]}"
            )
            print(
                f"  {label:26s} {statistics.median(totals):>9,.0f} rows/s (best "
                f"{max(totals):>9,.0f})   write {statistics.median(writes):5.2f} s "
                f"(best {min(writes):5.2f} s)"
            )
    print("raw: " + json.dumps({"-".join(v) or "all": results[v] for v in variants}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--time-ordered",
        action="store_true",
        help="rows sorted by time, ids in time order (a sensor log)",
    )
    parser.add_argument(
        "--without",
        default="",
        help=f"speed tricks to switch off, comma-separated: {', '.join(TRICKS)}",
    )
    parser.add_argument(
        "--compare",
        nargs="?",
        const="all",
        default=None,
        help="each round: all tricks (but --without), then without each of "
        "these (comma-separated; default all) in turn",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("STORE", "CSV", "WITHOUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]), [w for w in args.child[2].split(",") if w])
        return
    without = [w for w in args.without.split(",") if w]
    unknown = sorted(set(without) - set(TRICKS))
    if unknown:
        parser.error(f"--without: unknown trick(s) {unknown}; expected some of {list(TRICKS)}")

    with tempfile.TemporaryDirectory() as tmp:
        _one_row_peaks(Path(tmp))
        first, second = Path(tmp) / "detections.csv", Path(tmp) / "more.csv"
        t0 = time.perf_counter()
        _write_csv(first, args.rows, seed=0, prefix="d", time_ordered=args.time_ordered)
        _write_csv(second, args.rows, seed=7, prefix="e", time_ordered=args.time_ordered)
        shape = "time-ordered" if args.time_ordered else "random times, ids in file order"
        print(
            f"wrote 2 x {args.rows:,} rows ({shape}), {first.stat().st_size / 1e6:.0f} MB "
            f"each, in {time.perf_counter() - t0:.1f} s"
        )

        if args.compare:
            others = (
                [t for t in TRICKS if t not in without]
                if args.compare == "all"
                else [w for w in args.compare.split(",") if w]
            )
            if set(others) - set(TRICKS):
                parser.error(f"--compare: expected some of {list(TRICKS)}")
            _compare(Path(tmp), first, second, args.rows, args.runs, others, without)
            return
        if without:
            print(f"without: {', '.join(without)}")
        into_new, into_full = [], []
        for run in range(args.runs):
            db = Path(tmp) / f"limes-{run}.gpkg"
            into_new.append(_ingest(db, first, without))
            if run == args.runs - 1:
                _read_peaks(db, args.rows)
            into_full.append(_ingest(db, second, without))
            if run < args.runs - 1:
                for f in Path(tmp).glob(f"limes-{run}.gpkg*"):
                    f.unlink()
        _report("into a new store", args.rows, into_new)
        _report(f"into the store holding {args.rows:,} rows", args.rows, into_full)
        print(f"  store {db.stat().st_size / 1e6:.0f} MB with {2 * args.rows:,} rows")

        t0 = time.perf_counter()
        again = store.ingest_file(db, first, partner="SI")
        print(
            f"re-upload of the same file: recognised={again.already_uploaded}, "
            f"{time.perf_counter() - t0:.2f} s (the file is read and validated again)"
        )

        start = pd.Timestamp("2024-05-10T00:00:00Z")
        for viewer in ("SI", "HR", "PL"):
            best = float("inf")
            n = 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                seen = store.visible_detections(
                    db, [viewer], time_from=start, time_to=start + pd.Timedelta(days=1)
                )
                best = min(best, time.perf_counter() - t0)
                n = len(seen)
            print(
                f"visible_detections({viewer!r}, one day): {n:,} rows in "
                f"{best * 1000:.0f} ms (best of {args.repeat})"
            )
        t0 = time.perf_counter()
        everything = store.visible_detections(db, ["HR"])
        print(
            f"visible_detections('HR', no window): {len(everything):,} rows in "
            f"{time.perf_counter() - t0:.2f} s"
        )
        del everything
        _read_peaks(db, 2 * args.rows)
    print(f"peak RSS of this process {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
