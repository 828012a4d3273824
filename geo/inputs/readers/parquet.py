"""GeoParquet, and Parquet tables without its metadata (read like a CSV).

The ``geo`` metadata is checked key by key (:func:`_geoparquet_column`) so that a wrong file
is refused with the key to correct; WKB geometry is decoded here, GeoArrow ("native")
encodings through geopandas. Rows and decoded sizes are checked from the file's own figures
before any value is decoded (:func:`geo.inputs.guard.read_parquet_table`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj

from geo.core.errors import ValidationError, describe
from geo.inputs.guard import read_parquet_table
from geo.inputs.readers.raw import RawLayer, decode_geometries
from geo.inputs.readers.tables import find_geometry_columns, parse_wkt

__all__ = ["GEOPARQUET_ENCODINGS", "read_parquet"]


def read_parquet(path: Path, source: str) -> RawLayer:
    """A GeoParquet file, or a plain Parquet table read like a CSV."""
    notes: list[str] = []
    try:
        table = read_parquet_table(path, source)
        geo_meta = (table.schema.metadata or {}).get(b"geo")
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            describe(
                source,
                "could not be read as Parquet",
                got=" ".join(str(exc).split())[:200],
                fix="Check that the file is a complete (Geo)Parquet file",
            )
        ) from exc
    if geo_meta is None:
        return _plain_parquet(table, source, notes)
    primary, col_meta, encoding = _geoparquet_column(geo_meta, table.schema, source)
    if encoding == "WKB":
        wkb = table.column(primary).to_numpy(zero_copy_only=False)
        geometry, _ = decode_geometries(wkb, "wkb")
        rejects: list[tuple[int, str | None, str]] = [
            (int(i), "geometry", "the geometry could not be decoded (corrupt WKB)")
            for i in np.flatnonzero(pd.notna(wkb) & pd.isna(geometry))
        ]
    else:
        geometry = _geoarrow_geometry(path, source, primary, encoding)
        rejects = []
    attrs = table.drop_columns([primary]).to_pandas()
    crs: pyproj.CRS | None
    assumed: str | None = None
    if "crs" not in col_meta:
        crs = pyproj.CRS.from_user_input("OGC:CRS84")
        assumed = "GeoParquet without 'crs' is OGC:CRS84 (WGS84) by standard"
    else:
        crs = _geoparquet_crs(col_meta["crs"], f"columns.{primary}.crs", source)
    return RawLayer(
        source=source,
        format="GeoParquet",
        attrs=attrs,
        geometry=geometry,
        src_row=np.arange(1, len(attrs) + 1, dtype=np.int64),
        row_label="feature",
        crs=crs,
        crs_assumed=assumed,
        kind="parquet",
        notes=notes,
        rejects=rejects,
    )


def _geoarrow_geometry(path: Path, source: str, primary: str, encoding: str) -> np.ndarray:
    """The geometries of a GeoArrow-encoded column, decoded by geopandas."""
    import geopandas as gpd

    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            gdf = gpd.read_parquet(path)
    except (ValueError, TypeError, AttributeError, KeyError, pa.ArrowException, OSError) as exc:
        raise ValidationError(
            describe(
                source,
                f"could not decode the GeoParquet geometry ({encoding!r} encoding)",
                field=f"geo.columns.{primary}",
                expected="a GeoArrow column as the GeoParquet metadata describes it",
                got=_shown(str(exc)),
                fix="Write the file again with geopandas (GeoDataFrame.to_parquet) or "
                "GDAL (ogr2ogr -f Parquet), ideally with WKB geometry encoding",
            )
        ) from None
    return np.asarray(gdf.geometry.values, dtype=object)


#: GeoParquet geometry encodings (``geo`` metadata ``columns.<name>.encoding``): WKB and the
#: GeoArrow ("native") encodings of GeoParquet 1.1.
GEOPARQUET_ENCODINGS: tuple[str, ...] = (
    "WKB",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
)

_GEOPARQUET_FIX = (
    "Write the file again with geopandas (GeoDataFrame.to_parquet) or GDAL (ogr2ogr -f Parquet), "
    "or correct the key in the file's 'geo' metadata"
)


def _shown(value: object, limit: int = 80) -> object:
    """``value`` for a message: as it is when short, else its text cut to ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return value
    return text[:limit] + "..."


def _geo_meta_error(
    source: str, key: str, problem: str, *, expected: str, got: object
) -> ValidationError:
    """The error for ``key`` (dotted path; ``""``: the whole value) of the ``geo`` metadata."""
    return ValidationError(
        describe(
            source,
            f"unusable GeoParquet metadata: {problem}",
            field=f"geo.{key}" if key else "geo",
            expected=expected,
            got=_shown(got),
            fix=_GEOPARQUET_FIX,
        )
    )


