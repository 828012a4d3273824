"""Viewsheds (:mod:`geo.terrain.viewshed`, :mod:`geo.terrain.dem`, ``python -m geo viewshed``).

Checked against outside truth:

- analytic answers on tiny synthetic DEMs: the radio horizon over flat ground with earth
  curvature and refraction, the shadow of a wall (similar triangles), a pit, a ridge;
- pyproj's geodesics: distances on a geographic DEM, and the same terrain in EPSG:4326 and in
  UTM giving the same answer at the same ground points;
- GDAL's own ``gdal_viewshed`` (``-om NORMAL``) on real DEMs and a rugged synthetic one.
  ``gdal_viewshed`` measures distances in CRS units, so on a geographic DEM (degrees) it is
  given the same pixels with the georeferencing expressed in local metres: an azimuthal
  equidistant CRS centred on the observer, with the cell size measured with pyproj.Geod.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine

from geo.core.errors import ValidationError
from geo.terrain.grid_metric import GridMetric, range_window
from geo.terrain.viewshed import HIDDEN, OUTSIDE, VISIBLE, viewshed

ROOT = Path(__file__).resolve().parents[1]
GEOD = pyproj.Geod(ellps="WGS84")
#: GDAL's earth radius for curvature on a WGS84 DEM: the semi-major axis.
A_WGS84 = 6_378_137.0
GDAL_VIEWSHED = shutil.which("gdal_viewshed")
needs_gdal = pytest.mark.skipif(GDAL_VIEWSHED is None, reason="gdal_viewshed is not installed")


def gdal_version() -> tuple[int, int]:
    assert GDAL_VIEWSHED is not None
    # Prints "GDAL 3.6.2, released 2023/01/02", then complains of no input (exit status 1).
    out = subprocess.run(
        [GDAL_VIEWSHED, "--version"], capture_output=True, text=True, check=False, timeout=60
    ).stdout
    major, minor = out.split()[1].rstrip(",").split(".")[:2]
    return int(major), int(minor)


#: Agreement figures with gdal_viewshed, collected for the summary printed at the end.
AGREEMENT: list[str] = []


# ---- helpers ------------------------------------------------------------------------------


def write_dem(
    path: Path, heights: np.ndarray, transform: Affine, crs: str, *, nodata: float | None = None
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=heights.shape[1],
        height=heights.shape[0],
        count=1,
        dtype=heights.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(heights, 1)
    return path


def read_raster(path: Path | str) -> tuple[np.ndarray, Affine, Any]:
    with rasterio.open(path) as ds:
        return ds.read(1), ds.transform, ds.crs


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", "viewshed", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def run_viewshed_cli(
    dem: Path | str, lon: float, lat: float, out: Path, *, oz: float, tz: float, md: float, k: float
) -> dict[str, Any]:
    proc = run_cli(
        "--dem",
        str(dem),
        "--lon",
        repr(lon),
        "--lat",
        repr(lat),
        "--observer-height-m",
        str(oz),
        "--target-height-m",
        str(tz),
        "--range-m",
        str(md),
        "--refraction-coeff",
        str(k),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def run_gdal_viewshed(
    dem: Path | str, x: float, y: float, out: Path, *, oz: float, tz: float, md: float, k: float
) -> None:
    assert GDAL_VIEWSHED is not None
    subprocess.run(
        [
            GDAL_VIEWSHED,
            "-q",
            "-om",
            "NORMAL",
            "-vv",
            "1",
            "-iv",
            "0",
            "-ov",
            "255",
            "-oz",
            str(oz),
            "-tz",
            str(tz),
            "-md",
            str(md),
            "-cc",
            repr(1.0 - k),
            "-ox",
            repr(x),
            "-oy",
            repr(y),
            str(dem),
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )


def pixel_offset(window_tr: Affine, grid_tr: Affine) -> tuple[int, int]:
    """(row, col) of a window's first pixel on the grid it was cut from."""
    col, row = ~grid_tr @ (window_tr.c, window_tr.f)
    assert abs(col - round(col)) < 1e-6
    assert abs(row - round(row)) < 1e-6
    return round(row), round(col)


