"""The Plan page's map and snapshot: suggested sites, numbered by rank, over the plan's coverage.

The map of a plan is drawn over the analysis *with* the suggested sites (existing sensors and
the sites, their footprints, the gaps left): the border stretches the sites close are drawn
thick in green (as the Sensors page draws border gained), each site is a dark dot with its
rank on it, and its tooltip gives the km it gains and the gaps it closes. A placement grid
under them makes empty ground clickable (a click names a cell, whose centre a site moves to).

Examples
--------
>>> import geopandas as gpd, shapely
>>> sites = gpd.GeoDataFrame({"rank": [1], "sensor_id": ["P-1"], "kind": ["tower"],
...     "gain_km": [4.25], "covered_km_after": [12.5], "range_m": [3000.0],
...     "gaps_closed": [[{"segment": 0, "start_km": 1.0, "end_km": 3.5}]]},
...     geometry=[shapely.Point(24.1, 54.02)], crs=4326)
>>> print(sites_layer(sites).data[0]["tooltip"])
Site 1 (tower, P-1)
gain: 4.25 km of border
gaps closed: 1 (km 1.00–3.50)
covered after: 12.50 km
position: 54.02000, 24.10000
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import geopandas as gpd
import pydeck as pdk

from geo.coverage.analysis import Analysis
from layers import deck as lk
from layers import style
from layers.changes import placement_grid_layer, placement_grid_outline_layer, stretches_layer
from layers.map import MAP_HEIGHT_PX, MAP_WIDTH_PX, assemble, build_layers
from layers.snapshot import snapshot_bytes

__all__ = [
    "SITE_FILL",
    "plan_deck",
    "plan_snapshot",
    "site_numbers_layer",
    "sites_layer",
]

#: A suggested site: :data:`layers.style.SITE_FILL` with a white ring and its rank in white.
SITE_FILL: Final[list[int]] = list(style.SITE_FILL)
SITE_LINE: Final[list[int]] = list(style.SITE_LINE)
#: The site being moved: an amber ring around it.
SELECTED_LINE: Final[list[int]] = [255, 176, 0, 255]

#: The analysis layers under the plan, bottom first.
BASE_KEYS: tuple[str, ...] = ("basemap", "corridor", "footprints", "gaps", "sensors")


def _closed_text(gaps: Any) -> str:
    """The gaps a site closes in words: "2 (km 1.00–3.50, km 7.10–8.00)"."""
    items = list(gaps) if isinstance(gaps, Iterable) and not isinstance(gaps, str) else []
    if not items:
        return "0"
    spans = [f"km {float(g['start_km']):,.2f}–{float(g['end_km']):,.2f}" for g in items[:3]]
    more = ", …" if len(items) > 3 else ""
    return f"{len(items)} ({', '.join(spans)}{more})"


def sites_layer(sites: gpd.GeoDataFrame, *, selected: int | None = None) -> pdk.Layer:
    """The suggested sites as dots (id ``plan_sites``), each with a tooltip.

    ``sites``: the plan's sites (EPSG:4326; columns ``rank``, ``sensor_id``, ``kind``,
    ``gain_km``, ``covered_km_after``, ``gaps_closed``). ``selected``: the rank of the site
    being moved, ringed in amber. A picked object carries ``rank``.
    """
    lk._require_wgs84(sites, "suggested sites")
    data = []
    for _, r in sites.iterrows():
        rank = int(r["rank"])
        pt = r.geometry
        data.append(
            {
                "p": [round(float(pt.x), 5), round(float(pt.y), 5)],
                "rank": rank,
                "l": SELECTED_LINE if rank == selected else SITE_LINE,
                "tooltip": lk._tooltip(
                    f"Site {rank} ({str(r['kind']).replace('_', ' ')}, {r['sensor_id']})",
                    {
                        "gain": f"{float(r['gain_km']):,.2f} km of border",
                        "gaps closed": _closed_text(r.get("gaps_closed")),
                        "covered after": f"{float(r['covered_km_after']):,.2f} km",
                        "position": f"{pt.y:.5f}, {pt.x:.5f}",
                    },
                ),
            }
        )
    return pdk.Layer(
        "ScatterplotLayer",
        data=data,
        id="plan_sites",
        get_position="p",
        get_fill_color=SITE_FILL,
        get_line_color="l",
        stroked=True,
        line_width_units="'pixels'",
        get_line_width=2,
        get_radius=900,
        radius_min_pixels=9,
        radius_max_pixels=14,
        pickable=True,
    )


def site_numbers_layer(sites: gpd.GeoDataFrame) -> pdk.Layer:
    """Each site's rank on its dot (id ``plan_site_numbers``), white, in pixels."""
    lk._require_wgs84(sites, "suggested sites")
    data = [
        {"p": [round(float(pt.x), 5), round(float(pt.y), 5)], "t": str(int(rank))}
        for pt, rank in zip(sites.geometry, sites["rank"], strict=True)
    ]
    return pdk.Layer(
        "TextLayer",
        data=data,
        id="plan_site_numbers",
        get_position="p",
        get_text="t",
        get_size=11,
        size_units="'pixels'",
        get_color=[255, 255, 255, 255],
        font_weight=700,
        get_text_anchor="'middle'",
        get_alignment_baseline="'center'",
        pickable=False,
    )


