"""The Streamlit app, run headless with AppTest: joint and partner views, layers, time window."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from geo.core import settings
from geo.coverage.analysis import analyse
from geo.coverage.views import JOINT, visible_rows
from geo.inputs.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample():
    """The sample scenario as the app shows it by default: line of sight over its DEM."""
    sc = load_scenario(ROOT / "sample_data")
    return sc, analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections, dem=sc.dem
    )


@pytest.fixture
def app():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def deck_spec(at: AppTest) -> dict:
    # the main map (the "When is it blind" section's exposure map is tests/test_timeline_app.py's)
    charts = [c for c in at.get("deck_gl_json_chart") if '"id":"exposed"' not in c.proto.json]
    assert len(charts) == 1
    return json.loads(charts[0].proto.json)


def test_joint_view_renders_sample_scenario(app, sample):
    _, result = sample
    rep = result.report
    assert not app.exception
    m = metrics(app)
    assert m["Coverage"] == f"{rep['border']['coverage_pct']:.1f} %"
    assert m["Detections in gaps"] == f"{rep['detections']['in_gaps']:,}"
    assert m["Longest gap"] == f"{max(g['length_km'] for g in rep['gaps']):,.1f} km"
    unassigned = next(x for x in app.metric if x.label == "Unassigned")
    assert unassigned.value == f"{rep['unassigned_border_km']:,.1f} km"
    assert unassigned.proto.delta == f"{rep['contested_border_km']:,.1f} km contested"
    spec = deck_spec(app)
    ids = [layer["id"] for layer in spec["layers"]]
    assert {
        "basemap",
        "border",
        "corridor",
        "sectors",
        "footprints",
        "gaps",
        "sensors",
        "detections",
    } <= set(ids)
    raw = app.get("deck_gl_json_chart")[0].proto.json
    assert (
        "cartocdn" not in raw
        and "mapbox://" not in raw
        and spec.get("mapStyle") in (None, "__MAP_STYLE__")
    )
    assert len(raw.encode()) < 10_000_000


@pytest.mark.parametrize("partner", ["EU", "LTU", "LVA", "POL"])
def test_partner_view_leads_with_its_numbers(app, sample, partner):
    _, result = sample
    p = result.report["partners"][partner]
    app.selectbox(key="partner").set_value(partner).run()
    assert not app.exception
    m = metrics(app)
    assert m["Coverage"] == f"{p['sector_coverage_pct']:.1f} %"
    assert m["Gaps"] == f"{p['sector_border_km'] - p['sector_covered_km']:,.1f} km"
    # Detections: only the rows this partner may see (its own; the sample's rows carry no
    # releasability marking, so no one else's), even in demo mode's open partner views.
    mine = result.windowed(visible=visible_rows(result.all_detections, {partner})).report[
        "partners"
    ][partner]
    assert m["Detections in gaps"] == f"{mine['detections_in_gaps']:,}"
    assert mine["detections_in_gaps"] <= p["detections_in_gaps"]
    assert app.query_params["partner"] == [partner] or app.query_params["partner"] == partner
    # Its sectors lead: full fill alpha; other partners' sectors are muted.
    sectors = next(layer for layer in deck_spec(app)["layers"] if layer["id"] == "sectors")["data"]
    alphas = {rec["sector_id"].split("-")[0]: rec["fill"][3] for rec in sectors}
    assert alphas[partner] > max(a for p2, a in alphas.items() if p2 != partner)
    # The gap table lists only gaps through this partner's sectors, and so does the map.
    table = app.dataframe[-1].value
    assert all(partner in cell.split(", ") for cell in table["partners"])
    gaps = next(layer for layer in deck_spec(app)["layers"] if layer["id"] == "gaps")["data"]
    assert {(g["segment"], round(g["start_km"], 6)) for g in gaps} == {
        (g["segment"], round(g["start_km"], 6))
        for g in result.report["gaps"]
        if partner in g["partners"]
    }
    labels = next(layer for layer in deck_spec(app)["layers"] if layer["id"] == "gap_labels")[
        "data"
    ]
    by_rank = {
        g: f"{g} {km:,.1f} km" for g, km in zip(table["gap"], table["length_km"], strict=True)
    }
    assert labels and all(
        lab["t"] == by_rank[lab["t"].split()[0]] for lab in labels
    )  # same G-numbers as the table
    # Every headline figure is the partner's, or says it is joint.
    assert m["Partner overlap"] == f"{p['sector_overlap_km']:,.1f} km"
    unassigned = next(x for x in app.metric if x.label == "Unassigned (joint)")
    assert unassigned.value == f"{result.report['unassigned_border_km']:,.1f} km"
    assert unassigned.proto.delta == f"{p['contested_km']:,.1f} km contested with {partner}"


def test_partner_view_opens_from_a_link(sample):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["partner"] = "POL"
    at.run()
    assert not at.exception
    assert at.selectbox(key="partner").value == "POL"


def test_toggling_layers_removes_them_from_the_map(app):
    app.checkbox(key="layer_detections").uncheck().run()
    app.checkbox(key="layer_footprints").uncheck().run()
    ids = {layer["id"] for layer in deck_spec(app)["layers"]}
    assert "detections" not in ids and "footprints" not in ids and "gaps" in ids
    app.checkbox(key="layer_overlaps").check().run()
    assert "overlaps" in {layer["id"] for layer in deck_spec(app)["layers"]}


def test_time_window_changes_detection_counts(app, sample):
    sc, _ = sample
    lo, hi = app.slider(key="window").value
    mid = lo + (hi - lo) / 2
    app.slider(key="window").set_range(lo, mid)
    app.form_submit_button[0].click()  # the form's "Apply window": the window changes on Apply only
    app.run()
    assert not app.exception
    times = sc.detections["time"]
    lo_utc, mid_utc = pd.Timestamp(lo, tz="UTC"), pd.Timestamp(mid, tz="UTC")
    expected = ((times >= lo_utc) & (times <= mid_utc)).sum()
    det_layer = next(layer for layer in deck_spec(app)["layers"] if layer["id"] == "detections")
    assert sum(rec["n"] for rec in det_layer["data"]) == expected
    assert expected < len(sc.detections)
    in_gaps = int(metrics(app)["Detections in gaps"].replace(",", ""))
    whole = analyse(
        sc.border,
        sc.sensors,
        sectors=sc.sectors,
        detections=sc.detections,
        time_from=lo_utc,
        time_to=mid_utc,
        dem=sc.dem,
    )
    assert in_gaps == whole.report["detections"]["in_gaps"]


def test_invalid_parameter_shows_a_message_not_an_exception(app):
    app.number_input(key="corridor_km").set_value(0.0).run()
    assert not app.exception
    assert any("corridor_km" in e.value for e in app.error)


def test_gap_table_lists_gaps_longest_first(app, sample):
    _, result = sample
    table = app.dataframe[-1].value
    assert len(table) == len(result.report["gaps"])
    assert list(table["length_km"]) == sorted(table["length_km"], reverse=True)
    assert JOINT == app.selectbox(key="partner").value


def _click(at: AppTest, layer_id: str, pick) -> None:
    """Simulate a pydeck selection of the first record of ``layer_id`` matching ``pick``."""
    layer = next(layer for layer in deck_spec(at)["layers"] if layer["id"] == layer_id)
    index, record = next((i, rec) for i, rec in enumerate(layer["data"]) if pick(rec))
    at.session_state["map"] = {
        "selection": {"indices": {layer_id: [index]}, "objects": {layer_id: [record]}}
    }
    at.run()
    assert not at.exception


def test_clicking_a_gap_shows_it_and_its_detections(app, sample):
    _, result = sample
    longest = max(result.report["gaps"], key=lambda g: g["length_km"])
    _click(app, "gaps", lambda rec: rec["start_km"] == longest["start_km"])
    assert any(s.value == "Gap G1" for s in app.subheader)  # the longest gap is G1
    assert any(
        f"km {longest['start_km']:,.2f}–{longest['end_km']:,.2f}" in m.value for m in app.markdown
    )
    table = app.dataframe[0].value
    assert len(table) > 0 and set(table["coverage_status"]) == {"gap"}


def test_clicking_a_sector_lists_its_detections(app, sample):
    _, result = sample
    sec = result.report["sectors"][0]
    _click(app, "sectors", lambda rec: rec["sector_id"] == sec["sector_id"])
    assert any(f"Sector {sec['sector_id']}" in s.value for s in app.subheader)
    table = app.dataframe[0].value
    assert len(table) == sec["detections"]
    assert all(sec["sector_id"] in ids.split(",") for ids in table["sector_ids"])


def test_terrain_toggle_switches_between_line_of_sight_and_flat_footprints(app, sample):
    sc, result = sample
    m = metrics(app)
    assert m["Coverage"] == f"{result.report['border']['coverage_pct']:.1f} %"
    fp = next(layer for layer in deck_spec(app)["layers"] if layer["id"] == "footprints")["data"]
    # Terrain footprints: what each partner's sensors see (drawn as the parts of one
    # multipolygon per partner), not per-sensor disks.
    assert len(result.layers["footprints"]) == len(result.report["partners"])
    assert len(fp) == int(
        shapely.get_num_geometries(result.layers["footprints"].geometry.to_numpy()).sum()
    )
    app.toggle(key="terrain").set_value(False).run()
    assert not app.exception
    flat = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections).report
    assert metrics(app)["Coverage"] == f"{flat['border']['coverage_pct']:.1f} %"
    assert flat["border"]["coverage_pct"] > result.report["border"]["coverage_pct"]
    fp = next(layer for layer in deck_spec(app)["layers"] if layer["id"] == "footprints")["data"]
    assert len(fp) == len(sc.sensors)  # one geometric footprint per sensor
    assert not app.checkbox(key="layer_coverage_count").value  # off by default


def test_coverage_count_layer_is_an_image_on_the_map(app, sample):
    _, result = sample
    app.checkbox(key="layer_coverage_count").check().run()
    assert not app.exception
    layer = next(layer for layer in deck_spec(app)["layers"] if layer["id"] == "coverage_count")
    assert layer["@@type"] == "BitmapLayer" and layer["image"].startswith("data:image/png;base64,")
    west, south, east, north = layer["bounds"]
    grid_w, grid_s, grid_e, grid_n = result.layers["corridor"].total_bounds
    assert west <= grid_w and east >= grid_e and south <= grid_s and north >= grid_n


@pytest.mark.parametrize("page", ["app_pages/map.py", "app_pages/upload.py", "app_pages/export.py"])
def test_a_scenario_that_cannot_be_loaded_is_explained_on_every_page(tmp_path, monkeypatch, page):
    monkeypatch.setattr(settings, "SAMPLE_DIR", tmp_path)  # no scenario.json there
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    if page != "app_pages/map.py":
        at.switch_page(page).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"The scenario could not be loaded: {tmp_path / 'scenario.json'}: no scenario "
        "manifest found"
    ]


@pytest.fixture
def cold_caches():
    """Start from cold Streamlit caches: they are process-wide and keyed on the store's version
    (one store per server), while each test here fills a store of its own to version 1."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def test_outliers_do_not_stretch_the_time_window(sample, cold_caches):
    # Three rows of old tracks (2010) uploaded into the store: the window opens on the bulk
    # of the detections, says how many are outside it, and can be widened to all of them.
    import os

    from geo import store

    csv = Path(os.environ["LIMES_STORE"]).parent / "old.csv"
    csv.write_text(
        "time,lat,lon,detection_id,source,class\n"
        + "".join(f"2010-06-0{i}T12:00:00Z,54.6,25.3,OLD{i},archive,person\n" for i in (1, 2, 3))
    )
    store.ingest_file(os.environ["LIMES_STORE"], csv, partner="LTU", releasable_to="ALL")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not at.exception
    sc, _ = sample
    lo, hi = at.slider(key="window").value
    times = sc.detections["time"]
    assert lo == times.min().floor("h").to_pydatetime().replace(tzinfo=None)
    assert hi == times.max().ceil("h").to_pydatetime().replace(tzinfo=None)
    assert at.slider(key="window").proto.step == 3600 * 10**6  # µs: hours over a week of detections
    assert any("3 detection(s) fall outside" in c.value for c in at.sidebar.caption)
    assert any("3 detection(s) outside the window" in c.value for c in at.caption)
    at.button(key="window_widen").click().run()
    assert not at.exception
    lo, hi = at.slider(key="window").value
    assert lo.year == 2010 and hi == times.max().ceil("h").to_pydatetime().replace(tzinfo=None)
    assert at.slider(key="window").proto.step == 24 * 3600 * 10**6  # µs: days over 16 years
    assert not any("outside the window" in c.value for c in at.caption)


