"""The GeoPackage store's spatial index: each detection's fine grid cell, in a B-tree.

``limes_detections_cells`` holds ``(cell, fid)`` per detection: the fine cell (0.01°, the
map bins' cell, :func:`geo.core.cells.fine_cells_of`) its point lies in, :data:`NO_CELL`
for a point that cannot be read; one B-tree (``WITHOUT ROWID``); it holds the rows of every
upload up to ``limes_cells_state.last_upload``. An extent is a set of key ranges (per fine
grid column, whose keys are consecutive, :func:`cell_ranges`): rows in a cell strictly
inside the extent's cells are in it, rows of the cells on its edge are tested exactly. The
map reads the rows of the fine cells on a class edge by their keys alone.

Stores of schema 5 to 7 indexed the 0.05° cell (:func:`cells_of`): the upgrade to schema
:data:`FINE_SCHEMA` empties the index (:func:`reset_spatial_index`) and indexes every row
anew in the upgrade's transaction (:func:`geo.store.schema.upgrade`); a reader of such a
store (opened without upgrading) does not use its index (the map's queries test the rows).

Why not an SQLite R-tree (GeoPackage's spatial index): measured on this machine, inserting
1,000,000 random points into SQLite's R-tree takes 16 s (94 s into a store's file with the
default page cache), against 3.8 s for the whole upload of those rows; and keeping it with
triggers, which must decode the point in SQL (SQLite has no function that reads a double
out of a blob, and the store's connection cannot register one), made an upload of 300,000
rows twenty times slower (23 s instead of 1.2 s). The cell of a point is computed in numpy
and a B-tree takes sorted keys fast.

The index is brought up to date by the map's queries (:func:`index_new_rows`, in one write
transaction), not by uploads, which stay as they were. After a retraction (rows left, and
their ``fid`` may be taken again by a later row) the index is made anew at the next query.
Re-marking moves no point; a backup copies the index with the rows it describes; an upgrade
indexes every row (not left to the map's first query). Only rows another tool (QGIS, GDAL,
sqlite3) moved, added or deleted are not seen: ``python -m geo reindex``
(:func:`geo.store.reindex`) runs :func:`rebuild_spatial_index`.

Examples
--------
>>> cells_of(np.array([24.01, -180.0]), np.array([55.02, -90.0])).tolist()
[267389780, 0]
>>> inside, edge = cell_ranges([(24.0, 55.0, 24.05, 55.05)])
>>> [(lo >> 20, lo & 0xFFFFF, hi & 0xFFFFF) for lo, hi in inside][:2]
[(20401, 14501, 14504), (20402, 14501, 14504)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import shapely
from numpy.typing import NDArray

from geo.core.cells import (
    CELL_DEG,
    FINE_ROWS,
    NO_CELL,
    cells_of,
    fine_cells_of,
    fine_indices,
    fine_key,
)
from geo.core.progress import Progress, counted
from geo.store.connection import Connection
from geo.store.geometry import _POINT_BLOB, points
from geo.store.hours import HOURS

__all__ = [
    "CELLS",
    "CELL_DEG",
    "FINE_SCHEMA",
    "cell_ranges",
    "cells_of",
    "create_spatial_index",
    "has_spatial_index",
    "index_new_rows",
    "is_current",
    "positions_of",
    "rebuild_spatial_index",
    "reset_spatial_index",
    "rows_of_uploads",
    "xy_of",
]

#: The index table.
CELLS = "limes_detections_cells"

#: The store schema from which the index holds fine cells (5 to 7: the 0.05° cell).
FINE_SCHEMA = 8

#: The one-row table of the last upload the index holds.
_STATE = "limes_cells_state"

#: The audit action of a retraction (:mod:`geo.store.audit`).
_RETRACT = "upload.retract"

#: SQLite's page cache while indexing (KiB): each page of rows puts keys all over the
#: B-tree, and with the default 2 MB cache each insert reads pages again.
_CACHE_KIB = 128 * 1024

#: Rows decoded and inserted at a time.
_PAGE_ROWS = 200_000


def cell_ranges(
    boxes: Sequence[tuple[float, float, float, float]],
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Key ranges of the fine cells strictly inside ``boxes`` and of the cells on their edges.

    A fine column and row grow with the coordinate (:func:`geo.core.cells.fine_indices`),
    so a point whose cell is strictly between the first and last cells an interval touches
    lies inside it: only rows of the edge cells (and of :data:`NO_CELL`) need an exact
    test; a point in a box is in a cell of one of the two. One range per fine column, its
    rows being consecutive keys.
    """
    inside: list[tuple[int, int]] = []
    edge: list[tuple[int, int]] = [(NO_CELL, NO_CELL)]
    for w, s, e, n in boxes:
        fx, fy, _ = fine_indices(np.array([w, e], dtype=float), np.array([s, n], dtype=float))
        x0, x1 = max(int(fx[0]), 0), int(fx[1])
        y0, y1 = max(int(fy[0]), 0), min(int(fy[1]), FINE_ROWS - 1)
        for cx in range(x0, x1 + 1):
            if cx in (x0, x1):
                edge.append((fine_key(cx, y0), fine_key(cx, y1)))
                continue
            edge.append((fine_key(cx, y0), fine_key(cx, y0)))
            edge.append((fine_key(cx, y1), fine_key(cx, y1)))
            if y0 + 1 <= y1 - 1:
                inside.append((fine_key(cx, y0 + 1), fine_key(cx, y1 - 1)))
    return inside, edge


