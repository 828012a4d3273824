"""Which points lie in any sensor footprint, from the footprints that can reach each point.

A detection is watched when a footprint polygon contains it. Rather than one polygon union of
thousands of footprints (slow to build, and its outline is near most points),
:class:`FootprintIndex` keeps the footprints apart:

1. **Range query.** Every footprint's bounding box is registered in the cells of a uniform
   lon/lat grid, cells half a typical footprint wide. A point looks only at the footprints
   of its cell, and only at those whose box holds it; it stops at the first that holds it.
2. **Exact test, cheap first.** Each ring of a footprint (a disk's or a wedge's outline, an
   annulus' hole) has a reference point inside it (:func:`reference_points`) and two radii
   measured on the ring's own vertices in a local frame: beyond the farthest vertex a point
   is outside the ring, closer than the nearest edge it is inside. Between the two, the
   ring is star-shaped around its reference point (checked when the index is built), so the
   direction of the point picks the one edge its ray crosses (a binary search on the
   vertices' angles) and one orientation test answers. A ring that is not star-shaped
   around its reference (an annular wedge, usually) gets the even-odd crossing test.

What "inside" means: inside the footprint polygon as drawn, the polygon of
:func:`geo.coverage.footprints.footprint_polygons` (a disk is the inscribed polygon of
``settings.FOOTPRINT_CIRCLE_VERTICES`` vertices) densified and taken to lon/lat, with straight
edges in lon/lat. The coverage union, the corridor areas and the map are made of the same
polygons, so a detection counted as watched lies in the watched area the report measures.
The true disk differs from it by the sagitta (0.12 % of the range with 64 vertices); the
border figures, cut analytically, use the true shapes. A point on an outline may fall either
way, as with ``shapely.contains_xy``. A footprint across the antimeridian is given with its
longitudes wrapped round the analysis' centre (:func:`geo.core.antimeridian.wrap_lon`, past
180°), and so are the points: no ring jumps from 180° to -180°.

The kernels are compiled with numba (cached on disk) and run without the GIL, on all cores.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

import numba
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.coverage.footprints import FootprintParams, ragged
from geo.coverage.threads import map_threads

#: Largest number of grid cells (int32 offsets each).
_MAX_CELLS: Final[int] = 4_000_000
#: Largest number of (footprint, cell) registrations before cells are made larger.
_MAX_ENTRIES: Final[int] = 20_000_000
#: Points per thread task; fewer points run in the calling thread.
_CHUNK: Final[int] = 65_536
#: Safety margin of the two radii, relative and absolute (degrees): rounding never makes a
#: cheap answer wrong, points this close to a radius get the exact test.
_REL_MARGIN: Final[float] = 1e-9
_ABS_MARGIN_DEG: Final[float] = 1e-12

# Columns of the per-ring tables: what every test reads (floats), what the exact tests read.
_RX, _RY, _KX, _RMIN2, _RMAX2, _INSIDE = range(6)
_VSTART, _VEND, _SSTART, _SEND = range(4)


@numba.njit(cache=True, nogil=True, inline="always")
def _pseudo_angle(x: float, y: float) -> float:  # pragma: no cover - compiled
    """A number in [0, 4) that grows with the direction's angle counter-clockwise from +x."""
    s = abs(x) + abs(y)
    if s == 0.0:
        return 0.0
    if y >= 0.0:
        return y / s if x >= 0.0 else 1.0 - x / s
    return 2.0 - y / s if x < 0.0 else 3.0 + x / s


