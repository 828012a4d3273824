"""The Streamlit app, run headless with AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo.analysis import analyse
from geo.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample_report():
    sc = load_scenario(ROOT / "sample_data")
    return analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections).report


@pytest.fixture
def app():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()


def test_map_page_renders_sample_scenario(app, sample_report):
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Border covered"] == f"{sample_report['border']['coverage_pct']:.1f} %"
    assert metrics["Detections in gaps"] == f"{sample_report['detections']['in_gaps']:,}"
    longest = max(g["length_km"] for g in sample_report["gaps"])
    assert metrics["Longest gap"] == f"{longest:,.1f} km"
    charts = app.get("deck_gl_json_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.json)
    ids = {layer["id"] for layer in spec["layers"]}
    assert {"basemap", "border", "corridor", "sectors", "footprints", "gaps", "sensors", "detections"} <= ids
    # No basemap tiles are fetched: no map style URL in the spec.
    assert "mapbox://" not in charts[0].proto.json and "basemaps.cartocdn" not in charts[0].proto.json


def test_gap_table_lists_gaps_longest_first(app, sample_report):
    table = app.dataframe[0].value
    assert len(table) == len(sample_report["gaps"])
    assert list(table["length_km"]) == sorted(table["length_km"], reverse=True)
