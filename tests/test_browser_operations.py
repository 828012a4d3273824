"""The Operations page in Chromium: create an operation from files, then see it on the Map.

A planner's steps, as a user takes them: type the name, title, corridor depth and minimum
gap; give the border as a shapefile's ``.shp``/``.shx``/``.dbf``/``.prj``/``.cpg`` files
through the border file input and the sensors through theirs (Playwright
``set_input_files``); read the validation report; click Create; follow the link to the Map.
The Map must show the new operation's title and a Coverage headline equal to
``python -m geo analyse`` on the same files with the same corridor and minimum gap.

The border is one no other test uses: the real Czechia–Slovakia land border of Natural Earth
1:10m (``../shared/realdata``; see its PROVENANCE.md); the sensors are generated along it.
The module runs its own server on a store and users file of its own (demo mode).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
from browser_util import CHROMIUM, Server, streamlit_server
from test_operations_cli import NE_10M, _sensors

from geo import store

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not NE_10M.is_file(), reason="../shared/realdata is absent"),
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1500, "height": 1100}
#: Waits (ms): the first page load, a file check, the Map's first analysis of the operation.
PAGE_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The store and users file of this module's server (no users: demo mode)."""
    home = tmp_path_factory.mktemp("limes-ops-browser")
    return {"store": home / "limes.gpkg", "users": home / "users.json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, homes: dict[str, Path]) -> Iterator[Server]:
    """The app on a free localhost port, reading and writing this module's store."""
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} not found")
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIMES_STORE", str(homes["store"]))
        mp.setenv("LIMES_USERS_FILE", str(homes["users"]))
        with streamlit_server(ROOT / "app.py", log=log) as url:
            yield Server(url, log)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("cze-svk")
    lines = pyogrio.read_dataframe(NE_10M)
    pair = lines[lines["adm0_a3_l"].isin(["CZE", "SVK"]) & lines["adm0_a3_r"].isin(["CZE", "SVK"])]
    assert len(pair) == 1  # one feature: the Czechia–Slovakia line
    border = gpd.GeoDataFrame(
        {"name": ["Czechia–Slovakia"]}, geometry=list(pair.geometry), crs="EPSG:4326"
    )
    border.to_file(folder / "cze_svk.shp", encoding="utf-8")
    sensors = _sensors(border.geometry.iloc[0], seed=1618)
    sensors["partner"] = sensors["partner"].map({"HRV": "CZE", "SVN": "SVK"})
    sensors["sensor_id"] = [f"{p}-{i:03d}" for i, p in enumerate(sensors["partner"])]
    sensors.to_csv(folder / "sensors.csv", index=False)
    return {
        "shp": folder / "cze_svk.shp",
        "shapefile": sorted(folder.glob("cze_svk.*")),
        "sensors": folder / "sensors.csv",
    }


