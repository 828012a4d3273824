"""``python -m geo export``: the map layers as files (GeoJSON, GeoPackage, KML, CSV)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.dataset import add_scheduler_arg, opened_dataset
from cli.options import add_analysis_args, load_and_analyse
from geo.core.errors import ValidationError


def register(sub: Any) -> None:
    """Add the ``export`` command."""
    e = sub.add_parser(
        "export",
        help="the map layers (gaps, coverage, overlaps, sectors, detections) as files",
        description="Run the analysis and export its map layers for briefings: GeoJSON or CSV "
        "(a directory, one file per layer), GeoPackage or KML (one file). Prints a JSON summary.",
    )
    add_analysis_args(e)
    add_scheduler_arg(e)
    e.add_argument("--partner", help="export only this partner's view")
    # Not argparse choices: an unknown format is reported like any other invalid input.
    e.add_argument("--format", required=True, help="geojson, gpkg, kml or csv")
    e.add_argument(
        "--out",
        required=True,
        type=Path,
        help="directory (geojson, csv) or file (gpkg, kml) to write",
    )
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Analyse the inputs named by ``args``, write the export and return its summary."""
    from geo.export import FORMATS, export_layers, write_export

    if args.format not in FORMATS:
        raise ValidationError(
            f"--format: expected one of {', '.join(FORMATS)}, got {args.format!r}"
        )
    with opened_dataset(args) as dataset:
        result, _ = load_and_analyse(args, dataset)
        layers = export_layers(result, partner=args.partner)
        if dataset is None:
            return write_export(layers, args.out, fmt=args.format)
        from geo.coverage.dataset_export import write_dataset_export

        return write_dataset_export(
            layers,
            dataset.files,
            dataset.classifier,
            args.out,
            fmt=args.format,
            partner=args.partner,
            client=dataset.client,
        )
