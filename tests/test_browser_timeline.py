"""Coverage over time on the Map page, in Debian's Chromium (issue 18): exposure, playback, τ.

The test does what a commander does: switches on the *Exposed longer than τ* layer and
hovers an exposed stretch (its tooltip: km and longest unwatched minutes), presses Play and
watches the moment move (its time, "Watched now" and the sensors on in the metrics row),
pauses (the map's top still in a 1280x1000 window; which sensors are off on their
schedules), then changes τ in the sidebar. Every figure read is compared with the timeline
engine (``geo.timeline``) run here on the same operation and window, with the sample's DEM
as the page's "Line of sight over terrain" (on by default).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from browser_util import Server, page_xy, tail
from PIL import Image
from test_browser_map import (
    GAP,
    details,
    nearest_pixel,
    open_map,
    project,
    sample,  # noqa: F401  (a fixture)
    wait_steady,
)

from geo.coverage.analysis import analyse
from geo.coverage.views import gaps_in_view, time_bounds
from geo.inputs.scenario import load_scenario
from geo.timeline import exposed_layer, moment, timeline
from layers.map import build_map
from layers.timeline import EXPOSED_RGB

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
CANVAS = '[data-testid="stDeckGlJsonChart"] canvas#deckgl-overlay'
VIEWPORT = {"width": 1600, "height": 1000}
PAGE_TIMEOUT_MS = 180_000
SHOTS = Path("/tmp/shots-tlmap")
#: A camera of the sample on the schedule 06:00-20:00 UTC.
SCHEDULED = "LTU-CAM-001"


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    """The sample's timeline over the window the page opens on, and the map's initial view."""
    sc = load_scenario(ROOT / "sample_data")
    lo, hi = time_bounds(sc.detections["time"]).span(wide=False)
    tl = timeline(
        sc.border,
        sensors=sc.sensors,
        tracks=sc.tracks,
        sectors=sc.sectors,
        time_from=lo,
        time_to=hi,
        dem=sc.dem,  # "Line of sight over terrain" is on by default
    )
    view = build_map(analyse(sc.border, sc.sensors, sectors=sc.sectors)).initial_view_state
    return {"tl": tl, "view": view, "lo": lo, "hi": hi}


def _idle(page: Any) -> None:
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)


def _shot(page: Any, tmp_path: Path, name: str) -> np.ndarray:
    path = tmp_path / name
    page.screenshot(path=path)
    if SHOTS.is_dir():
        shutil.copy(path, SHOTS / name)
    return np.asarray(Image.open(path).convert("RGB"))


def _amber_near(img: np.ndarray, x: float, y: float, within: int = 14) -> tuple[float, float]:
    """The pixel nearest (x, y) that shows the exposure's amber (blended over the border)."""
    x0, y0 = max(int(x) - within, 0), max(int(y) - within, 0)
    patch = img[y0 : int(y) + within, x0 : int(x) + within].astype(int)
    r, g, b = patch[..., 0], patch[..., 1], patch[..., 2]
    amber = (r > 190) & (g > 100) & (g < 200) & (b < 100) & (r - g > 40)
    ys, xs = np.nonzero(amber)
    assert len(xs), f"no amber (exposure, {EXPOSED_RGB}) within {within} px of ({x:.0f}, {y:.0f})"
    i = int(np.argmin((xs + x0 - x) ** 2 + (ys + y0 - y) ** 2))
    return float(xs[i] + x0), float(ys[i] + y0)


def _tooltip(page: Any, x: float, y: float, text: str) -> str | None:
    tip = page.locator(".deck-tooltip").filter(has_text=text)
    for _ in range(2):  # software WebGL may miss a first move: move in again
        page.mouse.move(x - 30, y - 10)
        page.mouse.move(x, y, steps=5)
        try:
            tip.wait_for(timeout=15_000)
            return str(tip.inner_text())
        except sync_api.TimeoutError:
            continue
    return None


def _moment(page: Any) -> tuple[pd.Timestamp, float, int, str]:
    """The moment the page shows (UTC), its "Watched now" %, the sensors on, its whole text.

    Read in one go (the moment's line and its metrics row): a rerun between two reads would
    mix two moments. While a rerun draws the block, its line may be the new moment's and its
    metrics still the last one's, which Streamlit marks stale (``data-stale``): read again.
    """
    got = page.evaluate(
        """() => {
            const el = document.querySelector('.st-key-moment');
            return el && {text: el.innerText,
                          stale: el.querySelector('[data-stale="true"]') !== null};
        }"""
    )
    assert got, "no moment on the page"
    assert not got["stale"], "the moment is being drawn"
    text = str(got["text"])
    m = re.search(
        r"Moment (\d{4}-\d\d-\d\d \d\d:\d\d) (\S+) \((?:playing|paused)\).*"
        r"Watched now\s+([\d.]+) %\s+(\d+)/\d+ on",
        text,
        flags=re.S,
    )
    assert m, f"no moment in {text!r}"
    when = pd.Timestamp(m.group(1)).tz_localize(m.group(2)).tz_convert("UTC")
    return when, float(m.group(3)), int(m.group(4)), text


