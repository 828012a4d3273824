"""Building the map of a view: hexagon aggregation, partner highlighting, headline numbers."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.core import settings
from geo.core.projection import choose_analysis_crs
from geo.coverage.analysis import analyse
from geo.coverage.hexbin import hexbin
from geo.coverage.views import headline
from geo.inputs.scenario import load_scenario
from layers import deck as lk
from layers.map import LAYERS, PREVIEW_HEXAGONS_ACROSS, build_map, preview_deck
from layers.style import DENSITY_RAMP

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample():
    sc = load_scenario(ROOT / "sample_data")
    return analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)


def test_hexbin_puts_every_point_in_its_hexagon():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(24, 26, 5_000), rng.uniform(54, 55, 5_000)
    pts = gpd.GeoDataFrame(
        {"flag": rng.random(5_000) < 0.3}, geometry=gpd.points_from_xy(lon, lat), crs=4326
    )
    hexes = hexbin(pts, choose_analysis_crs(lon, lat), size_m=5_000, flag="flag")
    assert hexes["count"].sum() == len(pts)
    assert hexes["flagged"].sum() == pts["flag"].sum()
    # Outside truth: count the points inside each hexagon polygon with GEOS.
    tree = shapely.STRtree(hexes.geometry.to_numpy())
    p_idx, h_idx = tree.query(pts.geometry.to_numpy(), predicate="intersects")
    counted = np.bincount(h_idx, minlength=len(hexes))
    assert np.unique(p_idx).size == len(pts)
    np.testing.assert_array_equal(counted, hexes["count"].to_numpy())
    # Hexagons of 5 km circumradius: area 3·√3/2·r² on the ground, within 1 %.
    area = np.array(
        [abs(settings_geod().geometry_area_perimeter(h)[0]) for h in hexes.geometry[:20]]
    )
    assert np.allclose(area, 1.5 * np.sqrt(3) * 5_000**2, rtol=0.01)


@pytest.mark.parametrize("size_m", [2_000.0, 1e-4], ids=["km", "cells-too-small-for-one-key"])
def test_hexbin_cells_on_both_sides_of_the_crs_origin(size_m):
    # Points around the fitted CRS's origin (an oblique Mercator centred on them), so axial
    # coordinates of both signs; and cells so small that their coordinates do not fit the
    # packed 64-bit key (the 2-column fallback).
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(-3, 3, 2_000), rng.uniform(-2, 2, 2_000)
    lon[1], lat[1] = lon[0], lat[0]  # two points in one cell
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    acrs = choose_analysis_crs(lon, lat)
    x, y = acrs.to_proj.transform(lon, lat)
    assert min(x) < 0 < max(x) and min(y) < 0 < max(y)
    if size_m < 1:
        assert max(np.abs(x).max(), np.abs(y).max()) / size_m > 2**31
    hexes = hexbin(pts, acrs, size_m=size_m)
    assert hexes["count"].sum() == len(pts) and hexes["count"].max() >= 2
    tree = shapely.STRtree(hexes.geometry.to_numpy())
    p_idx, h_idx = tree.query(pts.geometry.to_numpy(), predicate="intersects")
    assert np.unique(p_idx).size == len(pts)
    np.testing.assert_array_equal(
        np.bincount(h_idx, minlength=len(hexes)), hexes["count"].to_numpy()
    )


def test_hexagons_layer_draws_every_polygon_part_with_its_count():
    hexes = gpd.GeoDataFrame(
        {"count": [3, 10, 7, 1], "flagged": [1, 0, 2, None]},
        geometry=[
            shapely.box(24, 54, 24.1, 54.1),
            shapely.MultiPolygon(
                [
                    shapely.box(25, 54, 25.1, 54.1),
                    shapely.box(26, 54, 26.2, 54.2).difference(
                        shapely.box(26.05, 54.05, 26.1, 54.1)
                    ),
                ]
            ),
            shapely.Polygon(),
            None,
        ],
        crs=4326,
    )
    data = lk.hexagons_layer(hexes).data
    # outside truth: shapely's own parts and rings, in order
    want = [(shapely.box(24, 54, 24.1, 54.1), 3, 1)] + [
        (part, 10, 0) for part in shapely.get_parts(hexes.geometry[1])
    ]
    assert len(data) == len(want)
    for rec, (poly, count, flagged) in zip(data, want, strict=True):
        rings = [poly.exterior, *poly.interiors]
        assert rec["polygon"] == [np.round(np.asarray(r.coords), 5).tolist() for r in rings]
        assert rec["n"] == count
        assert rec["tooltip"] == f"{count} detections\nin gaps: {flagged}"
    assert data[1]["fill"] == list(DENSITY_RAMP[-1])  # the largest count is the darkest
    assert data[0]["fill"][3] < data[1]["fill"][3]


def _points(lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "time": pd.Timestamp("2026-11-01", tz="UTC"),
            "detection_id": [f"d{i}" for i in range(len(lon))],
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


def test_an_upload_preview_draws_points_up_to_the_limit_then_hexagons(monkeypatch):
    rng = np.random.default_rng(9)
    few = _points(rng.uniform(24, 25, 300), rng.uniform(54, 55, 300))
    spec = json.loads(preview_deck(few)[0].to_json())
    det = next(layer for layer in spec["layers"] if layer["id"] == "detections")
    assert det["@@type"] == "ScatterplotLayer" and len(det["data"]) == 300
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", 299)
    deck, caption = preview_deck(few)
    det = next(
        layer for layer in json.loads(deck.to_json())["layers"] if layer["id"] == "detections"
    )
    assert det["@@type"] == "PolygonLayer"
    assert sum(rec["n"] for rec in det["data"]) == 300
    assert caption.startswith("300 rows") and f"{len(det['data']):,} hexagons of 1.5 km" in caption


def test_an_upload_preview_of_points_spread_wide_stays_a_bounded_number_of_hexagons(monkeypatch):
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", 1_000)
    rng = np.random.default_rng(11)
    wide = _points(rng.uniform(-10, 40, 60_000), rng.uniform(35, 70, 60_000))
    deck, caption = preview_deck(wide)
    det = next(
        layer for layer in json.loads(deck.to_json())["layers"] if layer["id"] == "detections"
    )
    assert len(det["data"]) <= PREVIEW_HEXAGONS_ACROSS**2
    # the hexagons grew with the extent (a 1.5 km grid would give one hexagon per point)
    size_km = float(caption.split("hexagons of ")[1].split(" km")[0].replace(",", ""))
    diagonal_km = settings_geod().inv(-10, 35, 40, 70)[2] / 1000
    assert size_km == pytest.approx(diagonal_km / PREVIEW_HEXAGONS_ACROSS / np.sqrt(3), rel=0.01)
    assert sum(r["n"] for r in det["data"]) == 60_000


def settings_geod():
    from pyproj import Geod

    return Geod(ellps="WGS84")


def _ids(spec):
    return [layer["id"] for layer in spec["layers"]]


def test_many_detections_are_only_hexagons(sample, monkeypatch):
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", 1_000)
    spec = json.loads(build_map(sample).to_json())
    det = next(layer for layer in spec["layers"] if layer["id"] == "detections")
    assert det["@@type"] == "PolygonLayer"
    assert sum(rec["n"] for rec in det["data"]) == len(sample.layers["detections"])
    assert not [i for i in _ids(spec) if i.startswith("detection_points")]


def test_detections_are_hexagons_with_points_for_zooming_in(sample):
    det = sample.layers["detections"]
    spec = json.loads(build_map(sample).to_json())
    layers = {layer["id"]: layer for layer in spec["layers"]}
    hexes = layers["detections"]
    assert hexes["@@type"] == "PolygonLayer" and hexes["pickable"]
    assert sum(rec["n"] for rec in hexes["data"]) == len(det)
    # every point in a layer of its status, sized in metres so that it shows only zoomed in
    for status in ("coverage", "gap", "outside"):
        points = layers[f"detection_points_{status}"]
        assert len(points["data"]) == int((det["coverage_status"] == status).sum())
        assert points.get("radiusUnits", "meters") == "meters" and points["radiusMinPixels"] == 0
        assert not points["pickable"]
    # the circles of detections in gaps: one per hexagon holding any, the largest for the most
    circles = layers["gap_detections"]["data"]
    in_gap = [int(rec["tooltip"].split("in gaps: ")[1].replace(",", "")) for rec in hexes["data"]]
    assert len(circles) == sum(n > 0 for n in in_gap)


def test_layer_choice_and_unknown_layers(sample):
    spec = json.loads(build_map(sample, shown=["border", "gaps"]).to_json())
    assert _ids(spec) == ["border", "gaps", "border_line", "gap_labels"]
    with pytest.raises(ValueError, match="unknown layers"):
        build_map(sample, shown=["nope"])
    assert set(LAYERS) >= {"border", "gaps", "detections", "basemap"}


@pytest.mark.parametrize("partner", ["EU", "LTU", "LVA", "POL"])
def test_headline_of_a_partner_is_its_sectors(sample, partner):
    rep = sample.report
    h = headline(rep, partner)
    mine = [s for s in rep["sectors"] if s["partner"] == partner]
    # Its sectors do not overlap each other in the sample, so their lengths add up.
    assert h.length_km == pytest.approx(sum(s["border_km"] for s in mine), rel=1e-6)
    assert h.covered_km == pytest.approx(sum(s["covered_km"] for s in mine), rel=1e-6)
    assert all(partner in g["partners"] for g in h.gaps)
    assert [g["length_km"] for g in h.gaps] == sorted(
        (g["length_km"] for g in h.gaps), reverse=True
    )
    det = sample.layers["detections"]
    ids = {s["sector_id"] for s in mine}
    in_mine = det["sector_ids"].str.split(",").map(lambda xs: bool(ids & set(xs)))
    assert h.detections == int(in_mine.sum())
    assert h.detections_in_gaps == int((in_mine & (det["coverage_status"] == "gap")).sum())
    with pytest.raises(ValueError, match="unknown partner"):
        headline(rep, "XX")


def test_detections_in_a_gap_are_blind_and_beside_it(sample):
    from pyproj import Geod

    from geo.coverage.views import detections_in_gap

    gap = max(sample.report["gaps"], key=lambda g: g["length_km"])
    inside = detections_in_gap(sample, gap["segment"], gap["start_km"], gap["end_km"])
    assert len(inside) > 0
    assert (inside["coverage_status"] == "gap").all()
    # Outside truth: each one is nearer (geodesically) to the gap's own line than to the rest
    # of the border, within the corridor depth.
    gaps = sample.layers["gaps"]
    gap_line = gaps.geometry[
        (gaps["segment"] == gap["segment"]) & (gaps["start_km"] == gap["start_km"])
    ].iloc[0]
    geod = Geod(ellps="WGS84")
    coords = np.asarray(gap_line.coords)
    for pt in inside.geometry[:50]:
        d = geod.inv(
            np.full(len(coords), pt.x), np.full(len(coords), pt.y), coords[:, 0], coords[:, 1]
        )[2].min()
        assert d <= sample.report["parameters"]["corridor_km"] * 1000 * 1.05


def test_detections_in_a_sector(sample):
    from geo.coverage.views import detections_in_sector

    for sec in sample.report["sectors"]:
        assert len(detections_in_sector(sample, sec["sector_id"])) == sec["detections"]
    with pytest.raises(ValueError, match="unknown sector"):
        detections_in_sector(sample, "nope")


def test_hillshade_of_a_tilted_plane_matches_lambert():
    import math

    from geo.terrain.hillshade import hillshade

    s = math.radians(20)
    x = np.arange(50) * 30.0
    z = np.tile(x * math.tan(s), (40, 1))  # rises to the east: faces west (downslope 270°)
    shade = hillshade(z, cell_size_m=(30.0, 30.0), azimuth_deg=315, altitude_deg=45)
    zen = math.radians(45)
    expected = math.cos(zen) * math.cos(s) + math.sin(zen) * math.sin(s) * math.cos(
        math.radians(315 - 270)
    )
    assert np.allclose(shade[1:-1, 1:-1], expected, atol=1e-9)
    # Facing away from the sun is darker.
    assert hillshade(-z, cell_size_m=(30.0, 30.0))[5, 5] < expected


def test_hillshade_layer_only_with_a_dem(sample):
    dem = ROOT / "sample_data" / "dem.tif"
    spec = json.loads(build_map(sample, shown=["hillshade", "border"], dem=dem).to_json())
    hs = next(layer for layer in spec["layers"] if layer["id"] == "hillshade")
    assert hs["@@type"] == "BitmapLayer"
    assert hs["image"].startswith("data:image/png;base64,")
    west, south, east, north = hs["bounds"]
    xmin, ymin, xmax, ymax = sample.layers["corridor"].total_bounds
    assert west < xmin and east > xmax and south < ymin and north > ymax
    spec = json.loads(build_map(sample, shown=["hillshade", "border"]).to_json())
    assert [layer["id"] for layer in spec["layers"]] == ["border"]


def test_yielding_labels_move_or_give_way_and_cached_layers_stay_as_built():
    import pydeck as pdk

    from layers.map import declutter, label_boxes

    view = pdk.ViewState(longitude=25.0, latitude=54.5, zoom=8)
    gap = lk.labels_layer(
        pd.DataFrame({"lon": [25.0], "lat": [54.5], "text": ["G1 26.9 km"]}),
        id="gap_labels",
        anchor="start",
        offset_px=(9.0, 0.0),
    )
    # A place right on the gap label's left edge (its name would run into it), one free.
    towns = pd.DataFrame({"lon": [24.995, 24.2], "lat": [54.5, 54.9], "text": ["Blocked", "Free"]})
    dots = lk.places_layer(
        gpd.GeoDataFrame(geometry=gpd.points_from_xy(towns.lon, towns.lat), crs=4326)
    )
    names = lk.labels_layer(towns, id="place_labels", anchor="start", offset_px=(5.0, 0.0))
    before = json.dumps(names.data)
    out = {layer.id: layer for layer in declutter([gap, dots, names], view)}
    assert json.dumps(names.data) == before  # the built (cached) layer is not changed
    texts = {d["t"]: d for d in out["place_labels"].data}
    assert texts["Blocked"]["a"] == "end"  # moved to the left of its dot
    assert texts["Free"]["a"] == "start"
    boxes = label_boxes(out["place_labels"], view)
    g = label_boxes(gap, view)[0]
    assert not (
        (boxes[:, 0] < g[2]) & (boxes[:, 2] > g[0]) & (boxes[:, 1] < g[3]) & (boxes[:, 3] > g[1])
    ).any()
    # Boxed in on both sides: the name and its dot go.
    wall = lk.labels_layer(
        pd.DataFrame({"lon": [24.98, 25.0], "lat": [54.5, 54.5], "text": ["XXXXXXXXXXXX"] * 2}),
        id="gap_labels",
        anchor="middle",
    )
    out = {layer.id: layer for layer in declutter([wall, dots, names], view)}
    assert [d["t"] for d in out["place_labels"].data] == ["Free"]
    assert len(out["places"].data) == 1


@pytest.mark.parametrize(
    "shown",
    [
        tuple(
            k
            for k in LAYERS
            if k not in {"overlap_areas", "overlaps", "hillshade", "coverage_count"}
        ),
        ("border", "gaps"),
        ("detections", "sectors", "basemap"),
        tuple(LAYERS),
    ],
)
@pytest.mark.parametrize("partner", [None, "POL"])
def test_the_legend_lists_exactly_the_layers_drawn(sample, shown, partner):
    from layers.legend import legend_entries
    from layers.map import layer_keys
    from layers.style import partner_colors

    deck = build_map(sample, shown=shown, partner=partner)
    entries = legend_entries(
        deck, partner_colours=partner_colors(sample.report["partners"]), partner=partner
    )
    drawn = set(layer_keys(layer.id for layer in deck.layers))
    assert {e.layer for e in entries} - {"partners"} == drawn
    assert any(e.layer == "partners" for e in entries) == bool(
        drawn & {"sectors", "footprints", "sensors"}
    )
    if "detections" in drawn:  # the density ramp is shown as a ramp
        assert any(e.symbol == "ramp" and e.layer == "detections" for e in entries)
    muted = [e.label for e in entries if e.layer == "partners" and "(muted)" in e.label]
    assert (
        (len(muted) == len(sample.report["partners"]) - 1)
        if partner and "partners" in {e.layer for e in entries}
        else not muted
    )


def test_the_initial_view_fits_the_corridor_in_the_map_as_the_page_lays_it_out(sample):
    # At 1600 x 1000 with the sidebar open the map is 816-847 px wide and MAP_HEIGHT_PX high: the
    # corridor and the sectors stay inside it with a margin (deck.gl's Web Mercator, 512-px world).
    import math

    from layers.map import MAP_HEIGHT_PX, MAP_MARGIN_PX

    v = build_map(sample).initial_view_state
    scale = 512 * 2**v.zoom

    def px(lon, lat):
        merc = lambda phi: math.log(math.tan(math.pi / 4 + math.radians(phi) / 2))  # noqa: E731
        return (lon - v.longitude) / 360 * scale, (merc(v.latitude) - merc(lat)) / (
            2 * math.pi
        ) * scale

    boxes = [sample.layers["corridor"].total_bounds, sample.layers["sectors"].total_bounds]
    for width in (816, 847, 1000):
        for x0, y0, x1, y1 in boxes:
            for lon, lat in ((x0, y0), (x0, y1), (x1, y0), (x1, y1)):
                x, y = px(lon, lat)
                assert abs(x) <= width / 2 - MAP_MARGIN_PX + 1, (width, lon, lat, x)
                assert abs(y) <= MAP_HEIGHT_PX / 2 - MAP_MARGIN_PX + 1, (lon, lat, y)
