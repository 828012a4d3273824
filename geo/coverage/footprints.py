"""Sensor footprints: disks, annuli and wedges, as polygons and as exact cuts of lines.

A footprint is every point whose ground distance from the sensor is between ``min_range_m``
and ``range_m`` and whose true bearing from the sensor lies within ``fov_deg / 2`` of
``azimuth_deg``. Footprints are built in the (conformal) analysis CRS with the local scale
factor and meridian convergence at each sensor applied, so a 10 km range is 10 km on the
ground and an azimuth of 0° points to true north, wherever the sensor is.

Two representations, one geometry:

- :func:`footprint_polygons`: polygons for maps, areas and point tests (inscribed polygons
  with ``settings.FOOTPRINT_CIRCLE_VERTICES`` vertices on a full circle);
- :func:`segment_intervals`: the exact parameter intervals of straight segments inside the
  true (curved) footprints, solved analytically. Along-border coverage uses these: no
  polygon clipping, and no discretisation error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.core import settings


@dataclass(frozen=True)
class FootprintParams:
    """Footprints in analysis-CRS units, one entry per sensor.

    Attributes
    ----------
    x, y
        Sensor position in the analysis CRS (m).
    r_out, r_in
        Outer and inner radius in analysis-CRS units (ground metres x local scale).
    bearing_deg
        Grid bearing of the centre of view (degrees clockwise from grid north).
    fov_deg
        Field of view (degrees); 360 means all round.
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    r_out: NDArray[np.float64]
    r_in: NDArray[np.float64]
    bearing_deg: NDArray[np.float64]
    fov_deg: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.x.size)

    def take(self, idx: NDArray[np.integer[Any]] | Sequence[int]) -> FootprintParams:
        """Return the footprints at positions ``idx``."""
        at = np.asarray(idx, dtype=np.intp)
        return FootprintParams(
            *(np.asarray(getattr(self, f))[at] for f in self.__dataclass_fields__)
        )


