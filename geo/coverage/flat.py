"""The flat engine: sensor footprints as exact shapes on the ellipsoid's conformal map.

Each sensor's footprint (disk, annulus or wedge, :mod:`geo.coverage.footprints`) is set in
the analysis CRS with the local scale factor and meridian convergence at the sensor. Along the
border everything is exact interval arithmetic on the geodesic chainage
(:func:`border_intervals`, :mod:`geo.coverage.intervals`); in the corridor it is polygon
overlay in the analysis CRS with areas measured on the ellipsoid
(:func:`geo.core.projection.geodesic_area_m2`). Detections are classified against the
footprints that reach them (:func:`footprint_covered_at`), never against the union.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.core.antimeridian import wrap_geometries, wrap_lon
from geo.core.projection import (
    AnalysisCRS,
    geodesic_area_m2,
    local_scale_and_convergence,
)
from geo.coverage import intervals as iv
from geo.coverage.border import Border
from geo.coverage.engine import BorderCoverage, CorridorCoverage, Coverage, CoveredAt
from geo.coverage.footprints import FootprintParams, footprint_polygons, segment_intervals
from geo.coverage.scene import WGS84, Scene
from geo.coverage.threads import map_threads

#: Footprint outlines are densified to this (analysis-CRS metres) before going to lon/lat for
#: point tests, as the coverage union used to be: edges then follow the analysis CRS' straight
#: lines to millimetres.
_DENSIFY_M: Final[float] = 500.0
#: Vertices per thread task when outlines go to lon/lat.
_VERTICES_PER_TASK: Final[int] = 100_000


class FlatEngine:
    """Coverage by footprint polygons, terrain ignored (see the module notes).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from geo.coverage.scene import prepare_scene
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [10_000.0]}, geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> scene = prepare_scene(b, s, sectors=None, detections=None, corridor_km=5.0,
    ...                       min_gap_m=0.0, time_from=None, time_to=None)
    >>> round(iv.length(FlatEngine().cover(scene).border.covered) / 1000, 2)
    20.0
    """

    def cover(self, scene: Scene) -> Coverage:
        """The border and the corridor inside the active sensors' footprints.

        The corridor's polygon overlay runs in a thread beside the rest (GEOS releases the
        GIL): the border, the footprints layer and, with detections, the footprint index.
        """
        fp = sensor_footprints(scene.sensors, scene.acrs)
        polygons = footprint_polygons(fp)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="limes-corridor") as pool:
            corridor = pool.submit(flat_corridor, scene, polygons)
            border = flat_border(scene, fp)
            drawn = lonlat_threads(polygons, scene.acrs)
            active = np.flatnonzero(scene.active)
            # Detections are classified against the footprints that reach them, not the union.
            covered_at = footprint_covered_at(
                fp.take(active),
                scene.acrs,
                polygons=polygons[active],
                drawn=drawn[active],
                build_now=scene.detections is not None,
            )
            return Coverage(
                border=border,
                corridor=replace(corridor.result(), covered_at=covered_at),
                footprints=_footprint_layer(scene.sensors, drawn),
            )


def flat_border(scene: Scene, fp: FootprintParams) -> BorderCoverage:
    """The border inside the footprints ``fp`` of the scene's sensors (active ones count)."""
    active = np.flatnonzero(scene.active)
    owner, ivs = border_intervals(scene.border, fp.take(active))
    owner = active[owner]
    covered_m, sole_m = sensor_border_m(owner, ivs, len(scene.sensors))
    return BorderCoverage(
        covered=iv.union(ivs),
        redundant=iv.at_least(*ivs, k=2),
        by_partner={
            p: iv.union(iv.select(ivs, owner, scene.sensor_partner == p)) for p in scene.partners
        },
        sensor_covered_m=covered_m,
        sensor_sole_m=sole_m,
    )


