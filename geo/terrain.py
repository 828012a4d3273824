"""Terrain for display: a hillshade of a DEM, as an image in EPSG:4326.

Rasters are opened at the edge with ``with rasterio.open(...)``, nodata becomes NaN at once,
and what leaves this module is a plain array and its lon/lat bounds.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pyproj
import rasterio
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform, reproject

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
    src_crs: Any, dst_crs: str, width: int, height: int, bounds: tuple[float, float, float, float], max_size_px: int
) -> tuple[Affine, int, int]:
    with warnings.catch_warnings():
        # rasterio 1.4 multiplies affines with `*`, which affine 3 flags as pending deprecation.
        warnings.filterwarnings("ignore", message="Use `@` matmul", category=PendingDeprecationWarning)
        transform, w, h = calculate_default_transform(src_crs, dst_crs, width, height, *bounds)
    scale = max(w, h) / max_size_px
    if scale > 1:
        transform = transform @ Affine.scale(scale, scale)
        w, h = int(np.ceil(w / scale)), int(np.ceil(h / scale))
    return transform, w, h


def _lonlat_bounds(transform: Affine, width: int, height: int, crs: str) -> tuple[float, float, float, float]:
    west, north = transform.c, transform.f
    east, south = west + transform.a * width, north + transform.e * height
    if crs != "EPSG:4326":
        to_ll = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        (west, east), (south, north) = to_ll.transform([west, east], [south, north])
    return float(west), float(south), float(east), float(north)


def read_hillshade(
    path: str, *, max_size_px: int = 1600, z_factor: float = 3.0, crs: Literal["EPSG:4326", "EPSG:3857"] = "EPSG:4326"
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
        warnings.filterwarnings("ignore", message="Use `@` matmul", category=PendingDeprecationWarning)
        if src.crs is None:
            raise ValueError(f"{path}: the DEM has no CRS")
        transform, width, height = _target_grid(src.crs, crs, src.width, src.height, src.bounds, max_size_px)
        z = np.full((height, width), np.nan)
        reproject(
            rasterio.band(src, 1), z, dst_transform=transform, dst_crs=crs,
            dst_nodata=np.nan, resampling=Resampling.bilinear,
        )
    west, south, east, north = _lonlat_bounds(transform, width, height, crs)
    mid_lat = np.radians((north + south) / 2)
    if crs == "EPSG:4326":
        cell = (transform.a * _M_PER_DEG_LON_EQ * np.cos(mid_lat), -transform.e * _M_PER_DEG_LAT)
    else:  # Web Mercator metres are ground metres times sec(latitude)
        cell = (transform.a * np.cos(mid_lat), -transform.e * np.cos(mid_lat))
    return hillshade(z, cell_size_m=cell, z_factor=z_factor), (west, south, east, north)


def coverage_image(
    count: NDArray[np.integer], valid: NDArray[np.bool_], *, transform: Affine, crs: Any, max_size_px: int = 1600
) -> tuple[NDArray[np.float64], tuple[float, float, float, float]]:
    """A count grid (e.g. :attr:`geo.terrain_coverage.CoverageGrid.count`) on Web Mercator, for a web map.

    Resampled with the nearest cell (counts stay whole numbers), to at most ``max_size_px``
    on a side.

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
        bounds = (min(bounds[0], bounds[2]), min(bounds[1], bounds[3]), max(bounds[0], bounds[2]), max(bounds[1], bounds[3]))
    dst_t, w, h = _target_grid(crs, "EPSG:3857", cols, rows, bounds, max_size_px)
    out = np.full((h, w), np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Use `@` matmul", category=PendingDeprecationWarning)
        reproject(
            src, out, src_transform=transform, src_crs=crs, src_nodata=np.nan, dst_transform=dst_t,
            dst_crs="EPSG:3857", dst_nodata=np.nan, resampling=Resampling.nearest,
        )
    return out.astype(np.float64), _lonlat_bounds(dst_t, w, h, "EPSG:3857")
