"""Streamlit glue of the Map page's view: title, map, legend, details, gaps and downloads.

Also the sidebar's input-file and layer panels.

The page (``app_pages/map.py``) reads the sidebar's widgets into a :class:`MapView` and calls
these; every figure comes from :mod:`geo` and every layer from :mod:`layers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import streamlit as st

from geo.core import settings
from geo.core.times import zone_text
from geo.coverage import Analysis, Headline
from geo.coverage.views import gap_table, visible_rows
from geo.export import csv_bytes
from geo.inputs.scenario import Scenario
from geo.mapview import MapWindow, pick_box, rows_near
from layers.legend import legend_entries, legend_html
from layers.map import MAP_HEIGHT_PX, focus_on
from layers.snapshot import EXPORT_FILES, EXPORT_SHOWN_BY, export_bytes, snapshot_bytes
from layers.style import partner_colors
from layers.timeline import TIMELINE_LAYERS, with_layers
from ui import map_panels as mp
from ui import shared as ui
from ui import snapshot_view as sv
from ui import timeline as tl_ui

__all__ = [
    "MapView",
    "downloads",
    "gap_table_section",
    "input_files",
    "layer_choices",
    "map_and_details",
    "title",
]


@dataclass(frozen=True)
class MapView:
    """What the sidebar chose: the operation, the view and the analysis parameters."""

    source: str
    sc: Scenario
    tz: str
    partner: str | None
    viewers: tuple[str, ...] | None
    corridor_km: float
    min_gap_m: float
    terrain: bool
    version: int
    shown: tuple[str, ...]
    shown_over_time: tuple[str, ...]
    tau: float
    colors: Mapping[str, tuple[int, int, int]]

    @property
    def partner_names(self) -> dict[str, str]:
        """Partner ids to display names (the operation's)."""
        return {p: str(v.get("name", p)) for p, v in self.sc.partners.items()}

    @property
    def stem(self) -> str:
        """File name stem of this view's downloads."""
        return f"limes_{(self.partner or 'joint').lower()}"


def input_files(side: Any, sc: Scenario, viewers: tuple[str, ...] | None) -> None:
    """The sidebar's "Input files" panel: each file's load report (detections: what is seen)."""
    with side.expander("Input files"):
        for name, load_report in sc.reports.items():
            if name == "detections" and viewers is not None:
                # the file's report counts every partner's rows: say only what the viewer sees
                det = sc.detections
                seen = int(visible_rows(det, viewers).sum()) if det is not None else 0
                st.caption(
                    f"**{name}** — {seen:,} of the scenario's detections are visible to "
                    f"{', '.join(viewers)}."
                )
                continue
            st.caption(f"**{name}** — {load_report.summary()}")


def layer_choices(side: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The sidebar's "Layers" panel: the analysis layers and the timeline's layers shown."""
    with side.expander("Layers", expanded=True):
        shown = tuple(
            k
            for k, label in ui.LAYERS.items()
            if st.checkbox(
                label,
                value=k not in ui.DEFAULT_OFF,
                key=f"layer_{k}",
                persist_state="session",  # the Export page's view
            )
        )
        # Coverage over time (ui/timeline.py): off until asked.
        over_time = tuple(
            k
            for k, label in TIMELINE_LAYERS.items()
            if st.checkbox(label, key=f"layer_{k}", persist_state="session")
        )
    return shown, over_time


def title(v: MapView, scope_of_head: str, window: tuple[Any, Any], counts: tuple[int, int]) -> None:
    """Title, what the view shows, and how many detections the window leaves out.

    ``counts``: the detections the viewer may see, and those of them in the window.
    """
    tf, tt = window
    st.title(v.sc.name)
    scope = (
        "Joint view: every partner's assets"
        if v.partner is None
        else f"{v.partner} view: its sectors and sensors lead, others are muted"
    )
    span = f" · window {zone_text(tf, v.tz)}–{zone_text(tt, v.tz)} {v.tz}" if tf is not None else ""
    st.caption(
        f"{scope} · coverage of the {scope_of_head}{span}"
        + (" · ▶ playing" if st.session_state.get("playing") else "")
    )
    seen, in_window = counts
    if tf is not None:
        outside = seen - in_window
        if outside:
            st.caption(
                f"{outside:,} detection(s) outside the window (of {seen:,}): "
                "widen it in the sidebar."
            )


def map_and_details(
    v: MapView, window: MapWindow, head: Headline, tf: datetime | None, tt: datetime | None
) -> dict[str, object]:
    """The map, with the timeline's layers and the moment of playback; legend and details.

    Returns the timeline's layers drawn (by id), for the snapshot of this view.
    """
    result = window.result
    deck = ui.map_deck(
        v.source, v.corridor_km, v.min_gap_m, tf, tt, v.partner, v.shown, v.terrain,
        v.version, v.viewers, st.session_state.get("_focus"),
    )  # fmt: skip
    over_time = tl_ui.timeline_window((tf, tt))
    now = tl_ui.current_moment(v.source, over_time, mp.applied_moment(), terrain=v.terrain)
    extra = tl_ui.main_map_layers(
        v.source, shown=v.shown_over_time, window=over_time, tau=v.tau, partner=v.partner,
        colors=v.colors, now=now, tz=v.tz, terrain=v.terrain,
        centre_deg=result.acrs.lon_centre_deg,
    )  # fmt: skip
    if extra:
        deck = with_layers(deck, extra)
    map_col, info_col = st.columns([3, 1.15])
    with map_col:
        event = st.pydeck_chart(
            deck, height=MAP_HEIGHT_PX, on_select="rerun", selection_mode="single-object", key="map"
        )
        if window.cut and "detections" in v.shown:
            st.caption(
                f"The window holds {window.total:,} detections, more than "
                f"{settings.MAX_MAP_POINTS:,}: the map counts them in hexagons. "
                "Narrow the window to see them as points."
            )
    pick = mp.picked(event, head.gaps)
    rep = result.report
    with info_col:
        entries = legend_entries(
            deck,
            partner_colours=partner_colors(rep["partners"], result.partner_colours),
            partner_names=v.partner_names,
            partner=v.partner,
            corridor_km=rep["parameters"]["corridor_km"],
        )
        st.html(legend_html(entries))
        with st.container(key="details"):
            mp.details(_near_pick(v, window, pick, (tf, tt)), head, pick, v.partner, v.tz)
    return extra


def _near_pick(
    v: MapView, window: MapWindow, pick: dict[str, Any] | None, span: tuple[Any, Any]
) -> Analysis:
    """What the details of ``pick`` read: the window's analysis, its layer the rows near it.

    When the layer holds every detection of the window, the window's analysis itself; else
    the rows in the picked gap's, sector's or hexagon's box (at most
    :data:`geo.core.settings.MAX_MAP_POINTS`; a caption says when there are more).
    """
    box = None if not window.cut else pick_box(window.result, pick)
    if box is None:
        return window.result
    base = ui.map_base(v.source, v.corridor_km, v.min_gap_m, v.terrain, v.version)
    near, held = rows_near(base, window, box, time_from=span[0], time_to=span[1], viewers=v.viewers)
    shown = len(near.layers["detections"])
    if held > shown:
        st.caption(
            f"{held:,} detections near it: the first {shown:,} in time are listed and counted."
        )
    return near


def gap_table_section(v: MapView, head: Headline) -> None:
    """The gap table: a row picks the gap and centres the map on it."""
    st.subheader(f"Gaps in the {head.scope}, longest first")
    gaps = gap_table(head.gaps)
    sel = st.dataframe(
        gaps, hide_index=True, width="stretch", height=300, on_select="rerun",
        selection_mode="single-row", key="gap_table",
    )  # fmt: skip
    rows = list(sel.selection.rows) if sel else []
    if rows and rows[0] < len(gaps):
        row = gaps.iloc[rows[0]]
        want = focus_on(row["mid_lon"], row["mid_lat"], row["length_km"])
        if want != st.session_state.get("_focus"):
            st.session_state._focus = want
            st.rerun(scope="fragment")
    st.download_button(
        "Download gap table (CSV)",
        csv_bytes(gaps),
        file_name=f"limes_gaps_{(v.partner or 'joint').lower()}.csv",
        mime="text/csv",
    )


def downloads(v: MapView, window: MapWindow, over_time: dict[str, object]) -> None:
    """Download this view: snapshot and data files, made when their button is clicked.

    The snapshot draws the timeline's layers the map shows (``over_time``, by id), and the
    detections as the map draws them: past :data:`geo.core.settings.MAX_MAP_POINTS`, the
    hexagons counting every one of the window. The data files hold every detection of the
    window: past the limit read from the store page by page as the file is written
    (:func:`ui.shared.window_detections`; a caption says so).
    """
    result = window.result
    every_row = None
    if window.cut:
        tf, tt = mp.applied_window()
        every_row = partial(
            ui.window_detections, v.source, v.corridor_km, v.min_gap_m, v.terrain, v.version,
            tf, tt, v.viewers,
        )  # fmt: skip
        st.caption(
            f"The window holds {window.total:,} detections: the snapshot counts them all in "
            "hexagons, and the detections file holds every one, read from the store page by "
            "page as it is written."
        )
    drawn = tuple(k for k in v.shown_over_time if k != "exposure" or "exposed" in over_time)
    timeline = tl_ui.timeline_window(mp.applied_window())
    tv = sv.TimelineView(drawn, v.tau, timeline, mp.applied_moment(), v.terrain)
    snap = {
        "timeline_layers": over_time or None,
        "note": sv.note_of(v.source, tv, v.tz),  # as python -m geo snapshot --at/--exposure
        "partner": v.partner,
        "shown": v.shown,
        "title": v.sc.name,
        "banner": settings.BANNER,
        "dem": v.sc.dem,
        "partner_names": v.partner_names,
        "timezone": v.tz,
        "hexagons": window.hexagons,
        "detections_total": window.total,
    }
    dl = st.columns(3)
    for col, (fmt, mime) in zip(
        dl, (("png", "image/png"), ("pdf", "application/pdf")), strict=False
    ):
        col.download_button(
            f"Snapshot ({fmt.upper()})",
            data=partial(snapshot_bytes, result, fmt=fmt, **snap),
            file_name=f"{v.stem}.{fmt}",
            mime=mime,
            on_click="ignore",
            key=f"map_snapshot_{fmt}",
        )
    dl[2].page_link("app_pages/export.py", label="Export page: title, banner, preview")
    data = st.columns(len(EXPORT_FILES))
    for col, (fmt, (suffix, mime)) in zip(data, EXPORT_FILES.items(), strict=True):
        col.download_button(
            f"Data: {fmt}{' (zip)' if suffix.endswith('.zip') else ''}",
            data=partial(
                export_bytes,
                result,
                fmt=fmt,
                partner=v.partner,
                shown=v.shown,
                detections=every_row,
            ),
            file_name=f"{v.stem}{suffix}",
            mime=mime,
            on_click="ignore",
            key=f"map_data_{fmt}",
            disabled=not any(k in v.shown for k in EXPORT_SHOWN_BY.values()),
        )
