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
keys below (per owner); no R-tree, since queries go by partner and time. The rows go from
Arrow columns into SQLite in C (the ADBC SQLite driver, see :class:`Connection`);
:func:`ingest_file` reads the file as columns, without a shapely point per row, in a child
process with memory and time limits that reads the file only (:mod:`geo.inputs.bounded`). An upload
into an empty store, or one holding fewer than twice the upload's rows, writes its rows
without the duplicate-key indexes and builds them afterwards, in the same transaction:
sorting is far cheaper than a million B-tree inserts at random places (an index that cannot
be built means duplicates: undone, the file's own are left out and the rows written again;
rows the partner stored before send the upload the other way). Such an upload of 50,000 rows
or more is written by two threads at once: the first half into the store, the second into a
private in-memory table, whose records SQLite then copies into the store as they are. Other
uploads insert row by row (still bound in C) with ``INSERT ... ON CONFLICT DO NOTHING``.

Reading
-------
Reads go through the driver in Arrow batches of a bounded size (``_READ_BATCH_ROWS``), every
column typed up front (see :meth:`Connection.fetch_arrow`), so a query holds memory for its
rows, not for a batch "as large as any result". A read or upload that runs out of memory
raises :class:`StoreMemoryError` (a :class:`~geo.core.errors.ValidationError` and a
:class:`MemoryError`) saying so; the store is unchanged.

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
(:func:`may_see`); nothing else, anywhere (map, counts, tables, exports, command line). A
joint view of several partners is the union of what each may see.

A missing marking means the owner only, and so does an unknown one (default deny, as TAK
Server and GeoServer GeoFence do): text that is not ``ALL`` nor a list of partner ids, or
``ALL`` together with partner ids. The analyst picks the marking of an upload (default: the
owner only), which applies to every row without a marking of its own; rows that carry one
in the file (Cursor-on-Target ``releasableTo``, a ``releasable_to`` column) keep it (an empty
cell is no marking), and an unknown file marking makes its row owner-only, with a note in
the audit record.

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

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import adbc_driver_sqlite.dbapi as adbc
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geo.access.releasability import (
    ALL,
    may_see,
    parse_releasability,
)
from geo.access.releasability import (
    check_partner as _check_partner,
)
from geo.access.releasability import (
    parse_marking as _parse_marking,
)
from geo.access.releasability import (
    viewers as _viewers,
)
from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.core.times import parse_utc

__all__ = [
    "ALL",
    "IngestResult",
    "StoreMemoryError",
    "backup",
    "feature_collection",
    "ingest",
    "ingest_file",
    "may_see",
    "open_store",
    "owners",
    "parse_releasability",
    "uploads",
    "version",
    "visible_detections",
]


#: GeoPackage ``application_id`` ('GPKG') and ``user_version`` (1.3.0).
GPKG_APPLICATION_ID = 0x47504B47
GPKG_USER_VERSION = 10300

#: Layout of the store; written into the layers' descriptions. Schema 1 (the first
#: release) is upgraded in place when a store is opened for writing (see ``_upgrade``).
SCHEMA_VERSION = 2

#: GeoPackage binary header of a little-endian point without envelope in EPSG:4326, then
#: the WKB point (little endian, type 1): 8 + 21 bytes.
_POINT_BLOB = np.dtype([("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("srs_id", "<i4"),
                        ("order", "u1"), ("wkb_type", "<u4"), ("x", "<f8"), ("y", "<f8")])

#: Microseconds in a day.
_DAY_US = 86_400_000_000

#: ``fid`` of a detection: ``(UTC day + _DAY_OFFSET) << _DAY_SHIFT`` plus its number within
#: the day, so the table is clustered by day and a time window is a range of ``fid``.
#: Days from about 900 BC to AD 4800 give positive ids below 2**53 (exact in JavaScript and
#: JSON); 2**32 detections a day.
_DAY_SHIFT = 32
_DAY_OFFSET = 1 << 20
_MIN_DAY = 1 - _DAY_OFFSET
_MAX_DAY = _DAY_OFFSET - 1

#: Page size of a new store: large pages make a big upload a third faster than SQLite's
#: 4 KiB (fewer pages to balance, log and sync); GDAL and every SQLite read them.
_PAGE_SIZE = 65_536

#: Page cache of the connection that writes an upload (KiB): a million rows fit.
_INGEST_CACHE_KIB = 262_144

#: Page cache while the duplicate-key indexes are built over a table that held at least as
#: many rows as the upload brings (KiB). SQLite then sorts the keys in runs of this size, on
#: its sorter threads, and merges them; with a cache that holds every key it sorts them all
#: at once on one thread (2,000,000 keys: 1.6 s, against 0.9-1.25 s). For fewer keys the
#: gain is less than the cost of writing the upload's pages out of the shrunk cache early.
_SORT_CACHE_KIB = 16_384

#: A store holding fewer rows than this many times an upload's takes it without its
#: duplicate-key indexes and builds them again (see ``_insert_rows``): on a 2-core machine
#: a million keys inserted at random places into an index cost about 2.5 s, and building
#: the index from all rows about 0.6 s per million.
_REBUILD_FACTOR = 2

#: Rows given to the SQLite driver at a time (see ``_write_rows``).
_APPEND_CHUNK_ROWS = 131_072

#: An upload written without its indexes (see ``_write_rows``) of at least this many rows
#: is written by two threads: the later half into a private in-memory database, at the
#: same time as the first half goes into the store, and then copied over in one statement
#: (SQLite copies whole records, without decoding them).
_SIDE_MIN_ROWS = 50_000

#: At most this many bytes (of Arrow columns) go into that in-memory database: SQLite's
#: in-memory file may grow to 1 GiB, and the memory is held until the upload ends.
_SIDE_MAX_BYTES = 256 * 2**20

#: Rows the SQLite driver reads into one Arrow batch. Before the first batch it reserves
#: this many values of every column (8 bytes each, whatever the result holds): a batch "as
#: large as any result" (2**30 rows) reserved about 95 GB of address space for a one-row
#: query and failed under a memory limit. It also types each column from that first batch
#: and refuses a later value of another type, so only :meth:`Connection.fetch_arrow`, which
#: fixes the types up front, reads in batches this large; other statements read the few
#: rows they return in batches of ``_QUERY_BATCH_ROWS`` (the driver's default).
_READ_BATCH_ROWS = 65_536
_QUERY_BATCH_ROWS = 1_024

#: The kinds of column :meth:`Connection.fetch_arrow` reads: the Arrow type, the value of
#: the typing row that goes first, and the SQL that makes any stored value of the column
#: (``{0}``) one of that kind or NULL. SQLite keeps any value in any column (beside what
#: its column affinity converts): such SQL reads text or bytes in a number column, or a
#: number that is no integer in an integer column, as missing, and bytes in a text column
#: as their text, as the driver itself does.
_Kind = Literal["integer", "real", "text", "blob"]
_KINDS: dict[str, tuple[pa.DataType, str, str]] = {
    "integer": (pa.int64(), "0", "CASE WHEN typeof({0}) = 'integer' THEN {0} END"),
    "real": (pa.float64(), "0.0", "CASE WHEN typeof({0}) IN ('integer', 'real') THEN {0} END"),
    "text": (pa.string(), "''", "CAST({0} AS TEXT)"),
    "blob": (pa.binary(), "x''", "CAST({0} AS BLOB)"),
}

#: Messages of an allocation failure: the driver's (errno ENOMEM), SQLite's and GEOS's.
_OUT_OF_MEMORY = re.compile(r"cannot allocate memory|out of memory|\bENOMEM\b|bad_alloc",
                            re.IGNORECASE)

_WGS84_DEFINITION = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

#: The duplicate keys (see "Duplicates" above): the same source's detection id, or for a
#: detection without id the same instant and position (the geometry's bytes; -0.0 is
#: written as 0.0), among one owner's rows. The most selective column first: building the
#: index compares keys a million times, and most comparisons end at the first column.
_ID_INDEX = "detections_dedupe_id"
_POSITION_INDEX = "detections_dedupe_position"
_DEDUPE_INDEXES = f"""CREATE UNIQUE INDEX {_ID_INDEX}
  ON detections(detection_id, ifnull(source, ''), owner) WHERE detection_id IS NOT NULL;
CREATE UNIQUE INDEX {_POSITION_INDEX}
  ON detections(time_us, geom, ifnull(source, ''), owner) WHERE detection_id IS NULL;"""

#: ``time_us`` as GeoPackage DATETIME text, milliseconds rounded down (also before 1970:
#: SQLite's ``/`` truncates towards zero), for GIS tools.
_TIME_SQL = ("strftime('%Y-%m-%dT%H:%M:%fZ', (time_us - (time_us % 1000 + 1000) % 1000) / 1000 "
             "/ 1000.0, 'unixepoch')")

#: The detections layer, its view with a DATETIME ``time`` and the view's registration.
_DETECTIONS_TABLE = """CREATE TABLE detections (
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
  src_row INTEGER)"""
_TIMED_VIEW = f"""CREATE VIEW detections_timed AS SELECT fid, geom, {_TIME_SQL} AS time,
  time_us, detection_id, source, partner, class, confidence, access, caveat, hae_m, ce_m, le_m, owner,
  releasable_to, upload_id, src_row FROM detections"""
_TIMED_GEOMETRY = ("INSERT INTO gpkg_geometry_columns VALUES "
                   "('detections_timed', 'geom', 'POINT', 4326, 0, 0)")

#: Description of the view in ``gpkg_contents``.
_TIMED_DESCRIPTION = ("Limes shared detections with their time as GeoPackage DATETIME (a view; "
                      f"store schema {SCHEMA_VERSION})")

#: GeoPackage core tables (GeoPackage 1.3, clauses 1.1.2, 1.1.3, 2.1.5), the two layers
#: and a view of the detections with a DATETIME ``time`` column.
_SCHEMA = f"""
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT ({_NOW}),
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
  uploaded_at DATETIME NOT NULL DEFAULT ({_NOW}),
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
  notes TEXT);
CREATE INDEX uploads_partner_sha256 ON uploads(partner, sha256);
{_DETECTIONS_TABLE};
{_DEDUPE_INDEXES}
{_TIMED_VIEW};
INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES
  ('detections', 'features', 'detections',
   'Limes shared detections (store schema {SCHEMA_VERSION})', 4326),
  ('uploads', 'attributes', 'uploads',
   'Limes upload audit log (store schema {SCHEMA_VERSION})', NULL),
  ('detections_timed', 'features', 'detections_timed', '{_TIMED_DESCRIPTION}', 4326);
INSERT INTO gpkg_geometry_columns VALUES ('detections', 'geom', 'POINT', 4326, 0, 0);
{_TIMED_GEOMETRY}"""

#: Columns a store's tables must have (checked when an existing file is opened).
_REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "detections": frozenset({"fid", "geom", "time_us", "detection_id", "source", "partner",
                             "class", "confidence", "access", "caveat", "hae_m", "ce_m",
                             "le_m", "owner", "releasable_to", "upload_id", "src_row"}),
    "uploads": frozenset({"upload_id", "uploaded_at", "uploaded_by", "partner", "file_name",
                          "sha256", "format", "rows_read", "accepted", "rejected", "duplicates",
                          "releasable_to", "file_markings", "notes"}),
}

