"""Load and validate the four input layers of Limes: border, sectors, sensors, detections.

Each ``read_*`` function takes a file (GeoJSON, GeoPackage, zipped or plain Shapefile, KML,
KMZ, GPX, FlatGeobuf, GeoParquet, CSV or, for detections, Cursor-on-Target XML), checks every
row, and returns

* a :class:`geopandas.GeoDataFrame` in EPSG:4326 with a fresh RangeIndex, the layer's
  columns under their normalised names and dtypes (see each function), and ``src_row``:
  the 1-based row (CSV/Parquet tables: 1 = first line after the header) or feature number
  (other formats; layers of one file are numbered on, in file order) used in messages;
* a :class:`LoadReport` saying what was read, how, and which rows were rejected and why.

Rows with bad values are rejected and listed in the report. A file that cannot be used as a
whole (unreadable, wrong format, no CRS, a required column missing, no valid row left)
raises :class:`geo.core.errors.ValidationError` with a message that names the file, the row and
field where there is one, what was expected, what arrived, and how to fix it.

Text columns use pandas' ``str`` dtype (missing values are NaN: test with ``pd.isna``);
numbers are float64 (NaN where optional and absent); times are ``datetime64[us, UTC]``.
Geometries are 2D (heights are dropped). Columns the layer does not use are dropped and
named in the report's notes. Column names match case-insensitively, with spaces or dashes
for underscores, and through a few aliases (:data:`ALIASES`); a shapefile's names cut to
10 characters by dBASE (``min_range_``) are recognised.

Formats
-------
The format follows the extension (of ``path``, else of ``source_name``) and must match the
file's first bytes.

- GeoJSON (``.geojson``/``.json``), GeoPackage (``.gpkg``: the layers whose geometry type
  fits are read), FlatGeobuf (``.fgb``), GeoParquet (``.parquet``/``.geoparquet``; a
  Parquet table without GeoParquet metadata is read like a CSV), Shapefile (``.zip`` with
  ``.shp``/``.shx``/``.dbf``/``.prj``, or a ``.shp`` next to them): every layer.
- KML/KMZ: every folder, attributes from ExtendedData; for detections, ``gx:Track``
  positions become timestamped points (GDAL drops those times). GPX: waypoints (sensors,
  detections; detections also route and track points), tracks and routes (border; sectors
  as closed tracks/routes, since GPX has no polygons); ``<extensions>`` become columns.
- CSV (``.csv``, comma/semicolon/tab separated, UTF-8 or Windows-1252): a WKT column
  (``wkt``, ``geometry``, ``geom``, ``the_geom``; an EWKT ``SRID=`` prefix sets the CRS)
  or latitude/longitude columns (``lat``/``latitude``/``y`` and
  ``lon``/``lng``/``long``/``longitude``/``x``); lat/lon points suit sensors and detections.
- Cursor-on-Target (``.cot``/``.xml``, or any name whose content is an ``<event>``): one
  event, a root holding many, or several event documents one after the other; detections
  only (see :mod:`geo.inputs.readers.cot` for how each event maps to a row).

Hostile input
-------------
Files are checked before they are parsed, and refused as a whole with a message naming the
problem: larger than :data:`geo.core.settings.MAX_UPLOAD_MB`; a GDAL virtual dataset (VRT, GDALG,
WMS description), whatever its extension; content that does not match the extension; XML
(KML, GPX, CoT) with a DOCTYPE or entities; a zip or KMZ with too many entries, entries that
would expand past :data:`geo.core.settings.MAX_UNZIPPED_BYTES` or :data:`geo.core.settings.MAX_ZIP_RATIO`,
or ``..``, absolute or symbolic-link entries; a shapefile without its .shx, .dbf or .prj; a
GeoPackage that is more than plain tables (a view, which may return rows without end, a
virtual table, a computed column, a trigger of its own: read with :mod:`sqlite3` before GDAL
opens it); more rows than :data:`geo.core.settings.MAX_ROWS_PER_FILE` or values decoding past
:data:`geo.core.settings.MAX_DECODED_BYTES` (e.g. Parquet dictionaries), counted before decoding
where the format says (see :mod:`geo.inputs.guard`). Uploads are read with :mod:`geo.inputs.bounded`, in
a child process with memory and time limits, for what no check foresees.
GDAL is handed the checked bytes, never a path (so ``/vsicurl/...``, a VRT or a zip path as
a name is harmless), and the GDAL drivers Limes does not use, network access included, are
switched off (:data:`geo.core.settings.GDAL_VECTOR_DRIVERS`).

CSV, GeoJSON, KML and GPX are WGS84 by their standards; any other file without a CRS is
refused (Limes never guesses), as is a CRS PROJ cannot transform to EPSG:4326. Curved
geometries (CIRCULARSTRING, ...) are rejected row by row.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa

from geo.access.releasability import SEPARATORS
from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.inputs.checks import (
    Geometry,
    Rejects,
    Times,
    build_geometry,
    fmt_value,
    reason,
    to_float,
    to_text,
    to_time,
)
from geo.inputs.readers import FAMILY_OF, RawLayer, normalise_name, read_raw

__all__ = [
    "LoadReport",
    "RowError",
    "read_border",
    "read_detection_columns",
    "read_detections",
    "read_sectors",
    "read_sensors",
]

#: Detection times before this instant are rejected as clock errors: GPS receivers and
#: loggers with an unset clock write the 32-bit Unix time limit (1901-12-13T20:45:52Z), the
#: Unix epoch (1970-01-01) or the GPS epoch (1980-01-06).
EARLIEST_TIME = pd.Timestamp("1980-01-07T00:00:00Z")

#: Column names accepted for a detection's time, in order of preference.
TIME_COLUMNS: tuple[str, ...] = ("time", "timestamp", "datetime", "date_time", "when", "dtg")

#: Accepted column names per field (normalised: lower case, spaces as underscores).
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "border_name", "label", "title"),
    "sector_id": ("sector_id", "sectorid", "sector"),
    "sensor_id": ("sensor_id", "sensorid", "sensor"),
    "partner": ("partner", "partner_id", "partner_name", "agency"),
    "kind": ("kind", "sensor_kind", "sensor_type"),
    "range_m": ("range_m", "max_range_m", "range_meters"),
    "min_range_m": ("min_range_m", "min_range_meters"),
    "azimuth_deg": ("azimuth_deg", "azimuth", "bearing_deg", "heading_deg"),
    "fov_deg": ("fov_deg", "fov", "field_of_view_deg"),
    "height_m": ("height_m", "height", "mast_height_m", "height_agl_m"),
    "status": ("status", "state"),
    "detection_id": ("detection_id", "detectionid", "det_id"),
    "source": ("source", "src", "sensor", "sensor_id"),
    "class": ("class", "classification", "category", "type"),
    "confidence": ("confidence", "conf", "score", "probability"),
    "access": ("access",),
    "caveat": ("caveat", "caveats"),
    "releasable_to": ("releasable_to", "releasableto", "releaseable_to", "releaseableto",
                      "rel_to"),
    "hae_m": ("hae_m", "hae"),
    "ce_m": ("ce_m", "ce"),
    "le_m": ("le_m", "le"),
}

#: CoT writes this (or more) in hae/ce/le for "unknown" (m).
UNKNOWN_METRES = 999_999.0


@dataclass
class RowError:
    """One rejected row.

    Attributes
    ----------
    row
        1-based data row (CSV/Parquet: 1 = first line after the header) or feature number.
    field
        Column the problem is in (``"geometry"`` for positions), ``None`` if the whole row.
    reason
        What was expected, what arrived and how to fix it.
    """

    row: int | str
    field: str | None
    reason: str


@dataclass
class LoadReport:
    """What a loader read, what it kept and why it rejected the rest.

    Attributes
    ----------
    source
        File name as the user gave it (basename).
    layer
        ``"border"``, ``"sectors"``, ``"sensors"`` or ``"detections"``.
    format
        ``"CSV"``, ``"GeoJSON"``, ``"GPKG"``, ``"ESRI Shapefile (zip)"``,
        ``"ESRI Shapefile"``, ``"KML"``, ``"KMZ"``, ``"GPX"``, ``"FlatGeobuf"``,
        ``"GeoParquet"``, ``"Parquet"`` (a plain table with lat/lon or WKT columns) or
        ``"CoT"`` (Cursor-on-Target XML).
    source_crs
        The file's CRS, e.g. ``"EPSG:32634"`` or
        ``"EPSG:4326 (assumed: GeoJSON is WGS84 by standard)"``.
    rows_read
        Rows (features) in the file, blank CSV lines not counted.
    rows_accepted
        Rows in the returned frame.
    rejected
        Every rejected row (``rows_read == rows_accepted + len(rejected)``).
    repaired
        Invalid polygons fixed with :func:`shapely.make_valid`.
    naive_times
        Detection times without a zone, taken as UTC.
    notes
        Sentences on how the file was read (columns used, reprojection, defaults applied).
    """

    source: str
    layer: str
    format: str
    source_crs: str
    rows_read: int
    rows_accepted: int
    rejected: list[RowError] = field(default_factory=list)
    repaired: int = 0
    naive_times: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def row_label(self) -> str:
        """``"row"`` for tables (CSV, Parquet), ``"feature"`` for vector files."""
        return "row" if self.format in ("CSV", "Parquet") else "feature"

    def summary(self, *, max_rejections: int = 5) -> str:
        """One paragraph for the user; lists the first ``max_rejections`` rejections.

        Examples
        --------
        >>> from geo.core.settings import SAMPLE_DIR
        >>> read_sensors(SAMPLE_DIR / "sensors.csv")[1].summary()[:40]
        'sensors.csv (CSV, CRS EPSG:4326 (assumed'
        """
        label = self.row_label
        text = (f"{self.source} ({self.format}, CRS {self.source_crs}): {self.rows_read} "
                f"{label}s read, {self.rows_accepted} accepted, {len(self.rejected)} rejected.")
        if self.repaired:
            text += f" {self.repaired} invalid polygon(s) repaired."
        if self.naive_times:
            text += f" {self.naive_times} time(s) without a time zone were taken as UTC."
        if self.notes:
            text += " Notes: " + "; ".join(n.rstrip(".") for n in self.notes) + "."
        if self.rejected:
            shown = self.rejected[:max_rejections]
            items = "; ".join(_short(label, e) for e in shown)
            more = len(self.rejected) - len(shown)
            text += f" Rejected: {items}" + (f"; and {more} more." if more else ".")
        return text

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready types."""
        return dataclasses.asdict(self)


