"""The Map page's coverage over time (``docs/timeline.md``): its layers, playback, section.

The exposure and the tracks are layers of the page's main map (:func:`main_map_layers`);
playback shows one moment on it (:func:`current_moment`, :func:`moment_panel`); the "When is
it blind" expander below holds the figures, the chart by hour and the worst stretches.

The timeline of an operation is computed once per operation source (its stamp is part of the
source key) and window, shared by every user like the analysis; the exposed runs once per
τ more. What a partner view changes (muted tracks, its own figures) is applied after the
caches. Times are shown in the operation's zone, named beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from geo.core import settings
from geo.core.errors import ValidationError
from geo.core.times import zone_text
from geo.coverage import Analysis
from geo.mapview import window_moments
from geo.timeline import (
    Moment,
    Timeline,
    detections_watched,
    exposed_layer,
    moment,
    step_counts,
    timeline,
)
from layers import timeline as lt
from layers.snapshot import over_time
from ui import shared

__all__ = [
    "Counted",
    "Now",
    "blind_section",
    "computed",
    "current_moment",
    "exposed",
    "main_map_layers",
    "moment_of",
    "now_figures",
    "step_figures",
    "tau_input",
    "timeline_window",
    "tracks_of",
]


@st.cache_resource(show_spinner="Computing when the border is watched…", max_entries=8)
def computed(directory: str, time_from: str, time_to: str, terrain: bool = False) -> Timeline:
    """The operation's timeline over ``[time_from, time_to]`` (ISO, UTC).

    ``terrain``: the sidebar's "Line of sight over terrain": sensors watch what their
    viewshed over the operation's DEM sees, and drones and patrols what their line of sight
    reaches (as the headline's coverage); flat footprints when off or without a DEM.

    A resource cache: one read-only object for every user (``directory`` is the operation's
    source, whose stamp changes with its layers).
    """
    sc = shared.scenario(directory)
    return timeline(
        sc.border,
        sensors=sc.sensors,
        tracks=sc.tracks,
        sectors=sc.sectors,
        time_from=time_from,
        time_to=time_to,
        dem=sc.dem if terrain else None,
    )


@st.cache_data(show_spinner=False, max_entries=64)
def exposed(
    directory: str, time_from: str, time_to: str, tau_min: float, terrain: bool = False
) -> gpd.GeoDataFrame:
    """The exposed runs for ``tau_min`` (cached per operation, window, τ and terrain)."""
    return lt.with_length(exposed_layer(computed(directory, time_from, time_to, terrain), tau_min))


@st.cache_data(show_spinner=False, max_entries=16)
def tracks_of(directory: str) -> gpd.GeoDataFrame:
    """The operation's tracks as lines, one per track (every partner's: mute after this)."""
    return lt.track_lines(shared.scenario(directory).tracks)


def _hour_chart(tl: Timeline, tz: str, day: datetime) -> pd.DataFrame:
    """``by_hour`` indexed by the hour as text: UTC, and in ``tz`` on the window's first day."""
    frame = lt.by_hour_frame(tl.report)
    base = pd.Timestamp(day).tz_convert("UTC").normalize()
    labels = [
        f"{h:02d} UTC"
        + ("" if tz == "UTC" else f" · {zone_text(base + timedelta(hours=h), tz, '%H')} {tz}")
        for h in frame["hour"]
    ]
    return pd.DataFrame({"watched %": frame["watched_pct"].to_numpy()}, index=labels)


def _figures(tl: Timeline, lines: gpd.GeoDataFrame, tau: float, partner: str | None) -> None:
    border = tl.report["border"]
    c = st.columns(4)
    c[0].metric(
        "Watched (time-average)",
        f"{border['watched_pct']:.1f} %",
        help="Share of the whole border watched, averaged over the window (joint)",
    )
    c[1].metric(
        f"Exposed > {tau:g} min",
        f"{lt.exposed_km(lines):,.1f} km",
        help="Border whose longest unwatched interval is longer than τ (joint)",
    )
    c[2].metric("Never watched", f"{border['never_watched_km']:,.1f} km")
    mine = tl.report["partners"].get(partner) if partner is not None else None
    if mine is not None and mine.get("watched_pct") is not None:
        c[3].metric(
            f"{partner}'s sectors watched",
            f"{mine['watched_pct']:.1f} %",
            help="Time-average share of the partner's sectors watched by anyone",
        )
    else:
        c[3].metric("Always watched", f"{border['always_watched_km']:,.1f} km")


