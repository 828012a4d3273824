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

import html
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from pydeck.bindings.json_tools import default_serialize

from layers import style

_COUNTRIES = Path(__file__).resolve().parent.parent / "geo" / "data" / "countries.geojson"
_DECIMALS = 5


def _require_wgs84(gdf: gpd.GeoDataFrame, what: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"{what}: expected a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None or not gdf.crs.equals("EPSG:4326"):
        raise ValueError(
            f"{what}: map layers need data in EPSG:4326 (lon/lat), got {gdf.crs}; "
            "reproject with gdf.to_crs(4326) first"
        )


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return html.escape(str(value))


def _tooltip(title: str, fields: Mapping[str, Any]) -> str:
    rows = "".join(f"<br/>{html.escape(k)}: <b>{_fmt(v)}</b>" for k, v in fields.items())
    return f"<b>{html.escape(title)}</b>{rows}"


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
    rings = [xy[a:b] for a, b in zip(ring_offsets[:-1].tolist(), ring_offsets[1:].tolist(),
                                     strict=True)]
    return [rings[a:b] for a, b in zip(part_offsets[:-1].tolist(), part_offsets[1:].tolist(),
                                       strict=True)], row


def _polygon_records(
    gdf: gpd.GeoDataFrame, props: Callable[[pd.Series], dict[str, Any]]
) -> list[dict[str, Any]]:
    """One record per polygon part (its rings, see :func:`_polygon_parts`) with ``props`` of its row."""
    polygons, row = _polygon_parts(gdf.geometry.array)
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


def basemap_layer(countries: gpd.GeoDataFrame | None = None) -> pdk.Layer:
    """Country outlines shipped with Limes (Natural Earth 1:50m): the offline basemap."""
    if countries is None:
        countries = load_countries()
    _require_wgs84(countries, "basemap")
    land = _polygon_records(
        countries,
        lambda r: {"fill": style.BASEMAP_FILL, "tooltip": _tooltip("Country", {"name": r.get("name")})},
    )
    # Sea: one rectangle under the countries, so water reads as water in every theme.
    xmin, ymin, xmax, ymax = countries.total_bounds if len(countries) else (-180.0, -85.0, 180.0, 85.0)
    sea_ring = [[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax], [xmin, ymin]]
    sea = {"polygon": [sea_ring], "fill": style.BACKGROUND, "tooltip": "<b>Sea</b>"}
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


def hillshade_layer(shade: np.ndarray, bounds: tuple[float, float, float, float]) -> pdk.Layer:
    """Terrain shading from :func:`geo.terrain.read_hillshade`, as an image in the page.

    The image travels inside the deck as a PNG data URL (no tile or file is fetched). It
    must lie on a Web Mercator grid (``read_hillshade(..., crs="EPSG:3857")``): deck.gl
    stretches an image linearly in the map's projection. ``bounds`` is (west, south, east,
    north) in degrees.
    """
    v = np.nan_to_num(np.asarray(shade, dtype=float), nan=1.0)
    grey = np.clip(v * 255.0, 0, 255).astype(np.uint8)
    alpha = np.where(np.isnan(shade), 0, 120).astype(np.uint8)
    url = _png_url(np.dstack([grey, grey, grey, alpha]))
    west, south, east, north = (float(b) for b in bounds)
    return pdk.Layer(
        "BitmapLayer", data=None, id="hillshade", image=pdk.types.String(url),
        bounds=[west, south, east, north], pickable=False,
    )


def coverage_count_layer(counts: np.ndarray, bounds: tuple[float, float, float, float]) -> pdk.Layer:
    """Terrain coverage count (sensors seeing each cell) from :func:`geo.terrain.coverage_image`.

    ``counts`` must lie on a Web Mercator grid (what the map projects to), ``bounds`` is
    (west, south, east, north) in degrees. Sent as a PNG data URL: nothing is fetched.
    """
    from layers.style import coverage_rgba

    west, south, east, north = (float(b) for b in bounds)
    return pdk.Layer(
        "BitmapLayer", data=None, id="coverage_count", image=pdk.types.String(_png_url(coverage_rgba(counts))),
        bounds=[west, south, east, north], pickable=False,
    )


def _png_url(rgba: np.ndarray) -> str:
    import base64
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG")  # optimize=True: 10 % smaller, 3 s slower
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def load_countries(bounds: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
    """Read the shipped country outlines, optionally only those meeting ``bounds``."""
    import pyogrio

    return pyogrio.read_dataframe(_COUNTRIES, bbox=bounds) if bounds else pyogrio.read_dataframe(_COUNTRIES)


def border_layer(border: gpd.GeoDataFrame) -> pdk.Layer:
    """The border lines."""
    _require_wgs84(border, "border")
    data = _path_records(
        border,
        lambda r: {
            "tooltip": _tooltip(
                "Border", {"name": r.get("name"), "segment": r.get("segment"), "length km": r.get("length_km")}
            )
        },
    )
    return pdk.Layer(
        "PathLayer", data=data, id="border", get_path="path", get_color=style.BORDER,
        get_width=3, width_units="'pixels'", pickable=True,
    )


def corridor_layer(corridor: gpd.GeoDataFrame, *, corridor_km: float | None = None) -> pdk.Layer:
    """The corridor on both sides of the border."""
    _require_wgs84(corridor, "corridor")
    title = f"Corridor ({corridor_km:g} km each side)" if corridor_km else "Corridor"
    data = _polygon_records(corridor, lambda r: {"tooltip": _tooltip(title, {})})
    return pdk.Layer(
        "PolygonLayer", data=data, id="corridor", get_polygon="polygon",
        get_fill_color=style.CORRIDOR, get_line_color=[90, 90, 90, 160],
        line_width_min_pixels=1, stroked=True, pickable=False,
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
        return {
            "fill": _rgba(rgb, 70 if mine else 18),
            "line": _rgba(rgb, 230 if mine else 70),
            "sector_id": str(r["sector_id"]),
            "tooltip": _tooltip(
                f"Sector {r['sector_id']}",
                {
                    "partner": partner,
                    "name": r.get("name"),
                    "border km": r.get("border_km"),
                    "coverage %": r.get("coverage_pct"),
                    "detections": r.get("detections"),
                },
            ),
        }

    return pdk.Layer(
        "PolygonLayer", data=_polygon_records(sectors, props), id="sectors",
        get_polygon="polygon", get_fill_color="fill", get_line_color="line",
        line_width_min_pixels=2, stroked=True, pickable=True, auto_highlight=True,
    )


def footprints_layer(
    footprints: gpd.GeoDataFrame,
    colors: Mapping[str, tuple[int, int, int]],
    *,
    highlight: str | None = None,
) -> pdk.Layer:
    """Sensor footprints (disks, annuli, wedges); inactive ones drawn as grey outlines."""
    _require_wgs84(footprints, "footprints")

    def props(r: pd.Series) -> dict[str, Any]:
        partner = str(r["partner"])
        active = r.get("status", "active") == "active"
        mine = highlight is None or partner == highlight
        rgb = colors.get(partner, (120, 120, 120)) if active else (130, 130, 130)
        return {
            "fill": _rgba(rgb, (45 if mine else 12) if active else 0),
            "line": _rgba(rgb, 200 if mine else 50),
            "tooltip": _tooltip(
                f"Sensor {r['sensor_id']}",
                {
                    "kind": r.get("kind"),
                    "partner": partner,
                    "range m": r.get("range_m"),
                    "status": r.get("status", "active"),
                },
            ),
        }

    return pdk.Layer(
        "PolygonLayer", data=_polygon_records(footprints, props), id="footprints",
        get_polygon="polygon", get_fill_color="fill", get_line_color="line",
        line_width_min_pixels=1, stroked=True, pickable=True,
    )


def sensors_layer(
    sensors: gpd.GeoDataFrame,
    colors: Mapping[str, tuple[int, int, int]],
    *,
    highlight: str | None = None,
) -> pdk.Layer:
    """Sensor positions, coloured by partner."""
    _require_wgs84(sensors, "sensors")
    partners = sensors["partner"].astype(str)
    active = sensors.get("status", pd.Series("active", index=sensors.index)) == "active"
    data = [
        {
            "p": [round(float(pt.x), _DECIMALS), round(float(pt.y), _DECIMALS)],
            "c": _rgba(colors.get(p, (120, 120, 120)) if a else (140, 140, 140), 255 if (highlight is None or p == highlight) else 80),
            "kind": str(k),
            "sensor_id": str(sid),
            "tooltip": _tooltip(f"Sensor {sid}", {"kind": k, "partner": p, "range m": rng, "status": "active" if a else "inactive"}),
        }
        for pt, sid, k, p, rng, a in zip(sensors.geometry, sensors["sensor_id"], sensors["kind"], partners, sensors["range_m"], active, strict=True)
    ]
    return pdk.Layer(
        "ScatterplotLayer", data=data, id="sensors", get_position="p",
        get_fill_color="c", get_line_color=[20, 20, 20, 255], stroked=True,
        line_width_min_pixels=1, get_radius=7, radius_units="'pixels'", pickable=True,
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
    """A letter for each sensor's kind (see :data:`KIND_SYMBOLS`), drawn over its dot."""
    _require_wgs84(sensors, "sensors")
    data = [
        {"p": [round(float(pt.x), _DECIMALS), round(float(pt.y), _DECIMALS)], "t": KIND_SYMBOLS.get(str(k), "O")}
        for pt, k in zip(sensors.geometry, sensors["kind"], strict=True)
    ]
    return pdk.Layer(
        "TextLayer", data=data, id="sensor_symbols", get_position="p", get_text="t",
        get_size=10, size_units="'pixels'", get_color=[255, 255, 255, 255], font_weight=700,
        get_text_anchor="'middle'", get_alignment_baseline="'center'", pickable=False,
    )


def gaps_layer(gaps: gpd.GeoDataFrame) -> pdk.Layer:
    """Uncovered stretches of border, drawn loud and thick."""
    _require_wgs84(gaps, "gaps")
    data = _path_records(
        gaps,
        lambda r: {
            "segment": int(r["segment"]),
            "start_km": float(r["start_km"]),
            "end_km": float(r["end_km"]),
            "tooltip": _tooltip(
                "Gap",
                {
                    "segment": r.get("segment"),
                    "chainage km": f"{r['start_km']:,.2f} – {r['end_km']:,.2f}",
                    "length km": r.get("length_km"),
                    "sectors": ", ".join(r.get("sector_ids") or []) or "none (unassigned)",
                },
            )
        },
    )
    return pdk.Layer(
        "PathLayer", data=data, id="gaps", get_path="path", get_color=style.GAP,
        get_width=7, width_units="'pixels'", cap_rounded=True, pickable=True, auto_highlight=True,
    )


def overlaps_layer(overlaps: gpd.GeoDataFrame) -> pdk.Layer:
    """Stretches of border covered by sensors of two or more partners."""
    _require_wgs84(overlaps, "overlaps")
    data = _path_records(
        overlaps,
        lambda r: {"tooltip": _tooltip("Partner overlap", {"length km": r.get("length_km")})},
    )
    return pdk.Layer(
        "PathLayer", data=data, id="overlaps", get_path="path", get_color=style.OVERLAP,
        get_width=3, width_units="'pixels'", get_dash_array=[4, 3], pickable=True,
    )


def areas_layer(areas: gpd.GeoDataFrame, *, kind: str) -> pdk.Layer:
    """Corridor gap or overlap polygons (``kind`` is ``"gap"`` or ``"overlap"``)."""
    if kind not in ("gap", "overlap"):
        raise ValueError(f"kind must be 'gap' or 'overlap', got {kind!r}")
    _require_wgs84(areas, f"{kind} areas")
    color = style.GAP_AREA if kind == "gap" else style.OVERLAP_AREA
    title = "Blind area in corridor" if kind == "gap" else "Partner overlap area"
    data = _polygon_records(areas, lambda r: {"tooltip": _tooltip(title, {"area km²": r.get("area_km2")})})
    return pdk.Layer(
        "PolygonLayer", data=data, id=f"{kind}_areas", get_polygon="polygon",
        get_fill_color=color, stroked=False, pickable=True,
    )


def detections_layer(detections: gpd.GeoDataFrame) -> pdk.Layer:
    """Detection points, coloured by coverage status (in a gap: loud)."""
    _require_wgs84(detections, "detections")
    n = len(detections)
    status = detections["coverage_status"].astype(str) if "coverage_status" in detections else pd.Series("coverage", index=detections.index)
    times = detections["time"].dt.strftime("%Y-%m-%d %H:%M:%SZ").to_numpy() if "time" in detections else np.full(n, "")

    def col(name: str) -> np.ndarray:
        if name not in detections:
            return np.full(n, "–", dtype=object)
        return detections[name].astype(object).where(detections[name].notna(), "–").astype(str).map(html.escape).to_numpy()

    label = {"coverage": "in coverage", "gap": "IN A GAP", "outside": "outside corridor"}
    tips = (
        "<b>Detection " + col("detection_id") + "</b> " + times.astype(object) + "<br/>" + col("class") + " · "
        + col("source") + " · " + status.map(label).fillna(status).to_numpy()
    )
    if "owner" in detections:  # rows of the shared store: whose, and who else may see them
        marking = detections["releasable_to"].fillna("").astype(str) if "releasable_to" in detections else pd.Series("", index=detections.index)
        released = marking.where(marking != "", "owner only").map(html.escape).to_numpy()
        tips = tips + "<br/>owner " + col("owner") + " · released to " + released.astype(object)
    lon = detections.geometry.x.round(_DECIMALS).to_numpy()
    lat = detections.geometry.y.round(_DECIMALS).to_numpy()
    colors = status.map(style.DETECTION).to_numpy()
    data = [
        {"p": [x, y], "c": c, "tooltip": t}
        for x, y, c, t in zip(lon.tolist(), lat.tolist(), colors.tolist(), tips.tolist(), strict=True)
    ]
    return pdk.Layer(
        "ScatterplotLayer", data=data, id="detections", get_position="p",
        get_fill_color="c", get_radius=2.5, radius_units="'pixels'", radius_min_pixels=1.5,
        pickable=True,
    )


def hexagons_layer(hexagons: gpd.GeoDataFrame) -> pdk.Layer:
    """Detections aggregated in hexagons (from :func:`geo.hexbin.hexbin`), shaded by count."""
    _require_wgs84(hexagons, "detection hexagons")
    counts = hexagons["count"].to_numpy(dtype=float)
    top = max(float(np.percentile(counts, 98)), 1.0) if counts.size else 1.0
    share = np.minimum(counts / top, 1.0)
    fill = np.column_stack([np.full(len(share), 255), (210 - 190 * share).astype(int),
                            (120 - 100 * share).astype(int), (60 + 170 * share).astype(int)])
    flagged = (hexagons["flagged"].fillna(0).to_numpy(dtype=np.int64) if "flagged" in hexagons
               else np.zeros(len(counts), dtype=np.int64))
    polygons, row = _polygon_parts(hexagons.geometry.array)
    fills, n_all, n_flagged = fill.tolist(), counts.astype(np.int64).tolist(), flagged.tolist()
    data = [{"polygon": rings, "fill": fills[i],
             "tooltip": _tooltip("Detections", {"count": n_all[i], "in gaps": n_flagged[i]})}
            for rings, i in zip(polygons, row.tolist(), strict=True)]
    return pdk.Layer(
        "PolygonLayer", data=data, id="detections",
        get_polygon="polygon", get_fill_color="fill", stroked=False, pickable=True,
    )


def view_state(
    bounds: tuple[float, float, float, float], *, width_px: int = 1000, height_px: int = 620
) -> pdk.ViewState:
    """Return a Web Mercator view that fits ``bounds`` in a map of the given size.

    ``bounds`` is (min lon, min lat, max lon, max lat); the map is ``width_px`` × ``height_px``.
    """
    xmin, ymin, xmax, ymax = bounds
    lon = (xmin + xmax) / 2

    def merc_y(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(max(min(lat, 85.0), -85.0)) / 2))

    y0, y1 = merc_y(ymin), merc_y(ymax)
    lat = math.degrees(2 * math.atan(math.exp((y0 + y1) / 2)) - math.pi / 2)
    # At zoom z the world is 512·2^z px wide: 360° of longitude, 2π of Mercator y.
    zoom_x = math.log2(width_px * 360.0 / 512.0 / max(xmax - xmin, 1e-9))
    zoom_y = math.log2(height_px * 2 * math.pi / 512.0 / max(y1 - y0, 1e-9))
    zoom = min(zoom_x, zoom_y)
    return pdk.ViewState(longitude=lon, latitude=lat, zoom=max(min(zoom, 16.0), 1.0), pitch=0, bearing=0)


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
            self._json = json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"), ensure_ascii=False)
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
        tooltip={"html": "{tooltip}", "style": {"fontSize": "12px"}},
    )


def legend_html(
    colors: Mapping[str, tuple[int, int, int]], *, partner_names: Mapping[str, str] | None = None
) -> str:
    """A small HTML legend: partner swatches, then the fixed map symbols."""
    names = partner_names or {}

    def swatch(rgba: list[int] | tuple[int, ...], label: str, *, line: bool = False) -> str:
        r, g, b = rgba[:3]
        shape = "height:4px;margin-top:6px" if line else "height:12px"
        return (
            f'<span style="display:inline-flex;align-items:flex-start;margin-right:14px">'
            f'<span style="display:inline-block;width:16px;{shape};background:rgb({r},{g},{b});'
            f'margin-right:5px;border:1px solid #555"></span>{html.escape(label)}</span>'
        )

    items = [swatch(rgb, f"{p} — {names[p]}" if p in names else p) for p, rgb in colors.items()]
    items += [
        swatch(style.GAP, "gap (blind border)", line=True),
        swatch(style.BORDER, "border", line=True),
        swatch(style.DETECTION["gap"], "detection in a gap"),
        swatch(style.DETECTION["coverage"], "detection in coverage"),
    ]
    kinds = " ".join(f"<b>{sym}</b> {kind.replace('_', ' ')}" for kind, sym in KIND_SYMBOLS.items())
    items.append(f'<span style="margin-right:14px">sensors: {kinds}</span>')
    return f'<div style="font-size:0.85rem;line-height:1.8">{"".join(items)}</div>'
