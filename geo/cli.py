"""The Limes command line. A contract: scripts and checks depend on these flags and keys.

::

    python -m geo analyse --border B --sensors S [--sectors P] [--detections D]
        [--corridor-km 5] [--min-gap-m 1] [--time-from ISO] [--time-to ISO] [--out report.json]
        [--dem DEM [--target-height-m 2] [--refraction-coeff 0.13] [--coverage-tif FILE.tif]]
    python -m geo viewshed --dem DEM --lon LON --lat LAT --observer-height-m H --range-m R
        [--target-height-m 2] [--refraction-coeff 0.13] --out viewshed.tif
    python -m geo export --border B --sensors S [--sectors P] [--detections D]
        [--corridor-km 5] [--min-gap-m 1] [--time-from ISO] [--time-to ISO] [--partner P]
        --format geojson|gpkg|kml|csv --out PATH
    python -m geo snapshot --border B --sensors S [--sectors P] [--detections D] [--dem DEM]
        [--partner P] [--title T] [--banner TEXT] --out FILE.png|FILE.pdf
    python -m geo ingest FILE [--store STORE] --partner P [--releasable-to A,B|ALL] [--user NAME]
    python -m geo detections [--store STORE] --as-partner P [--out FILE.geojson]
    python -m geo backup [--store STORE] --out COPY.gpkg
    python -m geo users add|remove|list ... [--users-file FILE]

Exit status: 0 on success; 2 on invalid input (the message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geo import settings
from geo.errors import ValidationError

STORE_HELP = "the store (GeoPackage); default $LIMES_STORE, else the app's store (geo.settings.STORE_PATH)"


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _add_analysis_args(a: argparse.ArgumentParser) -> None:
    """Add the input and analysis options shared by ``analyse`` and ``export``."""
    a.add_argument("--border", required=True, type=Path, help="border lines (any supported format)")
    a.add_argument("--sensors", required=True, type=Path, help="sensor points")
    a.add_argument("--sectors", type=Path, help="patrol sector polygons")
    a.add_argument("--detections", type=Path, help="detection points")
    a.add_argument(
        "--corridor-km", type=_finite_float, default=settings.CORRIDOR_KM,
        help=f"corridor depth on each side of the border, km (default {settings.CORRIDOR_KM:g})",
    )
    a.add_argument(
        "--min-gap-m", type=_finite_float, default=settings.MIN_GAP_M,
        help=f"shortest uncovered stretch listed as a gap, m (default {settings.MIN_GAP_M:g})",
    )
    a.add_argument("--time-from", help="only detections at or after this ISO 8601 time")
    a.add_argument("--time-to", help="only detections at or before this ISO 8601 time")
    # A string, not a Path: GDAL paths such as /vsizip//dir/dem.zip/dem.hgt must stay intact.
    a.add_argument("--dem", help="terrain model (any raster GDAL reads, any CRS): footprints "
                   "become line-of-sight viewsheds over the terrain")
    a.add_argument("--target-height-m", type=_finite_float, default=settings.TARGET_HEIGHT_M,
                   help="with --dem: height of the target above the ground, m; a sensor's own "
                   f"target_height_m overrides it (default {settings.TARGET_HEIGHT_M:g})")
    a.add_argument("--refraction-coeff", type=_finite_float, default=settings.REFRACTION_COEFF,
                   help="with --dem: refraction coefficient k; curvature is corrected with "
                   f"1 - k, so 0 still corrects for curvature (default {settings.REFRACTION_COEFF:g})")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m geo", description="Limes: border coverage analysis."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="coverage report of a border by sensors, as JSON",
        description="Compute where the border and its corridor are covered by sensors and "
        "where they are not; write the report as JSON.",
    )
    _add_analysis_args(a)
    a.add_argument("--out", type=Path, help="write the JSON report here (default: stdout)")
    a.add_argument("--coverage-tif", type=Path,
                   help="with --dem: write the cumulative coverage here, a GeoTIFF on the DEM's "
                   "grid: band 1 = sensors seeing each cell, then one band per partner")

    v = sub.add_parser(
        "viewshed",
        help="what one observer sees over a DEM, as a GeoTIFF",
        description="Write a uint8 GeoTIFF on the DEM's grid, a window around the observer: "
        "1 visible, 0 hidden, 255 out of range or no data. Prints a JSON summary.",
    )
    # A string, not a Path: GDAL paths such as /vsizip//dir/dem.zip/dem.hgt must stay intact.
    v.add_argument("--dem", required=True, help="DEM: any raster GDAL reads, any CRS")
    v.add_argument("--lon", required=True, type=_finite_float, help="observer longitude, degrees")
    v.add_argument("--lat", required=True, type=_finite_float, help="observer latitude, degrees")
    v.add_argument("--observer-height-m", required=True, type=_finite_float,
                   help="observer's eye above the ground, m")
    v.add_argument("--target-height-m", type=_finite_float, default=settings.TARGET_HEIGHT_M,
                   help=f"target above the ground, m (default {settings.TARGET_HEIGHT_M:g})")
    v.add_argument("--range-m", required=True, type=_finite_float, help="range, ground m")
    v.add_argument("--refraction-coeff", type=_finite_float, default=settings.REFRACTION_COEFF,
                   help="refraction coefficient k; curvature is corrected with 1 - k "
                   f"(default {settings.REFRACTION_COEFF:g})")
    v.add_argument("--out", required=True, type=Path, help="the GeoTIFF to write")

    e = sub.add_parser(
        "export",
        help="the map layers (gaps, coverage, overlaps, sectors, detections) as files",
        description="Run the analysis and export its map layers for briefings: GeoJSON or CSV "
        "(a directory, one file per layer), GeoPackage or KML (one file). Prints a JSON summary.",
    )
    _add_analysis_args(e)
    e.add_argument("--partner", help="export only this partner's view")
    # Not argparse choices: an unknown format is reported like any other invalid input.
    e.add_argument("--format", required=True, help="geojson, gpkg, kml or csv")
    e.add_argument("--out", required=True, type=Path,
                   help="directory (geojson, csv) or file (gpkg, kml) to write")

    s = sub.add_parser(
        "snapshot",
        help="a briefing snapshot of the map (PNG or PDF), rendered without a browser",
        description="Run the analysis and render the map with legend, scale bar, north arrow, "
        "parameters, headline numbers and classification banners as a PNG (2400 px wide or "
        "more, 200 dpi) or a PDF (landscape, page 2: gap table and per-sector coverage). "
        "Prints a JSON summary.",
    )
    _add_analysis_args(s)
    s.add_argument("--partner", help="render this partner's view (default: the joint view)")
    s.add_argument("--title", help="title printed above the map")
    s.add_argument("--banner", default=settings.BANNER,
                   help=f"classification banner, top and bottom (default {settings.BANNER!r})")
    s.add_argument("--out", required=True, type=Path, help="FILE.png or FILE.pdf")

    i = sub.add_parser(
        "ingest",
        help="add a detection file to the shared store",
        description="Validate a detection file and add its accepted rows to the store, all or "
        "nothing, with an audit record. Prints JSON: upload_id, accepted, rejected, "
        "duplicates, errors.",
    )
    i.add_argument("file", type=Path, help="detection file (any supported format)")
    i.add_argument("--store", type=Path, default=None, help=STORE_HELP)
    i.add_argument("--partner", required=True, help="partner that owns the rows")
    i.add_argument("--releasable-to", help="partners the rows are released to, A,B or ALL "
                   "(default: the owner only)")
    i.add_argument("--user", help="who uploads (kept in the audit log)")

    d = sub.add_parser(
        "detections",
        help="the detections one partner may see, as GeoJSON",
        description="Write a GeoJSON FeatureCollection of the stored detections the partner "
        "may see: its own rows and rows released to it.",
    )
    d.add_argument("--store", type=Path, default=None, help=STORE_HELP)
    d.add_argument("--as-partner", required=True, help="the partner who looks")
    d.add_argument("--out", type=Path, help="GeoJSON file to write (default: stdout)")

    bk = sub.add_parser(
        "backup",
        help="copy the store safely while it is in use",
        description="Copy the store with SQLite's online backup API. Prints a JSON summary.",
    )
    bk.add_argument("--store", type=Path, default=None, help=STORE_HELP)
    bk.add_argument("--out", required=True, type=Path, help="the copy to write")

    u = sub.add_parser(
        "users",
        help="manage sign-in accounts (the users file)",
        description="Add, remove or list users. Passwords are read from the terminal or, with "
        "--password-stdin, from standard input; only a slow salted hash is stored.",
    )
    uu = u.add_subparsers(dest="users_command", required=True)
    ua = uu.add_parser("add", help="add a user or change their partner, roles or password")
    ua.add_argument("name", help="user name (sign-in)")
    ua.add_argument("--partner", required=True, help="the partner the user works for")
    ua.add_argument("--roles", required=True,
                    help=f"comma-separated roles from {', '.join(settings.ROLES)}")
    ua.add_argument("--password-stdin", action="store_true",
                    help="read the password from standard input (for scripts); an empty line "
                    "keeps an existing user's password")
    ua.add_argument("--oidc", action="store_true",
                    help="the user signs in through the OIDC provider: NAME is their e-mail; "
                    "no password is stored")
    ur = uu.add_parser("remove", help="remove a user")
    ur.add_argument("name", help="user name")
    ul = uu.add_parser("list", help="list users (never their passwords)")
    for q in (ua, ur, ul):
        q.add_argument("--users-file", type=Path, default=None,
                       help=f"the users file (default: $LIMES_USERS_FILE, else {settings.USERS_FILE})")
    return parser


def run_viewshed(args: argparse.Namespace) -> dict[str, Any]:
    """Compute the viewshed named by ``args``, write it and return a summary."""
    from geo.viewshed import viewshed_geotiff

    return viewshed_geotiff(
        args.dem,
        args.lon,
        args.lat,
        observer_height_m=args.observer_height_m,
        range_m=args.range_m,
        out_path=args.out,
        target_height_m=args.target_height_m,
        refraction_coeff=args.refraction_coeff,
    )


def _load_and_analyse(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Load the inputs named by ``args`` and analyse them; return the analysis and inputs."""
    from geo import io
    from geo.analysis import analyse

    border, border_rep = io.read_border(args.border)
    sensors, sensors_rep = io.read_sensors(args.sensors)
    inputs = {"border": border_rep, "sensors": sensors_rep}
    sectors = detections = None
    if args.sectors:
        sectors, inputs["sectors"] = io.read_sectors(args.sectors)
    if args.detections:
        detections, inputs["detections"] = io.read_detections(args.detections)
    result = analyse(
        border,
        sensors,
        sectors=sectors,
        detections=detections,
        corridor_km=args.corridor_km,
        min_gap_m=args.min_gap_m,
        time_from=args.time_from,
        time_to=args.time_to,
        dem=args.dem,
        target_height_m=args.target_height_m,
        refraction_coeff=args.refraction_coeff,
    )
    return result, inputs


