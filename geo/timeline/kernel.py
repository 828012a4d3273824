"""The compiled kernel: when each moving observer watches each border point, exactly.

Between two fixes an observer moves in a straight line at constant speed (the analysis CRS
is conformal, so straight and uniform there is what the interpolation means). A point ``q``
is inside its range disk while ``|a + v·τ - q| <= r``, a quadratic in ``τ``: one interval,
in closed form. With a field of view (a wedge of half-angle ``β`` around the heading ``h``),
a point moving backwards relative to the observer leaves the wedge once and never comes
back, so the wedge adds one bound: ``speed·τ <= u - |w|·cot β`` (``u``, ``w``: the point's
coordinates along and across the heading at the first fix). The intervals of one track at
one point are merged as they are made (a track's segments come in time order).

:func:`grid_index` buckets the border points on a square grid so that each segment only
tests the points near it.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "PointGrid",
    "grid_index",
    "merge_sorted",
    "simplify_fixes",
    "track_point_intervals",
]

#: Intervals of one track closer than this (s) at a point merge (float rounding at fixes).
_TOUCH_S = 1e-6


class PointGrid:
    """Border points bucketed on a square grid (CSR: ``start[b]:start[b+1]`` in ``items``)."""

    def __init__(
        self,
        x0: float,
        y0: float,
        size: float,
        nx: int,
        ny: int,
        start: NDArray[np.int64],
        items: NDArray[np.int64],
    ) -> None:
        self.x0, self.y0, self.size, self.nx, self.ny = x0, y0, size, nx, ny
        self.start, self.items = start, items


def grid_index(
    qx: NDArray[np.float64], qy: NDArray[np.float64], size: float, *, max_buckets: int = 4_000_000
) -> PointGrid:
    """Bucket points on a grid of ``size`` (m; enlarged so there are at most ``max_buckets``)."""
    x0, y0 = float(qx.min()) - 1.0, float(qy.min()) - 1.0
    w, h = float(qx.max()) - x0 + 2.0, float(qy.max()) - y0 + 2.0
    size = max(size, float(np.sqrt(w * h / max_buckets)))
    nx, ny = int(w // size) + 1, int(h // size) + 1
    bucket = ((qx - x0) // size).astype(np.int64) + nx * ((qy - y0) // size).astype(np.int64)
    items = np.argsort(bucket, kind="stable").astype(np.int64)
    start = np.concatenate([[0], np.cumsum(np.bincount(bucket, minlength=nx * ny))]).astype(
        np.int64
    )
    return PointGrid(x0, y0, size, nx, ny, start, items)


@numba.njit(cache=True, nogil=True)
def _grow(a: NDArray, n: int) -> NDArray:
    out = np.empty(2 * a.size, dtype=a.dtype)
    out[:n] = a[:n]
    return out


@numba.njit(cache=True, nogil=True)
def _segment_interval(
    dx: float,
    dy: float,
    vx: float,
    vy: float,
    dt: float,
    r: float,
    half_fov: float,
    hx: float,
    hy: float,
) -> tuple[float, float]:
    """Times ``(lo, hi)`` after the first fix when the point (``dx, dy`` from it) is watched."""
    c = dx * dx + dy * dy - r * r
    a = vx * vx + vy * vy
    lo, hi = 0.0, dt
    if a == 0.0:
        if c > 0.0:
            return 1.0, 0.0
    else:
        b = -2.0 * (dx * vx + dy * vy)
        disc = b * b - 4.0 * a * c
        if disc < 0.0:
            return 1.0, 0.0
        sq = np.sqrt(disc)
        lo = max(lo, (-b - sq) / (2.0 * a))
        hi = min(hi, (-b + sq) / (2.0 * a))
    if half_fov < np.pi:
        u = dx * hx + dy * hy
        w = abs(dy * hx - dx * hy)
        if a == 0.0:
            if np.arctan2(w, u) > half_fov:
                return 1.0, 0.0
        else:
            hi = min(hi, (u - w * np.cos(half_fov) / np.sin(half_fov)) / np.sqrt(a))
    return lo, hi


@numba.njit(cache=True, nogil=True)
def track_point_intervals(  # long: one loop over segments and nearby points, kept together
    qx: NDArray[np.float64],
    qy: NDArray[np.float64],
    g_x0: float,
    g_y0: float,
    g_size: float,
    g_nx: int,
    g_ny: int,
    g_start: NDArray[np.int64],
    g_items: NDArray[np.int64],
    t: NDArray[np.float64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    r: NDArray[np.float64],
    half_fov: NDArray[np.float64],
    hx: NDArray[np.float64],
    hy: NDArray[np.float64],
    seg_ok: NDArray[np.bool_],
    track: NDArray[np.int64],
    first_seg: int,
    stop_seg: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Every ``(point, start, end)`` when a track's observer watches a border point.

    Segment ``i`` runs from fix ``i`` to fix ``i + 1`` (``seg_ok[i]``: same track, watching);
    ``r``, ``half_fov`` (rad; ``>= pi``: all round) and the unit heading ``hx, hy`` are the
    segment's. Only segments ``first_seg <= i < stop_seg`` are done (threads share the
    work; the kernel releases the GIL). Intervals of one track at one point are merged;
    different tracks' are not.
    """
    n_pts = qx.size
    last = np.full(n_pts, -1, dtype=np.int64)
    last_track = np.full(n_pts, -1, dtype=np.int64)
    cap = max(1024, 4 * (stop_seg - first_seg))
    o_pt = np.empty(cap, dtype=np.int64)
    o_s = np.empty(cap, dtype=np.float64)
    o_e = np.empty(cap, dtype=np.float64)
    n = 0
    for i in range(first_seg, min(stop_seg, t.size - 1)):
        if not seg_ok[i]:
            continue
        dt = t[i + 1] - t[i]
        ax, ay, bx, by, rr = x[i], y[i], x[i + 1], y[i + 1], r[i]
        vx, vy = (bx - ax) / dt, (by - ay) / dt
        ix0 = max(int((min(ax, bx) - rr - g_x0) // g_size), 0)
        ix1 = min(int((max(ax, bx) + rr - g_x0) // g_size), g_nx - 1)
        iy0 = max(int((min(ay, by) - rr - g_y0) // g_size), 0)
        iy1 = min(int((max(ay, by) + rr - g_y0) // g_size), g_ny - 1)
        for iy in range(iy0, iy1 + 1):
            for ix in range(ix0, ix1 + 1):
                bkt = ix + g_nx * iy
                for k in range(g_start[bkt], g_start[bkt + 1]):
                    j = g_items[k]
                    lo, hi = _segment_interval(
                        qx[j] - ax, qy[j] - ay, vx, vy, dt, rr, half_fov[i], hx[i], hy[i]
                    )
                    if hi <= lo:
                        continue
                    s_abs, e_abs = t[i] + lo, t[i] + hi
                    m = last[j]
                    if m >= 0 and last_track[j] == track[i] and s_abs <= o_e[m] + _TOUCH_S:
                        o_e[m] = max(o_e[m], e_abs)
                        continue
                    if n == o_pt.size:
                        o_pt, o_s, o_e = _grow(o_pt, n), _grow(o_s, n), _grow(o_e, n)
                    o_pt[n], o_s[n], o_e[n] = j, s_abs, e_abs
                    last[j], last_track[j] = n, track[i]
                    n += 1
    return o_pt[:n].copy(), o_s[:n].copy(), o_e[:n].copy()


@numba.njit(cache=True, nogil=True)
def merge_sorted(
    owner: NDArray[np.int64], s: NDArray[np.float64], e: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Merge intervals sorted by owner, then start: each owner's union (touching ones join)."""
    n = owner.size
    o_out = np.empty(n, dtype=np.int64)
    s_out = np.empty(n, dtype=np.float64)
    e_out = np.empty(n, dtype=np.float64)
    m = -1
    for i in range(n):
        if e[i] <= s[i]:
            continue
        if m >= 0 and owner[i] == o_out[m] and s[i] <= e_out[m]:
            if e[i] > e_out[m]:
                e_out[m] = e[i]
            continue
        m += 1
        o_out[m], s_out[m], e_out[m] = owner[i], s[i], e[i]
    return o_out[: m + 1].copy(), s_out[: m + 1].copy(), e_out[: m + 1].copy()


@numba.njit(cache=True, nogil=True)
def simplify_fixes(
    t: NDArray[np.float64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    r: NDArray[np.float64],
    half_fov: NDArray[np.float64],
    seg_ok: NDArray[np.bool_],
    tol_m: float,
    max_run: int,
) -> NDArray[np.bool_]:
    """Which fixes to keep so that straight, uniform motion is one segment.

    A run of watching segments (same range and field of view) becomes one segment when every
    fix inside it lies within ``tol_m`` of where uniform motion from the run's first to its
    last fix puts it at that fix's time; runs are at most ``max_run`` segments long. The
    interpolated position then moves by at most ``tol_m``.
    """
    n = t.size
    keep = np.zeros(n, dtype=np.bool_)
    a = 0
    while a < n:
        keep[a] = True
        if not seg_ok[a]:
            a += 1
            continue
        j = a + 1  # the run a -> j is one segment
        while (
            j < n - 1
            and seg_ok[j]
            and j - a < max_run
            and r[j] == r[a]
            and half_fov[j] == half_fov[a]
        ):
            b = j + 1
            span = t[b] - t[a]
            ok = True
            for k in range(a + 1, b):
                f = (t[k] - t[a]) / span
                dx = x[a] + f * (x[b] - x[a]) - x[k]
                dy = y[a] + f * (y[b] - y[a]) - y[k]
                if dx * dx + dy * dy > tol_m * tol_m:
                    ok = False
                    break
            if not ok:
                break
            j = b
        a = j
    return keep