def flat_corridor(scene: Scene, polygons: NDArray[np.object_]) -> CorridorCoverage:
    """The corridor inside the footprint ``polygons`` of the scene's sensors (active ones count)."""
    active, partner = scene.active, scene.sensor_partner
    coverage, overlap = watched_and_overlap(
        [polygons[active & (partner == p)] for p in scene.partners]
    )
    corridor = scene.corridor
    # Three overlays of the corridor, in parallel (GEOS releases the GIL).
    corridor_covered, corridor_gap, corridor_overlap = map_threads(
        lambda op: op[0](corridor, op[1]),
        [
            (shapely.intersection, coverage),
            (shapely.difference, coverage),
            (shapely.intersection, overlap),
        ],
        name="limes-corridor",
    )
    area = geodesic_area_m2(
        [corridor, corridor_covered, corridor_gap, corridor_overlap], scene.acrs
    )
    return CorridorCoverage(
        area_m2=float(area[0]),
        covered_m2=float(area[1]),
        gap_m2=float(area[2]),
        overlap_m2=float(area[3]),
        gap=corridor_gap,
        overlap=corridor_overlap,
        coverage=coverage,
    )


def sensor_footprints(sensors: gpd.GeoDataFrame, acrs: AnalysisCRS) -> FootprintParams:
    """Footprint parameters of every sensor in the analysis CRS.

    Ranges are scaled by the local scale factor and azimuths turned by the local meridian
    convergence, both measured on the ellipsoid at each sensor.
    """
    lon = sensors.geometry.x.to_numpy(dtype=float)
    lat = sensors.geometry.y.to_numpy(dtype=float)
    scale, north = local_scale_and_convergence(acrs, lon, lat)
    x, y = acrs.to_proj.transform(lon, lat)
    fov = (
        sensors["fov_deg"].to_numpy(dtype=float)
        if "fov_deg" in sensors
        else np.full(lon.size, 360.0)
    )
    fov = np.where(np.isnan(fov), 360.0, fov)
    az = (
        sensors["azimuth_deg"].to_numpy(dtype=float)
        if "azimuth_deg" in sensors
        else np.zeros(lon.size)
    )
    r_in = (
        sensors["min_range_m"].to_numpy(dtype=float)
        if "min_range_m" in sensors
        else np.zeros(lon.size)
    )
    return FootprintParams(
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        r_out=sensors["range_m"].to_numpy(dtype=float) * scale,
        r_in=np.nan_to_num(r_in) * scale,
        bearing_deg=np.nan_to_num(az) + north,
        fov_deg=fov,
    )


def border_intervals(border: Border, fp: FootprintParams) -> tuple[NDArray[np.int64], iv.Intervals]:
    """Exact pieces of border inside each footprint.

    Returns
    -------
    (footprint, (start, end))
        For every piece, the footprint it belongs to and its global chainage (m).
    """
    e = border.edges()
    if len(fp) == 0 or e["ax"].size == 0:
        return np.empty(0, dtype=np.int64), (np.empty(0), np.empty(0))
    edge_boxes = shapely.box(
        np.minimum(e["ax"], e["bx"]),
        np.minimum(e["ay"], e["by"]),
        np.maximum(e["ax"], e["bx"]),
        np.maximum(e["ay"], e["by"]),
    )
    fp_boxes = shapely.box(fp.x - fp.r_out, fp.y - fp.r_out, fp.x + fp.r_out, fp.y + fp.r_out)
    f_idx, e_idx = shapely.STRtree(edge_boxes).query(fp_boxes)
    sub = fp.take(f_idx)
    t_lo, t_hi = segment_intervals(
        e["ax"][e_idx], e["ay"][e_idx], e["bx"][e_idx], e["by"][e_idx], sub
    )
    valid = t_hi > t_lo  # NaN compares False
    rows, _ = np.nonzero(valid)
    c0, c1 = e["c0"][e_idx][rows], e["c1"][e_idx][rows]
    start = c0 + t_lo[valid] * (c1 - c0)
    end = c0 + t_hi[valid] * (c1 - c0)
    return f_idx[rows], (start, end)


