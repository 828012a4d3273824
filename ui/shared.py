"""Streamlit glue shared by the pages: cached loading, analysis and map building.

Caches are shared by every user of the server. No page holds every stored row: the
analysis of an operation (:func:`map_base`: coverage, gaps, the scenario's own detections)
is the same for everyone, and the figures of a window are counted by the store page by
page for a viewer (:func:`map_window`, :func:`map_times`, the viewers in their key); the
detections held are at most :data:`geo.core.settings.MAX_MAP_POINTS`, the hexagons count
them all. The Map page and the Export page read the same caches. The caches that hold
anything viewer-specific (the map deck; the snapshots of :mod:`ui.snapshot_view`) have the
partner view and the viewer's releasability (``viewers``) in their key. Resource caches
hand out one read-only object, not a copy per rerun.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import streamlit as st

from geo import store
from geo.access import Viewer
from geo.core import settings
from geo.core.errors import ValidationError
from geo.coverage.views import JOINT, HourCounts, TimeBounds
from geo.inputs.scenario import Scenario, load_scenario
from geo.mapview import MapBase, MapWindow
from geo.mapview import map_base as _map_base
from geo.mapview import map_times as _map_times
from geo.mapview import map_window as _map_window
from geo.mapview import window_detections as _window_detections
from geo.operations import SAMPLE, operation_scenario
from layers.deck import CompactDeck
from layers.map import (
    DEFAULT_OFF,
    DEPENDS_ON,
    LAYERS,
    MAP_HEXAGON_M,
    assemble,
    build_layers,
    detections_layers,
    drawable,
)
from ui import signin
from ui.operations import operation_ref

__all__ = [
    "DEFAULT_OFF",
    "LAYERS",
    "map_base",
    "map_deck",
    "map_layers",
    "map_times",
    "map_window",
    "operation_of",
    "scenario",
    "store_path",
    "store_version",
    "window_detections",
]


def store_path() -> Path:
    """The shared detection store: ``$LIMES_STORE``, else :data:`geo.core.settings.STORE_PATH`."""
    return settings.store_path()


def store_version() -> int:
    """Changes whenever an upload lands in the store (part of the analysis cache key)."""
    return store.version(store_path())


@st.cache_resource(show_spinner="Loading the operation…", max_entries=8)
def scenario(directory: str) -> Scenario:
    """An operation of the store, or a scenario folder, loaded and validated (cached).

    ``directory``: an operation's :attr:`ui.operations.Opened.source` (store, name and a
    stamp of its layers), or a scenario folder's path. Shared and read-only: nothing in the
    app or in ``geo`` mutates its frames (``analyse`` is tested not to), so no copy is made
    per rerun.
    """
    ref = operation_ref(directory)
    if ref is None:
        return load_scenario(directory)
    return operation_scenario(*ref)


def operation_of(directory: str) -> str:
    """The operation whose stored detections a source shows (a folder: the sample's)."""
    ref = operation_ref(directory)
    return SAMPLE if ref is None else ref[1]


def scenario_or_stop(directory: str) -> Scenario:
    """:func:`scenario`, or the page shows why it cannot be loaded and stops."""
    try:
        return scenario(directory)
    except ValidationError as exc:
        st.error(f"The scenario could not be loaded: {exc}")
        st.stop()


def scenario_partners(sc: Scenario) -> list[str]:
    """Partners of a scenario: those owning sensors or sectors, sorted."""
    sectors = set(sc.sectors["partner"].astype(str)) if sc.sectors is not None else set()
    return sorted(set(sc.sensors["partner"].astype(str)) | sectors)


def partner_view(
    container: Any, sc: Scenario, viewer: Viewer, **selectbox_options: Any
) -> str | None:
    """The "Partner view" selector (key ``partner``), mirrored into ``?partner=`` of the URL.

    Offers what the viewer may choose (:func:`signin.partner_options`); a link's
    ``?partner=`` opens that view when allowed. Returns the partner, ``None`` for the joint view.
    """
    options = signin.partner_options(viewer, scenario_partners(sc))
    if st.session_state.get("partner") not in options:
        wanted = st.query_params.get("partner", JOINT)
        st.session_state.partner = wanted if wanted in options else options[0]
    view = container.selectbox(
        "Partner view",
        options,
        key="partner",
        format_func=lambda p: p if p == JOINT else f"{p} — {sc.partners.get(p, {}).get('name', p)}",
        **selectbox_options,
    )
    if view == JOINT:
        st.query_params.pop("partner", None)
        return None
    st.query_params["partner"] = view
    return view


def viewers_for(viewer: Viewer, partner: str | None) -> tuple[str, ...] | None:
    """Whose releasability applies to a view.

    Signed in: the user's partner, in every view (a joint view shows the union of what the
    user may see). Local demo mode, where every view is open: a partner view shows what that
    partner may see, the joint view everything.
    """
    if viewer.demo:
        return None if partner is None else (partner,)
    return signin.detection_viewers(viewer)


@st.cache_resource(show_spinner="Computing coverage…", max_entries=32)
def map_base(
    directory: str,
    corridor_km: float,
    min_gap_m: float,
    terrain: bool = False,
    store_version: int = 0,
) -> MapBase:
    """The Map page's analysis: coverage, gaps and the operation's own detections (cached).

    The stored detections are not read (:func:`geo.mapview.map_base`): the window's figures
    count them in the store (:func:`map_window`). A resource cache (one shared object, no
    copy per rerun): treat it as read-only; :meth:`Analysis.windowed` returns a new object.
    """
    sc = scenario(directory)
    base = _map_base(
        sc.border, sc.sensors, store_path(), operation=operation_of(directory),
        sectors=sc.sectors, detections=sc.detections, corridor_km=corridor_km,
        min_gap_m=min_gap_m, dem=sc.dem if terrain else None,
    )  # fmt: skip
    chosen = {p: tuple(v["colour"]) for p, v in sc.partners.items() if v.get("colour")}
    if not chosen:
        return base
    return dataclasses.replace(
        base, analysis=dataclasses.replace(base.analysis, partner_colours=chosen)
    )


@st.cache_resource(show_spinner="Counting the window's detections…", max_entries=64)
def map_window(
    directory: str,
    corridor_km: float,
    min_gap_m: float,
    terrain: bool,
    store_version: int,
    time_from: datetime | None,
    time_to: datetime | None,
    viewers: tuple[str, ...] | None,
) -> MapWindow:
    """The Map page's view of a window for ``viewers``: figures counted by the store (cached).

    The viewers are in the key; its figures equal those of :func:`geo.coverage.analyse` with
    every detection cut to the window and the viewers. The layer of detections holds at
    most :data:`geo.core.settings.MAX_MAP_POINTS` points, the hexagons count them all
    (:func:`geo.mapview.map_window`).
    """
    base = map_base(directory, corridor_km, min_gap_m, terrain, store_version)
    return _map_window(
        base, time_from=time_from, time_to=time_to, viewers=viewers, hex_size_m=MAP_HEXAGON_M,
        limit=settings.MAX_MAP_POINTS,
    )  # fmt: skip


def window_detections(
    directory: str,
    corridor_km: float,
    min_gap_m: float,
    terrain: bool,
    store_version: int,
    time_from: datetime | None,
    time_to: datetime | None,
    viewers: tuple[str, ...] | None,
) -> Iterator[gpd.GeoDataFrame]:
    """Every detection of :func:`map_window`'s window for ``viewers``, page by page (not cached).

    For a file of all of them (:func:`geo.mapview.window_detections`): the pages are read
    from the store as the file is written, one at a time.
    """
    base = map_base(directory, corridor_km, min_gap_m, terrain, store_version)
    return _window_detections(base, time_from=time_from, time_to=time_to, viewers=viewers)


@st.cache_resource(show_spinner=False, max_entries=64)
def map_times(
    directory: str,
    corridor_km: float,
    min_gap_m: float,
    terrain: bool,
    store_version: int,
    viewers: tuple[str, ...] | None,
) -> tuple[TimeBounds | None, HourCounts]:
    """The time window's bounds and hourly counts of what ``viewers`` may see (cached)."""
    return _map_times(map_base(directory, corridor_km, min_gap_m, terrain, store_version), viewers)


@st.cache_resource(show_spinner=False, max_entries=256)
def map_layers(
    directory: str,
    corridor_km: float,
    min_gap_m: float,
    terrain: bool,
    store_version: int,
    key: str,
    partner: str | None,
    time_from: datetime | None,
    time_to: datetime | None,
    viewers: tuple[str, ...] | None,
) -> list[Any]:
    """The deck layers of one map layer key, cached on what it depends on (read-only).

    :func:`map_deck` passes ``None`` for the partner, window and viewers of a key that does
    not depend on them (:data:`layers.map.DEPENDS_ON`), so a toggle or a partner switch
    reuses every layer it does not change. The viewer's releasability is in the key of the
    layers that hold detections, drawn from :func:`map_window` (the hexagons count every
    detection of the window, the points are those of its layer).
    """
    dem = scenario(directory).dem
    if key == "detections":
        window = map_window(
            directory, corridor_km, min_gap_m, terrain, store_version, time_from, time_to, viewers
        )
        return detections_layers(window.result, window.hexagons, window.total)
    if "window" not in DEPENDS_ON[key]:  # no detection figure: nothing of the store counted
        result = map_base(directory, corridor_km, min_gap_m, terrain, store_version).analysis
    else:
        result = map_window(
            directory, corridor_km, min_gap_m, terrain, store_version, time_from, time_to, viewers
        ).result
    return build_layers(result, key, partner=partner, dem=dem)


@st.cache_resource(show_spinner="Drawing the map…", max_entries=64)
def map_deck(
    directory: str,
    corridor_km: float,
    min_gap_m: float,
    time_from: datetime | None,
    time_to: datetime | None,
    partner: str | None,
    shown: tuple[str, ...],
    terrain: bool = False,
    store_version: int = 0,
    viewers: tuple[str, ...] | None = None,
    focus: tuple[float, float, float] | None = None,
) -> CompactDeck:
    """Build the deck for one view (cached; the partner and the viewers are in the key; read-only).

    Each layer comes from :func:`map_layers`. ``focus``: ``(lon, lat, zoom)`` to open on (a
    gap picked in the table), else the corridor. The figures are the store's
    (:func:`map_window`).
    """
    result = map_window(
        directory, corridor_km, min_gap_m, terrain, store_version, time_from, time_to, viewers
    ).result
    parts = {}
    for key in drawable(result, shown, dem=scenario(directory).dem):
        needs = DEPENDS_ON[key]
        window = (time_from, time_to, viewers) if "window" in needs else (None, None, None)
        parts[key] = map_layers(
            directory,
            corridor_km,
            min_gap_m,
            terrain,
            store_version,
            key,
            partner if "partner" in needs else None,
            *window,
        )
    return assemble(result, parts, focus=focus)
