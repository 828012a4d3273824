"""The GeoPackage store's spatial index: an SQLite R-tree of the detections' positions.

``limes_detections_rtree`` (``id`` = the detection's ``fid``; ``minx``, ``maxx``, ``miny``,
``maxy`` in degrees: the point, which the R-tree rounds outwards to float32) holds the rows
of every upload up to ``limes_rtree_state.last_upload``. It is brought up to date by the
map's queries (:func:`index_new_rows`, one write transaction: the positions of the newer
uploads' rows decoded in numpy and bound in C), not by triggers: SQLite has no function that
reads a double out of a blob and the store's connection cannot register one, so a trigger
decoding the point in SQL made every upload twenty times slower (measured: 300,000 rows in
23 s instead of 1.2 s), and trigger writes would count in the upload's ``total_changes``.

Rows that leave the table (a retracted upload) leave their ids behind: every query joins the
R-tree to ``detections``, and a ``fid`` taken again by a later row gets that row's box when
its upload is indexed (``INSERT OR REPLACE``), before any query uses it. A point another
tool moved (QGIS) keeps its old box until the store is indexed again
(:func:`rebuild_spatial_index`).

Not GeoPackage's ``rtree_detections_geom``: GDAL and QGIS would take it for theirs and keep
it with triggers that call ``ST_*`` functions Limes's SQLite does not have.

Examples
--------
>>> RTREE
'limes_detections_rtree'
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import shapely

from geo.store.connection import Connection
from geo.store.geometry import points

__all__ = [
    "RTREE",
    "is_current",
    "create_spatial_index",
    "has_spatial_index",
    "index_new_rows",
    "rebuild_spatial_index",
]

#: The R-tree's name.
RTREE = "limes_detections_rtree"

#: The one-row table of the last upload the R-tree holds.
_STATE = "limes_rtree_state"

#: The temporary table a page of boxes goes through (the R-tree takes ``INSERT OR REPLACE``).
_NEW = "limes_rtree_new"

#: Rows decoded and inserted at a time.
_PAGE_ROWS = 200_000

#: A box around a point that cannot be read: the whole float range (always tested exactly).
_WORLD = 3.0e38


def has_spatial_index(conn: Connection) -> bool:
    """Whether the store has the R-tree (a store of schema 5 or later)."""
    return bool(
        conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{_STATE}'"
        ).scalar()
    )


def create_spatial_index(conn: Connection) -> None:
    """Create the (empty) R-tree and its state, in the caller's transaction (once)."""
    if has_spatial_index(conn):
        return
    conn.execute(f"CREATE VIRTUAL TABLE {RTREE} USING rtree(id, minx, maxx, miny, maxy)")
    conn.execute(f"CREATE TABLE {_STATE} (last_upload INTEGER NOT NULL)")
    conn.execute(f"INSERT INTO {_STATE} VALUES (0)")


def _boxes(page: pa.Table) -> pa.Table:
    """R-tree rows (``id``, ``minx``, ``maxx``, ``miny``, ``maxy``) of ``fid``/``geom`` rows."""
    try:
        xy = shapely.get_coordinates(points(page["geom"]), include_z=False)
        ok = len(xy) == page.num_rows
    except (shapely.errors.GEOSException, TypeError, ValueError, IndexError):
        ok = False
    if not ok:  # some blob is not one readable point: those rows cover the world
        xy = np.full((page.num_rows, 2), np.nan)
        for i, blob in enumerate(page["geom"].to_pylist()):
            try:
                got = shapely.get_coordinates(points(pa.array([blob], pa.binary())))
                if len(got) == 1:
                    xy[i] = got[0]
            except (shapely.errors.GEOSException, TypeError, ValueError, IndexError):
                pass
    bad = ~np.isfinite(xy).all(axis=1)
    lo, hi = xy.copy(), xy.copy()
    lo[bad], hi[bad] = -_WORLD, _WORLD
    return pa.table(
        {
            "id": page["fid"],
            "minx": lo[:, 0],
            "maxx": hi[:, 0],
            "miny": lo[:, 1],
            "maxy": hi[:, 1],
        }
    )


def is_current(conn: Connection) -> bool:
    """Whether the R-tree holds the rows of every upload (False: none, or behind)."""
    if not has_spatial_index(conn):
        return False
    last = int(conn.execute(f"SELECT last_upload FROM {_STATE}").scalar())
    return last >= int(conn.execute("SELECT ifnull(max(upload_id), 0) FROM uploads").scalar())


def index_new_rows(conn: Connection) -> int:
    """Add the rows of the uploads after ``last_upload`` to the R-tree (caller's transaction).

    Returns the rows indexed. Run inside a write transaction (``BEGIN IMMEDIATE``).
    """
    last = int(conn.execute(f"SELECT last_upload FROM {_STATE}").scalar())
    newest = int(conn.execute("SELECT ifnull(max(upload_id), 0) FROM uploads").scalar())
    if newest <= last:
        return 0
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_NEW} "
        "(id INTEGER, minx REAL, maxx REAL, miny REAL, maxy REAL)"
    )
    done, after = 0, -(2**63)
    while True:
        page = conn.fetch_arrow(
            {"fid": "integer", "geom": "blob"},
            f"FROM (SELECT fid, geom FROM detections WHERE upload_id > {last} "
            f"AND upload_id <= {newest} AND fid > {after} ORDER BY fid LIMIT {_PAGE_ROWS})",
        )
        if page.num_rows:
            conn.execute(f"DELETE FROM {_NEW}")
            conn.insert(_NEW, _boxes(page), constants={})
            conn.execute(f"INSERT OR REPLACE INTO {RTREE} SELECT * FROM {_NEW}")
            done += page.num_rows
            after = int(page["fid"][-1].as_py())
        if page.num_rows < _PAGE_ROWS:
            break
    conn.execute(f"UPDATE {_STATE} SET last_upload = {newest}")
    return done


def rebuild_spatial_index(conn: Connection) -> int:
    """Index every stored row again (after another tool moved points), caller's transaction."""
    create_spatial_index(conn)
    conn.execute(f"DELETE FROM {RTREE}")
    conn.execute(f"UPDATE {_STATE} SET last_upload = 0")
    return index_new_rows(conn)
