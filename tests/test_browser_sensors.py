"""The Sensors page used as a planner uses it, in Debian's Chromium: type a range, see, save.

The server runs in demo mode (every role) on a store of its own, where the sample operation
is seeded on first run. The test types a new range into a cell of the data editor (a
canvas grid: the cell is reached with the keyboard, as a user may), sees the preview's
numbers change to what the same edit gives through ``geo`` (analysis of the edited sensors,
compared with the saved ones), clicks Save and sees version 2 listed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from browser_util import Server, page_xy

from geo.coverage.analysis import analyse
from geo.inputs.scenario import load_scenario
from geo.operations import SAMPLE, coverage_change, load_operation, placement_grid
from layers import map as layers_map
from ui.sensor_editor import MAP_PX

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1600, "height": 1000}
PAGE_TIMEOUT_MS = 180_000
#: The edit: the sample's tower LTU-TWR-001 (the table's fourth row) sees 20 km.
ROW, SENSOR, NEW_RANGE_M = 3, "LTU-TWR-001", 20000.0
#: Columns of the editor before ``range_m`` (sensor_id, partner, kind, status).
RANGE_COLUMN = 4
#: Columns before ``lat`` (… range_m, azimuth_deg, fov_deg, height_m, min_range_m, lon).
LAT_COLUMN = 10


@pytest.fixture(scope="module")
def expected() -> dict[str, str]:
    """What the preview must show for the edit, from the sample's files through ``geo``."""
    sc = load_scenario(ROOT / "sample_data")
    edited = sc.sensors.copy()
    assert edited.loc[ROW, "sensor_id"] == SENSOR
    edited.loc[ROW, "range_m"] = NEW_RANGE_M
    before = analyse(sc.border, sc.sensors, sectors=sc.sectors, corridor_km=5.0, min_gap_m=1.0)
    after = analyse(sc.border, edited, sectors=sc.sectors, corridor_km=5.0, min_gap_m=1.0)
    change = coverage_change(before.report, after.report)
    return {
        "gained": f"{change.gained_km:,.2f} km",
        "coverage": f"{after.report['border']['coverage_pct']:.1f} %",
    }


def _type_into(
    page: Any, row: int, column: int, text: str, expect: Callable[[str], bool] | None = None
) -> str:
    """Type ``text`` into a cell of the editor as a user does; return the cell's old value.

    Click the row's first cell, move right with the keyboard, Enter, type, Enter. On a loaded
    machine a key press can land before the grid has the focus (one column short): when the
    open cell's value fails ``expect``, Escape leaves it unchanged and the user tries again.
    """
    cell = page.locator("input.gdg-input").first  # the grid's cell editor
    for attempt in range(4):  # a click while the page still reruns can be lost: again
        page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
        box = page.get_by_test_id("stDataFrame").first.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 80, box["y"] + 35 + row * 35 + 17)  # header, rows: 35 px
        for _ in range(column):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        try:
            cell.wait_for(timeout=20_000)
        except Exception:  # playwright's TimeoutError
            if attempt == 3:
                raise
            page.keyboard.press("Escape")
            continue
        if expect is None or expect(str(cell.input_value())) or attempt == 3:
            break
        page.keyboard.press("Escape")  # the wrong cell opened: leave it as it was
        cell.wait_for(state="hidden", timeout=20_000)
    old = str(cell.input_value())
    cell.fill(text)
    page.keyboard.press("Enter")
    return old


def _number(value: str) -> float | None:
    """A cell's text as a number; None when it is not one (another column's cell)."""
    try:
        return float(value)
    except ValueError:
        return None


def _metric(page: Any, label: str) -> str:
    box = page.get_by_test_id("stMetric").filter(has_text=label).first
    return str(box.get_by_test_id("stMetricValue").inner_text()).strip()


