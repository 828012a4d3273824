"""Export page: a briefing snapshot (PNG, PDF) and the data behind the map, for the current view."""

from __future__ import annotations

from datetime import UTC
from functools import partial

import streamlit as st

from geo.core import settings
from geo.core.errors import ValidationError
from geo.core.times import zone_text
from geo.export import FORMATS
from layers.snapshot import EXPORT_FILES, EXPORT_SHOWN_BY, EXPOSED_LAYER, export_bytes
from layers.style import partner_colors
from layers.timeline import TIMELINE_LAYERS
from ui import operations, signin
from ui import shared as ui
from ui import snapshot_view as sv

FORMAT_LABELS = {"geojson": "GeoJSON (zip)", "gpkg": "GeoPackage", "kml": "KML", "csv": "CSV (zip)"}

# The Map page's choices are the current view. Streamlit forgets the state of widgets that are
# not on the page being shown; writing each value back keeps it for this page and the next.
for key in (
    "partner",
    "corridor_km",
    "min_gap_m",
    "terrain",
    "window",
    "tau_min",
    *(f"layer_{k}" for k in (*ui.LAYERS, *TIMELINE_LAYERS)),
):
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]

viewer = signin.viewer()
if not viewer.can("briefer"):
    st.error("Exports are for briefers: your account does not have the briefer role.")
    st.stop()
opened = operations.open_or_stop(viewer)
SCENARIO_DIR = opened.source
sc = ui.scenario_or_stop(SCENARIO_DIR)

st.title("Export a briefing")
st.caption(
    f"Operation: **{sc.name}** — the current view of the Map page, as a snapshot and as data."
)

# ---- the view: partner (same widget key as the Map page), the rest as set on the Map page ----
partner = ui.partner_view(st, sc, viewer, persist_state="session")
viewers = ui.viewers_for(viewer, partner)
version = ui.store_version()

corridor_km = float(st.session_state.get("corridor_km", settings.CORRIDOR_KM))
min_gap_m = float(st.session_state.get("min_gap_m", settings.MIN_GAP_M))
terrain = sc.dem is not None and bool(st.session_state.get("terrain", True))
window = st.session_state.get("win")  # the window applied on the Map page (naive UTC)
t_from, t_to = (
    (window[0].replace(tzinfo=UTC), window[1].replace(tzinfo=UTC)) if window else (None, None)
)
shown = tuple(k for k in ui.LAYERS if st.session_state.get(f"layer_{k}", k not in ui.DEFAULT_OFF))
TZ = opened.timezone
when = (
    f"{zone_text(t_from, TZ)} – {zone_text(t_to, TZ)} {TZ}"
    if t_from is not None and t_to is not None
    else "the whole time span"
)
try:
    # The Map page's view (the same cache): the window's figures counted by the store, at
    # most settings.MAX_MAP_POINTS rows held; rows other partners released to the viewer come
    # without their upload ids.
    window = ui.map_window(
        SCENARIO_DIR, corridor_km, min_gap_m, terrain, version, t_from, t_to, viewers
    )
    result = window.result
    # Coverage over time as the Map page shows it: exposure (τ), tracks, the moment played.
    over_time = sv.timeline_view((t_from, t_to), terrain=terrain)
    drawn, exposed = sv.over_time_of(
        SCENARIO_DIR,
        over_time,
        partner=partner,
        colors=partner_colors(result.report["partners"], result.partner_colours),
        tz=TZ,
        centre_deg=result.acrs.lon_centre_deg,  # drawn as the analysis' layers are
    )
except ValidationError as exc:
    st.error(f"Cannot make this export: {exc}")
    st.stop()
layer_names = [ui.LAYERS[k] for k in shown] + [
    TIMELINE_LAYERS[k].replace("τ", f"τ = {over_time.tau:g} min") for k in over_time.shown
]
st.caption(
    f"Corridor {corridor_km:g} km each side · shortest gap {min_gap_m:g} m · "
    f"{'line of sight over terrain' if terrain else 'flat-earth footprints'} · "
    f"detections in {when} · "
    f"layers: {', '.join(layer_names) or 'none'}. Change them on the Map page."
)
if drawn.note:
    with st.container(key="export_over_time"):
        st.caption(f"Coverage over time: {drawn.note}.")

