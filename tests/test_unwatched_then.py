"""Issue 19: "Unwatched then" counts every detection of the playback step, not only those drawn.

The Map page draws at most :data:`geo.core.settings.MAX_MAP_POINTS` points of a window; the
playback step's figures (:func:`ui.timeline.step_figures`) must still count every detection
the viewer may see. The truth reads every row of the step (the scenario's own and every
stored one the viewers may see), classifies them with the in-memory analysis
(:func:`geo.coverage.analyse`) and the engine's timeline (:func:`geo.timeline.timeline`,
:func:`geo.timeline.detections_watched`): nothing of the page's code path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_map_store import CORRIDOR_KM, MIN_GAP_M, _ingest, _rows
from test_store import put

from geo import store
from geo.core import settings
from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.coverage.views import visible_rows
from geo.timeline import detections_watched, timeline
from ui import shared
from ui import timeline as tl_ui

DIR = str(SAMPLE_DIR)
ROOT = Path(__file__).resolve().parents[1]
#: The timeline's span (playback plays through it) and one step of it.
SPAN = (pd.Timestamp("2026-11-01T00:00:00Z"), pd.Timestamp("2026-11-02T00:00:00Z"))
STEP = (pd.Timestamp("2026-11-01T06:00:00Z"), pd.Timestamp("2026-11-01T18:00:00Z"))
LIMIT = 200
#: (viewers, partner view): the demo joint view, partners of different releasability, a
#: partner's own view and a joint view of two signed-in partners.
VIEWS: list[tuple[tuple[str, ...] | None, str | None]] = [
    (None, None),
    (("LTU",), None),
    (("POL",), None),
    (("LTU",), "LTU"),
    (("POL",), "POL"),
    (("LVA", "POL"), "LVA"),
]


@pytest.fixture(scope="module")
def engine_timeline(scenario: Any) -> Any:
    return timeline(
        scenario.border, sensors=scenario.sensors, tracks=scenario.tracks,
        sectors=scenario.sectors, time_from=SPAN[0].isoformat(), time_to=SPAN[1].isoformat(),
    )  # fmt: skip


@pytest.fixture
def page_store(any_store: Path | str, scenario: Any, monkeypatch: pytest.MonkeyPatch) -> Path | str:
    """The store the app reads, filled; the map's limit small; the app's caches cold."""
    _ingest(any_store, scenario)
    monkeypatch.setenv("LIMES_STORE", str(any_store))
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", LIMIT)
    for cached in (shared.map_base, shared.map_window, tl_ui._step_counts, tl_ui._watched_then):
        cached.clear()
    return any_store


def _truth(
    path: Path | str,
    sc: Any,
    tl: Any,
    viewers: tuple[str, ...] | None,
    partner: str | None,
    step: tuple[pd.Timestamp, pd.Timestamp] = STEP,
) -> tuple[int, int]:
    """Every row of the step the viewers may see, read at once and classified in memory."""
    own = sc.detections.assign(owner=sc.detections["partner"], upload_id=-1)
    if viewers is not None:
        own = own[visible_rows(own, viewers)]
    readers = store.owners(path) if viewers is None else list(viewers)
    stored = store.visible_detections(
        path, readers, operation="sample", time_from=step[0], time_to=step[1]
    )
    every = gpd.GeoDataFrame(pd.concat([own, stored], ignore_index=True), crs="EPSG:4326")
    every = every[(every["time"] >= step[0]) & (every["time"] <= step[1])]
    full = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=every, corridor_km=CORRIDOR_KM,
        min_gap_m=MIN_GAP_M,
    )  # fmt: skip
    det = full.layers["detections"]
    assert len(det) == len(every)
    if partner is None:
        scope = np.ones(len(det), dtype=bool)
    else:
        mine = {s["sector_id"] for s in full.report["sectors"] if s["partner"] == partner}
        scope = np.array([bool(mine & set(str(i).split(","))) for i in det["sector_ids"]])
    corridor = (det["coverage_status"] != "outside").to_numpy()
    watched = detections_watched(tl, det)[1]
    return int(scope.sum()), int((scope & corridor & ~watched).sum())


def _figures(
    viewers: tuple[str, ...] | None, partner: str | None, *, counted: bool
) -> tuple[Any, tuple[int | None, int | None]]:
    """The page's window of the step and its figures (``counted``: as the page passes them)."""
    version = shared.store_version()
    window = shared.map_window(
        DIR, CORRIDOR_KM, MIN_GAP_M, False, version, STEP[0], STEP[1], viewers
    )
    how = tl_ui.Counted(CORRIDOR_KM, MIN_GAP_M, version, viewers, window.total)
    span = (SPAN[0].isoformat(), SPAN[1].isoformat())
    got = tl_ui.step_figures(
        DIR, window.result, span, STEP, terrain=False, partner=partner,
        counted=how if counted else None,
    )  # fmt: skip
    return window, got


