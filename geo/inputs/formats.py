"""Open the file formats Limes accepts and turn each file into one raw table.

Private to :mod:`geo.inputs.loader`. This module knows about file formats (extensions, signatures,
sidecar files, container layers, what CRS a format implies); it does not know what a
sensor or a border is beyond which *geometry family* (points, lines, polygons) a layer
needs. Validation of values happens in :mod:`geo.inputs.loader` and :mod:`geo.inputs.checks`.

A user's file is only ever read in this module: raw bytes through :func:`check_file`,
:func:`read_head`, :func:`read_bytes`, :func:`open_zip` and :func:`read_zip_entry`; GDAL
formats through :func:`list_layers`/:func:`open_vector`/:func:`feature_count`, which take
those bytes (never a path: GDAL would follow ``/vsicurl/``, a VRT, a zip path); CSV through
:func:`_csv_table`; Parquet through :func:`_read_parquet`; Cursor-on-Target through
:mod:`geo.inputs.cot`. Hostile-file checks belong in these few functions: size limit, GDAL virtual
datasets (:func:`refuse_virtual`), signatures (:func:`check_signature`), XML DTDs and entities
(:func:`check_xml`), zip bombs and unsafe zip entries (:func:`open_zip`); rows, decoded
size and GeoPackage views/triggers in :mod:`geo.inputs.guard`. Importing this
module removes the GDAL drivers Limes does not use and GDAL's network access
(:func:`_restrict_gdal`).
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import re
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import pyogrio.errors
import pyproj
import shapely
import shapely.errors
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.inputs.guard import (
    check_geopackage,
    check_rows,
    csv_rows_over_cap,
    read_parquet_table,
    too_many_rows,
)

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
    ".cot": ("cot", "CoT"),
    ".xml": ("cot", "CoT"),
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
# GDAL: only the drivers Limes reads, no network
# --------------------------------------------------------------------------------------

#: Configuration of the GDAL that reads uploads (pyogrio's; rasterio has its own copy for
#: DEMs): no URL "exists" for /vsicurl/ and the other network file systems.
GDAL_CONFIG: dict[str, str] = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".limes-network-is-disabled",
}


def _restrict_gdal() -> tuple[str, ...]:
    """Deregister every GDAL vector driver not in :data:`settings.GDAL_VECTOR_DRIVERS`.

    GDAL unloads the drivers named in ``GDAL_SKIP`` when drivers are registered. pyogrio
    registers them when it is imported, which may have happened before Limes was (geopandas,
    a test, the app), so the option is set in pyogrio's GDAL and registration run again:
    GDAL then deregisters the drivers named. Driver names with a space cannot be listed in
    ``GDAL_SKIP`` ("MapInfo File" stays; it only opens files named ``.tab``/``.mif``, and
    uploads reach GDAL as nameless in-memory bytes). Fails closed: if the drivers cannot be
    removed, importing this module raises.

    Returns
    -------
    tuple of str
        The drivers removed.
    """
    keep = set(settings.GDAL_VECTOR_DRIVERS)
    skip = tuple(sorted(d for d in pyogrio.list_drivers() if d not in keep and " " not in d))
    options = dict(GDAL_CONFIG)
    if skip:
        options["GDAL_SKIP"] = " ".join(skip)
    pyogrio.set_gdal_config_options(options)
    register = getattr(pyogrio.core, "_register_drivers", None)
    if register is None:  # pragma: no cover - a pyogrio without it
        raise ImportError(f"pyogrio {pyogrio.__version__}: cannot deregister GDAL drivers, so "
                          "Limes will not read files with it")
    register()
    left = sorted(set(skip) & set(pyogrio.list_drivers()))
    if left:  # pragma: no cover - GDAL ignored GDAL_SKIP
        raise ImportError(f"GDAL drivers {', '.join(left)} could not be deregistered")
    return skip


#: GDAL vector drivers removed when this module was imported.
REMOVED_DRIVERS: tuple[str, ...] = _restrict_gdal()


# --------------------------------------------------------------------------------------
# Reading bytes: the only places that touch a user's file directly.
# --------------------------------------------------------------------------------------


def max_file_bytes() -> int:
    """Largest file read (bytes): :data:`settings.MAX_UPLOAD_MB` mebibytes, as Streamlit."""
    return settings.MAX_UPLOAD_MB * 1024 * 1024


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1024 / 1024:,.1f} MB"


def _too_large(source: str, size: int | str) -> ValidationError:
    got = _mb(size) if isinstance(size, int) else size
    return ValidationError(describe(
        source, "the file is too large", expected=f"at most {settings.MAX_UPLOAD_MB} MB",
        got=got, fix="Split it into smaller files (e.g. one per day or per partner), or ask "
        "an administrator to raise the upload limit"))


def check_file(path: Path, source: str) -> bytes:
    """Refuse a missing, empty or too large file; return its first bytes."""
    try:
        size = path.stat().st_size if path.is_file() else None
    except OSError:
        size = None
    if size is None:
        raise ValidationError(describe(source, "file not found", got=str(path.name),
                                       fix="Check the path"))
    if size > max_file_bytes():
        raise _too_large(source, size)
    head = read_head(path)
    if not head:
        raise ValidationError(describe(source, "the file is empty", expected="a file with data",
                                       got="0 bytes"))
    return head


def read_head(path: Path, n_bytes: int = _HEAD_BYTES) -> bytes:
    """Return the first ``n_bytes`` of a file (for signatures and CSV headers)."""
    with open(path, "rb") as f:
        return f.read(n_bytes)


def read_bytes(path: Path, source: str) -> bytes:
    """Return a whole file's bytes, refusing more than :func:`max_file_bytes`."""
    limit = max_file_bytes()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise _too_large(source, size)
        data = f.read(size + 1)  # read(n) allocates n bytes: never the whole limit
    if len(data) > size:  # the file grew while being read
        raise _too_large(source, f"more than {_mb(size)} and growing")
    return data


