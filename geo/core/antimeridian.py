"""Polygons that cross the antimeridian, cut there into pieces within ±180° of longitude.

Data made for a globe (TopoJSON, d3) may store a polygon crossing 180° with longitudes that
jump from 180 to -180 along its edge: Russia's Chukotka, Fiji and Antarctica in Natural
Earth via world-atlas. Read as flat lon/lat coordinates, as GEOS and a web map read them,
such a polygon is a band round the globe (Russia drawn over northern Sweden and Canada).
:func:`cut_at_antimeridian` undoes the jumps and cuts the polygon at ±180°, so flat
geometry and the globe agree again. ``sample_data/make_sample.py`` applies it when it writes
the basemap, and :mod:`geo.basemap.gazetteer` applies it again to what it reads (a no-op on
that file).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.affinity import translate
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

#: Longest step (degrees of longitude) of the edge that closes a ring along a pole. Edges
#: longer than 180° would be read the short way round by renderers that wrap longitudes.
_POLE_STEP_DEG: Final[float] = 90.0


def cut_at_antimeridian(geom: BaseGeometry) -> BaseGeometry:
    """``geom`` with every polygon whose longitudes jump across the antimeridian cut there.

    A ring that jumps (two consecutive vertices more than 180° of longitude apart) is
    unwrapped to continuous longitudes, the polygon is cut at ±180° and the pieces beyond are
    shifted back by 360°. A ring that goes round a pole (Antarctica) is closed along that
    pole, in steps of at most 90° of longitude, so it covers the polar cap as on the globe.
    Parts that never jump are returned unchanged, and so is ``geom`` when none does.

    Parameters
    ----------
    geom
        Polygon or MultiPolygon in EPSG:4326 (lon, lat degrees); other geometries are
        returned as they are.

    Returns
    -------
    shapely.Geometry
        Polygon or MultiPolygon within -180 <= lon <= 180 whose edges are all shorter than
        180° of longitude, except edges along a pole.

    Examples
    --------
    >>> band = Polygon([(179, 0), (-179, 0), (-179, 1), (179, 1)])  # 2° wide, across 180°
    >>> cut = cut_at_antimeridian(band)
    >>> cut.geom_type, round(cut.area, 6), [round(p.area, 6) for p in cut.geoms]
    ('MultiPolygon', 2.0, [1.0, 1.0])
    """
    if not jumps_antimeridian(geom):
        return geom
    parts = list(getattr(geom, "geoms", [geom]))
    # A union, not a plain MultiPolygon: the cut pieces may share edges with other parts.
    return polygonal(shapely.union_all([_cut_polygon(p) if _jumps(p) else p for p in parts]))


def jumps_antimeridian(geom: BaseGeometry) -> bool:
    """Whether a ring of a (Multi)Polygon steps more than 180° of longitude between two vertices.

    Such a step is a jump across the antimeridian in data made for a globe; on a flat map
    it is an edge the long way round. Other geometry types never jump.

    Examples
    --------
    >>> jumps_antimeridian(Polygon([(179, 0), (-179, 0), (-179, 1), (179, 1)]))
    True
    >>> jumps_antimeridian(cut_at_antimeridian(Polygon([(179, 0), (-179, 0), (-179, 1), (179, 1)])))
    False
    """
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return False
    return any(_jumps(p) for p in getattr(geom, "geoms", [geom]))


def cut_geometries_at_antimeridian(geoms: ArrayLike) -> NDArray[np.object_]:
    """Lines and polygons whose longitudes jump across the antimeridian, cut there.

    What files for other software should hold (RFC 7946 GeoJSON, §3.1.9): a feature that
    crosses 180° as pieces within ±180°, not one whose vertices jump from 180° to -180° (read
    flat, a band round the world). Polygons go through :func:`cut_at_antimeridian`; a line
    is unwrapped to continuous longitudes, cut at ±180° and its pieces beyond shifted back.
    Geometries that do not jump (all of them away from 180°) come back as they are.

    Examples
    --------
    >>> line = shapely.LineString([(179.5, 65), (-179.5, 65)])
    >>> [g.wkt for g in cut_geometries_at_antimeridian([line, None])[:1]]
    ['MULTILINESTRING ((179.5 65, 180 65), (-180 65, -179.5 65))']
    """
    out = np.asarray(geoms, dtype=object).copy()
    coords, owner = shapely.get_coordinates(out, return_index=True)
    step = np.abs(np.diff(coords[:, 0])) > 180.0
    jumping = np.unique(owner[1:][step & (owner[1:] == owner[:-1])])
    for i in jumping:
        geom = out[i]
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            out[i] = cut_at_antimeridian(geom)
        elif geom.geom_type in ("LineString", "MultiLineString"):
            out[i] = _cut_lines(geom)
    return out


def _cut_lines(geom: BaseGeometry) -> BaseGeometry:
    """A (Multi)LineString whose longitudes jump across 180° as pieces within ±180°."""
    pieces: list[BaseGeometry] = []
    for line in getattr(geom, "geoms", [geom]):
        xy = np.asarray(line.coords)[:, :2].copy()
        dx = np.diff(xy[:, 0])
        xy[1:, 0] += np.cumsum(np.where(dx > 180.0, -360.0, np.where(dx < -180.0, 360.0, 0.0)))
        whole = shapely.LineString(xy)
        for k in (-1, 0, 1):
            part = shapely.intersection(
                whole, box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)
            )
            parts = shapely.get_parts(translate(part, xoff=-360.0 * k))
            pieces.extend(p for p in parts if p.geom_type == "LineString" and p.length > 0)
    return shapely.MultiLineString(pieces)


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygon parts of a geometry (an overlay or ``make_valid`` may add lines or points).

    Examples
    --------
    >>> mixed = shapely.GeometryCollection([shapely.box(0, 0, 1, 1), shapely.Point(5, 5)])
    >>> polygonal(mixed).wkt
    'POLYGON ((1 0, 1 1, 0 1, 0 0, 1 0))'
    """
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in getattr(geom, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else Polygon()


def wrap_lon(lon: ArrayLike, centre_deg: float) -> NDArray[np.float64]:
    """Longitudes moved by whole turns into ``[centre_deg - 180, centre_deg + 180)``.

    Geometry near one place (an analysis, whose CRS is centred at ``centre_deg``) has no
    jump across the antimeridian in this frame: a point at 179.9° E and one at 179.9° W
    are 0.2° apart, not 359.8°. Longitudes already in the frame keep their exact value
    (when all are, ``lon`` itself comes back as an array, not a copy: do not change it).

    Examples
    --------
    >>> wrap_lon([179.5, -179.5, -10.0], 180.0).tolist()
    [179.5, 180.5, 350.0]
    >>> wrap_lon([179.5, -179.5], 0.0).tolist()
    [179.5, -179.5]
    """
    x = np.asarray(lon, dtype=float)
    west = centre_deg - 180.0
    if x.size == 0 or (x.min() >= west and x.max() < west + 360.0):
        return x  # every longitude in the frame (all of an analysis away from 180°): no copy
    east = west + 360.0
    out = x + 360.0 * (x < west) - 360.0 * (x >= east)  # within a turn; x + 0.0 is x exactly
    far = (out < west) | (out >= east)
    if far.any():  # more than a turn away (NaN stays NaN)
        out[far] = west + np.mod(out[far] - west, 360.0)
    return out


def wrap_geometries(geoms: ArrayLike, centre_deg: float) -> NDArray[np.object_]:
    """Shapely geometries (lon, lat) with every vertex's longitude put through :func:`wrap_lon`.

    A polygon near ``centre_deg`` that crosses the antimeridian, taken to lon/lat vertex by
    vertex, jumps from 180° to -180°; in the wrapped frame it is whole again (longitudes
    past 180°), so flat lon/lat tests (``contains_xy``, a grid index) read it as on the
    globe. Points to test against it must be wrapped the same way.

    Examples
    --------
    >>> ring = shapely.Polygon([(179, 0), (-179, 0), (-179, 1), (179, 1)])
    >>> wrap_geometries([ring], 180.0)[0].bounds
    (179.0, 0.0, 181.0, 1.0)
    """
    return shapely.transform(
        np.asarray(geoms, dtype=object),
        lambda c: np.column_stack([wrap_lon(c[:, 0], centre_deg), c[:, 1]]),
    )


def _jumps(poly: Polygon) -> bool:
    """Whether a ring of ``poly`` steps more than 180° in longitude between two vertices."""
    return any(
        np.abs(np.diff(np.asarray(r.coords)[:, 0])).max(initial=0.0) > 180.0
        for r in (poly.exterior, *poly.interiors)
    )


def _unwrap_ring(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """A ring's coordinates with every jump of more than 180° in longitude undone.

    A ring that goes round a pole ends 360° from where it started; it is closed along that
    pole (the nearer one), in steps of at most :data:`_POLE_STEP_DEG`, so the polygon covers
    the polar cap as on the globe.
    """
    dx = np.diff(xy[:, 0])
    step = np.where(dx > 180.0, -360.0, np.where(dx < -180.0, 360.0, 0.0))
    out = xy.copy()
    out[1:, 0] += np.cumsum(step)
    if abs(out[-1, 0] - out[0, 0]) > 180.0:
        pole = math.copysign(90.0, float(out[:, 1].mean()))
        n = math.ceil(abs(out[0, 0] - out[-1, 0]) / _POLE_STEP_DEG)
        along = np.linspace(out[-1, 0], out[0, 0], n + 1)
        out = np.vstack([out, np.column_stack([along, np.full(n + 1, pole)]), out[:1]])
    return out


def _cut_polygon(poly: Polygon) -> BaseGeometry:
    """A polygon whose rings jump across the antimeridian as pieces within ±180°."""
    shell = _unwrap_ring(np.asarray(poly.exterior.coords)[:, :2])
    centre = (shell[:, 0].min() + shell[:, 0].max()) / 2.0
    holes = []
    for ring in poly.interiors:
        hole = _unwrap_ring(np.asarray(ring.coords)[:, :2])
        hole[:, 0] += 360.0 * round((centre - hole[:, 0].mean()) / 360.0)
        holes.append(hole)
    whole = shapely.make_valid(Polygon(shell, holes))
    pieces = [
        translate(
            shapely.intersection(whole, box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)),
            xoff=-360.0 * k,
        )
        for k in (-1, 0, 1)
    ]
    return polygonal(shapely.union_all(pieces))
