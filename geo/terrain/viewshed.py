"""Line-of-sight visibility from one observer over a DEM: the viewshed.

The kernel decides visibility the way GDAL's ``gdal_viewshed`` decides it
(``GDALViewshedGenerate``: ``alg/viewshed/viewshed_executor.cpp`` since GDAL 3.10,
``alg/viewshed.cpp`` from 3.1; the default "edge" cell mode and the ``NORMAL`` output), so
the two agree cell for cell on a projected DEM in metres:

- The DEM is scanned outwards from the observer: first the observer's own row, to the left
  and to the right; then, row by row, upwards and downwards from it, each row from the
  observer's column to the left and to the right. Every cell remembers a *horizon height*:
  the larger of its own (curvature-corrected) height and the height of the sight line that
  grazes the terrain already scanned between it and the observer.
- The sight-line height at a cell is interpolated from the horizon heights of the two
  already-scanned neighbours that lie between it and the observer (GDAL's "edge" mode): for
  a cell at column offset ``i`` and row offset ``j`` from the observer (``i, j >= 1``), with
  ``Zo`` the observer's eye height,

  * ``i > j``: the plane through the eye and the neighbours at ``(i - 1, j - 1)`` (``Za``)
    and ``(i - 1, j)`` (``Zb``), i.e. ``((Za - Zo) * j + (Zb - Zo) * (i - j)) / (i - 1) + Zo``;
  * ``i < j``: the same with the roles of rows and columns swapped (``Zb`` at ``(i, j - 1)``);
  * ``i == j`` (the diagonal) and along the observer's own row and column: the straight line
    through the eye and the neighbour one step back (``Za``), ``(Za - Zo) / (n - 1) + Za``
    at step ``n >= 2``; at step 1 the sight line is the neighbour's height itself.

- A cell is visible unless its own height plus the target height is *below* the sight line
  (equal counts as visible). The eye is the observer cell's height plus the observer height.
  The observer cell and its eight neighbours are always visible.
- Earth curvature and refraction lower every cell (blockers and targets alike) by
  ``curvature_coeff * d**2 / (2 * earth_radius_m)`` (GDAL: ``-cc``, ``dfCurvCoeff * d**2 /
  dfSphereDiameter`` with the diameter twice the semi-major axis of the DEM's ellipsoid).
  ``curvature_coeff = 1 - k`` for a refraction coefficient ``k``.
- A cell farther than the maximum distance is out of range (``d**2 > max_distance_m**2``);
  as in GDAL, the scan of a half-row stops at its first cell out of range.

Where Limes differs from GDAL, on purpose:

- Distances (range and curvature) are ground metres, from a
  :class:`~geo.terrain.grid_metric.GridMetric` (see :func:`geo.terrain.dem.ground_metric`), not
  CRS units: correct for geographic DEMs (degrees) and for projected CRSs in feet or with a scale
  factor; GDAL uses CRS units as metres.
- Nodata cells (NaN) are reported as :data:`OUTSIDE` and do not block the view: the sight line
  passes over them unchanged (GDAL reads them as heights, e.g. -32768).

GDAL versions: the eight neighbours of the observer are visible and keep their own height as
horizon, as in GDAL since the fix of OSGeo/gdal#10205 (PR #10237, June 2024, GDAL 3.10).
Before it, GDAL took the observer's ground as the sight line at the three neighbours above and
the three below, so it hid them on flat ground with curvature on, and, from an observer a few
metres above a summit, the slopes below it (OSGeo/gdal#8291); it also marked the left and
right neighbours visible when the range is shorter than a cell. ``legacy_gdal=True``
reproduces the first of these, to compare with an older ``gdal_viewshed``.

Examples
--------
>>> import numpy as np
>>> dem = np.zeros((5, 9))
>>> dem[2, 6] = 50.0  # a wall three cells east of the observer
>>> vis = viewshed(dem, 2, 3, observer_height_m=2.0, target_height_m=0.0,
...                max_distance_m=1_000.0, cell_size_m=30.0, curvature_coeff=0.0)
>>> vis[2].tolist()  # behind the wall (columns 7 and 8) is hidden
[1, 1, 1, 1, 1, 1, 1, 0, 0]
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.core import settings
from geo.core.errors import ValidationError
from geo.terrain.grid_metric import GridMetric, as_metric, check_number

#: Output value of a visible cell.
VISIBLE: Final[int] = 1
#: Output value of a cell that is in range but hidden.
HIDDEN: Final[int] = 0
#: Output value of a cell out of range, outside the DEM or without data.
OUTSIDE: Final[int] = 255

#: Semi-major axis of WGS84 (m): the earth radius GDAL uses for curvature on WGS84 DEMs.
WGS84_SEMI_MAJOR_M: Final[float] = 6_378_137.0

#: GDAL's ``-cc`` for Limes' default refraction coefficient: ``1 - k``.
DEFAULT_CURVATURE_COEFF: Final[float] = 1.0 - settings.REFRACTION_COEFF


# ---- the compiled kernel ---------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _line_height(n: int, za: float, zo: float) -> float:
    # Sight line through the eye (height zo) and the cell one step back (za), at step n.
    if n == 1:
        return za
    return (za - zo) / (n - 1) + za


@numba.njit(cache=True, nogil=True, inline="always")
def _edge_height(i: int, j: int, za: float, zb: float, zo: float) -> float:
    # GDAL CalcHeightEdge: i <= j; za at the diagonal neighbour, zb at the straight one.
    if i == j:
        return _line_height(i, za, zo)
    return ((za - zo) * i + (zb - zo) * (j - i)) / (j - 1) + zo


@numba.njit(cache=True, nogil=True, inline="always")
def _own(z: float) -> float:
    # Sight line at a neighbour of the observer: its own height (it is visible); nothing
    # known (nodata) blocks nothing.
    return -np.inf if np.isnan(z) else z


@numba.njit(cache=True, nogil=True, inline="always")
def _settle(
    z: float,
    sight: float,
    target: float,
    horizon: NDArray[np.float64],
    c: int,
    out: NDArray[np.uint8],
    r: int,
) -> None:
    # Decide cell (r, c) and store its horizon height.
    if np.isnan(z):
        out[r, c] = 255
        horizon[c] = sight
    else:
        out[r, c] = 0 if z + target < sight else 1
        horizon[c] = z if z > sight else sight


@numba.njit(cache=True, nogil=True, inline="always")
def _beyond(
    dem: NDArray[np.floating],
    r: int,
    c: int,
    step: int,
    drs: int,
    curv: float,
    xx: float,
    xy: float,
    yy: float,
    col0: int,
    this: NDArray[np.float64],
    out: NDArray[np.uint8],
) -> None:
    # Cells from c onwards (by step) are out of range. Their horizon is their own height:
    # GDAL never reads it; with a sheared or per-row metric a cell on the edge of the
    # range may.
    ncols = dem.shape[1]
    while 0 <= c < ncols:
        dc = c - col0
        d2 = xx * dc * dc + 2.0 * xy * dc * drs + yy * drs * drs
        out[r, c] = 255
        this[c] = _own(dem[r, c] - curv * d2)
        c += step


@numba.njit(cache=True, nogil=True)
def _scan_row(
    dem: NDArray[np.floating],
    r: int,
    dr: int,
    row0: int,
    col0: int,
    zo: float,
    target: float,
    d2max: float,
    curv: float,
    xx: float,
    xy: float,
    yy: float,
    last: NDArray[np.float64],
    this: NDArray[np.float64],
    out: NDArray[np.uint8],
    legacy: bool,
) -> None:  # pragma: no cover - compiled
    # One row above or below the observer (dr = |r - row0| >= 1). `legacy`: GDAL < 3.10's
    # sight line at the three neighbours of the observer in this row (see the module doc).
    near = dr == 1 and not legacy
    ncols = dem.shape[1]
    drs = r - row0
    # The observer's column.
    d2 = yy * drs * drs
    if d2 > d2max:
        out[r, col0] = 255
        this[col0] = _own(dem[r, col0] - curv * d2)
    else:
        z = dem[r, col0] - curv * d2
        sight = _own(z) if near else _line_height(dr, last[col0], zo)
        _settle(z, sight, target, this, col0, out, r)
    # To the left.
    c = col0 - 1
    while c >= 0:
        i = col0 - c
        dc = -i
        d2 = xx * dc * dc + 2.0 * xy * dc * drs + yy * drs * drs
        if d2 > d2max:
            _beyond(dem, r, c, -1, drs, curv, xx, xy, yy, col0, this, out)
            break
        z = dem[r, c] - curv * d2
        if near and i == 1:
            sight = _own(z)
        elif i >= dr:
            sight = _edge_height(dr, i, last[c + 1], this[c + 1], zo)
        else:
            sight = _edge_height(i, dr, last[c + 1], last[c], zo)
        _settle(z, sight, target, this, c, out, r)
        c -= 1
    # To the right.
    c = col0 + 1
    while c < ncols:
        i = c - col0
        dc = i
        d2 = xx * dc * dc + 2.0 * xy * dc * drs + yy * drs * drs
        if d2 > d2max:
            _beyond(dem, r, c, 1, drs, curv, xx, xy, yy, col0, this, out)
            break
        z = dem[r, c] - curv * d2
        if near and i == 1:
            sight = _own(z)
        elif i >= dr:
            sight = _edge_height(dr, i, last[c - 1], this[c - 1], zo)
        else:
            sight = _edge_height(i, dr, last[c - 1], last[c], zo)
        _settle(z, sight, target, this, c, out, r)
        c += 1


@numba.njit(cache=True, nogil=True)
def _viewshed_kernel(
    dem: NDArray[np.floating],
    row0: int,
    col0: int,
    observer_height: float,
    target: float,
    d2max: float,
    curv: float,
    xx: NDArray[np.float64],
    xy: NDArray[np.float64],
    yy: NDArray[np.float64],
    out: NDArray[np.uint8],
    legacy: bool,
) -> None:  # pragma: no cover - compiled
    """Fill ``out`` (uint8, shape of ``dem``) with the viewshed; ``dem`` is only read."""
    nrows, ncols = dem.shape
    zo = dem[row0, col0] + observer_height
    first = np.empty(ncols)
    last = np.empty(ncols)
    this = np.empty(ncols)

    # The observer's row. The observer and its two neighbours are visible (as in GDAL),
    # unless the range is shorter than a cell.
    r = row0
    first[col0] = dem[r, col0]
    out[r, col0] = 1
    for c in (col0 - 1, col0 + 1):
        if 0 <= c < ncols:
            d2 = xx[r]
            z = dem[r, c] - curv * d2
            if d2 > d2max:
                out[r, c] = 255
                first[c] = _own(z)
            elif np.isnan(z):
                out[r, c] = 255
                first[c] = -np.inf  # nothing known: blocks nothing
            else:
                out[r, c] = 1
                first[c] = z
    for step in (-1, 1):
        c = col0 + 2 * step
        while 0 <= c < ncols:
            i = abs(c - col0)
            d2 = xx[r] * i * i
            if d2 > d2max:
                # Out of range: so is the rest of the half-row.
                _beyond(dem, r, c, step, 0, curv, xx[r], 0.0, 0.0, col0, first, out)
                break
            z = dem[r, c] - curv * d2
            _settle(z, _line_height(i, first[c - step], zo), target, first, c, out, r)
            c += step

    # Upwards, then downwards, from the observer's row.
    for step in (-1, 1):
        last[:] = first
        r = row0 + step
        while 0 <= r < nrows:
            dr = abs(r - row0)
            _scan_row(
                dem,
                r,
                dr,
                row0,
                col0,
                zo,
                target,
                d2max,
                curv,
                xx[r],
                xy[r],
                yy[r],
                last,
                this,
                out,
                legacy,
            )
            last, this = this, last
            r += step


# ---- public API ------------------------------------------------------------------------------


def _heights_and_observer(
    dem: ArrayLike, row: int, col: int
) -> tuple[NDArray[np.floating], int, int]:
    """The DEM as a 2-D float array and the observer's cell, refused off the DEM or on nodata."""
    heights = np.asarray(dem)
    if heights.ndim != 2:
        raise ValidationError(
            f"dem: expected a 2-D array of heights, got {heights.ndim} dimensions"
        )
    if heights.dtype not in (np.float32, np.float64):
        heights = heights.astype(np.float64)
    n_rows, n_cols = heights.shape
    row, col = int(row), int(col)
    if not (0 <= row < n_rows and 0 <= col < n_cols):
        raise ValidationError(
            f"observer: expected a cell inside the DEM (rows 0-{n_rows - 1}, columns "
            f"0-{n_cols - 1}), got row {row}, column {col}"
        )
    if not np.isfinite(heights[row, col]):
        raise ValidationError(
            f"observer: the DEM has no height at row {row}, column {col} (nodata); "
            "move the observer onto a cell with data"
        )
    return heights, row, col


