"""Vectorised value checks shared by the loaders in :mod:`geo.inputs.loader` (private).

Every check works on whole columns (numpy/pandas/pyarrow). Only rows that fail get a Python
object (a reason string), so a clean million-row file costs a handful of array operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely

from geo.core.errors import ValidationError, describe
from geo.inputs.formats import Family, RawLayer, is_wgs84, no_gc

#: Share of rows out of the coordinate range above which a file is judged unusable.
MOSTLY: float = 0.5

_TYPE_NAMES = {
    0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
    5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection",
}

BORDER_AS_LINES_FIX = (
    "Give the border as lines: use the polygon's boundary (QGIS 'Polygons to lines', "
    "shapely .boundary) or export the border as LineString"
)


def reason(problem: str, *, expected: str | None = None, got: object = None,
           fix: str | None = None) -> str:
    """The part of a :func:`geo.core.errors.describe` message after the file/row/field."""
    return describe("", problem, expected=expected, got=got, fix=fix)[2:]


def fmt_value(value: object) -> object:
    """A cell value as shown in messages (numpy scalars as Python values)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Rejects:
    """Rows rejected so far; one entry per row, the first problem found.

    Attributes
    ----------
    alive
        Rows still accepted.
    found
        ``(position, field, reason)`` per rejected row.
    """

    n_rows: int
    alive: np.ndarray = field(init=False)
    found: list[tuple[int, str | None, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.alive = np.ones(self.n_rows, dtype=bool)

    def reject(self, mask: np.ndarray, field_name: str | None,
               why: str | Callable[[int], str]) -> None:
        """Reject the still-alive rows in ``mask``; ``why`` may build a reason per position."""
        new = np.asarray(mask, dtype=bool) & self.alive
        if not new.any():
            return
        for i in np.flatnonzero(new):
            self.found.append((int(i), field_name, why(int(i)) if callable(why) else why))
        self.alive &= ~new

    def reject_rows(self, rows: list[tuple[int, str | None, str]]) -> None:
        """Reject rows given as ``(position, field, reason)`` (first reason per row wins)."""
        for pos, field_name, why in rows:
            if self.alive[pos]:
                self.found.append((int(pos), field_name, why))
                self.alive[pos] = False


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


def to_text(values: pd.Series) -> pd.Series:
    """Text column (pandas ``str`` dtype): stripped, empty -> NaN, integral floats as '7'."""
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype(object)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        num = pd.to_numeric(values, errors="coerce")
        finite = num.dropna()
        if len(finite) and np.all(np.mod(finite.to_numpy(dtype=float), 1) == 0):
            values = num.astype("Int64")
    s = values.astype("str")
    if _padded(s):
        s = s.str.strip()
    empty = s == ""
    return (s.mask(empty) if empty.any() else s).reset_index(drop=True)


#: Bytes a value may start or end with that ``str.strip`` could remove: ASCII whitespace
#: and the lead/continuation bytes of UTF-8 characters (Unicode spaces such as U+00A0).
_MAY_STRIP = np.zeros(256, dtype=bool)
_MAY_STRIP[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_MAY_STRIP[128:] = True


def _padded(values: pd.Series) -> bool:
    """Whether any value may start or end with whitespace (False: stripping changes nothing).

    Looks at the first and last byte of each value in the Arrow buffers: a few milliseconds
    for a million values, where stripping them costs tens.
    """
    try:
        chunks = pa.chunked_array(pa.array(values)).chunks
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return True
    for chunk in chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True
        _, offsets_buf, data_buf = chunk.buffers()
        if data_buf is None:
            continue
        offsets = np.frombuffer(offsets_buf, dtype=np.int64 if pa.types.is_large_string(
            chunk.type) else np.int32)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8)
        filled = offsets[1:] > offsets[:-1]  # nulls and "" have no bytes
        if _MAY_STRIP[data[offsets[:-1][filled]]].any() or \
                _MAY_STRIP[data[offsets[1:][filled] - 1]].any():
            return True
    return False


def to_float(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from a column that may hold text; return (float64 values, unparseable mask)."""
    n = len(values)
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.full(n, np.nan), values.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan), \
            np.zeros(n, dtype=bool)
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        out = _cast_float(values)  # plain numbers as text (a CSV column): as they are
        if out is not None:
            return out, np.zeros(n, dtype=bool)
    text = to_text(values)
    out = _cast_float(text)
    if out is not None:
        return out, np.zeros(n, dtype=bool)
    num = pd.to_numeric(text, errors="coerce")
    comma = num.isna() & text.str.fullmatch(r"[+-]?\d+,\d+").fillna(False).astype(bool)
    if comma.any():
        num[comma] = pd.to_numeric(text[comma].str.replace(",", ".", regex=False))
    bad = text.notna() & num.isna() & (text.str.lower() != "nan")
    return num.to_numpy(dtype=float, na_value=np.nan), bad.to_numpy(dtype=bool)


def _cast_float(text: pd.Series) -> np.ndarray | None:
    """float64 of text that is all plain numbers (or missing), else None."""
    try:
        out = pc.cast(pa.array(text), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return np.asarray(out, dtype=float)


@dataclass
class Times:
    """Parsed times: values (datetime64[us, UTC]), unparseable and zone-less masks, a note."""

    values: pd.Series
    bad: np.ndarray
    naive: np.ndarray
    how: str | None = None


_UNIT = "us"
#: Strict ISO 8601 date or date-time, with or without a zone (what Arrow parses).
_ISO = (r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
        r"(?:Z|[+-]\d{2}(?::?\d{2})?)?$")
_ZONE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|(?:UTC|GMT)|[+-]\d{2}(?::?\d{2})?)$"
_DTG = (r"^(?P<d>\d{2})(?P<h>\d{2})(?P<m>\d{2})(?P<s>\d{2})?\s*(?P<z>[A-IK-Za-ik-z])\s*"
        r"(?P<mon>[A-Za-z]{3})\s*(?P<y>\d{4}|\d{2})$")
_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}


def _zone_hours(letter: str) -> float:
    """Military time-zone letter -> UTC offset in hours (Z = 0, A-M east, N-Y west)."""
    letter = letter.upper()
    if letter == "Z":
        return 0.0
    if "A" <= letter <= "I":
        return float(ord(letter) - ord("A") + 1)
    if "K" <= letter <= "M":
        return float(ord(letter) - ord("K") + 10)
    return -float(ord(letter) - ord("N") + 1)


def to_time(values: pd.Series) -> Times:
    """Parse a time column to UTC; times without a zone are taken as UTC and flagged naive.

    Strict ISO 8601 text is parsed by Arrow, vectorised (values with ``Z``/offsets and
    values without a zone in two groups). Only the values Arrow cannot take go through
    pandas' ISO 8601 parser (GDAL's ``2024/05/01 12:00:00+00`` form, ``UTC`` suffixes, ...)
    and then military date-time groups (``091630ZJUL24``). A column of plain numbers is
    Unix epoch seconds (milliseconds if the values are large).
    """
    n = len(values)
    none = np.zeros(n, dtype=bool)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return Times(values.dt.tz_convert("UTC").dt.as_unit(_UNIT).reset_index(drop=True),
                     none, none)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return Times(values.dt.tz_localize("UTC").dt.as_unit(_UNIT).reset_index(drop=True),
                     none, values.notna().to_numpy())
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return _epoch(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float,
                                                                       na_value=np.nan))
    text = to_text(values)
    arr = pa.array(text, type=pa.string())
    try:  # the common case: every value ISO 8601 with a zone
        return Times(pc.cast(arr, pa.timestamp(_UNIT, tz="UTC")).to_pandas(), none, none)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    present = text.notna().to_numpy()
    if present.any() and text[present].str.fullmatch(r"[+-]?\d+(?:\.\d+)?").all():
        num, _ = to_float(text)
        return _epoch(num)
    out = np.full(n, np.datetime64("NaT"), dtype=f"datetime64[{_UNIT}]")
    naive = np.zeros(n, dtype=bool)
    has_zone = pc.fill_null(pc.match_substring_regex(arr, _ZONE), False)
    iso = pc.fill_null(pc.match_substring_regex(arr, _ISO), False)
    done = np.zeros(n, dtype=bool)
    for group, target in ((pc.and_(iso, has_zone), pa.timestamp(_UNIT, tz="UTC")),
                          (pc.and_(iso, pc.invert(has_zone)), pa.timestamp(_UNIT))):
        try:
            parsed = pc.cast(pc.filter(arr, group), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue  # e.g. a month 13 somewhere: leave the group to pandas
        mask = group.to_numpy(zero_copy_only=False)
        out[mask] = pc.cast(parsed, pa.timestamp(_UNIT)).to_numpy(zero_copy_only=False)
        done |= mask
        naive |= mask & (target.tz is None)
    how = None
    rest = present & ~done
    if rest.any():
        sub = text[rest]
        norm = sub.str.replace(r"^(\d{4})/(\d{2})/(\d{2})", r"\1-\2-\3", regex=True)
        norm = norm.str.replace(r"\s*(?:UTC|GMT)$", "Z", regex=True)
        parsed_rest = pd.to_datetime(norm, format="ISO8601", utc=True, errors="coerce")
        zone_rest = norm.str.contains(_ZONE, regex=True).fillna(False).astype(bool)
        naive[rest] = (parsed_rest.notna() & ~zone_rest).to_numpy(dtype=bool)
        todo = parsed_rest.isna().to_numpy()
        if todo.any():
            dtg = _parse_dtg(sub[todo])
            if dtg.notna().any():
                parsed_rest = parsed_rest.copy()
                parsed_rest[todo] = dtg.to_numpy()
                how = "military date-time groups (DDHHMMZ MON YY) were read"
        out[rest] = parsed_rest.dt.tz_convert(None).dt.as_unit(_UNIT).to_numpy()
    bad = present & np.isnat(out)
    series = pd.Series(out).dt.tz_localize("UTC")
    return Times(series, bad, naive & ~bad, how)


def _parse_dtg(text: pd.Series) -> pd.Series:
    parts = text.str.extract(_DTG)
    ok = parts["d"].notna()
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if not ok.any():
        return out
    p = parts[ok]
    year = p["y"].astype(int)
    year = year.where(year >= 100, year + 2000)
    month = p["mon"].str.upper().map(_MONTHS)
    frame = pd.DataFrame({"year": year, "month": month, "day": p["d"].astype(int),
                          "hour": p["h"].astype(int), "minute": p["m"].astype(int),
                          "second": p["s"].fillna("0").astype(int)})
    local = pd.to_datetime(frame, errors="coerce", utc=True)
    offset = pd.to_timedelta(p["z"].map(_zone_hours), unit="h")
    out[ok] = (local - offset).dt.as_unit("us")
    return out


def _epoch(num: np.ndarray) -> Times:
    finite = num[np.isfinite(num)]
    unit = "ms" if finite.size and np.median(np.abs(finite)) > 1e11 else "s"
    with np.errstate(all="ignore"):
        parsed = pd.to_datetime(pd.Series(num), unit=unit, utc=True, errors="coerce")
    bad = (pd.isna(parsed) & ~np.isnan(num)).to_numpy(dtype=bool)
    what = "milliseconds" if unit == "ms" else "seconds"
    return Times(parsed.dt.as_unit("us"), bad, np.zeros(len(num), dtype=bool),
                 f"times are numbers: read as Unix epoch {what} (UTC)")


# --------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------


@dataclass
class Geometry:
    """Checked geometries in EPSG:4326.

    ``values``: object array, ``None`` for rejected rows; or ``None`` for points read from
    longitude/latitude columns, whose coordinates are in ``lonlat`` until :meth:`take`
    makes the points (a million shapely points cost a quarter of a second, and the store
    needs only the coordinates).
    """

    values: np.ndarray | None
    repaired: int
    source_crs: str
    notes: list[str]
    lonlat: tuple[np.ndarray, np.ndarray] | None = None

    def take(self, keep: np.ndarray) -> np.ndarray:
        """The geometries of the rows in ``keep`` (a boolean mask), as an object array."""
        if self.values is not None:
            return self.values[keep]
        assert self.lonlat is not None
        lon, lat = self.lonlat
        with no_gc():
            return shapely.points(lon[keep], lat[keep])

    def coordinates(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude of the points in ``keep`` (point layers only)."""
        if self.lonlat is not None:
            return self.lonlat[0][keep], self.lonlat[1][keep]
        assert self.values is not None
        points = self.values[keep]
        return shapely.get_x(points), shapely.get_y(points)


def crs_label(crs: pyproj.CRS) -> str:
    """Short name of a CRS: ``EPSG:32634``, else its name, else its projection method."""
    auth = crs.to_authority()
    if auth is not None:
        return f"{auth[0]}:{auth[1]}"
    if crs.name and crs.name.lower() not in ("unnamed", "unknown", "undefined"):
        return crs.name
    method = crs.coordinate_operation.method_name if crs.coordinate_operation else None
    return f"a custom {method} CRS" if method else "a custom CRS"


def crs_description(crs: pyproj.CRS) -> str:
    """``EPSG:32634 (WGS 84 / UTM zone 34N)``; custom CRSs by name or projection method."""
    label = crs_label(crs)
    if label == crs.name or label.startswith("a custom") or not crs.name:
        return label
    return f"{label} ({crs.name})"


def build_geometry(raw: RawLayer, family: Family, rej: Rejects) -> Geometry:
    """Check and convert the geometry of every row to ``family`` in EPSG:4326.

    Rows with missing, empty, non-finite, out-of-range, wrong-type or untransformable
    geometry are rejected in ``rej``. Files that are unusable as a whole (no CRS, CRS that
    cannot be transformed, most coordinates out of range) raise :class:`ValidationError`.
    """
    notes: list[str] = []
    source = raw.source
    if raw.crs is None:
        raise ValidationError(
            describe(source, "the file has no CRS (coordinate reference system)",
                     expected=f"a CRS stored in the {raw.format} file", got="none",
                     fix="Limes never guesses a CRS: export the file again with its CRS (e.g. a "
                     ".prj for shapefiles), or convert it to WGS84 (EPSG:4326)")
        )
    label = crs_label(raw.crs)
    source_crs = f"{label} (assumed: {raw.crs_assumed})" if raw.crs_assumed else label
    with np.errstate(all="ignore"):
        if raw.lonlat_cols is not None:
            if family != "point":
                lon_col, lat_col = raw.lonlat_cols
                raise ValidationError(describe(
                    source, f"latitude/longitude columns hold points, but this layer needs "
                    f"{family}s", field=f"{lat_col}, {lon_col}", expected=f"{family} geometry",
                    got="one point per row",
                    fix=f"Give the {family}s as a WKT column (e.g. 'wkt') or in a vector format "
                    "such as GeoJSON or GeoPackage"))
            lonlat = _points_from_columns(raw, rej)
            return Geometry(None, 0, source_crs, notes, lonlat=lonlat)
        assert raw.geometry is not None
        g = raw.geometry.copy()
        gf = raw.geometry_field
        missing = pd.isna(g)
        rej.reject(missing, gf, reason("the geometry is missing", expected=f"a {family}",
                                       got=None))
        present = rej.alive.copy()
        empty = np.zeros(len(g), dtype=bool)
        empty[present] = shapely.is_empty(g[present])
        rej.reject(empty, gf, reason("the geometry is empty", expected=f"a {family} with "
                                     "coordinates", got="EMPTY"))
        nonfinite = _per_geometry(g, rej.alive, lambda c: ~np.isfinite(c).all(axis=1))
        rej.reject(nonfinite, gf, reason("coordinates are not finite numbers",
                                         expected="numbers", got="NaN or infinity"))
        g = _to_family(g, family, rej, gf, raw.closed_lines_are_polygons)
        alive = rej.alive
        has_z = np.zeros(len(g), dtype=bool)
        has_z[alive] = shapely.has_z(g[alive])
        if has_z.any():
            g[alive] = shapely.force_2d(g[alive])
            notes.append("heights (Z) in the geometry were dropped")
        if raw.crs.is_geographic:
            _check_degrees(g, rej, raw)
        else:
            _check_not_degrees(g, rej, raw, label)
        if not is_wgs84(raw.crs):
            g = _reproject(g, rej, raw, label)
            notes.append(f"reprojected from {crs_description(raw.crs)} to EPSG:4326")
        if family == "point":
            alive = rej.alive
            lon = np.full(len(g), np.nan)
            lat = np.full(len(g), np.nan)
            lon[alive], lat[alive] = shapely.get_x(g[alive]), shapely.get_y(g[alive])
            _reject_swapped(lon, lat, rej, gf, "x", "y",
                            fix="Swap the coordinates of this feature")
        repaired = 0
        if family == "polygon":
            repaired = _repair_polygons(g, rej, gf)
        elif family == "line":
            alive = rej.alive
            zero = np.zeros(len(g), dtype=bool)
            zero[alive] = shapely.length(g[alive]) == 0
            rej.reject(zero, gf, reason("the line has no length", expected="a line through at "
                                        "least 2 different points", got="a single point"))
    g[~rej.alive] = None
    return Geometry(g, repaired, source_crs, notes)


def _per_geometry(g: np.ndarray, mask: np.ndarray,
                  test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """True for rows in ``mask`` where ``test`` holds for any coordinate of the geometry."""
    out = np.zeros(len(g), dtype=bool)
    pos = np.flatnonzero(mask)
    if not pos.size:
        return out
    coords, idx = shapely.get_coordinates(g[pos], return_index=True)
    hit = test(coords)
    out[pos[np.unique(idx[hit])]] = True
    return out


def _all_within(g: np.ndarray, mask: np.ndarray, lon_max: float, lat_max: float) -> np.ndarray:
    """True for rows in ``mask`` whose every coordinate is within +-lon_max / +-lat_max."""
    outside = _per_geometry(
        g, mask, lambda c: (np.abs(c[:, 0]) > lon_max) | (np.abs(c[:, 1]) > lat_max)
    )
    return mask & ~outside


def _to_family(g: np.ndarray, family: Family, rej: Rejects, gf: str,
               closed_lines: bool) -> np.ndarray:
    """Convert geometries to the family's types (MultiPoint of one -> Point, ...)."""
    alive = rej.alive
    tid = np.full(len(g), -1)
    tid[alive] = shapely.get_type_id(g[alive])
    ok_ids = {"point": (0,), "line": (1, 5), "polygon": (3, 6)}[family]
    odd = np.flatnonzero(alive & ~np.isin(tid, ok_ids))
    bad: dict[int, str] = {}
    for i in odd:
        converted, why = _convert_one(g[i], family, closed_lines)
        if converted is None:
            bad[int(i)] = why
        else:
            g[i] = converted
    mask = np.zeros(len(g), dtype=bool)
    mask[list(bad)] = True
    rej.reject(mask, gf, lambda i: bad[i])
    return g


def _convert_one(geom: shapely.Geometry, family: Family,
                 closed_lines: bool) -> tuple[shapely.Geometry | None, str]:
    tname = _TYPE_NAMES.get(int(shapely.get_type_id(geom)), geom.geom_type)
    parts = list(shapely.get_parts(geom)) if tname in (
        "MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection") else [geom]
    ptypes = {p.geom_type for p in parts}
    if family == "point":
        if tname in ("MultiPoint", "GeometryCollection") and len(parts) == 1 and \
                ptypes == {"Point"}:
            return parts[0], ""
        if tname == "MultiPoint":
            return None, reason("one point per row", expected="a Point",
                                got=f"a MultiPoint of {len(parts)} points",
                                fix="Split the MultiPoint into single points")
        return None, reason("not a point", expected="a Point", got=f"a {tname}")
    if family == "line":
        if ptypes <= {"LineString", "LinearRing", "MultiLineString"}:
            lines = [shapely.LineString(p.coords) if p.geom_type == "LinearRing" else p
                     for p in parts]
            flat = [q for p in lines for q in shapely.get_parts(p)]
            return (flat[0] if len(flat) == 1 else shapely.MultiLineString(flat)), ""
        if ptypes & {"Polygon", "MultiPolygon"}:
            return None, reason("the border must be given as lines",
                                expected="LineString or MultiLineString", got=f"a {tname}",
                                fix=BORDER_AS_LINES_FIX)
        return None, reason("the border must be lines", expected="LineString or "
                            "MultiLineString", got=f"a {tname}",
                            fix="Export the border as LineString features")
    # polygons
    polys: list[shapely.Geometry] = []
    for p in parts:
        if p.geom_type in ("Polygon", "MultiPolygon"):
            polys.extend(shapely.get_parts(p))
        elif p.geom_type == "LinearRing" or (closed_lines and p.geom_type in (
                "LineString", "MultiLineString")):
            for line in shapely.get_parts(p):
                if len(line.coords) >= 4 and line.coords[0] == line.coords[-1]:
                    polys.append(shapely.Polygon(line.coords))
                else:
                    return None, reason(
                        "a GPX file cannot hold polygons, and this track/route is not closed",
                        expected="a closed track or route (first point = last point)",
                        got="an open line",
                        fix="Close the track (repeat the first point at the end), or export "
                        "the sectors as polygons (GeoJSON, GeoPackage, KML)")
        else:
            return None, reason("sectors must be polygons", expected="Polygon or MultiPolygon",
                                got=f"a {tname}")
    if not polys:
        return None, reason("sectors must be polygons", expected="Polygon or MultiPolygon",
                            got=f"a {tname}")
    return (polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)), ""


def _points_from_columns(raw: RawLayer, rej: Rejects) -> tuple[np.ndarray, np.ndarray]:
    """Checked longitude and latitude columns (CSV, plain Parquet); rows rejected in ``rej``."""
    assert raw.lonlat_cols is not None
    lon_col, lat_col = raw.lonlat_cols
    cols = {}
    for col, what in ((lon_col, "longitude"), (lat_col, "latitude")):
        vals, unparseable = to_float(raw.attrs[col])
        series = raw.attrs[col]
        rej.reject(unparseable, col, lambda i, s=series, w=what: reason(
            "not a number", expected=f"a {w} in decimal degrees", got=fmt_value(s.iloc[i])))
        cols[col] = vals
    lon, lat = cols[lon_col], cols[lat_col]
    for col, vals, what in ((lon_col, lon, "longitude"), (lat_col, lat, "latitude")):
        rej.reject(np.isnan(vals), col, reason("the value is missing",
                                               expected=f"a {what} in decimal degrees",
                                               got=None))
        rej.reject(~np.isfinite(vals), col, lambda i, v=vals, w=what: reason(
            "not a finite number", expected=f"a {w} in decimal degrees", got=float(v[i])))
    alive = rej.alive
    out_lon = alive & (np.abs(lon) > 180)
    out_lat = alive & (np.abs(lat) > 90)
    out = out_lon | out_lat
    n_ok = int(alive.sum())
    if n_ok and out.sum() > MOSTLY * n_ok:
        _raise_out_of_range(raw, lon[out], lat[out], y_name=f"the {lat_col!r} column",
                            what="rows", swap_fix=f"Swap the columns: {lat_col!r} and "
                            f"{lon_col!r} hold each other's values")
    swappable = out & (np.abs(lat) <= 180) & (np.abs(lon) <= 90)

    def why_out(i: int) -> str:
        base = f"({lon_col}={fmt_value(lon[i])}, {lat_col}={fmt_value(lat[i])})"
        if swappable[i]:
            return reason("coordinates out of range: latitude and longitude look swapped in "
                          "this row", expected="latitude within ±90 and longitude within ±180",
                          got=base, fix=f"Swap the {lat_col!r} and {lon_col!r} values")
        return reason("coordinates out of range", expected="latitude within ±90 and longitude "
                      "within ±180", got=base)

    rej.reject(out_lat, lat_col, why_out)
    rej.reject(out_lon, lon_col, why_out)
    _reject_swapped(lon, lat, rej, lat_col, lon_col, lat_col,
                    fix=f"Swap the {lat_col!r} and {lon_col!r} values of this row")
    null_island = rej.alive & (lon == 0) & (lat == 0)
    rej.reject(null_island, lat_col, reason(
        "position (0, 0) is almost always a missing position", expected="a real position",
        got="latitude 0, longitude 0", fix="Fill in the position or remove the row"))
    return lon, lat


#: Fewest valid points from which swapped rows inside the coordinate range are looked for.
SWAP_MIN_POINTS: int = 10


def swapped_outliers(lon: np.ndarray, lat: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Rows whose latitude and longitude look swapped although both are in range.

    Such a row lies far outside the file's other positions, and read the other way round
    it falls among them: detections near (14.5 E, 45.5 N) and one row at (45.5 E, 14.5 N).
    "Among them" is within Tukey's fences (quartiles widened by 1.5 interquartile ranges, at
    least 1°) of the valid points, each axis. Needs :data:`SWAP_MIN_POINTS` valid points; a
    file where more than a tenth of the rows qualify gets none flagged (a genuine second
    area). Quartiles are taken from at most 100,000 points, so a million rows cost
    milliseconds.

    Examples
    --------
    >>> lon = np.r_[np.linspace(14.0, 15.0, 20), 45.5]
    >>> lat = np.r_[np.linspace(45.0, 46.0, 20), 14.5]
    >>> np.flatnonzero(swapped_outliers(lon, lat, np.ones(21, dtype=bool))).tolist()
    [20]
    """
    out = np.zeros(len(lon), dtype=bool)
    idx = np.flatnonzero(alive)
    if idx.size < SWAP_MIN_POINTS:
        return out
    sample = idx[:: max(1, idx.size // 100_000)]
    q1, q3 = np.percentile(np.stack([lon[sample], lat[sample]]), [25, 75], axis=1)
    pad = np.maximum(1.0, 1.5 * (q3 - q1))
    lo, hi = q1 - pad, q3 + pad

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])

    far = alive & ~inside(lon, lat)
    if not far.any():
        return out
    out = far & inside(lat, lon)
    if out.sum() > 0.1 * idx.size:
        return np.zeros(len(lon), dtype=bool)
    return out


def _reject_swapped(lon: np.ndarray, lat: np.ndarray, rej: Rejects, field_name: str,
                    lon_name: str, lat_name: str, *, fix: str) -> None:
    with np.errstate(invalid="ignore"):
        swapped = swapped_outliers(lon, lat, rej.alive)
    rej.reject(swapped, field_name, lambda i: reason(
        "latitude and longitude look swapped: this position is far from all the others, and "
        "read the other way round it is among them",
        expected=f"{lon_name} (longitude) and {lat_name} (latitude) near the file's other "
        "positions", got=f"({lon_name}={fmt_value(lon[i])}, {lat_name}={fmt_value(lat[i])})",
        fix=fix))


def _raise_out_of_range(raw: RawLayer, xs: np.ndarray, ys: np.ndarray, *, y_name: str,
                        what: str, swap_fix: str) -> None:
    """Most positions are out of range: say why (swapped, metres) and raise.

    ``xs``/``ys`` are the out-of-range positions (one per row, or every vertex), ``what``
    names them in the message ("rows", "vertices").
    """
    source = raw.source
    says = (f"the file is assumed to be in degrees ({raw.crs_assumed})" if raw.crs_assumed
            else f"the file says degrees ({crs_label(raw.crs) if raw.crs else '?'})")
    big = (np.abs(xs) > 1000) | (np.abs(ys) > 1000)
    if big.mean() > 0.5:
        i = int(np.flatnonzero(big)[0])
        raise ValidationError(describe(
            source, f"coordinates look like metres (e.g. {xs[i]:.0f}, {ys[i]:.0f}) but {says}",
            expected="longitude within ±180 and latitude within ±90",
            got=f"{what} with values beyond ±1000: {int(big.sum())}",
            fix="Give the file's real CRS (e.g. add the .prj, or save as GeoPackage with its "
            "CRS), or convert the coordinates to WGS84 longitude/latitude"))
    if np.all((np.abs(ys) <= 180) & (np.abs(xs) <= 90)):
        raise ValidationError(describe(
            source, f"looks like latitude and longitude are swapped ({y_name} holds values up "
            f"to {np.nanmax(np.abs(ys)):g}, but latitude must be within ±90)",
            expected="latitude within ±90", got=f"{what} out of range: {len(ys)}",
            fix=swap_fix))
    raise ValidationError(describe(
        source, "most coordinates are outside longitude ±180 / latitude ±90",
        expected="WGS84 degrees", got=f"{what} out of range: {len(ys)}, e.g. "
        f"({fmt_value(xs[0])}, {fmt_value(ys[0])})",
        fix="Check the coordinate columns and the file's CRS"))


def _check_degrees(g: np.ndarray, rej: Rejects, raw: RawLayer) -> None:
    """Range checks for a geographic CRS; decide whether the whole file is unusable."""
    alive = rej.alive.copy()
    n_ok = int(alive.sum())
    if not n_ok:
        return
    out = alive & ~_all_within(g, alive, 180, 90)
    gf = raw.geometry_field
    if out.sum() > MOSTLY * n_ok:
        coords = shapely.get_coordinates(g[out])
        _raise_out_of_range(raw, coords[:, 0], coords[:, 1], y_name="y (latitude)",
                            what="vertices", swap_fix="Swap the coordinates: the file holds "
                            "(latitude, longitude) pairs where GeoJSON/WKT/GIS files expect "
                            "(longitude, latitude)")
    swappable = _all_within_swapped(g, out)

    def why(i: int) -> str:
        xy = shapely.get_coordinates(g[i])
        bad = xy[(np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)][0]
        got = f"({fmt_value(bad[0])}, {fmt_value(bad[1])})"
        if swappable[i]:
            return reason("coordinates out of range: latitude and longitude look swapped",
                          expected="(longitude within ±180, latitude within ±90)", got=got,
                          fix="Swap the coordinates of this feature")
        return reason("coordinates out of range", expected="(longitude within ±180, latitude "
                      "within ±90)", got=got)

    rej.reject(out, gf, why)
    zero = _per_geometry(g, rej.alive, lambda c: (c[:, 0] == 0) & (c[:, 1] == 0))
    rej.reject(zero, gf, reason(
        "a position at (0, 0) is almost always a missing or unreadable coordinate",
        expected="real coordinates", got="(0, 0)",
        fix="Check the coordinates of this feature"))


def _all_within_swapped(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    outside = _per_geometry(g, mask, lambda c: (np.abs(c[:, 1]) > 180) | (np.abs(c[:, 0]) > 90))
    return mask & ~outside


def _check_not_degrees(g: np.ndarray, rej: Rejects, raw: RawLayer, label: str) -> None:
    """A projected CRS whose coordinates all look like degrees is wrongly declared."""
    alive = rej.alive
    n_ok = int(alive.sum())
    if not n_ok:
        return
    small = _all_within(g, alive, 180, 90)
    if small.sum() > MOSTLY * n_ok:
        assert raw.crs is not None
        unit = raw.crs.axis_info[0].unit_name if raw.crs.axis_info else "metre"
        c = shapely.get_coordinates(g[np.flatnonzero(small)[0]])[0]
        raise ValidationError(describe(
            raw.source, f"coordinates look like degrees (e.g. {c[0]:g}, {c[1]:g}) but the file "
            f"says {crs_description(raw.crs)}, whose unit is {unit}",
            expected="projected coordinates in metres", got=f"{int(small.sum())} of {n_ok} "
            "features within ±180/±90",
            fix="Set the file's CRS to WGS84 (EPSG:4326) without transforming the coordinates"))


def _reproject(g: np.ndarray, rej: Rejects, raw: RawLayer, label: str) -> np.ndarray:
    assert raw.crs is not None
    try:
        transformer = pyproj.Transformer.from_crs(raw.crs, 4326, always_xy=True)
    except (pyproj.exceptions.ProjError, pyproj.exceptions.CRSError) as exc:
        raise ValidationError(describe(
            raw.source, f"the file's CRS ({crs_description(raw.crs)}) cannot be transformed to "
            "WGS84 (EPSG:4326)", expected="a CRS PROJ can convert to longitude/latitude",
            got=" ".join(str(exc).split())[:160],
            fix="Reproject the file to EPSG:4326 (or a standard projected CRS such as UTM) in "
            "the software that made it")) from exc
    alive = rej.alive
    if alive.any():
        g[alive] = shapely.transform(g[alive], lambda x, y: transformer.transform(x, y),
                                     interleaved=False)
    bad = _per_geometry(g, rej.alive, lambda c: ~np.isfinite(c).all(axis=1))
    rej.reject(bad, raw.geometry_field, reason(
        f"the coordinates could not be transformed from {label} to WGS84",
        expected=f"coordinates inside the area of use of {label}", got="out of the CRS's range"))
    return g


def _repair_polygons(g: np.ndarray, rej: Rejects, gf: str) -> int:
    """make_valid invalid polygons (keeping polygonal parts); return how many were repaired."""
    alive = rej.alive
    invalid = np.zeros(len(g), dtype=bool)
    invalid[alive] = ~shapely.is_valid(g[alive])
    no_area = np.zeros(len(g), dtype=bool)
    for i in np.flatnonzero(invalid):
        fixed = shapely.make_valid(g[i])
        polys = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
        flat = [q for p in polys for q in shapely.get_parts(p) if not q.is_empty and q.area > 0]
        if not flat:
            no_area[i] = True
            continue
        g[i] = flat[0] if len(flat) == 1 else shapely.MultiPolygon(flat)
    rej.reject(no_area, gf, reason("the polygon has no area (all its points are on a line)",
                                   expected="a polygon enclosing an area", got="a degenerate "
                                   "polygon"))
    alive = rej.alive
    zero = np.zeros(len(g), dtype=bool)
    zero[alive] = shapely.area(g[alive]) == 0
    rej.reject(zero, gf, reason("the polygon has no area", expected="a polygon enclosing an "
                                "area", got="area 0"))
    return int((invalid & ~no_area).sum())
