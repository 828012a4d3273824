"""The shared detection store: a GeoPackage that partners upload into and read from.

One file (default :data:`geo.core.settings.STORE_PATH`), created on first use, so Limes needs
no database server. It is a GeoPackage 1.3 (SQLite) that GDAL, QGIS and pyogrio open as is,
with two layers and a view:

``detections`` (features, points, EPSG:4326)
    One row per stored detection: the columns of :func:`geo.inputs.loader.read_detections` plus
    ``owner`` (the partner that uploaded it), ``releasable_to`` (its marking) and
    ``upload_id`` (the audit record it came with). Times are kept exactly as ``time_us``
    (microseconds since 1970-01-01 UTC). ``fid`` is ``(UTC day + 2**20) * 2**32 + n``: the
    table is clustered by day.
``uploads`` (attributes)
    The audit log, one row per upload: when, who (``uploaded_by``), which partner, the file
    name and its SHA-256, the rows read, accepted, rejected and duplicated, the marking the
    analyst chose and notes.
``detections_timed`` (a view)
    The detections with ``time``, the same instant as GeoPackage DATETIME text
    (milliseconds), for GIS tools.

Writing
-------
An upload is one SQLite transaction (``BEGIN IMMEDIATE``, WAL journal,
``synchronous=FULL``): all of it lands or none of it does, also when the process is
killed half-way. Two uploads at the same time are written one after the other; one that
cannot get the store within :data:`geo.core.settings.STORE_BUSY_TIMEOUT_S` is refused with "the
store is busy, retry" and changes nothing. Readers never wait for writers.

Rows are stored by UTC day, then in upload and file order: a time window reads the rows of
its days (a range of ``fid``), then filters to the microsecond. Indexes: the two duplicate
keys below (per owner), and a grid-cell index of the positions for the map (see
``spatial_index``). The rows go from Arrow columns into SQLite in C (the ADBC SQLite driver, see
:class:`~geo.store.connection.Connection`);
:func:`ingest_file` reads the file as columns, without a shapely point per row, in a child
process with memory and time limits that reads the file only (:mod:`geo.inputs.bounded`). An upload
into an empty store, or one holding fewer rows than the upload brings, writes its rows
without the duplicate-key indexes and builds them afterwards, in the same transaction:
sorting every key is cheaper than a million B-tree inserts at random places (an index that
cannot be built means duplicates: undone, the file's own are left out and the rows written
again; rows the partner stored before send the upload the other way). Other uploads insert
row by row (still bound in C) with ``INSERT ... ON CONFLICT DO NOTHING``. These speed
tricks, and the figures that keep them, are in :mod:`geo.store.bulk`.

Reading
-------
Reads go through the driver in Arrow batches of a bounded size (``_READ_BATCH_ROWS``),
every column typed up front (see :meth:`~geo.store.connection.Connection.fetch_arrow`), so
a query holds memory for its rows, not for a batch "as large as any result". A read or
upload that runs out of memory raises :class:`StoreMemoryError` (a
:class:`~geo.core.errors.ValidationError` and a :class:`MemoryError`) saying so; the store
is unchanged.

Duplicates
----------
- A file whose SHA-256 the same partner has uploaded before is recognised and adds nothing
  (no detection, no audit record): the result names the earlier upload and counts every
  usable row as a duplicate.
- A detection with the same ``source`` and ``detection_id`` as one the partner already
  stored, or as an earlier row of the same file, is a duplicate and is not stored again
  (a missing source counts as the empty source). The first one stored is kept as it is;
  within a file, rows are stored day by day (UTC), each day in file order, so of two rows
  with one id on different days the earlier day's is kept.
- A detection without ``detection_id`` is a duplicate when the same source reported the
  same position (exact longitude and latitude) at the same instant (to the microsecond).
- Duplicates are found among one partner's rows only. Two partners may hold the same
  detection, each under its own marking: matching across partners would let one partner's
  upload be swallowed by a row it may not see, and the duplicate count would tell it that
  the row exists.

Releasability
-------------
Every row carries its ``owner`` and a marking in ``releasable_to``: ``"ALL"``, partner ids
joined by commas (``"LVA,POL"``, sorted), or ``""`` for the owner only. A partner sees a
row when it owns the row, when the marking is ``ALL`` or when the marking lists it
(:func:`may_see`; the one rule, :mod:`geo.access.releasability`, also gives the SQL of every
read); nothing else, anywhere (map, counts, tables, exports, command line). A
joint view of several partners is the union of what each may see.

A missing marking means the owner only, and so does an unknown one (default deny, as TAK
Server and GeoServer GeoFence do): text that is not ``ALL`` nor a list of partner ids, or
``ALL`` together with partner ids. The analyst picks the marking of an upload (default: the
owner only), which applies to every row without a marking of its own; rows that carry one
in the file (Cursor-on-Target ``releasableTo``, a ``releasable_to`` column) keep it (an empty
cell is no marking), and an unknown file marking makes its row owner-only, with a note in
the audit record.

PostGIS
-------
A ``postgresql://user@host:port/database`` URL (see :func:`geo.core.settings.store_name`)
selects the PostgreSQL/PostGIS back-end (:mod:`geo.store.postgres`) for every function
here: the same results, duplicates, audit records and all-or-nothing uploads, for several
app servers and writers at once. There the database enforces releasability too: row-level
security on ``detections`` and ``uploads``, made from the one rule
(:func:`geo.access.releasability.postgres_policy`), with each transaction stating its
viewers; the filter here stays as a second line. :func:`backup` writes a ``pg_dump -Fc``
archive.

Modules
-------
``location``: which back-end a store name selects (:func:`shown_store`: as messages show
it, a URL without its password); ``results``: :class:`IngestResult`;
``postgres``: the PostGIS back-end; ``connection``: the ADBC connection, bounded reads,
out-of-memory reporting; ``schema``: the
GeoPackage layout, ``fid`` numbering, creating, checking and upgrading a store; ``opening``:
:func:`open_store`; ``rows``: an upload's rows checked and converted (no store needed);
``geometry``: GeoPackage point blobs; ``bulk``: ``insert_rows``, the one way rows go in, and
its speed tricks; ``upload``: :func:`ingest`, :func:`ingest_file` and the audit record;
``reading``: :func:`visible_detections`, :func:`uploads`, :func:`owners`, :func:`version`,
:func:`feature_collection`; ``backups``: :func:`backup`; ``operation_tables``: the
operations kept in the store (:func:`put_operation`, :func:`put_layer_version`,
:func:`put_dem_version`, :func:`operation_records`, :func:`operation_record`,
:func:`operation_layer`, :func:`layer_versions`, :func:`operation_dem`,
:func:`set_operation_partners`); ``spatial_index``: the grid-cell index of the
detections' positions; ``hours``: the detections' hourly summary per upload (the map's
time summary); ``maintenance``: :func:`reindex` (that index, summary and the map's bins made
anew after another tool edited the detections), :func:`upgrade_store` and
:func:`needs_upgrade` (an older store upgraded, its index and bins made ahead of the
map); ``map_query``: what the map needs without reading every row (:func:`map_points`,
:func:`has_visible`, :func:`window_batches`, :func:`window_positions`,
:func:`window_rows`, :func:`window_size`, :func:`time_summary`); ``bins_table`` and
``map_bins``: the map's pre-counted bins per fine cell and hexagon (:func:`window_cells`);
``bins_keep``: those bins kept in the transaction of every upload, retraction and re-marking;
``audit``: retracting and re-marking uploads (:func:`retract_upload`, :func:`mark_upload`),
:func:`record_event` and :func:`audit_log`.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from geo.core.settings import SAMPLE_DIR
>>> with tempfile.TemporaryDirectory() as tmp:
...     store = Path(tmp) / "limes.gpkg"
...     first = ingest_file(store, SAMPLE_DIR / "detections.csv", partner="LTU",
...                         releasable_to="LVA")
...     again = ingest_file(store, SAMPLE_DIR / "detections.csv", partner="LTU")
...     seen = {p: len(visible_detections(store, [p])) for p in ("LTU", "LVA", "POL")}
>>> first.accepted, again.accepted, again.already_uploaded, seen["POL"]
(22000, 0, True, 0)
>>> seen["LTU"] == seen["LVA"] == 22000
True
"""