def sensor_border_m(
    owner: NDArray[np.int64], ivs: iv.Intervals, n_sensors: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Border each sensor watches, and the part of it no other sensor watches.

    Parameters
    ----------
    owner, ivs
        Pieces of border (global chainage, m) and the sensor each belongs to, as
        :func:`border_intervals` gives them (a sensor's pieces may overlap or touch).
    n_sensors
        Number of sensors (owners are ``0 .. n_sensors - 1``).

    Returns
    -------
    covered_m, sole_m : ndarray of float, shape (n_sensors,)
        Per sensor, the length (m) of the union of its pieces, and of the part of that union
        covered by no other sensor's pieces (0 for a sensor without pieces).

    Examples
    --------
    >>> ivs = (np.array([0.0, 6.0]), np.array([10.0, 15.0]))
    >>> cov, sole = sensor_border_m(np.array([0, 1]), ivs, 3)
    >>> cov.tolist(), sole.tolist()
    ([10.0, 9.0, 0.0], [6.0, 5.0, 0.0])
    """
    own, merged = iv.union_by(owner, ivs)
    # Each sensor's pieces merged first, so depth counts sensors, not pieces.
    once = iv.subtract(iv.union(merged), iv.at_least(*merged, k=2))
    piece_m = merged[1] - merged[0]
    covered_m = np.bincount(own, weights=piece_m, minlength=n_sensors)
    sole_m = np.bincount(
        own, weights=np.minimum(iv.overlap_lengths(merged, once), piece_m), minlength=n_sensors
    )
    # With weights, bincount sums floats (numpy's stubs say integers): no copy is made.
    return covered_m.astype(np.float64, copy=False), sole_m.astype(np.float64, copy=False)


def _footprint_layer(sensors: gpd.GeoDataFrame, drawn: NDArray[np.object_]) -> gpd.GeoDataFrame:
    attrs = pd.DataFrame(sensors.drop(columns=sensors.geometry.name))
    return gpd.GeoDataFrame(attrs, geometry=list(drawn), crs=WGS84)


def watched_and_overlap(
    groups: list[NDArray[np.object_]],
) -> tuple[shapely.Geometry, shapely.Geometry]:
    """The union of all the polygons, and where polygons of two or more groups overlap.

    Each group (a partner's footprints) is merged on its own, the groups in parallel (GEOS
    releases the GIL); then the groups are added one by one, the overlap growing by what each
    new group shares with those before it. Only the polygonal part of an overlap is kept
    (groups that merely touch share lines, which have no area).

    Examples
    --------
    >>> a, b = shapely.box(0, 0, 2, 1), shapely.box(1, 0, 3, 1)
    >>> watched, overlap = watched_and_overlap([np.array([a]), np.array([b])])
    >>> watched.area, overlap.area
    (3.0, 1.0)
    """
    merged = map_threads(_union_all, groups, name="limes-union")
    if not merged:
        return shapely.Polygon(), shapely.Polygon()
    watched, overlap = merged[0], shapely.Polygon()
    for group in merged[1:]:
        shared = _polygonal(shapely.intersection(watched, group))
        overlap = shapely.union(overlap, shared)
        watched = shapely.union(watched, group)
    return watched, overlap


def footprint_covered_at(
    fp: FootprintParams,
    acrs: AnalysisCRS,
    *,
    polygons: NDArray[np.object_] | None = None,
    drawn: NDArray[np.object_] | None = None,
    build_now: bool = False,
) -> CoveredAt:
    """Whether each point (lon, lat) lies in one of the footprints ``fp``.

    The footprints are those of :func:`footprint_polygons` (``polygons``, when already
    built), densified to 500 m and taken to lon/lat, tested by
    :class:`geo.coverage.footprint_index.FootprintIndex`. ``drawn``, the same polygons
    already taken to lon/lat undensified, saves transforming those densifying leaves alone.
    The index is built on the first call (numba loads only then), or at once with
    ``build_now``.
    """

    def build() -> Any:
        from geo.coverage.footprint_index import FootprintIndex, reference_points

        polys = footprint_polygons(fp) if polygons is None else polygons
        # Only outlines with an edge longer than 500 m change (most disks have none).
        dense = np.asarray(polys, dtype=object).copy()
        long = _longest_edge(dense) > _DENSIFY_M * (1.0 - 1e-9)
        dense[long] = shapely.segmentize(dense[long], _DENSIFY_M)
        lonlat = np.empty(len(fp), dtype=object)
        todo = np.ones(len(fp), dtype=bool)
        if drawn is not None:
            todo = shapely.get_num_coordinates(dense) != shapely.get_num_coordinates(polys)
            lonlat[~todo] = drawn[~todo]
        lonlat[todo] = lonlat_threads(dense[todo], acrs)
        ref_lon, ref_lat = acrs.to_lonlat.transform(*reference_points(fp))
        # Wrapped round the analysis' centre: a footprint across 180° stays one star shape.
        return FootprintIndex.from_polygons(
            wrap_geometries(lonlat, centre), wrap_lon(ref_lon, centre), ref_lat
        )

    centre = acrs.lon_centre_deg
    covered_at = FootprintCoveredAt(build, lon_centre_deg=centre)
    if build_now:
        covered_at.build_index()
    return covered_at


class FootprintCoveredAt:
    """``covered_at(lon, lat)`` of :func:`footprint_covered_at`: its index, built once.

    Pickled (e.g. sent to Dask workers), it travels with its index built and without the
    footprints it was built from (a third of the bytes for 10,000 sensors). The index holds
    the footprints with longitudes wrapped round ``lon_centre_deg`` (the analysis CRS's
    centre); points are wrapped the same way before the test.
    """

    def __init__(self, build: Callable[[], Any], *, lon_centre_deg: float = 0.0) -> None:
        self._build: Callable[[], Any] | None = build
        self._index: Any = None
        self.lon_centre_deg = lon_centre_deg

    def build_index(self) -> Any:
        """The footprint index, built now if not yet."""
        if self._index is None:
            assert self._build is not None  # only an unpickled one has no build, and an index
            self._index = self._build()
        return self._index

    def outline_rings(self) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
        """Every ring the test reads, as a polygon in its wrapped lon/lat frame, and its footprint.

        :meth:`FootprintIndex.rings`, for :mod:`geo.coverage.cell_classes`; an unpickled
        one has them too.
        """
        rings: tuple[NDArray[np.object_], NDArray[np.int64]] = self.build_index().rings()
        return rings

    def __call__(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
        lon = wrap_lon(lon, self.lon_centre_deg)
        covers: NDArray[np.bool_] = self.build_index().covers(lon, lat)
        return covers

    def __getstate__(self) -> dict[str, Any]:
        return {"_build": None, "_index": self.build_index(), "lon_centre_deg": self.lon_centre_deg}


def lonlat_threads(geoms: NDArray[np.object_], acrs: AnalysisCRS) -> NDArray[np.object_]:
    """:func:`geo.core.projection.to_lonlat`, the vertices shared out to every core.

    PROJ releases the GIL and each thread gets its own transformer (pyproj), so the answer
    is the same, vertex for vertex.
    """
    tr = acrs.to_lonlat

    def transform(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        bounds = [*range(0, len(xy), _VERTICES_PER_TASK), len(xy)]
        parts = map_threads(
            lambda b: np.column_stack(tr.transform(xy[b[0] : b[1], 0], xy[b[0] : b[1], 1])),
            list(itertools.pairwise(bounds)),
            name="limes-lonlat",
        )
        return np.concatenate(parts) if parts else xy.copy()

    return shapely.transform(np.asarray(geoms, dtype=object), transform)


def _longest_edge(geoms: NDArray[np.object_]) -> NDArray[np.float64]:
    """Per geometry, the longest step between consecutive vertices (0 for fewer than two).

    Steps from one ring to the next count too: never less than the longest edge.

    Examples
    --------
    >>> _longest_edge(np.array([shapely.box(0, 0, 3, 1), None], dtype=object)).tolist()
    [3.0, 0.0]
    """
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    step = np.hypot(*np.diff(coords, axis=0).T)
    same = owner[1:] == owner[:-1]
    longest = np.zeros(len(geoms))
    np.maximum.at(longest, owner[1:][same], step[same])
    return longest


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of ``geom`` (lines and points of a collection dropped)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = shapely.get_parts(shapely.get_parts(geom))
    return shapely.multipolygons(parts[shapely.get_type_id(parts) == 3])


def _union_all(geoms: NDArray[np.object_]) -> shapely.Geometry:
    geoms = np.asarray(geoms, dtype=object)
    if geoms.size == 0:
        return shapely.Polygon()
    return shapely.union_all(geoms)


__all__ = [
    "FlatEngine",
    "border_intervals",
    "flat_border",
    "flat_corridor",
    "sensor_border_m",
    "sensor_footprints",
]
