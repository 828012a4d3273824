"""layers.deck: the pydeck layer builders and the deck.

Small synthetic GeoDataFrames in EPSG:4326, one per builder, with the columns each builder
reads; plus the sample scenario for the payload size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import pytest
import shapely

from geo.core import settings
from geo.coverage.analysis import analyse
from geo.inputs.scenario import load_scenario
from layers import deck as lk

COLORS = {"A": (0, 114, 178), "B": (230, 159, 0)}

# Coordinates with many decimals near the sample region, so rounding is visible.
_RNG = np.random.default_rng(0)


def _jitter(n: int) -> np.ndarray:
    return _RNG.uniform(0, 1e-3, n)


def _square(x0: float, y0: float, d: float) -> shapely.Polygon:
    j = _jitter(4)
    return shapely.Polygon(
        [(x0 + j[0], y0 + j[1]), (x0 + d + j[2], y0), (x0 + d, y0 + d + j[3]), (x0, y0 + d)]
    )


def _holed(x0: float, y0: float) -> shapely.Polygon:
    outer = _square(x0, y0, 0.5)
    hole = _square(x0 + 0.1234567, y0 + 0.1234567, 0.2)
    return shapely.Polygon(outer.exterior.coords, holes=[hole.exterior.coords])


def _polys() -> list[shapely.Geometry]:
    """A polygon with a hole, a two-part MultiPolygon, a plain polygon."""
    return [
        _holed(25.0, 54.0),
        shapely.MultiPolygon([_square(26.0, 54.0, 0.3), _square(26.5, 54.5, 0.2)]),
        _square(24.0, 55.0, 0.25),
    ]


def _lines() -> list[shapely.Geometry]:
    """A LineString and a two-part MultiLineString."""
    return [
        shapely.LineString(
            [(25.1234567, 54.7654321), (25.5555555, 54.9999999), (25.8888888, 55.1234567)]
        ),
        shapely.MultiLineString(
            [
                [(24.1111111, 54.2222222), (24.3333333, 54.4444444)],
                [(24.5555555, 54.6666666), (24.7777777, 54.8888888)],
            ]
        ),
    ]


def _points(n: int = 5) -> list[shapely.Point]:
    return [
        shapely.Point(xy)
        for xy in np.column_stack([25 + _jitter(n) * 1000, 54 + _jitter(n) * 1000])
    ]


def _gdf(data: dict[str, Any], geoms: list[shapely.Geometry]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


# ---- one valid input per builder ------------------------------------------------------------


def _basemap() -> tuple[Callable[[gpd.GeoDataFrame], pdk.Layer], gpd.GeoDataFrame]:
    return lk.basemap_layer, _gdf({"name": ["Lithuania", "Belarus", "Latvia"]}, _polys())


def _border():
    return lk.border_layer, _gdf(
        {"name": ["LT-BY", "LT-LV"], "segment": [0, 1], "length_km": [12.5, 3.25]}, _lines()
    )


def _corridor():
    return (lambda g: lk.corridor_layer(g, corridor_km=5.0)), _gdf(
        {"name": ["c", "c", "c"]}, _polys()
    )


def _sectors():
    data = {
        "sector_id": ["S1", "S2", "S3"],
        "partner": ["A", "B", "A"],
        "name": ["North", None, "South"],
        "border_km": [10.0, 20.0, 5.0],
        "coverage_pct": [50.0, 12.5, 100.0],
        "detections": [3, 0, 7],
    }
    return (lambda g: lk.sectors_layer(g, COLORS)), _gdf(data, _polys())


def _footprints():
    data = {
        "sensor_id": ["a1", "b1", "a2"],
        "partner": ["A", "B", "A"],
        "kind": ["camera", "tower", "radar"],
        "range_m": [3000.0, 8000.0, 9000.0],
        "status": ["active", "inactive", "active"],
    }
    return (lambda g: lk.footprints_layer(g, COLORS)), _gdf(data, _polys())


def _sensors():
    data = {
        "sensor_id": [f"s{i}" for i in range(5)],
        "partner": ["A", "B", "A", "B", "C"],
        "kind": ["camera", "tower", "radar", "drone", "other"],
        "range_m": [3000.0, 8000.0, 9000.0, 2000.0, 100.0],
        "status": ["active", "inactive", "active", "active", "active"],
    }
    return (lambda g: lk.sensors_layer(g, COLORS)), _gdf(data, _points())


def _gaps():
    data = {
        "segment": [0, 1],
        "start_km": [1.5, 2.0],
        "end_km": [3.25, 4.0],
        "length_km": [1.75, 2.0],
        "sector_ids": [["S1", "S2"], []],
        "partners": [["A", "B"], []],
    }
    return lk.gaps_layer, _gdf(data, _lines())


def _overlaps():
    return lk.overlaps_layer, _gdf(
        {"segment": [0, 0], "start_km": [1.0, 5.0], "length_km": [0.5, 1.5]}, _lines()
    )


def _gap_areas():
    return (lambda g: lk.areas_layer(g, kind="gap")), _gdf(
        {"kind": ["gap"] * 3, "area_km2": [1.0, 2.0, 3.5]}, _polys()
    )


def _overlap_areas():
    return (lambda g: lk.areas_layer(g, kind="overlap")), _gdf(
        {"kind": ["overlap"] * 3, "area_km2": [1.0, 2.0, 3.5]}, _polys()
    )


def _detections():
    data = {
        "time": pd.to_datetime(["2026-11-01T00:00:10Z"] * 5, utc=True),
        "class": ["person", "vehicle", "person", "animal", "unknown"],
        "source": ["patrol", "s1", "s2", "hunter-report", "patrol"],
        "coverage_status": ["coverage", "gap", "outside", "gap", "coverage"],
    }
    return lk.detections_layer, _gdf(data, _points())


BUILDERS = {
    "basemap": _basemap,
    "border": _border,
    "corridor": _corridor,
    "sectors": _sectors,
    "footprints": _footprints,
    "sensors": _sensors,
    "gaps": _gaps,
    "overlaps": _overlaps,
    "gap_areas": _gap_areas,
    "overlap_areas": _overlap_areas,
    "detections": _detections,
}
POLYGON_BUILDERS = ["basemap", "corridor", "sectors", "footprints", "gap_areas", "overlap_areas"]
PATH_BUILDERS = ["border", "gaps", "overlaps"]
POINT_BUILDERS = ["sensors", "detections"]
assert sorted(POLYGON_BUILDERS + PATH_BUILDERS + POINT_BUILDERS) == sorted(BUILDERS)


def _records(layer: pdk.Layer) -> list[dict[str, Any]]:
    data = layer.data
    if isinstance(data, pd.DataFrame):
        return data.to_dict(orient="records")
    return list(data)


def _assert_rounded(values: Any, originals: Any) -> None:
    """``values`` are ``originals`` rounded to 5 decimals."""
    v = np.asarray(values, dtype=float)
    o = np.asarray(originals, dtype=float)
    assert v.shape == o.shape
    assert np.all(np.abs(v - o) <= 0.5e-5 + 1e-12), "not the nearest 5-decimal value"
    assert np.allclose(v * 1e5, np.round(v * 1e5), rtol=0, atol=1e-6), "more than 5 decimals"


# ---- CRS check ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILDERS))
def test_builder_accepts_epsg4326(name: str) -> None:
    build, gdf = BUILDERS[name]()
    assert isinstance(build(gdf), pdk.Layer)


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:32635", "EPSG:4258", None])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_builder_refuses_other_crs(name: str, crs: str | None) -> None:
    build, gdf = BUILDERS[name]()
    other = gdf.set_crs(None, allow_override=True) if crs is None else gdf.to_crs(crs)
    with pytest.raises(ValueError, match="EPSG:4326"):
        build(other)


def test_builder_refuses_a_plain_dataframe() -> None:
    _, gdf = _border()
    with pytest.raises(TypeError, match="GeoDataFrame"):
        lk.border_layer(pd.DataFrame(gdf))


def test_areas_layer_rejects_unknown_kind() -> None:
    _, gdf = _gap_areas()
    with pytest.raises(ValueError, match="'gap' or 'overlap'"):
        lk.areas_layer(gdf, kind="gaps")


# ---- records --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", POLYGON_BUILDERS)
def test_polygon_records_one_per_part_with_holes(name: str) -> None:
    build, gdf = BUILDERS[name]()
    records = _records(build(gdf))
    if name == "basemap":
        # The basemap starts with one sea rectangle under the countries, spanning them.
        sea, records = records[0], records[1:]
        xs, ys = zip(*sea["polygon"][0], strict=True)
        assert (min(xs), min(ys), max(xs), max(ys)) == pytest.approx(tuple(gdf.total_bounds))
    parts = [part for geom in gdf.geometry for part in shapely.get_parts(geom)]
    assert len(records) == len(parts) == 4  # the MultiPolygon gives two records
    for rec, part in zip(records, parts, strict=True):
        rings = [part.exterior, *part.interiors]
        assert len(rec["polygon"]) == len(rings)
        for got, ring in zip(rec["polygon"], rings, strict=True):
            _assert_rounded(got, np.asarray(ring.coords))
    assert len(records[0]["polygon"]) == 2  # the hole is kept


@pytest.mark.parametrize("name", PATH_BUILDERS)
def test_path_records_one_per_part(name: str) -> None:
    build, gdf = BUILDERS[name]()
    records = _records(build(gdf))
    parts = [part for geom in gdf.geometry for part in shapely.get_parts(geom)]
    assert len(records) == len(parts) == 3  # the MultiLineString gives two records
    for rec, part in zip(records, parts, strict=True):
        _assert_rounded(rec["path"], np.asarray(part.coords))


@pytest.mark.parametrize("name", POINT_BUILDERS)
def test_point_records_one_per_point(name: str) -> None:
    build, gdf = BUILDERS[name]()
    records = _records(build(gdf))
    assert len(records) == len(gdf)
    _assert_rounded([r["p"][0] for r in records], gdf.geometry.x)
    _assert_rounded([r["p"][1] for r in records], gdf.geometry.y)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_record_of_a_pickable_layer_has_a_short_text_tooltip(name: str) -> None:
    # Streamlit leaves "{tooltip}" as it is on an object without the field: every record of a
    # pickable layer needs one; a layer that is not pickable shows no tooltip and needs none.
    build, gdf = BUILDERS[name]()
    layer = build(gdf)
    records = _records(layer)
    assert records
    if not layer.pickable:
        assert all("tooltip" not in rec for rec in records)
        return
    for rec in records:
        tip = rec.get("tooltip")
        assert isinstance(tip, str)
        assert tip.strip()
        assert not re.search(r"<[a-z/][^>]*>", tip), f"markup in a text tooltip: {tip!r}"
        assert len(tip.splitlines()) <= lk.TOOLTIP_LINES


def test_deck_shows_tooltips_as_text_not_html() -> None:
    # The html mode of Streamlit's deck escapes the values: markup inside them showed raw.
    d = lk.deck([], lk.view_state((24.0, 54.0, 26.0, 55.0)))
    tooltip = json.loads(d.to_json()).get("tooltip") or d._tooltip
    assert tooltip["text"] == "{tooltip}"
    assert "html" not in tooltip


def test_tooltips_keep_user_text_as_text() -> None:
    # Plain text (innerText): user text is shown as typed, never run as markup.
    evil = '<img src=x onerror="alert(1)">'
    build, gdf = _sectors()
    gdf = gdf.assign(name=[evil, evil, evil], sector_id=[evil, "S2", "S3"])
    tips = [rec["tooltip"] for rec in _records(build(gdf))]
    assert tips[0].startswith(f"Sector {evil}")
    build, gdf = _detections()
    gdf = gdf.assign(source=[evil] * len(gdf))
    assert all(evil in rec["tooltip"] for rec in _records(build(gdf)))


def test_empty_and_missing_geometries_are_skipped() -> None:
    build, gdf = _sectors()
    gdf = gdf.copy()
    gdf.loc[1, "geometry"] = None
    gdf.loc[2, "geometry"] = shapely.Polygon()
    records = _records(build(gdf))
    assert len(records) == 1
    assert records[0]["sector_id"] == "S1"


# ---- highlight ------------------------------------------------------------------------------


def _fill_alpha(records: list[dict[str, Any]], sector_ids: set[str]) -> set[int]:
    return {r["fill"][3] for r in records if r["sector_id"] in sector_ids}


def test_sectors_highlight_raises_the_chosen_partner() -> None:
    _, gdf = _sectors()
    a_ids = set(gdf.loc[gdf["partner"] == "A", "sector_id"])
    b_ids = set(gdf.loc[gdf["partner"] == "B", "sector_id"])
    hl = _records(lk.sectors_layer(gdf, COLORS, highlight="A"))
    assert min(_fill_alpha(hl, a_ids)) > max(_fill_alpha(hl, b_ids))
    hl_b = _records(lk.sectors_layer(gdf, COLORS, highlight="B"))
    assert min(_fill_alpha(hl_b, b_ids)) > max(_fill_alpha(hl_b, a_ids))
    plain = _records(lk.sectors_layer(gdf, COLORS))
    assert _fill_alpha(plain, a_ids) == _fill_alpha(plain, b_ids)
    # colours follow the partner
    for rec in plain:
        partner = "A" if rec["sector_id"] in a_ids else "B"
        assert tuple(rec["fill"][:3]) == COLORS[partner]


# ---- the deck ---------------------------------------------------------------------------


_PROVIDER_URL = re.compile(r"https?://|carto|mapbox|maptiler|googleapis", re.IGNORECASE)


def _assert_no_basemap(spec: dict[str, Any], text: str) -> None:
    assert spec.get("mapProvider") is None
    assert not _PROVIDER_URL.search(text), "a tile or style URL in the deck"
    # st.pydeck_chart (Streamlit 1.67 DeckGlJsonChart) puts a Carto style in when mapStyle is
    # null or empty ("map_style=None: use Streamlit theme"); only pydeck's "__MAP_STYLE__"
    # placeholder, with no provider, is read as "no basemap".
    assert spec.get("mapStyle") == "__MAP_STYLE__", (
        f"mapStyle {spec.get('mapStyle')!r} loads a basemap"
    )


def test_deck_sets_no_map_provider() -> None:
    build, gdf = _border()
    d = lk.deck([build(gdf)], lk.view_state((24.0, 54.0, 26.0, 55.0)))
    assert d.map_provider is None
    text = d.to_json()
    _assert_no_basemap(json.loads(text), text)


@pytest.fixture(scope="module")
def sample_deck() -> pdk.Deck:
    """The map page's deck for the sample scenario, every layer on (as app_pages/map.py builds it)."""
    from layers.map import LAYERS, build_map

    sc = load_scenario(settings.SAMPLE_DIR)
    result = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    )
    return build_map(result, shown=list(LAYERS), dem=sc.dem)


