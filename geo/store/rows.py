"""The rows of one upload, checked and converted for writing (no store needed).

A frame of :func:`geo.inputs.loader.read_detections`, or the columns of
:func:`geo.inputs.loader.read_detection_columns`, becomes :class:`Rows`: numpy numbers and
pandas text, each row's marking resolved (the file's where it has one, see
:func:`prepare_rows`); then Arrow tables of the ``detections`` table's columns, in the order
rows are written (:func:`day_order`, :func:`arrow_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geo.access.releasability import parse_marking
from geo.core.errors import ValidationError, describe
from geo.store.geometry import point_blobs
from geo.store.schema import DAY_US, FLOAT_COLUMNS, MAX_DAY, MIN_DAY, TEXT_COLUMNS

__all__ = [
    "Rows",
    "arrow_columns",
    "arrow_rows",
    "day_order",
    "first_rows",
    "prepare_rows",
    "subset",
]


@dataclass
class Rows:
    """The rows of one upload, checked and converted for writing (in file order).

    Attributes
    ----------
    numbers
        ``time_us`` (microseconds since 1970, UTC), ``lon``, ``lat``, ``src_row`` and the
        number columns of :data:`~geo.store.schema.FLOAT_COLUMNS` the file has.
    texts
        The text columns of :data:`~geo.store.schema.TEXT_COLUMNS` the file has, and
        ``releasable_to`` when rows carry their own markings (pandas ``str``, NaN where
        missing).
    n
        How many rows.
    file_markings
        Rows that keep the marking they carry in the file.
    notes
        Sentences for the audit record (markings kept or refused).
    bounds
        ``(min lon, min lat, max lon, max lat)``, or None for no rows.
    """

    numbers: dict[str, np.ndarray]
    texts: dict[str, pd.Series] = field(default_factory=dict)
    n: int = 0
    file_markings: int = 0
    notes: list[str] = field(default_factory=list)
    bounds: tuple[float, float, float, float] | None = None

    @property
    def time_us(self) -> np.ndarray:
        """Each row's time, microseconds since 1970-01-01 UTC."""
        return self.numbers["time_us"]


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


def prepare_rows(
    detections: gpd.GeoDataFrame | Mapping[str, Any], source: str, default_marking: str
) -> Rows:
    """Check the rows and resolve the markings (the file's where a row has one).

    ``detections``: a frame of :func:`geo.inputs.loader.read_detections`, or the columns of
    :func:`geo.inputs.loader.read_detection_columns` (``lon``/``lat`` instead of a geometry).
    ``source`` names the file in messages; ``default_marking`` (normalised) applies to rows
    without a marking of their own.

    Raises
    ------
    ValidationError
        Rows that did not come from the loader: not EPSG:4326 points, no time column, a
        row without a usable position or time, or a time the store cannot number.
    """
    lon, lat, bad, shown = _coordinates(detections, source)
    if "time" not in detections:
        raise ValidationError(
            describe(
                source,
                "no time column",
                field="time",
                expected="a time column",
                got=list(detections.keys()),
            )
        )
    n = len(lon)
    src_row = (
        np.asarray(detections["src_row"], dtype=np.int64)
        if "src_row" in detections
        else np.arange(1, n + 1, dtype=np.int64)
    )
    times = pd.to_datetime(pd.Series(detections["time"]), utc=True).astype("datetime64[us, UTC]")
    bad_time = times.isna().to_numpy()
    for mask, fld, what in (
        (bad, "geometry", "a point with finite coordinates"),
        (bad_time, "time", "a time"),
    ):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            got = None
            if fld == "geometry":
                got = (
                    str(shown[i]) if shown is not None else f"longitude {lon[i]}, latitude {lat[i]}"
                )
            raise ValidationError(
                describe(
                    source,
                    "unusable detection",
                    row=int(src_row[i]),
                    field=fld,
                    expected=what,
                    got=got,
                    fix="Load the file with geo.inputs.loader.read_detections",
                )
            )
    time_us = times.to_numpy(dtype="datetime64[us]").view(np.int64)
    # Before the store is opened: a refused upload creates no store.
    _check_days(time_us, source)
    rows = Rows(numbers={"time_us": time_us, "lon": lon, "lat": lat, "src_row": src_row}, n=n)
    for name in TEXT_COLUMNS:
        text = _text_values(detections, name)
        if text is not None:
            rows.texts[name] = text
    for name in FLOAT_COLUMNS:
        if name in detections:
            values = pd.Series(detections[name]).to_numpy(dtype=float, na_value=np.nan)
            if not np.isnan(values).all():
                rows.numbers[name] = values
    _resolve_markings(rows, _text_values(detections, "releasable_to"), default_marking)
    if n:
        rows.bounds = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    return rows


