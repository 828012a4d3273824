"""The corridor and the sectors of classified detections (geo.coverage.polygon_index).

"Inside the corridor" means inside the corridor polygon as drawn: the border buffered in the
analysis CRS (``scene.corridor``), densified to 500 m and taken to lon/lat, the polygon whose
area the report gives and the map shows. Outside truths:

- GEOS: ``shapely.contains_xy`` against that polygon, point for point, on random points and
  on points a hair from its outline (the index may differ only within 1e-9° of it);
- the distance to the border: a point nearer the border than the corridor depth (less the
  buffer's polygonisation and the CRS' scale variation) is in the corridor, one farther
  (plus them) is not (``shapely.dwithin`` in the analysis CRS);
- the old path (GEOS for the corridor and the sectors, the footprint index for coverage):
  the same statuses and sectors for the sample's detections and for a synthetic case like
  the benchmark's, smaller.
"""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo.core.projection import to_lonlat
from geo.coverage.detections import _joined_ids, classify_detections, classify_points
from geo.coverage.flat import FlatEngine
from geo.coverage.polygon_index import PolygonIndex
from geo.coverage.scene import Scene, prepare_scene
from geo.inputs import read_border, read_detections, read_sectors, read_sensors

GEOD = Geod(ellps="WGS84")
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
EDGE_TOL_DEG = 1e-9
CORRIDOR_KM = 5.0


def wiggly_border(lon0: float, lat0: float, length_m: float = 300_000.0) -> gpd.GeoDataFrame:
    """A meandering border (tight bends: the buffer's joins matter) heading east."""
    d = np.linspace(0, length_m, 1_500)
    lon, lat = GEOD.fwd(np.full(d.size, lon0), np.full(d.size, lat0), np.full(d.size, 90.0), d)[:2]
    wiggle = 9_000 * np.sin(d / 20_000) + 3_000 * np.sin(d / 2_500)
    lon, lat = GEOD.fwd(lon, lat, np.zeros(d.size), wiggle)[:2]
    return gpd.GeoDataFrame(geometry=[shapely.LineString(np.column_stack([lon, lat]))], crs=4326)


