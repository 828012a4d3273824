"""One connection to the store through the ADBC SQLite driver, and how its failures read.

Reads go through the driver in Arrow batches of a bounded size (``_READ_BATCH_ROWS``), every
column typed up front (see :meth:`Connection.fetch_arrow`), so a query holds memory for its
rows, not for a batch "as large as any result". An allocation failure anywhere in the driver,
Arrow, SQLite or GEOS is raised as :class:`StoreMemoryError`, never as another fault.
"""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import adbc_driver_sqlite.dbapi as adbc
import pyarrow as pa
import shapely

from geo.core.errors import ValidationError, describe

__all__ = [
    "Connection",
    "DatabaseError",
    "IntegrityError",
    "Kind",
    "OperationalError",
    "StoreMemoryError",
    "busy_error",
    "connect",
    "driver_message",
    "is_busy",
    "is_out_of_memory",
    "memory_reported",
    "not_a_store",
    "out_of_memory",
    "sql_text",
    "write_transaction",
]


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
Kind = Literal["integer", "real", "text", "blob"]
_KINDS: dict[str, tuple[pa.DataType, str, str]] = {
    "integer": (pa.int64(), "0", "CASE WHEN typeof({0}) = 'integer' THEN {0} END"),
    "real": (pa.float64(), "0.0", "CASE WHEN typeof({0}) IN ('integer', 'real') THEN {0} END"),
    "text": (pa.string(), "''", "CAST({0} AS TEXT)"),
    "blob": (pa.binary(), "x''", "CAST({0} AS BLOB)"),
}


#: Messages of an allocation failure: the driver's (errno ENOMEM), SQLite's and GEOS's.
_OUT_OF_MEMORY = re.compile(
    r"cannot allocate memory|out of memory|\bENOMEM\b|bad_alloc", re.IGNORECASE
)


#: What the SQLite driver raises (DB-API classes of ADBC).
DatabaseError = adbc.DatabaseError
IntegrityError = adbc.IntegrityError
OperationalError = adbc.OperationalError


class StoreMemoryError(ValidationError, MemoryError):
    """The store could not be read or written for want of memory (not a fault of the file).

    A :class:`~geo.core.errors.ValidationError` (its message is shown as it is, like other store
    messages) and a :class:`MemoryError`.
    """