def on_common_grid(
    a: np.ndarray, a_off: tuple[int, int], b: np.ndarray, b_off: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Two windows of one grid pasted into their common bounding box (255 elsewhere)."""
    r0, c0 = min(a_off[0], b_off[0]), min(a_off[1], b_off[1])
    r1 = max(a_off[0] + a.shape[0], b_off[0] + b.shape[0])
    c1 = max(a_off[1] + a.shape[1], b_off[1] + b.shape[1])
    out = []
    for arr, (ro, co) in ((a, a_off), (b, b_off)):
        full = np.full((r1 - r0, c1 - c0), OUTSIDE, dtype=np.uint8)
        full[ro - r0 : ro - r0 + arr.shape[0], co - c0 : co - c0 + arr.shape[1]] = arr
        out.append(full)
    return out[0], out[1]


def agreement(ours: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """Share of the cells in range (in either result) on which both give the same value."""
    in_range = (ours != OUTSIDE) | (ref != OUTSIDE)
    n = int(in_range.sum())
    return float((ours == ref)[in_range].mean()), n


def pixel_centre(tr: Affine, row: int, col: int) -> tuple[float, float]:
    x, y = tr @ (col + 0.5, row + 0.5)
    return float(x), float(y)


def rugged(n_rows: int, n_cols: int, seed: int) -> np.ndarray:
    """Ridges and valleys (m), with some roughness; 30 m cells in mind."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n_rows, 0:n_cols].astype(float)
    z = (
        90 * np.sin(x / 23.0) * np.cos(y / 31.0)
        + 70 * np.sin((x + 2 * y) / 47.0)
        + 40 * np.cos((3 * x - y) / 61.0)
        + 0.002 * (x - n_cols / 2) ** 2
        + 300
    )
    return (z + rng.normal(0.0, 2.0, z.shape)).astype(np.float32)


# ---- analytic answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("h_obs", "h_tgt", "k"),
    [(10.0, 2.0, 0.13), (10.0, 2.0, 0.0), (30.0, 0.0, 0.13), (10.0, 2.0, -0.1)],
)
def test_flat_ground_radio_horizon(h_obs: float, h_tgt: float, k: float) -> None:
    cell = 25.0
    dem = np.zeros((3, 1600))
    vis = viewshed(
        dem,
        1,
        0,
        observer_height_m=h_obs,
        target_height_m=h_tgt,
        max_distance_m=39_000.0,
        cell_size_m=cell,
        curvature_coeff=1.0 - k,
        earth_radius_m=A_WGS84,
    )
    r_eff = A_WGS84 / (1.0 - k)
    horizon_m = math.sqrt(2 * r_eff * h_obs) + math.sqrt(2 * r_eff * h_tgt)
    row = vis[1]
    last_visible = int(np.flatnonzero(row == VISIBLE).max())
    assert abs(last_visible * cell - horizon_m) <= cell
    # One horizon: everything nearer is visible, everything farther (in range) is hidden.
    assert np.all(row[: last_visible + 1] == VISIBLE)
    assert np.all(row[last_visible + 1 : 1560] == HIDDEN)


@pytest.mark.parametrize(
    ("crs", "lon0", "lat0", "cell"),
    [
        # 1" cells at 60°N are 15.5 m wide and 30.9 m tall: degrees are not metres.
        ("EPSG:4326", 20.0, 60.0, 1 / 3600),
        # Texas Central in US survey feet: 100 ft cells, and a scale factor off the centre.
        ("EPSG:2277", -97.2, 31.5, 100.0),
    ],
)
def test_flat_ground_horizon_in_any_crs(
    tmp_path: Path, crs: str, lon0: float, lat0: float, cell: float
) -> None:
    to_crs = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_ll = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    x0, y0 = to_crs.transform(lon0, lat0)
    n_rows, n_cols = (1300, 2500) if crs == "EPSG:4326" else (1300, 1300)
    tr = Affine(cell, 0, x0 - n_cols / 2 * cell, 0, -cell, y0 + n_rows / 2 * cell)
    dem = write_dem(tmp_path / "flat.tif", np.zeros((n_rows, n_cols), np.int16), tr, crs)
    row, col = n_rows // 2, n_cols // 2
    lon, lat = to_ll.transform(*pixel_centre(tr, row, col))
    out = tmp_path / "vs.tif"
    summary = run_viewshed_cli(dem, lon, lat, out, oz=10.0, tz=2.0, md=19_000.0, k=0.13)
    vis, vtr, _ = read_raster(out)
    r0, c0 = pixel_offset(vtr, tr)
    assert (summary["observer"]["row"], summary["observer"]["col"]) == (row, col)
    r_eff = A_WGS84 / 0.87
    horizon_m = math.sqrt(2 * r_eff * 10.0) + math.sqrt(2 * r_eff * 2.0)
    orow, ocol = row - r0, col - c0

    def ground_m(dr: int, dc: int) -> float:
        """Geodesic distance from the observer to the cell (dr, dc) away (m)."""
        x, y = to_ll.transform(*pixel_centre(tr, row + dr, col + dc))
        return float(GEOD.inv(lon, lat, x, y)[2])

    for name, line, (ur, uc) in [
        ("east", vis[orow, ocol:], (0, 1)),
        ("west", vis[orow, ocol::-1], (0, -1)),
        ("south", vis[orow:, ocol], (1, 0)),
        ("north", vis[orow::-1, ocol], (-1, 0)),
    ]:
        last = int(np.flatnonzero(line == VISIBLE).max())
        assert np.all(line[last + 1 :][line[last + 1 :] != OUTSIDE] == HIDDEN)
        assert abs(ground_m(last * ur, last * uc) - horizon_m) <= 1.5 * ground_m(ur, uc), name