from geo.access.releasability import ALL, may_see, parse_releasability
from geo.store.audit import audit_log, mark_upload, record_event, retract_upload
from geo.store.backups import backup
from geo.store.connection import StoreMemoryError
from geo.store.location import existing_store, shown_store
from geo.store.maintenance import needs_upgrade, reindex, upgrade_store
from geo.store.map_bins import CellCounts, window_cells
from geo.store.map_query import (
    Extent,
    MapPoints,
    StoreTimes,
    WindowBatch,
    WindowPositions,
    has_visible,
    map_points,
    time_summary,
    window_batches,
    window_positions,
    window_rows,
    window_size,
)
from geo.store.opening import open_store
from geo.store.operation_tables import (
    LAYERS,
    layer_versions,
    operation_dem,
    operation_layer,
    operation_record,
    operation_records,
    put_dem_version,
    put_layer_version,
    put_operation,
    set_operation_partners,
)
from geo.store.reading import (
    COLUMNS,
    Revision,
    feature_collection,
    owners,
    revision,
    uploads,
    version,
    visible_detections,
)
from geo.store.upload import IngestResult, ingest, ingest_file

__all__ = [
    "ALL",
    "COLUMNS",
    "LAYERS",
    "CellCounts",
    "Extent",
    "IngestResult",
    "MapPoints",
    "Revision",
    "StoreMemoryError",
    "StoreTimes",
    "WindowBatch",
    "WindowPositions",
    "audit_log",
    "backup",
    "existing_store",
    "feature_collection",
    "has_visible",
    "ingest",
    "ingest_file",
    "layer_versions",
    "map_points",
    "mark_upload",
    "may_see",
    "needs_upgrade",
    "open_store",
    "operation_dem",
    "operation_layer",
    "operation_record",
    "operation_records",
    "owners",
    "parse_releasability",
    "put_dem_version",
    "put_layer_version",
    "put_operation",
    "record_event",
    "reindex",
    "retract_upload",
    "revision",
    "set_operation_partners",
    "shown_store",
    "time_summary",
    "upgrade_store",
    "uploads",
    "version",
    "visible_detections",
    "window_batches",
    "window_cells",
    "window_positions",
    "window_rows",
    "window_size",
]
