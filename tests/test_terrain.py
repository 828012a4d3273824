"""The hillshade fades out beyond the corridor (issue 13).

Distances are checked against brute force (every cell to every feature cell) and against
pyproj's geodesics to a lon/lat rectangle; the fade is read from a real GeoTIFF in UTM.
"""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from rasterio.transform import Affine

from geo.core.errors import ValidationError
from geo.terrain.hillshade import corridor_distance_km, corridor_fade, read_hillshade_faded
from geo.terrain.raster_distance import distance_to_mask

GEOD = pyproj.Geod(ellps="WGS84")
TO_MERC = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
TO_LL = pyproj.Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)

#: The synthetic corridor: a lon/lat rectangle in Lithuania (about 6.5 km by 11 km).
RECT = (26.85, 54.20, 26.95, 54.30)
FADE_KM = 10.0


# ---- the distance transform --------------------------------------------------------------


@pytest.mark.parametrize("cell_size_m", [(1.0, 1.0), (3.0, 4.0), (0.7, 2.5)])
@pytest.mark.parametrize("seed", range(5))
def test_distance_to_mask_is_the_brute_force_nearest_feature(seed, cell_size_m):
    rng = np.random.default_rng(seed)
    mask = rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 40)))) < rng.uniform(0.0, 0.1)
    mask[rng.integers(mask.shape[0]), rng.integers(mask.shape[1])] = True
    before = mask.copy()
    got = distance_to_mask(mask, cell_size_m=cell_size_m)
    rows, cols = np.indices(mask.shape)
    fr, fc = np.nonzero(mask)
    dx, dy = cell_size_m
    brute = np.hypot((rows[..., None] - fr) * dy, (cols[..., None] - fc) * dx).min(axis=-1)
    np.testing.assert_allclose(got, brute, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(mask, before)


def test_distance_to_an_empty_mask_is_infinite():
    assert np.isinf(distance_to_mask(np.zeros((3, 5), dtype=bool), cell_size_m=(1.0, 1.0))).all()


@pytest.mark.parametrize(
    ("mask", "cell", "match"),
    [
        (np.zeros(4, dtype=bool), (1.0, 1.0), "2-D grid"),
        (np.zeros((2, 2), dtype=bool), (0.0, 1.0), "cell_size_m"),
        (np.zeros((2, 2), dtype=bool), (1.0, np.nan), "cell_size_m"),
    ],
)
def test_distance_to_mask_rejects_bad_input(mask, cell, match):
    with pytest.raises(ValueError, match=match):
        distance_to_mask(mask, cell_size_m=cell)


# ---- helpers -----------------------------------------------------------------------------


def cell_centres_lonlat(shape, bounds):
    """Lon/lat of the cell centres of a Web Mercator grid given by its lon/lat bounds."""
    rows, cols = shape
    (x0, x1), (y0, y1) = TO_MERC.transform([bounds[0], bounds[2]], [bounds[1], bounds[3]])
    x = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols
    y = y1 - (np.arange(rows) + 0.5) * (y1 - y0) / rows
    xx, yy = np.meshgrid(x, y)
    return TO_LL.transform(xx, yy)


def geodesic_km_to_rect(lon, lat, rect=RECT, step_deg=2e-4):
    """Geodesic distance (km) from points to the nearest point of a lon/lat rectangle's edge.

    The edge is sampled every ``step_deg`` (about 15 m); points inside get 0.
    """
    w, s, e, n = rect
    ring = shapely.segmentize(shapely.box(w, s, e, n).exterior, step_deg)
    edge = shapely.get_coordinates(ring)
    lon = np.atleast_1d(lon).astype(float)
    lat = np.atleast_1d(lat).astype(float)
    plon = np.repeat(lon[:, None], len(edge), axis=1)
    plat = np.repeat(lat[:, None], len(edge), axis=1)
    _, _, d_m = GEOD.inv(
        plon, plat, np.broadcast_to(edge[:, 0], plon.shape), np.broadcast_to(edge[:, 1], plat.shape)
    )
    inside = (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)
    return np.where(inside, 0.0, d_m.min(axis=1) / 1000.0)


def ground_cell_km(shape, bounds):
    """Largest ground size (km) of a cell of the grid (at its most equatorward row)."""
    _, cols = shape
    (x0, x1), _ = TO_MERC.transform([bounds[0], bounds[2]], [bounds[1], bounds[3]])
    lat = min(abs(bounds[1]), abs(bounds[3]))
    return (x1 - x0) / cols * np.cos(np.radians(lat)) / 1000.0


@pytest.fixture(scope="module")
def dem_path(tmp_path_factory):
    """Rolling hills 64 km x 64 km in UTM 35N (100 m cells) around the rectangle, with a hole."""
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32635", always_xy=True)
    cx, cy = to_utm.transform((RECT[0] + RECT[2]) / 2, (RECT[1] + RECT[3]) / 2)
    n, cell = 640, 100.0
    west, north = round(cx) - n * cell / 2, round(cy) + n * cell / 2
    yy, xx = np.mgrid[0:n, 0:n] * cell
    z = (150.0 + 60.0 * np.sin(xx / 3000.0) * np.cos(yy / 4000.0)).astype(np.float32)
    z[20:60, 20:60] = -9999.0  # a nodata patch in the north-west corner, far from the corridor
    path = tmp_path_factory.mktemp("dem") / "hills.tif"
    profile = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32635",
        "transform": Affine(cell, 0.0, west, 0.0, -cell, north),
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
    return str(path)


@pytest.fixture(scope="module")
def faded(dem_path):
    return read_hillshade_faded(dem_path, shapely.box(*RECT), fade_km=FADE_KM, z_factor=3.0)


# ---- the fade on a real GeoTIFF ----------------------------------------------------------


def test_alpha_is_one_inside_the_corridor(faded):
    shade, alpha, bounds = faded
    lon, lat = cell_centres_lonlat(shade.shape, bounds)
    w, s, e, n = RECT
    inside = (lon > w) & (lon < e) & (lat > s) & (lat < n)
    assert inside.sum() > 1000
    assert (alpha[inside] == 1.0).all()
    assert np.isfinite(shade[inside]).all()


def test_alpha_is_zero_beyond_the_fade(faded):
    shade, alpha, bounds = faded
    lon, lat = cell_centres_lonlat(shade.shape, bounds)
    # Edge sampled every 5e-3° (~330 m): at 10 km that overstates the distance by under 2 m.
    d_km = geodesic_km_to_rect(lon[::7, ::7].ravel(), lat[::7, ::7].ravel(), step_deg=5e-3)
    d_km = d_km.reshape(lon[::7, ::7].shape)
    tol_km = ground_cell_km(shade.shape, bounds)
    far = d_km > FADE_KM + tol_km
    assert far.sum() > 1000
    assert (alpha[::7, ::7][far] == 0.0).all()
    assert np.isnan(shade[::7, ::7][far]).all()  # the shade is gone there too
    near = (d_km > tol_km) & (d_km < FADE_KM - tol_km)
    assert ((alpha[::7, ::7][near] > 0.0) & (alpha[::7, ::7][near] < 1.0)).all()


def test_no_alpha_where_the_dem_has_no_data(faded):
    shade, alpha, _ = faded
    assert np.isnan(shade).any()
    assert (alpha[np.isnan(shade)] == 0.0).all()
    assert (np.isnan(shade) == (alpha == 0.0)).all()


@pytest.mark.parametrize("direction", ["east", "west", "north", "south"])
def test_fade_falls_steadily_with_the_geodesic_distance(faded, direction):
    shade, _, bounds = faded
    lon, lat = cell_centres_lonlat(shade.shape, bounds)
    mid_lon, mid_lat = (RECT[0] + RECT[2]) / 2, (RECT[1] + RECT[3]) / 2
    r = int(np.argmin(np.abs(lat[:, 0] - mid_lat)))
    c = int(np.argmin(np.abs(lon[0] - mid_lon)))
    line = {
        "east": (np.s_[r, c:]),
        "west": (np.s_[r, c::-1]),
        "north": (np.s_[r::-1, c]),
        "south": (np.s_[r:, c]),
    }[direction]
    alpha = corridor_fade(shade, bounds, shapely.box(*RECT), fade_km=FADE_KM)
    d_km = corridor_distance_km(shade, bounds, shapely.box(*RECT), within_km=FADE_KM)[line]
    truth = geodesic_km_to_rect(lon[line], lat[line])
    a = alpha[line]
    assert a[0] == 1.0
    assert a[-1] == 0.0
    assert (np.diff(a) <= 0.0).all()  # never rises moving away
    # Distances within half a cell of the geodesic truth, up to the fade.
    half_cell = 0.5 * ground_cell_km(shade.shape, bounds)
    known = np.isfinite(d_km)
    assert (truth[~known] > FADE_KM - half_cell).all()
    np.testing.assert_allclose(d_km[known], truth[known], atol=half_cell + 0.01)
    # The opacity is the smoothstep of that distance (slope at most 1.5 / fade).
    t = np.clip(truth / FADE_KM, 0.0, 1.0)
    np.testing.assert_allclose(
        a, 1.0 - t * t * (3.0 - 2.0 * t), atol=1.5 * (half_cell + 0.01) / FADE_KM
    )


# ---- the fade on a bare grid -------------------------------------------------------------


def test_corridor_just_off_the_grid_still_fades_it_in():
    """A corridor 3 km east of the grid's east edge: the grid's east side is within the fade."""
    bounds = (26.0, 54.0, 26.5, 54.3)
    grid = np.zeros((300, 400))
    off = shapely.box(26.55, 54.0, 26.7, 54.3)
    d_km = corridor_distance_km(grid, bounds, off, within_km=FADE_KM)
    lon, lat = cell_centres_lonlat(grid.shape, bounds)
    r = 150
    truth = geodesic_km_to_rect(lon[r, -40:], lat[r, -40:], rect=off.bounds)
    np.testing.assert_allclose(
        d_km[r, -40:], truth, atol=0.5 * ground_cell_km(grid.shape, bounds) + 0.01
    )
    assert np.isinf(d_km[:, 0]).all()


def test_nothing_is_changed_in_place():
    bounds = (26.0, 54.0, 27.0, 54.5)
    shade = np.random.default_rng(0).random((120, 160))
    shade[0, 0] = np.nan
    corridor = shapely.box(*RECT)
    before = shade.copy(), tuple(bounds), corridor.wkb
    corridor_fade(shade, bounds, corridor, fade_km=FADE_KM)
    corridor_distance_km(shade, bounds, corridor, within_km=FADE_KM)
    np.testing.assert_array_equal(shade, before[0])
    assert bounds == before[1]
    assert corridor.wkb == before[2]


def test_an_empty_corridor_hides_everything():
    alpha = corridor_fade(
        np.zeros((10, 10)), (26.0, 54.0, 27.0, 54.5), shapely.Polygon(), fade_km=FADE_KM
    )
    assert (alpha == 0.0).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"corridor": shapely.box(500000, 6000000, 510000, 6010000)}, "not in lon/lat degrees"),
        (
            {"corridor": shapely.LineString([(26, 54), (27, 54)])},
            "a shapely Polygon or MultiPolygon",
        ),
        ({"fade_km": 0.0}, "fade_km.*a number of km > 0"),
        ({"fade_km": float("nan")}, "fade_km.*a number of km > 0"),
        ({"bounds": (27.0, 54.0, 26.0, 54.5)}, "bounds: not a lon/lat box"),
        ({"bounds": (2.9e6, 7.1e6, 3.0e6, 7.2e6)}, "bounds: not a lon/lat box"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    args = {
        "corridor": shapely.box(*RECT),
        "fade_km": FADE_KM,
        "bounds": (26.0, 54.0, 27.0, 54.5),
    } | kwargs
    with pytest.raises(ValidationError, match=match):
        corridor_fade(np.zeros((10, 10)), args["bounds"], args["corridor"], fade_km=args["fade_km"])
