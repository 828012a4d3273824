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
for underscores, and through a few aliases (:data:`geo.inputs.checks.columns.ALIASES`); a
shapefile's names cut to 10 characters by dBASE (``min_range_``) are recognised.

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
problem: larger than :data:`geo.core.settings.MAX_UPLOAD_MB`; a GDAL virtual dataset (VRT,
GDALG, WMS description), whatever its extension; content that does not match the extension; XML
(KML, GPX, CoT) with a DOCTYPE or entities; a zip or KMZ with too many entries, entries that
would expand past :data:`geo.core.settings.MAX_UNZIPPED_BYTES` or
:data:`geo.core.settings.MAX_ZIP_RATIO`, or ``..``, absolute or symbolic-link entries; a
shapefile without its .shx, .dbf or .prj; a GeoPackage that is more than plain tables (a view,
which may return rows without end, a virtual table, a computed column, a trigger of its own:
read with :mod:`sqlite3` before GDAL opens it); more rows than
:data:`geo.core.settings.MAX_ROWS_PER_FILE` or values decoding past
:data:`geo.core.settings.MAX_DECODED_BYTES` (e.g. Parquet dictionaries), counted before decoding
where the format says (see :mod:`geo.inputs.guard`). Uploads are read with
:mod:`geo.inputs.bounded`, in a child process with memory and time limits, for what no check
foresees.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.core.errors import ValidationError, describe
from geo.inputs.checks import Geometry, Rejects, build_geometry
from geo.inputs.checks.columns import resolve_columns
from geo.inputs.checks.fields import (
    FieldCheck,
    FieldContext,
    border_fields,
    detection_fields,
    sector_fields,
    sensor_fields,
)
from geo.inputs.readers import FAMILY_OF, read_raw

__all__ = [
    "LoadReport",
    "RowError",
    "read_border",
    "read_detection_columns",
    "read_detections",
    "read_sectors",
    "read_sensors",
]


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
        text = (
            f"{self.source} ({self.format}, CRS {self.source_crs}): {self.rows_read} "
            f"{label}s read, {self.rows_accepted} accepted, {len(self.rejected)} rejected."
        )
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


def read_border(
    path: str | os.PathLike[str], *, source_name: str | None = None
) -> tuple[gpd.GeoDataFrame, LoadReport]:
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
    return _load(path, "border", source_name, border_fields)


def read_sectors(
    path: str | os.PathLike[str], *, source_name: str | None = None
) -> tuple[gpd.GeoDataFrame, LoadReport]:
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
    return _load(path, "sectors", source_name, sector_fields)


def read_sensors(
    path: str | os.PathLike[str], *, source_name: str | None = None
) -> tuple[gpd.GeoDataFrame, LoadReport]:
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
    return _load(path, "sensors", source_name, sensor_fields)


def read_detections(
    path: str | os.PathLike[str], *, source_name: str | None = None
) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """Load detections (observed positions with a time) as points.

    Times are ISO 8601 text (``Z`` or offsets converted to UTC; without zone taken as UTC
    and counted in ``report.naive_times``), native date-times, Unix epoch numbers (seconds,
    or milliseconds when large) or military date-time groups (``091630ZJUL24``). Times
    before 1980-01-07 are rejected as clock errors (e.g. GPS logs stamped 1901-12-13, see
    :data:`geo.inputs.checks.fields.EARLIEST_TIME`); times more than a day in the future
    are kept with a note. The time column may be called any of
    :data:`geo.inputs.checks.columns.TIME_COLUMNS`.

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
    return _load(path, "detections", source_name, detection_fields)


def read_detection_columns(
    path: str | os.PathLike[str], *, source_name: str | None = None
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
    frame, geometry, keep, report = _checked(path, "detections", source_name, detection_fields)
    frame["lon"], frame["lat"] = geometry.coordinates(keep)
    return frame, report


# --------------------------------------------------------------------------------------
# Shared pipeline
# --------------------------------------------------------------------------------------


def _load(
    path: str | os.PathLike[str], layer: str, source_name: str | None, build: FieldCheck
) -> tuple[gpd.GeoDataFrame, LoadReport]:
    """Read and check a file into a frame of points, lines or polygons, and its report."""
    frame, geometry, keep, report = _checked(path, layer, source_name, build)
    out = gpd.GeoDataFrame(
        frame, geometry=gpd.array.from_shapely(geometry.take(keep)), crs="EPSG:4326"
    )
    return out, report


def _checked(
    path: str | os.PathLike[str], layer: str, source_name: str | None, build: FieldCheck
) -> tuple[dict[str, Any], Geometry, np.ndarray, LoadReport]:
    """Read and check a file: the kept rows' columns, the geometry, which rows, the report."""
    path = Path(path)
    source = Path(source_name).name if source_name else path.name
    raw = read_raw(path, layer_kind=layer, source=source)
    n = len(raw.attrs)
    if n == 0 and not raw.dropped:
        raise ValidationError(
            describe(
                source,
                f"the file contains no {raw.row_label}s",
                expected=f"at least one {layer} {raw.row_label}",
                got=f"0 {raw.row_label}s",
                fix="Check that the right file/layer was exported",
            )
        )
    rej = Rejects(n)
    rej.reject_rows(raw.rejects)
    cols = resolve_columns(raw, layer)
    geometry: Geometry = build_geometry(raw, FAMILY_OF[layer], rej)
    ctx = FieldContext(raw=raw, rej=rej, cols=cols, notes=list(raw.notes) + geometry.notes)
    data = build(ctx)
    keep = rej.alive
    errors = [RowError(int(r), f, why) for r, f, why in raw.dropped]
    errors += [RowError(int(raw.src_row[i]), f, why) for i, f, why in rej.found]
    errors.sort(key=lambda e: int(e.row))
    report = LoadReport(
        source=source,
        layer=layer,
        format=raw.format,
        source_crs=geometry.source_crs,
        rows_read=n + len(raw.dropped),
        rows_accepted=int(keep.sum()),
        rejected=errors,
        repaired=geometry.repaired,
        naive_times=ctx.naive_times,
        notes=ctx.notes,
    )
    if not keep.any():
        shown = "; ".join(_full(source, report.row_label, e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ValidationError(
            f"{source}: none of the {report.rows_read} {report.row_label}s can be used. "
            f"{shown}{more}"
        )
    return _kept(data, raw.src_row, keep), geometry, keep, report


def _kept(data: dict[str, Any], src_row: np.ndarray, keep: np.ndarray) -> dict[str, Any]:
    """The rows in ``keep`` of the checked columns, with their ``src_row``."""
    frame: dict[str, Any] = {}
    every = bool(keep.all())  # most files: no copy of every column
    for name, values in data.items():
        if isinstance(values, pd.Series):
            frame[name] = (values if every else values[keep]).reset_index(drop=True)
        else:
            frame[name] = np.asarray(values) if every else np.asarray(values)[keep]
    frame["src_row"] = (src_row if every else src_row[keep]).astype(np.int64)
    return frame
