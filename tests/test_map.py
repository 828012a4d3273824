"""Building the map of a view: hexagon aggregation, partner highlighting, headline numbers."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo import settings
from geo.analysis import analyse
from geo.hexbin import hexbin
from geo.projection import choose_analysis_crs
from geo.scenario import load_scenario
from geo.views import headline
from layers.map import LAYERS, build_map

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample():
    sc = load_scenario(ROOT / "sample_data")
    return analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)


def test_hexbin_puts_every_point_in_its_hexagon():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(24, 26, 5_000), rng.uniform(54, 55, 5_000)
    pts = gpd.GeoDataFrame({"flag": rng.random(5_000) < 0.3}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
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
    area = np.array([abs(settings_geod().geometry_area_perimeter(h)[0]) for h in hexes.geometry[:20]])
    assert np.allclose(area, 1.5 * np.sqrt(3) * 5_000**2, rtol=0.01)


def settings_geod():
    from pyproj import Geod

    return Geod(ellps="WGS84")


def test_many_detections_become_hexagons(sample, monkeypatch):
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", 1_000)
    spec = json.loads(build_map(sample).to_json())
    det = next(layer for layer in spec["layers"] if layer["id"] == "detections")
    assert det["@@type"] == "PolygonLayer"
    total = sum(int(rec["tooltip"].split("count: <b>")[1].split("<")[0].replace(",", "")) for rec in det["data"])
    assert total == len(sample.layers["detections"])


def test_points_below_the_threshold(sample):
    spec = json.loads(build_map(sample).to_json())
    det = next(layer for layer in spec["layers"] if layer["id"] == "detections")
    assert det["@@type"] == "ScatterplotLayer"
    assert len(det["data"]) == len(sample.layers["detections"])


def test_layer_choice_and_unknown_layers(sample):
    spec = json.loads(build_map(sample, shown=["border", "gaps"]).to_json())
    assert [layer["id"] for layer in spec["layers"]] == ["border", "gaps"]
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
    assert [g["length_km"] for g in h.gaps] == sorted((g["length_km"] for g in h.gaps), reverse=True)
    det = sample.layers["detections"]
    ids = {s["sector_id"] for s in mine}
    in_mine = det["sector_ids"].str.split(",").map(lambda xs: bool(ids & set(xs)))
    assert h.detections == int(in_mine.sum())
    assert h.detections_in_gaps == int((in_mine & (det["coverage_status"] == "gap")).sum())
    with pytest.raises(ValueError, match="unknown partner"):
        headline(rep, "XX")


def test_detections_in_a_gap_are_blind_and_beside_it(sample):
    from pyproj import Geod

    from geo.views import detections_in_gap

    gap = max(sample.report["gaps"], key=lambda g: g["length_km"])
    inside = detections_in_gap(sample, gap["segment"], gap["start_km"], gap["end_km"])
    assert len(inside) > 0
    assert (inside["coverage_status"] == "gap").all()
    # Outside truth: each one is nearer (geodesically) to the gap's own line than to the rest
    # of the border, within the corridor depth.
    gaps = sample.layers["gaps"]
    gap_line = gaps.geometry[(gaps["segment"] == gap["segment"]) & (gaps["start_km"] == gap["start_km"])].iloc[0]
    geod = Geod(ellps="WGS84")
    coords = np.asarray(gap_line.coords)
    for pt in inside.geometry[:50]:
        d = geod.inv(np.full(len(coords), pt.x), np.full(len(coords), pt.y), coords[:, 0], coords[:, 1])[2].min()
        assert d <= sample.report["parameters"]["corridor_km"] * 1000 * 1.05


def test_detections_in_a_sector(sample):
    from geo.views import detections_in_sector

    for sec in sample.report["sectors"]:
        assert len(detections_in_sector(sample, sec["sector_id"])) == sec["detections"]
    with pytest.raises(ValueError, match="unknown sector"):
        detections_in_sector(sample, "nope")


def test_hillshade_of_a_tilted_plane_matches_lambert():
    import math

    from geo.terrain import hillshade

    s = math.radians(20)
    x = np.arange(50) * 30.0
    z = np.tile(x * math.tan(s), (40, 1))  # rises to the east: faces west (downslope 270°)
    shade = hillshade(z, cell_size_m=(30.0, 30.0), azimuth_deg=315, altitude_deg=45)
    zen = math.radians(45)
    expected = math.cos(zen) * math.cos(s) + math.sin(zen) * math.sin(s) * math.cos(math.radians(315 - 270))
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
