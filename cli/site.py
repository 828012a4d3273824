"""``python -m geo site``: where to put the next sensors, as a JSON plan."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from cli.options import add_store_arg, finite_float, load_layers
from geo.core import settings
from geo.core.errors import ValidationError


def _whole(text: str) -> int:
    """An argparse type: a whole number (its range is checked with the other parameters)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def register(sub: Any) -> None:
    """Add the ``site`` command."""
    s = sub.add_parser(
        "site",
        help="where to put the next sensors: the sites that close the most border, as JSON",
        description="Choose up to N sites for new sensors that watch the most border (or the "
        "most detections in today's gaps), keeping every existing sensor. Prints the plan as "
        "JSON: before and after, the sites in rank order with their gain, and a proven upper "
        "bound on what any N candidates could reach.",
    )
    s.add_argument("--border", type=Path, help="border lines; required without --operation")
    s.add_argument("--sensors", type=Path, help="existing sensors; required without --operation")
    s.add_argument("--sectors", type=Path, help="patrol sector polygons")
    s.add_argument("--dem", help="terrain model: candidates' coverage becomes their viewsheds")
    s.add_argument(
        "--operation",
        help="an operation kept in the store: its border, sectors, latest sensors and DEM",
    )
    add_store_arg(s)
    _sensor_args(s)
    s.add_argument("--partner", help="the new sensors' partner; with sectors, plan for its sectors")
    where = s.add_mutually_exclusive_group()
    where.add_argument(
        "--candidates", type=Path, help="candidate sites: a file of points, used as given"
    )
    where.add_argument(
        "--spacing-m",
        type=finite_float,
        default=1000.0,
        help="without --candidates: spacing of the candidate grid in the corridor, m "
        "(default 1000)",
    )
    s.add_argument(
        "--corridor-km",
        type=finite_float,
        help=f"corridor depth on each side of the border, km (default {settings.CORRIDOR_KM:g}; "
        "with --operation, the operation's)",
    )
    s.add_argument("--exclude", type=Path, help="polygons where no candidate may stand")
    s.add_argument(
        "--weight",
        choices=("length", "detections"),
        default="length",
        help="maximise the covered border km (length) or the detections in today's gaps "
        "that the new sensors would watch (detections, needs --detections)",
    )
    s.add_argument("--detections", type=Path, help="detection points")
    s.add_argument(
        "--time-limit-s",
        type=finite_float,
        default=10.0,
        help="time limit of the exact solve, s (default 10; 0 keeps the greedy plan)",
    )
    s.add_argument("--out", type=Path, help="write the JSON plan here too")
    s.add_argument("--sites-out", type=Path, help="write the sites as a sensors CSV")
    s.set_defaults(run=run)


def _sensor_args(s: argparse.ArgumentParser) -> None:
    """The new sensors' kind and parameters."""
    s.add_argument("--count", type=_whole, required=True, help="how many sites to choose")
    s.add_argument("--range-m", type=finite_float, required=True, help="the new sensors' range, m")
    s.add_argument(
        "--min-range-m", type=finite_float, default=0.0, help="inner range, m (default 0)"
    )
    s.add_argument(
        "--height-m", type=finite_float, default=10.0, help="eye above ground, m (default 10)"
    )
    s.add_argument(
        "--target-height-m",
        type=finite_float,
        default=settings.TARGET_HEIGHT_M,
        help=f"with --dem: target above the ground, m (default {settings.TARGET_HEIGHT_M:g})",
    )
    s.add_argument("--azimuth-deg", type=finite_float, help="with --fov-deg: centre of a wedge")
    s.add_argument("--fov-deg", type=finite_float, help="with --azimuth-deg: width of a wedge")
    s.add_argument(
        "--kind",
        default="tower",
        help=f"the new sensors' kind, one of {', '.join(settings.SENSOR_KINDS)} (default tower)",
    )


