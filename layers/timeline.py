"""Map layers of the timeline (``docs/timeline.md``): exposure and the tracks of drones and patrols.

Pure pydeck/pandas (no streamlit): the Map page's "When is it blind" section draws them
from what :mod:`geo.timeline.views` returns (``exposed_layer``), the report's ``by_hour`` and
the scenario's track fixes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from layers import deck as lk

__all__ = [
    "EXPOSED_RGB",
    "by_hour_frame",
    "exposed_km",
    "exposure_deck",
    "exposure_layer",
    "track_lines",
    "tracks_layer",
    "with_length",
]

#: Colour of the border exposed longer than the crossing time.
EXPOSED_RGB: tuple[int, int, int] = (214, 39, 40)
#: Alpha of another partner's track in a partner view (as its sensors are muted).
MUTED_ALPHA = 70


def by_hour_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """A timeline report's ``by_hour``: 24 rows, ``hour`` (UTC), ``watched_pct`` (NaN = never)."""
    rows = report["by_hour"]
    return pd.DataFrame(
        {
            "hour": [int(r["hour"]) for r in rows],
            "watched_pct": [np.nan if r["watched_pct"] is None else r["watched_pct"] for r in rows],
        }
    )


def with_length(lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Runs of border (``geo.timeline.exposed_layer``) with their ``length_km`` along it."""
    return lines.assign(length_km=(lines["end_km"] - lines["start_km"]).round(6))


def exposed_km(lines: gpd.GeoDataFrame) -> float:
    """Border km in :func:`with_length`'s runs (for exposed runs: ``border.exposed_km``)."""
    return float(lines["length_km"].sum()) if len(lines) else 0.0


def exposure_layer(lines: gpd.GeoDataFrame, crossing_time_min: float) -> pdk.Layer:
    """The exposed runs as thick red lines, the tooltip giving the longest unwatched time."""

    def props(r: pd.Series) -> dict[str, Any]:
        return {
            "c": [*EXPOSED_RGB, 235],
            "tooltip": lk._tooltip(
                f"Exposed longer than {crossing_time_min:g} min",
                {
                    "segment": int(r["segment"]),
                    "km": f"{r['start_km']:,.1f}–{r['end_km']:,.1f}",
                    "longest unwatched": f"{r['max_unwatched_min']:,.0f} min",
                },
            ),
        }

    return pdk.Layer(
        "PathLayer",
        data=lk._path_records(lines, props),
        id="exposed",
        get_path="path",
        get_color="c",
        width_units="'pixels'",
        get_width=5,
        cap_rounded=True,
        pickable=True,
    )


def track_lines(tracks: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """One line per track (fixes in time order): ``track_id``, ``partner``, ``kind``, ``fixes``.

    Empty (same columns) without tracks; a track of one fix is left out.
    """
    cols = ["track_id", "partner", "kind", "fixes"]
    if tracks is None or not len(tracks):
        return gpd.GeoDataFrame(pd.DataFrame(columns=cols), geometry=[], crs="EPSG:4326")
    ordered = tracks.sort_values(["track_id", "time"], kind="stable")
    rows, geoms = [], []
    for tid, fixes in ordered.groupby("track_id", sort=True):
        if len(fixes) < 2:
            continue
        xy = np.column_stack([fixes.geometry.x.to_numpy(), fixes.geometry.y.to_numpy()])
        partner, kind = fixes["partner"].iloc[0], fixes["kind"].iloc[0]
        rows.append(
            {
                "track_id": str(tid),
                "partner": "unknown" if pd.isna(partner) else str(partner),
                "kind": "other" if pd.isna(kind) else str(kind),
                "fixes": len(fixes),
            }
        )
        geoms.append(shapely.LineString(xy))
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry=geoms, crs="EPSG:4326")


def tracks_layer(
    lines: gpd.GeoDataFrame,
    colors: Mapping[str, tuple[int, int, int]],
    *,
    highlight: str | None = None,
) -> pdk.Layer:
    """Track lines coloured by partner; in a partner view the others' are muted (as sensors)."""

    def props(r: pd.Series) -> dict[str, Any]:
        p = str(r["partner"])
        alpha = 220 if highlight is None or p == highlight else MUTED_ALPHA
        return {
            "c": [*colors.get(p, (120, 120, 120)), alpha],
            "tooltip": lk._tooltip(
                f"Track {r['track_id']} ({r['kind']})",
                {"partner": p, "fixes": f"{int(r['fixes']):,}"},
            ),
        }

    return pdk.Layer(
        "PathLayer",
        data=lk._path_records(lines, props),
        id="tracks",
        get_path="path",
        get_color="c",
        width_units="'pixels'",
        get_width=1.5,
        pickable=True,
    )


def exposure_deck(
    border: gpd.GeoDataFrame,
    exposed: gpd.GeoDataFrame,
    crossing_time_min: float,
    tracks: gpd.GeoDataFrame | None = None,
    track_layer: pdk.Layer | None = None,
) -> lk.CompactDeck:
    """The section's map: basemap, border, the exposed runs and (optionally) the tracks."""
    bounds = tuple(border.total_bounds)
    if tracks is not None and len(tracks):
        tb = tracks.total_bounds
        bounds = (
            min(bounds[0], tb[0]),
            min(bounds[1], tb[1]),
            max(bounds[2], tb[2]),
            max(bounds[3], tb[3]),
        )
    box = (bounds[0] - 4.0, bounds[1] - 1.0, bounds[2] + 4.0, bounds[3] + 1.0)  # the map's sides
    layers = [
        lk.basemap_layer(lk.load_countries(box), clip_to=box),
        lk.border_line_layer(border),
    ]
    if track_layer is not None:
        layers.append(track_layer)
    layers.append(exposure_layer(exposed, crossing_time_min))
    view = lk.view_state(bounds, width_px=900, height_px=460, margin_px=20)
    return lk.deck(layers, view, height=460)
