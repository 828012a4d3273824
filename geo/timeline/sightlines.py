"""Moving observers over terrain: line of sight sampled at every time step.

With a DEM, whether a track's observer sees a border point depends on the terrain between
them, which changes continuously as it moves: no closed form. So time is sampled at the step
(``--step-s``): at the middle of each step ``[k·step, (k+1)·step)`` where the track is on a
watching segment, its position is interpolated, and each border piece's midpoint within its
range (and wedge) is tested for line of sight over the DEM; a visible point counts as
watched for the whole step. The figures are then good to one time step.

The line of sight runs from the observer's eye (ground + ``height_m``; default by kind,
:data:`geo.core.settings.TRACK_HEIGHT_M`) to a target ``target_height_m`` above the ground,
over the DEM's cells along the straight line between them (nearest cell), with the earth's
curvature corrected by ``1 - k`` for refraction, as the viewsheds of static sensors are.
Cells without data block nothing; an observer or target on such a cell sees or is seen by
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pyproj
from affine import Affine
from numpy.typing import NDArray
from rasterio.windows import Window as RasterWindow

from geo.core import settings
from geo.core.errors import ValidationError
from geo.terrain.dem import MAX_WINDOW_CELLS, DemTransformer, open_dem
from geo.terrain.viewshed import WGS84_SEMI_MAJOR_M
from geo.timeline.kernel import grid_index
from geo.timeline.tracks import PreparedTracks
from geo.timeline.watch import Pieces
from geo.timeline.windows import Window

__all__ = ["MAX_SIGHT_CELLS", "ground_scale", "lines_of_sight", "sampled_track_intervals"]

#: The DEM window read for the tracks' lines of sight holds at most this many cells (the
#: static sensors' limit).
MAX_SIGHT_CELLS = MAX_WINDOW_CELLS


@numba.njit(cache=True, nogil=True)
def _visible(
    dem: NDArray[np.float32],
    c0: float,
    r0: float,
    z0: float,
    c1: float,
    r1: float,
    z1: float,
    dist_m: float,
    curv: float,
) -> bool:
    """Whether the eye at pixel (c0, r0), height z0 sees the target (c1, r1) at height z1."""
    n = int(max(abs(c1 - c0), abs(r1 - r0)))
    z_end = z1 - curv * dist_m * dist_m
    rows, cols = dem.shape
    for m in range(1, n):
        f = m / n
        c = int(np.floor(c0 + f * (c1 - c0)))
        r = int(np.floor(r0 + f * (r1 - r0)))
        if r < 0 or r >= rows or c < 0 or c >= cols:
            continue
        h = dem[r, c]
        if np.isnan(h):
            continue
        s = f * dist_m
        if h - curv * s * s > z0 + f * (z_end - z0):
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _ground(dem: NDArray[np.float32], c: float, r: float) -> float:
    ri, ci = int(np.floor(r)), int(np.floor(c))
    if ri < 0 or ri >= dem.shape[0] or ci < 0 or ci >= dem.shape[1]:
        return np.nan
    return float(dem[ri, ci])


@numba.njit(cache=True, nogil=True)
def _sight_kernel(  # long: one loop over samples and nearby points, kept together
    qx: NDArray[np.float64],
    qy: NDArray[np.float64],
    qc: NDArray[np.float64],
    qr: NDArray[np.float64],
    target_h: float,
    g_x0: float,
    g_y0: float,
    g_size: float,
    g_nx: int,
    g_ny: int,
    g_start: NDArray[np.int64],
    g_items: NDArray[np.int64],
    s0: NDArray[np.float64],
    s1: NDArray[np.float64],
    sx: NDArray[np.float64],
    sy: NDArray[np.float64],
    sc: NDArray[np.float64],
    sr: NDArray[np.float64],
    s_eye: NDArray[np.float64],
    s_range: NDArray[np.float64],
    s_half: NDArray[np.float64],
    s_hx: NDArray[np.float64],
    s_hy: NDArray[np.float64],
    s_track: NDArray[np.int64],
    dem: NDArray[np.float32],
    curv: float,
    scale: float,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """``(point, start, end)`` for every sampled step in which an observer sees a point."""
    n_pts = qx.size
    qz = np.empty(n_pts)
    for j in range(n_pts):
        qz[j] = _ground(dem, qc[j], qr[j]) + target_h
    last = np.full(n_pts, -1, dtype=np.int64)
    last_track = np.full(n_pts, -1, dtype=np.int64)
    cap = max(1024, 4 * s0.size)
    o_pt = np.empty(cap, dtype=np.int64)
    o_s = np.empty(cap, dtype=np.float64)
    o_e = np.empty(cap, dtype=np.float64)
    n = 0
    for i in range(s0.size):
        z0 = _ground(dem, sc[i], sr[i]) + s_eye[i]
        if np.isnan(z0):
            continue
        rr = s_range[i]
        ix0 = max(int((sx[i] - rr - g_x0) // g_size), 0)
        ix1 = min(int((sx[i] + rr - g_x0) // g_size), g_nx - 1)
        iy0 = max(int((sy[i] - rr - g_y0) // g_size), 0)
        iy1 = min(int((sy[i] + rr - g_y0) // g_size), g_ny - 1)
        for iy in range(iy0, iy1 + 1):
            for ix in range(ix0, ix1 + 1):
                bkt = ix + g_nx * iy
                for k in range(g_start[bkt], g_start[bkt + 1]):
                    j = g_items[k]
                    dx, dy = qx[j] - sx[i], qy[j] - sy[i]
                    d2 = dx * dx + dy * dy
                    if d2 > rr * rr or np.isnan(qz[j]):
                        continue
                    if s_half[i] < np.pi and d2 > 0.0:
                        along = dx * s_hx[i] + dy * s_hy[i]
                        across = abs(dy * s_hx[i] - dx * s_hy[i])
                        if np.arctan2(across, along) > s_half[i]:
                            continue
                    dist = np.sqrt(d2) / scale
                    if not _visible(dem, sc[i], sr[i], z0, qc[j], qr[j], qz[j], dist, curv):
                        continue
                    m = last[j]
                    if m >= 0 and last_track[j] == s_track[i] and s0[i] <= o_e[m]:
                        o_e[m] = max(o_e[m], s1[i])
                        continue
                    if n == o_pt.size:
                        grown = np.empty(2 * n, dtype=np.int64)
                        grown[:n] = o_pt[:n]
                        o_pt = grown
                        grown_s = np.empty(2 * n)
                        grown_s[:n] = o_s[:n]
                        o_s = grown_s
                        grown_e = np.empty(2 * n)
                        grown_e[:n] = o_e[:n]
                        o_e = grown_e
                    o_pt[n], o_s[n], o_e[n] = j, s0[i], s1[i]
                    last[j], last_track[j] = n, s_track[i]
                    n += 1
    return o_pt[:n].copy(), o_s[:n].copy(), o_e[:n].copy()


@dataclass(frozen=True)
class _Samples:
    """Sampled positions, one per watching step of a track.

    ``start``, ``end``: the step (s); ``x``, ``y``, ``lon``, ``lat``: where; ``g``: the fix
    starting its segment.
    """

    start: NDArray[np.float64]
    end: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    g: NDArray[np.int64]


def _samples(tracks: PreparedTracks, window: Window, step_s: float) -> _Samples:
    """Each track's position at the middle of every step it spends on a watching segment."""
    n_steps = int(np.ceil(window.length_s / step_s))
    mids = (np.arange(n_steps) + 0.5) * step_s
    parts: dict[str, list[NDArray]] = {k: [] for k in ("k", "g", "f")}
    for tr in range(tracks.n_tracks):
        rows = np.flatnonzero(tracks.track == tr)
        if rows.size < 2:
            continue
        tt = tracks.t[rows]
        i = np.searchsorted(tt, mids, side="right") - 1
        ok = (i >= 0) & (i < rows.size - 1)
        g = rows[np.clip(i, 0, rows.size - 2)]
        ok &= tracks.seg_ok[g]
        k = np.flatnonzero(ok)
        g = g[k]
        parts["k"].append(k)
        parts["g"].append(g)
        parts["f"].append((mids[k] - tracks.t[g]) / (tracks.t[g + 1] - tracks.t[g]))
    k = np.concatenate(parts["k"] or [np.empty(0, dtype=np.int64)]).astype(np.int64)
    g = np.concatenate(parts["g"] or [np.empty(0, dtype=np.int64)]).astype(np.int64)
    f = np.concatenate(parts["f"] or [np.empty(0)])
    lon = tracks.lon[g] + f * (tracks.lon[g + 1] - tracks.lon[g])
    lat = tracks.lat[g] + f * (tracks.lat[g + 1] - tracks.lat[g])
    return _Samples(
        start=(k * step_s).astype(np.float64),
        end=((k + 1) * step_s).astype(np.float64),
        x=tracks.x[g] + f * (tracks.x[g + 1] - tracks.x[g]),
        y=tracks.y[g] + f * (tracks.y[g + 1] - tracks.y[g]),
        lon=lon,
        lat=lat,
        g=g,
    )


