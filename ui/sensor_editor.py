"""Streamlit glue of the Sensors page: the editable table, adding a sensor, preview, save, compare.

The table being edited (the *draft*) lives in the session, tied to the operation's source
(:attr:`ui.operations.Opened.source`, which names the latest version): when a version is
saved, here or by someone else, the draft starts again from it. Everything computed comes
from :mod:`geo.operations` (the checks, the change, the placement grid) and
:mod:`layers.changes` (the maps). Analyses are cached on what they depend on: the saved
version's on the source, the edited table's on a digest of its checked rows, each stored
version's on its number (a stored version never changes).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo import store
from geo.core import settings
from geo.core.errors import ValidationError
from geo.coverage.analysis import Analysis, analyse
from geo.operations import (
    SensorEdit,
    checked_sensors,
    new_sensor,
    operation_scenario,
    placement_grid,
    sensor_table,
)
from geo.operations.editing import EDITABLE_COLUMNS
from layers.changes import change_deck
from ui import shared

__all__ = [
    "add_sensor",
    "change_map",
    "draft",
    "edited_analysis",
    "editor",
    "saved_analysis",
    "show_change",
    "version_analysis",
    "version_label",
    "versions",
]

#: Height (px) of the editor's maps.
MAP_PX: int = 460


@st.cache_resource(show_spinner="Analysing the saved sensors…", max_entries=16)
def saved_analysis(source: str, corridor_km: float, min_gap_m: float, terrain: bool) -> Analysis:
    """Coverage of the operation's latest sensor version (no detections; shared, read-only)."""
    sc = shared.scenario(source)
    return analyse(
        sc.border,
        sc.sensors,
        sectors=sc.sectors,
        corridor_km=corridor_km,
        min_gap_m=min_gap_m,
        dem=sc.dem if terrain else None,
    )


@st.cache_resource(show_spinner="Analysing the edited sensors…", max_entries=32)
def edited_analysis(
    source: str,
    digest: str,
    corridor_km: float,
    min_gap_m: float,
    terrain: bool,
    _sensors: gpd.GeoDataFrame,
) -> Analysis:
    """Coverage with the edited sensors (``digest``: :func:`digest_of` them; the cache key)."""
    sc = shared.scenario(source)
    return analyse(
        sc.border,
        _sensors,
        sectors=sc.sectors,
        corridor_km=corridor_km,
        min_gap_m=min_gap_m,
        dem=sc.dem if terrain else None,
    )


