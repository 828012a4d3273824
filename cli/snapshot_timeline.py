"""``snapshot --at`` and ``--exposure``: the timeline's layers for a snapshot, and its summary.

The timeline is computed as ``python -m geo timeline`` computes it (flat footprints, the
sensors' schedules and outages, ``--tracks``), so the figures printed equal that command's
for the same window and crossing time.
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from cli.options import load_layers
from geo.core.errors import ValidationError, describe
from geo.core.times import zone_text


def _window(args: argparse.Namespace, result: Any, at: pd.Timestamp | None) -> tuple[Any, Any]:
    """The timeline's window: around the moment, else --time-from/--time-to or the detections'."""
    if at is not None and not args.exposure:
        # Any window holding the moment gives the same moment; an hour before it is cheap.
        return at - pd.Timedelta(hours=1), at + pd.Timedelta(minutes=1)
    t0, t1 = args.time_from, args.time_to
    det = getattr(result, "all_detections", None)
    if (t0 is None or t1 is None) and det is not None and len(det):
        t0 = t0 or det["time"].min()
        t1 = t1 or det["time"].max()
    if t0 is None or t1 is None:
        raise ValidationError(
            describe(
                "--exposure",
                "the exposure map needs a time window",
                expected="--time-from and --time-to (ISO 8601), or --detections to take their span",
                got=None,
            )
        )
    return t0, t1


def timeline_layers(
    args: argparse.Namespace,
    result: Any,
    at: pd.Timestamp | None,
    *,
    partner: str | None,
    timezone: str,
) -> dict[str, Any]:
    """The layers (by id), the subtitle's note and the summary of ``--at`` / ``--exposure``."""
    from geo.inputs import read_tracks
    from geo.timeline import exposed_layer, moment, timeline
    from layers import timeline as lt
    from layers.style import partner_colors

    border, sensors, sectors, _, _ = load_layers(args)
    tracks = read_tracks(args.tracks)[0] if args.tracks else None
    t0, t1 = _window(args, result, at)
    tl = timeline(
        border,
        sensors=sensors,
        tracks=tracks,
        sectors=sectors,
        time_from=t0,
        time_to=t1,
        crossing_time_min=args.crossing_time_min,
        max_fix_gap_s=args.max_fix_gap_s,
        track_range_m=args.track_range_m,
        track_partner=args.track_partner,
    )
    colors = partner_colors(result.report["partners"], result.partner_colours)
    layers: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    notes = []
    lines = lt.track_lines(tracks)
    if len(lines):
        layers["tracks"] = lt.tracks_layer(lines, colors, highlight=partner)
    summary["tracks"] = sorted(lines["track_id"].astype(str))
    if args.exposure:
        tau = args.crossing_time_min
        exposed = lt.with_length(exposed_layer(tl, tau))
        layers["exposed"] = lt.exposure_layer(exposed, tau)
        km = lt.exposed_km(exposed)
        p = tl.report["parameters"]
        summary["exposure"] = {
            "time_from": p["time_from"],
            "time_to": p["time_to"],
            "crossing_time_min": tau,
            "exposed_km": round(km, 6),
            "report_exposed_km": tl.report["border"]["exposed_km"],
            "stretches": len(exposed),
        }
        notes.append(f"amber: border exposed longer than {tau:g} min ({km:,.1f} km)")
    if at is not None:
        m = moment(tl, at)
        layers.update(lt.moment_layers(m, colors, highlight=partner, tz=timezone))
        summary["moment"] = {
            "at": m.when.isoformat().replace("+00:00", "Z"),
            "watched_pct": round(m.watched_pct, 4),
            "watched_km": round(m.watched_km, 6),
            "active_sensors": m.active_ids,
            "inactive_sensors": [str(s) for s in m.sensor_ids[~m.active]],
            "tracks_watching": sorted(m.positions["track_id"].astype(str)),
        }
        notes.insert(
            0,
            f"moment {zone_text(m.when, timezone)} {timezone}: "
            f"{m.watched_pct:.1f} % of the border watched",
        )
    return {"layers": layers, "note": " · ".join(notes) or None, "summary": summary}
