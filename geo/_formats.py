"""Open the file formats Limes accepts and turn each file into one raw table.

Private to :mod:`geo.io`. This module knows about file formats (extensions, signatures,
sidecar files, container layers, what CRS a format implies); it does not know what a
sensor or a border is beyond which *geometry family* (points, lines, polygons) a layer
needs. Validation of values happens in :mod:`geo.io` and :mod:`geo._checks`.

A user's file is only ever read in this module: raw bytes through :func:`read_head`,
:func:`read_bytes`, :func:`read_zip_member` and :func:`zip_members`; GDAL formats through
:func:`list_layers`/:func:`open_vector`; CSV through :func:`_csv_table`; Parquet through
:func:`_read_parquet`. Hostile-file checks (size limits, zip bombs, XML entity expansion)
belong in these few functions.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyogrio
import pyogrio.errors
import pyproj
import shapely
import shapely.errors

from geo.errors import ValidationError, describe

#: Geometry family a layer needs.
Family = Literal["point", "line", "polygon"]

#: Layer names as used in reports.
LayerKind = Literal["border", "sectors", "sensors", "detections"]

FAMILY_OF: dict[str, Family] = {
    "border": "line",
    "sectors": "polygon",
    "sensors": "point",
    "detections": "point",
}

#: Extension -> (format key, label used in reports).
EXTENSIONS: dict[str, tuple[str, str]] = {
    ".csv": ("csv", "CSV"),
    ".geojson": ("geojson", "GeoJSON"),
    ".json": ("geojson", "GeoJSON"),
    ".gpkg": ("gpkg", "GPKG"),
    ".zip": ("shpzip", "ESRI Shapefile (zip)"),
    ".shp": ("shp", "ESRI Shapefile"),
    ".kml": ("kml", "KML"),
    ".kmz": ("kmz", "KMZ"),
    ".gpx": ("gpx", "GPX"),
    ".fgb": ("fgb", "FlatGeobuf"),
    ".parquet": ("parquet", "GeoParquet"),
    ".geoparquet": ("parquet", "GeoParquet"),
}

#: Formats whose standard fixes the CRS to WGS84 longitude/latitude.
WGS84_BY_STANDARD: dict[str, str] = {
    "csv": "CSV has no CRS; lat/lon are taken as WGS84",
    "geojson": "GeoJSON is WGS84 by standard",
    "kml": "KML is WGS84 by standard",
    "kmz": "KML is WGS84 by standard",
    "gpx": "GPX is WGS84 by standard",
}

#: Names (normalised) of a WKT geometry column and of lat/lon columns, in order of preference.
WKT_NAMES: tuple[str, ...] = ("wkt", "geometry", "geom", "the_geom")
LAT_NAMES: tuple[str, ...] = ("lat", "latitude", "y")
LON_NAMES: tuple[str, ...] = ("lon", "lng", "long", "longitude", "x")

#: Text read as "no value" in CSV files ("NA" is deliberately absent: it is Namibia's code).
CSV_NULLS: list[str] = [
    "", "null", "NULL", "Null", "NaN", "nan", "None", "none", "N/A", "n/a", "#N/A",
]

#: GPX layers to read per layer kind, in order.
_GPX_LAYERS: dict[str, tuple[str, ...]] = {
    "border": ("tracks", "routes"),
    "sectors": ("tracks", "routes"),
    "sensors": ("waypoints", "route_points", "track_points"),
    "detections": ("waypoints", "route_points", "track_points"),
}

#: Fields GDAL's GPX driver always creates (extension fields are everything else).
_GPX_STANDARD_FIELDS: frozenset[str] = frozenset(
    "ele time magvar geoidheight name cmt desc src sym type fix sat hdop vdop pdop "
    "ageofdgpsdata dgpsid number route_fid route_point_id track_fid track_seg_id "
    "track_seg_point_id course speed".split()
    + [f"link{i}_{p}" for i in (1, 2) for p in ("href", "text", "type")]
)

_DECLARED_TYPES: dict[Family, frozenset[str]] = {
    "point": frozenset(
        {"Point", "MultiPoint", "Point Z", "MultiPoint Z", "3D Point", "3D MultiPoint"}
    ),
    "line": frozenset(
        {"LineString", "MultiLineString", "LineString Z", "MultiLineString Z", "3D LineString",
         "3D MultiLineString"}
    ),
    "polygon": frozenset(
        {"Polygon", "MultiPolygon", "Polygon Z", "MultiPolygon Z", "3D Polygon", "3D MultiPolygon"}
    ),
}

_HEAD_BYTES = 65_536


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


_CURVE_REASON = ("curved geometry (CIRCULARSTRING, COMPOUNDCURVE, CURVEPOLYGON, ...) is not "
                 "supported: expected straight-segment geometry, e.g. convert it with QGIS "
                 "'Segmentize' or ogr2ogr -nlt CONVERT_TO_LINEAR")


def decode_geometries(values: np.ndarray, encoding: Literal["wkb", "wkt"]) -> tuple[
        np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------------------------
# Reading bytes: the only places that touch a user's file directly.
# --------------------------------------------------------------------------------------


def read_head(path: Path, n_bytes: int = _HEAD_BYTES) -> bytes:
    """Return the first ``n_bytes`` of a file (for signatures and CSV headers)."""
    with open(path, "rb") as f:
        return f.read(n_bytes)


def read_bytes(path: Path) -> bytes:
    """Return a whole (small) file's bytes."""
    return path.read_bytes()