@st.cache_resource(show_spinner="Analysing the version…", max_entries=32)
def version_analysis(
    store_file: str, name: str, version: int, corridor_km: float, min_gap_m: float, terrain: bool
) -> Analysis:
    """Coverage of one stored sensor version (its DEM when ``terrain``; shared, read-only)."""
    sc = operation_scenario(store_file, name, sensors_version=version)
    return analyse(
        sc.border,
        sc.sensors,
        sectors=sc.sectors,
        corridor_km=corridor_km,
        min_gap_m=min_gap_m,
        dem=sc.dem if terrain else None,
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def grid(source: str, corridor_km: float) -> gpd.GeoDataFrame:
    """The placement grid of an operation's border (read-only)."""
    return placement_grid(shared.scenario(source).border, corridor_km=corridor_km)


@st.cache_resource(show_spinner="Drawing the change…", max_entries=32)
def change_map(key: str, _after: Analysis, _edit: SensorEdit, with_grid: str | None = None) -> Any:
    """The deck of a change, cached on ``key`` (which names the analyses).

    ``with_grid``: the source whose placement grid is drawn (at the analysis' corridor depth).
    """
    cells = None
    if with_grid is not None:
        cells = grid(with_grid, float(_after.report["parameters"]["corridor_km"]))
    return change_deck(_after, _edit.stretches, grid=cells, height=MAP_PX)


def digest_of(sensors: gpd.GeoDataFrame) -> str:
    """A digest of checked sensors: their table as CSV text (a cache key)."""
    text = sensor_table(sensors).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# ---- the draft: the table being edited ---------------------------------------------------


def draft(source: str, sensors: gpd.GeoDataFrame) -> dict[str, Any]:
    """The session's draft for this source: ``table`` (the editor's data) and ``round``.

    A new source (another operation, or a version saved since) starts a new draft from its
    sensors, under a new editor key so no old edit is replayed onto it.
    """
    held = st.session_state.get("sensor_draft")
    if not isinstance(held, dict) or held.get("source") != source:
        old_round = held.get("round", 0) if isinstance(held, dict) else 0
        held = {"source": source, "table": sensor_table(sensors), "round": old_round + 1}
        st.session_state.sensor_draft = held
    return held


def editor(held: dict[str, Any]) -> pd.DataFrame:
    """The editable table of the draft; returns the table with the user's edits."""
    config: dict[str, Any] = {
        "sensor_id": st.column_config.TextColumn("sensor_id", disabled=True, pinned=True),
        "partner": st.column_config.TextColumn("partner", disabled=True),
        "kind": st.column_config.SelectboxColumn(
            "kind", options=list(settings.SENSOR_KINDS), required=True
        ),
        "status": st.column_config.SelectboxColumn(
            "status", options=list(settings.SENSOR_STATUSES), required=True
        ),
        "range_m": st.column_config.NumberColumn("range_m", min_value=0.0, format="%.0f"),
        "azimuth_deg": st.column_config.NumberColumn("azimuth_deg", format="%.1f"),
        "fov_deg": st.column_config.NumberColumn("fov_deg", format="%.1f"),
        "height_m": st.column_config.NumberColumn("height_m", format="%.1f"),
        "min_range_m": st.column_config.NumberColumn("min_range_m", disabled=True),
        "lon": st.column_config.NumberColumn(
            "lon", min_value=-180.0, max_value=180.0, format="%.5f"
        ),
        "lat": st.column_config.NumberColumn("lat", min_value=-90.0, max_value=90.0, format="%.5f"),
    }
    return st.data_editor(
        held["table"],
        key=f"sensor_editor_{held['round']}",
        num_rows="delete",
        hide_index=True,
        column_config=config,
        column_order=list(held["table"].columns),  # with any schedule columns, kept as read
        disabled=[c for c in held["table"].columns if c not in EDITABLE_COLUMNS],
        width="stretch",
        height=320,
    )


# ---- adding a sensor -----------------------------------------------------------------------


def _picked_cell() -> None:
    """Fill the position fields with the centre of a newly clicked placement-grid cell."""
    event = st.session_state.get("placement_map") or {}
    cells = ((event.get("selection") or {}).get("objects") or {}).get("placement_grid") or []
    cell = cells[0] if cells else None
    if cell is not None and cell != st.session_state.get("_seen_cell"):
        st.session_state.new_lat = float(cell["lat"])
        st.session_state.new_lon = float(cell["lon"])
        st.session_state.picked_cell = int(cell["cell"])
    st.session_state._seen_cell = cell


def add_sensor(held: dict[str, Any], edited: pd.DataFrame, partners: list[str]) -> None:
    """The "Add a sensor" form; a valid sensor joins the draft (the table's edits kept)."""
    _picked_cell()
    if "picked_cell" in st.session_state:
        st.caption(f"Position from grid cell {st.session_state.picked_cell} (its centre).")
    with st.form("add_sensor", border=True):
        c = st.columns(2)
        sid = c[0].text_input("Sensor id", key="new_id")
        partner = c[1].selectbox("Partner", partners, key="new_partner")
        kind = c[0].selectbox("Kind", list(settings.SENSOR_KINDS), key="new_kind")
        status = c[1].selectbox("Status", list(settings.SENSOR_STATUSES), key="new_status")
        lat = c[0].number_input("Latitude (°)", format="%.6f", key="new_lat", value=None)
        lon = c[1].number_input("Longitude (°)", format="%.6f", key="new_lon", value=None)
        rng = c[0].number_input("Range (m)", min_value=0.0, value=3000.0, key="new_range")
        height = c[1].number_input("Height (m; empty: by kind)", value=None, key="new_height")
        fov = c[0].number_input("Field of view (°)", value=360.0, key="new_fov")
        azimuth = c[1].number_input("Azimuth (°, if fov < 360)", value=None, key="new_azimuth")
        submitted = st.form_submit_button("Add to the table")
    if not submitted:
        return
    if lat is None or lon is None or not sid.strip():
        st.error("A new sensor needs an id and a position (type it, or click a grid cell).")
        return
    if sid.strip() in set(edited["sensor_id"].astype(str)):
        st.error(f"Sensor id {sid.strip()!r} is already in the table: give the new one its own.")
        return
    row = new_sensor(
        sensor_id=sid, partner=partner, kind=kind, status=status, lon=lon, lat=lat,
        range_m=rng, azimuth_deg=azimuth, fov_deg=fov, height_m=height,
    )  # fmt: skip
    try:
        checked_sensors(pd.DataFrame([row]), partners=partners)
    except ValidationError as exc:
        st.error(f"The new sensor cannot be added: {exc}")
        return
    held["table"] = pd.concat([edited, pd.DataFrame([row])], ignore_index=True)
    held["round"] += 1
    st.session_state.sensor_flash = f"Sensor {row['sensor_id']} added to the table (not saved yet)."
    st.rerun()


# ---- showing a change ----------------------------------------------------------------------


def show_change(edit: SensorEdit) -> None:
    """The change in numbers: km gained, lost, net, gaps opened and closed, coverage."""
    cov = edit.coverage
    c = st.columns(6)
    c[0].metric("Border gained", f"{cov.gained_km:,.2f} km")
    c[1].metric("Border lost", f"{cov.lost_km:,.2f} km")
    c[2].metric("Net change", f"{cov.net_km:+,.2f} km")
    c[3].metric("Gaps opened", str(len(cov.opened)))
    c[4].metric("Gaps closed", str(len(cov.closed)))
    c[5].metric(
        "Coverage",
        f"{edit.coverage_pct_after:.1f} %",
        delta=f"{edit.coverage_pct_after - edit.coverage_pct_before:+.2f} points",
    )
    st.caption(_sensors_text(edit))


def _sensors_text(edit: SensorEdit) -> str:
    changes = edit.sensors
    if not changes:
        return "No sensor changed."
    parts = []
    for sid, fields in changes.changed.items():
        what = ", ".join(f"{f} {_v(a, f)} → {_v(b, f)}" for f, (a, b) in fields.items())
        parts.append(f"{sid}: {what}")
    if changes.added:
        parts.append("added " + ", ".join(changes.added))
    if changes.removed:
        parts.append("removed " + ", ".join(changes.removed))
    return "Sensors changed — " + "; ".join(parts) + "."


def _v(value: Any, field: str = "") -> str:
    """A changed value as the caption shows it: a position to 5 decimals (about 1 m)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.5f}" if field in ("lon", "lat") else f"{value:g}"
    return str(value)


# ---- versions ----------------------------------------------------------------------------


def versions(store_file: Path, name: str) -> pd.DataFrame:
    """The operation's sensor versions, newest first: version, saved, by, note, sensors."""
    rows = store.layer_versions(store_file, name, "sensors")
    notes = [_note_text(n) for n in rows["note"]]
    return pd.DataFrame(
        {
            "version": rows["version"].astype(int),
            "saved (UTC)": rows["created_at"],
            "by": rows["created_by"].fillna("–"),
            "note": notes,
            "sensors": rows["features"],
        }
    ).iloc[::-1]


def _note_text(note: Any) -> str:
    """A version's audit note in words: the planner's note and what changed."""
    try:
        data = json.loads(note)
    except (TypeError, ValueError):
        return "" if note is None else str(note)
    if not isinstance(data, dict):
        return str(note)
    counts = [
        f"{len(data.get(k) or [])} {k}" for k in ("added", "removed", "changed") if data.get(k)
    ]
    text = str(data.get("note") or "").strip()
    return " — ".join(p for p in (text, ", ".join(counts)) if p)


def version_label(table: pd.DataFrame, version: int) -> str:
    """How a version is offered: "v3 · 2024-07-09T10:00 · alice · note"."""
    row = table[table["version"] == version].iloc[0]
    saved = str(row["saved (UTC)"])[:16]
    note = f" · {row['note']}" if row["note"] else ""
    return f"v{version} · {saved} · {row['by']}{note}"
