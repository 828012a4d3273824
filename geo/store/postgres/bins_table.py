"""The tables of the map's pre-counted bins on a PostGIS store (layout 4).

``limes_map_bins`` (under the row-level security of ``detections``) and
``limes_map_bins_state`` (which uploads they hold); :mod:`geo.store.postgres.map_bins`
fills and reads them.
"""

from __future__ import annotations

__all__ = ["BINS", "BINS_LOCK", "BINS_STATE", "CREATE_SQL", "FINE_CELL_SQL"]

#: The bins.
BINS = "limes_map_bins"

#: The layouts binned, one per operation.
BINS_STATE = "limes_map_bins_state"

#: The key for ``pg_advisory_xact_lock`` that serialises fills of the bins.
BINS_LOCK = 0x4C494D4542  # "LIMEB"

#: The tables (created empty).
CREATE_SQL = [
    f"CREATE TABLE {BINS} (layout bigint NOT NULL, block bigint NOT NULL, "
    "owner text NOT NULL, releasable_to text NOT NULL, fine bigint NOT NULL, "
    "hex bigint NOT NULL, n bigint NOT NULL, "
    "PRIMARY KEY (layout, block, owner, releasable_to, fine, hex))",
    f"CREATE TABLE {BINS_STATE} (layout bigint PRIMARY KEY, name text NOT NULL, "
    "operation text NOT NULL UNIQUE, last_upload bigint NOT NULL, changes bigint NOT NULL)",
]

#: A detection's fine cell (:func:`geo.core.cells.fine_cells_of`) as PostgreSQL computes it
#: from its position, with the same floating-point steps (a point exactly on a cell edge may
#: still land in the neighbouring cell: readers ask for the neighbours too and keep the rows
#: of their cells by numpy's cell).
_FINE_SQL = (
    "(((floor((ST_X(geom) + 180.0) / 0.05) * 5 + least(greatest(floor(((ST_X(geom) + 180.0) "
    "- floor((ST_X(geom) + 180.0) / 0.05) * 0.05) / 0.01), 0), 4))::bigint << 20) "
    "| (floor((ST_Y(geom) + 90.0) / 0.05) * 5 + least(greatest(floor(((ST_Y(geom) + 90.0) "
    "- floor((ST_Y(geom) + 90.0) / 0.05) * 0.05) / 0.01), 0), 4))::bigint)"
)

#: The stored fine cell of each detection and its B-tree (``bigint`` equality is leakproof,
#: so the index serves under forced row-level security, where the GiST index on ``geom``
#: cannot: ``&&`` is not leakproof). Run on a new store and by the upgrade to layout 4.
FINE_CELL_SQL = [
    "ALTER TABLE detections ADD COLUMN IF NOT EXISTS fine_cell bigint "
    f"GENERATED ALWAYS AS {_FINE_SQL} STORED",
    "CREATE INDEX IF NOT EXISTS detections_fine_cell ON detections (fine_cell)",
]
