"""The GeoPackage store's SQL on PostgreSQL, for the tables both back-ends share as they are.

The operations' tables and the audit table have the same columns in both back-ends, and
their modules (:mod:`geo.store.operation_tables`, :mod:`geo.store.audit`) write portable SQL
with ``?`` parameters; :class:`SqliteStyle` runs it on PostgreSQL (``?`` becomes ``$1``,
``$2``...; ``ifnull`` becomes ``coalesce``). Detections and uploads have their own modules.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

from geo.store.postgres.connection import PgConnection, connect
from geo.store.postgres.schema import prepare

__all__ = ["SqliteStyle", "reading", "to_postgres", "writing"]

#: Text in single quotes, a ``?`` parameter, or an ``ifnull(`` call.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|\bifnull\(", re.IGNORECASE)


def to_postgres(sql: str) -> str:
    """SQL written for SQLite with ``?`` parameters, as PostgreSQL reads it.

    Examples
    --------
    >>> to_postgres("SELECT ifnull(max(v), 0) FROM t WHERE a = ? AND b = '?' AND c = ?")
    "SELECT coalesce(max(v), 0) FROM t WHERE a = $1 AND b = '?' AND c = $2"
    """
    count = 0

    def swap(found: re.Match[str]) -> str:
        nonlocal count
        token = found.group(0)
        if token == "?":
            count += 1
            return f"${count}"
        return "coalesce(" if token.lower() == "ifnull(" else token

    return _TOKENS.sub(swap, sql)


class SqliteStyle:
    """A PostGIS store's connection that takes the GeoPackage store's portable SQL."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> SqliteStyle:
        """Run one statement (``?`` parameters); returns self, to fetch its rows."""
        self.conn.execute(to_postgres(sql), params)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of the last query."""
        return self.conn.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The rows of the last query."""
        return self.conn.fetchall()

    def scalar(self) -> Any:
        """The first value of the last query's first row."""
        return self.conn.scalar()


@contextlib.contextmanager
def writing(url: str, *, lock_timeout_s: float | None = None) -> Iterator[SqliteStyle]:
    """The store in one write transaction (no viewer: these tables have no row security)."""
    conn = connect(url)
    try:
        prepare(conn, lock_timeout_s=lock_timeout_s)
        with conn.transaction(lock_timeout_s=lock_timeout_s):
            yield SqliteStyle(conn)
    finally:
        conn.close()


@contextlib.contextmanager
def reading(url: str) -> Iterator[SqliteStyle]:
    """The store in one read transaction."""
    with writing(url) as conn:
        yield conn