def _short(label: str, err: RowError) -> str:
    where = f"{label} {err.row}"
    if err.field is not None:
        where += f", field '{err.field}'"
    return f"{where}: {err.reason}"


def _full(source: str, label: str, err: RowError) -> str:
    return f"{source} {_short(label, err)}"


# --------------------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------------------


def read_border(path: str | os.PathLike[str], *,
                source_name: str | None = None) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """Load the border as lines.

    Parameters
    ----------
    path
        File to read (any supported format; see the module docstring).
    source_name
        Name to show in messages and pick the format by when ``path`` is e.g. a temporary
        upload file; defaults to ``path``'s basename.

    Returns
    -------
    border : geopandas.GeoDataFrame
        EPSG:4326. Columns ``name`` (str, NaN if absent), ``src_row`` (int64), ``geometry``
        (LineString or MultiLineString, 2D).
    report : LoadReport

    Raises
    ------
    ValidationError
        Unusable file, e.g. polygons instead of lines ("use the polygon's boundary"), points,
        no features.

    Examples
    --------
    >>> from geo.core.settings import SAMPLE_DIR
    >>> border, report = read_border(SAMPLE_DIR / "border.geojson")
    >>> border.geom_type.tolist(), report.rows_accepted
    (['LineString'], 1)
    """
    return _load(path, "border", source_name, _border_columns)


