"""Benchmark: one step of the Map page's playback on the sample. Prints figures, asserts nothing.

A playback step computes the moment (``geo.timeline.moment``: sensors on their schedules,
tracks' positions and footprints, the border watched), classifies the step's detections at
their own time (``geo.timeline.detections_watched``: the metrics row's "Unwatched then"),
builds its deck layers (``layers.timeline.moment_layers``), adds them to the view's deck
(``with_layers``) and serialises the deck to the JSON the browser receives. The timeline
over the week is computed once per terrain setting (the app caches it); both times are
printed, flat and over the sample's DEM ("Line of sight over terrain", the page's default).
The steps run over the DEM.

    .venv/bin/python bench/bench_playback.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.core.settings import SAMPLE_DIR
from geo.coverage.analysis import analyse
from geo.inputs import load_scenario
from geo.timeline import detections_watched, moment, timeline
from layers import timeline as lt
from layers.map import build_map
from layers.style import partner_colors

STEPS = 24


def main() -> None:
    """Time the timeline once, then a day of hourly playback steps."""
    sc = load_scenario(SAMPLE_DIR)
    for dem in (None, sc.dem):
        t = time.perf_counter()
        tl = timeline(
            sc.border,
            sensors=sc.sensors,
            tracks=sc.tracks,
            sectors=sc.sectors,
            time_from="2026-11-01T00:00Z",
            time_to="2026-11-08T00:00Z",
            dem=dem,
        )
        how = "flat" if dem is None else "over the DEM"
        print(f"timeline over the week, {how} (once, cached): {time.perf_counter() - t:.2f} s")
    result = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)
    colors = partner_colors(result.report["partners"], result.partner_colours)
    hour = pd.Timedelta(hours=1)
    totals = {"moment": 0.0, "unwatched then": 0.0, "layers": 0.0, "deck + JSON": 0.0}
    size = 0
    for i in range(STEPS):
        when = pd.Timestamp("2026-11-02T00:00Z") + i * hour
        view = result.windowed(when - hour, when)
        base = build_map(view)
        base.to_json()  # the app caches the view's deck and its JSON
        t = time.perf_counter()
        m = moment(tl, when)
        t0 = time.perf_counter()
        detections_watched(tl, view.layers["detections"])
        t1 = time.perf_counter()
        layers = lt.moment_layers(m, colors)
        t2 = time.perf_counter()
        size = len(lt.with_layers(base, layers).to_json())
        t3 = time.perf_counter()
        totals["moment"] += t0 - t
        totals["unwatched then"] += t1 - t0
        totals["layers"] += t2 - t1
        totals["deck + JSON"] += t3 - t2
    for name, total in totals.items():
        print(f"{name:>14}: {1000 * total / STEPS:7.1f} ms per step")
    print(
        f"{'total':>14}: {1000 * sum(totals.values()) / STEPS:7.1f} ms per step "
        f"({STEPS} hourly steps; deck JSON {size / 1e6:.2f} MB)"
    )


if __name__ == "__main__":
    main()