def _geoparquet_column(
    geo_meta: bytes, schema: pa.Schema, source: str
) -> tuple[str, dict[str, object], str]:
    """Check a GeoParquet file's ``geo`` metadata; return its primary geometry column.

    Parameters
    ----------
    geo_meta
        The value of the ``geo`` key of the Parquet file's key-value metadata (JSON).
    schema
        The file's Arrow schema, to check the geometry column exists and has a fitting type.
    source
        File name for messages.

    Returns
    -------
    tuple
        ``(column name, that column's metadata, encoding)``; the encoding is ``"WKB"`` or one
        of the GeoArrow encodings in :data:`GEOPARQUET_ENCODINGS`.

    Raises
    ------
    ValidationError
        Naming the file and the metadata key that is missing or wrong: ``geo`` not a JSON
        object, no ``primary_column`` or ``columns``, a geometry column that is not in the
        file or whose type does not fit its ``encoding``, an unknown ``encoding``.
    """
    try:
        meta = json.loads(geo_meta)
    except ValueError as exc:  # also UnicodeDecodeError
        raise _geo_meta_error(
            source, "", "the value is not JSON", expected="a JSON object", got=f"{exc}"
        ) from None
    if not isinstance(meta, dict):
        raise _geo_meta_error(
            source, "", "the value is not a JSON object", expected="a JSON object", got=meta
        )
    columns = meta.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise _geo_meta_error(
            source,
            "columns",
            "no geometry columns are described",
            expected="an object of geometry column name -> its metadata",
            got=columns if "columns" in meta else "no 'columns' key",
        )
    primary = meta.get("primary_column")
    if not isinstance(primary, str):
        raise _geo_meta_error(
            source,
            "primary_column",
            "the geometry column is not named",
            expected="the name of a geometry column, one of " + ", ".join(map(repr, columns)),
            got=primary if "primary_column" in meta else "no 'primary_column' key",
        )
    col_meta = columns.get(primary)
    if not isinstance(col_meta, dict):
        raise _geo_meta_error(
            source,
            f"columns.{primary}",
            "the primary geometry column is not described",
            expected="an object with 'encoding' and 'geometry_types'",
            got=col_meta if primary in columns else f"no key {primary!r}",
        )
    if primary not in schema.names:
        shown = ", ".join(repr(n) for n in schema.names[:20])
        raise _geo_meta_error(
            source,
            "primary_column",
            "the geometry column is not in the file",
            expected=f"one of the file's columns ({shown})",
            got=primary,
        )
    encoding = _geoparquet_encoding(col_meta.get("encoding", "WKB"), primary, source)
    _check_geometry_type(schema.field(primary).type, encoding, primary, source)
    return primary, col_meta, encoding


def _geoparquet_encoding(value: object, column: str, source: str) -> str:
    """``WKB`` or a GeoArrow encoding, matched without regard to case; raise if unknown."""
    by_lower = {e.lower(): e for e in GEOPARQUET_ENCODINGS}
    if not isinstance(value, str) or value.lower() not in by_lower:
        raise _geo_meta_error(
            source,
            f"columns.{column}.encoding",
            "unknown geometry encoding",
            expected="one of " + ", ".join(GEOPARQUET_ENCODINGS),
            got=value,
        )
    return by_lower[value.lower()]


def _check_geometry_type(dtype: pa.DataType, encoding: str, column: str, source: str) -> None:
    """Raise unless the Arrow type of the geometry column fits its ``encoding``."""
    if encoding == "WKB":
        fits = (
            pa.types.is_binary(dtype)
            or pa.types.is_large_binary(dtype)
            or pa.types.is_binary_view(dtype)
        )
        expected = "a binary column of WKB"
    else:
        fits = (
            pa.types.is_struct(dtype)
            or pa.types.is_list(dtype)
            or pa.types.is_large_list(dtype)
            or pa.types.is_fixed_size_list(dtype)
        )
        expected = f"a GeoArrow {encoding} column (struct or list of coordinates)"
    if not fits:
        raise _geo_meta_error(
            source,
            f"columns.{column}.encoding",
            f"the geometry column {column!r} does not hold {encoding} geometry",
            expected=expected,
            got=f"type {dtype}",
        )


def _geoparquet_crs(value: object, key: str, source: str) -> pyproj.CRS | None:
    """The CRS of GeoParquet column metadata: PROJJSON (or CRS text), ``None`` for null."""
    if value is None:
        return None
    if not isinstance(value, dict | str):
        raise _geo_meta_error(
            source,
            key,
            "the CRS is not PROJJSON",
            expected="a PROJJSON object, or no 'crs' key for WGS84",
            got=value,
        )
    try:
        return pyproj.CRS.from_user_input(json.dumps(value) if isinstance(value, dict) else value)
    except pyproj.exceptions.CRSError:
        raise _geo_meta_error(
            source,
            key,
            "the CRS cannot be understood",
            expected="a PROJJSON object, or no 'crs' key for WGS84",
            got=value,
        ) from None


def _plain_parquet(table: pa.Table, source: str, notes: list[str]) -> RawLayer:
    """A Parquet file without GeoParquet metadata: geometry from WKT/WKB or lat/lon columns."""
    attrs = table.to_pandas()
    wkt, lonlat, gnotes = find_geometry_columns([str(c) for c in attrs.columns], source)
    notes.append("no GeoParquet metadata: read as a plain table")
    notes.extend(gnotes)
    geometry: np.ndarray | None = None
    rejects: list[tuple[int, str | None, str]] = []
    srid = None
    if wkt is not None:
        col = attrs[wkt]
        if col.map(lambda v: isinstance(v, bytes | bytearray), na_action="ignore").any():
            geometry, _ = decode_geometries(col.to_numpy(dtype=object), "wkb")
            rejects = [
                (int(i), wkt, "could not decode the WKB geometry")
                for i in np.flatnonzero(col.notna().to_numpy() & pd.isna(geometry))
            ]
        else:
            geometry, fails, srid = parse_wkt(col)
            rejects = [(i, wkt, why) for i, why in fails]
        attrs = attrs.drop(columns=[wkt])
    crs = pyproj.CRS.from_epsg(srid if srid else 4326)
    return RawLayer(
        source=source,
        format="Parquet",
        attrs=attrs,
        geometry=geometry,
        src_row=np.arange(1, len(attrs) + 1, dtype=np.int64),
        row_label="row",
        crs=crs,
        crs_assumed=None
        if srid
        else "a plain Parquet table has no CRS; coordinates are taken as WGS84",
        kind="parquet",
        lonlat_cols=lonlat,
        geometry_field=wkt or "geometry",
        notes=notes,
        rejects=rejects,
    )
