"""The tables of the map's pre-counted bins (GeoPackage, store schema 7).

``limes_map_bins`` holds, per layout, time block, owner, marking, fine cell and hexagon,
how many stored detections lie there (:mod:`geo.store.map_bins` fills it and reads it);
``limes_map_bins_state`` one row per operation: its layout (``layout``, the key of its bins;
``name``, :attr:`geo.core.cells.HexLayout.name` and the blocks' length in days), the last
upload binned and how many retractions and re-markings the audit held then. The tables are
created empty (a new store, an upgrade) and cleared by ``python -m geo reindex``
(:func:`clear_map_bins`), which then bins the Map page's layouts anew.
"""

from __future__ import annotations

from geo.store.connection import Connection

__all__ = ["BINS", "BINS_STATE", "clear_map_bins", "create_map_bins", "has_map_bins"]

#: The bins.
BINS = "limes_map_bins"

#: The layouts binned, one per operation.
BINS_STATE = "limes_map_bins_state"

#: The bins' key: a window's blocks of a layout are one range of it.
BIN_KEY = ("layout", "block", "owner", "releasable_to", "fine", "hex")


def has_map_bins(conn: Connection) -> bool:
    """Whether the store has the bins' tables (schema 7 or later)."""
    return bool(
        conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{BINS_STATE}'"
        ).scalar()
    )


def create_map_bins(conn: Connection) -> None:
    """Create the (empty) bins and their state, in the caller's transaction (once)."""
    if has_map_bins(conn):
        return
    conn.execute(
        f"CREATE TABLE {BINS} (layout INTEGER NOT NULL, block INTEGER NOT NULL, "
        "owner TEXT NOT NULL, releasable_to TEXT NOT NULL, fine INTEGER NOT NULL, "
        f"hex INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY ({', '.join(BIN_KEY)})) "
        "WITHOUT ROWID"
    )
    conn.execute(
        f"CREATE TABLE {BINS_STATE} (layout INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "operation TEXT NOT NULL UNIQUE, last_upload INTEGER NOT NULL, "
        "changes INTEGER NOT NULL)"
    )


def clear_map_bins(conn: Connection) -> None:
    """Forget every bin (the next map query bins anew), in the caller's transaction."""
    create_map_bins(conn)
    conn.execute(f"DELETE FROM {BINS}")
    conn.execute(f"DELETE FROM {BINS_STATE}")