@pytest.fixture(scope="module")
def truth(files: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "geo", "analyse", "--border", files["shp"], "--sensors",
         files["sensors"], "--corridor-km", "3", "--min-gap-m", "250"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def _settled(page: Any) -> None:
    """Wait until the app has finished its rerun; no error shows."""
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
    assert page.get_by_test_id("stException").count() == 0


def _type(page: Any, label: str, text: str) -> None:
    box = page.get_by_role("textbox", name=label, exact=True)
    box.fill(text)
    box.press("Enter")
    _settled(page)


def _number(page: Any, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    _settled(page)


#: The browser's console messages, failed requests and error responses during the test.
EVENTS: list[str] = []


def _note_error_response(response: Any) -> None:
    if response.status >= 400 or "upload_file" in response.url:
        EVENTS.append(f"{response.status} {response.request.method} {response.url}")


def _drop(page: Any, label: str, paths: list[str], report: str) -> None:
    """Give files to an uploader and wait for their report.

    Files given while the page is still rerunning after the last field can be dropped by
    the re-rendered uploader (seen under a loaded machine): then the user gives them again.
    """
    uploader = page.get_by_test_id("stFileUploader").filter(has_text=label)
    for attempt in range(3):
        _settled(page)
        with page.expect_file_chooser() as chooser:  # the user clicks Upload, picks the files
            uploader.get_by_role("button", name="Upload", exact=True).click()
        chooser.value.set_files(paths)
        EVENTS.append(
            f"gave {len(paths)} files to {label!r}: the input holds "
            f"{uploader.locator('input[type=file]').evaluate_all('els => els.map(e => e.files.length)')}"
        )
        try:
            page.get_by_text(report).wait_for(timeout=60_000)
            break
        except Exception as exc:  # playwright's TimeoutError
            if attempt == 2:
                raise AssertionError(
                    f"no report {report!r} after giving the files three times; the page "
                    f"shows:\n{page.inner_text('body')[-2500:]}\nthe browser reported:\n"
                    + "\n".join(EVENTS[-40:])
                ) from exc
    _settled(page)


def test_create_an_operation_from_files_then_see_it_on_the_map(
    browser: Any,
    server: Server,
    homes: dict[str, Path],
    files: dict[str, Any],
    truth: dict[str, Any],
    tmp_path: Path,
) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    EVENTS.clear()  # what the browser reports, shown when a step fails
    page.on("console", lambda m: EVENTS.append(f"console {m.type}: {m.text}"))
    page.on("requestfailed", lambda r: EVENTS.append(f"failed {r.method} {r.url}: {r.failure}"))
    page.on("response", _note_error_response)
    try:
        page.goto(f"{server.url}/operations", timeout=PAGE_TIMEOUT_MS)
        page.get_by_role("tab", name="Create an operation").wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(page)
        _type(page, "Name", "cze-svk")
        _type(page, "Title", "Czechia–Slovakia")
        _number(page, "Corridor depth (km)", "3")
        _number(page, "Shortest gap (m)", "250")

        _drop(page, "Border lines (required)", [str(p) for p in files["shapefile"]],
              "cze_svk.shp (ESRI Shapefile, CRS EPSG:4326)")  # fmt: skip
        _drop(page, "Sensors (required)", [str(files["sensors"])], "sensors.csv (CSV")

        # the report: rows read, accepted, rejected of each file; the preview map
        metrics = [m.inner_text().split() for m in page.get_by_test_id("stMetric").all()]
        assert metrics == [
            ["Rows", "read", "1"], ["Accepted", "1"], ["Rejected", "0"],
            ["Rows", "read", "40"], ["Accepted", "40"], ["Rejected", "0"],
        ], metrics  # fmt: skip
        # the preview's caption comes with its map, after the reports (a later delta)
        preview = page.get_by_text("Preview: Border (1 line), 40 sensors")
        preview.wait_for(timeout=PAGE_TIMEOUT_MS)
        assert preview.count() == 1
        page.screenshot(path=tmp_path / "checked.png", full_page=True)
        assert store.operation_record(homes["store"], "cze-svk") is None

        create = page.get_by_role("button", name="Create the operation")
        assert create.is_enabled()
        create.click()
        page.get_by_text("Operation cze-svk created (version 1)").wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(page)
        record = store.operation_record(homes["store"], "cze-svk")
        assert record is not None
        assert (record["title"], record["corridor_km"], record["min_gap_m"]) == (
            "Czechia–Slovakia", 3.0, 250.0,
        )  # fmt: skip

        page.get_by_role("link", name="Open cze-svk on the Map").click()
        page.get_by_test_id("stMetric").filter(has_text="Coverage").wait_for(
            timeout=PAGE_TIMEOUT_MS
        )
        _settled(page)
        page.screenshot(path=tmp_path / "map.png")
        assert re.search(r"[?&]op=cze-svk\b", page.url), page.url
        assert page.get_by_role("heading", level=1).first.inner_text() == "Czechia–Slovakia"
        coverage = page.get_by_test_id("stMetric").filter(has_text="Coverage").inner_text()
        assert coverage.split("\n")[-1] == f"{truth['border']['coverage_pct']:.1f} %", coverage
        gaps = page.get_by_test_id("stMetric").filter(has_text=re.compile(r"^Gaps")).inner_text()
        assert gaps.split("\n")[-1] == f"{truth['border']['gap_km']:,.1f} km", gaps
    finally:
        page.close()
    assert "Traceback" not in server.log.read_text(errors="replace")
