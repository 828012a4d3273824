"""``python -m geo snapshot``: a briefing snapshot of the map (PNG or PDF), without a browser."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.options import add_analysis_args, load_and_analyse
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
    s.set_defaults(run=run)


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
    result, _ = load_and_analyse(args)
    timezone = check_timezone(args.timezone or args.operation_timezone, "--timezone")
    partner = args.partner
    if partner not in (None, JOINT) and partner not in result.report["partners"]:
        raise ValidationError(
            f"--partner: unknown partner {partner!r}; expected one of: "
            f"{', '.join(sorted(result.report['partners'])) or '(none)'}"
        )
    shown = [k for k in LAYERS if k not in DEFAULT_OFF or (k == "hillshade" and args.dem)]
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
            )
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    summary["out"] = str(out)
    return summary