def read_zip_member(path: Path, member: str) -> bytes:
    """Return the bytes of one member of a zip file."""
    with zipfile.ZipFile(path) as zf:
        return zf.read(member)


def _vsizip(path: Path, member: str) -> str:
    """GDAL path of a zip member; braces let GDAL open archives without a .zip extension."""
    return f"/vsizip/{{{path.resolve()}}}/{member}"


def zip_members(path: Path, source: str) -> list[str]:
    """List the member names of a zip file (directories and macOS metadata left out)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValidationError(
            describe(source, "is not a readable zip archive", got=str(exc),
                     expected="a zip file", fix="Zip the files again, or upload them unzipped")
        ) from exc
    return [
        n for n in names
        if not n.endswith("/") and not n.startswith("__MACOSX/")
        and not Path(n).name.startswith("._")
    ]


@contextmanager
def _gdal_call(source: str, path_text: str, what: str, notes: list[str]) -> Iterator[None]:
    """Run a GDAL read: its warnings become notes, its errors a :class:`ValidationError`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (
            pyogrio.errors.DataSourceError,
            pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError,
            pyogrio.errors.FeatureError,
            pyogrio.errors.GeometryError,
            pyogrio.errors.CRSError,
            shapely.errors.GEOSException,
            pa.ArrowException,
            OSError,
        ) as exc:
            detail = _clean_gdal_message(str(exc), path_text, source)
            raise ValidationError(
                describe(source, f"could not be read as {what}", got=detail,
                         expected=f"a valid {what} file",
                         fix=f"Check that the file is a complete {what} file (open it in QGIS or "
                         "re-export it)")
            ) from exc
    for w in caught:
        text = _clean_gdal_message(str(w.message), path_text, source)
        note = f"GDAL: {text}"
        if note not in notes:
            notes.append(note)


def _clean_gdal_message(text: str, path_text: str, source: str) -> str:
    """Replace server paths in a GDAL message by the user's file name."""
    text = text.replace(path_text, source).replace(os.fspath(Path(path_text).parent), "")
    text = text.split("; It might help to specify the correct driver")[0]
    return " ".join(text.split())


def list_layers(path_text: str, source: str, what: str, notes: list[str]) -> list[tuple[str, str]]:
    """Return ``(layer name, declared geometry type)`` of every layer GDAL sees."""
    with _gdal_call(source, path_text, what, notes):
        layers = pyogrio.list_layers(path_text)
    return [(str(name), str(gtype)) for name, gtype in layers]


def open_vector(
    path_text: str, source: str, what: str, notes: list[str], *, layer: str | None = None
) -> tuple[dict[str, object], pa.Table]:
    """Read one layer through GDAL into Arrow (geometry as WKB, date-times as ISO text)."""
    with _gdal_call(source, path_text, what, notes):
        meta, table = pyogrio.read_arrow(path_text, layer=layer, datetime_as_string=True)
    return meta, table


# --------------------------------------------------------------------------------------
# Format detection and signatures
# --------------------------------------------------------------------------------------


def detect_format(path: Path, source: str) -> tuple[str, str]:
    """Choose the format from the extension (of the path, else of the source name)."""
    for name in (path.name, source):
        ext = _extension(name)
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
    supported = ", ".join(sorted(EXTENSIONS))
    raise ValidationError(
        describe(source, "unsupported file type", expected=f"one of {supported}",
                 got=_extension(source) or "(no extension)",
                 fix="Export the layer as GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ, GPX, "
                 "FlatGeobuf, GeoParquet or CSV")
    )


def _extension(name: str) -> str:
    lower = name.lower()
    return ".geoparquet" if lower.endswith(".geoparquet") else Path(lower).suffix