def test_sample_map_json_is_under_1_5_mb() -> None:
    # issue 13's hard target: the map the app opens on (default layers, line of sight); every
    # rerun sends it (it was 3.6 MB). With every layer on (hillshade and count images too) it
    # stays under 2 MB.
    from layers.map import DEFAULT_OFF, LAYERS, build_map

    sc = load_scenario(settings.SAMPLE_DIR)
    result = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    )
    default = build_map(result, shown=[k for k in LAYERS if k not in DEFAULT_OFF], dem=sc.dem)
    size = len(default.to_json().encode("utf-8"))
    assert size < 1.5e6, f"map JSON of the sample is {size / 1e6:.2f} MB"
    everything = len(build_map(result, shown=list(LAYERS), dem=sc.dem).to_json().encode("utf-8"))
    assert everything < 2.0e6, f"map JSON with every layer on is {everything / 1e6:.2f} MB"


def test_sample_deck_payload_under_10_mb(sample_deck: pdk.Deck) -> None:
    text = sample_deck.to_json()
    size = len(text.encode("utf-8"))
    assert size < 10 * 1024 * 1024, f"deck JSON is {size / 1e6:.1f} MB"
    spec = json.loads(text)
    assert {layer["id"] for layer in spec["layers"]} >= {
        "basemap",
        "border",
        "gaps",
        "sensors",
        "detections",
    }
    _assert_no_basemap(spec, text)


