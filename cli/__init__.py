"""The Limes command line, one module per command.

A contract: scripts and checks depend on these flags and keys.

::

    python -m geo analyse (--border B --sensors S [--sectors P] | --operation NAME [--store S])
        [--detections D]
        [--corridor-km 5] [--min-gap-m 1] [--time-from ISO] [--time-to ISO] [--out report.json]
        [--dem DEM [--target-height-m 2] [--refraction-coeff 0.13] [--coverage-tif FILE.tif]]
    python -m geo viewshed --dem DEM --lon LON --lat LAT --observer-height-m H --range-m R
        [--target-height-m 2] [--refraction-coeff 0.13] --out viewshed.tif
    python -m geo export (--border B --sensors S [--sectors P] | --operation NAME [--store S])
        [--detections D]
        [--corridor-km 5] [--min-gap-m 1] [--time-from ISO] [--time-to ISO] [--partner P]
        --format geojson|gpkg|kml|csv --out PATH
    python -m geo snapshot (--border B --sensors S [--sectors P] | --operation NAME [--store S])
        [--detections D] [--dem DEM]
        [--partner P] [--title T] [--banner TEXT] --out FILE.png|FILE.pdf
    python -m geo site (--border B --sensors S [--sectors P] | --operation NAME [--store S])
        [--dem D] --count N --range-m R [--min-range-m 0] [--height-m 10]
        [--target-height-m 2] [--azimuth-deg A --fov-deg F] [--kind tower] [--partner P]
        [--candidates FILE | --spacing-m 1000] [--corridor-km 5] [--exclude POLYGONS]
        [--weight length|detections --detections D] [--time-limit-s 10] [--out plan.json]
        [--sites-out sites.csv]
    python -m geo timeline (--border B [--sensors S] [--tracks T] [--sectors P] [--dem D]
        | --operation NAME [--store S]) --time-from ISO --time-to ISO [--step-s 60]
        [--crossing-time-min 30] [--track-range-m M] [--track-partner P] [--max-fix-gap-s 120]
        [--detections D] [--out timeline.json]
    python -m geo ingest FILE [--store STORE] --partner P [--releasable-to A,B|ALL] [--user NAME]
        [--operation NAME]
    python -m geo detections [--store STORE] --as-partner P [--out FILE.geojson]
        [--operation NAME] [--format geojson|geoparquet --out DIR [--partition-by rows|day]
        [--partition-rows 1000000]]
    python -m geo backup [--store STORE] --out COPY.gpkg
    python -m geo operation create NAME --border B --sensors S [--sectors P] [--dem D]
        [--partners partners.csv] [--corridor-km 5] [--min-gap-m 1] [--timezone ZONE]
        [--title T] [--description T] [--user NAME] [--store STORE]
    python -m geo operation list|show NAME|export NAME --out DIR [--store STORE]
    python -m geo operation sensors NAME --sensors S [--user NAME] [--note T] [--store STORE]
    python -m geo operation replace NAME (--border B | --sectors P | --dem D) [--user NAME]
        [--store STORE]
    python -m geo operation diff NAME --from V --to V [--store STORE]
    python -m geo users add|remove|list ... [--users-file FILE]
    python -m geo uploads delete UPLOAD_ID --user NAME [--users-file FILE] [--store STORE]
    python -m geo uploads mark UPLOAD_ID --releasable-to A,B|ALL --user NAME [--users-file FILE]
        [--store STORE]
    python -m geo uploads list --as-partner P [--operation NAME] [--retracted] [--store STORE]
    python -m geo audit [--limit N] [--operation NAME] [--store STORE]

``--detections`` of analyse, export and timeline may be a GeoParquet dataset (a directory or a
glob of partitions), classified out of core on Dask: ``[--scheduler tcp://host:port|sync]``.

Exit status: 0 on success; 2 on invalid input (the message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cli import (
    analyse,
    export,
    operation,
    site,
    snapshot,
    store,
    timeline,
    uploads,
    users,
    viewshed,
)
from geo.core import settings
from geo.core.errors import ValidationError

__all__ = ["main"]

#: The commands, in the order ``--help`` lists them.
COMMANDS = (analyse, viewshed, export, snapshot, site, timeline, store, uploads, operation, users)


def parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    p = argparse.ArgumentParser(
        prog="python -m geo", description="Limes: border coverage analysis."
    )
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def _write(text: str, out: object) -> int:
    if out is None:
        sys.stdout.write(text + "\n")
        return 0
    try:
        Path(str(out)).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


def _shown(value: Any, names: dict[str, str]) -> Any:
    """``value`` with each string that is a key of ``names`` replaced by its name, throughout.

    For the files a command made for itself (an operation's DEM written to a temporary
    file): the output names what the user knows, not a path that is gone after the command.
    """
    if not names:
        return value
    if isinstance(value, dict):
        return {k: _shown(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 done, 2 invalid input)."""
    args = parser().parse_args(argv)
    try:
        if "store" in vars(args) and args.store is None:
            args.store = settings.store_path()
        store.upgrade_first(args)
        result = args.run(args)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2
    result = _shown(result, getattr(args, "shown_paths", {}))
    text = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False)
    # The report of ``analyse`` goes to --out; the other commands write files and print a summary.
    return _write(text, args.out if getattr(args, "writes_report", False) else None)