def ragged(counts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For ragged groups of ``counts`` items: the group of each item and its index within it.

    Examples
    --------
    >>> [a.tolist() for a in ragged(np.array([2, 3]))]
    [[0, 0, 1, 1, 1], [0, 1, 0, 1, 2]]
    """
    group = np.repeat(np.arange(counts.size), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local = np.arange(counts.sum()) - np.repeat(starts, counts)
    return group, local


def footprint_polygons(fp: FootprintParams, *, n_circle: int | None = None) -> NDArray[np.object_]:
    """Build one polygon per footprint (vectorised).

    Parameters
    ----------
    fp
        Footprint parameters in the analysis CRS.
    n_circle
        Vertices on a full circle; arcs get a proportional share (at least 3).

    Returns
    -------
    ndarray of shapely.Polygon
        Disk, annulus (polygon with a hole), or wedge / annular wedge.

    Examples
    --------
    >>> fp = FootprintParams(*(np.array([v]) for v in (0.0, 0.0, 100.0, 0.0, 0.0, 360.0)))
    >>> round(float(shapely.area(footprint_polygons(fp)[0])))  # inscribed 64-gon
    31365
    """
    n_circle = n_circle or settings.FOOTPRINT_CIRCLE_VERTICES
    n = len(fp)
    if n == 0:
        return np.empty(0, dtype=object)
    full = fp.fov_deg >= 360.0
    annulus = fp.r_in > 0
    fov = np.where(full, 360.0, fp.fov_deg)
    arc_n = np.where(full, n_circle, np.maximum(3, np.ceil(n_circle * fov / 360.0)).astype(int) + 1)
    # Outer ring: full circle, or outer arc then inner arc back (annular wedge) or apex.
    counts = np.where(full, arc_n, np.where(annulus, 2 * arc_n, arc_n + 1)).astype(np.int64)
    g, k = ragged(counts)
    m = arc_n[g]
    start = np.where(full[g], 0.0, fp.bearing_deg[g] - fov[g] / 2)
    step = np.where(full[g], 360.0 / m, fov[g] / np.maximum(m - 1, 1))
    on_outer = k < m
    theta = np.where(on_outer, start + step * k, start + fov[g] - step * (k - m))
    radius = np.where(on_outer, fp.r_out[g], np.where(annulus[g], fp.r_in[g], 0.0))
    t = np.radians(theta)
    coords = np.column_stack([fp.x[g] + radius * np.sin(t), fp.y[g] + radius * np.cos(t)])
    shells = shapely.linearrings(coords, indices=g)
    polys = shapely.polygons(shells)

    holes_for = np.flatnonzero(full & annulus)
    if holes_for.size:
        hg, hk = ragged(np.full(holes_for.size, n_circle, dtype=np.int64))
        src = holes_for[hg]
        ht = np.radians(360.0 * hk / n_circle)
        hcoords = np.column_stack(
            [fp.x[src] + fp.r_in[src] * np.sin(ht), fp.y[src] + fp.r_in[src] * np.cos(ht)]
        )
        holes = shapely.linearrings(hcoords, indices=hg)
        polys[holes_for] = shapely.polygons(shells[holes_for], holes=holes[:, None])
    return polys


def _disk_interval(
    fx: NDArray[np.float64],
    fy: NDArray[np.float64],
    dx: NDArray[np.float64],
    dy: NDArray[np.float64],
    r: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Parameters t where |F + t D| <= r (NaN where the line misses the circle)."""
    a = dx * dx + dy * dy
    b = 2 * (fx * dx + fy * dy)
    c = fx * fx + fy * fy - r * r
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        sq = np.sqrt(np.where(disc > 0, disc, np.nan))
        return (-b - sq) / (2 * a), (-b + sq) / (2 * a)


def _cone_interval(
    fx: NDArray[np.float64],
    fy: NDArray[np.float64],
    dx: NDArray[np.float64],
    dy: NDArray[np.float64],
    bearing_deg: NDArray[np.float64],
    half_deg: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Parameters t in [0, 1] inside the convex cone (half-angle <= 90°) around a bearing."""
    lo = np.zeros_like(fx)
    hi = np.ones_like(fx)
    u = np.radians(bearing_deg)
    h = np.radians(half_deg)
    for sign in (-1.0, 1.0):
        ray = u + sign * h
        # Inward normal of the boundary ray: the bisector minus its component along the ray.
        nx = np.sin(u) - np.cos(h) * np.sin(ray)
        ny = np.cos(u) - np.cos(h) * np.cos(ray)
        nf = nx * fx + ny * fy
        nd = nx * dx + ny * dy
        with np.errstate(divide="ignore", invalid="ignore"):
            root = -nf / nd
        lo = np.where(nd > 0, np.maximum(lo, root), lo)
        hi = np.where(nd < 0, np.minimum(hi, root), hi)
        never = (nd == 0) & (nf < 0)
        hi = np.where(never, -np.inf, hi)
    return lo, hi


def segment_intervals(
    ax: ArrayLike,
    ay: ArrayLike,
    bx: ArrayLike,
    by: ArrayLike,
    fp: FootprintParams,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact parts of segments A->B inside footprints, as parameters along the segment.

    Parameters
    ----------
    ax, ay, bx, by
        Segment end points in the analysis CRS, one per pair.
    fp
        Footprints, one per pair (same length as the segments).

    Returns
    -------
    (t_start, t_end) : ndarray of shape (n, 4)
        Up to four intervals of ``t`` in ``[0, 1]`` per pair (an annular wedge can cut a
        segment into four pieces at most); empty slots have ``t_end <= t_start`` or NaN.
    """
    ax, ay, bx, by = (np.asarray(v, dtype=float) for v in (ax, ay, bx, by))
    fx, fy = ax - fp.x, ay - fp.y
    dx, dy = bx - ax, by - ay

    # Radial part: outer disk minus the open inner disk -> up to two intervals.
    o_lo, o_hi = _disk_interval(fx, fy, dx, dy, fp.r_out)
    o_lo, o_hi = np.maximum(o_lo, 0.0), np.minimum(o_hi, 1.0)
    i_lo, i_hi = _disk_interval(fx, fy, dx, dy, fp.r_in)
    no_hole = ~(fp.r_in > 0) | np.isnan(i_lo)
    i_lo = np.where(no_hole, np.inf, i_lo)
    i_hi = np.where(no_hole, np.inf, i_hi)
    radial = [(o_lo, np.minimum(o_hi, i_lo)), (np.maximum(o_lo, i_hi), o_hi)]

    # Angular part: everything, a convex cone, or the complement of one -> up to two.
    fov = fp.fov_deg
    full = fov >= 360.0
    convex = fov <= 180.0
    half = np.where(convex, fov / 2, 180.0 - fov / 2)
    bearing = np.where(convex, fp.bearing_deg, fp.bearing_deg + 180.0)
    c_lo, c_hi = _cone_interval(fx, fy, dx, dy, bearing, half)
    zeros, ones = np.zeros_like(fx), np.ones_like(fx)
    cone_empty = ~(c_hi > c_lo)
    # Reflex wedge = [0, 1] minus the opposite convex cone.
    w1_lo = np.where(full, zeros, np.where(convex, c_lo, zeros))
    w1_hi = np.where(full, ones, np.where(convex, c_hi, np.where(cone_empty, ones, c_lo)))
    w2_lo = np.where(full | convex | cone_empty, ones, c_hi)
    w2_hi = np.where(full | convex | cone_empty, zeros, ones)
    angular = [(w1_lo, w1_hi), (w2_lo, w2_hi)]

    t_lo = np.column_stack([np.maximum(r[0], w[0]) for r in radial for w in angular])
    t_hi = np.column_stack([np.minimum(r[1], w[1]) for r in radial for w in angular])
    return t_lo, t_hi
