"""The store's layout: a GeoPackage 1.3 with the ``detections`` and ``uploads`` layers.

The SQL that creates a store, checks that an existing file is one, and upgrades a store of
schema 1, 2 or 3 in place; the GeoPackage ids; the ``fid`` numbering that clusters the
detections by UTC day (see :func:`first_fid`); the duplicate-key indexes (see "Duplicates" in
:mod:`geo.store`); since schema 3, the operations' tables (``operations``,
``operation_layers``, ``operation_dems``: attributes, see :mod:`geo.store.operation_tables`)
and the ``operation`` every detection and upload belongs to (:data:`DEFAULT_OPERATION` for
rows stored before); since schema 4, the ``audit`` table (events: retractions, re-markings,
sign-ins; see :mod:`geo.store.audit`), the retraction of an upload (``uploads.retracted_at``
and ``retracted_by``) and ``retracted_detections``, where a retracted upload's rows are kept
out of every read; since schema 5, the grid-cell index of the detections (see
:mod:`geo.store.spatial_index`), for the map's queries (:mod:`geo.store.map_query`); since
schema 6, the detections' hourly summary per upload (:mod:`geo.store.hours`), for the map's
time summary; since schema 7, the map's pre-counted bins (:mod:`geo.store.bins_table`, filled
by :mod:`geo.store.map_bins`); since schema 8, the cell index holds the fine (0.01°) cell,
not the 0.05° one (the upgrade indexes every row anew).
"""

from __future__ import annotations

import re
from pathlib import Path

from geo.core.errors import ValidationError, describe
from geo.core.progress import Progress
from geo.store import hours
from geo.store.bins_table import create_map_bins
from geo.store.connection import Connection, not_a_store
from geo.store.spatial_index import (
    FINE_SCHEMA,
    create_spatial_index,
    index_new_rows,
    reset_spatial_index,
)

__all__ = [
    "DAY_US",
    "DEFAULT_OPERATION",
    "FLOAT_COLUMNS",
    "GPKG_APPLICATION_ID",
    "GPKG_USER_VERSION",
    "ID_INDEX",
    "MAX_DAY",
    "MIN_DAY",
    "NOW",
    "POSITION_INDEX",
    "SCHEMA_VERSION",
    "TEXT_COLUMNS",
    "TIMED_DESCRIPTION",
    "check_empty",
    "check_schema",
    "create",
    "fill_hours",
    "first_fid",
    "has_audit",
    "has_hours",
    "has_operations",
    "has_table",
    "schema_version",
    "upgrade",
]

#: GeoPackage ``application_id`` ('GPKG') and ``user_version`` (1.3.0).
GPKG_APPLICATION_ID = 0x47504B47
GPKG_USER_VERSION = 10300

#: Layout of the store; written into the layers' descriptions. A store of schema 1 (the
#: first release) is upgraded in place whenever it is opened, one of schema 2 (before
#: operations) or 3 (before the audit table) when it is opened for writing; readers read a
#: schema 2 to 7 store as it is (see ``upgrade``; the map does not use the 0.05° cell index
#: of a schema 5 to 7 store read so).
SCHEMA_VERSION = 8

#: The operation that rows stored before operations (schema 1 and 2), and uploads that name
#: none, belong to: the bundled sample (``geo.operations.SAMPLE``).
DEFAULT_OPERATION = "sample"


#: Microseconds in a day.
DAY_US = 86_400_000_000

#: ``fid`` of a detection: ``(UTC day + DAY_OFFSET) << DAY_SHIFT`` plus its number within
#: the day, so the table is clustered by day and a time window is a range of ``fid``.
#: Days from about 900 BC to AD 4800 give positive ids below 2**53 (exact in JavaScript and
#: JSON); 2**32 detections a day.
DAY_SHIFT = 32
DAY_OFFSET = 1 << 20
MIN_DAY = 1 - DAY_OFFSET
MAX_DAY = DAY_OFFSET - 1


def first_fid(day: int) -> int:
    """The ``fid`` of the first detection of a UTC day (days since 1970-01-01).

    Examples
    --------
    >>> first_fid(0) == 2**52, first_fid(1) - first_fid(0) == 2**32
    (True, True)
    """
    return (day + DAY_OFFSET) << DAY_SHIFT