def tau_input(side: Any) -> float:
    """The sidebar's crossing time τ (min), key ``tau_min``."""
    return float(
        side.number_input(
            "Crossing time τ (min)",
            min_value=1.0,
            value=float(settings.CROSSING_TIME_MIN),
            step=5.0,
            key="tau_min",
            persist_state="session",  # the Export page's view
            help="An intruder needs this long to cross: border unwatched for longer is exposed",
        )
    )


def timeline_window(
    applied: tuple[datetime | None, datetime | None],
) -> tuple[datetime | None, datetime | None]:
    """The window the timeline is computed over: the applied one, or the whole span.

    During playback (a moment shown) it is the whole span played through: one computation
    serves every step.
    """
    bounds = st.session_state.get("win_bounds")
    if st.session_state.get("at") is not None and bounds is not None:
        return bounds[0].replace(tzinfo=UTC), bounds[1].replace(tzinfo=UTC)
    return applied


@st.cache_resource(show_spinner=False, max_entries=64)
def moment_of(
    directory: str, time_from: str, time_to: str, at: str, terrain: bool = False
) -> Moment:
    """What is watched at ``at`` (ISO, UTC) in the timeline over the window (read-only)."""
    return moment(computed(directory, time_from, time_to, terrain), at)


def current_moment(
    directory: str,
    window: tuple[datetime | None, datetime | None],
    at: datetime | None,
    *,
    terrain: bool = False,
) -> Moment | None:
    """The moment playback shows, ``None`` outside playback (or without a window)."""
    tf, tt = window
    if at is None or tf is None or tt is None or not (tf <= at <= tt):
        return None
    return moment_of(directory, tf.isoformat(), tt.isoformat(), at.isoformat(), terrain)


@dataclass(frozen=True, eq=False)
class Now:
    """The moment playback shows, with its figures for the metrics row (:func:`now_figures`).

    ``detections``: the view's detections in the applied window (the playback step up to
    the moment) in the headline's scope, as the headline counts them; ``unwatched``: those
    of them in the corridor that nothing watched at their own time (no sensor on its
    schedule, no drone or patrol; line of sight over terrain when ``terrain``). Both
    ``None`` when the view has no detection layer.
    """

    moment: Moment
    tz: str
    terrain: bool
    playing: bool
    detections: int | None
    unwatched: int | None

    @property
    def sensors_off(self) -> list[str]:
        """The static sensors not watching at the moment (schedule, outage or status)."""
        m = self.moment
        return [s for s, a in zip(m.sensor_ids, m.active, strict=True) if not a]

    @property
    def tracks_on(self) -> list[str]:
        """The drones and patrols watching at the moment."""
        return sorted(self.moment.positions["track_id"].astype(str))


@st.cache_data(show_spinner=False, max_entries=64)
def _watched_then(
    directory: str,
    time_from: str,
    time_to: str,
    terrain: bool,
    lonlat: tuple[np.ndarray, np.ndarray],
    t_ns: np.ndarray,
) -> np.ndarray:
    """Per detection (lon/lat, time in ns since the epoch), watched at its own time."""
    points = gpd.GeoDataFrame(
        {"time": pd.to_datetime(t_ns, utc=True)},
        geometry=gpd.points_from_xy(*lonlat),
        crs="EPSG:4326",
    )
    return detections_watched(computed(directory, time_from, time_to, terrain), points)[1]


def _in_scope(det: gpd.GeoDataFrame, report: Mapping[str, Any], partner: str | None) -> Any:
    """Rows the headline counts: all (joint view), or those in the partner's sectors."""
    if partner is None:
        return np.ones(len(det), dtype=bool)
    own = {str(x["sector_id"]) for x in report["sectors"] if x.get("partner") == partner}
    ids = det["sector_ids"].fillna("").astype(str).str.split(",")
    return np.array([bool(own.intersection(i)) for i in ids], dtype=bool)