#: Optional text and number columns of a detections frame, stored when present.
_TEXT_COLUMNS = ("detection_id", "source", "partner", "class", "access", "caveat")
_FLOAT_COLUMNS = ("confidence", "hae_m", "ce_m", "le_m")

#: Columns of :func:`visible_detections`, in order (``geometry`` last).
COLUMNS: tuple[str, ...] = (
    "time", "detection_id", "source", "partner", "class", "confidence", "access", "caveat",
    "hae_m", "ce_m", "le_m", "src_row", "owner", "releasable_to", "upload_id",
)

#: Columns :func:`visible_detections` reads, and their kinds (see ``Connection.fetch_arrow``).
_READ_COLUMNS: dict[str, _Kind] = {
    "fid": "integer", "time_us": "integer",
    **{name: "real" if name in _FLOAT_COLUMNS else "integer" if name in ("src_row", "upload_id")
       else "text" for name in COLUMNS[1:]},
    "geom": "blob"}

#: The audit log's columns (:func:`uploads`), in order, and their kinds.
_UPLOAD_COLUMNS: dict[str, _Kind] = {
    "upload_id": "integer", "uploaded_at": "text", "uploaded_by": "text", "partner": "text",
    "file_name": "text", "sha256": "text", "format": "text", "rows_read": "integer",
    "accepted": "integer", "rejected": "integer", "duplicates": "integer",
    "releasable_to": "text", "file_markings": "integer", "notes": "text"}


# --------------------------------------------------------------------------------------
# Opening the store
# --------------------------------------------------------------------------------------


#: What the SQLite driver raises (DB-API classes of ADBC).
_DatabaseError = adbc.DatabaseError
_IntegrityError = adbc.IntegrityError
_OperationalError = adbc.OperationalError


class StoreMemoryError(ValidationError, MemoryError):
    """The store could not be read or written for want of memory (not a fault of the file).

    A :class:`~geo.core.errors.ValidationError` (its message is shown as it is, like other store
    messages) and a :class:`MemoryError`.
    """


#: What an allocation failure may raise (Python, Arrow, the SQLite driver, GEOS).
_MAYBE_MEMORY = (MemoryError, OSError, _DatabaseError, pa.ArrowException,
                 shapely.errors.GEOSException)