def _params(args: argparse.Namespace) -> Any:
    """The :class:`~geo.siting.SiteParams` of ``args``, checked; messages name the flags."""
    from geo.siting import SiteParams, check_params

    params = SiteParams(
        count=args.count,
        range_m=args.range_m,
        min_range_m=args.min_range_m,
        height_m=args.height_m,
        target_height_m=args.target_height_m,
        azimuth_deg=args.azimuth_deg,
        fov_deg=args.fov_deg,
        kind=args.kind,
        partner=args.partner,
        spacing_m=args.spacing_m,
        corridor_km=args.corridor_km,
        weight=args.weight,
        time_limit_s=args.time_limit_s,
    )
    try:
        check_params(params)
    except ValidationError as exc:
        raise ValidationError(_flags(str(exc))) from None
    if args.weight == "detections" and args.detections is None:
        raise ValidationError(
            "--weight detections: counts the detections in today's gaps, so it needs "
            "--detections FILE; give the detections, or use --weight length"
        )
    return params


def _flags(message: str) -> str:
    """A parameter's message with the parameters named as flags (``count:`` -> ``--count:``)."""
    from geo.siting import SiteParams

    fields = {f.name for f in dataclasses.fields(SiteParams)}
    head, sep, rest = message.partition(":")
    names = [n.strip() for n in head.split(",")]
    if not sep or not all(n in fields for n in names):
        return message
    return ", ".join("--" + n.replace("_", "-") for n in names) + sep + rest


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load the inputs named by ``args``, plan the sites and return the plan as JSON."""
    from geo.inputs import read_detections
    from geo.siting import read_areas, read_candidates

    border, sensors, sectors, inputs, op = load_layers(args)
    if args.corridor_km is None:
        args.corridor_km = settings.CORRIDOR_KM if op is None else op.corridor_km
    params = _params(args)
    detections = None
    if args.detections:
        detections, inputs["detections"] = read_detections(args.detections)
    candidates = _read(read_candidates, args.candidates, "--candidates")
    exclude = _read(read_areas, args.exclude, "--exclude")
    try:
        plan = _plan(args, border, sensors, sectors, params, candidates, exclude, detections, op)
    except ValidationError as exc:
        raise ValidationError(_flags(str(exc))) from None
    result = plan.to_json()
    result["inputs"] = {name: rep.to_dict() for name, rep in inputs.items()}
    if args.sites_out:
        _write_sites(plan, args.sites_out)
    if args.out:
        # The plan goes to stdout (as every command's result) and to --out.
        text = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False)
        try:
            args.out.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"--out {args.out}: cannot write ({exc.strerror})") from None
    return result


def _read(reader: Any, path: Path | None, flag: str) -> Any:
    """``reader(path)`` (None without a path); its messages start with the flag."""
    if path is None:
        return None
    try:
        return reader(path)
    except ValidationError as exc:
        raise ValidationError(f"{flag}: {exc}") from None


def _plan(args: argparse.Namespace, *layers: Any) -> Any:
    """:func:`geo.siting.plan_sites` on the loaded layers and options."""
    from geo.siting import plan_sites

    border, sensors, sectors, params, candidates, exclude, detections, op = layers
    return plan_sites(
        border,
        sensors,
        params,
        sectors=sectors,
        dem_path=args.dem,
        candidates=candidates,
        exclude=exclude,
        detections=detections,
        min_gap_m=None if op is None else op.min_gap_m,
    )


def _write_sites(plan: Any, path: Path) -> None:
    """The sites as a sensors CSV (lat and lon columns) that ``analyse`` reads."""
    from geo.export import write_csv

    table = plan.sensors()
    table.insert(3, "lat", table.geometry.y)
    table.insert(4, "lon", table.geometry.x)
    try:
        write_csv(table.drop(columns="geometry"), path)
    except OSError as exc:
        raise ValidationError(f"--sites-out {path}: cannot write ({exc.strerror})") from None
