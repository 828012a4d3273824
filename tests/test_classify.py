"""Classifying detections from the footprints that reach them (geo.coverage.footprint_index).

Three outside truths:

- GEOS: ``shapely.contains_xy`` against every footprint polygon, point for point, on random
  points and on points a hair from the outlines (the index may differ only within 1e-9° of
  an outline, where "inside" is a matter of rounding);
- the analytic footprint on the ellipsoid (pyproj ``Geod``): a point clearly inside the true
  disk, annulus or wedge (beyond the polygon's sagitta) is watched, one clearly outside is not;
- the old path: the sample's detections classified against the union of the footprints
  give the same statuses.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod

from geo.core.projection import AnalysisCRS, choose_analysis_crs, to_lonlat
from geo.coverage.detections import _joined_ids, classify_points
from geo.coverage.flat import (
    FlatEngine,
    footprint_covered_at,
    sensor_footprints,
    watched_and_overlap,
)
from geo.coverage.footprint_index import FootprintIndex, reference_points
from geo.coverage.footprints import FootprintParams, footprint_polygons
from geo.coverage.scene import prepare_scene
from geo.inputs import read_border, read_detections, read_sectors, read_sensors

GEOD = Geod(ellps="WGS84")
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
EDGE_TOL_DEG = 1e-9

#: Footprints of every kind: (range_m, min_range_m, azimuth_deg, fov_deg).
KINDS = [
    (4_000.0, 0.0, 0.0, 360.0),  # disk
    (30_000.0, 0.0, 0.0, 360.0),  # large disk (edges densified to 500 m)
    (300.0, 0.0, 0.0, 360.0),  # small disk
    (5_000.0, 1_500.0, 0.0, 360.0),  # annulus
    (6_000.0, 0.0, 350.0, 60.0),  # wedge crossing north
    (8_000.0, 0.0, 10.0, 40.0),  # wedge crossing north the other way
    (25_000.0, 0.0, 123.0, 90.0),  # long wedge (sides densified)
    (5_000.0, 0.0, 200.0, 1.0),  # needle
    (5_000.0, 0.0, 90.0, 180.0),  # half disk
    (7_000.0, 0.0, 0.0, 270.0),  # reflex wedge, gap to the north-west
    (6_000.0, 0.0, 300.0, 359.0),  # almost a disk
    (9_000.0, 2_000.0, 45.0, 100.0),  # annular wedge
    (9_000.0, 4_000.0, 340.0, 300.0),  # annular reflex wedge crossing north
]


def sensors_at(lon0: float, lat0: float, seed: int = 0) -> gpd.GeoDataFrame:
    """One sensor of every kind, scattered within 40 km of (lon0, lat0)."""
    rng = np.random.default_rng(seed)
    n = len(KINDS)
    lon, lat = GEOD.fwd(
        np.full(n, lon0), np.full(n, lat0), rng.uniform(0, 360, n), rng.uniform(0, 40_000, n)
    )[:2]
    rng_m, min_m, az, fov = (np.array(col) for col in zip(*KINDS, strict=True))
    return gpd.GeoDataFrame(
        {
            "sensor_id": [f"s{i}" for i in range(n)],
            "partner": ["A", "B"] * (n // 2) + ["A"] * (n % 2),
            "kind": "camera",
            "range_m": rng_m,
            "min_range_m": min_m,
            "azimuth_deg": az,
            "fov_deg": fov,
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


def lonlat_polygons(fp: FootprintParams, acrs: AnalysisCRS) -> np.ndarray:
    """The footprint polygons the index tests against: densified to 500 m, in lon/lat."""
    return to_lonlat(shapely.segmentize(footprint_polygons(fp), 500.0), acrs)


def points_near_outlines(polys: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on the outlines moved off them by 1e-9° to 1e-3° (log-uniform), any way."""
    rng = np.random.default_rng(seed)
    rings = shapely.get_rings(shapely.get_parts(polys))
    which = rng.integers(0, rings.size, n)
    on = shapely.line_interpolate_point(rings[which], rng.uniform(0, 1, n), normalized=True)
    step = 10 ** rng.uniform(-9, -3, n)
    turn = rng.uniform(0, 2 * np.pi, n)
    return shapely.get_x(on) + step * np.cos(turn), shapely.get_y(on) + step * np.sin(turn)


