"""Fine cells a classifier sees as one class: the proof holds point by point.

:meth:`geo.coverage.streamed.PointClassifier.cell_classes` calls a cell uniform only when
no deciding outline comes near it. The outside truth is ``classify`` itself: for every
uniform cell among thousands (every cell over the corridor, and random ones around it),
random points inside it, its four corners and its edges' midpoints (points exactly on the
box) all get the cell's class. Scenarios: the sample (flat engine, its sectors), the
sample's coverage as one polygon (no ``covered_at``), the sample on its DEM (terrain: a
raster, no outlines) and the Bering scene across 180° (wrapped longitudes).
"""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
import shapely
from numpy.typing import NDArray
from test_antimeridian import CASES
from test_antimeridian import scene as bering_scene

from geo.core import settings
from geo.core.antimeridian import wrap_lon
from geo.core.cells import BOX_SLACK_DEG, FINE_DEG, NO_CELL, fine_boxes, fine_cells_of
from geo.core.settings import SAMPLE_DIR
from geo.coverage import cell_classes as cc
from geo.coverage.detections import PointTest
from geo.coverage.engine import CorridorCoverage
from geo.coverage.flat import FlatEngine
from geo.coverage.scene import prepare_scene
from geo.coverage.streamed import PointClassifier, point_classifier
from geo.inputs import read_border, read_sectors, read_sensors

#: Random points per uniform cell (beside its 4 corners and 4 edge midpoints).
POINTS_PER_CELL = 12
#: The point tests' own floating-point error near an edge (degrees, coordinates < 540°):
#: a few ulps of 540 (1.1e-13) each; an edge this close to a point may fall either way.
ROUNDING_DEG = 1e-12
#: Random cells around the corridor, beside those over it.
RANDOM_CELLS = 3_000


@pytest.fixture(scope="module")
def sample() -> dict[str, object]:
    return {
        "border": read_border(SAMPLE_DIR / "border.geojson")[0],
        "sensors": read_sensors(SAMPLE_DIR / "sensors.csv")[0],
        "sectors": read_sectors(SAMPLE_DIR / "sectors.geojson")[0],
    }


def _flat(sample: dict[str, object], corridor_km: float = settings.CORRIDOR_KM) -> PointClassifier:
    return point_classifier(
        sample["border"], sample["sensors"], sectors=sample["sectors"], corridor_km=corridor_km,  # type: ignore[arg-type]
    )  # fmt: skip


def _polygon(sample: dict[str, object]) -> PointClassifier:
    """The sample's classifier with coverage as the union polygon (no ``covered_at``)."""
    scene = prepare_scene(
        sample["border"], sample["sensors"], sectors=sample["sectors"], detections=None,  # type: ignore[arg-type]
        corridor_km=50.0, min_gap_m=0.0, time_from=None, time_to=None,
    )  # fmt: skip
    corridor: CorridorCoverage = FlatEngine().cover(scene).corridor
    test = PointTest(
        scene.acrs, corridor=scene.corridor, coverage=corridor.coverage,
        sectors=scene.sectors.polygons, covered_at=None,
    )  # fmt: skip
    return PointClassifier(scene.acrs, test, scene.sectors.ids, scene.sectors.partner)


def _terrain(sample: dict[str, object]) -> PointClassifier:
    return point_classifier(
        sample["border"], sample["sensors"], sectors=sample["sectors"],  # type: ignore[arg-type]
        dem=SAMPLE_DIR / "dem.tif",
    )  # fmt: skip


def _bering(sample: dict[str, object]) -> PointClassifier:
    case = CASES["bering"]
    border, sensors, _ = bering_scene(case)
    return point_classifier(border, sensors, corridor_km=case.corridor_km)


BUILDERS = {"sample": _flat, "polygon": _polygon, "terrain": _terrain, "bering": _bering}


@pytest.fixture(scope="module", params=list(BUILDERS))
def case(request: pytest.FixtureRequest, sample: dict[str, object]) -> tuple[str, PointClassifier]:
    return request.param, BUILDERS[request.param](sample)


