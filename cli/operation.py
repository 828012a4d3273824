"""``python -m geo operation create|list|show|export|sensors|replace|diff``: stored operations.

An operation is a named set of layers kept in the store (border, sectors, sensor versions,
DEM, partners). Every subcommand prints JSON; bad input exits 2 with a message naming the
file, row and field, and nothing is stored.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

from cli.options import add_store_arg, finite_float
from cli.store import os_user
from geo.core import settings


def register(sub: Any) -> None:
    """Add the ``operation`` command and its subcommands."""
    o = sub.add_parser(
        "operation",
        help="operations kept in the store: create, list, show, export, sensors, replace, diff",
        description="Operations: named sets of layers (border, sectors, sensor versions, DEM, "
        "partners) kept in the store. Prints JSON.",
    )
    ops = o.add_subparsers(dest="action", required=True)

    c = ops.add_parser("create", help="create an operation from files")
    c.add_argument("name", help="the operation's name, e.g. baltic-2026")
    c.add_argument("--border", required=True, type=Path, help="border lines")
    c.add_argument("--sensors", required=True, type=Path, help="sensor points")
    c.add_argument("--sectors", type=Path, help="patrol sector polygons")
    c.add_argument("--dem", help="terrain model (any raster GDAL reads); kept in the store")
    c.add_argument(
        "--partners",
        type=Path,
        help="CSV id,name[,colour] of the partners taking part (default: the sensors' partners)",
    )
    c.add_argument(
        "--corridor-km",
        type=finite_float,
        default=settings.CORRIDOR_KM,
        help=f"default corridor depth, km (default {settings.CORRIDOR_KM:g})",
    )
    c.add_argument(
        "--min-gap-m",
        type=finite_float,
        default=settings.MIN_GAP_M,
        help=f"default shortest gap listed, m (default {settings.MIN_GAP_M:g})",
    )
    c.add_argument("--timezone", default="UTC", help="IANA time zone times are shown in")
    c.add_argument("--title", default="", help="a title")
    c.add_argument("--description", default="", help="a description")
    c.add_argument("--user", help="who creates it (kept in the audit)")
    add_store_arg(c)
    c.set_defaults(run=run_create, upgrades_store=True)

    ls = ops.add_parser("list", help="the operations in the store")
    add_store_arg(ls)
    ls.set_defaults(run=run_list)

    sh = ops.add_parser("show", help="one operation: description, versions, figures")
    sh.add_argument("name")
    add_store_arg(sh)
    sh.set_defaults(run=run_show)

    ex = ops.add_parser("export", help="write the layers as files analyse reads")
    ex.add_argument("name")
    ex.add_argument("--out", required=True, type=Path, help="folder to write the files into")
    add_store_arg(ex)
    ex.set_defaults(run=run_export)

    se = ops.add_parser("sensors", help="store a new sensor version")
    se.add_argument("name")
    se.add_argument("--sensors", required=True, type=Path, help="the new sensor table")
    se.add_argument("--user", help="who saves it (kept in the audit)")
    se.add_argument("--note", help="why (kept in the audit)")
    add_store_arg(se)
    se.set_defaults(run=run_sensors, upgrades_store=True)

    r = ops.add_parser("replace", help="store a new version of the border, sectors or DEM")
    r.add_argument("name")
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--border", type=Path, help="the new border lines")
    which.add_argument("--sectors", type=Path, help="the new patrol sector polygons")
    which.add_argument("--dem", type=Path, help="the new terrain model; kept in the store")
    r.add_argument("--user", help="who replaces it (kept in the audit)")
    add_store_arg(r)
    r.set_defaults(run=run_replace, upgrades_store=True)

    d = ops.add_parser("diff", help="what changed between two sensor versions")
    d.add_argument("name")
    d.add_argument("--from", dest="v_from", required=True, type=int, help="version")
    d.add_argument("--to", dest="v_to", required=True, type=int, help="version")
    add_store_arg(d)
    d.set_defaults(run=run_diff)


def run_create(args: argparse.Namespace) -> dict[str, Any]:
    """``operation create``: the contract dict of :func:`geo.operations.create_operation`."""
    from geo.operations import Operation, create_operation, read_partners
    from layers.colour import refuse_clashing_colours

    partners = () if args.partners is None else tuple(read_partners(args.partners))
    if args.partners is not None:  # a colour the map cannot draw is refused, as on Admin
        refuse_clashing_colours(((p.id, p.colour) for p in partners), Path(args.partners).name)
    op = Operation(
        args.name,
        title=args.title,
        description=args.description,
        partners=partners,
        corridor_km=args.corridor_km,
        min_gap_m=args.min_gap_m,
        timezone=args.timezone,
    )
    return create_operation(
        args.store,
        op,
        border=args.border,
        sensors=args.sensors,
        sectors=args.sectors,
        dem=args.dem,
        user=args.user or os_user(),
    )


def run_list(args: argparse.Namespace) -> dict[str, Any]:
    """``operation list``: ``{"store", "operations"}``."""
    from geo.operations import list_operations
    from geo.store import shown_store

    return {"store": shown_store(args.store), "operations": list_operations(args.store)}


def run_show(args: argparse.Namespace) -> dict[str, Any]:
    """``operation show``: description, layer versions and figures of one operation."""
    from geo.operations import operation_summary

    return operation_summary(args.store, args.name)


def run_export(args: argparse.Namespace) -> dict[str, Any]:
    """``operation export``: the files written."""
    from geo.operations import export_operation

    return export_operation(args.store, args.name, args.out)


def run_sensors(args: argparse.Namespace) -> dict[str, Any]:
    """``operation sensors``: the new version and what changed."""
    from geo.operations import save_sensors

    return save_sensors(
        args.store, args.name, args.sensors, user=args.user or os_user(), note=args.note
    )


def run_replace(args: argparse.Namespace) -> dict[str, Any]:
    """``operation replace``: ``{"operation", "layer", "version", "inputs"}``."""
    from geo.operations import replace_layer

    layers: tuple[Literal["border", "sectors", "dem"], ...] = ("border", "sectors", "dem")
    layer = next(name for name in layers if getattr(args, name) is not None)
    return replace_layer(
        args.store, args.name, layer, getattr(args, layer), user=args.user or os_user()
    )


def run_diff(args: argparse.Namespace) -> dict[str, Any]:
    """``operation diff``: sensors added, removed, changed and the coverage change."""
    from geo.operations import diff

    return diff(args.store, args.name, args.v_from, args.v_to)
