"""Each row's geometry checked and converted to its layer's family, in EPSG:4326.

Missing, empty, non-finite or untransformable geometry, and geometry of the wrong type
(lines where polygons are needed, a MultiPoint of several points) is rejected row by row;
heights are dropped, other CRSs reprojected, invalid polygons repaired. A file without a CRS
is refused: Limes never guesses one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj
import shapely

from geo.core.errors import ValidationError, describe
from geo.inputs.checks.coordinates import (
    check_degrees,
    check_not_degrees,
    per_geometry,
    points_from_columns,
    reject_swapped,
)
from geo.inputs.checks.crs import crs_description, crs_label
from geo.inputs.checks.rejects import Rejects, reason
from geo.inputs.readers.raw import Family, RawLayer, is_wgs84, no_gc

__all__ = ["BORDER_AS_LINES_FIX", "Geometry", "build_geometry"]


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}

BORDER_AS_LINES_FIX = (
    "Give the border as lines: use the polygon's boundary (QGIS 'Polygons to lines', "
    "shapely .boundary) or export the border as LineString"
)


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


def build_geometry(raw: RawLayer, family: Family, rej: Rejects) -> Geometry:
    """Check and convert the geometry of every row to ``family`` in EPSG:4326.

    Rows with missing, empty, non-finite, out-of-range, wrong-type or untransformable
    geometry are rejected in ``rej``. Files that are unusable as a whole (no CRS, CRS that
    cannot be transformed, most coordinates out of range) raise :class:`ValidationError`.
    """
    notes: list[str] = []
    if raw.crs is None:
        raise ValidationError(
            describe(
                raw.source,
                "the file has no CRS (coordinate reference system)",
                expected=f"a CRS stored in the {raw.format} file",
                got="none",
                fix="Limes never guesses a CRS: export the file again with its CRS (e.g. a "
                ".prj for shapefiles), or convert it to WGS84 (EPSG:4326)",
            )
        )
    label = crs_label(raw.crs)
    source_crs = f"{label} (assumed: {raw.crs_assumed})" if raw.crs_assumed else label
    with np.errstate(all="ignore"):
        if raw.lonlat_cols is not None:
            lonlat = _points_from_lonlat(raw, family, rej)
            return Geometry(None, 0, source_crs, notes, lonlat=lonlat)
        assert raw.geometry is not None
        g = raw.geometry.copy()
        gf = raw.geometry_field
        _reject_unusable(g, family, rej, gf)
        g = _to_family(g, family, rej, gf, raw.closed_lines_are_polygons)
        g = _to_wgs84(g, rej, raw, label, notes)
        repaired = _check_family(g, family, rej, gf)
    g[~rej.alive] = None
    return Geometry(g, repaired, source_crs, notes)


def _points_from_lonlat(
    raw: RawLayer, family: Family, rej: Rejects
) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of a table's coordinate columns, which only points may use."""
    assert raw.lonlat_cols is not None
    if family != "point":
        lon_col, lat_col = raw.lonlat_cols
        raise ValidationError(
            describe(
                raw.source,
                f"latitude/longitude columns hold points, but this layer needs {family}s",
                field=f"{lat_col}, {lon_col}",
                expected=f"{family} geometry",
                got="one point per row",
                fix=f"Give the {family}s as a WKT column (e.g. 'wkt') or in a vector format "
                "such as GeoJSON or GeoPackage",
            )
        )
    return points_from_columns(raw, rej)


def _reject_unusable(g: np.ndarray, family: Family, rej: Rejects, gf: str) -> None:
    """Reject missing and empty geometries, and those with coordinates that are not finite."""
    missing = pd.isna(g)
    rej.reject(missing, gf, reason("the geometry is missing", expected=f"a {family}", got=None))
    present = rej.alive.copy()
    empty = np.zeros(len(g), dtype=bool)
    empty[present] = shapely.is_empty(g[present])
    rej.reject(
        empty,
        gf,
        reason("the geometry is empty", expected=f"a {family} with coordinates", got="EMPTY"),
    )
    nonfinite = per_geometry(g, rej.alive, lambda c: ~np.isfinite(c).all(axis=1))
    rej.reject(
        nonfinite,
        gf,
        reason("coordinates are not finite numbers", expected="numbers", got="NaN or infinity"),
    )


def _to_wgs84(
    g: np.ndarray, rej: Rejects, raw: RawLayer, label: str, notes: list[str]
) -> np.ndarray:
    """Drop heights, check the coordinates fit the file's CRS, reproject to EPSG:4326."""
    assert raw.crs is not None
    alive = rej.alive
    has_z = np.zeros(len(g), dtype=bool)
    has_z[alive] = shapely.has_z(g[alive])
    if has_z.any():
        g[alive] = shapely.force_2d(g[alive])
        notes.append("heights (Z) in the geometry were dropped")
    if raw.crs.is_geographic:
        check_degrees(g, rej, raw)
    else:
        check_not_degrees(g, rej, raw, label)
    if not is_wgs84(raw.crs):
        g = _reproject(g, rej, raw, label)
        notes.append(f"reprojected from {crs_description(raw.crs)} to EPSG:4326")
    return g


