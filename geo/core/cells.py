"""Two lon/lat grids of cells, one nested in the other, and the map's hexagon layout.

The store's spatial index files each detection under a cell of :data:`CELL_DEG` degrees
(:func:`cells_of`). The map's pre-counted bins use cells five times finer
(:data:`FINE_DEG`, :func:`fine_cells_of`), each inside exactly one index cell
(:func:`coarse_of`): a fine cell's column and row are its index cell's times five plus its
place in it, computed from the same division, so floating-point rounding never puts a point
in a fine cell of another index cell. A fine cell's nominal box (:func:`fine_boxes`) holds
its points to within :data:`BOX_SLACK_DEG`.

:class:`HexLayout` is the map's hexagons (pointy-top, circumradius ``size_m`` in an
analysis CRS): the cell of a point (:meth:`HexLayout.keys`) is the key
:func:`geo.coverage.hexbin.hexbin` and :func:`geo.coverage.streamed.count_batches` count it
under.

Examples
--------
>>> lon, lat = np.array([24.01, 24.049999]), np.array([55.02, 55.02])
>>> cells_of(lon, lat).tolist() == coarse_of(fine_cells_of(lon, lat)).tolist()
True
>>> w, s, e, n = fine_boxes(fine_cells_of(lon, lat))
>>> d = BOX_SLACK_DEG
>>> bool(((w - d <= lon) & (lon <= e + d) & (s - d <= lat) & (lat <= n + d)).all())
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geo.core.projection import AnalysisCRS

__all__ = [
    "BOX_SLACK_DEG",
    "CELL_DEG",
    "CELL_SHIFT",
    "FINE_DEG",
    "FINE_ROWS",
    "HALF",
    "NO_CELL",
    "NO_HEX",
    "HexLayout",
    "axial",
    "cells_of",
    "coarse_of",
    "fine_boxes",
    "fine_cells_of",
    "fine_indices",
    "fine_key",
]

#: The index grid's cell size (degrees): about 5.5 km by 3 km at 55° N.
CELL_DEG = 0.05

#: Fine cells per index cell, along each axis.
FINE_PER_CELL = 5

#: The fine grid's nominal cell size (degrees): about 1.1 km by 0.6 km at 55° N.
FINE_DEG = CELL_DEG / FINE_PER_CELL

#: An index cell key is ``column << CELL_SHIFT | row`` (rows: 3,600 at 0.05°).
CELL_SHIFT = 16

#: A fine cell key is ``column << _FINE_SHIFT | row`` (rows: 18,000 at 0.01°).
_FINE_SHIFT = 20

#: Fine rows a point can be placed in (five per index row, :data:`CELL_SHIFT`).
FINE_ROWS = FINE_PER_CELL * 2**CELL_SHIFT

#: The cell of a point that cannot be placed (not finite, off the grid).
NO_CELL = -1

#: The hexagon of a point that cannot be placed (not finite).
NO_HEX = -1

#: How far (degrees) past its nominal box a point of a fine cell may lie (rounding).
BOX_SLACK_DEG = 1e-9

#: Offset that makes axial coordinates (|q|, |r| < 2**30) non-negative 31-bit numbers, so
#: that ``q`` shifted 32 bits up stays a positive int64.
HALF = 1 << 30

_SQRT3 = math.sqrt(3.0)


def _indices(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Index-cell column and row (floats) and the offsets into them (degrees)."""
    with np.errstate(invalid="ignore"):
        ux = np.asarray(lon, dtype=float) + 180.0
        uy = np.asarray(lat, dtype=float) + 90.0
        cx, cy = np.floor(ux / CELL_DEG), np.floor(uy / CELL_DEG)
    return cx, cy, ux - cx * CELL_DEG, uy - cy * CELL_DEG


def _placed(cx: NDArray[np.float64], cy: NDArray[np.float64]) -> NDArray[np.bool_]:
    return np.isfinite(cx) & np.isfinite(cy) & (cy >= 0) & (cy < 2**CELL_SHIFT) & (cx >= 0)


def cells_of(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int64]:
    """The index cell key of each point (:data:`NO_CELL` for a point that cannot be placed)."""
    cx, cy, _, _ = _indices(lon, lat)
    ok = _placed(cx, cy)
    out = np.full(len(cx), NO_CELL, dtype=np.int64)
    out[ok] = (cx[ok].astype(np.int64) << CELL_SHIFT) | cy[ok].astype(np.int64)
    return out