def check_signature(path: Path, kind: str, label: str, source: str) -> bytes:
    """Check that the file's first bytes match its extension; return those bytes."""
    if not path.is_file():
        raise ValidationError(describe(source, "file not found", got=str(path.name),
                                       fix="Check the path"))
    head = read_head(path)
    if not head:
        raise ValidationError(describe(source, "the file is empty", expected=f"a {label} file",
                                       got="0 bytes"))
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    ok: bool
    expected: str
    if kind == "gpkg":
        ok = head.startswith(b"SQLite format 3\x00")
        expected = "an SQLite database ('SQLite format 3')"
    elif kind in ("shpzip", "kmz"):
        ok, expected = head[:4] in (b"PK\x03\x04", b"PK\x05\x06"), "a zip archive"
    elif kind == "shp":
        ok, expected = head[:4] == b"\x00\x00\x27\x0a", "a Shapefile (.shp) header"
    elif kind == "fgb":
        ok, expected = head[:3] == b"fgb", "a FlatGeobuf header ('fgb')"
    elif kind == "parquet":
        ok, expected = head[:4] == b"PAR1", "a Parquet file ('PAR1')"
    elif kind == "geojson":
        ok, expected = text[:1] in (b"{", b"["), "JSON text starting with '{'"
    elif kind in ("kml", "gpx"):
        root = _xml_root(text)
        want = "kml" if kind == "kml" else "gpx"
        ok = root is not None and root.split(":")[-1].lower() == want
        expected = f"an XML document with a <{want}> root element"
        if text[:1] == b"<" and root is not None and not ok:
            raise ValidationError(
                describe(source, f"is not a {label} document", expected=expected,
                         got=f"<{root}> as root element",
                         fix=f"Wrap the content in a complete <{want}> document, or export it "
                         f"again as {label}")
            )
    else:  # csv
        ok, expected = b"\x00" not in head, "text"
    if not ok:
        got = head[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise ValidationError(
            describe(source, f"the file content does not look like {label}", expected=expected,
                     got=f"file starting with {got!r}",
                     fix=f"Check that the file really is {label} (the extension may be wrong)")
        )
    return head


def _xml_root(text: bytes) -> str | None:
    """Name of the first element in an XML head (declarations/comments/doctype skipped)."""
    pos = 0
    while True:
        m = re.compile(rb"<([!?]?)([A-Za-z_][\w:.-]*)?").search(text, pos)
        if m is None:
            return None
        if m.group(1):
            if text.startswith(b"<!--", m.start()):
                end = text.find(b"-->", m.end())
            else:
                end = text.find(b">", m.end())
            if end < 0:
                return None
            pos = end + 1
            continue
        return m.group(2).decode("utf-8", "replace") if m.group(2) else None


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def read_raw(path: Path, *, layer_kind: str, source: str) -> RawLayer:
    """Read any supported file into a :class:`RawLayer` for ``layer_kind``."""
    kind, label = detect_format(path, source)
    head = check_signature(path, kind, label, source)
    family = FAMILY_OF[layer_kind]
    if kind == "csv":
        return _read_csv(path, head, source)
    if kind == "parquet":
        return _read_parquet(path, source)
    if kind == "shpzip":
        return _read_shapefile_zip(path, source, family)
    if kind == "shp":
        return _read_shapefile(path, source, family)
    if kind == "gpx":
        return _read_gpx(path, head, source, layer_kind)
    kml_member: str | None = None
    if kind == "kmz":
        members = zip_members(path, source)
        kmls = sorted((m for m in members if m.lower().endswith(".kml")),
                      key=lambda m: (Path(m).name.lower() != "doc.kml", m.count("/"), m))
        if not kmls:
            raise ValidationError(
                describe(source, "the KMZ holds no .kml document", expected="a zip with doc.kml",
                         got=", ".join(members[:10]) or "an empty zip",
                         fix="Save the file again as KMZ from Google Earth/QGIS, or upload the "
                         ".kml itself")
            )
        kml_member = kmls[0]
    if kind == "kmz" and path.suffix.lower() != ".kmz":
        # GDAL knows a KMZ by its extension (and follows the links between its KML files
        # only from the KMZ itself): give an upload saved under another name a .kmz alias
        with tempfile.TemporaryDirectory() as tmp:
            alias = Path(tmp) / "upload.kmz"
            try:
                alias.symlink_to(path.resolve())
            except OSError:
                shutil.copyfile(path, alias)
            raw = _read_vector(str(alias), source, kind, label, family)
    else:
        raw = _read_vector(str(path), source, kind, label, family)
    if layer_kind == "detections" and kind in ("kml", "kmz"):
        from geo._kml import expand_tracks, read_tracks

        data = read_bytes(path) if kml_member is None else read_zip_member(path, kml_member)
        if b"Track" in data:
            raw = expand_tracks(raw, read_tracks(data, source))
        _kml_time_span(raw)
    return raw


# --------------------------------------------------------------------------------------
# GDAL-read vector formats
# --------------------------------------------------------------------------------------


def _kml_time_span(raw: RawLayer) -> None:
    """Use a placemark's TimeSpan <begin> (LIBKML's ``begin``) where it has no <TimeStamp>."""
    cols = {str(c).lower(): c for c in raw.attrs.columns}
    if "begin" not in cols:
        return
    begin = raw.attrs[cols["begin"]]
    stamp = raw.attrs[cols["timestamp"]] if "timestamp" in cols else pd.Series(
        [None] * len(begin), dtype=object)
    use = stamp.isna() & begin.notna()
    if use.any():
        raw.attrs[cols.get("timestamp", "timestamp")] = stamp.astype(object).where(
            ~use, begin.astype(object))
        raw.notes.append(f"{int(use.sum())} placemark time(s) taken from <TimeSpan><begin> "
                         "(no <TimeStamp>)")


def _fits(gtype: str, family: Family) -> bool:
    return gtype in _DECLARED_TYPES[family]


def _read_vector(
    path_text: str,
    source: str,
    kind: str,
    label: str,
    family: Family,
    *,
    layers: Sequence[str] | None = None,
    notes: list[str] | None = None,
) -> RawLayer:
    """Read one or several layers of a GDAL vector file and concatenate them."""
    notes = [] if notes is None else notes
    if layers is None:
        found = list_layers(path_text, source, label, notes)
        layers = _choose_layers(found, family, kind, source, label, notes)
    frames: list[pd.DataFrame] = []
    geoms: list[np.ndarray] = []
    rejects: list[tuple[int, str | None, str]] = []
    crs_text: str | None = None
    crs_layer = ""
    offset = 0
    ranges: list[str] = []
    for lyr in layers:
        meta, table = open_vector(path_text, source, label, notes, layer=lyr)
        geom_name = str(meta.get("geometry_name") or "wkb_geometry")
        if geom_name in table.column_names:
            wkb = table.column(geom_name).to_numpy(zero_copy_only=False)
            table = table.drop_columns([geom_name])
        else:
            wkb = np.full(table.num_rows, None, dtype=object)
        g, curves = decode_geometries(wkb, "wkb")
        for i in np.flatnonzero(pd.notna(wkb) & pd.isna(g)):
            rejects.append((offset + int(i), "geometry", _CURVE_REASON if curves[i] else
                            "the geometry could not be decoded (unsupported or corrupt geometry, "
                            "e.g. a TIN or a polyhedral surface); export it as simple features"))
        layer_crs = meta.get("crs")
        if table.num_rows:
            if crs_text is None:
                crs_text, crs_layer = (str(layer_crs) if layer_crs else ""), lyr
            elif (str(layer_crs) if layer_crs else "") != crs_text:
                raise ValidationError(
                    describe(source, "layers use different CRSs", got=f"layer {lyr!r}: "
                             f"{layer_crs}, layer {crs_layer!r}: {crs_text or 'none'}",
                             expected="one CRS for all layers read",
                             fix="Export the layers to one CRS, or keep only one layer")
                )
        frames.append(table.to_pandas())
        geoms.append(np.asarray(g, dtype=object))
        if len(layers) > 1 and table.num_rows:
            ranges.append(f"{lyr!r} (features {offset + 1}-{offset + table.num_rows})")
        offset += table.num_rows
    if len(ranges) > 1:
        notes.append(f"read {len(ranges)} layers: " + ", ".join(ranges))
    attrs = concat_frames(frames)
    geometry = np.concatenate(geoms) if geoms else np.empty(0, dtype=object)
    crs = _parse_crs(crs_text, source) if crs_text else None
    assumed: str | None = None
    standard = WGS84_BY_STANDARD.get(kind)
    if standard is not None and crs is None:
        crs, assumed = pyproj.CRS.from_epsg(4326), standard
    elif standard is not None and crs is not None and is_wgs84(crs):
        assumed = standard
    return RawLayer(
        source=source, format=label, attrs=attrs, geometry=geometry,
        src_row=np.arange(1, len(attrs) + 1, dtype=np.int64), row_label="feature", crs=crs,
        crs_assumed=assumed, kind=kind, notes=notes, rejects=rejects,
    )


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
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


def _choose_layers(
    found: list[tuple[str, str]], family: Family, kind: str, source: str, label: str,
    notes: list[str],
) -> list[str]:
    """Pick the layers to read: all for KML/KMZ, else the ones whose geometry type fits."""
    if not found:
        raise ValidationError(describe(source, "contains no layers", expected=f"a {label} layer"))
    if kind in ("kml", "kmz") or len(found) == 1:
        return [name for name, _ in found]
    fitting = [name for name, gtype in found if _fits(gtype, family)]
    if not fitting:
        fitting = [name for name, gtype in found if gtype in ("Unknown", "Geometry",
                                                             "GeometryCollection")]
    listing = ", ".join(f"{n!r} ({t})" for n, t in found)
    if not fitting:
        hint = {
            "line": "The border must be lines: use the polygon's boundary (e.g. QGIS 'Polygons "
                    "to lines') or export the border as LineString",
            "polygon": "Sectors must be polygons (Polygon/MultiPolygon)",
            "point": "Sensors and detections must be points",
        }[family]
        raise ValidationError(
            describe(source, f"has no layer with {family} geometries",
                     expected=f"a layer of {family}s", got=listing, fix=hint)
        )
    skipped = [f"{n!r} ({t})" for n, t in found if n not in fitting]
    if skipped or len(fitting) > 1:
        notes.append(
            f"used layer(s) {', '.join(repr(n) for n in fitting)} whose geometry fits; "
            + (f"skipped {', '.join(skipped)}" if skipped else "no layer skipped")
        )
    return fitting


def _parse_crs(text: str, source: str) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as exc:
        raise ValidationError(
            describe(source, "has a CRS that cannot be understood", got=text[:120],
                     fix="Re-export the file with a standard CRS such as EPSG:4326")
        ) from exc


def is_wgs84(crs: pyproj.CRS) -> bool:
    return crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True) or crs.equals(
        pyproj.CRS.from_user_input("OGC:CRS84"), ignore_axis_order=True
    )


