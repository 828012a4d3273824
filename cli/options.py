"""Options and steps shared by several commands."""

from __future__ import annotations

import argparse
import atexit
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cli.dataset import DatasetInput
from geo.core import settings
from geo.core.errors import ValidationError, describe

__all__ = [
    "STORE_HELP",
    "add_analysis_args",
    "add_store_arg",
    "finite_float",
    "load_and_analyse",
    "load_layers",
    "store_arg",
    "stored_operation",
]

STORE_HELP = (
    "the store: a GeoPackage path or postgresql://user@host:port/db; default $LIMES_STORE, "
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


def store_arg(text: str) -> Path | str:
    """An argparse type: a store name (a GeoPackage path or a PostgreSQL URL).

    Any other URL-like name is refused with the message of
    :func:`geo.core.settings.store_name`.
    """
    try:
        return settings.store_name(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_store_arg(p: argparse.ArgumentParser) -> None:
    """Add ``--store`` (None here; :func:`cli.main` fills in ``$LIMES_STORE`` or the default)."""
    p.add_argument("--store", type=store_arg, default=None, help=STORE_HELP)


def add_analysis_args(a: argparse.ArgumentParser) -> None:
    """Add the input and analysis options shared by ``analyse``, ``export`` and ``snapshot``."""
    a.add_argument(
        "--border",
        type=Path,
        help="border lines (any supported format); required without --operation",
    )
    a.add_argument("--sensors", type=Path, help="sensor points; required without --operation")
    a.add_argument("--sectors", type=Path, help="patrol sector polygons")
    a.add_argument(
        "--operation",
        help="an operation kept in the store: its border, sectors, latest sensors, DEM and "
        "defaults take the place of --border, --sensors and --sectors",
    )
    add_store_arg(a)
    a.add_argument(
        "--detections",
        type=Path,
        help="detection points: a file, or a GeoParquet dataset (a directory or a glob of "
        "partitions) classified out of core on Dask",
    )
    # Default None: filled in by load_and_analyse (the operation's, else the settings').
    a.add_argument(
        "--corridor-km",
        type=finite_float,
        help=f"corridor depth on each side of the border, km (default {settings.CORRIDOR_KM:g}; "
        "with --operation, the operation's)",
    )
    a.add_argument(
        "--min-gap-m",
        type=finite_float,
        help=f"shortest uncovered stretch listed as a gap, m (default {settings.MIN_GAP_M:g}; "
        "with --operation, the operation's)",
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


def _stored_dem(dem: tuple[str, bytes]) -> str:
    """An operation's DEM as a file for this process (removed when it exits)."""
    folder = tempfile.mkdtemp(prefix="limes-dem-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / Path(dem[0]).name
    path.write_bytes(dem[1])
    return str(path)


def stored_operation(args: argparse.Namespace, *, sensors_required: bool = True) -> Any:
    """The operation ``--operation`` names (loaded from ``--store``), or None without it.

    Without it, ``--border`` (and ``--sensors`` when ``sensors_required``) are required;
    with it, the layer files may not be given. The operation's DEM becomes ``args.dem``
    unless ``--dem`` is given.
    """
    files = [f"--{n}" for n in ("border", "sensors", "sectors") if getattr(args, n) is not None]
    if args.operation is None:
        needed = ("--border", "--sensors") if sensors_required else ("--border",)
        missing = [f for f in needed if f not in files]
        if missing:
            raise ValidationError(
                f"the following arguments are required: {', '.join(missing)} "
                "(or --operation NAME, an operation kept in the store)"
            )
        return None
    if files:
        raise ValidationError(
            describe(
                "--operation",
                "the operation's layers take the place of layer files",
                expected="--operation or layer files, not both",
                got=" ".join(files),
                fix=f"Drop {', '.join(files)}, or --operation",
            )
        )
    from geo.operations import SAMPLE, ensure_sample, load_operation
    from geo.store import existing_store

    if args.operation == SAMPLE:  # the bundled operation, in every store (as the app makes it)
        ensure_sample(existing_store(args.store))
    loaded = load_operation(args.store, args.operation)
    if args.dem is None and loaded.dem is not None:
        args.dem = _stored_dem(loaded.dem)
        # what the output names in place of that temporary file (:func:`cli.main`)
        args.shown_paths = {args.dem: f"{Path(loaded.dem[0]).name} (operation {args.operation})"}
    return loaded


def load_layers(
    args: argparse.Namespace, *, sensors_required: bool = True
) -> tuple[Any, Any, Any, dict[str, Any], Any]:
    """Border, sensors, sectors, their reports and the operation (None) named by ``args``.

    The store is opened only with ``--operation``. With ``sensors_required=False``
    ``--sensors`` may be left out (the ``timeline`` command: tracks may do the watching);
    the sensors are then None.
    """
    from geo.inputs import read_border, read_sectors, read_sensors

    loaded = stored_operation(args, sensors_required=sensors_required)
    if loaded is not None:
        return loaded.border, loaded.sensors, loaded.sectors, {}, loaded.operation
    border, border_rep = read_border(args.border)
    inputs: dict[str, Any] = {"border": border_rep}
    sensors = sectors = None
    if args.sensors is not None:
        sensors, inputs["sensors"] = read_sensors(args.sensors)
    if args.sectors:
        sectors, inputs["sectors"] = read_sectors(args.sectors)
    return border, sensors, sectors, inputs, None


def load_and_analyse(
    args: argparse.Namespace, dataset: DatasetInput | None = None
) -> tuple[Any, dict[str, Any]]:
    """Load the inputs named by ``args`` and analyse them; return the analysis and input reports.

    With ``--operation`` the layers come from the store (no input reports: they were checked
    when stored) and the operation's corridor depth and minimum gap are the defaults. With
    ``dataset`` (:func:`cli.dataset.opened_dataset`) the detections are a GeoParquet dataset,
    classified on its Dask cluster.
    """
    from geo.coverage import analyse
    from geo.inputs import read_detections

    border, sensors, sectors, inputs, op = load_layers(args)
    detections = None
    if dataset is not None:
        inputs["detections"] = dataset
    elif args.detections:
        _not_a_dataset(args.detections)
        detections, inputs["detections"] = read_detections(args.detections)
    if args.corridor_km is None:
        args.corridor_km = settings.CORRIDOR_KM if op is None else op.corridor_km
    if args.min_gap_m is None:
        args.min_gap_m = settings.MIN_GAP_M if op is None else op.min_gap_m
    # For the commands that print times and partners (snapshot): the operation's zone and names.
    args.operation_timezone = "UTC" if op is None else op.timezone
    args.partner_names = None if op is None else {p.id: p.name for p in op.partners}
    if dataset is not None:
        return _analyse_dataset(border, sensors, sectors, args, dataset), inputs
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


def _not_a_dataset(path: Path) -> None:
    """Refuse a GeoParquet dataset where a command needs the detections in memory."""
    from geo.dataset import is_dataset

    if is_dataset(path):
        raise ValidationError(
            describe(
                str(path),
                "a GeoParquet dataset is classified on Dask by analyse, export and timeline only",
                expected="a detection file",
                got="a directory or a glob",
                fix="Give one of its partition files, or use analyse or export",
            )
        )


def _analyse_dataset(
    border: Any, sensors: Any, sectors: Any, args: argparse.Namespace, dataset: DatasetInput
) -> Any:
    """:func:`load_and_analyse` of a GeoParquet dataset, on its cluster; its rows counted."""
    from geo.coverage.dataset import analyse_dataset

    result, counts, dataset.classifier = analyse_dataset(
        border,
        sensors,
        dataset.files,
        client=dataset.client,
        sectors=sectors,
        corridor_km=args.corridor_km,
        min_gap_m=args.min_gap_m,
        time_from=args.time_from,
        time_to=args.time_to,
        dem=args.dem,
        target_height_m=args.target_height_m,
        refraction_coeff=args.refraction_coeff,
    )
    dataset.rows, dataset.naive_times = counts.rows, counts.naive_rows
    return result
