"""Plan page: where to put the next sensors so they close the most border.

Pick a partner, a sensor kind and its parameters and a count; "Suggest sites" chooses the
sites (:func:`geo.siting.plan_sites`) and shows them on the map, numbered by rank, with the
numbers before and after, the sites' table, the gaps left and how far from the best the plan
can be. A site can be moved (select it, then type a position or click a cell of the grid);
planners add the sites to the operation as a new sensor version; a snapshot exports the plan.
"""

from __future__ import annotations

import streamlit as st

from ui import operations, signin
from ui import plan as up
from ui import sensor_editor as se
from ui import shared as ui

viewer = signin.viewer()
if not (viewer.can("planner") or viewer.can("commander")):
    st.error("The Plan page is for planners and commanders: your account has neither role.")
    st.stop()

opened = operations.open_or_stop(viewer, st.sidebar)
if opened.record is None:
    st.error("The store cannot be used, so no plan can be made for an operation.")
    st.stop()
sc = ui.scenario_or_stop(opened.source)
record = opened.record
corridor_km, min_gap_m = float(record["corridor_km"]), float(record["min_gap_m"])
partners = [p["id"] for p in record["partners"]]
choices = up.partner_choices(viewer, partners)
if not choices:
    st.error(
        f"Your partner ({viewer.partner}) does not take part in operation {opened.name}: "
        "there is no partner you may plan for here."
    )
    st.stop()
terrain = sc.dem is not None and st.sidebar.toggle(
    "Line of sight over terrain",
    value=False,
    key="plan_terrain",
    help="Each candidate's viewshed over the operation's DEM (slower). Off: flat-earth footprints.",
)

st.title(f"Plan — {sc.name}")
st.caption(
    f"Operation **{opened.name}** · corridor {corridor_km:g} km each side · shortest gap "
    f"{min_gap_m:g} m · coverage {'over terrain' if terrain else 'on flat ground'}. Where would "
    "new sensors close the most border? Every existing sensor is kept."
)
if flash := st.session_state.pop("plan_flash", None):
    st.success(flash)

params, clicked = up.read_params(choices, corridor_km)
if clicked and params is not None:
    try:
        up.suggest(sc, opened.source, params, min_gap_m=min_gap_m, terrain=terrain)
    except ValueError as exc:  # a ValidationError too: the parameters or the inputs refused
        st.error(f"No plan: {exc}")
        st.stop()
held = up.held_plan()
if held is None or up.plan_key(opened.source, held.params, held.terrain) != held.key:
    st.info("Set the parameters and click **Suggest sites**.")
    st.stop()
if params is not None and up.plan_key(opened.source, params, terrain) != held.key:
    st.caption("The parameters above changed since this plan: click **Suggest sites** again.")
up.on_map_click(held, sc, min_gap_m=min_gap_m)  # a site to move, or a grid cell to move it to

scope = up.scope_partner(held, sc)
up.show_numbers(held, scope)
map_col, move_col = st.columns([3, 2])
with move_col:
    rank = up.move_panel(held, sc, min_gap_m=min_gap_m)
with map_col:
    before = se.saved_analysis(opened.source, corridor_km, min_gap_m, terrain)
    st.pydeck_chart(
        up.map_of(held, before, up.grid_of(opened.source, corridor_km), rank),
        height=up.MAP_PX, on_select="rerun", selection_mode="single-object", key=up.map_key(),
    )  # fmt: skip
    st.caption(
        "Suggested sites (dark dots, numbered by rank) with the existing sensors and the gaps "
        "left; the border they close in green. Click a site to select it, then a grid cell to "
        "move it there."
    )

st.subheader("Suggested sites")
st.dataframe(up.site_table(held.current), hide_index=True, width="stretch")
st.subheader("Gaps left after the plan")
gaps = up.gap_table(held.after, scope)
st.dataframe(gaps, hide_index=True, width="stretch", height=min(38 + 35 * len(gaps), 320))

st.subheader("Use the plan")
up.use_panel(held, sc, viewer, opened, partners)
