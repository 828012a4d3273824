"""Terrain-aware coverage (``analyse(..., dem=...)``): tiny DEMs with known answers.

Outside truths: the radio horizon of a mast on a smooth earth (analytic), the shadow a wall
casts on a line (similar triangles), the geometric engine on flat ground (exact interval
arithmetic), and the raster itself (the border results must agree with the cells they lie in).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.warp import Resampling, reproject

from geo.core import settings
from geo.core.errors import ValidationError
from geo.coverage.analysis import analyse

ROOT = Path(__file__).resolve().parent.parent
UTM = "EPSG:32634"  # zone 34N: central meridian 21°E, as the analysis CRS will choose
E0, N0 = 500_000.0, 6_000_000.0  # the scene's centre (about 21°E, 54.1°N)
CELL = 30.0
SIZE = 1500  # 45 km x 45 km
TO_LL = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
R_WGS84 = 6_378_137.0


def write_dem(
    path: Path,
    z: np.ndarray,
    *,
    crs: str = UTM,
    transform: Affine | None = None,
    nodata: float | None = None,
) -> Path:
    transform = transform or Affine(CELL, 0, E0 - SIZE * CELL / 2, 0, -CELL, N0 + SIZE * CELL / 2)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=z.shape[1],
        height=z.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(z.astype(np.float32), 1)
    return path


def flat() -> np.ndarray:
    return np.zeros((SIZE, SIZE), dtype=np.float32)


def cell_of(e: float, n: float) -> tuple[int, int]:
    """Row and column of the UTM point (east/north offsets from the scene's centre, m)."""
    return int(SIZE / 2 - n / CELL), int(SIZE / 2 + e / CELL)


def border(*pts_m: tuple[float, float]) -> gpd.GeoDataFrame:
    lon, lat = TO_LL.transform([E0 + e for e, _ in pts_m], [N0 + n for _, n in pts_m])
    return gpd.GeoDataFrame(geometry=[shapely.LineString(np.column_stack([lon, lat]))], crs=4326)


def sensors(*rows: dict) -> gpd.GeoDataFrame:
    base = {
        "kind": "tower",
        "status": "active",
        "min_range_m": 0.0,
        "azimuth_deg": 0.0,
        "fov_deg": 360.0,
    }
    recs = [{**base, **r} for r in rows]
    lon, lat = TO_LL.transform([E0 + r.pop("e") for r in recs], [N0 + r.pop("n") for r in recs])
    return gpd.GeoDataFrame(recs, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def horizon_m(h_obs: float, h_target: float, k: float) -> float:
    """Distance at which a target just shows over a smooth earth of radius R / (1 - k)."""
    r_eff = R_WGS84 / (1.0 - k)
    return math.sqrt(2 * r_eff * h_obs) + math.sqrt(2 * r_eff * h_target)


# ---- flat ground ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0.13, 0.0])
def test_flat_ground_horizon_of_a_10_m_mast(tmp_path: Path, k: float) -> None:
    dem = write_dem(tmp_path / "flat.tif", flat())
    b = border((-21_000.0, 0.0), (21_000.0, 0.0))
    s = sensors(
        {
            "sensor_id": "m",
            "partner": "A",
            "range_m": 40_000.0,
            "height_m": 10.0,
            "e": 0.0,
            "n": 0.0,
        }
    )
    rep = analyse(b, s, dem=dem, target_height_m=2.0, refraction_coeff=k).report
    expected_km = 2 * horizon_m(10.0, 2.0, k) / 1000.0  # 35.0 km with k = 0.13, 32.7 with 0
    # The horizon is found cell by cell: within two cells at each end.
    assert rep["border"]["covered_km"] == pytest.approx(expected_km, abs=4 * CELL / 1000)
    assert rep["parameters"]["refraction_coeff"] == k
    assert rep["parameters"]["target_height_m"] == 2.0


def test_flat_ground_matches_the_geometric_footprints(tmp_path: Path) -> None:
    """Masts high enough that the horizon is beyond every range: terrain = geometry."""
    dem = write_dem(tmp_path / "flat.tif", flat())
    b = border((-20_000.0, 500.0), (-5_000.0, -800.0), (6_000.0, 300.0), (20_000.0, 0.0))
    s = sensors(
        {
            "sensor_id": "disk",
            "partner": "A",
            "range_m": 4_000.0,
            "height_m": 60.0,
            "e": -14_000.0,
            "n": 1_500.0,
        },
        {
            "sensor_id": "ring",
            "partner": "A",
            "range_m": 5_000.0,
            "min_range_m": 2_000.0,
            "height_m": 60.0,
            "e": -3_000.0,
            "n": -2_000.0,
        },
        {
            "sensor_id": "wedge",
            "partner": "B",
            "range_m": 6_000.0,
            "azimuth_deg": 20.0,
            "fov_deg": 90.0,
            "height_m": 60.0,
            "e": 4_000.0,
            "n": -2_500.0,
        },
        {
            "sensor_id": "away",
            "partner": "B",
            "range_m": 6_000.0,
            "azimuth_deg": 180.0,
            "fov_deg": 60.0,
            "height_m": 60.0,
            "e": 14_000.0,
            "n": -1_000.0,
        },
        {
            "sensor_id": "off",
            "partner": "B",
            "range_m": 6_000.0,
            "height_m": 60.0,
            "status": "inactive",
            "e": 12_000.0,
            "n": 0.0,
        },
    )
    geo = analyse(b, s, corridor_km=3.0).report
    ter = analyse(b, s, corridor_km=3.0, dem=dem).report
    cell_km = math.hypot(CELL, CELL) / 1000
    n_ends = 2 * (len(geo["gaps"]) + 1)
    for key in ("covered_km", "overlap_km", "redundant_km"):
        assert ter["border"][key] == pytest.approx(geo["border"][key], abs=n_ends * cell_km), key
    for p in ("A", "B"):
        assert ter["partners"][p]["covered_km"] == pytest.approx(
            geo["partners"][p]["covered_km"], abs=n_ends * cell_km
        )
    assert len(ter["gaps"]) == len(geo["gaps"])
    for g_t, g_g in zip(ter["gaps"], geo["gaps"], strict=True):
        assert g_t["start_km"] == pytest.approx(g_g["start_km"], abs=2 * cell_km)
        assert g_t["end_km"] == pytest.approx(g_g["end_km"], abs=2 * cell_km)
    # Corridor areas: the raster edge of a footprint is within a cell of the true circle.
    assert ter["corridor"]["area_km2"] == geo["corridor"]["area_km2"]
    assert ter["corridor"]["covered_km2"] == pytest.approx(geo["corridor"]["covered_km2"], rel=0.02)
    assert ter["corridor"]["covered_km2"] + ter["corridor"]["gap_km2"] == pytest.approx(
        ter["corridor"]["area_km2"], abs=1e-3
    )


def test_flat_ground_per_sensor_km_match_the_geometric_engine(tmp_path: Path) -> None:
    """covered_km and sole_km from the probed viewsheds equal the interval engine's on flat ground."""
    dem = write_dem(tmp_path / "flat.tif", flat())
    # Along the border (10 m north of a row of cells, so no piece runs along a cell edge):
    # A [-15, -5] km, B [-7, 3], D [-3, 1] inside B, R an annulus [5, 8] + [12, 15], W a wedge
    # [7, 13] overlapping R, X a wedge facing away, C inactive.
    b = border((-20_000.0, 10.0), (20_000.0, 10.0))
    mast = {"height_m": 60.0}
    s = sensors(
        {"sensor_id": "A", "partner": "P", "range_m": 5_000.0, "e": -10_000.0, "n": 10.0, **mast},
        {"sensor_id": "B", "partner": "Q", "range_m": 5_000.0, "e": -2_000.0, "n": 10.0, **mast},
        {"sensor_id": "D", "partner": "P", "range_m": 2_000.0, "e": -1_000.0, "n": 10.0, **mast},
        {
            "sensor_id": "R",
            "partner": "P",
            "range_m": 5_000.0,
            "min_range_m": 2_000.0,
            "e": 10_000.0,
            "n": 10.0,
            **mast,
        },
        {
            "sensor_id": "W",
            "partner": "Q",
            "range_m": 6_000.0,
            "azimuth_deg": 0.0,
            "fov_deg": 90.0,
            "e": 10_000.0,
            "n": -2_990.0,
            **mast,
        },
        {
            "sensor_id": "X",
            "partner": "Q",
            "range_m": 6_000.0,
            "azimuth_deg": 180.0,
            "fov_deg": 90.0,
            "e": 18_000.0,
            "n": -1_000.0,
            **mast,
        },
        {
            "sensor_id": "C",
            "partner": "Q",
            "range_m": 5_000.0,
            "status": "inactive",
            "e": 15_000.0,
            "n": 10.0,
            **mast,
        },
    )
    geo = analyse(b, s, corridor_km=3.0)
    ter = analyse(b, s, corridor_km=3.0, dem=dem)
    g = geo.layers["sensors"].set_index("sensor_id")
    t = ter.layers["sensors"].set_index("sensor_id")
    assert list(ter.layers["sensors"].columns) == list(geo.layers["sensors"].columns)
    # The analytic values (flat engine) first: km of border on the UTM plane, to 0.1 %.
    covered = {"A": 10.0, "B": 10.0, "D": 4.0, "R": 6.0, "W": 6.0, "X": 0.0, "C": 0.0}
    sole = {"A": 8.0, "B": 4.0, "D": 0.0, "R": 4.0, "W": 4.0, "X": 0.0, "C": 0.0}
    for sid in covered:
        assert g.loc[sid, "covered_km"] == pytest.approx(covered[sid], rel=1e-3, abs=1e-9), sid
        assert g.loc[sid, "sole_km"] == pytest.approx(sole[sid], rel=1e-3, abs=1e-9), sid
    # Terrain: within one cell (its diagonal) per end of each interval measured.
    cell_km = math.hypot(CELL, CELL) / 1000
    covered_ends = {"A": 2, "B": 2, "D": 2, "R": 4, "W": 2, "X": 0, "C": 0}
    sole_ends = {"A": 2, "B": 4, "D": 0, "R": 4, "W": 2, "X": 0, "C": 0}
    for sid in covered:
        assert t.loc[sid, "covered_km"] == pytest.approx(
            g.loc[sid, "covered_km"], abs=covered_ends[sid] * cell_km + 1e-9
        ), sid
        assert t.loc[sid, "sole_km"] == pytest.approx(
            g.loc[sid, "sole_km"], abs=sole_ends[sid] * cell_km + 1e-9
        ), sid
    assert t.loc["D", "sole_km"] == 0.0
    # The same identity as on the plane: sole km of all plus the redundant km is the covered km.
    for result in (geo, ter):
        rep = result.report["border"]
        km = result.layers["sensors"]
        assert km["sole_km"].sum() + rep["redundant_km"] == pytest.approx(
            rep["covered_km"], abs=1e-5
        )
        assert (km["sole_km"] <= km["covered_km"]).all()
        assert (km["sole_km"] >= 0).all()


# ---- walls, pits, per-sensor targets --------------------------------------------------------


def walled() -> np.ndarray:
    """Flat ground with a 100 m wall from -1 km to +1 km east, 1.5 km south of the border."""
    z = flat()
    r, c0 = cell_of(-1_000.0, -1_500.0)
    _, c1 = cell_of(1_000.0, -1_500.0)
    z[r - 1 : r + 2, c0 : c1 + 1] = 100.0
    return z


def test_a_wall_hides_the_border_behind_it(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "wall.tif", walled())
    b = border((-10_000.0, 0.0), (10_000.0, 0.0))
    s = sensors(
        {
            "sensor_id": "t",
            "partner": "A",
            "range_m": 6_000.0,
            "height_m": 10.0,
            "e": 0.0,
            "n": -3_000.0,
        }
    )
    free = analyse(b, s, dem=write_dem(tmp_path / "flat.tif", flat())).report
    rep = analyse(b, s, dem=dem).report
    # Without the wall: the chord of a 6 km disk 3 km from its centre.
    assert free["border"]["covered_km"] == pytest.approx(2 * math.sqrt(6**2 - 3**2), abs=0.1)
    # The wall (90 m thick, its near face 1,455 m from the sensor) casts a shadow of
    # 2 x 1 km x 3,000 / 1,455 = 4.12 km, centred. GDAL's algorithm, which the kernel
    # follows, interpolates the horizon between neighbouring cells and so widens shadows
    # cast by a high blocker a little: gdal_viewshed 3.6 hides 4.68 km here, as does Limes.
    shadow = [g for g in rep["gaps"] if g["start_km"] > 0 and g["end_km"] < 19.9]
    assert len(shadow) == 1
    g = shadow[0]
    assert g["start_km"] <= 10.0 - 2.06
    assert g["end_km"] >= 10.0 + 2.06
    assert 4.12 <= g["length_km"] <= 4.8
    assert (g["start_km"] + g["end_km"]) / 2 == pytest.approx(10.0, abs=0.06)
    assert rep["border"]["covered_km"] == pytest.approx(
        free["border"]["covered_km"] - g["length_km"], abs=0.1
    )


def test_a_sensor_target_height_overrides_the_default(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "wall.tif", walled())
    b = border((-10_000.0, 0.0), (10_000.0, 0.0))
    row = {
        "sensor_id": "t",
        "partner": "A",
        "range_m": 6_000.0,
        "height_m": 10.0,
        "e": 0.0,
        "n": -3_000.0,
    }
    # Eye 10 m, target 250 m: the sight line passes the wall (halfway) at 130 m > 100 m.
    tall = analyse(b, sensors({**row, "target_height_m": 250.0}), dem=dem).report
    low = analyse(
        b, sensors({**row, "target_height_m": np.nan}), dem=dem
    ).report  # NaN: the default
    assert tall["border"]["covered_km"] == pytest.approx(2 * math.sqrt(27), abs=0.1)
    assert 2 * math.sqrt(27) - 4.8 <= low["border"]["covered_km"] <= 2 * math.sqrt(27) - 4.1
    # The command-line default can also be raised for every sensor.
    assert analyse(b, sensors(row), dem=dem, target_height_m=250.0).report["border"][
        "covered_km"
    ] == pytest.approx(tall["border"]["covered_km"], abs=1e-6)


def test_a_pit_hides_its_floor(tmp_path: Path) -> None:
    z = flat()
    r, c = cell_of(0.0, 0.0)
    z[r - 40 : r + 41, c - 40 : c + 41] = -50.0  # a pit 2.4 km across, 50 m deep, on the border
    dem = write_dem(tmp_path / "pit.tif", z)
    b = border((-5_000.0, 0.0), (5_000.0, 0.0))
    s = sensors(
        {
            "sensor_id": "t",
            "partner": "A",
            "range_m": 8_000.0,
            "height_m": 10.0,
            "e": 0.0,
            "n": -4_000.0,
        }
    )
    rep = analyse(b, s, dem=dem).report
    assert len(rep["gaps"]) == 1
    # The floor is hidden except its far part: the gap starts at the near rim.
    g = rep["gaps"][0]
    assert g["start_km"] == pytest.approx(5.0 - 1.2, abs=0.1)
    assert g["end_km"] <= 5.0 + 1.2 + 0.05


# ---- the raster and the report agree -----------------------------------------------------------


@pytest.fixture(scope="module")
def sample_terrain():
    from geo.inputs.scenario import load_scenario

    sc = load_scenario(settings.SAMPLE_DIR)
    return sc, analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    )


def test_border_results_agree_with_the_raster(sample_terrain) -> None:
    _, result = sample_terrain
    b, grid = result.border, result.coverage
    covered = np.ones(0)
    step = 40.0
    chain = np.arange(step / 2, float(b.length_m.sum()), step)
    gaps = [
        (
            b.offset_m[g["segment"]] + g["start_km"] * 1000,
            b.offset_m[g["segment"]] + g["end_km"] * 1000,
        )
        for g in result.report["gaps"]
    ]
    in_gap = np.zeros(chain.size, dtype=bool)
    near_end = np.zeros(chain.size, dtype=bool)
    for s, e in gaps:
        in_gap |= (chain > s) & (chain < e)
        near_end |= (np.abs(chain - s) < 1.0) | (np.abs(chain - e) < 1.0)
    xy = b.point_at(chain)
    lon, lat = b.acrs.to_lonlat.transform(xy[:, 0], xy[:, 1])
    covered = grid.seen_at(np.asarray(lon), np.asarray(lat))
    ok = ~near_end
    assert ok.sum() > 10_000
    assert np.array_equal(covered[ok], ~in_gap[ok])
    # And the headline agrees with the samples to within the sampling step.
    assert 100 * covered.mean() == pytest.approx(result.report["border"]["coverage_pct"], abs=0.2)


def test_detections_are_classified_on_the_raster(sample_terrain) -> None:
    _, result = sample_terrain
    det = result.layers["detections"]
    status = det["coverage_status"].astype(str).to_numpy()
    seen = result.coverage.seen_at(det.geometry.x.to_numpy(), det.geometry.y.to_numpy())
    in_corridor = status != "outside"
    # A detection in the corridor is "coverage" exactly when its cell is seen (up to points
    # within a metre of a cell edge, where the polygon outline and the cell test may differ).
    agree = (status[in_corridor] == "coverage") == seen[in_corridor]
    assert agree.mean() > 0.999
    assert result.report["detections"]["in_gaps"] > 0


def test_probed_border_cells_agree_with_the_counts(sample_terrain) -> None:
    _, result = sample_terrain
    grid = result.coverage
    assert grid.probe_row.size > 1_000
    # As many sensors see each probed cell as the count grid says; pairs are unique.
    seen_by = np.bincount(grid.probe_seen[:, 0], minlength=grid.probe_row.size)
    np.testing.assert_array_equal(seen_by, grid.count[grid.probe_row, grid.probe_col])
    assert np.unique(grid.probe_seen, axis=0).shape == grid.probe_seen.shape
    km = result.layers["sensors"]
    active = (km["status"] == "active").to_numpy()
    assert (km["sole_km"] >= 0).all()
    assert (km["sole_km"] <= km["covered_km"]).all()
    assert (km.loc[~active, ["covered_km", "sole_km"]].to_numpy() == 0).all()
    rep = result.report["border"]
    assert km["sole_km"].sum() + rep["redundant_km"] == pytest.approx(rep["covered_km"], abs=1e-5)
    # A partner's covered km is at most the sum of its sensors'.
    for p, entry in result.report["partners"].items():
        assert entry["covered_km"] <= km.loc[km["partner"] == p, "covered_km"].sum() + 1e-6


def test_sample_terrain_cuts_coverage_and_reports_parameters(sample_terrain) -> None:
    sc, result = sample_terrain
    plain = analyse(sc.border, sc.sensors, sectors=sc.sectors).report
    rep = result.report
    assert rep["border"]["covered_km"] < plain["border"]["covered_km"]
    assert rep["parameters"]["dem"] == str(sc.dem)
    assert rep["terrain"]["viewsheds"] == int((sc.sensors["status"] == "active").sum())
    assert rep["terrain"]["sensors_off_terrain"] == []
    assert set(plain["parameters"]) == {"corridor_km", "min_gap_m", "time_from", "time_to"}
    assert "terrain" not in plain
    # Footprints follow the terrain: one polygon per partner, inside the geometric ones.
    fp = result.layers["footprints"]
    assert set(fp["partner"]) <= set(rep["partners"])
    assert fp.crs.equals("EPSG:4326")
    assert fp.geometry.is_valid.all()


def test_inputs_are_unchanged_and_off_terrain_sensors_are_listed(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "flat.tif", flat())
    b = border((-10_000.0, 0.0), (10_000.0, 0.0))
    s = sensors(
        {
            "sensor_id": "in",
            "partner": "A",
            "range_m": 3_000.0,
            "height_m": 10.0,
            "e": 0.0,
            "n": -1_000.0,
        },
        {
            "sensor_id": "out",
            "partner": "A",
            "range_m": 3_000.0,
            "height_m": 10.0,
            "e": 0.0,
            "n": -40_000.0,
        },
    )
    before = s.copy()
    rep = analyse(b, s, dem=dem).report
    assert rep["terrain"]["sensors_off_terrain"] == ["out"]
    assert rep["terrain"]["viewsheds"] == 1
    assert s.equals(before)


def test_nodata_is_seen_by_nobody(tmp_path: Path) -> None:
    z = flat()
    r, c = cell_of(2_000.0, 0.0)
    z[r - 20 : r + 21, c - 33 : c + 34] = -9999.0  # a 2 km hole in the DEM on the border
    dem = write_dem(tmp_path / "hole.tif", z, nodata=-9999.0)
    b = border((-10_000.0, 0.0), (10_000.0, 0.0))
    s = sensors(
        {
            "sensor_id": "t",
            "partner": "A",
            "range_m": 6_000.0,
            "height_m": 20.0,
            "e": 0.0,
            "n": -1_000.0,
        }
    )
    rep = analyse(b, s, dem=dem).report
    inner = [g for g in rep["gaps"] if g["start_km"] > 0 and g["end_km"] < 19.9]
    assert len(inner) == 1
    assert inner[0]["start_km"] == pytest.approx(11.0, abs=0.06)
    assert inner[0]["length_km"] == pytest.approx(2.0, abs=0.08)


def test_geographic_and_projected_dems_agree(tmp_path: Path) -> None:
    """The same walled terrain in UTM and resampled to EPSG:4326 gives the same shadow."""
    utm = write_dem(tmp_path / "wall.tif", walled())
    step_lon, step_lat = CELL / 65_400.0, CELL / 111_300.0  # about 30 m at 54°N
    west, north = TO_LL.transform(E0 - SIZE * CELL / 2 + 2_000, N0 + SIZE * CELL / 2 - 2_000)
    t_ll = Affine(step_lon, 0, west, 0, -step_lat, north)
    z_ll = np.zeros((1400, 1300), dtype=np.float32)
    with rasterio.open(utm) as src:
        reproject(
            rasterio.band(src, 1),
            z_ll,
            dst_transform=t_ll,
            dst_crs="EPSG:4326",
            resampling=Resampling.nearest,
        )
    ll = write_dem(tmp_path / "wall_ll.tif", z_ll, crs="EPSG:4326", transform=t_ll)
    b = border((-10_000.0, 0.0), (10_000.0, 0.0))
    s = sensors(
        {
            "sensor_id": "t",
            "partner": "A",
            "range_m": 6_000.0,
            "height_m": 10.0,
            "e": 0.0,
            "n": -3_000.0,
        }
    )
    a = analyse(b, s, dem=utm).report
    g = analyse(b, s, dem=ll).report
    assert g["terrain"]["dem_crs"] == "EPSG:4326"
    assert g["border"]["covered_km"] == pytest.approx(a["border"]["covered_km"], abs=0.15)
    assert [round(x["length_km"]) for x in g["gaps"]] == [round(x["length_km"]) for x in a["gaps"]]


def test_bad_terrain_options_are_refused(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "flat.tif", flat())
    b = border((-10_000.0, 0.0), (10_000.0, 0.0))
    s = sensors(
        {"sensor_id": "t", "partner": "A", "range_m": 3_000.0, "height_m": 10.0, "e": 0.0, "n": 0.0}
    )
    with pytest.raises(ValidationError, match="refraction_coeff: expected a number from -1 to 1"):
        analyse(b, s, dem=dem, refraction_coeff=2.0)
    with pytest.raises(ValidationError, match="target_height_m: expected a number >= 0"):
        analyse(b, s, dem=dem, target_height_m=-1.0)
    (tmp_path / "not.tif").write_text("no raster here")
    with pytest.raises(ValidationError, match="cannot open as a raster"):
        analyse(b, s, dem=tmp_path / "not.tif")


# ---- the command line ---------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_cli_dem_and_coverage_tif(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "wall.tif", walled())
    b = border((-10_000.0, 0.0), (10_000.0, 0.0))
    s = sensors(
        {
            "sensor_id": "t",
            "partner": "A",
            "range_m": 6_000.0,
            "height_m": 10.0,
            "e": 0.0,
            "n": -3_000.0,
        },
        {
            "sensor_id": "u",
            "partner": "B",
            "range_m": 4_000.0,
            "height_m": 10.0,
            "e": 3_000.0,
            "n": 1_000.0,
        },
    )
    b.to_file(tmp_path / "b.geojson")
    s.to_file(tmp_path / "s.geojson")
    out = _cli(
        "analyse",
        "--border",
        str(tmp_path / "b.geojson"),
        "--sensors",
        str(tmp_path / "s.geojson"),
        "--dem",
        str(dem),
        "--target-height-m",
        "1.5",
        "--refraction-coeff",
        "0.2",
        "--coverage-tif",
        str(tmp_path / "cov.tif"),
    )
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["parameters"]["dem"] == str(dem)
    assert rep["parameters"]["target_height_m"] == 1.5
    assert rep["parameters"]["refraction_coeff"] == 0.2
    with rasterio.open(tmp_path / "cov.tif") as src:
        assert src.count == 3
        assert src.dtypes[0] == "uint16"
        assert src.descriptions[1:] == (
            "sensors of A seeing the cell",
            "sensors of B seeing the cell",
        )
        assert src.crs.to_string() == UTM
        bands = src.read()
        t = src.transform
    # Band 1 is the sum of the partner bands; each sensor sees its own cell.
    assert np.array_equal(bands[0], bands[1] + bands[2])
    assert bands.max() >= 1
    for (e, n), k in (((0.0, -3_000.0), 1), ((3_000.0, 1_000.0), 2)):
        col, row = ~t @ (E0 + e, N0 + n)
        assert bands[k][int(row), int(col)] == 1
    # Behind the wall (on the border, at 0 km east) nobody from A sees the ground.
    col, row = ~t @ (E0, N0 + 15.0)
    assert bands[1][int(row), int(col)] == 0
    # The GeoTIFF is on the DEM's grid: same cell size, pixel-aligned.
    with rasterio.open(dem) as src:
        d = src.transform
    assert (t.a, t.e) == (d.a, d.e)
    assert ((t.c - d.c) / d.a).is_integer()
    assert ((t.f - d.f) / d.e).is_integer()


def test_cli_coverage_tif_needs_a_dem(tmp_path: Path) -> None:
    b = border((-10_000.0, 0.0), (10_000.0, 0.0))
    s = sensors(
        {"sensor_id": "t", "partner": "A", "range_m": 3_000.0, "height_m": 10.0, "e": 0.0, "n": 0.0}
    )
    b.to_file(tmp_path / "b.geojson")
    s.to_file(tmp_path / "s.geojson")
    out = _cli(
        "analyse",
        "--border",
        str(tmp_path / "b.geojson"),
        "--sensors",
        str(tmp_path / "s.geojson"),
        "--coverage-tif",
        str(tmp_path / "cov.tif"),
    )
    assert out.returncode == 2
    assert "--coverage-tif: needs --dem" in out.stderr
    out = _cli(
        "analyse",
        "--border",
        str(tmp_path / "b.geojson"),
        "--sensors",
        str(tmp_path / "s.geojson"),
        "--dem",
        str(tmp_path / "missing.tif"),
    )
    assert out.returncode == 2
    assert "file not found" in out.stderr
    assert "Traceback" not in out.stderr


def test_coverage_image_is_placed_on_web_mercator() -> None:
    """A web map stretches an image linearly in Web Mercator: a row of counted cells at
    55.5°N on a geographic grid spanning 53–58°N must land on the image row of 55.5°N in
    Mercator, not where a linear-in-latitude image would put it (about 3 km off)."""
    from geo.terrain.hillshade import coverage_image

    step = 1 / 1200  # 3"
    t = Affine(step, 0, 24.0, 0, -step, 58.0)
    count = np.zeros((6000, 1200), dtype=np.uint16)
    row = int((58.0 - 55.5) / step)
    count[row, :] = 3
    img, (west, south, east, north) = coverage_image(
        count, np.ones_like(count, dtype=bool), transform=t, crs="EPSG:4326", max_size_px=6000
    )
    assert (west, east) == pytest.approx((24.0, 25.0), abs=1e-3)
    assert (south, north) == pytest.approx((53.0, 58.0), abs=1e-3)

    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    lat_row = 55.5 - step / 2
    frac = (merc(north) - merc(lat_row)) / (merc(north) - merc(south))
    hit = np.flatnonzero(np.nan_to_num(img[:, img.shape[1] // 2]) == 3)
    assert hit.size >= 1
    assert abs(hit.mean() - frac * img.shape[0]) <= 1.5
    linear = (north - lat_row) / (north - south) * img.shape[0]
    assert abs(hit.mean() - linear) > 20  # the naive placement is far off
