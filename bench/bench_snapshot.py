"""Benchmark: rendering a briefing snapshot of the sample scenario. Prints figures only.

Target: a snapshot (PNG or PDF) of the sample scenario in under 5 s. The analysis is done
once beforehand (the app has it cached); what is timed is :func:`layers.snapshot.snapshot_bytes`:
building the view's deck, drawing it and writing the file.

    .venv/bin/python bench/bench_snapshot.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.coverage.analysis import analyse  # noqa: E402
from geo.inputs.scenario import load_scenario  # noqa: E402
from layers.map import DEFAULT_OFF, LAYERS  # noqa: E402
from layers.snapshot import snapshot_bytes  # noqa: E402

RUNS = 3


def timed(label: str, runs: int = RUNS, **options) -> None:
    walls, cpus, size = [], [], 0
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        size = len(snapshot_bytes(**options))
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    print(
        f"{label:<44} median {statistics.median(walls):6.2f} s  (min {min(walls):5.2f} s, "
        f"CPU {statistics.median(cpus):5.2f} s)  {size / 1e6:5.2f} MB"
    )


def main() -> None:
    sc = load_scenario(ROOT / "sample_data")
    t0 = time.perf_counter()
    result = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)
    print(f"analysis (not part of a snapshot)            {time.perf_counter() - t0:6.2f} s")
    names = {p: v.get("name", p) for p, v in sc.partners.items()}
    common = {"result": result, "title": sc.name, "partner_names": names}
    timed("snapshot PNG, joint view", fmt="png", **common)
    timed("snapshot PDF (2 pages), joint view", fmt="pdf", **common)
    timed("snapshot PNG, partner view (LTU)", fmt="png", partner="LTU", **common)
    timed("snapshot PDF, partner view (LTU)", fmt="pdf", partner="LTU", **common)
    shown = (*[k for k in LAYERS if k not in DEFAULT_OFF], "hillshade")
    timed(
        "snapshot PNG with the terrain hillshade",
        runs=1,
        fmt="png",
        shown=shown,
        dem=sc.dem,
        **common,
    )


if __name__ == "__main__":
    main()
