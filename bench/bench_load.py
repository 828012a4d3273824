"""Benchmark: load a 1,000,000-row detection CSV with :func:`geo.inputs.loader.read_detections`.

Prints figures; never asserts on time. The performance contract is < 2 s on a 2-core
machine for ``detection_id,time,lat,lon,source,partner,class,confidence`` with ISO times
ending in ``Z``.

Run: ``.venv/bin/python bench/bench_load.py [--rows N] [--repeat K]``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.inputs.loader import read_detections, read_sensors


def write_detections_csv(path: Path, n_rows: int, *, seed: int = 0, dirty: bool = False) -> None:
    """Write ``n_rows`` synthetic detections near the Slovenia-Croatia border.

    ``dirty``: half the times without a zone, 1 % of confidences out of range and 0.1 % of
    times unparseable, so the slower paths (mixed zones, rejected rows) are measured too.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-05-01T00:00:00Z")
    times = start + pd.to_timedelta(rng.integers(0, 86_400 * 30, n_rows), unit="s")
    text = pd.Series(times.strftime("%Y-%m-%dT%H:%M:%SZ"))
    confidence = rng.uniform(0, 1, n_rows).round(3)
    if dirty:
        text[rng.random(n_rows) < 0.5] = text.str.rstrip("Z")
        text[rng.random(n_rows) < 0.001] = "not a time"
        confidence[rng.random(n_rows) < 0.01] = 87.0
    frame = pd.DataFrame(
        {
            "detection_id": [f"d{i}" for i in range(n_rows)],
            "time": text,
            "lat": rng.uniform(45.3, 46.5, n_rows).round(6),
            "lon": rng.uniform(13.6, 16.5, n_rows).round(6),
            "source": rng.choice(["radar-1", "cam-7", "patrol"], n_rows),
            "partner": rng.choice(["SI", "HR"], n_rows),
            "class": rng.choice(["person", "vehicle", "animal"], n_rows),
            "confidence": confidence,
        }
    )
    frame.to_csv(path, index=False)


def write_sensors_csv(path: Path, n_rows: int, *, seed: int = 1) -> None:
    """Write ``n_rows`` synthetic sensors (for a small second figure)."""
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "sensor_id": [f"s{i}" for i in range(n_rows)],
            "partner": rng.choice(["SI", "HR"], n_rows),
            "kind": rng.choice(["camera", "radar", "tower"], n_rows),
            "range_m": rng.uniform(500, 20_000, n_rows).round(1),
            "azimuth_deg": rng.uniform(0, 360, n_rows).round(1),
            "fov_deg": rng.choice([60.0, 120.0, 360.0], n_rows),
            "lat": rng.uniform(45.3, 46.5, n_rows).round(6),
            "lon": rng.uniform(13.6, 16.5, n_rows).round(6),
        }
    ).to_csv(path, index=False)


def _time(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall time of ``repeat`` calls; each result is freed outside the timed span."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
        del result
    return out


def main() -> None:
    """Generate the files, time the loaders, print rows/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        det = Path(tmp) / "detections.csv"
        write_detections_csv(det, args.rows)
        size_mb = det.stat().st_size / 1e6
        read_detections(det)  # warm-up (imports, caches)
        runs = _time(lambda: read_detections(det), args.repeat)
        best = min(runs)
        frame, report = read_detections(det)
        print(f"detections CSV: {args.rows:,} rows, {size_mb:.1f} MB")
        print("  runs (s): " + ", ".join(f"{r:.3f}" for r in runs))
        print(
            f"  best {best:.3f} s = {args.rows / best:,.0f} rows/s "
            f"({size_mb / best:.0f} MB/s); contract < 2 s: {'met' if best < 2 else 'NOT met'}"
        )
        print(
            f"  accepted {report.rows_accepted:,}, rejected {len(report.rejected):,}, "
            f"time dtype {frame['time'].dtype}"
        )
        t0 = time.perf_counter()
        del frame
        gc.collect()
        print(
            f"  (freeing the {args.rows:,} geometries afterwards takes "
            f"{time.perf_counter() - t0:.3f} s, not counted above)"
        )

        dirty = Path(tmp) / "detections_dirty.csv"
        write_detections_csv(dirty, args.rows, dirty=True)
        runs = _time(lambda: read_detections(dirty), args.repeat)
        _, report = read_detections(dirty)
        print(
            f"dirty detections CSV (half the times without zone, ~1.1 % rows rejected): "
            f"best {min(runs):.3f} s = {args.rows / min(runs):,.0f} rows/s; "
            f"rejected {len(report.rejected):,}, naive times {report.naive_times:,}"
        )

        sens = Path(tmp) / "sensors.csv"
        write_sensors_csv(sens, 10_000)
        runs = _time(lambda: read_sensors(sens), args.repeat)
        print(
            f"sensors CSV: 10,000 rows, best {min(runs):.3f} s = {10_000 / min(runs):,.0f} rows/s"
        )


if __name__ == "__main__":
    main()
