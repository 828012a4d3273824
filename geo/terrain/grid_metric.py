"""A DEM grid measured on the ground: distances from a cell, and the window within range of it.

:class:`GridMetric` gives the squared ground distance (m²) between any cell and an observer's
cell from their row and column offsets (one set of coefficients per row, so geographic grids
whose cells narrow poleward are measured right); :func:`range_window` cuts the rows and
columns of a grid within a ground range of a cell. The viewshed kernel
(:mod:`geo.terrain.viewshed`), the DEM reader (:mod:`geo.terrain.dem`) and the count grids
(:mod:`geo.terrain.grids`) share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geo.core.errors import ValidationError


@dataclass(frozen=True, eq=False)
class GridMetric:
    """Ground distance between a DEM cell and the observer, from their row/column offsets.

    For a cell at column offset ``dc`` and row offset ``dr`` from the observer, in row ``r``
    of the DEM (window), the squared ground distance is

    ``d**2 = xx_m2[r] * dc**2 + 2 * xy_m2[r] * dc * dr + yy_m2[r] * dr**2`` (m²).

    A square or rectangular grid in metres has the same coefficients in every row
    (``xx = width**2``, ``yy = height**2``, ``xy = 0``); a geographic grid has narrower cells
    towards the poles, hence one set per row (see :func:`geo.terrain.dem.ground_metric`).

    Attributes
    ----------
    xx_m2, xy_m2, yy_m2
        Coefficients (m² per cell²), float64 arrays with one value per row.
    description
        How the coefficients were obtained, for reports.
    frame
        Ground vectors (m) of one column step and one row step, per row, as
        ``(col_east, col_north, row_east, row_north)`` (shape ``(rows, 4)``), with east and
        north the true directions at the observer; ``None`` when unknown. The coefficients are
        their dot products. Used to find the true bearing of a cell from the observer.
    """

    xx_m2: NDArray[np.float64]
    xy_m2: NDArray[np.float64]
    yy_m2: NDArray[np.float64]
    description: str = "regular grid"
    frame: NDArray[np.float64] | None = None

    @classmethod
    def from_cell_size(cls, cell_size_m: float | tuple[float, float], n_rows: int) -> GridMetric:
        """Build the metric of a regular grid of ``n_rows`` rows.

        Parameters
        ----------
        cell_size_m
            Cell width and height on the ground (m): one number for square cells, or
            ``(width_m, height_m)``.
        n_rows
            Number of rows of the DEM (window).

        Returns
        -------
        GridMetric
            The same coefficients in every row.

        Examples
        --------
        >>> GridMetric.from_cell_size((30.0, 20.0), 2).yy_m2.tolist()
        [400.0, 400.0]
        """
        if isinstance(cell_size_m, tuple | list):
            if len(cell_size_m) != 2:
                raise ValidationError(
                    f"cell_size_m: expected one number or (width_m, height_m), got {cell_size_m!r}"
                )
            width, height = (float(v) for v in cell_size_m)
        else:
            width = height = float(cell_size_m)
        for name, value in (("width", width), ("height", height)):
            if not (math.isfinite(value) and value > 0):
                raise ValidationError(
                    f"cell_size_m: cell {name} must be a finite number > 0 (m), got {value!r}"
                )
        return cls(
            xx_m2=np.full(n_rows, width * width),
            xy_m2=np.zeros(n_rows),
            yy_m2=np.full(n_rows, height * height),
            description=f"regular grid, cells {width:g} m x {height:g} m",
            # North-up: a column step goes east, a row step goes south.
            frame=np.tile([width, 0.0, 0.0, -height], (n_rows, 1)),
        )

    def take_rows(self, rows: slice) -> GridMetric:
        """Return the metric of a window of the grid: the coefficients of rows ``rows``.

        Examples
        --------
        >>> GridMetric.from_cell_size(30.0, 10).take_rows(slice(2, 5)).xx_m2.shape
        (3,)
        """
        return GridMetric(
            xx_m2=self.xx_m2[rows].copy(),
            xy_m2=self.xy_m2[rows].copy(),
            yy_m2=self.yy_m2[rows].copy(),
            description=self.description,
            frame=None if self.frame is None else self.frame[rows].copy(),
        )


def as_metric(cell_size_m: float | tuple[float, float] | GridMetric, n_rows: int) -> GridMetric:
    """The metric of a grid of ``n_rows`` rows, from a :class:`GridMetric` or a cell size (m).

    Examples
    --------
    >>> as_metric(30.0, 3).xx_m2.tolist()
    [900.0, 900.0, 900.0]
    """
    if isinstance(cell_size_m, GridMetric):
        metric = cell_size_m
        for name in ("xx_m2", "xy_m2", "yy_m2"):
            value = getattr(metric, name)
            if value.shape != (n_rows,):
                raise ValidationError(
                    f"cell_size_m.{name}: expected one value per DEM row ({n_rows}), "
                    f"got shape {value.shape}"
                )
        return metric
    return GridMetric.from_cell_size(cell_size_m, n_rows)


def check_number(
    name: str, value: float, *, minimum: float | None = None, strict: bool = False
) -> float:
    """``value`` as a float, refused unless finite and ``>= minimum`` (``> minimum`` if ``strict``).

    Examples
    --------
    >>> check_number("range_m", 0.0, minimum=0.0, strict=True)
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: range_m: expected a number > 0, got 0
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValidationError(f"{name}: expected a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        sign = ">" if strict else ">="
        raise ValidationError(f"{name}: expected a number {sign} {minimum:g}, got {value:g}")
    return value


def range_window(
    row: int,
    col: int,
    *,
    shape: tuple[int, int],
    max_distance_m: float,
    metric: GridMetric | float | tuple[float, float],
) -> tuple[slice, slice]:
    """Return the rows and columns of a grid within range of an observer cell.

    The extent rule is ``gdal_viewshed``'s: from ``floor(n - h)`` to ``ceil(n + h)``
    inclusive, ``h`` the range in cells, clipped to the grid.

    Parameters
    ----------
    row, col
        The observer's cell.
    shape
        ``(rows, cols)`` of the grid.
    max_distance_m
        Range (m, > 0).
    metric
        Ground metric of the grid (one row per grid row), or its cell size (m) as in
        :func:`viewshed`.

    Returns
    -------
    tuple of slice
        Rows and columns to cut from the grid; the observer is at
        ``(row - rows.start, col - cols.start)`` in the cut.

    Examples
    --------
    >>> range_window(500, 3, shape=(1000, 1000), max_distance_m=300.0, metric=30.0)
    (slice(490, 511, None), slice(0, 14, None))
    """
    n_rows, n_cols = shape
    m = as_metric(metric, n_rows)
    radius = check_number("max_distance_m", max_distance_m, minimum=0.0, strict=True)
    det = m.xx_m2 * m.yy_m2 - m.xy_m2**2
    if not np.all(det > 0):
        raise ValidationError("metric: the column and row steps must not be parallel")
    # Half-extents (cells) of the ellipse d <= radius: first rows, at the observer's row...
    h_rows = radius * math.sqrt(m.xx_m2[row] / det[row])
    r0 = max(0, math.floor(row - h_rows))
    r1 = min(n_rows, math.ceil(row + h_rows) + 1)
    # ...then columns, the widest over those rows (geographic cells narrow poleward).
    h_cols = radius * float(np.sqrt(m.yy_m2[r0:r1] / det[r0:r1]).max())
    c0 = max(0, math.floor(col - h_cols))
    c1 = min(n_cols, math.ceil(col + h_cols) + 1)
    return slice(r0, r1), slice(c0, c1)


__all__ = ["GridMetric", "as_metric", "check_number", "range_window"]
