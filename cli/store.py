"""``python -m geo ingest|detections|backup|reindex``: the shared detection store."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from cli.options import add_store_arg
from geo.core.errors import ValidationError, describe

#: How often the long steps of ``reindex`` and of an upgrade print their progress (s).
PROGRESS_EVERY_S = 3.0


def register(sub: Any) -> None:
    """Add the ``ingest``, ``detections``, ``backup`` and ``reindex`` commands."""
    i = sub.add_parser(
        "ingest",
        help="add a detection file to the shared store",
        description="Validate a detection file and add its accepted rows to the store, all or "
        "nothing, with an audit record. Prints JSON: upload_id, accepted, rejected, "
        "duplicates, errors.",
    )
    i.add_argument("file", type=Path, help="detection file (any supported format)")
    add_store_arg(i)
    i.add_argument("--partner", required=True, help="partner that owns the rows")
    i.add_argument(
        "--releasable-to",
        help="partners the rows are released to, A,B or ALL (default: the owner only)",
    )
    i.add_argument("--user", help="who uploads (kept in the audit log)")
    i.add_argument(
        "--operation", help="the operation the rows belong to (default: sample; must exist)"
    )
    i.set_defaults(run=run_ingest, upgrades_store=True)

    d = sub.add_parser(
        "detections",
        help="the detections one partner may see, as GeoJSON or a GeoParquet dataset",
        description="Write the stored detections the partner may see (its own rows and rows "
        "released to it): a GeoJSON FeatureCollection, or a GeoParquet dataset (a directory "
        "of partition files, see docs/dask.md) for analyse/export/timeline on Dask.",
    )
    add_store_arg(d)
    d.add_argument("--as-partner", required=True, help="the partner who looks")
    d.add_argument(
        "--out",
        type=Path,
        help="GeoJSON file to write (default: stdout); with --format geoparquet the "
        "dataset's directory (new or empty; required)",
    )
    d.add_argument("--operation", help="only this operation's rows (default: sample)")
    # Not argparse choices: an unknown value is reported like any other invalid input.
    d.add_argument("--format", default="geojson", help="geojson (default) or geoparquet")
    d.add_argument(
        "--partition-by",
        default="rows",
        help="geoparquet: rows (files of --partition-rows rows) or day (a file per UTC day)",
    )
    d.add_argument(
        "--partition-rows",
        type=int,
        default=None,
        help="geoparquet: most rows in one partition file (default 1000000)",
    )
    d.set_defaults(run=run_detections)

    bk = sub.add_parser(
        "backup",
        help="copy the store safely while it is in use",
        description="Copy the store with SQLite's online backup API. Prints a JSON summary.",
    )
    add_store_arg(bk)
    bk.add_argument("--out", required=True, type=Path, help="the copy to write")
    bk.set_defaults(run=run_backup, upgrades_store=True)

    ri = sub.add_parser(
        "reindex",
        help="index the stored detections and bin them for the map again (after another "
        "tool edited them, or after upgrading a large store)",
        description="Make the map's grid-cell index, hourly summary and pre-counted bins of "
        "the stored detections anew, e.g. after QGIS, sqlite3 or psql moved, added, deleted "
        "or re-marked detections in the store (Limes keeps them up to date by itself "
        "otherwise; PostGIS keeps its spatial index itself: there the summary and the bins), "
        "or after upgrading Limes, so the first Map page does not make them (minutes on tens "
        "of millions of rows). The bins are made for the hexagons the Map page shows for "
        "each operation. Progress (rows done / total) goes to stderr every few seconds. "
        "Prints JSON: store, indexed (rows), hours (groups of the summary), binned (rows), "
        "operations (whose bins were made).",
    )
    add_store_arg(ri)
    ri.set_defaults(run=run_reindex)


def os_user() -> str | None:
    """The login name of whoever runs the command (None when there is none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container without passwd entry)
        return None


