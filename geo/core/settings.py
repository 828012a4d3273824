"""Limes settings: every default the analysis and the loaders use, in one documented place.

Change a value here (or pass the matching keyword argument) rather than hard-coding numbers
elsewhere. Units are in the names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

#: Sensor kinds Limes knows. Anything else in a ``kind`` column is rejected with this list.
SENSOR_KINDS: Final[tuple[str, ...]] = (
    "camera",
    "radar",
    "tower",
    "ground_sensor",
    "drone",
    "other",
)

#: Height of a sensor above ground (m) when the file gives none, by kind. A camera on a pole,
#: a radar on a mast, a surveillance tower, an unattended ground sensor, a drone on station.
DEFAULT_HEIGHT_M: Final[dict[str, float]] = {
    "camera": 6.0,
    "radar": 10.0,
    "tower": 20.0,
    "ground_sensor": 0.5,
    "drone": 120.0,
    "other": 2.0,
}

#: Sensor status values. Inactive sensors are loaded and shown but cover nothing.
SENSOR_STATUSES: Final[tuple[str, ...]] = ("active", "inactive")

#: Kinds of track (a moving observer: ``python -m geo timeline --tracks``).
TRACK_KINDS: Final[tuple[str, ...]] = ("drone", "patrol", "vehicle", "vessel", "aircraft", "other")

#: Range of a track's observer (m) when neither its file nor ``--track-range-m`` gives one.
TRACK_RANGE_M: Final[dict[str, float]] = {
    "drone": 2000.0,
    "patrol": 500.0,
    "vehicle": 1000.0,
    "vessel": 3000.0,
    "aircraft": 5000.0,
    "other": 1000.0,
}

#: Height of a track's observer above the ground (m) when its file gives none, by kind: used
#: with a DEM (line of sight).
TRACK_HEIGHT_M: Final[dict[str, float]] = {
    "drone": 120.0,
    "patrol": 2.0,
    "vehicle": 3.0,
    "vessel": 5.0,
    "aircraft": 1000.0,
    "other": 2.0,
}

#: Between two fixes of a track further apart than this (s) the observer is not watching.
MAX_FIX_GAP_S: Final[float] = 120.0

#: The timeline's time step (s): where exact intervals are impractical (terrain with moving
#: observers) time is sampled at this step; it is also the tolerance its figures promise.
TIMELINE_STEP_S: Final[float] = 60.0

#: An intruder needs this long to cross the border (min): a stretch whose longest unwatched
#: interval is longer is exposed.
CROSSING_TIME_MIN: Final[float] = 30.0

#: Where tracks move, the timeline evaluates the border at points this far apart (m) at
#: most (and at most 0.1 % of the border's length apart).
TIMELINE_CHAINAGE_STEP_M: Final[float] = 50.0

#: Depth of the border corridor on each side of the border (km).
CORRIDOR_KM: Final[float] = 5.0

#: Uncovered stretches of border shorter than this are not listed as gaps (m).
MIN_GAP_M: Final[float] = 1.0

#: Height of the target a sensor must see, e.g. a standing person (m). Used with a DEM.
TARGET_HEIGHT_M: Final[float] = 2.0

#: Atmospheric refraction coefficient, as in GRASS r.viewshed and QGIS (dimensionless).
REFRACTION_COEFF: Final[float] = 0.13

#: Vertices on a full circle of a sensor footprint. The polygon is inscribed in the true
#: circle, so a chord through it is short by at most ``1 - cos(pi / n)`` (0.12 % at 64).
FOOTPRINT_CIRCLE_VERTICES: Final[int] = 64

#: Border lines are split into pieces no longer than this before analysis (m), so that the
#: straight pieces in the analysis CRS follow the geodesic between input vertices.
BORDER_MAX_SEGMENT_M: Final[float] = 1000.0

#: Corridor and footprint outlines are densified to this spacing (m) before areas are
#: measured on the ellipsoid.
AREA_DENSIFY_M: Final[float] = 2000.0

#: Where uploads and the shared store live (relative paths are relative to the working dir).
DATA_DIR: Final[Path] = Path("data")

#: The bundled sample scenario.
SAMPLE_DIR: Final[Path] = Path(__file__).resolve().parents[2] / "sample_data"

#: Above this many detections in the time window the map shows hexagons with counts
#: (computed on the server) instead of points, so the page stays light.
MAX_MAP_POINTS: Final[int] = 50_000

#: Below this many detections in the map's window (the hourly summary's count,
#: :func:`geo.store.window_size`) the Map page reads and classifies every row of the window
#: rather than the store's pre-counted bins (:func:`geo.store.window_cells`): classifying
#: the bins' fine cells costs a fixed ~0.3 s that reading a small window's rows does not.
#: Measured crossover: docs/store.md ("Small windows read rows"). Same figures either way.
MAP_BINS_FROM_ROWS: Final[int] = 600_000

#: Circumradius of the detection hexagons (m).
HEXAGON_SIZE_M: Final[float] = 1_500.0

#: Classification banner printed at the top and bottom of snapshots (and shown in the app).
BANNER: Final[str] = "UNCLASSIFIED // EXERCISE"

#: The shared detection store (a GeoPackage), created on first use.
STORE_PATH: Final[Path] = DATA_DIR / "limes.gpkg"


#: URL schemes that name a PostgreSQL/PostGIS store (``postgresql://user@host:port/db``).
POSTGRES_SCHEMES: Final[tuple[str, ...]] = ("postgresql", "postgres")

#: What a store name may be, for messages.
STORE_NAMES: Final[str] = (
    "a GeoPackage file path (e.g. data/limes.gpkg) or a PostgreSQL URL "
    "(postgresql://user@host:port/database)"
)

#: The start of a URL: a scheme of two or more characters and a colon (one letter and a
#: colon would be a drive letter).
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")


def store_name(name: str | os.PathLike[str]) -> Path | str:
    """What a store name selects: a PostgreSQL URL (returned as text) or a GeoPackage path.

    A name that starts like a URL (``scheme:/...``, or a PostgreSQL scheme without ``//``)
    and is not a ``postgresql://`` or ``postgres://`` URL is refused: it is never taken as
    a file path (a GeoPackage would be created under a folder named ``mysql:``).

    Parameters
    ----------
    name
        ``--store``, ``$LIMES_STORE`` or the app's store, as the user wrote it.

    Returns
    -------
    str or Path
        The URL, unchanged, for PostgreSQL; the path for a GeoPackage.

    Raises
    ------
    ValidationError
        A URL-like name Limes cannot use, naming it and what is accepted.

    Examples
    --------
    >>> store_name("postgresql://limes@db.example:5432/limes")
    'postgresql://limes@db.example:5432/limes'
    >>> store_name("data/limes.gpkg"), store_name("notes:v2.gpkg")
    (PosixPath('data/limes.gpkg'), PosixPath('notes:v2.gpkg'))
    >>> store_name("mysql://limes@db/limes")
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: mysql://limes@db/limes: not a store Limes can use \
(URL scheme 'mysql'): expected a GeoPackage file path (e.g. data/limes.gpkg) or a PostgreSQL \
URL (postgresql://user@host:port/database), got 'mysql://limes@db/limes'. Check --store or \
$LIMES_STORE
    """
    from geo.core.errors import ValidationError, describe

    text = os.fspath(name)
    found = _SCHEME.match(text)
    if found is None:
        return Path(text)
    scheme = found.group(1).lower()
    rest = text[found.end() :]
    if scheme in POSTGRES_SCHEMES and rest.startswith("//") and len(rest) > 2:
        return text
    if scheme not in POSTGRES_SCHEMES and not rest.startswith("/"):
        return Path(text)  # a file name with a colon in it (notes:v2.gpkg)
    problem = (
        f"a PostgreSQL URL needs '//' after '{found.group(1)}:'"
        if scheme in POSTGRES_SCHEMES
        else f"URL scheme {found.group(1)!r}"
    )
    raise ValidationError(
        describe(
            text,
            f"not a store Limes can use ({problem})",
            expected=STORE_NAMES,
            got=text,
            fix="Check --store or $LIMES_STORE",
        )
    )


def is_postgres(name: str | os.PathLike[str]) -> bool:
    """Whether a store name (see :func:`store_name`) selects PostgreSQL.

    Examples
    --------
    >>> is_postgres("postgres://limes@localhost/limes"), is_postgres("data/limes.gpkg")
    (True, False)
    """
    return isinstance(store_name(name), str)


def store_path(environ: Mapping[str, str] | None = None) -> Path | str:
    """The shared store the app and the command line use: ``$LIMES_STORE``, else :data:`STORE_PATH`.

    ``environ``: the environment to read (default ``os.environ``). A PostgreSQL URL comes
    back as text, a GeoPackage as a path (see :func:`store_name`, which also refuses a URL
    Limes cannot use).

    Examples
    --------
    >>> str(store_path({"LIMES_STORE": "/srv/limes/store.gpkg"}))
    '/srv/limes/store.gpkg'
    >>> store_path({"LIMES_STORE": "postgresql://limes@db:5432/limes"})
    'postgresql://limes@db:5432/limes'
    >>> store_path({}) == STORE_PATH
    True
    """
    env = os.environ if environ is None else environ
    return store_name(env.get("LIMES_STORE") or STORE_PATH)


#: The users file. While it does not exist the app runs in local demo mode (no sign-in).
USERS_FILE: Final[Path] = DATA_DIR / "users.json"

#: Roles a user may hold.
ROLES: Final[tuple[str, ...]] = ("analyst", "commander", "briefer", "planner", "admin")

#: Largest upload accepted (MB). Keep equal to ``server.maxUploadSize`` in
#: ``.streamlit/config.toml``; the server enforces it again on every file it reads.
MAX_UPLOAD_MB: Final[int] = 200

#: A zip or KMZ is refused when its entries would expand past this many bytes in total...
MAX_UNZIPPED_BYTES: Final[int] = 1_000_000_000
#: ...or past this ratio of uncompressed to compressed size (zip bombs compress ~1000:1).
MAX_ZIP_RATIO: Final[float] = 200.0

#: Environment variable naming the users file the app reads (default :data:`USERS_FILE`).
USERS_FILE_ENV: Final[str] = "LIMES_USERS_FILE"

#: Password hashing with scrypt (memory-hard): CPU/memory cost ``n`` (a power of two), block
#: size ``r`` and parallelism ``p``. 2**15 × 8 uses 32 MiB and ~0.1 s per hash. Each stored
#: hash carries its own parameters, so raising them later leaves existing passwords valid.
SCRYPT_N: Final[int] = 2**15
SCRYPT_R: Final[int] = 8
SCRYPT_P: Final[int] = 1
#: Memory limit handed to scrypt (bytes); stored parameters needing more are refused.
SCRYPT_MAXMEM_BYTES: Final[int] = 64 * 1024 * 1024

#: Shortest password accepted (characters).
PASSWORD_MIN_CHARS: Final[int] = 12

#: After this many failed sign-ins in a row (per browser session and per user name)...
SIGNIN_MAX_FAILURES: Final[int] = 5
#: ...the next attempt waits this long (s), doubling with every further failure...
SIGNIN_LOCKOUT_S: Final[float] = 30.0
#: ...up to this wait (s).
SIGNIN_MAX_LOCKOUT_S: Final[float] = 900.0
#: Failed sign-ins in a row from one client address (whatever the user names) before that
#: address waits as above; ``None`` turns the per-address limit off. Higher than
#: :data:`SIGNIN_MAX_FAILURES`: several people may share an address (an office behind NAT,
#: everyone on this machine).
SIGNIN_MAX_FAILURES_PER_ADDRESS: Final[int | None] = 20
#: Records of failed sign-ins kept in memory (per session, user name and address). When it is
#: full the oldest records that do not lock anyone are dropped; locks are never dropped.
SIGNIN_MAX_RECORDS: Final[int] = 10_000

#: A zip or KMZ with more entries than this is refused before any entry is read.
MAX_ZIP_ENTRIES: Final[int] = 10_000
#: The :data:`MAX_ZIP_RATIO` check applies once the entries together expand past this many
#: bytes: small archives harm nobody, and e.g. a blank-padded .dbf compresses very well.
ZIP_RATIO_FLOOR_BYTES: Final[int] = 10_000_000

#: GDAL vector drivers kept in the GDAL that reads uploads (pyogrio's). Every other driver is
#: deregistered when :mod:`geo.inputs.loader` is first imported: VRT and GDALG (they make GDAL
#: open other files or run pipelines), network services (WFS, OAPIF, Elasticsearch, ...),
#: databases and formats Limes does not read. Add a driver here before using it with pyogrio
#: in Limes.
GDAL_VECTOR_DRIVERS: Final[tuple[str, ...]] = (
    "ESRI Shapefile",
    "GPKG",
    "GeoJSON",
    "KML",
    "LIBKML",
    "GPX",
    "FlatGeobuf",
    "CSV",
    "MEM",
)

#: How long an upload waits for another upload to the store to finish before it is refused
#: with "the store is busy, retry" (s). Readers never wait.
STORE_BUSY_TIMEOUT_S: Final[float] = 30.0

#: Rejected rows listed in an ingest result (``errors``); ``rejected`` counts them all.
INGEST_MAX_ERRORS: Final[int] = 1_000

#: Most rows (features) one file may hold. Counted from the format's own figures before its
#: rows are decoded where it has them (Parquet metadata, GeoPackage tables, GPX), while
#: reading otherwise (CSV lines, GDAL features); a file with more is refused whole: split it.
MAX_ROWS_PER_FILE: Final[int] = 5_000_000
#: Most bytes a file's values may decode to (Parquet pages, dictionary and run-length
#: encoded columns: a few hundred KB of Parquet can stand for gigabytes of text).
MAX_DECODED_BYTES: Final[int] = 2_000_000_000

#: Every upload (the Upload page, ``python -m geo ingest``) is read and checked in a child
#: process (:mod:`geo.inputs.bounded`) that may use at most this much memory (address space, MB;
#: reading a 5,000,000-row CSV takes about 2,100, a 2,500,000-point GeoPackage about 2,750)...
READ_MEMORY_LIMIT_MB: Final[int] = 6_144
#: ...and is killed when it has not finished after this long (s; a 5,000,000-row CSV takes
#: about 8). The file is then refused, nothing stored.
READ_TIME_LIMIT_S: Final[float] = 120.0
#: At most this many uploads are read at once in one server or command (each reader may use
#: READ_MEMORY_LIMIT_MB: two at once stay within an ordinary machine's memory)...
MAX_CONCURRENT_READS: Final[int] = 2
#: ...and a file waits at most this long (s) for its turn (a reader ends within
#: READ_TIME_LIMIT_S), then it is refused, nothing stored: upload it again.
READ_SLOT_WAIT_S: Final[float] = 180.0
