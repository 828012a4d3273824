"""Exact point-in-polygon for millions of points against a few polygons, in numba.

:class:`PolygonIndex` answers what ``shapely.contains_xy`` answers (the even-odd rule over
every ring of a polygon's parts) without GEOS and without a raster:

1. **A uniform grid per polygon** over its bounds. Every edge is registered in each cell it
   passes through (the edge is cut into pieces no longer than a cell, each piece registered
   in the cells its slightly widened box touches: never a cell missed).
2. **The inside of each cell's centre**, computed once exactly: a row's centre line meets
   the edges that straddle it at known abscissas; sorted, they tell every centre of the row
   whether a ray to the right crosses the outline an odd number of times.
3. **A point** is answered from its cell's centre: when no edge passes through the cell,
   the centre's answer is the point's. Otherwise the walk from the centre to the point,
   first along the centre's row line to the point's abscissa, then up or down to the point,
   crosses the outline only at edges of that cell; each crossing flips the answer. The first
   leg uses the same half-open rule and the same arithmetic as the centre's ray, so it is
   exact; the second is the same rule turned a quarter.

A point on an outline, or closer to one than rounding resolves (about 1e-15 of the
coordinates), may fall either way, as with ``shapely.contains_xy``. Every other point gets
GEOS's answer. The kernels are compiled with numba (cached on disk) and run without the GIL,
on all cores.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

import numba
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.coverage.threads import map_threads

#: Largest grid (cells) per polygon: five bytes each.
MAX_CELLS: Final[int] = 2_000_000
#: Cells per edge at most (a grid need not be much finer than its outline).
CELLS_PER_EDGE: Final[int] = 16
#: Cells per side of a polygon's bounds at least (when its edges are longer).
MIN_SIDE_CELLS: Final[int] = 256
#: Points per thread task; fewer points run in the calling thread.
_CHUNK: Final[int] = 65_536
#: Boxes of edge pieces are widened by this share of a cell before registration, far beyond
#: any rounding: an edge is registered in every cell it touches, and a few more.
_WIDEN: Final[float] = 1e-6
# Columns of a polygon's grid row: origin, cell size, its inverse, shape.
_X0, _Y0, _W, _H, _IW, _IH, _NC, _NR = range(8)


@numba.njit(cache=True, nogil=True, inline="always")
def _x_at(
    x1: float, y1: float, x2: float, y2: float, y: float
) -> float:  # pragma: no cover - compiled
    """Abscissa where the edge meets the line at ``y`` (the build and the query share it)."""
    return x1 + (y - y1) * (x2 - x1) / (y2 - y1)


@numba.njit(cache=True, nogil=True)
def _register(
    edges: NDArray[np.float64], grid: NDArray[np.float64], fill: bool, cell_start: NDArray[np.int64]
) -> NDArray[np.int32]:  # pragma: no cover - compiled
    """Count (``fill`` False: into ``cell_start[1:]``) or list the edges of every cell.

    With ``fill`` the cells' edge lists are returned, ``cell_start`` holding their offsets.
    """
    x0, y0, w, h = grid[_X0], grid[_Y0], grid[_W], grid[_H]
    n_col, n_row = int(grid[_NC]), int(grid[_NR])
    seen = np.full(n_col * n_row, -1, dtype=np.int64)
    at = cell_start[:-1].copy() if fill else np.zeros(1, dtype=np.int64)
    entries = np.empty(cell_start[-1] if fill else 0, dtype=np.int32)
    ex, ey = _WIDEN * w, _WIDEN * h
    for e in range(edges.shape[0]):
        x1, y1, x2, y2 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        m = int(max(abs(x2 - x1) / w, abs(y2 - y1) / h)) + 1
        for p in range(m):
            ax, ay = x1 + (x2 - x1) * (p / m), y1 + (y2 - y1) * (p / m)
            bx, by = x1 + (x2 - x1) * ((p + 1) / m), y1 + (y2 - y1) * ((p + 1) / m)
            c0 = max(int((min(ax, bx) - ex - x0) / w), 0)
            c1 = min(int((max(ax, bx) + ex - x0) / w), n_col - 1)
            r0 = max(int((min(ay, by) - ey - y0) / h), 0)
            r1 = min(int((max(ay, by) + ey - y0) / h), n_row - 1)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    cell = r * n_col + c
                    if seen[cell] == e:
                        continue
                    seen[cell] = e
                    if fill:
                        entries[at[cell]] = e
                        at[cell] += 1
                    else:
                        cell_start[cell + 1] += 1
    return entries


@numba.njit(cache=True, nogil=True)
def _centres_inside(
    edges: NDArray[np.float64], grid: NDArray[np.float64]
) -> NDArray[np.uint8]:  # pragma: no cover - compiled
    """Whether each cell's centre is inside (even-odd, ray towards +x), row by row."""
    x0, y0, w, h = grid[_X0], grid[_Y0], grid[_W], grid[_H]
    n_col, n_row = int(grid[_NC]), int(grid[_NR])
    flip = np.zeros((n_row, n_col + 1), dtype=np.uint8)
    for e in range(edges.shape[0]):
        x1, y1, x2, y2 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        r0 = max(int((min(y1, y2) - y0) / h - 0.5) - 1, 0)
        r1 = min(int((max(y1, y2) - y0) / h - 0.5) + 1, n_row - 1)
        for r in range(r0, r1 + 1):
            yc = y0 + (r + 0.5) * h
            if (y1 > yc) == (y2 > yc):
                continue
            xi = _x_at(x1, y1, x2, y2, yc)
            # The centres left of the crossing (xc < xi) see it: columns 0 .. cut - 1.
            cut = min(max(int((xi - x0) / w - 0.5), 0), n_col)
            while cut < n_col and x0 + (cut + 0.5) * w < xi:
                cut += 1
            while cut > 0 and not (x0 + (cut - 0.5) * w < xi):
                cut -= 1
            flip[r, cut] ^= 1
    inside = np.zeros(n_row * n_col, dtype=np.uint8)
    for r in range(n_row):
        state = 0
        for c in range(n_col - 1, -1, -1):
            state ^= flip[r, c + 1]
            inside[r * n_col + c] = state
    return inside