def _zip_directory(data: bytes, source: str) -> tuple[int, int]:
    """Entries and central directory size (bytes) from a zip's end records (zip64 too)."""
    tail_start = max(0, len(data) - (65_535 + 22))
    at = data.rfind(b"PK\x05\x06", tail_start)
    if at < 0 or at + 22 > len(data):
        raise _not_a_zip(source, "no zip end of central directory record")
    entries, cd_size = struct.unpack_from("<HL", data, at + 10)
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
        loc = at - 20
        if loc < 0 or data[loc:loc + 4] != b"PK\x06\x07":
            raise _not_a_zip(source, "damaged zip64 end records")
        (offset,) = struct.unpack_from("<Q", data, loc + 8)
        if offset + 56 > len(data) or data[offset:offset + 4] != b"PK\x06\x06":
            raise _not_a_zip(source, "damaged zip64 end records")
        entries, cd_size = struct.unpack_from("<QQ", data, offset + 32)
    return int(entries), int(cd_size)


def _not_a_zip(source: str, detail: str) -> ValidationError:
    return ValidationError(describe(
        source, "is not a readable zip archive", got=detail, expected="a zip file",
        fix="Zip the files again, or upload them unzipped"))


def _unsafe_entry(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry may not be read (path escaping the archive, link), else ``None``."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a '..' path (it points outside the archive)"
    if "\x00" in name:
        return "a NUL character in its name"
    return None


def open_zip(data: bytes, source: str,
             label: str) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """Open a zip held in memory after checking it; return it and its file entries.

    Refused before any entry is decompressed: more than :data:`settings.MAX_ZIP_ENTRIES`
    entries, an entry with an absolute path, a ``..`` component or a symbolic link, an
    encrypted entry, entries that would expand past :data:`settings.MAX_UNZIPPED_BYTES` in
    total, or past :data:`settings.MAX_ZIP_RATIO` times their compressed size (once above
    :data:`settings.ZIP_RATIO_FLOOR_BYTES`). Directories and macOS metadata are left out of
    the entries returned. Entries are read with :func:`read_zip_entry`, which never returns
    more than an entry's declared size.
    """
    entries, cd_size = _zip_directory(data, source)
    if entries > settings.MAX_ZIP_ENTRIES or cd_size > settings.MAX_ZIP_ENTRIES * 1024:
        raise ValidationError(describe(
            source, f"the {label} holds too many entries", expected=f"at most "
            f"{settings.MAX_ZIP_ENTRIES:,} files", got=f"{entries:,} entries",
            fix="Zip only the files of the layer"))
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            struct.error) as exc:
        raise _not_a_zip(source, str(exc)) from exc
    for info in infos:
        why = _unsafe_entry(info)
        if why is not None:
            raise ValidationError(describe(
                source, f"the {label} entry {info.filename!r} is {why}, which Limes never "
                "reads", expected="plain files inside the archive", got=info.filename,
                fix="Zip the files again from their folder, without links"))
        if info.flag_bits & 0x1:
            raise ValidationError(describe(
                source, f"the {label} entry {info.filename!r} is encrypted",
                expected="an archive without a password", got="an encrypted entry",
                fix="Zip the files again without a password"))
    expanded = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if expanded > settings.MAX_UNZIPPED_BYTES:
        raise ValidationError(describe(
            source, f"the {label} would expand past the size limit", expected=f"at most "
            f"{_mb(settings.MAX_UNZIPPED_BYTES)} unzipped", got=f"{_mb(expanded)} unzipped",
            fix="Upload a smaller archive, or split the data into several files"))
    ratio = expanded / max(packed, 1)
    if expanded > settings.ZIP_RATIO_FLOOR_BYTES and ratio > settings.MAX_ZIP_RATIO:
        raise ValidationError(describe(
            source, f"the {label} expands {ratio:,.0f} times (a zip bomb?)",
            expected=f"at most {settings.MAX_ZIP_RATIO:g} times its compressed size",
            got=f"{_mb(packed)} compressed, {_mb(expanded)} unzipped",
            fix="Upload the data unzipped, or zip only the files of the layer"))
    files = [i for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")
             and not Path(i.filename).name.startswith("._")]
    return zf, files


