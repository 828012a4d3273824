"""Which fine lon/lat cells a point classifier sees as one class, proven from the outlines.

The store counts a window's rows per fine cell (:func:`geo.core.cells.fine_cells_of`); the
map then classifies a whole cell at once where every point in it gets the same status and
sectors from :meth:`geo.coverage.detections.PointTest.classify`, and only the rows of the
other cells one by one. "The same" is proven, never sampled: a cell is **uniform** when no
edge of an outline that decides the class comes within its box
(:func:`geo.core.cells.fine_boxes`) padded by :data:`PAD_DEG`, in the frame the point tests
use (longitudes wrapped round the analysis' centre, :func:`geo.core.antimeridian.wrap_lon`).
A point test answers every point at least :data:`MARGIN_DEG` from every edge exactly
(even-odd rule), so over a box no edge comes near the answer cannot change: the class of
the cell is that of its centre, asked of ``classify`` itself.

The outlines that decide: the corridor and each sector always; inside the corridor also
the coverage polygon, or the footprint outlines of an outline-based ``covered_at``
(:class:`OutlinedCoveredAt`, e.g. :class:`geo.coverage.flat.FootprintCoveredAt`). A
``covered_at`` without outlines (terrain, :meth:`geo.terrain.grids.CoverageGrid.seen_at`:
a raster) leaves every cell inside or touching the corridor not uniform; outside it
coverage is never asked. A box across the wrap seam (``lon_centre_deg ± 180``) is looked at
in both its images, and is uniform only when its westmost and eastmost points (one in each
image) get the class of its centre.

Edges are held in a :class:`shapely.STRtree` of two-point lines, built on the first call
and kept (:class:`CellClassCache`); so is every cell's answer, so that a cell is worked out
once per classifier.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.core.antimeridian import wrap_lon
from geo.core.cells import BOX_SLACK_DEG, NO_CELL, fine_boxes

__all__ = [
    "MARGIN_DEG",
    "PAD_DEG",
    "CellClassCache",
    "CellClasses",
    "CellOutlines",
    "EdgeTree",
    "OutlinedCoveredAt",
    "outline_edges",
]

#: Distance (degrees) from every edge beyond which the point tests' floating-point answer is
#: exact. They compare a point with an edge through a handful of operations on coordinates
#: of at most ~540° in the wrapped frame (ulp 1.1e-13°): the crossing abscissa of
#: :mod:`geo.coverage.polygon_index` and of the footprint index's crossing test, the
#: footprint index's orientation test (its own radii carry 1e-12° and 1e-9 relative
#: margins) and the points' wrap (+360°, one rounding). Their error stays below 1e-12°;
#: 1e-9° (0.1 mm) leaves three orders of magnitude, and makes a cell not uniform only when
#: an edge passes within 0.1 mm of it.
MARGIN_DEG: Final[float] = 1e-9

#: A fine cell's box is padded by this (degrees): its points' slack past the nominal box
#: (:data:`geo.core.cells.BOX_SLACK_DEG`) plus :data:`MARGIN_DEG`.
PAD_DEG: Final[float] = BOX_SLACK_DEG + MARGIN_DEG

#: Status code of a point outside the corridor (:data:`geo.coverage.detections.STATUS`).
_OUTSIDE: Final[int] = 2


class CellClasses(NamedTuple):
    """Per fine cell: whether every point in it gets one class, and that class.

    ``codes`` (status codes, 0 coverage, 1 gap, 2 outside) and ``in_sector`` (shape
    ``(n_cells, n_sectors)``) hold the class where ``uniform``; elsewhere ``codes`` is -1
    and ``in_sector`` False.
    """

    uniform: NDArray[np.bool_]
    codes: NDArray[np.int8]
    in_sector: NDArray[np.bool_]


@runtime_checkable
class OutlinedCoveredAt(Protocol):
    """A ``covered_at`` that tests points against polygon outlines it can hand out."""

    def __call__(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether each point is covered."""
        ...

    def outline_rings(self) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
        """Every ring its test reads (a polygon, wrapped lon/lat) and its shape (footprint).

        A point is covered when, for some shape, an odd number of its rings hold it.
        """
        ...


class Classify(Protocol):
    """``classify(lon, lat) -> (codes, in_sector)`` of a point test."""

    def __call__(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int8], NDArray[np.bool_]]: ...


def outline_edges(polygons: ArrayLike) -> NDArray[np.float64]:
    """Every edge of every ring of the polygons (``None`` skipped): rows ``(x1, y1, x2, y2)``.

    Examples
    --------
    >>> outline_edges([shapely.box(0, 0, 1, 2), None]).shape
    (4, 4)
    """
    polys = np.asarray(polygons, dtype=object).ravel()
    polys = polys[~shapely.is_missing(polys)] if polys.size else polys
    rings = shapely.get_rings(shapely.get_parts(polys))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    return np.ascontiguousarray(np.column_stack([coords[:-1][same], coords[1:][same]]))