def test_wall_hides_everything_behind_it() -> None:
    dem = np.zeros((201, 400))
    dem[:, 150] = 30.0  # a N-S wall, 100 cells east of the observer, above the eye (20 m)
    vis = viewshed(
        dem,
        100,
        50,
        observer_height_m=20.0,
        target_height_m=0.0,
        max_distance_m=5_000.0,
        cell_size_m=10.0,
        curvature_coeff=0.0,
    )
    assert np.all(vis[:, :151] == VISIBLE)
    behind = vis[:, 151:]
    assert np.all(behind[behind != OUTSIDE] == HIDDEN)
    assert np.count_nonzero(behind == HIDDEN) > 10_000


@pytest.mark.parametrize(
    ("eye", "wall", "target"), [(20.0, 10.0, 0.0), (30.0, 10.0, 2.0), (12.0, 8.0, 1.0)]
)
def test_wall_shadow_length_by_similar_triangles(eye: float, wall: float, target: float) -> None:
    d_wall = 100  # cells from the observer to the wall
    dem = np.zeros((201, 700))
    dem[:, 50 + d_wall] = wall
    vis = viewshed(
        dem,
        100,
        50,
        observer_height_m=eye,
        target_height_m=target,
        max_distance_m=1e6,
        cell_size_m=10.0,
        curvature_coeff=0.0,
    )
    # A target at distance x behind the wall shows once the sight line over the wall top
    # comes down to it: eye - (eye - wall) * x / d_wall <= target, whatever the direction
    # (every ray crosses the wall at the same fraction of its length).
    x_end = d_wall * (eye - target) / (eye - wall)
    x = np.arange(vis.shape[1]) - 50
    expected = np.where((x > d_wall) & (x < x_end), HIDDEN, VISIBLE)
    # Along the observer's row the scan is exact, to the rounding at x_end itself.
    row = vis[100]
    hidden = np.flatnonzero(row == HIDDEN) - 50
    assert hidden.min() == d_wall + 1
    assert abs(hidden.max() - x_end) <= 1
    # Off the row the sight line is interpolated between cells: nearly all agree.
    near_boundary = (np.abs(x - x_end) <= 1) | (np.abs(x - d_wall) <= 1)
    match = (vis == expected[None, :])[:, ~near_boundary]
    assert match.mean() >= 0.98


def test_observer_in_a_pit_sees_only_the_pit() -> None:
    n = 121
    y, x = np.mgrid[0:n, 0:n] - 60
    r = np.hypot(x, y)
    dem = np.where(r <= 10, -20.0, 0.0)
    vis = viewshed(
        dem,
        60,
        60,
        observer_height_m=2.0,
        target_height_m=0.0,
        max_distance_m=5_000.0,
        cell_size_m=30.0,
    )
    assert np.all(vis[r <= 10] == VISIBLE)
    # Beyond the rim (the first ring of cells outside the pit, which faces the observer)
    # nothing is seen.
    assert np.all(vis[r > 11.5] == HIDDEN)


