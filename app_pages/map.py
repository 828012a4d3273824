"""Map page: where the border is watched and where it is blind, for every partner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

import signin
import ui
from geo import settings
from geo.errors import ValidationError
from geo.export import csv_bytes
from geo.views import (
    bulk_span,
    detections_in_gap,
    detections_in_polygon,
    detections_in_sector,
    gaps_of_sector,
    headline,
    nearest_sensors,
    visible_rows,
)
from layers.legend import legend_entries, legend_html
from layers.map import MAP_HEIGHT_PX, focus_on
from layers.snapshot import EXPORT_FILES, EXPORT_SHOWN_BY, export_bytes, snapshot_bytes
from layers.style import partner_colors

SCENARIO_DIR = str(settings.SAMPLE_DIR)
#: Steps of the time window and of playback.
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}

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

try:
    everything = ui.analysis(SCENARIO_DIR, corridor_km, min_gap_m, terrain, version)
except ValidationError as exc:
    st.error(f"Cannot analyse with these parameters: {exc}")
    st.stop()


def _naive(ts: pd.Timestamp) -> datetime:
    return ts.to_pydatetime().replace(tzinfo=None)


# ---- time window: bounds from the rows this viewer may see, default the bulk of them ------
det_all = everything.all_detections
if det_all is not None and len(det_all):
    mine = det_all["time"][visible_rows(det_all, viewers)] if viewers is not None else det_all["time"]
else:
    mine = pd.Series([], dtype="datetime64[us, UTC]")
t_from = t_to = None
if len(mine):
    full_lo, full_hi = mine.min().floor("h"), max(mine.max().ceil("h"), mine.min().floor("h") + pd.Timedelta(hours=1))
    bulk = bulk_span(mine) or (full_lo, full_hi)
    bulk_lo, bulk_hi = bulk[0].floor("h"), max(bulk[1].ceil("h"), bulk[0].floor("h") + pd.Timedelta(hours=1))
    wide = st.session_state.get("window_all", False)
    lo, hi = (full_lo, full_hi) if wide else (bulk_lo, bulk_hi)
    step = STEPS["hour"] if hi - lo <= pd.Timedelta(days=21) else STEPS["day"]
    lo_n, hi_n = _naive(lo), _naive(hi)
    # The applied window lives in "win"; the slider only proposes one until Apply.
    win = st.session_state.get("win")
    if win is None or win[0] < lo_n or win[1] > hi_n or win[0] >= win[1] or st.session_state.get("win_bounds") != (lo_n, hi_n):
        win = (lo_n, hi_n) if st.session_state.get("win_bounds") != (lo_n, hi_n) or win is None else (max(win[0], lo_n), min(win[1], hi_n))
        if win[0] >= win[1]:
            win = (lo_n, hi_n)
        st.session_state.win = win
        st.session_state.win_bounds = (lo_n, hi_n)
    # The slider shows the applied window when that changed elsewhere (playback, widening);
    # otherwise it keeps what the user is proposing.
    if st.session_state.get("_win_shown") != win:
        st.session_state["window"] = win
        st.session_state._win_shown = win
    side.subheader("Detections")
    with side.form("window_form", border=False):
        proposed = st.slider("Time window (UTC)", min_value=lo_n, max_value=hi_n, step=step,
                             format="YYYY-MM-DD HH:mm", key="window")
        applied = st.form_submit_button("Apply window", width="stretch")
    if applied and proposed[0] < proposed[1]:
        st.session_state.win = st.session_state._win_shown = tuple(proposed)
        st.session_state.playing = False
    n_outside_bulk = int(((mine < lo) | (mine > hi)).sum())
    if n_outside_bulk and not wide:
        side.caption(f"{n_outside_bulk:,} detection(s) fall outside {lo:%Y-%m-%d}–{hi:%Y-%m-%d}, where the bulk is.")
        if side.button(f"Widen to all {len(mine):,} ({full_lo:%Y-%m-%d} – {full_hi:%Y-%m-%d})", key="window_widen"):
            st.session_state.window_all = True
            st.session_state.pop("win", None)
            st.rerun()
    elif wide and n_outside_bulk == 0 and (bulk_lo, bulk_hi) != (full_lo, full_hi):
        if side.button("Back to the bulk of the detections", key="window_narrow"):
            st.session_state.window_all = False
            st.session_state.pop("win", None)
            st.rerun()
    play_cols = side.columns([1, 1])
    play_step = play_cols[0].selectbox("Play step", list(STEPS), key="play_step", label_visibility="collapsed")
    playing = bool(st.session_state.get("playing"))
    if play_cols[1].button("⏸ Pause" if playing else "▶ Play", key="play", width="stretch",
                           help="Move the window forward one step a second, to watch detections appear"):
        st.session_state.playing = not playing
        if st.session_state.playing:
            w0, w1 = st.session_state.win
            if (w0, w1) == (lo_n, hi_n):  # the whole span cannot move: start with one step at the beginning
                st.session_state.win = (lo_n, lo_n + STEPS[play_step])
        st.rerun()
else:
    st.session_state.playing = False

with side.expander("Input files"):
    for name, load_report in sc.reports.items():
        if name == "detections" and viewers is not None:
            # the file's report counts every partner's rows: say only what this viewer may see
            seen = int(visible_rows(sc.detections, viewers).sum()) if sc.detections is not None else 0
            st.caption(f"**{name}** — {seen:,} of the scenario's detections are visible to {', '.join(viewers)}.")
            continue
        st.caption(f"**{name}** — {load_report.summary()}")

with side.expander("Layers", expanded=True):
    shown = tuple(k for k, label in ui.LAYERS.items() if st.checkbox(label, value=k not in ui.DEFAULT_OFF, key=f"layer_{k}"))


# ---- the view: numbers, map, details, gaps (a fragment: playback reruns only this) --------
def _picked(event: Any, gap_rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the user picked last: a map object, or a row of the gap table (whichever changed)."""
    on_map = ((event or {}).get("selection") or {}).get("objects") or {}
    table = st.session_state.get("gap_table")
    rows = list(((table or {}).get("selection") or {}).get("rows") or []) if table else []
    seen = st.session_state.get("_seen_pick", ({}, []))
    if rows != seen[1] and rows:
        pick: dict[str, Any] | None = {"gaps": [gap_rows[rows[0]]]} if rows[0] < len(gap_rows) else None
    elif on_map != seen[0]:
        pick = dict(on_map) or None
    else:
        pick = st.session_state.get("_pick")
    st.session_state._seen_pick = (on_map, rows)
    st.session_state._pick = pick
    return pick


