"""The whole map of one view: which layers, in which order, with what data.

Shared by the app (cached in ``ui.map_deck``), the benchmarks and the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pydeck as pdk
from pyproj import Geod

from geo import settings
from geo.analysis import Analysis
from geo.hexbin import hexbin
from geo.projection import choose_analysis_crs
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


#: Hexagons along the diagonal of an upload preview's extent, at most: their size grows with
#: the extent, so that a file spread over a continent stays some thousands of polygons.
PREVIEW_HEXAGONS_ACROSS: int = 200


def preview_deck(detections: gpd.GeoDataFrame, *, height: int = 320) -> tuple[pdk.Deck, str]:
    """A small map of the rows of a file about to be uploaded, and a caption saying how.

    Up to ``settings.MAX_MAP_POINTS`` rows are drawn as points; more are counted in hexagons
    (as on the main map), laid out in a metric CRS fitted to the rows, at least
    ``settings.HEXAGON_SIZE_M`` across and larger for data spread wider (see
    :data:`PREVIEW_HEXAGONS_ACROSS`). Every row is counted either way.
    """
    x0, y0, x1, y1 = (float(v) for v in detections.total_bounds)
    basemap = lk.basemap_layer(lk.load_countries((x0 - 3, y0 - 3, x1 + 3, y1 + 3)))
    view = lk.view_state((x0 - 0.05, y0 - 0.05, x1 + 0.05, y1 + 0.05), height_px=height)
    n = len(detections)
    if n <= settings.MAX_MAP_POINTS:
        points = lk.detections_layer(detections.assign(coverage_status="coverage"))
        return lk.deck([basemap, points], view, height=height), f"{n:,} row(s) as points"
    lon, lat = detections.geometry.x.to_numpy(), detections.geometry.y.to_numpy()
    # the extent along the ground: the bounding box's diagonal on the WGS 84 ellipsoid
    extent_m = float(Geod(ellps="WGS84").inv(x0, y0, x1, y1)[2])
    size_m = max(settings.HEXAGON_SIZE_M, extent_m / PREVIEW_HEXAGONS_ACROSS / np.sqrt(3))
    # The CRS is fitted to a spread of the rows and their extreme ones (fast for millions).
    some = np.unique(np.concatenate([
        np.linspace(0, n - 1, min(n, 20_000)).astype(np.int64),
        [np.argmin(lon), np.argmax(lon), np.argmin(lat), np.argmax(lat)]]))
    hexes = hexbin(detections, choose_analysis_crs(lon[some], lat[some]), size_m=size_m)
    caption = (f"{n:,} rows: more than {settings.MAX_MAP_POINTS:,}, so counted in "
               f"{len(hexes):,} hexagons of {size_m / 1000:,.1f} km")
    return lk.deck([basemap, lk.hexagons_layer(hexes)], view, height=height), caption