# --------------------------------------------------------------------------------------
# Shapefiles
# --------------------------------------------------------------------------------------


def _sidecar_problem(base: str, have: set[str], source: str) -> None:
    """Raise if the .shx/.dbf/.prj of a shapefile ``base`` is missing from ``have``."""
    stem = Path(base).name
    for ext, what in ((".shx", "the shape index"), (".dbf", "the attribute table")):
        if (base + ext).lower() not in have:
            raise ValidationError(
                describe(source, f"the shapefile '{stem}.shp' has no '{stem}{ext}' ({what})",
                         expected=".shp, .shx, .dbf and .prj together", got=f"no {ext}",
                         fix="A shapefile is several files: include all of them (.shp, .shx, "
                         ".dbf, .prj) in the zip")
            )
    if (base + ".prj").lower() not in have:
        raise ValidationError(
            describe(source, f"CRS unknown, add the .prj: the shapefile '{stem}.shp' has no "
                     f"'{stem}.prj'", expected="a .prj file naming the CRS", got="no .prj",
                     fix="Limes never guesses a shapefile's CRS; export it again with its .prj "
                     "(or save as GeoPackage)")
        )


def _read_shapefile_zip(path: Path, source: str, family: Family) -> RawLayer:
    members = zip_members(path, source)
    lower = {m.lower(): m for m in members}
    shps = [m for m in members if m.lower().endswith(".shp")]
    if not shps:
        shown = ", ".join(members[:10]) or "nothing"
        raise ValidationError(
            describe(source, "the zip holds no shapefile", expected="a .shp with its .shx, .dbf "
                     "and .prj", got=shown,
                     fix="Zip the shapefile's parts (.shp, .shx, .dbf, .prj), or upload another "
                     "supported format directly")
        )
    have = set(lower)
    for shp in shps:
        _sidecar_problem(shp[:-4], have, source)
    vsi = [_vsizip(path, m) for m in shps]
    return _read_shapefiles(vsi, [Path(m).stem for m in shps], source, "ESRI Shapefile (zip)",
                            family)


