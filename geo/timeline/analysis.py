"""The timeline: when, and for how long, each stretch of border is unwatched.

:func:`timeline` is the one entry point (the ``timeline`` command, later the app). It is a
recipe, one step per module:

1. the inputs are prepared as for ``analyse`` (:func:`geo.coverage.scene.prepare_scene`),
   the window checked, each static sensor's watching times computed
   (:mod:`geo.timeline.windows`) and the tracks projected (:mod:`geo.timeline.tracks`);
2. the border is cut into elementary pieces and each piece gets the union of the times it
   is watched: exact intervals for static sensors, exact per track segment at the piece's
   midpoint for tracks (:mod:`geo.timeline.watch`, :mod:`geo.timeline.kernel`);
3. the report is assembled (:mod:`geo.timeline.report`) and detections are classified at
   their own time (:mod:`geo.timeline.detections`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.coverage import intervals as iv
from geo.coverage.flat import border_intervals, sensor_footprints
from geo.coverage.footprints import FootprintParams
from geo.coverage.scene import Scene, prepare_scene, time_window
from geo.timeline.detections import DetectionTerrain, watched_at_time, watched_rows
from geo.timeline.report import border_section, by_hour, partner_section, stretches
from geo.timeline.tracks import PreparedTracks, prepare_tracks
from geo.timeline.watch import (
    Figures,
    Pieces,
    Watched,
    elementary_pieces,
    merge_watched,
    piece_figures,
    static_intervals,
    track_intervals,
)
from geo.timeline.windows import Window, sensor_windows

__all__ = ["Timeline", "detections_watched", "timeline"]


@dataclass(frozen=True, eq=False)
class Timeline:
    """Result of :func:`timeline`: the JSON report and what it was computed from.

    ``dem``: the terrain model it was computed over (``None``: flat); ``footprints`` and
    ``sensor_windows``: the static sensors' flat footprints and their watching times in the
    window (read-only), kept for :func:`detections_watched`.
    """

    report: dict[str, Any]
    scene: Scene
    window: Window
    pieces: Pieces
    watched: Watched
    figures: Figures
    tracks: PreparedTracks | None
    dem: str | Path | None = None
    footprints: FootprintParams | None = None
    sensor_windows: list[iv.Intervals] | None = None


def _positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValidationError(
            describe(
                name,
                "out of range",
                expected="a number >= 0" if allow_zero else "a number > 0",
                got=value,
            )
        )
    return float(value)


def _window(time_from: str | datetime | None, time_to: str | datetime | None) -> Window:
    t0, t1 = time_window(time_from, time_to)
    if t0 is None or t1 is None:
        missing = "--time-from" if t0 is None else "--time-to"
        raise ValidationError(
            describe(
                missing,
                "the timeline needs a time window",
                expected="an ISO 8601 time such as 2026-05-01T00:00:00Z",
                got=None,
            )
        )
    if t1 <= t0:
        raise ValidationError(f"time window: time_to ({t1}) must be after time_from ({t0})")
    return Window(t0, t1)


def _no_sensors() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"sensor_id": [], "partner": [], "kind": [], "range_m": np.empty(0)},
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        crs="EPSG:4326",
    )


def timeline(  # long: the recipe's steps and the options they take, one call each
    border: gpd.GeoDataFrame,
    *,
    sensors: gpd.GeoDataFrame | None = None,
    tracks: gpd.GeoDataFrame | None = None,
    sectors: gpd.GeoDataFrame | None = None,
    detections: gpd.GeoDataFrame | None = None,
    time_from: str | datetime | pd.Timestamp | None,
    time_to: str | datetime | pd.Timestamp | None,
    step_s: float = settings.TIMELINE_STEP_S,
    crossing_time_min: float = settings.CROSSING_TIME_MIN,
    max_fix_gap_s: float = settings.MAX_FIX_GAP_S,
    track_range_m: float | None = None,
    track_partner: str | None = None,
    chainage_step_m: float | None = None,
    dem: str | Path | None = None,
) -> Timeline:
    """When each stretch of border is watched, over the window ``[time_from, time_to]``.

    Parameters
    ----------
    border, sensors, sectors, detections
        Layers in EPSG:4326 as :mod:`geo.inputs` returns them; sensors may carry
        ``active_from``, ``active_to``, ``schedule`` and ``outages``.
    tracks
        Fixes of drones and patrols (:func:`geo.inputs.read_tracks`).
    time_from, time_to
        The window (ISO 8601; UTC without a zone); required.
    step_s
        The time step (s): with a DEM, tracks' lines of sight are sampled at it; it is the
        tolerance the figures promise.
    crossing_time_min
        Time an intruder needs to cross (min): longer unwatched intervals expose a stretch.
    max_fix_gap_s
        A track silent longer than this between two fixes is not watching (s).
    track_range_m, track_partner
        Range and partner of tracks whose file gives none (default range: by kind,
        :data:`geo.core.settings.TRACK_RANGE_M`).
    dem
        A terrain model: static sensors watch the border their viewshed sees
        (:mod:`geo.timeline.terrain`); tracks see what their line of sight reaches, sampled
        every ``step_s`` (:mod:`geo.timeline.sightlines`).
    chainage_step_m
        Where tracks move, the spacing of the border points evaluated (m); default the
        smaller of :data:`geo.core.settings.TIMELINE_CHAINAGE_STEP_M` and 0.1 % of the border.

    Returns
    -------
    Timeline

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [200_000.0], "schedule": ["00:00-12:00"]},
    ...                      geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> r = timeline(b, sensors=s, time_from="2026-05-01", time_to="2026-05-02").report
    >>> r["border"]["watched_pct"], r["by_hour"][0]["watched_pct"], r["by_hour"][12]["watched_pct"]
    (50.0, 100.0, 0.0)
    """
    window = _window(time_from, time_to)
    step_s = _positive(step_s, "--step-s")
    crossing_s = 60.0 * _positive(crossing_time_min, "--crossing-time-min", allow_zero=True)
    max_fix_gap_s = _positive(max_fix_gap_s, "--max-fix-gap-s")
    if track_range_m is not None:
        _positive(track_range_m, "--track-range-m")
    scene = prepare_scene(
        border,
        _no_sensors() if sensors is None else sensors,
        sectors=sectors,
        detections=None,
        corridor_km=settings.CORRIDOR_KM,
        min_gap_m=settings.MIN_GAP_M,
        time_from=window.start,
        time_to=window.end,
    )
    fp = sensor_footprints(scene.sensors, scene.acrs)
    owner, chain, seen_by = _sensor_pieces(scene, fp, dem, detections)
    windows = sensor_windows(scene.sensors, window)
    prepared = None
    if tracks is not None and len(tracks):
        prepared = prepare_tracks(
            tracks,
            scene.acrs,
            window,
            max_fix_gap_s=max_fix_gap_s,
            track_range_m=track_range_m,
            track_partner=track_partner,
        )
    moving = prepared is not None and bool(prepared.seg_ok.any())
    total_m = float(scene.border.length_m.sum())
    step_m = chainage_step_m or min(settings.TIMELINE_CHAINAGE_STEP_M, 0.001 * total_m)
    breaks = np.concatenate([chain[0], chain[1], *[a for s in scene.sectors.per_sector for a in s]])
    pieces = elementary_pieces(scene.border, breaks, step_m=step_m if moving else 0.0)
    parts = [static_intervals(pieces, owner, chain, windows)]
    if moving and prepared is not None:
        parts.append(_track_parts(scene, pieces, prepared, window, dem=dem, step_s=step_s))
    watched = merge_watched(parts, window.length_s)
    fig = piece_figures(watched, len(pieces), window.length_s)
    partners = sorted(set(scene.partners) | set(prepared.partner if prepared is not None else []))
    report: dict[str, Any] = {
        "parameters": {
            "time_from": _iso(window.start),
            "time_to": _iso(window.end),
            "window_h": round(window.length_s / 3600.0, 6),
            "step_s": step_s,
            "crossing_time_min": crossing_s / 60.0,
            "max_fix_gap_s": max_fix_gap_s,
            "track_range_m": track_range_m,
            "track_partner": track_partner,
            "engine": "flat" if dem is None else "terrain",
            "dem": None if dem is None else Path(str(dem)).name,
            "tracks_over_terrain": None
            if not moving
            else ("exact (flat)" if dem is None else f"line of sight every {step_s:g} s"),
            "chainage_step_m": round(step_m, 3) if moving else None,
            "pieces": len(pieces),
            "sensors": len(scene.sensors),
            "tracks": 0 if prepared is None else prepared.n_tracks,
            "track_fixes": 0 if prepared is None else len(prepared),
            "analysis_crs": str(scene.acrs),
        },
        "border": border_section(pieces, fig, window, crossing_s),
        "stretches": stretches(scene, pieces, fig, window, crossing_s),
        "by_hour": by_hour(pieces, watched, window),
        "partners": partner_section(scene, partners, pieces, fig, window, crossing_s),
    }
    if detections is not None:
        report["detections"] = watched_at_time(
            detections,
            scene.acrs,
            window,
            footprints=fp,
            windows=windows,
            tracks=prepared,
            terrain=seen_by,
        )
    return Timeline(report, scene, window, pieces, watched, fig, prepared, dem, fp, windows)


def detections_watched(
    tl: Timeline, detections: gpd.GeoDataFrame
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per detection: whether its time is in the timeline's window, and whether it is watched then.

    As the report's ``detections`` section classifies them (its counts are these flags'
    sums), for any detections after the timeline is computed: playback counts those of
    one step. Watched: a static sensor on its schedule holds it (its flat footprint, or,
    when the timeline has a DEM, its viewshed sees the detection's cell), or a drone or
    patrol holds (and over the DEM sees) it from its position at the detection's time.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [20_000.0], "schedule": ["00:00-12:00"]},
    ...                      geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> tl = timeline(b, sensors=s, time_from="2026-05-01", time_to="2026-05-02")
    >>> d = gpd.GeoDataFrame({"time": pd.to_datetime(["2026-05-01T06:00Z", "2026-05-01T18:00Z",
    ...                                               "2026-05-03T06:00Z"])},
    ...                      geometry=[shapely.Point(0.5, 0.01)] * 3, crs=4326)
    >>> [f.tolist() for f in detections_watched(tl, d)]
    [[True, True, False], [True, False, False]]
    """
    scene = tl.scene
    seen_by = None
    if tl.dem is not None:
        from geo.timeline.terrain import terrain_sight

        points = (
            detections.geometry.x.to_numpy(dtype=float),
            detections.geometry.y.to_numpy(dtype=float),
        )
        sight = terrain_sight(scene, tl.dem, points_lonlat=points)
        seen_by = DetectionTerrain(sight.point, sight.sensor, tl.dem)
    return watched_rows(
        detections,
        scene.acrs,
        tl.window,
        footprints=sensor_footprints(scene.sensors, scene.acrs)
        if tl.footprints is None
        else tl.footprints,
        windows=sensor_windows(scene.sensors, tl.window)
        if tl.sensor_windows is None
        else tl.sensor_windows,
        tracks=tl.tracks,
        terrain=seen_by,
    )


