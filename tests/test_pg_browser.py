"""Two ``streamlit run`` servers on one PostGIS store, in Chromium (issue 19).

A user uploads a CSV on server A's Upload page (the file chooser, then Store); on server B,
at its next rerun, the upload is in the history and on the map: B's "Detections in gaps"
rises by exactly the rows uploaded (copies of sample detections the analysis puts in gaps).
Both servers run in demo mode (no users file), the joint view.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pg_util
import pytest
from browser_util import CHROMIUM, Server, streamlit_server

from geo import store
from geo.coverage import analyse
from geo.inputs.scenario import load_scenario

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 1000}
PAGE_TIMEOUT_MS = 240_000
SHOTS = Path("/tmp/shots-pgstore")


@pytest.fixture(scope="module")
def shared_store(pg_cluster: pg_util.Cluster) -> str:
    """One PostGIS store for both servers."""
    return pg_cluster.create_database("two_servers")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_store: str) -> Iterator[Server]:
    """Server A (the ``browser`` fixture's)."""
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} not found")
    home = tmp_path_factory.mktemp("server-a")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIMES_STORE", shared_store)
        mp.setenv("LIMES_USERS_FILE", str(home / "users.json"))
        with streamlit_server(ROOT / "app.py", log=home / "streamlit.log") as url:
            yield Server(url, home / "streamlit.log")


@pytest.fixture(scope="module")
def server_b(
    tmp_path_factory: pytest.TempPathFactory, shared_store: str, server: Server
) -> Iterator[Server]:
    """Server B: another process on the same store."""
    home = tmp_path_factory.mktemp("server-b")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIMES_STORE", shared_store)
        mp.setenv("LIMES_USERS_FILE", str(home / "users.json"))
        with streamlit_server(ROOT / "app.py", log=home / "streamlit.log") as url:
            yield Server(url, home / "streamlit.log")


def _gap_rows(n: int) -> str:
    """A CSV of ``n`` copies (new ids) of sample detections the app's analysis puts in gaps."""
    sc = load_scenario(ROOT / "sample_data")
    result = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    )
    gaps = result.layers["detections"]
    gaps = gaps[gaps["coverage_status"] == "gap"].head(n)
    assert len(gaps) == n
    frame = pd.DataFrame(
        {
            "detection_id": [f"TWO-{i}" for i in range(n)],
            "time": gaps["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_list(),
            "lat": gaps.geometry.y.round(7).to_list(),
            "lon": gaps.geometry.x.round(7).to_list(),
            "source": "two-servers",
        }
    )
    return frame.to_csv(index=False)


def _settled(page: Any) -> None:
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
    assert page.get_by_test_id("stException").count() == 0


def _in_gaps(page: Any) -> int:
    metric = page.get_by_test_id("stMetric").filter(has_text="Detections in gaps")
    metric.wait_for(timeout=PAGE_TIMEOUT_MS)
    value = metric.get_by_test_id("stMetricValue").inner_text()
    return int(re.sub(r"[^0-9]", "", value))


def test_an_upload_through_one_server_is_on_the_others_map(
    browser: Any, server: Server, server_b: Server, shared_store: str, tmp_path: Path
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "two.csv"
    csv.write_text(_gap_rows(3))
    b = browser.new_page(viewport=VIEWPORT)
    a = browser.new_page(viewport=VIEWPORT)
    try:
        b.goto(server_b.url, timeout=PAGE_TIMEOUT_MS)
        _settled(b)
        before = _in_gaps(b)
        b.screenshot(path=str(SHOTS / "b-map-before.png"))

        a.goto(f"{server.url}/upload", timeout=PAGE_TIMEOUT_MS)
        a.get_by_role("heading", name="Upload detections").wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(a)
        uploader = a.get_by_test_id("stFileUploader").filter(has_text="Detection files")
        with a.expect_file_chooser() as chooser:
            uploader.get_by_role("button", name="Upload", exact=True).click()
        chooser.value.set_files(str(csv))
        button = a.get_by_role("button", name="Store 3 accepted row(s) from 1 file(s)")
        button.wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(a)
        button.click()
        a.get_by_text("Upload finished").wait_for(timeout=PAGE_TIMEOUT_MS)
        _settled(a)
        a.screenshot(path=str(SHOTS / "a-uploaded.png"), full_page=True)
        assert store.revision(shared_store).uploads == 1

        b.reload(timeout=PAGE_TIMEOUT_MS)  # B's next rerun
        _settled(b)
        assert _in_gaps(b) == before + 3
        b.screenshot(path=str(SHOTS / "b-map-after.png"))
        b.goto(f"{server_b.url}/upload", timeout=PAGE_TIMEOUT_MS)
        _settled(b)
        grid = b.get_by_test_id("stDataFrame").last
        grid.locator("[role=gridcell]").filter(has_text="two.csv").first.wait_for(
            state="attached", timeout=PAGE_TIMEOUT_MS
        )
        b.screenshot(path=str(SHOTS / "b-history.png"), full_page=True)
    finally:
        a.close()
        b.close()
