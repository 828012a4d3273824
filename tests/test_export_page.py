"""The Export page and the Map page's downloads, run headless with AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()


def downloads(at: AppTest) -> dict[str, object]:
    """Download buttons on the page, by label (their protos)."""
    return {b.proto.label: b.proto for b in at.get("download_button")}


def test_map_page_offers_snapshot_and_data_downloads(app):
    assert not app.exception
    buttons = downloads(app)
    for label in (
        "Snapshot (PNG)",
        "Snapshot (PDF)",
        "Data: geojson (zip)",
        "Data: gpkg",
        "Data: kml",
        "Data: csv (zip)",
    ):
        assert label in buttons, sorted(buttons)
        # made when clicked (deferred), not on every rerun of the map
        assert buttons[label].deferred_file_id or not buttons[label].url


def test_export_page_generates_a_snapshot_to_download(app):
    app.switch_page("app_pages/export.py").run()
    assert not app.exception
    assert any("Export a briefing" in t.value for t in app.title)
    before = downloads(app)
    assert "Download snapshot (PNG)" not in before
    assert {"GeoJSON (zip)", "GeoPackage", "KML", "CSV (zip)"} <= set(before)
    app.button(key="export_generate").click().run()
    assert not app.exception
    after = downloads(app)
    assert {"Download snapshot (PNG)", "Download snapshot (PDF, 2 pages)"} <= set(after)
    assert after["Download snapshot (PNG)"].url  # the rendered file is there to download
    assert len(app.get("image")) == 1  # the preview


def test_export_page_shows_the_map_pages_view_and_keeps_it(app):
    app.selectbox(key="partner").set_value("LTU").run()
    app.checkbox(key="layer_detections").uncheck().run()
    app.switch_page("app_pages/export.py").run()
    assert not app.exception
    assert app.selectbox(key="partner").value == "LTU"
    layers_caption = next(c.value for c in app.caption if "layers:" in c.value)
    assert "Sensor positions" in layers_caption and "Detections" not in layers_caption
    app.text_input(key="export_banner").set_value("SECRET // TEST").run()
    app.button(key="export_generate").click().run()
    assert not app.exception
    assert "Download snapshot (PDF, 2 pages)" in downloads(app)
    # A partner chosen here is the Map page's partner too; the rest of the view is kept.
    app.selectbox(key="partner").set_value("POL").run()
    assert not app.exception
    app.switch_page("app_pages/map.py").run()
    assert not app.exception
    assert app.selectbox(key="partner").value == "POL"
    assert app.checkbox(key="layer_detections").value is False