def _gap_details(result: Any, rep: dict[str, Any], gaps: list[dict[str, Any]], g: dict[str, Any]) -> None:
    rank, entry = next(((i, x) for i, x in enumerate(gaps, start=1)
                        if x["segment"] == g["segment"] and abs(x["start_km"] - g["start_km"]) < 1e-6), (None, None))
    st.subheader(f"Gap G{rank}" if rank else "Gap")
    if entry is None:
        st.caption("This gap is not in this view.")
        return
    st.markdown(f"**{entry['length_km']:,.2f} km blind** · segment {entry['segment']}, "
                f"km {entry['start_km']:,.2f}–{entry['end_km']:,.2f}  \n"
                f"Sectors: {', '.join(entry['sector_ids']) or 'none (unassigned)'} · "
                f"partners: {', '.join(entry['partners']) or '–'}")
    near = nearest_sensors(result, *entry["midpoint"], n=3)
    if len(near):
        st.caption("Nearest sensors: " + "; ".join(
            f"{r.sensor_id} ({r.partner}, {r.kind}) {r.distance_km:,.1f} km" for r in near.itertuples()))
    if result.layers.get("detections") is not None:
        inside = detections_in_gap(result, entry["segment"], entry["start_km"], entry["end_km"])
        st.write(f"**{len(inside):,} detections** in the blind corridor along this gap in the time window.")
        if len(inside):
            st.dataframe(pd.DataFrame(inside.drop(columns="geometry")), hide_index=True, width="stretch", height=260)


