"""Operations page: planners create an operation from files, replace a layer, see them all."""

from __future__ import annotations

import streamlit as st

from geo import store
from geo.core import settings
from geo.operations import load_operation, operations_for
from layers.operation_preview import operation_preview_deck
from ui import layer_files, operations, signin
from ui import operation_form as form
from ui import shared as ui

viewer = signin.viewer()
if not viewer.can("planner"):
    st.error("Operations are for planners: your account does not have the planner role.")
    st.stop()

opened = operations.choose(viewer)
path = ui.store_path()
st.title("Operations")
new_tab, replace_tab, list_tab = st.tabs(["Create an operation", "Replace a layer", "Operations"])

LAYER_HELP = {
    "border": "Border lines (required)",
    "sensors": "Sensors (required)",
    "sectors": "Patrol sectors (optional)",
    "dem": "Terrain model, GeoTIFF (optional; kept in the store)",
}
FORMATS = (
    "Any format the analysis reads (GeoJSON, GeoPackage, KML/KMZ, GPX, FlatGeobuf, "
    "GeoParquet, CSV, zipped shapefile), or a shapefile as its .shp, .shx, .dbf and .prj "
    f"files together; up to {settings.MAX_UPLOAD_MB} MB. Every row must be accepted: an "
    "operation keeps its layers whole."
)


def _frames(checks: dict) -> dict:
    """The layers read from the checked files (their accepted rows)."""
    return {k: c.frame for k, c in checks.items() if c is not None and not c.refused}


def _preview(frames: dict, partners: list) -> None:
    """The layers on a small map, if any can be drawn."""
    frames = {k: f for k, f in frames.items() if f is not None and len(f)}
    if not frames:
        return
    colours = {p.id: p.colour for p in partners if p.colour is not None}
    deck, caption = operation_preview_deck(**frames, colours=colours)
    st.pydeck_chart(deck, height=360)
    st.caption(f"Preview: {caption}")


# ---- create ----------------------------------------------------------------------------------
with new_tab:
    outcome = st.session_state.pop("ops_outcome", None)
    if outcome is not None and outcome[0] == "created":
        result = outcome[1]
        st.success(
            f"Operation **{result['operation']}** created (version {result['version']}): border "
            f"{result['border_km']:,.1f} km, {result['sensors']:,} sensors, "
            f"{result['sectors']:,} sectors; partners {', '.join(result['partners'])}."
        )
        st.page_link(
            "app_pages/map.py",
            label=f"Open {result['operation']} on the Map",
            icon=":material/map:",
            query_params={"op": result["operation"]},
        )
    elif outcome is not None:
        st.error(f"Not created, nothing was stored: {outcome[1]}")

    fields, problems = form.operation_fields(path)
    st.caption(FORMATS)
    round_ = st.session_state.get("ops_round", 0)
    checks: dict = {}
    for row in (("border", "sensors"), ("sectors", "dem")):
        for col, layer in zip(st.columns(2), row, strict=True):
            files = col.file_uploader(
                LAYER_HELP[layer], accept_multiple_files=True, key=f"ops_{layer}_{round_}"
            )
            checks[layer] = layer_files.checked_uploads(layer, files, key=f"ops_check_{layer}")
    partners, partner_problems = form.partners_field(
        checks["sensors"], viewer, f"ops_partners_csv_{round_}"
    )
    for layer, checked in checks.items():
        if checked is not None:
            layer_files.show_checked(checked)
        elif layer in ("border", "sensors"):
            problems.append(f"Add the {layer} file: it is required.")
        if checked is not None and checked.problem:
            problems.append(checked.problem)
    _preview(_frames({k: checks[k] for k in ("border", "sectors", "sensors")}), partners)
    problems += partner_problems
    if problems:
        st.warning(
            "Before the operation can be created:\n\n" + "\n".join(f"- {p}" for p in problems)
        )
    st.button(
        "Create the operation",
        type="primary",
        key="ops_create",
        disabled=bool(problems),
        on_click=form.create,
        args=(
            path,
            fields,
            partners,
            {k: v for k, v in checks.items() if v is not None},
            viewer.name,
        ),
    )

# ---- replace a layer of the operation open in the sidebar -----------------------------------
with replace_tab:
    done = st.session_state.pop("ops_replaced", None)
    if done is not None and done[0] == "replaced":
        r = done[1]
        st.success(f"Stored {r['layer']} version {r['version']} of **{r['operation']}**.")
    elif done is not None:
        st.error(f"Not replaced, nothing was stored: {done[1]}")
    if opened is None or opened.record is None:
        st.info("No operation in the store is open to you: create one first.")
    else:
        name, record = opened.name, opened.record
        st.caption(f"The operation **{name}** (choose another in the sidebar).")
        layer = st.radio(
            "Layer",
            ["border", "sectors", "dem"],
            format_func=lambda k: {"border": "Border", "sectors": "Sectors", "dem": "DEM"}[k],
            horizontal=True,
            key="ops_replace_layer",
        )
        now = record["dem_version"] if layer == "dem" else record["versions"].get(layer)
        st.caption(f"Now: version {now}." if now else "Now: none.")
        files = st.file_uploader(
            LAYER_HELP[layer].split(" (")[0],
            accept_multiple_files=True,
            key=f"ops_replace_{layer}_{st.session_state.get('ops_replace_round', 0)}",
        )
        checked = layer_files.checked_uploads(layer, files, key=f"ops_replace_check_{layer}")
        if checked is not None:
            layer_files.show_checked(checked)
            if layer != "dem" and checked.frame is not None and not checked.refused:
                now_layers = load_operation(path, name)  # the new layer with the others
                _preview(
                    {
                        "border": now_layers.border,
                        "sectors": now_layers.sectors,
                        "sensors": now_layers.sensors,
                        layer: checked.frame,
                    },
                    list(now_layers.operation.partners),
                )
            st.button(
                f"Store as {layer} version {(now or 0) + 1} of {name}",
                type="primary",
                key="ops_replace_confirm",
                disabled=checked.problem is not None,
                on_click=form.replace,
                args=(path, name, checked, viewer.name),
            )

# ---- the operations the viewer may open -----------------------------------------------------
with list_tab:
    names = operations_for(path, None if viewer.demo else viewer.partner)
    if names:
        st.dataframe(
            form.summaries(path, names),
            hide_index=True,
            width="stretch",
            column_config={"border km": st.column_config.NumberColumn(format="%.1f")},
        )
    else:
        st.caption("No operation is open to you yet.")
    st.caption(
        f"{len(names)} of the {len(store.operation_records(path))} operation(s) in the store."
    )
