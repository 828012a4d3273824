"""``python -m geo timeline``: when, and for how long, each stretch of border is unwatched."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.dataset import add_scheduler_arg, opened_dataset
from cli.options import add_store_arg, finite_float, load_layers
from geo.core import settings
from geo.core.errors import ValidationError, describe


def register(sub: Any) -> None:
    """Add the ``timeline`` command."""
    a = sub.add_parser(
        "timeline",
        help="coverage over time (schedules, drones, patrols): the border's unwatched times",
        description="Compute, over a time window, when each stretch of border is watched by "
        "scheduled sensors and by the tracks of drones and patrols; write the report as JSON.",
    )
    a.add_argument("--border", type=Path, help="border lines; required without --operation")
    a.add_argument(
        "--sensors",
        type=Path,
        help="sensor points; optional columns active_from, active_to, schedule, outages",
    )
    a.add_argument("--tracks", type=Path, help="tracks of drones and patrols (GPX, KML, CSV)")
    a.add_argument("--sectors", type=Path, help="patrol sector polygons")
    a.add_argument(
        "--dem",
        help="terrain model: static sensors watch what their viewshed sees, tracks what "
        "their line of sight reaches (sampled every --step-s)",
    )
    a.add_argument(
        "--operation",
        help="an operation kept in the store: its border, sectors and latest sensors",
    )
    add_store_arg(a)
    a.add_argument("--time-from", "--from", dest="time_from", required=True, help="ISO 8601")
    a.add_argument("--time-to", "--to", dest="time_to", required=True, help="ISO 8601")
    a.add_argument(
        "--step-s",
        type=finite_float,
        default=settings.TIMELINE_STEP_S,
        help="time step, s: with --dem the tracks' lines of sight are sampled at it "
        f"(default {settings.TIMELINE_STEP_S:g})",
    )
    a.add_argument(
        "--crossing-time-min",
        type=finite_float,
        default=settings.CROSSING_TIME_MIN,
        help="time an intruder needs to cross, min: longer unwatched intervals expose a "
        f"stretch (default {settings.CROSSING_TIME_MIN:g})",
    )
    a.add_argument(
        "--track-range-m",
        type=finite_float,
        help="range of tracks whose file gives none, m (default by kind)",
    )
    a.add_argument("--track-partner", help="partner of tracks whose file names none")
    a.add_argument(
        "--max-fix-gap-s",
        type=finite_float,
        default=settings.MAX_FIX_GAP_S,
        help="a track silent longer than this is not watching, s "
        f"(default {settings.MAX_FIX_GAP_S:g})",
    )
    a.add_argument(
        "--detections",
        type=Path,
        help="detection points, classified at their time: a file, or a GeoParquet dataset "
        "(a directory or a glob of partitions) classified out of core on Dask",
    )
    add_scheduler_arg(a)
    a.add_argument("--out", type=Path, help="write the JSON report here (default: stdout)")
    a.set_defaults(run=run, writes_report=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load the inputs named by ``args``, compute the timeline and return the report."""
    from geo.inputs import read_detections, read_tracks

    if args.operation is None and not args.sensors and not args.tracks:
        raise ValidationError(
            "nothing watches the border: give --sensors, --tracks or both "
            "(or --operation NAME for an operation's sensors)"
        )
    border, sensors, sectors, inputs, _ = load_layers(args, sensors_required=False)
    _no_dataset_over_terrain(args)
    tracks = detections = None
    if args.tracks:
        tracks, inputs["tracks"] = read_tracks(args.tracks)
    with opened_dataset(args) as dataset:
        if dataset is None and args.detections:
            detections, inputs["detections"] = read_detections(args.detections)
        report = _timeline(args, border, sensors, sectors, tracks, detections, dataset)
    if dataset is not None:
        inputs["detections"] = dataset
    report["inputs"] = {name: rep.to_dict() for name, rep in inputs.items()}
    return report


def _no_dataset_over_terrain(args: argparse.Namespace) -> None:
    """Refuse a GeoParquet dataset with a DEM.

    Over terrain the viewsheds probe each detection's cell in the pass that computes them,
    which a partition on a worker cannot join.
    """
    from geo.dataset import is_dataset

    if args.dem and args.detections and is_dataset(args.detections):
        raise ValidationError(
            describe(
                "--detections",
                "timeline classifies a GeoParquet dataset without terrain only",
                expected="no --dem (nor an operation with a DEM) with a dataset",
                got=f"--dem {Path(str(args.dem)).name}",
                fix="Give the detections as a file for a timeline over terrain, or drop --dem",
            )
        )


def _timeline(
    args: argparse.Namespace,
    border: Any,
    sensors: Any,
    sectors: Any,
    tracks: Any,
    detections: Any,
    dataset: Any,
) -> dict[str, Any]:
    """The timeline's report; a dataset's detections classified on its cluster."""
    from geo.timeline import timeline

    result = timeline(
        border,
        sensors=sensors,
        tracks=tracks,
        sectors=sectors,
        detections=detections,
        time_from=args.time_from,
        time_to=args.time_to,
        step_s=args.step_s,
        crossing_time_min=args.crossing_time_min,
        max_fix_gap_s=args.max_fix_gap_s,
        track_range_m=args.track_range_m,
        track_partner=args.track_partner,
        dem=args.dem,
    )
    if dataset is not None:
        from geo.timeline.dataset import dataset_detections

        result.report["detections"] = dataset_detections(
            result, dataset.files, client=dataset.client
        )
        dataset.rows = (
            result.report["detections"]["total"] + result.report["detections"]["outside_window"]
        )
    return result.report