@numba.njit(cache=True, nogil=True)
def _crossing(
    coords: NDArray[np.float64], v0: int, v1: int, px: float, py: float
) -> bool:  # pragma: no cover - compiled
    """Even-odd crossing test of (px, py) against the closed ring ``coords[v0:v1]``."""
    inside = False
    for i in range(v0, v1 - 1):
        x1, y1 = coords[i, 0], coords[i, 1]
        x2, y2 = coords[i + 1, 0], coords[i + 1, 1]
        if (y1 > py) != (y2 > py) and px < x1 + (py - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


@numba.njit(cache=True, nogil=True)
def _star_contains(
    star: NDArray[np.float64], s0: int, s1: int, x: float, y: float
) -> bool:  # pragma: no cover - compiled
    """(x, y), relative to the reference, inside the star ring ``star[s0:s1]``.

    ``star`` rows are (pseudo-angle, x, y) of the vertices, counter-clockwise from the
    smallest angle. The ray towards (x, y) crosses the edge from the last vertex at or
    below its angle to the next one; inside is the reference's side, the left.
    """
    t = _pseudo_angle(x, y)
    if t < star[s0, 0] or t >= star[s1 - 1, 0]:
        j = s1 - 1
    else:
        lo, hi = s0, s1 - 1  # star[lo, 0] <= t < star[hi, 0]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if star[mid, 0] <= t:
                lo = mid
            else:
                hi = mid
        j = lo
    k = j + 1 if j + 1 < s1 else s0
    ex, ey = star[k, 1] - star[j, 1], star[k, 2] - star[j, 2]
    return ex * (y - star[j, 2]) - ey * (x - star[j, 1]) > 0.0


@numba.njit(cache=True, nogil=True)
def _in_ring(
    coords: NDArray[np.float64],
    star: NDArray[np.float64],
    ring_f: NDArray[np.float64],
    ring_i: NDArray[np.int64],
    r: int,
    px: float,
    py: float,
) -> bool:  # pragma: no cover - compiled
    """Whether ring ``r`` holds (px, py): the two radii first, then the exact test."""
    x = (px - ring_f[r, _RX]) * ring_f[r, _KX]
    y = py - ring_f[r, _RY]
    d2 = x * x + y * y
    if d2 > ring_f[r, _RMAX2]:
        return False
    if d2 < ring_f[r, _RMIN2]:
        return ring_f[r, _INSIDE] == 1.0
    if ring_i[r, _SEND] > ring_i[r, _SSTART]:
        return _star_contains(star, ring_i[r, _SSTART], ring_i[r, _SEND], x, y)
    return _crossing(coords, ring_i[r, _VSTART], ring_i[r, _VEND], px, py)


@numba.njit(cache=True, nogil=True)
def _covers_chunk(
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    start: int,
    stop: int,
    out: NDArray[np.bool_],
    grid: NDArray[np.float64],
    cell_start: NDArray[np.int32],
    cell_full: NDArray[np.bool_],
    entry_rings: NDArray[np.int32],
    coords: NDArray[np.float64],
    star: NDArray[np.float64],
    ring_f: NDArray[np.float64],
    ring_i: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled
    """``out[i] = any footprint holds point i`` for ``start <= i < stop``.

    A cell's entries are its footprints' ring ranges (``entry_rings[k]`` to
    ``entry_rings[k, 1]``); a full cell lies wholly inside one footprint.
    """
    x0, y0, inv_w, inv_h = grid[0], grid[1], grid[2], grid[3]
    n_col, n_row = int(grid[4]), int(grid[5])
    for i in range(start, stop):
        px, py = lon[i], lat[i]
        fx = (px - x0) * inv_w
        fy = (py - y0) * inv_h
        if not (fx >= 0.0 and fy >= 0.0 and fx < n_col and fy < n_row):  # NaN too
            continue
        cell = int(fy) * n_col + int(fx)
        if cell_full[cell]:
            out[i] = True
            continue
        for k in range(cell_start[cell], cell_start[cell + 1]):
            inside = False
            for r in range(entry_rings[k, 0], entry_rings[k, 1]):
                if _in_ring(coords, star, ring_f, ring_i, r, px, py):
                    inside = not inside
            if inside:
                out[i] = True
                break


@numba.njit(cache=True, nogil=True)
def _prepare_ring(
    coords: NDArray[np.float64],
    ring_f: NDArray[np.float64],
    ring_i: NDArray[np.int64],
    r: int,
    star: NDArray[np.float64],
    s_at: int,
) -> int:  # pragma: no cover - compiled
    """Radii, side of the reference and, when star-shaped, the sorted vertices of ring ``r``.

    Writes the star rows from ``star[s_at]`` on; returns the next free row.
    """
    v0, v1 = ring_i[r, _VSTART], ring_i[r, _VEND]
    rx, ry, kx = ring_f[r, _RX], ring_f[r, _RY], ring_f[r, _KX]
    n = v1 - v0 - 1  # distinct vertices (the last repeats the first)
    lx = np.empty(n + 1)
    ly = np.empty(n + 1)
    for i in range(n + 1):
        lx[i] = (coords[v0 + i, 0] - rx) * kx
        ly[i] = coords[v0 + i, 1] - ry
    rmin2, rmax2 = np.inf, 0.0
    for i in range(n):
        rmax2 = max(rmax2, lx[i] * lx[i] + ly[i] * ly[i])
        dx, dy = lx[i + 1] - lx[i], ly[i + 1] - ly[i]
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0.0 else min(max(-(lx[i] * dx + ly[i] * dy) / length2, 0.0), 1.0)
        ex, ey = lx[i] + t * dx, ly[i] + t * dy
        rmin2 = min(rmin2, ex * ex + ey * ey)
    rmin, rmax = np.sqrt(rmin2), np.sqrt(rmax2)
    rmin = max(rmin - (_REL_MARGIN * rmin + _ABS_MARGIN_DEG), 0.0)
    rmax = rmax + _REL_MARGIN * rmax + _ABS_MARGIN_DEG
    ring_f[r, _RMIN2], ring_f[r, _RMAX2] = rmin * rmin, rmax * rmax
    ring_f[r, _INSIDE] = 1.0 if _crossing(coords, v0, v1, rx, ry) else 0.0
    ring_i[r, _SSTART], ring_i[r, _SEND] = s_at, s_at
    if n < 3 or rmin2 == 0.0:
        return s_at
    # Star-shaped around the reference: the angles turn one way, each step under a half turn,
    # once round in all.
    ang = np.empty(n)
    for i in range(n):
        ang[i] = _pseudo_angle(lx[i], ly[i])
    total, sign = 0.0, 0.0
    for i in range(n):
        step = ang[(i + 1) % n] - ang[i]
        if step > 2.0:
            step -= 4.0
        elif step <= -2.0:
            step += 4.0
        if sign == 0.0:
            sign = 1.0 if step > 0.0 else -1.0
        if step * sign <= 0.0 or abs(step) >= 1.9:
            return s_at
        total += step
    if abs(abs(total) - 4.0) > 1e-6:
        return s_at
    first = 0
    for i in range(n):
        if ang[i] < ang[first]:
            first = i
    for k in range(n):
        i = (first + k) % n if sign > 0 else (first - k) % n
        star[s_at + k, 0], star[s_at + k, 1], star[s_at + k, 2] = ang[i], lx[i], ly[i]
    ring_i[r, _SEND] = s_at + n
    return s_at + n


@numba.njit(cache=True, nogil=True)
def _prepare_rings(
    coords: NDArray[np.float64],
    ring_f: NDArray[np.float64],
    ring_i: NDArray[np.int64],
    star: NDArray[np.float64],
) -> int:  # pragma: no cover - compiled
    """:func:`_prepare_ring` for every ring; returns the star rows used."""
    s_at = 0
    for r in range(ring_i.shape[0]):
        s_at = _prepare_ring(coords, ring_f, ring_i, r, star, s_at)
    return s_at


@dataclass(frozen=True, eq=False)
class FootprintIndex:
    """Footprint polygons (lon/lat) ready for point tests; build with :meth:`from_polygons`.

    Examples
    --------
    >>> disk = shapely.Point(10.0, 50.0).buffer(0.01)
    >>> index = FootprintIndex.from_polygons([disk], [10.0], [50.0])
    >>> index.covers([10.005, 10.02], [50.0, 50.0]).tolist()
    [True, False]
    """

    #: ``(x0, y0, 1 / cell width, 1 / cell height, n_col, n_row)`` of the lon/lat grid.
    grid: NDArray[np.float64]
    #: Per cell, the offset of its first entry (one more at the end).
    cell_start: NDArray[np.int32]
    #: Per cell, whether it lies wholly inside one footprint.
    cell_full: NDArray[np.bool_]
    #: Per entry (a footprint in a cell), the range of its rings.
    entry_rings: NDArray[np.int32]
    #: Ring vertices (lon, lat), ring after ring, each closed.
    coords: NDArray[np.float64]
    #: Vertices of the star-shaped rings: pseudo-angle and local x, y, sorted by angle.
    star: NDArray[np.float64]
    #: Per ring: reference, frame, radii, side of the reference (``_RX`` ...).
    ring_f: NDArray[np.float64]
    #: Per ring: its vertices in ``coords`` and ``star`` (``_VSTART`` ...).
    ring_i: NDArray[np.int64]

    @classmethod
    def from_polygons(
        cls, polygons: ArrayLike, ref_lon: ArrayLike, ref_lat: ArrayLike
    ) -> FootprintIndex:
        """Index footprint polygons in lon/lat, each with a reference point.

        Parameters
        ----------
        polygons
            Polygons or MultiPolygons in lon/lat (``None`` or empty: hold nothing).
        ref_lon, ref_lat
            A point per footprint (degrees), best one around which every ring of the
            footprint is star-shaped (:func:`reference_points`): any point gives the same
            answers, a good one answers faster.
        """
        polys = np.asarray(polygons, dtype=object).ravel()
        rx = np.broadcast_to(np.asarray(ref_lon, dtype=float).ravel(), polys.shape)
        ry = np.broadcast_to(np.asarray(ref_lat, dtype=float).ravel(), polys.shape)
        live = ~(shapely.is_missing(polys) | shapely.is_empty(polys))
        polys = polys.copy()
        polys[~live] = None
        parts, part_fp = shapely.get_parts(polys, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        ring_fp = part_fp[ring_part]
        coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
        vend = np.cumsum(np.bincount(vertex_ring, minlength=rings.size))
        ring_i = np.zeros((rings.size, 4), dtype=np.int64)
        ring_i[:, _VSTART], ring_i[:, _VEND] = (
            vend - np.bincount(vertex_ring, minlength=rings.size),
            vend,
        )
        ring_f = np.zeros((rings.size, 6))
        ring_f[:, _RX], ring_f[:, _RY] = rx[ring_fp], ry[ring_fp]
        ring_f[:, _KX] = np.cos(np.radians(ring_f[:, _RY]))
        coords = np.ascontiguousarray(coords, dtype=float)
        star = np.empty((coords.shape[0], 3))
        used = _prepare_rings(coords, ring_f, ring_i, star) if rings.size else 0
        fp_ring = np.searchsorted(ring_fp, np.arange(polys.size + 1))
        grid, cell_start, cell_full, entry_rings = _grid(
            np.asarray(shapely.bounds(polys), dtype=float), live, fp_ring, ring_f
        )
        return cls(
            grid, cell_start, cell_full, entry_rings, coords, star[:used].copy(), ring_f, ring_i
        )

    def rings(self) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
        """Every ring the index tests, as a polygon (lon/lat), and the footprint it belongs to.

        Footprints are numbered from 0 in the order given, those without rings skipped; a
        point is in a footprint when an odd number of its rings hold it.

        Examples
        --------
        >>> annulus = shapely.Point(0, 0).buffer(2).difference(shapely.Point(0, 0).buffer(1))
        >>> index = FootprintIndex.from_polygons([annulus, shapely.box(5, 5, 6, 6)], 0, 0)
        >>> polys, owner = index.rings()
        >>> owner.tolist(), [round(p.area, 1) for p in polys][1:]
        ([0, 0, 1], [3.1, 1.0])
        """
        counts = self.ring_i[:, _VEND] - self.ring_i[:, _VSTART]
        vertex_ring = np.repeat(np.arange(len(counts)), counts)
        polys = shapely.polygons(shapely.linearrings(self.coords, indices=vertex_ring))
        first = np.unique(self.entry_rings[:, 0])  # each footprint's first ring
        owner = np.searchsorted(first, np.arange(len(counts)), side="right") - 1
        return np.asarray(polys, dtype=object), owner.astype(np.int64)

    def covers(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
        """Whether any footprint holds each point (lon, lat in degrees).

        Many points are shared out to every core (the kernel releases the GIL).
        """
        x = np.ascontiguousarray(np.asarray(lon, dtype=float).ravel())
        y = np.ascontiguousarray(np.asarray(lat, dtype=float).ravel())
        if x.shape != y.shape:
            raise ValueError(f"covers: lon and lat differ in length ({x.size} vs {y.size})")
        out = np.zeros(x.size, dtype=bool)
        if x.size == 0 or self.entry_rings.size == 0:
            return out
        args = (
            self.grid,
            self.cell_start,
            self.cell_full,
            self.entry_rings,
            self.coords,
            self.star,
            self.ring_f,
            self.ring_i,
        )
        bounds = [*range(0, x.size, _CHUNK), x.size]
        tasks = list(itertools.pairwise(bounds))
        map_threads(
            lambda t: _covers_chunk(x, y, t[0], t[1], out, *args), tasks, name="limes-covers"
        )
        return out


def reference_points(fp: FootprintParams) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A point per footprint around which each of its rings is star-shaped (analysis CRS).

    The sensor for a disk or an annulus (its hole too); for a wedge a point on its bisector:
    half the range out when it is at most a half turn wide, a quarter when wider (where it
    still sees both sides), and midway across an annular wedge. The index checks the
    star shape and falls back on the crossing test where it fails.

    Examples
    --------
    >>> fp = FootprintParams(*(np.array([v]) for v in (0.0, 0.0, 100.0, 0.0, 90.0, 60.0)))
    >>> [round(float(v[0]), 6) for v in reference_points(fp)]
    [50.0, 0.0]
    """
    full = fp.fov_deg >= 360.0
    along = np.where(
        fp.r_in > 0, (fp.r_in + fp.r_out) / 2, np.where(fp.fov_deg <= 180.0, 0.5, 0.25) * fp.r_out
    )
    along = np.where(full, 0.0, along)
    t = np.radians(fp.bearing_deg)
    return fp.x + along * np.sin(t), fp.y + along * np.cos(t)


def _grid(
    fp_box: NDArray[np.float64],
    live: NDArray[np.bool_],
    fp_ring: NDArray[np.int64],
    ring_f: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.bool_], NDArray[np.int32]]:
    """A uniform lon/lat grid over the footprints' boxes, each box registered in its cells.

    Cells are half a typical footprint (the median box) a side, made larger when the grid
    would exceed :data:`_MAX_CELLS` cells or :data:`_MAX_ENTRIES` registrations. Within a
    cell, footprints with the widest sure inside come first (a point stops at the first that
    holds it). Returns the grid (see :attr:`FootprintIndex.grid`), the offsets of each cell's
    entries, which cells are full and each entry's ring range.
    """
    idx = np.flatnonzero(live & (np.diff(fp_ring) > 0))
    if idx.size == 0:
        grid = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
        return grid, np.zeros(2, np.int32), np.zeros(1, bool), np.zeros((0, 2), np.int32)
    box = fp_box[idx]
    x0, y0 = box[:, 0].min(), box[:, 1].min()
    span_x = max(box[:, 2].max() - x0, 1e-9)
    span_y = max(box[:, 3].max() - y0, 1e-9)
    w = max(float(np.median(box[:, 2] - box[:, 0])) / 2, span_x * 1e-6, 1e-9)
    h = max(float(np.median(box[:, 3] - box[:, 1])) / 2, span_y * 1e-6, 1e-9)
    while True:
        n_col, n_row = int(span_x / w) + 1, int(span_y / h) + 1
        c0 = ((box[:, 0] - x0) / w).astype(np.int64)
        c1 = np.minimum(((box[:, 2] - x0) / w).astype(np.int64), n_col - 1)
        r0 = ((box[:, 1] - y0) / h).astype(np.int64)
        r1 = np.minimum(((box[:, 3] - y0) / h).astype(np.int64), n_row - 1)
        n_c, n_r = c1 - c0 + 1, r1 - r0 + 1
        if n_col * n_row <= _MAX_CELLS and int((n_c * n_r).sum()) <= _MAX_ENTRIES:
            break
        w, h = w * 2, h * 2
    owner, k = ragged((n_c * n_r).astype(np.int64))
    col, row = c0[owner] + k % n_c[owner], r0[owner] + k // n_c[owner]
    cell = row * n_col + col
    first = fp_ring[idx][owner]
    order = np.lexsort((-ring_f[first, _RMIN2], cell))
    cell_start = np.searchsorted(cell[order], np.arange(n_col * n_row + 1)).astype(np.int32)
    entry_rings = np.column_stack([first, fp_ring[idx + 1][owner]])[order].astype(np.int32)
    cell_full = np.zeros(n_col * n_row, dtype=bool)
    inside = _cell_inside(ring_f[first], x0 + col * w, y0 + row * h, w, h)
    cell_full[cell[inside & (fp_ring[idx + 1][owner] - first == 1)]] = True
    grid = np.array([x0, y0, 1.0 / w, 1.0 / h, float(n_col), float(n_row)])
    return grid, cell_start, cell_full, entry_rings


def _cell_inside(
    ring: NDArray[np.float64],
    left: NDArray[np.float64],
    bottom: NDArray[np.float64],
    w: float,
    h: float,
) -> NDArray[np.bool_]:
    """Whether each cell lies within the sure-inside disk of a ring that holds its reference.

    The disk is convex: a cell is in it when its four corners are.
    """
    ok = ring[:, _INSIDE] == 1.0
    for cx in (left, left + w):
        for cy in (bottom, bottom + h):
            dx = (cx - ring[:, _RX]) * ring[:, _KX]
            dy = cy - ring[:, _RY]
            ok &= dx * dx + dy * dy < ring[:, _RMIN2]
    return ok


__all__ = ["FootprintIndex", "reference_points"]