def test_sample_deck_layers_are_complete(sample_deck: pdk.Deck) -> None:
    """The payload is small because coordinates are rounded, not because data was dropped."""
    sc = load_scenario(settings.SAMPLE_DIR)
    by_id = {layer.id: layer for layer in sample_deck.layers}
    assert sum(rec["n"] for rec in _records(by_id["detections"])) == len(sc.detections)
    points = [layer for layer in sample_deck.layers if layer.id.startswith("detection_points_")]
    assert sum(len(_records(layer)) for layer in points) == len(sc.detections)
    assert len(_records(by_id["sensors"])) == len(sc.sensors)
    for layer in sample_deck.layers:
        if layer.pickable:
            for rec in _records(layer):
                assert rec["tooltip"]


def test_constant_strings_reach_deckgl_as_strings() -> None:
    """pydeck turns bare strings into expressions: units must arrive as 'pixels', not @@=pixels."""
    from geo.coverage.analysis import analyse
    from geo.inputs.scenario import load_scenario
    from layers.map import LAYERS, build_map

    sc = load_scenario(Path(__file__).resolve().parents[1] / "sample_data")
    result = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)
    spec = json.loads(build_map(result, shown=list(LAYERS)).to_json())
    for layer in spec["layers"]:
        for key, value in layer.items():
            if key.endswith("Units"):
                assert value == "@@='pixels'" or value in ("pixels", "meters", "common"), (
                    layer["id"],
                    key,
                    value,
                )
