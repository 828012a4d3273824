"""Store upkeep: the map's cell index, hourly summary and bins made ahead of the map.

Limes keeps the cell index (:mod:`geo.store.spatial_index`) right by itself: uploads are
indexed at the map's next query, a retraction makes it anew, a re-marking moves no point, a
backup copies it with the rows it describes, an upgrade indexes every row. It keeps the
hourly summary (:mod:`geo.store.hours`) and the map's bins of a layout once made
(:mod:`geo.store.bins_keep`) right in the transaction of each change of the rows. What it
cannot see is another tool (QGIS, GDAL, sqlite3, psql) moving, adding, deleting or
re-marking detections: :func:`reindex` (``python -m geo reindex``) indexes every row again,
makes the summary anew from the rows and the map's bins anew.

The index and the bins cost minutes on tens of millions of rows (21 s and 33 s per
10,000,000 rows, measured): made by the map's first query, they would keep a user waiting
without a word. So :func:`reindex` and :func:`upgrade_store` make them here, for the layouts
the caller names (the Map page's, :func:`geo.operations.map_layouts`), telling a
``progress`` callback as they go; the map's lazy fill stays as the safety net.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from geo.core.cells import HexLayout
from geo.core.progress import Progress
from geo.store.bins_table import clear_map_bins, has_map_bins
from geo.store.connection import Connection, DatabaseError, connect, write_transaction
from geo.store.location import existing_store, postgres_url, sqlite_path
from geo.store.map_bins import bin_new_rows
from geo.store.opening import open_store
from geo.store.postgres import connect as connect_postgres
from geo.store.postgres.connection import shown_url
from geo.store.postgres.map_bins import clear_bins as clear_postgres_bins
from geo.store.postgres.map_bins import fill_bins as fill_postgres_bins
from geo.store.postgres.schema import SCHEMA_VERSION as PG_SCHEMA_VERSION
from geo.store.postgres.schema import WRITE_LOCK, prepare
from geo.store.postgres.schema import fill_hours as fill_postgres_hours
from geo.store.schema import SCHEMA_VERSION, fill_hours, has_table, schema_version
from geo.store.spatial_index import index_new_rows, rebuild_spatial_index

__all__ = ["needs_upgrade", "reindex", "upgrade_store"]

#: Layouts of the map's hexagons, per operation (:func:`geo.operations.map_layouts`).
Layouts = Mapping[str, HexLayout]

_FIX = "The index is as it was; fix that and try again"


def reindex(
    path: str | os.PathLike[str],
    *,
    layouts: Layouts | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Index every stored detection's position again, make the hourly summary and bins anew.

    One write transaction.

    Parameters
    ----------
    path
        The store (a GeoPackage path or a PostgreSQL URL).
    layouts
        The map's hexagons per operation: their bins are made here (the others' are cleared,
        made by the map's next query).
    progress
        Told the rows done of each step (``"indexing"``, ``"binning <operation>"``).

    Returns
    -------
    dict
        ``{"store", "indexed", "hours", "binned", "operations"}``: the rows indexed (0 on
        PostGIS, which keeps its spatial index itself), the groups of the hourly summary,
        the rows binned and the operations whose bins were made.

    Raises
    ------
    ValidationError
        No store at ``path``, or a store that cannot be written now (busy, read-only): the
        index, the summary and the bins are then as they were.
    """
    layouts = dict(layouts or {})
    url = postgres_url(path)
    if url is not None:
        groups, binned = _postgres_reindex(url, layouts, progress)
        return _result(shown_url(url), 0, binned, layouts, hours=groups)
    store = sqlite_path(path)
    existing_store(store)
    upgraded = _Upgrade(progress)
    conn = open_store(store, create=False, progress=upgraded)
    try:
        with write_transaction(
            conn, store, fix=_FIX, refused="cannot write the index", refused_fix=_FIX
        ):
            groups = fill_hours(conn)  # first: the index's progress counts rows by it
            indexed = upgraded.indexed  # an older store: every row indexed by the upgrade
            if indexed is None:
                indexed = rebuild_spatial_index(conn, progress=progress)
            clear_map_bins(conn)
            binned = _bin_layouts(conn, layouts, progress)
    finally:
        conn.close()
    return _result(str(store), indexed, binned, layouts, hours=groups)


