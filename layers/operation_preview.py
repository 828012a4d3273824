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

from layers import deck as lk
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
    frames = [f for f in (border, sectors, sensors) if f is not None and len(f)]
    if not frames:
        raise ValueError("operation_preview_deck needs at least one non-empty layer")
    x0 = min(float(f.total_bounds[0]) for f in frames)
    y0 = min(float(f.total_bounds[1]) for f in frames)
    x1 = max(float(f.total_bounds[2]) for f in frames)
    y1 = max(float(f.total_bounds[3]) for f in frames)
    ids: set[str] = set()
    for frame in (sensors, sectors):
        if frame is not None and "partner" in frame:
            ids |= {str(p) for p in frame["partner"].dropna()}
    palette = partner_colors(ids) | dict(colours or {})
    layers = [lk.basemap_layer(lk.load_countries((x0 - 3, y0 - 3, x1 + 3, y1 + 3)))]
    if sectors is not None and len(sectors):
        layers.append(lk.sectors_layer(sectors, palette))
    if border is not None and len(border):
        layers.append(lk.border_layer(border))
    if sensors is not None and len(sensors):
        layers.append(lk.sensors_layer(sensors, palette))
    pad = 0.05 * max(x1 - x0, y1 - y0, 0.2)
    view = lk.view_state((x0 - pad, y0 - pad, x1 + pad, y1 + pad), height_px=height)
    return lk.deck(layers, view, height=height), _caption(border, sensors, sectors)
