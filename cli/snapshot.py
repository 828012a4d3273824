"""``python -m geo snapshot``: a briefing snapshot of the map (PNG or PDF), without a browser."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.options import add_analysis_args, finite_float, load_and_analyse
from geo.core import settings
from geo.core.errors import ValidationError


def register(sub: Any) -> None:
    """Add the ``snapshot`` command."""
    s = sub.add_parser(
        "snapshot",
        help="a briefing snapshot of the map (PNG or PDF), rendered without a browser",
        description="Run the analysis and render the map with legend, scale bar, north arrow, "
        "parameters, headline numbers and classification banners as a PNG "
        "(2,600 px wide, 200 dpi) or a PDF (landscape, page 2: gap table and per-sector coverage). "
        "Prints a JSON summary.",
    )
    add_analysis_args(s)
    s.add_argument("--partner", help="render this partner's view (default: the joint view)")
    s.add_argument("--title", help="title printed above the map")
    s.add_argument(
        "--banner",
        default=settings.BANNER,
        help=f"classification banner, top and bottom (default {settings.BANNER!r})",
    )
    s.add_argument(
        "--timezone",
        help="IANA time zone the detection window is printed in (default: the operation's "
        "with --operation, else UTC)",
    )
    s.add_argument("--out", required=True, type=Path, help="FILE.png or FILE.pdf")
    _add_timeline_args(s)
    s.set_defaults(run=run)


def _add_timeline_args(s: argparse.ArgumentParser) -> None:
    """Coverage over time: ``--at`` (one moment), ``--exposure`` and the tracks they draw."""
    t = s.add_argument_group(
        "coverage over time",
        "sensors on their schedules and outages, drones and patrols along --tracks "
        "(as python -m geo timeline, flat footprints)",
    )
    t.add_argument(
        "--at",
        help="render one moment (ISO 8601): the border watched then, the footprints of the "
        "sensors active then, drones and patrols where they were with their range, and the "
        "detections of the --moment-min before it",
    )
    t.add_argument(
        "--moment-min",
        type=finite_float,
        default=60.0,
        help="with --at and no --time-from/--time-to: the detections of this many minutes "
        "up to the moment (default 60, the app's playback step)",
    )
    t.add_argument(
        "--exposure",
        action="store_true",
        help="render the exposure map: border unwatched longer than --crossing-time-min "
        "within --time-from/--time-to (default: the detections' span), and the tracks",
    )
    t.add_argument(
        "--crossing-time-min",
        type=finite_float,
        default=settings.CROSSING_TIME_MIN,
        help=f"with --exposure: time an intruder needs to cross, min "
        f"(default {settings.CROSSING_TIME_MIN:g})",
    )
    t.add_argument("--tracks", type=Path, help="tracks of drones and patrols (GPX, KML, CSV)")
    t.add_argument(
        "--max-fix-gap-s",
        type=finite_float,
        default=settings.MAX_FIX_GAP_S,
        help=f"a track silent longer than this is not watching, s "
        f"(default {settings.MAX_FIX_GAP_S:g})",
    )
    t.add_argument(
        "--track-range-m", type=finite_float, help="range of tracks whose file gives none, m"
    )
    t.add_argument("--track-partner", help="partner of tracks whose file names none")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Analyse the inputs named by ``args``, render the snapshot and return its summary.

    Raises
    ------
    ValidationError
        When ``--out`` does not end in ``.png`` or ``.pdf``, or ``--partner`` is unknown.
    """
    from geo.core.times import check_timezone
    from geo.coverage import JOINT
    from layers.map import DEFAULT_OFF, LAYERS
    from layers.snapshot import render_snapshot, resolve_format

    out = Path(args.out)
    fmt = resolve_format(out, None, flag="--out")
    at = _moment_window(args)
    result, _ = load_and_analyse(args)
    timezone = check_timezone(args.timezone or args.operation_timezone, "--timezone")
    partner = args.partner
    if partner not in (None, JOINT) and partner not in result.report["partners"]:
        raise ValidationError(
            f"--partner: unknown partner {partner!r}; expected one of: "
            f"{', '.join(sorted(result.report['partners'])) or '(none)'}"
        )
    shown = [k for k in LAYERS if k not in DEFAULT_OFF or (k == "hillshade" and args.dem)]
    over_time: dict[str, Any] = {}
    if at is not None or args.exposure:
        from cli.snapshot_timeline import timeline_layers

        over_time = timeline_layers(args, result, at, partner=partner, timezone=timezone)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fh:
            summary: dict[str, Any] = render_snapshot(
                result,
                out=fh,
                fmt=fmt,
                partner=partner,
                shown=shown,
                title=args.title,
                banner=args.banner,
                dem=args.dem,
                partner_names=args.partner_names,
                timezone=timezone,
                timeline_layers=over_time.get("layers"),
                note=over_time.get("note"),
            )
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    summary["out"] = str(out)
    if over_time:
        summary["timeline"] = over_time["summary"]
    return summary


def _moment_window(args: argparse.Namespace) -> Any:
    """``--at`` as a UTC time (None without it); its detections' window when none is given."""
    import pandas as pd

    from geo.core.times import parse_utc

    if args.at is None:
        return None
    at = parse_utc(args.at, "--at")
    if at is not None and args.time_from is None and args.time_to is None:
        args.time_from = (at - pd.Timedelta(minutes=args.moment_min)).isoformat()
        args.time_to = at.isoformat()
    return at