def test_type_a_range_see_the_change_and_save(
    server: Server, browser: Any, expected: dict[str, str], tmp_path: Path
) -> None:
    shots = Path(os.environ.get("LIMES_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{server.url}/sensors", timeout=PAGE_TIMEOUT_MS)
        page.get_by_text("No sensor changed.").wait_for(timeout=PAGE_TIMEOUT_MS)
        assert _metric(page, "Border gained") == "0.00 km"
        page.screenshot(path=shots / "1-opened.png")

        # type into the range cell of the sensor's row: click its id, move right, Enter, type
        old = _type_into(page, ROW, RANGE_COLUMN, f"{NEW_RANGE_M:.0f}", lambda v: v == "8600")
        assert old == "8600"  # the tower's saved range: the right cell

        page.get_by_text(f"{SENSOR}: range_m").wait_for(timeout=PAGE_TIMEOUT_MS)
        page.get_by_test_id("stMetric").filter(has_text=expected["gained"]).first.wait_for(
            timeout=PAGE_TIMEOUT_MS
        )
        assert _metric(page, "Border gained") == expected["gained"]
        assert _metric(page, "Coverage") == expected["coverage"]
        assert page.get_by_text(f"{SENSOR}: range_m 8600 → 20000").count() == 1
        page.screenshot(path=shots / "2-edited.png", full_page=True)

        note = page.get_by_label("Note for the audit (what and why)")
        note.fill("LTU-TWR-001 new mast")
        note.press("Enter")  # the note is sent, then the page reruns
        page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
        page.get_by_role("button", name="Save as version 2").click()
        page.get_by_text("Version 2 saved: the Map now shows it.").wait_for(timeout=PAGE_TIMEOUT_MS)
        page.get_by_text("Editing v2 ·").wait_for(timeout=PAGE_TIMEOUT_MS)
        assert _metric(page, "Border gained") == "0.00 km"  # nothing changed against v2

        page.get_by_role("tab", name="Compare versions").click()
        after = page.get_by_test_id("stSelectbox").filter(has_text="Version B (after)")
        sync_api.expect(after.locator("input")).to_have_value(
            re.compile(r"^v2 · .* · demo mode · LTU-TWR-001 new mast — 1 changed$"),
            timeout=PAGE_TIMEOUT_MS,
        )
        page.get_by_text("From version 1 to version 2").wait_for(timeout=PAGE_TIMEOUT_MS)
        page.screenshot(path=shots / "3-saved.png", full_page=True)
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()


def test_click_a_grid_cell_and_add_a_sensor_there(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    """The map reports no ground coordinates: a click on a grid cell fills its centre."""
    sc = load_scenario(ROOT / "sample_data")
    cells = placement_grid(sc.border, corridor_km=5.0)
    # the cell farthest from every sensor: a click there hits the grid, not a sensor
    gaps = shapely.distance(
        shapely.points(cells["lon"], cells["lat"])[:, None],
        sc.sensors.geometry.to_numpy()[None, :],
    ).min(axis=1)
    cell = cells.iloc[int(np.argmax(gaps))]
    view = layers_map.assemble(
        analyse(sc.border, sc.sensors, sectors=sc.sectors), {}, height=MAP_PX
    ).initial_view_state
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{server.url}/sensors", timeout=PAGE_TIMEOUT_MS)
        page.get_by_text("No sensor changed.").wait_for(timeout=PAGE_TIMEOUT_MS)
        canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas#deckgl-overlay').first
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(5000)  # the deck draws in software WebGL
        latitude = page.get_by_label("Latitude (°)")
        for attempt in range(5):  # as a user would, point and click again if unnoticed
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()  # measured where the map is now
            assert box is not None
            x, y = page_xy(view, box, float(cell["lon"]), float(cell["lat"]))
            page.mouse.move(x - 30, y)
            page.mouse.move(x, y, steps=4)
            try:
                page.locator(".deck-tooltip").filter(has_text=f"Cell {cell['cell']}").wait_for(
                    timeout=30_000
                )
            except sync_api.TimeoutError:  # software WebGL missed the hover: point again
                page.mouse.move(5, 5)
                page.wait_for_timeout(3000)
                if attempt < 4:
                    continue
                page.screenshot(path=tmp_path / "grid-missed.png", full_page=True)
                raise
            page.mouse.click(x, y)
            # A second click on the cell would unselect it: wait for the rerun the click starts
            # to end (slow on a loaded machine) before deciding that it went unnoticed.
            with contextlib.suppress(sync_api.TimeoutError):
                page.get_by_test_id("stStatusWidget").wait_for(state="visible", timeout=5_000)
            page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
            for _wait in range(20):
                if latitude.input_value():
                    break
                page.wait_for_timeout(500)
            if latitude.input_value():
                break
        assert float(latitude.input_value()) == pytest.approx(cell["lat"], abs=1e-6)
        assert float(page.get_by_label("Longitude (°)").input_value()) == pytest.approx(
            cell["lon"], abs=1e-6
        )
        page.get_by_text(f"Position from grid cell {cell['cell']} (its centre).").wait_for()
        page.get_by_label("Sensor id").fill("EU-GRID-1")
        page.get_by_role("button", name="Add to the table").click()
        page.get_by_text("Sensor EU-GRID-1 added to the table (not saved yet).").wait_for(
            timeout=PAGE_TIMEOUT_MS
        )
        page.get_by_text("added EU-GRID-1").wait_for(timeout=PAGE_TIMEOUT_MS)
        page.screenshot(path=tmp_path / "grid.png")
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()


def test_type_a_new_latitude_and_see_the_sensor_moved(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    """Moving a sensor is typing its new position: the preview is the moved sensor's coverage."""
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{server.url}/sensors", timeout=PAGE_TIMEOUT_MS)
        page.get_by_text("No sensor changed.").wait_for(timeout=PAGE_TIMEOUT_MS)
        # the saved version the page edits (the store's sample is seeded on the first run)
        sc = load_scenario(ROOT / "sample_data")
        saved = load_operation(server.log.parent / "limes.gpkg", SAMPLE).sensors
        row = int(np.flatnonzero(saved["sensor_id"].to_numpy() == SENSOR)[0])
        at = saved.geometry.iloc[row]
        new_lat = round(float(at.y) + 0.05, 5)  # about 5.6 km north
        moved = saved.copy()
        moved.loc[moved.index[row], "geometry"] = shapely.Point(at.x, new_lat)
        kw: dict[str, Any] = {"sectors": sc.sectors, "corridor_km": 5.0, "min_gap_m": 1.0}
        before = analyse(sc.border, saved, **kw)
        after = analyse(sc.border, moved, **kw)
        change = coverage_change(before.report, after.report)
        assert change.gained_km + change.lost_km > 1.0  # the move changes the coverage

        old = _type_into(
            page,
            row,
            LAT_COLUMN,
            f"{new_lat:.5f}",
            lambda v: _number(v) == pytest.approx(at.y, abs=1e-5),
        )
        assert float(old) == pytest.approx(at.y, abs=1e-5)
        page.get_by_text(f"{SENSOR}: lat ").wait_for(timeout=PAGE_TIMEOUT_MS)
        gained = f"{change.gained_km:,.2f} km"
        page.get_by_test_id("stMetric").filter(has_text=gained).first.wait_for(
            timeout=PAGE_TIMEOUT_MS
        )
        assert _metric(page, "Border lost") == f"{change.lost_km:,.2f} km"
        assert _metric(page, "Coverage") == f"{after.report['border']['coverage_pct']:.1f} %"
        assert page.get_by_text(f"→ {new_lat:.5f}.").count() == 1
        page.screenshot(path=tmp_path / "moved.png", full_page=True)
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()