#: What an allocation failure may raise (Python, Arrow, the SQLite driver, GEOS).
_MAYBE_MEMORY = (
    MemoryError,
    OSError,
    DatabaseError,
    pa.ArrowException,
    shapely.errors.GEOSException,
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (Python's, Arrow's, the driver's, GEOS's)."""
    if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
        return True
    return isinstance(exc, _MAYBE_MEMORY) and bool(_OUT_OF_MEMORY.search(str(exc)))


def out_of_memory(where: str, exc: BaseException) -> StoreMemoryError:
    """The :class:`StoreMemoryError` for an allocation failure ``exc`` at ``where``."""
    lines = driver_message(exc).splitlines()  # the driver's message, without its "Detail:" line
    got = lines[0] if lines else type(exc).__name__
    return StoreMemoryError(
        describe(
            where,
            "out of memory",
            expected="enough free memory (and address space, if a limit "
            "such as ulimit -v is set) for the rows read or written",
            got=got,
            fix="Nothing in the store was changed. Free memory or raise the limit, or read a "
            "shorter time window or upload a smaller file",
        )
    )


@contextlib.contextmanager
def memory_reported(where: str) -> Iterator[None]:
    """Raise an allocation failure inside the block as :class:`StoreMemoryError`."""
    try:
        yield
    except StoreMemoryError:
        raise
    except _MAYBE_MEMORY as exc:
        if not is_out_of_memory(exc):
            raise
        raise out_of_memory(where, exc) from exc


class Connection:
    """One connection to the store, through the ADBC SQLite driver.

    Every store connection of Limes goes through this one SQLite library (the driver's own,
    a recent SQLite): two SQLite libraries in one process must not hold the same file open,
    since closing one library's file releases the other's POSIX locks. (Only
    :func:`geo.store.backup` opens the store with Python's ``sqlite3``, after this
    connection is closed, for the online backup API.)

    Autocommit: transactions are explicit (``BEGIN IMMEDIATE`` ... ``COMMIT``).
    :meth:`execute` returns the connection, for :meth:`fetchone` / :meth:`fetchall`.
    """

    def __init__(self, path: Path) -> None:
        # An absolute path: SQLite reads a name that starts with "file:" as a URI.
        target = str(path.absolute())
        self._name = str(path)
        with memory_reported(self._name):
            self._conn = adbc.connect(target, autocommit=True)
            try:
                # Batches of a bounded size (see _READ_BATCH_ROWS): one cursor for the
                # statements, one for the reads of fetch_arrow.
                self._cur = self._conn.cursor()
                self._cur.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(_QUERY_BATCH_ROWS)}
                )
                self._reader = self._conn.cursor()
                self._reader.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(_READ_BATCH_ROWS)}
                )
            except BaseException:
                self._conn.close()
                raise
        self.in_transaction = False

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Connection:
        """Run one statement (``?`` parameters); returns the connection, to fetch its rows."""
        with memory_reported(self._name):
            self._cur.execute(sql, params)
        word = sql.lstrip()[:9].upper()
        if word.startswith("BEGIN"):
            self.in_transaction = True
        elif word.startswith(("COMMIT", "END")) or (
            word.startswith("ROLLBACK") and " TO " not in sql.upper()
        ):
            self.in_transaction = False
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of the last query (its columns typed by the driver: few rows only)."""
        with memory_reported(self._name):
            return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The rows of the last query (typed by the driver: see :meth:`fetch_arrow`)."""
        with memory_reported(self._name):
            return self._cur.fetchall()

    def scalar(self) -> Any:
        """The first value of the last query's first row (a query that returns one)."""
        row = self.fetchone()
        if row is None:
            raise RuntimeError("the query returned no row")  # cannot happen: aggregates
        return row[0]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())

    def fetch_arrow(self, columns: Mapping[str, Kind], source: str) -> pa.Table:
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
        except (DatabaseError, OSError, pa.ArrowException):  # a value of another type
            table = None  # (any other error is raised again by the second read)
        if table is None or table.schema.types != types:
            table = self._fetch_typed(columns, source, made_of_kind=True)
        return table

    def _fetch_typed(
        self, columns: Mapping[str, Kind], source: str, *, made_of_kind: bool
    ) -> pa.Table:
        """:meth:`fetch_arrow` after a typing row, the values as stored or made their kind."""
        typing_row = ", ".join(
            ["1 AS limes_typing_row"]
            + [f'{_KINDS[kind][1]} AS "{name}"' for name, kind in columns.items()]
        )
        values = ", ".join(
            ["NULL"]
            + [
                _KINDS[kind][2].format(f'"{name}"') if made_of_kind else f'"{name}"'
                for name, kind in columns.items()
            ]
        )
        with memory_reported(self._name):
            self._reader.execute(f"SELECT {typing_row} UNION ALL SELECT {values} {source}")
            table = self._reader.fetch_arrow_table()
        mark = table.column(0)
        if table.num_rows == 0 or mark[0].as_py() != 1 or mark.null_count != table.num_rows - 1:
            raise RuntimeError("SQLite did not return the typing row first")  # cannot happen
        return table.slice(1).remove_column(0)

    def stream_arrow(self, columns: Mapping[str, Kind], source: str) -> Iterator[pa.RecordBatch]:
        """The rows of ``SELECT <columns> <source>`` as Arrow batches, read as they are used.

        One query, read batch by batch (of ``_READ_BATCH_ROWS`` rows) while the caller works
        on the last one: memory for a batch, whatever the result holds, and no query run
        again per page. Each value is made its column's kind in SQL (see ``_KINDS``), after
        a typing row (dropped), so the driver can refuse none half-way. The connection must
        not read anything else until the iterator is exhausted or closed.
        """
        typing_row = ", ".join(f'{_KINDS[kind][1]} AS "{name}"' for name, kind in columns.items())
        values = ", ".join(_KINDS[kind][2].format(f'"{name}"') for name, kind in columns.items())
        with memory_reported(self._name):
            self._reader.execute(f"SELECT {typing_row} UNION ALL SELECT {values} {source}")
            reader = self._reader.fetch_record_batch()
        try:
            first = True
            while True:
                with memory_reported(self._name):
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        return
                if first:
                    batch, first = batch.slice(1), False
                if batch.num_rows:
                    yield batch
        finally:
            reader.close()

    def insert(
        self,
        table: str,
        data: pa.Table,
        *,
        constants: Mapping[str, str | int],
        skip_conflicts: bool = False,
    ) -> None:
        """Insert the rows of an Arrow table (bound column by column in C).

        ``constants``: columns with one value for every row, written into the statement
        (cheaper than binding a value per row). ``skip_conflicts``: rows that would break a
        unique key are left out (``ON CONFLICT DO NOTHING``).
        """
        names = ", ".join(f'"{c}"' for c in (*data.column_names, *constants))
        values = ", ".join(
            ["?"] * data.num_columns
            + [str(v) if isinstance(v, int) else sql_text(v) for v in constants.values()]
        )
        conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
        with memory_reported(self._name):
            self._cur.executemany(
                f'INSERT INTO "{table}" ({names}) VALUES ({values}){conflict}', data
            )

    @property
    def total_changes(self) -> int:
        """Rows inserted, changed or deleted through this connection so far."""
        return int(self.execute("SELECT total_changes()").scalar())

    def close(self) -> None:
        """Close the cursors and the connection."""
        try:
            try:
                self._cur.close()
            finally:
                self._reader.close()
        finally:
            self._conn.close()


