"""``python -m geo viewshed``: what one observer sees over a DEM, as a GeoTIFF."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.options import finite_float
from geo.core import settings


def register(sub: Any) -> None:
    """Add the ``viewshed`` command."""
    v = sub.add_parser(
        "viewshed",
        help="what one observer sees over a DEM, as a GeoTIFF",
        description="Write a uint8 GeoTIFF on the DEM's grid, a window around the observer: "
        "1 visible, 0 hidden, 255 out of range or no data. Prints a JSON summary.",
    )
    # A string, not a Path: GDAL paths such as /vsizip//dir/dem.zip/dem.hgt must stay intact.
    v.add_argument("--dem", required=True, help="DEM: any raster GDAL reads, any CRS")
    v.add_argument("--lon", required=True, type=finite_float, help="observer longitude, degrees")
    v.add_argument("--lat", required=True, type=finite_float, help="observer latitude, degrees")
    v.add_argument(
        "--observer-height-m",
        required=True,
        type=finite_float,
        help="observer's eye above the ground, m",
    )
    v.add_argument(
        "--target-height-m",
        type=finite_float,
        default=settings.TARGET_HEIGHT_M,
        help=f"target above the ground, m (default {settings.TARGET_HEIGHT_M:g})",
    )
    v.add_argument("--range-m", required=True, type=finite_float, help="range, ground m")
    v.add_argument(
        "--refraction-coeff",
        type=finite_float,
        default=settings.REFRACTION_COEFF,
        help="refraction coefficient k; curvature is corrected with 1 - k "
        f"(default {settings.REFRACTION_COEFF:g})",
    )
    v.add_argument("--out", required=True, type=Path, help="the GeoTIFF to write")
    v.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Compute the viewshed named by ``args``, write it and return a summary."""
    from geo.terrain import viewshed_geotiff

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