def _sensor_pieces(
    scene: Scene,
    fp: FootprintParams,
    dem: str | Path | None,
    detections: gpd.GeoDataFrame | None,
) -> tuple[NDArray[np.int64], iv.Intervals, DetectionTerrain | None]:
    """Each sensor's border (merged), from its footprint or, with a DEM, its viewshed.

    With a DEM, also which sensor's viewshed sees which detection (same pass).
    """
    seen_by = None
    if dem is None:
        owner, chain = border_intervals(scene.border, fp)
    else:
        # Imported here: the terrain (numba kernels, rasterio) loads only with a DEM.
        from geo.timeline.terrain import terrain_sight

        points = None
        if detections is not None:
            points = (
                detections.geometry.x.to_numpy(dtype=float),
                detections.geometry.y.to_numpy(dtype=float),
            )
        sight = terrain_sight(scene, dem, points_lonlat=points)
        owner, chain = sight.owner, sight.chain
        seen_by = DetectionTerrain(sight.point, sight.sensor, dem)
    # The engines give one piece per border edge or DEM cell: merged per sensor.
    return (*iv.union_by(owner, chain), seen_by)


def _track_parts(
    scene: Scene,
    pieces: Pieces,
    tracks: PreparedTracks,
    window: Window,
    *,
    dem: str | Path | None,
    step_s: float,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """When the tracks watch each piece: exact when flat, line of sight sampled over a DEM."""
    if dem is None:
        return track_intervals(pieces, tracks)
    from geo.timeline.sightlines import sampled_track_intervals

    lon, lat = scene.acrs.to_lonlat.transform(pieces.mid_x, pieces.mid_y)
    lonlat = (np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return sampled_track_intervals(pieces, tracks, lonlat, dem, window, step_s=step_s)


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat().replace("+00:00", "Z")
