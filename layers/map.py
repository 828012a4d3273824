"""The whole map of one view: which layers, in which order, with what data.

Shared by the app (cached in ``ui.map_deck``), the benchmarks and the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pydeck as pdk

from geo import settings
from geo.analysis import Analysis
from geo.hexbin import hexbin
from geo.terrain import coverage_image, read_hillshade
from layers import deck as lk
from layers.style import partner_colors

#: Map layers the user can switch, in drawing order, with their labels.
LAYERS: dict[str, str] = {
    "corridor": "Corridor",
    "sectors": "Sectors",
    "footprints": "Sensor footprints",
    "gap_areas": "Blind areas in corridor",
    "overlap_areas": "Overlap areas",
    "detections": "Detections",
    "border": "Border",
    "overlaps": "Partner overlap (border)",
    "gaps": "Gaps (border)",
    "sensors": "Sensor positions",
    "basemap": "Country outlines",
    "hillshade": "Terrain (hillshade)",
    "coverage_count": "Coverage count (terrain)",
}
DEFAULT_OFF = {"overlap_areas", "overlaps", "hillshade", "coverage_count"}


def build_map(
    result: Analysis,
    *,
    partner: str | None = None,
    shown: Iterable[str] = tuple(k for k in LAYERS if k not in DEFAULT_OFF),
    height: int = 620,
    dem: str | Path | None = None,
) -> lk.CompactDeck:
    """Build the deck of one view of an analysis.

    Parameters
    ----------
    result
        The analysis (already restricted to the time window, see ``Analysis.windowed``).
    partner
        Partner whose assets lead; others are muted. ``None``: joint view.
    shown
        Keys of :data:`LAYERS` to draw.
    height
        Map height (px).
    dem
        Terrain model for the ``hillshade`` layer (drawn only when given). The
        ``coverage_count`` layer is drawn when the analysis used a DEM.

    Notes
    -----
    Above ``settings.MAX_MAP_POINTS`` detections the detections are drawn as hexagons with
    counts. The view fits the corridor and depends on nothing else, so a user's pan and zoom
    survive ordinary reruns.
    """
    shown = set(shown)
    unknown = shown - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; expected some of {list(LAYERS)}")
    lay = result.layers
    colors = partner_colors(result.report["partners"])
    corridor_km = result.report["parameters"]["corridor_km"]
    xmin, ymin, xmax, ymax = lay["corridor"].total_bounds
    builders: dict[str, Callable[[], pdk.Layer]] = {
        "hillshade": lambda: lk.hillshade_layer(*read_hillshade(str(dem), z_factor=8.0, crs="EPSG:3857")),
        "coverage_count": lambda: lk.coverage_count_layer(*_coverage(result, partner)),
        "basemap": lambda: lk.basemap_layer(lk.load_countries((xmin - 6, ymin - 4, xmax + 6, ymax + 4))),
        "corridor": lambda: lk.corridor_layer(lay["corridor"], corridor_km=corridor_km),
        "sectors": lambda: lk.sectors_layer(lay["sectors"], colors, highlight=partner),
        "footprints": lambda: lk.footprints_layer(lay["footprints"], colors, highlight=partner),
        "gap_areas": lambda: lk.areas_layer(lay["gap_areas"], kind="gap"),
        "overlap_areas": lambda: lk.areas_layer(lay["overlap_areas"], kind="overlap"),
        "border": lambda: lk.border_layer(lay["border"]),
        "overlaps": lambda: lk.overlaps_layer(lay["overlaps"]),
        "gaps": lambda: lk.gaps_layer(lay["gaps"]),
        "sensors": lambda: lk.sensors_layer(lay["sensors"], colors, highlight=partner),
        "detections": lambda: _detections(result),
    }
    order = ["basemap", "hillshade", "coverage_count", *[k for k in LAYERS if k not in ("basemap", "hillshade", "coverage_count")]]
    available = {
        k for k in order
        if (k != "detections" or "detections" in lay)
        and (k != "hillshade" or dem is not None)
        and (k != "coverage_count" or result.coverage is not None)
    }
    layers = [builders[k]() for k in order if k in shown and k in available]
    if "sensors" in shown:
        at = next(i for i, layer in enumerate(layers) if layer.id == "sensors")
        layers.insert(at + 1, lk.sensor_symbols_layer(lay["sensors"]))
    view = lk.view_state((xmin - 0.2, ymin - 0.25, xmax + 0.2, ymax + 0.25), height_px=height)
    return lk.deck(layers, view, height=height)


def _coverage(result: Analysis, partner: str | None) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The count to draw: all sensors in the joint view, the partner's own in a partner view."""
    grid = result.coverage
    assert grid is not None
    count = grid.count if partner is None or partner not in grid.partners else grid.partner_count[grid.partners.index(partner)]
    return coverage_image(count, grid.valid, transform=grid.transform, crs=grid.crs)


def _detections(result: Analysis) -> pdk.Layer:
    det = result.layers["detections"]
    if len(det) > settings.MAX_MAP_POINTS:
        hexes = hexbin(
            det.assign(in_gap=det["coverage_status"] == "gap"), result.acrs,
            size_m=settings.HEXAGON_SIZE_M, flag="in_gap",
        )
        return lk.hexagons_layer(hexes)
    return lk.detections_layer(det)