def assert_same_as_geos(got: np.ndarray, polys: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    fresh = shapely.from_wkb(shapely.to_wkb(polys))  # no state shared with the index
    truth = np.zeros(x.size, dtype=bool)
    for p in fresh:
        truth |= shapely.contains_xy(p, x, y)
    bad = np.flatnonzero(got != truth)
    if bad.size:
        outline = shapely.union_all(shapely.boundary(fresh))
        near = shapely.dwithin(outline, shapely.points(x[bad], y[bad]), EDGE_TOL_DEG)
        assert near.all(), (
            f"{int((~near).sum())} of {x.size} points differ from GEOS away from the outlines, "
            f"e.g. ({x[bad[~near][0]]!r}, {y[bad[~near][0]]!r}): index says "
            f"{got[bad[~near][0]]}, GEOS {truth[bad[~near][0]]}"
        )
    assert 0.05 < truth.mean() < 0.95  # both answers are exercised


@pytest.fixture(params=[(24.0, 55.0), (-70.5, -33.4), (15.0, 69.5), (100.0, 0.2)], ids=str)
def setting(request):
    lon0, lat0 = request.param
    sensors = sensors_at(lon0, lat0)
    acrs = choose_analysis_crs(*np.array([[lon0, lon0 + 0.5], [lat0, lat0 + 0.3]]))
    return sensors, acrs, sensor_footprints(sensors, acrs)


def test_index_equals_geos_on_random_points_and_near_outlines(setting):
    _, acrs, fp = setting
    polys = lonlat_polygons(fp, acrs)
    xmin, ymin, xmax, ymax = shapely.total_bounds(polys)
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [rng.uniform(xmin, xmax, 200_000), points_near_outlines(polys, 100_000, 2)[0]]
    )
    y = np.concatenate(
        [rng.uniform(ymin, ymax, 200_000), points_near_outlines(polys, 100_000, 2)[1]]
    )
    got = footprint_covered_at(fp, acrs)(x, y)
    assert got.dtype == np.bool_
    assert got.shape == x.shape
    assert_same_as_geos(got, polys, x, y)


def test_index_answers_do_not_depend_on_the_reference_points(setting):
    """A poor reference (outside, on a vertex, far away) only slows the index down."""
    _, acrs, fp = setting
    polys = lonlat_polygons(fp, acrs)
    x, y = points_near_outlines(polys, 50_000, 3)
    first = shapely.get_coordinates(shapely.get_exterior_ring(polys))[0]
    good = FootprintIndex.from_polygons(polys, *acrs.to_lonlat.transform(*reference_points(fp)))
    for ref in ([first[0], first[1]], [0.0, 0.0]):
        poor = FootprintIndex.from_polygons(polys, ref[0], ref[1])
        np.testing.assert_array_equal(poor.covers(x, y), good.covers(x, y))
    assert_same_as_geos(good.covers(x, y), polys, x, y)


def test_every_ring_kind_takes_its_fast_path(setting):
    """Disks, holes and wedges are star-shaped around their references (the binary search)."""
    _, acrs, fp = setting
    index = FootprintIndex.from_polygons(
        lonlat_polygons(fp, acrs), *acrs.to_lonlat.transform(*reference_points(fp))
    )
    star = index.ring_i[:, 3] > index.ring_i[:, 2]
    n_rings = shapely.get_num_interior_rings(footprint_polygons(fp)) + 1
    ring_kind = np.repeat(np.arange(len(KINDS)), n_rings)
    annular_wedge = np.array([k[1] > 0 and k[3] < 360 for k in KINDS])
    assert star[~annular_wedge[ring_kind]].all()


@pytest.mark.parametrize("k", range(len(KINDS)))
def test_each_footprint_against_its_analytic_shape(setting, k):
    """Points at geodesic distance and azimuth from the sensor, clear of the outline by more
    than the polygon's sagitta (0.2 % of the range) plus 1 m, fall as the true shape says."""
    sensors, acrs, fp = setting
    rng_m, min_m, az, fov = KINDS[k]
    lon0, lat0 = sensors.geometry.x[k], sensors.geometry.y[k]
    rng = np.random.default_rng(k)
    n = 20_000
    dist = rng.uniform(0, 1.3 * rng_m, n)
    azim = rng.uniform(-180, 180, n)
    lon, lat = GEOD.fwd(np.full(n, lon0), np.full(n, lat0), azim, dist)[:2]
    off = np.abs((azim - az + 180) % 360 - 180)  # angle from the centre of view
    inside = (dist >= min_m) & (dist <= rng_m) & ((fov >= 360) | (off <= fov / 2))
    margin = 0.002 * rng_m + 1.0
    clear = (np.abs(dist - rng_m) > margin) & ((min_m == 0) | (np.abs(dist - min_m) > margin))
    if fov < 360:
        side_m = dist * np.sin(np.radians(np.minimum(np.abs(off - fov / 2), 90)))
        clear &= side_m > margin
    got = footprint_covered_at(fp.take([k]), acrs)(lon, lat)
    assert clear.sum() > n / 2
    np.testing.assert_array_equal(got[clear], inside[clear])


