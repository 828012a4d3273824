"""Streamlit glue shared by the pages: cached loading, analysis and map building.

Caches are shared by every user of the server. The scenario and its analysis are the same for
everyone; the map deck depends on the partner view, and the partner is part of its key. All
three are resource caches handing out one read-only object, not a copy per rerun.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from geo.analysis import Analysis, analyse
from geo.scenario import Scenario, load_scenario
from layers.deck import CompactDeck
from layers.map import DEFAULT_OFF, LAYERS, build_map
from layers.snapshot import snapshot_bytes

__all__ = ["DEFAULT_OFF", "LAYERS", "analysis", "map_deck", "scenario", "snapshot"]


@st.cache_resource(show_spinner="Loading scenario…", max_entries=8)
def scenario(directory: str) -> Scenario:
    """Load and validate a scenario folder (cached on the folder path).

    Shared and read-only like :func:`analysis`: nothing in the app or in ``geo`` mutates
    its frames (``analyse`` is tested not to), so no copy is made per rerun.
    """
    return load_scenario(directory)


@st.cache_resource(show_spinner="Computing coverage…", max_entries=32)
def analysis(directory: str, corridor_km: float, min_gap_m: float, terrain: bool = False) -> Analysis:
    """Analyse a scenario for all time (cached on the folder and the parameters).

    ``terrain``: line-of-sight coverage over the scenario's DEM (when it has one).

    A resource cache (one shared object, no copy per rerun: unpickling 22,000 detections on
    every rerun cost more than the rest of the page). Treat the result as read-only:
    :meth:`Analysis.windowed` returns a new object and nothing in the app mutates it.
    """
    sc = scenario(directory)
    return analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections,
        corridor_km=corridor_km, min_gap_m=min_gap_m, dem=sc.dem if terrain else None,
    )


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
) -> CompactDeck:
    """Build the deck for one view (cached; the partner is part of the key; read-only)."""
    result = analysis(directory, corridor_km, min_gap_m, terrain).windowed(time_from, time_to)
    return build_map(result, partner=partner, shown=shown, dem=scenario(directory).dem)


@st.cache_data(show_spinner="Rendering the snapshot…", max_entries=16)
def snapshot(
    directory: str,
    corridor_km: float,
    min_gap_m: float,
    time_from: datetime | None,
    time_to: datetime | None,
    partner: str | None,
    shown: tuple[str, ...],
    fmt: str,
    title: str,
    banner: str,
    paper: str = "a4",
    terrain: bool = False,
) -> bytes:
    """A briefing snapshot (PNG or PDF) of one view (cached; the partner is part of the key)."""
    sc = scenario(directory)
    result = analysis(directory, corridor_km, min_gap_m, terrain).windowed(time_from, time_to)
    return snapshot_bytes(
        result, fmt=fmt, partner=partner, shown=shown, title=title, banner=banner, dem=sc.dem,
        partner_names={p: str(v.get("name", p)) for p, v in sc.partners.items()}, paper=paper,
    )

