"""Reading a PostGIS store: each read one transaction that states its viewers.

Row-level security shows the transaction what its viewers may see; the callers in
:mod:`geo.store.reading` filter the rows again in Python (the second line).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from geo.store.postgres.connection import connect
from geo.store.postgres.schema import prepare

__all__ = ["detection_rows", "owners", "revision", "upload_rows"]

#: Text of a ``timestamptz`` as the GeoPackage store writes its times (UTC, milliseconds).
_ISO = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#: Columns of :func:`detection_rows` besides the position (``lon``, ``lat``).
_DETECTION_COLUMNS = (
    "fid", "time_us", "detection_id", "source", "partner", "class", "confidence", "access",
    "caveat", "hae_m", "ce_m", "le_m", "src_row", "owner", "releasable_to", "upload_id",
)  # fmt: skip


def detection_rows(
    url: str,
    viewers: list[str],
    *,
    t_from: int | None,
    t_to: int | None,
    after_upload: int | None,
    through_upload: int | None,
    operation: str | None,
) -> pa.Table:
    """The detections ``viewers`` may see (row-level security), as Arrow (any order).

    Times are microseconds since 1970 UTC; ``lon`` and ``lat`` the point's coordinates.
    """
    where = ["true"]
    params: list[object] = []
    for value, sql in (
        (t_from, "time_us >= {}"),
        (t_to, "time_us <= {}"),
        (after_upload, "upload_id > {}"),
        (through_upload, "upload_id <= {}"),
    ):
        if value is not None:
            params.append(int(value))
            where.append(sql.format(f"${len(params)}::bigint"))
    if operation is not None:
        params.append(str(operation))
        where.append(f"operation = ${len(params)}::text")
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction(viewers):
            return conn.fetch_arrow(
                f"SELECT {', '.join(_DETECTION_COLUMNS)}, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                f"FROM detections WHERE {' AND '.join(where)}",
                params or None,
            )
    finally:
        conn.close()


def upload_rows(
    url: str,
    viewers: list[str],
    columns: Mapping[str, str],
    *,
    retracted: bool,
    operation: str | None,
) -> pa.Table:
    """The ``uploads`` rows of ``viewers``' own uploads, as Arrow with ``columns`` (any order)."""
    select = ", ".join(
        f"{_ISO.format(name)} AS {name}"
        if name in ("uploaded_at", "retracted_at")
        else f"{name}::bigint AS {name}"
        if kind == "integer"
        else f"{name}::text AS {name}"
        for name, kind in columns.items()
    )
    where = "partner = ANY (string_to_array($1::text, ','))"
    params: list[object] = [",".join(viewers)]
    if not retracted:
        where += " AND retracted_at IS NULL"
    if operation is not None:
        params.append(str(operation))
        where += " AND operation = $2::text"
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction(viewers):
            return conn.fetch_arrow(f"SELECT {select} FROM uploads WHERE {where}", params)
    finally:
        conn.close()


def owners(url: str, *, retracted: bool = False) -> list[str]:
    """Partners with an upload not retracted (``retracted``: or retracted), sorted."""
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction():
            ever = [r[0] for r in conn.execute("SELECT partner FROM limes_partners").fetchall()]
        if retracted or not ever:
            return sorted(ever)
        with conn.transaction(ever):  # each reads its own uploads (row-level security)
            rows = conn.execute(
                "SELECT DISTINCT partner FROM uploads WHERE retracted_at IS NULL ORDER BY partner"
            ).fetchall()
        return [r[0] for r in rows]
    finally:
        conn.close()


def revision(url: str) -> tuple[int, int]:
    """The last upload id and the changes to stored rows (no viewer needed: no row is read)."""
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction():
            row = conn.execute("SELECT last_upload, changes FROM limes_store").fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))
    finally:
        conn.close()