_WGS84_DEFINITION = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

#: The duplicate keys (see "Duplicates" in :mod:`geo.store`): the same source's detection id,
#: or for a detection without id the same instant and position (the geometry's bytes; -0.0 is
#: written as 0.0), among one owner's rows. The most selective column first: building the
#: index compares keys a million times, and most comparisons end at the first column.
ID_INDEX = "detections_dedupe_id"
POSITION_INDEX = "detections_dedupe_position"
_DEDUPE_INDEXES = f"""CREATE UNIQUE INDEX {ID_INDEX}
  ON detections(detection_id, ifnull(source, ''), owner, operation)
  WHERE detection_id IS NOT NULL;
CREATE UNIQUE INDEX {POSITION_INDEX}
  ON detections(time_us, geom, ifnull(source, ''), owner, operation)
  WHERE detection_id IS NULL;"""

#: ``time_us`` as GeoPackage DATETIME text, milliseconds rounded down (also before 1970:
#: SQLite's ``/`` truncates towards zero), for GIS tools.
_TIME_SQL = (
    "strftime('%Y-%m-%dT%H:%M:%fZ', (time_us - (time_us % 1000 + 1000) % 1000) / 1000 "
    "/ 1000.0, 'unixepoch')"
)

#: A column naming the operation a row belongs to (schema 3).
_OPERATION_COLUMN = f"operation TEXT NOT NULL DEFAULT '{DEFAULT_OPERATION}'"

#: The detections layer, its view with a DATETIME ``time`` and the view's registration.
_DETECTIONS_TABLE = f"""CREATE TABLE detections (
  fid INTEGER PRIMARY KEY NOT NULL,
  geom POINT NOT NULL,
  time_us INTEGER NOT NULL,
  detection_id TEXT,
  source TEXT,
  partner TEXT,
  class TEXT,
  confidence REAL,
  access TEXT,
  caveat TEXT,
  hae_m REAL,
  ce_m REAL,
  le_m REAL,
  owner TEXT NOT NULL,
  releasable_to TEXT NOT NULL,
  upload_id INTEGER NOT NULL REFERENCES uploads(upload_id),
  src_row INTEGER,
  {_OPERATION_COLUMN})"""
# The text is kept byte for byte as earlier releases wrote it into stores (split for length).
_TIMED_VIEW = (
    f"CREATE VIEW detections_timed AS SELECT fid, geom, {_TIME_SQL} AS time,\n"
    "  time_us, detection_id, source, partner, class, confidence, access, caveat, hae_m, ce_m, "
    "le_m, owner,\n  releasable_to, upload_id, src_row FROM detections"
)
_TIMED_GEOMETRY = (
    "INSERT INTO gpkg_geometry_columns VALUES ('detections_timed', 'geom', 'POINT', 4326, 0, 0)"
)

#: Description of the view in ``gpkg_contents``.
TIMED_DESCRIPTION = (
    "Limes shared detections with their time as GeoPackage DATETIME (a view; "
    f"store schema {SCHEMA_VERSION})"
)

#: The operations (schema 3), GeoPackage attributes tables (each with the integer primary key
#: GeoPackage asks of one): what describes each operation (``partners``: JSON text), every
#: version of its layers (``data``: the checked layer as GeoParquet bytes) and its DEMs (the
#: raster file's bytes).
_OPERATION_TABLES = f"""CREATE TABLE operations (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  name TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  partners TEXT NOT NULL,
  corridor_km REAL NOT NULL,
  min_gap_m REAL NOT NULL,
  period_start DATETIME,
  period_end DATETIME,
  timezone TEXT NOT NULL,
  created_at DATETIME NOT NULL DEFAULT ({NOW}),
  created_by TEXT);
CREATE TABLE operation_layers (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  operation TEXT NOT NULL REFERENCES operations(name),
  layer TEXT NOT NULL CHECK (layer IN ('border', 'sectors', 'sensors')),
  version INTEGER NOT NULL,
  created_at DATETIME NOT NULL DEFAULT ({NOW}),
  created_by TEXT,
  note TEXT,
  features INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  data BLOB NOT NULL,
  UNIQUE (operation, layer, version));
CREATE TABLE operation_dems (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  operation TEXT NOT NULL REFERENCES operations(name),
  version INTEGER NOT NULL,
  created_at DATETIME NOT NULL DEFAULT ({NOW}),
  created_by TEXT,
  file_name TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  data BLOB NOT NULL,
  UNIQUE (operation, version))"""