def _unwrap(lon: NDArray[np.float64]) -> NDArray[np.float64]:
    """Longitudes into [-180, 180) (the store's frame; the tests' frame may go past 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def cells_over_corridor(clf: PointClassifier, seed: int = 0) -> NDArray[np.int64]:
    """Every cell whose box meets the corridor, and :data:`RANDOM_CELLS` random ones near it."""
    corridor = clf.test.outlines.polygons[0]
    x0, y0, x1, y1 = corridor.bounds
    lon, lat = np.meshgrid(
        np.arange(x0 - 0.02, x1 + 0.02, FINE_DEG), np.arange(y0 - 0.02, y1 + 0.02, FINE_DEG)
    )
    cells = np.unique(fine_cells_of(_unwrap(lon.ravel()), lat.ravel()))
    w, s, e, n = fine_boxes(cells)
    shift = wrap_lon(w, clf.test.lon_centre_deg) - w  # into the corridor's frame
    boxes = shapely.box(w + shift, s, e + shift, n)
    shapely.prepare(corridor)
    over = cells[shapely.intersects(corridor, boxes)]
    rng = np.random.default_rng(seed)
    more = fine_cells_of(
        _unwrap(rng.uniform(x0 - 1, x1 + 1, RANDOM_CELLS)),
        rng.uniform(y0 - 1, y1 + 1, RANDOM_CELLS),
    )
    # And cells across the wrapped frame's seam (the analysis' antipodal meridian).
    seam = clf.test.lon_centre_deg + 180.0 + np.arange(-0.025, 0.03, 0.01)
    across = fine_cells_of(_unwrap(seam), np.full(seam.size, (y0 + y1) / 2))
    return np.unique(np.concatenate([over, more, across]))


def _images_across_seam(clf: PointClassifier, cells: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which cells' padded boxes cross the seam of the tests' wrapped frame."""
    return cc._images(cells, clf.test.lon_centre_deg).seam


