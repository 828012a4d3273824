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

import threading
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.core.shared_geometry import contains_xy, one_at_a_time

#: Below this many points GEOS alone is faster than building the index.
_MIN_POINTS: Final[int] = 20_000


class Membership:
    """Polygons ready to answer :func:`membership` for page after page of points.

    A few points go to GEOS (the polygons prepared once); many go to the polygon index, built
    on the first such call (or by :meth:`build_index`) and kept, also when pickled (a Dask
    worker gets it built).

    Examples
    --------
    >>> m = Membership([shapely.box(0, 0, 2, 2), None])
    >>> m.contains([0.5, 5], [1, 1]).tolist()
    [[True, False], [False, False]]
    """

    def __init__(self, polygons: Sequence[shapely.Geometry | None]) -> None:
        self.polygons = [p if p is not None and not shapely.is_empty(p) else None for p in polygons]
        self.live = [j for j, p in enumerate(self.polygons) if p is not None]
        with one_at_a_time():  # the same polygons may be in another Membership, in use
            for j in self.live:
                shapely.prepare(self.polygons[j])
        self._index: Any = None
        self._building = threading.Lock()

    def build_index(self) -> Membership:
        """Build the polygon index now (before sending it elsewhere); returns self."""
        with self._building:  # one build when two sessions ask at once
            if self._index is None and self.live:
                # Imported here: numba loads only when many points are asked about.
                from geo.coverage.polygon_index import PolygonIndex

                live = np.asarray([self.polygons[j] for j in self.live], dtype=object)
                self._index = PolygonIndex.from_polygons(live)
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_building"]  # a lock does not pickle (a Dask worker gets its own)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._building = threading.Lock()

    def contains(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Which polygons contain each point: ``(n_points, n_polygons)`` booleans."""
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        out = np.zeros((x.size, len(self.polygons)), dtype=bool)
        if not self.live or x.size == 0:
            return out
        if x.size < _MIN_POINTS and self._index is None:
            for j in self.live:
                out[:, j] = contains_xy(self.polygons[j], x, y)
            return out
        out[:, self.live] = self.build_index()._index.contains(x, y)
        return out


def membership(
    polygons: Sequence[shapely.Geometry | None], x: ArrayLike, y: ArrayLike
) -> NDArray[np.bool_]:
    """Which polygons contain each point (:class:`Membership` for one call).

    Parameters
    ----------
    polygons
        Polygons or MultiPolygons in the points' CRS (``None`` or empty: contains nothing).
        They are prepared in place, which does not change them.
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
    return Membership(polygons).contains(x, y)