_OPERATION_CONTENTS = f"""INSERT INTO gpkg_contents (table_name, data_type, identifier, description,
  srs_id) VALUES
  ('operations', 'attributes', 'operations',
   'Limes operations (store schema {SCHEMA_VERSION})', NULL),
  ('operation_layers', 'attributes', 'operation_layers',
   'Limes operation layers, every version as GeoParquet (store schema {SCHEMA_VERSION})', NULL),
  ('operation_dems', 'attributes', 'operation_dems',
   'Limes operation terrain models (store schema {SCHEMA_VERSION})', NULL)"""

#: What schema 4 adds to ``uploads``: who retracted an upload, and when (NULL: served).
_RETRACTION_COLUMNS = ("retracted_at DATETIME", "retracted_by TEXT")

#: The audit table and the retracted rows (schema 4), GeoPackage attributes tables. ``audit``:
#: one row per event that is not an upload or an operation's layer version (those have their
#: own records): ``action`` (``upload.retract``, ``upload.mark``, ``signin``,
#: ``signin.failed``, ...), who (``user``, ``partner``), what (``operation``, ``target``) and
#: ``detail`` (JSON text); indexed by action (the store's version counts the retractions and
#: re-markings at every rerun of the app). ``retracted_detections``: the rows of retracted
#: uploads, moved out of ``detections`` as they were (``fid`` a plain column: a later upload
#: may reuse it), so that no read serves them, no duplicate key holds them and the record
#: stays.
_AUDIT_TABLES = f"""CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  at DATETIME NOT NULL DEFAULT ({NOW}),
  user TEXT,
  partner TEXT,
  action TEXT NOT NULL,
  operation TEXT,
  target TEXT,
  detail TEXT);
CREATE TABLE retracted_detections (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  fid INTEGER NOT NULL,
  geom BLOB NOT NULL,
  time_us INTEGER NOT NULL,
  detection_id TEXT,
  source TEXT,
  partner TEXT,
  class TEXT,
  confidence REAL,
  access TEXT,
  caveat TEXT,
  hae_m REAL,
  ce_m REAL,
  le_m REAL,
  owner TEXT NOT NULL,
  releasable_to TEXT NOT NULL,
  upload_id INTEGER NOT NULL REFERENCES uploads(upload_id),
  src_row INTEGER,
  {_OPERATION_COLUMN});
CREATE INDEX retracted_detections_upload ON retracted_detections(upload_id);
CREATE INDEX audit_action ON audit(action)"""
_AUDIT_CONTENTS = f"""INSERT INTO gpkg_contents (table_name, data_type, identifier, description,
  srs_id) VALUES
  ('audit', 'attributes', 'audit',
   'Limes audit log of events: retractions, re-markings, sign-ins (store schema {SCHEMA_VERSION})',
   NULL),
  ('retracted_detections', 'attributes', 'retracted_detections',
   'Limes detections of retracted uploads, served to nobody (store schema {SCHEMA_VERSION})',
   NULL)"""

