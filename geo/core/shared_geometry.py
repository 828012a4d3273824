"""GEOS predicates on geometries that several threads may hold at once.

The app caches one analysis for every session (``st.cache_resource``), so its polygons are
shared between the server's threads. shapely prepares a polygon in place on first use
(``contains_xy`` prepares its first argument) and GEOS builds a prepared polygon's indexes
lazily on the first tests; neither is thread-safe (libgeos/geos#825). Eight threads testing
points against one 20,000-vertex polygon at once corrupted the heap within a second
(``tests/test_shared_geometry.py``). Tests against a geometry that may be shared go through
:func:`contains_xy`, or run inside :func:`one_at_a_time`: one lock per process, held only while
GEOS works (a few milliseconds for the point counts of a page).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

__all__ = ["contains_xy", "one_at_a_time"]

_LOCK = threading.RLock()


@contextlib.contextmanager
def one_at_a_time() -> Iterator[None]:
    """Hold the process's GEOS lock: for a shared geometry's prepare, predicates, tree queries.

    Examples
    --------
    >>> with one_at_a_time():
    ...     bool(shapely.intersects(shapely.box(0, 0, 1, 1), shapely.Point(0.5, 0.5)))
    True
    """
    with _LOCK:
        yield


def contains_xy(geom: shapely.Geometry, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
    """:func:`shapely.contains_xy` on a geometry other threads may use at the same time.

    Examples
    --------
    >>> contains_xy(shapely.box(0, 0, 2, 2), [1, 3], [1, 1]).tolist()
    [True, False]
    """
    with _LOCK:
        return np.asarray(shapely.contains_xy(geom, x, y), dtype=bool)
