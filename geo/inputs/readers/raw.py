"""What every reader makes and shares: the raw layer, before any value is checked.

:class:`RawLayer` is one file read into one table; :data:`FAMILY_OF` says which geometry
family (points, lines, polygons) a layer needs. The helpers here are the ones several
readers use: concatenating frames, recognising WGS 84, parsing a CRS, decoding WKB/WKT
without stopping at a bad value, and pausing the garbage collector while making geometries.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyproj
import shapely
import shapely.errors

from geo.core.errors import ValidationError, describe

__all__ = [
    "CURVE_REASON",
    "FAMILY_OF",
    "WGS84_BY_STANDARD",
    "Family",
    "RawLayer",
    "concat_frames",
    "decode_geometries",
    "is_wgs84",
    "no_gc",
    "normalise_name",
    "parse_crs",
]


#: Geometry family a layer needs.
Family = Literal["point", "line", "polygon"]

#: Geometry family of each Limes layer.
FAMILY_OF: dict[str, Family] = {
    "border": "line",
    "sectors": "polygon",
    "sensors": "point",
    "detections": "point",
    "tracks": "point",
}


#: Formats whose standard fixes the CRS to WGS84 longitude/latitude.
WGS84_BY_STANDARD: dict[str, str] = {
    "csv": "CSV has no CRS; lat/lon are taken as WGS84",
    "geojson": "GeoJSON is WGS84 by standard",
    "kml": "KML is WGS84 by standard",
    "kmz": "KML is WGS84 by standard",
    "gpx": "GPX is WGS84 by standard",
    "cot": "Cursor-on-Target points are WGS84 by standard",
}


@dataclass
class RawLayer:
    """A file read into one table, before any value is checked.

    Attributes
    ----------
    source
        File name for messages.
    format
        Format label for the report.
    attrs
        Attribute columns with the file's own names, RangeIndex.
    geometry
        Object array of shapely geometries (``None`` where missing), or ``None`` when the
        positions are in ``lonlat_cols``.
    lonlat_cols
        ``(lon column, lat column)`` in ``attrs`` for tables with coordinate columns.
    geometry_field
        Name of the geometry in messages (e.g. ``"geometry"`` or the WKT column's name).
    src_row
        1-based row (tables) or feature number (vector files), int64.
    row_label
        ``"row"`` or ``"feature"``.
    crs
        The file's CRS, ``None`` if it has none.
    crs_assumed
        Why the CRS is assumed (e.g. "GeoJSON is WGS84 by standard"), ``None`` if declared.
    kind
        Format key (``"csv"``, ``"gpx"``, ...).
    notes
        Sentences for the report.
    rejects
        ``(position, field, reason)`` of rows already found unusable while reading.
    dropped
        ``(src_row, field, reason)`` of rows that could not even be split into fields
        (malformed CSV lines); they are not in ``attrs``.
    closed_lines_are_polygons
        GPX sectors: closed tracks/routes stand for polygons.
    """

    source: str
    format: str
    attrs: pd.DataFrame
    geometry: np.ndarray | None
    src_row: np.ndarray
    row_label: str
    crs: pyproj.CRS | None
    crs_assumed: str | None
    kind: str
    lonlat_cols: tuple[str, str] | None = None
    geometry_field: str = "geometry"
    notes: list[str] = field(default_factory=list)
    rejects: list[tuple[int, str | None, str]] = field(default_factory=list)
    dropped: list[tuple[int, str | None, str]] = field(default_factory=list)
    closed_lines_are_polygons: bool = False


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while creating many geometry objects.

    Creating a million shapely objects otherwise triggers hundreds of collections that scan
    every object made so far (about 4x slower). Geometries hold no reference cycles, and the
    collector's previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Why a curved geometry is rejected, and how to fix it.
CURVE_REASON = (
    "curved geometry (CIRCULARSTRING, COMPOUNDCURVE, CURVEPOLYGON, ...) is not "
    "supported: expected straight-segment geometry, e.g. convert it with QGIS "
    "'Segmentize' or ogr2ogr -nlt CONVERT_TO_LINEAR"
)


def decode_geometries(
    values: np.ndarray, encoding: Literal["wkb", "wkt"]
) -> tuple[np.ndarray, np.ndarray]:
    """Decode WKB/WKT to shapely; return (geometries with None where undecodable, curve mask).

    Undecodable values give ``None`` instead of an exception; curved geometry (which shapely
    cannot hold) is flagged separately so the message can say how to fix it.
    """
    decode = shapely.from_wkb if encoding == "wkb" else shapely.from_wkt
    curves = np.zeros(len(values), dtype=bool)
    with np.errstate(all="ignore"), no_gc():
        try:
            return np.asarray(decode(values, on_invalid="ignore"), dtype=object), curves
        except (NotImplementedError, shapely.errors.GEOSException):
            pass
        out = np.full(len(values), None, dtype=object)
        for i, v in enumerate(values):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            try:
                out[i] = decode(v, on_invalid="ignore")
            except (NotImplementedError, shapely.errors.GEOSException):
                curves[i] = True
    return out, curves


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one under the other (empty ones dropped; an empty frame if none is left)."""
    frames = [f for f in frames if len(f.columns) or len(f)]
    if not frames:
        return pd.DataFrame(index=pd.RangeIndex(0))
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    # align columns by hand: pandas warns about concatenating all-NA columns
    columns: list[str] = []
    for f in frames:
        columns.extend(c for c in f.columns if c not in columns)
    parts = []
    for f in frames:
        part = f.astype(object)
        for c in columns:
            if c not in part.columns:
                part[c] = None
        parts.append(part[columns])
    out = pd.DataFrame(np.concatenate([p.to_numpy(dtype=object) for p in parts]), columns=columns)
    return out.infer_objects()


def parse_crs(text: str, source: str) -> pyproj.CRS:
    """The CRS ``text`` names (WKT, PROJJSON, ``EPSG:n``); a :class:`ValidationError` if none."""
    try:
        return pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as exc:
        raise ValidationError(
            describe(
                source,
                "has a CRS that cannot be understood",
                got=text[:120],
                fix="Re-export the file with a standard CRS such as EPSG:4326",
            )
        ) from exc


def is_wgs84(crs: pyproj.CRS) -> bool:
    """Whether ``crs`` is WGS 84 longitude/latitude, in either axis order."""
    return crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True) or crs.equals(
        pyproj.CRS.from_user_input("OGC:CRS84"), ignore_axis_order=True
    )


def normalise_name(name: object) -> str:
    """Column name as matched: stripped, lower case, spaces and dashes as underscores."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())
