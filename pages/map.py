"""Map page: where the border is watched and where it is blind."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from geo import settings
from geo.errors import ValidationError
from layers import deck as lk
from layers.style import partner_colors

SCENARIO_DIR = str(settings.SAMPLE_DIR)

try:
    sc = ui.scenario(SCENARIO_DIR)
    result = ui.analysis(SCENARIO_DIR)
except ValidationError as exc:
    st.error(f"The scenario could not be loaded: {exc}")
    st.stop()

rep = result.report
b = rep["border"]
st.title(sc.name)
st.caption(f"Analysis CRS: {result.acrs.name} · generated {rep['generated_at']}")

longest = max(rep["gaps"], key=lambda g: g["length_km"], default=None)
c = st.columns(6)
c[0].metric("Border covered", f"{b['coverage_pct']:.1f} %", help=f"{b['covered_km']:,.1f} of {b['length_km']:,.1f} km")
c[1].metric("Gaps", f"{b['gap_km']:,.1f} km", help=f"{len(rep['gaps'])} uncovered stretches")
c[2].metric(
    "Longest gap",
    f"{longest['length_km']:,.1f} km" if longest else "none",
    help=f"segment {longest['segment']}, km {longest['start_km']:,.1f}–{longest['end_km']:,.1f}" if longest else None,
)
c[3].metric("Partner overlap", f"{b['overlap_km']:,.1f} km")
c[4].metric("Unassigned / contested", f"{rep['unassigned_border_km']:,.1f} / {rep['contested_border_km']:,.1f} km")
c[5].metric("Detections in gaps", f"{rep['detections']['in_gaps']:,}", help=f"of {rep['detections']['total']:,} detections")

L = result.layers
colors = partner_colors(rep["partners"])
bounds = tuple(L["corridor"].total_bounds)
pad = 0.5
layers = [lk.basemap_layer(lk.load_countries((bounds[0] - 5, bounds[1] - 5, bounds[2] + 5, bounds[3] + 5)))]
layers.append(lk.corridor_layer(L["corridor"], corridor_km=rep["parameters"]["corridor_km"]))
if len(L["sectors"]):
    layers.append(lk.sectors_layer(L["sectors"], colors))
layers += [
    lk.footprints_layer(L["footprints"], colors),
    lk.border_layer(L["border"]),
    lk.gaps_layer(L["gaps"]),
    lk.sensors_layer(L["sensors"], colors),
]
if "detections" in L:
    layers.append(lk.detections_layer(L["detections"]))
view = lk.view_state((bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad))
st.pydeck_chart(lk.deck(layers, view), height=640)

st.html(lk.legend_html(colors, partner_names={p: v.get("name", p) for p, v in sc.partners.items()}))
st.subheader("Gaps, longest first")
gaps = pd.DataFrame(rep["gaps"])
if len(gaps):
    gaps = gaps.sort_values("length_km", ascending=False)
    gaps["sector_ids"] = gaps["sector_ids"].map(", ".join)
    gaps["partners"] = gaps["partners"].map(", ".join)
    st.dataframe(gaps.drop(columns="midpoint"), hide_index=True, width="stretch")
