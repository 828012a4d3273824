"""Terrain-aware coverage: every sensor's viewshed over a DEM, counted on the DEM's own grid.

This is the raster path of the analysis (``analyse(..., dem=...)``), built so that a thousand
sensors on a 10,000 x 10,000 DEM take seconds, not hours:

1. The part of the DEM within range of any sensor or inside the corridor is read once
   (one windowed read; nodata becomes NaN).
2. Each active sensor's viewshed is computed in the window of its range
   (:func:`geo.terrain.grid_metric.range_window`, the compiled kernel of
   :mod:`geo.terrain.viewshed`), on as many threads as there are cores (the kernel releases the
   GIL), and cut to the sensor's shape: cells nearer than ``min_range_m`` or outside its wedge
   (``azimuth_deg`` +- ``fov_deg / 2``, true bearings on the ground) are dropped. What is left
   is added into count grids: one for all sensors and one per partner (:class:`CoverageGrid`).
3. Union, gaps and overlaps come from the counts (covered: count >= 1; overlap: two or more
   partners); the border is cut at every cell edge it crosses and each piece takes the value
   of its cell (:func:`border_pieces`), so the along-border results agree with the raster
   exactly; areas come from polygonizing the count masks once (:func:`mask_polygons`).
4. Optionally, the cells the border crosses are *probed*: each sensor's cut viewshed is read
   at those cells before it is dropped (:attr:`CoverageGrid.probe_seen`), so the border each
   single sensor sees comes from the same pass, not from a second one.

Viewsheds are never polygonized one by one and unioned: measured, 100 viewsheds took more
than 200 s that way.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import numba
import numpy as np
import pyproj
import rasterio
import rasterio.errors
import rasterio.features
import rasterio.io
import shapely
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window

from geo.core import settings
from geo.core.errors import ValidationError
from geo.terrain.dem import (
    MAX_WINDOW_CELLS,
    DemTransformer,
    _pyproj_crs,
    _window_transform,
    ground_metric,
    open_dem,
)
from geo.terrain.grid_metric import GridMetric, range_window
from geo.terrain.viewshed import viewshed

_WGS84: Final[pyproj.CRS] = pyproj.CRS.from_epsg(4326)

#: Value of a count band where the DEM has no data (or outside the DEM), in ``--coverage-tif``.
COUNT_NODATA: Final[int] = 65535

#: Straight edges by their ends in lon/lat (degrees): ``(a_lon, a_lat, b_lon, b_lat)``.
EdgesLonLat = tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]
]


@dataclass(frozen=True, eq=False)
class SensorTerrain:
    """What the raster path needs of each sensor (arrays of one value per sensor).

    Attributes
    ----------
    sensor_id, partner
        Identifiers (str).
    lon, lat
        Position (degrees, WGS84).
    range_m, min_range_m
        Outer and inner range (ground m; ``min_range_m`` 0 for a full disk).
    azimuth_deg, fov_deg
        Centre and full width of the wedge (degrees clockwise from true north; 360 = all round).
    height_m
        Eye above the ground (m).
    target_height_m
        Height above the ground of what must be seen (m).
    """

    sensor_id: NDArray[np.object_]
    partner: NDArray[np.object_]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    range_m: NDArray[np.float64]
    min_range_m: NDArray[np.float64]
    azimuth_deg: NDArray[np.float64]
    fov_deg: NDArray[np.float64]
    height_m: NDArray[np.float64]
    target_height_m: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.lon.size)


def sensor_terrain(
    sensors: Any, *, target_height_m: float = settings.TARGET_HEIGHT_M
) -> SensorTerrain:
    """Collect the terrain parameters of sensors loaded by :func:`geo.inputs.loader.read_sensors`.

    A sensor's own ``target_height_m`` (when the column exists and the value is given)
    overrides ``target_height_m``.
    """
    n = len(sensors)

    def col(name: str, default: float) -> NDArray[np.float64]:
        if name not in sensors:
            return np.full(n, default)
        values = sensors[name].to_numpy(dtype=float, na_value=np.nan)
        return np.where(np.isnan(values), default, values)

    return SensorTerrain(
        sensor_id=sensors["sensor_id"].astype(str).to_numpy(dtype=object),
        partner=sensors["partner"].astype(str).to_numpy(dtype=object),
        lon=sensors.geometry.x.to_numpy(dtype=float),
        lat=sensors.geometry.y.to_numpy(dtype=float),
        range_m=sensors["range_m"].to_numpy(dtype=float),
        min_range_m=col("min_range_m", 0.0),
        azimuth_deg=col("azimuth_deg", 0.0),
        fov_deg=col("fov_deg", 360.0),
        height_m=col("height_m", 0.0),
        target_height_m=col("target_height_m", target_height_m),
    )


@dataclass(frozen=True, eq=False)
class CoverageGrid:
    """Cumulative terrain coverage on a window of the DEM's grid.

    Attributes
    ----------
    count
        Number of sensors that see each cell (uint16, shape ``(rows, cols)``).
    partner_count
        The same per partner (uint16, shape ``(len(partners), rows, cols)``).
    partners
        Partner of each band of ``partner_count``.
    valid
        Where the DEM has data (bool).
    transform, crs
        Georeferencing: the DEM's own grid, offset to the window.
    window
        Where the window lies in the DEM.
    source
        The DEM the grid was computed on.
    cell_size_m
        Width and height of a cell on the ground at the centre of the window (m).
    distances
        How ground distances were measured (see :func:`geo.terrain.dem.ground_metric`).
    sensors_seen
        Sensors whose viewshed was computed.
    sensors_off_terrain
        Ids of active sensors outside the DEM or on a cell without data: they see nothing.
    probe_row, probe_col
        The probed cells (int64, sorted by row then column, unique): the cells the border
        edges given to :func:`terrain_coverage` cross (empty without them).
    probe_seen
        Which sensor sees which probed cell (after its annulus and wedge cut): int64 pairs,
        shape ``(n_pairs, 2)``, columns probed cell (index into ``probe_row``) and sensor
        (index into the sensors passed to :func:`terrain_coverage`). At every probed cell
        the number of pairs equals ``count``.
    """

    count: NDArray[np.uint16]
    partner_count: NDArray[np.uint16]
    partners: tuple[str, ...]
    valid: NDArray[np.bool_]
    transform: Affine
    crs: CRS
    window: Window
    source: str
    cell_size_m: tuple[float, float]
    distances: str
    sensors_seen: int = 0
    sensors_off_terrain: tuple[str, ...] = field(default_factory=tuple)
    probe_row: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    probe_col: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    probe_seen: NDArray[np.int64] = field(default_factory=lambda: np.empty((0, 2), dtype=np.int64))

    @property
    def pcrs(self) -> pyproj.CRS:
        """The grid's CRS as a :class:`pyproj.CRS`."""
        return _pyproj_crs(self.crs, self.source)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the grid."""
        return self.count.shape

    def partners_seeing(self) -> NDArray[np.uint8]:
        """Number of partners with at least one sensor seeing each cell."""
        return (self.partner_count > 0).sum(axis=0, dtype=np.uint8)

    def cells_of_lonlat(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
        """Row and column of the cell under each point, and whether it is inside the grid."""
        to_grid = DemTransformer(_WGS84, self.pcrs, self.transform, self.shape)
        x, y = to_grid.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        colf, rowf = ~self.transform @ (np.asarray(x), np.asarray(y))
        rowf, colf = np.asarray(rowf), np.asarray(colf)
        rows_n, cols_n = self.shape
        inside = (
            np.isfinite(rowf)
            & np.isfinite(colf)
            & (rowf >= 0)
            & (rowf < rows_n)
            & (colf >= 0)
            & (colf < cols_n)
        )
        row = np.where(inside, np.floor(np.nan_to_num(rowf)), 0).astype(np.int64)
        col = np.where(inside, np.floor(np.nan_to_num(colf)), 0).astype(np.int64)
        return row, col, inside

    def seen_at(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether at least one sensor sees the cell under each point (False off the grid)."""
        row, col, inside = self.cells_of_lonlat(lon, lat)
        return inside & (self.count[row, col] > 0)

    def write_geotiff(
        self, path: str | Path, *, tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Write the coverage surface: band 1 the count of all sensors, then one band per partner.

        uint16 on the DEM's grid (the window of it the analysis read), cells without DEM data
        set to nodata (65535). Band descriptions name what each band counts.
        """
        n_bands = 1 + len(self.partners)
        rows, cols = self.shape
        profile = {
            "driver": "GTiff",
            "width": cols,
            "height": rows,
            "count": n_bands,
            "dtype": "uint16",
            "crs": self.crs,
            "transform": self.transform,
            "nodata": COUNT_NODATA,
            "compress": "deflate",
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        try:
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(np.where(self.valid, self.count, COUNT_NODATA).astype(np.uint16), 1)
                dst.set_band_description(1, "sensors seeing the cell (all partners)")
                for k, partner in enumerate(self.partners):
                    dst.write(
                        np.where(self.valid, self.partner_count[k], COUNT_NODATA).astype(np.uint16),
                        k + 2,
                    )
                    dst.set_band_description(k + 2, f"sensors of {partner} seeing the cell")
                dst.update_tags(
                    LIMES_COVERAGE="band 1: sensors seeing each cell; bands 2..: per partner",
                    PARTNERS=",".join(self.partners),
                    DEM=self.source,
                    **(tags or {}),
                )
        except (rasterio.errors.RasterioError, OSError) as exc:
            raise ValidationError(
                f"coverage_tif {str(path)!r}: cannot write the GeoTIFF ({exc})"
            ) from None
        return {"path": str(path), "bands": ["all", *self.partners], "width": cols, "height": rows}


# ---- accumulation kernel ----------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _in_shape(
    dr: int,
    dc: int,
    ce: float,
    cn: float,
    re: float,
    rn: float,
    r_in2: float,
    bearing: float,
    half_fov: float,
) -> bool:  # pragma: no cover - compiled
    """Whether a cell ``dr`` rows and ``dc`` columns from the sensor is in its annulus and wedge.

    ``ce, cn, re, rn``: east and north ground metres of one column and one row step (the
    cell's row of :attr:`geo.terrain.grid_metric.GridMetric.frame`).
    """
    east = dc * ce + dr * re
    north = dc * cn + dr * rn
    if east * east + north * north < r_in2:
        return False
    if half_fov < math.pi and (dr != 0 or dc != 0):
        diff = math.atan2(east, north) - bearing
        diff = (diff + math.pi) % (2.0 * math.pi) - math.pi
        if abs(diff) > half_fov:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _accumulate(
    vis: NDArray[np.uint8],
    row0: int,
    col0: int,
    frame: NDArray[np.float64],
    r_in2: float,
    bearing: float,
    half_fov: float,
    count: NDArray[np.uint16],
    pcount: NDArray[np.uint16],
    band: int,
    roff: int,
    coff: int,
) -> int:  # pragma: no cover - compiled
    """Add the visible cells of one viewshed, cut to the sensor's annulus and wedge."""
    nrows, ncols = vis.shape
    added = 0
    for r in range(nrows):
        dr = r - row0
        ce, cn, re, rn = frame[r, 0], frame[r, 1], frame[r, 2], frame[r, 3]
        for c in range(ncols):
            if vis[r, c] != 1:
                continue
            if not _in_shape(dr, c - col0, ce, cn, re, rn, r_in2, bearing, half_fov):
                continue
            count[r + roff, c + coff] += 1
            pcount[band, r + roff, c + coff] += 1
            added += 1
    return added


@numba.njit(cache=True, nogil=True)
def _seen_cells(
    vis: NDArray[np.uint8],
    row0: int,
    col0: int,
    frame: NDArray[np.float64],
    r_in2: float,
    bearing: float,
    half_fov: float,
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
) -> NDArray[np.bool_]:  # pragma: no cover - compiled
    """Whether one viewshed, cut as :func:`_accumulate` cuts it, sees each given cell.

    ``rows, cols``: cells in the viewshed's window (its own row and column numbers).
    """
    out = np.zeros(rows.size, dtype=np.bool_)
    for k in range(rows.size):
        r, c = rows[k], cols[k]
        if vis[r, c] != 1:
            continue
        out[k] = _in_shape(
            r - row0,
            c - col0,
            frame[r, 0],
            frame[r, 1],
            frame[r, 2],
            frame[r, 3],
            r_in2,
            bearing,
            half_fov,
        )
    return out


# ---- the grid ------------------------------------------------------------------------------


def check_terrain_params(target_height_m: float, refraction_coeff: float) -> None:
    """Refuse a target height below 0 (m) or a refraction coefficient outside -1 to 1.

    Examples
    --------
    >>> check_terrain_params(2.0, 1.5)
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: refraction_coeff: expected a number from -1 to 1, got 1.5
    """
    if not (math.isfinite(target_height_m) and target_height_m >= 0):
        raise ValidationError(
            f"target_height_m: expected a number >= 0 (m), got {target_height_m!r}"
        )
    if not (math.isfinite(refraction_coeff) and -1.0 <= refraction_coeff <= 1.0):
        raise ValidationError(
            f"refraction_coeff: expected a number from -1 to 1, got {refraction_coeff!r}"
        )


def terrain_coverage(
    dem_path: str | Path,
    sensors: SensorTerrain,
    *,
    partners: Sequence[str],
    extent_lonlat: Sequence[shapely.Geometry] = (),
    refraction_coeff: float = settings.REFRACTION_COEFF,
    n_threads: int | None = None,
    probe_edges_lonlat: EdgesLonLat | None = None,
) -> CoverageGrid:
    """Count, on the DEM's grid, how many sensors (all, and per partner) see each cell.

    Parameters
    ----------
    dem_path
        Any raster GDAL reads, in any CRS with an ellipsoid; band 1 heights (m).
    sensors
        The active sensors (:func:`sensor_terrain`).
    partners
        Partners to count separately (every sensor's partner must be among them).
    extent_lonlat
        Geometries (EPSG:4326) the grid must also cover where the DEM does, e.g. the
        corridor: the grid is the union of their bounds and of every sensor's range window.
    refraction_coeff
        Atmospheric refraction coefficient ``k``; curvature is corrected with ``1 - k``.
    n_threads
        Threads for the viewsheds (default: the number of cores).
    probe_edges_lonlat
        Straight edges ``(a_lon, a_lat, b_lon, b_lat)`` (degrees), e.g. the border's: every
        cell they cross (as :func:`border_pieces` cuts them) is probed, and which sensor sees
        which of these cells is kept (:attr:`CoverageGrid.probe_seen`). It costs a lookup per
        probed cell in each sensor's window, not a second viewshed.

    Returns
    -------
    CoverageGrid

    Raises
    ------
    geo.core.errors.ValidationError
        Unreadable DEM, options out of range, or a grid larger than
        :data:`geo.terrain.dem.MAX_WINDOW_CELLS`.

    Examples
    --------
    See ``tests/test_terrain_coverage.py``: flat ground gives the geometric footprints, a wall
    hides what lies behind it.
    """
    check_terrain_params(0.0, refraction_coeff)
    source = str(dem_path)
    bands, n_bands = _partner_bands(sensors, partners)
    dem = _read_grid(source, sensors, extent_lonlat)
    counts = _Counts(
        dem, n_partners=n_bands, refraction_coeff=refraction_coeff, probe_edges=probe_edges_lonlat
    )
    hits = counts.add_all(sensors, bands, n_threads=n_threads or os.cpu_count() or 1)
    return _coverage_grid(
        dem, counts, hits, sensor_ids=sensors.sensor_id, partners=partners, source=source
    )


def _coverage_grid(
    dem: _DemGrid,
    counts: _Counts,
    hits: Sequence[NDArray[np.int64] | None],
    *,
    sensor_ids: NDArray[np.object_],
    partners: Sequence[str],
    source: str,
) -> CoverageGrid:
    """The :class:`CoverageGrid` of the filled counts (``hits``: see :meth:`_Counts.add`)."""
    cell_size_m, distances = _centre_cell(dem.transform, dem.pcrs, dem.heights.shape)
    return CoverageGrid(
        count=counts.count,
        partner_count=counts.pcount,
        partners=tuple(partners),
        valid=counts.valid,
        transform=dem.transform,
        crs=dem.crs,
        window=dem.window,
        source=source,
        cell_size_m=cell_size_m,
        distances=distances,
        sensors_seen=sum(h is not None for h in hits),
        sensors_off_terrain=tuple(
            str(s) for s, h in zip(sensor_ids, hits, strict=True) if h is None
        ),
        probe_row=counts.probe_row,
        probe_col=counts.probe_col,
        probe_seen=_probe_pairs(hits),
    )


def _partner_bands(sensors: SensorTerrain, partners: Sequence[str]) -> tuple[list[int], int]:
    """The band of ``partner_count`` of each sensor, and the number of bands."""
    partner_index = {p: k for k, p in enumerate(partners)}
    unknown = sorted(set(sensors.partner) - set(partner_index))
    if unknown:
        raise ValueError(f"partners: sensors of {unknown} have no band")
    return [partner_index[p] for p in sensors.partner], len(partner_index)


def _centre_cell(
    transform: Affine, pcrs: pyproj.CRS, shape: tuple[int, ...]
) -> tuple[tuple[float, float], str]:
    """Width and height (m) of the cell at the centre of the grid, and how they were measured."""
    rows_n, cols_n = shape
    centre = ground_metric(transform, pcrs, row=rows_n // 2, col=cols_n // 2, n_rows=rows_n)
    size = (
        math.sqrt(float(centre.xx_m2[rows_n // 2])),
        math.sqrt(float(centre.yy_m2[rows_n // 2])),
    )
    return size, centre.description


class _DemGrid(NamedTuple):
    """The part of the DEM :func:`terrain_coverage` counts on, as read."""

    pcrs: pyproj.CRS
    #: Each sensor's range window on the whole DEM (``None`` off the DEM).
    windows: list[_RangeWindow | None]
    window: Window
    heights: NDArray[np.float32]
    transform: Affine
    crs: CRS


def _read_grid(
    source: str, sensors: SensorTerrain, extent_lonlat: Sequence[shapely.Geometry]
) -> _DemGrid:
    """Read, in one windowed read, the DEM within range of any sensor or under the extents."""
    with open_dem(source) as ds:
        pcrs = _pyproj_crs(ds.crs, source)
        windows = _range_windows(ds, pcrs, sensors)
        window = _grid_window(ds, pcrs, windows, extent_lonlat, source)
        return _DemGrid(
            pcrs,
            windows,
            window,
            _read_heights(ds, window),
            _window_transform(ds.transform, window),
            ds.crs,
        )


class _RangeWindow(NamedTuple):
    """A sensor's cell on the whole DEM and the rows and columns within its range."""

    row: int
    col: int
    rows: slice
    cols: slice
    #: The ground metric from the sensor's cell, for the rows of the window.
    metric: GridMetric


def _range_windows(
    ds: rasterio.io.DatasetReader, pcrs: pyproj.CRS, sensors: SensorTerrain
) -> list[_RangeWindow | None]:
    """Each sensor's range window on the whole DEM (``None`` for a sensor off the DEM)."""
    to_dem = DemTransformer(_WGS84, pcrs, ds.transform, (ds.height, ds.width))
    x, y = to_dem.transform(sensors.lon, sensors.lat)
    colf, rowf = ~ds.transform @ (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    colf, rowf = np.atleast_1d(np.asarray(colf)), np.atleast_1d(np.asarray(rowf))
    on_dem = (
        np.isfinite(colf)
        & np.isfinite(rowf)
        & (rowf >= 0)
        & (rowf < ds.height)
        & (colf >= 0)
        & (colf < ds.width)
    )
    rows0 = np.where(on_dem, np.floor(np.nan_to_num(rowf)), 0).astype(np.int64)
    cols0 = np.where(on_dem, np.floor(np.nan_to_num(colf)), 0).astype(np.int64)
    out: list[_RangeWindow | None] = []
    for i in range(len(sensors)):
        if not on_dem[i]:
            out.append(None)
            continue
        r0, c0 = int(rows0[i]), int(cols0[i])
        metric = ground_metric(ds.transform, pcrs, row=r0, col=c0, n_rows=ds.height)
        rs, cs = range_window(
            r0,
            c0,
            shape=(ds.height, ds.width),
            max_distance_m=float(sensors.range_m[i]),
            metric=metric,
        )
        out.append(_RangeWindow(r0, c0, rs, cs, metric.take_rows(rs)))
    return out


def _grid_window(
    ds: rasterio.io.DatasetReader,
    pcrs: pyproj.CRS,
    windows: Sequence[_RangeWindow | None],
    extent_lonlat: Sequence[shapely.Geometry],
    source: str,
) -> Window:
    """The window of the DEM holding every range window and the bounds of the extents."""
    r_lo, r_hi, c_lo, c_hi = ds.height, 0, ds.width, 0
    for win in windows:
        if win is not None:
            r_lo, r_hi = min(r_lo, win.rows.start), max(r_hi, win.rows.stop)
            c_lo, c_hi = min(c_lo, win.cols.start), max(c_hi, win.cols.stop)
    to_dem = DemTransformer(_WGS84, pcrs, ds.transform, (ds.height, ds.width))
    for geom in extent_lonlat:
        if geom is None or shapely.is_empty(geom):
            continue
        ring = shapely.segmentize(shapely.envelope(geom), 0.01)
        gx, gy = to_dem.transform(*shapely.get_coordinates(ring).T)
        gc, gr = ~ds.transform @ (np.asarray(gx), np.asarray(gy))
        gc, gr = np.asarray(gc), np.asarray(gr)
        ok = np.isfinite(gc) & np.isfinite(gr)
        if ok.any():
            r_lo = min(r_lo, max(0, math.floor(gr[ok].min())))
            r_hi = max(r_hi, min(ds.height, math.ceil(gr[ok].max()) + 1))
            c_lo = min(c_lo, max(0, math.floor(gc[ok].min())))
            c_hi = max(c_hi, min(ds.width, math.ceil(gc[ok].max()) + 1))
    if r_hi <= r_lo or c_hi <= c_lo:  # nothing on the DEM at all: a one-cell grid
        r_lo, r_hi, c_lo, c_hi = 0, 1, 0, 1
    n_cells = (r_hi - r_lo) * (c_hi - c_lo)
    if n_cells > MAX_WINDOW_CELLS:
        raise ValidationError(
            f"DEM {source!r}: the sensors' ranges and the corridor cover {n_cells:,} cells, "
            f"more than {MAX_WINDOW_CELLS:,}; use a coarser DEM (gdalwarp -tr) or fewer sensors"
        )
    return Window.from_slices(slice(r_lo, r_hi), slice(c_lo, c_hi))


def _read_heights(ds: rasterio.io.DatasetReader, window: Window) -> NDArray[np.float32]:
    """Band 1 in the window as float32 heights (m): nodata NaN, scale and offset applied."""
    band = ds.read(1, window=window, masked=True, out_dtype="float32")
    heights = np.ma.filled(band, np.nan).astype(np.float32, copy=False)
    scale, offset = ds.scales[0], ds.offsets[0]
    if scale != 1.0 or offset != 0.0:
        heights = (heights * scale + offset).astype(np.float32)
    return heights


class _Counts:
    """The count grids of :func:`terrain_coverage`, filled one viewshed at a time.

    Viewsheds are computed on several threads (the kernels release the GIL); adding one into
    the counts holds a lock.
    """

    def __init__(
        self,
        dem: _DemGrid,
        *,
        n_partners: int,
        refraction_coeff: float,
        probe_edges: EdgesLonLat | None,
    ) -> None:
        self.heights = dem.heights
        self.windows = dem.windows
        window = dem.window
        self.r_lo, self.c_lo = int(window.row_off), int(window.col_off)
        rows_n, cols_n = dem.heights.shape
        self.count = np.zeros((rows_n, cols_n), dtype=np.uint16)
        self.pcount = np.zeros((n_partners, rows_n, cols_n), dtype=np.uint16)
        self.valid = np.isfinite(dem.heights)
        shape = (int(window.height), int(window.width))
        self.probe_row, self.probe_col = _probe_cells(probe_edges, dem.pcrs, dem.transform, shape)
        self.earth_radius_m = float(dem.pcrs.ellipsoid.semi_major_metre)  # type: ignore[union-attr]
        self.curvature_coeff = 1.0 - refraction_coeff
        self._lock = threading.Lock()

    def add_all(
        self, sensors: SensorTerrain, bands: Sequence[int], *, n_threads: int
    ) -> list[NDArray[np.int64] | None]:
        """Add every sensor (see :meth:`add`), on ``n_threads`` threads."""
        if not len(sensors):
            return []
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            return list(
                pool.map(
                    lambda i: self.add(sensors, i, self.windows[i], bands[i]), range(len(sensors))
                )
            )

    def add(
        self, sensors: SensorTerrain, i: int, win: _RangeWindow | None, band: int
    ) -> NDArray[np.int64] | None:
        """Add sensor ``i``'s viewshed, cut to its annulus and wedge, into the counts.

        Returns the probed cells it sees (indices into ``probe_row``), or ``None`` for a
        sensor off the terrain (off the DEM or on a cell without data): it sees nothing.
        """
        if win is None or not self.valid[win.row - self.r_lo, win.col - self.c_lo]:
            return None
        rs, cs = win.rows, win.cols
        sub = np.ascontiguousarray(
            self.heights[
                rs.start - self.r_lo : rs.stop - self.r_lo,
                cs.start - self.c_lo : cs.stop - self.c_lo,
            ]
        )
        r0, c0 = win.row - rs.start, win.col - cs.start
        vis = viewshed(
            sub,
            r0,
            c0,
            observer_height_m=float(sensors.height_m[i]),
            max_distance_m=float(sensors.range_m[i]),
            cell_size_m=win.metric,
            target_height_m=float(sensors.target_height_m[i]),
            curvature_coeff=self.curvature_coeff,
            earth_radius_m=self.earth_radius_m,
        )
        fov = float(sensors.fov_deg[i])
        half = math.pi if not math.isfinite(fov) or fov >= 360.0 else math.radians(fov) / 2.0
        assert win.metric.frame is not None
        frame = np.ascontiguousarray(win.metric.frame)
        cut = (
            frame,
            float(sensors.min_range_m[i]) ** 2,
            math.radians(float(sensors.azimuth_deg[i])),
            half,
        )
        # Probed cells in this window (probe_row is sorted): read before the viewshed is dropped.
        hits = self._probed(vis, win, r0, c0, cut)
        with self._lock:
            _accumulate(
                vis,
                r0,
                c0,
                *cut,
                self.count,
                self.pcount,
                band,
                rs.start - self.r_lo,
                cs.start - self.c_lo,
            )
        return hits

    def _probed(
        self,
        vis: NDArray[np.uint8],
        win: _RangeWindow,
        r0: int,
        c0: int,
        cut: tuple[NDArray[np.float64], float, float, float],
    ) -> NDArray[np.int64]:
        """The probed cells in the window that the cut viewshed ``vis`` sees."""
        row_off, col_off = win.rows.start - self.r_lo, win.cols.start - self.c_lo
        lo, hi = np.searchsorted(self.probe_row, [row_off, win.rows.stop - self.r_lo])
        cols = self.probe_col[lo:hi]
        inside = lo + np.flatnonzero((cols >= col_off) & (cols < win.cols.stop - self.c_lo))
        if not inside.size:
            return np.empty(0, dtype=np.int64)
        hit = _seen_cells(
            vis, r0, c0, *cut, self.probe_row[inside] - row_off, self.probe_col[inside] - col_off
        )
        return inside[hit]


def _probe_pairs(hits: Sequence[NDArray[np.int64] | None]) -> NDArray[np.int64]:
    """``(probed cell, sensor)`` pairs from each sensor's probed cells seen.

    See :meth:`_Counts.add`.
    """
    per_sensor = [np.empty(0, dtype=np.int64) if h is None else h for h in hits]
    return np.column_stack(
        [
            np.concatenate([np.empty(0, dtype=np.int64), *per_sensor]),
            np.repeat(np.arange(len(hits), dtype=np.int64), [h.size for h in per_sensor]),
        ]
    )


def _probe_cells(
    edges: EdgesLonLat | None, pcrs: pyproj.CRS, transform: Affine, shape: tuple[int, int]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Cells of the grid the edges cross, as :func:`border_pieces` finds them (sorted, unique)."""
    if edges is None or np.asarray(edges[0]).size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    _, _, _, row, col = _cut_at_cells(*_edge_pixels(pcrs, transform, shape, *edges), shape)
    on = row >= 0
    key = np.unique(row[on] * shape[1] + col[on])
    return key // shape[1], key % shape[1]


# ---- from the grid to the border and to polygons -----------------------------------------------


def border_pieces(
    grid: CoverageGrid,
    ax: NDArray[np.float64],
    ay: NDArray[np.float64],
    bx: NDArray[np.float64],
    by: NDArray[np.float64],
    c0: NDArray[np.float64],
    c1: NDArray[np.float64],
    to_lonlat: pyproj.Transformer,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Cut border edges at every cell edge of the grid they cross.

    Parameters
    ----------
    grid
        The coverage grid.
    ax, ay, bx, by
        Ends of the border edges in the analysis CRS.
    c0, c1
        Global chainage (m) of the edge ends.
    to_lonlat
        Transformer from the analysis CRS to lon/lat.

    Returns
    -------
    (start, end, row, col)
        Chainage (m) of each piece and the cell it lies in (``row = -1`` off the grid). Each
        piece lies in exactly one cell, so a border result taken from the pieces agrees with
        the raster.
    """
    if ax.size == 0:
        none = np.empty(0)
        return none, none, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    a_lon, a_lat = to_lonlat.transform(ax, ay)
    b_lon, b_lat = to_lonlat.transform(bx, by)
    pixels = _edge_pixels(
        grid.pcrs,
        grid.transform,
        grid.shape,
        np.asarray(a_lon),
        np.asarray(a_lat),
        np.asarray(b_lon),
        np.asarray(b_lat),
    )
    e, t_lo, t_hi, row, col = _cut_at_cells(*pixels, grid.shape)
    start = c0[e] + t_lo * (c1[e] - c0[e])
    end = c0[e] + t_hi * (c1[e] - c0[e])
    return start, end, row, col


def _edge_pixels(
    pcrs: pyproj.CRS,
    transform: Affine,
    shape: tuple[int, int],
    a_lon: NDArray[np.float64],
    a_lat: NDArray[np.float64],
    b_lon: NDArray[np.float64],
    b_lat: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Fractional (column, row) on the grid of both ends of each edge: ``(a_c, a_r, b_c, b_r)``."""
    to_grid = DemTransformer(_WGS84, pcrs, transform, shape)
    inv = ~transform

    def pixel(
        lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        gx, gy = to_grid.transform(lon, lat)
        col, row = inv @ (np.asarray(gx), np.asarray(gy))
        return np.asarray(col, dtype=float), np.asarray(row, dtype=float)

    return (*pixel(a_lon, a_lat), *pixel(b_lon, b_lat))


def _cut_at_cells(
    pa_c: NDArray[np.float64],
    pa_r: NDArray[np.float64],
    pb_c: NDArray[np.float64],
    pb_r: NDArray[np.float64],
    shape: tuple[int, int],
) -> tuple[
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.int64],
    NDArray[np.int64],
]:
    """Cut edges (ends in fractional pixels) at every integer column and row line they cross.

    Returns ``(edge, t_lo, t_hi, row, col)``: for every piece its edge, its parameters along
    the edge and the cell it lies in (``row = col = -1`` off the grid).
    """
    n = pa_c.size
    # Crossing parameters of every integer column and row line between the ends of each edge.
    ts = [np.zeros(n), np.ones(n)]
    owners = [np.arange(n), np.arange(n)]
    for a, b in ((pa_c, pb_c), (pa_r, pb_r)):
        lo = np.floor(np.minimum(a, b)) + 1
        hi = np.floor(np.maximum(a, b))
        k = np.where(np.isfinite(lo) & np.isfinite(hi), np.maximum(hi - lo + 1, 0), 0).astype(
            np.int64
        )
        if k.sum():
            owner = np.repeat(np.arange(n), k)
            first = np.repeat(np.cumsum(k) - k, k)
            line = lo[owner] + (np.arange(owner.size) - first)
            ts.append((line - a[owner]) / (b[owner] - a[owner]))
            owners.append(owner)
    t = np.concatenate(ts)
    owner = np.concatenate(owners)
    order = np.lexsort((t, owner))
    t, owner = t[order], owner[order]
    same = owner[1:] == owner[:-1]
    t_lo, t_hi, e = t[:-1][same], t[1:][same], owner[:-1][same]
    keep = t_hi > t_lo
    t_lo, t_hi, e = t_lo[keep], t_hi[keep], e[keep]
    tm = 0.5 * (t_lo + t_hi)
    mc = pa_c[e] + tm * (pb_c[e] - pa_c[e])
    mr = pa_r[e] + tm * (pb_r[e] - pa_r[e])
    rows_n, cols_n = shape
    inside = (
        np.isfinite(mc) & np.isfinite(mr) & (mr >= 0) & (mr < rows_n) & (mc >= 0) & (mc < cols_n)
    )
    row = np.where(inside, np.floor(np.nan_to_num(mr)), -1).astype(np.int64)
    col = np.where(inside, np.floor(np.nan_to_num(mc)), -1).astype(np.int64)
    return e, t_lo, t_hi, row, col


def mask_polygons(
    grid: CoverageGrid,
    mask: NDArray[np.bool_],
    to_target: pyproj.Transformer,
    *,
    max_cells: int | None = None,
    min_cells: int = 0,
) -> NDArray[np.object_]:
    """Polygonize the cells of ``mask`` (one pass) and return the polygons in the target CRS.

    Parameters
    ----------
    grid
        The grid ``mask`` lies on.
    mask
        Cells to outline (bool, the grid's shape).
    to_target
        Transformer from the grid's CRS to the target CRS.
    max_cells
        For display: above this many cells a side, the mask is first reduced by blocks (a
        block is set when at least half of its cells are).
    min_cells
        For display: patches smaller than this many cells (after reduction) are dropped
        (``rasterio.features.sieve``).

    Returns
    -------
    ndarray of shapely.Polygon
        Cells touching by an edge form one polygon.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return np.empty(0, dtype=object)
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    sub = mask[r0:r1, c0:c1]
    t = grid.transform @ Affine.translation(c0, r0)
    factor = 1
    if max_cells is not None:
        sub, factor = coarse_mask(sub, max_cells)
        t = t @ Affine.scale(factor)
    data = sub.astype(np.uint8)
    if min_cells > 1 and data.any():
        data = rasterio.features.sieve(data, size=min_cells, connectivity=4)
    out = []
    for geom, value in rasterio.features.shapes(
        data, mask=data.astype(bool), connectivity=4, transform=t
    ):
        if value != 1:
            continue
        rings = [np.asarray(ring, dtype=float) for ring in geom["coordinates"]]
        out.append(shapely.Polygon(rings[0], rings[1:]))
    geoms = np.asarray(out, dtype=object)
    if geoms.size:
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(to_target.transform(xy[:, 0], xy[:, 1]))
        )
    return geoms


def row_cell_areas_m2(grid: CoverageGrid) -> NDArray[np.float64]:
    """Ground area of a cell in each row of the grid (m², on the ellipsoid).

    Measured with :class:`pyproj.Geod` on the cell in the middle column of each row: exact
    for a geographic grid, and for a projected grid within the change of the projection's
    scale across a row (0.06 % for UTM 150 km from its central meridian).
    """
    rows, cols = grid.shape
    pcrs = grid.pcrs
    ell = pcrs.ellipsoid
    geod = pyproj.Geod(a=float(ell.semi_major_metre), b=float(ell.semi_minor_metre))  # type: ignore[union-attr]
    to_ll = pyproj.Transformer.from_crs(pcrs, pcrs.geodetic_crs, always_xy=True)
    c = cols // 2
    r = np.arange(rows, dtype=float)
    corners = [(c, r), (c + 1, r), (c + 1, r + 1), (c, r + 1)]
    lon, lat = [], []
    for cc, rr in corners:
        x, y = grid.transform @ (np.full(rows, float(cc)), rr)
        lo, la = to_ll.transform(np.asarray(x), np.asarray(y))
        lon.append(np.asarray(lo))
        lat.append(np.asarray(la))
    lon_a, lat_a = np.column_stack(lon), np.column_stack(lat)
    return np.array([abs(geod.polygon_area_perimeter(lon_a[i], lat_a[i])[0]) for i in range(rows)])


def coarse_mask(mask: NDArray[np.bool_], max_cells: int) -> tuple[NDArray[np.bool_], int]:
    """Reduce a mask by square blocks to at most ``max_cells`` a side.

    A block is set when at least half of its cells are (cells beyond the mask's edge count
    as unset). Returns the reduced mask and the block size.

    Examples
    --------
    >>> m = np.zeros((4, 4), dtype=bool); m[:2, :2] = True; m[2, 2] = True
    >>> coarse_mask(m, 2)[0].tolist()
    [[True, False], [False, False]]
    """
    factor = max(1, math.ceil(max(mask.shape) / max_cells))
    if factor == 1:
        return mask, 1
    rows, cols = mask.shape
    pad = np.zeros(
        (math.ceil(rows / factor) * factor, math.ceil(cols / factor) * factor), dtype=np.uint16
    )
    pad[:rows, :cols] = mask
    blocks = pad.reshape(pad.shape[0] // factor, factor, pad.shape[1] // factor, factor).sum(
        axis=(1, 3)
    )
    return blocks * 2 >= factor * factor, factor


def grid_transformer(grid: CoverageGrid, to_crs: pyproj.CRS | str) -> pyproj.Transformer:
    """Transformer from the grid's CRS to ``to_crs``."""
    return pyproj.Transformer.from_crs(grid.pcrs, to_crs, always_xy=True)


def corridor_mask(grid: CoverageGrid, corridor_grid_crs: shapely.Geometry) -> NDArray[np.bool_]:
    """Cells whose centre lies in the corridor (given in the grid's CRS)."""
    if shapely.is_empty(corridor_grid_crs):
        return np.zeros(grid.shape, dtype=bool)
    return rasterio.features.rasterize(
        [corridor_grid_crs],
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        default_value=1,
        dtype="uint8",
    ).astype(bool)


__all__ = [
    "COUNT_NODATA",
    "CoverageGrid",
    "SensorTerrain",
    "border_pieces",
    "check_terrain_params",
    "coarse_mask",
    "corridor_mask",
    "grid_transformer",
    "mask_polygons",
    "row_cell_areas_m2",
    "sensor_terrain",
    "terrain_coverage",
]
