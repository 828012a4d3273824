"""The PostGIS store's layout: created, checked and upgraded by Limes; releasability in RLS.

Tables (in the database's default schema):

``limes_store``
    One row: the layout's version (:data:`SCHEMA_VERSION`), the last upload id and the
    changes to stored rows (:func:`geo.store.revision` reads them without stating a viewer:
    they say that rows changed, not which).
``limes_partners``
    The partners with an upload (:func:`geo.store.owners`).
``uploads``
    The audit log, one row per upload, as in the GeoPackage (``uploaded_at`` a
    ``timestamptz``).
``operations``, ``operation_layers``, ``operation_dems``, ``audit``
    As in the GeoPackage (see :mod:`geo.store.schema`); times are ISO 8601 text as there.
    Not under row-level security: who takes part in an operation is the operation's record.
``retracted_detections``
    The rows of retracted uploads, moved out of ``detections``: row-level security with no
    read policy, so no query reads them.
``limes_detection_hours``
    The detections' hourly summary, one row per upload, operation, owner, marking and hour
    (:mod:`geo.store.hours`; layout 3), kept by every change of ``detections`` in its
    transaction; under the same row-level security as ``detections``.
``limes_map_bins``, ``limes_map_bins_state``
    The map's pre-counted bins per layout, time block, owner, marking, fine cell and
    hexagon (:mod:`geo.store.postgres.map_bins`; layout 4), filled lazily by the map; the
    bins under the same row-level security as ``detections``, the state (which uploads
    they hold) without.
``limes_map_bins_packed``
    The same bins packed, one row per layout, block, owner and marking with arrays
    (:mod:`geo.store.postgres.bins_table`; layout 5), kept with the bins; what the map
    reads. The same row-level security as ``detections``.
``detections``
    One row per stored detection: ``geom`` a PostGIS ``geometry(Point, 4326)`` with a GiST
    index, ``time_us`` (microseconds since 1970 UTC) with a B-tree index, the same columns as
    the GeoPackage's, and ``fid`` numbering rows in the order they were stored. The duplicate
    keys (see "Duplicates" in :mod:`geo.store`) are unique partial indexes, as there.
    ``upload_id`` has a B-tree index but no foreign key (layout 2, see :func:`_upgrade`).

Row-level security on ``detections``, ``limes_detection_hours``, ``limes_map_bins`` and
``uploads``: enabled and
forced (the owner role Limes connects as is subject to it too), no policy but Limes's, so
default deny. Reading a row needs the releasability rule
(:func:`geo.access.releasability.postgres_policy`, made from the one rule, with ``partner``
as an upload's owner) to hold for a viewer the transaction stated; writing one needs its
owner to be a stated viewer (:func:`~geo.access.releasability.postgres_owns`). A raw
``SELECT`` that states no viewer sees no row.
"""

from __future__ import annotations

from geo.access.releasability import VIEWERS_SETTING, postgres_owns, postgres_policy
from geo.core.errors import ValidationError, describe
from geo.store import hours
from geo.store.postgres import bins_table as map_bins
from geo.store.postgres.connection import DatabaseError, PgConnection, driver_message
from geo.store.schema import DEFAULT_OPERATION

__all__ = ["SCHEMA_VERSION", "fill_hours", "prepare"]

#: Layout of a PostGIS store (its own numbering: the GeoPackage's is
#: :data:`geo.store.schema.SCHEMA_VERSION`).
SCHEMA_VERSION = 5

#: A key for ``pg_advisory_xact_lock``: creating the layout and writing an upload take it, so
#: uploads commit in the order of their ids (a reader catching up after upload ``n`` misses
#: none) and two first opens do not both create the tables.
WRITE_LOCK = 0x4C494D4553  # "LIMES"

_OPERATION = f"operation text NOT NULL DEFAULT '{DEFAULT_OPERATION}'"

#: The time now as the GeoPackage store writes it (ISO 8601 text, UTC, milliseconds): the
#: operations' and the audit's times read the same from both back-ends.
_NOW = "(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"