def _details(result: Any, rep: dict[str, Any], head: Any, pick: dict[str, Any] | None) -> None:
    if not pick:
        st.caption("Click a gap, a sector, a sensor or a detection hexagon on the map, or a row of the gap "
                   "table, to see its details here.")
        return
    if pick.get("gaps"):
        _gap_details(result, rep, head.gaps, pick["gaps"][0])
    elif pick.get("gaps_others"):
        _gap_details(result, rep, headline(rep).gaps, pick["gaps_others"][0])
        st.caption("A gap in other partners' sectors (its rank is in the joint gap table).")
    elif pick.get("sectors"):
        sid = pick["sectors"][0]["sector_id"]
        sec = next((x for x in rep["sectors"] if x["sector_id"] == sid), None)
        if sec is None:
            return
        st.subheader(f"Sector {sid} ({sec['partner']})")
        st.markdown(f"{sec['border_km']:,.1f} km of border, **{sec['coverage_pct']:.1f} % watched** · "
                    f"{sec['detections']:,} detections in the time window")
        own = gaps_of_sector(rep, sid, partner)
        if own:
            st.caption("Its gaps: " + ", ".join(f"G{g['rank']} {g['length_km']:,.1f} km" for g in own[:8])
                       + (f" and {len(own) - 8} more" if len(own) > 8 else ""))
        if result.layers.get("detections") is not None and sec["detections"]:
            st.dataframe(pd.DataFrame(detections_in_sector(result, sid).drop(columns="geometry")),
                         hide_index=True, width="stretch", height=260)
    elif pick.get("sensors"):
        sid = pick["sensors"][0]["sensor_id"]
        sensors = result.layers["sensors"]
        row = sensors[sensors["sensor_id"].astype(str) == str(sid)]
        if not len(row):
            return
        r = row.iloc[0]
        st.subheader(f"Sensor {sid}")
        attrs = {k: r[k] for k in ("kind", "partner", "status", "range_m", "min_range_m", "azimuth_deg", "fov_deg",
                                   "height_m", "covered_km", "sole_km") if k in row and pd.notna(r[k])}
        st.dataframe(pd.DataFrame({"attribute": list(attrs), "value": [f"{v:,.2f}" if isinstance(v, float) else str(v)
                                                                      for v in attrs.values()]}),
                     hide_index=True, width="stretch")
        if "sole_km" in attrs:
            st.caption(f"Only this sensor watches {float(attrs['sole_km']):,.2f} km of border: "
                       "switching it off opens that much gap.")
    elif pick.get("detections"):
        h = pick["detections"][0]
        inside = detections_in_polygon(result, h.get("polygon") or [])
        st.subheader(f"{len(inside):,} detections here")
        if inside is not None and len(inside):
            st.caption(f"{int((inside['coverage_status'] == 'gap').sum()):,} of them in gaps")
            st.dataframe(pd.DataFrame(inside.drop(columns="geometry")), hide_index=True, width="stretch", height=260)


def _advance_window(lo_n: datetime, hi_n: datetime) -> None:
    """One playback step: the window moves forward by the play step; it stops at the end."""
    w0, w1 = st.session_state.win
    stepd = STEPS[st.session_state.get("play_step", "hour")]
    if w1 + stepd > hi_n:
        st.session_state.playing = False
        st.rerun(scope="app")
    st.session_state.win = (w0 + stepd, w1 + stepd)


