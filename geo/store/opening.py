"""Opening the store: created on first use, checked, upgraded, in WAL mode."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.core.progress import Progress
from geo.store import schema
from geo.store.connection import (
    Connection,
    DatabaseError,
    OperationalError,
    busy_error,
    connect,
    driver_message,
    is_busy,
    memory_reported,
    not_a_store,
)
from geo.store.location import postgres_url, sqlite_path
from geo.store.postgres import PgConnection
from geo.store.postgres import connect as connect_postgres
from geo.store.postgres import prepare as prepare_postgres

__all__ = ["open_store", "opened_for_reading"]

#: Page size of a new store: large pages make a big upload faster than SQLite's 4 KiB
#: (fewer pages to balance, log and sync; ``bench/bench_ingest.py --compare``: 1,000,000 rows
#: written in 1.93 s against 2.65 s into a new store, 2.94 s against 3.50 s into one of
#: 1,000,000 rows). GDAL and every SQLite read them.
PAGE_SIZE = 65_536


def open_store(
    path: str | os.PathLike[str],
    *,
    create: bool = True,
    busy_timeout_s: float | None = None,
    upgrade: bool = True,
    progress: Progress | None = None,
) -> Connection:
    """Open the store, creating it (and its directory) on first use.

    The connection is in autocommit mode (transactions are explicit), with WAL journal,
    ``synchronous=FULL`` and a busy timeout; a store of an older schema is upgraded first.
    Close it when done.

    Parameters
    ----------
    path
        The store, a GeoPackage file; or a PostgreSQL URL (``postgresql://user@host:port/db``):
        then a :class:`geo.store.postgres.PgConnection` to the PostGIS store (its tables
        created on first use; ``create`` and ``upgrade`` do not apply).
    create
        Create the store when the file does not exist (else raise).
    busy_timeout_s
        How long to wait for another writer (default
        :data:`geo.core.settings.STORE_BUSY_TIMEOUT_S`).
    upgrade
        Upgrade a store of schema 2 (before operations) to the current schema. Readers pass
        False: they read such a store as it is (a store of schema 1 is always upgraded).
    progress
        Told the rows an upgrade indexed so far (:func:`geo.store.schema.upgrade`).

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
    >>> sorted(tables)  # doctest: +NORMALIZE_WHITESPACE
    ['audit', 'detections', 'detections_timed', 'operation_dems', 'operation_layers',
     'operations', 'retracted_detections', 'uploads']
    """
    url = postgres_url(path)
    if url is not None:
        return _open_postgres(url, busy_timeout_s)  # type: ignore[return-value]
    path = sqlite_path(path)
    timeout = settings.STORE_BUSY_TIMEOUT_S if busy_timeout_s is None else busy_timeout_s
    exists = path.exists()
    if not exists and not create:
        raise ValidationError(
            describe(
                str(path),
                "no such store",
                expected="an existing store file",
                got="nothing at that path",
                fix="Check --store, or ingest a file first",
            )
        )
    if exists and path.is_dir():
        raise ValidationError(not_a_store(path, "a directory"))
    if not exists:
        _create_private(path)
    conn = connect(path, busy_timeout_s=timeout)
    try:
        _prepare(conn, path, upgrade=upgrade, progress=progress)
    except BaseException:
        conn.close()
        raise
    return conn


def _open_postgres(url: str, busy_timeout_s: float | None) -> PgConnection:
    """A checked connection to a PostGIS store (its tables created on first use)."""
    conn = connect_postgres(url)
    try:
        prepare_postgres(conn, lock_timeout_s=busy_timeout_s)
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
        raise ValidationError(
            describe(
                str(path),
                "cannot create the store",
                expected="a file name in a folder Limes may write to",
                got=exc.strerror or str(exc),
                fix="Check --store and the permissions",
            )
        ) from exc
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _prepare(
    conn: Connection, path: Path, *, upgrade: bool, progress: Progress | None = None
) -> None:
    """Check an existing store (before changing anything), then switch to WAL.

    Creates the store on first use and upgrades an older schema (``upgrade`` false: only
    one older than schema 2).
    """
    oldest = schema.SCHEMA_VERSION if upgrade else 2
    try:
        app_id = conn.execute("PRAGMA application_id").scalar()
        if app_id not in (0, schema.GPKG_APPLICATION_ID):
            raise ValidationError(not_a_store(path, f"SQLite application_id {app_id:#x}"))
        if schema.has_table(conn, "detections"):
            schema.check_schema(conn, path)
        else:
            schema.check_empty(conn, path)
        if conn.execute("PRAGMA page_count").scalar() == 0:  # a new file
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}").fetchall()
        if conn.execute("PRAGMA journal_mode").scalar() != "wal":
            mode = conn.execute("PRAGMA journal_mode = WAL").scalar()
            if mode != "wal":
                raise ValidationError(
                    describe(
                        str(path),
                        "the file system does not support SQLite's WAL journal",
                        expected="journal mode wal",
                        got=mode,
                        fix="Put the store on a local disk (not a network share)",
                    )
                )
        if not schema.has_table(conn, "detections") or schema.schema_version(conn) < oldest:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not schema.has_table(conn, "detections"):  # another process may have won
                    schema.check_empty(conn, path)
                    schema.create(conn)
                elif schema.schema_version(conn) < oldest:
                    schema.upgrade(conn, progress=progress)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            schema.check_schema(conn, path)
    except OperationalError as exc:
        if is_busy(exc):
            raise busy_error(path) from exc
        text = str(exc)
        if "readonly" in text or "unable to open" in text:
            raise ValidationError(
                describe(
                    str(path),
                    "cannot open the store for writing",
                    expected="a file and folder Limes may write to",
                    got=driver_message(exc),
                    fix="Check the permissions",
                )
            ) from exc
        raise ValidationError(not_a_store(path, driver_message(exc))) from exc
    except DatabaseError as exc:
        raise ValidationError(not_a_store(path, driver_message(exc))) from exc


@contextlib.contextmanager
def opened_for_reading(path: str | os.PathLike[str]) -> Iterator[Connection | None]:
    """A connection to an existing store, or ``None`` when there is no store yet.

    An allocation failure in the block (reading, or making a frame of what was read) raises
    :class:`StoreMemoryError`.
    """
    if not sqlite_path(path).exists():
        yield None
        return
    conn = open_store(path, create=False, upgrade=False)
    try:
        with memory_reported(str(path)):
            yield conn
    finally:
        conn.close()
