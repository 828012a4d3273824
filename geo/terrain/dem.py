"""Digital elevation models: reading a window around a point, ground distances, writing rasters.

Rasters are opened here, inside ``with rasterio.open(...)`` blocks, and nowhere else in the
viewshed code: :func:`read_window` reads only the part of the DEM within range of a point
(a windowed read, so a large DEM is never loaded whole), turns nodata into NaN at once and
returns clean float64 heights with their georeferencing (:class:`DemWindow`).

Any raster GDAL reads will do (GeoTIFF, SRTM ``.hgt``, a ``/vsizip/`` path into a zip, a VRT,
...), in any CRS with an ellipsoid. Distances are ground metres whatever the CRS, via
:func:`ground_metric`:

- a north-up geographic grid (e.g. EPSG:4326) gets one metric per row: the ground width and
  height of a cell at the mean latitude of that row and the observer's
  (``d² = (M Δφ)² + (N cos φm Δλ)²`` with the ellipsoid's meridian and prime-vertical radii of
  curvature ``M`` and ``N`` at the mean latitude ``φm``), within 6 cm of the geodesic
  distance at 25 km up to 60° of latitude (17 cm at 75°);
- any other grid (projected CRSs in metres or feet, rotated grids) gets the ground vectors of
  one column step and one row step at the observer, measured on the ellipsoid with
  :class:`pyproj.Geod`: this removes the projection's scale factor (UTM's 0.9996 and
  whatever a CRS far from its centre adds) and unit, which GDAL's viewshed takes as metres.

So the same terrain gives the same viewshed in EPSG:4326 and in a projected CRS, up to
resampling of the terrain itself.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pyproj
import rasterio
import rasterio.errors
import rasterio.io
from numpy.typing import ArrayLike, NDArray
from pyproj.crs import Ellipsoid
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window

from geo.core.antimeridian import wrap_lon
from geo.core.errors import ValidationError
from geo.terrain.grid_metric import GridMetric, range_window
from geo.terrain.viewshed import OUTSIDE

#: Largest window (cells) :func:`read_window` reads: 200 million cells are 1.6 GB of float64.
MAX_WINDOW_CELLS: Final[int] = 200_000_000

_WGS84: Final[pyproj.CRS] = pyproj.CRS.from_epsg(4326)


@dataclass(frozen=True, eq=False)
class DemWindow:
    """A pixel-aligned DEM window around an observer, for :func:`geo.terrain.viewshed.viewshed`.

    Attributes
    ----------
    heights
        Heights (m, float64), NaN where the DEM has no data. Shape ``(rows, cols)``.
    transform
        Affine transform of the window (the DEM's own grid, offset to the window).
    crs
        The DEM's CRS.
    row, col
        The observer's cell in the window.
    window
        Where the window lies in the DEM (``col_off``, ``row_off``, ``width``, ``height``).
    metric
        Ground distances from the observer's cell, one set of coefficients per window row.
    earth_radius_m
        Semi-major axis of the CRS's ellipsoid (m): the earth radius for curvature, as GDAL.
    source
        The path the DEM was read from.
    """

    heights: NDArray[np.float64]
    transform: Affine
    crs: CRS
    row: int
    col: int
    window: Window
    metric: GridMetric
    earth_radius_m: float
    source: str


def _pyproj_crs(crs: CRS, source: str) -> pyproj.CRS:
    try:
        pcrs = pyproj.CRS.from_user_input(crs.to_wkt())
    except pyproj.exceptions.CRSError as exc:
        raise ValidationError(
            f"DEM {source!r}: its CRS cannot be read by PROJ ({exc}). "
            "Assign a standard CRS with gdal_edit.py -a_srs"
        ) from None
    if pcrs.ellipsoid is None:
        raise ValidationError(
            f"DEM {source!r}: expected a geographic or projected CRS with an ellipsoid, got "
            f"{pcrs.name!r}. Assign a standard CRS with gdal_edit.py -a_srs"
        )
    return pcrs


def ground_metric(
    transform: Affine, crs: pyproj.CRS | CRS, *, row: int, col: int, n_rows: int
) -> GridMetric:
    """Ground distances on a DEM grid from one observer cell, in metres.

    Parameters
    ----------
    transform
        Affine transform of the grid (rows from ``0`` to ``n_rows - 1``).
    crs
        CRS of the grid; it must have an ellipsoid.
    row, col
        The observer's cell.
    n_rows
        Number of rows of the grid.

    Returns
    -------
    GridMetric
        Per-row coefficients of the squared ground distance (m²) between a cell and the
        observer's cell, in terms of their row and column offsets.

    Examples
    --------
    One-arc-second cells at 45°N are about 30.9 m tall and 21.9 m wide:

    >>> m = ground_metric(Affine(1 / 3600, 0, 10.0, 0, -1 / 3600, 45.5), pyproj.CRS(4326),
    ...                   row=1800, col=0, n_rows=3600)
    >>> round(float(m.yy_m2[1800]) ** 0.5, 1), round(float(m.xx_m2[1800]) ** 0.5, 1)
    (30.9, 21.9)
    """
    pcrs = crs if isinstance(crs, pyproj.CRS) else _pyproj_crs(crs, "grid")
    ell = pcrs.ellipsoid
    if ell is None:
        raise ValidationError(f"CRS {pcrs.name!r}: expected a CRS with an ellipsoid")
    if pcrs.is_geographic and transform.b == 0 and transform.d == 0:
        return _geographic_metric(transform, pcrs, ell, row=row, n_rows=n_rows)
    return _local_metric(transform, pcrs, ell, row=row, col=col, n_rows=n_rows)


def _geographic_metric(
    transform: Affine, pcrs: pyproj.CRS, ell: Ellipsoid, *, row: int, n_rows: int
) -> GridMetric:
    """A north-up geographic grid: cell sizes at each row's mean latitude and the observer's."""
    a = float(ell.semi_major_metre)
    to_rad = math.radians(1.0)
    unit = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else None
    if unit:
        to_rad = float(unit)
    e2 = 1.0 - (float(ell.semi_minor_metre) / a) ** 2
    lat = (transform.f + transform.e * (np.arange(n_rows) + 0.5)) * to_rad
    lat0 = lat[row]
    mid = 0.5 * (lat + lat0)
    w = 1.0 - e2 * np.sin(mid) ** 2
    m_radius = a * (1.0 - e2) / w**1.5
    n_radius = a / np.sqrt(w)
    width = abs(transform.a) * to_rad * n_radius * np.cos(mid)
    height = abs(transform.e) * to_rad * m_radius
    zero = np.zeros(n_rows)
    return GridMetric(
        xx_m2=width**2,
        xy_m2=zero,
        yy_m2=height**2,
        frame=np.column_stack(
            [np.copysign(width, transform.a), zero, zero, np.copysign(height, transform.e)]
        ),
        description=(
            f"geographic grid on the {ell.name} ellipsoid: cell size at the mean latitude "
            f"of each row and the observer's (at the observer {width[row]:.3f} m wide, "
            f"{height[row]:.3f} m tall)"
        ),
    )


def _local_metric(
    transform: Affine, pcrs: pyproj.CRS, ell: Ellipsoid, *, row: int, col: int, n_rows: int
) -> GridMetric:
    """Any other grid: ground vectors of one column and one row step at the observer (Geod)."""
    geod = pyproj.Geod(a=float(ell.semi_major_metre), b=float(ell.semi_minor_metre))
    to_geo = pyproj.Transformer.from_crs(pcrs, pcrs.geodetic_crs, always_xy=True)
    cx, cy = col + 0.5, row + 0.5
    steps = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=float)
    xs, ys = transform @ (cx + steps[:, 0], cy + steps[:, 1])
    lon, lat = to_geo.transform(np.asarray(xs), np.asarray(ys))
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        raise ValidationError(
            f"CRS {pcrs.name!r}: PROJ cannot turn the grid around the observer into "
            "longitude/latitude; reproject the DEM with gdalwarp -t_srs EPSG:4326"
        )
    az, _, dist = geod.inv(np.full(4, lon[0]), np.full(4, lat[0]), lon[1:], lat[1:])
    east = np.asarray(dist) * np.sin(np.radians(az))
    north = np.asarray(dist) * np.cos(np.radians(az))
    e_col = np.array([east[0] - east[1], north[0] - north[1]]) / 2.0
    e_row = np.array([east[2] - east[3], north[2] - north[3]]) / 2.0
    xx, xy, yy = float(e_col @ e_col), float(e_col @ e_row), float(e_row @ e_row)
    return GridMetric(
        xx_m2=np.full(n_rows, xx),
        xy_m2=np.full(n_rows, xy),
        yy_m2=np.full(n_rows, yy),
        frame=np.tile(np.concatenate([e_col, e_row]), (n_rows, 1)),
        description=(
            f"{pcrs.name}: cell size on the {ell.name} ellipsoid at the observer "
            f"({math.sqrt(xx):.3f} m wide, {math.sqrt(yy):.3f} m tall)"
        ),
    )


class DemTransformer:
    """Coordinates in another CRS to the DEM's, in the DEM's own run of longitudes.

    PROJ gives longitudes in [-180, 180]. A DEM in lon/lat across the antimeridian has
    columns past 180° (GDAL's usual way: ``x`` from 178 to 182), so a point at 179.5° W
    must be read at 180.5°. For a geographic DEM the longitudes PROJ gives are wrapped round
    the grid's middle column (:func:`geo.core.antimeridian.wrap_lon`); a projected DEM needs
    nothing (a projection takes a longitude by whole turns alike).

    Parameters
    ----------
    from_crs
        The CRS of the coordinates to transform (EPSG:4326, an analysis CRS).
    pcrs
        The DEM's CRS.
    transform, shape
        The grid's affine transform and ``(rows, cols)``: the whole DEM or a window of it.

    Examples
    --------
    >>> t = DemTransformer(_WGS84, _WGS84, Affine(0.01, 0, 178.0, 0, -0.01, 66.0), (10, 400))
    >>> [round(float(v), 6) for v in t.transform(-179.5, 65.95)]
    [180.5, 65.95]
    """

    def __init__(
        self,
        from_crs: pyproj.CRS | str,
        pcrs: pyproj.CRS,
        transform: Affine,
        shape: tuple[int, int],
    ) -> None:
        self._to_dem = pyproj.Transformer.from_crs(from_crs, pcrs, always_xy=True)
        rows, cols = shape
        centre_x, _ = transform @ (cols / 2.0, rows / 2.0)
        self._centre_deg = float(centre_x) if pcrs.is_geographic else None

    def transform(
        self, x: ArrayLike, y: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(x, y)`` in the DEM's CRS (longitudes in the grid's run when it is geographic)."""
        gx, gy = self._to_dem.transform(x, y)
        gx, gy = np.asarray(gx, dtype=float), np.asarray(gy, dtype=float)
        if self._centre_deg is not None:
            gx = wrap_lon(gx, self._centre_deg)
        return gx, gy


def _window_transform(transform: Affine, window: Window) -> Affine:
    # rasterio's Dataset.window_transform multiplies Affines with `*`, which affine 3
    # deprecates (a warning, an error under the tests); this is the same arithmetic.
    col, row = window.col_off, window.row_off
    a, b, c, d, e, f = transform[:6]
    return Affine(a, b, c + a * col + b * row, d, e, f + d * col + e * row)


def _open_error(path: str, exc: Exception) -> ValidationError:
    if not path.startswith("/vsi") and not Path(path).exists():
        return ValidationError(f"DEM {path!r}: file not found")
    return ValidationError(
        f"DEM {path!r}: cannot open as a raster ({exc}). Expected a raster GDAL reads "
        "(GeoTIFF, .hgt, ...); for a file inside a zip use /vsizip//path/to/file.zip/name"
    )


def open_dem(source: str) -> rasterio.io.DatasetReader:
    """Open a DEM for reading (use it in a ``with`` block); refuse one without georeferencing.

    Raises
    ------
    geo.core.errors.ValidationError
        The file is missing or not a raster GDAL reads, has no CRS or a degenerate
        geotransform.
    """
    try:
        with warnings.catch_warnings():
            # A raster without georeferencing is refused below, with a message.
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            dataset = rasterio.open(source)
    except rasterio.errors.RasterioError as exc:
        raise _open_error(source, exc) from None
    problem = None
    if dataset.crs is None:
        problem = (
            "expected a georeferenced raster with a CRS, got none. "
            "Assign one with gdal_edit.py -a_srs EPSG:..."
        )
    elif dataset.transform.determinant == 0:
        problem = "its geotransform is degenerate"
    if problem:
        dataset.close()
        raise ValidationError(f"DEM {source!r}: {problem}")
    return dataset


def read_window(path: str | Path, lon: float, lat: float, *, radius_m: float) -> DemWindow:
    """Read the part of a DEM within ``radius_m`` of a point.

    Parameters
    ----------
    path
        Any raster GDAL reads, including ``/vsizip/...`` paths. Band 1 holds the heights (m).
    lon, lat
        The point (degrees, WGS84): the observer.
    radius_m
        Range (m, > 0). The window covers every cell within this ground distance of the
        observer's cell, clipped to the DEM, with the same extent rule as ``gdal_viewshed``.

    Returns
    -------
    DemWindow
        Heights (NaN where there is no data; scale and offset applied), georeferencing, the
        observer's cell and the ground metric.

    Raises
    ------
    geo.core.errors.ValidationError
        If the file cannot be read as a georeferenced raster, the point is outside it or
        the window would be too large.
    """
    source = str(path)
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValidationError(f"lon: expected degrees in [-180, 180], got {lon!r}")
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValidationError(f"lat: expected degrees in [-90, 90], got {lat!r}")
    if not (math.isfinite(radius_m) and radius_m > 0):
        raise ValidationError(f"range_m: expected a number > 0 (m), got {radius_m!r}")
    with open_dem(source) as ds:
        transform = ds.transform
        pcrs = _pyproj_crs(ds.crs, source)
        row, col = _observer_cell(ds, pcrs, lon, lat, source)
        metric = ground_metric(transform, pcrs, row=row, col=col, n_rows=ds.height)
        rows, cols = range_window(
            row, col, shape=(ds.height, ds.width), max_distance_m=radius_m, metric=metric
        )
        n_cells = (rows.stop - rows.start) * (cols.stop - cols.start)
        if n_cells > MAX_WINDOW_CELLS:
            raise ValidationError(
                f"range_m: {radius_m:g} m covers {n_cells:,} cells of {source!r}, more than "
                f"{MAX_WINDOW_CELLS:,}; reduce the range or use a coarser DEM"
            )
        window = Window.from_slices(rows, cols)
        band = ds.read(1, window=window, masked=True, out_dtype="float64")
        heights = np.ma.filled(band, np.nan)
        scale, offset = ds.scales[0], ds.offsets[0]
        if scale != 1.0 or offset != 0.0:
            heights = heights * scale + offset
        window_transform = _window_transform(transform, window)
        crs = ds.crs
    return DemWindow(
        heights=heights,
        transform=window_transform,
        crs=crs,
        row=row - rows.start,
        col=col - cols.start,
        window=window,
        metric=metric.take_rows(rows),
        earth_radius_m=float(pcrs.ellipsoid.semi_major_metre),  # type: ignore[union-attr]
        source=source,
    )


def _observer_cell(
    ds: rasterio.io.DatasetReader, pcrs: pyproj.CRS, lon: float, lat: float, source: str
) -> tuple[int, int]:
    """Row and column of the DEM cell under a point (lon, lat), refused off the DEM."""
    to_dem = DemTransformer(_WGS84, pcrs, ds.transform, (ds.height, ds.width))
    x, y = to_dem.transform(lon, lat)
    colf, rowf = (float(v) for v in ~ds.transform @ (x, y))
    if not (math.isfinite(colf) and math.isfinite(rowf)):
        raise ValidationError(
            f"observer ({lon:g}, {lat:g}): PROJ cannot place it in the DEM's CRS {pcrs.name!r}"
        )
    col, row = math.floor(colf), math.floor(rowf)
    if not (0 <= row < ds.height and 0 <= col < ds.width):
        to_ll = pyproj.Transformer.from_crs(pcrs, _WGS84, always_xy=True)
        west, south, east, north = to_ll.transform_bounds(*ds.bounds)
        raise ValidationError(
            f"observer ({lon:g}, {lat:g}): outside the DEM {source!r}, which covers "
            f"longitude {west:.5f} to {east:.5f}, latitude {south:.5f} to {north:.5f}"
        )
    return row, col


def write_uint8_geotiff(
    path: str | Path,
    data: NDArray[np.uint8],
    *,
    transform: Affine,
    crs: CRS,
    nodata: int = OUTSIDE,
    tags: dict[str, str] | None = None,
) -> None:
    """Write a one-band uint8 GeoTIFF (deflate-compressed).

    Parameters
    ----------
    path
        Output file (overwritten).
    data
        The band, shape ``(rows, cols)``.
    transform, crs
        Georeferencing of the band.
    nodata
        Value declared as nodata (default :data:`geo.terrain.viewshed.OUTSIDE`, 255).
    tags
        Metadata items written to the dataset.

    Raises
    ------
    geo.core.errors.ValidationError
        If the file cannot be written.
    """
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    try:
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
            if tags:
                dst.update_tags(**tags)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise ValidationError(f"out {str(path)!r}: cannot write the GeoTIFF ({exc})") from None
