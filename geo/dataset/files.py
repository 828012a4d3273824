"""GeoParquet datasets of detections: which files, and their points read column by column.

A dataset is a directory of GeoParquet files (its ``*.parquet`` files, subdirectories
included, in name order) or a glob of them (``DIR/2026-05-*.parquet``). Each file is a
partition: read, checked and classified on its own, so a dataset can be far larger than
memory. Every partition must hold a primary geometry column of points (GeoParquet
``point`` (GeoArrow) or ``WKB`` encoding) in EPSG:4326 / OGC:CRS84 (or no CRS, which
GeoParquet defines as OGC:CRS84) and a ``time`` column of timestamps (with a zone, or
without, then UTC). See ``docs/dask.md``.

:func:`read_points` reads only what a classification needs (lon, lat, time) without making a
shapely object per row; :func:`read_partition` reads every column, for exports.
"""

from __future__ import annotations

import functools
import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
from numpy.typing import NDArray

from geo.core.errors import ValidationError, describe

__all__ = [
    "PAGE_ROWS",
    "PartitionPoints",
    "dataset_files",
    "is_dataset",
    "iter_points",
    "partition_schema",
    "read_partition",
    "read_points",
]

_GLOB_CHARS = ("*", "?", "[")
_FIX_WRITE = (
    "Write the dataset with `python -m geo detections --format geoparquet`, or as GeoParquet "
    "with geopandas (GeoDataFrame.to_parquet) with point geometry in EPSG:4326 and a 'time' "
    "timestamp column"
)
_CRS84 = ("OGC:CRS84", "EPSG:4326")


def is_dataset(spec: str | Path) -> bool:
    """Whether ``spec`` names a dataset (a directory or a glob), not one ordinary file."""
    text = str(spec)
    return Path(text).is_dir() or (any(c in text for c in _GLOB_CHARS) and not Path(text).exists())


def dataset_files(spec: str | Path) -> list[Path]:
    """The partition files of a dataset, in name order.

    Raises
    ------
    ValidationError
        Nothing matches, or the directory holds no ``.parquet`` file.

    Examples
    --------
    >>> dataset_files("/nonexistent/*.parquet")
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: /nonexistent/*.parquet: no GeoParquet partitions: \
expected a directory of .parquet files or a glob matching some, got 'nothing'. ...
    """
    text = str(spec)
    if Path(text).is_dir():
        files = sorted(p for p in Path(text).rglob("*.parquet") if p.is_file())
    else:
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    if not files:
        raise ValidationError(
            describe(
                text,
                "no GeoParquet partitions",
                expected="a directory of .parquet files or a glob matching some",
                got="nothing",
                fix=_FIX_WRITE,
            )
        )
    return files


def partition_schema(path: Path) -> tuple[str, str]:
    """The primary geometry column and its encoding, checked from the file's footer alone.

    Raises
    ------
    ValidationError
        Unreadable file, no GeoParquet metadata, a geometry that is not points, a CRS other
        than EPSG:4326, or no ``time`` timestamp column.
    """
    source = str(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            describe(
                source,
                "could not be read as Parquet",
                got=" ".join(str(exc).split())[:200],
                fix="Check that the file is a complete GeoParquet file",
            )
        ) from None
    raw = (schema.metadata or {}).get(b"geo")
    if raw is None:
        raise ValidationError(
            describe(
                source,
                "not GeoParquet",
                field="geo",
                expected="the GeoParquet 'geo' metadata",
                got="none",
                fix=_FIX_WRITE,
            )
        )
    try:
        meta = json.loads(raw)
        primary = str(meta["primary_column"])
        col = meta["columns"][primary]
    except (ValueError, KeyError, TypeError):
        raise ValidationError(
            describe(source, "unreadable GeoParquet metadata", field="geo", fix=_FIX_WRITE)
        ) from None
    encoding = str(col.get("encoding"))
    types = col.get("geometry_types") or []
    if encoding not in ("point", "WKB") or any(t not in ("Point", "Point Z") for t in types):
        raise ValidationError(
            describe(
                source,
                "detections must be points",
                field=primary,
                expected="'point' or 'WKB' encoding of Point geometries",
                got=f"{encoding} {types}",
                fix=_FIX_WRITE,
            )
        )
    _check_crs(col.get("crs"), source, primary)
    _check_time(schema, source)
    return primary, encoding


@functools.lru_cache(maxsize=16)
def _is_lonlat(crs_json: str) -> bool:
    """Whether a GeoParquet ``crs`` (as JSON text) is lon/lat on WGS 84.

    Cached: every partition of a dataset carries the same one, and pyproj reads it slowly.
    """
    import pyproj

    try:
        crs = pyproj.CRS.from_user_input(json.loads(crs_json))
        return bool(crs.equals(pyproj.CRS("OGC:CRS84"), ignore_axis_order=True))
    except pyproj.exceptions.CRSError:
        return False


def _check_crs(crs: Any, source: str, column: str) -> None:
    if crs is None:
        return  # GeoParquet: a missing crs is OGC:CRS84
    if not _is_lonlat(json.dumps(crs, sort_keys=True)):
        raise ValidationError(
            describe(
                source,
                "coordinates must be lon/lat",
                field=f"geo.columns.{column}.crs",
                expected=" or ".join(_CRS84),
                got=str(crs)[:80],
                fix="Reproject the dataset to EPSG:4326 before analysing it",
            )
        )


def _check_time(schema: pa.Schema, source: str) -> None:
    idx = schema.get_field_index("time")
    dtype = schema.field(idx).type if idx >= 0 else None
    if dtype is None or not pa.types.is_timestamp(dtype):
        raise ValidationError(
            describe(
                source,
                "detections need their time",
                field="time",
                expected="a timestamp column named 'time'",
                got="no such column" if dtype is None else str(dtype),
                fix=_FIX_WRITE,
            )
        )