#: GeoPackage core tables (GeoPackage 1.3, clauses 1.1.2, 1.1.3, 2.1.5), the two layers
#: and a view of the detections with a DATETIME ``time`` column.
_SCHEMA = f"""
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT ({NOW}),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
INSERT INTO gpkg_spatial_ref_sys VALUES
  ('Undefined Cartesian SRS', -1, 'NONE', -1, 'undefined',
   'undefined Cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined',
   'undefined geographic coordinate reference system'),
  ('WGS 84 geodetic', 4326, 'EPSG', 4326, '{_WGS84_DEFINITION}',
   'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE uploads (
  upload_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  uploaded_at DATETIME NOT NULL DEFAULT ({NOW}),
  uploaded_by TEXT,
  partner TEXT NOT NULL,
  file_name TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  format TEXT,
  rows_read INTEGER NOT NULL,
  accepted INTEGER NOT NULL,
  rejected INTEGER NOT NULL,
  duplicates INTEGER NOT NULL,
  releasable_to TEXT NOT NULL,
  file_markings INTEGER NOT NULL,
  notes TEXT,
  {_OPERATION_COLUMN},
  {", ".join(_RETRACTION_COLUMNS)});
CREATE INDEX uploads_partner_sha256 ON uploads(partner, sha256);
{_DETECTIONS_TABLE};
{_DEDUPE_INDEXES}
{_TIMED_VIEW};
{_OPERATION_TABLES};
INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES
  ('detections', 'features', 'detections',
   'Limes shared detections (store schema {SCHEMA_VERSION})', 4326),
  ('uploads', 'attributes', 'uploads',
   'Limes upload audit log (store schema {SCHEMA_VERSION})', NULL),
  ('detections_timed', 'features', 'detections_timed', '{TIMED_DESCRIPTION}', 4326);
INSERT INTO gpkg_geometry_columns VALUES ('detections', 'geom', 'POINT', 4326, 0, 0);
{_TIMED_GEOMETRY};
{_OPERATION_CONTENTS};
{_AUDIT_TABLES};
{_AUDIT_CONTENTS}"""

#: Columns a store's tables must have (checked when an existing file is opened).
_REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "detections": frozenset(
        {
            "fid",
            "geom",
            "time_us",
            "detection_id",
            "source",
            "partner",
            "class",
            "confidence",
            "access",
            "caveat",
            "hae_m",
            "ce_m",
            "le_m",
            "owner",
            "releasable_to",
            "upload_id",
            "src_row",
        }
    ),
    "uploads": frozenset(
        {
            "upload_id",
            "uploaded_at",
            "uploaded_by",
            "partner",
            "file_name",
            "sha256",
            "format",
            "rows_read",
            "accepted",
            "rejected",
            "duplicates",
            "releasable_to",
            "file_markings",
            "notes",
        }
    ),
}

#: Columns schema 3 adds (checked in a store of schema 3 or later).
_REQUIRED_COLUMNS_3: dict[str, frozenset[str]] = {
    "detections": _REQUIRED_COLUMNS["detections"] | {"operation"},
    "uploads": _REQUIRED_COLUMNS["uploads"] | {"operation"},
    "operations": frozenset(
        {"name", "title", "description", "partners", "corridor_km", "min_gap_m"}
        | {"period_start", "period_end", "timezone", "created_at", "created_by"}
    ),
    "operation_layers": frozenset(
        {"operation", "layer", "version", "created_at", "created_by", "note", "features"}
        | {"sha256", "data"}
    ),
    "operation_dems": frozenset({"operation", "version", "file_name", "sha256", "data"}),
}

#: Columns schema 4 adds (checked in a store of schema 4 or later).
_REQUIRED_COLUMNS_4: dict[str, frozenset[str]] = {
    "uploads": _REQUIRED_COLUMNS_3["uploads"] | {"retracted_at", "retracted_by"},
    "audit": frozenset({"id", "at", "user", "partner", "action", "operation", "target", "detail"}),
    "retracted_detections": _REQUIRED_COLUMNS_3["detections"] | {"id"},
}

#: Optional text and number columns of a detections frame, stored when present.
TEXT_COLUMNS = ("detection_id", "source", "partner", "class", "access", "caveat")
FLOAT_COLUMNS = ("confidence", "hae_m", "ce_m", "le_m")


def has_table(conn: Connection, name: str) -> bool:
    """Whether the file has a table of this name."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def schema_version(conn: Connection) -> int:
    """The store schema written in the detections layer's description (1 when absent)."""
    row = conn.execute(
        "SELECT description FROM gpkg_contents WHERE table_name = 'detections'"
    ).fetchone()
    found = re.search(r"store schema (\d+)", str(row[0] if row else ""))
    return int(found.group(1)) if found else 1


