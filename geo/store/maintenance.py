"""Store upkeep: the map's cell index made anew after another tool edited the detections.

Limes keeps the cell index (:mod:`geo.store.spatial_index`) right by itself: uploads are
indexed at the map's next query, a retraction makes it anew, a re-marking moves no point, a
backup copies it with the rows it describes, an upgrade creates it empty. What it cannot
see is another tool (QGIS, GDAL, sqlite3) moving, adding or deleting detections in the
GeoPackage: :func:`reindex` (``python -m geo reindex``) indexes every row again.
"""

from __future__ import annotations

import os
from typing import Any

from geo.core.errors import ValidationError, describe
from geo.store.connection import write_transaction
from geo.store.location import existing_store, postgres_url, sqlite_path
from geo.store.opening import open_store
from geo.store.spatial_index import rebuild_spatial_index

__all__ = ["reindex"]


def reindex(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Index every stored detection's position again (one write transaction).

    Returns
    -------
    dict
        ``{"store", "indexed"}``: the rows indexed.

    Raises
    ------
    ValidationError
        No store at ``path``, a PostgreSQL store (PostGIS keeps its own index), or a store
        that cannot be written now (busy, read-only): the index is then as it was.
    """
    if postgres_url(path) is not None:
        raise ValidationError(
            describe(
                "--store",
                "nothing to reindex",
                expected="a GeoPackage store",
                got="a PostgreSQL store (PostGIS keeps its spatial index itself)",
            )
        )
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
    finally:
        conn.close()
    return {"store": str(store), "indexed": indexed}