def has_spatial_index(conn: Connection) -> bool:
    """Whether the store has the index (a store of schema 5 or later)."""
    return bool(
        conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{_STATE}'"
        ).scalar()
    )


def create_spatial_index(conn: Connection) -> None:
    """Create the (empty) index and its state, in the caller's transaction (once)."""
    if has_spatial_index(conn):
        return
    conn.execute(
        f"CREATE TABLE {CELLS} (cell INTEGER NOT NULL, fid INTEGER NOT NULL, "
        "PRIMARY KEY (cell, fid)) WITHOUT ROWID"
    )
    conn.execute(
        f"CREATE TABLE {_STATE} (last_upload INTEGER NOT NULL, retractions INTEGER NOT NULL)"
    )
    conn.execute(f"INSERT INTO {_STATE} VALUES (0, 0)")


def xy_of(blobs: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of GeoPackage point blobs (the store's own read in numpy)."""
    arr = blobs.combine_chunks() if isinstance(blobs, pa.ChunkedArray) else blobs
    size = _POINT_BLOB.itemsize
    if len(arr) and arr.null_count == 0 and pa.types.is_binary(arr.type):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
            arr.offset : arr.offset + len(arr) + 1
        ]
        if (np.diff(offsets) == size).all():
            data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
            rec = data.view(_POINT_BLOB)
            own = (rec["magic"] == b"GP") & (rec["flags"] == 1) & (rec["order"] == 1)
            if (own & (rec["wkb_type"] == 1)).all():
                return rec["x"].astype(float), rec["y"].astype(float)
    xy = shapely.get_coordinates(points(arr))  # blobs another tool wrote
    return xy[:, 0], xy[:, 1]


def positions_of(blobs: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """:func:`xy_of`, with NaN for each blob that holds no readable point (another tool's)."""
    try:
        lon, lat = xy_of(blobs)
        if len(lon) == len(blobs):
            return lon, lat
    except (shapely.errors.GEOSException, TypeError, ValueError, IndexError):
        pass
    n = len(blobs)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)  # one by one: which cannot be read
    for i, blob in enumerate(blobs.to_pylist()):
        try:
            got = shapely.get_coordinates(points(pa.array([blob], pa.binary())))
        except (shapely.errors.GEOSException, TypeError, ValueError, IndexError):
            continue
        if len(got) == 1:
            lon[i], lat[i] = got[0, 0], got[0, 1]
    return lon, lat


def _cells(page: pa.Table) -> NDArray[np.int64]:
    """The fine cell of each ``geom`` blob of a page (:data:`NO_CELL` where none can be read)."""
    return fine_cells_of(*positions_of(page["geom"]))


def _where_now(conn: Connection) -> tuple[int, int, int, int]:
    """The index's last upload and retractions, and the store's."""
    row = conn.execute(f"SELECT last_upload, retractions FROM {_STATE}").fetchone()
    last, retracted = row if row is not None else (0, -1)  # (no row: index anew)
    newest = int(conn.execute("SELECT ifnull(max(upload_id), 0) FROM uploads").scalar())
    now = int(conn.execute(f"SELECT count(*) FROM audit WHERE action = '{_RETRACT}'").scalar())
    return int(last), int(retracted), newest, now


def is_current(conn: Connection) -> bool:
    """Whether the index holds the rows of every upload (False: none, or behind)."""
    if not has_spatial_index(conn):
        return False
    last, retracted, newest, now = _where_now(conn)
    return last >= newest and retracted == now


def index_new_rows(conn: Connection, *, progress: Progress | None = None) -> int:
    """Add the rows of the uploads after ``last_upload`` to the index (caller's transaction).

    Returns the rows indexed. Run inside a write transaction (``BEGIN IMMEDIATE``).
    ``progress``: told the rows indexed after each page (step ``"indexing"``), of about
    the rows to index (:func:`rows_of_uploads`).
    """
    last, retracted, newest, now = _where_now(conn)
    if retracted != now:  # rows left and their fids may be taken again: index anew
        conn.execute(f"DELETE FROM {CELLS}")
        last = 0
    elif newest <= last:
        return 0
    cache = int(conn.execute("PRAGMA cache_size").scalar())
    conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}").fetchall()
    try:
        total = rows_of_uploads(conn, f"upload_id > {last} AND upload_id <= {newest}")
        done = _index_pages(conn, last, newest, counted(progress, "indexing", total))
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}").fetchall()
    conn.execute(f"UPDATE {_STATE} SET last_upload = {newest}, retractions = {now}")
    return done