def viewshed(
    dem: ArrayLike,
    row: int,
    col: int,
    *,
    observer_height_m: float,
    max_distance_m: float,
    cell_size_m: float | tuple[float, float] | GridMetric,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    curvature_coeff: float = DEFAULT_CURVATURE_COEFF,
    earth_radius_m: float = WGS84_SEMI_MAJOR_M,
    legacy_gdal: bool = False,
) -> NDArray[np.uint8]:
    """Compute which cells of a DEM an observer sees.

    Parameters
    ----------
    dem
        Heights (m), shape ``(rows, cols)``, row 0 at the top as in a north-up raster; NaN
        where there is no data. Usually a window of a larger DEM around the observer (see
        :func:`geo.terrain.grid_metric.range_window`). Not modified.
    row, col
        The observer's cell in ``dem`` (0-based).
    observer_height_m
        Height of the observer's eye above the ground of its cell (m, >= 0).
    max_distance_m
        Range (m, > 0): cells farther away are :data:`OUTSIDE`.
    cell_size_m
        Cell width and height on the ground (m): one number for square cells,
        ``(width_m, height_m)``, or a :class:`~geo.terrain.grid_metric.GridMetric` (e.g. a
        geographic DEM, whose cell width shrinks with latitude:
        :func:`geo.terrain.dem.ground_metric`).
    target_height_m
        Height above the ground of what must be seen (m, >= 0; default
        :data:`geo.core.settings.TARGET_HEIGHT_M`).
    curvature_coeff
        Earth curvature coefficient, ``1 - k`` for a refraction coefficient ``k``; every
        cell is lowered by ``curvature_coeff * d**2 / (2 * earth_radius_m)`` at ground
        distance ``d``. 0 turns curvature off. Default: ``1 - 0.13`` (GDAL's ``-cc``).
    earth_radius_m
        Earth radius for the curvature (m). Default: the WGS84 semi-major axis, which is
        what GDAL uses for a WGS84 DEM (the semi-major axis of the DEM's ellipsoid).
    legacy_gdal
        Reproduce ``gdal_viewshed`` before GDAL 3.10 at the observer's neighbours (see the
        module notes); only to compare with an older GDAL.

    Returns
    -------
    numpy.ndarray
        uint8, shape of ``dem``: :data:`VISIBLE` (1), :data:`HIDDEN` (0), or
        :data:`OUTSIDE` (255) out of range or without data.

    Raises
    ------
    geo.core.errors.ValidationError
        If an option is out of its range, ``dem`` is not 2-D, the observer is outside
        ``dem`` or on a cell without data.

    Examples
    --------
    A 10 m mast on flat ground sees a 2 m target up to the radio horizon (about 17.5 km):

    >>> import numpy as np
    >>> flat = np.zeros((1, 500))
    >>> vis = viewshed(flat, 0, 0, observer_height_m=10.0, target_height_m=2.0,
    ...                max_distance_m=30_000.0, cell_size_m=50.0)
    >>> int(np.flatnonzero(vis[0] == 1).max()) * 50  # farthest visible cell (m)
    17500
    """
    heights, row, col = _heights_and_observer(dem, row, col)
    eye_m, target_m, d2max, curv = _kernel_options(
        observer_height_m, target_height_m, max_distance_m, curvature_coeff, earth_radius_m
    )
    xx, xy, yy = _coefficients(as_metric(cell_size_m, heights.shape[0]))
    out = np.full(heights.shape, OUTSIDE, dtype=np.uint8)
    _viewshed_kernel(
        heights, row, col, eye_m, target_m, d2max, curv, xx, xy, yy, out, bool(legacy_gdal)
    )
    return out


