"""A small map of an operation's layers before they are stored: border, sectors and sensors.

The Operations page shows it beside the validation reports, as the Upload page shows
:func:`layers.map.preview_deck` for detections: the checked layers as they will be kept,
no analysis yet (the Map page analyses them once the operation is created).

Examples
--------
>>> from geo.core.settings import SAMPLE_DIR
>>> from geo.inputs import read_border, read_sensors
>>> border, _ = read_border(SAMPLE_DIR / "border.geojson")
>>> sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
>>> deck, caption = operation_preview_deck(border=border, sensors=sensors)
>>> [layer.id for layer in deck.layers], caption
(['basemap', 'border', 'sensors'], 'Border (1 line), 171 sensors')
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import shapely

from geo.core.projection import choose_analysis_crs
from layers import deck as lk
from layers.map import across_the_world
from layers.style import partner_colors

__all__ = ["operation_preview_deck"]


def _caption(
    border: gpd.GeoDataFrame | None,
    sensors: gpd.GeoDataFrame | None,
    sectors: gpd.GeoDataFrame | None,
) -> str:
    parts = []
    if border is not None:
        parts.append(f"Border ({len(border):,} line{'s' if len(border) != 1 else ''})")
    if sectors is not None:
        parts.append(f"{len(sectors):,} sector(s)")
    if sensors is not None:
        parts.append(f"{len(sensors):,} sensors")
    return ", ".join(parts)


def operation_preview_deck(
    *,
    border: gpd.GeoDataFrame | None = None,
    sensors: gpd.GeoDataFrame | None = None,
    sectors: gpd.GeoDataFrame | None = None,
    colours: Mapping[str, tuple[int, int, int]] | None = None,
    height: int = 360,
) -> tuple[lk.CompactDeck, str]:
    """The layers given (checked, EPSG:4326) on the offline basemap, and a caption naming them.

    Across the antimeridian the layers are drawn round the centre of the CRS the analysis
    will choose for them (:func:`layers.deck.wrap_frame`, as the Map page draws them).

    Parameters
    ----------
    border, sensors, sectors
        Checked layers as :mod:`geo.inputs` returns them; None leaves a layer out.
    colours
        Partner colours (RGB) by partner id; partners without one get the map's palette
        (:func:`layers.style.partner_colors`).
    height
        The map's height in pixels.

    Raises
    ------
    ValueError
        No layer given, or a layer not in EPSG:4326.
    """
    given = [f for f in (border, sectors, sensors) if f is not None and len(f)]
    if not given:
        raise ValueError("operation_preview_deck needs at least one non-empty layer")
    centre = None  # a layer in another CRS is refused by its builder below, as it says
    if all(f.crs is not None and f.crs.equals("EPSG:4326") for f in given):
        xy = np.concatenate([shapely.get_coordinates(f.geometry.to_numpy()) for f in given])
        centre = choose_analysis_crs(xy[:, 0], xy[:, 1]).lon_centre_deg
    border, sectors, sensors = (
        None if f is None else lk.wrap_frame(f, centre) for f in (border, sectors, sensors)
    )
    frames = [f for f in (border, sectors, sensors) if f is not None and len(f)]
    x0 = min(float(f.total_bounds[0]) for f in frames)
    y0 = min(float(f.total_bounds[1]) for f in frames)
    x1 = max(float(f.total_bounds[2]) for f in frames)
    y1 = max(float(f.total_bounds[3]) for f in frames)
    ids: set[str] = set()
    for frame in (sensors, sectors):
        if frame is not None and "partner" in frame:
            ids |= {str(p) for p in frame["partner"].dropna()}
    palette = partner_colors(ids) | dict(colours or {})
    box = (x0 - 6.0, y0 - 4.0, x1 + 6.0, y1 + 4.0)  # as the main map's (cut: see preview_deck)
    layers = [lk.basemap_layer(across_the_world(box, lk.load_countries), clip_to=box)]
    if sectors is not None and len(sectors):
        layers.append(lk.sectors_layer(sectors, palette))
    if border is not None and len(border):
        layers.append(lk.border_layer(border))
    if sensors is not None and len(sensors):
        layers.append(lk.sensors_layer(sensors, palette))
    pad = 0.05 * max(x1 - x0, y1 - y0, 0.2)
    view = lk.view_state((x0 - pad, y0 - pad, x1 + pad, y1 + pad), height_px=height)
    return lk.deck(layers, view, height=height), _caption(border, sensors, sectors)