@st.fragment(run_every=1.0 if st.session_state.get("playing") else None)
def body() -> None:
    """Numbers, map, details and gap table of the applied window."""
    tf = tt = None
    if len(mine):
        if st.session_state.get("playing"):
            _advance_window(*st.session_state.win_bounds)
        w0, w1 = st.session_state.win
        tf, tt = w0.replace(tzinfo=UTC), w1.replace(tzinfo=UTC)
    result = ui.view(SCENARIO_DIR, corridor_km, min_gap_m, terrain, version, tf, tt, viewers)
    rep = result.report
    head = headline(rep, partner)

    st.title(sc.name)
    scope = "Joint view: every partner's assets" if partner is None else f"{partner} view: its sectors and sensors lead, others are muted"
    window = f" · window {tf:%Y-%m-%d %H:%M}–{tt:%Y-%m-%d %H:%M} UTC" if tf is not None else ""
    st.caption(f"{scope} · coverage of the {head.scope}{window}" + (" · ▶ playing" if st.session_state.get("playing") else ""))
    if len(mine):
        outside = int(((mine < pd.Timestamp(tf)) | (mine > pd.Timestamp(tt))).sum())
        if outside:
            st.caption(f"{outside:,} detection(s) outside the window (of {len(mine):,}): widen it in the sidebar.")

    c = st.columns(6)
    c[0].metric("Coverage", f"{head.coverage_pct:.1f} %", help=f"{head.covered_km:,.1f} of {head.length_km:,.1f} km of {head.scope} watched")
    c[1].metric("Gaps", f"{head.gap_km:,.1f} km", help=f"{len(head.gaps)} blind stretches listed")
    lg = head.longest
    c[2].metric("Longest gap", f"{lg['length_km']:,.1f} km" if lg else "none", help=f"G1: segment {lg['segment']}, km {lg['start_km']:,.1f}–{lg['end_km']:,.1f}" if lg else None)
    if partner is None:
        c[3].metric("Partner overlap", f"{head.overlap_km:,.1f} km", help="Border watched by sensors of two or more partners")
        c[4].metric("Unassigned", f"{head.unassigned_km:,.1f} km", delta=f"{head.contested_km:,.1f} km contested", delta_color="off",
                    delta_arrow="off", help="Border in no sector; below it, border in sectors of two or more partners")
    else:
        c[3].metric("Partner overlap", f"{head.overlap_km:,.1f} km", help=f"Border in {partner}'s sectors watched by sensors of two or more partners")
        c[4].metric("Unassigned (joint)", f"{head.unassigned_km:,.1f} km", delta=f"{head.contested_km:,.1f} km contested with {partner}",
                    delta_color="off", delta_arrow="off",
                    help=f"Border in no sector belongs to no partner: this is the joint figure. Below it: border in {partner}'s sectors that another partner's sectors also hold")
    c[5].metric("Detections in gaps", f"{head.detections_in_gaps:,}", help=f"of {head.detections:,} detections in the {head.scope} in the time window")

    # ---- map and, beside it, the legend and what was clicked ------------------------------
    gap_rows = head.gaps
    focus = st.session_state.get("_focus")
    deck = ui.map_deck(SCENARIO_DIR, corridor_km, min_gap_m, tf, tt, partner, shown, terrain, version, viewers, focus)
    map_col, info_col = st.columns([3, 1.15])
    with map_col:
        event = st.pydeck_chart(deck, height=MAP_HEIGHT_PX, on_select="rerun", selection_mode="single-object", key="map")
    pick = _picked(event, gap_rows)
    with info_col:
        colors = partner_colors(rep["partners"])
        names = {p: str(v.get("name", p)) for p, v in sc.partners.items()}
        st.html(legend_html(legend_entries(deck, partner_colours=colors, partner_names=names, partner=partner,
                                           corridor_km=rep["parameters"]["corridor_km"])))
        with st.container(key="details"):
            _details(result, rep, head, pick)

    # ---- gap table: a row picks the gap and centres the map on it --------------------------
    st.subheader(f"Gaps in the {head.scope}, longest first")
    gaps = pd.DataFrame(gap_rows, columns=["segment", "start_km", "end_km", "length_km", "midpoint", "sector_ids", "partners"])
    gaps.insert(0, "gap", [f"G{i}" for i in range(1, len(gaps) + 1)])
    gaps["sector_ids"] = gaps["sector_ids"].map(", ".join)
    gaps["partners"] = gaps["partners"].map(", ".join)
    gaps[["mid_lon", "mid_lat"]] = pd.DataFrame(gaps.pop("midpoint").tolist(), index=gaps.index, columns=["mid_lon", "mid_lat"]) if len(gaps) else None
    sel = st.dataframe(gaps, hide_index=True, width="stretch", height=300, on_select="rerun",
                       selection_mode="single-row", key="gap_table")
    rows = list(sel.selection.rows) if sel else []
    want = focus_on(gaps["mid_lon"].iloc[rows[0]], gaps["mid_lat"].iloc[rows[0]], gaps["length_km"].iloc[rows[0]]) if rows and rows[0] < len(gaps) else None
    if want is not None and want != focus:
        st.session_state._focus = want
        st.rerun(scope="fragment")
    st.download_button("Download gap table (CSV)", csv_bytes(gaps), file_name=f"limes_gaps_{(partner or 'joint').lower()}.csv", mime="text/csv")

    # ---- download this view: snapshot files, made when their button is clicked -------------
    if viewer.can("briefer"):
        with st.expander("Download this view"):
            snap = {"partner": partner, "shown": shown, "title": sc.name, "banner": settings.BANNER, "dem": sc.dem,
                    "partner_names": names}
            stem = f"limes_{(partner or 'joint').lower()}"
            dl = st.columns(3)
            dl[0].download_button("Snapshot (PNG)", data=partial(snapshot_bytes, result, fmt="png", **snap), file_name=f"{stem}.png", mime="image/png", on_click="ignore", key="map_snapshot_png")
            dl[1].download_button("Snapshot (PDF)", data=partial(snapshot_bytes, result, fmt="pdf", **snap), file_name=f"{stem}.pdf", mime="application/pdf", on_click="ignore", key="map_snapshot_pdf")
            dl[2].page_link("app_pages/export.py", label="Export page: title, banner, preview")
            data = st.columns(len(EXPORT_FILES))
            for col, (fmt, (suffix, mime)) in zip(data, EXPORT_FILES.items(), strict=True):
                col.download_button(f"Data: {fmt}{' (zip)' if suffix.endswith('.zip') else ''}", data=partial(export_bytes, result, fmt=fmt, partner=partner, shown=shown), file_name=f"{stem}{suffix}", mime=mime, on_click="ignore", key=f"map_data_{fmt}", disabled=not any(v in shown for v in EXPORT_SHOWN_BY.values()))


body()