def _near(smp: _Samples, pieces: Pieces, reach: float) -> _Samples:
    """The samples within ``reach`` of the border's bounding box (the others see none of it)."""
    if len(pieces) == 0:
        return smp
    keep = (
        (smp.x >= pieces.mid_x.min() - reach)
        & (smp.x <= pieces.mid_x.max() + reach)
        & (smp.y >= pieces.mid_y.min() - reach)
        & (smp.y <= pieces.mid_y.max() + reach)
    )
    return _Samples(*(getattr(smp, f)[keep] for f in _Samples.__dataclass_fields__))


def _pixels(
    transform: Affine, x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fractional (column, row) on the DEM's grid of points in its CRS."""
    inv = ~transform
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f


@dataclass(frozen=True)
class _Heights:
    """A window of the DEM (NaN where it has no data) and the pixels of the points asked for.

    ``col``, ``row``: fractional pixels of each list of points, relative to the window.
    """

    heights: NDArray[np.float32]
    col: list[NDArray[np.float64]]
    row: list[NDArray[np.float64]]


def _read_heights(
    dem: str | Path, lonlat: list[tuple[NDArray[np.float64], NDArray[np.float64]]], what: str
) -> _Heights | None:
    """The DEM window holding every point of ``lonlat`` (``None``: none of them on the DEM).

    Raises
    ------
    ValidationError
        The window would hold more than :data:`MAX_SIGHT_CELLS` cells (``what`` says which
        points spread so far).
    """
    with open_dem(str(dem)) as ds:
        to_dem = DemTransformer(
            "EPSG:4326",
            pyproj.CRS.from_user_input(ds.crs.to_wkt()),
            ds.transform,
            (ds.height, ds.width),
        )
        pix = [_pixels(ds.transform, *to_dem.transform(lon, lat)) for lon, lat in lonlat]
        cols = np.concatenate([c for c, _ in pix])
        rows = np.concatenate([r for _, r in pix])
        if not (np.isfinite(cols) & np.isfinite(rows)).any():
            return None
        c_lo = max(int(np.floor(np.nanmin(cols))) - 1, 0)
        r_lo = max(int(np.floor(np.nanmin(rows))) - 1, 0)
        c_hi = min(int(np.ceil(np.nanmax(cols))) + 2, ds.width)
        r_hi = min(int(np.ceil(np.nanmax(rows))) + 2, ds.height)
        if c_hi <= c_lo or r_hi <= r_lo:
            return None
        if (c_hi - c_lo) * (r_hi - r_lo) > MAX_SIGHT_CELLS:
            raise ValidationError(
                f"DEM {Path(str(dem)).name!r}: {what} cover "
                f"{(c_hi - c_lo) * (r_hi - r_lo):,} cells, more than {MAX_SIGHT_CELLS:,}; "
                "use a coarser DEM (gdalwarp -tr)"
            )
        band = ds.read(
            1, window=RasterWindow.from_slices((r_lo, r_hi), (c_lo, c_hi)), masked=True,
            out_dtype="float32",
        )  # fmt: skip
        heights = np.ma.filled(band, np.nan).astype(np.float32, copy=False)
        scale, offset = ds.scales[0], ds.offsets[0]
        if scale != 1.0 or offset != 0.0:
            heights = (heights * scale + offset).astype(np.float32)
    return _Heights(heights, [c - c_lo for c, _ in pix], [r - r_lo for _, r in pix])


def sampled_track_intervals(
    pieces: Pieces,
    tracks: PreparedTracks,
    lonlat_pieces: tuple[NDArray[np.float64], NDArray[np.float64]],
    dem: str | Path,
    window: Window,
    *,
    step_s: float,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """``(piece, start, end)``: the steps in which each track sees each piece over the DEM."""
    none = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
    smp = _near(_samples(tracks, window, step_s), pieces, float(tracks.r.max(initial=0.0)))
    if smp.x.size == 0 or len(pieces) == 0:
        return none
    g = smp.g
    got = _read_heights(dem, [lonlat_pieces, (smp.lon, smp.lat)], "the border and the tracks")
    if got is None:
        return none
    (q_col, s_col), (q_row, s_row) = got.col, got.row
    grid = grid_index(pieces.mid_x, pieces.mid_y, max(float(np.median(tracks.r)) / 4, 100.0))
    curv = (1.0 - refraction_coeff) / (2.0 * WGS84_SEMI_MAJOR_M)
    return _sight_kernel(
        pieces.mid_x, pieces.mid_y, q_col, q_row, float(target_height_m),
        grid.x0, grid.y0, grid.size, grid.nx, grid.ny, grid.start, grid.items,
        smp.start, smp.end, smp.x, smp.y, s_col, s_row,
        tracks.height_m[g], tracks.r[g], tracks.half_fov[g], tracks.hx[g], tracks.hy[g],
        tracks.track[g], got.heights, curv, ground_scale(tracks),
    )  # fmt: skip


def ground_scale(tracks: PreparedTracks) -> float:
    """Analysis-CRS metres per ground metre near the tracks (their ranges, projected)."""
    return float(np.median(tracks.r / np.maximum(tracks.range_m, 1e-9)))


@numba.njit(cache=True, nogil=True)
def _pairs_kernel(
    dem: NDArray[np.float32],
    oc: NDArray[np.float64],
    orow: NDArray[np.float64],
    eye: NDArray[np.float64],
    tc: NDArray[np.float64],
    trow: NDArray[np.float64],
    target_h: float,
    dist_m: NDArray[np.float64],
    curv: float,
) -> NDArray[np.bool_]:
    out = np.zeros(oc.size, dtype=np.bool_)
    for i in range(oc.size):
        z0 = _ground(dem, oc[i], orow[i]) + eye[i]
        z1 = _ground(dem, tc[i], trow[i]) + target_h
        if np.isnan(z0) or np.isnan(z1):
            continue
        out[i] = _visible(dem, oc[i], orow[i], z0, tc[i], trow[i], z1, dist_m[i], curv)
    return out


def lines_of_sight(
    observer_lonlat: tuple[NDArray[np.float64], NDArray[np.float64]],
    eye_m: NDArray[np.float64],
    target_lonlat: tuple[NDArray[np.float64], NDArray[np.float64]],
    ground_m: NDArray[np.float64],
    dem: str | Path,
    *,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> NDArray[np.bool_]:
    """Whether each observer sees its target over the DEM (pairs, one per row).

    The same line of sight as the tracks' (see the module notes): from ``eye_m`` above the
    ground under the observer to ``target_height_m`` above the ground under the target,
    ``ground_m`` apart. An observer or target off the DEM or on a cell without data sees or
    is seen by nothing.
    """
    n = np.asarray(eye_m).size
    if n == 0:
        return np.zeros(0, dtype=bool)
    got = _read_heights(dem, [observer_lonlat, target_lonlat], "the tracks and the detections")
    if got is None:
        return np.zeros(n, dtype=bool)
    (o_col, t_col), (o_row, t_row) = got.col, got.row
    ok = np.isfinite(o_col) & np.isfinite(o_row) & np.isfinite(t_col) & np.isfinite(t_row)
    curv = (1.0 - refraction_coeff) / (2.0 * WGS84_SEMI_MAJOR_M)
    seen = np.zeros(n, dtype=bool)
    seen[ok] = _pairs_kernel(
        got.heights, o_col[ok], o_row[ok], np.asarray(eye_m, dtype=float)[ok], t_col[ok],
        t_row[ok], float(target_height_m), np.asarray(ground_m, dtype=float)[ok], curv,
    )  # fmt: skip
    return seen
