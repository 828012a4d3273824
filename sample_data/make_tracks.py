"""Build the sample scenario's tracks: drone sorties and foot patrols over the detections' week.

Three drones fly two 2-hour sorties a day each, back and forth at 30 m/s along 40 km of the
border over the two longest stretches no sensor watches (and one more), 500 m inside the
sectors' side, a fix every 20 s; two foot patrols walk 4-hour shifts twice a day at 1.4 m/s
along 6 km, a fix every 60 s. The times cover the detections' week (2026-11-01 to
2026-11-08, UTC). Deterministic: running it twice writes the same file.

Reads ``border.geojson``, ``sectors.geojson`` and ``sensors.csv``; writes ``tracks.csv``
(``track_id,time,lat,lon,partner,kind,range_m``)::

    .venv/bin/python sample_data/make_tracks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from geo.coverage import analyse  # noqa: E402
from geo.coverage.border import Border, prepare_border  # noqa: E402
from geo.inputs import read_border, read_sectors, read_sensors  # noqa: E402

OUT = HERE / "tracks.csv"
WEEK_START = pd.Timestamp("2026-11-01T00:00:00Z")
DAYS = 7

#: (track id, partner, kind, range m, speed m/s, stretch km, fix s, shift h, shift starts h)
TRACKS = (
    ("LTU-UAV-1", "LTU", "drone", 2000.0, 30.0, 40.0, 20.0, 2.0, (2.0, 14.0)),
    ("POL-UAV-1", "POL", "drone", 2000.0, 30.0, 40.0, 20.0, 2.0, (6.0, 19.0)),
    ("EU-UAV-1", "EU", "drone", 2000.0, 30.0, 40.0, 20.0, 2.0, (0.0, 11.0)),
    ("LVA-PATROL-1", "LVA", "patrol", 500.0, 1.4, 6.0, 60.0, 4.0, (8.0, 20.0)),
    ("LTU-PATROL-1", "LTU", "patrol", 500.0, 1.4, 6.0, 60.0, 4.0, (6.0, 18.0)),
)


def _centres_km(report: dict) -> list[float]:
    """Chainage (km) of the middles of the longest gaps, longest first, then spread points."""
    gaps = sorted(report["gaps"], key=lambda g: -g["length_km"])
    mids = [(g["start_km"] + g["end_km"]) / 2 for g in gaps]
    length = report["border"]["length_km"]
    return [*mids[:3], 0.25 * length, 0.7 * length]


def _inside_offset(
    b: Border, chain_m: np.ndarray, sectors_union: shapely.Geometry, offset_m: float
) -> np.ndarray:
    """Points ``offset_m`` off the border, on the side the sectors lie."""
    xy = b.point_at(chain_m)
    ahead = b.point_at(np.minimum(chain_m + 50.0, b.length_m.sum()))
    d = ahead - xy
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.maximum(np.hypot(*d.T), 1e-9)[:, None]
    left = xy + offset_m * normal
    inside = shapely.contains_xy(sectors_union, left[:, 0], left[:, 1])
    side = np.where(inside, 1.0, -1.0)
    return xy + (side * offset_m)[:, None] * normal


def main() -> int:
    """Write ``tracks.csv``."""
    border, _ = read_border(HERE / "border.geojson")
    sectors, _ = read_sectors(HERE / "sectors.geojson")
    sensors, _ = read_sensors(HERE / "sensors.csv")
    report = analyse(border, sensors, sectors=sectors).report
    b = prepare_border(border)
    union = shapely.union_all(
        [shapely.transform(g, lambda c: np.column_stack(b.acrs.to_proj.transform(*c.T)))
         for g in sectors.geometry]
    )  # fmt: skip
    total_m = float(b.length_m.sum())
    frames = []
    for (tid, partner, kind, range_m, speed, stretch_km, fix_s, shift_h, starts), centre in zip(
        TRACKS, _centres_km(report), strict=True
    ):
        half = stretch_km * 500.0
        lo = float(np.clip(centre * 1000.0 - half, 0.0, total_m - 2 * half))
        t_day = np.concatenate(
            [np.arange(s * 3600.0, (s + shift_h) * 3600.0 + 1, fix_s) for s in starts]
        )
        t = np.concatenate([t_day + d * 86_400.0 for d in range(DAYS)])
        period = 2 * 2 * half / speed
        phase = np.mod(t, period)
        s = lo + np.where(phase < period / 2, speed * phase, 2 * 2 * half - speed * phase)
        xy = _inside_offset(b, s, union, 500.0 if kind == "drone" else 200.0)
        lon, lat = b.acrs.to_lonlat.transform(xy[:, 0], xy[:, 1])
        frames.append(
            pd.DataFrame(
                {
                    "track_id": tid,
                    "time": (WEEK_START + pd.to_timedelta(t, unit="s")).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "lat": np.round(lat, 6),
                    "lon": np.round(lon, 6),
                    "partner": partner,
                    "kind": kind,
                    "range_m": int(range_m),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.to_csv(OUT, index=False, lineterminator="\n")
    print(f"{OUT.name}: {len(out):,} fixes in {out['track_id'].nunique()} tracks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