def sensors_along(border: gpd.GeoDataFrame, n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    pts = shapely.line_interpolate_point(
        border.geometry.iloc[0], rng.uniform(0, 1, n), normalized=True
    )
    lon, lat = GEOD.fwd(
        shapely.get_x(pts), shapely.get_y(pts), rng.uniform(0, 360, n), rng.uniform(0, 3_000, n)
    )[:2]
    return gpd.GeoDataFrame(
        {
            "sensor_id": [f"s{i}" for i in range(n)],
            "partner": rng.choice(["A", "B", "C"], n),
            "kind": "camera",
            "range_m": rng.uniform(300, 4_000, n),
            "min_range_m": np.where(rng.random(n) < 0.1, 200.0, 0.0),
            "azimuth_deg": rng.uniform(0, 360, n),
            "fov_deg": np.where(rng.random(n) < 0.4, rng.uniform(30, 180, n), 360.0),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


def points_around(border: gpd.GeoDataFrame, n: int, seed: int) -> gpd.GeoDataFrame:
    """Detections around the border, most within twice the corridor depth."""
    rng = np.random.default_rng(seed)
    pts = shapely.line_interpolate_point(
        border.geometry.iloc[0], rng.uniform(0, 1, n), normalized=True
    )
    lon, lat = GEOD.fwd(
        shapely.get_x(pts), shapely.get_y(pts), rng.uniform(0, 360, n), rng.exponential(4_000, n)
    )[:2]
    return gpd.GeoDataFrame(
        {"detection_id": [f"D{i}" for i in range(n)]},
        geometry=gpd.points_from_xy(np.round(lon, 6), np.round(lat, 6)),
        crs=4326,
    )


def sectors_along(border: gpd.GeoDataFrame, n: int) -> gpd.GeoDataFrame:
    """``n`` sectors cutting the border into stretches, overlapping a little."""
    line = border.geometry.iloc[0]
    cuts = np.linspace(0, 1, n + 1)
    polys = [
        shapely.buffer(shapely.ops.substring(line, max(a - 0.02, 0), b, normalized=True), 0.1)
        for a, b in itertools.pairwise(cuts)
    ]
    return gpd.GeoDataFrame(
        {
            "sector_id": [f"S{i}" for i in range(n)],
            "partner": ["A", "B"] * (n // 2) + ["A"] * (n % 2),
        },
        geometry=polys,
        crs=4326,
    )


def scene_of(border, sensors, sectors, det) -> Scene:
    return prepare_scene(
        border, sensors, sectors=sectors, detections=det, corridor_km=CORRIDOR_KM,
        min_gap_m=0.0, time_from=None, time_to=None,
    )  # fmt: skip


def drawn(scene: Scene) -> np.ndarray:
    """The corridor and the sectors as the classification tests them (see the module notes)."""
    polys = np.asarray([scene.corridor, *scene.sectors.polygons], dtype=object)
    return to_lonlat(shapely.segmentize(polys, 500.0), scene.acrs)


def geos_classification(scene: Scene, covered_at, points: gpd.GeoDataFrame):
    """The old path: GEOS for the corridor and the sectors, ``covered_at`` in the corridor."""
    lon, lat = shapely.get_coordinates(points.geometry.to_numpy()).T
    polys = shapely.from_wkb(shapely.to_wkb(drawn(scene)))  # no state shared with the index
    member = np.column_stack([shapely.contains_xy(p, lon, lat) for p in polys])
    in_corr, in_sector = member[:, 0], member[:, 1:]
    in_cov = np.zeros(lon.size, dtype=bool)
    in_cov[in_corr] = covered_at(lon[in_corr], lat[in_corr])
    status = np.where(in_corr, np.where(in_cov, "coverage", "gap"), "outside")
    return status, in_sector


def near_outline(poly: shapely.Geometry, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on the outline moved off it by 1e-9° to 1e-2° (log-uniform), any way."""
    rng = np.random.default_rng(seed)
    coords, ring = shapely.get_coordinates(
        shapely.get_rings(shapely.get_parts(poly)), return_index=True
    )
    same = ring[1:] == ring[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    length = np.hypot(*(b - a).T)
    edge = rng.choice(length.size, n, p=length / length.sum())
    on = a[edge] + rng.uniform(0, 1, (n, 1)) * (b[edge] - a[edge])
    step = 10 ** rng.uniform(-9, -2, n)
    turn = rng.uniform(0, 2 * np.pi, n)
    return on[:, 0] + step * np.cos(turn), on[:, 1] + step * np.sin(turn)


@pytest.fixture(scope="module", params=[(10.0, 48.0), (-70.0, -33.0), (24.0, 67.5)], ids=str)
def corridor_case(request):
    border = wiggly_border(*request.param)
    scene = scene_of(border, sensors_along(border, 50, 0), None, None)
    poly = drawn(scene)[0]
    rng = np.random.default_rng(1)
    xmin, ymin, xmax, ymax = shapely.bounds(poly)
    nx, ny = near_outline(poly, 50_000, 2)
    x = np.concatenate([rng.uniform(xmin - 0.05, xmax + 0.05, 100_000), nx])
    y = np.concatenate([rng.uniform(ymin - 0.05, ymax + 0.05, 100_000), ny])
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=4326)
    status, _ = classify_points(
        pts, scene.acrs, corridor=scene.corridor, coverage=None, sectors=scene.sectors.polygons,
        covered_at=lambda lon, lat: np.zeros(lon.size, dtype=bool),
    )  # fmt: skip
    return scene, poly, x, y, np.asarray(status) != "outside"


def test_corridor_as_geos_on_random_points_and_near_its_outline(corridor_case):
    _, poly, x, y, in_corr = corridor_case
    fresh = shapely.from_wkb(shapely.to_wkb(poly))  # no state shared with the index
    shapely.prepare(fresh)
    truth = shapely.contains_xy(fresh, x, y)
    outline = shapely.boundary(fresh)
    shapely.prepare(outline)
    bad = np.flatnonzero(in_corr != truth)
    near = shapely.dwithin(outline, shapely.points(x[bad], y[bad]), EDGE_TOL_DEG)
    assert near.all(), f"{int((~near).sum())} points differ from GEOS away from the outline"
    assert 0.2 < truth.mean() < 0.8
    # Many points lie within a metre of the outline, on both sides.
    close = shapely.dwithin(outline, shapely.points(x, y), 1e-5)
    assert close.sum() > 10_000
    assert 0.3 < truth[close].mean() < 0.7


def test_corridor_as_the_distance_to_the_border(corridor_case):
    """Points clearly nearer or farther than the depth (metric CRS) are in or out."""
    scene, _, x, y, in_corr = corridor_case
    px, py = scene.acrs.to_proj.transform(x, y)
    lines = shapely.multilinestrings([shapely.LineString(xy) for xy in scene.border.xy])
    shapely.prepare(lines)
    # The buffer's depth in the CRS (the depth on the ground times the scale along the
    # border): the distance of the corridor's outline vertices, all on the offset curves or
    # where two of them meet (nearer).
    vertices = shapely.points(shapely.get_coordinates(shapely.boundary(scene.corridor)))
    depth = float(shapely.distance(lines, vertices).max())
    assert depth == pytest.approx(CORRIDOR_KM * 1000, rel=2e-3)
    # Its joins are polygons of 8 segments a quarter turn: chords up to 1 - cos(pi / 32) short.
    tol = depth * (1 - np.cos(np.pi / 32)) + 1.0
    pts = shapely.points(px, py)
    near, far = shapely.dwithin(lines, pts, depth - tol), ~shapely.dwithin(lines, pts, depth + 1.0)
    assert in_corr[near].all()
    assert not in_corr[far].any()
    assert near.sum() > 20_000
    assert far.sum() > 20_000


def test_index_alone_as_geos_with_holes_and_parts():
    """A multipolygon with holes, and polygons of few long edges (one-cell-wide features)."""
    rng = np.random.default_rng(3)
    disks = shapely.union_all(shapely.buffer(shapely.points(rng.uniform(0, 50, (300, 2))), 2.0))
    frame = shapely.box(0, 0, 50, 50).difference(shapely.box(10, 10, 40, 40))
    sliver = shapely.Polygon([(0, 0), (50, 0.2), (50, 0.4)])  # thinner than a cell near 0
    polys = [disks, frame, sliver]
    x, y = rng.uniform(-1, 51, 300_000), rng.uniform(-1, 51, 300_000)
    nx, ny = near_outline(disks, 100_000, 4)
    sx, sy = near_outline(sliver, 50_000, 5)
    x, y = np.concatenate([x, nx, sx]), np.concatenate([y, ny, sy])
    got = PolygonIndex.from_polygons(polys).contains(x, y)
    for k, p in enumerate(polys):
        truth = shapely.contains_xy(p, x, y)
        bad = np.flatnonzero(got[:, k] != truth)
        near = shapely.dwithin(shapely.boundary(p), shapely.points(x[bad], y[bad]), EDGE_TOL_DEG)
        assert near.all(), f"polygon {k}: {int((~near).sum())} points differ from GEOS"
        assert truth.sum() > 100


def _same_as_old_path(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    corridor = FlatEngine().cover(scene).corridor
    layer, in_sector = classify_detections(scene, corridor)
    status, old_sector = geos_classification(scene, corridor.covered_at, scene.detections)
    np.testing.assert_array_equal(np.asarray(layer["coverage_status"]), status)
    np.testing.assert_array_equal(in_sector, old_sector)
    ids = scene.sectors.ids
    expected = [",".join(ids[row]) for row in old_sector]
    assert layer["sector_ids"].tolist() == expected
    return status, in_sector


def test_sample_statuses_as_the_old_path():
    border, _ = read_border(SAMPLE / "border.geojson")
    sensors, _ = read_sensors(SAMPLE / "sensors.csv")
    sectors, _ = read_sectors(SAMPLE / "sectors.geojson")
    det, _ = read_detections(SAMPLE / "detections.csv")
    # The sample's detections, and 200,000 points around them (past the GEOS-only threshold).
    xmin, ymin, xmax, ymax = det.total_bounds
    rng = np.random.default_rng(9)
    many = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(
            rng.uniform(xmin, xmax, 200_000), rng.uniform(ymin, ymax, 200_000)
        ),
        crs=4326,
    )
    for points in (det, many):
        status, in_sector = _same_as_old_path(scene_of(border, sensors, sectors, points))
        assert {"coverage", "gap", "outside"} <= set(status)
        assert in_sector.any(axis=0).all()


def test_bench_like_statuses_as_the_old_path():
    """10,000 sensors along 3,000 km become 300 along 300 km; 100,000 detections; 7 sectors."""
    border = wiggly_border(5.0, 50.0)
    det = points_around(border, 100_000, 5)
    scene = scene_of(border, sensors_along(border, 300, 4), sectors_along(border, 7), det)
    status, in_sector = _same_as_old_path(scene)
    counts = pd.Series(status).value_counts()
    assert (counts[["coverage", "gap", "outside"]] > 1_000).all()
    assert (in_sector.sum(axis=1) == 2).sum() > 100  # the sectors overlap


def test_joined_ids_beyond_64_sectors():
    rng = np.random.default_rng(6)
    member = rng.random((20_000, 70)) < 0.02
    member[:, 65] |= rng.random(20_000) < 0.5  # rows that differ only past the first word
    ids = np.array([f"S{j}" for j in range(70)], dtype=object)
    assert _joined_ids(member, ids).tolist() == [",".join(ids[row]) for row in member]


def test_index_travels_pickled_and_skips_missing_polygons():
    """Built once, sent to workers (Dask pickles it): the same answers after the trip."""
    rng = np.random.default_rng(7)
    disks = shapely.union_all(shapely.buffer(shapely.points(rng.uniform(0, 10, (50, 2))), 1.0))
    polys = np.array([None, disks, shapely.Polygon()], dtype=object)
    index = PolygonIndex.from_polygons(polys)
    x, y = rng.uniform(-1, 11, 50_000), rng.uniform(-1, 11, 50_000)
    got = pickle.loads(pickle.dumps(index)).contains(x, y)
    np.testing.assert_array_equal(got, index.contains(x, y))
    assert not got[:, [0, 2]].any()
    truth = shapely.contains_xy(disks, x, y)
    bad = np.flatnonzero(got[:, 1] != truth)
    assert shapely.dwithin(shapely.boundary(disks), shapely.points(x[bad], y[bad]), 1e-9).all()
    assert 0.2 < truth.mean() < 0.9