def test_ridge_shadow_matches_the_analytic_profile() -> None:
    # A N-S ridge, a valley behind it and a higher range beyond: every ray crosses the same
    # profile in x, so visibility depends on x only.
    n_cols = 300
    x = np.arange(n_cols, dtype=float)
    ridge = np.clip(20.0 - 1.0 * np.abs(x - 80.0), 0.0, None)
    far_range = np.clip(3.0 * (x - 200.0), 0.0, 150.0)
    profile = ridge + far_range
    dem = np.repeat(profile[None, :], 201, axis=0)
    eye = 5.0
    col0 = 20
    vis = viewshed(
        dem,
        100,
        col0,
        observer_height_m=eye,
        target_height_m=0.0,
        max_distance_m=1e6,
        cell_size_m=30.0,
        curvature_coeff=0.0,
    )
    # Analytic: the largest slope seen so far from the eye along x.
    dx = x[col0 + 1 :] - col0
    slope = (profile[col0 + 1 :] - (profile[col0] + eye)) / dx
    best = np.maximum.accumulate(np.concatenate([[-np.inf], slope[:-1]]))
    expected = np.concatenate([[VISIBLE], np.where(slope >= best, VISIBLE, HIDDEN)])
    assert np.array_equal(vis[100, col0:], expected)
    assert np.count_nonzero(expected == HIDDEN) > 50  # the valley is in shadow
    assert np.all(expected[225 - col0 : 250 - col0] == VISIBLE)  # the far range's face shows
    # Whole grid (east of the observer): interpolated off the row, the same almost everywhere.
    full = np.repeat(expected[None, :], 201, axis=0)
    assert (vis[:, col0:] == full).mean() >= 0.97


def test_nodata_is_outside_and_does_not_block() -> None:
    dem = np.zeros((41, 81))
    dem[15:26, 30:36] = np.nan  # a hole in front of the observer
    dem[:, 70] = 5.0
    vis = viewshed(
        dem,
        20,
        10,
        observer_height_m=2.0,
        target_height_m=0.0,
        max_distance_m=1e6,
        cell_size_m=10.0,
        curvature_coeff=0.0,
    )
    assert np.all(vis[15:26, 30:36] == OUTSIDE)
    assert np.all(vis[15:26, 36:71] == VISIBLE)  # seen through the hole up to the ridge


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16])
def test_inputs_are_not_modified(dtype: type) -> None:
    dem = rugged(150, 170, seed=3).astype(dtype)
    dem_before = dem.copy()
    metric = GridMetric.from_cell_size((30.0, 25.0), dem.shape[0])
    metric_before = [m.copy() for m in (metric.xx_m2, metric.xy_m2, metric.yy_m2)]
    dem.setflags(write=False)  # a write would raise, not just change values
    vis = viewshed(dem, 70, 90, observer_height_m=10.0, max_distance_m=3000.0, cell_size_m=metric)
    assert np.array_equal(dem, dem_before)
    assert all(
        np.array_equal(a, b)
        for a, b in zip((metric.xx_m2, metric.xy_m2, metric.yy_m2), metric_before, strict=True)
    )
    assert vis.dtype == np.uint8
    assert vis.shape == dem.shape
    assert set(np.unique(vis)) <= {VISIBLE, HIDDEN, OUTSIDE}
    assert np.count_nonzero(vis == HIDDEN) > 0
    assert np.count_nonzero(vis == VISIBLE) > 0