def probe_points(
    cells: NDArray[np.int64], per_cell: int, seed: int = 1
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Points of each cell: random inside, its corners and edge midpoints; with their cell."""
    w, s, e, n = fine_boxes(cells)
    rng = np.random.default_rng(seed)
    fx = np.concatenate([rng.uniform(0, 1, (len(cells), per_cell)), np.tile(
        [0.0, 1.0, 0.0, 1.0, 0.5, 0.5, 0.0, 1.0], (len(cells), 1))], axis=1)  # fmt: skip
    fy = np.concatenate([rng.uniform(0, 1, (len(cells), per_cell)), np.tile(
        [0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.5, 0.5], (len(cells), 1))], axis=1)  # fmt: skip
    lon = w[:, None] + fx * (e - w)[:, None]
    lat = s[:, None] + fy * (n - s)[:, None]
    # Exactly on the box: the corners and edges are the box's own numbers.
    lon[:, per_cell:] = np.where(fx[:, per_cell:] == 0, w[:, None], lon[:, per_cell:])
    lon[:, per_cell:] = np.where(fx[:, per_cell:] == 1, e[:, None], lon[:, per_cell:])
    lat[:, per_cell:] = np.where(fy[:, per_cell:] == 0, s[:, None], lat[:, per_cell:])
    lat[:, per_cell:] = np.where(fy[:, per_cell:] == 1, n[:, None], lat[:, per_cell:])
    owner = np.repeat(np.arange(len(cells)), fx.shape[1])
    return owner, lon.ravel(), lat.ravel()


def test_every_point_of_a_uniform_cell_gets_its_class(case: tuple[str, PointClassifier]) -> None:
    name, clf = case
    clf = replace(clf, cells=cc.CellClassCache())
    cells = cells_over_corridor(clf)
    got = clf.cell_classes(cells)
    uni = np.flatnonzero(got.uniform)
    owner, lon, lat = probe_points(cells[uni], POINTS_PER_CELL)
    codes, in_sector = clf.classify(lon, lat)
    bad_code = codes != got.codes[uni][owner]
    bad_sector = (in_sector != got.in_sector[uni][owner]).any(axis=1)
    print(f"{name}: {len(cells):,} cells, {len(uni) / len(cells):.1%} uniform, {len(lon):,} points")
    assert not bad_code.any(), f"{name}: {bad_code.sum()} points differ in status from their cell"
    assert not bad_sector.any(), f"{name}: {bad_sector.sum()} points differ in sectors"
    # Cells across the seam, far from everything, are uniform outside.
    seam = _images_across_seam(clf, cells)
    assert seam.any()
    assert got.uniform[seam].all()
    # Each class seen; cells not uniform carry no class.
    assert set(got.codes[uni].tolist()) >= ({2} if name == "terrain" else {0, 1, 2})
    assert (got.codes[~got.uniform] == -1).all()
    assert not got.in_sector[~got.uniform].any()


def test_most_cells_near_the_border_are_uniform(sample: dict[str, object]) -> None:
    """On the sample, most cells within 50 km of the border are far from outlines."""
    clf = _flat(sample, corridor_km=50.0)
    corridor = clf.test.outlines.polygons[0]
    cells = cells_over_corridor(clf)
    w, s, e, n = fine_boxes(cells)
    inside = shapely.contains_xy(corridor, (w + e) / 2, (s + n) / 2)
    got = clf.cell_classes(cells[inside])
    share = got.uniform.mean()
    print(f"sample: {inside.sum():,} cells in the corridor, {share:.1%} uniform")
    assert share >= 0.9


def test_terrain_leaves_the_corridor_to_the_rows(sample: dict[str, object]) -> None:
    """A raster ``covered_at`` has no outlines: no cell in the corridor is uniform."""
    clf = _terrain(sample)
    cells = cells_over_corridor(clf)
    got = clf.cell_classes(cells)
    assert got.uniform.any()
    assert (got.codes[got.uniform] == 2).all()


def test_no_cell_is_never_uniform(sample: dict[str, object]) -> None:
    clf = _flat(sample)
    inside = fine_cells_of(np.array([24.5]), np.array([55.0]))[0]
    got = clf.cell_classes(np.array([NO_CELL, inside, NO_CELL]))
    assert got.uniform.tolist() == [False, got.uniform[1], False]
    assert got.codes[[0, 2]].tolist() == [-1, -1]


def _with_sector(clf: PointClassifier, sector: shapely.Geometry) -> PointClassifier:
    """``clf``'s corridor with one sector (given in the tests' wrapped lon/lat frame) and
    coverage without outlines."""
    test = PointTest(
        clf.acrs,
        corridor=clf.test.outlines.polygons[0],
        coverage=None,
        sectors=np.array([sector], dtype=object),
        covered_at=lambda lon, lat: np.zeros(len(lon), dtype=bool),
    )
    # Outlines as given (already lon/lat): built by hand, not taken to lon/lat again.
    test.outlines = type(test.outlines)([clf.test.outlines.polygons[0], sector])
    return PointClassifier(clf.acrs, test, np.array(["x"], dtype=object), np.array(["P"]))


def _sector_edge_at(clf: PointClassifier, x: float) -> PointClassifier:
    """``clf`` with one sector: everything west of longitude ``x`` near 22.5° E (outside
    the corridor)."""
    return _with_sector(clf, shapely.box(x - 1.0, 54.0, x, 56.0))


@pytest.mark.parametrize("inside_pad", [True, False])
def test_an_edge_within_the_margin_makes_a_cell_not_uniform(
    sample: dict[str, object], inside_pad: bool
) -> None:
    """An edge past the cell's box, but within its points' slack plus the point tests'
    rounding (:data:`ROUNDING_DEG`, ten times over), counts; one well beyond does not."""
    cell = fine_cells_of(np.array([22.505]), np.array([54.905]))
    w = fine_boxes(cell)[0][0]
    gap = BOX_SLACK_DEG + 10 * ROUNDING_DEG if inside_pad else 1e-6
    clf = _sector_edge_at(_flat(sample), w - gap)
    got = clf.cell_classes(cell)
    assert bool(got.uniform[0]) is not inside_pad


def test_a_classified_cell_is_not_worked_out_again(
    sample: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    clf = _flat(sample)
    cells = cells_over_corridor(clf)[:5_000]
    asked: list[int] = []
    near = cc.EdgeTree.near

    def counting(self: cc.EdgeTree, *box: NDArray[np.float64]) -> NDArray[np.bool_]:
        asked.append(len(box[0]))
        return near(self, *box)

    monkeypatch.setattr(cc.EdgeTree, "near", counting)
    first = clf.cell_classes(cells[:3_000])
    assert asked
    assert max(asked) == 3_000
    asked.clear()
    again = clf.cell_classes(cells[::-1][2_000:])  # cells[:3_000] reversed: all known
    assert asked == []
    assert (again.uniform[::-1] == first.uniform).all()
    assert (again.codes[::-1] == first.codes).all()
    clf.cell_classes(cells)  # 2,000 new ones
    assert max(asked) == 2_000
    built = clf.cells.outlines(lambda: pytest.fail("the edge trees are built again"))
    assert built is not None


def test_repeated_and_pickled(sample: dict[str, object]) -> None:
    """Repeats get the same answer; a pickled classifier (a Dask worker's) answers alike."""
    clf = _flat(sample)
    cells = cells_over_corridor(clf)[:4_000]
    twice = np.concatenate([cells, cells[::3]])
    got = clf.cell_classes(twice)
    copy = pickle.loads(pickle.dumps(clf))
    fresh = pickle.loads(pickle.dumps(replace(clf, cells=cc.CellClassCache())))
    for other in (copy, fresh):
        again = other.cell_classes(twice)
        assert all((a == b).all() for a, b in zip(got, again, strict=True))
    assert (got.uniform[len(cells) :] == got.uniform[: len(cells)][::3]).all()


def test_footprint_rings_are_the_indexed_ones(sample: dict[str, object]) -> None:
    """The footprint covered_at hands out its index's rings (also pickled): a point is
    covered where a footprint holds it in an odd number of its rings."""
    covered_at = _flat(sample).test.covered_at
    assert isinstance(covered_at, cc.OutlinedCoveredAt)
    rings, shape = covered_at.outline_rings()
    index = covered_at.build_index()
    assert len(rings) == len(index.ring_i)
    again, shape_again = pickle.loads(pickle.dumps(covered_at)).outline_rings()
    assert shapely.equals_exact(rings, again, tolerance=0).all()
    assert (shape == shape_again).all()
    rng = np.random.default_rng(4)
    x0, y0, x1, y1 = shapely.total_bounds(rings)
    lon, lat = rng.uniform(x0, x1, 20_000), rng.uniform(y0, y1, 20_000)
    held = cc.Rings(rings, shape).holders(lon, lat, np.arange(lon.size))
    covered = np.zeros(lon.size, dtype=bool)
    covered[held // (shape.max() + 1)] = True
    assert (covered == covered_at(lon, lat)).all()


def test_a_cell_across_the_seam_is_looked_at_in_both_images(sample: dict[str, object]) -> None:
    """Bering: the frame runs from the analysis' centre - 180° to + 180°. A cell across that
    seam has points at both ends; an edge just past its east side (the far image) counts."""
    clf = _bering(sample)
    seam = clf.test.lon_centre_deg - 180.0  # the frame's west end
    cell = fine_cells_of(_unwrap(np.array([seam - 0.005])), np.array([10.005]))
    assert _images_across_seam(clf, cell)[0]
    _, s, e, n = (float(v[0]) for v in fine_boxes(cell))
    east = wrap_lon(np.array([e]), clf.test.lon_centre_deg)[0]  # the far image's east side
    near = clf.test.lon_centre_deg - 180.0 + (east - seam) + BOX_SLACK_DEG + 10 * ROUNDING_DEG
    assert not _with_sector(clf, shapely.box(near, s, near + 1, n)).cell_classes(cell).uniform[0]
    away = _with_sector(clf, shapely.box(near + 1e-6, s, near + 1, n)).cell_classes(cell)
    assert away.uniform[0]
    assert away.codes[0] == 2


def test_sessions_at_once_get_what_one_gets(sample: dict[str, object]) -> None:
    """One classifier serves every session: threads asking overlapping cells at once."""
    from concurrent.futures import ThreadPoolExecutor

    clf = _flat(sample)
    cells = cells_over_corridor(clf)
    alone = replace(clf, cells=cc.CellClassCache()).cell_classes(cells)
    rng = np.random.default_rng(9)
    asks = [rng.choice(cells, 3_000) for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(clf.cell_classes, asks))
    at = [np.searchsorted(cells, a) for a in asks]
    for g, i in zip(got, at, strict=True):
        assert (g.uniform == alone.uniform[i]).all()
        assert (g.codes == alone.codes[i]).all()
        assert (g.in_sector == alone.in_sector[i]).all()


def test_edge_tree_meets_what_shapely_meets() -> None:
    """Edges held as lines of several: a box is near exactly when one of its edges meets it."""
    rings = [shapely.Point(0, 0).buffer(1, 32), shapely.box(0.5, 0.5, 2, 2)]
    edges = cc.outline_edges(rings)
    owner = np.repeat([0, 1], [128, 4])
    tree = cc.EdgeTree(edges, owner)
    assert len(tree.first_edge) == 16 + 1
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-1.3, 2.1, 20_000), rng.uniform(-1.3, 2.1, 20_000)
    size = rng.uniform(0, 0.05, 20_000)
    boxes = (x, y, x + size, y + size)
    singles = shapely.linestrings(edges.reshape(-1, 2, 2))
    box, edge = shapely.STRtree(singles).query(shapely.box(*boxes), predicate="intersects")
    truth = np.zeros(x.size, dtype=bool)
    truth[box] = True
    assert (tree.near(*boxes) == truth).all()
    near_box, first = pickle.loads(pickle.dumps(tree)).pairs(*boxes)
    assert set(zip(near_box.tolist(), owner[first].tolist(), strict=True)) == set(
        zip(box.tolist(), owner[edge].tolist(), strict=True)
    )
