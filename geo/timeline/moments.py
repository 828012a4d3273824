"""What is active at one moment: the sensors on their schedules, the tracks' positions.

For playback in the app and ``snapshot --at``: :func:`moment` answers, for a computed
:class:`~geo.timeline.analysis.Timeline` and a time inside its window, which static sensors
are watching (status, ``active_from``/``active_to``, daily ``schedule``, ``outages``: the
same rule as :func:`geo.timeline.windows.sensor_windows`), where each drone and patrol is
(linear interpolation between its two fixes around the moment, in the analysis CRS, as the
kernel moves it; none during a silence longer than ``max_fix_gap_s``) with its footprint
(range disk, or the wedge of its field of view around its heading), and which border pieces
are watched (:func:`geo.timeline.views.watched_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.core.errors import ValidationError, describe
from geo.core.projection import AnalysisCRS, to_lonlat
from geo.core.times import parse_utc
from geo.coverage.flat import sensor_footprints
from geo.coverage.footprints import footprint_polygons
from geo.timeline.analysis import Timeline
from geo.timeline.tracks import PreparedTracks
from geo.timeline.views import mask_layer, watched_at
from geo.timeline.windows import Window, sensor_windows

__all__ = ["Moment", "active_sensors", "moment", "track_positions"]

WGS84 = "EPSG:4326"

#: Columns of :attr:`Moment.positions` and :attr:`Moment.track_footprints`.
TRACK_COLUMNS = ["track_id", "partner", "kind", "range_m", "heading_deg", "fov_deg"]


@dataclass(frozen=True, eq=False)
class Moment:
    """What is watched at one moment (:func:`moment`).

    Attributes
    ----------
    when
        The moment (UTC).
    sensor_ids
        The timeline's static sensors (str), in its order.
    active
        Per static sensor, whether it watches at ``when``.
    sensor_footprints
        The footprints (flat: disk, annulus or wedge, as the timeline computes them) of the
        static sensors watching at ``when`` (EPSG:4326), with the sensors' attributes.
    positions
        One point per track watching at ``when`` (EPSG:4326): ``track_id``, ``partner``,
        ``kind``, ``range_m``, ``heading_deg`` (clockwise from grid north), ``fov_deg``.
    track_footprints
        The same rows with their footprint (range disk or wedge) as the geometry.
    watched
        Per elementary piece of border, whether it is watched at ``when``.
    watched_lines
        That border as lines (EPSG:4326), one per run of watched pieces.
    watched_km, length_km
        Border watched at ``when`` and the whole border (km along it).
    """

    when: pd.Timestamp
    sensor_ids: NDArray[np.object_]
    active: NDArray[np.bool_]
    sensor_footprints: gpd.GeoDataFrame
    positions: gpd.GeoDataFrame
    track_footprints: gpd.GeoDataFrame
    watched: NDArray[np.bool_]
    watched_lines: gpd.GeoDataFrame
    watched_km: float
    length_km: float

    @property
    def watched_pct(self) -> float:
        """Share of the border watched at ``when`` (%)."""
        return 100.0 * self.watched_km / self.length_km if self.length_km > 0 else 0.0

    @property
    def active_ids(self) -> list[str]:
        """The static sensors watching at ``when``."""
        return [str(s) for s in self.sensor_ids[self.active]]


def active_sensors(sensors: gpd.GeoDataFrame, when: pd.Timestamp) -> NDArray[np.bool_]:
    """Per sensor, whether it watches at ``when`` (UTC): status, active span, schedule, outages.

    A schedule's or outage's ends count as watching/down (closed intervals, as the kernel).

    Examples
    --------
    >>> import shapely
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a", "b"], "schedule": ["06:00-18:00", None]},
    ...                      geometry=[shapely.Point(0, 0)] * 2, crs=4326)
    >>> active_sensors(s, pd.Timestamp("2026-05-01T12:00Z")).tolist()
    [True, True]
    >>> active_sensors(s, pd.Timestamp("2026-05-01T20:00Z")).tolist()
    [False, True]
    """
    # A window of two seconds around the moment: the moment is 1 s after its start.
    window = Window(when - pd.Timedelta(seconds=1), when + pd.Timedelta(seconds=1))
    return np.array(
        [bool(((s <= 1.0) & (e >= 1.0)).any()) for s, e in sensor_windows(sensors, window)],
        dtype=bool,
    )


def track_positions(tracks: PreparedTracks, t_s: float) -> tuple[NDArray[np.int64], ...]:
    """The fix before each track's position at ``t_s`` (s after the window's start).

    Returns ``(fix, track)``: for every track watching at ``t_s`` (inside a segment of at
    most ``max_fix_gap_s``, :attr:`PreparedTracks.seg_ok`) the index of the segment's first
    fix, and the track's index. A moment on a fix shared by two segments takes the earlier.
    """
    t_next = np.r_[tracks.t[1:], np.inf] if len(tracks) else tracks.t
    inside = tracks.seg_ok & (tracks.t <= t_s) & (t_next >= t_s)
    fix = np.flatnonzero(inside)
    track, first = np.unique(tracks.track[fix], return_index=True)
    return fix[first].astype(np.int64), track.astype(np.int64)


def _track_frames(
    tracks: PreparedTracks, t_s: float, acrs: AnalysisCRS
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The tracks' positions at ``t_s`` and their footprints, as frames in EPSG:4326."""
    fix, track = track_positions(tracks, t_s)
    nxt = fix + 1
    dt = tracks.t[nxt] - tracks.t[fix] if fix.size else np.empty(0)
    f = (t_s - tracks.t[fix]) / np.where(dt > 0, dt, 1.0) if fix.size else np.empty(0)
    x = tracks.x[fix] + f * (tracks.x[nxt] - tracks.x[fix]) if fix.size else np.empty(0)
    y = tracks.y[fix] + f * (tracks.y[nxt] - tracks.y[fix]) if fix.size else np.empty(0)
    hx, hy, half = tracks.hx[fix], tracks.hy[fix], tracks.half_fov[fix]
    footprints = [
        _footprint(float(x[i]), float(y[i]), float(tracks.r[fix[i]]), hx[i], hy[i], half[i])
        for i in range(fix.size)
    ]
    lon, lat = acrs.to_lonlat.transform(x, y) if fix.size else (np.empty(0), np.empty(0))
    data = pd.DataFrame(
        {
            "track_id": tracks.ids[track].astype(str),
            "partner": tracks.partner[track].astype(str),
            "kind": tracks.kind[track].astype(str),
            "range_m": tracks.range_m[fix],
            "heading_deg": np.round(np.degrees(np.arctan2(hx, hy)) % 360.0, 3),
            "fov_deg": np.round(np.degrees(2.0 * half), 3),
        },
        columns=TRACK_COLUMNS,
    )
    points = gpd.GeoDataFrame(
        data, geometry=gpd.points_from_xy(np.asarray(lon), np.asarray(lat)), crs=WGS84
    )
    shapes = gpd.GeoDataFrame(
        data.copy(),
        geometry=gpd.GeoSeries(
            list(to_lonlat(np.asarray(footprints, dtype=object), acrs)), crs=WGS84
        )
        if footprints
        else gpd.GeoSeries([], crs=WGS84),
        crs=WGS84,
    )
    return points, shapes