def read_zip_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> bytes:
    """Decompress one entry checked by :func:`open_zip` (never more than its declared size)."""
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError,
            OSError, ValueError) as exc:
        raise ValidationError(describe(
            source, f"the zip entry {info.filename!r} could not be read",
            got=" ".join(str(exc).split())[:160], fix="Zip the files again")) from exc
    if len(data) > info.file_size:  # pragma: no cover - zipfile stops at the declared size
        raise _not_a_zip(source, f"{info.filename!r} is longer than declared")
    return data


# --------------------------------------------------------------------------------------
# GDAL reads: in-memory bytes only, never a path
# --------------------------------------------------------------------------------------

#: pyogrio's in-memory file names (``/vsimem/pyogrio_<hex>``, maybe in ``/vsizip/``).
_VSIMEM = re.compile(r"(?:/vsizip/)?/vsimem/pyogrio_[0-9a-f]+(?:\.zip)?(?:/[^\s'\":;,]*)?")

#: GDAL warnings that only concern the nameless in-memory copy, not the user's file.
_IN_MEMORY_WARNINGS = ("non conformant file extension",)


@contextmanager
def _gdal_call(source: str, what: str, notes: list[str]) -> Iterator[None]:
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
            detail = _clean_gdal_message(str(exc), source)
            raise ValidationError(
                describe(source, f"could not be read as {what}", got=detail,
                         expected=f"a valid {what} file",
                         fix=f"Check that the file is a complete {what} file (open it in QGIS or "
                         "re-export it)")
            ) from exc
    for w in caught:
        text = _clean_gdal_message(str(w.message), source)
        if any(s in text for s in _IN_MEMORY_WARNINGS):
            continue
        note = f"GDAL: {text}"
        if note not in notes:
            notes.append(note)


def _clean_gdal_message(text: str, source: str) -> str:
    """Replace GDAL's in-memory file names in a message by the user's file name."""
    text = _VSIMEM.sub(source, text)
    text = text.split("; It might help to specify the correct driver")[0]
    return " ".join(text.split())


def _gdal_bytes(data: bytes) -> bytes:
    """GDAL is only ever handed bytes (read and checked here), never a path it could follow."""
    if not isinstance(data, bytes):
        raise TypeError(f"GDAL reads bytes only, got {type(data).__name__}")
    return data


_VSIMEM_NAME = re.compile(r"pyogrio_[0-9a-f]{32}")


def list_layers(data: bytes, source: str, what: str, notes: list[str]) -> list[tuple[str, str]]:
    """Return ``(layer name, declared geometry type)`` of every layer GDAL sees, in order.

    A layer GDAL names after the file (GeoJSON, FlatGeobuf, a KML without folders) is named
    after the user's file here, not after the in-memory copy.
    """
    with _gdal_call(source, what, notes):
        layers = pyogrio.list_layers(_gdal_bytes(data))
    stem = Path(source).stem
    return [(_VSIMEM_NAME.sub(stem, str(name)), str(gtype)) for name, gtype in layers]


def open_vector(
    data: bytes, source: str, what: str, notes: list[str], *, layer: int | str | None = None,
    before: int = 0,
) -> tuple[dict[str, object], pa.Table]:
    """Read one layer (by position or name) through GDAL into Arrow.

    Geometry comes as WKB, date-times as ISO text. GDAL stops one feature past
    :data:`settings.MAX_ROWS_PER_FILE` (less the ``before`` features of the file already
    read), and the file is then refused.
    """
    room = settings.MAX_ROWS_PER_FILE - before
    with _gdal_call(source, what, notes):
        meta, table = pyogrio.read_arrow(_gdal_bytes(data), layer=layer, datetime_as_string=True,
                                         max_features=max(room, 0) + 1)
    if table.num_rows > room:
        raise too_many_rows(source, None, label="feature")
    return meta, table


def feature_count(data: bytes, source: str, what: str, notes: list[str], *, layer: str) -> int:
    """Number of features in one layer (counted by GDAL)."""
    with _gdal_call(source, what, notes):
        info = pyogrio.read_info(_gdal_bytes(data), layer=layer, force_feature_count=True)
    return int(info.get("features") or 0)