def read_sectors(path: str | os.PathLike[str], *,
                 source_name: str | None = None) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """Load the partners' sectors (areas of responsibility) as polygons.

    Invalid polygons (e.g. a bow-tie) are repaired with :func:`shapely.make_valid`, keeping
    only the polygonal parts, and counted in ``report.repaired``. From GPX (which cannot hold
    polygons) closed tracks/routes are taken as polygons.

    Parameters
    ----------
    path
        File to read.
    source_name
        Name for messages and format detection; defaults to ``path``'s basename.

    Returns
    -------
    sectors : geopandas.GeoDataFrame
        EPSG:4326. Columns ``sector_id`` (str, unique), ``partner`` (str), ``name`` (str or
        NaN), ``src_row`` (int64), ``geometry`` (Polygon or MultiPolygon, valid, 2D).
    report : LoadReport

    Raises
    ------
    ValidationError
        Unusable file, e.g. no ``sector_id``/``partner`` column.

    Examples
    --------
    >>> from geo.core.settings import SAMPLE_DIR
    >>> sectors, report = read_sectors(SAMPLE_DIR / "sectors.geojson")
    >>> sectors["sector_id"].iloc[0], report.repaired
    ('LTU-1', 0)
    """
    return _load(path, "sectors", source_name, _sector_columns)


def read_sensors(path: str | os.PathLike[str], *,
                 source_name: str | None = None) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """Load the sensors as points with their coverage parameters.

    Parameters
    ----------
    path
        File to read.
    source_name
        Name for messages and format detection; defaults to ``path``'s basename.

    Returns
    -------
    sensors : geopandas.GeoDataFrame
        EPSG:4326, one row per sensor. Columns:

        - ``sensor_id`` (str, unique: later duplicates are rejected), ``partner`` (str)
        - ``kind`` (str, one of :data:`geo.core.settings.SENSOR_KINDS`)
        - ``range_m`` (float64 > 0), ``min_range_m`` (float64, 0 <= min < range; default 0)
        - ``azimuth_deg`` (float64 in [0, 360); NaN allowed only when ``fov_deg == 360``)
        - ``fov_deg`` (float64 in (0, 360]; default 360)
        - ``height_m`` (float64 >= 0; default :data:`geo.core.settings.DEFAULT_HEIGHT_M` by kind)
        - ``status`` (str, one of :data:`geo.core.settings.SENSOR_STATUSES`; default "active")
        - ``src_row`` (int64), ``geometry`` (Point, 2D)
    report : LoadReport
        Notes say how many defaults were applied.

    Raises
    ------
    ValidationError
        Unusable file, e.g. a missing ``sensor_id``, ``partner``, ``kind`` or ``range_m``
        column, or no valid sensor.

    Examples
    --------
    >>> from geo.core.settings import SAMPLE_DIR
    >>> sensors, report = read_sensors(SAMPLE_DIR / "sensors.csv")
    >>> sensors.loc[0, "sensor_id"], sensors.loc[0, "kind"], float(sensors.loc[0, "range_m"])
    ('LTU-CAM-001', 'camera', 3000.0)
    """
    return _load(path, "sensors", source_name, _sensor_columns)