#: Rows read (and classified, counted) at a time by :func:`iter_points`.
PAGE_ROWS: Final[int] = 262_144


@dataclass(frozen=True)
class PartitionPoints:
    """The points of a partition (or of a page of it): ``lon``, ``lat`` (degrees), ``time_us``."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    #: UTC microseconds.
    time_us: NDArray[np.int64]
    #: Whether the file's times carry no zone (taken as UTC).
    naive: bool
    #: The file row (from 0) of the first point.
    first_row: int = 0

    def __len__(self) -> int:
        return int(self.lon.size)


def read_points(path: Path) -> PartitionPoints:
    """Lon, lat and time of every row of a partition, checked; no shapely object per row.

    Raises
    ------
    ValidationError
        A file :func:`partition_schema` refuses, or a row without a point in lon/lat range
        or without a time (the message names the file, the row and the field).
    """
    pages = list(iter_points(path))
    if len(pages) == 1:
        return pages[0]
    return PartitionPoints(
        np.concatenate([p.lon for p in pages]),
        np.concatenate([p.lat for p in pages]),
        np.concatenate([p.time_us for p in pages]),
        pages[0].naive,
    )


def iter_points(path: Path, *, rows: int = PAGE_ROWS) -> Iterator[PartitionPoints]:
    """:func:`read_points` a page of at most ``rows`` rows at a time (at least one page).

    Every page is checked as it is read: a bad row stops the iteration with the message of
    :func:`read_points` (its row counted from 1 within the file, the bad rows of the whole
    file counted).
    """
    primary, encoding = partition_schema(path)
    try:
        pf = pq.ParquetFile(path)
        first = 0
        for batch in pf.iter_batches(batch_size=rows, columns=[primary, "time"]):
            try:
                page = _page_points(path, primary, encoding, batch, first)
            except ValidationError:  # the message counts the bad rows of the whole file
                whole = pq.read_table(path, columns=[primary, "time"]).combine_chunks()
                _page_points(path, primary, encoding, whole.to_batches()[0], 0)
                raise
            yield page
            first += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            describe(
                str(path),
                "could not be read as Parquet",
                got=" ".join(str(exc).split())[:200],
                fix="Check that the file is a complete GeoParquet file",
            )
        ) from None
    if first == 0:  # no rows: one empty page
        empty = np.zeros(0)
        naive = pq.read_schema(path).field("time").type.tz is None
        yield PartitionPoints(empty, empty.copy(), np.zeros(0, np.int64), naive)


def _page_points(
    path: Path, primary: str, encoding: str, batch: pa.RecordBatch, first: int
) -> PartitionPoints:
    """The checked points of one record batch whose first row is file row ``first``."""
    geom = batch.column(primary)
    if encoding == "point":
        lon = _floats(pc.struct_field(geom, "x"))
        lat = _floats(pc.struct_field(geom, "y"))
        if geom.null_count:
            null = np.asarray(geom.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            lon, lat = np.where(null, np.nan, lon), np.where(null, np.nan, lat)
    else:
        geoms = shapely.from_wkb(geom.to_numpy(zero_copy_only=False), on_invalid="ignore")
        ok = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
        ok &= ~shapely.is_empty(geoms)
        lon = np.where(ok, shapely.get_x(geoms), np.nan)
        lat = np.where(ok, shapely.get_y(geoms), np.nan)
    _check_rows(path, primary, lon, lat, first)
    time = batch.column("time")
    if time.null_count:
        bad = np.flatnonzero(np.asarray(time.is_null().to_numpy(zero_copy_only=False)))
        raise ValidationError(
            describe(
                str(path),
                "a detection without a time",
                row=first + int(bad[0]) + 1,
                field="time",
                expected="a timestamp",
                got=None,
                fix=f"{bad.size} such row(s): fill or drop them",
            )
        )
    time_us = pc.cast(time, pa.timestamp("us", time.type.tz)).cast(pa.int64())
    us = np.asarray(time_us.to_numpy(zero_copy_only=False), dtype=np.int64)
    return PartitionPoints(lon, lat, us, time.type.tz is None, first)


def _floats(column: pa.Array) -> NDArray[np.float64]:
    """A float column as float64 numbers (nulls: NaN), without a copy when it has none."""
    if column.null_count == 0 and pa.types.is_float64(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=True))
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def _check_rows(
    path: Path, column: str, lon: NDArray[np.float64], lat: NDArray[np.float64], first: int = 0
) -> None:
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
    if ok.all():
        return
    bad = np.flatnonzero(~ok)
    i = int(bad[0])
    raise ValidationError(
        describe(
            str(path),
            "not a usable point",
            row=first + i + 1,
            field=column,
            expected="a point with lon in [-180, 180] and lat in [-90, 90]",
            got=f"({lon[i]}, {lat[i]})",
            fix=f"{bad.size} such row(s) (rows count from 1 within the file): correct or drop them",
        )
    )


def read_partition(path: Path) -> gpd.GeoDataFrame:
    """Every column of a partition as a GeoDataFrame (EPSG:4326), checked as :func:`read_points`.

    ``time`` is UTC (a time without zone taken as UTC).
    """
    read_points(path)  # the checks, with their messages
    gdf = gpd.read_parquet(path)
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        gdf = gdf.set_crs(4326, allow_override=True)
    t = gdf["time"]
    gdf["time"] = (
        t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")
    ).dt.as_unit("us")
    return gdf
