"""The Map page used as a commander uses it, in Debian's Chromium: hover, click, select, switch,
zoom, play.

Each test drives the real page (Streamlit server in a subprocess, Playwright for Python, the
deck drawn by deck.gl in software WebGL) and checks what the user then sees: the tooltip's
text, the details beside the map, the legend in the viewport, points after zooming in, the
time window moving while playing. Where a test needs to know where something is on the
screen, it projects the analysis' own coordinates with the deck's initial view (Web Mercator,
512-px tiles, as deck.gl does), the same analysis the page runs.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_util import Server, near, tail
from PIL import Image

from geo.coverage.analysis import analyse
from geo.coverage.views import gaps_in_view
from geo.inputs.scenario import load_scenario
from layers.map import build_map
from layers.style import DETECTION, GAP

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
CANVAS = '[data-testid="stDeckGlJsonChart"] canvas#deckgl-overlay'
VIEWPORT = {"width": 1600, "height": 1000}
PAGE_TIMEOUT_MS = 180_000
#: Mouse-wheel steps (100 px each) that zoom in on a gap: about 3 zoom levels.
ZOOM_WHEEL_STEPS = 5
#: From the canvas appearing to a steady frame: 12-25 s in software WebGL on 2 cores.
DRAW_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def sample() -> Any:
    """The analysis the page opens on (line of sight over the sample DEM) and its deck."""
    sc = load_scenario(ROOT / "sample_data")
    result = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    )
    return result, build_map(result, dem=sc.dem)


def _screen(page: Any, path: Path) -> np.ndarray:
    page.screenshot(path=path)
    return np.asarray(Image.open(path).convert("RGB"))


def _canvas_box(page: Any) -> dict[str, float]:
    box = page.locator(CANVAS).bounding_box()
    assert box is not None, "the map canvas has no layout box"
    return box


def _crop(img: np.ndarray, box: dict[str, float]) -> np.ndarray:
    top, left = round(box["y"]), round(box["x"])
    return img[
        top : min(round(box["y"] + box["height"]), img.shape[0]),
        left : round(box["x"] + box["width"]),
    ]


def open_map(page: Any, url: str, shot: Path) -> np.ndarray:
    """Open the page and wait for a steady, drawn map; return the screenshot."""
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    page.get_by_test_id("stMetric").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    page.locator(CANVAS).wait_for(timeout=PAGE_TIMEOUT_MS)
    return wait_steady(page, shot)


def wait_steady(page: Any, shot: Path, *, timeout_s: float = DRAW_TIMEOUT_S) -> np.ndarray:
    """Screenshot until the map shows the gap colour and two shots in a row agree."""
    deadline = time.monotonic() + timeout_s
    previous = None
    while True:
        img = _screen(page, shot)
        crop = _crop(img, _canvas_box(page))
        if (
            previous is not None and np.array_equal(crop, previous) and near(crop, GAP, tol=24) > 50
        ) or time.monotonic() > deadline:
            return img
        previous = crop
        page.wait_for_timeout(700)


def project(deck: Any, box: dict[str, float], lon: float, lat: float) -> tuple[float, float]:
    """Page pixel of a lon/lat in the deck's initial view (deck.gl's Web Mercator, 512-px world)."""
    v = deck.initial_view_state
    scale = 512 * 2**v.zoom

    def merc(phi: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(phi) / 2))

    x = box["x"] + box["width"] / 2 + (lon - v.longitude) / 360 * scale
    y = box["y"] + box["height"] / 2 + (merc(v.latitude) - merc(lat)) / (2 * math.pi) * scale
    return x, y


def nearest_pixel(
    img: np.ndarray, colour: list[int], x: float, y: float, *, within: int = 25
) -> tuple[float, float]:
    """The pixel of ``colour`` nearest to (x, y) in the screenshot (page pixels)."""
    x0, y0 = int(x) - within, int(y) - within
    patch = img[max(y0, 0) : int(y) + within, max(x0, 0) : int(x) + within].astype(int)
    ys, xs = np.nonzero(np.abs(patch - np.asarray(colour[:3])).max(axis=-1) <= 10)
    assert len(xs), f"no pixel of {colour[:3]} within {within} px of ({x:.0f}, {y:.0f})"
    i = int(np.argmin((xs + max(x0, 0) - x) ** 2 + (ys + max(y0, 0) - y) ** 2))
    return float(xs[i] + max(x0, 0)), float(ys[i] + max(y0, 0))


def details(page: Any) -> Any:
    return page.locator(".st-key-details")


def test_hover_and_click_the_longest_gap_then_pick_a_row_of_the_gap_table(
    server: Server, browser: Any, sample: Any, tmp_path: Path
) -> None:
    result, deck = sample
    g1, g2 = gaps_in_view(result.report)[:2]
    page = browser.new_page(viewport=VIEWPORT)
    try:
        img = open_map(page, server.url, tmp_path / "map.png")
        box = _canvas_box(page)

        # The map and the legend beside it are whole in the window, without scrolling.
        assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], (
            f"the map {box} is cut off"
        )
        legend = page.locator(".limes-legend").bounding_box()
        assert legend is not None
        assert legend["x"] >= box["x"] + box["width"] - 1, "the legend is not beside the map"
        assert legend["y"] >= 0 and legend["y"] + legend["height"] <= VIEWPORT["height"], (
            f"the legend {legend} is not within the {VIEWPORT} viewport"
        )

        # Hover the longest gap: a short plain-text tooltip with its rank and length.
        x, y = nearest_pixel(img, GAP, *project(deck, box, *g1["midpoint"]))
        page.mouse.move(x - 30, y)
        page.mouse.move(x, y, steps=4)
        tip = page.locator(".deck-tooltip")
        tip.wait_for(state="visible", timeout=60_000)
        text = tip.inner_text()
        assert text.splitlines()[0] == "Gap G1", text
        assert f"length: {g1['length_km']:,.2f} km" in text
        assert "<" not in text and ">" not in text, f"markup shows in the tooltip: {text!r}"
        assert len(text.splitlines()) <= 6
        tip_box = tip.bounding_box()
        assert tip_box is not None and tip_box["width"] <= 280
        page.screenshot(path=tmp_path / "hover.png")

        # Click it: its details beside the map.
        page.wait_for_timeout(1000)
        page.mouse.click(x, y)
        details(page).get_by_text("Gap G1", exact=True).wait_for(timeout=60_000)
        body = details(page).inner_text()
        assert f"{g1['length_km']:,.2f} km blind" in body
        assert f"km {g1['start_km']:,.2f}–{g1['end_km']:,.2f}" in body
        assert "Nearest sensors:" in body
        page.screenshot(path=tmp_path / "clicked.png")

        # A row of the gap table selects that gap (the second row is G2) and centres the map on it.
        grid = page.get_by_test_id("stDataFrame").filter(has=page.get_by_text("mid_lon")).last
        grid.scroll_into_view_if_needed()
        gbox = grid.bounding_box()
        assert gbox is not None
        page.mouse.click(gbox["x"] + 12, gbox["y"] + 35 + 35 * 1.5)  # row marker of the second row
        details(page).get_by_text("Gap G2", exact=True).wait_for(timeout=60_000)
        assert f"{g2['length_km']:,.2f} km blind" in details(page).inner_text()
        page.locator(CANVAS).scroll_into_view_if_needed()
        img = wait_steady(page, tmp_path / "centred.png")
        box = _canvas_box(page)
        centre = _crop(img, box)[
            int(box["height"] / 2) - 40 : int(box["height"] / 2) + 40,
            int(box["width"] / 2) - 40 : int(box["width"] / 2) + 40,
        ]
        assert near(centre, GAP, tol=12) > 20, (
            "the map is not centred on the gap picked in the table"
        )
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()
    assert "Traceback" not in server.log.read_text(errors="replace"), tail(server.log)


def test_partner_switch_zoom_in_and_play(
    server: Server, browser: Any, sample: Any, tmp_path: Path
) -> None:
    result, deck = sample
    page = browser.new_page(viewport=VIEWPORT)
    try:
        open_map(page, server.url, tmp_path / "map.png")

        # Switch to POL's view: its own numbers, its gaps, others muted in the legend.
        page.get_by_test_id("stSelectbox").filter(has_text="Partner view").locator("input").click()
        page.get_by_role("option", name=re.compile(r"^POL")).click()
        page.get_by_text("POL view: its sectors and sensors lead").wait_for(timeout=PAGE_TIMEOUT_MS)
        pol = result.report["partners"]["POL"]
        coverage = page.get_by_test_id("stMetric").filter(has_text="Coverage").inner_text()
        assert f"{pol['sector_coverage_pct']:.1f} %" in coverage
        assert page.get_by_test_id("stMetric").filter(has_text="Unassigned (joint)").count() == 1
        page.locator(".limes-legend").filter(has_text="(muted)").wait_for(timeout=PAGE_TIMEOUT_MS)
        legend = page.locator(".limes-legend").inner_text()
        assert "LTU — State Border Guard Service of Lithuania (VSAT) (muted)" in legend
        assert "POL — Polish Border Guard support contingent\n" in legend  # POL leads
        img = wait_steady(page, tmp_path / "pol.png")

        # Zoom in on POL's longest gap: the detections there become separate dots.
        g1 = gaps_in_view(result.report, "POL")[0]
        box = _canvas_box(page)
        x, y = project(deck, box, *g1["midpoint"])
        colour = DETECTION["gap"]
        before = _dots(_crop(img, box), colour)
        page.mouse.move(x, y)
        for _ in range(ZOOM_WHEEL_STEPS):
            page.mouse.wheel(0, -100)
            page.wait_for_timeout(250)
        img = wait_steady(page, tmp_path / "zoomed.png")
        after = _dots(_crop(img, _canvas_box(page)), colour)
        assert after >= 30 and after > 3 * max(before, 1), (
            f"zoomed in, the map shows {after} dots of detections in gaps (before: {before}); "
            f"screenshot {tmp_path / 'zoomed.png'}"
        )

        # Play: the window moves one hour a second; three steps seen, then pause.
        page.get_by_role("button", name="▶ Play").click()
        seen: list[str] = []
        deadline = time.monotonic() + 120
        pattern = re.compile(
            r"window (\d{4}-\d\d-\d\d \d\d:\d\d)–(\d{4}-\d\d-\d\d \d\d:\d\d) UTC · ▶ playing"
        )
        while len(seen) < 4 and time.monotonic() < deadline:
            caption = page.get_by_text(pattern).first
            try:
                m = pattern.search(caption.inner_text(timeout=5_000))
            except sync_api.TimeoutError:
                continue
            if m and (not seen or seen[-1] != m.group(1)):
                seen.append(m.group(1))
            page.wait_for_timeout(200)
        assert len(seen) >= 4, f"the window did not advance three steps while playing: {seen}"
        # Each step is one hour; a slow screen may show two steps as one jump.
        hours = np.diff([np.datetime64(s.replace(" ", "T")) for s in seen]) / np.timedelta64(1, "h")
        assert all(h >= 1 and h == int(h) for h in hours), (
            f"the window did not move by whole hours: {seen}"
        )
        # While playing, the app reruns every second and the button is redrawn each time:
        # it is never "stable" for Playwright's wait; a user just clicks it.
        page.get_by_role("button", name="⏸ Pause").click(force=True)
        page.get_by_role("button", name="▶ Play").wait_for(timeout=60_000)
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()
    assert "Traceback" not in server.log.read_text(errors="replace"), tail(server.log)


def _dots(crop: np.ndarray, colour: list[int]) -> int:
    """Separate dots (4-connected blobs of 2-200 px) of a colour in an image."""
    mask = np.abs(crop.astype(int) - np.asarray(colour[:3])).max(axis=-1) <= 30
    labels = np.zeros(mask.shape, dtype=np.int32)
    count, n = 0, 0
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if labels[y0, x0]:
            continue
        n += 1
        stack, size = [(y0, x0)], 0
        labels[y0, x0] = n
        while stack:
            y, x = stack.pop()
            size += 1
            for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                yy, xx = y + dy, x + dx
                if (
                    0 <= yy < mask.shape[0]
                    and 0 <= xx < mask.shape[1]
                    and mask[yy, xx]
                    and not labels[yy, xx]
                ):
                    labels[yy, xx] = n
                    stack.append((yy, xx))
        count += 2 <= size <= 200
    return count
