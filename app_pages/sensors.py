"""Sensors page: planners edit an operation's sensors, see the coverage change, save a version.

Edit the table (kind, status, range, azimuth, field of view, height, position, schedule;
remove rows), add a sensor by
typing its position or clicking a placement-grid cell; the preview compares the coverage of
the edited table with the saved version's; Save stores a new, audited version. The second tab
compares any two saved versions.
"""

from __future__ import annotations

import streamlit as st

from geo.core.errors import ValidationError
from geo.operations import (
    checked_sensors,
    refuse_other_partners,
    save_sensors,
    sensor_changes,
    sensor_edit,
)
from ui import operations, signin
from ui import sensor_editor as se
from ui import shared as ui

viewer = signin.viewer()
if not viewer.can("planner"):
    st.error("The sensor editor is for planners: your account does not have the planner role.")
    st.stop()

opened = operations.open_or_stop(viewer, st.sidebar)
if opened.record is None:
    st.error("The store cannot be used, so no sensor version can be edited or saved.")
    st.stop()
sc = ui.scenario_or_stop(opened.source)
path = ui.store_path()
record = opened.record
corridor_km, min_gap_m = float(record["corridor_km"]), float(record["min_gap_m"])
partners = [p["id"] for p in record["partners"]]
# a partner's planner manages that partner's sensors; an admin (and the local demo), any
own = None if viewer.can("admin") else viewer.partner
terrain = sc.dem is not None and st.sidebar.toggle(
    "Line of sight over terrain",
    value=False,
    key="sensors_terrain",
    help="Preview and compare with viewsheds over the operation's DEM (slower: the first "
    "analysis takes several seconds). Off: flat-earth footprints.",
)
table = se.versions(path, opened.name)
latest = int(table["version"].iloc[0])

st.title(f"Sensors — {sc.name}")
st.caption(
    f"Operation **{opened.name}** · corridor {corridor_km:g} km each side · shortest gap "
    f"{min_gap_m:g} m · coverage {'over terrain' if terrain else 'on flat ground'}"
)
if flash := st.session_state.pop("sensor_flash", None):
    st.success(flash)

edit_tab, compare_tab = st.tabs(["Edit and preview", "Compare versions"])

# ---- edit: the table, adding a sensor, the preview, save -------------------------------------
with edit_tab:
    st.caption(
        f"Editing **{se.version_label(table, latest)}**."
        + (f" You change **{own}**'s sensors; the others are shown as they are." if own else "")
    )
    held = se.draft(opened.source, sc.sensors)
    edited = se.editor(held)

    st.subheader("If saved")
    before = se.saved_analysis(opened.source, corridor_km, min_gap_m, terrain)
    try:
        checked = checked_sensors(edited, partners=partners)
        if own is not None:
            refuse_other_partners(sc.sensors, checked, own)
    except ValidationError as exc:
        checked, after, digest = None, before, "saved"
        st.error(f"Nothing can be previewed or saved until this is fixed: {exc}")
    else:
        digest = se.digest_of(checked)
        after = se.edited_analysis(opened.source, digest, corridor_km, min_gap_m, terrain, checked)
    edit = sensor_edit(before, after)
    if checked is not None:
        se.show_change(edit)
        changed = bool(sensor_changes(sc.sensors, checked))
        note = st.text_input("Note for the audit (what and why)", key=f"save_note_{held['round']}")
        if st.button(
            f"Save as version {latest + 1}",
            key="save_sensors",
            type="primary",
            disabled=not changed,
            help=None if changed else "Nothing changed yet.",
        ):
            try:
                saved = save_sensors(
                    path, opened.name, checked, user=viewer.name or "demo mode", note=note or None
                )
            except ValidationError as exc:
                st.error(f"Not saved: {exc}")
            else:
                st.session_state.sensor_flash = (
                    f"Version {saved['version']} saved: the Map now shows it."
                )
                st.rerun()
    map_col, add_col = st.columns([3, 2])
    with map_col:
        deck = se.change_map(f"{opened.source}|{digest}|{terrain}", after, edit, opened.source)
        st.pydeck_chart(
            deck, height=se.MAP_PX, on_select="rerun", selection_mode="single-object",
            key="placement_map",
        )  # fmt: skip
        st.caption(
            "Border gained (green) and lost (red) if saved, with the edited sensors and their "
            "footprints. Click an empty grid cell to place a new sensor at its centre."
        )
    with add_col:
        st.markdown("**Add a sensor**: type its position, or click a cell of the grid.")
        se.add_sensor(held, edited, partners if own is None else [own])

# ---- compare two saved versions ------------------------------------------------------------
with compare_tab:
    st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 250))
    numbers = table["version"].tolist()
    if len(numbers) < 2:
        st.info("Only one version so far: save a change to compare two.")
    else:
        pick = st.columns(2)
        v_from = pick[0].selectbox(
            "Version A (before)", numbers, index=1, key="cmp_from",
            format_func=lambda v: se.version_label(table, v),
        )  # fmt: skip
        v_to = pick[1].selectbox(
            "Version B (after)", numbers, index=0, key="cmp_to",
            format_func=lambda v: se.version_label(table, v),
        )  # fmt: skip
        args = (str(path), opened.name)
        a = se.version_analysis(*args, int(v_from), corridor_km, min_gap_m, terrain)
        b = se.version_analysis(*args, int(v_to), corridor_km, min_gap_m, terrain)
        versus = sensor_edit(a, b)
        st.subheader(f"From version {v_from} to version {v_to}")
        se.show_change(versus)
        key = f"{path}|{opened.name}|{v_from}|{v_to}|{corridor_km}|{min_gap_m}|{terrain}"
        st.pydeck_chart(se.change_map(key, b, versus), height=se.MAP_PX, key="compare_map")
        st.caption(f"Border gained (green) and lost (red) from version {v_from} to {v_to}.")
