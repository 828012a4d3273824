"""Map tooltips stay on screen, in Debian's Chromium: near an edge they open to the left/above.

deck.gl puts its tooltip with the top-left corner at the pointer; the map's frame clips
what crosses its edge. The test opens the Map page, hovers the sensor nearest the map's centre where the
deck's initial view draws it (the tooltip opens down-right of the pointer, as deck.gl puts
it), then drags the map so that this sensor sits a few pixels from the map's bottom-right
corner and hovers it again: the whole tooltip, with the sensor's text, must be inside the
map and the window, to the left of and above the pointer. On the Plan page (where the cut
tooltip was first seen) a suggested site dragged to the map's right edge shows its tooltip
to the left of the pointer, at the pointer's height.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser_util import Server, page_xy, tail

from geo.coverage.analysis import analyse
from geo.inputs.scenario import load_scenario
from geo.siting import SiteParams, plan_sites
from layers.map import assemble, build_map
from ui.plan import MAP_PX

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
CANVAS = '[data-testid="stDeckGlJsonChart"] canvas#deckgl-overlay'
VIEWPORT = {"width": 1600, "height": 1000}
PAGE_TIMEOUT_MS = 180_000
#: How far from the map's right and bottom edges the sensor is dragged (px).
EDGE_PX = 12


@pytest.fixture(scope="module")
def sensor() -> dict[str, Any]:
    """The sensor nearest the centre of the Map page's initial view, and that view."""
    sc = load_scenario(ROOT / "sample_data")
    result = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    )
    view = build_map(result, dem=sc.dem).initial_view_state
    lon, lat = sc.sensors.geometry.x, sc.sensors.geometry.y
    row = sc.sensors.loc[((lon - view.longitude) ** 2 + (lat - view.latitude) ** 2).idxmin()]
    return {"id": row["sensor_id"], "lon": row.geometry.x, "lat": row.geometry.y, "view": view}


@pytest.fixture(scope="module")
def site() -> dict[str, Any]:
    """Site 1 of LTU's plan (3 sites of 7 km, the sample operation's corridor) and the view."""
    sc = load_scenario(ROOT / "sample_data")
    params = SiteParams(count=3, range_m=7000.0, partner="LTU", corridor_km=5.0)
    plan = plan_sites(sc.border, sc.sensors, params, sectors=sc.sectors, min_gap_m=1.0)
    before = analyse(sc.border, sc.sensors, sectors=sc.sectors, corridor_km=5.0, min_gap_m=1.0)
    row = plan.sites.loc[plan.sites["rank"] == 1].iloc[0]
    view = assemble(before, {}, height=MAP_PX).initial_view_state
    return {"lon": row.geometry.x, "lat": row.geometry.y, "view": view}