def _footprint(
    x: float, y: float, r: float, hx: float, hy: float, half_fov: float
) -> shapely.Geometry:
    """A range disk (all round) or the wedge around the heading ``(hx, hy)``, analysis CRS."""
    if half_fov >= np.pi - 1e-9:
        return shapely.Point(x, y).buffer(r, quad_segs=16)
    centre = np.arctan2(hy, hx)
    a = centre + np.linspace(-half_fov, half_fov, max(8, int(np.degrees(2 * half_fov) // 4)))
    ring = [(x, y), *zip(x + r * np.cos(a), y + r * np.sin(a), strict=True), (x, y)]
    return shapely.Polygon(ring)


def moment(tl: Timeline, when: str | datetime | pd.Timestamp) -> Moment:
    """What is watched at ``when`` (UTC without a zone), inside the timeline's window.

    Raises
    ------
    ValidationError
        When ``when`` is not a time or lies outside the timeline's window.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from geo.timeline import timeline
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [200_000.0], "schedule": ["06:00-18:00"]},
    ...                      geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> tl = timeline(b, sensors=s, time_from="2026-05-01", time_to="2026-05-02")
    >>> m = moment(tl, "2026-05-01T12:00Z")
    >>> m.active_ids, round(m.watched_pct, 1), moment(tl, "2026-05-01T20:00Z").active_ids
    (['a'], 100.0, [])
    """
    ts = parse_utc(when, "when")
    if ts is None or not (tl.window.start <= ts <= tl.window.end):
        raise ValidationError(
            describe(
                "moment",
                "outside the time window",
                expected=f"a time from {tl.window.start.isoformat()} to "
                f"{tl.window.end.isoformat()}",
                got=when,
                fix="Choose a moment inside the window (or widen the window)",
            )
        )
    sensors = tl.scene.sensors
    active = active_sensors(sensors, ts)
    acrs = tl.scene.border.acrs
    if tl.tracks is not None:
        points, shapes = _track_frames(tl.tracks, tl.window.seconds(ts), acrs)
    else:
        points, shapes = _track_frames(_no_tracks(), 0.0, acrs)
    watched = watched_at(tl, ts)
    length = tl.pieces.length_m
    return Moment(
        when=ts,
        sensor_ids=sensors["sensor_id"].astype(str).to_numpy(dtype=object),
        active=active,
        sensor_footprints=_sensor_footprints(sensors, active, acrs),
        positions=points,
        track_footprints=shapes,
        watched=watched,
        watched_lines=mask_layer(tl, watched),
        watched_km=float(length[watched].sum()) / 1000.0,
        length_km=float(length.sum()) / 1000.0,
    )


def _sensor_footprints(
    sensors: gpd.GeoDataFrame, active: NDArray[np.bool_], acrs: AnalysisCRS
) -> gpd.GeoDataFrame:
    """The flat footprints of the ``active`` sensors, in EPSG:4326."""
    on = np.flatnonzero(active)
    attrs = pd.DataFrame(sensors.drop(columns=sensors.geometry.name)).iloc[on]
    drawn: list[object] = (
        list(to_lonlat(footprint_polygons(sensor_footprints(sensors, acrs).take(on)), acrs))
        if on.size
        else []
    )
    return gpd.GeoDataFrame(
        attrs.reset_index(drop=True), geometry=gpd.GeoSeries(drawn, crs=WGS84), crs=WGS84
    )


def _no_tracks() -> PreparedTracks:
    e = np.empty(0)
    o = np.empty(0, dtype=object)
    return PreparedTracks(
        ids=o,
        partner=o,
        kind=o,
        track=np.empty(0, dtype=np.int64),
        t=e,
        x=e,
        y=e,
        lon=e,
        lat=e,
        r=e,
        range_m=e,
        height_m=e,
        half_fov=e,
        hx=e,
        hy=e,
        seg_ok=np.empty(0, dtype=bool),
    )