# --------------------------------------------------------------------------------------
# Format detection and signatures
# --------------------------------------------------------------------------------------


def detect_format(path: Path, source: str, head: bytes = b"") -> tuple[str, str]:
    """Choose the format from the extension (of the path, else of the source name).

    A file with neither extension known whose content is a Cursor-on-Target ``<event>`` is
    read as CoT.
    """
    for name in (path.name, source):
        ext = _extension(name)
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
    root = _xml_root(_text_start(head))
    if root is not None and _local_name(root) == "event":
        return "cot", "CoT"
    supported = ", ".join(sorted(EXTENSIONS))
    raise ValidationError(
        describe(source, "unsupported file type", expected=f"one of {supported}",
                 got=_extension(source) or "(no extension)",
                 fix="Export the layer as GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ, GPX, "
                 "FlatGeobuf, GeoParquet, CSV or Cursor-on-Target XML")
    )


def _extension(name: str) -> str:
    lower = name.lower()
    return ".geoparquet" if lower.endswith(".geoparquet") else Path(lower).suffix


def _text_start(head: bytes) -> bytes:
    return head.lstrip(b"\xef\xbb\xbf").lstrip()


def _local_name(tag: str) -> str:
    return tag.split(":")[-1].rsplit("}", 1)[-1]


#: Root elements of XML files that make GDAL open other files, URLs or services.
_VIRTUAL_XML: dict[str, str] = {
    "OGRVRTDataSource": "an OGR virtual vector dataset (VRT)",
    "VRTDataset": "a GDAL virtual raster (VRT)",
    "GDAL_WMS": "a GDAL WMS service description",
    "GDAL_WMTS": "a GDAL WMTS service description",
    "WCS_GDAL": "a GDAL WCS service description",
    "GDAL_WCS": "a GDAL WCS service description",
}
_GDALG = re.compile(rb'"type"\s*:\s*"gdal_streamed_alg"')


def refuse_virtual(head: bytes, source: str) -> None:
    """Refuse a GDAL virtual dataset (VRT, GDALG pipeline, service description), any name.

    Such a file is a recipe that makes GDAL read other files or URLs, or run commands; the
    drivers that would follow it are removed too (:func:`_restrict_gdal`), but the user gets
    this message rather than a parse error.
    """
    text = _text_start(head)
    what: str | None = None
    if text[:1] == b"<":
        root = _xml_root(text)
        what = _VIRTUAL_XML.get(root or "")
    elif text[:1] == b"{" and _GDALG.search(text[:4096]):
        what = "a GDAL pipeline (GDALG)"
    if what is not None:
        raise ValidationError(describe(
            source, f"the file is {what}, which Limes never opens: it would make the server "
            "read other files or addresses", expected="the data itself",
            got=f"{what} ({len(head):,}+ bytes)",
            fix="Export the layer itself (e.g. with ogr2ogr or QGIS 'Export') and upload that"))


def check_signature(head: bytes, kind: str, label: str, source: str) -> bytes:
    """Check that the file's first bytes match its extension; return those bytes."""
    text = _text_start(head)
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
    elif kind in ("kml", "gpx", "cot"):
        root = _xml_root(text)
        name = _local_name(root).lower() if root else None
        if kind == "cot":
            want = "event"
            ok = name == "event" or (root is not None and b"<event" in text)
            expected = "an XML document with an <event> root element (or a root holding <event>s)"
        else:
            want = kind
            ok = name == want
            expected = f"an XML document with a <{want}> root element"
        if text[:1] == b"<" and root is not None and not ok:
            hint = {"kml": " (a .kml file is read as KML)", "gpx": " (a .gpx file is read as "
                    "GPX)", "event": " (a .cot or .xml file is read as CoT)"}
            raise ValidationError(
                describe(source, f"is not a {label} document", expected=expected,
                         got=f"<{root}> as root element",
                         fix=f"Wrap the content in a complete <{want}> document, or export it "
                         f"again as {label}" + (hint.get(name or "", "") if name != want else ""))
            )
    else:  # csv
        ok, expected = b"\x00" not in head and text[:1] != b"<", "text with a header line"
        if text[:1] == b"<":
            expected += " (this is XML or HTML)"
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


class _RootReached(Exception):
    """The XML prolog has been read: the root element starts."""


class _RootTarget:
    """Parser target that stops at the root element."""

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        raise _RootReached(tag)

    def end(self, tag: str) -> None:  # pragma: no cover - never reached
        pass

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        return None


