"""The tables of the map's pre-counted bins on a PostGIS store (layout 4; packed: layout 5).

``limes_map_bins`` (under the row-level security of ``detections``) and
``limes_map_bins_state`` (which uploads they hold); :mod:`geo.store.postgres.map_bins`
fills and reads them. ``limes_map_bins_packed`` (layout 5, the same row-level security)
holds the same bins packed: one row per layout, block, owner and marking, with the fine
cells, hexagons and counts of its bins in three arrays. Kept equal to the bins by every
write of them (:func:`geo.store.postgres.map_bins.fill_bins` and the changes); the map reads
it: a window's bins are then a few rows under the policy, not 1,785,711 (10,000,000 rows).
"""

from __future__ import annotations

from geo.access.releasability import VIEWERS_SETTING

__all__ = [
    "BINS",
    "BINS_LOCK",
    "BINS_STATE",
    "CREATE_SQL",
    "EVERY_PARTNER_SQL",
    "FINE_CELL_SQL",
    "PACKED",
    "PACKED_SQL",
    "REPACK_ALL_SQL",
]

#: The bins.
BINS = "limes_map_bins"

#: The layouts binned, one per operation.
BINS_STATE = "limes_map_bins_state"

#: The bins packed per layout, block, owner and marking (layout 5).
PACKED = "limes_map_bins_packed"

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

#: The packed bins' table (created empty; its arrays stored uncompressed: read whole).
PACKED_SQL = [
    f"CREATE TABLE {PACKED} (layout bigint NOT NULL, block bigint NOT NULL, "
    "owner text NOT NULL, releasable_to text NOT NULL, fine bigint[] NOT NULL, "
    "hex bigint[] NOT NULL, n bigint[] NOT NULL, "
    "PRIMARY KEY (layout, block, owner, releasable_to))",
    f"ALTER TABLE {PACKED} ALTER COLUMN fine SET STORAGE EXTERNAL, "
    "ALTER COLUMN hex SET STORAGE EXTERNAL, ALTER COLUMN n SET STORAGE EXTERNAL",
]

#: Pack every bin the transaction's viewers may see (the upgrade to layout 5, every partner
#: stated: :data:`EVERY_PARTNER_SQL`).
REPACK_ALL_SQL = (
    f"INSERT INTO {PACKED} SELECT layout, block, owner, releasable_to, array_agg(fine), "
    f"array_agg(hex), array_agg(n) FROM {BINS} GROUP BY layout, block, owner, releasable_to"
)

#: State every partner with an upload as the transaction's viewer (row-level security).
EVERY_PARTNER_SQL = (
    f"SELECT set_config('{VIEWERS_SETTING}', coalesce(string_agg(partner, ','), ''), true) "
    "FROM limes_partners"
)

#: A detection's fine cell (:func:`geo.core.cells.fine_cells_of`) as PostgreSQL computes it
#: from its position, with the same floating-point steps: each SQL operator, as each numpy
#: ufunc, is one IEEE-754 double operation rounded to nearest (no fused multiply-add across
#: operators), so the key is numpy's on every row, points on cell edges and corners too
#: (tests/test_pg_map_bins.py). Readers ask for exactly the cells they want (not their
#: neighbours: 9 times the rows) and keep the rows by numpy's cell all the same.
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