def fine_indices(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
    """The fine grid's column and row of each point, and whether it can be placed.

    Column and row count from -180° and -90° (a point off the grid gets the numbers the
    division gives; 0 where not finite). Both grow with the coordinate (never down), so a
    fine cell strictly between those of two points lies strictly between them: what
    :func:`geo.store.spatial_index.cell_ranges` relies on.
    """
    cx, cy, dx, dy = _indices(lon, lat)
    ok = _placed(cx, cy)
    last = FINE_PER_CELL - 1
    with np.errstate(invalid="ignore"):
        sx = np.clip(np.floor(dx / FINE_DEG), 0, last)
        sy = np.clip(np.floor(dy / FINE_DEG), 0, last)
        fx = np.nan_to_num(cx * FINE_PER_CELL + sx, nan=0.0, posinf=0.0, neginf=0.0)
        fy = np.nan_to_num(cy * FINE_PER_CELL + sy, nan=0.0, posinf=0.0, neginf=0.0)
    return fx.astype(np.int64), fy.astype(np.int64), ok


def fine_key(column: int, row: int) -> int:
    """The fine cell key of a fine grid column and row: a column's keys are consecutive."""
    return (int(column) << _FINE_SHIFT) | int(row)


def fine_cells_of(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int64]:
    """The fine cell key of each point (:data:`NO_CELL` where :func:`cells_of` has none)."""
    fx, fy, ok = fine_indices(lon, lat)
    out = np.full(len(fx), NO_CELL, dtype=np.int64)
    out[ok] = (fx[ok] << _FINE_SHIFT) | fy[ok]
    return out


def coarse_of(fine: NDArray[np.int64]) -> NDArray[np.int64]:
    """The index cell key holding each fine cell (:data:`NO_CELL` stays)."""
    fine = np.asarray(fine, dtype=np.int64)
    fx, fy = fine >> _FINE_SHIFT, fine & ((1 << _FINE_SHIFT) - 1)
    out = ((fx // FINE_PER_CELL) << CELL_SHIFT) | (fy // FINE_PER_CELL)
    return np.where(fine == NO_CELL, NO_CELL, out)


def fine_boxes(
    fine: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """West, south, east, north (degrees) of each fine cell (NaN for :data:`NO_CELL`).

    Its points lie inside, to within :data:`BOX_SLACK_DEG`.
    """
    fine = np.asarray(fine, dtype=np.int64)
    fx, fy = fine >> _FINE_SHIFT, fine & ((1 << _FINE_SHIFT) - 1)
    cx, sx = np.divmod(fx, FINE_PER_CELL)
    cy, sy = np.divmod(fy, FINE_PER_CELL)
    west = cx * CELL_DEG + sx * FINE_DEG - 180.0
    south = cy * CELL_DEG + sy * FINE_DEG - 90.0
    last_x, last_y = sx == FINE_PER_CELL - 1, sy == FINE_PER_CELL - 1
    east = np.where(last_x, (cx + 1) * CELL_DEG - 180.0, west + FINE_DEG)
    north = np.where(last_y, (cy + 1) * CELL_DEG - 90.0, south + FINE_DEG)
    none = fine == NO_CELL
    return tuple(np.where(none, np.nan, a) for a in (west, south, east, north))  # type: ignore[return-value]


def axial(
    x: NDArray[np.float64], y: NDArray[np.float64], size: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Axial coordinates of the pointy-top hexagon (circumradius ``size``) holding each point."""
    q = (_SQRT3 / 3 * x - y / 3) / size
    r = (2 / 3 * y) / size
    # Cube rounding.
    cx, cz = q, r
    cy = -cx - cz
    rx, ry, rz = np.round(cx), np.round(cy), np.round(cz)
    dx, dy, dz = np.abs(rx - cx), np.abs(ry - cy), np.abs(rz - cz)
    fix_x = (dx > dy) & (dx > dz)
    fix_y = ~fix_x & (dy > dz)
    rx = np.where(fix_x, -ry - rz, rx)
    rz = np.where(~fix_x & ~fix_y, -rx - ry, rz)
    return rx.astype(np.int64), rz.astype(np.int64)


@dataclass(frozen=True)
class HexLayout:
    """The map's hexagons: circumradius ``size_m`` (m) in the analysis CRS ``acrs``.

    ``name`` identifies the layout (the CRS's definition and the size): two layouts of one
    name give every point the same key.
    """

    acrs: AnalysisCRS
    size_m: float

    @property
    def name(self) -> str:
        """The CRS definition and the size, e.g. ``"EPSG:32634|4000.0"``."""
        return f"{self.acrs.definition}|{float(self.size_m)!r}"

    def keys(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int64]:
        """The hexagon key of each point (lon/lat degrees): ``(q + HALF) << 32 | (r + HALF)``.

        :data:`NO_HEX` where the point is not finite. Raises ValueError when hexagons this
        small cannot number points this far apart.
        """
        x, y = self.acrs.to_proj.transform(np.asarray(lon, float), np.asarray(lat, float))
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        q, r = axial(x[ok], y[ok], self.size_m)
        if q.size and max(np.abs(q).max(), np.abs(r).max()) >= HALF:
            raise ValueError(f"hexagons of {self.size_m} m are too small for points this far apart")
        out = np.full(len(x), NO_HEX, dtype=np.int64)
        out[ok] = ((q + HALF) << 32) | (r + HALF)
        return out
