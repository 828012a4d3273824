"""Tracks prepared for the kernel: fixes in the analysis CRS, time-ordered, per segment.

Fixes are sorted by track and time (a repeated time keeps its first fix). Between two fixes
of a track the observer watches when they are at most ``max_fix_gap_s`` apart; a longer
silence means not watching. Its range is the fix's ``range_m``, else ``--track-range-m``,
else the default of its kind (:data:`geo.core.settings.TRACK_RANGE_M`), scaled to the
analysis CRS by the local scale factor at the fix. With ``fov_deg`` its footprint is a wedge
around the heading (the direction of motion; when it stands still, its last heading).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.core import settings
from geo.core.projection import AnalysisCRS, local_scale_and_convergence
from geo.timeline.windows import Window

__all__ = ["PreparedTracks", "prepare_tracks"]

#: Partner of a track whose file and flags name none.
UNKNOWN_PARTNER = "unknown"


@dataclass(frozen=True, eq=False)
class PreparedTracks:
    """Fixes of every track, concatenated (track by track, in time order).

    Attributes
    ----------
    ids, partner, kind
        Per track (str).
    track
        Per fix, its track's index.
    t
        Per fix, seconds after the window's start.
    x, y
        Per fix, position in the analysis CRS (m).
    lon, lat
        Per fix, position (degrees).
    r
        Per fix, range in analysis-CRS units.
    range_m, height_m
        Per fix, range on the ground and the observer's height above the ground (m).
    half_fov
        Per fix, half the field of view (rad); ``pi`` all round.
    hx, hy
        Per fix, unit heading of the segment starting there (grid east, north).
    seg_ok
        Per fix, whether the segment to the next fix watches (same track, ``0 < dt <=``
        ``max_fix_gap_s``).
    """

    ids: NDArray[np.object_]
    partner: NDArray[np.object_]
    kind: NDArray[np.object_]
    track: NDArray[np.int64]
    t: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    r: NDArray[np.float64]
    range_m: NDArray[np.float64]
    height_m: NDArray[np.float64]
    half_fov: NDArray[np.float64]
    hx: NDArray[np.float64]
    hy: NDArray[np.float64]
    seg_ok: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def n_tracks(self) -> int:
        """Number of tracks."""
        return int(self.ids.size)


def _per_track_text(
    frame: pd.DataFrame, col: str, first: NDArray[np.int64], fill: str | None
) -> NDArray[np.object_]:
    if col not in frame:
        values = np.full(first.size, None, dtype=object)
    else:
        values = frame[col].astype(object).to_numpy()[first]
    return np.array(
        [fill if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values],
        dtype=object,
    )


def prepare_tracks(
    tracks: gpd.GeoDataFrame,
    acrs: AnalysisCRS,
    window: Window,
    *,
    max_fix_gap_s: float = settings.MAX_FIX_GAP_S,
    track_range_m: float | None = None,
    track_partner: str | None = None,
) -> PreparedTracks:
    """Sort, project and measure the fixes of ``tracks`` (as :func:`geo.inputs.read_tracks`).

    Fixes further than ``max_fix_gap_s`` outside the window are dropped (they cannot watch
    inside it).
    """
    frame = pd.DataFrame(tracks.drop(columns=tracks.geometry.name))
    frame["_lon"] = tracks.geometry.x.to_numpy(dtype=float)
    frame["_lat"] = tracks.geometry.y.to_numpy(dtype=float)
    frame["_t"] = window.seconds_array(tracks["time"])
    inside = (frame["_t"] >= -max_fix_gap_s) & (frame["_t"] <= window.length_s + max_fix_gap_s)
    frame = frame[inside.to_numpy()]
    frame = frame.sort_values(["track_id", "_t"], kind="stable")
    frame = frame.drop_duplicates(["track_id", "_t"], keep="first").reset_index(drop=True)
    codes, ids = pd.factorize(frame["track_id"].astype(str), sort=False)
    track = codes.astype(np.int64)
    first = np.flatnonzero(np.r_[True, track[1:] != track[:-1]]) if track.size else track
    partner = _per_track_text(frame, "partner", first, track_partner or UNKNOWN_PARTNER)
    kind = _per_track_text(frame, "kind", first, "other")
    t = frame["_t"].to_numpy(dtype=float)
    lon, lat = frame["_lon"].to_numpy(dtype=float), frame["_lat"].to_numpy(dtype=float)
    scale = _scale(acrs, lon, lat)
    x, y = (np.asarray(v, dtype=float) for v in acrs.to_proj.transform(lon, lat))
    range_m = (
        frame["range_m"].to_numpy(dtype=float) if "range_m" in frame else np.full(t.size, np.nan)
    )
    default = np.array([settings.TRACK_RANGE_M.get(k, 1000.0) for k in kind])[track]
    range_m = np.where(np.isnan(range_m), track_range_m if track_range_m else default, range_m)
    height = (
        frame["height_m"].to_numpy(dtype=float) if "height_m" in frame else np.full(t.size, np.nan)
    )
    default_h = np.array([settings.TRACK_HEIGHT_M.get(k, 2.0) for k in kind])[track]
    height = np.where(np.isnan(height), default_h, height)
    fov = frame["fov_deg"].to_numpy(dtype=float) if "fov_deg" in frame else np.full(t.size, 360.0)
    half_fov = np.radians(np.where(np.isnan(fov), 360.0, fov) / 2.0)
    same = np.r_[track[1:] == track[:-1], False] if track.size else np.zeros(0, dtype=bool)
    dt = np.r_[np.diff(t), 0.0] if t.size else t
    seg_ok = same & (dt > 0) & (dt <= max_fix_gap_s)
    hx, hy = _headings(x, y, track, same)
    return PreparedTracks(
        ids=np.asarray(ids, dtype=object),
        partner=partner,
        kind=kind,
        track=track,
        t=t,
        x=x,
        y=y,
        lon=lon,
        lat=lat,
        r=range_m * scale,
        range_m=range_m,
        height_m=height,
        half_fov=half_fov,
        hx=hx,
        hy=hy,
        seg_ok=seg_ok,
    )


def _scale(
    acrs: AnalysisCRS, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The local scale factor at each fix, measured once per 0.01° cell.

    It varies by less than 1e-7 across one.
    """
    if lon.size == 0:
        return lon.copy()
    # One integer per cell: lon and lat in hundredths of a degree (lat shifted positive).
    lat_i = np.round(lat * 100).astype(np.int64) + 10_000
    key = np.round(lon * 100).astype(np.int64) * 100_000 + lat_i
    inverse, cells = pd.factorize(key)
    cells = np.asarray(cells, dtype=np.int64)
    cell_lon = np.floor_divide(cells, 100_000) / 100.0
    cell_lat = (np.mod(cells, 100_000) - 10_000) / 100.0
    scale, _ = local_scale_and_convergence(acrs, cell_lon, cell_lat)
    return np.asarray(scale, dtype=float)[inverse]


def _headings(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    track: NDArray[np.int64],
    same: NDArray[np.bool_],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit heading of each segment; where the observer stands still, its last (or next) one."""
    if x.size == 0:
        return x.copy(), y.copy()
    dx = np.r_[np.diff(x), 0.0]
    dy = np.r_[np.diff(y), 0.0]
    norm = np.hypot(dx, dy)
    moving = same & (norm > 1e-9)
    h = pd.DataFrame(
        {
            "hx": np.where(moving, dx / np.where(moving, norm, 1.0), np.nan),
            "hy": np.where(moving, dy / np.where(moving, norm, 1.0), np.nan),
        }
    )
    h = h.groupby(track).ffill().groupby(track).bfill().fillna({"hx": 0.0, "hy": 1.0})
    return h["hx"].to_numpy(dtype=float), h["hy"].to_numpy(dtype=float)
