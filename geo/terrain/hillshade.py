"""Terrain for display: a hillshade of a DEM, as an image in EPSG:4326 or Web Mercator.

Rasters are opened at the edge with ``with rasterio.open(...)``, nodata becomes NaN at once,
and what leaves this module is a plain array and its lon/lat bounds. On a Web Mercator grid
the hillshade can fade out with the ground distance from the border corridor
(:func:`corridor_fade`, :func:`read_hillshade_faded`).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pyproj
import rasterio
import shapely
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform, reproject
from shapely.geometry.base import BaseGeometry

from geo.core.errors import ValidationError, describe
from geo.terrain.raster_distance import distance_to_mask

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0


def hillshade(
    z: NDArray[np.float64],
    *,
    cell_size_m: tuple[float, float],
    azimuth_deg: float = 315.0,
    altitude_deg: float = 45.0,
    z_factor: float = 1.0,
) -> NDArray[np.float64]:
    """Lambertian hillshade (0 dark to 1 lit) of an elevation grid, as GDAL's gdaldem does.

    Parameters
    ----------
    z
        Elevations (m), rows north to south; NaN where unknown (stays NaN).
    cell_size_m
        (width, height) of a cell on the ground (m).
    azimuth_deg, altitude_deg
        Sun direction: clockwise from north, and above the horizon (degrees).
    z_factor
        Vertical exaggeration.

    Examples
    --------
    >>> flat = hillshade(np.zeros((3, 3)), cell_size_m=(10.0, 10.0))
    >>> round(float(flat[1, 1]), 4)  # sin(45°)
    0.7071
    """
    dzdy, dzdx = np.gradient(np.asarray(z, dtype=float) * z_factor, cell_size_m[1], cell_size_m[0])
    # Rows run south, so the northward slope is -dz/drow.
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(-dzdx, dzdy)  # downslope direction, clockwise from north
    zen = np.radians(90.0 - altitude_deg)
    az = np.radians(azimuth_deg)
    shade = np.cos(zen) * np.cos(slope) + np.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    return np.clip(shade, 0.0, 1.0)


def _target_grid(
    src_crs: Any,
    dst_crs: str,
    width: int,
    height: int,
    bounds: tuple[float, float, float, float],
    max_size_px: int,
) -> tuple[Affine, int, int]:
    with warnings.catch_warnings():
        # rasterio 1.4 multiplies affines with `*`, which affine 3 flags as pending deprecation.
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        transform, w, h = calculate_default_transform(src_crs, dst_crs, width, height, *bounds)
    scale = max(w, h) / max_size_px
    if scale > 1:
        transform = transform @ Affine.scale(scale, scale)
        w, h = int(np.ceil(w / scale)), int(np.ceil(h / scale))
    return transform, w, h


def _lonlat_bounds(
    transform: Affine, width: int, height: int, crs: str
) -> tuple[float, float, float, float]:
    west, north = transform.c, transform.f
    east, south = west + transform.a * width, north + transform.e * height
    if crs != "EPSG:4326":
        to_ll = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        (west, east), (south, north) = to_ll.transform([west, east], [south, north])
    return float(west), float(south), float(east), float(north)


def read_hillshade(
    path: str,
    *,
    max_size_px: int = 1600,
    z_factor: float = 3.0,
    crs: Literal["EPSG:4326", "EPSG:3857"] = "EPSG:4326",
) -> tuple[NDArray[np.float64], tuple[float, float, float, float]]:
    """Hillshade of a DEM file, resampled to at most ``max_size_px`` on a side.

    Parameters
    ----------
    path
        Any raster GDAL reads.
    max_size_px
        Largest side of the result (px).
    z_factor
        Vertical exaggeration.
    crs
        Grid of the result: ``EPSG:4326`` (pixels evenly spaced in degrees) or
        ``EPSG:3857`` (Web Mercator, what a web map's image layer expects).

    Returns
    -------
    shade : ndarray
        0–1, NaN where the DEM has no data.
    bounds : tuple
        (west, south, east, north) in degrees.
    """
    with rasterio.open(path) as src, warnings.catch_warnings():
        # rasterio 1.4 multiplies affines with `*`, which affine 3 flags as pending deprecation.
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        if src.crs is None:
            raise ValueError(f"{path}: the DEM has no CRS")
        transform, width, height = _target_grid(
            src.crs, crs, src.width, src.height, src.bounds, max_size_px
        )
        z = np.full((height, width), np.nan)
        reproject(
            rasterio.band(src, 1),
            z,
            dst_transform=transform,
            dst_crs=crs,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
    west, south, east, north = _lonlat_bounds(transform, width, height, crs)
    mid_lat = np.radians((north + south) / 2)
    if crs == "EPSG:4326":
        cell = (transform.a * _M_PER_DEG_LON_EQ * np.cos(mid_lat), -transform.e * _M_PER_DEG_LAT)
    else:  # Web Mercator metres are ground metres times sec(latitude)
        cell = (transform.a * np.cos(mid_lat), -transform.e * np.cos(mid_lat))
    return hillshade(z, cell_size_m=cell, z_factor=z_factor), (west, south, east, north)


def coverage_image(
    count: NDArray[np.integer],
    valid: NDArray[np.bool_],
    *,
    transform: Affine,
    crs: Any,
    max_size_px: int = 1600,
) -> tuple[NDArray[np.float64], tuple[float, float, float, float]]:
    """A count grid on Web Mercator, for a web map.

    The grid is e.g. :attr:`geo.terrain.grids.CoverageGrid.count`. Resampled with the nearest
    cell (counts stay whole numbers), to at most ``max_size_px`` on a side.

    Returns
    -------
    counts : ndarray
        float, NaN where the DEM had no data or outside the grid.
    bounds : tuple
        (west, south, east, north) in degrees of the Web Mercator image.
    """
    src = np.where(valid, count.astype(np.float32), np.nan).astype(np.float32)
    rows, cols = src.shape
    west, north = transform.c, transform.f
    bounds = (west, north + transform.e * rows, west + transform.a * cols, north)
    if transform.b or transform.d:
        xs, ys = transform @ (np.array([0, cols, cols, 0]), np.array([0, 0, rows, rows]))
        bounds = (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)))
    else:
        bounds = (
            min(bounds[0], bounds[2]),
            min(bounds[1], bounds[3]),
            max(bounds[0], bounds[2]),
            max(bounds[1], bounds[3]),
        )
    dst_t, w, h = _target_grid(crs, "EPSG:3857", cols, rows, bounds, max_size_px)
    out = np.full((h, w), np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        reproject(
            src,
            out,
            src_transform=transform,
            src_crs=crs,
            src_nodata=np.nan,
            dst_transform=dst_t,
            dst_crs="EPSG:3857",
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    return out.astype(np.float64), _lonlat_bounds(dst_t, w, h, "EPSG:3857")


# --------------------------------------------------------------------------------------------
# Fading the hillshade out beyond the corridor
# --------------------------------------------------------------------------------------------

#: Web Mercator stops short of the poles (EPSG:3857's latitude limit, degrees).
_MERCATOR_MAX_LAT = 85.05112878


def corridor_distance_km(
    grid: NDArray[Any],
    bounds: tuple[float, float, float, float],
    corridor_lonlat: BaseGeometry,
    *,
    within_km: float,
) -> NDArray[np.float64]:
    """Ground distance (km) from every cell of a Web Mercator grid to a corridor polygon.

    The corridor is projected to Web Mercator (its vertices; straight edges there, as a web
    map draws it) and rasterized on the grid with ``rasterio.features.rasterize`` (a cell is
    inside when its centre is). Outside cells get the exact Euclidean distance from their
    centre to the nearest inside cell centre (:func:`geo.terrain.raster_distance.distance_to_mask`)
    less half a cell, an estimate of the distance to the corridor's edge good to about half
    a cell. Web Mercator metres are turned into ground metres by multiplying by cos(latitude)
    of the cell (the projection's scale there; within 0.2 % over 10 km at 60° N). The grid is
    padded by ``within_km`` first, so corridor parts just off the grid count too.

    Parameters
    ----------
    grid
        Any array on the grid (e.g. the shade of ``read_hillshade(..., crs="EPSG:3857")``);
        only its shape (rows, columns) is used, and it is not changed.
    bounds
        (west, south, east, north) of the grid in degrees, as ``read_hillshade`` returns them.
    corridor_lonlat
        Polygon or MultiPolygon in EPSG:4326 (lon, lat degrees).
    within_km
        Distances up to this are computed (km, > 0); farther cells are ``inf``.

    Returns
    -------
    ndarray
        float64 of the grid's shape: 0 inside the corridor, the ground distance in km outside
        it, ``inf`` beyond ``within_km`` (everywhere, if the corridor is empty).

    Raises
    ------
    geo.core.errors.ValidationError
        If the corridor is not polygonal or not in lon/lat degrees, ``bounds`` are not a
        lon/lat box, or ``within_km`` is not a number > 0.

    Examples
    --------
    >>> band = shapely.box(24.0, 54.0, 24.1, 55.0)
    >>> bounds = (23.0, 54.0, 26.0, 55.0)
    >>> d = corridor_distance_km(np.zeros((100, 200)), bounds, band, within_km=30.0)
    >>> float(d[50, 70]), round(float(d[50, 80]))  # 24.06°E is in; 24.21°E is 6.96 km east
    (0.0, 7)
    >>> float(d[50, 150])  # 25.26°E, 75 km east: farther than within_km
    inf
    """
    rows, cols = np.shape(grid)[:2]
    within_m = _positive_km("within_km", within_km) * 1000.0
    west, south, east, north = _check_lonlat_bounds(bounds)
    corridor = _check_corridor(corridor_lonlat)
    to_merc = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (x0, x1), (y0, y1) = to_merc.transform([west, east], [south, north])
    transform = Affine((x1 - x0) / cols, 0.0, x0, 0.0, (y0 - y1) / rows, y1)
    cell_m = (transform.a, -transform.e)
    # Pad by within_km in Mercator metres at the grid's most poleward latitude (largest scale).
    worst = np.cos(np.radians(min(max(abs(south), abs(north)), _MERCATOR_MAX_LAT)))
    pad = int(np.ceil(within_m / worst / min(cell_m))) + 1
    padded = transform @ Affine.translation(-pad, -pad)
    shape = (rows + 2 * pad, cols + 2 * pad)
    inside = _mercator_mask(corridor, to_merc, padded, shape)
    d_merc = distance_to_mask(inside, cell_size_m=cell_m)[pad : pad + rows, pad : pad + cols]
    scale = _mercator_row_scale(transform, rows)[:, None]
    half_cell = 0.5 * min(cell_m)
    d_m = np.where(d_merc > 0, np.maximum(d_merc - half_cell, 0.0) * scale, 0.0)
    return np.where(d_m <= within_m, d_m / 1000.0, np.inf)


def _mercator_mask(
    corridor: BaseGeometry, to_merc: pyproj.Transformer, transform: Affine, shape: tuple[int, int]
) -> NDArray[np.bool_]:
    """Cells of a Web Mercator grid whose centre is in the corridor (lon/lat, cut at the poles)."""
    polar_cut = shapely.box(-180.0, -_MERCATOR_MAX_LAT, 180.0, _MERCATOR_MAX_LAT)
    merc = shapely.transform(
        shapely.intersection(corridor, polar_cut),
        lambda x, y: to_merc.transform(x, y),
        interleaved=False,
    )
    if merc.is_empty:
        return np.zeros(shape, dtype=bool)
    return rasterize([merc], out_shape=shape, transform=transform, dtype="uint8").astype(bool)


def _mercator_row_scale(transform: Affine, rows: int) -> NDArray[np.float64]:
    """Ground metres per Web Mercator metre in each row: cos(latitude) of its cell centres."""
    ellipsoid = pyproj.CRS("EPSG:3857").ellipsoid
    if ellipsoid is None:  # pragma: no cover - EPSG:3857 is on the WGS84 ellipsoid
        raise RuntimeError("EPSG:3857: PROJ gives no ellipsoid")
    y = transform.f + (np.arange(rows) + 0.5) * transform.e
    return np.cos(np.arctan(np.sinh(y / ellipsoid.semi_major_metre)))


def corridor_fade(
    grid: NDArray[Any],
    bounds: tuple[float, float, float, float],
    corridor_lonlat: BaseGeometry,
    *,
    fade_km: float = 10.0,
) -> NDArray[np.float64]:
    """Opacity (0–1) of a Web Mercator grid: 1 in the corridor, fading out ``fade_km`` beyond it.

    The fade is a smoothstep of the ground distance ``d`` from the corridor
    (:func:`corridor_distance_km`): ``1 - (3t² - 2t³)`` with ``t = d / fade_km``, so opacity
    leaves 1 at the corridor's edge and reaches 0 at ``fade_km`` with no kink at either end,
    and never rises with distance.

    Parameters
    ----------
    grid
        Any array on the grid (e.g. the shade of ``read_hillshade(..., crs="EPSG:3857")``);
        only its shape is used, and it is not changed.
    bounds
        (west, south, east, north) of the grid in degrees, as ``read_hillshade`` returns them.
    corridor_lonlat
        Polygon or MultiPolygon in EPSG:4326.
    fade_km
        Ground distance from the corridor's edge at which the opacity reaches 0 (km, > 0).

    Returns
    -------
    ndarray
        float64 of the grid's shape, 0–1.

    Raises
    ------
    geo.core.errors.ValidationError
        As :func:`corridor_distance_km`.

    Examples
    --------
    >>> band = shapely.box(24.0, 54.0, 24.1, 55.0)
    >>> alpha = corridor_fade(np.zeros((100, 200)), (23.0, 54.0, 26.0, 55.0), band, fade_km=10.0)
    >>> float(alpha[50, 70]), float(alpha[50, 150])  # in the band, and ~100 km east of it
    (1.0, 0.0)
    """
    fade = _positive_km("fade_km", fade_km)
    d_km = corridor_distance_km(grid, bounds, corridor_lonlat, within_km=fade)
    t = np.clip(d_km / fade, 0.0, 1.0)
    return 1.0 - t * t * (3.0 - 2.0 * t)


def read_hillshade_faded(
    path: str,
    corridor_lonlat: BaseGeometry,
    *,
    fade_km: float = 10.0,
    max_size_px: int = 1600,
    z_factor: float = 3.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[float, float, float, float]]:
    """Web Mercator hillshade of a DEM with its opacity fading out beyond a corridor.

    :func:`read_hillshade` (``crs="EPSG:3857"``) and :func:`corridor_fade` in one call.

    Parameters
    ----------
    path
        Any raster GDAL reads.
    corridor_lonlat
        Polygon or MultiPolygon in EPSG:4326 (e.g. the analysis' ``corridor`` layer,
        ``union_all()``).
    fade_km
        Ground distance beyond the corridor's edge at which the shade is gone (km, > 0).
    max_size_px, z_factor
        As :func:`read_hillshade`.

    Returns
    -------
    shade : ndarray
        0–1, NaN where the DEM has no data and where ``alpha`` is 0.
    alpha : ndarray
        Opacity 0–1: 1 in the corridor, smoothly down to 0 at ``fade_km`` beyond it, 0 where
        ``shade`` is NaN. Multiply a layer's opacity by it.
    bounds : tuple
        (west, south, east, north) in degrees.

    Raises
    ------
    geo.core.errors.ValidationError
        As :func:`corridor_distance_km`.
    """
    shade, bounds = read_hillshade(
        path, max_size_px=max_size_px, z_factor=z_factor, crs="EPSG:3857"
    )
    alpha = corridor_fade(shade, bounds, corridor_lonlat, fade_km=fade_km)
    alpha[np.isnan(shade)] = 0.0
    shade[alpha == 0.0] = np.nan
    return shade, alpha, bounds


def _positive_km(field: str, value: float) -> float:
    try:
        km = float(value)
    except (TypeError, ValueError):
        km = float("nan")
    if not (np.isfinite(km) and km > 0):
        raise ValidationError(
            describe(field, "not a distance", expected="a number of km > 0", got=value)
        )
    return km


def _check_lonlat_bounds(
    bounds: tuple[float, float, float, float],
) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ValidationError(
            describe(
                "bounds",
                "not a box",
                expected="four numbers (west, south, east, north)",
                got=bounds,
            )
        ) from None
    if not (-180.0 <= west < east <= 180.0 and -90.0 <= south < north <= 90.0):
        raise ValidationError(
            describe(
                "bounds",
                "not a lon/lat box",
                expected="degrees with -180 <= west < east <= 180 and -90 <= south < north <= 90",
                got=bounds,
                fix="Pass the bounds read_hillshade returned",
            )
        )
    return west, south, east, north


def _check_corridor(corridor: BaseGeometry) -> BaseGeometry:
    if not isinstance(corridor, BaseGeometry) or corridor.geom_type not in (
        "Polygon",
        "MultiPolygon",
    ):
        raise ValidationError(
            describe(
                "corridor_lonlat",
                "not a corridor",
                expected="a shapely Polygon or MultiPolygon",
                got=getattr(corridor, "geom_type", type(corridor).__name__),
                fix="Pass the corridor layer's union_all()",
            )
        )
    if not corridor.is_empty:
        xmin, ymin, xmax, ymax = corridor.bounds
        if not (xmin >= -180.0 and xmax <= 180.0 and ymin >= -90.0 and ymax <= 90.0):
            raise ValidationError(
                describe(
                    "corridor_lonlat",
                    "not in lon/lat degrees",
                    expected="EPSG:4326 coordinates",
                    got=tuple(round(v, 3) for v in corridor.bounds),
                    fix="Reproject the corridor to EPSG:4326",
                )
            )
    return corridor
