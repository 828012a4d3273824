"""Streamlit glue of the Plan page: parameters, the plan kept in the session, moving a site, saving.

Everything computed comes from :mod:`geo.siting` (the choice of sites, the numbers of given
sites), :mod:`geo.coverage` (the analysis the map draws), :mod:`geo.operations` (the placement
grid, the border closed, saving a sensor version) and :mod:`layers.plan` (the map and the
snapshot). A plan is kept in the session under a key naming the operation (its source, which
carries the stamp of its layers), the partner, the parameters and the coverage model: a saved
version or other parameters make a new plan, and going back to the same ones shows the kept
one, moved sites included.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.access import Viewer
from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.coverage.analysis import Analysis, analyse
from geo.inputs import Scenario
from geo.operations import changed_stretches, checked_sensors, save_sensors, sensor_table
from geo.siting import SiteParams, SitingPlan, evaluate_sites, plan_sites
from layers.plan import plan_deck, plan_snapshot
from ui import sensor_editor, shared
from ui.operations import Opened

__all__ = [
    "MAP_PX",
    "Held",
    "add_to_operation",
    "after_analysis",
    "gap_table",
    "grid_of",
    "held_plan",
    "map_key",
    "map_of",
    "move_panel",
    "move_site",
    "on_map_click",
    "partner_choices",
    "picked_on_map",
    "plan_key",
    "read_params",
    "scope_partner",
    "show_numbers",
    "site_params",
    "site_table",
    "snapshot_of",
    "suggest",
    "use_panel",
]

#: Height (px) of the plan's map.
MAP_PX: int = 520
#: Sites a plan may ask for at most (each is a new sensor of the operation).
MAX_COUNT: int = 50
#: The closest candidate spacing (m) offered: closer grids take long on a long border.
MIN_SPACING_M: float = 100.0
#: Plans kept in a session (oldest dropped first).
KEPT_PLANS: int = 6

SOURCE = "Plan parameters"


@dataclasses.dataclass
class Held:
    """A plan kept in the session: as suggested, and as the user has moved its sites."""

    key: str
    partner: str
    terrain: bool
    params: SiteParams
    suggested: SitingPlan
    current: SitingPlan
    after: Analysis
    moved: dict[int, tuple[float, float]] = dataclasses.field(default_factory=dict)
    snapshots: dict[str, bytes] = dataclasses.field(default_factory=dict)


# ---- who plans for whom, and with what ------------------------------------------------------


def partner_choices(viewer: Viewer, partners: list[str]) -> list[str]:
    """The partners a viewer may plan for (of the operation's ``partners``).

    Planners, admins and demo mode: any of them; a commander: their own, when it takes part.
    """
    if viewer.demo or viewer.can("planner"):
        return list(partners)
    return [p for p in partners if p == viewer.partner]


def _bad(field: str, expected: str, got: object, fix: str) -> ValidationError:
    return ValidationError(
        describe(SOURCE, "not usable", field=field, expected=expected, got=got, fix=fix)
    )


def site_params(
    *,
    partner: str,
    kind: str,
    count: int,
    range_m: float | None,
    min_range_m: float | None,
    height_m: float | None,
    target_height_m: float | None,
    fov_deg: float | None,
    azimuth_deg: float | None,
    spacing_m: float | None,
    corridor_km: float,
) -> SiteParams:
    """The page's fields as :class:`geo.siting.SiteParams`, checked; a clear error if not usable."""
    if count is None or int(count) != count or not 1 <= count <= MAX_COUNT:
        raise _bad(
            "count",
            f"a whole number of sites from 1 to {MAX_COUNT}",
            count,
            "Type how many sensors you have",
        )
    if range_m is None or not math.isfinite(range_m) or range_m <= 0:
        raise _bad("range_m", "a range in metres > 0", range_m, "Type the new sensors' range")
    min_range = 0.0 if min_range_m is None else float(min_range_m)
    if not 0 <= min_range < range_m:
        raise _bad(
            "min_range_m",
            f"from 0 up to less than the range ({range_m:g} m)",
            min_range_m,
            "Lower the minimum range",
        )
    height = settings.DEFAULT_HEIGHT_M.get(kind, 10.0) if height_m is None else float(height_m)
    if not 0 <= height <= 1000:
        raise _bad(
            "height_m", "a mast height from 0 to 1000 m", height_m, "Type the height above ground"
        )
    target = settings.TARGET_HEIGHT_M if target_height_m is None else float(target_height_m)
    if not 0 <= target <= 100:
        raise _bad(
            "target_height_m",
            "a target height from 0 to 100 m",
            target_height_m,
            "Type the height of what is to be seen",
        )
    fov = 360.0 if fov_deg is None else float(fov_deg)
    if not 0 < fov <= 360:
        raise _bad(
            "fov_deg",
            "a field of view above 0° and at most 360°",
            fov_deg,
            "Use 360 for all around",
        )
    if fov < 360 and (azimuth_deg is None or not 0 <= azimuth_deg < 360):
        raise _bad(
            "azimuth_deg",
            "the direction a wedge looks to, 0 ≤ azimuth < 360° (clockwise from north)",
            azimuth_deg,
            "Type an azimuth, or set the field of view to 360",
        )
    if spacing_m is None or not math.isfinite(spacing_m) or spacing_m < MIN_SPACING_M:
        raise _bad(
            "spacing_m",
            f"a candidate spacing of at least {MIN_SPACING_M:g} m",
            spacing_m,
            "Candidates closer than that make no better plan",
        )
    wedge = fov < 360 and azimuth_deg is not None
    return SiteParams(
        count=int(count), range_m=float(range_m), min_range_m=min_range, height_m=height,
        target_height_m=target, azimuth_deg=float(azimuth_deg) if wedge else None,
        fov_deg=fov if wedge else None, kind=kind, partner=partner, spacing_m=float(spacing_m),
        corridor_km=float(corridor_km),
    )  # fmt: skip


def read_params(partners: list[str], corridor_km: float) -> tuple[SiteParams | None, bool]:
    """The parameters form; returns the checked parameters and whether "Suggest sites" was clicked.

    A field that cannot be used is said (``st.error``) and gives ``None``.
    """
    with st.form("plan_form", border=True):
        c = st.columns(4)
        partner = c[0].selectbox("Partner", partners, key="plan_partner")
        kind = c[1].selectbox(
            "Sensor kind",
            list(settings.SENSOR_KINDS),
            index=list(settings.SENSOR_KINDS).index("tower"),
            key="plan_kind",
        )
        count = c[2].number_input(
            "Sites (count)", min_value=1, max_value=MAX_COUNT, value=3, step=1, key="plan_count"
        )
        spacing = c[3].number_input(
            "Candidate spacing (m)", value=1000.0, step=100.0, key="plan_spacing"
        )
        c = st.columns(4)
        rng = c[0].number_input("Range (m)", value=5000.0, step=500.0, key="plan_range")
        min_rng = c[1].number_input(
            "Minimum range (m)", value=0.0, step=100.0, key="plan_min_range"
        )
        height = c[2].number_input("Height (m; empty: by kind)", value=None, key="plan_height")
        target = c[3].number_input(
            "Target height (m)", value=settings.TARGET_HEIGHT_M, key="plan_target"
        )
        c = st.columns(4)
        fov = c[0].number_input("Field of view (°)", value=360.0, key="plan_fov")
        azimuth = c[1].number_input("Azimuth (°, if fov < 360)", value=None, key="plan_azimuth")
        clicked = c[3].form_submit_button("Suggest sites", type="primary", width="stretch")
    try:
        params = site_params(
            partner=partner, kind=kind, count=count, range_m=rng, min_range_m=min_rng,
            height_m=height, target_height_m=target, fov_deg=fov, azimuth_deg=azimuth,
            spacing_m=spacing, corridor_km=corridor_km,
        )  # fmt: skip
    except ValidationError as exc:
        st.error(f"No plan with these parameters: {exc}")
        return None, False
    return params, clicked


def plan_key(source: str, params: SiteParams, terrain: bool) -> str:
    """The session key of a plan: the operation (and its stamp), partner, parameters, model."""
    return json.dumps([source, params.partner, dataclasses.asdict(params), terrain], sort_keys=True)


# ---- the plan, kept in the session ----------------------------------------------------------


def _kept() -> dict[str, Held]:
    kept = st.session_state.get("plan_kept")
    if not isinstance(kept, dict):
        kept = st.session_state.plan_kept = {}
    return kept


def held_plan() -> Held | None:
    """The plan shown: the last one suggested on this operation (None before the first)."""
    key = st.session_state.get("plan_shown")
    return _kept().get(key) if isinstance(key, str) else None


def after_analysis(
    sc: Scenario, sites: gpd.GeoDataFrame, *, corridor_km: float, min_gap_m: float, terrain: bool
) -> Analysis:
    """The analysis of the operation's sensors and the sites (the map draws it)."""
    both = pd.concat([sc.sensors, sites.to_crs(sc.sensors.crs)], ignore_index=True)
    sensors = gpd.GeoDataFrame(both, geometry="geometry", crs=sc.sensors.crs)
    result = analyse(
        sc.border, sensors, sectors=sc.sectors, corridor_km=corridor_km, min_gap_m=min_gap_m,
        dem=sc.dem if terrain else None,
    )  # fmt: skip
    chosen = {p: tuple(v["colour"]) for p, v in sc.partners.items() if v.get("colour")}
    return dataclasses.replace(result, partner_colours=chosen) if chosen else result


def suggest(
    sc: Scenario, source: str, params: SiteParams, *, min_gap_m: float, terrain: bool
) -> Held:
    """The plan of these parameters: kept in the session, else chosen now (:func:`plan_sites`).

    Raises ValidationError (or ValueError) when the plan cannot be made.
    """
    key = plan_key(source, params, terrain)
    kept = _kept()
    if key not in kept:
        with st.spinner(f"Choosing {params.count} sites among the candidates…"):
            plan = plan_sites(
                sc.border, sc.sensors, params, sectors=sc.sectors,
                dem_path=sc.dem if terrain else None, min_gap_m=min_gap_m,
            )  # fmt: skip
            after = after_analysis(
                sc,
                plan.sensors(),
                corridor_km=params.corridor_km,
                min_gap_m=min_gap_m,
                terrain=terrain,
            )
        while len(kept) >= KEPT_PLANS:
            kept.pop(next(iter(kept)))
        kept[key] = Held(key, str(params.partner), terrain, params, plan, plan, after)
    st.session_state.plan_shown = key
    return kept[key]


def move_site(
    held: Held, sc: Scenario, rank: int, lon: float, lat: float, *, min_gap_m: float
) -> None:
    """Move site ``rank`` of the held plan to (lon, lat) and evaluate it (:func:`evaluate_sites`).

    Raises ValidationError for a position off the map or one the analysis refuses.
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError(
            describe(
                SOURCE,
                "not a position",
                field="lon/lat",
                expected="longitude −180…180° and latitude −90…90°",
                got=(lon, lat),
                fix="Type the site's position in degrees",
            )
        )
    moved = {**held.moved, int(rank): (float(lon), float(lat))}
    sites = _moved_sites(held.suggested.sites, moved)
    with st.spinner("Evaluating the moved site…"):
        current = evaluate_sites(
            sc.border, sc.sensors, sites, held.params, sectors=sc.sectors,
            dem_path=sc.dem if held.terrain else None, min_gap_m=min_gap_m,
        )  # fmt: skip
        after = after_analysis(
            sc,
            current.sensors(),
            corridor_km=held.params.corridor_km,
            min_gap_m=min_gap_m,
            terrain=held.terrain,
        )
    held.moved, held.current, held.after = moved, current, after
    held.snapshots.clear()


def _moved_sites(
    sites: gpd.GeoDataFrame, moved: dict[int, tuple[float, float]]
) -> gpd.GeoDataFrame:
    """The suggested sites with the moved ones at their new positions (the input unchanged)."""
    out = sites.copy()
    for rank, (lon, lat) in moved.items():
        at = out.index[out["rank"] == rank]
        out.loc[at, "lon"], out.loc[at, "lat"] = lon, lat
        out.loc[at, "geometry"] = gpd.points_from_xy([lon] * len(at), [lat] * len(at), crs=out.crs)
    return out


# ---- what the page shows -------------------------------------------------------------------


def scope_partner(held: Held, sc: Scenario) -> str | None:
    """The partner whose sectors' border the plan counts; None: the whole border."""
    holds = sc.sectors is not None and held.partner in set(sc.sectors["partner"].astype(str))
    return held.partner if holds and held.params.partner else None


#: The numbers shown before and after: label, key of the plan's dicts, unit, lower is better.
NUMBERS: tuple[tuple[str, str, str, bool], ...] = (
    ("Coverage", "coverage_pct", "%", False),
    ("Covered", "covered_km", "km", False),
    ("Gaps", "gap_km", "km", True),
    ("Longest gap", "longest_gap_km", "km", True),
)


def show_numbers(held: Held, partner: str | None) -> None:
    """Before and after (coverage, covered km, gap km, longest gap) and the plan's bound."""
    plan = held.current
    st.subheader(f"Before and after ({f'{partner} sectors' if partner else 'the whole border'})")
    for col, (label, key, unit, lower) in zip(st.columns(len(NUMBERS)), NUMBERS, strict=True):
        a, b = float(plan.before[key]), float(plan.after[key])
        col.metric(
            label,
            f"{b:,.2f} {unit}",
            delta=f"{b - a:+,.2f} {'points' if unit == '%' else unit}"
            if abs(b - a) >= 0.005
            else None,
            delta_color="inverse" if lower else "normal",
            help=f"Before the plan: {a:,.2f} {unit}",
        )
    bound, got = float(held.suggested.upper_bound_km), float(held.suggested.after["covered_km"])
    if math.isfinite(bound):
        share = min(100.0 * got / bound, 100.0) if bound > 0 else 100.0
        st.caption(
            f"No plan of {held.params.count} of these {held.suggested.candidates:,} candidates "
            f"can exceed **{bound:,.2f} km** covered: the suggested plan ({got:,.2f} km) "
            f"reaches at least {share:.1f} % of the best."
        )
    if held.moved:
        moved = ", ".join(str(r) for r in sorted(held.moved))
        st.caption(f"Moved by hand: site {moved}. The numbers are those of the moved sites.")


def site_table(plan: SitingPlan) -> pd.DataFrame:
    """The sites as the page lists them: rank, id, position, gain, covered after, gaps closed."""
    s = plan.sites
    return pd.DataFrame(
        {
            "rank": s["rank"].astype(int).to_numpy(),
            "sensor_id": s["sensor_id"].astype(str).to_numpy(),
            "lon": s.geometry.x.round(6).to_numpy(),
            "lat": s.geometry.y.round(6).to_numpy(),
            "gain_km": s["gain_km"].astype(float).round(3).to_numpy(),
            "covered_km_after": s["covered_km_after"].astype(float).round(3).to_numpy(),
            "gaps_closed": [_gaps_text(g) for g in s["gaps_closed"]],
        }
    )


def _gaps_text(gaps: Any) -> str:
    items = list(gaps) if isinstance(gaps, list | tuple) else []
    if not items:
        return "–"
    return "; ".join(
        f"seg {int(g['segment'])} km {float(g['start_km']):,.2f}–{float(g['end_km']):,.2f}"
        for g in items
    )


def gap_table(after: Analysis, partner: str | None) -> pd.DataFrame:
    """The gaps left after the plan, longest first (with ``partner``: those in its sectors)."""
    gaps = [
        g for g in after.report["gaps"] if partner is None or partner in (g.get("partners") or [])
    ]
    gaps.sort(key=lambda g: -float(g["length_km"]))
    return pd.DataFrame(
        {
            "rank": range(1, len(gaps) + 1),
            "segment": [int(g["segment"]) for g in gaps],
            "start_km": [round(float(g["start_km"]), 3) for g in gaps],
            "end_km": [round(float(g["end_km"]), 3) for g in gaps],
            "length_km": [round(float(g["length_km"]), 3) for g in gaps],
            "sectors": [", ".join(g.get("sector_ids") or []) or "–" for g in gaps],
        }
    )


def map_of(
    held: Held, before: Analysis, grid: gpd.GeoDataFrame | None, selected: int | None
) -> Any:
    """The plan's map: the coverage after it, the border it closes, the numbered sites."""
    stretches = changed_stretches(before, held.after)
    closed = stretches[stretches["change"] == "gained"]
    return plan_deck(
        held.after, held.current.sites, closed=closed, grid=grid,
        partner=held.partner, selected=selected, height=MAP_PX,
    )  # fmt: skip


def map_key() -> str:
    """The key of the plan's map widget: ``plan_map_<clicks taken so far>``.

    Each click taken gives the map a new key, so it is drawn afresh without the selection
    (Streamlit greys everything a selection leaves out) and a click is never taken twice.
    """
    return f"plan_map_{int(st.session_state.get('plan_clicks', 0))}"


def picked_on_map() -> tuple[str, Any] | None:
    """What a click on the plan's map picked: ``("site", rank)`` or ``("cell", cell)``."""
    event = st.session_state.get(map_key()) or {}
    objects = (event.get("selection") or {}).get("objects") or {}
    sites, cells = objects.get("plan_sites") or [], objects.get("placement_grid") or []
    picked = ("site", int(sites[0]["rank"])) if sites else ("cell", cells[0]) if cells else None
    if picked is not None:
        st.session_state.plan_clicks = int(st.session_state.get("plan_clicks", 0)) + 1
    return picked


def snapshot_of(held: Held, sc: Scenario, fmt: str, timezone: str) -> bytes:
    """The plan's snapshot (PNG or PDF), kept with the plan until a site moves."""
    if fmt not in held.snapshots:
        p = held.params
        title = (
            f"Plan: {p.count} new {p.kind.replace('_', ' ')} sites for {held.partner} — {sc.name}"
        )
        held.snapshots[fmt] = plan_snapshot(
            held.after, held.current.sites, fmt=fmt, partner=held.partner, title=title,
            partner_names={k: str(v.get("name", k)) for k, v in sc.partners.items()},
            timezone=timezone,
        )  # fmt: skip
    return held.snapshots[fmt]


def add_to_operation(
    held: Held, sc: Scenario, path: Path, name: str, partners: list[str], user: str
) -> dict[str, Any]:
    """Save the operation's sensors and the plan's sites as a new sensor version (audited).

    Raises ValidationError when the sites cannot join the sensors (e.g. an id in use).
    """
    sites = held.current.sensors()
    taken = set(sc.sensors["sensor_id"].astype(str)) & set(sites["sensor_id"].astype(str))
    if taken:
        raise ValidationError(
            describe(
                "suggested sites",
                "sensor id already in the operation",
                field="sensor_id",
                expected="new ids",
                got=sorted(taken),
                fix="Suggest the sites again",
            )
        )
    table = pd.concat([sensor_table(sc.sensors), sensor_table(sites)], ignore_index=True)
    checked = checked_sensors(table, partners=partners)
    p = held.params
    moved = f", {len(held.moved)} moved by hand" if held.moved else ""
    note = (
        f"Plan page: {len(sites)} suggested {p.kind} sites for {held.partner} "
        f"(range {p.range_m:g} m{moved}); covered {held.current.before['covered_km']:,.2f} → "
        f"{held.current.after['covered_km']:,.2f} km"
    )
    return save_sensors(path, name, checked, user=user, note=note)


def grid_of(source: str, corridor_km: float) -> gpd.GeoDataFrame:
    """The placement grid of the operation's border (the Sensors page's, cached)."""
    return sensor_editor.grid(source, corridor_km)


# ---- moving a site ---------------------------------------------------------------------------


def on_map_click(held: Held, sc: Scenario, *, min_gap_m: float) -> None:
    """A new click on the map: a site selects it for moving; a grid cell moves it there."""
    picked = picked_on_map()
    if picked is None:
        return
    what, value = picked
    ranks = [int(r) for r in held.current.sites["rank"]]
    if what == "site":
        st.session_state.plan_move_rank = value
        return
    if st.session_state.get("plan_move_rank") not in ranks:
        return
    rank = int(st.session_state.plan_move_rank)
    try:
        move_site(held, sc, rank, float(value["lon"]), float(value["lat"]), min_gap_m=min_gap_m)
    except ValueError as exc:
        st.error(f"Site {rank} not moved: {exc}")
        return
    st.session_state.plan_flash = f"Site {rank} moved to the centre of grid cell {value['cell']}."
    st.rerun()


def move_panel(held: Held, sc: Scenario, *, min_gap_m: float) -> int:
    """Select a site and type its new position ("Move the site here"); returns the selected rank.

    The position fields show the selected site's position until the user types another.
    """
    st.markdown(
        "**Move a site**: select it (or click it on the map), then type a position or click a "
        "cell of the grid."
    )
    sites = held.current.sites
    ranks = [int(r) for r in sites["rank"]]
    if st.session_state.get("plan_move_rank") not in ranks:
        st.session_state.plan_move_rank = ranks[0]
    rank = int(
        st.selectbox("Site to move", ranks, key="plan_move_rank", format_func=lambda r: f"Site {r}")
    )
    pt = sites[sites["rank"] == rank].geometry.iloc[0]
    shown = [held.key, rank, float(pt.x), float(pt.y)]
    if st.session_state.get("plan_move_for") != shown:  # another site, or it moved
        st.session_state.plan_move_lon, st.session_state.plan_move_lat = float(pt.x), float(pt.y)
        st.session_state.plan_move_for = shown
    c = st.columns(2)
    lat = c[0].number_input("Latitude (°)", format="%.6f", key="plan_move_lat")
    lon = c[1].number_input("Longitude (°)", format="%.6f", key="plan_move_lon")
    if st.button("Move the site here", key="plan_move"):
        try:
            move_site(held, sc, rank, float(lon), float(lat), min_gap_m=min_gap_m)
        except ValueError as exc:
            st.error(f"Site {rank} not moved: {exc}")
        else:
            st.session_state.plan_flash = f"Site {rank} moved to {lat:.5f}, {lon:.5f}."
            st.rerun()
    return rank


# ---- using the plan --------------------------------------------------------------------------


def use_panel(
    held: Held, sc: Scenario, viewer: Viewer, opened: Opened, partners: list[str]
) -> None:
    """The buttons "Add to the operation" (planners only: others see why) and "Export snapshot"."""
    c = st.columns([2, 1, 1])
    may_save = viewer.can("planner")
    reason = (
        None
        if may_save
        else ("Only planners may add sensors to an operation: your account has the commander role.")
    )
    if c[0].button(
        "Add to the operation", key="plan_add", type="primary", disabled=not may_save, help=reason
    ):
        try:
            saved = add_to_operation(
                held, sc, shared.store_path(), opened.name, partners,
                viewer.name or "demo mode",
            )  # fmt: skip
        except ValidationError as exc:
            st.error(f"Not added: {exc}")
        else:
            st.session_state.plan_flash = (
                f"Version {saved['version']} saved with {len(held.current.sites)} new sites: "
                "the Map now shows it."
            )
            st.rerun()
    if reason:
        c[0].caption(reason)
    fmt = c[1].selectbox(
        "Snapshot format", ["png", "pdf"], format_func=str.upper, key="plan_fmt",
        label_visibility="collapsed",
    )  # fmt: skip
    wanted = [held.key, fmt, sorted(held.moved.items())]
    if c[2].button("Export snapshot", key="plan_export"):
        st.session_state.plan_export_wanted = wanted
    if st.session_state.get("plan_export_wanted") != wanted:
        return
    try:
        data = snapshot_of(held, sc, fmt, opened.timezone)
    except ValidationError as exc:
        st.error(f"No snapshot: {exc}")
        return
    st.download_button(
        f"Download the snapshot ({fmt.upper()})", data,
        file_name=f"limes_plan_{held.partner.lower()}.{fmt}",
        mime="application/pdf" if fmt == "pdf" else "image/png", key="plan_download",
    )  # fmt: skip
