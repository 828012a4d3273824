"""The Operations page's parts: the new operation's fields, its partners, creating, replacing.

Widgets only: the files are read by :mod:`ui.layer_files` (with :mod:`geo.inputs`), the
operation is created by :func:`geo.operations.create_operation` and a layer replaced by
:func:`geo.operations.replace_layer`. Both run in a button's callback, which may reset the
form's widgets and open the new operation in the sidebar's selector (key ``op``) before the
page is drawn again.
"""

from __future__ import annotations

import contextlib
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import pandas as pd
import streamlit as st

from geo import store
from geo.access import Viewer
from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.operations import (
    Operation,
    Partner,
    create_operation,
    operation_stamp,
    operation_summary,
    read_partners,
    replace_layer,
)
from layers.colour import refuse_clashing_colours
from ui import layer_files
from ui.layer_files import CheckedLayer

__all__ = [
    "PARTNER_SOURCES",
    "create",
    "operation_fields",
    "partners_field",
    "replace",
    "summaries",
    "zones",
]

#: Where the partners taking part come from.
PARTNER_SOURCES = ("The sensors' partners", "A partners CSV (id,name,colour)", "Typed in a table")

#: The form's widgets emptied once an operation is created.
FORM_KEYS = ("ops_name", "ops_title", "ops_description", "ops_start", "ops_end")


def zones() -> list[str]:
    """The IANA time zones offered: UTC first, then the others by name."""
    return ["UTC", *sorted(z for z in available_timezones() if z != "UTC" and "/" in z)]


def _period(start: date | None, end: date | None, zone: str) -> tuple[Any, Any]:
    """Dates in the operation's zone as times: from the start of ``start`` to the end of ``end``."""
    first = None if start is None else pd.Timestamp(start).tz_localize(zone)
    last = None
    if end is not None:
        last = (pd.Timestamp(end + timedelta(days=1)).tz_localize(zone)) - pd.Timedelta(seconds=1)
    return first, last


def operation_fields(store_path: Path) -> tuple[dict[str, Any], list[str]]:
    """The new operation's name, title, description, defaults, period and zone.

    Returns the :class:`~geo.operations.Operation` keyword arguments (without partners) and
    what is wrong with them (empty when they make a valid new operation).
    """
    left, right = st.columns(2)
    name = left.text_input(
        "Name",
        key="ops_name",
        help="Letters, digits, '_', '.' or '-'; the map opens it by ?op=NAME",
    ).strip()
    title = right.text_input("Title", key="ops_title")
    description = st.text_area("Description", key="ops_description", height=68)
    c = st.columns(5)
    corridor_km = c[0].number_input(
        "Corridor depth (km)", min_value=0.0, value=float(settings.CORRIDOR_KM), step=1.0,
        key="ops_corridor_km",
    )  # fmt: skip
    min_gap_m = c[1].number_input(
        "Shortest gap (m)", min_value=0.0, value=float(settings.MIN_GAP_M), step=50.0,
        key="ops_min_gap_m",
    )  # fmt: skip
    start = c[2].date_input("Starts (optional)", value=None, key="ops_start")
    end = c[3].date_input("Ends (optional)", value=None, key="ops_end")
    zone = c[4].selectbox("Time zone", zones(), key="ops_timezone", help="Times are shown in it")
    fields = {
        "name": name,
        "title": title.strip(),
        "description": description.strip(),
        "corridor_km": float(corridor_km),
        "min_gap_m": float(min_gap_m),
        "period": _period(start, end, zone),
        "timezone": zone,
    }
    problems = []
    if not name:
        problems.append("Give the operation a name.")
    else:
        try:
            Operation(**fields)
        except ValidationError as exc:
            problems.append(str(exc))
        else:
            if store.operation_record(store_path, name) is not None:
                problems.append(
                    describe(
                        "name",
                        "an operation of that name exists already",
                        expected="a new name",
                        got=name,
                        fix="Choose another name, or replace its layers below",
                    )
                )
    return fields, problems


def _typed_partners() -> pd.DataFrame:
    empty = pd.DataFrame({"id": [], "name": [], "colour": []}, dtype=str)
    return st.data_editor(
        empty,
        num_rows="dynamic",
        key="ops_partner_table",
        column_config={
            "id": st.column_config.TextColumn("id", help="e.g. LTU", required=True),
            "name": st.column_config.TextColumn("display name"),
            "colour": st.column_config.TextColumn("colour", help="#RRGGBB, or empty"),
        },
        hide_index=True,
    )


