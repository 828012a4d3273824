"""The timeline's ``detections`` section for a GeoParquet dataset, out of core on Dask.

:func:`dataset_detections` classifies each partition at its detections' own times
(:func:`geo.timeline.detections.watched_at_time`, on the worker) and adds up the counts:
the section equals the one :func:`geo.timeline.timeline` gives with the detections in memory.
The footprints, the sensors' watch windows and the prepared tracks are built once and sent
to every worker once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.core.projection import AnalysisCRS
from geo.coverage import intervals as iv
from geo.coverage.flat import sensor_footprints
from geo.coverage.footprints import FootprintParams
from geo.dataset import PAGE_ROWS, iter_points, map_partitions
from geo.timeline.analysis import Timeline
from geo.timeline.detections import watched_at_time
from geo.timeline.tracks import PreparedTracks
from geo.timeline.windows import Window, sensor_windows

__all__ = ["TimelineClassifier", "count_partition", "dataset_detections"]

_KEYS = ("total", "watched_at_time", "unwatched_at_time", "outside_window")


@dataclass(frozen=True, eq=False)
class TimelineClassifier:
    """What a worker needs to classify detections at their time (built once, sent once)."""

    acrs: AnalysisCRS
    window: Window
    footprints: FootprintParams
    windows: list[iv.Intervals]
    tracks: PreparedTracks | None

    @classmethod
    def from_timeline(cls, result: Timeline) -> TimelineClassifier:
        """From a :class:`~geo.timeline.Timeline` computed without the detections."""
        scene = result.scene
        return cls(
            acrs=scene.acrs,
            window=result.window,
            footprints=sensor_footprints(scene.sensors, scene.acrs),
            windows=sensor_windows(scene.sensors, result.window),
            tracks=result.tracks,
        )


def count_partition(
    path: Path, clf: TimelineClassifier, *, rows: int = PAGE_ROWS
) -> dict[str, int]:
    """The ``detections`` counts of one partition file (run on a worker).

    Read and counted ``rows`` at a time (:func:`geo.dataset.iter_points`): memory follows the
    page, not the partition.
    """
    counts: Counter[str] = Counter()
    for pts in iter_points(path, rows=rows):
        det = gpd.GeoDataFrame(
            {"time": pd.to_datetime(pts.time_us, unit="us", utc=True)},
            geometry=gpd.points_from_xy(pts.lon, pts.lat),
            crs=4326,
        )
        counts.update(
            watched_at_time(
                det,
                clf.acrs,
                clf.window,
                footprints=clf.footprints,
                windows=clf.windows,
                tracks=clf.tracks,
            )
        )
    return {k: int(v) for k, v in counts.items()}


def dataset_detections(
    result: Timeline, files: Sequence[Path], *, client: Any = None
) -> dict[str, int]:
    """The timeline's ``detections`` section for detections kept as partition files.

    Parameters
    ----------
    result
        The timeline computed without detections.
    files
        The partition files (:func:`geo.dataset.dataset_files`).
    client
        A :class:`distributed.Client`, or None: the partitions in this process.
    """
    parts = map_partitions(client, count_partition, files, TimelineClassifier.from_timeline(result))
    return {k: int(sum(p[k] for p in parts)) for k in _KEYS}