def run_analyse(args: argparse.Namespace) -> dict[str, Any]:
    """Load the inputs named by ``args``, analyse them and return the report."""
    if args.coverage_tif and not args.dem:
        raise ValidationError("--coverage-tif: needs --dem (the coverage surface lies on the DEM's grid)")
    result, inputs = _load_and_analyse(args)
    report = result.report
    if args.coverage_tif:
        report["terrain"]["coverage_tif"] = result.coverage.write_geotiff(args.coverage_tif)
    if "detections" in inputs:
        report["detections"]["naive_times_assumed_utc"] = inputs["detections"].naive_times
    report["inputs"] = {name: rep.to_dict() for name, rep in inputs.items()}
    return report


def run_export(args: argparse.Namespace) -> dict[str, Any]:
    """Analyse the inputs named by ``args``, write the export and return its summary."""
    from geo.export import FORMATS, export_layers, write_export

    if args.format not in FORMATS:
        raise ValidationError(
            f"--format: expected one of {', '.join(FORMATS)}, got {args.format!r}"
        )
    result, _ = _load_and_analyse(args)
    layers = export_layers(result, partner=args.partner)
    return write_export(layers, args.out, fmt=args.format)


def run_snapshot(args: argparse.Namespace) -> dict[str, Any]:
    """Analyse the inputs named by ``args``, render the snapshot and return its summary."""
    from layers.snapshot import run_snapshot as run

    return run(args, _load_and_analyse)


def _runner(command: str) -> Any:
    if command == "viewshed":
        return run_viewshed
    if command == "export":
        return run_export
    if command == "snapshot":
        return run_snapshot
    if command in ("ingest", "detections", "backup"):
        from geo import store

        return getattr(store, f"run_{command}")
    if command == "users":
        from geo import auth

        return auth.run_cli
    return run_analyse


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if "store" in vars(args) and args.store is None:
        args.store = settings.store_path()
    run = _runner(args.command)
    try:
        result = run(args)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2
    if run is not run_analyse:  # viewshed and export print a summary; their output is a file
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        return 0
    report = result
    text = json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False)
    if args.out:
        try:
            args.out.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text + "\n")
    return 0