def _read_shapefile(path: Path, source: str, family: Family) -> RawLayer:
    siblings = {p.name.lower(): p for p in path.parent.iterdir()} if path.parent.is_dir() else {}
    base = path.name[:-4]
    _sidecar_problem(base, set(siblings), source)
    return _read_shapefiles([str(path)], [path.stem], source, "ESRI Shapefile", family)


def _read_shapefiles(paths: list[str], names: list[str], source: str, label: str,
                     family: Family) -> RawLayer:
    notes: list[str] = []
    if len(paths) == 1:
        return _read_vector(paths[0], source, "shp", label, family, layers=None, notes=notes)
    found: list[tuple[str, str]] = []
    for p, n in zip(paths, names, strict=True):
        types = list_layers(p, source, label, notes)
        found.append((n, types[0][1] if types else "Unknown"))
    chosen = _choose_layers(found, family, "shp", source, label, notes)
    pairs = [(n, _read_vector(p, source, "shp", label, family, layers=None, notes=notes))
             for p, n in zip(paths, names, strict=True) if n in chosen]
    return _merge_raws([r for _, r in pairs], [n for n, _ in pairs], source)


def _merge_raws(raws: list[RawLayer], names: list[str], source: str) -> RawLayer:
    """Concatenate the shapefiles of one zip (same CRS required)."""
    first = raws[0]
    if len(raws) == 1:
        return first
    for r in raws[1:]:
        if (r.crs is None) != (first.crs is None) or (r.crs is not None and first.crs is not None
                                                      and not r.crs.equals(first.crs)):
            raise ValidationError(
                describe(source, "the shapefiles in the zip use different CRSs",
                         fix="Export them to one CRS, or zip only one shapefile")
            )
    offsets = np.cumsum([0] + [len(r.attrs) for r in raws])
    first.notes.append("read shapefiles " + ", ".join(
        f"{n!r} (features {o + 1}-{o + len(r.attrs)})"
        for n, r, o in zip(names, raws, offsets, strict=False)))
    rejects = [(int(o) + i, f, why) for r, o in zip(raws, offsets, strict=False)
               for i, f, why in r.rejects]
    geometry = np.concatenate([r.geometry for r in raws if r.geometry is not None])
    return RawLayer(
        source=source, format=first.format, attrs=concat_frames([r.attrs for r in raws]),
        geometry=geometry, src_row=np.arange(1, len(geometry) + 1, dtype=np.int64),
        row_label="feature", crs=first.crs, crs_assumed=first.crs_assumed, kind=first.kind,
        notes=first.notes, rejects=rejects,
    )


# --------------------------------------------------------------------------------------
# GPX
# --------------------------------------------------------------------------------------