def _is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (Python's, Arrow's, the driver's, GEOS's)."""
    if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
        return True
    return isinstance(exc, _MAYBE_MEMORY) and bool(_OUT_OF_MEMORY.search(str(exc)))


def _out_of_memory(where: str, exc: BaseException) -> StoreMemoryError:
    lines = _message(exc).splitlines()  # the driver's message, without its "Detail:" line
    got = lines[0] if lines else type(exc).__name__
    return StoreMemoryError(describe(
        where, "out of memory", expected="enough free memory (and address space, if a limit "
        "such as ulimit -v is set) for the rows read or written", got=got,
        fix="Nothing in the store was changed. Free memory or raise the limit, or read a "
        "shorter time window or upload a smaller file"))


@contextlib.contextmanager
def _memory_reported(where: str) -> Iterator[None]:
    """Raise an allocation failure inside the block as :class:`StoreMemoryError`."""
    try:
        yield
    except StoreMemoryError:
        raise
    except _MAYBE_MEMORY as exc:
        if not _is_out_of_memory(exc):
            raise
        raise _out_of_memory(where, exc) from exc


class Connection:
    """One connection to the store, through the ADBC SQLite driver.

    Every store connection of Limes goes through this one SQLite library (the driver's own,
    a recent SQLite): two SQLite libraries in one process must not hold the same file open,
    since closing one library's file releases the other's POSIX locks. (Only
    :func:`backup` opens the store with Python's ``sqlite3``, after this connection is
    closed, for the online backup API.)

    Autocommit: transactions are explicit (``BEGIN IMMEDIATE`` ... ``COMMIT``).
    :meth:`execute` returns the connection, for :meth:`fetchone` / :meth:`fetchall`.
    """

    def __init__(self, path: Path | str) -> None:
        # An absolute path: SQLite reads a name that starts with "file:" as a URI (a str
        # is taken as it is: see :meth:`scratch`).
        target = str(path.absolute()) if isinstance(path, Path) else path
        self._name = str(path)
        with _memory_reported(self._name):
            self._conn = adbc.connect(target, autocommit=True)
            try:
                # Batches of a bounded size (see _READ_BATCH_ROWS): one cursor for the
                # statements, one for the reads of fetch_arrow.
                self._cur = self._conn.cursor()
                self._cur.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(_QUERY_BATCH_ROWS)})
                self._reader = self._conn.cursor()
                self._reader.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(_READ_BATCH_ROWS)})
            except BaseException:
                self._conn.close()
                raise
        self.in_transaction = False

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Connection:
        with _memory_reported(self._name):
            self._cur.execute(sql, params)
        word = sql.lstrip()[:9].upper()
        if word.startswith("BEGIN"):
            self.in_transaction = True
        elif word.startswith(("COMMIT", "END")) or (word.startswith("ROLLBACK")
                                                    and " TO " not in sql.upper()):
            self.in_transaction = False
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of the last query (its columns typed by the driver: few rows only)."""
        with _memory_reported(self._name):
            return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The rows of the last query (typed by the driver: see :meth:`fetch_arrow`)."""
        with _memory_reported(self._name):
            return self._cur.fetchall()

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())

    def fetch_arrow(self, columns: Mapping[str, _Kind], source: str) -> pa.Table:
        """The rows of ``SELECT <columns> <source>`` as Arrow, each column of its kind.

        The SQLite driver types a column from the first batch it reads and refuses a later
        value of another type (a column NULL in its first batch, then text). So a typing
        row, a value of each column's kind, goes first (and is dropped): results of any size
        read in batches of ``_READ_BATCH_ROWS``. Should the driver still refuse a value or
        type a column otherwise (one of another kind, which another tool may store), the
        query is read again with each value made its column's kind in SQL (see ``_KINDS``;
        half as slow again, so only then).

        Parameters
        ----------
        columns
            Column names and their kinds (``"integer"``: int64, ``"real"``: float64,
            ``"text"``: string, ``"blob"``: binary), in the order of the table.
        source
            ``FROM ... [WHERE ...]`` (no ORDER BY or LIMIT: the rows come in SQLite's order),
            values written into it (no ``?``: with parameters, the driver ignores a
            reservation that failed for want of memory, and crashes).

        Raises
        ------
        StoreMemoryError
            Not enough memory for the rows.
        """
        types = [_KINDS[kind][0] for kind in columns.values()]
        try:
            table = self._fetch_typed(columns, source, made_of_kind=False)
        except (_DatabaseError, OSError, pa.ArrowException):  # a value of another type
            table = None  # (any other error is raised again by the second read)
        if table is None or table.schema.types != types:
            table = self._fetch_typed(columns, source, made_of_kind=True)
        return table

    def _fetch_typed(self, columns: Mapping[str, _Kind], source: str, *,
                     made_of_kind: bool) -> pa.Table:
        """:meth:`fetch_arrow` after a typing row, the values as stored or made their kind."""
        typing_row = ", ".join(["1 AS limes_typing_row"] + [
            f'{_KINDS[kind][1]} AS "{name}"' for name, kind in columns.items()])
        values = ", ".join(["NULL"] + [
            _KINDS[kind][2].format(f'"{name}"') if made_of_kind else f'"{name}"'
            for name, kind in columns.items()])
        with _memory_reported(self._name):
            self._reader.execute(f"SELECT {typing_row} UNION ALL SELECT {values} {source}")
            table = self._reader.fetch_arrow_table()
        mark = table.column(0)
        if table.num_rows == 0 or mark[0].as_py() != 1 or mark.null_count != table.num_rows - 1:
            raise RuntimeError("SQLite did not return the typing row first")  # cannot happen
        return table.slice(1).remove_column(0)

    def insert(self, table: str, data: pa.Table, *, constants: Mapping[str, str | int],
               skip_conflicts: bool = False) -> None:
        """Insert the rows of an Arrow table (bound column by column in C).

        ``constants``: columns with one value for every row, written into the statement
        (cheaper than binding a value per row). ``skip_conflicts``: rows that would break a
        unique key are left out (``ON CONFLICT DO NOTHING``).
        """
        names = ", ".join(f'"{c}"' for c in (*data.column_names, *constants))
        values = ", ".join(["?"] * data.num_columns
                           + [str(v) if isinstance(v, int) else _sql_text(v)
                              for v in constants.values()])
        conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
        with _memory_reported(self._name):
            self._cur.executemany(
                f'INSERT INTO "{table}" ({names}) VALUES ({values}){conflict}', data)

    @classmethod
    def scratch(cls) -> tuple[Connection, str]:
        """A new private in-memory database (SQLite's ``memdb``) and its URI.

        Another connection of this process may ``ATTACH`` it; it is gone when both are closed.
        """
        uri = f"file:/limes-side-{uuid.uuid4().hex}?vfs=memdb"
        conn = cls(uri)
        try:
            for pragma in ("journal_mode = OFF", "synchronous = OFF",
                           f"page_size = {_PAGE_SIZE}", f"cache_size = -{_INGEST_CACHE_KIB}"):
                conn.execute(f"PRAGMA {pragma}").fetchall()
        except BaseException:
            conn.close()
            raise
        return conn, uri

    @property
    def total_changes(self) -> int:
        return int(self.execute("SELECT total_changes()").fetchone()[0])

    def close(self) -> None:
        try:
            try:
                self._cur.close()
            finally:
                self._reader.close()
        finally:
            self._conn.close()


def _connect(path: Path, *, busy_timeout_s: float) -> Connection:
    try:
        conn = Connection(path)
    except _DatabaseError as exc:
        raise ValidationError(describe(
            str(path), "cannot open the store", expected="a file Limes may read and write",
            got=_message(exc), fix="Check the path and its permissions")) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}").fetchall()
        conn.execute("PRAGMA synchronous = FULL").fetchall()
        conn.execute("PRAGMA journal_size_limit = 67108864").fetchall()  # WAL kept ≤ 64 MiB
    except _DatabaseError as exc:
        conn.close()
        raise ValidationError(_not_a_store(path, _message(exc))) from exc
    return conn


def _message(exc: BaseException) -> str:
    """The driver's message without its prefix ("IO: Failed to step query: ...")."""
    text = str(exc)
    return text.rsplit(": ", 1)[-1] if "Failed to" in text else text


def _not_a_store(path: Path, got: str) -> str:
    return describe(str(path), "not a Limes store", expected="a GeoPackage written by Limes "
                    "(python -m geo ingest creates one)", got=got,
                    fix="Point --store at the store file, or at a new file name to create one")


def _busy(path: Path) -> ValidationError:
    return ValidationError(
        f"{path}: the store is busy (another upload is being written); nothing was changed. "
        "Retry in a moment")


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def open_store(path: str | os.PathLike[str], *, create: bool = True,
               busy_timeout_s: float | None = None) -> Connection:
    """Open the store, creating it (and its directory) on first use.

    The connection is in autocommit mode (transactions are explicit), with WAL journal,
    ``synchronous=FULL`` and a busy timeout; a store of an older schema is upgraded first.
    Close it when done.

    Parameters
    ----------
    path
        The store, a GeoPackage file.
    create
        Create the store when the file does not exist (else raise).
    busy_timeout_s
        How long to wait for another writer (default
        :data:`geo.core.settings.STORE_BUSY_TIMEOUT_S`).

    Returns
    -------
    Connection

    Raises
    ------
    ValidationError
        The file is not a Limes store (another GeoPackage, not SQLite at all), the store
        does not exist and ``create`` is false, the file system does not support SQLite's
        WAL journal, or the store stayed busy.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     conn = open_store(Path(tmp) / "new" / "limes.gpkg")
    ...     tables = [r[0] for r in conn.execute("SELECT table_name FROM gpkg_contents")]
    ...     conn.close()
    >>> sorted(tables)
    ['detections', 'detections_timed', 'uploads']
    """
    path = Path(path)
    timeout = settings.STORE_BUSY_TIMEOUT_S if busy_timeout_s is None else busy_timeout_s
    exists = path.exists()
    if not exists and not create:
        raise ValidationError(describe(str(path), "no such store", expected="an existing store "
                                       "file", got="nothing at that path",
                                       fix="Check --store, or ingest a file first"))
    if exists and path.is_dir():
        raise ValidationError(_not_a_store(path, "a directory"))
    if not exists:
        _create_private(path)
    conn = _connect(path, busy_timeout_s=timeout)
    try:
        _prepare(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _create_private(path: Path) -> None:
    """Create the store's empty file (and its folder), readable by its owner only (0600).

    Whatever the umask: the mode is set again after the file is made. SQLite gives the
    ``-wal`` and ``-shm`` files it makes next to the store the store's own mode. A file
    another process created meanwhile is left as it is.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if isinstance(exc, FileExistsError) and path.is_file():
            return  # another upload created it first
        raise ValidationError(describe(
            str(path), "cannot create the store", expected="a file name in a folder Limes may "
            "write to", got=exc.strerror or str(exc), fix="Check --store and the permissions")
        ) from exc
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _prepare(conn: Connection, path: Path) -> None:
    """Check an existing store (before changing anything), then switch to WAL.

    Creates the store on first use and upgrades an older schema.
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id not in (0, GPKG_APPLICATION_ID):
            raise ValidationError(_not_a_store(path, f"SQLite application_id {app_id:#x}"))
        if _has_table(conn, "detections"):
            _check_schema(conn, path)
        else:
            _check_empty(conn, path)
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new file
            conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}").fetchall()
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise ValidationError(describe(
                    str(path), "the file system does not support SQLite's WAL journal",
                    expected="journal mode wal", got=mode,
                    fix="Put the store on a local disk (not a network share)"))
        if not _has_table(conn, "detections") or _schema_version(conn) < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not _has_table(conn, "detections"):  # another process may have won
                    _check_empty(conn, path)
                    _create(conn)
                elif _schema_version(conn) < SCHEMA_VERSION:
                    _upgrade(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            _check_schema(conn, path)
    except _OperationalError as exc:
        if _is_busy(exc):
            raise _busy(path) from exc
        text = str(exc)
        if "readonly" in text or "unable to open" in text:
            raise ValidationError(describe(
                str(path), "cannot open the store for writing", expected="a file and folder "
                "Limes may write to", got=_message(exc), fix="Check the permissions")) from exc
        raise ValidationError(_not_a_store(path, _message(exc))) from exc
    except _DatabaseError as exc:
        raise ValidationError(_not_a_store(path, _message(exc))) from exc


def _has_table(conn: Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (name,)).fetchone()
    return row is not None


def _schema_version(conn: Connection) -> int:
    """The store schema written in the detections layer's description (1 when absent)."""
    row = conn.execute("SELECT description FROM gpkg_contents WHERE table_name = "
                       "'detections'").fetchone()
    found = re.search(r"store schema (\d+)", str(row[0] if row else ""))
    return int(found.group(1)) if found else 1


def _check_empty(conn: Connection, path: Path) -> None:
    """Refuse a file with tables of its own: someone else's GeoPackage is never touched."""
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    if tables:
        raise ValidationError(_not_a_store(path, "tables " + ", ".join(sorted(tables)[:8])))


def _statements(script: str) -> list[str]:
    return [s for s in script.split(";\n") if s.strip()]


def _create(conn: Connection) -> None:
    # Statement by statement, in the caller's transaction.
    conn.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
    for statement in _statements(_SCHEMA):
        conn.execute(statement)


def _day_sql(expr: str) -> str:
    """SQL for the UTC day of a ``time_us`` expression, rounded down like numpy's ``//``."""
    return (f"(CASE WHEN {expr} >= 0 THEN {expr} / {_DAY_US} "
            f"ELSE -((-({expr}) - 1) / {_DAY_US}) - 1 END)")


#: The geometry blob with a coordinate of -0.0 written as 0.0, as new uploads write it (the
#: position key compares bytes; schema 1 compared lon/lat as numbers). Bytes 14-21 and
#: 22-29 (1-based) are x and y of the store's 29-byte little-endian points.
_POSITIVE_ZERO_SQL = (
    "CASE WHEN length(geom) = 29 THEN CAST(substr(geom, 1, 13) "
    "|| iif(substr(geom, 14, 8) = x'0000000000000080', zeroblob(8), substr(geom, 14, 8)) "
    "|| iif(substr(geom, 22, 8) = x'0000000000000080', zeroblob(8), substr(geom, 22, 8)) "
    "AS BLOB) ELSE geom END")  # || makes text: cast back


def _upgrade(conn: Connection) -> None:
    """Schema 1 to 2, in the caller's transaction: the same rows and upload ids.

    Schema 1 had ``lon``/``lat`` columns (the geometry holds them), a generated ``time``
    column (now the ``detections_timed`` view) and an index on the day (now the ``fid``).
    """
    columns = ", ".join(sorted(_REQUIRED_COLUMNS["detections"] - {"fid", "geom"}))
    day = _day_sql("time_us")
    conn.execute("ALTER TABLE detections RENAME TO detections_schema1")
    conn.execute(_DETECTIONS_TABLE)
    conn.execute(
        f"INSERT INTO detections (fid, geom, {columns}) SELECT "
        f"(({day} + {_DAY_OFFSET}) << {_DAY_SHIFT}) + row_number() OVER "
        f"(PARTITION BY {day} ORDER BY fid), {_POSITIVE_ZERO_SQL}, {columns} "
        "FROM detections_schema1 ORDER BY 1")
    conn.execute("DROP TABLE detections_schema1")
    for statement in (*_statements(_DEDUPE_INDEXES), _TIMED_VIEW, _TIMED_GEOMETRY):
        conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
        "srs_id) VALUES ('detections_timed', 'features', 'detections_timed', ?, 4326)",
        (_TIMED_DESCRIPTION,))
    for table in ("detections", "uploads"):
        conn.execute(f"UPDATE gpkg_contents SET description = replace(description, "
                     f"'store schema 1', 'store schema {SCHEMA_VERSION}') WHERE table_name = ?",
                     (table,))


def _check_schema(conn: Connection, path: Path) -> None:
    for table, required in _REQUIRED_COLUMNS.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_xinfo({table})")}
        missing = required - have
        if missing:
            raise ValidationError(_not_a_store(
                path, f"table {table!r} without column(s) {', '.join(sorted(missing))}"))


@contextlib.contextmanager
def _reading(path: str | os.PathLike[str]) -> Iterator[Connection | None]:
    """A connection to an existing store, or ``None`` when there is no store yet.

    An allocation failure in the block (reading, or making a frame of what was read) raises
    :class:`StoreMemoryError`.
    """
    if not Path(path).exists():
        yield None
        return
    conn = open_store(path, create=False)
    try:
        with _memory_reported(str(path)):
            yield conn
    finally:
        conn.close()


def owners(path: str | os.PathLike[str]) -> list[str]:
    """Partners that have uploaded into the store, sorted (for a demo or admin view of all).

    Examples
    --------
    >>> owners("no-such-store.gpkg")
    []
    """
    with _reading(path) as conn:
        if conn is None:
            return []
        return [r[0] for r in conn.execute(
            "SELECT DISTINCT partner FROM uploads ORDER BY partner")]


def version(path: str | os.PathLike[str]) -> int:
    """A number that changes whenever an upload lands in the store (for cache keys).

    The last upload id: ids only grow (AUTOINCREMENT), and a refused, failed or repeated
    upload leaves it as it was. ``0`` for a store that does not exist yet or has no upload.

    Examples
    --------
    >>> version("no-such-store.gpkg")
    0
    """
    with _reading(path) as conn:
        if conn is None:
            return 0
        return int(conn.execute("SELECT ifnull(max(upload_id), 0) FROM uploads").fetchone()[0])


# --------------------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------------------


@dataclass
class IngestResult:
    """What one upload did.

    Attributes
    ----------
    upload_id
        The audit record of the upload; for a file already uploaded by the partner, the
        earlier upload's.
    accepted
        Rows added to the store.
    rejected
        Rows of the file that failed validation (nothing of them is stored).
    duplicates
        Valid rows not added because the partner's store already holds them, or an earlier
        row of the file is the same detection; every valid row when the file was uploaded
        before (``accepted + rejected + duplicates`` = rows read).
    errors
        The first :data:`geo.core.settings.INGEST_MAX_ERRORS` rejected rows, each
        ``{"row", "reason"}``.
    already_uploaded
        The partner had uploaded this very file (same SHA-256) before: nothing was added.
    releasable_to
        The marking applied to rows without their own (``""``: the owner only).
    file_markings
        Rows that kept the marking they carried in the file.
    notes
        Sentences on what else happened (markings kept or refused, the earlier upload).
    """

    upload_id: int
    accepted: int
    rejected: int
    duplicates: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    already_uploaded: bool = False
    releasable_to: str = ""
    file_markings: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready types, contract keys first."""
        return {
            "upload_id": self.upload_id, "accepted": self.accepted, "rejected": self.rejected,
            "duplicates": self.duplicates, "errors": list(self.errors),
            "already_uploaded": self.already_uploaded, "releasable_to": self.releasable_to,
            "file_markings": self.file_markings, "notes": list(self.notes),
        }


def _errors(report: Any) -> list[dict[str, Any]]:
    out = []
    for err in list(getattr(report, "rejected", []))[:settings.INGEST_MAX_ERRORS]:
        row = err.row if isinstance(err.row, str) else int(err.row)
        why = f"field '{err.field}': {err.reason}" if err.field else err.reason
        out.append({"row": row, "reason": why})
    return out


@dataclass
class _Rows:
    """The rows of one upload, checked and converted for writing (in file order)."""

    columns: dict[str, np.ndarray | pd.Series]
    n: int
    file_markings: int
    notes: list[str]
    bounds: tuple[float, float, float, float] | None


def _text_values(frame: pd.DataFrame | Mapping[str, Any], name: str) -> pd.Series | None:
    """The column as pandas ``str`` (missing and empty text as NaN), or None if all missing."""
    if name not in frame:
        return None
    values = pd.Series(frame[name])
    if not pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        values = values.astype("str")
    empty = values == ""
    if empty.any():
        values = values.mask(empty)
    return values if values.notna().any() else None


def _prepare_rows(detections: gpd.GeoDataFrame | Mapping[str, Any], source: str,
                  default_marking: str) -> _Rows:
    """Check the rows and resolve the markings (the file's where a row has one).

    ``detections``: a frame of :func:`geo.inputs.loader.read_detections`, or the columns of
    :func:`geo.inputs.loader.read_detection_columns` (``lon``/``lat`` instead of a geometry).
    """
    if isinstance(detections, gpd.GeoDataFrame):
        if detections.crs is None or detections.crs.to_epsg() != 4326:
            raise ValidationError(describe(source, "detections are not in EPSG:4326",
                                           expected="EPSG:4326", got=str(detections.crs),
                                           fix="Load the file with geo.inputs.loader.read_detections"))
        geoms = np.asarray(detections.geometry.array, dtype=object)
        lon, lat = shapely.get_x(geoms), shapely.get_y(geoms)
        bad = (shapely.get_type_id(geoms) != 0) | shapely.is_empty(geoms)
        shown: np.ndarray | None = geoms
    else:
        lon = np.asarray(detections["lon"], dtype=float)
        lat = np.asarray(detections["lat"], dtype=float)
        bad = (np.abs(lon) > 180) | (np.abs(lat) > 90)
        shown = None
    bad = bad | ~np.isfinite(lon) | ~np.isfinite(lat)
    if "time" not in detections:
        raise ValidationError(describe(source, "no time column", field="time",
                                       expected="a time column", got=list(detections.keys())))
    n = len(lon)
    src_row = (np.asarray(detections["src_row"], dtype=np.int64) if "src_row" in detections
               else np.arange(1, n + 1, dtype=np.int64))
    times = pd.to_datetime(pd.Series(detections["time"]), utc=True).astype(
        "datetime64[us, UTC]")
    bad_time = times.isna().to_numpy()
    for mask, fld, what in ((bad, "geometry", "a point with finite coordinates"),
                            (bad_time, "time", "a time")):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            got = None
            if fld == "geometry":
                got = (str(shown[i]) if shown is not None
                       else f"longitude {lon[i]}, latitude {lat[i]}")
            raise ValidationError(describe(
                source, "unusable detection", row=int(src_row[i]), field=fld, expected=what,
                got=got, fix="Load the file with geo.inputs.loader.read_detections"))

    # Before the store is opened: a refused upload creates no store.
    _check_days(times.array.asi8, source)
    columns: dict[str, np.ndarray | pd.Series] = {
        "time_us": times.array.asi8, "lon": lon, "lat": lat, "src_row": src_row,
    }
    for name in _TEXT_COLUMNS:
        text = _text_values(detections, name)
        if text is not None:
            columns[name] = text
    for name in _FLOAT_COLUMNS:
        if name in detections:
            values = pd.Series(detections[name]).to_numpy(dtype=float, na_value=np.nan)
            if not np.isnan(values).all():
                columns[name] = values

    # Markings: the file's where a row has one, else the analyst's.
    notes: list[str] = []
    file_markings = 0
    own = _text_values(detections, "releasable_to")
    if own is not None:
        parsed = {v: _parse_marking(v) for v in pd.unique(own.dropna())}
        unknown = [v for v, (_, why) in parsed.items() if why is not None]
        n_unknown = int(own.isin(unknown).sum()) if unknown else 0
        file_markings = int(own.notna().sum()) - n_unknown
        columns["releasable_to"] = own.map({v: m for v, (m, _) in parsed.items()}).fillna(
            default_marking).astype("str")
        if file_markings:
            notes.append(f"{file_markings} row(s) keep the marking they carry in the file")
        if n_unknown:
            shown = "; ".join(f"{v!r} ({parsed[v][1]})" for v in unknown[:3])
            notes.append(f"{n_unknown} row(s) carry an unknown marking, so only the owner may "
                         f"see them: {shown}")
    bounds = ((float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
              if n else None)
    return _Rows(columns=columns, n=n, file_markings=file_markings, notes=notes, bounds=bounds)


def _geometry_array(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """GeoPackage geometry blobs of points as one Arrow binary array (no Python objects).

    ``-0.0`` is written as ``0.0``: the position duplicate key compares the blobs' bytes.
    """
    n = len(lon)
    rec = np.empty(n, dtype=_POINT_BLOB)
    rec["magic"], rec["version"], rec["flags"], rec["srs_id"] = b"GP", 0, 1, 4326
    rec["order"], rec["wkb_type"] = 1, 1
    rec["x"], rec["y"] = np.asarray(lon, dtype=float) + 0.0, np.asarray(lat, dtype=float) + 0.0
    size = _POINT_BLOB.itemsize
    large = (n + 1) * size >= 2**31
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int64 if large else np.int32)
    return pa.Array.from_buffers(pa.large_binary() if large else pa.binary(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(rec)])


def _points(blobs: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Shapely points of GeoPackage geometry blobs (vectorised for the store's own)."""
    arr = blobs.combine_chunks() if isinstance(blobs, pa.ChunkedArray) else blobs
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=object)
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if pa.types.is_large_binary(
            arr.type) else np.int32)[arr.offset:arr.offset + n + 1]
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
        size = _POINT_BLOB.itemsize
        if arr.null_count == 0 and (np.diff(offsets) == size).all():
            rec = data[offsets[0]:offsets[-1]].view(_POINT_BLOB)
            if ((rec["magic"] == b"GP") & (rec["flags"] == 1) & (rec["order"] == 1)
                    & (rec["wkb_type"] == 1)).all():
                from geo.inputs.readers import no_gc  # (GDAL's drivers are set up on import)

                with no_gc():  # a million points: 0.2 s instead of up to 1 s
                    return shapely.points(rec["x"], rec["y"])
    # Blobs written by another tool (e.g. a feature edited in QGIS): header, then WKB.
    envelope_bytes = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
    wkb = []
    for blob in arr.to_pylist():
        flags = blob[3] if blob is not None and len(blob) > 8 else 0
        wkb.append(None if blob is None else blob[8 + envelope_bytes.get((flags >> 1) & 7, 0):])
    return shapely.from_wkb(wkb)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _first_rows(rows: _Rows) -> np.ndarray:
    """Which rows are the first of their detection (the duplicate keys) in writing order.

    Rows are written day by day (UTC), each day in file order (see :func:`_day_order`), as
    ``INSERT ... ON CONFLICT DO NOTHING`` would keep them.
    """
    cols = rows.columns
    n = rows.n
    _, order = _day_order(cols["time_us"], "upload")
    source = cols.get("source")
    src = (pd.array(np.full(n, "", dtype=object), dtype="str") if source is None
           else source.fillna("").array)[order]
    ids = cols.get("detection_id")
    has_id = (np.zeros(n, dtype=bool) if ids is None else ids.notna().to_numpy())[order]
    first = np.ones(n, dtype=bool)
    if has_id.any():
        assert ids is not None
        keys = pd.DataFrame({"s": src[has_id], "i": ids.array[order][has_id]})
        first[has_id] = ~keys.duplicated().to_numpy()
    no_id = ~has_id
    if no_id.any():
        # + 0.0: -0.0 and 0.0 are one position (as in the store's key)
        keys = pd.DataFrame({"s": src[no_id], "t": cols["time_us"][order][no_id],
                             "x": cols["lon"][order][no_id] + 0.0,
                             "y": cols["lat"][order][no_id] + 0.0})
        first[no_id] = ~keys.duplicated().to_numpy()
    out = np.empty(n, dtype=bool)
    out[order] = first
    return out


def _subset(rows: _Rows, keep: np.ndarray) -> _Rows:
    columns = {name: values[keep] for name, values in rows.columns.items()}
    return _Rows(columns=columns, n=int(keep.sum()), file_markings=rows.file_markings,
                 notes=rows.notes, bounds=rows.bounds)


def _check_days(time_us: np.ndarray, source: str) -> None:
    """Refuse times on days the row ids cannot number (see ``_DAY_SHIFT``)."""
    day = time_us // _DAY_US
    for bad, what in ((day < _MIN_DAY, "earliest"), (day > _MAX_DAY, "latest")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(describe(
                source, f"a time outside what the store keeps ({what} row shown)",
                expected="a time between about 900 BC and AD 4800",
                got=str(np.datetime64(int(time_us[i]), "us")), fix="Check the time column"))


def _day_order(time_us: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC day of each row and the order rows are written in: by day, then in file order.

    The days were checked by :func:`_check_days` (in :func:`_prepare_rows`).
    """
    day = time_us // _DAY_US
    if len(day) < 2 or (np.diff(day) >= 0).all():
        return day, np.arange(len(day))
    # stable: file order within a day (radix sort when the days span < 2**15)
    span = int(day.max() - day.min())
    return day, np.argsort((day - day.min()).astype(np.int16) if span < 2**15 else day,
                           kind="stable")


def _fids(conn: Connection, time_us: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``fid`` of each row (see ``_DAY_SHIFT``) and the row order that sorts them.

    Rows of a day are numbered on from the store's last row of that day, in file order.
    """
    day, order = _day_order(time_us, source)
    days, starts, counts = np.unique(day[order], return_index=True, return_counts=True)
    found = dict(conn.execute(
        f"SELECT value, (SELECT max(fid) FROM detections WHERE "
        f"fid >= ((value + {_DAY_OFFSET}) << {_DAY_SHIFT}) AND "
        f"fid < ((value + {_DAY_OFFSET + 1}) << {_DAY_SHIFT})) FROM json_each(?)",
        (json.dumps(days.tolist()),)).fetchall())
    last = np.array([found.get(d) or 0 for d in days.tolist()], dtype=np.int64)
    first_number = np.where(last > 0, (last & ((1 << _DAY_SHIFT) - 1)) + 1, 1)
    number = (np.arange(len(day), dtype=np.int64) - np.repeat(starts, counts)
              + np.repeat(first_number, counts))
    if len(number) and int(number.max()) >= 1 << _DAY_SHIFT:
        raise ValidationError(describe(source, "too many detections in one day",
                                       expected=f"fewer than {1 << _DAY_SHIFT:,} a day"))
    return ((day[order] + _DAY_OFFSET) << _DAY_SHIFT) + number, order


def _arrow_columns(rows: _Rows) -> dict[str, pa.Array | np.ndarray]:
    """The rows' columns as contiguous Arrow arrays (text) and numpy arrays (numbers).

    A text column read from a file comes in many Arrow chunks; picking rows out of one
    contiguous array is several times faster.
    """
    out: dict[str, pa.Array | np.ndarray] = {}
    for name, values in rows.columns.items():
        if isinstance(values, pd.Series):
            array = pa.array(values)
            out[name] = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        else:
            out[name] = np.asarray(values)
    return out


def _arrow_rows(cols: dict[str, pa.Array | np.ndarray], fid: np.ndarray,
                rows: slice | np.ndarray) -> pa.Table:
    """Rows as the ``detections`` table's columns: a slice (no copy) or the rows at an index.

    A slice gives its start and stop.

    The columns with one value for the whole upload are not among them (see
    :func:`_write_rows`).
    """
    if isinstance(rows, slice):
        start, stop = rows.start, rows.stop

        def arrow(values: pa.Array | np.ndarray) -> pa.Array:
            if isinstance(values, pa.Array):
                return values.slice(start, stop - start)
            return pa.array(values[start:stop])
    else:
        take = pa.array(rows)

        def arrow(values: pa.Array | np.ndarray) -> pa.Array:
            if isinstance(values, pa.Array):
                return values.take(take)
            return pa.array(values[rows])

    lon, lat = cols["lon"], cols["lat"]
    data: dict[str, pa.Array] = {
        "fid": pa.array(fid),
        "geom": _geometry_array(lon[rows], lat[rows]),
        "time_us": arrow(cols["time_us"]),
    }
    for name in (*_TEXT_COLUMNS, *_FLOAT_COLUMNS, "releasable_to", "src_row"):
        if name in cols:
            data[name] = arrow(cols[name])
    return pa.table(data)


def _side_start(cols: dict[str, pa.Array | np.ndarray], n: int) -> int:
    """Where the rows that go into the side database begin (``n``: none do)."""
    if n < _SIDE_MIN_ROWS:
        return n
    row_bytes = sum(v.nbytes for v in cols.values()) / n + 64  # + geometry, record overhead
    return n - min(n // 2, int(_SIDE_MAX_BYTES / row_bytes))


def _side_table(conn: Connection) -> tuple[Connection, str]:
    """A private in-memory ``detections`` table like the store's, attached to ``conn``.

    Returns its connection and the name it is attached under. Its table is created from
    the store's own definition, so that ``INSERT INTO main.detections SELECT * FROM ...``
    copies records as they are (SQLite's transfer optimisation).
    """
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                       "name = 'detections'").fetchone()[0]
    side, uri = Connection.scratch()
    try:
        side.execute(ddl)
        name = f"limes_side_{uuid.uuid4().hex[:12]}"
        conn.execute(f"ATTACH DATABASE ? AS {name}", (uri,))
    except BaseException:
        side.close()
        raise
    return side, name


def _side_insert(side: Connection, parts: Iterator[pa.Table], constants: Mapping[str, str | int]
                 ) -> None:
    side.execute("BEGIN")
    for part in parts:
        side.insert("detections", part, constants=constants)
    side.execute("COMMIT")


def _write_rows(conn: Connection, rows: _Rows, *, skip_duplicates: bool, owner: str,
                marking: str, upload_id: int, source: str) -> int:
    """Write the rows into ``detections`` in ``fid`` order, a chunk at a time.

    The driver binds a chunk in C without Python's lock, on a second thread, while this one
    makes the next chunk's Arrow columns. ``owner``, ``upload_id`` and (unless the file
    gives rows their own) the marking are the same for every row: written into the
    statement, not bound per row. ``skip_duplicates``: ``ON CONFLICT DO NOTHING`` (the
    indexes are in place), else a plain insert: then the table must have no index, and
    a large upload's later rows (see :data:`_SIDE_MIN_ROWS`) are written at the same time
    into a private in-memory table on a third thread and copied into the store at the end
    (whole records, in ``fid`` order). Returns the rows inserted.
    """
    fid, order = _fids(conn, rows.columns["time_us"], source)
    sorted_already = bool((order == np.arange(rows.n)).all())
    cols = _arrow_columns(rows)
    constants: dict[str, str | int] = {"owner": owner, "upload_id": upload_id}
    if "releasable_to" not in cols:
        constants["releasable_to"] = marking
    split = rows.n if skip_duplicates else _side_start(cols, rows.n)

    def parts(start: int, stop: int) -> Iterator[pa.Table]:
        for at in range(start, stop, _APPEND_CHUNK_ROWS):
            end = min(at + _APPEND_CHUNK_ROWS, stop)
            yield _arrow_rows(cols, fid[at:end],
                              slice(at, end) if sorted_already else order[at:end])

    before = conn.total_changes
    with contextlib.ExitStack() as stack:
        side_name = None
        if split < rows.n:
            side, side_name = _side_table(conn)
            stack.callback(side.close)
            side_writer = stack.enter_context(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="limes-store-side"))
            # The side thread makes its own chunks (at most half of them).
            side_done = side_writer.submit(_side_insert, side, parts(split, rows.n), constants)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="limes-store") as writer:
            pending = None
            for part in parts(0, split):
                if pending is not None:
                    pending.result()
                pending = writer.submit(conn.insert, "detections", part, constants=constants,
                                        skip_conflicts=skip_duplicates)
            if pending is not None:
                pending.result()
        if side_name is not None:
            side_done.result()
            conn.execute(f"INSERT INTO main.detections SELECT * FROM {side_name}.detections")
    return conn.total_changes - before


def _insert_rows(conn: Connection, rows: _Rows, *, owner: str, marking: str,
                 upload_id: int, source: str = "upload") -> int:
    """Insert the rows (in the caller's transaction); return how many were new.

    The rows go through the SQLite driver's bulk insert: Arrow columns bound in C, one
    prepared statement, day by day and in file order within a day. Duplicates (see the
    module's "Duplicates") are left out: the first row of a detection written is kept.

    Two ways, the same outcome:

    - Into an empty table, or one holding fewer than :data:`_REBUILD_FACTOR` times the
      upload's rows, the rows go straight in, with the duplicate keys' indexes dropped and
      built again afterwards: sorting every key is several times cheaper than a million
      B-tree inserts at random places. An index that cannot be built means duplicates:
      undone, the file's own duplicates are left out and the rows written again; if the
      build still fails (rows the partner stored before), the other way is taken.
    - Otherwise each row goes in with ``INSERT ... ON CONFLICT DO NOTHING``, which skips
      duplicates (and only those: a missing required value still fails the upload).
    """
    if rows.n == 0:
        return 0
    kw = {"owner": owner, "marking": marking, "upload_id": upload_id, "source": source}
    stored = int(conn.execute("SELECT ifnull(sum(accepted), 0) FROM uploads").fetchone()[0])
    if stored < _REBUILD_FACTOR * rows.n and not (stored and _stored_keys(conn, rows, owner)):
        # Sorting at least twice the upload's keys: in runs, on the sorter threads.
        sort_in_runs = stored >= rows.n
        inserted = _bulk_insert_rows(conn, rows, sort_in_runs=sort_in_runs, **kw)
        if inserted is not None:
            return inserted
        keep = _first_rows(rows)
        if not keep.all():
            rows = _subset(rows, keep)
            inserted = _bulk_insert_rows(conn, rows, sort_in_runs=sort_in_runs, **kw)
            if inserted is not None:
                return inserted
    return _write_rows(conn, rows, skip_duplicates=True, **kw)


def _stored_keys(conn: Connection, rows: _Rows, owner: str) -> bool:
    """Whether a sample of the rows' detection ids (up to 1,000) is stored already.

    A re-upload of overlapping data finds some at once and goes the row-by-row way instead
    of trying a bulk write whose index build would fail.
    """
    ids = rows.columns.get("detection_id")
    if ids is None:
        return False
    pos = np.unique(np.linspace(0, rows.n - 1, min(rows.n, 1000)).astype(np.int64))
    source = rows.columns.get("source")
    keys = [[i, s] for i, s in zip(
        ids.iloc[pos].tolist(), (source.iloc[pos].fillna("").tolist() if source is not None
                                 else [""] * len(pos)), strict=True) if isinstance(i, str)]
    if not keys:
        return False
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM json_each(?) AS k JOIN detections AS d ON "
        "d.detection_id = k.value ->> 0 AND ifnull(d.source, '') = k.value ->> 1 "
        "AND d.owner = ?)", (json.dumps(keys), owner)).fetchone()[0]
    return bool(found)


