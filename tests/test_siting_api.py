"""The siting API the Plan page uses: candidate grid, plans of given sites, the JSON contract."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.basemap import COUNTRIES_FILE
from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.inputs import read_border, read_sectors, read_sensors
from geo.siting import SiteParams, candidate_grid, evaluate_sites, new_sensors, plan_sites


@pytest.fixture(scope="module")
def sample() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return (
        read_border(SAMPLE_DIR / "border.geojson")[0],
        read_sensors(SAMPLE_DIR / "sensors.csv")[0],
        read_sectors(SAMPLE_DIR / "sectors.geojson")[0],
    )


def test_candidate_grid_is_on_land_in_the_corridor_and_outside_exclusions(sample) -> None:
    border, sensors, _ = sample
    params = SiteParams(count=1, range_m=5000.0, spacing_m=3000.0, corridor_km=4.0)
    grid = candidate_grid(border, sensors, params)
    assert grid.crs.equals("EPSG:4326")
    assert (grid.geom_type == "Point").all()
    countries = gpd.read_file(COUNTRIES_FILE)
    assert len(gpd.sjoin(grid, countries[["geometry"]], predicate="within")) == len(grid)
    # Within the corridor: 4 km from the border (geodesic distance, an outside reference).
    utm = grid.to_crs(32635)
    line = border.to_crs(32635).geometry.iloc[0]
    assert shapely.distance(utm.geometry.to_numpy(), line).max() <= 4000.0 * 1.01
    # About one point per 9 km² of the 2 x 4 km x 428 km corridor (less at its ends).
    assert 0.8 * 2 * 4 * 428 / 9 < len(grid) < 1.05 * 2 * 4 * 428 / 9
    box = shapely.box(25.0, 54.0, 26.0, 55.0)
    excluded = candidate_grid(
        border, sensors, params, exclude=gpd.GeoDataFrame(geometry=[box], crs=4326)
    )
    assert not shapely.intersects(excluded.geometry.to_numpy(), box).any()
    assert len(excluded) == len(grid) - int(shapely.intersects(grid.geometry.to_numpy(), box).sum())


def test_given_sites_give_the_plan_back_and_a_moved_site_changes_it(sample) -> None:
    border, sensors, sectors = sample
    params = SiteParams(count=3, range_m=6000.0, spacing_m=2000.0)
    plan = plan_sites(border, sensors, params, sectors=sectors)
    again = evaluate_sites(border, sensors, plan.sensors(), params, sectors=sectors)
    assert again.after == plan.after
    assert again.sites["gain_km"].tolist() == plan.sites["gain_km"].tolist()
    assert again.sites["sensor_id"].tolist() == plan.sites["sensor_id"].tolist()
    assert math.isnan(again.upper_bound_km)
    data = json.loads(json.dumps(again.to_json(), allow_nan=False))
    assert data["upper_bound_km"] is None
    moved = plan.sensors()
    moved.loc[0, "geometry"] = shapely.Point(21.0, 55.0)  # far from the border: sees nothing
    worse = evaluate_sites(border, sensors, moved, params, sectors=sectors)
    assert worse.sites["gain_km"].iloc[0] == 0.0
    assert worse.after["covered_km"] == pytest.approx(
        plan.after["covered_km"] - plan.sites["gain_km"].iloc[0], abs=1e-4
    )
    direct = analyse(border, gpd.pd.concat([sensors, moved], ignore_index=True), sectors=sectors)
    assert worse.after["covered_km"] == direct.report["border"]["covered_km"]


def test_inputs_are_not_changed(sample) -> None:
    border, sensors, sectors = sample
    copies = [border.copy(), sensors.copy(), sectors.copy()]
    plan_sites(
        border, sensors, SiteParams(count=2, range_m=5000.0, spacing_m=3000.0), sectors=sectors
    )
    for before, after in zip(copies, (border, sensors, sectors), strict=True):
        assert before.equals(after)


def test_wedge_sites_carry_their_wedge(sample) -> None:
    border, sensors, _ = sample
    params = SiteParams(count=2, range_m=6000.0, azimuth_deg=90.0, fov_deg=120.0, spacing_m=3000.0)
    plan = plan_sites(border, sensors, params)
    assert plan.sites["azimuth_deg"].tolist() == [90.0, 90.0]
    assert plan.sites["fov_deg"].tolist() == [120.0, 120.0]
    assert np.all(plan.sites["gain_km"] > 0)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"count": 0}, "count"),
        ({"range_m": -1.0}, "range_m"),
        ({"min_range_m": 7000.0}, "min_range_m"),
        ({"fov_deg": 90.0}, "azimuth_deg, fov_deg"),
        ({"weight": "area"}, "weight"),
        ({"partner": "XXX"}, "partner"),
    ],
)
def test_bad_parameters_are_named(sample, changes: dict, match: str) -> None:
    border, sensors, sectors = sample
    params = SiteParams(**{"count": 2, "range_m": 5000.0, "spacing_m": 3000.0, **changes})
    with pytest.raises(ValidationError, match=match):
        plan_sites(border, sensors, params, sectors=sectors)


def test_candidates_must_be_points(sample) -> None:
    border, sensors, _ = sample
    with pytest.raises(ValidationError, match="candidate sites must be points"):
        plan_sites(border, sensors, SiteParams(count=1, range_m=5000.0), candidates=border)


def test_a_border_already_watched_gets_no_site_and_no_sites_change_nothing() -> None:
    border = gpd.GeoDataFrame(geometry=[shapely.LineString([(24, 54), (24.1, 54)])], crs=4326)
    sensors = new_sensors([24.05], [54.0], SiteParams(count=1, range_m=20_000.0))
    params = SiteParams(count=2, range_m=3000.0)
    plan = plan_sites(border, sensors, params)
    assert plan.before["coverage_pct"] == 100.0
    assert len(plan.sites) == 0
    assert plan.after == plan.before
    assert plan.upper_bound_km == pytest.approx(plan.before["covered_km"], abs=1e-6)
    none = evaluate_sites(border, sensors.iloc[:0], plan.sensors(), params)
    assert none.to_json()["sites"] == []
    assert none.after["covered_km"] == 0.0


def test_with_a_dem_candidates_stand_on_its_cells_with_data(sample, tmp_path) -> None:
    """A DEM covering the western half of the sample (nodata in one corner): no candidate off it."""
    import rasterio
    from rasterio.transform import Affine

    border, sensors, _ = sample
    heights = np.full((200, 150), 150.0, dtype=np.float32)
    heights[:50, :50] = -9999.0  # no data in the north-west corner
    transform = Affine(0.01, 0.0, 23.0, 0.0, -0.01, 55.0)  # 23.0-24.5 E, 53.0-55.0 N
    dem = tmp_path / "half.tif"
    with rasterio.open(
        dem, "w", driver="GTiff", width=150, height=200, count=1, dtype="float32",
        crs="EPSG:4326", transform=transform, nodata=-9999.0,
    ) as dst:  # fmt: skip
        dst.write(heights, 1)
    params = SiteParams(count=1, range_m=5000.0, spacing_m=3000.0)
    everywhere = candidate_grid(border, sensors, params)
    on_dem = candidate_grid(border, sensors, params, dem_path=dem)
    x, y = on_dem.geometry.x.to_numpy(), on_dem.geometry.y.to_numpy()
    assert len(on_dem) > 0
    assert (x < 24.5).all()
    assert not ((x < 23.5) & (y > 54.5)).any()
    ex, ey = everywhere.geometry.x.to_numpy(), everywhere.geometry.y.to_numpy()
    expected = (
        (ex >= 23.0) & (ex < 24.5) & (ey > 53.0) & (ey <= 55.0) & ~((ex < 23.5) & (ey > 54.5))
    )
    assert len(on_dem) == int(expected.sum())


@pytest.mark.parametrize("dem", [None, SAMPLE_DIR / "dem.tif"])
def test_each_candidates_border_is_what_analyse_gives_that_sensor_alone(sample, dem) -> None:
    """The planner's reach of a candidate = ``analyse`` (with the DEM: ``analyse --dem``) of it."""
    from geo.coverage.scene import prepare_scene
    from geo.siting.reach import candidate_reach

    border, sensors, _ = sample
    params = SiteParams(count=1, range_m=7000.0, min_range_m=500.0, spacing_m=5000.0)
    grid = candidate_grid(border, sensors, params).iloc[::40].reset_index(drop=True)
    frame = new_sensors(grid.geometry.x.to_numpy(), grid.geometry.y.to_numpy(), params)
    scene = prepare_scene(border, frame.iloc[:0], sectors=None, detections=None,
                          corridor_km=5.0, min_gap_m=1.0, time_from=None, time_to=None)  # fmt: skip
    reach = candidate_reach(scene, frame, dem_path=dem)
    seen = 0
    for i in range(len(frame)):
        alone = analyse(border, frame.iloc[[i]], dem=dem).report["border"]["covered_km"]
        mine = reach.of(i)
        assert float((mine[1] - mine[0]).sum()) / 1000.0 == pytest.approx(alone, abs=1e-5)
        seen += alone > 0
    assert seen >= 3
