"""geo.coverage.pointindex.membership against shapely.contains_xy (GEOS), point for point.

The index path (:class:`geo.coverage.polygon_index.PolygonIndex`) must give exactly what GEOS gives;
the only allowed differences are points within 1e-9 of an outline, where "inside" is a
matter of rounding. Each case uses 200,000 points (well above the grid threshold), part of
them placed close to the outlines, where a missed edge or a wrong cell centre would show.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import shapely.affinity

from geo.coverage import pointindex, polygon_index

N_POINTS = 200_000
EDGE_TOL = 1e-9


def _reference(poly: shapely.Geometry | None, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if poly is None or shapely.is_empty(poly):
        return np.zeros(x.size, dtype=bool)
    fresh = shapely.from_wkb(shapely.to_wkb(poly))  # a copy: no state shared with the call
    return shapely.contains_xy(fresh, x, y)


def _assert_same_as_geos(polys: list, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Run membership and compare every column with GEOS; return the reference matrix."""
    got = pointindex.membership(polys, x, y)
    assert got.shape == (x.size, len(polys))
    assert got.dtype == np.bool_
    ref = (
        np.column_stack([_reference(p, x, y) for p in polys])
        if polys
        else np.zeros((x.size, 0), bool)
    )
    for j, p in enumerate(polys):
        bad = np.flatnonzero(got[:, j] != ref[:, j])
        if bad.size:
            near = shapely.dwithin(shapely.boundary(p), shapely.points(x[bad], y[bad]), EDGE_TOL)
            assert near.all(), (
                f"polygon {j}: {int((~near).sum())} of {x.size} points differ from GEOS away from "
                f"the outline, e.g. ({x[bad[~near][0]]!r}, {y[bad[~near][0]]!r}): "
                f"got {got[bad[~near][0], j]}, GEOS says {ref[bad[~near][0], j]}"
            )
    return ref