def check_xml(data: bytes, source: str, label: str) -> None:
    """Refuse XML with a DOCTYPE, entity declarations or external references.

    The prolog (everything before the root element) is parsed with :mod:`defusedxml`; a DTD,
    and so any entity declaration ("billion laughs", an external entity reading a local file
    or a URL), can only stand there, so this is complete and costs microseconds whatever the
    file's size. A file refused here never reaches GDAL.
    """
    parser = DefusedXMLParser(target=_RootTarget(), forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    try:
        for start in range(0, len(data), 4096):
            parser.feed(data[start:start + 4096])
        parser.close()
    except _RootReached:
        return
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise xml_refused(source, label, exc) from exc
    except ParseError as exc:
        raise ValidationError(describe(
            source, "is not well-formed XML", expected=f"a {label} document",
            got=" ".join(str(exc).split())[:160],
            fix=f"Check the file is complete {label} (open it in a text editor)")) from exc
    raise ValidationError(describe(source, "holds no XML element", expected=f"a {label} "
                                   "document", got="no root element"))


def xml_refused(source: str, label: str, exc: Exception) -> ValidationError:
    """The message for XML with a DOCTYPE/entities (shared with the CoT reader)."""
    what = {"DTDForbidden": "a DOCTYPE declaration", "EntitiesForbidden": "an entity "
            "declaration", "ExternalReferenceForbidden": "an external reference"}.get(
        type(exc).__name__, "a DOCTYPE")
    return ValidationError(describe(
        source, f"the {label} file contains {what} (DTD), which Limes refuses: entities can "
        "expand to gigabytes ('billion laughs') or pull in local files and URLs",
        expected=f"{label} without <!DOCTYPE ...> or <!ENTITY ...>", got=what,
        fix=f"Export the file again from the GIS or device; standard {label} has no DOCTYPE"))


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def read_raw(path: Path, *, layer_kind: str, source: str) -> RawLayer:
    """Read any supported file into a :class:`RawLayer` for ``layer_kind``.

    Checks first, before anything is parsed: the file exists, is not empty and not larger
    than :func:`max_file_bytes`; it is no GDAL virtual dataset (:func:`refuse_virtual`); its
    first bytes match its extension; XML has no DTD (:func:`check_xml`); zips pass
    :func:`open_zip`; a GeoPackage holds plain tables only (:func:`check_geopackage`). GDAL
    is then handed the checked bytes, never ``path``. No file yields more rows than
    :data:`settings.MAX_ROWS_PER_FILE`: counted before decoding where the format says
    (CSV, Parquet, GeoPackage, GPX), else while reading.
    """
    raw = _read_raw(path, layer_kind=layer_kind, source=source)
    check_rows(source, len(raw.attrs) + len(raw.dropped), label=raw.row_label)
    return raw


def _read_raw(path: Path, *, layer_kind: str, source: str) -> RawLayer:
    head = check_file(path, source)
    refuse_virtual(head, source)
    kind, label = detect_format(path, source, head)
    check_signature(head, kind, label, source)
    family = FAMILY_OF[layer_kind]
    if kind == "csv":
        return _read_csv(path, head, source)
    if kind == "parquet":
        return _read_parquet(path, source)
    if kind == "shp":
        return _read_shapefile(path, source, family)
    if kind == "gpkg":
        check_geopackage(path, source)
    data = read_bytes(path, source)
    if kind == "cot":
        from geo.inputs.cot import read_cot

        if family != "point":
            raise ValidationError(describe(
                source, f"Cursor-on-Target events are points, but the {layer_kind} need "
                f"{family}s", expected=f"{family} geometry", got="CoT events",
                fix="Load CoT files as detections"))
        return read_cot(data, source)
    if kind == "shpzip":
        return _read_shapefile_zip(data, source, family)
    if kind in ("kml", "gpx"):
        check_xml(data, source, label)
    if kind == "gpx":
        return _read_gpx(data, head, source, layer_kind)
    if kind == "kmz":
        named = _kmz_documents(data, source)
        documents = [doc for _, doc in named]
        raw = _read_kml_documents(named, source, family)
    else:
        documents = [data]
        raw = _read_vector(data, source, kind, label, family)
    if layer_kind == "detections" and kind in ("kml", "kmz"):
        from geo.inputs.kml import expand_tracks, read_tracks

        tracks = [t for doc in documents if b"Track" in doc for t in read_tracks(doc, source)]
        raw = expand_tracks(raw, tracks)
        _kml_time_span(raw)
    return raw


def _kmz_documents(data: bytes, source: str) -> list[tuple[str, bytes]]:
    """The KML documents of a KMZ (``doc.kml`` first), each checked by :func:`check_xml`.

    A KMZ written by GDAL/QGIS holds a ``doc.kml`` linking to ``layers/<name>.kml``; GDAL only
    ever sees each document's bytes, so links are never followed: every document is read.
    """
    zf, files = open_zip(data, source, "KMZ")
    with zf:
        kmls = sorted((i for i in files if i.filename.lower().endswith(".kml")),
                      key=lambda i: (Path(i.filename).name.lower() != "doc.kml",
                                     i.filename.count("/"), i.filename))
        if not kmls:
            raise ValidationError(
                describe(source, "the KMZ holds no .kml document", expected="a zip with doc.kml",
                         got=", ".join(i.filename for i in files[:10]) or "an empty zip",
                         fix="Save the file again as KMZ from Google Earth/QGIS, or upload the "
                         ".kml itself")
            )
        documents = []
        for info in kmls:
            doc = read_zip_entry(zf, info, source)
            name = f"{source} ({info.filename})"
            refuse_virtual(doc[:_HEAD_BYTES], name)
            check_xml(doc, name, "KML")
            documents.append((info.filename, doc))
    return documents


def _read_kml_documents(documents: list[tuple[str, bytes]], source: str,
                        family: Family) -> RawLayer:
    """Read the KML documents of a KMZ and concatenate those with features."""
    notes: list[str] = []
    read = [(name, _read_vector(doc, source, "kmz", "KMZ", family, notes=notes))
            for name, doc in documents]
    with_rows = [(n, r) for n, r in read if len(r.attrs)] or read[:1]
    return _merge_raws([r for _, r in with_rows], [n for n, _ in with_rows], source,
                       what="KML documents")


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
    data: bytes,
    source: str,
    kind: str,
    label: str,
    family: Family,
    *,
    layers: Sequence[str] | None = None,
    notes: list[str] | None = None,
) -> RawLayer:
    """Read one or several layers of a GDAL vector file (its bytes) and concatenate them."""
    notes = [] if notes is None else notes
    found = list_layers(data, source, label, notes)
    if layers is None:
        layers = _choose_layers(found, family, kind, source, label, notes)
    # layers are read by position: GDAL names a layer without a name of its own after the
    # (random) in-memory file name, which changes from one call to the next
    wanted = set(layers)
    positions = [(i, name) for i, (name, _) in enumerate(found) if name in wanted]
    frames: list[pd.DataFrame] = []
    geoms: list[np.ndarray] = []
    rejects: list[tuple[int, str | None, str]] = []
    crs_text: str | None = None
    crs_layer = ""
    offset = 0
    ranges: list[str] = []
    for pos, lyr in positions:
        meta, table = open_vector(data, source, label, notes, layer=pos, before=offset)
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
        if len(positions) > 1 and table.num_rows:
            ranges.append(f"{lyr!r} (features {offset + 1}-{offset + table.num_rows})")
        offset += table.num_rows
    if len(positions) > 1 and len(ranges) > 1:
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
    """Whether ``crs`` is WGS 84 longitude/latitude, in either axis order."""
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