def upgrade_store(
    path: str | os.PathLike[str],
    *,
    layouts: Layouts | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Upgrade an older store and make the map's index and bins now, not at its first query.

    A store of the current schema is brought up to date the same way (a no-op when the
    index and the bins of ``layouts`` are current). Parameters as for :func:`reindex`.

    Returns
    -------
    dict
        ``{"store", "schema", "indexed", "binned", "operations"}``: the schema now, the rows
        the upgrade indexed, the rows binned and the operations whose bins are current.
    """
    layouts = dict(layouts or {})
    url = postgres_url(path)
    if url is not None:
        _, binned = _postgres_reindex(url, layouts, progress, anew=False)
        return _result(shown_url(url), 0, binned, layouts, schema=PG_SCHEMA_VERSION)
    store = sqlite_path(path)
    existing_store(store)
    upgraded = _Upgrade(progress)
    conn = open_store(store, create=False, progress=upgraded)  # an older store: indexed now
    try:
        with write_transaction(
            conn, store, fix=_FIX, refused="cannot write the index", refused_fix=_FIX
        ):
            indexed = (upgraded.indexed or 0) + index_new_rows(conn, progress=progress)
            binned = _bin_layouts(conn, layouts, progress)
    finally:
        conn.close()
    return _result(str(store), indexed, binned, layouts, schema=SCHEMA_VERSION)


class _Upgrade:
    """A progress callback that passes each step on and notes the rows an upgrade indexed.

    Opening an older store for writing upgrades it, which indexes every row
    (:func:`geo.store.schema.upgrade`): ``indexed`` is then their number (None: no upgrade).
    """

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.indexed: int | None = None

    def __call__(self, step: str, done: int, total: int) -> None:
        if step == "indexing":
            self.indexed = done
        if self.progress is not None:
            self.progress(step, done, total)


def needs_upgrade(path: str | os.PathLike[str]) -> bool:
    """Whether the store exists and is of an older schema (or PostGIS layout) than this Limes.

    A read of the stamp alone (no store is opened, created or upgraded); False for a file
    that is not a store (opening it says why).
    """
    url = postgres_url(path)
    if url is not None:
        conn = connect_postgres(url)
        try:
            if not conn.execute("SELECT to_regclass('limes_store') IS NOT NULL").scalar():
                return False
            found = int(conn.execute("SELECT schema_version FROM limes_store").scalar())
            return found < PG_SCHEMA_VERSION
        finally:
            conn.close()
    store = sqlite_path(path)
    if not store.is_file():
        return False
    try:
        sqlite = connect(store, busy_timeout_s=5.0)
        try:
            return has_table(sqlite, "gpkg_contents") and schema_version(sqlite) < SCHEMA_VERSION
        finally:
            sqlite.close()
    except DatabaseError:
        return False


def _bin_layouts(conn: Connection, layouts: Layouts, progress: Progress | None) -> int:
    """Bring the bins of each operation's layout up to date (caller's write transaction)."""
    if not has_map_bins(conn):
        return 0
    binned: list[int] = []
    for operation, layout in sorted(layouts.items()):
        bin_new_rows(conn, layout, operation, progress=progress, binned=binned)
    return sum(binned)


def _result(store: str, indexed: int, binned: int, layouts: Layouts, **more: int) -> dict[str, Any]:
    """The JSON summary of :func:`reindex` and :func:`upgrade_store`."""
    return {
        "store": store,
        **more,
        "indexed": indexed,
        "binned": binned,
        "operations": sorted(layouts),
    }


def _postgres_reindex(
    url: str, layouts: Layouts, progress: Progress | None, *, anew: bool = True
) -> tuple[int, int]:
    """A PostGIS store's summary (``anew``) and bins made anew, or brought up to date.

    Opening the store upgrades an older layout (:func:`geo.store.postgres.schema.prepare`).
    One transaction; returns the summary's groups (0 when not ``anew``) and the rows binned.
    ``progress`` is told each operation's rows once binned.
    """
    conn = connect_postgres(url)
    try:
        prepare(conn)
        with conn.transaction():
            conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})").fetchall()
            groups = 0
            if anew:
                groups = fill_postgres_hours(conn)
                clear_postgres_bins(conn)
            binned = 0
            for operation, layout in sorted(layouts.items()):
                done = fill_postgres_bins(conn, layout, operation)
                binned += done
                if progress is not None:
                    progress(f"binning {operation}", done, done)
            return groups, binned
    finally:
        conn.close()
