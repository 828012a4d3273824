"""The whole map of one view: which layers, in which order, with what data.

Shared by the app (cached in ``ui.map_deck``), the benchmarks and the tests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from pyproj import Geod

from geo.basemap import gazetteer as places_mod
from geo.core import settings
from geo.core.antimeridian import wrap_geometries, wrap_lon
from geo.core.projection import choose_analysis_crs, to_lonlat, to_projected
from geo.coverage.analysis import Analysis
from geo.coverage.hexbin import hexbin
from geo.coverage.views import gap_ranks, gap_rows_in_view, gaps_in_view
from geo.terrain.hillshade import coverage_image, read_hillshade_faded
from layers import deck as lk
from layers import style
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
    "basemap": "Countries and places",
    "hillshade": "Terrain (hillshade)",
    "coverage_count": "Coverage count (terrain)",
}
DEFAULT_OFF = {"overlap_areas", "overlaps", "hillshade", "coverage_count"}
#: The layers a map shows unless told otherwise: every one not in :data:`DEFAULT_OFF`.
DEFAULT_SHOWN: tuple[str, ...] = tuple(k for k in LAYERS if k not in DEFAULT_OFF)

#: Height (px) of the map: with the title and the headline above it, the whole map shows
#: without scrolling in a 1600 × 1000 window.
MAP_HEIGHT_PX: int = 560
#: Width (px) the initial view is fitted to: the map column at 1600 px with the sidebar open
#: is 847 px; fitting to less leaves a margin on wider screens rather than cutting the ends.
MAP_WIDTH_PX: int = 760
#: Margin (px) kept between the corridor and the map's edges in the initial view.
MAP_MARGIN_PX: int = 28
#: Gaps labelled on the map ("G1 26.9 km"), longest first, if at least GAP_LABEL_MIN_KM long.
GAP_LABELS: int = 8
GAP_LABEL_MIN_KM: float = 1.0
#: Detection hexagons on the map (m across flats): about 8 px at the fitted zoom of a
#: 300 km border.
MAP_HEXAGON_M: float = 4_000.0
#: The hillshade fades out this far beyond the corridor (km), on a grid this many px across.
HILLSHADE_FADE_KM: float = 8.0
HILLSHADE_PX: int = 900
#: Simplification (degrees) of polygons traced from DEM cells: about one sample cell.
RASTER_SIMPLIFY_DEG: float = 0.001
#: Gazetteer places labelled on the map, most important first.
PLACE_LABELS: int = 14


def build_map(
    result: Analysis,
    *,
    partner: str | None = None,
    shown: Iterable[str] = DEFAULT_SHOWN,
    height: int = MAP_HEIGHT_PX,
    width: int = MAP_WIDTH_PX,
    dem: str | Path | None = None,
    focus: tuple[float, float, float] | None = None,
    hexagons: gpd.GeoDataFrame | None = None,
    total: int | None = None,
) -> lk.CompactDeck:
    """Build the deck of one view of an analysis.

    Parameters
    ----------
    result
        The analysis (already restricted to the time window, see ``Analysis.windowed``).
    partner
        Partner whose assets lead; others are muted; only its gaps are drawn and labelled.
        ``None``: joint view.
    shown
        Keys of :data:`LAYERS` to draw.
    height, width
        Map size (px) the initial view is fitted to.
    dem
        Terrain model for the ``hillshade`` layer (drawn only when given). The
        ``coverage_count`` layer is drawn when the analysis used a DEM.
    focus
        ``(lon, lat, zoom)`` to open on instead of the whole corridor (a selected gap).
    hexagons, total
        The window's detections counted per hexagon and how many there are, when the
        ``detections`` layer holds fewer (:class:`geo.mapview.MapWindow`): drawn as
        :func:`detections_layers` draws them. ``None``: counted from the layer.

    Notes
    -----
    Detections are counted in hexagons at the fitted zoom and appear as points when the
    user zooms in (in the browser, no rerun). The view depends only on the corridor and
    ``focus``, so a user's pan and zoom survive ordinary reruns.
    """
    keys = drawable(result, shown, dem=dem)
    parts = {
        k: detections_layers(result, hexagons, total)
        if k == "detections"
        else build_layers(result, k, partner=partner, dem=dem)
        for k in keys
    }
    return assemble(
        result,
        parts,
        height=height,
        width=width,
        focus=focus,
    )


#: What each layer key depends on besides the analysis' geometry: the partner view (its
#: colours lead, its gaps are loud) and the time window and viewer (detection counts). A
#: cache of built layers keys each on these only, so a toggle or a partner switch rebuilds
#: just the layers that change.
DEPENDS_ON: dict[str, frozenset[str]] = {
    "basemap": frozenset(),
    "hillshade": frozenset(),
    "corridor": frozenset(),
    "gap_areas": frozenset(),
    "overlap_areas": frozenset(),
    "border": frozenset(),
    "overlaps": frozenset(),
    "coverage_count": frozenset({"partner"}),
    "footprints": frozenset({"partner"}),
    "gaps": frozenset({"partner"}),
    "sensors": frozenset({"partner"}),
    "sectors": frozenset({"partner", "window"}),
    "detections": frozenset({"window"}),
}


def drawable(result: Analysis, shown: Iterable[str], *, dem: str | Path | None = None) -> list[str]:
    """The keys of ``shown`` this analysis can draw, in drawing order (unknown keys refused)."""
    shown = set(shown)
    unknown = shown - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; expected some of {list(LAYERS)}")
    available = {
        k
        for k in LAYERS
        if (k != "detections" or "detections" in result.layers)
        and (k != "hillshade" or dem is not None)
        and (k != "coverage_count" or result.coverage is not None)
    }
    return [k for k in _ORDER if k in shown & available]


def build_layers(
    result: Analysis, key: str, *, partner: str | None = None, dem: str | Path | None = None
) -> list[pdk.Layer]:
    """The deck layers of one key of :data:`LAYERS` (a key may draw several, e.g. labels)."""
    return _BUILDERS[key](result, partner, dem)


def assemble(
    result: Analysis,
    parts: Mapping[str, list[pdk.Layer]],
    *,
    height: int = MAP_HEIGHT_PX,
    width: int = MAP_WIDTH_PX,
    focus: tuple[float, float, float] | None = None,
) -> lk.CompactDeck:
    """The deck from the layers of each key (:func:`build_layers`), labels on top, and its view."""
    layers = _labels_on_top([layer for key in _ORDER if key in parts for layer in parts[key]])
    fitted = lk.view_state(
        _extent(result), width_px=width, height_px=height, margin_px=MAP_MARGIN_PX
    )
    layers = declutter(layers, fitted)
    if focus is not None:
        lon = float(wrap_lon(focus[0], result.acrs.lon_centre_deg))
        view = pdk.ViewState(longitude=lon, latitude=focus[1], zoom=focus[2], pitch=0, bearing=0)
    else:
        view = fitted
    return lk.deck(layers, view, height=height)


#: Labels that give way (dropped where they would overlap a label of a layer before them,
#: at the fitted zoom); sector labels never do, a gap's label only to a longer gap's.
YIELDING_LABELS: tuple[str, ...] = ("country_labels", "place_labels")


def label_boxes(layer: pdk.Layer, view: pdk.ViewState) -> np.ndarray:
    """Approximate screen boxes (x0, y0, x1, y1, px) of a text layer's labels in a view.

    Glyphs are taken as 0.6 em wide and lines 1.2 em high, which holds for the sans-serif
    fonts browsers use; positions are projected as deck.gl does (512-px Web Mercator world).
    """
    data = layer.data if isinstance(layer.data, list) else []
    if not data:
        return np.empty((0, 4))
    size = float(getattr(layer, "get_size", 12) or 12)
    n = len(data)
    offset = getattr(layer, "get_pixel_offset", None) or [0.0, 0.0]
    if isinstance(offset, str):  # per label ("@@=o", after declutter)
        dx = np.array([d[offset[3:]][0] for d in data], dtype=float)
        dy = np.array([d[offset[3:]][1] for d in data], dtype=float)
    else:
        dx, dy = np.full(n, float(offset[0])), np.full(n, float(offset[1]))
    anchor_of = str(getattr(layer, "get_text_anchor", "'middle'")).strip("'")
    anchor = (
        np.array([d[anchor_of[3:]] for d in data])
        if anchor_of.startswith("@@=")
        else np.full(n, anchor_of)
    )
    scale = 512 * 2**view.zoom
    lon = np.array([d["p"][0] for d in data], dtype=float)
    lat = np.array([d["p"][1] for d in data], dtype=float)

    def merc(phi: np.ndarray) -> np.ndarray:
        return np.log(np.tan(np.pi / 4 + np.radians(phi) / 2))

    x = (lon - view.longitude) / 360 * scale + dx
    y = (merc(np.asarray(view.latitude)) - merc(lat)) / (2 * np.pi) * scale + dy
    lines = [str(d["t"]).split("\n") for d in data]
    w = np.array([0.6 * size * max(len(t) for t in ls) + 6 for ls in lines])
    h = np.array([1.2 * size * len(ls) + 2 for ls in lines])
    x0 = np.where(anchor == "start", x, np.where(anchor == "end", x - w, x - w / 2))
    return np.column_stack([x0, y - h / 2, x0 + w, y + h / 2])


def declutter(layers: list[pdk.Layer], view: pdk.ViewState) -> list[pdk.Layer]:
    """Give way with yielding labels (:data:`YIELDING_LABELS`) that overlap labels before them.

    A place's name moves to the left of its dot when the right is taken, and is dropped
    (with its dot) when both are; a country name is dropped. Returns new layer objects where
    labels moved or went (built layers are shared by the cache and never changed).
    """
    by_id = {layer.id: layer for layer in layers}
    placed: dict[str, list[tuple[int, bool]]] = {}  # per layer: (label index, flipped left)
    taken: list[np.ndarray] = []
    if (
        "gap_labels" in by_id
    ):  # a gap label gives way only to a longer gap's (they come longest first)
        keep_gaps: list[tuple[int, bool]] = []
        for i, b in enumerate(label_boxes(by_id["gap_labels"], view)):
            others = np.vstack(taken) if taken else np.empty((0, 4))
            if not (
                (others[:, 0] < b[2])
                & (others[:, 2] > b[0])
                & (others[:, 1] < b[3])
                & (others[:, 3] > b[1])
            ).any():
                keep_gaps.append((i, False))
                taken.append(b[None, :])
        placed["gap_labels"] = keep_gaps
    if "sector_labels" in by_id:
        taken.append(label_boxes(by_id["sector_labels"], view))
    for layer_id in YIELDING_LABELS:
        if layer_id not in by_id:
            continue
        layer = by_id[layer_id]
        tries = [label_boxes(layer, view)]
        if layer_id == "place_labels":  # the same labels to the left of their dots
            dx = float((getattr(layer, "get_pixel_offset", None) or [0.0])[0])
            width = tries[0][:, 2] - tries[0][:, 0]
            left = tries[0].copy()
            left[:, 2] = left[:, 0] - 2 * dx
            left[:, 0] = left[:, 2] - width
            tries.append(left)
        keep: list[tuple[int, bool]] = []
        for i in range(len(tries[0])):
            for flipped, boxes in enumerate(tries):
                b = boxes[i]
                others = np.vstack(taken) if taken else np.empty((0, 4))
                if not (
                    (others[:, 0] < b[2])
                    & (others[:, 2] > b[0])
                    & (others[:, 1] < b[3])
                    & (others[:, 3] > b[1])
                ).any():
                    keep.append((i, bool(flipped)))
                    taken.append(b[None, :])
                    break
        placed[layer_id] = keep
    out = []
    for layer in layers:
        which = placed.get("place_labels" if layer.id == "places" else layer.id)
        if which is None or (len(which) == len(layer.data) and not any(f for _, f in which)):
            out.append(layer)
            continue
        clone = copy.copy(layer)
        clone.data = [layer.data[i] for i, _ in which]
        if layer.id == "place_labels" and any(f for _, f in which):
            dx, dy = (getattr(layer, "get_pixel_offset", None) or [0.0, 0.0])[:2]
            clone.data = [
                {**layer.data[i], "a": "end" if f else "start", "o": [-dx if f else dx, dy]}
                for i, f in which
            ]
            clone.get_text_anchor = "@@=a"
            clone.get_pixel_offset = "@@=o"
        out.append(clone)
    return out


#: The layer key of :data:`LAYERS` each drawn sub-layer belongs to (the rest are their own key).
PART_OF: dict[str, str] = {
    "country_labels": "basemap",
    "places": "basemap",
    "place_labels": "basemap",
    "sector_labels": "sectors",
    "gap_labels": "gaps",
    "border_line": "gaps",
    "gaps_others": "gaps",
    "gap_detections": "detections",
    "detection_points_outside": "detections",
    "detection_points_coverage": "detections",
    "detection_points_gap": "detections",
    "sensor_symbols": "sensors",
    "moment_watched_casing": "moment_watched",
}


def layer_keys(layer_ids: Iterable[str]) -> list[str]:
    """The :data:`LAYERS` keys a deck's layers draw, in drawing order, each once.

    Examples
    --------
    >>> layer_keys(["border", "gaps", "border_line", "gap_labels"])
    ['border', 'gaps']
    """
    out: list[str] = []
    for layer_id in layer_ids:
        key = PART_OF.get(layer_id, layer_id)
        if key not in out:
            out.append(key)
    return out


def focus_on(
    lon: float,
    lat: float,
    length_km: float,
    *,
    width: int = MAP_WIDTH_PX,
    height: int = MAP_HEIGHT_PX,
) -> tuple[float, float, float]:
    """``(lon, lat, zoom)`` that shows a stretch of ``length_km`` around a point, with a margin."""
    half_deg = max(length_km, 4.0) / 111.32 * 1.5
    cos = max(np.cos(np.radians(lat)), 0.05)
    box = (lon - half_deg / cos, lat - half_deg, lon + half_deg / cos, lat + half_deg)
    v = lk.view_state(box, width_px=width, height_px=height)
    return (round(lon, 5), round(lat, 5), round(float(v.zoom), 2))


def _labels_on_top(layers: list[pdk.Layer]) -> list[pdk.Layer]:
    """Text and place layers drawn last (in their own order), so no fill hides a name."""
    text = [layer for layer in layers if layer.id in _LABEL_IDS]
    return [layer for layer in layers if layer.id not in _LABEL_IDS] + sorted(
        text, key=lambda layer: _LABEL_IDS.index(layer.id)
    )


_LABEL_IDS = ["country_labels", "places", "place_labels", "sector_labels", "gap_labels"]


def on_map(gdf: gpd.GeoDataFrame, result: Analysis) -> gpd.GeoDataFrame:
    """``gdf`` as the map draws it: longitudes wrapped round the analysis' centre.

    :func:`layers.deck.wrap_frame` with the analysis CRS's centre: everything of an
    analysis near the antimeridian lies together, past 180° where it crosses. ``gdf``
    itself when nothing moves (every analysis away from 180°); otherwise a copy.
    """
    return lk.wrap_frame(gdf, result.acrs.lon_centre_deg)


def _extent(result: Analysis) -> tuple[float, float, float, float]:
    """What the initial view fits: the corridor and the sectors."""
    boxes = [on_map(result.layers["corridor"], result).total_bounds]
    if len(result.layers["sectors"]):
        boxes.append(on_map(result.layers["sectors"], result).total_bounds)
    b = np.asarray(boxes, dtype=float)
    return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))


def _bounds(
    result: Analysis, pad: tuple[float, float] = (6.0, 4.0)
) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = on_map(result.layers["corridor"], result).total_bounds
    return (xmin - pad[0], ymin - pad[1], xmax + pad[0], ymax + pad[1])


def _basemap(result: Analysis, partner: str | None, dem: str | Path | None) -> list[pdk.Layer]:
    box = _bounds(result)
    countries = across_the_world(box, lk.load_countries)
    out = [lk.basemap_layer(countries, clip_to=box)]
    xmin, ymin, xmax, ymax = _extent(result)
    near = (xmin - 0.6, ymin - 0.3, xmax + 0.6, ymax + 0.3)
    labels = across_the_world(near, places_mod.country_labels)
    if len(labels):
        out.append(
            lk.labels_layer(
                pd.DataFrame(
                    {
                        "lon": labels.geometry.x,
                        "lat": labels.geometry.y,
                        "text": labels["name"].str.upper(),
                    }
                ),
                id="country_labels",
                size_px=15,
                color=list(style.COUNTRY_LABEL),
                weight=700,
            )
        )
    towns = across_the_world(near, lambda b: places_mod.places(b, limit=PLACE_LABELS))
    if len(towns) > PLACE_LABELS:  # pieces on both sides of 180°: the most important in all
        towns = towns.sort_values(
            ["rank", "population"], ascending=[True, False], kind="stable"
        ).head(PLACE_LABELS)
    if len(towns):
        out.append(lk.places_layer(towns))
        out.append(
            lk.labels_layer(
                pd.DataFrame(
                    {"lon": towns.geometry.x, "lat": towns.geometry.y, "text": towns["name"]}
                ),
                id="place_labels",
                size_px=11,
                color=list(style.PLACE),
                weight=500,
                anchor="start",
                offset_px=(5.0, 0.0),
            )
        )
    return out


def across_the_world(
    box: tuple[float, float, float, float],
    read: Callable[[tuple[float, float, float, float]], gpd.GeoDataFrame],
) -> gpd.GeoDataFrame:
    """What ``read`` finds in a box that may pass ±180° (the map's frame, :func:`on_map`).

    The box is read as pieces within ±180° (one away from the antimeridian), each piece's
    geometry moved by the whole turn that brings it into the box: the basemap of an
    analysis across 180° lies on both sides of it, as the analysis does.
    """
    west, south, east, north = box
    found = []
    for turn in (0.0, -360.0, 360.0):
        lo, hi = max(west - turn, -180.0), min(east - turn, 180.0)
        if lo >= hi:
            continue
        got = read((lo, south, hi, north))
        if turn and len(got):
            step = np.array([turn, 0.0])
            moved = shapely.transform(got.geometry.to_numpy(), lambda c, s=step: c + s)
            got = got.copy()
            got[got.geometry.name] = gpd.GeoSeries(moved, index=got.index, crs=got.crs)
        found.append(got)
    return found[0] if len(found) == 1 else pd.concat(found, ignore_index=True)


def _sectors(result: Analysis, partner: str | None, dem: str | Path | None) -> list[pdk.Layer]:
    sectors = result.layers["sectors"]
    colors = partner_colors(result.report["partners"], result.partner_colours)
    out = [lk.sectors_layer(on_map(sectors, result), colors, highlight=partner)]
    if len(sectors):
        acrs = result.acrs
        pts = to_lonlat(
            shapely.point_on_surface(to_projected(sectors.geometry.to_numpy(), acrs)), acrs
        )
        pts = wrap_geometries(pts, acrs.lon_centre_deg)
        names = (
            sectors["name"].fillna("").astype(str)
            if "name" in sectors
            else pd.Series("", index=sectors.index)
        )
        text = sectors["sector_id"].astype(str) + np.where(names != "", "\n" + names, "")
        dark = [
            [*_darker(colors.get(str(p), (90, 90, 90))), 255 if partner in (None, str(p)) else 110]
            for p in sectors["partner"]
        ]
        out.append(
            lk.labels_layer(
                pd.DataFrame(
                    {
                        "lon": shapely.get_x(pts),
                        "lat": shapely.get_y(pts),
                        "text": text,
                        "color": dark,
                    }
                ),
                id="sector_labels",
                size_px=11,
                weight=700,
                background=[255, 255, 255, 150],
            )
        )
    return out


def _darker(rgb: tuple[int, int, int], factor: float = 0.55) -> tuple[int, int, int]:
    return (int(rgb[0] * factor), int(rgb[1] * factor), int(rgb[2] * factor))


def _gaps(result: Analysis, partner: str | None, dem: str | Path | None) -> list[pdk.Layer]:
    """The view's gaps, loud and labelled; in a partner view, the others' gaps muted beneath.

    Another partner's gap is still blind border: drawn as watched it would tell the partner
    a lie, drawn loud it would not be the partner's story. It is a thin faded gap line.
    """
    gaps = on_map(result.layers["gaps"], result)
    in_view = gap_rows_in_view(gaps, partner)
    mine = gaps[in_view]
    ranks = gap_ranks(mine) if len(mine) else np.empty(0, dtype=np.int64)
    out = []
    if partner is not None and (~in_view).any():
        out.append(lk.gaps_layer(gaps[~in_view], muted=True))
    out.append(
        lk.gaps_layer(mine, ranks=dict(zip(mine.index.tolist(), ranks.tolist(), strict=True)))
    )
    head = [
        (i, g)
        for i, g in enumerate(gaps_in_view(result.report, partner)[:GAP_LABELS], start=1)
        if g["length_km"] >= GAP_LABEL_MIN_KM
    ]
    if head:
        out.append(
            lk.labels_layer(
                pd.DataFrame(
                    {
                        "lon": wrap_lon(
                            [g["midpoint"][0] for _, g in head], result.acrs.lon_centre_deg
                        ),
                        "lat": [g["midpoint"][1] for _, g in head],
                        "text": [f"G{i} {g['length_km']:,.1f} km" for i, g in head],
                    }
                ),
                id="gap_labels",
                size_px=12,
                color=[255, 255, 255, 255],
                weight=700,
                background=list(style.GAP),
                anchor="start",
                offset_px=(9.0, 0.0),
            )
        )
    return out


def _border(result: Analysis, partner: str | None, dem: str | Path | None) -> list[pdk.Layer]:
    return [lk.border_layer(on_map(result.layers["border"], result))]


def _border_line(result: Analysis) -> pdk.Layer:
    return lk.border_line_layer(on_map(result.layers["border"], result))


def _sensors(result: Analysis, partner: str | None, dem: str | Path | None) -> list[pdk.Layer]:
    sensors = on_map(result.layers["sensors"], result)
    colors = partner_colors(result.report["partners"], result.partner_colours)
    only = (
        dict(zip(sensors["sensor_id"].astype(str), sensors["sole_km"].astype(float), strict=True))
        if "sole_km" in sensors
        else None
    )
    return [
        lk.sensors_layer(sensors, colors, highlight=partner, only_km=only),
        lk.sensor_symbols_layer(sensors),
    ]


def _detections(
    result: Analysis, partner: str | None = None, dem: str | Path | None = None
) -> list[pdk.Layer]:
    return detections_layers(result)


def detections_layers(
    result: Analysis, hexagons: gpd.GeoDataFrame | None = None, total: int | None = None
) -> list[pdk.Layer]:
    """The detections key's layers: hexagon counts, gap circles, and points up to the limit.

    ``hexagons``: the window's detections counted per hexagon when the ``detections`` layer
    does not hold all of them (:func:`geo.coverage.streamed.hexagons`, cells of
    :data:`MAP_HEXAGON_M`); ``total``: how many the window holds (default: the layer's).
    Points are drawn when the window holds at most :data:`geo.core.settings.MAX_MAP_POINTS`
    and the layer holds them all.
    """
    det = on_map(result.layers["detections"], result)
    total = len(det) if total is None else total
    if not total:
        return [lk.detections_layer(det)]
    hexes = on_map(detection_hexagons(result) if hexagons is None else hexagons, result)
    out = [lk.hexagons_layer(hexes), lk.gap_detections_layer(hexes, size_m=MAP_HEXAGON_M)]
    if len(det) == total <= settings.MAX_MAP_POINTS:
        out.extend(lk.detection_points_layers(det))
    return out


def detection_hexagons(result: Analysis) -> gpd.GeoDataFrame:
    """The map's detection hexagons of an analysis (the hexagon a click on the map names)."""
    det = result.layers["detections"]
    return hexbin(
        det.assign(in_gap=det["coverage_status"] == "gap"),
        result.acrs,
        size_m=MAP_HEXAGON_M,
        flag="in_gap",
    )


def _coverage_layer(
    result: Analysis, partner: str | None, dem: str | Path | None
) -> list[pdk.Layer]:
    return [lk.coverage_count_layer(*_coverage(result, partner))]


def _hillshade(result: Analysis, partner: str | None, dem: str | Path | None) -> list[pdk.Layer]:
    shade, alpha, bounds = read_hillshade_faded(
        str(dem),
        result.layers["corridor"].union_all(),
        fade_km=HILLSHADE_FADE_KM,
        max_size_px=HILLSHADE_PX,
        z_factor=8.0,
    )
    return [lk.hillshade_layer(shade, bounds, alpha=alpha)]


def _simple(key: str) -> Callable[[Analysis, str | None, str | Path | None], list[pdk.Layer]]:
    def build(result: Analysis, partner: str | None, dem: str | Path | None) -> list[pdk.Layer]:
        lay = {k: on_map(v, result) for k, v in result.layers.items() if k in _SIMPLE}
        colors = partner_colors(result.report["partners"], result.partner_colours)
        if key == "corridor":
            return [
                lk.corridor_layer(
                    lay["corridor"], corridor_km=result.report["parameters"]["corridor_km"]
                )
            ]
        # Polygons of a terrain analysis follow DEM cells: simplified to about a cell, their
        # staircase edges drop out (at the fitted zoom a cell is a fifth of a pixel).
        tol = RASTER_SIMPLIFY_DEG if result.coverage is not None else lk.SIMPLIFY_DEG
        if key == "footprints":
            return [
                lk.footprints_layer(lay["footprints"], colors, highlight=partner, simplify_deg=tol)
            ]
        if key in ("gap_areas", "overlap_areas"):
            return [lk.areas_layer(lay[key], kind=key.split("_")[0], simplify_deg=tol)]
        if key == "overlaps":
            return [lk.overlaps_layer(lay["overlaps"])]
        raise ValueError(key)

    return build


#: The analysis layers :func:`_simple` draws.
_SIMPLE = ("corridor", "footprints", "gap_areas", "overlap_areas", "overlaps")

_BUILDERS: dict[str, Callable[[Analysis, str | None, str | Path | None], list[pdk.Layer]]] = {
    "basemap": _basemap,
    "hillshade": _hillshade,
    "coverage_count": _coverage_layer,
    "corridor": _simple("corridor"),
    "sectors": _sectors,
    "footprints": _simple("footprints"),
    "gap_areas": _simple("gap_areas"),
    "overlap_areas": _simple("overlap_areas"),
    "detections": _detections,
    "border": _border,
    "overlaps": _simple("overlaps"),
    "gaps": lambda r, p, d: [*_gaps(r, p, d), _border_line(r)],
    "sensors": _sensors,
}
#: Drawing order, bottom first: ground, areas, density, the border story, assets, labels.
_ORDER = [
    "basemap",
    "hillshade",
    "coverage_count",
    "corridor",
    "sectors",
    "footprints",
    "gap_areas",
    "overlap_areas",
    "detections",
    "border",
    "overlaps",
    "gaps",
    "sensors",
]


def _coverage(
    result: Analysis, partner: str | None
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The count to draw: all sensors in the joint view, the partner's own in a partner view."""
    grid = result.coverage
    assert grid is not None
    count = (
        grid.count
        if partner is None or partner not in grid.partners
        else grid.partner_count[grid.partners.index(partner)]
    )
    return coverage_image(count, grid.valid, transform=grid.transform, crs=grid.crs)


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
    lon, lat = detections.geometry.x.to_numpy(), detections.geometry.y.to_numpy()
    n = len(detections)
    # The CRS is fitted to a spread of the rows and their extreme ones (fast for millions).
    some = np.unique(
        np.concatenate(
            [
                np.linspace(0, n - 1, min(n, 20_000)).astype(np.int64),
                [np.argmin(lon), np.argmax(lon), np.argmin(lat), np.argmax(lat)],
            ]
        )
    )
    acrs = choose_analysis_crs(lon[some], lat[some])
    # drawn round the CRS's centre, as the main map (on_map): rows across 180° lie together
    drawn = lk.wrap_frame(detections, acrs.lon_centre_deg)
    x0, y0, x1, y1 = (float(v) for v in drawn.total_bounds)
    # the basemap cut to a box round the rows (as the main map's, :func:`_bounds`): whole
    # countries across 180° would be drawn on to the other side of the world
    box = (x0 - 6.0, y0 - 4.0, x1 + 6.0, y1 + 4.0)
    basemap = lk.basemap_layer(across_the_world(box, lk.load_countries), clip_to=box)
    view = lk.view_state((x0 - 0.05, y0 - 0.05, x1 + 0.05, y1 + 0.05), height_px=height)
    if n <= settings.MAX_MAP_POINTS:
        points = lk.detections_layer(drawn.assign(coverage_status="coverage"))
        return lk.deck([basemap, points], view, height=height), f"{n:,} row(s) as points"
    # the extent along the ground: the bounding box's diagonal on the WGS 84 ellipsoid
    extent_m = float(Geod(ellps="WGS84").inv(x0, y0, x1, y1)[2])
    size_m = max(settings.HEXAGON_SIZE_M, extent_m / PREVIEW_HEXAGONS_ACROSS / np.sqrt(3))
    hexes = lk.wrap_frame(hexbin(detections, acrs, size_m=size_m), acrs.lon_centre_deg)
    caption = (
        f"{n:,} rows: more than {settings.MAX_MAP_POINTS:,}, so counted in "
        f"{len(hexes):,} hexagons of {size_m / 1000:,.1f} km"
    )
    return lk.deck([basemap, lk.hexagons_layer(hexes)], view, height=height), caption
