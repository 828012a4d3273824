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
    from layers.snapshot.coverage_over_time import over_time
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
    tau = args.crossing_time_min
    drawn = over_time(
        colors=colors,
        partner=partner,
        timezone=timezone,
        tracks=lt.track_lines(tracks),
        exposed=lt.with_length(exposed_layer(tl, tau)) if args.exposure else None,
        crossing_time_min=tau,
        moment=moment(tl, at) if at is not None else None,
        centre_deg=result.acrs.lon_centre_deg,  # drawn as the analysis' layers are
    )
    summary = dict(drawn.summary)
    if "exposure" in summary:
        p = tl.report["parameters"]
        summary["exposure"] = {
            "time_from": p["time_from"],
            "time_to": p["time_to"],
            **summary["exposure"],
            "report_exposed_km": tl.report["border"]["exposed_km"],
        }
    return {"layers": drawn.layers, "note": drawn.note, "summary": summary}
