"""A playback step's detections counted page by page: how many, and how many unwatched then.

:func:`geo.timeline.detections_watched` classifies detections held in memory. The Map page
holds at most :data:`geo.core.settings.MAX_MAP_POINTS` of a window; the rest are in the
store, read in pages (:func:`geo.mapview.window_moments`). :func:`step_counts` classifies
each page (the coverage classifier of the page's window counts,
:class:`geo.coverage.streamed.PointClassifier`, and the timeline), sums and drops it:
memory grows with a page, not with the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.coverage.detections import STATUS
from geo.coverage.streamed import PointClassifier
from geo.timeline.analysis import Timeline, detections_watched

__all__ = ["StepCounts", "step_counts"]

#: The status code of a point outside the corridor (:data:`geo.coverage.detections.STATUS`).
_OUTSIDE = list(STATUS).index("outside")


class TimedPositions(Protocol):
    """A page of detections: longitudes, latitudes (degrees), times (ns since 1970 UTC)."""

    @property
    def lon(self) -> NDArray[np.float64]: ...

    @property
    def lat(self) -> NDArray[np.float64]: ...

    @property
    def time_ns(self) -> NDArray[np.int64]: ...


class StepCounts(NamedTuple):
    """:func:`step_counts`: the detections in scope, and those of them unwatched then."""

    detections: int
    unwatched: int


def step_counts(
    tl: Timeline,
    pages: Iterable[TimedPositions],
    classifier: PointClassifier,
    *,
    partner: str | None = None,
) -> StepCounts:
    """The detections of ``pages`` in scope, and those in the corridor unwatched at their time.

    Parameters
    ----------
    tl
        The timeline the times are classified against (:func:`geo.timeline.timeline`).
    pages
        The detections, page by page (``lon``, ``lat`` in degrees, ``time_ns``).
    classifier
        The coverage classifier (corridor and sectors) of the view.
    partner
        ``None``: every detection counts (the joint view); else only those in one of the
        partner's sectors (its headline's scope).

    Returns
    -------
    StepCounts
        ``detections``: in scope; ``unwatched``: of them, those in the corridor that no
        sensor, drone or patrol watched at their own time (:func:`detections_watched`, the
        figures it gives over every row at once).
    """
    mine = None if partner is None else classifier.sector_partner == partner
    total = unwatched = 0
    for page in pages:
        lon = np.asarray(page.lon, dtype=float)
        lat = np.asarray(page.lat, dtype=float)
        if not len(lon):
            continue
        codes, in_sector = classifier.classify(lon, lat)
        scope = np.ones(len(lon), dtype=bool) if mine is None else in_sector[:, mine].any(axis=1)
        ask = np.flatnonzero(scope & (codes != _OUTSIDE))  # the others cannot count
        total += int(scope.sum())
        if not ask.size:
            continue
        points = gpd.GeoDataFrame(
            {"time": pd.to_datetime(np.asarray(page.time_ns, dtype=np.int64)[ask], utc=True)},
            geometry=gpd.points_from_xy(lon[ask], lat[ask]),
            crs="EPSG:4326",
        )
        unwatched += int((~detections_watched(tl, points)[1]).sum())
    return StepCounts(total, unwatched)