@pytest.mark.parametrize(("viewers", "partner"), VIEWS)
def test_unwatched_then_counts_every_detection_of_the_step(
    page_store: Path | str,
    scenario: Any,
    engine_timeline: Any,
    viewers: tuple[str, ...] | None,
    partner: str | None,
) -> None:
    n, unwatched = _truth(page_store, scenario, engine_timeline, viewers, partner)
    window, got = _figures(viewers, partner, counted=True)
    assert window.cut  # the map draws only some
    assert window.shown < window.total
    assert 0 < unwatched < n
    assert got == (n, unwatched)
    # the figures the layer alone gives (the page before issue 19) fall short
    _, drawn_only = _figures(viewers, partner, counted=False)
    assert drawn_only[0] is not None
    assert drawn_only[0] < n


def test_below_the_limit_the_figures_are_the_layers(
    page_store: Path | str, scenario: Any, engine_timeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", 10**6)
    for viewers, partner in VIEWS[:2] + VIEWS[3:4]:
        window, got = _figures(viewers, partner, counted=True)
        assert not window.cut
        _, layer_only = _figures(viewers, partner, counted=False)
        assert got == layer_only == _truth(page_store, scenario, engine_timeline, viewers, partner)


def test_the_cache_key_holds_the_viewers_and_the_store_version(
    page_store: Path | str, scenario: Any
) -> None:
    span = (SPAN[0].isoformat(), SPAN[1].isoformat())
    version = shared.store_version()
    ltu = tl_ui.Counted(CORRIDOR_KM, MIN_GAP_M, version, ("LTU",), 10**6)
    est = tl_ui.Counted(CORRIDOR_KM, MIN_GAP_M, version, ("EST",), 10**6)
    a = tl_ui._step_counts(DIR, ltu, False, span, STEP, None)
    b = tl_ui._step_counts(DIR, est, False, span, STEP, None)
    assert b[0] < a[0]  # EST sees only the rows marked ALL
    # an upload counts on the next rerun: the store's version changes the key
    extra = _rows(scenario, 50, 99)
    extra["time"] = STEP[0] + pd.Timedelta(minutes=30)
    put(page_store, extra, partner="EST")
    newer = tl_ui.Counted(CORRIDOR_KM, MIN_GAP_M, shared.store_version(), ("EST",), 10**6)
    assert newer != est
    c = tl_ui._step_counts(DIR, newer, False, span, STEP, None)
    assert c[0] == b[0] + 50


def test_the_map_page_plays_a_step_past_the_limit(
    page_store: Path | str, scenario: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page itself: the metrics row's "Unwatched then" over every row of the step."""
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", 20)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=400).run()
    at.sidebar.toggle(key="terrain").set_value(False).run()
    at.sidebar.number_input(key="corridor_km").set_value(CORRIDOR_KM).run()
    at.sidebar.number_input(key="min_gap_m").set_value(MIN_GAP_M).run()
    at.sidebar.button(key="play").click().run()
    assert not at.exception
    lo, hi = (pd.Timestamp(t, tz="UTC") for t in at.session_state["win_bounds"])
    step = tuple(pd.Timestamp(t, tz="UTC") for t in at.session_state["win"])
    tl = timeline(
        scenario.border, sensors=scenario.sensors, tracks=scenario.tracks,
        sectors=scenario.sectors, time_from=lo.isoformat(), time_to=hi.isoformat(),
    )  # fmt: skip
    n, unwatched = _truth(page_store, scenario, tl, None, None, step)
    assert n > 20  # the map draws fewer
    got = {x.label: x for x in at.metric}
    assert got["Unwatched then"].value == f"{unwatched:,}"
    assert got["Unwatched then"].proto.delta == f"of {n:,} detections"