def test_input_files_panel_counts_only_what_the_partner_may_see(sample):
    # The detection file's own report counts every partner's rows: a partner view says only
    # how many it may see (issue 14: nothing about hidden rows is visible).
    sc, _ = sample
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["partner"] = "POL"
    at.run()
    assert not at.exception
    captions = [c.value for c in at.sidebar.caption if c.value.startswith("**detections**")]
    mine = int(visible_rows(sc.detections, {"POL"}).sum())
    assert captions == [
        f"**detections** — {mine:,} of the scenario's detections are visible to POL."
    ]
    assert mine < len(sc.detections)
    assert f"{len(sc.detections):,}" not in " ".join(c.value for c in at.sidebar.caption)


def test_a_partners_time_window_ends_at_rows_it_may_see(sample, cold_caches):
    # Another partner's owner-only row, later than everything else, moves nothing in this
    # partner's view: not the slider's end, not the count outside the window (issue 14).
    import os

    from geo import store

    csv = Path(os.environ["LIMES_STORE"]).parent / "late.csv"
    csv.write_text(
        "time,lat,lon,detection_id,source,class\n2027-03-15T16:10:00Z,54.6,25.3,LATE1,radar,person\n"
    )
    store.ingest_file(os.environ["LIMES_STORE"], csv, partner="LVA")  # owner only
    sc, _ = sample
    end = sc.detections["time"].max().ceil("h").to_pydatetime().replace(tzinfo=None)
    views = {}
    for partner in ("POL", "LVA"):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
        at.query_params["partner"] = partner
        at.run()
        assert not at.exception
        if partner == "LVA":
            at.button(key="window_widen").click().run()
        views[partner] = at

    def slider_max(at):  # the slider's bounds travel as µs since the epoch
        return pd.Timestamp(at.slider(key="window").max, unit="us").to_pydatetime()

    assert slider_max(views["POL"]) == end
    assert views["POL"].slider(key="window").value[1] == end
    assert not [b for b in views["POL"].button if b.key == "window_widen"]
    assert "2027" not in " ".join(
        [c.value for c in views["POL"].caption] + [c.value for c in views["POL"].sidebar.caption]
    )
    assert slider_max(views["LVA"]).year == 2027  # its own row: widened to it


