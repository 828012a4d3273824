"""Detections classified against what was watched at their own time.

A detection in the window is watched at its time when a static sensor's footprint holds it
and the sensor watches then (its schedule), or when a track's observer, at its interpolated
position at that time, holds it in its range disk (or wedge) on a watching segment.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.core.projection import AnalysisCRS
from geo.coverage import intervals as iv
from geo.coverage.footprints import FootprintParams, footprint_polygons
from geo.timeline.tracks import PreparedTracks
from geo.timeline.windows import Window

__all__ = ["watched_at_time"]


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


def _tracks(
    x: NDArray[np.float64], y: NDArray[np.float64], t: NDArray[np.float64], tr: PreparedTracks
) -> NDArray[np.bool_]:
    seen = np.zeros(t.size, dtype=bool)
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
        seen |= ok
    return seen


def watched_at_time(
    detections: gpd.GeoDataFrame,
    acrs: AnalysisCRS,
    window: Window,
    *,
    footprints: FootprintParams,
    windows: list[iv.Intervals],
    tracks: PreparedTracks | None,
) -> dict[str, int]:
    """``total`` (in the window), ``watched_at_time``, ``unwatched_at_time``, ``outside_window``."""
    t = window.seconds_array(detections["time"])
    inside = (t >= 0) & (t <= window.length_s)
    lon = detections.geometry.x.to_numpy(dtype=float)[inside]
    lat = detections.geometry.y.to_numpy(dtype=float)[inside]
    x, y = (np.asarray(v, dtype=float) for v in acrs.to_proj.transform(lon, lat))
    t = t[inside]
    seen = _static(x, y, t, footprints, windows)
    if tracks is not None and len(tracks):
        seen |= _tracks(x, y, t, tracks)
    return {
        "total": int(t.size),
        "watched_at_time": int(seen.sum()),
        "unwatched_at_time": int((~seen).sum()),
        "outside_window": int((~inside).sum()),
    }
