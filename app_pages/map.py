"""Map page: where the border is watched and where it is blind, for every partner."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import pandas as pd
import streamlit as st

from geo.core import settings
from geo.core.errors import ValidationError
from geo.core.times import zone_text
from geo.coverage import Analysis, Headline
from geo.coverage.views import gap_table, headline, time_bounds, visible_rows
from geo.export import csv_bytes
from layers.legend import legend_entries, legend_html
from layers.map import MAP_HEIGHT_PX, focus_on
from layers.snapshot import EXPORT_FILES, EXPORT_SHOWN_BY, export_bytes, snapshot_bytes
from layers.style import partner_colors
from layers.timeline import TIMELINE_LAYERS, with_layers
from ui import map_panels as mp
from ui import operations, signin
from ui import shared as ui
from ui import timeline as tl_ui

# ---- sidebar: operation, view, parameters, time window, layers ---------------------------
viewer = signin.viewer()
side = st.sidebar
opened = operations.open_or_stop(viewer, side)
SCENARIO_DIR = opened.source
TZ = opened.timezone  # times are kept in UTC and shown in the operation's zone
sc = ui.scenario_or_stop(SCENARIO_DIR)

st.set_page_config(page_title=f"{sc.name} — Limes")
partner = ui.partner_view(side, sc, viewer)
viewers = ui.viewers_for(viewer, partner)
version = ui.store_version()

side.subheader("Parameters")
# Their values are the operation's defaults until changed (ui.operations.open_or_stop).
corridor_km = side.number_input(
    "Corridor depth (km each side)", min_value=0.0, step=1.0, key="corridor_km"
)
min_gap_m = side.number_input("Shortest gap listed (m)", min_value=0.0, step=50.0, key="min_gap_m")
terrain = sc.dem is not None and side.toggle(
    "Line of sight over terrain",
    value=True,
    key="terrain",
    help="Each sensor sees what its viewshed over the scenario's DEM allows "
    f"(target {settings.TARGET_HEIGHT_M:g} m above the ground, "
    f"refraction {settings.REFRACTION_COEFF:g}), cut to its range and wedge. "
    "Off: flat-earth footprints.",
)

try:
    everything = ui.analysis(SCENARIO_DIR, corridor_km, min_gap_m, terrain, version)
except ValidationError as exc:
    st.error(f"Cannot analyse with these parameters: {exc}")
    st.stop()


# ---- time window: bounds from the rows this viewer may see, default the bulk of them ------
det_all = everything.all_detections
mine = (
    (det_all["time"][visible_rows(det_all, viewers)] if viewers is not None else det_all["time"])
    if det_all is not None
    else pd.Series([], dtype="datetime64[us, UTC]")
)
bounds = time_bounds(mine)
if bounds is not None:
    mp.time_window(side, bounds, mine, TZ)
else:
    st.session_state.playing = False
    st.session_state.pop("win", None)
    st.session_state.at = None

with side.expander("Input files"):
    for name, load_report in sc.reports.items():
        if name == "detections" and viewers is not None:
            # the file's report counts every partner's rows: say only what this viewer may see
            seen = (
                int(visible_rows(sc.detections, viewers).sum()) if sc.detections is not None else 0
            )
            st.caption(
                f"**{name}** — {seen:,} of the scenario's detections are visible to "
                f"{', '.join(viewers)}."
            )
            continue
        st.caption(f"**{name}** — {load_report.summary()}")

with side.expander("Layers", expanded=True):
    shown = tuple(
        k
        for k, label in ui.LAYERS.items()
        if st.checkbox(label, value=k not in ui.DEFAULT_OFF, key=f"layer_{k}")
    )
    # Coverage over time (ui/timeline.py): off until asked. The tracks' thousands of
    # pickable vertices slow deck.gl's picking on software WebGL until a click is lost.
    shown_over_time = tuple(
        k for k, label in TIMELINE_LAYERS.items() if st.checkbox(label, key=f"layer_{k}")
    )
tau = tl_ui.tau_input(side)


# ---- the view: numbers, map, details, gaps (a fragment: playback reruns only this) --------
def _title(scope_of_head: str, tf: object, tt: object) -> None:
    """Title, what the view shows, and how many detections the window leaves out."""
    st.title(sc.name)
    scope = (
        "Joint view: every partner's assets"
        if partner is None
        else f"{partner} view: its sectors and sensors lead, others are muted"
    )
    window = f" · window {zone_text(tf, TZ)}–{zone_text(tt, TZ)} {TZ}" if tf is not None else ""
    st.caption(
        f"{scope} · coverage of the {scope_of_head}{window}"
        + (" · ▶ playing" if st.session_state.get("playing") else "")
    )
    if tf is not None:
        outside = int(((mine < pd.Timestamp(tf)) | (mine > pd.Timestamp(tt))).sum())
        if outside:
            st.caption(
                f"{outside:,} detection(s) outside the window (of {len(mine):,}): "
                "widen it in the sidebar."
            )


def _map_and_details(
    result: Analysis, head: Headline, tf: datetime | None, tt: datetime | None
) -> dict[str, object]:
    """The map, with the timeline's layers and the moment of playback; legend and details.

    Returns the timeline's layers drawn (by id), for the snapshot of this view.
    """
    rep = result.report
    focus = st.session_state.get("_focus")
    deck = ui.map_deck(
        SCENARIO_DIR,
        corridor_km,
        min_gap_m,
        tf,
        tt,
        partner,
        shown,
        terrain,
        version,
        viewers,
        focus,
    )
    over_time = tl_ui.timeline_window((tf, tt))
    now = tl_ui.current_moment(SCENARIO_DIR, over_time, mp.applied_moment())
    if now is not None:
        tl_ui.moment_panel(now, TZ)
    extra = tl_ui.main_map_layers(
        SCENARIO_DIR,
        shown=shown_over_time,
        window=over_time,
        tau=tau,
        partner=partner,
        colors=COLORS,
        now=now,
        tz=TZ,
    )
    if extra:
        deck = with_layers(deck, extra)
    map_col, info_col = st.columns([3, 1.15])
    with map_col:
        event = st.pydeck_chart(
            deck, height=MAP_HEIGHT_PX, on_select="rerun", selection_mode="single-object", key="map"
        )
    pick = mp.picked(event, head.gaps)
    with info_col:
        st.html(
            legend_html(
                legend_entries(
                    deck,
                    partner_colours=partner_colors(rep["partners"], result.partner_colours),
                    partner_names=PARTNER_NAMES,
                    partner=partner,
                    corridor_km=rep["parameters"]["corridor_km"],
                )
            )
        )
        with st.container(key="details"):
            mp.details(result, head, pick, partner, TZ)
    return extra


def _gap_table(head: Headline) -> None:
    """The gap table: a row picks the gap and centres the map on it."""
    st.subheader(f"Gaps in the {head.scope}, longest first")
    gaps = gap_table(head.gaps)
    sel = st.dataframe(
        gaps,
        hide_index=True,
        width="stretch",
        height=300,
        on_select="rerun",
        selection_mode="single-row",
        key="gap_table",
    )
    rows = list(sel.selection.rows) if sel else []
    want = (
        focus_on(
            gaps["mid_lon"].iloc[rows[0]],
            gaps["mid_lat"].iloc[rows[0]],
            gaps["length_km"].iloc[rows[0]],
        )
        if rows and rows[0] < len(gaps)
        else None
    )
    if want is not None and want != st.session_state.get("_focus"):
        st.session_state._focus = want
        st.rerun(scope="fragment")
    st.download_button(
        "Download gap table (CSV)",
        csv_bytes(gaps),
        file_name=f"limes_gaps_{(partner or 'joint').lower()}.csv",
        mime="text/csv",
    )


def _downloads(result: Analysis, over_time: dict[str, object]) -> None:
    """Download this view: snapshot and data files, made when their button is clicked.

    The snapshot draws the timeline's layers the map shows (``over_time``, by id).
    """
    at = mp.applied_moment()
    snap = {
        "timeline_layers": over_time or None,
        "note": None if at is None else f"moment {zone_text(at, TZ)} {TZ}",
        "partner": partner,
        "shown": shown,
        "title": sc.name,
        "banner": settings.BANNER,
        "dem": sc.dem,
        "partner_names": PARTNER_NAMES,
        "timezone": TZ,
    }
    stem = f"limes_{(partner or 'joint').lower()}"
    dl = st.columns(3)
    dl[0].download_button(
        "Snapshot (PNG)",
        data=partial(snapshot_bytes, result, fmt="png", **snap),
        file_name=f"{stem}.png",
        mime="image/png",
        on_click="ignore",
        key="map_snapshot_png",
    )
    dl[1].download_button(
        "Snapshot (PDF)",
        data=partial(snapshot_bytes, result, fmt="pdf", **snap),
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        on_click="ignore",
        key="map_snapshot_pdf",
    )
    dl[2].page_link("app_pages/export.py", label="Export page: title, banner, preview")
    data = st.columns(len(EXPORT_FILES))
    for col, (fmt, (suffix, mime)) in zip(data, EXPORT_FILES.items(), strict=True):
        col.download_button(
            f"Data: {fmt}{' (zip)' if suffix.endswith('.zip') else ''}",
            data=partial(export_bytes, result, fmt=fmt, partner=partner, shown=shown),
            file_name=f"{stem}{suffix}",
            mime=mime,
            on_click="ignore",
            key=f"map_data_{fmt}",
            disabled=not any(v in shown for v in EXPORT_SHOWN_BY.values()),
        )


PARTNER_NAMES = {p: str(v.get("name", p)) for p, v in sc.partners.items()}
COLORS = partner_colors(everything.report["partners"], everything.partner_colours)


@st.fragment(run_every=1.0 if st.session_state.get("playing") else None)
def body() -> None:
    """Numbers, map, details and gap table of the applied window."""
    if st.session_state.get("playing"):
        mp.advance_playback()
    tf, tt = mp.applied_window()
    result = ui.view(SCENARIO_DIR, corridor_km, min_gap_m, terrain, version, tf, tt, viewers)
    head = headline(result.report, partner)
    _title(head.scope, tf, tt)
    mp.metrics(head, partner)
    over_time = _map_and_details(result, head, tf, tt)
    _gap_table(head)
    if viewer.can("briefer"):
        with st.expander("Download this view"):
            _downloads(result, over_time)


body()
tl_ui.blind_section(
    SCENARIO_DIR,
    window=tl_ui.timeline_window(mp.applied_window()),
    tz=TZ,
    partner=partner,
    tau=tau,
)