def _read_gpx(path: Path, head: bytes, source: str, layer_kind: str) -> RawLayer:
    notes: list[str] = []
    found = dict(list_layers(str(path), source, "GPX", notes))
    wanted = [n for n in _GPX_LAYERS[layer_kind] if n in found]
    counts: dict[str, int] = {}
    for name in wanted:
        with _gdal_call(source, str(path), "GPX", notes):
            info = pyogrio.read_info(str(path), layer=name, force_feature_count=True)
        counts[name] = int(info.get("features") or 0)
    non_empty = [n for n in wanted if counts.get(n, 0) > 0]
    if layer_kind == "sensors" and non_empty:
        non_empty = non_empty[:1]  # waypoints if any, else route points, else track points
    if not non_empty:
        what = {"border": "tracks or routes", "sectors": "closed tracks or routes",
                "sensors": "waypoints", "detections": "waypoints or track/route points"}[layer_kind]
        raise ValidationError(
            describe(source, f"the GPX file has no {what}", expected=what,
                     got=", ".join(f"{n}: {c}" for n, c in counts.items()) or "no GPX layers",
                     fix="Export the data as GPX " + what)
        )
    raw = _read_vector(str(path), source, "gpx", "GPX", FAMILY_OF[layer_kind],
                       layers=non_empty, notes=notes)
    if len(non_empty) == 1:
        raw.notes.append(f"read GPX {non_empty[0]} ({counts[non_empty[0]]})")
    raw.attrs = _strip_gpx_prefixes(raw.attrs, head)
    raw.closed_lines_are_polygons = layer_kind == "sectors"
    return raw


def _strip_gpx_prefixes(attrs: pd.DataFrame, head: bytes) -> pd.DataFrame:
    """Rename GPX extension fields ``ogr_range_m`` -> ``range_m`` (namespace prefix off)."""
    declared = re.findall(rb"xmlns:([A-Za-z_][\w.-]*)=", head)
    prefixes = {p.decode("ascii", "replace") for p in declared}
    prefixes.discard("xsi")
    rename: dict[str, str] = {}
    for col in attrs.columns:
        if col in _GPX_STANDARD_FIELDS:
            continue
        for p in prefixes:
            if col.startswith(p + "_") and len(col) > len(p) + 1:
                new = col[len(p) + 1:]
                if new not in attrs.columns and new not in rename.values():
                    rename[col] = new
                break
    return attrs.rename(columns=rename)


# --------------------------------------------------------------------------------------
# Tables: CSV and Parquet
# --------------------------------------------------------------------------------------