def rows_of_uploads(conn: Connection, where: str) -> int:
    """About how many stored rows meet ``where`` (on ``upload_id``, ``operation``).

    From the hourly summary (:mod:`geo.store.hours`) when the store has it, else counted.
    """
    has_hours = conn.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{HOURS}'"
    ).scalar()
    source = HOURS if has_hours else "detections"
    what = "ifnull(sum(n), 0)" if has_hours else "count(*)"
    return int(conn.execute(f"SELECT {what} FROM {source} WHERE {where}").scalar())


def _index_pages(conn: Connection, last: int, newest: int, tell: Callable[..., None]) -> int:
    """Index the rows of uploads ``last`` (excluded) to ``newest``, a page at a time."""
    done, after = 0, -(2**63)
    while True:
        page = conn.fetch_arrow(
            {"fid": "integer", "geom": "blob"},
            f"FROM (SELECT fid, geom FROM detections WHERE upload_id > {last} "
            f"AND upload_id <= {newest} AND fid > {after} ORDER BY fid LIMIT {_PAGE_ROWS})",
        )
        if page.num_rows:
            fid = page["fid"].to_numpy().astype(np.int64)
            cell = _cells(page)
            order = np.lexsort((fid, cell))  # B-tree inserts in key order
            conn.insert(CELLS, pa.table({"cell": cell[order], "fid": fid[order]}), constants={})
            done += page.num_rows
            after = int(page["fid"][-1].as_py())
            tell(done)
        if page.num_rows < _PAGE_ROWS:
            tell(done, last=True)
            return done


def reset_spatial_index(conn: Connection) -> None:
    """Empty the index, to be made anew by the next map query (caller's transaction).

    The upgrade to schema :data:`FINE_SCHEMA`: an index of an older schema holds 0.05° cells.
    """
    create_spatial_index(conn)
    conn.execute(f"DELETE FROM {CELLS}")
    conn.execute(f"UPDATE {_STATE} SET last_upload = 0, retractions = -1")


def rebuild_spatial_index(conn: Connection, *, progress: Progress | None = None) -> int:
    """Index every stored row again (after another tool moved points), caller's transaction."""
    create_spatial_index(conn)
    conn.execute(f"UPDATE {_STATE} SET retractions = -1")
    return index_new_rows(conn, progress=progress)
