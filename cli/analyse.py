"""``python -m geo analyse``: the coverage report as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.dataset import add_scheduler_arg, opened_dataset
from cli.options import add_analysis_args, load_and_analyse
from geo.core.errors import ValidationError


def register(sub: Any) -> None:
    """Add the ``analyse`` (``analyze``) command."""
    a = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="coverage report of a border by sensors, as JSON",
        description="Compute where the border and its corridor are covered by sensors and "
        "where they are not; write the report as JSON.",
    )
    add_analysis_args(a)
    add_scheduler_arg(a)
    a.add_argument("--out", type=Path, help="write the JSON report here (default: stdout)")
    a.add_argument(
        "--coverage-tif",
        type=Path,
        help="with --dem: write the cumulative coverage here, a GeoTIFF on the DEM's "
        "grid: band 1 = sensors seeing each cell, then one band per partner",
    )
    a.set_defaults(run=run, writes_report=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load the inputs named by ``args``, analyse them and return the report."""
    if args.coverage_tif and not args.dem:
        raise ValidationError(
            "--coverage-tif: needs --dem (the coverage surface lies on the DEM's grid)"
        )
    with opened_dataset(args) as dataset:
        result, inputs = load_and_analyse(args, dataset)
    report: dict[str, Any] = result.report
    if args.coverage_tif:
        report["terrain"]["coverage_tif"] = result.coverage.write_geotiff(args.coverage_tif)
    if "detections" in inputs:
        report["detections"]["naive_times_assumed_utc"] = inputs["detections"].naive_times
    report["inputs"] = {name: rep.to_dict() for name, rep in inputs.items()}
    return report