def run_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """``ingest``: the :class:`geo.store.IngestResult` as a dict.

    ``--user`` defaults to the login name of whoever runs the command.
    """
    from geo.operations import SAMPLE, check_name
    from geo.store import ingest_file

    operation = SAMPLE if args.operation is None else check_name(args.operation, "--operation")
    if not Path(args.file).is_file():
        raise ValidationError(
            describe(
                str(args.file),
                "no such file",
                expected="a detection file",
                got="nothing at that path",
            )
        )
    return ingest_file(
        args.store,
        args.file,
        partner=args.partner,
        releasable_to=args.releasable_to,
        user=args.user or os_user(),
        operation=operation,
    ).to_dict()


def run_detections(args: argparse.Namespace) -> dict[str, Any]:
    """``detections``: what the partner may see, as GeoJSON.

    Returns the FeatureCollection, or with ``--out`` writes it there and returns
    ``{"out", "features"}``.
    """
    from geo.operations import SAMPLE, check_name
    from geo.store import existing_store, feature_collection, visible_detections

    store = existing_store(args.store)
    operation = SAMPLE if args.operation is None else check_name(args.operation, "--operation")
    if args.format not in ("geojson", "geoparquet"):
        raise ValidationError(
            describe(
                "--format", "unknown format", expected="geojson or geoparquet", got=args.format
            )
        )
    rows = visible_detections(store, [args.as_partner], operation=operation)
    if args.format == "geoparquet":
        return _write_dataset(rows, args)
    collection = feature_collection(rows)
    if args.out is None:
        return collection
    try:
        with Path(args.out).open("w", encoding="utf-8") as f:
            json.dump(collection, f, ensure_ascii=False, allow_nan=False)
    except OSError as exc:
        raise ValidationError(
            describe(
                str(args.out),
                "cannot write",
                expected="a writable file",
                got=exc.strerror or str(exc),
            )
        ) from exc
    return {"out": str(args.out), "features": len(collection["features"])}


def _write_dataset(rows: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``detections --format geoparquet``: the rows as a GeoParquet dataset in ``--out``."""
    from geo.dataset import ROWS_PER_PARTITION, write_dataset

    if args.out is None:
        raise ValidationError(
            describe(
                "--out",
                "a dataset is a directory",
                expected="--out DIR with --format geoparquet",
                got="none",
            )
        )
    return write_dataset(
        rows,
        args.out,
        rows_per_partition=ROWS_PER_PARTITION
        if args.partition_rows is None
        else args.partition_rows,
        by=args.partition_by,
    )


def run_backup(args: argparse.Namespace) -> dict[str, Any]:
    """``backup``: copy the store with SQLite's online backup; the summary of the copy."""
    from geo.store import backup

    return backup(args.store, args.out)


def run_reindex(args: argparse.Namespace) -> dict[str, Any]:
    """``reindex``: the map's cell index, hourly summary and bins made anew; what was made."""
    from geo.store import reindex

    return reindex(args.store, layouts=_map_layouts(args.store), progress=_printed_progress())


def _map_layouts(store: Any) -> dict[str, Any]:
    """The Map page's hexagons per operation of ``store`` (none when it has no operations)."""
    from geo.operations import map_layouts
    from layers.map import MAP_HEXAGON_M

    return map_layouts(store, hex_size_m=MAP_HEXAGON_M)


def _printed_progress() -> Any:
    """A progress callback printing ``step: done / total rows`` to stderr every few seconds."""
    from geo.core.progress import every

    def show(step: str, done: int, total: int) -> None:
        share = f" ({100 * done / total:.0f} %)" if total else ""
        print(f"{step}: {done:,} / {total:,} rows{share}", file=sys.stderr, flush=True)

    return every(show, seconds=PROGRESS_EVERY_S)


def upgrade_first(args: argparse.Namespace) -> None:
    """Before a command that writes: upgrade an older store, its index and bins made now.

    The upgrade would happen anyway as the command opens the store; done here it also makes
    the Map page's bins (:func:`geo.store.upgrade_store`), with progress on stderr, so the
    first Map page after it does not spend minutes on them.
    """
    from geo.store import needs_upgrade, shown_store, upgrade_store

    if not getattr(args, "upgrades_store", False) or not needs_upgrade(args.store):
        return
    print(
        f"upgrading the store {shown_store(args.store)} for this Limes…",
        file=sys.stderr,
        flush=True,
    )
    upgrade_store(args.store, layouts=_map_layouts(args.store), progress=_printed_progress())