def normalise_name(name: object) -> str:
    """Column name as matched: stripped, lower case, spaces and dashes as underscores."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _find_geometry_columns(
    columns: Sequence[str], source: str
) -> tuple[str | None, tuple[str, str] | None, list[str]]:
    """Find a WKT column or lat/lon columns; return (wkt, (lon, lat), notes)."""
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(normalise_name(c), c)
    wkt = next((by_norm[n] for n in WKT_NAMES if n in by_norm), None)
    lat = next((by_norm[n] for n in LAT_NAMES if n in by_norm), None)
    lon = next((by_norm[n] for n in LON_NAMES if n in by_norm), None)
    if wkt is not None:
        notes = [f"geometry read from WKT column {wkt!r}"]
        if lat is not None or lon is not None:
            notes.append(f"ignored coordinate columns {lon!r}/{lat!r}: the WKT column is used")
        return wkt, None, notes
    if lat is not None and lon is not None:
        return None, (lon, lat), [f"positions read from columns {lat!r} (latitude) and {lon!r} "
                                  "(longitude)"]
    shown = ", ".join(repr(c) for c in columns[:20]) or "none"
    if lat is not None or lon is not None:
        have, miss, names = ("latitude", "longitude", LON_NAMES) if lat else (
            "longitude", "latitude", LAT_NAMES)
        raise ValidationError(
            describe(source, f"found a {have} column but no {miss} column", field=miss,
                     expected=f"a column named one of {', '.join(names)}", got=shown,
                     fix=f"Add or rename the {miss} column")
        )
    raise ValidationError(
        describe(source, "no geometry columns", field="geometry",
                 expected="a WKT column (" + ", ".join(WKT_NAMES) + ") or latitude/longitude "
                 "columns (" + "/".join(LAT_NAMES) + " and " + "/".join(LON_NAMES) + ")",
                 got=f"columns {shown}",
                 fix="Add 'lat' and 'lon' columns in WGS84 degrees, or a 'wkt' column")
    )


def _sniff_csv(head: bytes, source: str) -> tuple[str, str, list[str]]:
    """Encoding, delimiter and header of a CSV from its first bytes."""
    if head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            head[: max(len(head) - 4, 0)].decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    text = head.decode(encoding, errors="replace")
    first = text.splitlines()[0] if text.splitlines() else ""
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    header = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    if not [h for h in header if h.strip()]:
        raise ValidationError(
            describe(source, "the CSV has no header line", expected="column names on line 1",
                     got=first[:80], fix="Put the column names on the first line")
        )
    return encoding, delimiter, [h.strip().lstrip("\ufeff") for h in header]


def _read_csv(path: Path, head: bytes, source: str) -> RawLayer:
    encoding, delimiter, header = _sniff_csv(head, source)
    notes: list[str] = []
    norm = [normalise_name(h) for h in header]
    dupes = sorted({n for n in norm if norm.count(n) > 1})
    if dupes:
        raise ValidationError(
            describe(source, "column names repeat", field=dupes[0],
                     expected="each column name once", got=header,
                     fix="Rename or remove the repeated columns")
        )
    wkt, lonlat, gnotes = _find_geometry_columns(header, source)
    notes.extend(gnotes)
    if encoding == "cp1252":
        notes.append("the file is not UTF-8: read as Windows-1252 (Western European)")
    if delimiter != ",":
        notes.append(f"columns are separated by {delimiter!r}")
    try:
        table, skipped = _csv_table(path, source, header, encoding, delimiter)
    except _NotUtf8:
        encoding = "cp1252"
        notes.append("the file is not UTF-8: read as Windows-1252 (Western European)")
        table, skipped = _csv_table(path, source, header, encoding, delimiter)
    attrs = table.to_pandas()
    n_total = len(attrs) + len(skipped)
    src_row = np.arange(1, n_total + 1, dtype=np.int64)
    rejects: list[tuple[int, str | None, str]] = []
    if skipped:
        src_row = np.delete(src_row, [r - 1 for r, _ in skipped])
    blank = attrs.isna().all(axis=1).to_numpy() if len(attrs.columns) else np.zeros(0, bool)
    if blank.any():
        notes.append(f"skipped {int(blank.sum())} blank line(s)")
        attrs = attrs.loc[~blank].reset_index(drop=True)
        src_row = src_row[~blank]
    geometry: np.ndarray | None = None
    if wkt is not None:
        geometry, wkt_rejects, srid = _parse_wkt(attrs[wkt])
        rejects.extend((i, wkt, why) for i, why in wkt_rejects)
        attrs = attrs.drop(columns=[wkt])
    raw = RawLayer(
        source=source, format="CSV", attrs=attrs, geometry=geometry, src_row=src_row,
        row_label="row", crs=pyproj.CRS.from_epsg(4326),
        crs_assumed=WGS84_BY_STANDARD["csv"], kind="csv", lonlat_cols=lonlat,
        geometry_field=wkt or "geometry", notes=notes, rejects=rejects,
    )
    if wkt is not None and srid is not None:
        raw.crs = _parse_crs(f"EPSG:{srid}", source)
        raw.crs_assumed = None
        notes.append(f"CRS EPSG:{srid} taken from the SRID= prefix of the WKT")
    raw.dropped = [(row, None, why) for row, why in skipped]
    return raw


class _NotUtf8(Exception):
    """The CSV has bytes that are not UTF-8 beyond the part used to guess the encoding."""


def _csv_table(
    path: Path, source: str, header: list[str], encoding: str, delimiter: str
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Read a CSV with every column as text (values are checked later, vectorised)."""
    convert = pacsv.ConvertOptions(
        column_types={h: pa.string() for h in header}, strings_can_be_null=True,
        null_values=CSV_NULLS, quoted_strings_can_be_null=True,
    )
    enc = "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding

    def read(handler: object = None) -> pa.Table:
        parse = pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False,
                                   invalid_row_handler=handler)
        opts = pacsv.ReadOptions(encoding=enc, use_threads=handler is None)
        return pacsv.read_csv(path, read_options=opts, parse_options=parse,
                              convert_options=convert)

    try:
        return read(), []
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) and enc == "utf8":
            raise _NotUtf8 from exc
        if "Expected" not in str(exc) or "columns" not in str(exc):
            raise ValidationError(
                describe(source, "could not be read as CSV", got=" ".join(str(exc).split())[:200],
                         fix="Check the file is comma/semicolon separated text with one header "
                         "line")
            ) from exc
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            describe(source, "could not be read as CSV", got=" ".join(str(exc).split())[:200],
                     fix="Save it as UTF-8 CSV with one header line")
        ) from exc
    bad: list[tuple[int, str]] = []

    def handler(row: pacsv.InvalidRow) -> str:
        line = int(row.number) if row.number is not None else -1
        bad.append((line - 1, f"expected {row.expected_columns} fields, got "
                    f"{row.actual_columns}: {row.text[:60]!r}"))
        return "skip"

    try:
        table = read(handler)
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            describe(source, "could not be read as CSV", got=" ".join(str(exc).split())[:200],
                     fix="Check the file is delimited text with one header line")
        ) from exc
    return table, bad


