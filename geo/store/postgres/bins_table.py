"""The tables of the map's pre-counted bins on a PostGIS store (layout 4).

``limes_map_bins`` (under the row-level security of ``detections``) and
``limes_map_bins_state`` (which uploads they hold); :mod:`geo.store.postgres.map_bins`
fills and reads them.
"""

from __future__ import annotations

__all__ = ["BINS", "BINS_LOCK", "BINS_STATE", "CREATE_SQL"]

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
