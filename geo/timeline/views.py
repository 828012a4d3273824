"""What a timeline looks like on a map: its pieces as lines, exposure, and one moment.

For the app and snapshots (``layers/`` builds pydeck layers from these frames): every frame
is in EPSG:4326 with one line per run of touching pieces that share what is shown.

- :func:`piece_layer`: every piece with its figures (watched %, longest unwatched, revisit);
- :func:`exposed_layer`: the border exposed for a crossing time (runs of pieces);
- :func:`watched_at` / :func:`watched_layer`: which border is watched at one moment
  (playback).
"""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.core.projection import to_lonlat
from geo.core.times import parse_utc
from geo.timeline.analysis import Timeline

__all__ = ["exposed_layer", "mask_layer", "piece_layer", "watched_at", "watched_layer"]

WGS84 = "EPSG:4326"


def _runs(tl: Timeline, keep: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """First and last piece of each run of touching kept pieces."""
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return idx, idx
    p = tl.pieces
    joined = (np.diff(idx) == 1) & (p.start[idx[1:]] == p.end[idx[:-1]])
    return idx[np.r_[True, ~joined]], idx[np.r_[~joined, True]]


def _lines(tl: Timeline, first: NDArray[np.int64], last: NDArray[np.int64]) -> list[object]:
    b = tl.scene.border
    projected = [
        b.slice(float(tl.pieces.start[a]), float(tl.pieces.end[z]))
        for a, z in zip(first, last, strict=True)
    ]
    return list(to_lonlat(np.asarray(projected, dtype=object), b.acrs)) if projected else []


def _frame(
    tl: Timeline, first: NDArray[np.int64], last: NDArray[np.int64], data: dict[str, object]
) -> gpd.GeoDataFrame:
    b = tl.scene.border
    seg, local = b.locate(tl.pieces.start[first]) if first.size else (first, np.empty(0))
    length = tl.pieces.end[last] - tl.pieces.start[first]
    cols = {
        "segment": seg.astype(np.int64),
        "start_km": np.round(local / 1000.0, 6),
        "end_km": np.round((local + length) / 1000.0, 6),
        **data,
    }
    return gpd.GeoDataFrame(
        pd.DataFrame(cols), geometry=gpd.GeoSeries(_lines(tl, first, last), crs=WGS84), crs=WGS84
    )


def piece_layer(tl: Timeline) -> gpd.GeoDataFrame:
    """Every elementary piece with its figures, as lines.

    Columns ``segment``, ``start_km``, ``end_km``, ``watched_pct``, ``max_unwatched_min``,
    ``mean_revisit_min``, ``geometry``.
    """
    n = len(tl.pieces)
    every = np.arange(n, dtype=np.int64)
    fig = tl.figures
    return _frame(
        tl,
        every,
        every,
        {
            "watched_pct": np.round(100.0 * fig.watched_s / tl.window.length_s, 4),
            "max_unwatched_min": np.round(fig.max_gap_s / 60.0, 3),
            "mean_revisit_min": np.round(fig.mean_gap_s / 60.0, 3),
        },
    )


def exposed_layer(tl: Timeline, crossing_time_min: float) -> gpd.GeoDataFrame:
    """The border whose longest unwatched interval is longer than ``crossing_time_min``.

    One line per run of exposed pieces, with its worst ``max_unwatched_min``.
    """
    fig = tl.figures
    first, last = _runs(tl, fig.max_gap_s > 60.0 * crossing_time_min)
    worst = np.array(
        [fig.max_gap_s[a : z + 1].max() / 60.0 for a, z in zip(first, last, strict=True)]
    )
    return _frame(tl, first, last, {"max_unwatched_min": np.round(worst, 3)})


def watched_at(tl: Timeline, when: str | datetime | pd.Timestamp) -> NDArray[np.bool_]:
    """Per piece, whether it is watched at the moment ``when`` (UTC without a zone).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from geo.timeline import timeline
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [200_000.0], "schedule": ["00:00-12:00"]},
    ...                      geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> tl = timeline(b, sensors=s, time_from="2026-05-01", time_to="2026-05-02")
    >>> watched_at(tl, "2026-05-01T06:00Z").all(), watched_at(tl, "2026-05-01T18:00Z").any()
    (np.True_, np.False_)
    """
    ts = parse_utc(when, "when")
    assert ts is not None
    t = tl.window.seconds(ts)
    w = tl.watched
    inside = (w.start <= t) & (w.end >= t)
    return np.bincount(w.piece[inside], minlength=len(tl.pieces)) > 0


def watched_layer(tl: Timeline, when: str | datetime | pd.Timestamp) -> gpd.GeoDataFrame:
    """The border watched at the moment ``when``, one line per run of watched pieces."""
    return mask_layer(tl, watched_at(tl, when))


def mask_layer(tl: Timeline, keep: NDArray[np.bool_]) -> gpd.GeoDataFrame:
    """The pieces where ``keep`` (one flag per piece) holds, one line per run of them."""
    first, last = _runs(tl, keep)
    return _frame(tl, first, last, {})