def _parse_wkt(values: pd.Series) -> tuple[np.ndarray, list[tuple[int, str]], int | None]:
    """Parse a WKT column; return geometries, (position, reason) failures and an EWKT SRID."""
    text = values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
    srid: int | None = None
    present = pd.notna(text)
    if present.any():
        s = pd.Series(text[present]).astype(str).str.strip()
        m = s.str.extract(r"^SRID=(\d+);", expand=False)
        if m.notna().all() and m.nunique() == 1:
            srid = int(m.iloc[0])
        if m.notna().any():
            s = s.str.replace(r"^SRID=\d+;", "", regex=True)
        text = text.copy()
        text[present] = s.to_numpy(dtype=object)
    geoms, curves = decode_geometries(text, "wkt")
    fails = [
        (int(i), f"could not parse the WKT {str(text[i])[:60]!r}: " + (
            _CURVE_REASON if curves[i] else
            "expected e.g. 'POINT (14.5 45.8)' (longitude latitude)"))
        for i in np.flatnonzero(present & pd.isna(geoms))
    ]
    return np.asarray(geoms, dtype=object), fails, srid


def _read_parquet(path: Path, source: str) -> RawLayer:
    notes: list[str] = []
    try:
        schema = pq.read_schema(path)
        geo_meta = (schema.metadata or {}).get(b"geo")
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            describe(source, "could not be read as Parquet", got=" ".join(str(exc).split())[:200],
                     fix="Check that the file is a complete (Geo)Parquet file")
        ) from exc
    if geo_meta is None:
        return _plain_parquet(table, source, notes)
    try:
        meta = json.loads(geo_meta)
        primary = meta["primary_column"]
        col_meta = meta["columns"][primary]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            describe(source, "has unreadable GeoParquet metadata", got=str(exc)[:120],
                     fix="Write the file again with geopandas.to_parquet or GDAL")
        ) from exc
    encoding = str(col_meta.get("encoding", "WKB")).upper()
    if encoding == "WKB":
        wkb = table.column(primary).to_numpy(zero_copy_only=False)
        geometry, _ = decode_geometries(wkb, "wkb")
        rejects: list[tuple[int, str | None, str]] = [
            (int(i), "geometry", "the geometry could not be decoded (corrupt WKB)")
            for i in np.flatnonzero(pd.notna(wkb) & pd.isna(geometry))
        ]
    else:
        import geopandas as gpd

        try:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                gdf = gpd.read_parquet(path)
        except (ValueError, TypeError, pa.ArrowException, OSError) as exc:
            raise ValidationError(
                describe(source, f"could not decode the {encoding} GeoParquet geometry",
                         got=str(exc)[:120], fix="Write the file with WKB geometry encoding")
            ) from exc
        geometry = np.asarray(gdf.geometry.values, dtype=object)
        rejects = []
    attrs = table.drop_columns([primary]).to_pandas()
    crs: pyproj.CRS | None
    assumed: str | None = None
    if "crs" not in col_meta:
        crs = pyproj.CRS.from_user_input("OGC:CRS84")
        assumed = "GeoParquet without 'crs' is OGC:CRS84 (WGS84) by standard"
    elif col_meta["crs"] is None:
        crs = None
    else:
        raw_crs = col_meta["crs"]
        crs = _parse_crs(json.dumps(raw_crs) if isinstance(raw_crs, dict) else str(raw_crs), source)
    return RawLayer(
        source=source, format="GeoParquet", attrs=attrs, geometry=geometry,
        src_row=np.arange(1, len(attrs) + 1, dtype=np.int64), row_label="feature", crs=crs,
        crs_assumed=assumed, kind="parquet", notes=notes, rejects=rejects,
    )


def _plain_parquet(table: pa.Table, source: str, notes: list[str]) -> RawLayer:
    """A Parquet file without GeoParquet metadata: geometry from WKT/WKB or lat/lon columns."""
    attrs = table.to_pandas()
    wkt, lonlat, gnotes = _find_geometry_columns([str(c) for c in attrs.columns], source)
    notes.append("no GeoParquet metadata: read as a plain table")
    notes.extend(gnotes)
    geometry: np.ndarray | None = None
    rejects: list[tuple[int, str | None, str]] = []
    srid = None
    if wkt is not None:
        col = attrs[wkt]
        if col.map(lambda v: isinstance(v, bytes | bytearray), na_action="ignore").any():
            geometry, _ = decode_geometries(col.to_numpy(dtype=object), "wkb")
            rejects = [(int(i), wkt, "could not decode the WKB geometry")
                       for i in np.flatnonzero(col.notna().to_numpy() & pd.isna(geometry))]
        else:
            geometry, fails, srid = _parse_wkt(col)
            rejects = [(i, wkt, why) for i, why in fails]
        attrs = attrs.drop(columns=[wkt])
    crs = pyproj.CRS.from_epsg(srid if srid else 4326)
    return RawLayer(
        source=source, format="Parquet", attrs=attrs, geometry=geometry,
        src_row=np.arange(1, len(attrs) + 1, dtype=np.int64), row_label="row", crs=crs,
        crs_assumed=None if srid else "a plain Parquet table has no CRS; coordinates are taken "
        "as WGS84", kind="parquet", lonlat_cols=lonlat, geometry_field=wkt or "geometry",
        notes=notes, rejects=rejects,
    )
