"""The sensor editor's maps: border stretches gained and lost, sensors, a placement grid.

A change of sensors (the table being edited, or one sensor version against another) is drawn
over the analysis *after* the change: its footprints and sensors, the border as a thin line,
and each stretch gained (green) or lost (red) drawn thick over it
(:func:`geo.operations.changed_stretches` gives them). The placement grid's cells are
pickable squares: a click names the cell, whose centre becomes a new sensor's position.
"""

from __future__ import annotations

from typing import Any, Final

import geopandas as gpd
import pandas as pd
import pydeck as pdk

from geo.coverage.analysis import Analysis
from layers import deck as lk
from layers.map import MAP_HEIGHT_PX, MAP_WIDTH_PX, assemble, build_layers

__all__ = [
    "GAINED",
    "LOST",
    "change_deck",
    "placement_grid_layer",
    "placement_grid_outline_layer",
    "stretches_layer",
]

#: A stretch of border watched after the change and not before (Okabe–Ito bluish green).
GAINED: Final[list[int]] = [0, 158, 115, 255]
#: A stretch watched before the change and a gap after it (crimson: no partner's orange).
LOST: Final[list[int]] = [200, 0, 40, 255]
#: A white casing under both, so they stand out from footprints and partner colours.
CASING: Final[list[int]] = [255, 255, 255, 235]
#: The placement grid: a faint outline, no fill. (No highlight under the pointer: redrawing
#: it on every move kept deck.gl in software WebGL from reporting clicks.)
GRID_LINE: Final[list[int]] = [60, 60, 140, 45]
GRID_FILL: Final[list[int]] = [0, 0, 0, 0]

#: The analysis layers under the change, bottom first.
BASE_KEYS: tuple[str, ...] = ("basemap", "corridor", "footprints", "sensors")


def stretches_layer(stretches: gpd.GeoDataFrame, *, casing: bool = False) -> pdk.Layer:
    """The stretches gained (green) and lost (red), thick lines with a tooltip (id ``changes``).

    ``stretches``: the frame of :func:`geo.operations.changed_stretches` (EPSG:4326).
    ``casing``: the white casing drawn under them instead (id ``changes_casing``).
    """
    layer_id = "changes_casing" if casing else "changes"
    lk._require_wgs84(stretches, "changed stretches")

    def props(r: pd.Series) -> dict[str, Any]:
        gained = r["change"] == "gained"
        return {
            "c": GAINED if gained else LOST,
            "change": str(r["change"]),
            "tooltip": lk._tooltip(
                "Gained: now watched" if gained else "Lost: now a gap",
                {
                    "length": f"{r['length_km']:,.2f} km",
                    "chainage": (
                        f"km {r['start_km']:,.2f}–{r['end_km']:,.2f} of segment {r['segment']}"
                    ),
                },
            ),
        }

    return pdk.Layer(
        "PathLayer",
        data=lk._path_records(stretches, props),
        id=layer_id,
        get_path="path",
        get_color=CASING if casing else "c",
        get_width=11 if casing else 7,
        width_units="'pixels'",
        cap_rounded=True,
        pickable=not casing,
    )


def placement_grid_layer(cells: gpd.GeoDataFrame) -> pdk.Layer:
    """The placement grid's squares, pickable, filled and not stroked (id ``placement_grid``).

    ``cells``: :func:`geo.operations.placement_grid`. A picked object carries ``cell``,
    ``lon`` and ``lat`` (the centre, degrees). The outlines are another layer
    (:func:`placement_grid_outline_layer`), not pickable: deck.gl picks on the pointer-down,
    and with the outlines in the picking pass a press took 340-460 ms on software WebGL,
    past the 250 ms after which a press no longer counts as a click (without: 10-20 ms).
    """
    lk._require_wgs84(cells, "placement grid")
    data = lk._polygon_records(
        cells,
        lambda r: {
            "cell": int(r["cell"]),
            "lon": float(r["lon"]),
            "lat": float(r["lat"]),
            "tooltip": lk._tooltip(
                f"Cell {int(r['cell'])}", {"centre": f"{r['lat']:.5f}, {r['lon']:.5f}"}
            ),
        },
        simplify_deg=0.0,
    )
    return pdk.Layer(
        "PolygonLayer",
        data=data,
        id="placement_grid",
        get_polygon="polygon",
        get_fill_color=GRID_FILL,
        stroked=False,
        filled=True,
        pickable=True,
    )


def placement_grid_outline_layer(cells: gpd.GeoDataFrame) -> pdk.Layer:
    """The placement grid's outlines: faint lines, not pickable (id ``placement_grid_lines``)."""
    lk._require_wgs84(cells, "placement grid")
    outlines = gpd.GeoDataFrame(geometry=cells.geometry.boundary, crs=cells.crs)
    return pdk.Layer(
        "PathLayer",
        data=lk._path_records(outlines, lambda r: {}),
        id="placement_grid_lines",
        get_path="path",
        get_color=GRID_LINE,
        width_min_pixels=1,
        pickable=False,
    )


def change_deck(
    after: Analysis,
    stretches: gpd.GeoDataFrame,
    *,
    grid: gpd.GeoDataFrame | None = None,
    height: int = MAP_HEIGHT_PX,
    width: int = MAP_WIDTH_PX,
) -> lk.CompactDeck:
    """The map of a change: ``after``'s footprints, the border, the stretches, the sensors.

    ``grid``: a placement grid drawn under the border and the sensors (a click on empty
    ground picks its cell).
    """
    parts = {key: build_layers(after, key) for key in BASE_KEYS}
    base = assemble(after, parts, height=height, width=width)
    layers = list(base.layers)
    at = next(
        (i for i, layer in enumerate(layers) if layer.id == "sensors"),
        len(layers),
    )
    drawn = [
        lk.border_line_layer(after.layers["border"]),
        stretches_layer(stretches, casing=True),
        stretches_layer(stretches),
    ]
    if grid is not None:  # under the border and the sensors: those keep their tooltips
        drawn[:0] = [placement_grid_outline_layer(grid), placement_grid_layer(grid)]
    layers[at:at] = drawn
    return lk.deck(layers, base.initial_view_state, height=height)