@numba.njit(cache=True, nogil=True)
def _contains_chunk(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    start: int,
    stop: int,
    out: NDArray[np.bool_],
    grids: NDArray[np.float64],
    cell_base: NDArray[np.int64],
    inside: NDArray[np.uint8],
    cell_start: NDArray[np.int64],
    entries: NDArray[np.int32],
    edges: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """``out[i, k]`` = polygon ``k`` holds point ``i``, for ``start <= i < stop``."""
    for i in range(start, stop):
        px, py = x[i], y[i]
        for k in range(grids.shape[0]):
            g = grids[k]
            fx, fy = (px - g[_X0]) * g[_IW], (py - g[_Y0]) * g[_IH]
            if not (fx >= 0.0 and fy >= 0.0 and fx < g[_NC] and fy < g[_NR]):  # NaN too
                continue
            col, row = int(fx), int(fy)
            cell = cell_base[k] + row * int(g[_NC]) + col
            state = inside[cell] == 1
            xc, yc = g[_X0] + (col + 0.5) * g[_W], g[_Y0] + (row + 0.5) * g[_H]
            for j in range(cell_start[cell], cell_start[cell + 1]):
                e = entries[j]
                x1, y1, x2, y2 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
                # Along the centre's row line to the point's abscissa ...
                if (y1 > yc) != (y2 > yc):
                    xi = _x_at(x1, y1, x2, y2, yc)
                    if (xc < xi) != (px < xi):
                        state = not state
                # ... then along the point's column line to the point.
                if (x1 > px) != (x2 > px):
                    yi = _x_at(y1, x1, y2, x2, px)
                    if (yc < yi) != (py < yi):
                        state = not state
            out[i, k] = state


def polygon_edges(polygon: shapely.Geometry) -> NDArray[np.float64]:
    """Every edge of every ring of ``polygon``, as rows ``(x1, y1, x2, y2)``.

    Examples
    --------
    >>> polygon_edges(shapely.box(0, 0, 1, 2)).tolist()[0]
    [1.0, 0.0, 1.0, 2.0]
    """
    rings = shapely.get_rings(shapely.get_parts(np.asarray([polygon], dtype=object)))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    return np.ascontiguousarray(np.column_stack([coords[:-1][same], coords[1:][same]]))


def grid_for(edges: NDArray[np.float64]) -> NDArray[np.float64]:
    """The grid over the edges' bounds (half a cell of margin): see :data:`_X0` ...

    Square cells twice the median edge, at most 1/:data:`MIN_SIDE_CELLS` of the longer
    side, and no more than :data:`MAX_CELLS` of them nor :data:`CELLS_PER_EDGE` per edge.
    """
    xs, ys = edges[:, [0, 2]], edges[:, [1, 3]]
    xmin, xmax, ymin, ymax = xs.min(), xs.max(), ys.min(), ys.max()
    span = max(xmax - xmin, ymax - ymin)
    scale = max(span, abs(xmin), abs(xmax), abs(ymin), abs(ymax), 1e-300)
    length = np.maximum(np.abs(edges[:, 2] - edges[:, 0]), np.abs(edges[:, 3] - edges[:, 1]))
    cell = min(2.0 * float(np.median(length)), span / MIN_SIDE_CELLS)
    budget = min(MAX_CELLS, max(CELLS_PER_EDGE * edges.shape[0], MIN_SIDE_CELLS))
    cell = max(cell, np.sqrt((xmax - xmin) * (ymax - ymin) / budget), span / 1e6)
    cell = max(cell, scale * 1e-12)  # a degenerate polygon: one small grid
    n_col = int((xmax - xmin) / cell) + 2
    n_row = int((ymax - ymin) / cell) + 2
    while n_col * n_row > 2 * MAX_CELLS:  # rounding of a very flat polygon's grid
        cell *= 1.5
        n_col, n_row = int((xmax - xmin) / cell) + 2, int((ymax - ymin) / cell) + 2
    x0, y0 = xmin - cell / 2, ymin - cell / 2
    return np.array([x0, y0, cell, cell, 1.0 / cell, 1.0 / cell, float(n_col), float(n_row)])


@dataclass(frozen=True, eq=False)
class PolygonIndex:
    """Polygons ready for exact point tests; build with :meth:`from_polygons`.

    Examples
    --------
    >>> boxes = [shapely.box(0, 0, 2, 2), shapely.box(1, 0, 3, 2)]
    >>> PolygonIndex.from_polygons(boxes).contains([0.5, 1.5, 5], [1, 1, 1]).tolist()
    [[True, False], [True, True], [False, False]]
    """

    #: Per polygon, its grid (:func:`grid_for`); a polygon without edges has none (0 cells).
    grids: NDArray[np.float64]
    #: Per polygon, the index of its first cell in the cell arrays (one more at the end).
    cell_base: NDArray[np.int64]
    #: Per cell, whether its centre is inside its polygon (1) or not (0).
    inside: NDArray[np.uint8]
    #: Per cell, the offset of its first edge in :attr:`entries` (one more at the end).
    cell_start: NDArray[np.int64]
    #: The edges of each cell (rows of :attr:`edges`).
    entries: NDArray[np.int32]
    #: Every polygon's edges, ``(x1, y1, x2, y2)``.
    edges: NDArray[np.float64]

    @classmethod
    def from_polygons(cls, polygons: ArrayLike) -> PolygonIndex:
        """Index Polygons or MultiPolygons (``None`` or empty: hold nothing)."""
        polys = np.asarray(polygons, dtype=object).ravel()
        grids = np.zeros((polys.size, 8))
        parts: list[tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int32]]] = []
        all_edges: list[NDArray[np.float64]] = []
        n_edges = 0
        for k, p in enumerate(polys):
            e = np.zeros((0, 4)) if p is None or shapely.is_empty(p) else polygon_edges(p)
            if e.shape[0] == 0:
                parts.append((np.zeros(0, np.uint8), np.zeros(1, np.int64), np.zeros(0, np.int32)))
                continue
            grids[k] = grid_for(e)
            n_cells = int(grids[k, _NC]) * int(grids[k, _NR])
            start = np.zeros(n_cells + 1, dtype=np.int64)
            _register(e, grids[k], False, start)
            np.cumsum(start, out=start)
            entries = _register(e, grids[k], True, start)
            parts.append((_centres_inside(e, grids[k]), start, entries + n_edges))
            all_edges.append(e)
            n_edges += e.shape[0]
        return cls._joined(grids, parts, all_edges)

    @classmethod
    def _joined(
        cls,
        grids: NDArray[np.float64],
        parts: list[tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int32]]],
        edges: list[NDArray[np.float64]],
    ) -> PolygonIndex:
        """The polygons' cell arrays end to end, offsets shifted."""
        sizes = np.array([p[0].size for p in parts], dtype=np.int64)
        cell_base = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n_entries = np.cumsum([0] + [p[2].size for p in parts])
        starts = [p[1][:-1] + n_entries[k] for k, p in enumerate(parts)]
        return cls(
            grids=grids,
            cell_base=cell_base,
            inside=np.concatenate([np.zeros(0, np.uint8)] + [p[0] for p in parts]),
            cell_start=np.concatenate([*starts, [n_entries[-1]]]).astype(np.int64),
            entries=np.concatenate([np.zeros(0, np.int32)] + [p[2] for p in parts]).astype(
                np.int32
            ),
            edges=np.concatenate([np.zeros((0, 4)), *edges]),
        )

    def contains(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Which polygons hold each point: bool array of shape (n_points, n_polygons).

        Many points are shared out to every core (the kernel releases the GIL).
        """
        px = np.ascontiguousarray(np.asarray(x, dtype=float).ravel())
        py = np.ascontiguousarray(np.asarray(y, dtype=float).ravel())
        if px.shape != py.shape:
            raise ValueError(f"contains: x and y differ in length ({px.size} vs {py.size})")
        out = np.zeros((px.size, self.grids.shape[0]), dtype=bool)
        if px.size == 0 or self.inside.size == 0:
            return out
        args = (self.grids, self.cell_base, self.inside, self.cell_start, self.entries, self.edges)
        bounds = [*range(0, px.size, _CHUNK), px.size]
        map_threads(
            lambda t: _contains_chunk(px, py, t[0], t[1], out, *args),
            list(itertools.pairwise(bounds)),
            name="limes-contains",
        )
        return out


__all__ = ["MAX_CELLS", "MIN_SIDE_CELLS", "PolygonIndex", "grid_for", "polygon_edges"]