#: The duplicate keys (see "Duplicates" in :mod:`geo.store`), per owner and operation. Text
#: compared bytewise (``COLLATE "C"``): the same equality as the database's collation, but
#: sorted with abbreviated keys, so building the index takes a third less time.
_DEDUPE_KEYS = """CREATE UNIQUE INDEX detections_dedupe_id
  ON detections (detection_id COLLATE "C", coalesce(source, '') COLLATE "C",
  owner COLLATE "C", operation COLLATE "C")
  WHERE detection_id IS NOT NULL;
CREATE UNIQUE INDEX detections_dedupe_position
  ON detections (time_us, ST_X(geom), ST_Y(geom), coalesce(source, '') COLLATE "C",
  owner COLLATE "C", operation COLLATE "C")
  WHERE detection_id IS NULL"""

#: A detection's columns, in ``detections`` and in ``retracted_detections`` alike.
_DETECTION_COLUMNS = """geom geometry(Point, 4326) NOT NULL,
  time_us bigint NOT NULL,
  detection_id text,
  source text,
  partner text,
  class text,
  confidence double precision,
  access text,
  caveat text,
  hae_m double precision,
  ce_m double precision,
  le_m double precision,
  owner text NOT NULL,
  releasable_to text NOT NULL,"""

_TABLES = f"""CREATE TABLE limes_store (
  id integer PRIMARY KEY CHECK (id = 1),
  schema_version integer NOT NULL,
  last_upload bigint NOT NULL DEFAULT 0,
  changes bigint NOT NULL DEFAULT 0);
INSERT INTO limes_store (id, schema_version) VALUES (1, {SCHEMA_VERSION});
CREATE TABLE limes_partners (partner text PRIMARY KEY);
CREATE TABLE uploads (
  upload_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uploaded_at timestamptz NOT NULL DEFAULT now(),
  uploaded_by text,
  partner text NOT NULL,
  file_name text NOT NULL,
  sha256 text NOT NULL,
  format text,
  rows_read bigint NOT NULL,
  accepted bigint NOT NULL,
  rejected bigint NOT NULL,
  duplicates bigint NOT NULL,
  releasable_to text NOT NULL,
  file_markings bigint NOT NULL,
  notes text,
  {_OPERATION},
  retracted_at timestamptz,
  retracted_by text);
CREATE INDEX uploads_partner_sha256 ON uploads (partner, sha256);
CREATE TABLE detections (
  fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  {_DETECTION_COLUMNS}
  upload_id bigint NOT NULL,
  src_row bigint,
  {_OPERATION});
CREATE INDEX detections_geom ON detections USING gist (geom);
CREATE INDEX detections_time ON detections (time_us);
CREATE INDEX detections_upload ON detections (upload_id);
{_DEDUPE_KEYS};
CREATE TABLE operations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE,
  title text NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  partners text NOT NULL,
  corridor_km double precision NOT NULL,
  min_gap_m double precision NOT NULL,
  period_start text,
  period_end text,
  timezone text NOT NULL,
  created_at text NOT NULL DEFAULT {_NOW},
  created_by text);
CREATE TABLE operation_layers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  operation text NOT NULL REFERENCES operations (name),
  layer text NOT NULL CHECK (layer IN ('border', 'sectors', 'sensors')),
  version bigint NOT NULL,
  created_at text NOT NULL DEFAULT {_NOW},
  created_by text,
  note text,
  features bigint NOT NULL,
  sha256 text NOT NULL,
  data bytea NOT NULL,
  UNIQUE (operation, layer, version));
CREATE TABLE operation_dems (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  operation text NOT NULL REFERENCES operations (name),
  version bigint NOT NULL,
  created_at text NOT NULL DEFAULT {_NOW},
  created_by text,
  file_name text NOT NULL,
  sha256 text NOT NULL,
  data bytea NOT NULL,
  UNIQUE (operation, version));
CREATE TABLE audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at text NOT NULL DEFAULT {_NOW},
  "user" text,
  partner text,
  action text NOT NULL,
  operation text,
  target text,
  detail text);
CREATE INDEX audit_action ON audit (action);
CREATE TABLE retracted_detections (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  fid bigint NOT NULL,
  {_DETECTION_COLUMNS}
  upload_id bigint NOT NULL REFERENCES uploads (upload_id),
  src_row bigint,
  {_OPERATION});
CREATE INDEX retracted_detections_upload ON retracted_detections (upload_id);
{hours.CREATE_SQL}"""


def _security() -> list[str]:
    """Row-level security on detections, their hourly summary and uploads, from the one rule."""
    return [
        *_row_security("detections", "owner"),
        *_row_security("uploads", "partner"),
        *_row_security(hours.HOURS, "owner"),
        *_row_security(map_bins.BINS, "owner"),
        *_row_security(map_bins.PACKED, "owner"),
        *_retracted_security(),
    ]