def test_range_and_window() -> None:
    metric = GridMetric.from_cell_size(10.0, 401)
    rows, cols = range_window(200, 200, shape=(401, 401), max_distance_m=500.0, metric=metric)
    assert (rows, cols) == (slice(150, 251), slice(150, 251))
    dem = np.zeros((401, 401))
    vis = viewshed(dem, 200, 200, observer_height_m=2.0, max_distance_m=500.0, cell_size_m=10.0)
    y, x = np.mgrid[0:401, 0:401] - 200
    assert np.array_equal(vis != OUTSIDE, np.hypot(x, y) * 10.0 <= 500.0)
    cut = viewshed(
        dem[rows, cols], 50, 50, observer_height_m=2.0, max_distance_m=500.0, cell_size_m=10.0
    )
    assert np.array_equal(cut, vis[rows, cols])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"row": 5, "col": 99}, "expected a cell inside the DEM"),
        ({"observer_height_m": -1.0}, "observer_height_m: expected a number >= 0"),
        ({"max_distance_m": 0.0}, "max_distance_m: expected a number > 0"),
        ({"cell_size_m": (30.0, -1.0)}, "cell height must be a finite number > 0"),
        ({"target_height_m": float("nan")}, "target_height_m: expected a finite number"),
    ],
)
def test_invalid_options_are_refused(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {
        "row": 5,
        "col": 5,
        "observer_height_m": 2.0,
        "max_distance_m": 100.0,
        "cell_size_m": 10.0,
    }
    args.update(kwargs)
    row, col = args.pop("row"), args.pop("col")
    with pytest.raises(ValidationError, match=match):
        viewshed(np.zeros((10, 10)), row, col, **args)


def test_observer_on_nodata_is_refused() -> None:
    dem = np.zeros((10, 10))
    dem[5, 5] = np.nan
    with pytest.raises(ValidationError, match="no height at row 5, column 5"):
        viewshed(dem, 5, 5, observer_height_m=2.0, max_distance_m=100.0, cell_size_m=10.0)


# ---- the same place in two CRSs ------------------------------------------------------------


def hills(e: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Terrain (m) as a function of UTM 32N position: hills and valleys a few km across."""
    u, v = (e - 500_000.0) / 1000.0, (n - 5_200_000.0) / 1000.0
    return (
        400.0
        + 60.0 * np.sin(u / 0.9) * np.cos(v / 1.3)
        + 45.0 * np.cos((u + 2.0 * v) / 1.7)
        + 80.0 * np.exp(-((u - 2.0) ** 2 + (v + 1.0) ** 2) / 1.5)
    )


def test_same_answer_for_the_same_place_in_4326_and_utm(tmp_path: Path) -> None:
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    to_ll = pyproj.Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
    # Projected DEM: 30 m UTM cells around the zone's central meridian (scale 0.9996).
    cell = 30.0
    n = 500
    tr_utm = Affine(cell, 0, 500_000.0 - n / 2 * cell, 0, -cell, 5_200_000.0 + n / 2 * cell)
    cols, rows = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    e, nn = tr_utm @ (cols, rows)
    utm = write_dem(tmp_path / "utm.tif", hills(e, nn).astype(np.float32), tr_utm, "EPSG:32632")
    # Geographic DEM of the same terrain: 1" cells (30.9 m x 21.1 m at 47°N).
    lon_c, lat_c = to_ll.transform(500_000.0, 5_200_000.0)
    res = 1 / 3600
    n_rows, n_cols = 560, 780
    tr_geo = Affine(res, 0, lon_c - n_cols / 2 * res, 0, -res, lat_c + n_rows / 2 * res)
    cols, rows = np.meshgrid(np.arange(n_cols) + 0.5, np.arange(n_rows) + 0.5)
    lon, lat = tr_geo @ (cols, rows)
    ge, gn = to_utm.transform(lon, lat)
    geo = write_dem(tmp_path / "geo.tif", hills(ge, gn).astype(np.float32), tr_geo, "EPSG:4326")

    obs_lon, obs_lat = to_ll.transform(499_400.0, 5_200_700.0)
    range_m = 5_000.0
    run_viewshed_cli(
        utm, obs_lon, obs_lat, tmp_path / "vs_utm.tif", oz=15.0, tz=2.0, md=range_m, k=0.13
    )
    run_viewshed_cli(
        geo, obs_lon, obs_lat, tmp_path / "vs_geo.tif", oz=15.0, tz=2.0, md=range_m, k=0.13
    )
    vis_utm, tr_vu, _ = read_raster(tmp_path / "vs_utm.tif")
    vis_geo, tr_vg, _ = read_raster(tmp_path / "vs_geo.tif")

    # Every cell of the UTM result, looked up in the geographic result at the same place.
    cols, rows = np.meshgrid(np.arange(vis_utm.shape[1]) + 0.5, np.arange(vis_utm.shape[0]) + 0.5)
    pe, pn = tr_vu @ (cols, rows)
    plon, plat = to_ll.transform(pe, pn)
    gc, gr = ~tr_vg @ (plon, plat)
    gc, gr = np.floor(gc).astype(int), np.floor(gr).astype(int)
    inside = (gr >= 0) & (gr < vis_geo.shape[0]) & (gc >= 0) & (gc < vis_geo.shape[1])
    at_geo = np.full(vis_utm.shape, OUTSIDE, dtype=np.uint8)
    at_geo[inside] = vis_geo[gr[inside], gc[inside]]
    _, _, dist = GEOD.inv(np.full(plon.shape, obs_lon), np.full(plat.shape, obs_lat), plon, plat)

    # The range is a ground distance in both: the same circle, to a cell.
    assert np.all(vis_utm[dist < range_m - 30] != OUTSIDE)
    assert np.all(at_geo[dist < range_m - 40] != OUTSIDE)
    assert np.all(vis_utm[dist > range_m + 30] == OUTSIDE)
    assert np.all(at_geo[(dist > range_m + 40) & inside] == OUTSIDE)
    # Visibility at the same places: the terrain is sampled on different grids, so cells on
    # the edge of a shadow may differ.
    core = dist < range_m - 40
    share = float((vis_utm == at_geo)[core].mean())
    AGREEMENT.append(f"EPSG:4326 vs UTM 32N, same terrain: {share:.2%} of {core.sum()} cells")
    assert share >= 0.98
    assert 0.2 < float((vis_utm[core] == VISIBLE).mean()) < 0.9  # not a trivial answer


# ---- agreement with gdal_viewshed -------------------------------------------------------------


def metric_copy_for_gdal(src: str, tmp_path: Path, row: int, col: int, name: str) -> Path:
    """The same pixels, georeferenced in metres around the observer's cell (for GDAL)."""
    with rasterio.open(src) as ds:
        tr, width, height = ds.transform, ds.width, ds.height
    lon, lat = pixel_centre(tr, row, col)
    _, _, width_m = GEOD.inv(lon - tr.a / 2, lat, lon + tr.a / 2, lat)
    _, _, height_m = GEOD.inv(lon, lat + tr.e / 2, lon, lat - tr.e / 2)
    ulx, uly = -(col + 0.5) * width_m, (row + 0.5) * height_m
    out = tmp_path / f"{name}_metric_{row}_{col}.vrt"
    subprocess.run(
        [
            "gdal_translate",
            "-q",
            "-of",
            "VRT",
            "-a_srs",
            f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +datum=WGS84 +units=m",
            "-a_ullr",
            repr(ulx),
            repr(uly),
            repr(ulx + width * width_m),
            repr(uly - height * height_m),
            src,
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


#: (observer height m, target height m, range m, refraction coefficient) per observer: a
#: radar mast, a camera pole, a tower, another mast (settings.DEFAULT_HEIGHT_M). Observers a
#: metre or two above a summit are left to the cell-for-cell test: GDAL before 3.10 hides the
#: slopes below them (OSGeo/gdal#10205, see geo.terrain.viewshed).
CASES = [
    (10.0, 2.0, 5_000.0, 0.13),
    (6.0, 0.0, 8_000.0, 0.13),
    (20.0, 5.0, 10_000.0, 0.0),
    (30.0, 2.0, 7_000.0, 0.25),
]


def compare_geographic_with_gdal(
    src: str, tmp_path: Path, name: str, observers: list[tuple[int, int]]
) -> None:
    with rasterio.open(src) as ds:
        tr = ds.transform
    for i, (row, col) in enumerate(observers):
        oz, tz, md, k = CASES[i % len(CASES)]
        lon, lat = pixel_centre(tr, row, col)
        ours_path = tmp_path / f"{name}_ours_{i}.tif"
        run_viewshed_cli(src, lon, lat, ours_path, oz=oz, tz=tz, md=md, k=k)
        ours, ours_tr, _ = read_raster(ours_path)
        metric = metric_copy_for_gdal(src, tmp_path, row, col, name)
        with rasterio.open(metric) as ds:
            metric_tr = ds.transform
        gdal_path = tmp_path / f"{name}_gdal_{i}.tif"
        run_gdal_viewshed(metric, 0.0, 0.0, gdal_path, oz=oz, tz=tz, md=md, k=k)
        ref, ref_tr, _ = read_raster(gdal_path)
        a, b = on_common_grid(ours, pixel_offset(ours_tr, tr), ref, pixel_offset(ref_tr, metric_tr))
        share, n = agreement(a, b)
        AGREEMENT.append(
            f"{name} observer ({row}, {col}) oz={oz:g} tz={tz:g} md={md:g} "
            f"k={k:g}: {share:.3%} of {n} cells"
        )
        assert share >= 0.99, AGREEMENT[-1]
        assert np.count_nonzero(a == HIDDEN) > 0
        assert np.count_nonzero(a == VISIBLE) > 0


@needs_gdal
def test_agrees_with_gdal_on_pysheds_dem_epsg4326(realdata: Path, tmp_path: Path) -> None:
    src = str(realdata / "dem" / "pysheds_dem.tif")
    compare_geographic_with_gdal(
        src, tmp_path, "pysheds_dem.tif", [(180, 185), (60, 70), (300, 320), (20, 340), (250, 40)]
    )


@needs_gdal
def test_agrees_with_gdal_on_zipped_srtm_hgt(realdata: Path, tmp_path: Path) -> None:
    src = f"/vsizip/{realdata / 'dem' / 'rasterio_N10W110.hgt.zip'}/N10W110.hgt"
    # Clipperton Island (up to 9 m) in the sea: on the island, on its shore, out at sea.
    compare_geographic_with_gdal(
        src, tmp_path, "N10W110.hgt (zip)", [(837, 940), (820, 925), (850, 960), (800, 900)]
    )


@needs_gdal
def test_agrees_with_gdal_on_rugged_projected_dem(tmp_path: Path) -> None:
    cell = 30.0
    n = 420
    # 180 km east of the central meridian of UTM 33N, where the scale factor is about 1.
    tr = Affine(cell, 0, 680_000.0, 0, -cell, 5_000_000.0 + n * cell)
    src = write_dem(tmp_path / "rugged_utm.tif", rugged(n, n, seed=1), tr, "EPSG:32633")
    to_ll = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    observers = [(210, 210), (50, 60), (400, 15), (123, 301), (0, 0), (419, 419)]
    for i, (row, col) in enumerate(observers):
        oz, tz, md, k = CASES[i % len(CASES)]
        x, y = pixel_centre(tr, row, col)
        lon, lat = to_ll.transform(x, y)
        ours_path, gdal_path = tmp_path / f"ours_{i}.tif", tmp_path / f"gdal_{i}.tif"
        run_viewshed_cli(src, lon, lat, ours_path, oz=oz, tz=tz, md=md, k=k)
        run_gdal_viewshed(src, x, y, gdal_path, oz=oz, tz=tz, md=md, k=k)
        ours, ours_tr, ours_crs = read_raster(ours_path)
        ref, ref_tr, _ = read_raster(gdal_path)
        assert ours_crs == "EPSG:32633"
        a, b = on_common_grid(ours, pixel_offset(ours_tr, tr), ref, pixel_offset(ref_tr, tr))
        share, count = agreement(a, b)
        AGREEMENT.append(
            f"rugged UTM 33N observer ({row}, {col}) oz={oz:g} tz={tz:g} "
            f"md={md:g} k={k:g}: {share:.3%} of {count} cells"
        )
        assert share >= 0.99, AGREEMENT[-1]


@needs_gdal
def test_kernel_matches_gdal_cell_for_cell(tmp_path: Path) -> None:
    # The array API on GDAL's own window, cell size in CRS units as GDAL takes them, low
    # observers included; before GDAL 3.10, with GDAL's handling of the observer's neighbours.
    legacy = gdal_version() < (3, 10)
    cell = 30.0
    n = 300
    tr = Affine(cell, 0, 500_000.0, 0, -cell, 4_000_000.0 + n * cell)
    heights = rugged(n, n, seed=7)
    src = write_dem(tmp_path / "r.tif", heights, tr, "EPSG:32633")
    cases = [*CASES, (2.0, 0.0, 6_000.0, 0.13), (0.0, 0.0, 3_000.0, 0.0)]
    observers = [(150, 150), (10, 280), (299, 0), (0, 299), (77, 123), (250, 200)]
    for (row, col), (oz, tz, md, k) in zip(observers, cases, strict=True):
        x, y = pixel_centre(tr, row, col)
        run_gdal_viewshed(src, x, y, tmp_path / "g.tif", oz=oz, tz=tz, md=md, k=k)
        ref, ref_tr, _ = read_raster(tmp_path / "g.tif")
        r0, c0 = pixel_offset(ref_tr, tr)
        win = heights[r0 : r0 + ref.shape[0], c0 : c0 + ref.shape[1]]
        ours = viewshed(
            win,
            row - r0,
            col - c0,
            observer_height_m=oz,
            target_height_m=tz,
            max_distance_m=md,
            cell_size_m=cell,
            curvature_coeff=1.0 - k,
            earth_radius_m=A_WGS84,
            legacy_gdal=legacy,
        )
        assert np.array_equal(ours, ref), (row, col)
        AGREEMENT.append(
            f"array API (legacy_gdal={legacy}) vs GDAL {gdal_version()}, "
            f"observer ({row}, {col}) oz={oz:g}: identical, {ours.size} cells"
        )


def test_observer_above_a_summit_sees_the_slopes_below() -> None:
    # A cone: from just above its apex every point of it is in sight (the sight line to a
    # point at distance r stays h * (1 - t / r) above the surface). GDAL before 3.10 hid most
    # of it (OSGeo/gdal#10205, #8291); legacy_gdal=True shows that.
    n = 101
    y, x = np.mgrid[0:n, 0:n] - 50
    cone = 500.0 - 15.0 * np.hypot(x, y)  # 15 m drop per 30 m cell
    kwargs: dict[str, Any] = {
        "observer_height_m": 2.0,
        "target_height_m": 0.0,
        "max_distance_m": 1e6,
        "cell_size_m": 30.0,
        "curvature_coeff": 0.0,
    }
    assert np.all(viewshed(cone, 50, 50, **kwargs) == VISIBLE)
    legacy = viewshed(cone, 50, 50, legacy_gdal=True, **kwargs)
    assert np.count_nonzero(legacy == HIDDEN) > 0.3 * legacy.size


# ---- the command line -----------------------------------------------------------------------


@pytest.fixture
def small_dem(tmp_path: Path) -> tuple[Path, Affine]:
    tr = Affine(30.0, 0, 680_000.0, 0, -30.0, 5_003_000.0)
    heights = rugged(100, 100, seed=2).astype(np.float32)
    heights[10, 10] = -9999.0
    return write_dem(tmp_path / "small.tif", heights, tr, "EPSG:32633", nodata=-9999.0), tr


def test_cli_writes_uint8_geotiff_on_the_dem_grid(
    small_dem: tuple[Path, Affine], tmp_path: Path
) -> None:
    dem, tr = small_dem
    to_ll = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(*pixel_centre(tr, 20, 15))
    out = tmp_path / "out.tif"
    summary = run_viewshed_cli(dem, lon, lat, out, oz=10.0, tz=2.0, md=1_000.0, k=0.13)
    with rasterio.open(out) as ds:
        vis, vtr = ds.read(1), ds.transform
        assert ds.dtypes == ("uint8",)
        assert ds.nodata == OUTSIDE
        assert ds.crs == "EPSG:32633"
    r0, c0 = pixel_offset(vtr, tr)
    assert (vtr.a, vtr.e) == (tr.a, tr.e)
    assert vis[20 - r0, 15 - c0] == VISIBLE
    assert vis[10 - r0, 10 - c0] == OUTSIDE  # nodata
    assert set(np.unique(vis)) == {VISIBLE, HIDDEN, OUTSIDE}
    assert summary["observer"] == {
        "row": 20,
        "col": 15,
        "ground_m": pytest.approx(float(rugged(100, 100, seed=2)[20, 15])),
        "eye_m": pytest.approx(float(rugged(100, 100, seed=2)[20, 15]) + 10.0),
    }
    assert sum(summary["cells"].values()) == vis.size


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--dem": "missing.tif"}, "file not found"),
        ({"--lon": "20.0"}, "outside the DEM"),
        ({"--range-m": "0"}, "range_m: expected a number > 0"),
        ({"--observer-height-m": "-3"}, "observer_height_m: expected a number >= 0"),
        ({"--refraction-coeff": "1.5"}, "refraction_coeff: expected a number from -1 to 1"),
        ({"--lat": "95"}, "lat: expected degrees in"),
        ({"nodata": "observer"}, "has no height there"),
        ({"--dem": "not_a_raster"}, "cannot open as a raster"),
        ({"--out": "no_such_dir/o.tif"}, "cannot write the GeoTIFF"),
    ],
)
def test_cli_refuses_bad_input_with_exit_2(
    small_dem: tuple[Path, Affine], tmp_path: Path, change: dict[str, str], message: str
) -> None:
    dem, tr = small_dem
    to_ll = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    row, col = (10, 10) if "nodata" in change else (20, 15)
    lon, lat = to_ll.transform(*pixel_centre(tr, row, col))
    args = {
        "--dem": str(dem),
        "--lon": repr(lon),
        "--lat": repr(lat),
        "--observer-height-m": "10",
        "--range-m": "1000",
        "--out": str(tmp_path / "o.tif"),
    }
    if change.get("--dem") == "not_a_raster":
        bogus = tmp_path / "bogus.tif"
        bogus.write_text("not a raster", encoding="utf-8")
        change = {"--dem": str(bogus)}
    elif change.get("--dem") == "missing.tif":
        change = {"--dem": str(tmp_path / "missing.tif")}
    elif "--out" in change:
        change = {"--out": str(tmp_path / change["--out"])}
    args.update({k: v for k, v in change.items() if k.startswith("--")})
    proc = run_cli(*[item for pair in args.items() for item in pair])
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.tif").exists()


def test_cli_refuses_a_dem_without_crs(tmp_path: Path) -> None:
    dem = tmp_path / "nocrs.tif"
    with rasterio.open(
        dem,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="float32",
        transform=Affine(30.0, 0, 0.0, 0, -30.0, 300.0),
    ) as dst:
        dst.write(np.zeros((10, 10), np.float32), 1)
    proc = run_cli(
        "--dem",
        str(dem),
        "--lon",
        "0",
        "--lat",
        "0",
        "--observer-height-m",
        "2",
        "--range-m",
        "100",
        "--out",
        str(tmp_path / "o.tif"),
    )
    assert proc.returncode == 2
    assert "expected a georeferenced raster with a CRS" in proc.stderr
    assert "Traceback" not in proc.stderr
