"""Map page: where the border is watched and where it is blind, for every partner.

The sidebar's widgets are read here; the view's sections are :mod:`ui.map_view`, the time
window and playback :mod:`ui.map_panels`, coverage over time :mod:`ui.timeline`.
"""

from __future__ import annotations

import streamlit as st

from geo.core import settings
from geo.core.errors import ValidationError
from geo.coverage.views import headline
from layers.style import partner_colors
from ui import map_panels as mp
from ui import map_view as mv
from ui import operations, signin
from ui import shared as ui
from ui import timeline as tl_ui

# ---- sidebar: operation, view, parameters, time window, layers ---------------------------
viewer = signin.viewer()
side = st.sidebar
opened = operations.open_or_stop(viewer, side)
sc = ui.scenario_or_stop(opened.source)

st.set_page_config(page_title=f"{sc.name} — Limes")
# The view's widgets keep their values on other pages (persist_state): the Export page
# renders and exports this view.
partner = ui.partner_view(side, sc, viewer, persist_state="session")
viewers = ui.viewers_for(viewer, partner)
version = ui.store_version()

side.subheader("Parameters")
# Their values are the operation's defaults until changed (ui.operations.open_or_stop).
corridor_km = side.number_input(
    "Corridor depth (km each side)",
    min_value=0.0,
    step=1.0,
    key="corridor_km",
    persist_state="session",
)
min_gap_m = side.number_input(
    "Shortest gap listed (m)", min_value=0.0, step=50.0, key="min_gap_m", persist_state="session"
)
terrain = sc.dem is not None and side.toggle(
    "Line of sight over terrain",
    value=True,
    key="terrain",
    persist_state="session",
    help="Each sensor sees what its viewshed over the scenario's DEM allows "
    f"(target {settings.TARGET_HEIGHT_M:g} m above the ground, "
    f"refraction {settings.REFRACTION_COEFF:g}), cut to its range and wedge. "
    "Off: flat-earth footprints.",
)

try:
    base = ui.map_base(opened.source, corridor_km, min_gap_m, terrain, version)
except ValidationError as exc:
    st.error(f"Cannot analyse with these parameters: {exc}")
    st.stop()

# time window: bounds from the rows this viewer may see (the store's query), default the bulk
bounds, mine = ui.map_times(opened.source, corridor_km, min_gap_m, terrain, version, viewers)
if bounds is not None:
    mp.time_window(side, bounds, mine, opened.timezone)
else:
    st.session_state.playing = False
    st.session_state.pop("win", None)
    st.session_state.at = None

mv.input_files(side, sc, viewers)
shown, shown_over_time = mv.layer_choices(side)
view = mv.MapView(
    source=opened.source,
    sc=sc,
    tz=opened.timezone,  # times are kept in UTC and shown in the operation's zone
    partner=partner,
    viewers=viewers,
    corridor_km=corridor_km,
    min_gap_m=min_gap_m,
    terrain=terrain,
    version=version,
    shown=shown,
    shown_over_time=shown_over_time,
    tau=tl_ui.tau_input(side),
    colors=partner_colors(base.analysis.report["partners"], base.analysis.partner_colours),
)


# ---- the view: numbers, map, details, gaps (a fragment: playback reruns only this) --------
@st.fragment(run_every=1.0 if st.session_state.get("playing") else None)
def body() -> None:
    """Numbers, map, details and gap table of the applied window (or why they cannot be read)."""
    try:
        view_of_window()
    except ValidationError as exc:  # a stored row another tool broke: named, with its fix
        st.session_state.playing = False
        st.error(f"Cannot show this window: {exc}")


def view_of_window() -> None:
    """Numbers, map, details and gap table of the applied window."""
    if st.session_state.get("playing"):
        mp.advance_playback()
    tf, tt = mp.applied_window()
    window = ui.map_window(opened.source, corridor_km, min_gap_m, terrain, version, tf, tt, viewers)
    result = window.result
    head = headline(result.report, partner)
    mv.title(view, head.scope, (tf, tt), (len(mine), window.total))
    at = mp.applied_moment()
    counted = tl_ui.Counted(corridor_km, min_gap_m, version, viewers, window.total)
    now = tl_ui.now_figures(
        opened.source, result, (tf, tt), at, terrain=terrain, partner=partner,
        tz=opened.timezone, counted=counted,
    )  # fmt: skip
    mp.metrics(head, partner, now)  # at a moment of playback: its figures lead the row
    over_time = mv.map_and_details(view, window, head, tf, tt)
    mv.gap_table_section(view, head)
    if viewer.can("briefer"):
        with st.expander("Download this view"):
            mv.downloads(view, window, over_time)


body()
tl_ui.blind_section(
    opened.source,
    window=tl_ui.timeline_window(mp.applied_window()),
    tz=opened.timezone,
    partner=partner,
    tau=view.tau,
    terrain=terrain,
)
