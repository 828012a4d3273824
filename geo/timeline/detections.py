"""Detections classified against what was watched at their own time.

A detection in the window is watched at its time when a static sensor's footprint holds it
and the sensor watches then (its schedule), or when a track's observer, at its interpolated
position at that time, holds it in its range disk (or wedge) on a watching segment.

With a DEM (:class:`DetectionTerrain`) a static sensor's footprint is its viewshed: it holds
a detection when it sees the detection's cell, as ``analyse --dem`` classifies detections
(:mod:`geo.timeline.terrain`); a track's observer must also see the detection over the
terrain from its position at that time (:func:`geo.timeline.sightlines.lines_of_sight`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.core.projection import AnalysisCRS
from geo.coverage import intervals as iv
from geo.coverage.footprints import FootprintParams, footprint_polygons
from geo.timeline.tracks import PreparedTracks
from geo.timeline.windows import Window

__all__ = ["DetectionTerrain", "watched_at_time", "watched_rows"]


@dataclass(frozen=True, eq=False)
class DetectionTerrain:
    """With a DEM: which static sensor sees which detection, and the DEM for the tracks.

    ``point``, ``sensor``: pairs (row of the detections, index into the scene's sensors),
    one per sensor whose viewshed sees the detection's cell
    (:attr:`geo.timeline.terrain.TerrainSight.point`).
    """

    point: NDArray[np.int64]
    sensor: NDArray[np.int64]
    dem: str | Path


def _in_windows(t: NDArray[np.float64], win: iv.Intervals) -> NDArray[np.bool_]:
    if win[0].size == 0:
        return np.zeros(t.size, dtype=bool)
    k = np.searchsorted(win[0], t, side="right") - 1
    return (k >= 0) & (t <= win[1][np.clip(k, 0, None)])


def _static(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    t: NDArray[np.float64],
    fp: FootprintParams,
    windows: list[iv.Intervals],
) -> NDArray[np.bool_]:
    seen = np.zeros(t.size, dtype=bool)
    if len(fp) == 0 or t.size == 0:
        return seen
    polys = footprint_polygons(fp)
    pts = shapely.points(x, y)
    d_idx, s_idx = shapely.STRtree(polys).query(pts, predicate="intersects")
    for s in np.unique(s_idx):
        mine = d_idx[s_idx == s]
        seen[mine] |= _in_windows(t[mine], windows[s])
    return seen


def _static_seen(
    t: NDArray[np.float64], terrain: DetectionTerrain, windows: list[iv.Intervals]
) -> NDArray[np.bool_]:
    """Detections (all rows; ``t`` their times) a sensor that sees them watches at their time."""
    seen = np.zeros(t.size, dtype=bool)
    for s in np.unique(terrain.sensor):
        mine = terrain.point[terrain.sensor == s]
        seen[mine] |= _in_windows(t[mine], windows[s])
    return seen


def _tracks(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    t: NDArray[np.float64],
    tr: PreparedTracks,
    lonlat: tuple[NDArray[np.float64], NDArray[np.float64]],
    dem: str | Path | None,
) -> NDArray[np.bool_]:
    """Detections a track's observer holds at their time (and, with a DEM, sees)."""
    seen = np.zeros(t.size, dtype=bool)
    found: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = []
    for k in range(tr.n_tracks):
        rows = np.flatnonzero(tr.track == k)
        if rows.size < 2:
            continue
        tt = tr.t[rows]
        i = np.searchsorted(tt, t, side="right") - 1
        ok = (i >= 0) & (i < rows.size - 1)
        g = rows[np.clip(i, 0, rows.size - 2)]
        ok &= tr.seg_ok[g]
        f = np.where(ok, (t - tr.t[g]) / np.where(ok, tr.t[g + 1] - tr.t[g], 1.0), 0.0)
        px = tr.x[g] + f * (tr.x[g + 1] - tr.x[g])
        py = tr.y[g] + f * (tr.y[g + 1] - tr.y[g])
        dx, dy = x - px, y - py
        ok &= np.hypot(dx, dy) <= tr.r[g]
        angle = np.arctan2(np.abs(dy * tr.hx[g] - dx * tr.hy[g]), dx * tr.hx[g] + dy * tr.hy[g])
        ok &= (tr.half_fov[g] >= np.pi) | (angle <= tr.half_fov[g])
        if dem is None:
            seen |= ok
        else:
            d = np.flatnonzero(ok)
            found.append((d, g[d], f[d]))
    if dem is None or not found:
        return seen
    # Imported here: the DEM (rasterio, numba kernels) loads only with a DEM.
    from geo.timeline.sightlines import ground_scale, lines_of_sight

    d = np.concatenate([a for a, _, _ in found])
    g = np.concatenate([b for _, b, _ in found])
    f = np.concatenate([c for _, _, c in found])
    observer = (
        tr.lon[g] + f * (tr.lon[g + 1] - tr.lon[g]),
        tr.lat[g] + f * (tr.lat[g + 1] - tr.lat[g]),
    )
    px = tr.x[g] + f * (tr.x[g + 1] - tr.x[g])
    py = tr.y[g] + f * (tr.y[g + 1] - tr.y[g])
    ground_m = np.hypot(x[d] - px, y[d] - py) / ground_scale(tr)
    target = (lonlat[0][d], lonlat[1][d])
    visible = lines_of_sight(observer, tr.height_m[g], target, ground_m, dem)
    seen[d[visible]] = True
    return seen


def watched_rows(
    detections: gpd.GeoDataFrame,
    acrs: AnalysisCRS,
    window: Window,
    *,
    footprints: FootprintParams,
    windows: list[iv.Intervals],
    tracks: PreparedTracks | None,
    terrain: DetectionTerrain | None = None,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per detection: whether its time is in the window, and whether it is watched then.

    Without ``terrain`` a static sensor holds the detections in its flat footprint; with it,
    those its viewshed sees, and tracks' observers only those they see over its DEM. A
    detection outside the window is not watched.
    """
    t_all = window.seconds_array(detections["time"])
    inside = (t_all >= 0) & (t_all <= window.length_s)
    lon = detections.geometry.x.to_numpy(dtype=float)[inside]
    lat = detections.geometry.y.to_numpy(dtype=float)[inside]
    x, y = (np.asarray(v, dtype=float) for v in acrs.to_proj.transform(lon, lat))
    t = t_all[inside]
    if terrain is None:
        seen = _static(x, y, t, footprints, windows)
    else:
        seen = _static_seen(t_all, terrain, windows)[inside]
    if tracks is not None and len(tracks):
        dem = None if terrain is None else terrain.dem
        seen |= _tracks(x, y, t, tracks, (lon, lat), dem)
    watched = np.zeros(inside.size, dtype=bool)
    watched[inside] = seen
    return inside, watched


def watched_at_time(
    detections: gpd.GeoDataFrame,
    acrs: AnalysisCRS,
    window: Window,
    *,
    footprints: FootprintParams,
    windows: list[iv.Intervals],
    tracks: PreparedTracks | None,
    terrain: DetectionTerrain | None = None,
) -> dict[str, int]:
    """``total`` (in the window), ``watched_at_time``, ``unwatched_at_time``, ``outside_window``.

    The counts of :func:`watched_rows`.
    """
    inside, watched = watched_rows(
        detections, acrs, window, footprints=footprints, windows=windows, tracks=tracks,
        terrain=terrain,
    )  # fmt: skip
    return {
        "total": int(inside.sum()),
        "watched_at_time": int(watched.sum()),
        "unwatched_at_time": int((inside & ~watched).sum()),
        "outside_window": int((~inside).sum()),
    }
