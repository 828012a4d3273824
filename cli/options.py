"""Options and steps shared by several commands."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from geo.core import settings

__all__ = ["STORE_HELP", "add_analysis_args", "add_store_arg", "finite_float", "load_and_analyse"]

STORE_HELP = (
    "the store (GeoPackage); default $LIMES_STORE, "
    "else the app's store (geo.core.settings.STORE_PATH)"
)


def finite_float(text: str) -> float:
    """An argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_store_arg(p: argparse.ArgumentParser) -> None:
    """Add ``--store`` (None here; :func:`cli.main` fills in ``$LIMES_STORE`` or the default)."""
    p.add_argument("--store", type=Path, default=None, help=STORE_HELP)


def add_analysis_args(a: argparse.ArgumentParser) -> None:
    """Add the input and analysis options shared by ``analyse``, ``export`` and ``snapshot``."""
    a.add_argument("--border", required=True, type=Path, help="border lines (any supported format)")
    a.add_argument("--sensors", required=True, type=Path, help="sensor points")
    a.add_argument("--sectors", type=Path, help="patrol sector polygons")
    a.add_argument("--detections", type=Path, help="detection points")
    a.add_argument(
        "--corridor-km",
        type=finite_float,
        default=settings.CORRIDOR_KM,
        help=f"corridor depth on each side of the border, km (default {settings.CORRIDOR_KM:g})",
    )
    a.add_argument(
        "--min-gap-m",
        type=finite_float,
        default=settings.MIN_GAP_M,
        help=f"shortest uncovered stretch listed as a gap, m (default {settings.MIN_GAP_M:g})",
    )
    a.add_argument("--time-from", help="only detections at or after this ISO 8601 time")
    a.add_argument("--time-to", help="only detections at or before this ISO 8601 time")
    # A string, not a Path: GDAL paths such as /vsizip//dir/dem.zip/dem.hgt must stay intact.
    a.add_argument(
        "--dem",
        help="terrain model (any raster GDAL reads, any CRS): footprints "
        "become line-of-sight viewsheds over the terrain",
    )
    a.add_argument(
        "--target-height-m",
        type=finite_float,
        default=settings.TARGET_HEIGHT_M,
        help="with --dem: height of the target above the ground, m; a sensor's own "
        f"target_height_m overrides it (default {settings.TARGET_HEIGHT_M:g})",
    )
    a.add_argument(
        "--refraction-coeff",
        type=finite_float,
        default=settings.REFRACTION_COEFF,
        help="with --dem: refraction coefficient k; curvature is corrected with "
        f"1 - k, so 0 still corrects for curvature (default {settings.REFRACTION_COEFF:g})",
    )


def load_and_analyse(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Load the inputs named by ``args`` and analyse them; return the analysis and input reports."""
    from geo.coverage import analyse
    from geo.inputs import read_border, read_detections, read_sectors, read_sensors

    border, border_rep = read_border(args.border)
    sensors, sensors_rep = read_sensors(args.sensors)
    inputs = {"border": border_rep, "sensors": sensors_rep}
    sectors = detections = None
    if args.sectors:
        sectors, inputs["sectors"] = read_sectors(args.sectors)
    if args.detections:
        detections, inputs["detections"] = read_detections(args.detections)
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