def _bulk_insert_rows(conn: Connection, rows: _Rows, *, sort_in_runs: bool = False,
                      **kw: Any) -> int | None:
    """Write into the table without its indexes, then build them again.

    Every index of the table is dropped, also a partial one that none of the rows enter:
    rows are only copied as whole records into a table without indexes (see
    :func:`_write_rows`), and building an index that no row enters is one pass over the
    table. ``sort_in_runs``: build the indexes the rows enter with a small page cache (see
    :data:`_SORT_CACHE_KIB`). ``None`` (and nothing written) when an index cannot be built:
    the rows hold duplicates.
    """
    ids = rows.columns.get("detection_id")
    with_id = 0 if ids is None else int(ids.notna().sum())
    untouched = {_ID_INDEX} if with_id == 0 else {_POSITION_INDEX} if with_id == rows.n else set()
    # An index the rows do not enter is built first, while the table is in the page cache.
    indexes = sorted(conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
        "tbl_name = 'detections' AND sql IS NOT NULL").fetchall(),
        key=lambda index: index[0] not in untouched)
    conn.execute("SAVEPOINT bulk_insert")
    try:
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name.replace(chr(34), chr(34) * 2)}"')
        inserted = _write_rows(conn, rows, skip_duplicates=False, **kw)
        conn.execute(f"PRAGMA threads = {min(4, os.cpu_count() or 1)}")  # sorter threads
        try:
            for name, sql in indexes:
                if sort_in_runs and name not in untouched:
                    conn.execute(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
                conn.execute(sql)
        finally:
            conn.execute(f"PRAGMA cache_size = -{_INGEST_CACHE_KIB}")
    except _IntegrityError:
        conn.execute("ROLLBACK TO bulk_insert")
        conn.execute("RELEASE bulk_insert")
        return None
    conn.execute("RELEASE bulk_insert")
    return inserted


def ingest(path: str | os.PathLike[str], detections: gpd.GeoDataFrame | Mapping[str, Any],
           report: Any, *,
           file_name: str, sha256: str, partner: str, releasable_to: str | None = None,
           user: str | None = None, busy_timeout_s: float | None = None) -> IngestResult:
    """Add loaded detections to the store as one upload: all of it or nothing.

    Parameters
    ----------
    path
        The store (created on first use).
    detections
        Rows from :func:`geo.inputs.loader.read_detections` (EPSG:4326 points with ``time``; the
        optional columns are stored when present; ``releasable_to`` is the row's own
        marking), or the columns of :func:`geo.inputs.loader.read_detection_columns`. Not modified.
    report
        Its :class:`geo.inputs.loader.LoadReport` (rows read, rejected rows and why, format).
    file_name
        The file's name as the user knows it (audit log).
    sha256
        Hex SHA-256 of the file's bytes: the same partner uploading the same file again adds
        nothing.
    partner
        The partner that owns the rows (a partner id).
    releasable_to
        The marking for rows without their own: ``"ALL"`` or partner ids such as
        ``"LVA,POL"``; ``None`` (default) or empty: the owner only.
    user
        Who uploads (audit log).
    busy_timeout_s
        How long to wait for another upload to finish (default
        :data:`geo.core.settings.STORE_BUSY_TIMEOUT_S`).

    Returns
    -------
    IngestResult

    Raises
    ------
    ValidationError
        Invalid partner or marking, rows that did not come from the loader (no time, not
        EPSG:4326 points), a store that is not a Limes store, or a store that stayed busy
        (nothing written: retry).
    """
    owner = _check_partner(partner, "partner")
    marking = parse_releasability(releasable_to, strict=True)
    if not re.fullmatch(r"[0-9a-f]{64}", str(sha256)):
        raise ValidationError(describe("sha256", "not a SHA-256 digest", expected="64 "
                                       "lower-case hex digits", got=sha256))
    rows = _prepare_rows(detections, file_name, marking)
    rejected = len(getattr(report, "rejected", []))
    rows_read = int(getattr(report, "rows_read", rows.n + rejected))
    store = Path(path)
    conn = open_store(store, busy_timeout_s=busy_timeout_s)
    try:
        _check_no_triggers(conn, store)
        conn.execute(f"PRAGMA cache_size = -{_INGEST_CACHE_KIB}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except _OperationalError as exc:
            if _is_busy(exc):
                raise _busy(store) from exc
            raise
        try:
            result = _write_upload(conn, rows, report, file_name=file_name,
                                   sha256=sha256, owner=owner, marking=marking, user=user,
                                   rows_read=rows_read, rejected=rejected)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, MemoryError) and not isinstance(exc, StoreMemoryError):
                raise _out_of_memory(str(store), exc) from exc
            if isinstance(exc, _OperationalError):  # disk full, read-only, I/O error
                raise ValidationError(describe(
                    str(store), "cannot write the store", expected="a writable store with "
                    "free disk space", got=_message(exc), fix="Nothing was added; fix that and "
                    "upload the file again")) from exc
            if isinstance(exc, _DatabaseError):  # a store another tool changed
                raise ValidationError(describe(
                    str(store), "the store refused the upload", expected="a Limes store "
                    "(tables as Limes writes them)", got=_message(exc), fix="Nothing was "
                    "added; undo what another tool changed in the store, or upload into a "
                    "new one")) from exc
            raise
    finally:
        conn.close()
    return result


def _check_no_triggers(conn: Connection, path: Path) -> None:
    """Refuse a store whose detections table has triggers another tool added.

    GDAL and QGIS keep a GeoPackage spatial index up to date with triggers that call their
    own SQL functions (``ST_IsEmpty``, ``ST_MinX`` ...), which Limes's SQLite does not have:
    every insert would fail. Limes needs no spatial index (queries go by partner and time).
    """
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'detections' "
        "ORDER BY name").fetchall()]
    if names:
        spatial = any(n.startswith("rtree_detections_") for n in names)
        raise ValidationError(describe(
            str(path), "the detections table has triggers another tool added"
            + (" (a GDAL/QGIS spatial index)" if spatial else ""),
            expected="no triggers on detections (uploads cannot run them)", got=names,
            fix=("Nothing was added. Remove the spatial index, e.g. ogrinfo STORE -sql "
                 "\"SELECT DisableSpatialIndex('detections', 'geom')\", then upload again"
                 if spatial else "Nothing was added. Drop those triggers, then upload again")))


