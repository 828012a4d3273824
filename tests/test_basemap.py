"""The basemap countries are cut at the antimeridian (issue 13), and the cutting itself.

geo/basemap/data/countries.geojson is read by the map (as flat polygons), by geo.basemap.gazetteer and by the
snapshot. Checked against pyproj's geodesic areas, known country areas and known places.
"""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Polygon

from geo.basemap.gazetteer import COUNTRIES_FILE
from geo.core.antimeridian import cut_at_antimeridian, jumps_antimeridian

GEOD = Geod(ellps="WGS84")


def geodesic_area_km2(geom) -> float:
    """Geodesic area (km²) on WGS84, exteriors counter-clockwise as pyproj counts them."""
    return abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))[0]) / 1e6


@pytest.fixture(scope="module")
def countries():
    return pyogrio.read_dataframe(COUNTRIES_FILE).set_index("name")


# ---- the shipped basemap -----------------------------------------------------------------


def test_no_edge_spans_more_than_180_degrees_of_longitude(countries):
    longest = {}
    for name, geom in countries.geometry.items():
        rings = [r for p in shapely.get_parts(geom) for r in (p.exterior, *p.interiors)]
        longest[name] = max(np.abs(np.diff(np.asarray(r.coords)[:, 0])).max() for r in rings)
    assert max(longest.values()) <= 180.0, {k: v for k, v in longest.items() if v > 180.0}
    assert not any(jumps_antimeridian(g) for g in countries.geometry)


def test_every_polygon_is_valid_lon_lat(countries):
    assert countries.geometry.is_valid.all()
    xmin, ymin, xmax, ymax = countries.total_bounds
    assert (xmin, ymin, xmax) == (-180.0, -90.0, 180.0)
    assert ymax <= 90.0


@pytest.mark.parametrize(
    ("lon", "lat", "where"),
    [
        (18.0, 67.0, "northern Sweden"),
        (-100.0, 60.0, "Canada"),
        (-100.0, 67.0, "Nunavut"),
        (0.0, 75.0, "Greenland Sea"),
    ],
)
def test_russia_does_not_cover_the_rest_of_the_arctic(countries, lon, lat, where):
    assert not countries.loc["Russia", "geometry"].covers(shapely.Point(lon, lat)), where


@pytest.mark.parametrize(
    ("lon", "lat", "where"),
    [
        (37.62, 55.75, "Moscow"),
        (172.0, 66.0, "Chukotka west of 180°"),
        (-175.0, 66.5, "Chukotka east of 180°"),
    ],
)
def test_russia_still_covers_its_land_on_both_sides_of_180(countries, lon, lat, where):
    assert countries.loc["Russia", "geometry"].covers(shapely.Point(lon, lat)), where


def test_fiji_stays_within_its_longitudes(countries):
    parts = shapely.get_parts(countries.loc["Fiji", "geometry"])
    west = [p for p in parts if p.bounds[0] < 0]
    east = [p for p in parts if p.bounds[0] >= 0]
    assert west
    assert east
    # The Lau islands east of 180° reach 178.2° W.
    assert all(p.bounds[2] <= -178.0 for p in west)
    # Everything west of 180° is from Rotuma (177.0° E) eastwards, except the reef of
    # Ceva-i-Ra (Conway Reef, 21.7° S 174.6° E), which is Fiji's too.
    reef = [p for p in east if p.bounds[0] < 177.0]
    assert len(reef) == 1
    assert shapely.Point(174.61, -21.69).within(reef[0].buffer(0.05))
    assert all(p.bounds[2] <= 180.0 for p in east)


@pytest.mark.parametrize(
    ("name", "known_km2", "rel"),
    [
        # 17,098,246 km² (Rosstat), plus Crimea (27,000 km²), which Natural Earth gives Russia;
        # the 1:50m coastline leaves ~1 % out.
        ("Russia", 17_125_000, 0.03),
        ("Fiji", 18_274, 0.03),
        # Natural Earth's Antarctica is the land and grounded ice, without the ice shelves.
        ("Antarctica", 12_300_000, 0.03),
    ],
)
def test_areas_across_the_antimeridian_are_the_real_ones(countries, name, known_km2, rel):
    assert geodesic_area_km2(countries.loc[name, "geometry"]) == pytest.approx(known_km2, rel=rel)


