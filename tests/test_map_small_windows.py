"""The Map page reads a small window's rows and counts a large one from the bins: same figures.

:func:`geo.mapview.map_window` picks the rows path below
:data:`geo.core.settings.MAP_BINS_FROM_ROWS` rows in the window (by the store's hourly
summary, :func:`geo.store.window_size`) and the bins above. The truth for both sides is the
page's analysis of every row (:func:`geo.coverage.analyse` with the scenario's detections
and every stored one, cut to the window: :mod:`test_map_page_store`); the window's size is
checked against the rows counted in numpy. Both back-ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_map_page_store import _figures, _truth, _window_truth
from test_map_store import CORRIDOR_KM, MIN_GAP_M, _ingest

from geo import store
from geo.core import settings
from geo.mapview import map_base, map_window
from geo.mapview import window as mapview_window
from layers.map import MAP_HEXAGON_M, detection_hexagons

SMALL = (pd.Timestamp("2026-11-01T06:00:00Z"), pd.Timestamp("2026-11-01T18:30:00Z"))
LARGE = (None, None)


def _rows_in(path: Path | str, viewers: list[str], window: tuple[Any, Any]) -> int:
    """The stored rows ``viewers`` may see in the window, counted in pandas."""
    every = store.visible_detections(path, viewers, operation="sample")
    times = pd.to_datetime(every["time"], utc=True)
    keep = pd.Series(True, index=every.index)
    if window[0] is not None:
        keep &= times >= window[0]
    if window[1] is not None:
        keep &= times <= window[1]
    return int(keep.sum())


def test_both_sides_of_the_threshold_give_the_analysis_of_every_row(
    any_store: Path | str, scenario: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(any_store, scenario)
    owners = store.owners(any_store)
    sizes = {}
    for window in (SMALL, LARGE):
        size = store.window_size(any_store, owners, operation="sample", time_from=window[0],
                                 time_to=window[1])  # fmt: skip
        exact = _rows_in(any_store, owners, window)
        assert size is not None
        assert exact <= size <= exact + 200  # whole hours at the window's ends, no more
        sizes[window] = size
    assert sizes[SMALL] < sizes[LARGE]
    monkeypatch.setattr(settings, "MAP_BINS_FROM_ROWS", (sizes[SMALL] + sizes[LARGE]) // 2)
    asked: list[Any] = []
    binned = mapview_window.store.window_cells
    monkeypatch.setattr(
        mapview_window.store, "window_cells", lambda *a, **k: asked.append(k) or binned(*a, **k)
    )
    full = _truth(any_store, scenario)
    base = map_base(
        scenario.border, scenario.sensors, any_store, operation="sample", sectors=scenario.sectors,
        detections=scenario.detections, corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
    )  # fmt: skip
    for window, bins in ((SMALL, False), (LARGE, True)):
        asked.clear()
        got = map_window(
            base, time_from=window[0], time_to=window[1], viewers=None, hex_size_m=MAP_HEXAGON_M
        )
        assert bool(asked) is bins, window  # the side of the threshold the window is on
        truth = _window_truth(full, None, *window)
        assert _figures(got.result.report) == _figures(truth.report), window
        want_hex = detection_hexagons(truth)
        assert got.hexagons["count"].tolist() == want_hex["count"].tolist(), window
        assert got.hexagons["flagged"].tolist() == want_hex["flagged"].tolist(), window
