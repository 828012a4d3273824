"""One connection to a PostGIS store through the ADBC PostgreSQL driver, and its messages.

The same Arrow in and out as the GeoPackage store's ADBC SQLite driver: reads come back as
Arrow tables, an upload's rows go in with ``adbc_ingest`` (PostgreSQL's binary ``COPY``).
Every transaction is explicit (:meth:`PgConnection.transaction`) and states its viewers
first (``set_config('limes.viewers', ..., true)``, the ``SET LOCAL`` of one transaction,
safe with connection pools): the row-level security policies show a transaction the rows
those partners may see and nothing else.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import adbc_driver_postgresql.dbapi as adbc  # type: ignore[import-untyped]
import pyarrow as pa

from geo.access.releasability import VIEWERS_SETTING
from geo.access.releasability import viewers as checked_viewers
from geo.core import settings
from geo.core.errors import ValidationError, describe, shown_url

__all__ = [
    "DatabaseError",
    "PgConnection",
    "busy_error",
    "connect",
    "driver_message",
    "shown_url",
]

#: What the PostgreSQL driver raises (DB-API classes of ADBC).
DatabaseError = adbc.DatabaseError

#: SQLSTATEs of a wait that ran out (lock_timeout) or a deadlock: the store was busy.
_BUSY_STATES = ("55P03", "40P01")

#: ``work_mem`` of the map's reads (:meth:`PgConnection.tune_reads`).
READ_WORK_MEM = "32MB"


def driver_message(exc: BaseException) -> str:
    """The server's or libpq's message, without the driver's prefixes and detail lines."""
    text = str(exc).strip()
    text = re.sub(r"^(?:[A-Z_]+: )?(?:\[libpq\] )?", "", text)
    text = re.sub(r"^(?:Failed to [^:]*: |Failed to execute query: )", "", text)
    return text.splitlines()[0].strip() if text else type(exc).__name__


def busy_error(url: str) -> ValidationError:
    """The error for a store another upload kept locked past the busy timeout."""
    return ValidationError(
        f"{shown_url(url)}: the store is busy (another upload is being written); nothing was "
        "changed. Retry in a moment"
    )


def is_busy(exc: BaseException) -> bool:
    """Whether a driver error says a lock could not be had in time (or a deadlock)."""
    state = getattr(exc, "sqlstate", None)
    text = str(exc)
    return state in _BUSY_STATES or any(s in text for s in _BUSY_STATES) or "lock timeout" in text


class PgConnection:
    """One connection to a PostGIS store (not in autocommit: see :meth:`transaction`)."""

    def __init__(self, url: str, raw: Any) -> None:
        self.url = url
        self._conn = raw
        self._cur = raw.cursor()

    @property
    def name(self) -> str:
        """The store's URL without a password, for messages."""
        return shown_url(self.url)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgConnection:
        """Run one statement (``$1`` parameters); returns the connection, to fetch its rows."""
        self._cur.execute(sql, params)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of the last query."""
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The rows of the last query."""
        return self._cur.fetchall()

    def scalar(self) -> Any:
        """The first value of the last query's first row."""
        row = self.fetchone()
        if row is None:
            raise RuntimeError("the query returned no row")  # cannot happen: aggregates
        return row[0]

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """The rows of a query as an Arrow table (typed by PostgreSQL)."""
        self._cur.execute(sql, params)
        return self._cur.fetch_arrow_table()

    def ingest(self, table: str, data: pa.Table) -> None:
        """Copy an Arrow table into a new temporary table (binary ``COPY``), in this transaction."""
        self._cur.adbc_ingest(table, data, mode="create", temporary=True)

    @contextlib.contextmanager
    def transaction(
        self,
        viewers: Iterable[str] | str = (),
        *,
        lock_timeout_s: float | None = None,
        repeatable_read: bool = False,
    ) -> Iterator[PgConnection]:
        """One transaction that states its viewers; committed at the end, else rolled back.

        ``viewers``: the partners the transaction acts for (checked partner ids; none: it
        sees no detection and no upload). ``lock_timeout_s``: how long a statement waits for
        a lock (default :data:`geo.core.settings.STORE_BUSY_TIMEOUT_S`); past it the store is
        busy and nothing is changed. ``repeatable_read``: every statement sees the snapshot
        the first one took (several reads that must agree).
        """
        stated = ",".join(checked_viewers(viewers))
        timeout = settings.STORE_BUSY_TIMEOUT_S if lock_timeout_s is None else lock_timeout_s
        try:
            if repeatable_read:
                self.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").fetchall()
            self.execute(
                "SELECT set_config($1, $2, true), set_config('lock_timeout', $3, true)",
                (VIEWERS_SETTING, stated, f"{max(1, int(timeout * 1000))}ms"),
            ).fetchall()
            yield self
            self._conn.commit()
        except BaseException as exc:
            with contextlib.suppress(DatabaseError):  # a connection that broke: nothing to undo
                self._conn.rollback()
            if isinstance(exc, DatabaseError):
                if is_busy(exc):
                    raise busy_error(self.url) from exc
                raise ValidationError(
                    describe(
                        self.name,
                        "the PostgreSQL store refused the work",
                        expected="a reachable Limes store that accepts the change",
                        got=driver_message(exc),
                        fix="Nothing was changed. Check the server (disk, connection), then "
                        "try again",
                    )
                ) from exc
            raise

    def tune_reads(self) -> None:
        """Settings for the map's big reads, for the rest of this transaction (``SET LOCAL``).

        JIT off: compiling a query's expressions took 70-85 ms a query on the map's reads
        (EXPLAIN ANALYZE, 10,000,000 rows), more than it saves on them. ``work_mem``
        :data:`READ_WORK_MEM`: the sum of a window's bins (about 225,000 cell and hexagon
        pairs per viewer whatever the rows: a hash of 49 MB) and the sorts of a page stay in
        memory rather than spill to disk. Bounded per sort or hash, not by the store.
        """
        self.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', $1, true)",
            (READ_WORK_MEM,),
        ).fetchall()

    def close(self) -> None:
        """Close the cursor and the connection (an open transaction is rolled back)."""
        try:
            self._cur.close()
        finally:
            self._conn.close()


def connect(url: str) -> PgConnection:
    """A connection to the store at ``url`` (before any check of the database).

    Raises
    ------
    ValidationError
        The server cannot be reached, or refuses the role or the database.
    """
    try:
        raw = adbc.connect(url, autocommit=False)
    except DatabaseError as exc:
        raise ValidationError(
            describe(
                shown_url(url),
                "cannot connect to the PostgreSQL store",
                expected="a running PostgreSQL server that accepts this role and database",
                got=driver_message(exc),
                fix="Check the URL (postgresql://user@host:port/database), that the server "
                "runs, and the role's password (PGPASSWORD or ~/.pgpass)",
            )
        ) from exc
    return PgConnection(url, raw)