def test_antarctica_covers_the_south_pole_and_nothing_north_of_60s(countries):
    antarctica = countries.loc["Antarctica", "geometry"]
    assert antarctica.covers(shapely.Point(0.0, -89.9))
    assert antarctica.covers(shapely.Point(179.9, -89.0))
    assert antarctica.bounds[3] < -60.0


def test_the_file_keeps_its_properties_and_precision():
    collection = json.loads(COUNTRIES_FILE.read_text(encoding="utf-8"))
    features = collection["features"]
    assert len(features) == 241
    assert all(list(f["properties"]) == ["name", "iso_n3"] for f in features)
    names = [f["properties"]["name"] for f in features]
    assert len(set(names)) == len(names)
    coords = np.concatenate(
        [shapely.get_coordinates(shapely.geometry.shape(f["geometry"])) for f in features]
    )
    np.testing.assert_allclose(coords * 1e4, np.round(coords * 1e4), atol=1e-6)  # 4 decimals


# ---- geo.core.antimeridian --------------------------------------------------------------------


def test_a_polygon_across_180_is_cut_into_two_with_its_geodesic_area():
    ring = [(178.0, -17.0), (-178.0, -17.0), (-178.0, -16.0), (178.0, -16.0)]
    cut = cut_at_antimeridian(Polygon(ring))
    assert cut.geom_type == "MultiPolygon"
    assert sorted(np.round(p.bounds, 9).tolist() for p in cut.geoms) == [
        [-180.0, -17.0, -178.0, -16.0],
        [178.0, -17.0, 180.0, -16.0],
    ]
    # pyproj reads longitudes continuously: the ring unwrapped (178° to 182°) is the truth,
    # with the vertices the cut adds at 180° (a geodesic edge is not a parallel).
    truth = abs(
        GEOD.polygon_area_perimeter(
            [178.0, 180.0, 182.0, 182.0, 180.0, 178.0], [-17.0, -17.0, -17.0, -16.0, -16.0, -16.0]
        )[0]
    )
    assert geodesic_area_km2(cut) * 1e6 == pytest.approx(truth, rel=1e-9)


def test_a_hole_across_180_stays_a_hole():
    shell = [(170.0, 0.0), (-170.0, 0.0), (-170.0, 10.0), (170.0, 10.0)]
    hole = [(179.0, 4.0), (179.0, 6.0), (-179.0, 6.0), (-179.0, 4.0)]
    cut = cut_at_antimeridian(Polygon(shell, [hole]))
    assert cut.area == pytest.approx(200.0 - 4.0)
    assert not cut.covers(shapely.Point(179.5, 5.0))
    assert not cut.covers(shapely.Point(-179.5, 5.0))
    assert cut.covers(shapely.Point(175.0, 5.0))
    assert not cut.covers(shapely.Point(0.0, 5.0))


def test_a_ring_round_the_pole_is_closed_along_it():
    lon = np.linspace(-170.0, 170.0, 35)
    ring = list(zip(lon, np.full_like(lon, -70.0), strict=True))  # jumps from 170 to -170
    cut = cut_at_antimeridian(Polygon(ring))
    assert cut.covers(shapely.Point(0.0, -89.0))
    assert cut.covers(shapely.Point(180.0, -80.0))
    assert not cut.covers(shapely.Point(0.0, -60.0))
    assert cut.bounds == (-180.0, -90.0, 180.0, -70.0)
    assert not jumps_antimeridian(cut)


def test_polygons_that_do_not_jump_are_returned_as_they_are():
    square = shapely.box(10.0, 10.0, 11.0, 11.0)
    assert cut_at_antimeridian(square) is square
    line = shapely.LineString([(179.0, 0.0), (-179.0, 0.0)])
    assert cut_at_antimeridian(line) is line
    assert not jumps_antimeridian(line)