# ---- snapshot ------------------------------------------------------------------------------
st.subheader("Snapshot (PNG and PDF)")
c = st.columns([3, 3, 1])
title = c[0].text_input("Title", value=sc.name, key="export_title")
banner = c[1].text_input(
    "Classification banner (top and bottom)", value=settings.BANNER, key="export_banner"
)
paper = c[2].selectbox("PDF paper", ["a4", "letter"], format_func=str.upper, key="export_paper")
stem = f"limes_{(partner or 'joint').lower()}"
snap = {
    "directory": SCENARIO_DIR,
    "corridor_km": corridor_km,
    "min_gap_m": min_gap_m,
    "time_from": t_from,
    "time_to": t_to,
    "partner": partner,
    "shown": shown,
    "title": title,
    "banner": banner,
    "paper": paper,
    "terrain": terrain,
    "store_version": version,
    "viewers": viewers,
    "timezone": TZ,
    "timeline": over_time,
}
wanted = tuple(snap.values())
if st.button("Generate snapshot", type="primary", key="export_generate"):
    st.session_state.export_ready = wanted
if st.session_state.get("export_ready") == wanted:
    try:
        png = sv.snapshot(fmt="png", **snap)
        pdf = sv.snapshot(fmt="pdf", **snap)
    except ValidationError as exc:
        st.error(f"Cannot render the snapshot: {exc}")
        st.stop()
    d = st.columns(2)
    d[0].download_button(
        "Download snapshot (PNG)",
        png,
        file_name=f"{stem}.png",
        mime="image/png",
        on_click="ignore",
        key="export_png",
    )
    d[1].download_button(
        "Download snapshot (PDF, 2 pages)",
        pdf,
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        on_click="ignore",
        key="export_pdf",
    )
    st.image(
        png,
        caption="Page 1 of the snapshot (the PDF adds the gap table and the coverage by sector)",
        width="stretch",
    )
else:
    st.caption(
        "Renders the map of this view with legend, scale bar, north arrow, headline numbers "
        "and parameters."
    )

# ---- data ----------------------------------------------------------------------------------
st.subheader("Data of this view")
st.caption(
    "Gaps, coverage, overlaps, sectors, detections and the exposed stretches as the map "
    "shows them "
    "(only the layers shown; a partner's view holds only its own data). "
    "Each file is written when its button is clicked."
    + (
        f" With the exposure shown, the layer `{EXPOSED_LAYER}` holds the border unwatched "
        f"longer than {over_time.tau:g} min."
        if exposed is not None
        else ""
    )
)
every_row = None  # past the map's limit: the detections file is written page by page
if window.cut:
    every_row = partial(
        ui.window_detections, SCENARIO_DIR, corridor_km, min_gap_m, terrain, version, t_from,
        t_to, viewers,
    )  # fmt: skip
    if "detections" in shown:
        with st.container(key="export_drawn"):
            st.caption(
                f"The window holds {window.total:,} detections, more than "
                f"{settings.MAX_MAP_POINTS:,}: the snapshot counts them all in hexagons, and "
                "the detections file holds every one, read from the store page by page as "
                "it is written."
            )
exportable = exposed is not None or any(v in shown for v in EXPORT_SHOWN_BY.values())
if not exportable:
    st.info(
        "No exported layer is shown on the map: show one of "
        f"{', '.join(ui.LAYERS[v] for v in EXPORT_SHOWN_BY.values())} "
        f"or {TIMELINE_LAYERS['exposure']}."
    )
cols = st.columns(len(FORMATS))
for col, fmt in zip(cols, FORMATS, strict=True):
    suffix, mime = EXPORT_FILES[fmt]
    col.download_button(
        FORMAT_LABELS.get(fmt, fmt),
        data=partial(
            export_bytes,
            result,
            fmt=fmt,
            partner=partner,
            shown=shown,
            exposed=exposed,
            detections=every_row,
        ),
        file_name=f"{stem}{suffix}",
        mime=mime,
        on_click="ignore",
        key=f"export_data_{fmt}",
        disabled=not exportable,
    )
