"""The GeoPackage store's spatial index: an SQLite R-tree of the detections' positions.

``limes_detections_rtree`` (``id`` = the detection's ``fid``; ``minx``, ``maxx``, ``miny``,
``maxy`` in degrees) holds a box around each stored point, kept by triggers on the
``detections`` table, so every writer (Limes, GDAL, QGIS) keeps it current. SQLite has no
function that reads a double out of a blob, and the store's connection (the ADBC SQLite
driver) cannot register one, so the triggers decode the upper 32 bits of each coordinate of
the store's 29-byte little-endian points in plain SQL (sign, exponent, 20 bits of mantissa)
and widen the box by more than that truncation can miss (:data:`_PAD_SQL`). A box always
holds its point (the R-tree also rounds its float32 bounds outwards); a query takes the rows
whose box lies inside an extent as they are and tests the few on its edge exactly (see
:mod:`geo.store.map_query`). A point another tool wrote in another layout gets a box over
the whole world, so it is always tested exactly.

Not registered as the GeoPackage ``gpkg_rtree_index`` extension: that one's triggers call
``ST_*`` functions that only GDAL and SpatiaLite provide, and the store's writer has none.

Examples
--------
>>> from geo.store.spatial_index import RTREE
>>> RTREE
'limes_detections_rtree'
"""

from __future__ import annotations

from geo.store.connection import Connection

__all__ = ["RTREE", "TRIGGERS", "create_spatial_index", "has_spatial_index"]

#: The R-tree's name (not GeoPackage's ``rtree_detections_geom``, which GDAL and QGIS would
#: take for theirs and keep with triggers Limes's SQLite cannot run).
RTREE = "limes_detections_rtree"

#: The triggers that keep it (an upload refuses every other trigger on ``detections``).
TRIGGERS = (f"{RTREE}_delete", f"{RTREE}_insert", f"{RTREE}_update")

#: The store's own point blobs: GeoPackage header (little endian, no envelope), WKB point.
_OWN_BLOB = (
    "(length({g}) = 29 AND substr({g}, 1, 4) = x'47500001' AND substr({g}, 9, 5) = x'0101000000')"
)

#: Hex digits, for ``instr`` (``'0'`` gives 0).
_DIGITS = "'123456789ABCDEF'"


def _word_sql(h: str) -> str:
    """SQL: the unsigned 32-bit number of 8 hex digits of four little-endian bytes in ``h``."""
    weights = {7: 28, 8: 24, 5: 20, 6: 16, 3: 12, 4: 8, 1: 4, 2: 0}
    return " + ".join(
        f"(instr({_DIGITS}, substr({h}, {k}, 1)) << {shift})" for k, shift in weights.items()
    )


def _magnitude_sql(w: str) -> str:
    """SQL: ``|value|`` of a double whose upper 32 bits are ``w``, mantissa cut to 20 bits."""
    e = f"(({w} >> 20) & 2047)"
    scale = (
        f"CASE WHEN {e} >= 1023 THEN (1 << min({e} - 1023, 62)) "
        f"ELSE 1.0 / (1 << min(1023 - {e}, 62)) END"
    )
    return f"((1.0 + ({w} & 1048575) / 1048576.0) * {scale})"


#: Half the width of a box: the cut mantissa misses less than ``|v| * 2**-20``; values below
#: 2**-61 (the exponent clamp) are within 1e-18 of the computed one.
_PAD_SQL = "({a} / 524288.0 + 1e-18)"

#: Keeps SQLite from flattening a subquery into the next (an OFFSET does): flattened, each
#: use of a column would compute its expression again (a hundred decodes per coordinate).
_KEEP = " LIMIT -1 OFFSET 0"

#: A box around no point in particular (another tool's blob): the whole float range.
_WORLD = "3.0e38"


def _boxes_sql(source: str) -> str:
    """SELECT of ``id, minx, maxx, miny, maxy`` for the rows of ``source`` (``fid``, ``geom``)."""
    own = _OWN_BLOB.format(g="geom")
    words = (
        f"SELECT fid, {own} AS own, hx, hy, {_word_sql('hx')} AS wx, {_word_sql('hy')} AS wy "
        f"FROM (SELECT fid, geom, hex(substr(geom, 18, 4)) AS hx, "
        f"hex(substr(geom, 26, 4)) AS hy FROM {source}{_KEEP})"
    )
    values = (
        f"SELECT fid, own, {_magnitude_sql('wx')} AS ax, wx >> 31 AS sx, "
        f"{_magnitude_sql('wy')} AS ay, wy >> 31 AS sy FROM ({words}{_KEEP})"
    )
    x = "(CASE WHEN sx = 1 THEN -ax ELSE ax END)"
    y = "(CASE WHEN sy = 1 THEN -ay ELSE ay END)"
    px, py = _PAD_SQL.format(a="ax"), _PAD_SQL.format(a="ay")
    return (
        f"SELECT fid, "
        f"CASE WHEN own THEN {x} - {px} ELSE -{_WORLD} END, "
        f"CASE WHEN own THEN {x} + {px} ELSE {_WORLD} END, "
        f"CASE WHEN own THEN {y} - {py} ELSE -{_WORLD} END, "
        f"CASE WHEN own THEN {y} + {py} ELSE {_WORLD} END FROM ({values}{_KEEP})"
    )


def _trigger_sql() -> list[str]:
    """The triggers that keep the R-tree: insert, delete, and a change of position."""
    new_row = "(SELECT NEW.fid AS fid, NEW.geom AS geom)"
    insert = f"INSERT OR REPLACE INTO {RTREE} (id, minx, maxx, miny, maxy) {_boxes_sql(new_row)}"
    return [
        f"CREATE TRIGGER {RTREE}_insert AFTER INSERT ON detections BEGIN {insert}; END",
        f"CREATE TRIGGER {RTREE}_delete AFTER DELETE ON detections "
        f"BEGIN DELETE FROM {RTREE} WHERE id = OLD.fid; END",
        f"CREATE TRIGGER {RTREE}_update AFTER UPDATE OF geom, fid ON detections BEGIN "
        f"DELETE FROM {RTREE} WHERE id = OLD.fid; {insert}; END",
    ]


def has_spatial_index(conn: Connection) -> bool:
    """Whether the store has the R-tree (a store of schema 5 or later)."""
    return bool(
        conn.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{RTREE}'"
        ).scalar()
    )


def create_spatial_index(conn: Connection) -> None:
    """Create the R-tree, fill it with the stored rows and add its triggers (caller's transaction).

    Nothing happens when the store has it already.
    """
    if has_spatial_index(conn):
        return
    conn.execute(f"CREATE VIRTUAL TABLE {RTREE} USING rtree(id, minx, maxx, miny, maxy)")
    conn.execute(f"INSERT INTO {RTREE} (id, minx, maxx, miny, maxy) {_boxes_sql('detections')}")
    for statement in _trigger_sql():
        conn.execute(statement)
