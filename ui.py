"""Streamlit glue shared by the pages: cached loading and analysis, error display.

Caches are shared by every user of the server, so nothing partner-specific is cached here:
partner filtering happens after these functions return.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from geo import settings
from geo.analysis import Analysis, analyse
from geo.scenario import Scenario, load_scenario


@st.cache_data(show_spinner="Loading scenario…", max_entries=8)
def scenario(directory: str) -> Scenario:
    """Load and validate a scenario folder (cached on the folder path)."""
    return load_scenario(directory)


@st.cache_data(show_spinner="Computing coverage…", max_entries=32)
def analysis(
    directory: str,
    *,
    corridor_km: float = settings.CORRIDOR_KM,
    min_gap_m: float = settings.MIN_GAP_M,
    time_from: datetime | None = None,
    time_to: datetime | None = None,
) -> Analysis:
    """Analyse a scenario (cached on the folder and the parameters)."""
    sc = scenario(directory)
    return analyse(
        sc.border,
        sc.sensors,
        sectors=sc.sectors,
        detections=sc.detections,
        corridor_km=corridor_km,
        min_gap_m=min_gap_m,
        time_from=time_from,
        time_to=time_to,
    )
