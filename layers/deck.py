"""pydeck layer builders: one function per layer type.

Every builder takes a GeoDataFrame in EPSG:4326 (and refuses anything else, as lonboard
does), turns it into plain records with a pre-rendered ``tooltip`` text, and returns a
:class:`pydeck.Layer`. Coordinates are rounded to 5 decimals (about 1 m) to keep the payload
small. Nothing here fetches tiles: the basemap is the offline country layer.

pydeck sends every plain string keyword as an accessor *expression*: a constant string such as
a unit must be quoted inside the string (``width_units="'pixels'"``), or deck.gl receives an
unknown unit, falls back to metres and draws a 7-pixel line 7 × 2^zoom pixels wide.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, SupportsInt, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from pydeck.bindings.json_tools import default_serialize

from geo.core.antimeridian import wrap_geometries
from layers import style

_COUNTRIES = (
    Path(__file__).resolve().parent.parent / "geo" / "basemap" / "data" / "countries.geojson"
)
_DECIMALS = 5


def _require_wgs84(gdf: gpd.GeoDataFrame, what: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"{what}: expected a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None or not gdf.crs.equals("EPSG:4326"):
        raise ValueError(
            f"{what}: map layers need data in EPSG:4326 (lon/lat), got {gdf.crs}; "
            "reproject with gdf.to_crs(4326) first"
        )


def wrap_frame(gdf: gpd.GeoDataFrame, centre_deg: float | None) -> gpd.GeoDataFrame:
    """``gdf`` as a map centred at ``centre_deg`` draws it: longitudes wrapped round it.

    deck.gl draws lon/lat as given, one copy of the world: a line whose longitudes jump from
    180° to -180° is drawn round the world, and a point at -179.9° a world away from one at
    179.9°. Wrapped into the 360° round ``centre_deg`` (the analysis CRS's centre,
    :func:`geo.core.antimeridian.wrap_lon`), what lies near the analysis lies together, past
    180° where it crosses. Every layer of the map goes through this one function (the
    analysis' via :func:`layers.map.on_map`, the timeline's, the upload preview's).

    ``gdf`` itself when nothing moves (every map away from 180°) or ``centre_deg`` is
    ``None``; otherwise a copy (``gdf`` is not changed).

    Examples
    --------
    >>> line = gpd.GeoDataFrame(geometry=[shapely.LineString([(179.5, 65), (-179.5, 65)])],
    ...                         crs=4326)
    >>> wrap_frame(line, 180.0).total_bounds.tolist()
    [179.5, 65.0, 180.5, 65.0]
    """
    if centre_deg is None or not len(gdf):
        return gdf
    west, _, east, _ = gdf.total_bounds
    if not np.isfinite(west) or (west >= centre_deg - 180.0 and east < centre_deg + 180.0):
        return gdf
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(
        wrap_geometries(gdf.geometry.to_numpy(), centre_deg), index=gdf.index, crs=gdf.crs
    )
    return out


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


#: Lines of a tooltip at most (title included): a tooltip is a glance, details go beside the map.
TOOLTIP_LINES = 6


def _tooltip(title: str, fields: Mapping[str, Any]) -> str:
    r"""Plain text of a tooltip: the title, then one ``name: value`` line per field.

    The deck shows it as text (``{"text": "{tooltip}"}``): line breaks are kept, nothing is
    read as markup, so user text needs no escaping and never shows as raw HTML.

    Examples
    --------
    >>> _tooltip("Gap G1", {"length km": 26.91, "sectors": "<b>x</b>"})
    'Gap G1\nlength km: 26.91\nsectors: <b>x</b>'
    """
    rows = [f"{k}: {_fmt(v)}" for k, v in fields.items()][: TOOLTIP_LINES - 1]
    return "\n".join([title, *rows])


def _polygon_parts(geoms: np.ndarray) -> tuple[list[list[list[list[float]]]], np.ndarray]:
    """The rings of every polygon part (vectorised) and the row each part belongs to.

    Empty and missing geometries and parts that are not polygons give nothing.
    """
    parts, row = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, row = parts[keep], row[keep]
    if not len(parts):
        return [], row
    _, coords, (ring_offsets, part_offsets) = shapely.to_ragged_array(parts)
    xy = np.round(coords[:, :2], _DECIMALS).tolist()
    rings = [
        xy[a:b] for a, b in zip(ring_offsets[:-1].tolist(), ring_offsets[1:].tolist(), strict=True)
    ]
    return [
        rings[a:b]
        for a, b in zip(part_offsets[:-1].tolist(), part_offsets[1:].tolist(), strict=True)
    ], row


#: Polygons sent to the map are simplified to this tolerance (degrees; about 20 m north–south):
#: less than a pixel up to zoom 12, and the browser tessellates a third of the vertices.
SIMPLIFY_DEG: float = 0.0002


def _polygon_records(
    gdf: gpd.GeoDataFrame,
    props: Callable[[pd.Series], dict[str, Any]],
    *,
    simplify_deg: float = SIMPLIFY_DEG,
) -> list[dict[str, Any]]:
    """One record per polygon part (rings, see :func:`_polygon_parts`) with ``props`` of its row.

    Geometries are simplified to ``simplify_deg`` first (topology kept; 0: as they are).
    """
    geoms = gdf.geometry.array
    if simplify_deg > 0:
        geoms = shapely.simplify(
            np.asarray(geoms, dtype=object), simplify_deg, preserve_topology=True
        )
    polygons, row = _polygon_parts(geoms)
    of_row: dict[int, dict[str, Any]] = {}
    out = []
    for rings, i in zip(polygons, row.tolist(), strict=True):
        if i not in of_row:
            of_row[i] = props(gdf.iloc[i])
        out.append({"polygon": rings, **of_row[i]})
    return out


def _path_records(
    gdf: gpd.GeoDataFrame, props: Callable[[pd.Series], dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for _, row in gdf.iterrows():
        geom = row.geometry
        if geom is None or geom.is_empty:
            continue
        p = props(row)
        for part in shapely.get_parts(geom):
            if part.geom_type == "LineString":
                path = np.round(np.asarray(part.coords)[:, :2], _DECIMALS).tolist()
                out.append({"path": path, **p})
    return out


def _rgba(rgb: tuple[int, int, int] | list[int], alpha: int) -> list[int]:
    return [int(rgb[0]), int(rgb[1]), int(rgb[2]), alpha]


def basemap_layer(
    countries: gpd.GeoDataFrame | None = None,
    *,
    clip_to: tuple[float, float, float, float] | None = None,
) -> pdk.Layer:
    """Country outlines shipped with Limes (Natural Earth 1:50m): the offline basemap.

    ``clip_to`` (west, south, east, north): keep only what lies in this box (the whole of
    Russia is most of the basemap's vertices).
    """
    if countries is None:
        countries = load_countries()
    _require_wgs84(countries, "basemap")
    if clip_to is not None:
        countries = countries.set_geometry(
            shapely.clip_by_rect(countries.geometry.to_numpy(), *clip_to)
        )
    land = _polygon_records(countries, lambda r: {"fill": style.BASEMAP_FILL}, simplify_deg=0.005)
    # Sea: one rectangle under the countries, so water reads as water in every theme.
    xmin, ymin, xmax, ymax = (
        countries.total_bounds if len(countries) else (-180.0, -85.0, 180.0, 85.0)
    )
    sea_ring = [[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax], [xmin, ymin]]
    sea = {"polygon": [sea_ring], "fill": style.BACKGROUND}
    return pdk.Layer(
        "PolygonLayer",
        data=[sea, *land],
        id="basemap",
        get_polygon="polygon",
        get_fill_color="fill",
        get_line_color=style.BASEMAP_LINE,
        line_width_min_pixels=1,
        stroked=True,
        filled=True,
        pickable=False,
    )


def hillshade_layer(
    shade: np.ndarray, bounds: tuple[float, float, float, float], *, alpha: np.ndarray | None = None
) -> pdk.Layer:
    """Terrain shading from :func:`geo.terrain.hillshade.read_hillshade`, as an image in the page.

    The image travels inside the deck as a PNG data URL (no tile or file is fetched). It
    must lie on a Web Mercator grid (``read_hillshade(..., crs="EPSG:3857")``): deck.gl
    stretches an image linearly in the map's projection. ``bounds`` is (west, south, east,
    north) in degrees. ``alpha`` (0–1, same grid): how much of the shading shows, e.g. fading
    out beyond the corridor (:func:`geo.terrain.hillshade.read_hillshade_faded`).
    """
    v = np.nan_to_num(np.asarray(shade, dtype=float), nan=1.0)
    grey = np.clip(v * 255.0, 0, 255).astype(np.uint8)
    weight = 1.0 if alpha is None else np.nan_to_num(np.asarray(alpha, dtype=float), nan=0.0)
    opacity = np.where(np.isnan(shade), 0, np.rint(120 * weight)).astype(np.uint8)
    grey = np.where(opacity == 0, 0, grey).astype(np.uint8)  # clear pixels compress to nothing
    url = _png_url(np.dstack([grey, grey, grey, opacity]))
    west, south, east, north = (float(b) for b in bounds)
    return pdk.Layer(
        "BitmapLayer",
        data=None,
        id="hillshade",
        image=pdk.types.String(url),
        bounds=[west, south, east, north],
        pickable=False,
    )


def coverage_count_layer(
    counts: np.ndarray, bounds: tuple[float, float, float, float]
) -> pdk.Layer:
    """Terrain coverage count (sensors seeing each cell) as a bitmap layer.

    ``counts`` and ``bounds`` come from :func:`geo.terrain.hillshade.coverage_image`.
    ``counts`` must lie on a Web Mercator grid (what the map projects to), ``bounds`` is
    (west, south, east, north) in degrees. Sent as a PNG data URL: nothing is fetched.
    """
    from layers.style import coverage_rgba

    west, south, east, north = (float(b) for b in bounds)
    return pdk.Layer(
        "BitmapLayer",
        data=None,
        id="coverage_count",
        image=pdk.types.String(_png_url(coverage_rgba(counts))),
        bounds=[west, south, east, north],
        pickable=False,
    )


def _png_url(rgba: np.ndarray) -> str:
    import base64
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(
        buf, format="PNG"
    )  # optimize=True: 10 % smaller, 3 s slower
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def load_countries(bounds: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
    """Read the shipped country outlines, optionally only those meeting ``bounds``."""
    import pyogrio

    return (
        pyogrio.read_dataframe(_COUNTRIES, bbox=bounds)
        if bounds
        else pyogrio.read_dataframe(_COUNTRIES)
    )


def border_layer(border: gpd.GeoDataFrame) -> pdk.Layer:
    """The border drawn as watched: a calm line under the gaps (see :func:`border_line_layer`)."""
    _require_wgs84(border, "border")
    data = _path_records(
        border,
        lambda r: {
            "tooltip": _tooltip(
                "Border",
                {
                    "name": r.get("name"),
                    "segment": r.get("segment"),
                    "length km": r.get("length_km"),
                },
            )
        },
    )
    return pdk.Layer(
        "PathLayer",
        data=data,
        id="border",
        get_path="path",
        get_color=style.COVERED,
        get_width=5,
        width_units="'pixels'",
        cap_rounded=True,
        pickable=True,
    )


def border_line_layer(border: gpd.GeoDataFrame) -> pdk.Layer:
    """A thin dark line along the border, drawn over the gaps so the border always shows."""
    _require_wgs84(border, "border")
    data = _path_records(border, lambda r: {})
    return pdk.Layer(
        "PathLayer",
        data=data,
        id="border_line",
        get_path="path",
        get_color=style.BORDER,
        get_width=1.2,
        width_units="'pixels'",
        pickable=False,
    )


def corridor_layer(corridor: gpd.GeoDataFrame, *, corridor_km: float | None = None) -> pdk.Layer:
    """The corridor on both sides of the border."""
    _require_wgs84(corridor, "corridor")
    data = _polygon_records(corridor, lambda r: {})
    return pdk.Layer(
        "PolygonLayer",
        data=data,
        id="corridor",
        get_polygon="polygon",
        get_fill_color=style.CORRIDOR,
        get_line_color=[90, 90, 90, 160],
        line_width_min_pixels=1,
        stroked=True,
        pickable=False,
    )


def sectors_layer(
    sectors: gpd.GeoDataFrame,
    colors: Mapping[str, tuple[int, int, int]],
    *,
    highlight: str | None = None,
) -> pdk.Layer:
    """Patrol sectors coloured by partner; other partners muted when one is highlighted."""
    _require_wgs84(sectors, "sectors")

    def props(r: pd.Series) -> dict[str, Any]:
        partner = str(r["partner"])
        mine = highlight is None or partner == highlight
        rgb = colors.get(partner, (120, 120, 120))
        name = r.get("name")
        return {
            "fill": _rgba(rgb, 22 if mine else 8),
            "line": _rgba(rgb, 230 if mine else 70),
            "sector_id": str(r["sector_id"]),
            "tooltip": _tooltip(
                f"Sector {r['sector_id']}" + (f" {name}" if isinstance(name, str) and name else ""),
                {
                    "partner": partner,
                    "border": (
                        f"{r.get('border_km', 0.0):,.1f} km, "
                        f"{r.get('coverage_pct', 0.0):.1f} % watched"
                    ),
                    "detections": f"{int(r.get('detections', 0)):,}",
                },
            ),
        }

    return pdk.Layer(
        "PolygonLayer",
        data=_polygon_records(sectors, props),
        id="sectors",
        get_polygon="polygon",
        get_fill_color="fill",
        get_line_color="line",
        line_width_min_pixels=2,
        stroked=True,
        pickable=True,
    )


def footprints_layer(
    footprints: gpd.GeoDataFrame,
    colors: Mapping[str, tuple[int, int, int]],
    *,
    highlight: str | None = None,
    simplify_deg: float = SIMPLIFY_DEG,
) -> pdk.Layer:
    """Sensor footprints (disks, annuli, wedges); inactive ones drawn as grey outlines.

    Not pickable: deck.gl picks on the pointer-down, and on software WebGL (machines without
    a GPU) picking large footprints took longer than the 250 ms a press may last to count as
    a click: the click was lost. The sensor's dot carries its tooltip. For the same reason no
    layer highlights on hover (each highlight redraws the map while the user is about to
    click).
    """
    _require_wgs84(footprints, "footprints")

    def props(r: pd.Series) -> dict[str, Any]:
        partner = str(r["partner"])
        active = r.get("status", "active") == "active"
        mine = highlight is None or partner == highlight
        rgb = colors.get(partner, (120, 120, 120)) if active else (130, 130, 130)
        return {
            "fill": _rgba(rgb, (30 if mine else 8) if active else 0),
            "line": _rgba(rgb, 170 if mine else 40),
        }

    return pdk.Layer(
        "PolygonLayer",
        data=_polygon_records(footprints, props, simplify_deg=simplify_deg),
        id="footprints",
        get_polygon="polygon",
        get_fill_color="fill",
        get_line_color="line",
        line_width_min_pixels=1,
        stroked=True,
        pickable=False,
    )


def sensors_layer(
    sensors: gpd.GeoDataFrame,
    colors: Mapping[str, tuple[int, int, int]],
    *,
    highlight: str | None = None,
    only_km: Mapping[str, float] | None = None,
) -> pdk.Layer:
    """Sensor positions, coloured by partner: small dots that grow as the map zooms in.

    The radius is in metres (600 m) clamped to 3–8 px, so 171 sensors stay separate dots at
    the fitted zoom and become readable symbols up close. ``only_km``: per sensor id, the
    km of border that only it watches (shown in the tooltip).
    """
    _require_wgs84(sensors, "sensors")
    partners = sensors["partner"].astype(str)
    active = sensors.get("status", pd.Series("active", index=sensors.index)) == "active"
    only = only_km or {}
    data = []
    for pt, sid, k, p, rng, a in zip(
        sensors.geometry,
        sensors["sensor_id"],
        sensors["kind"],
        partners,
        sensors["range_m"],
        active,
        strict=True,
    ):
        fields = {
            "partner": p,
            "range m": f"{float(rng):,.0f}",
            "status": "active" if a else "inactive",
        }
        if str(sid) in only:
            fields["only it watches"] = f"{only[str(sid)]:,.2f} km of border"
        data.append(
            {
                "p": [round(float(pt.x), _DECIMALS), round(float(pt.y), _DECIMALS)],
                "c": _rgba(
                    colors.get(p, (120, 120, 120)) if a else (140, 140, 140),
                    255 if (highlight is None or p == highlight) else 80,
                ),
                "sensor_id": str(sid),
                "tooltip": _tooltip(f"Sensor {sid} ({str(k).replace('_', ' ')})", fields),
            }
        )
    return pdk.Layer(
        "ScatterplotLayer",
        data=data,
        id="sensors",
        get_position="p",
        get_fill_color="c",
        get_line_color=[255, 255, 255, 230],
        stroked=True,
        line_width_min_pixels=1,
        get_radius=600,
        radius_min_pixels=3,
        radius_max_pixels=8,
        pickable=True,
    )


#: One letter per sensor kind, drawn on the sensor's dot (ASCII, so no font download).
KIND_SYMBOLS: dict[str, str] = {
    "camera": "C",
    "radar": "R",
    "tower": "T",
    "ground_sensor": "G",
    "drone": "D",
    "other": "O",
}


def sensor_symbols_layer(sensors: gpd.GeoDataFrame) -> pdk.Layer:
    """A letter for each sensor's kind (see :data:`KIND_SYMBOLS`), readable once zoomed in.

    Sized in metres (900 m, at most 12 px): at the fitted zoom the letters are smaller than a
    pixel and the dots stay clean; zoomed in they appear on the dots.
    """
    _require_wgs84(sensors, "sensors")
    data = [
        {
            "p": [round(float(pt.x), _DECIMALS), round(float(pt.y), _DECIMALS)],
            "t": KIND_SYMBOLS.get(str(k), "O"),
        }
        for pt, k in zip(sensors.geometry, sensors["kind"], strict=True)
    ]
    return pdk.Layer(
        "TextLayer",
        data=data,
        id="sensor_symbols",
        get_position="p",
        get_text="t",
        get_size=900,
        size_units="'meters'",
        size_max_pixels=12,
        get_color=[255, 255, 255, 255],
        font_weight=700,
        get_text_anchor="'middle'",
        get_alignment_baseline="'center'",
        pickable=False,
    )


def gaps_layer(
    gaps: gpd.GeoDataFrame, *, ranks: Mapping[int, int] | None = None, muted: bool = False
) -> pdk.Layer:
    """Uncovered stretches of border, drawn loud over the calm watched border.

    ``ranks``: per row of ``gaps``, its rank in the view's gap table (1 = longest), shown
    as "G1" in the tooltip. ``muted``: other partners' gaps in a partner view (id
    ``gaps_others``): a thin faded line.
    """
    _require_wgs84(gaps, "gaps")
    ranks = ranks or {}

    def props(r: pd.Series) -> dict[str, Any]:
        rank = ranks.get(int(cast(SupportsInt, r.name)))  # a gap frame's row labels are integers
        return {
            "segment": int(r["segment"]),
            "start_km": float(r["start_km"]),
            "end_km": float(r["end_km"]),
            "tooltip": _tooltip(
                f"Gap G{rank}" if rank else ("Gap of another partner" if muted else "Gap"),
                {
                    "length": f"{r['length_km']:,.2f} km",
                    "chainage": (
                        f"km {r['start_km']:,.2f}–{r['end_km']:,.2f} of segment {r['segment']}"
                    ),
                    "sectors": ", ".join(_ids(r.get("sector_ids"))) or "none (unassigned)",
                    "partners": ", ".join(_ids(r.get("partners"))) or "–",
                },
            ),
        }

    data = _path_records(gaps, props)
    if muted:
        return pdk.Layer(
            "PathLayer",
            data=data,
            id="gaps_others",
            get_path="path",
            get_color=[*style.GAP[:3], 110],
            get_width=3,
            width_units="'pixels'",
            cap_rounded=True,
            pickable=True,
        )
    return pdk.Layer(
        "PathLayer",
        data=data,
        id="gaps",
        get_path="path",
        get_color=style.GAP,
        get_width=6,
        width_units="'pixels'",
        cap_rounded=True,
        pickable=True,
    )


def _ids(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return [str(v) for v in value]


def overlaps_layer(overlaps: gpd.GeoDataFrame) -> pdk.Layer:
    """Stretches of border covered by sensors of two or more partners."""
    _require_wgs84(overlaps, "overlaps")
    data = _path_records(
        overlaps,
        lambda r: {
            "tooltip": _tooltip("Partner overlap", {"length": f"{r.get('length_km', 0.0):,.2f} km"})
        },
    )
    return pdk.Layer(
        "PathLayer",
        data=data,
        id="overlaps",
        get_path="path",
        get_color=style.OVERLAP,
        get_width=3,
        width_units="'pixels'",
        get_dash_array=[4, 3],
        pickable=True,
    )


def areas_layer(
    areas: gpd.GeoDataFrame, *, kind: str, simplify_deg: float = SIMPLIFY_DEG
) -> pdk.Layer:
    """Corridor gap or overlap polygons (``kind`` is ``"gap"`` or ``"overlap"``), not pickable."""
    if kind not in ("gap", "overlap"):
        raise ValueError(f"kind must be 'gap' or 'overlap', got {kind!r}")
    _require_wgs84(areas, f"{kind} areas")
    color = style.GAP_AREA if kind == "gap" else style.OVERLAP_AREA
    data = _polygon_records(areas, lambda r: {}, simplify_deg=simplify_deg)
    return pdk.Layer(
        "PolygonLayer",
        data=data,
        id=f"{kind}_areas",
        get_polygon="polygon",
        get_fill_color=color,
        stroked=False,
        pickable=False,
    )


def labels_layer(
    labels: pd.DataFrame,
    *,
    id: str,
    size_px: float = 12,
    color: list[int] | None = None,
    background: list[int] | None = None,
    weight: int = 600,
    anchor: str = "middle",
    baseline: str = "center",
    offset_px: tuple[float, float] = (0.0, 0.0),
) -> pdk.Layer:
    """Text labels at points: ``labels`` has ``lon``, ``lat``, ``text`` (and optionally ``color``).

    Drawn in the browser's own sans-serif font (no font is fetched); any Unicode text
    (``character_set="auto"``). Not pickable.
    """
    data = [
        {
            "p": [round(float(x), _DECIMALS), round(float(y), _DECIMALS)],
            "t": str(t),
            **({"c": list(c)} if "color" in labels else {}),
        }
        for x, y, t, c in zip(
            labels["lon"],
            labels["lat"],
            labels["text"],
            labels["color"] if "color" in labels else [None] * len(labels),
            strict=True,
        )
    ]
    extra: dict[str, Any] = {}
    if background is not None:
        extra.update(
            background=True, get_background_color=background, background_padding=[3, 1, 3, 1]
        )
    return pdk.Layer(
        "TextLayer",
        data=data,
        id=id,
        get_position="p",
        get_text="t",
        get_size=size_px,
        size_units="'pixels'",
        get_color="c" if "color" in labels else (color or [30, 30, 30, 255]),
        font_family="'Helvetica Neue, Helvetica, Arial, sans-serif'",
        font_weight=weight,
        character_set="'auto'",
        get_text_anchor=f"'{anchor}'",
        get_alignment_baseline=f"'{baseline}'",
        get_pixel_offset=list(offset_px),
        outline_width=0,
        pickable=False,
        **extra,
    )


def places_layer(places: gpd.GeoDataFrame) -> pdk.Layer:
    """Gazetteer places as small dark dots (their names: :func:`labels_layer`)."""
    _require_wgs84(places, "places")
    data = [
        {"p": [round(float(pt.x), _DECIMALS), round(float(pt.y), _DECIMALS)]}
        for pt in places.geometry
    ]
    return pdk.Layer(
        "ScatterplotLayer",
        data=data,
        id="places",
        get_position="p",
        get_fill_color=style.PLACE,
        get_radius=2.5,
        radius_units="'pixels'",
        pickable=False,
    )


def detection_points_layers(detections: gpd.GeoDataFrame) -> list[pdk.Layer]:
    """Detection points, one layer per status, visible only once the map is zoomed in.

    Their radius is in metres (60 m, at most 5 px): at the fitted zoom they are far below a
    pixel and the density hexagons tell the story; zoomed in to a stretch they become dots,
    detections in gaps loud and on top. The switch happens in the browser as the user
    zooms. Not pickable (picking 22,000 points is slow on software WebGL; click a hexagon
    instead). Positions are rounded to 4 decimals (about 10 m).
    """
    _require_wgs84(detections, "detections")
    status = (
        detections["coverage_status"].astype(str).to_numpy()
        if "coverage_status" in detections
        else np.full(len(detections), "coverage", dtype=object)
    )
    lon = detections.geometry.x.round(4).to_numpy()
    lat = detections.geometry.y.round(4).to_numpy()
    out = []
    for kind in ("outside", "coverage", "gap"):  # drawn in this order: in-gap ones on top
        sel = status == kind
        data = [{"p": [x, y]} for x, y in zip(lon[sel].tolist(), lat[sel].tolist(), strict=True)]
        out.append(
            pdk.Layer(
                "ScatterplotLayer",
                data=data,
                id=f"detection_points_{kind}",
                get_position="p",
                get_fill_color=style.DETECTION[kind],
                get_radius=60 if kind != "gap" else 80,
                radius_min_pixels=0,
                radius_max_pixels=5 if kind != "gap" else 6,
                pickable=False,
            )
        )
    return out


def detections_layer(detections: gpd.GeoDataFrame) -> pdk.Layer:
    """Detection points, coloured by coverage status, each with a tooltip (upload previews)."""
    _require_wgs84(detections, "detections")
    n = len(detections)
    status = (
        detections["coverage_status"].astype(str)
        if "coverage_status" in detections
        else pd.Series("coverage", index=detections.index)
    )
    times = (
        detections["time"].dt.strftime("%Y-%m-%d %H:%M:%SZ").to_numpy()
        if "time" in detections
        else np.full(n, "")
    )

    def col(name: str) -> np.ndarray:
        if name not in detections:
            return np.full(n, "–", dtype=object)
        return (
            detections[name]
            .astype(object)
            .where(detections[name].notna(), "–")
            .astype(str)
            .to_numpy()
        )

    label = {"coverage": "in coverage", "gap": "IN A GAP", "outside": "outside corridor"}
    tips = (
        "Detection "
        + col("detection_id")
        + "\n"
        + times.astype(object)
        + "\n"
        + col("class")
        + " · "
        + col("source")
        + " · "
        + status.map(label).fillna(status).to_numpy()
    )
    if "owner" in detections:  # rows of the shared store: whose, and who else may see them
        marking = (
            detections["releasable_to"].fillna("").astype(str)
            if "releasable_to" in detections
            else pd.Series("", index=detections.index)
        )
        released = marking.where(marking != "", "owner only").to_numpy()
        tips = tips + "\nowner " + col("owner") + " · released to " + released.astype(object)
    lon = detections.geometry.x.round(_DECIMALS).to_numpy()
    lat = detections.geometry.y.round(_DECIMALS).to_numpy()
    colors = status.map(style.DETECTION).to_numpy()
    data = [
        {"p": [x, y], "c": c, "tooltip": t}
        for x, y, c, t in zip(
            lon.tolist(), lat.tolist(), colors.tolist(), tips.tolist(), strict=True
        )
    ]
    return pdk.Layer(
        "ScatterplotLayer",
        data=data,
        id="detections",
        get_position="p",
        get_fill_color="c",
        get_radius=2.5,
        radius_units="'pixels'",
        radius_min_pixels=1.5,
        pickable=True,
    )


def hexagon_fill(counts: np.ndarray) -> np.ndarray:
    """RGBA fill of detection hexagons by count.

    :data:`style.DENSITY_RAMP`, scaled to the 98th percentile.
    """
    counts = np.asarray(counts, dtype=float)
    top = max(float(np.percentile(counts, 98)), 1.0) if counts.size else 1.0
    ramp = np.asarray(style.DENSITY_RAMP, dtype=float)
    pos = np.minimum(counts / top, 1.0) * (len(ramp) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(ramp) - 1)
    t = (pos - lo)[:, None]
    return np.rint(ramp[lo] * (1 - t) + ramp[hi] * t).astype(int)


def hexagons_layer(hexagons: gpd.GeoDataFrame) -> pdk.Layer:
    """Detections counted in hexagons (:func:`geo.coverage.hexbin.hexbin`): the density at a glance.

    Shaded by count (:func:`hexagon_fill`), calm, with no outline: the loud part is the
    detections in gaps (:func:`gap_detections_layer`). Pickable: its tooltip gives the
    counts, a click lists its detections.
    """
    _require_wgs84(hexagons, "detection hexagons")
    counts = hexagons["count"].to_numpy(dtype=float)
    fill = hexagon_fill(counts)
    flagged = (
        hexagons["flagged"].fillna(0).to_numpy(dtype=np.int64)
        if "flagged" in hexagons
        else np.zeros(len(counts), dtype=np.int64)
    )
    polygons, row = _polygon_parts(hexagons.geometry.array)
    fills, n_all, n_flagged = fill.tolist(), counts.astype(np.int64).tolist(), flagged.tolist()
    data = [
        {
            "polygon": rings,
            "fill": fills[i],
            "n": n_all[i],
            "tooltip": _tooltip(
                f"{n_all[i]:,} detection{'s' if n_all[i] != 1 else ''}",
                {"in gaps": f"{n_flagged[i]:,}"} if "flagged" in hexagons else {},
            ),
        }
        for rings, i in zip(polygons, row.tolist(), strict=True)
    ]
    return pdk.Layer(
        "PolygonLayer",
        data=data,
        id="detections",
        get_polygon="polygon",
        get_fill_color="fill",
        stroked=False,
        pickable=True,
    )


def gap_detections_layer(hexagons: gpd.GeoDataFrame, *, size_m: float) -> pdk.Layer:
    """Detections in gaps per hexagon as circles at the hexagon's centre, area ∝ count.

    The largest circle fills about half the hexagon (radius ``0.45 · size_m / 2``, in metres,
    so it scales with the hexagons as the map zooms). Not pickable (the hexagon under it is).
    """
    _require_wgs84(hexagons, "detection hexagons")
    flagged = (
        hexagons["flagged"].fillna(0).to_numpy(dtype=float)
        if "flagged" in hexagons
        else np.zeros(len(hexagons))
    )
    keep = flagged > 0
    centre = shapely.centroid(hexagons.geometry.to_numpy()[keep])
    top = float(flagged[keep].max()) if keep.any() else 1.0
    radius = 0.45 * size_m / 2 * np.sqrt(flagged[keep] / top)
    data = [
        {"p": [round(float(x), _DECIMALS), round(float(y), _DECIMALS)], "r": round(float(r), 1)}
        for x, y, r in zip(shapely.get_x(centre), shapely.get_y(centre), radius, strict=True)
    ]
    return pdk.Layer(
        "ScatterplotLayer",
        data=data,
        id="gap_detections",
        get_position="p",
        get_radius="r",
        get_fill_color=style.DETECTION["gap"],
        get_line_color=[60, 40, 0, 200],
        stroked=True,
        line_width_min_pixels=0.5,
        radius_min_pixels=1.5,
        pickable=False,
    )


def view_state(
    bounds: tuple[float, float, float, float],
    *,
    width_px: int = 1000,
    height_px: int = 620,
    margin_px: int = 0,
) -> pdk.ViewState:
    """Return a Web Mercator view that fits ``bounds`` in a map of the given size.

    ``bounds`` is (min lon, min lat, max lon, max lat); the map is ``width_px`` × ``height_px``
    and ``bounds`` stays ``margin_px`` inside each of its edges.
    """
    xmin, ymin, xmax, ymax = bounds
    width_px = max(width_px - 2 * margin_px, 1)
    height_px = max(height_px - 2 * margin_px, 1)
    lon = (xmin + xmax) / 2

    def merc_y(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(max(min(lat, 85.0), -85.0)) / 2))

    y0, y1 = merc_y(ymin), merc_y(ymax)
    lat = math.degrees(2 * math.atan(math.exp((y0 + y1) / 2)) - math.pi / 2)
    # At zoom z the world is 512·2^z px wide: 360° of longitude, 2π of Mercator y.
    zoom_x = math.log2(width_px * 360.0 / 512.0 / max(xmax - xmin, 1e-9))
    zoom_y = math.log2(height_px * 2 * math.pi / 512.0 / max(y1 - y0, 1e-9))
    zoom = min(zoom_x, zoom_y)
    return pdk.ViewState(
        longitude=lon, latitude=lat, zoom=max(min(zoom, 16.0), 1.0), pitch=0, bearing=0
    )


#: The tooltip box: short plain text, wrapped, never wider than a fifth of a laptop screen.
TOOLTIP_STYLE: dict[str, str] = {
    "fontSize": "12px",
    "lineHeight": "1.35",
    "maxWidth": "260px",
    "whiteSpace": "normal",
    "overflowWrap": "anywhere",
    "padding": "6px 8px",
    "borderRadius": "4px",
    "backgroundColor": "rgba(25, 28, 33, 0.92)",
    "color": "#ffffff",
}


class CompactDeck(pdk.Deck):
    """A :class:`pydeck.Deck` whose JSON is compact and computed once.

    pydeck indents its JSON by two spaces, which triples the size of point data;
    ``st.pydeck_chart`` calls :meth:`to_json` on every rerun. Build the deck, then treat it
    as read-only: the first :meth:`to_json` result is kept.
    """

    _json: str | None = None

    def to_json(self) -> str:
        """Compact JSON of the deck (memoised)."""
        if self._json is None:
            self._json = json.dumps(
                self,
                sort_keys=True,
                default=default_serialize,
                separators=(",", ":"),
                ensure_ascii=False,
            )
        return self._json


def deck(layers: list[pdk.Layer], view: pdk.ViewState, *, height: int = 640) -> CompactDeck:
    """A deck with no basemap provider (no tiles fetched) and one tooltip for every layer.

    ``map_style`` is left at pydeck's placeholder on purpose: ``st.pydeck_chart`` fills an
    empty style with an online Carto basemap, but drops the placeholder.
    """
    return CompactDeck(
        layers=layers,
        initial_view_state=view,
        map_provider=None,
        height=height,
        tooltip={"text": "{tooltip}", "style": TOOLTIP_STYLE},
    )
