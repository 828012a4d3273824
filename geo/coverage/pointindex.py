"""Fast exact point-in-polygon for millions of points against a few polygons.

GEOS answers ``contains_xy`` in about half a microsecond a point near complex outlines; a
million detections against the corridor and a dozen sectors would take seconds.
:func:`membership` indexes the polygons once (:class:`geo.coverage.polygon_index.PolygonIndex`:
a grid per polygon, the inside of every cell's centre, the edges through every cell) and
answers each point from its cell, exactly, in numba on every core. A few points go to GEOS
directly (building the index would cost more).
The answer is the same as ``shapely.contains_xy`` (points exactly on an edge, or closer to it
than rounding resolves, may fall either way, as there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

#: Below this many points GEOS alone is faster than building the index.
_MIN_POINTS: Final[int] = 20_000


def membership(
    polygons: Sequence[shapely.Geometry | None], x: ArrayLike, y: ArrayLike
) -> NDArray[np.bool_]:
    """Which polygons contain each point.

    Parameters
    ----------
    polygons
        Polygons or MultiPolygons in the points' CRS (``None`` or empty: contains nothing).
        With few points they are prepared in place, which does not change them.
    x, y
        Point coordinates.

    Returns
    -------
    ndarray of bool, shape (n_points, n_polygons)

    Examples
    --------
    >>> boxes = [shapely.box(0, 0, 2, 2), shapely.box(1, 0, 3, 2)]
    >>> membership(boxes, [0.5, 1.5, 5], [1, 1, 1]).tolist()
    [[True, False], [True, True], [False, False]]
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    polys = [p if p is not None and not shapely.is_empty(p) else None for p in polygons]
    out = np.zeros((x.size, len(polys)), dtype=bool)
    live = [j for j, p in enumerate(polys) if p is not None]
    if not live or x.size == 0:
        return out
    if x.size < _MIN_POINTS:
        for j in live:
            shapely.prepare(polys[j])
            out[:, j] = shapely.contains_xy(polys[j], x, y)
        return out
    # Imported here: numba loads only when many points are asked about.
    from geo.coverage.polygon_index import PolygonIndex

    index = PolygonIndex.from_polygons(np.asarray([polys[j] for j in live], dtype=object))
    out[:, live] = index.contains(x, y)
    return out