def connect(path: Path, *, busy_timeout_s: float) -> Connection:
    """A connection to ``path`` with the store's settings, before any check of the file.

    A busy timeout, ``synchronous=FULL`` (an upload that returned is on disk) and a WAL
    kept to at most 64 MiB. See :func:`geo.store.open_store` for the checked way in.
    """
    try:
        conn = Connection(path)
    except DatabaseError as exc:
        raise ValidationError(
            describe(
                str(path),
                "cannot open the store",
                expected="a file Limes may read and write",
                got=driver_message(exc),
                fix="Check the path and its permissions",
            )
        ) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}").fetchall()
        conn.execute("PRAGMA synchronous = FULL").fetchall()
        conn.execute("PRAGMA journal_size_limit = 67108864").fetchall()  # WAL kept ≤ 64 MiB
    except DatabaseError as exc:
        conn.close()
        raise ValidationError(not_a_store(path, driver_message(exc))) from exc
    return conn


def driver_message(exc: BaseException) -> str:
    """The driver's message without its prefix ("IO: Failed to step query: ...")."""
    text = str(exc)
    return text.rsplit(": ", 1)[-1] if "Failed to" in text else text


def not_a_store(path: Path, got: str) -> str:
    """The message for a file that is not a Limes store (``got``: what it is instead)."""
    return describe(
        str(path),
        "not a Limes store",
        expected="a GeoPackage written by Limes (python -m geo ingest creates one)",
        got=got,
        fix="Point --store at the store file, or at a new file name to create one",
    )


def busy_error(path: Path) -> ValidationError:
    """The error for a store that stayed locked by another upload."""
    return ValidationError(
        f"{path}: the store is busy (another upload is being written); nothing was changed. "
        "Retry in a moment"
    )


def is_busy(exc: BaseException) -> bool:
    """Whether a driver error says the store is locked by another connection."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def sql_text(value: str) -> str:
    """``value`` as an SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


@contextlib.contextmanager
def write_transaction(
    conn: Connection, store: Path, *, fix: str, refused: str, refused_fix: str
) -> Iterator[None]:
    """One write transaction: all of it lands, or nothing, and a failure says which.

    ``fix`` ends the message when the store cannot be written (disk full, read-only);
    ``refused`` and ``refused_fix`` say that the store's tables refused the rows (a store
    another tool changed). Busy and out of memory are reported as such.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except OperationalError as exc:
        if is_busy(exc):
            raise busy_error(store) from exc
        raise
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, MemoryError) and not isinstance(exc, StoreMemoryError):
            raise out_of_memory(str(store), exc) from exc
        if isinstance(exc, OperationalError):  # disk full, read-only, I/O error
            raise ValidationError(
                describe(
                    str(store),
                    "cannot write the store",
                    expected="a writable store with free disk space",
                    got=driver_message(exc),
                    fix=fix,
                )
            ) from exc
        if isinstance(exc, DatabaseError):  # a store another tool changed
            raise ValidationError(
                describe(
                    str(store),
                    refused,
                    expected="a Limes store (tables as Limes writes them)",
                    got=driver_message(exc),
                    fix=refused_fix,
                )
            ) from exc
        raise