def _read_partners_file(name: str, data: bytes) -> list[Partner]:
    with tempfile.TemporaryDirectory(prefix="limes-partners-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return read_partners(path)


def partners_field(
    sensors: CheckedLayer | None, viewer: Viewer, upload_key: str
) -> tuple[list[Partner], list[str]]:
    """The partners taking part, and what is wrong with them.

    From the sensors' ``partner`` values (the display name is the id), a partners CSV or a
    typed table (both checked as :func:`geo.operations.read_partners` checks a file). A
    signed-in planner's own partner is added when missing: else they could not open it.
    """
    source = st.radio("Partners taking part", PARTNER_SOURCES, key="ops_partners_from")
    partners: list[Partner] = []
    try:
        if source == PARTNER_SOURCES[0]:
            frame = None if sensors is None or sensors.problem else sensors.frame
            ids = [] if frame is None else sorted({str(p) for p in frame["partner"].dropna()})
            partners = [Partner(pid, pid) for pid in ids]
        elif source == PARTNER_SOURCES[1]:
            file = st.file_uploader("Partners CSV", type=["csv"], key=upload_key)
            if file is not None:
                partners = _read_partners_file(layer_files.safe_name(file.name), file.getvalue())
        else:
            table = _typed_partners()
            table = table[
                table.fillna("").astype(str).apply(lambda r: "".join(r).strip(), axis=1) != ""
            ]
            if len(table):
                data = table.fillna("").to_csv(index=False).encode()
                partners = _read_partners_file("partners table.csv", data)
    except ValidationError as exc:
        return [], [str(exc)]
    if partners and not viewer.demo and viewer.partner not in {p.id for p in partners}:
        partners.append(Partner(str(viewer.partner), str(viewer.partner)))
        st.info(
            f"Your partner **{viewer.partner}** takes part too (added), so that you can open "
            "the operation."
        )
    if partners:
        st.caption("Taking part: " + ", ".join(f"{p.name} ({p.id})" for p in partners))
    from_sensors = source == PARTNER_SOURCES[0]
    waiting = from_sensors and (sensors is None or sensors.problem is not None)  # said already
    problems = [] if partners or waiting else ["Name the partners taking part."]
    if partners and sensors is not None and sensors.frame is not None and not sensors.problem:
        missing = sorted(
            {str(p) for p in sensors.frame["partner"].dropna()} - {p.id for p in partners}
        )
        if missing:
            problems.append(
                describe(
                    sensors.name,
                    "sensors of partners that do not take part",
                    field="partner",
                    expected=f"one of {', '.join(p.id for p in partners)}",
                    got=", ".join(missing),
                    fix="Add them to the partners, or correct the sensors",
                )
            )
    try:  # a colour the map cannot draw is refused, as on the Admin page
        refuse_clashing_colours(((p.id, p.colour) for p in partners), "partners")
    except ValidationError as exc:
        problems.append(str(exc))
    return partners, problems


def create(
    store_path: Path,
    fields: dict[str, Any],
    partners: list[Partner],
    layers: dict[str, CheckedLayer],
    user: str | None,
) -> None:
    """The Create button's callback: create the operation, keep the outcome in the session.

    On success the form is emptied, the uploaders renewed and the sidebar's selector set to
    the new operation; on a refusal the message is kept and nothing is stored.
    """
    op = Operation(**fields, partners=tuple(partners))
    try:
        with contextlib.ExitStack() as stack:
            paths = {k: stack.enter_context(layer_files.on_disk(v)) for k, v in layers.items()}
            result = create_operation(store_path, op, **paths, user=user)
    except ValidationError as exc:
        st.session_state.ops_outcome = ("error", str(exc))
        return
    st.session_state.ops_outcome = ("created", result)
    for key in FORM_KEYS:
        st.session_state.pop(key, None)
    st.session_state.ops_round = st.session_state.get("ops_round", 0) + 1
    st.session_state.op = op.name


def replace(store_path: Path, name: str, checked: CheckedLayer, user: str | None) -> None:
    """The Replace button's callback: store the layer's next version, keep the outcome."""
    try:
        with layer_files.on_disk(checked) as path:
            result = replace_layer(store_path, name, checked.layer, path, user=user)  # type: ignore[arg-type]
    except ValidationError as exc:
        st.session_state.ops_replaced = ("error", str(exc))
        return
    st.session_state.ops_replaced = ("replaced", result)
    st.session_state.ops_replace_round = st.session_state.get("ops_replace_round", 0) + 1


@st.cache_data(max_entries=64, show_spinner=False)
def _summary(store_path: str, name: str, stamp: str | None) -> dict[str, Any]:
    """:func:`geo.operations.operation_summary`, once per version of the operation."""
    record = store.operation_record(store_path, name) or {}
    return operation_summary(store_path, name) | {"dem_version": record.get("dem_version")}


def summaries(store_path: Path, names: list[str]) -> pd.DataFrame:
    """One row per operation: partners, border km, sensors, sectors, DEM, versions, created."""
    rows = []
    for name in names:
        s = _summary(str(store_path), name, operation_stamp(store_path, name))
        versions = ", ".join(
            f"{layer} v{v[-1]['version']}" for layer, v in s["versions"].items() if v
        )
        rows.append(
            {
                "operation": name,
                "title": s["title"],
                "partners": ", ".join(p["id"] for p in s["partners"]),
                "border km": s["border_km"],
                "sensors": s["sensors"],
                "sectors": s["sectors"],
                "DEM": f"{s['dem']} (v{s['dem_version']})" if s["dem"] else "",
                "versions": versions,
                "created by": s["created_by"] or "",
                "created at": s["created_at"],
            }
        )
    return pd.DataFrame(rows)