def read_detections(path: str | os.PathLike[str], *,
                    source_name: str | None = None) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """Load detections (observed positions with a time) as points.

    Times are ISO 8601 text (``Z`` or offsets converted to UTC; without zone taken as UTC
    and counted in ``report.naive_times``), native date-times, Unix epoch numbers (seconds,
    or milliseconds when large) or military date-time groups (``091630ZJUL24``). Times
    before 1980-01-07 are rejected as clock errors (e.g. GPS logs stamped 1901-12-13, see
    :data:`EARLIEST_TIME`); times more than a day in the future are kept with a note.
    The time column may be called any of :data:`TIME_COLUMNS`.

    Parameters
    ----------
    path
        File to read; a 1,000,000-row CSV loads in well under 2 s.
    source_name
        Name for messages and format detection; defaults to ``path``'s basename.

    Returns
    -------
    detections : geopandas.GeoDataFrame
        EPSG:4326. Columns ``time`` (datetime64[us, UTC]), ``detection_id``, ``source``,
        ``partner``, ``class`` (str or NaN), ``confidence`` (float64 in [0, 1] or NaN),
        the markings ``access``, ``caveat`` and ``releasable_to`` (str or NaN;
        ``releasable_to`` is ``"ALL"`` or partner ids joined by commas, e.g. ``"SI,HR"``),
        ``hae_m`` (height above the ellipsoid), ``ce_m`` and ``le_m`` (circular and linear
        error) (float64 metres or NaN; CoT's ``9999999`` for "unknown" becomes NaN),
        ``src_row`` (int64), ``geometry`` (Point, 2D).
    report : LoadReport

    Raises
    ------
    ValidationError
        Unusable file, e.g. no time column.

    Examples
    --------
    >>> from geo.core.settings import SAMPLE_DIR
    >>> detections, report = read_detections(SAMPLE_DIR / "detections.csv")
    >>> report.naive_times, str(detections["time"].dt.tz)
    (0, 'UTC')
    """
    return _load(path, "detections", source_name, _detection_columns)


def read_detection_columns(path: str | os.PathLike[str], *, source_name: str | None = None
                           ) -> tuple[dict[str, Any], LoadReport]:
    """Load detections as :func:`read_detections` does, as columns instead of a frame.

    For bulk loading (:func:`geo.store.ingest_file`): the same rows, checks and report,
    without making a shapely point per row.

    Returns
    -------
    columns : dict
        The columns of :func:`read_detections` without ``geometry`` (text columns as pandas
        ``str`` Series, numbers as numpy arrays, ``time`` as a datetime64[us, UTC] Series),
        plus ``lon`` and ``lat`` (float64 degrees, EPSG:4326).
    report : LoadReport

    Examples
    --------
    >>> from geo.core.settings import SAMPLE_DIR
    >>> columns, report = read_detection_columns(SAMPLE_DIR / "detections.csv")
    >>> len(columns["lon"]) == report.rows_accepted
    True
    """
    frame, geometry, keep, report = _checked(path, "detections", source_name,
                                             _detection_columns)
    frame["lon"], frame["lat"] = geometry.coordinates(keep)
    return frame, report


# --------------------------------------------------------------------------------------
# Shared pipeline
# --------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """What the per-layer column builders need."""

    raw: RawLayer
    rej: Rejects
    cols: dict[str, str | None]
    notes: list[str]
    naive_times: int = 0


ColumnBuilder = Callable[[_Ctx], dict[str, Any]]


def _load(path: str | os.PathLike[str], layer: str, source_name: str | None,
          build: ColumnBuilder) -> tuple[gpd.GeoDataFrame, LoadReport]:
    frame, geometry, keep, report = _checked(path, layer, source_name, build)
    out = gpd.GeoDataFrame(frame, geometry=gpd.array.from_shapely(geometry.take(keep)),
                           crs="EPSG:4326")
    return out, report


