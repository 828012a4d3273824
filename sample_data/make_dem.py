"""Build the sample scenario's terrain: a synthetic DEM around the Lithuania-Belarus border.

No real DEM of the region ships in any package this project may use, so the terrain is
synthetic but shaped like the real thing: gently rolling moraine country (90-250 m) with
fractal roughness at several scales, plus ridges and river valleys that cross the border at
roughly right angles, where a tower's line of sight is cut and where crossings hide.

Deterministic (fixed seed): running it twice writes the same file. Reads the border from
``sample_data/border.geojson``; writes ``sample_data/dem.tif`` (EPSG:4326, 5 arc-seconds,
int16 metres, DEFLATE-compressed, tiled)::

    .venv/bin/python sample_data/make_dem.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import shapely
from pyproj import Geod
from rasterio.transform import Affine

HERE = Path(__file__).resolve().parent
OUT = HERE / "dem.tif"
RES_DEG = 5.0 / 3600.0  # 5 arc-seconds, about 100 m x 150 m here
MARGIN_LON, MARGIN_LAT = 0.45, 0.3  # beyond the 15 km sectors
SEED = 20261101
GEOD = Geod(ellps="WGS84")


def _noise(rng: np.random.Generator, shape: tuple[int, int], corr_cells: float) -> np.ndarray:
    """Smooth random field with unit standard deviation and a correlation length in cells."""
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    kernel = np.exp(-((fx**2 + fy**2) * (np.pi * corr_cells) ** 2))
    field = np.fft.irfft2(np.fft.rfft2(white) * kernel, s=shape)
    return field / field.std()


def _distance_to_segment_m(
    lon: np.ndarray, lat: np.ndarray, a: tuple[float, float], b: tuple[float, float]
) -> np.ndarray:
    """Distance (m) from grid points to segment a-b, in a local equirectangular frame."""
    lat0 = np.radians((a[1] + b[1]) / 2)
    kx, ky = 111_320.0 * np.cos(lat0), 110_540.0
    px, py = (lon - a[0]) * kx, (lat - a[1]) * ky
    dx, dy = (b[0] - a[0]) * kx, (b[1] - a[1]) * ky
    t = np.clip((px * dx + py * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(px - t * dx, py - t * dy)


def build(border: shapely.LineString) -> tuple[np.ndarray, Affine]:
    """Elevation grid (m) and its geotransform."""
    xmin, ymin, xmax, ymax = border.bounds
    west, east = xmin - MARGIN_LON, xmax + MARGIN_LON
    south, north = ymin - MARGIN_LAT, ymax + MARGIN_LAT
    ncols = int(np.ceil((east - west) / RES_DEG))
    nrows = int(np.ceil((north - south) / RES_DEG))
    transform = Affine(RES_DEG, 0.0, west, 0.0, -RES_DEG, north)
    rng = np.random.default_rng(SEED)
    shape = (nrows, ncols)
    z = (
        160.0
        + 35.0 * _noise(rng, shape, 180)
        + 12.0 * _noise(rng, shape, 30)
        + 3.0 * _noise(rng, shape, 5)
    )

    lon = west + (np.arange(ncols) + 0.5) * RES_DEG
    lat = north - (np.arange(nrows) + 0.5) * RES_DEG
    lon_g, lat_g = np.meshgrid(lon.astype(np.float32), lat.astype(np.float32))
    # Domain warping: ridges and valleys meander instead of running dead straight.
    lon_g = lon_g + (0.03 * _noise(rng, shape, 60)).astype(np.float32)
    lat_g = lat_g + (0.02 * _noise(rng, shape, 60)).astype(np.float32)

    # Ridges (+) and valleys (-) crossing the border at points spread along it.
    length = GEOD.geometry_length(border)
    features = [  # (fraction along the border, height m, half-width m, half-length m, skew deg)
        (0.07, 70, 3_500, 28_000, 15),
        (0.16, -35, 1_800, 34_000, -10),
        (0.27, 95, 4_500, 30_000, 5),
        (0.36, -45, 2_200, 36_000, 20),
        (0.47, 80, 3_000, 26_000, -25),
        (0.58, -30, 1_600, 32_000, 0),
        (0.66, 110, 5_000, 32_000, 10),
        (0.76, -40, 2_000, 38_000, -15),
        (0.86, 75, 3_200, 28_000, 25),
        (0.94, -35, 1_800, 28_000, -5),
    ]
    for frac, height, half_width, half_length, skew in features:
        p = shapely.line_interpolate_point(border, frac, normalized=True)
        q = shapely.line_interpolate_point(border, min(frac + 0.002, 1.0), normalized=True)
        along, _, _ = GEOD.inv(p.x, p.y, q.x, q.y)
        across = along + 90.0 + skew
        a = GEOD.fwd(p.x, p.y, across, half_length)[:2]
        b = GEOD.fwd(p.x, p.y, across + 180.0, half_length)[:2]
        d = _distance_to_segment_m(lon_g, lat_g, a, b)
        z += height * np.exp(-0.5 * (d / half_width) ** 2)
    del lon_g, lat_g, length
    return np.clip(np.rint(z), 60, 400).astype(np.int16), transform


def main() -> int:
    """Write ``sample_data/dem.tif``."""
    border = pyogrio.read_dataframe(HERE / "border.geojson").geometry.iloc[0]
    z, transform = build(border)
    profile = {
        "driver": "GTiff",
        "height": z.shape[0],
        "width": z.shape[1],
        "count": 1,
        "dtype": "int16",
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": -32768,
        "compress": "deflate",
        "predictor": 2,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(OUT, "w", **profile) as dst:
        dst.write(z, 1)
        dst.update_tags(SOURCE="synthetic terrain, sample_data/make_dem.py", UNITS="metre")
    print(
        f"wrote {OUT.relative_to(HERE.parent)}: {z.shape[1]} x {z.shape[0]} cells, "
        f"{z.min()}-{z.max()} m, {OUT.stat().st_size / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
