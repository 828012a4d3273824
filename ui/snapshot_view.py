"""A snapshot of the Map page's view: what the Export page renders and exports.

The view is the Map page's: its parameters and time window, the layers it shows, and its
coverage over time (:mod:`ui.timeline`): the exposure for the sidebar's τ and the tracks when
switched on under Layers, and the moment when playback plays or is paused at one. Their layers
and the subtitle's note come from :func:`layers.snapshot.over_time`, the function
``python -m geo snapshot --at/--exposure`` draws them with; the timeline itself is the Map
page's (the same caches).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import geopandas as gpd
import streamlit as st

from geo.core import settings
from layers.snapshot import OverTime, over_time, snapshot_bytes
from layers.snapshot.coverage_over_time import over_time_note
from layers.style import partner_colors
from layers.timeline import TIMELINE_LAYERS
from ui import map_panels as mp
from ui import shared
from ui import timeline as tl_ui

__all__ = ["TimelineView", "note_of", "over_time_of", "snapshot", "timeline_view"]


class TimelineView(NamedTuple):
    """The Map page's coverage over time, as plain values (a cache key).

    ``shown``: keys of :data:`layers.timeline.TIMELINE_LAYERS` switched on; ``tau``: the
    crossing time (min); ``window``: the window the timeline is computed over
    (:func:`ui.timeline.timeline_window`); ``at``: the moment of playback (UTC) or ``None``;
    ``terrain``: the timeline over the operation's DEM (the Map page's "Line of sight over
    terrain"), as the map shows it.
    """

    shown: tuple[str, ...] = ()
    tau: float = settings.CROSSING_TIME_MIN
    window: tuple[datetime | None, datetime | None] = (None, None)
    at: datetime | None = None
    terrain: bool = False


def timeline_view(
    applied: tuple[datetime | None, datetime | None], *, terrain: bool
) -> TimelineView:
    """The Map page's choices (kept in the session) for the applied window ``applied``."""
    state = st.session_state
    return TimelineView(
        shown=tuple(k for k in TIMELINE_LAYERS if state.get(f"layer_{k}", False)),
        tau=float(state.get("tau_min", settings.CROSSING_TIME_MIN)),
        window=tl_ui.timeline_window(applied),
        at=mp.applied_moment(),
        terrain=terrain,
    )


def _pieces(directory: str, tv: TimelineView) -> dict[str, Any]:
    """The tracks' lines, the exposed runs and the moment ``tv`` shows (the Map page's caches).

    Raises
    ------
    ValidationError
        When the timeline cannot be computed over the window.
    """
    tf, tt = tv.window
    exposed = None
    if "exposure" in tv.shown and tf is not None and tt is not None:
        exposed = tl_ui.exposed(directory, tf.isoformat(), tt.isoformat(), tv.tau, tv.terrain)
    return {
        "tracks": tl_ui.tracks_of(directory) if "tracks" in tv.shown else None,
        "exposed": exposed,
        "crossing_time_min": tv.tau,
        "moment": tl_ui.current_moment(directory, tv.window, tv.at, terrain=tv.terrain),
    }


def over_time_of(
    directory: str,
    tv: TimelineView,
    *,
    partner: str | None,
    colors: Any,
    tz: str,
    centre_deg: float | None = None,
) -> tuple[OverTime, gpd.GeoDataFrame | None]:
    """The timeline's layers and note of the view, and the exposed runs drawn (or ``None``).

    ``centre_deg``: the map's centre longitude (the analysis CRS's), as on the main map.
    """
    parts = _pieces(directory, tv)
    drawn = over_time(colors=colors, partner=partner, timezone=tz, centre_deg=centre_deg, **parts)
    return drawn, parts["exposed"]


def note_of(directory: str, tv: TimelineView, tz: str) -> str | None:
    """The subtitle's note of the view's snapshot (the moment, the exposure), as the CLI's."""
    parts = _pieces(directory, tv)
    parts.pop("tracks")
    return over_time_note(timezone=tz, **parts)


@st.cache_data(show_spinner="Rendering the snapshot…", max_entries=16)
def snapshot(
    directory: str,
    corridor_km: float,
    min_gap_m: float,
    time_from: datetime | None,
    time_to: datetime | None,
    partner: str | None,
    shown: tuple[str, ...],
    fmt: str,
    title: str,
    banner: str,
    paper: str = "a4",
    terrain: bool = False,
    store_version: int = 0,
    viewers: tuple[str, ...] | None = None,
    timezone: str = "UTC",
    timeline: TimelineView = TimelineView(),  # noqa: B008  (an immutable default)
) -> bytes:
    """A briefing snapshot (PNG or PDF) of one view, its times in ``timezone``.

    ``timeline``: the view's coverage over time, drawn as the Map page's main map draws it.
    The view is the Map page's (:func:`ui.shared.map_window`, the same cache): its figures
    count every detection of the window, and past
    :data:`geo.core.settings.MAX_MAP_POINTS` the map draws the hexagons counting them all,
    as the Map page does. Cached; the partner and the viewers are in the key.
    """
    sc = shared.scenario(directory)
    args = (directory, corridor_km, min_gap_m, terrain, store_version)
    window = shared.map_window(*args, time_from, time_to, viewers)
    result = window.result
    span = None
    if time_from is None and time_to is None:  # no window: the span of what viewers may see
        bounds, _ = shared.map_times(*args, viewers)
        span = None if bounds is None else bounds.full
    colors = partner_colors(result.report["partners"], result.partner_colours)
    drawn, _ = over_time_of(
        directory,
        timeline,
        partner=partner,
        colors=colors,
        tz=timezone,
        centre_deg=result.acrs.lon_centre_deg,
    )
    return snapshot_bytes(
        result,
        fmt=fmt,
        partner=partner,
        shown=shown,
        title=title,
        banner=banner,
        dem=sc.dem,
        partner_names={p: str(v.get("name", p)) for p, v in sc.partners.items()},
        paper=paper,
        timezone=timezone,
        timeline_layers=drawn.layers or None,
        note=drawn.note,
        hexagons=window.hexagons,
        detections_total=window.total,
        detections_span=span,
    )