def _write_upload(conn: Connection, rows: _Rows, report: Any, *, file_name: str, sha256: str, owner: str, marking: str,
                  user: str | None, rows_read: int, rejected: int) -> IngestResult:
    earlier = conn.execute(
        "SELECT upload_id, uploaded_at, uploaded_by FROM uploads WHERE partner = ? AND "
        "sha256 = ? ORDER BY upload_id LIMIT 1", (owner, sha256)).fetchone()
    if earlier is not None:
        by = f" by {earlier[2]}" if earlier[2] else ""
        return IngestResult(
            upload_id=int(earlier[0]), accepted=0, rejected=rejected,
            duplicates=rows.n, errors=_errors(report), already_uploaded=True,
            releasable_to=marking, notes=[f"{owner} uploaded this file (same SHA-256) already "
                                          f"as upload {earlier[0]} on {earlier[1]}{by}; "
                                          "nothing was added"])
    upload_id = int(conn.execute(
        "INSERT INTO uploads (uploaded_by, partner, file_name, sha256, format, rows_read, "
        "accepted, rejected, duplicates, releasable_to, file_markings, notes) "
        "VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?, ?) RETURNING upload_id",
        (user, owner, file_name, sha256, getattr(report, "format", None), rows_read, rejected,
         marking, rows.file_markings, "; ".join(rows.notes) or None)).fetchone()[0])
    accepted = _insert_rows(conn, rows, owner=owner, marking=marking, upload_id=upload_id,
                            source=file_name)
    duplicates = rows.n - accepted
    conn.execute("UPDATE uploads SET accepted = ?, duplicates = ? WHERE upload_id = ?",
                 (accepted, duplicates, upload_id))
    if accepted and rows.bounds is not None:
        x0, y0, x1, y1 = rows.bounds
        conn.execute(
            "UPDATE gpkg_contents SET min_x = min(ifnull(min_x, ?1), ?1), "
            "min_y = min(ifnull(min_y, ?2), ?2), max_x = max(ifnull(max_x, ?3), ?3), "
            f"max_y = max(ifnull(max_y, ?4), ?4), last_change = {_NOW} "
            "WHERE table_name IN ('detections', 'detections_timed')", (x0, y0, x1, y1))
    conn.execute(f"UPDATE gpkg_contents SET last_change = {_NOW} WHERE table_name = 'uploads'")
    return IngestResult(upload_id=upload_id, accepted=accepted, rejected=rejected,
                        duplicates=duplicates, errors=_errors(report), releasable_to=marking,
                        file_markings=rows.file_markings, notes=list(rows.notes))


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(path: str | os.PathLike[str], file: str | os.PathLike[str], *, partner: str,
                releasable_to: str | None = None, user: str | None = None,
                file_name: str | None = None,
                busy_timeout_s: float | None = None) -> IngestResult:
    """Validate a detection file and add it to the store (see :func:`ingest`).

    Parameters
    ----------
    path
        The store (created on first use).
    file
        The detection file, any format :func:`geo.inputs.loader.read_detections` reads.
    partner, releasable_to, user, busy_timeout_s
        As for :func:`ingest`.
    file_name
        The name the user gave the file (e.g. of a browser upload saved to a temporary
        file); picks the format and is logged. Default: ``file``'s name.

    Returns
    -------
    IngestResult

    Raises
    ------
    ValidationError
        The whole file is refused (unreadable, no usable row, ...), or as for
        :func:`ingest`. Nothing is written then.
    """
    _check_partner(partner, "partner")
    parse_releasability(releasable_to, strict=True)
    file = Path(file)
    name = Path(file_name).name if file_name else file.name
    detections, report, digest = _read_file(file, name)
    return ingest(path, detections, report, file_name=name, sha256=digest,
                  partner=partner, releasable_to=releasable_to, user=user,
                  busy_timeout_s=busy_timeout_s)


