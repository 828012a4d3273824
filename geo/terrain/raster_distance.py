"""Distance on a grid: how far every cell is from the nearest cell of a mask.

An exact Euclidean distance transform (Felzenszwalb & Huttenlocher, "Distance Transforms of
Sampled Functions", Theory of Computing 8, 2012), separable: a pass down every column, then
the lower envelope of parabolas along every row. Linear in the number of cells. It is what
``scipy.ndimage.distance_transform_edt(~mask, sampling=...)`` computes; scipy is not a
dependency of Limes, so the two passes are compiled here with numba, as the viewshed is.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray


def distance_to_mask(
    mask: NDArray[np.bool_], *, cell_size_m: tuple[float, float]
) -> NDArray[np.float64]:
    """Distance from every cell centre to the nearest centre of a ``True`` cell.

    Parameters
    ----------
    mask
        2-D boolean grid; ``True`` cells are the features (distance 0).
    cell_size_m
        (width, height) of a cell (m), each > 0. Distances are Euclidean in these units.

    Returns
    -------
    ndarray
        float64, same shape as ``mask``: 0 on ``True`` cells, ``inf`` everywhere when the
        mask has no ``True`` cell.

    Raises
    ------
    ValueError
        If ``mask`` is not 2-D or a cell size is not a finite number > 0.

    Examples
    --------
    >>> m = np.zeros((3, 4), dtype=bool)
    >>> m[0, 0] = True
    >>> distance_to_mask(m, cell_size_m=(3.0, 4.0))[2, 1]  # hypot(1 * 3, 2 * 4)
    np.float64(8.54400374531753)
    """
    grid = np.asarray(mask, dtype=bool)
    if grid.ndim != 2:
        raise ValueError(f"mask: expected a 2-D grid, got {grid.ndim} dimension(s)")
    dx, dy = (float(s) for s in cell_size_m)
    if not (np.isfinite(dx) and np.isfinite(dy) and dx > 0 and dy > 0):
        raise ValueError(f"cell_size_m: expected two finite numbers > 0, got {cell_size_m!r}")
    return np.sqrt(_squared_edt(np.ascontiguousarray(grid), dx, dy))


@numba.njit(cache=True, nogil=True)
def _squared_edt(mask: NDArray[np.bool_], dx: float, dy: float) -> NDArray[np.float64]:
    rows, cols = mask.shape
    # Pass 1, down each column: squared distance to the nearest feature in the same column.
    col_d2 = np.full((rows, cols), np.inf)
    last = np.full(cols, -1, dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            if mask[r, c]:
                last[c] = r
            if last[c] >= 0:
                col_d2[r, c] = ((r - last[c]) * dy) ** 2
    last[:] = -1
    for r in range(rows - 1, -1, -1):
        for c in range(cols):
            if mask[r, c]:
                last[c] = r
            if last[c] >= 0:
                d2 = ((last[c] - r) * dy) ** 2
                if d2 < col_d2[r, c]:
                    col_d2[r, c] = d2
    # Pass 2, along each row: the lower envelope of the parabolas (x - x_q)^2 + f(q).
    out = np.empty((rows, cols))
    apex = np.empty(cols, dtype=np.int64)  # columns whose parabola is on the envelope
    start = np.empty(cols + 1)  # where each of them starts to be the lowest (m)
    for r in range(rows):
        f = col_d2[r]
        n = -1
        for q in range(cols):
            if not np.isfinite(f[q]):
                continue  # no feature in this column: no parabola
            fq = f[q] + (q * dx) ** 2
            s = -np.inf
            while n >= 0:
                p = apex[n]
                s = (fq - f[p] - (p * dx) ** 2) / (2.0 * dx * (q - p))
                if s > start[n]:
                    break
                n -= 1
            n += 1
            apex[n] = q
            start[n] = s if n > 0 else -np.inf
            start[n + 1] = np.inf
        if n < 0:
            out[r, :] = np.inf
            continue
        k = 0
        for q in range(cols):
            x = q * dx
            while start[k + 1] < x:
                k += 1
            out[r, q] = ((q - apex[k]) * dx) ** 2 + f[apex[k]]
    return out