@dataclass(frozen=True)
class Counted:
    """How the Map page counted its window (:func:`ui.shared.map_window`), for :func:`now_figures`.

    ``corridor_km``, ``min_gap_m``, ``store_version``, ``viewers``: the window's key beyond
    the source, the window and the terrain; ``total``: the detections the window holds
    (:attr:`geo.mapview.MapWindow.total`), more than its layer draws past the limit.
    """

    corridor_km: float
    min_gap_m: float
    store_version: int
    viewers: tuple[str, ...] | None
    total: int


@st.cache_data(show_spinner="Counting the step's unwatched detections…", max_entries=64)
def _step_counts(
    directory: str,
    counted: Counted,
    terrain: bool,
    span: tuple[str, str],
    step: tuple[datetime | None, datetime | None],
    partner: str | None,
) -> tuple[int, int]:
    """The step's detections in scope and those unwatched then, every row read page by page.

    The viewers and the store's version are in the key (``counted``), with the partner.
    """
    base = shared.map_base(
        directory, counted.corridor_km, counted.min_gap_m, terrain, counted.store_version
    )
    pages = window_moments(base, time_from=step[0], time_to=step[1], viewers=counted.viewers)
    tl = computed(directory, span[0], span[1], terrain)
    got = step_counts(tl, pages, base.classifier, partner=partner)
    return got.detections, got.unwatched


def now_figures(
    directory: str,
    result: Analysis,
    applied: tuple[datetime | None, datetime | None],
    at: datetime | None,
    *,
    terrain: bool,
    partner: str | None,
    tz: str,
    counted: Counted | None = None,
) -> Now | None:
    """The moment playback shows and its figures; ``None`` outside playback.

    ``result``: the view of the applied window (the playback step), cut to the viewer.
    ``counted``: how its window was counted; when it holds more detections than the layer
    draws, the figures count every one of them (read from the store page by page), not
    only those drawn.
    """
    window = timeline_window(applied)
    try:
        m = current_moment(directory, window, at, terrain=terrain)
    except ValidationError:
        return None  # the section below says why
    if m is None or window[0] is None or window[1] is None:
        return None
    playing = bool(st.session_state.get("playing"))
    span = (window[0].isoformat(), window[1].isoformat())
    figures = step_figures(
        directory, result, span, applied, terrain=terrain, partner=partner, counted=counted
    )
    return Now(m, tz, terrain, playing, *figures)


def step_figures(
    directory: str,
    result: Analysis,
    span: tuple[str, str],
    step: tuple[datetime | None, datetime | None],
    *,
    terrain: bool,
    partner: str | None,
    counted: Counted | None = None,
) -> tuple[int | None, int | None]:
    """:attr:`Now.detections` and :attr:`Now.unwatched` of a playback step.

    ``result``: the view of the step, cut to the viewer; ``span``: the timeline's window
    (ISO, UTC); ``counted``: as for :func:`now_figures`. Past the map's limit every
    detection of the step is read from the store, page by page (:func:`_step_counts`);
    below it the layer holds them all and is classified as it is.
    """
    det = result.layers.get("detections")
    if det is None or not {"time", "coverage_status", "sector_ids"} <= set(det.columns):
        return None, None  # no detection rows in this view
    if counted is not None and counted.total > len(det):
        return _step_counts(directory, counted, terrain, span, step, partner)
    scope = _in_scope(det, result.report, partner)
    corridor = (det["coverage_status"] != "outside").to_numpy()
    watched = _watched_then(
        directory,
        span[0],
        span[1],
        terrain,
        (det.geometry.x.to_numpy(dtype=float), det.geometry.y.to_numpy(dtype=float)),
        pd.to_datetime(det["time"], utc=True)
        .dt.tz_localize(None)
        .to_numpy(dtype="datetime64[ns]")
        .view(np.int64),
    )
    return int(scope.sum()), int((scope & corridor & ~watched).sum())