def test_no_footprints_and_points_off_the_grid():
    empty = FootprintIndex.from_polygons(
        np.array([None, shapely.Polygon()]), [0.0, 0.0], [0.0, 0.0]
    )
    assert not empty.covers([0.0, 1.0], [0.0, 1.0]).any()
    disk = FootprintIndex.from_polygons([shapely.Point(10.0, 50.0).buffer(0.01)], [10.0], [50.0])
    got = disk.covers([10.0, 10.0, 200.0, np.nan, 10.0], [50.0, 50.02, 50.0, 50.0, np.nan])
    assert got.tolist() == [True, False, False, False, False]
    assert disk.covers([], []).shape == (0,)
    with pytest.raises(ValueError, match="lon and lat differ in length"):
        disk.covers([1.0, 2.0], [1.0])


def test_multipolygon_footprints_and_holes():
    ring = shapely.Point(0, 0).buffer(1.0).difference(shapely.Point(0, 0).buffer(0.5))
    two = shapely.MultiPolygon([shapely.box(3, 3, 4, 4), shapely.box(5, 5, 6, 6)])
    polys = np.array([ring, two], dtype=object)
    index = FootprintIndex.from_polygons(polys, [0.0, 3.5], [0.0, 3.5])
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-1.5, 6.5, 200_000), rng.uniform(-1.5, 6.5, 200_000)
    assert_same_as_geos(index.covers(x, y), polys, x, y)


def test_sample_detections_as_against_the_union():
    """The sample's detections (and 200,000 random points) get the statuses the union gave."""
    border, _ = read_border(SAMPLE / "border.geojson")
    sensors, _ = read_sensors(SAMPLE / "sensors.csv")
    sectors, _ = read_sectors(SAMPLE / "sectors.geojson")
    det, _ = read_detections(SAMPLE / "detections.csv")
    scene = prepare_scene(
        border,
        sensors,
        sectors=sectors,
        detections=det,
        corridor_km=5.0,
        min_gap_m=0.0,
        time_from=None,
        time_to=None,
    )
    corridor = FlatEngine().cover(scene).corridor
    assert corridor.coverage is not None
    assert corridor.covered_at is not None
    kw = {"corridor": scene.corridor, "sectors": scene.sectors.polygons}
    old, old_sec = classify_points(det, scene.acrs, coverage=corridor.coverage, **kw)
    new, new_sec = classify_points(
        det, scene.acrs, coverage=None, covered_at=corridor.covered_at, **kw
    )
    np.testing.assert_array_equal(np.asarray(new), np.asarray(old))
    np.testing.assert_array_equal(new_sec, old_sec)
    assert {"coverage", "gap", "outside"} <= set(np.asarray(new))

    xmin, ymin, xmax, ymax = det.total_bounds
    rng = np.random.default_rng(7)
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(
            rng.uniform(xmin, xmax, 200_000), rng.uniform(ymin, ymax, 200_000)
        ),
        crs=4326,
    )
    old, _ = classify_points(pts, scene.acrs, coverage=corridor.coverage, **kw)
    new, _ = classify_points(pts, scene.acrs, coverage=None, covered_at=corridor.covered_at, **kw)
    differ = np.flatnonzero(np.asarray(new) != np.asarray(old))
    # The union is densified after the overlay, the footprints before: their lon/lat outlines
    # may part by a millimetre, never more.
    outline = to_lonlat([shapely.boundary(corridor.coverage)], scene.acrs)[0]
    assert shapely.dwithin(outline, pts.geometry.to_numpy()[differ], 1e-7).all()


def test_watched_and_overlap_as_union_and_pairwise_intersections():
    rng = np.random.default_rng(11)
    groups = [
        shapely.buffer(shapely.points(rng.uniform(0, 20, (40, 2))), rng.uniform(0.3, 2.0, 40))
        for _ in range(4)
    ]
    watched, overlap = watched_and_overlap(groups)
    union = shapely.union_all(np.concatenate(groups))
    merged = [shapely.union_all(g) for g in groups]
    pairs = [shapely.intersection(merged[i], merged[j]) for i in range(4) for j in range(i + 1, 4)]
    truth = shapely.union_all(pairs)
    assert shapely.symmetric_difference(watched, union).area < 1e-9 * union.area
    assert shapely.symmetric_difference(overlap, truth).area < 1e-9 * truth.area
    assert overlap.area > 0
    assert watched_and_overlap([groups[0]])[1].is_empty
    assert all(g.is_empty for g in watched_and_overlap([]))


def test_joined_sector_ids_as_joined_one_by_one():
    rng = np.random.default_rng(3)
    member = rng.random((5_000, 7)) < 0.2
    ids = np.array([f"S{j}" for j in range(7)], dtype=object)
    naive = [",".join(ids[row]) for row in member]
    assert _joined_ids(member, ids).tolist() == naive
    assert _joined_ids(np.zeros((3, 0), dtype=bool), ids[:0]).tolist() == ["", "", ""]
