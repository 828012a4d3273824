"""The Upload page's history in Chromium: upload a CSV, then retract it (issue 16).

A user's steps: give the file to the file input (Playwright ``set_input_files``), read the
check, click Store; in the history below, tick the confirmation and click Retract. The page
must then say so and its history table must show the upload retracted, by the demo user; the
store (this module's own) must hold the upload, its retraction in the audit log, and serve
none of its rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_util import CHROMIUM, Server, streamlit_server

from geo import store

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 1000}
#: Waits (ms): the first page load (the sample operation is seeded), a file check, a store.
PAGE_TIMEOUT_MS = 180_000
SHOTS = Path("/tmp/shots-retract")

CSV = (
    "detection_id,time,lat,lon,source,class\n"
    "B1,2026-11-03T10:00:00Z,54.6012,25.7701,patrol,person\n"
    "B2,2026-11-03T11:00:00Z,54.6105,25.7802,patrol,vehicle\n"
    "B3,2026-11-03T12:00:00Z,54.6201,25.7903,patrol,person\n"
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's store and users file (no users: local demo mode)."""
    return tmp_path_factory.mktemp("limes-history-browser")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Iterator[Server]:
    """The app on a free localhost port, reading and writing this module's store."""
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} not found")
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIMES_STORE", str(home / "limes.gpkg"))
        mp.setenv("LIMES_USERS_FILE", str(home / "users.json"))
        with streamlit_server(ROOT / "app.py", log=log) as url:
            yield Server(url, log)


def _settled(page: Any) -> None:
    """Wait until the app has finished its rerun; no error shows."""
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
    assert page.get_by_test_id("stException").count() == 0


def _history_cells(page: Any, showing: str | re.Pattern[str]) -> list[str]:
    """The cells of the history table (the last table on the page), once one shows ``showing``.

    The grid draws on a canvas and lists its cells for assistive technology a moment later.
    """
    grid = page.get_by_test_id("stDataFrame").last
    cell = grid.locator("[role=gridcell]").filter(has_text=showing).first
    cell.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
    return [c.strip() for c in grid.locator("[role=gridcell]").all_inner_texts()]


def test_upload_a_csv_then_retract_it_on_the_page(
    browser: Any, server: Server, home: Path, tmp_path: Path
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "patrol.csv"
    csv.write_text(CSV)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{server.url}/upload", timeout=PAGE_TIMEOUT_MS)
        page.get_by_role("heading", name="Upload detections").wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(page)
        uploader = page.get_by_test_id("stFileUploader").filter(has_text="Detection files")
        uploader.locator("input[type=file]").set_input_files(str(csv))
        store_button = page.get_by_role("button", name="Store 3 accepted row(s) from 1 file(s)")
        store_button.wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(page)
        store_button.click()
        page.get_by_text("Upload finished").wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(page)
        (upload,) = store.uploads(home / "limes.gpkg", store.owners(home / "limes.gpkg"))[
            "upload_id"
        ].tolist()
        sync_api.expect(page.get_by_role("combobox", name="Upload to change")).to_have_value(
            re.compile(rf"^{upload} · patrol\.csv · "), timeout=PAGE_TIMEOUT_MS
        )
        cells = _history_cells(page, "patrol.csv")
        assert not any(c.startswith("retracted") for c in cells)
        page.screenshot(path=str(SHOTS / "browser-1-stored.png"), full_page=True)

        retract = page.get_by_role("button", name="Retract", exact=True)
        assert retract.is_disabled()  # not before the confirmation is ticked
        page.get_by_text(f"Retract upload {upload}: its 3 rows leave every map").click()
        page.locator("button:enabled", has_text="Retract").wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(page)
        # the enabled one: while a rerun replaces the box, the old disabled button may linger
        page.locator("button:enabled", has_text="Retract").first.click()
        page.get_by_text(
            f"Upload {upload} (patrol.csv) retracted: its 3 rows left every map"
        ).wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(page)
        page.screenshot(path=str(SHOTS / "browser-2-retracted.png"), full_page=True)
        cells = _history_cells(page, re.compile(r"^retracted .* by local demo$"))
        assert "patrol.csv" in cells
        page.get_by_text("Every upload listed is retracted").wait_for(timeout=PAGE_TIMEOUT_MS)
    finally:
        page.close()

    db = home / "limes.gpkg"
    assert len(store.visible_detections(db, ["EU", "LTU", "LVA", "POL"])) == 0
    log = store.audit_log(db)
    mine = log[log["target"] == str(upload)]
    assert mine["action"].tolist() == ["upload.retract", "upload"]
    assert mine["user"].iloc[0] == "local demo"
