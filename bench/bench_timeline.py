"""Benchmark: the timeline over a week. Prints figures, asserts nothing.

Target (2-core machine, issue 18): 5 drones for a week with a fix every 5 s (604,800
positions) and the sample's 170 sensors with schedules and outages along the sample border,
geometric (no DEM): under 10 s.

    .venv/bin/python bench/bench_timeline.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.core.settings import SAMPLE_DIR
from geo.coverage.border import prepare_border
from geo.inputs import read_border, read_sensors, read_tracks
from geo.timeline import Window, prepare_tracks, timeline
from geo.timeline.watch import elementary_pieces, track_intervals

T0 = pd.Timestamp("2026-11-02T00:00:00Z")
DAYS = 7
FIX_S = 5.0
N_DRONES = 5
rng = np.random.default_rng(18)


def scheduled(sensors: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The sample's sensors with schedules (cameras by night, ground sensors by day) and
    a 2-hour outage on every radar each day at a different hour."""
    out = sensors.copy()
    kind = out["kind"].to_numpy()
    out["schedule"] = np.where(
        kind == "camera", "18:00-06:00", np.where(kind == "ground_sensor", "06:00-20:00", None)
    )
    outages = []
    for k in kind:
        if k != "radar":
            outages.append(None)
            continue
        h = int(rng.integers(0, 22))
        days = [T0 + pd.Timedelta(days=d, hours=h) for d in range(DAYS)]
        outages.append(
            ";".join(
                f"{d.isoformat()}/{(d + pd.Timedelta(hours=2)).isoformat()}".replace("+00:00", "Z")
                for d in days
            )
        )
    out["outages"] = outages
    return out


def drone_tracks(border: gpd.GeoDataFrame) -> pd.DataFrame:
    """5 drones, each back and forth along 60 km of the border at 25 m/s, 300 m off it."""
    b = prepare_border(border)
    total = float(b.length_m.sum())
    t = np.arange(0.0, DAYS * 86_400.0, FIX_S)
    frames = []
    for k in range(N_DRONES):
        c0 = (k + 0.5) * total / N_DRONES - 30_000.0
        period = 2 * 60_000.0 / 25.0
        phase = np.mod(t + k * 600.0, period)
        s = c0 + np.where(phase < period / 2, 25.0 * phase, 2 * 60_000.0 - 25.0 * phase)
        xy = b.point_at(s) + 300.0 * np.array([[0.6, 0.8]])
        lon, lat = b.acrs.to_lonlat.transform(xy[:, 0], xy[:, 1])
        frames.append(
            pd.DataFrame(
                {
                    "track_id": f"UAV-{k + 1}",
                    "time": (T0 + pd.to_timedelta(t, unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "lat": np.round(lat, 7),
                    "lon": np.round(lon, 7),
                    "partner": ["LTU", "LVA", "POL", "EU", "LTU"][k],
                    "kind": "drone",
                    "range_m": 2000.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    border, _ = read_border(SAMPLE_DIR / "border.geojson")
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    sensors = scheduled(sensors)
    table = drone_tracks(border)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drones.csv"
        table.to_csv(path, index=False)
        tic = time.perf_counter()
        tracks, _ = read_tracks(path)
        read_s = time.perf_counter() - tic
    print(f"tracks: {len(tracks):,} fixes in {tracks['track_id'].nunique()} tracks")
    print(f"  read and checked (CSV, {path.name}): {read_s:.2f} s")

    # Warm-up: numba compiles (or loads its cache) on the first call.
    tic = time.perf_counter()
    timeline(border, tracks=tracks.iloc[:100], time_from=T0, time_to=T0 + pd.Timedelta(hours=1))
    print(f"  first call (kernel compile or cache load): {time.perf_counter() - tic:.2f} s")

    end = T0 + pd.Timedelta(days=DAYS)
    tic = time.perf_counter()
    res = timeline(border, sensors=sensors, tracks=tracks, time_from=T0, time_to=end)
    total_s = time.perf_counter() - tic
    r = res.report
    print(
        f"timeline, {DAYS} days, {len(sensors)} scheduled sensors, {N_DRONES} drones: "
        f"{total_s:.2f} s (target < 10 s)"
    )
    print(
        f"  pieces: {len(res.pieces):,} (step {r['parameters']['chainage_step_m']} m), "
        f"watched intervals after merging: {res.watched.piece.size:,}"
    )
    print(
        f"  border {r['border']['length_km']:.1f} km: watched {r['border']['watched_pct']:.1f} %, "
        f"exposed (> 30 min) {r['border']['exposed_km']:.1f} km, "
        f"{len(r['stretches'])} stretches"
    )

    # Where the time goes: the tracks' preparation and the kernel alone.
    window = Window(T0, end)
    tic = time.perf_counter()
    prepared = prepare_tracks(tracks, res.scene.acrs, window)
    prep_s = time.perf_counter() - tic
    pieces = elementary_pieces(res.scene.border, np.empty(0), step_m=50.0)
    tic = time.perf_counter()
    pts, _, _ = track_intervals(pieces, prepared)
    kern_s = time.perf_counter() - tic
    print(
        f"  of which: tracks projected {prep_s:.2f} s; kernel {kern_s:.2f} s "
        f"({len(prepared) / kern_s / 1e6:.2f} M fixes/s, {pts.size:,} intervals)"
    )


if __name__ == "__main__":
    main()