def _checked(path: str | os.PathLike[str], layer: str, source_name: str | None,
             build: ColumnBuilder) -> tuple[dict[str, Any], Geometry, np.ndarray, LoadReport]:
    """Read and check a file: the kept rows' columns, the geometry, which rows, the report."""
    path = Path(path)
    source = Path(source_name).name if source_name else path.name
    raw = read_raw(path, layer_kind=layer, source=source)
    n = len(raw.attrs)
    if n == 0 and not raw.dropped:
        raise ValidationError(describe(
            source, f"the file contains no {raw.row_label}s", expected=f"at least one {layer} "
            f"{raw.row_label}", got=f"0 {raw.row_label}s", fix="Check that the right file/layer "
            "was exported"))
    rej = Rejects(n)
    rej.reject_rows(raw.rejects)
    cols = _resolve_columns(raw, layer)
    geometry: Geometry = build_geometry(raw, FAMILY_OF[layer], rej)
    ctx = _Ctx(raw=raw, rej=rej, cols=cols, notes=list(raw.notes) + geometry.notes)
    data = build(ctx)
    keep = rej.alive
    errors = [RowError(int(r), f, why) for r, f, why in raw.dropped]
    errors += [RowError(int(raw.src_row[i]), f, why) for i, f, why in rej.found]
    errors.sort(key=lambda e: int(e.row))
    report = LoadReport(
        source=source, layer=layer, format=raw.format, source_crs=geometry.source_crs,
        rows_read=n + len(raw.dropped), rows_accepted=int(keep.sum()), rejected=errors,
        repaired=geometry.repaired, naive_times=ctx.naive_times, notes=ctx.notes,
    )
    if not keep.any():
        shown = "; ".join(_full(source, report.row_label, e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ValidationError(
            f"{source}: none of the {report.rows_read} {report.row_label}s can be used. "
            f"{shown}{more}"
        )
    frame: dict[str, Any] = {}
    every = bool(keep.all())  # most files: no copy of every column
    for name, values in data.items():
        if isinstance(values, pd.Series):
            frame[name] = (values if every else values[keep]).reset_index(drop=True)
        else:
            frame[name] = np.asarray(values) if every else np.asarray(values)[keep]
    frame["src_row"] = (raw.src_row if every else raw.src_row[keep]).astype(np.int64)
    return frame, geometry, keep, report


_REQUIRED: dict[str, tuple[str, ...]] = {
    "border": (),
    "sectors": ("sector_id", "partner"),
    "sensors": ("sensor_id", "partner", "kind", "range_m"),
    "detections": (),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {
    "border": ("name",),
    "sectors": ("name",),
    "sensors": ("min_range_m", "azimuth_deg", "fov_deg", "height_m", "status"),
    "detections": ("detection_id", "source", "partner", "class", "confidence", "access",
                   "caveat", "releasable_to", "hae_m", "ce_m", "le_m"),
}
#: Columns that are never the file's own data (KML/GPX bookkeeping), ignored silently.
_FORMAT_COLUMNS = frozenset(
    "id description timestamp begin end altitudemode tessellate extrude visibility draworder "
    "icon ele magvar geoidheight cmt desc sym fix sat hdop vdop pdop ageofdgpsdata dgpsid "
    "number route_fid route_point_id track_fid track_seg_id track_seg_point_id course speed "
    "link1_href link1_text link1_type link2_href link2_text link2_type fid".split()
)


def _resolve_columns(raw: RawLayer, layer: str) -> dict[str, str | None]:
    """Map each field to a column of ``raw.attrs`` (case-insensitive, aliases, notes)."""
    by_norm: dict[str, list[str]] = {}
    for c in raw.attrs.columns:
        by_norm.setdefault(normalise_name(c), []).append(str(c))

    used: set[str] = set()

    shapefile = raw.kind == "shp"

    def matches(alias: str) -> list[str]:
        found = list(by_norm.get(alias, []))
        if shapefile and len(alias) > 10:  # dBASE cuts field names to 10 characters
            found += by_norm.get(alias[:10], [])
        return found

    def pick(names: tuple[str, ...]) -> str | None:
        """First column matching ``names`` (in order) that has values, else first match."""
        candidates = [c for alias in names for c in matches(alias) if c not in used]
        with_values = [c for c in candidates if raw.attrs[c].notna().any()]
        return next(iter(with_values or candidates), None)

    cols: dict[str, str | None] = {}
    if layer == "detections":
        present = tuple(n for n in TIME_COLUMNS if n in by_norm)
        tcol = pick(present)
        if tcol is None:
            shown = ", ".join(repr(c) for c in raw.attrs.columns[:20]) or "none"
            raise ValidationError(describe(
                raw.source, "no time column", field="time",
                expected="a column named one of " + ", ".join(TIME_COLUMNS),
                got=f"columns {shown}", fix="Add a 'time' column with ISO 8601 times such "
                "as 2024-05-01T12:00:00Z"))
        cols["time"] = tcol
        used.add(tcol)
        others = [c for n in present for c in by_norm[n] if c != tcol]
        raw.notes.append(f"time read from column {tcol!r}" + (
            f" (also found {', '.join(repr(c) for c in others)}, not used)" if others else ""))
    for fld in _REQUIRED[layer] + _OPTIONAL[layer]:
        col = pick(ALIASES[fld])
        if col is None and fld in ("sensor_id", "sector_id") and raw.kind in ("kml", "kmz",
                                                                             "gpx"):
            col = pick(("name",))
            if col is not None:
                raw.notes.append(f"{fld} taken from the {raw.format} feature name ({col!r})")
        elif col is not None and normalise_name(col) != fld and raw.attrs[col].notna().any():
            raw.notes.append(f"{fld} read from column {col!r}")
        cols[fld] = col
        if col is not None:
            used.add(col)
    missing = [f for f in _REQUIRED[layer] if cols.get(f) is None]
    if missing:
        shown = ", ".join(repr(c) for c in raw.attrs.columns[:25]) or "none"
        fld = missing[0]
        raise ValidationError(describe(
            raw.source, f"required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} missing", field=fld,
            expected=f"a column named {fld!r} (or {', '.join(ALIASES[fld][1:]) or 'no alias'})",
            got=f"columns {shown}", fix=f"Add the {', '.join(missing)} column(s) to the file"))
    ignored = [str(c) for c in raw.attrs.columns if c not in used
               and normalise_name(c) not in _FORMAT_COLUMNS
               and (raw.lonlat_cols is None or c not in raw.lonlat_cols)
               and raw.attrs[c].notna().any()]
    if ignored:
        raw.notes.append("ignored columns not used by Limes: " + ", ".join(ignored[:15])
                         + (" ..." if len(ignored) > 15 else ""))
    return cols


# --------------------------------------------------------------------------------------
# Per-layer columns
# --------------------------------------------------------------------------------------


def _text_col(ctx: _Ctx, fld: str) -> pd.Series:
    col = ctx.cols.get(fld)
    if col is None:  # all missing (built from Arrow nulls: 200x faster than from NaNs)
        return pd.Series(pd.array(pa.nulls(len(ctx.raw.attrs), pa.large_string()), dtype="str"))
    return to_text(ctx.raw.attrs[col])


def _required_text(ctx: _Ctx, fld: str, what: str) -> pd.Series:
    values = _text_col(ctx, fld)
    ctx.rej.reject(values.isna().to_numpy(), ctx.cols[fld] or fld,
                   reason("the value is missing", expected=what, got=None,
                          fix=f"Fill in {fld} for every row"))
    return values


def _number_col(ctx: _Ctx, fld: str, what: str) -> np.ndarray:
    """Float column (NaN if absent); values that are not numbers reject the row."""
    col = ctx.cols.get(fld)
    n = len(ctx.raw.attrs)
    if col is None:
        return np.full(n, np.nan)
    values, bad = to_float(ctx.raw.attrs[col])
    series = ctx.raw.attrs[col]
    ctx.rej.reject(bad, col, lambda i: reason("not a number", expected=what,
                                              got=fmt_value(series.iloc[i])))
    return values


def _reject_duplicates(ctx: _Ctx, ids: pd.Series, fld: str) -> None:
    alive = ctx.rej.alive
    live = ids[alive]
    dup = live.duplicated(keep="first")
    if not dup.any():
        return
    kept = live[~dup]
    first_row = dict(zip(kept, ctx.raw.src_row[kept.index.to_numpy()].tolist(), strict=True))
    mask = np.zeros(len(ids), dtype=bool)
    mask[dup[dup].index.to_numpy()] = True
    label = ctx.raw.row_label
    ctx.rej.reject(mask, ctx.cols[fld] or fld, lambda i: reason(
        f"duplicate {fld}", expected=f"each {fld} once", got=ids.iloc[i],
        fix=f"It is already used in {label} {first_row.get(ids.iloc[i], '?')}; give this "
        f"{label} its own {fld} or remove it"))


def _border_columns(ctx: _Ctx) -> dict[str, Any]:
    return {"name": _text_col(ctx, "name")}


def _sector_columns(ctx: _Ctx) -> dict[str, Any]:
    sector_id = _required_text(ctx, "sector_id", "a sector id")
    partner = _required_text(ctx, "partner", "the partner responsible for the sector")
    _reject_duplicates(ctx, sector_id, "sector_id")
    return {"sector_id": sector_id, "partner": partner, "name": _text_col(ctx, "name")}


def _sensor_columns(ctx: _Ctx) -> dict[str, Any]:
    # The checks run in this order: a row is reported with the first problem found.
    sensor_id = _required_text(ctx, "sensor_id", "a sensor id")
    partner = _required_text(ctx, "partner", "the partner operating the sensor")
    kind = _sensor_kind(ctx)
    range_m = _sensor_range(ctx)
    min_range, no_min = _sensor_min_range(ctx, range_m)
    fov, no_fov = _sensor_fov(ctx)
    azimuth = _sensor_azimuth(ctx, fov)
    status, no_status = _sensor_status(ctx)
    height, no_height = _sensor_height(ctx, kind)
    _reject_duplicates(ctx, sensor_id, "sensor_id")
    _note_sensor_defaults(ctx, kind, no_height=no_height, no_min=no_min, no_fov=no_fov,
                          no_status=no_status)
    return {
        "sensor_id": sensor_id, "partner": partner, "kind": kind.astype("str"),
        "range_m": range_m, "min_range_m": min_range, "azimuth_deg": azimuth, "fov_deg": fov,
        "height_m": height, "status": status.astype("str"),
    }


def _sensor_kind(ctx: _Ctx) -> pd.Series:
    """``kind`` in lower case with underscores; missing or unknown kinds reject the row."""
    kcol = ctx.cols["kind"] or "kind"
    kind_raw = _text_col(ctx, "kind")
    kind = kind_raw.str.lower().str.replace(r"[\s\-]+", "_", regex=True)
    allowed = ", ".join(settings.SENSOR_KINDS)
    ctx.rej.reject(kind.isna().to_numpy(), kcol, reason("the value is missing",
                                                        expected=f"one of {allowed}", got=None))
    ctx.rej.reject((~kind.isin(settings.SENSOR_KINDS)).to_numpy(), kcol,
                   lambda i: reason("unknown sensor kind", expected=f"one of {allowed}",
                                    got=kind_raw.iloc[i], fix="Use one of the listed kinds "
                                    "(upper/lower case does not matter)"))
    return kind


def _sensor_range(ctx: _Ctx) -> np.ndarray:
    """``range_m``: required, a positive number of metres."""
    rcol = ctx.cols["range_m"] or "range_m"
    range_m = _number_col(ctx, "range_m", "a range in metres > 0")
    ctx.rej.reject(np.isnan(range_m), rcol, reason("the value is missing",
                                                   expected="a range in metres > 0", got=None))
    ctx.rej.reject(~(range_m > 0) | ~np.isfinite(range_m), rcol, lambda i: reason(
        "the range must be positive", expected="a number of metres > 0",
        got=fmt_value(range_m[i])))
    return range_m


def _sensor_min_range(ctx: _Ctx, range_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``min_range_m`` (0 where not given) and where it was not given."""
    min_range = _number_col(ctx, "min_range_m", "a minimum range in metres >= 0")
    no_min = np.isnan(min_range)
    min_range = np.where(np.isnan(min_range), 0.0, min_range)
    mcol = ctx.cols["min_range_m"] or "min_range_m"
    ctx.rej.reject(~(min_range >= 0) | ~np.isfinite(min_range), mcol, lambda i: reason(
        "the minimum range must be >= 0", expected="a number of metres >= 0",
        got=fmt_value(min_range[i])))
    ctx.rej.reject(min_range >= range_m, mcol, lambda i: reason(
        "the minimum range must be smaller than range_m", expected=f"less than range_m "
        f"{fmt_value(range_m[i])}", got=fmt_value(min_range[i])))
    return min_range, no_min


def _sensor_fov(ctx: _Ctx) -> tuple[np.ndarray, np.ndarray]:
    """``fov_deg`` in (0, 360] (360 where not given) and where it was not given."""
    fov = _number_col(ctx, "fov_deg", "a field of view in degrees")
    no_fov = np.isnan(fov)
    fov = np.where(np.isnan(fov), 360.0, fov)
    fcol = ctx.cols["fov_deg"] or "fov_deg"
    ctx.rej.reject(~((fov > 0) & (fov <= 360)), fcol, lambda i: reason(
        "field of view out of range", expected="degrees in (0, 360]", got=fmt_value(fov[i]),
        fix="Use 360 for an all-round sensor"))
    return fov, no_fov


def _sensor_azimuth(ctx: _Ctx, fov: np.ndarray) -> np.ndarray:
    """``azimuth_deg`` in [0, 360); required unless the sensor looks all round."""
    azimuth = _number_col(ctx, "azimuth_deg", "an azimuth in degrees")
    acol = ctx.cols["azimuth_deg"] or "azimuth_deg"
    ctx.rej.reject(np.isinf(azimuth), acol, reason("not a finite number",
                                                   expected="degrees clockwise from north",
                                                   got="infinity"))
    ctx.rej.reject(np.isnan(azimuth) & (fov < 360), acol, lambda i: reason(
        "an azimuth is required when fov_deg < 360", expected="degrees clockwise from north",
        got=None, fix=f"Give the direction the sensor looks at (its fov_deg is "
        f"{fmt_value(fov[i])})"))
    with np.errstate(invalid="ignore"):
        return np.mod(azimuth, 360.0)


def _sensor_status(ctx: _Ctx) -> tuple[pd.Series, np.ndarray]:
    """``status`` in lower case ("active" where not given) and where it was not given."""
    status_raw = _text_col(ctx, "status")
    no_status = status_raw.isna().to_numpy()
    status = status_raw.str.lower().fillna("active")
    statuses = ", ".join(settings.SENSOR_STATUSES)
    ctx.rej.reject((~status.isin(settings.SENSOR_STATUSES)).to_numpy(),
                   ctx.cols["status"] or "status",
                   lambda i: reason("unknown status", expected=f"one of {statuses}",
                                    got=status_raw.iloc[i]))
    return status, no_status


def _sensor_height(ctx: _Ctx, kind: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``height_m`` >= 0 (the default of the sensor's kind where not given), and where not."""
    height = _number_col(ctx, "height_m", "a height in metres >= 0")
    defaults = kind.map(settings.DEFAULT_HEIGHT_M).to_numpy(dtype=float, na_value=np.nan)
    no_height = np.isnan(height)
    height = np.where(no_height, defaults, height)
    ctx.rej.reject(~(height >= 0) | ~np.isfinite(height), ctx.cols["height_m"] or "height_m",
                   lambda i: reason("the height must be >= 0", expected="metres above ground",
                                    got=fmt_value(height[i])))
    return height, no_height


def _note_sensor_defaults(ctx: _Ctx, kind: pd.Series, *, no_height: np.ndarray,
                          no_min: np.ndarray, no_fov: np.ndarray, no_status: np.ndarray) -> None:
    """Say in the report how many accepted sensors got a default value, field by field."""
    alive = ctx.rej.alive
    n_height_default = int((no_height & alive).sum())
    if n_height_default:
        used = kind[alive & no_height].value_counts()
        parts = ", ".join(f"{k} {settings.DEFAULT_HEIGHT_M[k]:g} m" for k in used.index)
        ctx.notes.append(f"height_m not given for {n_height_default} sensor(s): used the "
                         f"default height by kind ({parts})")
    for count, what in ((int((no_min & alive).sum()),
                         "min_range_m not given for {} sensor(s): 0 m used"),
                        (int((no_fov & alive).sum()),
                         "fov_deg not given for {} sensor(s): 360° (all-round) used"),
                        (int((no_status & alive).sum()),
                         "status not given for {} sensor(s): 'active' used")):
        if count:
            ctx.notes.append(what.format(count))


def _detection_columns(ctx: _Ctx) -> dict[str, Any]:
    rej = ctx.rej
    tcol = ctx.cols["time"]
    assert tcol is not None
    raw_times = ctx.raw.attrs[tcol]
    times: Times = to_time(raw_times)
    if times.how:
        ctx.notes.append(times.how)
    values = times.values
    rej.reject(times.bad, tcol, lambda i: reason(
        "not a time", expected="ISO 8601 such as 2024-05-01T12:00:00Z",
        got=fmt_value(raw_times.iloc[i]), fix="Write times as YYYY-MM-DDTHH:MM:SSZ"))
    missing = values.isna().to_numpy()
    rej.reject(missing, tcol, reason("the time is missing", expected="a time such as "
                                     "2024-05-01T12:00:00Z", got=None))
    early = (values < EARLIEST_TIME).fillna(False).to_numpy(dtype=bool)
    rej.reject(early, tcol, lambda i: reason(
        "implausible time: before 1980-01-07, most likely an unset device clock (1901-12-13, "
        "1970-01-01 and 1980-01-06 are typical reset values)",
        expected="a time from 1980-01-07 on", got=values.iloc[i].isoformat(),
        fix="Correct the device's clock or the times in the file"))
    future = rej.alive & (values > pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).fillna(
        False).to_numpy(dtype=bool)
    if future.any():
        ctx.notes.append(f"{int(future.sum())} time(s) are in the future (kept)")
    ctx.naive_times = int((times.naive & rej.alive).sum())

    ccol = ctx.cols["confidence"] or "confidence"
    conf = _number_col(ctx, "confidence", "a confidence between 0 and 1")

    def why_conf(i: int) -> str:
        v = fmt_value(conf[i])
        fix = ("It looks like a percentage: divide by 100" if 1 < conf[i] <= 100
               else "Use a value from 0 (unsure) to 1 (certain)")
        return reason("confidence out of range", expected="a number from 0 to 1", got=v,
                      fix=fix)

    rej.reject(~np.isnan(conf) & ~((conf >= 0) & (conf <= 1)), ccol, why_conf)
    return {
        "time": values, "detection_id": _text_col(ctx, "detection_id"),
        "source": _text_col(ctx, "source"), "partner": _text_col(ctx, "partner"),
        "class": _text_col(ctx, "class"), "confidence": conf,
        "access": _text_col(ctx, "access"), "caveat": _text_col(ctx, "caveat"),
        "releasable_to": _releasable_to(_text_col(ctx, "releasable_to")),
        **_position_errors(ctx),
    }


def _releasable_to(values: pd.Series) -> pd.Series:
    """``"ALL"``, or the partner ids as in the file joined by commas ("SI HR" -> "SI,HR")."""
    if not values.notna().any():
        return values
    ids = values.str.replace(SEPARATORS, ",", regex=True).str.strip(",")
    ids = ids.mask(ids.str.upper() == "ALL", "ALL")
    return ids.mask(ids == "").astype("str")


def _position_errors(ctx: _Ctx) -> dict[str, np.ndarray]:
    """``hae_m``, ``ce_m`` and ``le_m``: metres, NaN where absent or unknown (CoT 9999999)."""
    out: dict[str, np.ndarray] = {}
    unknown = 0
    for fld, what in (("hae_m", "a height above the ellipsoid in metres"),
                      ("ce_m", "a circular error in metres >= 0"),
                      ("le_m", "a linear error in metres >= 0")):
        if ctx.cols.get(fld) is None:
            out[fld] = np.full(len(ctx.raw.attrs), np.nan)
            continue
        metres = _number_col(ctx, fld, what)
        big = np.abs(metres) >= UNKNOWN_METRES
        unknown += int((big & ctx.rej.alive).sum())
        metres = np.where(big | ~np.isfinite(metres), np.nan, metres)
        if fld != "hae_m":
            col = ctx.cols[fld] or fld
            ctx.rej.reject(metres < 0, col, _negative(metres, what))
        out[fld] = metres
    if unknown:
        ctx.notes.append(f"{unknown} hae/ce/le value(s) of 9999999 or more mean 'unknown' "
                         "(CoT): left empty")
    return out


def _negative(metres: np.ndarray, what: str) -> Callable[[int], str]:
    """The reason for the row at a position whose error in ``metres`` is negative."""
    return lambda i: reason("an error cannot be negative", expected=what,
                            got=fmt_value(metres[i]))