#: Parts of a shapefile handed to GDAL (lower case); others in a zip are not read.
_SHAPEFILE_PARTS: tuple[str, ...] = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _shapefile_bundle(parts: dict[str, bytes], stem: str) -> bytes:
    """One shapefile's parts as an uncompressed in-memory zip, for GDAL."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
        for ext, part in parts.items():
            out.writestr(f"{stem}{ext}", part)
    return buf.getvalue()


def _safe_stem(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", Path(name).stem) or "layer"


def _read_shapefile_zip(data: bytes, source: str, family: Family) -> RawLayer:
    zf, files = open_zip(data, source, "zip")
    with zf:
        by_lower = {i.filename.lower(): i for i in files}
        shps = [i.filename for i in files if i.filename.lower().endswith(".shp")]
        if not shps:
            shown = ", ".join(i.filename for i in files[:10]) or "nothing"
            raise ValidationError(
                describe(source, "the zip holds no shapefile", expected="a .shp with its .shx, "
                         ".dbf and .prj", got=shown,
                         fix="Zip the shapefile's parts (.shp, .shx, .dbf, .prj), or upload "
                         "another supported format directly")
            )
        have = set(by_lower)
        for shp in shps:
            _sidecar_problem(shp[:-4], have, source)
        bundles = []
        for shp in shps:
            base = shp[:-4].lower()
            parts = {ext: read_zip_entry(zf, by_lower[base + ext], source)
                     for ext in _SHAPEFILE_PARTS if base + ext in by_lower}
            bundles.append(_shapefile_bundle(parts, _safe_stem(shp)))
    return _read_shapefiles(bundles, [Path(m).stem for m in shps], source,
                            "ESRI Shapefile (zip)", family)


def _read_shapefile(path: Path, source: str, family: Family) -> RawLayer:
    """A ``.shp`` given on the command line, next to its other parts."""
    siblings = {p.name.lower(): p for p in path.parent.iterdir()} if path.parent.is_dir() else {}
    base = path.name[:-4]
    _sidecar_problem(base, set(siblings), source)
    parts: dict[str, bytes] = {}
    total = 0
    for ext in _SHAPEFILE_PARTS:
        part = siblings.get((base + ext).lower())
        if part is None:
            continue
        check_file(part, part.name)
        parts[ext] = read_bytes(part, part.name)
        total += len(parts[ext])
        if total > max_file_bytes():
            raise _too_large(source, f"{_mb(total)} with its .shx/.dbf/.prj")
    bundle = _shapefile_bundle(parts, _safe_stem(path.name))
    return _read_shapefiles([bundle], [path.stem], source, "ESRI Shapefile", family)


def _read_shapefiles(bundles: list[bytes], names: list[str], source: str, label: str,
                     family: Family) -> RawLayer:
    notes: list[str] = []
    if len(bundles) == 1:
        return _read_vector(bundles[0], source, "shp", label, family, layers=None, notes=notes)
    found: list[tuple[str, str]] = []
    for b, n in zip(bundles, names, strict=True):
        types = list_layers(b, source, label, notes)
        found.append((n, types[0][1] if types else "Unknown"))
    chosen = _choose_layers(found, family, "shp", source, label, notes)
    pairs = [(n, _read_vector(b, source, "shp", label, family, layers=None, notes=notes))
             for b, n in zip(bundles, names, strict=True) if n in chosen]
    return _merge_raws([r for _, r in pairs], [n for n, _ in pairs], source)


def _merge_raws(raws: list[RawLayer], names: list[str], source: str, *,
                what: str = "shapefiles") -> RawLayer:
    """Concatenate the shapefiles (or KML documents) of one zip (same CRS required)."""
    first = raws[0]
    if len(raws) == 1:
        return first
    for r in raws[1:]:
        if (r.crs is None) != (first.crs is None) or (r.crs is not None and first.crs is not None
                                                      and not r.crs.equals(first.crs)):
            raise ValidationError(
                describe(source, f"the {what} in the zip use different CRSs",
                         fix="Export them to one CRS, or zip only one of them")
            )
    offsets = np.cumsum([0] + [len(r.attrs) for r in raws])
    first.notes.append(f"read {what} " + ", ".join(
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


def _read_gpx(data: bytes, head: bytes, source: str, layer_kind: str) -> RawLayer:
    notes: list[str] = []
    found = dict(list_layers(data, source, "GPX", notes))
    wanted = [n for n in _GPX_LAYERS[layer_kind] if n in found]
    counts = {name: feature_count(data, source, "GPX", notes, layer=name) for name in wanted}
    non_empty = [n for n in wanted if counts.get(n, 0) > 0]
    if layer_kind == "sensors" and non_empty:
        non_empty = non_empty[:1]  # waypoints if any, else route points, else track points
    check_rows(source, sum(counts[n] for n in non_empty), label="feature")
    if not non_empty:
        what = {"border": "tracks or routes", "sectors": "closed tracks or routes",
                "sensors": "waypoints", "detections": "waypoints or track/route points"}[layer_kind]
        raise ValidationError(
            describe(source, f"the GPX file has no {what}", expected=what,
                     got=", ".join(f"{n}: {c}" for n, c in counts.items()) or "no GPX layers",
                     fix="Export the data as GPX " + what)
        )
    raw = _read_vector(data, source, "gpx", "GPX", FAMILY_OF[layer_kind],
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
    if csv_rows_over_cap(path, delimiter):
        raise too_many_rows(source, None)
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
    """Read a CSV with every column as text (values are checked later, vectorised).

    Large strings: what pandas' ``str`` columns hold, so the frame is made without a copy.
    """
    convert = pacsv.ConvertOptions(
        column_types={h: pa.large_string() for h in header}, strings_can_be_null=True,
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
        table = read_parquet_table(path, source)
        geo_meta = (table.schema.metadata or {}).get(b"geo")
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            describe(source, "could not be read as Parquet", got=" ".join(str(exc).split())[:200],
                     fix="Check that the file is a complete (Geo)Parquet file")
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
        import geopandas as gpd

        try:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                gdf = gpd.read_parquet(path)
        except (ValueError, TypeError, AttributeError, KeyError, pa.ArrowException,
                OSError) as exc:
            raise ValidationError(
                describe(source, f"could not decode the GeoParquet geometry ({encoding!r} "
                         "encoding)", field=f"geo.columns.{primary}",
                         expected="a GeoArrow column as the GeoParquet metadata describes it",
                         got=_shown(str(exc)),
                         fix="Write the file again with geopandas (GeoDataFrame.to_parquet) or "
                         "GDAL (ogr2ogr -f Parquet), ideally with WKB geometry encoding")
            ) from None
        geometry = np.asarray(gdf.geometry.values, dtype=object)
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
        source=source, format="GeoParquet", attrs=attrs, geometry=geometry,
        src_row=np.arange(1, len(attrs) + 1, dtype=np.int64), row_label="feature", crs=crs,
        crs_assumed=assumed, kind="parquet", notes=notes, rejects=rejects,
    )


#: GeoParquet geometry encodings (``geo`` metadata ``columns.<name>.encoding``): WKB and the
#: GeoArrow ("native") encodings of GeoParquet 1.1.
GEOPARQUET_ENCODINGS: tuple[str, ...] = (
    "WKB", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
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


def _geo_meta_error(source: str, key: str, problem: str, *, expected: str,
                    got: object) -> ValidationError:
    """The error for ``key`` (dotted path; ``""``: the whole value) of the ``geo`` metadata."""
    return ValidationError(
        describe(source, f"unusable GeoParquet metadata: {problem}",
                 field=f"geo.{key}" if key else "geo",
                 expected=expected, got=_shown(got), fix=_GEOPARQUET_FIX)
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
        raise _geo_meta_error(source, "", "the value is not JSON",
                              expected="a JSON object", got=f"{exc}") from None
    if not isinstance(meta, dict):
        raise _geo_meta_error(source, "", "the value is not a JSON object",
                              expected="a JSON object", got=meta)
    columns = meta.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise _geo_meta_error(
            source, "columns", "no geometry columns are described",
            expected="an object of geometry column name -> its metadata",
            got=columns if "columns" in meta else "no 'columns' key")
    primary = meta.get("primary_column")
    if not isinstance(primary, str):
        raise _geo_meta_error(
            source, "primary_column", "the geometry column is not named",
            expected="the name of a geometry column, one of " + ", ".join(map(repr, columns)),
            got=primary if "primary_column" in meta else "no 'primary_column' key")
    col_meta = columns.get(primary)
    if not isinstance(col_meta, dict):
        raise _geo_meta_error(
            source, f"columns.{primary}", "the primary geometry column is not described",
            expected="an object with 'encoding' and 'geometry_types'",
            got=col_meta if primary in columns else f"no key {primary!r}")
    if primary not in schema.names:
        shown = ", ".join(repr(n) for n in schema.names[:20])
        raise _geo_meta_error(
            source, "primary_column", "the geometry column is not in the file",
            expected=f"one of the file's columns ({shown})", got=primary)
    encoding = _geoparquet_encoding(col_meta.get("encoding", "WKB"), primary, source)
    _check_geometry_type(schema.field(primary).type, encoding, primary, source)
    return primary, col_meta, encoding


def _geoparquet_encoding(value: object, column: str, source: str) -> str:
    """``WKB`` or a GeoArrow encoding, matched without regard to case; raise if unknown."""
    by_lower = {e.lower(): e for e in GEOPARQUET_ENCODINGS}
    if not isinstance(value, str) or value.lower() not in by_lower:
        raise _geo_meta_error(
            source, f"columns.{column}.encoding", "unknown geometry encoding",
            expected="one of " + ", ".join(GEOPARQUET_ENCODINGS), got=value)
    return by_lower[value.lower()]


def _check_geometry_type(dtype: pa.DataType, encoding: str, column: str, source: str) -> None:
    """Raise unless the Arrow type of the geometry column fits its ``encoding``."""
    if encoding == "WKB":
        fits = (pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype)
                or pa.types.is_binary_view(dtype))
        expected = "a binary column of WKB"
    else:
        fits = (pa.types.is_struct(dtype) or pa.types.is_list(dtype)
                or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype))
        expected = f"a GeoArrow {encoding} column (struct or list of coordinates)"
    if not fits:
        raise _geo_meta_error(
            source, f"columns.{column}.encoding",
            f"the geometry column {column!r} does not hold {encoding} geometry",
            expected=expected, got=f"type {dtype}")


def _geoparquet_crs(value: object, key: str, source: str) -> pyproj.CRS | None:
    """The CRS of GeoParquet column metadata: PROJJSON (or CRS text), ``None`` for null."""
    if value is None:
        return None
    if not isinstance(value, dict | str):
        raise _geo_meta_error(source, key, "the CRS is not PROJJSON",
                              expected="a PROJJSON object, or no 'crs' key for WGS84",
                              got=value)
    try:
        return pyproj.CRS.from_user_input(json.dumps(value) if isinstance(value, dict) else value)
    except pyproj.exceptions.CRSError:
        raise _geo_meta_error(source, key, "the CRS cannot be understood",
                              expected="a PROJJSON object, or no 'crs' key for WGS84",
                              got=value) from None


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
