"""Coverage analysis against analytic geometry and pyproj's geodesics.

Every expected value here comes from outside the code under test: the geometry of a circle,
a wedge or an annulus cut by a line, and lengths and areas on the WGS84 ellipsoid from
:class:`pyproj.Geod`. Each case runs at the equator and at 60°N.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo.core.errors import ValidationError
from geo.coverage.analysis import analyse, sensor_footprints
from geo.coverage.footprints import footprint_polygons

GEOD = Geod(ellps="WGS84")
LATITUDES = [0.0, 60.0]


def geodesic_border(lon0: float, lat0: float, azimuth: float, length_m: float, n: int = 200):
    """A border along one geodesic, as a LineString with ``n`` vertices."""
    lon1, lat1, _ = GEOD.fwd(lon0, lat0, azimuth, length_m)
    pts = GEOD.npts(lon0, lat0, lon1, lat1, n - 2)
    return shapely.LineString([(lon0, lat0), *pts, (lon1, lat1)])


def border_gdf(*lines, names=None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": names or [f"b{i}" for i in range(len(lines))]}, geometry=list(lines), crs=4326
    )


def sensors_gdf(rows: list[dict]) -> gpd.GeoDataFrame:
    defaults = {
        "kind": "tower",
        "min_range_m": 0.0,
        "azimuth_deg": np.nan,
        "fov_deg": 360.0,
        "status": "active",
        "height_m": 20.0,
    }
    recs = []
    for i, r in enumerate(rows):
        rec = {**defaults, "sensor_id": f"s{i}", "partner": "P", **r}
        recs.append(rec)
    df = pd.DataFrame(
        recs,
        columns=[*defaults, "sensor_id", "partner", "range_m", "lon", "lat"] if not recs else None,
    )
    geom = gpd.points_from_xy(df.pop("lon"), df.pop("lat"), crs=4326)
    return gpd.GeoDataFrame(df, geometry=geom, crs=4326)


def point_along(lat0: float, azimuth: float, dist_m: float, lon0: float = 20.0):
    lon, lat, back = GEOD.fwd(lon0, lat0, azimuth, dist_m)
    return lon, lat, back


@pytest.fixture(params=LATITUDES, ids=lambda v: f"lat{v:g}")
def setting(request):
    """A 100 km geodesic border heading roughly east (azimuth 80°) from (20°E, lat)."""
    lat0 = request.param
    return lat0, geodesic_border(20.0, lat0, 80.0, 100_000.0)


def test_border_length_matches_geodesic(setting):
    _, line = setting
    rep = analyse(border_gdf(line), sensors_gdf([])).report
    assert rep["border"]["length_km"] == pytest.approx(GEOD.geometry_length(line) / 1000, rel=1e-6)
    assert rep["border"]["covered_km"] == 0
    assert [g["length_km"] for g in rep["gaps"]] == [pytest.approx(rep["border"]["length_km"])]


def test_disk_centred_on_border_covers_its_chord(setting):
    lat0, _ = setting
    r = 10_000.0
    lon, lat, _ = point_along(lat0, 80.0, 40_000.0)
    rep = analyse(
        border_gdf(setting[1]), sensors_gdf([{"lon": lon, "lat": lat, "range_m": r}])
    ).report
    assert rep["border"]["covered_km"] == pytest.approx(2 * r / 1000, rel=1e-4)
    # The gap before the disk ends, and the one after begins, one radius either side.
    first, second = rep["gaps"]
    assert first["start_km"] == 0
    assert first["end_km"] == pytest.approx(30.0, rel=1e-4)
    assert second["start_km"] == pytest.approx(50.0, rel=1e-4)
    assert second["end_km"] == pytest.approx(100.0, rel=1e-6)
    assert first["midpoint"][0] == pytest.approx(point_along(lat0, 80.0, 15_000.0)[0], abs=1e-4)


def test_disk_beside_border_covers_its_chord(setting):
    lat0, line = setting
    r, h = 10_000.0, 6_000.0
    lon_c, lat_c, back = point_along(lat0, 80.0, 50_000.0)
    # Step off the border at right angles (the border's local azimuth at that point is back-180).
    lon, lat, _ = GEOD.fwd(lon_c, lat_c, back - 180 - 90, h)
    rep = analyse(border_gdf(line), sensors_gdf([{"lon": lon, "lat": lat, "range_m": r}])).report
    assert rep["border"]["covered_km"] == pytest.approx(2 * math.sqrt(r**2 - h**2) / 1000, rel=1e-3)


@pytest.mark.parametrize("facing", ["towards", "away"])
def test_wedge_covers_only_what_it_faces(setting, facing):
    lat0, line = setting
    h, fov = 3_000.0, 60.0
    lon_c, lat_c, back = point_along(lat0, 80.0, 50_000.0)
    border_az = back - 180
    lon, lat, back2 = GEOD.fwd(lon_c, lat_c, border_az - 90, h)  # 3 km to the left (north side)
    towards = (back2) % 360  # azimuth from the sensor back to the border point
    az = towards if facing == "towards" else (towards + 180) % 360
    s = sensors_gdf(
        [{"lon": lon, "lat": lat, "range_m": 20_000.0, "azimuth_deg": az, "fov_deg": fov}]
    )
    rep = analyse(border_gdf(line), s).report
    expected = 2 * h * math.tan(math.radians(fov / 2)) / 1000 if facing == "towards" else 0.0
    assert rep["border"]["covered_km"] == pytest.approx(expected, rel=2e-3, abs=1e-9)


def test_reflex_wedge_is_the_complement_of_a_cone(setting):
    lat0, line = setting
    h = 3_000.0
    lon_c, lat_c, back = point_along(lat0, 80.0, 50_000.0)
    lon, lat, back2 = GEOD.fwd(lon_c, lat_c, back - 180 - 90, h)
    # 300° of view facing away: the 60° cone towards the border is blind.
    s = sensors_gdf(
        [
            {
                "lon": lon,
                "lat": lat,
                "range_m": 10_000.0,
                "azimuth_deg": (back2 + 180) % 360,
                "fov_deg": 300.0,
            }
        ]
    )
    rep = analyse(border_gdf(line), s).report
    chord = 2 * math.sqrt(10_000.0**2 - h**2)
    blind = 2 * h * math.tan(math.radians(30))
    assert rep["border"]["covered_km"] == pytest.approx((chord - blind) / 1000, rel=2e-3)


def test_annulus_leaves_a_hole(setting):
    lat0, line = setting
    lon, lat, _ = point_along(lat0, 80.0, 40_000.0)
    s = sensors_gdf([{"lon": lon, "lat": lat, "range_m": 10_000.0, "min_range_m": 3_000.0}])
    rep = analyse(border_gdf(line), s, min_gap_m=0).report
    assert rep["border"]["covered_km"] == pytest.approx(14.0, rel=1e-4)
    hole = [g for g in rep["gaps"] if 31 < g["start_km"] < 49]
    assert len(hole) == 1
    assert hole[0]["start_km"] == pytest.approx(37.0, rel=1e-4)
    assert hole[0]["length_km"] == pytest.approx(6.0, rel=1e-4)
    total_gap = sum(g["length_km"] for g in rep["gaps"])
    assert total_gap == pytest.approx(
        rep["border"]["length_km"] - rep["border"]["covered_km"], abs=1e-5
    )


def test_two_partners_overlap_exactly(setting):
    lat0, line = setting
    r, sep = 8_000.0, 5_000.0
    a = point_along(lat0, 80.0, 40_000.0)
    b = point_along(lat0, 80.0, 40_000.0 + sep)
    s = sensors_gdf(
        [
            {"lon": a[0], "lat": a[1], "range_m": r, "partner": "A"},
            {"lon": b[0], "lat": b[1], "range_m": r, "partner": "B"},
        ]
    )
    rep = analyse(border_gdf(line), s).report
    assert rep["border"]["overlap_km"] == pytest.approx((2 * r - sep) / 1000, rel=1e-4)
    assert rep["border"]["redundant_km"] == pytest.approx((2 * r - sep) / 1000, rel=1e-4)
    assert rep["border"]["covered_km"] == pytest.approx((2 * r + sep) / 1000, rel=1e-4)
    assert rep["partners"]["A"]["covered_km"] == pytest.approx(2 * r / 1000, rel=1e-4)
    # Same partner twice: redundancy, but no overlap between partners.
    s2 = s.assign(partner="A")
    rep2 = analyse(border_gdf(line), s2).report
    assert rep2["border"]["overlap_km"] == 0
    assert rep2["border"]["redundant_km"] == pytest.approx((2 * r - sep) / 1000, rel=1e-4)


def test_inactive_sensor_covers_nothing(setting):
    lat0, line = setting
    lon, lat, _ = point_along(lat0, 80.0, 40_000.0)
    s = sensors_gdf([{"lon": lon, "lat": lat, "range_m": 10_000.0, "status": "inactive"}])
    rep = analyse(border_gdf(line), s).report
    assert rep["border"]["covered_km"] == 0
    assert rep["partners"]["P"]["sensors"] == 1
    assert rep["partners"]["P"]["active_sensors"] == 0


@pytest.mark.parametrize("lat0", LATITUDES)
@pytest.mark.parametrize("azimuth", [90.0, 0.0, 45.0])
def test_long_border_lengths_and_coverage_are_geodesic(lat0, azimuth):
    """3,000 km borders: a plain UTM zone would be off by percent; we must be within 0.5 %."""
    if azimuth == 0.0 and lat0 == 60.0:
        lat0 = 45.0  # 3,000 km north from 60°N would cross the pole
    line = geodesic_border(-10.0, lat0 - (13 if azimuth == 0 else 0), azimuth, 3_000_000.0, n=400)
    coords = np.asarray(line.coords)
    # Sensors every 100 km along the border, 10 km range: 20 km covered each.
    dists = np.arange(50_000.0, 3_000_000.0, 100_000.0)
    lon, lat, _ = GEOD.fwd(
        np.full(dists.size, coords[0, 0]),
        np.full(dists.size, coords[0, 1]),
        np.full(dists.size, azimuth),
        dists,
    )
    s = sensors_gdf(
        [{"lon": x, "lat": y, "range_m": 10_000.0} for x, y in zip(lon, lat, strict=True)]
    )
    rep = analyse(border_gdf(line), s, corridor_km=5).report
    assert rep["border"]["length_km"] == pytest.approx(GEOD.geometry_length(line) / 1000, rel=1e-5)
    assert rep["border"]["covered_km"] == pytest.approx(dists.size * 20.0, rel=1e-3)
    # Corridor: a 10 km wide band with round ends. Footprints: inscribed 64-gons.
    length_m = GEOD.geometry_length(line)
    assert rep["corridor"]["area_km2"] == pytest.approx(
        (2 * 5_000 * length_m + math.pi * 5_000**2) / 1e6, rel=5e-3
    )
    assert rep["corridor"]["covered_km2"] + rep["corridor"]["gap_km2"] == pytest.approx(
        rep["corridor"]["area_km2"], rel=1e-6
    )


def test_footprint_area_in_corridor_is_geodesic(setting):
    lat0, line = setting
    lon, lat, _ = point_along(lat0, 80.0, 50_000.0)
    s = sensors_gdf([{"lon": lon, "lat": lat, "range_m": 3_000.0}])
    rep = analyse(border_gdf(line), s, corridor_km=10).report
    n = 64
    inscribed = 0.5 * n * math.sin(2 * math.pi / n) * 3_000.0**2
    assert rep["corridor"]["covered_km2"] == pytest.approx(inscribed / 1e6, rel=1e-3)
    # Geodesic truth for the polygon itself.
    fp = analyse(border_gdf(line), s, corridor_km=10).layers["footprints"].geometry.iloc[0]
    area, _ = GEOD.geometry_area_perimeter(fp)
    assert abs(area) / 1e6 == pytest.approx(rep["corridor"]["covered_km2"], rel=1e-3)


def test_sectors_unassigned_and_contested(setting):
    lat0, line = setting

    # Sector polygons: corridor-wide boxes around border stretches, built from geodesic points.
    def sector(d0, d1):
        pts = []
        for d in np.linspace(d0, d1, 20):
            lon, lat, back = point_along(lat0, 80.0, d)
            left = GEOD.fwd(lon, lat, back - 180 - 90, 20_000)[:2]
            pts.append(left)
        for d in np.linspace(d1, d0, 20):
            lon, lat, back = point_along(lat0, 80.0, d)
            right = GEOD.fwd(lon, lat, back - 180 + 90, 20_000)[:2]
            pts.append(right)
        return shapely.Polygon(pts)

    sectors = gpd.GeoDataFrame(
        {"sector_id": ["A1", "B1", "A2"], "partner": ["A", "B", "A"], "name": ["a", "b", "c"]},
        geometry=[sector(0, 40_000), sector(30_000, 70_000), sector(35_000, 45_000)],
        crs=4326,
    )
    lon, lat, _ = point_along(lat0, 80.0, 20_000.0)
    s = sensors_gdf([{"lon": lon, "lat": lat, "range_m": 10_000.0, "partner": "A"}])
    rep = analyse(border_gdf(line), s, sectors=sectors).report
    by_id = {x["sector_id"]: x for x in rep["sectors"]}
    assert by_id["A1"]["border_km"] == pytest.approx(40.0, rel=1e-4)
    assert by_id["A1"]["covered_km"] == pytest.approx(20.0, rel=1e-4)
    assert by_id["A1"]["coverage_pct"] == pytest.approx(50.0, rel=1e-3)
    assert by_id["B1"]["covered_km"] == 0
    assert rep["unassigned_border_km"] == pytest.approx(30.0, rel=1e-4)
    # A holds 0-45 km, B holds 30-70 km: contested 30-45 km. A2 inside A1 is not contested.
    assert rep["contested_border_km"] == pytest.approx(15.0, rel=1e-4)
    assert rep["partners"]["A"]["sector_border_km"] == pytest.approx(45.0, rel=1e-4)
    assert rep["partners"]["A"]["sector_covered_km"] == pytest.approx(20.0, rel=1e-4)
    gap_after = [g for g in rep["gaps"] if g["start_km"] == pytest.approx(30.0, rel=1e-4)]
    assert gap_after
    assert gap_after[0]["sector_ids"] == ["A1", "B1", "A2"]
    assert gap_after[0]["partners"] == ["A", "B"]


def test_detections_classified_and_windowed(setting):
    lat0, line = setting
    lon, lat, back = point_along(lat0, 80.0, 20_000.0)
    s = sensors_gdf([{"lon": lon, "lat": lat, "range_m": 5_000.0}])
    where = {
        "covered": GEOD.fwd(lon, lat, back - 90, 2_000)[:2],
        "gap": point_along(lat0, 80.0, 60_000.0)[:2],
        "outside": GEOD.fwd(*point_along(lat0, 80.0, 60_000.0)[:2], back - 90, 8_000)[:2],
    }
    times = pd.to_datetime(
        ["2026-11-01T00:00Z", "2026-11-02T00:00Z", "2026-11-03T00:00Z"], utc=True
    )
    det = gpd.GeoDataFrame(
        {"time": times, "detection_id": ["d1", "d2", "d3"]},
        geometry=gpd.points_from_xy([p[0] for p in where.values()], [p[1] for p in where.values()]),
        crs=4326,
    )
    rep = analyse(border_gdf(line), s, detections=det).report
    assert rep["detections"] == {"total": 3, "in_coverage": 1, "in_gaps": 1, "outside_corridor": 1}
    rep = analyse(
        border_gdf(line),
        s,
        detections=det,
        time_from="2026-11-01T12:00",
        time_to="2026-11-03T00:00Z",
    ).report
    assert rep["detections"] == {"total": 2, "in_coverage": 0, "in_gaps": 1, "outside_corridor": 1}
    assert rep["parameters"]["time_from"] == "2026-11-01T12:00:00Z"


def test_segments_merge_and_keep_input_orientation():
    a = shapely.LineString([(20.0, 0.0), (20.5, 0.0)])
    b = shapely.LineString([(21.0, 0.0), (20.5, 0.0)])  # touches a, drawn backwards
    c = shapely.LineString([(30.0, 0.0), (30.2, 0.0)])  # separate
    lon, lat = 20.9, 0.0
    s = sensors_gdf([{"lon": lon, "lat": lat, "range_m": 1_000.0}])
    rep = analyse(border_gdf(c, a, b), s).report
    assert rep["border"]["segments"] == 2
    # Segment 0 is c (first in input), segment 1 is a+b running from a's first vertex.
    seg1 = [g for g in rep["gaps"] if g["segment"] == 1]
    d_cov = GEOD.inv(20.0, 0.0, lon, lat)[2]
    assert seg1[0]["start_km"] == 0
    assert seg1[0]["end_km"] == pytest.approx((d_cov - 1_000) / 1000, rel=1e-4)
    assert seg1[1]["start_km"] == pytest.approx((d_cov + 1_000) / 1000, rel=1e-4)
    seg0 = [g for g in rep["gaps"] if g["segment"] == 0]
    assert seg0[0]["length_km"] == pytest.approx(GEOD.geometry_length(c) / 1000, rel=1e-6)


def test_min_gap_filters_short_gaps(setting):
    lat0, line = setting
    a = point_along(lat0, 80.0, 40_000.0)
    b = point_along(lat0, 80.0, 40_000.0 + 20_500.0)  # 500 m gap between two 10 km disks
    s = sensors_gdf(
        [
            {"lon": a[0], "lat": a[1], "range_m": 10_000.0},
            {"lon": b[0], "lat": b[1], "range_m": 10_000.0},
        ]
    )
    short = [
        g for g in analyse(border_gdf(line), s, min_gap_m=0).report["gaps"] if g["length_km"] < 1
    ]
    assert [g["length_km"] for g in short] == [pytest.approx(0.5, rel=1e-3)]
    assert not [
        g for g in analyse(border_gdf(line), s, min_gap_m=600).report["gaps"] if g["length_km"] < 1
    ]


def test_inputs_are_not_mutated(setting):
    lat0, line = setting
    lon, lat, _ = point_along(lat0, 80.0, 40_000.0)
    b = border_gdf(line)
    s = sensors_gdf([{"lon": lon, "lat": lat, "range_m": 10_000.0}])
    b0, s0 = b.copy(), s.copy()
    analyse(b, s)
    pd.testing.assert_frame_equal(pd.DataFrame(b), pd.DataFrame(b0))
    pd.testing.assert_frame_equal(pd.DataFrame(s), pd.DataFrame(s0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"corridor_km": 0}, "corridor_km: expected a number > 0"),
        ({"min_gap_m": -1}, "min_gap_m: expected a number >= 0"),
        ({"time_from": "yesterday"}, "time_from: not a time: expected an ISO 8601 time"),
        ({"time_from": "2026-11-02", "time_to": "2026-11-01"}, "time_to .* is before time_from"),
    ],
)
def test_bad_parameters_are_validation_errors(setting, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        analyse(border_gdf(setting[1]), sensors_gdf([]), **kwargs)


def test_layers_are_wgs84_and_match_the_report(setting):
    lat0, line = setting
    lon, lat, _ = point_along(lat0, 80.0, 40_000.0)
    a = analyse(border_gdf(line), sensors_gdf([{"lon": lon, "lat": lat, "range_m": 10_000.0}]))
    for name, layer in a.layers.items():
        assert layer.crs.equals("EPSG:4326"), name
    gaps = a.layers["gaps"]
    assert len(gaps) == len(a.report["gaps"])
    for geom, g in zip(gaps.geometry, a.report["gaps"], strict=True):
        assert GEOD.geometry_length(geom) / 1000 == pytest.approx(g["length_km"], rel=1e-4)


@pytest.mark.parametrize(
    ("lat0", "azimuth"), [(75.0, 90.0), (-45.0, 90.0), (-60.0, 45.0), (20.0, 135.0)]
)
def test_long_borders_anywhere_are_geodesic(lat0, azimuth):
    """High latitudes, the southern hemisphere, oblique borders: still within 0.5 % (here ~1e-5)."""
    line = geodesic_border(-10.0, lat0, azimuth, 3_000_000.0, n=400)
    start = np.asarray(line.coords)[0]
    dists = np.arange(50_000.0, 3_000_000.0, 100_000.0)
    lon, lat, _ = GEOD.fwd(
        np.full(dists.size, start[0]),
        np.full(dists.size, start[1]),
        np.full(dists.size, azimuth),
        dists,
    )
    rep = analyse(
        border_gdf(line),
        sensors_gdf(
            [{"lon": x, "lat": y, "range_m": 10_000.0} for x, y in zip(lon, lat, strict=True)]
        ),
    ).report
    length_m = GEOD.geometry_length(line)
    assert rep["border"]["length_km"] == pytest.approx(length_m / 1000, rel=1e-5)
    assert rep["border"]["covered_km"] == pytest.approx(dists.size * 20.0, rel=1e-4)
    assert rep["corridor"]["area_km2"] == pytest.approx(
        (2 * 5_000 * length_m + math.pi * 5_000**2) / 1e6, rel=1e-3
    )


# ---- per sensor: the border it watches, and the border only it watches ------------------------


def equator_scene(*rows: tuple[str, float, float, str]):
    """A 50 km border east along the equator (a geodesic) and disks centred on it.

    Each row: sensor id, chainage of the centre (m from the border's west end, along the
    geodesic), range (m), status.
    """
    line = geodesic_border(0.0, 0.0, 90.0, 50_000.0)
    recs = []
    for sid, at_m, r, status in rows:
        lon, lat, _ = GEOD.fwd(0.0, 0.0, 90.0, at_m)
        recs.append({"sensor_id": sid, "lon": lon, "lat": lat, "range_m": r, "status": status})
    return border_gdf(line), sensors_gdf(recs)


def test_sensor_covered_and_sole_km_are_geodesic():
    # A watches [0, 10] km, B [8, 18] km: each is alone on 8 km, both on [8, 10]; C is off.
    b, s = equator_scene(
        ("A", 5_000.0, 5_000.0, "active"),
        ("B", 13_000.0, 5_000.0, "active"),
        ("C", 30_000.0, 5_000.0, "inactive"),
    )
    a = analyse(b, s)
    assert list(a.layers["sensors"].columns) == [
        *s.columns,
        "covered_km",
        "sole_km",
    ]  # every column kept
    layer = a.layers["sensors"].set_index("sensor_id")
    m = 1e-3  # 1 m in km
    assert layer.loc["A", "covered_km"] == pytest.approx(10.0, abs=m)
    assert layer.loc["A", "sole_km"] == pytest.approx(8.0, abs=m)
    assert layer.loc["B", "covered_km"] == pytest.approx(10.0, abs=m)
    assert layer.loc["B", "sole_km"] == pytest.approx(8.0, abs=m)
    assert layer.loc["C", "covered_km"] == 0.0
    assert layer.loc["C", "sole_km"] == 0.0
    rep = a.report["border"]
    assert rep["covered_km"] == pytest.approx(18.0, abs=m)
    assert rep["redundant_km"] == pytest.approx(2.0, abs=m)
    # Identity: what one sensor alone watches plus what two or more watch is all that is watched.
    assert layer["sole_km"].sum() + rep["redundant_km"] == pytest.approx(
        rep["covered_km"], abs=1e-5
    )
    assert (layer["sole_km"] <= layer["covered_km"]).all()


def test_a_footprint_inside_another_is_never_sole():
    # D's disk lies inside B's: D watches [12, 16] km and nothing of it alone; B alone keeps
    # [10, 12] and [16, 18]. E, far from the others, is alone on all it watches.
    b, s = equator_scene(
        ("A", 5_000.0, 5_000.0, "active"),
        ("B", 13_000.0, 5_000.0, "active"),
        ("D", 14_000.0, 2_000.0, "active"),
        ("E", 40_000.0, 3_000.0, "active"),
    )
    a = analyse(b, s)
    layer = a.layers["sensors"].set_index("sensor_id")
    m = 1e-3
    assert layer.loc["D", "covered_km"] == pytest.approx(4.0, abs=m)
    assert layer.loc["D", "sole_km"] == 0.0
    assert layer.loc["B", "sole_km"] == pytest.approx(4.0, abs=m)
    assert layer.loc["A", "sole_km"] == pytest.approx(8.0, abs=m)
    assert layer.loc["E", "sole_km"] == pytest.approx(layer.loc["E", "covered_km"], abs=1e-9)
    assert layer.loc["E", "sole_km"] == pytest.approx(6.0, abs=m)
    rep = a.report["border"]
    assert layer["sole_km"].sum() + rep["redundant_km"] == pytest.approx(
        rep["covered_km"], abs=1e-5
    )


def test_sample_sensor_km_against_polygon_overlay():
    """The sample scenario: each sensor's km checked against shapely's overlay of footprints."""
    from geo.core import settings
    from geo.core.projection import to_lonlat, to_projected
    from geo.inputs.scenario import load_scenario

    sc = load_scenario(settings.SAMPLE_DIR)
    a = analyse(sc.border, sc.sensors, sectors=sc.sectors)
    layer = a.layers["sensors"]
    assert list(layer.columns[:-2]) == list(sc.sensors.columns)
    assert list(layer.columns[-2:]) == ["covered_km", "sole_km"]
    cov, sole = layer["covered_km"].to_numpy(), layer["sole_km"].to_numpy()
    active = (layer["status"] == "active").to_numpy()
    assert (cov >= 0).all()
    assert (sole >= 0).all()
    assert (sole <= cov).all()
    assert (cov[~active] == 0).all()
    assert (sole[~active] == 0).all()
    rep = a.report["border"]
    assert sole.sum() + rep["redundant_km"] == pytest.approx(rep["covered_km"], abs=1e-5)

    # Reference by another road: polygon overlay of fine footprint polygons (4,096 vertices a
    # circle: chords within 5 mm of the arcs) with the border, measured on the ellipsoid.
    acrs = a.acrs
    fp = footprint_polygons(
        sensor_footprints(sc.sensors.reset_index(drop=True), acrs), n_circle=4096
    )
    border = shapely.union_all(to_projected(a.layers["border"].geometry.to_numpy(), acrs))
    idx = np.flatnonzero(active)
    tree = shapely.STRtree(fp)

    def geodesic_km(lines: shapely.Geometry) -> float:
        return GEOD.geometry_length(to_lonlat([lines], acrs)[0]) / 1000

    nested = 0
    for i in idx:
        near = [j for j in tree.query(fp[i]) if j != i and active[j]]
        own = shapely.intersection(border, fp[i])
        alone = shapely.difference(own, shapely.union_all(fp[near]))
        assert geodesic_km(own) == pytest.approx(cov[i], abs=1e-3), layer["sensor_id"].iloc[i]
        assert geodesic_km(alone) == pytest.approx(sole[i], abs=1e-3), layer["sensor_id"].iloc[i]
        if cov[i] > 0 and any(shapely.covers(fp[j], fp[i]) for j in near):
            nested += 1
            assert sole[i] == 0.0, layer["sensor_id"].iloc[i]
    assert nested > 0  # the sample has footprints inside others