def _kernel_options(
    observer_height_m: float,
    target_height_m: float,
    max_distance_m: float,
    curvature_coeff: float,
    earth_radius_m: float,
) -> tuple[float, float, float, float]:
    """The options of :func:`viewshed`, each refused outside its range, as the kernel takes them.

    Returns the eye and target heights (m), the squared range (m²) and the curvature drop per
    squared metre of distance (``curvature_coeff / (2 * earth_radius_m)``).
    """
    observer_height_m = check_number("observer_height_m", observer_height_m, minimum=0.0)
    target_height_m = check_number("target_height_m", target_height_m, minimum=0.0)
    max_distance_m = check_number("max_distance_m", max_distance_m, minimum=0.0, strict=True)
    curvature_coeff = check_number("curvature_coeff", curvature_coeff)
    earth_radius_m = check_number("earth_radius_m", earth_radius_m, minimum=0.0, strict=True)
    return (
        observer_height_m,
        target_height_m,
        max_distance_m**2,
        curvature_coeff / (2.0 * earth_radius_m),
    )


def _coefficients(
    metric: GridMetric,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The metric's per-row coefficients as contiguous float64 arrays, as the kernel takes them."""
    return (
        np.ascontiguousarray(metric.xx_m2, dtype=np.float64),
        np.ascontiguousarray(metric.xy_m2, dtype=np.float64),
        np.ascontiguousarray(metric.yy_m2, dtype=np.float64),
    )