def _near_outline(
    rng: np.random.Generator, geom: shapely.Geometry, n: int, spread: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points scattered within about ``spread`` of the outline of ``geom``."""
    rings = shapely.get_parts(shapely.boundary(geom))
    lengths = shapely.length(rings)
    which = rng.choice(rings.size, size=n, p=lengths / lengths.sum())
    along = rng.random(n) * lengths[which]
    pts = shapely.line_interpolate_point(rings[which], along)
    xy = shapely.get_coordinates(pts)
    # spreads from 1e-8 to `spread`, log-uniform: both sides of the edge, in and beyond edge cells
    magnitude = 10.0 ** rng.uniform(-8, np.log10(spread), (n, 1))
    xy = xy + magnitude * rng.normal(size=(n, 2))
    return xy[:, 0], xy[:, 1]


def _disk_union(rng: np.random.Generator, n: int = 500, size: float = 100.0) -> shapely.Geometry:
    centres = shapely.points(rng.uniform(0, size, (n, 2)))
    return shapely.union_all(shapely.buffer(centres, rng.uniform(0.5, 5.0, n) * size / 100.0))


@pytest.fixture(scope="module")
def disks() -> shapely.Geometry:
    return _disk_union(np.random.default_rng(0))


def _points_for(rng: np.random.Generator, geoms: list, n: int = N_POINTS, near_share: float = 0.3):
    live = [g for g in geoms if g is not None and not shapely.is_empty(g)]
    xmin, ymin, xmax, ymax = shapely.total_bounds(np.asarray(live, dtype=object))
    pad = 0.05 * max(xmax - xmin, ymax - ymin)
    n_near = int(n * near_share)
    x = rng.uniform(xmin - pad, xmax + pad, n - n_near)  # some points beyond the bounds
    y = rng.uniform(ymin - pad, ymax + pad, n - n_near)
    cell = max(xmax - xmin, ymax - ymin) / 1000.0
    per = n_near // len(live)
    parts = [_near_outline(rng, g, per, cell) for g in live]
    xs = np.concatenate([x, *(p[0] for p in parts)])
    ys = np.concatenate([y, *(p[1] for p in parts)])
    return xs, ys


# ---- (a) complex outline with holes ---------------------------------------------------------


def test_union_of_disks_with_holes(disks: shapely.Geometry) -> None:
    assert sum(len(p.interiors) for p in shapely.get_parts(disks)) >= 5, "fixture should have holes"
    rng = np.random.default_rng(1)
    x, y = _points_for(rng, [disks])
    assert x.size >= N_POINTS - 10
    assert x.size > pointindex._MIN_POINTS
    ref = _assert_same_as_geos([disks], x, y)
    assert 0.2 < ref.mean() < 0.9  # plenty of points on both sides


# ---- (b) parts and holes smaller than a grid cell -------------------------------------------


def _grid_cell(bounds: tuple[float, float, float, float]) -> float:
    """Cell size of the grid the index builds for a polygon of these bounds with many short
    edges: its cell budget (``MAX_CELLS``, made small by the test) spread over the bounds.
    The test checks the grid built has it."""
    xmin, ymin, xmax, ymax = bounds
    return float(np.sqrt((xmax - xmin) * (ymax - ymin) / polygon_index.MAX_CELLS))


def _tiny_shapes(rng: np.random.Generator, size: float) -> tuple[list[shapely.Polygon], float]:
    """Triangles and quads far smaller than a grid cell, centred on cell corners."""
    cell = _grid_cell((0.0, 0.0, size, size))
    n_cells = int(size / cell)
    ij = rng.choice(n_cells * n_cells, size=400, replace=False)
    cx = (ij % n_cells + 0.5) * cell  # cell centres are at k * cell: these are corners
    cy = (ij // n_cells + 0.5) * cell
    shapes = []
    for x0, y0 in zip(cx, cy, strict=True):
        k = int(rng.integers(3, 5))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(0.05, 0.25, k) * cell
        shapes.append(
            shapely.Polygon(np.column_stack([x0 + r * np.cos(ang), y0 + r * np.sin(ang)]))
        )
    return [s for s in shapes if s.is_valid and s.area > 0], cell


@pytest.mark.parametrize("variant", ["islands", "holes"])
def test_features_smaller_than_a_cell(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Few cells, so that they are far larger than the shapes whatever their edges.
    monkeypatch.setattr(polygon_index, "MAX_CELLS", 10_000)
    rng = np.random.default_rng(2)
    size = 100.0
    tiny, cell = _tiny_shapes(rng, size)
    if variant == "islands":
        s = cell * 0.2  # two corner specks fix the bounds at (0, 0, size, size)
        corners = [shapely.box(0, 0, s, s), shapely.box(size - s, size - s, size, size)]
        poly = shapely.MultiPolygon(tiny + corners)
    else:
        poly = shapely.Polygon(
            [(0, 0), (size, 0), (size, size), (0, size)], holes=[t.exterior.coords for t in tiny]
        )
    assert poly.is_valid
    assert shapely.total_bounds(poly).tolist() == pytest.approx([0, 0, size, size])
    # The fixture does what it says: no cell centre of the grid falls in a tiny shape.
    assert polygon_index.grid_for(polygon_index.polygon_edges(poly))[2] == cell
    centres = np.arange(0, int(size / cell) + 1) * cell
    gx, gy = np.meshgrid(centres, centres)
    tiny_union = shapely.MultiPolygon(tiny)
    assert not shapely.contains_xy(tiny_union, gx.ravel(), gy.ravel()).any()

    bounds = shapely.bounds(np.asarray(tiny, dtype=object))
    which = rng.integers(0, len(tiny), N_POINTS // 2)
    lo, hi = bounds[which, :2], bounds[which, 2:]
    near = lo + (hi - lo) * rng.uniform(-0.5, 1.5, (which.size, 2))  # around and inside each
    x = np.concatenate([rng.uniform(0, size, N_POINTS // 2), near[:, 0]])
    y = np.concatenate([rng.uniform(0, size, N_POINTS // 2), near[:, 1]])
    ref = _assert_same_as_geos([poly], x, y)
    in_tiny = shapely.contains_xy(tiny_union, x, y)
    assert in_tiny.sum() > 5_000  # many points really are in the tiny shapes
    if variant == "islands":
        assert ref[in_tiny, 0].all()
    else:
        assert not ref[in_tiny, 0].any()


# ---- (c) overlapping polygons ----------------------------------------------------------------


def test_overlapping_polygons_report_every_member(disks: shapely.Geometry) -> None:
    shifted = shapely.affinity.translate(disks, 3.0, 2.0)
    frame = shapely.box(20, 20, 70, 70).difference(shapely.box(35, 35, 50, 50))
    polys = [disks, shifted, frame, disks]  # the last one twice, on purpose
    rng = np.random.default_rng(3)
    x, y = _points_for(rng, polys)
    ref = _assert_same_as_geos(polys, x, y)
    got = pointindex.membership(polys, x, y)
    np.testing.assert_array_equal(got[:, 0], got[:, 3])
    assert (ref[:, :3].sum(axis=1) == 3).sum() > 1000  # points in three polygons at once
    assert (ref[:, 0] & ~ref[:, 1]).any()
    assert (ref[:, 1] & ~ref[:, 0]).any()


# ---- (d) many polygons ------------------------------------------------------------------


def _blob(rng: np.random.Generator) -> shapely.Polygon:
    """A random star-shaped polygon (a few to a few dozen vertices)."""
    k = int(rng.integers(3, 40))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = rng.uniform(2, 25) * rng.uniform(0.4, 1.0, k)
    x0, y0 = rng.uniform(0, 100, 2)
    return shapely.Polygon(np.column_stack([x0 + r * np.cos(ang), y0 + r * np.sin(ang)])).buffer(0)


def test_forty_polygons() -> None:
    rng = np.random.default_rng(4)
    polys = [_blob(rng) for _ in range(40)]
    x, y = _points_for(rng, polys)
    ref = _assert_same_as_geos(polys, x, y)
    assert (ref.sum(axis=0) > 100).all()  # every polygon holds points
    assert (ref.sum(axis=1) >= 3).sum() > 1000  # and they overlap


# ---- (e) empty and None polygons ----------------------------------------------------------


def test_empty_and_none_polygons_contain_nothing(disks: shapely.Geometry) -> None:
    rng = np.random.default_rng(5)
    blobs = [_blob(rng) for _ in range(36)]
    # None / empty slots first, between live polygons and last
    polys: list = [
        None,
        *blobs[:10],
        shapely.Polygon(),
        *blobs[10:30],
        shapely.MultiPolygon(),
        disks,
        *blobs[30:],
        None,
        shapely.GeometryCollection(),
    ]
    x, y = _points_for(rng, polys)
    got = pointindex.membership(polys, x, y)
    for j, p in enumerate(polys):
        if p is None or shapely.is_empty(p):
            assert not got[:, j].any(), f"column {j} ({p}) should be all False"
    ref = _assert_same_as_geos(polys, x, y)
    assert ref.any(axis=0).sum() == len(blobs) + 1


@pytest.mark.parametrize(
    "polys", [[], [None], [None, shapely.Polygon()]], ids=["none", "None", "None+empty"]
)
def test_no_live_polygon(polys: list) -> None:
    x = np.random.default_rng(6).uniform(0, 1, N_POINTS)
    got = pointindex.membership(polys, x, x)
    assert got.shape == (N_POINTS, len(polys))
    assert not got.any()


# ---- (f) fewer points than the grid threshold ---------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 1000, pointindex._MIN_POINTS - 1, pointindex._MIN_POINTS])
def test_few_points(disks: shapely.Geometry, n: int) -> None:
    rng = np.random.default_rng(7)
    polys = [disks, shapely.box(10, 10, 60, 60), None]
    x, y = _points_for(rng, polys, n=max(n, 1))
    x, y = x[:n], y[:n]
    _assert_same_as_geos(polys, x, y)


# ---- inputs are left alone ----------------------------------------------------------------


def test_inputs_unchanged(disks: shapely.Geometry) -> None:
    rng = np.random.default_rng(8)
    polys = [disks, *(_blob(rng) for _ in range(35)), None]
    before = [None if p is None else shapely.get_coordinates(p).copy() for p in polys]
    wkb = [None if p is None else shapely.to_wkb(p) for p in polys]
    ids = [id(p) for p in polys]
    x, y = _points_for(rng, [p for p in polys if p is not None])
    x0, y0 = x.copy(), y.copy()
    pointindex.membership(polys, x, y)
    assert [id(p) for p in polys] == ids
    assert len(polys) == len(ids)
    for p, coords, blob in zip(polys, before, wkb, strict=True):
        if p is None:
            continue
        np.testing.assert_array_equal(shapely.get_coordinates(p), coords)
        assert shapely.to_wkb(p) == blob
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