def check_empty(conn: Connection, path: Path) -> None:
    """Refuse a file with tables of its own: someone else's GeoPackage is never touched."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    if tables:
        raise ValidationError(not_a_store(path, "tables " + ", ".join(sorted(tables)[:8])))


def _statements(script: str) -> list[str]:
    return [s for s in script.split(";\n") if s.strip()]


def create(conn: Connection) -> None:
    """Create the store's tables in an empty file, in the caller's transaction."""
    conn.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
    for statement in _statements(_SCHEMA):
        conn.execute(statement)
    create_spatial_index(conn)
    conn.execute(hours.CREATE_SQL)
    create_map_bins(conn)


def has_hours(conn: Connection) -> bool:
    """Whether the store has the hourly summary (:mod:`geo.store.hours`; schema 6 or later)."""
    return has_table(conn, hours.HOURS)


def fill_hours(conn: Connection) -> int:
    """Make the hourly summary anew from every stored row (caller's transaction); its groups.

    Creates the table when the store has none (an upgrade to schema 6).
    """
    if has_hours(conn):
        conn.execute(hours.delete_sql("1"))
    else:
        conn.execute(hours.CREATE_SQL)
    conn.execute(hours.add_sql("1"))
    return int(conn.execute(f"SELECT count(*) FROM {hours.HOURS}").scalar())


def _day_sql(expr: str) -> str:
    """SQL for the UTC day of a ``time_us`` expression, rounded down like numpy's ``//``."""
    return (
        f"(CASE WHEN {expr} >= 0 THEN {expr} / {DAY_US} ELSE -((-({expr}) - 1) / {DAY_US}) - 1 END)"
    )


#: The geometry blob with a coordinate of -0.0 written as 0.0, as new uploads write it (the
#: position key compares bytes; schema 1 compared lon/lat as numbers). Bytes 14-21 and
#: 22-29 (1-based) are x and y of the store's 29-byte little-endian points.
_POSITIVE_ZERO_SQL = (
    "CASE WHEN length(geom) = 29 THEN CAST(substr(geom, 1, 13) "
    "|| iif(substr(geom, 14, 8) = x'0000000000000080', zeroblob(8), substr(geom, 14, 8)) "
    "|| iif(substr(geom, 22, 8) = x'0000000000000080', zeroblob(8), substr(geom, 22, 8)) "
    "AS BLOB) ELSE geom END"
)  # || makes text: cast back


def upgrade(conn: Connection, *, progress: Progress | None = None) -> None:
    """Upgrade an older store to :data:`SCHEMA_VERSION`, in the caller's transaction.

    Every row, upload id and marking is kept; rows stored before operations belong to
    :data:`DEFAULT_OPERATION`. The cell index is made here too, from every row (a store
    older than :data:`~geo.store.spatial_index.FINE_SCHEMA` has none at the fine grid), so
    the first map query after the upgrade does not (21 s per 10,000,000 rows, measured);
    ``progress`` is told the rows indexed. The map's bins of a schema 7 store stay as they
    are (they count fine cells already); those of an older store are made by
    :func:`geo.store.upgrade_store` (the layouts it is given) or by the map's first query.
    """
    found = schema_version(conn)
    if found < 2:
        _upgrade_from_1(conn)
    if found < 3:
        _upgrade_from_2(conn, rebuild_detections=found >= 2)
    if found < 4:
        _upgrade_from_3(conn)
    if found < 5:
        create_spatial_index(conn)  # schema 4 to 5: the cell index (filled by the map queries)
    if found < 6:
        fill_hours(conn)  # schema 5 to 6: the hourly summary, from the rows
    if found < 7:
        create_map_bins(conn)  # schema 6 to 7: the map's bins (filled by the map queries)
    if 5 <= found < FINE_SCHEMA:
        reset_spatial_index(conn)  # schema 7 to 8: fine cells, indexed anew
    if found < FINE_SCHEMA:
        index_new_rows(conn, progress=progress)  # not left to the map's first query
    for table, description in conn.execute(
        "SELECT table_name, description FROM gpkg_contents WHERE description LIKE 'Limes %'"
    ).fetchall():
        conn.execute(
            "UPDATE gpkg_contents SET description = ? WHERE table_name = ?",
            (
                re.sub(r"store schema \d+\)", f"store schema {SCHEMA_VERSION})", description),
                table,
            ),
        )


def _upgrade_from_1(conn: Connection) -> None:
    """Schema 1 to the detections table of today: the same rows and upload ids.

    Schema 1 had ``lon``/``lat`` columns (the geometry holds them), a generated ``time``
    column (now the ``detections_timed`` view) and an index on the day (now the ``fid``).
    """
    columns = ", ".join(sorted(_REQUIRED_COLUMNS["detections"] - {"fid", "geom"}))
    day = _day_sql("time_us")
    conn.execute("ALTER TABLE detections RENAME TO detections_schema1")
    conn.execute(_DETECTIONS_TABLE)
    conn.execute(
        f"INSERT INTO detections (fid, geom, {columns}) SELECT "
        f"(({day} + {DAY_OFFSET}) << {DAY_SHIFT}) + row_number() OVER "
        f"(PARTITION BY {day} ORDER BY fid), {_POSITIVE_ZERO_SQL}, {columns} "
        "FROM detections_schema1 ORDER BY 1"
    )
    conn.execute("DROP TABLE detections_schema1")
    for statement in (*_statements(_DEDUPE_INDEXES), _TIMED_VIEW, _TIMED_GEOMETRY):
        conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
        "srs_id) VALUES ('detections_timed', 'features', 'detections_timed', ?, 4326)",
        (TIMED_DESCRIPTION,),
    )