def _read_file(file: Path, name: str) -> tuple[dict[str, Any], Any, str]:
    """A detection file's checked columns, its load report and its SHA-256.

    The file is read and checked in a child process with memory and time limits
    (:mod:`geo.inputs.bounded`), and hashed here on a second thread meanwhile.
    """
    from geo.inputs.bounded import read_detection_columns

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="limes-sha256") as pool:
        digest = pool.submit(_sha256, file)
        detections, report = read_detection_columns(file, source_name=name)
        return detections, report, digest.result()


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def _parse_time(value: str | datetime | pd.Timestamp | None, name: str) -> int | None:
    """Microseconds since the epoch (UTC; a time without zone is taken as UTC)."""
    ts = parse_utc(value, name)
    return None if ts is None else int(ts.value) // 1000  # ns -> us


def _visible_where(viewers: Sequence[str], t_from: int | None, t_to: int | None) -> str:
    """SQL condition for the rows any of ``viewers`` may see in the window.

    Literal SQL: the viewers are checked partner ids, quoted all the same, and the times
    integers. A window is first a range of ``fid`` (the rows of its days), then exact.
    """
    owned = ", ".join(_sql_text(v) for v in viewers)
    listed = " OR ".join(f"instr(',' || releasable_to || ',', {_sql_text(f',{v},')}) > 0"
                         for v in viewers)
    where = f"(owner IN ({owned}) OR releasable_to = 'ALL' OR {listed})"
    if t_from is not None:
        day = min(max(t_from // _DAY_US, _MIN_DAY), _MAX_DAY + 1)
        where += f" AND fid >= {(day + _DAY_OFFSET) << _DAY_SHIFT} AND time_us >= {int(t_from)}"
    if t_to is not None:
        day = min(max(t_to // _DAY_US, _MIN_DAY - 1), _MAX_DAY)
        where += (f" AND fid < {(day + _DAY_OFFSET + 1) << _DAY_SHIFT} "
                  f"AND time_us <= {int(t_to)}")
    return where


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A float column read from the store as numpy float64, NaN where missing.

    Values another tool stored as text or bytes arrive as missing (see ``_KINDS``); text
    that is a number never stays text in a REAL column (SQLite's column affinity).
    """
    return column.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _texts(column: pa.ChunkedArray) -> pd.Series:
    """A text column as pandas ``str``.

    Bytes that are not UTF-8 (a blob another tool stored in a text column: the driver
    reads it as text) read with U+FFFD in their place.
    """
    try:
        column.validate(full=True)  # UTF-8 (a million values: about 4 ms)
        return pd.Series(pd.array(column.cast(pa.large_string()), dtype="str"))
    except pa.ArrowInvalid:
        pass
    return pd.Series([None if v is None else v.decode("utf-8", "replace")
                      for v in column.cast(pa.large_binary()).to_pylist()], dtype="str")


def _frame(raw: pa.Table | None, store: str = "store",
           conn: Connection | None = None) -> gpd.GeoDataFrame:
    """Rows read from the store (:data:`_READ_COLUMNS`) as a detections frame, in time order.

    A row whose time or position another tool made unreadable raises
    :class:`ValidationError` naming it (and the stored time, read through ``conn``); other
    values that are not of their column's type read as missing.
    """
    if raw is None or raw.num_rows == 0:
        data: dict[str, Any] = {"time": pd.Series(np.empty(0, dtype="datetime64[us]"))
                                .dt.tz_localize("UTC")}
        for name in COLUMNS[1:]:
            data[name] = (np.empty(0, dtype=np.int64) if name in ("src_row", "upload_id")
                          else np.empty(0) if name in _FLOAT_COLUMNS
                          else pd.Series(pd.array([], dtype="str")))
        return gpd.GeoDataFrame(data, geometry=gpd.array.from_shapely(
            np.empty(0, dtype=object)), crs="EPSG:4326")
    fid = raw["fid"].to_numpy().astype(np.int64, copy=False)
    if raw["time_us"].null_count:  # not an integer (see _KINDS)
        i = int(np.flatnonzero(raw["time_us"].is_null().to_numpy(zero_copy_only=False))[0])
        got = None if conn is None else conn.execute(
            f"SELECT time_us FROM detections WHERE fid = {int(fid[i])}").fetchone()[0]
        raise ValidationError(describe(
            store, "a stored detection has no usable time", field="time_us",
            expected="microseconds since 1970-01-01 UTC (an integer)", got=got,
            fix=f"Another tool changed the detections table: correct or delete the row with "
            f"fid {fid[i]}"))
    time_us = raw["time_us"].to_numpy().astype(np.int64, copy=False)
    if len(time_us) > 1 and not (np.diff(time_us) >= 0).all():  # by day, then upload order
        order = np.lexsort((fid, time_us))
        raw = raw.take(pa.array(order))
        time_us, fid = time_us[order], fid[order]
    data = {"time": pd.Series(time_us.view("datetime64[us]")).dt.tz_localize("UTC")}
    for name in COLUMNS[1:]:
        column = raw[name]
        if name in ("src_row", "upload_id"):
            data[name] = column.fill_null(0).to_numpy()
        elif name in _FLOAT_COLUMNS:
            data[name] = _numbers(column)
        else:
            data[name] = _texts(column)
    try:
        points = _points(raw["geom"])
    except (shapely.errors.GEOSException, TypeError, ValueError, IndexError) as exc:
        if _is_out_of_memory(exc):  # GEOS: std::bad_alloc
            raise _out_of_memory(store, exc) from exc
        raise ValidationError(describe(
            store, "a stored detection has no readable position", field="geom",
            expected="a GeoPackage point geometry", got=str(exc),
            fix="Another tool changed the detections table: correct or delete that row "
            "(ogrinfo lists the rows GDAL cannot read)")) from exc
    return gpd.GeoDataFrame(data, geometry=gpd.array.from_shapely(points), crs="EPSG:4326")


def visible_detections(path: str | os.PathLike[str], partners: Iterable[str] | str, *,
                       time_from: str | datetime | None = None,
                       time_to: str | datetime | None = None,
                       after_upload: int | None = None,
                       through_upload: int | None = None) -> gpd.GeoDataFrame:
    """The stored detections any of ``partners`` may see, in time order.

    What a partner may see: its own rows, rows marked ``ALL`` and rows released to it (see
    :func:`may_see`). Several partners give their joint view: the union, not everything.

    Parameters
    ----------
    path
        The store. A store that does not exist yet holds nothing.
    partners
        The viewer(s): partner ids (one string is one partner). None sees nothing.
    time_from, time_to
        Only detections at or after / at or before these instants (ISO 8601 text,
        :class:`datetime.datetime` or :class:`pandas.Timestamp`; without zone: UTC).
    after_upload, through_upload
        Only rows of the uploads with an id above / at most these (uploads only grow and
        their rows never change: a reader that holds the rows through upload ``n`` reads
        ``after_upload=n`` to catch up).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, RangeIndex, columns ``time`` (datetime64[us, UTC]), ``detection_id``,
        ``source``, ``partner`` (as in the file), ``class``, ``confidence``, ``access``,
        ``caveat``, ``hae_m``, ``ce_m``, ``le_m``, ``src_row``, ``owner``,
        ``releasable_to``, ``upload_id`` and ``geometry`` (points). Text is pandas ``str``
        (NaN where missing), numbers float64 (NaN where missing).

    Raises
    ------
    ValidationError
        A viewer that is not a partner id, a time that cannot be read, or a file that is not
        a Limes store.

    Examples
    --------
    >>> len(visible_detections("no-such-store.gpkg", ["LTU"]))
    0
    """
    viewers = _viewers(partners)
    t_from = _parse_time(time_from, "time_from")
    t_to = _parse_time(time_to, "time_to")
    if t_from is not None and t_to is not None and t_to < t_from:
        raise ValidationError(describe("time window", "time_to is before time_from",
                                       expected=f"a time at or after {time_from}", got=time_to))
    with _reading(path) as conn:  # checks the file is a store
        if conn is None or not viewers:
            return _frame(None)
        # The SQLite driver reads the rows into Arrow in C; ordered in numpy afterwards
        # (cheaper than ORDER BY).
        where = _visible_where(viewers, t_from, t_to)
        for bound, op in ((after_upload, ">"), (through_upload, "<=")):
            if bound is not None:
                where += f" AND upload_id {op} {int(bound)}"
        raw = conn.fetch_arrow(_READ_COLUMNS, f"FROM detections WHERE {where}")
        return _frame(raw, str(path), conn)


def uploads(path: str | os.PathLike[str], partners: Iterable[str] | str) -> pd.DataFrame:
    """The audit log of the uploads of ``partners`` (their own uploads only), oldest first.

    Parameters
    ----------
    path
        The store. A store that does not exist yet has no uploads.
    partners
        The partner(s) whose uploads to list (one string is one partner).

    Returns
    -------
    pandas.DataFrame
        Columns ``upload_id``, ``uploaded_at`` (datetime64[ms, UTC]), ``uploaded_by``,
        ``partner``, ``file_name``, ``sha256``, ``format``, ``rows_read``, ``accepted``,
        ``rejected``, ``duplicates``, ``releasable_to`` (the analyst's marking; ``""``: the
        owner only), ``file_markings`` (rows that kept their own) and ``notes``.

    Examples
    --------
    >>> list(uploads("no-such-store.gpkg", "LTU").columns[:4])
    ['upload_id', 'uploaded_at', 'uploaded_by', 'partner']
    """
    viewers = _viewers(partners)
    with _reading(path) as conn:
        if conn is not None and viewers:
            raw = conn.fetch_arrow(_UPLOAD_COLUMNS, "FROM uploads WHERE partner IN "
                                   f"({', '.join(_sql_text(v) for v in viewers)})")
        else:
            raw = pa.table({name: pa.array([], pa.int64() if kind == "integer" else pa.string())
                            for name, kind in _UPLOAD_COLUMNS.items()})
        raw = raw.sort_by("upload_id")
        frame = pd.DataFrame({name: raw[name].fill_null(0).to_numpy() if kind == "integer"
                              else _texts(raw[name]) for name, kind in _UPLOAD_COLUMNS.items()})
        frame["uploaded_at"] = pd.to_datetime(frame["uploaded_at"], utc=True,
                                              format="ISO8601").astype("datetime64[ms, UTC]")
    return frame


# --------------------------------------------------------------------------------------
# Backup
# --------------------------------------------------------------------------------------


def backup(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict[str, Any]:
    """Copy the store with SQLite's online backup API (safe while uploads are written).

    The copy is written next to ``out`` under a temporary name, checked
    (``PRAGMA integrity_check``) and then renamed over ``out``, so ``out`` is never half
    written.

    Parameters
    ----------
    path
        The store.
    out
        The copy (a GeoPackage); replaced if it exists. Never the store itself.

    Returns
    -------
    dict
        ``{"store", "out", "bytes", "detections", "uploads"}``.

    Raises
    ------
    ValidationError
        No store at ``path``, ``out`` is the store (or one of its journal files) or a
        directory, or the copy cannot be written.
    """
    store = Path(path)
    target = Path(out)
    if not store.exists():
        raise ValidationError(describe(str(store), "no such store", expected="an existing store",
                                       got="nothing at that path", fix="Check --store"))
    resolved = target.resolve()
    if resolved in {store.resolve(), *(Path(f"{store.resolve()}{s}") for s in ("-wal", "-shm"))}:
        raise ValidationError(describe("--out", "the backup would overwrite the store",
                                       expected="another file", got=str(target),
                                       fix="Write the copy to a new file name"))
    if target.is_dir():
        raise ValidationError(describe("--out", "is a directory", expected="a file name",
                                       got=str(target), fix="Add a file name, e.g. copy.gpkg"))
    open_store(store, create=False).close()  # a store (upgraded if older), then closed:
    # the backup API is Python's sqlite3, another SQLite library (see Connection)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            src = sqlite3.connect(store, isolation_level=None,
                                  timeout=settings.STORE_BUSY_TIMEOUT_S)
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
                counts = [dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                          for t in ("detections", "uploads")]
            finally:
                dst.close()
                src.close()
            if check != "ok":
                raise ValidationError(describe(str(target), "the copy failed its integrity "
                                               "check", expected="ok", got=check))
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ValidationError(describe(str(target), "cannot write the backup", expected="a "
                                       "writable file", got=exc.strerror or str(exc))) from exc
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise _busy(store) from exc
        raise ValidationError(describe(str(store), "cannot read the store", expected="a "
                                       "readable store", got=str(exc))) from exc
    return {"store": str(store), "out": str(target), "bytes": target.stat().st_size,
            "detections": int(counts[0]), "uploads": int(counts[1])}


# --------------------------------------------------------------------------------------
# GeoJSON and the command line
# --------------------------------------------------------------------------------------


def _iso_times(times: pd.Series) -> list[str]:
    values = times.dt.tz_convert(None).to_numpy().astype("datetime64[us]")
    whole = np.datetime_as_string(values, unit="s")
    fine = np.datetime_as_string(values, unit="us")
    text = np.where(values.astype(np.int64) % 1_000_000 == 0, whole, fine)
    return [f"{t}Z" for t in text.tolist()]


def feature_collection(detections: gpd.GeoDataFrame) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (a dict) of :func:`visible_detections` rows.

    Times are ISO 8601 UTC text (``...Z``, microseconds only when not whole seconds);
    missing values are ``null``.

    Examples
    --------
    >>> feature_collection(visible_detections("no-such-store.gpkg", "LTU"))
    {'type': 'FeatureCollection', 'features': []}
    """
    props: dict[str, list[Any]] = {"time": _iso_times(detections["time"])}
    for name in COLUMNS[1:]:
        values = detections[name]
        if values.dtype.kind == "f":
            props[name] = [None if math.isnan(v) else v for v in values.tolist()]
        elif values.dtype.kind in "iu":
            props[name] = values.tolist()
        else:
            props[name] = values.to_numpy(dtype=object, na_value=None).tolist()
    lon = shapely.get_x(detections.geometry.array).tolist()
    lat = shapely.get_y(detections.geometry.array).tolist()
    names = list(props)
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
         "properties": dict(zip(names, values, strict=True))}
        for x, y, *values in zip(lon, lat, *props.values(), strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}