def _row_security(table: str, owner: str) -> list[str]:
    """Row-level security on ``table``: enabled, forced, default deny, the rule's policies.

    Reading a row needs the releasability rule (``owner`` the row's owner) to hold for a
    stated viewer; writing one needs its owner to be a stated viewer.
    """
    read = postgres_policy(owner=owner, marking="releasable_to")
    write = postgres_owns(owner=owner)
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY limes_read ON {table} FOR SELECT USING {read}",
        f"CREATE POLICY limes_insert ON {table} FOR INSERT WITH CHECK {write}",
        f"CREATE POLICY limes_update ON {table} FOR UPDATE USING {write} WITH CHECK {write}",
        f"CREATE POLICY limes_delete ON {table} FOR DELETE USING {write}",
    ]


def _retracted_security() -> list[str]:
    """The rows of retracted uploads: written by a retraction, read by nobody (no read policy)."""
    write = postgres_owns(owner="owner")
    return [
        "ALTER TABLE retracted_detections ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE retracted_detections FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY limes_insert ON retracted_detections FOR INSERT WITH CHECK {write}",
    ]


def fill_hours(conn: PgConnection) -> int:
    """Make the hourly summary anew from every stored row, in the caller's transaction.

    The transaction states every partner with an upload (``limes_partners``) as its viewer
    for this (row-level security then shows it their rows and lets it write their groups),
    and none again afterwards. Returns the groups.
    """
    conn.execute(
        f"SELECT set_config('{VIEWERS_SETTING}', coalesce(string_agg(partner, ','), ''), true) "
        "FROM limes_partners"
    ).fetchall()
    conn.execute(hours.delete_sql("true")).fetchall()
    conn.execute(hours.add_sql("true")).fetchall()
    groups = int(conn.execute(f"SELECT count(*) FROM {hours.HOURS}").scalar())
    conn.execute(f"SELECT set_config('{VIEWERS_SETTING}', '', true)").fetchall()
    return groups


def _not_a_store(conn: PgConnection, got: str) -> ValidationError:
    return ValidationError(
        describe(
            conn.name,
            "not a Limes store",
            expected="a database whose tables Limes made (or one without uploads/detections)",
            got=got,
            fix="Point --store at an empty database, or at the one Limes made",
        )
    )


def _check_postgis(conn: PgConnection) -> None:
    """Refuse a database without PostGIS (created here when the role may), saying how to fix it."""
    have = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone()
    if have is not None:
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis").fetchall()
        return
    except ValidationError as exc:  # the driver's refusal, said by transaction()
        cause = exc.__cause__
        if not isinstance(cause, DatabaseError):
            raise
        why = driver_message(cause)
    database = conn.execute("SELECT current_database()").scalar()
    raise ValidationError(
        describe(
            conn.name,
            "the database has no PostGIS extension",
            expected="PostGIS installed in the database",
            got=why,
            fix=f'A superuser runs CREATE EXTENSION postgis in database "{database}" (on '
            "Debian the server needs the package postgresql-15-postgis-3)",
        )
    )


def _check_role(conn: PgConnection) -> None:
    """Refuse a role that bypasses row-level security: the database could not enforce it."""
    row = conn.execute(
        "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if row is not None and (row[1] or row[2]):
        raise ValidationError(
            describe(
                conn.name,
                "the role bypasses row-level security",
                expected="a role that is not a superuser and has no BYPASSRLS",
                got=f"{row[0]} ({'superuser' if row[1] else 'BYPASSRLS'})",
                fix="Connect as the non-superuser role that owns the database, so the database "
                "enforces who sees which rows",
            )
        )


def prepare(conn: PgConnection, *, lock_timeout_s: float | None = None) -> None:
    """Check the database, create the store's tables on first use, refuse a newer layout.

    Raises
    ------
    ValidationError
        No PostGIS (and the role may not add it), a role that bypasses row-level security,
        tables of another program, or a layout newer than this Limes knows.
    """
    _check_role(conn)
    _check_postgis(conn)
    with conn.transaction(lock_timeout_s=lock_timeout_s):
        if conn.execute("SELECT to_regclass('limes_store') IS NOT NULL").scalar():
            found = int(conn.execute("SELECT schema_version FROM limes_store").scalar())
            if found < SCHEMA_VERSION:
                found = _upgrade(conn)
        else:
            conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})").fetchall()
            if conn.execute("SELECT to_regclass('limes_store') IS NOT NULL").scalar():
                found = SCHEMA_VERSION  # another process made it meanwhile
            else:
                _create(conn)
                found = SCHEMA_VERSION
    if found > SCHEMA_VERSION:
        raise ValidationError(
            describe(
                conn.name,
                "the store was made by a newer Limes",
                expected=f"store layout {SCHEMA_VERSION} or older",
                got=found,
                fix="Upgrade Limes",
            )
        )