#: Consecutive edges (of one owner) per line of an :class:`EdgeTree`: fewer objects (for
#: 10,000 sensors, 560,000 edges took 158 MB as single lines), and a line meets a box
#: exactly when one of its edges does.
EDGES_PER_LINE: Final[int] = 8


class EdgeTree:
    """Edges in an STRtree: which boxes an edge comes within (touching counts).

    Runs of consecutive edges (end of one = start of the next, same ``owner``) are held
    as lines of up to :data:`EDGES_PER_LINE` edges.

    Examples
    --------
    >>> tree = EdgeTree(np.array([[0.0, 0.0, 1.0, 1.0]]))
    >>> tree.near(np.array([0.4, 2.0]), np.array([0.0, 0.0]), np.array([0.6, 3.0]),
    ...           np.array([0.2, 1.0])).tolist()
    [False, False]
    >>> tree.near(np.array([0.4]), np.array([0.0]), np.array([0.6]), np.array([0.4])).tolist()
    [True]
    """

    def __init__(self, edges: NDArray[np.float64], owner: NDArray[np.int64] | None = None) -> None:
        edges = np.asarray(edges, dtype=float).reshape(-1, 4)
        n = len(edges)
        self.n_edges = n
        joined = np.zeros(n, dtype=bool)  # edge i goes on from edge i - 1
        joined[1:] = (edges[1:, 0] == edges[:-1, 2]) & (edges[1:, 1] == edges[:-1, 3])
        if owner is not None:
            joined[1:] &= owner[1:] == owner[:-1]
        run = np.cumsum(~joined) - 1
        pos = np.arange(n) - np.flatnonzero(~joined)[run]
        starts = ~joined | (pos % EDGES_PER_LINE == 0)
        line = np.cumsum(starts) - 1
        #: Per line, its first edge (the owner of the line's edges).
        self.first_edge = np.flatnonzero(starts)
        k = np.arange(len(self.first_edge))
        coords = np.empty((n + len(k), 2))
        index = np.empty(n + len(k), dtype=np.int64)
        coords[self.first_edge + k], index[self.first_edge + k] = edges[starts, :2], k
        coords[np.arange(n) + line + 1], index[np.arange(n) + line + 1] = edges[:, 2:], line
        lines = shapely.linestrings(coords, indices=index) if n else []
        self._tree = shapely.STRtree(lines)

    def pairs(
        self,
        west: NDArray[np.float64],
        south: NDArray[np.float64],
        east: NDArray[np.float64],
        north: NDArray[np.float64],
    ) -> NDArray[np.int64]:
        """``(box, edge)`` index pairs (shape ``(2, k)``): boxes a line of edges meets.

        The edge given is the line's first (its owner's, when the tree has owners).
        """
        if not (self.n_edges and len(west)):
            return np.zeros((2, 0), dtype=np.int64)
        box, hit = self._tree.query(shapely.box(west, south, east, north), predicate="intersects")
        return np.stack([np.asarray(box, dtype=np.int64), self.first_edge[hit]])

    def near(
        self,
        west: NDArray[np.float64],
        south: NDArray[np.float64],
        east: NDArray[np.float64],
        north: NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        """Whether an edge meets each box (its inside or its boundary)."""
        out = np.zeros(len(west), dtype=bool)
        out[self.pairs(west, south, east, north)[0]] = True
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tree"] = np.asarray(self._tree.geometries, dtype=object)  # the lines
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tree = shapely.STRtree(state["_tree"])


class _Images(NamedTuple):
    """Padded cell boxes in the wrapped frame.

    ``boxes``: one per cell; ``seam``: the cells across the seam; ``more``: their second
    image, 360° west.
    """

    boxes: tuple[NDArray[np.float64], ...]
    seam: NDArray[np.bool_]
    more: tuple[NDArray[np.float64], ...]


def _images(fine: NDArray[np.int64], lon_centre_deg: float) -> _Images:
    """The boxes of fine cells padded by :data:`PAD_DEG`, wrapped as the point tests wrap."""
    w, s, e, n = fine_boxes(fine)
    west, south, east, north = w - PAD_DEG, s - PAD_DEG, e + PAD_DEG, n + PAD_DEG
    wrapped = wrap_lon(west, lon_centre_deg)
    east_w = east + (wrapped - west)
    seam = east_w >= lon_centre_deg + 180.0
    more = (wrapped[seam] - 360.0, south[seam], east_w[seam] - 360.0, north[seam])
    return _Images((wrapped, south, east_w, north), seam, more)


def _near(tree: EdgeTree, images: _Images, rows: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Whether an edge of ``tree`` comes within the box (either image) of each cell of ``rows``.

    False for the other cells.
    """
    out = np.zeros(len(rows), dtype=bool)
    out[rows] = tree.near(*(a[rows] for a in images.boxes))
    seam_rows = np.flatnonzero(images.seam)
    ask = rows[seam_rows]
    out[seam_rows[ask]] |= tree.near(*(a[ask] for a in images.more))
    return out


class Rings:
    """The rings of polygons (shapes) whose union is the coverage, for cell tests.

    ``edges``: every ring's edges (an STRtree), each with its shape (``edge_shape``);
    ``tree``: the rings as polygons, to find the shapes holding a point.
    """

    def __init__(self, rings: NDArray[np.object_], shape: NDArray[np.int64]) -> None:
        self.rings = np.asarray(rings, dtype=object)
        self.shape = np.asarray(shape, dtype=np.int64)
        coords, ring = shapely.get_coordinates(
            shapely.get_exterior_ring(self.rings), return_index=True
        )
        same = ring[1:] == ring[:-1]
        self.edge_shape = self.shape[ring[1:][same]]
        self.edges = EdgeTree(
            np.column_stack([coords[:-1][same], coords[1:][same]]), self.edge_shape
        )
        self.tree = shapely.STRtree(self.rings)
        self.n_shapes = int(self.shape.max()) + 1 if self.shape.size else 0

    @classmethod
    def of_polygon(cls, polygon: shapely.Geometry | None) -> Rings:
        """The rings of one (Multi)Polygon: one shape."""
        parts = shapely.get_parts(np.asarray([polygon], dtype=object)) if polygon else []
        rings = shapely.polygons(shapely.get_rings(np.asarray(parts, dtype=object)))
        return cls(np.asarray(rings, dtype=object), np.zeros(len(rings), dtype=np.int64))

    def __getstate__(self) -> dict[str, Any]:
        return {"rings": self.rings, "shape": self.shape}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["rings"], state["shape"])  # type: ignore[misc]

    def near(self, images: _Images, rows: NDArray[np.bool_]) -> NDArray[np.int64]:
        """Keys ``cell * n_shapes + shape``, sorted: shapes with an edge near a cell of ``rows``.

        Either image of a cell across the seam counts.
        """
        idx = np.flatnonzero(rows)
        cell, edge = self.edges.pairs(*(a[idx] for a in images.boxes))
        keys = [idx[cell] * self.n_shapes + self.edge_shape[edge]]
        seam = np.flatnonzero(images.seam)
        take = rows[seam]
        cell, edge = self.edges.pairs(*(a[take] for a in images.more))
        keys.append(seam[take][cell] * self.n_shapes + self.edge_shape[edge])
        return np.unique(np.concatenate(keys))

    def holders(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], rows: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Keys ``row * n_shapes + shape`` of the shapes holding each point (wrapped frame).

        Held: strictly inside an odd number of the shape's rings.
        """
        point, ring = self.tree.query(shapely.points(lon, lat), predicate="within")
        keys = rows[point] * self.n_shapes + self.shape[ring]
        uniq, count = np.unique(keys, return_counts=True)
        return uniq[count % 2 == 1]


class CellOutlines(NamedTuple):
    """The edges that decide a class, in the point tests' wrapped lon/lat frame.

    ``everywhere``: the corridor's and the sectors'; ``in_corridor``: the coverage's rings
    (its polygon, or footprints), ``None`` when coverage has no outlines (a raster).
    """

    everywhere: EdgeTree
    in_corridor: Rings | None


class CellClassCache:
    """Every fine cell's class worked out so far, and the outlines' edge trees, for one test.

    Cells are kept sorted (key, uniform, code, sectors packed in bits): 10 bytes a cell plus
    a byte per 8 sectors; for 200,000 cells and 10 sectors, 2.4 MB. Thread-safe
    (one classifier serves every session). Pickled, it keeps the cells and rebuilds the
    trees on first use.
    """

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.uniform = np.zeros(0, dtype=bool)
        self.codes = np.zeros(0, dtype=np.int8)
        self.sectors = np.zeros((0, 0), dtype=np.uint8)
        self._outlines: CellOutlines | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        state["_outlines"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes the cached cells take."""
        return sum(a.nbytes for a in (self.keys, self.uniform, self.codes, self.sectors))

    def outlines(self, build: Callable[[], CellOutlines]) -> CellOutlines:
        """The edge trees, built by ``build`` on the first call."""
        with self._lock:
            if self._outlines is None:
                self._outlines = build()
            return self._outlines

    def get(self, keys: NDArray[np.int64], n_sectors: int) -> tuple[NDArray[np.bool_], CellClasses]:
        """Which sorted unique ``keys`` are cached, and their classes (not uniform elsewhere).

        One look under the lock: another thread adding cells meanwhile changes nothing.
        """
        with self._lock:
            at = np.searchsorted(self.keys, keys)
            found = np.zeros(len(keys), dtype=bool)
            inside = at < len(self.keys)
            found[inside] = self.keys[at[inside]] == keys[inside]
            at = at[found]
            uniform = np.zeros(len(keys), dtype=bool)
            codes = np.full(len(keys), -1, dtype=np.int8)
            uniform[found], codes[found] = self.uniform[at], self.codes[at]
            packed = self.sectors[at]
        bits = np.zeros((len(keys), n_sectors), dtype=bool)
        bits[found] = np.unpackbits(packed, axis=1, count=n_sectors, bitorder="little")
        return found, CellClasses(uniform, codes, bits)

    def add(self, keys: NDArray[np.int64], found: CellClasses) -> None:
        """Keep the classes of sorted unique ``keys`` (new to the cache, or not)."""
        packed = np.packbits(found.in_sector, axis=1, bitorder="little")
        with self._lock:
            if self.sectors.shape[1] != packed.shape[1]:
                self.sectors = np.zeros((len(self.keys), packed.shape[1]), dtype=np.uint8)
            fresh = ~np.isin(keys, self.keys, assume_unique=True)
            all_keys = np.concatenate([self.keys, keys[fresh]])
            order = np.argsort(all_keys, kind="stable")
            self.keys = all_keys[order]
            self.uniform = np.concatenate([self.uniform, found.uniform[fresh]])[order]
            self.codes = np.concatenate([self.codes, found.codes[fresh]])[order]
            self.sectors = np.concatenate([self.sectors, packed[fresh]])[order]


def _coverage_uniform(
    rings: Rings,
    images: _Images,
    rows: NDArray[np.bool_],
    covered: NDArray[np.bool_],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """Which cells of ``rows`` (in the corridor) coverage sees as one.

    Those no coverage edge comes near, and those (centre ``covered``, not across the seam)
    whose centre a shape holds whose edges all stay away: every point of the box is then
    in that shape, covered whatever other shapes do. ``lon``, ``lat``: the cells' centres,
    in the wrapped frame.
    """
    near = rings.near(images, rows)
    per = max(rings.n_shapes, 1)
    near_cell = np.zeros(len(rows), dtype=bool)
    near_cell[near // per] = True
    out = rows & ~near_cell
    held = np.flatnonzero(rows & near_cell & covered & ~images.seam)
    if held.size:
        holders = rings.holders(lon[held], lat[held], held)
        out[holders[~np.isin(holders, near)] // per] = True
    return out


def classes_of_cells(
    fine: NDArray[np.int64],
    classify: Classify,
    outlines: CellOutlines,
    *,
    lon_centre_deg: float,
    n_sectors: int,
) -> CellClasses:
    """The classes of distinct fine cells, worked out (see the module notes); no cache."""
    fine = np.asarray(fine, dtype=np.int64)
    n = len(fine)
    placed = fine != NO_CELL
    codes = np.full(n, -1, dtype=np.int8)
    in_sector = np.zeros((n, n_sectors), dtype=bool)
    uniform = np.zeros(n, dtype=bool)
    if not placed.any():
        return CellClasses(uniform, codes, in_sector)
    images = _images(fine, lon_centre_deg)
    w, s, e, nn = fine_boxes(fine)
    clon, clat = (w + e) / 2, (s + nn) / 2
    ask = placed & ~_near(outlines.everywhere, images, placed)
    centre_codes, centre_sectors = classify(clon[ask], clat[ask])
    inner = np.zeros(n, dtype=bool)
    inner[ask] = centre_codes != _OUTSIDE
    codes[ask], in_sector[ask] = centre_codes, centre_sectors
    ok = ask & ~inner
    if outlines.in_corridor is not None:
        ok |= inner & _coverage_uniform(
            outlines.in_corridor, images, inner, codes == 0, wrap_lon(clon, lon_centre_deg), clat
        )
    seam = ok & images.seam
    if seam.any():  # both images of the box must agree: their westmost and eastmost points
        for lon in (w[seam] - BOX_SLACK_DEG, e[seam] + BOX_SLACK_DEG):
            c, sec = classify(lon, clat[seam])
            same = (c == codes[seam]) & (sec == in_sector[seam]).all(axis=1)
            ok[np.flatnonzero(seam)[~same]] = False
    codes[~ok] = -1
    in_sector[~ok] = False
    return CellClasses(ok, codes, in_sector)
