"""The Export page's snapshot follows the Map page's coverage over time, in Chromium (issue 18).

The test does what a briefer does: on the Map page switches on *Exposed longer than τ*, goes
to the Export page, generates the snapshot and downloads the PNG with its button. The file
is a PNG whose subtitle (a PNG text chunk, the line under the title) names the exposed km,
which are the timeline engine's (``geo.timeline``) for the page's window and τ, whose legend
lists the exposure, and whose map shows the amber band.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser_util import Server, tail
from PIL import Image

from geo.coverage.views import time_bounds
from geo.inputs.scenario import load_scenario
from geo.timeline import timeline

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
CANVAS = '[data-testid="stDeckGlJsonChart"] canvas#deckgl-overlay'
VIEWPORT = {"width": 1600, "height": 1000}
PAGE_TIMEOUT_MS = 180_000
SHOTS = Path("/tmp/shots-tlexport")
EXPOSURE_LEGEND = "Exposed: unwatched longer than the crossing time τ"


def _idle(page: Any) -> None:
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)


def _shot(page: Any, name: str) -> None:
    if SHOTS.is_dir():
        page.screenshot(path=SHOTS / name, full_page=True)


def _amber(img: np.ndarray) -> np.ndarray:
    """Pixels of the exposure's amber band (255, 176, 0 blended over the map).

    Tight enough to leave out the orange of a partner: the sample's snapshot of this view
    without the exposure has about 600 such pixels, with it about 9,000.
    """
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return (r > 200) & (g > 140) & (g < 200) & (b < 90) & (r - g > 40)


def test_export_snapshot_png_has_the_exposure_of_the_map_page(server: Server, browser: Any) -> None:
    sc = load_scenario(ROOT / "sample_data")
    lo, hi = time_bounds(sc.detections["time"]).span(wide=False)  # the window the page opens on
    tl = timeline(
        sc.border, sensors=sc.sensors, tracks=sc.tracks, sectors=sc.sectors, time_from=lo,
        time_to=hi,
    )  # fmt: skip
    assert tl.report["parameters"]["crossing_time_min"] == 30.0  # the sidebar's τ
    note = f"amber: border exposed longer than 30 min ({tl.report['border']['exposed_km']:,.1f} km)"

    page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
    try:
        page.goto(server.url, timeout=PAGE_TIMEOUT_MS)
        page.locator(CANVAS).wait_for(timeout=PAGE_TIMEOUT_MS)
        _idle(page)
        page.locator(".st-key-layer_exposure label").click()
        _idle(page)

        page.get_by_role("link", name="Export").click()
        page.get_by_role("heading", name="Export a briefing").wait_for(timeout=PAGE_TIMEOUT_MS)
        _idle(page)
        caption = page.locator(".st-key-export_over_time")
        caption.wait_for(timeout=PAGE_TIMEOUT_MS)
        assert note in caption.inner_text()
        layers = page.get_by_text("layers:", exact=False).first.inner_text()
        assert "Exposed longer than τ = 30 min (over time)" in layers

        page.get_by_role("button", name="Generate snapshot").click()
        button = page.get_by_role("button", name="Download snapshot (PNG)")
        button.wait_for(timeout=PAGE_TIMEOUT_MS)
        _idle(page)
        page.get_by_test_id("stImage").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        _shot(page, "export_page.png")
        with page.expect_download(timeout=PAGE_TIMEOUT_MS) as got:
            button.click()
        data = Path(got.value.path()).read_bytes()
        assert got.value.suggested_filename == "limes_joint.png"
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    png = Image.open(io.BytesIO(data))
    if SHOTS.is_dir():
        (SHOTS / "export_download.png").write_bytes(data)
    assert png.size[0] == 2600
    assert note in png.info["Description"]  # the subtitle printed under the title
    assert EXPOSURE_LEGEND in png.info["Comment"]  # the legend's lines
    assert _amber(np.asarray(png.convert("RGB")).astype(int)).sum() > 4000
    assert "Traceback" not in server.log.read_text(errors="replace"), tail(server.log)