def _upgrade(conn: PgConnection) -> int:
    """Bring a layout this Limes knows up to :data:`SCHEMA_VERSION`; return the version found.

    Layout 2 has no foreign key from ``detections.upload_id`` to ``uploads``: its check, a
    trigger per inserted row, cost 5 µs a row (a quarter of an upload's time); the one write
    path sets ``upload_id`` to the audit record it inserts in the same transaction, and
    ``uploads`` rows are never deleted (a retraction stamps them). Its duplicate keys compare
    text with ``COLLATE "C"`` (:data:`_DEDUPE_KEYS`). Layout 3 adds the hourly summary
    (:mod:`geo.store.hours`), filled from the rows. Layout 4 adds the map's bins and their
    state (:mod:`geo.store.postgres.map_bins`), empty: the first map query fills them.
    Layout 5 adds the packed bins, packed from the bins there are (every partner stated
    as viewer meanwhile: 1,785,711 bins in a few seconds).
    """
    conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})").fetchall()
    found = int(conn.execute("SELECT schema_version FROM limes_store").scalar())
    if found == 1:
        conn.execute(
            "ALTER TABLE detections DROP CONSTRAINT IF EXISTS detections_upload_id_fkey"
        ).fetchall()
        conn.execute("DROP INDEX detections_dedupe_id, detections_dedupe_position").fetchall()
        for statement in _DEDUPE_KEYS.split(";\n"):
            conn.execute(statement).fetchall()
        conn.execute("UPDATE limes_store SET schema_version = 2").fetchall()
        found = 2
    if found == 2:
        if conn.execute(f"SELECT to_regclass('{hours.HOURS}') IS NULL").scalar():
            for statement in [hours.CREATE_SQL, *_row_security(hours.HOURS, "owner")]:
                conn.execute(statement).fetchall()
        fill_hours(conn)
        conn.execute("UPDATE limes_store SET schema_version = 3").fetchall()
        found = 3
    if found == 3:
        if conn.execute(f"SELECT to_regclass('{map_bins.BINS}') IS NULL").scalar():
            for statement in [*map_bins.CREATE_SQL, *_row_security(map_bins.BINS, "owner")]:
                conn.execute(statement).fetchall()
        for statement in map_bins.FINE_CELL_SQL:  # rewrites the table: minutes on millions
            conn.execute(statement).fetchall()
        conn.execute("UPDATE limes_store SET schema_version = 4").fetchall()
        found = 4
    if found == 4:
        if conn.execute(f"SELECT to_regclass('{map_bins.PACKED}') IS NULL").scalar():
            for statement in [*map_bins.PACKED_SQL, *_row_security(map_bins.PACKED, "owner")]:
                conn.execute(statement).fetchall()
        conn.execute(map_bins.EVERY_PARTNER_SQL).fetchall()
        conn.execute(f"DELETE FROM {map_bins.PACKED}").fetchall()
        conn.execute(map_bins.REPACK_ALL_SQL).fetchall()
        conn.execute(f"SELECT set_config('{VIEWERS_SETTING}', '', true)").fetchall()
        conn.execute("UPDATE limes_store SET schema_version = 5").fetchall()
        found = 5
    return found


def _create(conn: PgConnection) -> None:
    """The tables, indexes and policies, in the caller's transaction."""
    taken = [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname IN ('uploads', 'detections')"
        ).fetchall()
    ]
    if taken:
        raise _not_a_store(conn, "tables " + ", ".join(sorted(taken)) + " without limes_store")
    for statement in [
        *_TABLES.split(";\n"),
        *map_bins.CREATE_SQL,
        *map_bins.PACKED_SQL,
        *map_bins.FINE_CELL_SQL,
        *_security(),
    ]:
        conn.execute(statement).fetchall()
