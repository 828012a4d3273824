"""What the Map page shows of a window, counted by the store: no stored row held in memory.

``window`` puts together the analysis of an operation (its coverage and gaps, computed
without the stored detections), the store's counts of a time window
(:func:`geo.store.window_batches` classified page by page,
:func:`geo.coverage.streamed.count_batches`), the points to draw (:func:`geo.store.map_points`,
up to a limit) and the time bounds (:func:`geo.store.time_summary`); :func:`window_moments`
hands the positions and times of every row of a window over page by page (the playback
step's figures); ``detections`` gives every detection of a window page by page, classified
(:func:`window_detections`), for the files of it.
"""

from geo.mapview.detections import window_detections
from geo.mapview.window import (
    MapBase,
    MapWindow,
    WindowMoments,
    map_base,
    map_times,
    map_window,
    pick_box,
    rows_near,
    window_moments,
)

__all__ = [
    "MapBase",
    "MapWindow",
    "WindowMoments",
    "map_base",
    "map_times",
    "map_window",
    "pick_box",
    "rows_near",
    "window_detections",
    "window_moments",
]
