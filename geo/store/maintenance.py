"""Store upkeep: the map's cell index and hourly summary made anew after another tool's edits.

Limes keeps the cell index (:mod:`geo.store.spatial_index`) right by itself: uploads are
indexed at the map's next query, a retraction makes it anew, a re-marking moves no point, a
backup copies it with the rows it describes, an upgrade creates it empty. It keeps the
hourly summary (:mod:`geo.store.hours`) right in the transaction of each change of the rows.
What it cannot see is another tool (QGIS, GDAL, sqlite3, psql) moving, adding, deleting or
re-marking detections: :func:`reindex` (``python -m geo reindex``) indexes every row again,
makes the summary anew from the rows and clears the map's pre-counted bins (binned anew at
the map's next query; on PostGIS, which keeps its own spatial index, the summary only).
"""

from __future__ import annotations

import os
from typing import Any

from geo.store.bins_table import clear_map_bins
from geo.store.connection import write_transaction
from geo.store.location import existing_store, postgres_url, sqlite_path
from geo.store.opening import open_store
from geo.store.postgres import connect as connect_postgres
from geo.store.postgres.connection import shown_url
from geo.store.postgres.map_bins import clear_bins as clear_postgres_bins
from geo.store.postgres.schema import WRITE_LOCK, prepare
from geo.store.postgres.schema import fill_hours as fill_postgres_hours
from geo.store.schema import fill_hours
from geo.store.spatial_index import rebuild_spatial_index

__all__ = ["reindex"]


def reindex(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Index every stored detection's position again, make the hourly summary anew, clear the bins.

    One write transaction.

    Returns
    -------
    dict
        ``{"store", "indexed", "hours"}``: the rows indexed (0 on PostGIS, which keeps its
        spatial index itself) and the groups of the hourly summary.

    Raises
    ------
    ValidationError
        No store at ``path``, or a store that cannot be written now (busy, read-only): the
        index and the summary are then as they were.
    """
    url = postgres_url(path)
    if url is not None:
        return {"store": shown_url(url), "indexed": 0, "hours": _postgres_hours(url)}
    store = sqlite_path(path)
    existing_store(store)
    conn = open_store(store, create=False)
    try:
        with write_transaction(
            conn,
            store,
            fix="The index is as it was; fix that and try again",
            refused="cannot write the index",
            refused_fix="The index is as it was; fix that and try again",
        ):
            indexed = rebuild_spatial_index(conn)
            groups = fill_hours(conn)
            clear_map_bins(conn)  # binned anew by the map's next query
    finally:
        conn.close()
    return {"store": str(store), "indexed": indexed, "hours": groups}


def _postgres_hours(url: str) -> int:
    """The PostGIS store's hourly summary made anew, its map bins cleared (one transaction)."""
    conn = connect_postgres(url)
    try:
        prepare(conn)
        with conn.transaction():
            conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})").fetchall()
            groups = fill_postgres_hours(conn)
            clear_postgres_bins(conn)  # binned anew by the map's next query
            return groups
    finally:
        conn.close()
