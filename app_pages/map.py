"""Map page: where the border is watched and where it is blind, for every partner."""

from __future__ import annotations

from datetime import UTC, timedelta
from functools import partial

import pandas as pd
import streamlit as st

import signin
import ui
from geo import settings
from geo.errors import ValidationError
from geo.export import csv_bytes
from geo.views import detections_in_gap, detections_in_sector, headline
from layers import deck as lk
from layers.snapshot import EXPORT_FILES, EXPORT_SHOWN_BY, export_bytes, snapshot_bytes
from layers.style import partner_colors

SCENARIO_DIR = str(settings.SAMPLE_DIR)

sc = ui.scenario_or_stop(SCENARIO_DIR)

st.set_page_config(page_title=f"{sc.name} — Limes")

# ---- sidebar: view, parameters, time window, layers --------------------------------------
viewer = signin.viewer()
side = st.sidebar
partner = ui.partner_view(side, sc, viewer)
viewers = ui.viewers_for(viewer, partner)
version = ui.store_version()

side.subheader("Parameters")
corridor_km = side.number_input("Corridor depth (km each side)", min_value=0.0, value=settings.CORRIDOR_KM, step=1.0, key="corridor_km")
min_gap_m = side.number_input("Shortest gap listed (m)", min_value=0.0, value=settings.MIN_GAP_M, step=50.0, key="min_gap_m")
terrain = sc.dem is not None and side.toggle(
    "Line of sight over terrain", value=True, key="terrain",
    help=f"Each sensor sees what its viewshed over the scenario's DEM allows (target {settings.TARGET_HEIGHT_M:g} m above "
    f"the ground, refraction {settings.REFRACTION_COEFF:g}), cut to its range and wedge. Off: flat-earth footprints.",
)

t_from = t_to = None
try:
    everything = ui.analysis(SCENARIO_DIR, corridor_km, min_gap_m, terrain, version)
except ValidationError as exc:
    st.error(f"Cannot analyse with these parameters: {exc}")
    st.stop()
times = everything.all_detections["time"] if everything.all_detections is not None else pd.Series([], dtype="datetime64[us, UTC]")
if len(times):
    t0 = times.min().floor("h").to_pydatetime().replace(tzinfo=None)
    t1 = max(times.max().ceil("h"), times.min().floor("h") + pd.Timedelta(hours=1)).to_pydatetime().replace(tzinfo=None)
    side.subheader("Detections")
    t_from, t_to = side.slider("Time window (UTC)", min_value=t0, max_value=t1, value=(t0, t1), step=timedelta(hours=1), format="YYYY-MM-DD HH:mm", key="window")
    t_from, t_to = t_from.replace(tzinfo=UTC), t_to.replace(tzinfo=UTC)

with side.expander("Input files"):
    for name, load_report in sc.reports.items():
        st.caption(f"**{name}** — {load_report.summary()}")

with side.expander("Layers", expanded=True):
    shown = tuple(k for k, label in ui.LAYERS.items() if st.checkbox(label, value=k not in ui.DEFAULT_OFF, key=f"layer_{k}"))

# ---- analysis ----------------------------------------------------------------------------
result = ui.view(SCENARIO_DIR, corridor_km, min_gap_m, terrain, version, t_from, t_to, viewers)
rep = result.report
head = headline(rep, partner)

st.title(sc.name)
side.caption(f"Scenario: **{sc.name}**  \nAnalysed {rep['generated_at']} · CRS: {result.acrs.name}" + (f"  \nTerrain: {rep['terrain']['cell_size_m'][0]:.0f} × {rep['terrain']['cell_size_m'][1]:.0f} m cells, {rep['terrain']['viewsheds']} viewsheds" if "terrain" in rep else ""))
st.caption(("Joint view: every partner's assets" if partner is None else f"{partner} view: its sectors and sensors lead, others are muted") + f" · coverage of the {head.scope}")

c = st.columns(6)
c[0].metric("Coverage", f"{head.coverage_pct:.1f} %", help=f"{head.covered_km:,.1f} of {head.length_km:,.1f} km of {head.scope} watched")
c[1].metric("Gaps", f"{head.gap_km:,.1f} km", help=f"{len(head.gaps)} blind stretches listed")
lg = head.longest
c[2].metric("Longest gap", f"{lg['length_km']:,.1f} km" if lg else "none", help=f"segment {lg['segment']}, km {lg['start_km']:,.1f}–{lg['end_km']:,.1f}" if lg else None)
c[3].metric("Partner overlap", f"{head.overlap_km:,.1f} km")
c[4].metric("Unassigned", f"{head.unassigned_km:,.1f} km", delta=f"{head.contested_km:,.1f} km contested", delta_color="off", delta_arrow="off", help="Border in no sector; below it, border in sectors of two or more partners")
c[5].metric("Detections in gaps", f"{head.detections_in_gaps:,}", help=f"of {head.detections:,} detections in the {head.scope} in the time window")