@pytest.mark.parametrize("from_rows", [0, 10**9], ids=["bins", "rows"])
def test_a_stored_row_another_tool_broke_is_named_on_the_map_page(
    sample, cold_caches, monkeypatch, from_rows
):
    # Another tool overwrote one stored detection's geometry with bytes that are no point:
    # whichever way the page counts the window (the store's bins, or its rows when the
    # window is small), it says which row and how to fix it instead of a traceback.
    import os
    import sqlite3

    from geo import store

    monkeypatch.setattr(settings, "MAP_BINS_FROM_ROWS", from_rows)
    path = Path(os.environ["LIMES_STORE"])
    csv = path.parent / "some.csv"
    csv.write_text(
        "time,lat,lon,detection_id,source,class\n"
        + "".join(f"2026-11-01T0{i}:00:00Z,54.6,25.3,S{i},radar,person\n" for i in range(1, 6))
    )
    store.ingest_file(path, csv, partner="LTU", releasable_to="ALL")
    conn = sqlite3.connect(path)
    try:
        (fid,) = conn.execute("SELECT fid FROM detections ORDER BY fid LIMIT 1 OFFSET 2").fetchone()
        conn.execute("UPDATE detections SET geom = x'00' WHERE fid = ?", (fid,))
        conn.commit()
    finally:
        conn.close()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert errors[0].startswith("Cannot show this window: ")
    assert f"row fid {fid}, field 'geom'" in errors[0]
    assert "correct or delete that row" in errors[0]