def _coordinates(
    detections: gpd.GeoDataFrame | Mapping[str, Any], source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Longitude, latitude, which rows have no usable point, and the geometries (if any)."""
    shown: np.ndarray | None = None
    if isinstance(detections, gpd.GeoDataFrame):
        if detections.crs is None or detections.crs.to_epsg() != 4326:
            raise ValidationError(
                describe(
                    source,
                    "detections are not in EPSG:4326",
                    expected="EPSG:4326",
                    got=str(detections.crs),
                    fix="Load the file with geo.inputs.loader.read_detections",
                )
            )
        shown = np.asarray(detections.geometry.array, dtype=object)
        lon, lat = shapely.get_x(shown), shapely.get_y(shown)
        bad = (shapely.get_type_id(shown) != 0) | shapely.is_empty(shown)
    else:
        lon = np.asarray(detections["lon"], dtype=float)
        lat = np.asarray(detections["lat"], dtype=float)
        bad = (np.abs(lon) > 180) | (np.abs(lat) > 90)
    return lon, lat, bad | ~np.isfinite(lon) | ~np.isfinite(lat), shown


def _resolve_markings(rows: Rows, own: pd.Series | None, default_marking: str) -> None:
    """Each row's marking: the file's where a row has one, else the analyst's.

    An unknown file marking makes its row owner-only (``""``), with a note.
    """
    if own is None:
        return
    parsed = {v: parse_marking(v) for v in pd.unique(own.dropna())}
    unknown = [v for v, (_, why) in parsed.items() if why is not None]
    n_unknown = int(own.isin(unknown).sum()) if unknown else 0
    rows.file_markings = int(own.notna().sum()) - n_unknown
    rows.texts["releasable_to"] = (
        own.map({v: m for v, (m, _) in parsed.items()}).fillna(default_marking).astype("str")
    )
    if rows.file_markings:
        rows.notes.append(f"{rows.file_markings} row(s) keep the marking they carry in the file")
    if n_unknown:
        shown = "; ".join(f"{v!r} ({parsed[v][1]})" for v in unknown[:3])
        rows.notes.append(
            f"{n_unknown} row(s) carry an unknown marking, so only the owner may see them: {shown}"
        )


def _check_days(time_us: np.ndarray, source: str) -> None:
    """Refuse times on days the row ids cannot number (see :func:`~geo.store.schema.first_fid`)."""
    day = time_us // DAY_US
    for bad, what in ((day < MIN_DAY, "earliest"), (day > MAX_DAY, "latest")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                describe(
                    source,
                    f"a time outside what the store keeps ({what} row shown)",
                    expected="a time between about 900 BC and AD 4800",
                    got=str(np.datetime64(int(time_us[i]), "us")),
                    fix="Check the time column",
                )
            )


def day_order(time_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC day of each row and the order rows are written in: by day, then in file order.

    The days were checked by :func:`prepare_rows`.

    Examples
    --------
    >>> day, order = day_order(np.array([2, 0, 1]) * 86_400_000_000 + 5)
    >>> day.tolist(), order.tolist()
    ([2, 0, 1], [1, 2, 0])
    """
    day = time_us // DAY_US
    if len(day) < 2 or (np.diff(day) >= 0).all():
        return day, np.arange(len(day))
    # stable: file order within a day (radix sort when the days span < 2**15)
    span = int(day.max() - day.min())
    return day, np.argsort(
        (day - day.min()).astype(np.int16) if span < 2**15 else day, kind="stable"
    )


def first_rows(rows: Rows) -> np.ndarray:
    """Which rows are the first of their detection (the duplicate keys) in writing order.

    Rows are written day by day (UTC), each day in file order (see :func:`day_order`), as
    ``INSERT ... ON CONFLICT DO NOTHING`` would keep them.
    """
    n = rows.n
    _, order = day_order(rows.time_us)
    source = rows.texts.get("source")
    src = (
        pd.array(np.full(n, "", dtype=object), dtype="str")
        if source is None
        else source.fillna("").array
    )[order]
    ids = rows.texts.get("detection_id")
    has_id = (np.zeros(n, dtype=bool) if ids is None else ids.notna().to_numpy())[order]
    first = np.ones(n, dtype=bool)
    if ids is not None and has_id.any():
        keys = pd.DataFrame({"s": src[has_id], "i": ids.array[order][has_id]})
        first[has_id] = ~keys.duplicated().to_numpy()
    no_id = ~has_id
    if no_id.any():
        # + 0.0: -0.0 and 0.0 are one position (as in the store's key)
        keys = pd.DataFrame(
            {
                "s": src[no_id],
                "t": rows.time_us[order][no_id],
                "x": rows.numbers["lon"][order][no_id] + 0.0,
                "y": rows.numbers["lat"][order][no_id] + 0.0,
            }
        )
        first[no_id] = ~keys.duplicated().to_numpy()
    out = np.empty(n, dtype=bool)
    out[order] = first
    return out


def subset(rows: Rows, keep: np.ndarray) -> Rows:
    """The rows where ``keep`` is true."""
    return Rows(
        numbers={name: values[keep] for name, values in rows.numbers.items()},
        texts={name: values[keep] for name, values in rows.texts.items()},
        n=int(keep.sum()),
        file_markings=rows.file_markings,
        notes=rows.notes,
        bounds=rows.bounds,
    )


def arrow_columns(rows: Rows) -> dict[str, pa.Array | np.ndarray]:
    """The rows' columns as contiguous Arrow arrays (text) and numpy arrays (numbers).

    A text column read from a file comes in many Arrow chunks; picking rows out of one
    contiguous array is several times faster.
    """
    out: dict[str, pa.Array | np.ndarray] = dict(rows.numbers)
    for name, values in rows.texts.items():
        array = pa.array(values)
        out[name] = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    return out


def arrow_rows(
    cols: Mapping[str, pa.Array | np.ndarray], fid: np.ndarray, rows: slice | np.ndarray
) -> pa.Table:
    """Rows as the ``detections`` table's columns: a slice (no copy) or the rows at an index.

    ``cols`` are :func:`arrow_columns`, ``fid`` the rows' ids. The columns with one value
    for the whole upload (owner, upload id, often the marking) are not among them: they are
    written into the insert statement.
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

    lon, lat = np.asarray(cols["lon"]), np.asarray(cols["lat"])
    data: dict[str, pa.Array] = {
        "fid": pa.array(fid),
        "geom": point_blobs(lon[rows], lat[rows]),
        "time_us": arrow(cols["time_us"]),
    }
    for name in (*TEXT_COLUMNS, *FLOAT_COLUMNS, "releasable_to", "src_row"):
        if name in cols:
            data[name] = arrow(cols[name])
    return pa.table(data)