def _upgrade_from_2(conn: Connection, *, rebuild_detections: bool) -> None:
    """Schema 2 to 3: the operations' tables, and an ``operation`` on detections and uploads.

    ``rebuild_detections``: the detections table is schema 2's (not just made from schema
    1's): it gets the column, and its duplicate keys become per operation.
    """
    if rebuild_detections:
        conn.execute(f"ALTER TABLE detections ADD COLUMN {_OPERATION_COLUMN}")
        conn.execute(f"DROP INDEX {ID_INDEX}")
        conn.execute(f"DROP INDEX {POSITION_INDEX}")
        for statement in _statements(_DEDUPE_INDEXES):
            conn.execute(statement)
    conn.execute(f"ALTER TABLE uploads ADD COLUMN {_OPERATION_COLUMN}")
    for statement in (*_statements(_OPERATION_TABLES), _OPERATION_CONTENTS):
        conn.execute(statement)


def _upgrade_from_3(conn: Connection) -> None:
    """Schema 3 to 4: the audit table, the retracted rows' table, retractions of uploads.

    Nothing is retracted yet: every row stays where it is.
    """
    for column in _RETRACTION_COLUMNS:
        conn.execute(f"ALTER TABLE uploads ADD COLUMN {column}")
    for statement in (*_statements(_AUDIT_TABLES), _AUDIT_CONTENTS):
        conn.execute(statement)


def has_audit(conn: Connection) -> bool:
    """Whether the store has the audit table and retractions (schema 4 or later)."""
    return has_table(conn, "audit")


def has_operations(conn: Connection) -> bool:
    """Whether the store has the operations' tables and columns (schema 3 or later)."""
    return has_table(conn, "operations")


def check_schema(conn: Connection, path: Path) -> None:
    """Refuse a file whose tables lack a column the store needs, or of a newer schema.

    A store a newer Limes wrote (schema above :data:`SCHEMA_VERSION`) is refused, by
    readers and writers alike: this Limes would misread its tables or write rows the newer
    one does not expect.
    """
    required = dict(_REQUIRED_COLUMNS)
    found = schema_version(conn)
    if found > SCHEMA_VERSION:
        raise ValidationError(
            describe(
                str(path),
                "the store was made by a newer Limes",
                expected=f"store schema {SCHEMA_VERSION} or older",
                got=found,
                fix="Upgrade Limes to open it",
            )
        )
    if found >= 3:
        required.update(_REQUIRED_COLUMNS_3)
    if found >= 4:
        required.update(_REQUIRED_COLUMNS_4)
    for table, columns in required.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_xinfo({table})")}
        missing = columns - have
        if missing:
            raise ValidationError(
                not_a_store(path, f"table {table!r} without column(s) {', '.join(sorted(missing))}")
            )
