"""Reading the store: what a partner may see, the audit log, and GeoJSON of detections.

Every read of detections goes through the releasability rule
(:func:`geo.access.releasability.sql_where`) and reads the rows in bounded Arrow batches
(:meth:`geo.store.connection.Connection.fetch_arrow`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geo.access.releasability import sql_where, visible_mask
from geo.access.releasability import viewers as checked_viewers
from geo.core.errors import ValidationError, describe
from geo.core.times import parse_utc
from geo.store.connection import Connection, Kind, is_out_of_memory, out_of_memory, sql_text
from geo.store.geometry import points
from geo.store.location import postgres_url
from geo.store.opening import opened_for_reading
from geo.store.postgres import reading as pg_reading
from geo.store.postgres.connection import shown_url
from geo.store.schema import (
    DAY_US,
    DEFAULT_OPERATION,
    FLOAT_COLUMNS,
    MAX_DAY,
    MIN_DAY,
    first_fid,
    has_audit,
    has_operations,
)
from geo.store.spatial_index import positions_of

__all__ = [
    "COLUMNS",
    "ROW_CHANGES",
    "Revision",
    "feature_collection",
    "owners",
    "revision",
    "uploads",
    "version",
    "visible_detections",
]


#: Columns of :func:`visible_detections`, in order (``geometry`` last).
COLUMNS: tuple[str, ...] = (
    "time",
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
    "src_row",
    "owner",
    "releasable_to",
    "upload_id",
)

#: Columns :func:`visible_detections` reads, and their kinds (see ``Connection.fetch_arrow``).
_READ_COLUMNS: dict[str, Kind] = {
    "fid": "integer",
    "time_us": "integer",
    **{
        name: "real"
        if name in FLOAT_COLUMNS
        else "integer"
        if name in ("src_row", "upload_id")
        else "text"
        for name in COLUMNS[1:]
    },
    "geom": "blob",
}

#: The audit log's columns (:func:`uploads`), in order, and their kinds.
_UPLOAD_COLUMNS: dict[str, Kind] = {
    "upload_id": "integer",
    "uploaded_at": "text",
    "uploaded_by": "text",
    "partner": "text",
    "file_name": "text",
    "sha256": "text",
    "format": "text",
    "rows_read": "integer",
    "accepted": "integer",
    "rejected": "integer",
    "duplicates": "integer",
    "releasable_to": "text",
    "file_markings": "integer",
    "notes": "text",
}

#: The two more columns of :func:`uploads` with ``retracted=True``.
_RETRACTED_COLUMNS: dict[str, Kind] = {"retracted_at": "text", "retracted_by": "text"}

#: The audit actions that change rows already stored (and so :func:`revision`'s ``changes``).
ROW_CHANGES = ("upload.retract", "upload.mark")


def owners(path: str | os.PathLike[str], *, retracted: bool = False) -> list[str]:
    """Partners with an upload in the store (not retracted), sorted (for a demo or admin view).

    ``retracted``: also a partner whose uploads are all retracted (an upload history or an
    audit keeps them; a map does not).

    Examples
    --------
    >>> owners("no-such-store.gpkg")
    []
    """
    url = postgres_url(path)
    if url is not None:
        return pg_reading.owners(url, retracted=retracted)
    with opened_for_reading(path) as conn:
        if conn is None:
            return []
        served = " WHERE retracted_at IS NULL" if has_audit(conn) and not retracted else ""
        return [
            r[0]
            for r in conn.execute(f"SELECT DISTINCT partner FROM uploads{served} ORDER BY partner")
        ]


class Revision(NamedTuple):
    """Where the store's rows stand: :func:`revision`.

    Attributes
    ----------
    uploads
        The last upload id (``0``: none): ids only grow (AUTOINCREMENT), and a refused,
        failed or repeated upload leaves it as it was.
    changes
        Retractions and re-markings so far: the writes that change rows already stored.
    """

    uploads: int
    changes: int

    @property
    def version(self) -> int:
        """One number that grows with every upload, retraction and re-marking."""
        return self.uploads + self.changes


def revision(path: str | os.PathLike[str]) -> Revision:
    """Where the store's rows stand: the last upload and the changes to stored rows.

    A reader that holds the rows of :class:`Revision` ``r`` catches up with ``s`` by reading
    the uploads after ``r.uploads`` when ``s.changes == r.changes`` (uploads only add rows);
    otherwise rows it holds were retracted or re-marked, and it reads the store again.

    Examples
    --------
    >>> revision("no-such-store.gpkg")
    Revision(uploads=0, changes=0)
    """
    url = postgres_url(path)
    if url is not None:
        return Revision(*pg_reading.revision(url))
    with opened_for_reading(path) as conn:
        if conn is None:
            return Revision(0, 0)
        last = int(conn.execute("SELECT ifnull(max(upload_id), 0) FROM uploads").scalar())
        changes = 0
        if has_audit(conn):
            changes = int(
                conn.execute(
                    "SELECT count(*) FROM audit WHERE action IN "
                    f"({', '.join(sql_text(a) for a in ROW_CHANGES)})"
                ).scalar()
            )
        return Revision(last, changes)


def version(path: str | os.PathLike[str]) -> int:
    """A number that grows whenever the rows the store serves change (for cache keys).

    An upload, a retraction or a re-marking (see :func:`revision`: the last upload id plus
    the changes to stored rows); sign-ins and other events leave it. ``0`` for a store that
    does not exist yet or has no upload.

    Examples
    --------
    >>> version("no-such-store.gpkg")
    0
    """
    return revision(path).version


def _parse_time(value: str | datetime | pd.Timestamp | None, name: str) -> int | None:
    """Microseconds since the epoch (UTC; a time without zone is taken as UTC)."""
    ts = parse_utc(value, name)
    return None if ts is None else int(ts.value) // 1000  # ns -> us


def _window(
    time_from: str | datetime | None, time_to: str | datetime | None
) -> tuple[int | None, int | None]:
    """A time window in microseconds since the epoch (either end may be open)."""
    t_from = _parse_time(time_from, "time_from")
    t_to = _parse_time(time_to, "time_to")
    if t_from is not None and t_to is not None and t_to < t_from:
        raise ValidationError(
            describe(
                "time window",
                "time_to is before time_from",
                expected=f"a time at or after {time_from}",
                got=time_to,
            )
        )
    return t_from, t_to


def _visible_where(viewers: Sequence[str], t_from: int | None, t_to: int | None) -> str:
    """SQL condition for the rows any of ``viewers`` may see in the window.

    The releasability rule's SQL (:func:`geo.access.releasability.sql_where`: the store's
    markings are normalised when written). Literal SQL: the viewers are checked partner ids,
    quoted all the same, and the times integers. A window is first a range of ``fid`` (the
    rows of its days), then exact.
    """
    where = sql_where(viewers)
    if t_from is not None:
        day = min(max(t_from // DAY_US, MIN_DAY), MAX_DAY + 1)
        where += f" AND fid >= {first_fid(day)} AND time_us >= {int(t_from)}"
    if t_to is not None:
        day = min(max(t_to // DAY_US, MIN_DAY - 1), MAX_DAY)
        where += f" AND fid < {first_fid(day + 1)} AND time_us <= {int(t_to)}"
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
    return pd.Series(
        [
            None if v is None else v.decode("utf-8", "replace")
            for v in column.cast(pa.large_binary()).to_pylist()
        ],
        dtype="str",
    )


def _frame(
    raw: pa.Table | None, store: str = "store", conn: Connection | None = None
) -> gpd.GeoDataFrame:
    """Rows read from the store (:data:`_READ_COLUMNS`) as a detections frame, in time order.

    A row whose time or position another tool made unreadable raises
    :class:`ValidationError` naming it (and the stored time, read through ``conn``); other
    values that are not of their column's type read as missing.
    """
    if raw is None or raw.num_rows == 0:
        data: dict[str, Any] = {"time": pd.Series([], dtype="datetime64[us, UTC]")}
        for name in COLUMNS[1:]:
            data[name] = (
                np.empty(0, dtype=np.int64)
                if name in ("src_row", "upload_id")
                else np.empty(0)
                if name in FLOAT_COLUMNS
                else pd.Series(pd.array([], dtype="str"))
            )
        return gpd.GeoDataFrame(
            data, geometry=gpd.array.from_shapely(np.empty(0, dtype=object)), crs="EPSG:4326"
        )
    fid = raw["fid"].to_numpy().astype(np.int64, copy=False)
    if raw["time_us"].null_count:  # not an integer (see _KINDS)
        i = int(np.flatnonzero(raw["time_us"].is_null().to_numpy(zero_copy_only=False))[0])
        got = (
            None
            if conn is None
            else conn.execute(f"SELECT time_us FROM detections WHERE fid = {int(fid[i])}").scalar()
        )
        raise ValidationError(
            describe(
                store,
                "a stored detection has no usable time",
                field="time_us",
                expected="microseconds since 1970-01-01 UTC (an integer)",
                got=got,
                fix=f"Another tool changed the detections table: correct or delete the row with "
                f"fid {fid[i]}",
            )
        )
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
        elif name in FLOAT_COLUMNS:
            data[name] = _numbers(column)
        else:
            data[name] = _texts(column)
    try:
        geometry = (
            points(raw["geom"])
            if "geom" in raw.column_names
            else shapely.points(_numbers(raw["lon"]), _numbers(raw["lat"]))  # PostGIS
        )
    except (shapely.errors.GEOSException, TypeError, ValueError, IndexError) as exc:
        if is_out_of_memory(exc):  # GEOS: std::bad_alloc
            raise out_of_memory(store, exc) from exc
        unread = np.flatnonzero(np.isnan(positions_of(raw["geom"])[0]))
        raise ValidationError(
            describe(
                store,
                "a stored detection has no readable position",
                row=f"fid {fid[unread[0]]}" if len(unread) else None,
                field="geom",
                expected="a GeoPackage point geometry",
                got=str(exc),
                fix="Another tool changed the detections table: correct or delete that row "
                "(ogrinfo lists the rows GDAL cannot read)",
            )
        ) from exc
    return gpd.GeoDataFrame(data, geometry=gpd.array.from_shapely(geometry), crs="EPSG:4326")


def visible_detections(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    after_upload: int | None = None,
    through_upload: int | None = None,
    operation: str | None = None,
) -> gpd.GeoDataFrame:
    """The stored detections any of ``partners`` may see, in time order.

    What a partner may see: its own rows, rows marked ``ALL`` and rows released to it (see
    :func:`may_see`). Several partners give their joint view: the union, not everything.

    Parameters
    ----------
    path
        The store (a GeoPackage path or a PostgreSQL URL). A GeoPackage that does not
        exist yet holds nothing.
    partners
        The viewer(s): partner ids (one string is one partner). None sees nothing.
    time_from, time_to
        Only detections at or after / at or before these instants (ISO 8601 text,
        :class:`datetime.datetime` or :class:`pandas.Timestamp`; without zone: UTC).
    after_upload, through_upload
        Only rows of the uploads with an id above / at most these (uploads only add rows:
        a reader that holds the rows through upload ``n`` reads ``after_upload=n`` to catch
        up, unless rows were retracted or re-marked meanwhile, see :func:`revision`).
    operation
        Only rows of this operation (default: every operation's). In a store from before
        operations every row belongs to :data:`~geo.store.schema.DEFAULT_OPERATION`.

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
    viewers = checked_viewers(partners)
    t_from, t_to = _window(time_from, time_to)
    url = postgres_url(path)
    if url is not None:
        return _postgres_detections(
            url, viewers, t_from, t_to, after_upload, through_upload, operation
        )
    with opened_for_reading(path) as conn:  # checks the file is a store
        if conn is None or not viewers:
            return _frame(None)
        # The SQLite driver reads the rows into Arrow in C; ordered in numpy afterwards
        # (cheaper than ORDER BY).
        where = _visible_where(viewers, t_from, t_to)
        for bound, op in ((after_upload, ">"), (through_upload, "<=")):
            if bound is not None:
                where += f" AND upload_id {op} {int(bound)}"
        if operation is not None and has_operations(conn):
            where += f" AND operation = {sql_text(str(operation))}"
        elif operation not in (None, DEFAULT_OPERATION):
            return _frame(None)
        raw = conn.fetch_arrow(_READ_COLUMNS, f"FROM detections WHERE {where}")
        return _frame(raw, str(path), conn)


def _postgres_detections(
    url: str,
    viewers: list[str],
    t_from: int | None,
    t_to: int | None,
    after_upload: int | None,
    through_upload: int | None,
    operation: str | None,
) -> gpd.GeoDataFrame:
    """:func:`visible_detections` of a PostGIS store: row-level security, then the rule again.

    The database shows the read's transaction what its viewers may see; the rule is applied
    here once more (:func:`geo.access.releasability.visible_mask`), the second line.
    """
    if not viewers:
        return _frame(None)
    raw = pg_reading.detection_rows(
        url,
        viewers,
        t_from=t_from,
        t_to=t_to,
        after_upload=after_upload,
        through_upload=through_upload,
        operation=operation,
    )
    mask = visible_mask(
        raw["owner"].to_numpy(zero_copy_only=False),
        raw["releasable_to"].to_numpy(zero_copy_only=False),
        viewers,
    )
    if not mask.all():
        raw = raw.filter(pa.array(mask))
    return _frame(raw, shown_url(url))


def _upload_rows(
    conn: Connection | None,
    viewers: list[str],
    columns: dict[str, Kind],
    *,
    retracted: bool,
    operation: str | None,
) -> pa.Table:
    """The ``uploads`` rows of :func:`uploads` (in any order), as Arrow."""
    if conn is None or not viewers:
        return pa.table(
            {
                name: pa.array([], pa.int64() if kind == "integer" else pa.string())
                for name, kind in columns.items()
            }
        )
    audited = has_audit(conn)
    source = (
        "uploads"
        if audited
        else "(SELECT *, NULL AS retracted_at, NULL AS retracted_by FROM uploads)"
    )
    where = f"partner IN ({', '.join(sql_text(v) for v in viewers)})"
    if audited and not retracted:
        where += " AND retracted_at IS NULL"
    if operation is not None and has_operations(conn):
        where += f" AND operation = {sql_text(str(operation))}"
    elif operation not in (None, DEFAULT_OPERATION):
        where += " AND 0"
    return conn.fetch_arrow(columns, f"FROM {source} WHERE {where}")


def uploads(
    path: str | os.PathLike[str],
    partners: Iterable[str] | str,
    *,
    retracted: bool = False,
    operation: str | None = None,
) -> pd.DataFrame:
    """The audit log of the uploads of ``partners`` (their own uploads only), oldest first.

    Parameters
    ----------
    path
        The store (a GeoPackage path or a PostgreSQL URL). A GeoPackage that does not
        exist yet has no uploads.
    partners
        The partner(s) whose uploads to list (one string is one partner).
    retracted
        Also list retracted uploads (see :func:`geo.store.retract_upload`), with two more
        columns: ``retracted_at`` (datetime64[ms, UTC], NaT for an upload still served) and
        ``retracted_by``. By default a retracted upload is left out, like its rows.
    operation
        Only the uploads into this operation (default: every operation's). In a store from
        before operations every upload belongs to
        :data:`~geo.store.schema.DEFAULT_OPERATION`.

    Returns
    -------
    pandas.DataFrame
        Columns ``upload_id``, ``uploaded_at`` (datetime64[ms, UTC]), ``uploaded_by``,
        ``partner``, ``file_name``, ``sha256``, ``format``, ``rows_read``, ``accepted``,
        ``rejected``, ``duplicates``, ``releasable_to`` (the marking: the analyst's, or the
        latest re-marking's; ``""``: the owner only), ``file_markings`` (rows that kept their
        own when uploaded) and ``notes``.

    Examples
    --------
    >>> list(uploads("no-such-store.gpkg", "LTU").columns[:4])
    ['upload_id', 'uploaded_at', 'uploaded_by', 'partner']
    """
    viewers = checked_viewers(partners)
    columns = {**_UPLOAD_COLUMNS, **(_RETRACTED_COLUMNS if retracted else {})}
    url = postgres_url(path)
    with contextlib.nullcontext(None) if url is not None else opened_for_reading(path) as conn:
        raw = (
            pg_reading.upload_rows(url, viewers, columns, retracted=retracted, operation=operation)
            if url is not None and viewers
            else _upload_rows(conn, viewers, columns, retracted=retracted, operation=operation)
        )
        raw = raw.sort_by("upload_id")
        frame = pd.DataFrame(
            {
                name: raw[name].fill_null(0).to_numpy() if kind == "integer" else _texts(raw[name])
                for name, kind in columns.items()
            }
        )
        for name in ("uploaded_at", "retracted_at") if retracted else ("uploaded_at",):
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601").astype(
                "datetime64[ms, UTC]"
            )
    return frame


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
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": dict(zip(names, values, strict=True)),
        }
        for x, y, *values in zip(lon, lat, *props.values(), strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}