def _check_family(g: np.ndarray, family: Family, rej: Rejects, gf: str) -> int:
    """Last checks by family (points swapped, polygons repaired, lines of no length).

    Returns the number of polygons repaired.
    """
    if family == "point":
        alive = rej.alive
        lon = np.full(len(g), np.nan)
        lat = np.full(len(g), np.nan)
        lon[alive], lat[alive] = shapely.get_x(g[alive]), shapely.get_y(g[alive])
        reject_swapped(lon, lat, rej, gf, "x", "y", fix="Swap the coordinates of this feature")
    if family == "polygon":
        return _repair_polygons(g, rej, gf)
    if family == "line":
        alive = rej.alive
        zero = np.zeros(len(g), dtype=bool)
        zero[alive] = shapely.length(g[alive]) == 0
        rej.reject(
            zero,
            gf,
            reason(
                "the line has no length",
                expected="a line through at least 2 different points",
                got="a single point",
            ),
        )
    return 0


def _to_family(
    g: np.ndarray, family: Family, rej: Rejects, gf: str, closed_lines: bool
) -> np.ndarray:
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


def _convert_one(
    geom: shapely.Geometry, family: Family, closed_lines: bool
) -> tuple[shapely.Geometry | None, str]:
    tname = _TYPE_NAMES.get(int(shapely.get_type_id(geom)), geom.geom_type)
    parts = (
        list(shapely.get_parts(geom))
        if tname in ("MultiPoint", "MultiLineString", "MultiPolygon", "GeometryCollection")
        else [geom]
    )
    ptypes = {p.geom_type for p in parts}
    if family == "point":
        if (
            tname in ("MultiPoint", "GeometryCollection")
            and len(parts) == 1
            and ptypes == {"Point"}
        ):
            return parts[0], ""
        if tname == "MultiPoint":
            return None, reason(
                "one point per row",
                expected="a Point",
                got=f"a MultiPoint of {len(parts)} points",
                fix="Split the MultiPoint into single points",
            )
        return None, reason("not a point", expected="a Point", got=f"a {tname}")
    if family == "line":
        if ptypes <= {"LineString", "LinearRing", "MultiLineString"}:
            lines = [
                shapely.LineString(p.coords) if p.geom_type == "LinearRing" else p for p in parts
            ]
            flat = [q for p in lines for q in shapely.get_parts(p)]
            return (flat[0] if len(flat) == 1 else shapely.MultiLineString(flat)), ""
        if ptypes & {"Polygon", "MultiPolygon"}:
            return None, reason(
                "the border must be given as lines",
                expected="LineString or MultiLineString",
                got=f"a {tname}",
                fix=BORDER_AS_LINES_FIX,
            )
        return None, reason(
            "the border must be lines",
            expected="LineString or MultiLineString",
            got=f"a {tname}",
            fix="Export the border as LineString features",
        )
    # polygons
    polys: list[shapely.Geometry] = []
    for p in parts:
        if p.geom_type in ("Polygon", "MultiPolygon"):
            polys.extend(shapely.get_parts(p))
        elif p.geom_type == "LinearRing" or (
            closed_lines and p.geom_type in ("LineString", "MultiLineString")
        ):
            for line in shapely.get_parts(p):
                if len(line.coords) >= 4 and line.coords[0] == line.coords[-1]:
                    polys.append(shapely.Polygon(line.coords))
                else:
                    return None, reason(
                        "a GPX file cannot hold polygons, and this track/route is not closed",
                        expected="a closed track or route (first point = last point)",
                        got="an open line",
                        fix="Close the track (repeat the first point at the end), or export "
                        "the sectors as polygons (GeoJSON, GeoPackage, KML)",
                    )
        else:
            return None, reason(
                "sectors must be polygons", expected="Polygon or MultiPolygon", got=f"a {tname}"
            )
    if not polys:
        return None, reason(
            "sectors must be polygons", expected="Polygon or MultiPolygon", got=f"a {tname}"
        )
    return (polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)), ""


def _reproject(g: np.ndarray, rej: Rejects, raw: RawLayer, label: str) -> np.ndarray:
    assert raw.crs is not None
    try:
        transformer = pyproj.Transformer.from_crs(raw.crs, 4326, always_xy=True)
    except (pyproj.exceptions.ProjError, pyproj.exceptions.CRSError) as exc:
        raise ValidationError(
            describe(
                raw.source,
                f"the file's CRS ({crs_description(raw.crs)}) cannot be transformed to "
                "WGS84 (EPSG:4326)",
                expected="a CRS PROJ can convert to longitude/latitude",
                got=" ".join(str(exc).split())[:160],
                fix="Reproject the file to EPSG:4326 (or a standard projected CRS such as UTM) in "
                "the software that made it",
            )
        ) from exc
    alive = rej.alive
    if alive.any():
        g[alive] = shapely.transform(
            g[alive], lambda x, y: transformer.transform(x, y), interleaved=False
        )
    bad = per_geometry(g, rej.alive, lambda c: ~np.isfinite(c).all(axis=1))
    rej.reject(
        bad,
        raw.geometry_field,
        reason(
            f"the coordinates could not be transformed from {label} to WGS84",
            expected=f"coordinates inside the area of use of {label}",
            got="out of the CRS's range",
        ),
    )
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
    rej.reject(
        no_area,
        gf,
        reason(
            "the polygon has no area (all its points are on a line)",
            expected="a polygon enclosing an area",
            got="a degenerate polygon",
        ),
    )
    alive = rej.alive
    zero = np.zeros(len(g), dtype=bool)
    zero[alive] = shapely.area(g[alive]) == 0
    rej.reject(
        zero,
        gf,
        reason("the polygon has no area", expected="a polygon enclosing an area", got="area 0"),
    )
    return int((invalid & ~no_area).sum())