# ---- map -----------------------------------------------------------------------------------
deck = ui.map_deck(SCENARIO_DIR, corridor_km, min_gap_m, t_from, t_to, partner, shown, terrain, version, viewers)
map_col, info_col = st.columns([3, 1])
with map_col:
    event = st.pydeck_chart(deck, height=620, on_select="rerun", selection_mode="single-object", key="map")
colors = partner_colors(rep["partners"])
st.html(lk.legend_html(colors, partner_names={p: v.get("name", p) for p, v in sc.partners.items()}))

# ---- download this view: snapshot files, made when their button is clicked -----------------
if viewer.can("briefer"):
    with st.expander("Download this view"):
        snap = {"partner": partner, "shown": shown, "title": sc.name, "banner": settings.BANNER, "dem": sc.dem,
                "partner_names": {p: str(v.get("name", p)) for p, v in sc.partners.items()}}
        stem = f"limes_{(partner or 'joint').lower()}"
        dl = st.columns(3)
        dl[0].download_button("Snapshot (PNG)", data=partial(snapshot_bytes, result, fmt="png", **snap), file_name=f"{stem}.png", mime="image/png", on_click="ignore", key="map_snapshot_png")
        dl[1].download_button("Snapshot (PDF)", data=partial(snapshot_bytes, result, fmt="pdf", **snap), file_name=f"{stem}.pdf", mime="application/pdf", on_click="ignore", key="map_snapshot_pdf")
        dl[2].page_link("app_pages/export.py", label="Export page: title, banner, preview")
        data = st.columns(len(EXPORT_FILES))
        for col, (fmt, (suffix, mime)) in zip(data, EXPORT_FILES.items(), strict=True):
            col.download_button(f"Data: {fmt}{' (zip)' if suffix.endswith('.zip') else ''}", data=partial(export_bytes, result, fmt=fmt, partner=partner, shown=shown), file_name=f"{stem}{suffix}", mime=mime, on_click="ignore", key=f"map_data_{fmt}", disabled=not any(v in shown for v in EXPORT_SHOWN_BY.values()))

# ---- selection, beside the map: a gap or a sector and the detections inside it -------------
picked = ((event or {}).get("selection") or {}).get("objects") or {}
det = result.layers.get("detections")
with info_col:
    if picked.get("gaps"):
        g = picked["gaps"][0]
        st.subheader(f"Gap: segment {g['segment']}, km {g['start_km']:,.2f}–{g['end_km']:,.2f}")
        entry = next((x for x in rep["gaps"] if x["segment"] == g["segment"] and abs(x["start_km"] - g["start_km"]) < 1e-6), None)
        if entry:
            st.write(f"{entry['length_km']:,.2f} km blind · sectors: {', '.join(entry['sector_ids']) or 'none (unassigned)'} · partners: {', '.join(entry['partners']) or '–'}")
        if det is not None and len(det):
            inside = detections_in_gap(result, g["segment"], g["start_km"], g["end_km"])
            st.write(f"**{len(inside):,} detections** in the blind corridor along this gap in the time window.")
            st.dataframe(pd.DataFrame(inside.drop(columns="geometry")), hide_index=True, width="stretch", height=420)
    elif picked.get("sectors"):
        sid = picked["sectors"][0]["sector_id"]
        sec = next(x for x in rep["sectors"] if x["sector_id"] == sid)
        st.subheader(f"Sector {sid} ({sec['partner']})")
        st.write(f"{sec['border_km']:,.1f} km of border, {sec['coverage_pct']:.1f} % covered · {sec['detections']:,} detections in the time window")
        if det is not None and len(det):
            st.dataframe(pd.DataFrame(detections_in_sector(result, sid).drop(columns="geometry")), hide_index=True, width="stretch", height=420)
    else:
        st.caption("Click a gap or a sector on the map to see its details and the detections inside it here.")

# ---- gap table -----------------------------------------------------------------------------
st.subheader(f"Gaps in the {head.scope}, longest first")
gaps = pd.DataFrame(head.gaps, columns=["segment", "start_km", "end_km", "length_km", "midpoint", "sector_ids", "partners"])
gaps["sector_ids"] = gaps["sector_ids"].map(", ".join)
gaps["partners"] = gaps["partners"].map(", ".join)
gaps[["mid_lon", "mid_lat"]] = pd.DataFrame(gaps.pop("midpoint").tolist(), index=gaps.index, columns=["mid_lon", "mid_lat"]) if len(gaps) else None
st.dataframe(gaps, hide_index=True, width="stretch")
st.download_button("Download gap table (CSV)", csv_bytes(gaps), file_name=f"limes_gaps_{(partner or 'joint').lower()}.csv", mime="text/csv")