def _metric(page: Any, label: str) -> str:
    """The value of the metric labelled exactly ``label``."""
    labels = page.get_by_test_id("stMetricLabel").filter(
        has_text=re.compile(f"^{re.escape(label)}$")
    )
    metric = page.get_by_test_id("stMetric").filter(has=labels)
    return str(metric.get_by_test_id("stMetricValue").inner_text())


def _exposed_metric(page: Any, tau: float) -> str:
    return _metric(page, f"Exposed > {tau:g} min")


def test_exposure_playback_and_tau_on_the_map_page(
    server: Server, browser: Any, truth: dict[str, Any], tmp_path: Path
) -> None:
    tl = truth["tl"]
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(server.url, timeout=PAGE_TIMEOUT_MS)
        page.locator(CANVAS).wait_for(timeout=PAGE_TIMEOUT_MS)
        _idle(page)

        # 1. Switch on the exposure layer, hover the longest exposed stretch: its tooltip.
        page.locator(".st-key-layer_exposure label").click()
        _idle(page)
        page.wait_for_timeout(4000)  # software WebGL draws the new layer
        img = _shot(page, tmp_path, "exposure.png")
        box = page.locator(CANVAS).bounding_box()
        runs = exposed_layer(tl, 30.0)
        runs = runs.assign(length=runs["end_km"] - runs["start_km"]).sort_values(
            "length", ascending=False
        )
        tip = None
        for _, run in runs.head(3).iterrows():
            for frac in (0.5, 0.35, 0.65):
                p = shapely.line_interpolate_point(run.geometry, frac, normalized=True)
                x, y = _amber_near(img, *page_xy(truth["view"], box, p.x, p.y))
                tip = _tooltip(page, x, y, "Exposed longer than 30 min")
                if tip is not None:
                    break
            if tip is not None:
                break
        assert tip is not None, "no exposure tooltip on the longest exposed stretches"
        _shot(page, tmp_path, "exposure_tooltip.png")
        lines = tip.splitlines()
        seg = int(lines[1].removeprefix("segment: "))
        km = re.search(r"km: ([\d,.]+)–([\d,.]+)", tip)
        assert km, tip
        row = runs[
            (runs["segment"] == seg)
            & ((runs["start_km"] - float(km.group(1).replace(",", ""))).abs() < 0.051)
        ]
        assert len(row) == 1, f"the tooltip {tip!r} names no exposed run of the engine"
        r = row.iloc[0]
        assert f"km: {r['start_km']:,.1f}–{r['end_km']:,.1f}" in tip
        assert f"stretch: {r['end_km'] - r['start_km']:,.1f} km" in tip
        assert f"longest unwatched: {r['max_unwatched_min']:,.0f} min" in tip

        # 2. Play: the moment moves; "watched now" and the sensors off are the engine's.
        coverage = _metric(page, "Coverage")  # the window's, before playback
        page.mouse.move(5, 5)
        page.get_by_role("button", name="▶ Play").click()
        page.locator(".st-key-moment").wait_for(timeout=PAGE_TIMEOUT_MS)
        seen: dict[pd.Timestamp, tuple[float, bool]] = {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                when, pct, n_on, text = _moment(page)
            except (AssertionError, sync_api.Error):
                page.wait_for_timeout(300)  # between two reruns
                continue
            if when not in seen:
                m = moment(tl, when)
                assert pct == pytest.approx(m.watched_pct, abs=0.051), (when, text)
                assert n_on == int(m.active.sum()), (when, text)
                seen[when] = (pct, bool(m.active[list(m.sensor_ids).index(SCHEDULED)]))
            states = {on for _, on in seen.values()}
            if len(seen) >= 3 and states == {True, False}:
                break
            page.wait_for_timeout(400)
        assert len(seen) >= 3, f"the moment did not move: {seen}"
        assert len({p for p, _ in seen.values()}) >= 2, f"watched now never changed: {seen}"
        assert {on for _, on in seen.values()} == {True, False}, (
            f"{SCHEDULED} (06:00-20:00 UTC) was never played both off and on: {seen}"
        )
        # While playing the button is redrawn every second: never "stable" for Playwright.
        page.get_by_role("button", name="⏸ Pause").click(force=True)
        page.get_by_role("button", name="▶ Play").wait_for(timeout=60_000)
        _idle(page)
        _paused_at_a_moment(page, tl, tmp_path, coverage)

        # 3. τ in the sidebar: the section's exposed km follow the engine.
        tau = page.locator(".st-key-tau_min input")
        tau.fill("60")
        tau.press("Enter")
        _idle(page)
        want = f"{sum(exposed_layer(tl, 60.0).eval('end_km - start_km')):,.1f} km"
        page.get_by_test_id("stMetric").filter(has_text="Exposed > 60 min").wait_for(
            timeout=PAGE_TIMEOUT_MS
        )
        assert _exposed_metric(page, 60.0) == want
        assert want == f"{timeline_exposed_km(tl, 60.0):,.1f} km"
        assert timeline_exposed_km(tl, 30.0) == pytest.approx(tl.report["border"]["exposed_km"])
        page.locator(".st-key-tau_min").scroll_into_view_if_needed()
        _shot(page, tmp_path, "tau60.png")
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()
    assert "Traceback" not in server.log.read_text(errors="replace"), tail(server.log)


def _paused_at_a_moment(page: Any, tl: Any, tmp_path: Path, coverage: str) -> None:
    """Paused: the moment's figures, the sensors off (its popover), the map above the fold."""
    when, pct, n_on, text = _moment(page)
    assert "(paused)" in text
    m = moment(tl, when)
    assert pct == pytest.approx(m.watched_pct, abs=0.051), (when, text)
    assert n_on == int(m.active.sum())
    # the window's figures stay the analysis's, named as every sensor's (no schedules)
    assert _metric(page, "Coverage, all on") == coverage
    off = sorted(str(s) for s, a in zip(m.sensor_ids, m.active, strict=True) if not a)
    page.locator(".st-key-moment_off button").click()
    listed = page.get_by_text("Off at this moment on their schedule")
    listed.wait_for(timeout=30_000)
    names = listed.inner_text().split("or their status: ")[-1].split(", ")
    assert sorted(names) == off, (when, names)
    assert (SCHEDULED in names) != bool(m.active[list(m.sensor_ids).index(SCHEDULED)])
    page.keyboard.press("Escape")
    # In a 1280x1000 window the map's top shows without scrolling.
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.wait_for_timeout(3000)  # the page lays out again
    # scrolled to the top, as the page opens (Streamlit scrolls its main container)
    page.evaluate("document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; })")
    page.wait_for_timeout(500)
    box = page.locator(CANVAS).bounding_box()
    assert box is not None
    _shot(page, tmp_path, "paused_1280.png")
    assert box["y"] < 1000 - 200, f"the map starts at {box['y']:.0f} px: below the fold"
    page.set_viewport_size(VIEWPORT)
    page.wait_for_timeout(1500)
    page.locator(CANVAS).scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    _shot(page, tmp_path, "paused.png")


def timeline_exposed_km(tl: Any, tau: float) -> float:
    """The engine's ``border.exposed_km`` for ``tau``, from the pieces' longest gaps."""
    gaps = tl.figures.max_gap_s > 60.0 * tau
    return float(tl.pieces.length_m[gaps].sum()) / 1000.0


def test_with_the_tracks_on_a_click_still_picks_a_gap(
    server: Server,
    browser: Any,
    sample: Any,  # noqa: F811  (test_browser_map's fixture: the analysis the page opens on)
    tmp_path: Path,
) -> None:
    """The tracks' lines are drawn, and do not take the map's clicks: a gap is still picked."""
    result, deck = sample
    sc = load_scenario(ROOT / "sample_data")
    page = browser.new_page(viewport=VIEWPORT)
    try:
        before = open_map(page, server.url, tmp_path / "open.png")
        page.locator(".st-key-layer_tracks label").click()
        _idle(page)
        page.wait_for_timeout(3000)  # software WebGL draws the new layer
        img = wait_steady(page, tmp_path / "tracks.png")
        box = page.locator(CANVAS).bounding_box()
        assert box is not None

        # The tracks are drawn: the map changed around the fixes away from the border.
        fixes = sc.tracks.geometry.to_numpy()
        far = fixes[shapely.distance(fixes, sc.border.geometry.union_all()) > 0.005]
        changed = 0
        for p in far[:: max(len(far) // 40, 1)]:
            x, y = (int(v) for v in page_xy(deck.initial_view_state, box, p.x, p.y))
            a = before[y - 2 : y + 3, x - 2 : x + 3].astype(int)
            b = img[y - 2 : y + 3, x - 2 : x + 3].astype(int)
            changed += int(np.abs(a - b).max() > 30)
        assert changed >= 10, f"the tracks did not appear near their fixes ({changed})"

        # Click the longest gap: its details, as without the tracks.
        g1 = gaps_in_view(result.report)[0]
        x, y = nearest_pixel(img, GAP, *project(deck, box, *g1["midpoint"]))
        page.mouse.move(x - 30, y)
        page.mouse.move(x, y, steps=4)
        page.locator(".deck-tooltip").filter(has_text="Gap G1").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        page.mouse.click(x, y)
        details(page).get_by_text("Gap G1", exact=True).wait_for(timeout=60_000)
        assert f"{g1['length_km']:,.2f} km blind" in details(page).inner_text()
        _shot(page, tmp_path, "tracks_gap_clicked.png")
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()