def _drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag the map so that what was drawn at ``start`` is drawn at ``end``.

    deck.gl pans from where its pan gesture starts, 1 px of movement after the press: a first
    2-px step starts it, the rest of the drag moves the map by ``end - start``. The drag runs
    20 px above the points, off the dot: a drag, not a pick.
    """
    (x, y), (to_x, to_y) = start, end
    page.mouse.move(x - 2, y - 22)
    page.mouse.down()
    page.mouse.move(x, y - 20)
    page.mouse.move(to_x, to_y - 20, steps=12)
    page.mouse.up()
    page.wait_for_timeout(3000)


def _hover(page: Any, x: float, y: float, text: str) -> dict[str, float]:
    """Point at (x, y) until the tooltip shows ``text``; its box as the page lays it out."""
    tip = page.locator(".deck-tooltip").filter(has_text=text)
    for attempt in range(3):  # software WebGL may miss a first move: move in again
        page.mouse.move(x - 30, y - 8)
        page.mouse.move(x, y, steps=5)
        try:
            tip.wait_for(timeout=30_000)
            break
        except sync_api.TimeoutError:
            if attempt == 2:
                raise
    page.wait_for_timeout(300)  # a layout frame after deck.gl placed it
    return dict(tip.evaluate("e => e.getBoundingClientRect().toJSON()"))


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return bool(
        inner["left"] >= outer["left"] - 0.5
        and inner["top"] >= outer["top"] - 0.5
        and inner["right"] <= outer["right"] + 0.5
        and inner["bottom"] <= outer["bottom"] + 0.5
    )


def test_a_tooltip_near_the_corner_opens_left_and_above_inside_the_map(
    server: Server, browser: Any, sensor: dict[str, Any], tmp_path: Path
) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    title = f"Sensor {sensor['id']} ("
    try:
        page.goto(server.url, timeout=PAGE_TIMEOUT_MS)
        page.get_by_test_id("stMetric").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        canvas = page.locator(CANVAS)
        canvas.wait_for(timeout=PAGE_TIMEOUT_MS)
        page.wait_for_timeout(5000)  # the deck draws in software WebGL
        box = canvas.bounding_box()
        assert box is not None
        frame = {
            "left": box["x"],
            "top": box["y"],
            "right": min(box["x"] + box["width"], VIEWPORT["width"]),
            "bottom": min(box["y"] + box["height"], VIEWPORT["height"]),
        }

        # Away from the edges: deck.gl's own place, top-left corner at the pointer.
        x, y = page_xy(sensor["view"], box, sensor["lon"], sensor["lat"])
        tip = _hover(page, x, y, title)
        assert _inside(tip, frame), f"the tooltip {tip} crosses the map {frame}"
        assert abs(tip["left"] - x) <= 1, f"the tooltip {tip} moved from the pointer ({x}, {y})"
        assert abs(tip["top"] - y) <= 1, f"the tooltip {tip} moved from the pointer ({x}, {y})"
        page.screenshot(path=tmp_path / "tooltip-middle.png")

        # Drag the map: the sensor a few pixels from the map's bottom-right corner.
        to_x, to_y = frame["right"] - EDGE_PX, frame["bottom"] - EDGE_PX
        _drag(page, (x, y), (to_x, to_y))
        page.screenshot(path=tmp_path / "tooltip-dragged.png")
        tip = _hover(page, to_x, to_y, title)
        text = page.locator(".deck-tooltip").inner_text()
        page.screenshot(path=tmp_path / "tooltip-corner.png")
        assert text.startswith(title), text
        assert "only it watches:" in text, text
        assert min(tip["width"], tip["height"]) > 2 * EDGE_PX, tip
        assert _inside(tip, frame), f"the tooltip {tip} crosses the map {frame}"
        assert tip["right"] <= to_x + 1, f"the tooltip {tip} is not left of the pointer {to_x}"
        assert tip["bottom"] <= to_y + 1, f"the tooltip {tip} is not above the pointer {to_y}"
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()
    assert "Traceback" not in server.log.read_text(errors="replace"), tail(server.log)


def test_a_plan_site_at_the_right_edge_shows_its_tooltip_to_the_left(
    server: Server, browser: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{server.url}/plan", timeout=PAGE_TIMEOUT_MS)
        page.get_by_text("Set the parameters and click").wait_for(timeout=PAGE_TIMEOUT_MS)
        form = page.get_by_test_id("stForm")
        form.get_by_test_id("stSelectbox").filter(has_text="Partner").click()
        page.get_by_role("option", name="LTU", exact=True).click()
        for label, value in (("Sites (count)", "3"), ("Range (m)", "7000")):
            box = page.get_by_label(label, exact=True)
            box.fill(value)
            box.press("Tab")
        page.get_by_role("button", name="Suggest sites").click()
        page.get_by_text("Suggested sites", exact=True).wait_for(timeout=PAGE_TIMEOUT_MS)
        page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
        canvas = page.locator(CANVAS).first
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(5000)  # the deck draws in software WebGL
        box = canvas.bounding_box()
        assert box is not None
        frame = {
            "left": box["x"],
            "top": box["y"],
            "right": box["x"] + box["width"],
            "bottom": min(box["y"] + box["height"], VIEWPORT["height"]),
        }
        x, y = page_xy(site["view"], box, site["lon"], site["lat"])
        to_x = frame["right"] - EDGE_PX
        _drag(page, (x, y), (to_x, y))
        tip = _hover(page, to_x, y, "Site 1 (")
        page.screenshot(path=tmp_path / "plan-right-edge.png")
        assert _inside(tip, frame), f"the tooltip {tip} crosses the map {frame}"
        assert tip["right"] <= to_x + 1, f"the tooltip {tip} is not left of the pointer {to_x}"
        assert abs(tip["top"] - y) <= 1, f"the tooltip {tip} left the pointer's height {y}"
        assert "gain:" in page.locator(".deck-tooltip").inner_text()
    finally:
        page.close()