def plan_deck(
    after: Analysis,
    sites: gpd.GeoDataFrame,
    *,
    closed: gpd.GeoDataFrame | None = None,
    grid: gpd.GeoDataFrame | None = None,
    partner: str | None = None,
    selected: int | None = None,
    height: int = MAP_HEIGHT_PX,
    width: int = MAP_WIDTH_PX,
) -> lk.CompactDeck:
    """The map of a plan: ``after``'s layers, the border it closes, the numbered sites.

    Parameters
    ----------
    after
        The analysis of the existing sensors and the sites (its gaps are those left).
    sites
        The plan's sites (see :func:`sites_layer`).
    closed
        Border stretches the sites close (:func:`geo.operations.changed_stretches`, the
        ``gained`` ones), drawn green over the border.
    grid
        A placement grid (:func:`geo.operations.placement_grid`), drawn under the border and
        the sensors: a click on empty ground picks its cell.
    partner
        The partner planned for: other partners' sectors, sensors and gaps muted.
    selected
        The rank of the site being moved (ringed).
    """
    parts = {key: build_layers(after, key, partner=partner) for key in BASE_KEYS}
    base = assemble(after, parts, height=height, width=width)
    layers = list(base.layers)
    at = next((i for i, layer in enumerate(layers) if layer.id == "sensors"), len(layers))
    drawn: list[pdk.Layer] = []
    if grid is not None:
        drawn += [placement_grid_outline_layer(grid), placement_grid_layer(grid)]
    if closed is not None and len(closed):
        drawn += [stretches_layer(closed, casing=True), stretches_layer(closed)]
    layers[at:at] = drawn
    layers += [sites_layer(sites, selected=selected), site_numbers_layer(sites)]
    return lk.deck(layers, base.initial_view_state, height=height)


def plan_snapshot(
    after: Analysis,
    sites: gpd.GeoDataFrame,
    *,
    fmt: str,
    partner: str | None = None,
    title: str | None = None,
    banner: str | None = None,
    partner_names: Mapping[str, str] | None = None,
    shown: Sequence[str] | None = None,
    timezone: str = "UTC",
) -> bytes:
    """A snapshot (PNG or PDF, :func:`layers.snapshot.snapshot_bytes`) of a plan.

    The map of ``after`` (the existing sensors and the sites) with the sites drawn on top,
    numbered by rank, as on the page.
    """
    options: dict[str, Any] = {
        "partner": partner,
        "shown": shown,
        "title": title,
        "partner_names": partner_names,
        "timezone": timezone,
        "extra_layers": [sites_layer(sites), site_numbers_layer(sites)],
    }
    if banner is not None:
        options["banner"] = banner
    return snapshot_bytes(after, fmt="pdf" if fmt == "pdf" else "png", **options)
