"""Terrain for display: a hillshade of a DEM, as an image in EPSG:4326.

Rasters are opened at the edge with ``with rasterio.open(...)``, nodata becomes NaN at once,
and what leaves this module is a plain array and its lon/lat bounds.
"""

from __future__ import annotations

import warnings

import numpy as np
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


def read_hillshade(
    path: str, *, max_size_px: int = 1600, z_factor: float = 3.0
) -> tuple[NDArray[np.float64], tuple[float, float, float, float]]:
    """Hillshade of a DEM file, resampled to at most ``max_size_px`` on a side, in EPSG:4326.

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
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds
        )
        scale = max(width, height) / max_size_px
        if scale > 1:
            transform = transform @ Affine.scale(scale, scale)
            width, height = int(np.ceil(width / scale)), int(np.ceil(height / scale))
        z = np.full((height, width), np.nan)
        reproject(
            rasterio.band(src, 1), z, dst_transform=transform, dst_crs="EPSG:4326",
            dst_nodata=np.nan, resampling=Resampling.bilinear,
        )
    west, north = transform.c, transform.f
    east, south = west + transform.a * width, north + transform.e * height
    mid_lat = np.radians((north + south) / 2)
    cell = (transform.a * _M_PER_DEG_LON_EQ * np.cos(mid_lat), -transform.e * _M_PER_DEG_LAT)
    return hillshade(z, cell_size_m=cell, z_factor=z_factor), (west, south, east, north)