def main_map_layers(
    directory: str,
    *,
    shown: tuple[str, ...],
    window: tuple[datetime | None, datetime | None],
    tau: float,
    partner: str | None,
    colors: Mapping[str, tuple[int, int, int]],
    now: Moment | None,
    tz: str,
    terrain: bool = False,
    centre_deg: float | None = None,
) -> dict[str, Any]:
    """The timeline's layers for the main map, by id (:func:`layers.timeline.with_layers`).

    ``shown``: keys of :data:`layers.timeline.TIMELINE_LAYERS` switched on. Tracks of other
    partners are muted in a partner view (as their sensors). ``now``: the moment shown.
    ``centre_deg``: the map's centre longitude (the analysis CRS's): the layers are drawn
    wrapped round it, as the analysis' own (across 180°, not a world away).
    """
    tf, tt = window
    lines = None
    if "exposure" in shown and tf is not None and tt is not None:
        try:
            lines = exposed(directory, tf.isoformat(), tt.isoformat(), tau, terrain)
        except ValidationError:
            lines = None  # the section below says why
    # The layers as every snapshot draws them (layers.snapshot.over_time: one code path).
    return over_time(
        colors=colors,
        partner=partner,
        timezone=tz,
        tracks=tracks_of(directory) if "tracks" in shown else None,
        exposed=lines,
        crossing_time_min=tau,
        moment=now,
        centre_deg=centre_deg,
    ).layers


def blind_section(
    directory: str,
    *,
    window: tuple[datetime | None, datetime | None],
    tz: str,
    partner: str | None,
    tau: float,
    terrain: bool = False,
) -> None:
    """The "When is it blind" expander: figures, chart by hour, the worst stretches.

    Its layers (exposure, tracks, the moment of playback) are on the page's main map.
    """
    tf, tt = window
    with st.expander("When is it blind: coverage over time", expanded=True):
        if tf is None or tt is None:
            st.info("No time window: the operation has no detections to set one.")
            return
        t0, t1 = tf.isoformat(), tt.isoformat()
        try:
            tl = computed(directory, t0, t1, terrain)
            lines = exposed(directory, t0, t1, tau, terrain)
        except ValidationError as exc:
            st.error(f"Cannot compute coverage over time: {exc}")
            return
        whose = "the span played through" if st.session_state.get("at") else "the sidebar's"
        st.caption(
            f"Window {zone_text(tf, tz)}–{zone_text(tt, tz)} {tz} ({whose}) · sensors on "
            "their schedules and outages, drones and patrols along their tracks · "
            + ("line of sight over terrain" if terrain else "flat footprints")
            + " · joint figures, every partner's assets"
        )
        _figures(tl, lines, tau, partner)
        st.markdown(f"**Watched % by hour of day** (UTC hour; {tz} on the window's first day)")
        st.bar_chart(_hour_chart(tl, tz, tf), y="watched %", height=220)
        st.caption(
            "On the map above: switch on *Exposed longer than τ* and *Tracks of drones and "
            "patrols* under Layers; ▶ Play shows what is watched at each moment."
        )
        _worst_table(lines)


def _worst_table(lines: gpd.GeoDataFrame) -> None:
    """The ten worst exposed stretches (longest unwatched, then longest)."""
    if not len(lines):
        st.caption("No stretch is exposed longer than τ in this window.")
        return
    table = lines.drop(columns="geometry").sort_values(
        ["max_unwatched_min", "length_km"], ascending=False
    )
    st.markdown(f"**The {min(len(table), 10)} worst exposed stretches**")
    worst = table.head(10)
    st.table(
        pd.DataFrame(
            {
                "segment": worst["segment"].astype(int).to_numpy(),
                "km": [
                    f"{a:,.1f}–{b:,.1f}"
                    for a, b in zip(worst["start_km"], worst["end_km"], strict=True)
                ],
                "length (km)": worst["length_km"].map("{:,.1f}".format).to_numpy(),
                "longest unwatched (min)": worst["max_unwatched_min"]
                .map("{:,.0f}".format)
                .to_numpy(),
            }
        ).set_index("segment")
    )  # st.table, not st.dataframe: the page's last dataframe is its gap table
