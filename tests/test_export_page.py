"""The Export page and the Map page's downloads, run headless with AppTest.

The Export page's snapshot follows the Map page's coverage over time (issue 18): the exposure
layer (its km are the timeline engine's), and the moment playback is paused at (a scheduled
camera off then has no footprint in the render's layer data). The data export holds the
exposed stretches when the exposure is shown.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_upload_ids import deferred  # noqa: F401  (a fixture: the deferred downloads)

import layers.snapshot.render as render
from geo.core import settings
from geo.core.errors import ValidationError
from geo.coverage.analysis import analyse
from geo.coverage.views import hide_foreign_upload_ids, time_bounds
from geo.inputs import load_scenario
from geo.timeline import exposed_layer, moment, timeline
from layers import deck as lk
from layers import timeline as lt
from layers.map import detection_hexagons
from layers.snapshot import export_bytes
from ui import snapshot_view

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


# ---- coverage over time on the Export page (issue 18) ---------------------------------------
#: A camera of the sample on the schedule 06:00-20:00 (UTC).
SCHEDULED = "LTU-CAM-001"
EXPOSURE_LEGEND = "Exposed: unwatched longer than the crossing time τ"


@pytest.fixture(scope="module")
def sample_timeline():
    """The sample and its timeline over the window the Map page opens on (the engine's)."""
    sc = load_scenario(ROOT / "sample_data")
    lo, hi = time_bounds(sc.detections["time"]).span(wide=False)
    tl = timeline(
        sc.border, sensors=sc.sensors, tracks=sc.tracks, sectors=sc.sectors, time_from=lo,
        time_to=hi, dem=sc.dem,  # the page's "Line of sight over terrain" is on by default
    )  # fmt: skip
    return sc, tl


@pytest.fixture
def renders(monkeypatch):
    """Every snapshot the app renders: its options, its summary and its bytes."""
    seen: list[dict] = []
    real = render.render_snapshot

    def spy(result, **kw):
        summary = real(result, **kw)
        seen.append({"result": result, "kw": kw, "summary": summary, "bytes": kw["out"].getvalue()})
        return summary

    monkeypatch.setattr(render, "render_snapshot", spy)
    snapshot_view.snapshot.clear()  # a cached render would not be seen
    return seen


def _generate(app: AppTest, renders: list[dict]) -> dict:
    """Click "Generate snapshot" on the Export page; the PNG's render."""
    app.switch_page("app_pages/export.py").run()
    assert not app.exception
    app.button(key="export_generate").click().run()
    assert not app.exception
    assert {"Download snapshot (PNG)", "Download snapshot (PDF, 2 pages)"} <= set(downloads(app))
    pngs = [r for r in renders if r["kw"]["fmt"] == "png"]
    assert pngs, "no PNG was rendered"
    assert any(r["kw"]["fmt"] == "pdf" for r in renders)
    return pngs[-1]


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_export_snapshot_draws_the_exposure_the_map_page_shows(app, renders, sample_timeline):
    _, tl = sample_timeline
    off = _generate(app, renders)
    assert EXPOSURE_LEGEND not in off["summary"]["legend"]
    assert "exposed" not in off["summary"]["layers"]

    app.switch_page("app_pages/map.py").run()
    app.checkbox(key="layer_exposure").check().run()
    assert not app.exception
    renders.clear()
    on = _generate(app, renders)
    # The engine's exposed km for the Map page's window and the sidebar's τ (30 min).
    km = tl.report["border"]["exposed_km"]
    assert tl.report["parameters"]["crossing_time_min"] == 30.0
    note = f"amber: border exposed longer than 30 min ({km:,.1f} km)"
    assert note in on["summary"]["subtitle"]
    assert EXPOSURE_LEGEND in on["summary"]["legend"]
    assert "exposed" in on["summary"]["layers"]
    drawn = on["kw"]["timeline_layers"]["exposed"].data
    assert len(drawn) == len(exposed_layer(tl, 30.0))
    # the page says what the snapshot draws
    layers_caption = next(c.value for c in app.caption if "layers:" in c.value)
    assert "Exposed longer than τ = 30 min (over time)" in layers_caption
    assert any(note in c.value for c in app.caption)
    assert any("exposed_stretches" in c.value for c in app.caption)
    # the picture changed: the amber band over the border
    a, b = _pixels(off["bytes"]), _pixels(on["bytes"])
    assert a.shape == b.shape
    changed = np.abs(a - b).max(axis=-1) > 30
    r, g, bl = b[..., 0], b[..., 1], b[..., 2]
    amber = (r > 200) & (g > 140) & (g < 200) & (bl < 90) & (r - g > 40)  # not a partner's
    assert (changed & amber).sum() > 4000


def _footprint_drawn(render_kw: dict, truth: shapely.Geometry) -> bool:
    layer = render_kw["timeline_layers"]["footprints"]
    polys = [shapely.Polygon(d["polygon"][0]) for d in layer.data]
    return any(shapely.hausdorff_distance(p, truth) < 2 * lk.SIMPLIFY_DEG for p in polys)


def test_export_snapshot_at_the_moment_playback_paused_at(app, renders, sample_timeline):
    """Paused in the first night the scheduled camera is off: its footprint is not drawn;
    paused in the morning it is. The moment's share watched is the engine's."""
    sc, tl = sample_timeline
    own = analyse(sc.border, sc.sensors).layers["footprints"]
    truth = own.geometry[own["sensor_id"] == SCHEDULED].iloc[0]

    app.button(key="play").click().run()  # ▶ Play: the moment is the first step's end
    app.button(key="play").click().run()  # ⏸ Pause
    assert not app.exception
    night = _generate(app, renders)
    at = pd.Timestamp(app.session_state["at"]).tz_localize("UTC")
    assert at.hour < 6, at  # an hour or two into the first night of the window
    m = moment(tl, at)
    assert SCHEDULED not in m.active_ids
    subtitle = night["summary"]["subtitle"]
    assert f"{m.watched_pct:.1f} % of the border watched" in subtitle
    assert "moment " in subtitle
    assert {"footprints", "moment_watched", "moment_tracks"} <= set(night["kw"]["timeline_layers"])
    assert "Border watched at the moment shown (white)" in night["summary"]["legend"]
    assert not _footprint_drawn(night["kw"], truth)

    app.switch_page("app_pages/map.py").run()
    app.button(key="play").click().run()
    for _ in range(6):  # a step of an hour per run of the playing map
        app.run()
    app.button(key="play").click().run()
    assert not app.exception
    renders.clear()
    day = _generate(app, renders)
    at = pd.Timestamp(app.session_state["at"]).tz_localize("UTC")
    assert 7 <= at.hour < 20, at
    assert SCHEDULED in moment(tl, at).active_ids
    assert _footprint_drawn(day["kw"], truth)
    assert (
        f"{moment(tl, at).watched_pct:.1f} % of the border watched" in (day["summary"]["subtitle"])
    )


def test_data_export_holds_the_exposed_stretches(sample_timeline):
    sc, tl = sample_timeline
    result = analyse(sc.border, sc.sensors, sectors=sc.sectors)
    runs = lt.with_length(exposed_layer(tl, 30.0))
    data = export_bytes(result, fmt="csv", shown=["gaps"], exposed=runs)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sorted(z.namelist()) == ["exposed_stretches.csv", "gaps.csv"]
        table = pd.read_csv(z.open("exposed_stretches.csv"))
    assert len(table) == len(runs)
    assert table["length_km"].sum() == pytest.approx(tl.report["border"]["exposed_km"], abs=1e-4)
    assert table["max_unwatched_min"].min() > 30.0
    # without the layer: no such file
    with zipfile.ZipFile(io.BytesIO(export_bytes(result, fmt="csv", shown=["gaps"]))) as z:
        assert z.namelist() == ["gaps.csv"]
    # only the exposure shown: still a file to download
    gpkg = export_bytes(result, fmt="gpkg", shown=[], exposed=runs)
    with pytest.raises(ValidationError, match="no exported layer is shown"):
        export_bytes(result, fmt="gpkg", shown=[])
    # a partner's view: the stretches crossing its sectors
    mine = sc.sectors[sc.sectors["partner"] == "LTU"].geometry.union_all()
    want = int(runs.intersects(mine).sum())
    assert 0 < want < len(runs)
    geo_zip = export_bytes(result, fmt="geojson", partner="LTU", shown=["gaps"], exposed=runs)
    with zipfile.ZipFile(io.BytesIO(geo_zip)) as z:
        feats = json.loads(z.read("exposed_stretches.geojson"))["features"]
    assert len(feats) == want
    assert gpkg[:16] == b"SQLite format 3\x00"


# ---- past the map's point limit, from the store (issue 19) ----------------------------------
#: The point limit in these tests: the sample's own detections of a window are more.
SMALL_LIMIT = 300


def _without_time(report: dict) -> dict:
    """A report without the moment it was made; its DEM by name (the app's is a copy)."""
    out = {k: v for k, v in report.items() if k != "generated_at"}
    dem = out["parameters"].get("dem")
    out["parameters"] = {**out["parameters"], "dem": dem and Path(dem).name}
    return out


def _map_pixels(summary: dict, png: bytes) -> np.ndarray:
    left, top, right, bottom = (round(v) for v in summary["map_box"])
    return _pixels(png)[top + 2 : bottom - 2, left + 2 : right - 2]


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """A store holding uploads to the sample's operation (3,000 rows of several partners)."""
    import streamlit as st
    from test_map_store import UPLOADS, _rows
    from test_store import put

    from geo import store as store_module

    path = tmp_path / "store.gpkg"
    sc = load_scenario(ROOT / "sample_data")
    for seed, (owner, marking, operation, n) in enumerate(UPLOADS):
        if operation == "sample":
            put(path, _rows(sc, n, seed), partner=owner, releasable_to=marking or None)
    monkeypatch.setenv("LIMES_STORE", str(path))
    st.cache_resource.clear()
    yield path, store_module
    st.cache_resource.clear()


def _truth(path: Path, app: AppTest, store_module) -> object:
    """analyse with the sample's detections and every stored row, cut to the page's window."""
    sc = load_scenario(ROOT / "sample_data")
    own = sc.detections.assign(owner=sc.detections["partner"], upload_id=-1)
    rows = store_module.visible_detections(path, store_module.owners(path), operation="sample")
    every = pd.concat([own, rows], ignore_index=True)
    full = analyse(
        sc.border, sc.sensors, sectors=sc.sectors, detections=every, dem=sc.dem,
        corridor_km=float(app.session_state["corridor_km"]),
        min_gap_m=float(app.session_state["min_gap_m"]),
    )  # fmt: skip
    colours = {p: tuple(v["colour"]) for p, v in sc.partners.items() if v.get("colour")}
    tf, tt = (t.replace(tzinfo=UTC) for t in app.session_state["win"])
    full = dataclasses.replace(full, partner_colours=colours)
    return hide_foreign_upload_ids(full.windowed(tf, tt), None)


@pytest.fixture
def app_on_store(stored, monkeypatch):
    """The app (Map page, demo joint view) on the store, with a point limit of 300."""
    path, store_module = stored
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", SMALL_LIMIT)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    assert not app.exception
    return path, store_module, app


def _detections_csv(data: bytes) -> pd.DataFrame:
    """The detections of a zipped CSV export, as text, sorted."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        table = pd.read_csv(z.open("detections.csv"), dtype=str, keep_default_na=False)
    return table.sort_values(list(table.columns)).reset_index(drop=True)


def test_export_page_past_the_point_limit_counts_every_row_and_draws_hexagons(
    app_on_store,
    renders,
    deferred,
    monkeypatch,  # noqa: F811  (the fixture imported)
):
    path, store_module, app = app_on_store
    truth = _truth(path, app, store_module)
    total = truth.report["detections"]["total"]
    assert total > SMALL_LIMIT

    def refused(*args, **kwargs):
        raise AssertionError("the Export page read every stored row")

    # From here on the reader of every stored row (the old path's) must not be called.
    monkeypatch.setattr(store_module, "visible_detections", refused)
    png = _generate(app, renders)
    # The figures the snapshot prints are those of analyse over every row.
    assert _without_time(png["result"].report) == _without_time(truth.report)
    assert (
        png["summary"]["headline"]
        == render.render_snapshot(truth, out=io.BytesIO(), fmt="png")["headline"]
    )
    assert len(png["result"].layers["detections"]) < total  # the page held fewer rows
    # The map draws the hexagons counting every detection of the window, and says so.
    want = detection_hexagons(truth)
    got = png["kw"]["hexagons"]
    assert got["count"].tolist() == want["count"].tolist()
    assert got["flagged"].tolist() == want["flagged"].tolist()
    counted = f"{total:,} detections counted in hexagons"
    assert counted in png["summary"]["subtitle"]
    spread = f"({want['count'].min():,}–{want['count'].max():,} per hexagon)"
    assert f"{counted} {spread}" in png["summary"]["legend"]
    # Its map is the map of the analysis of every row, not that of the rows held.
    options = {k: v for k, v in png["kw"].items() if k not in ("out", "hexagons")}
    options.pop("detections_total")

    def map_of(result):
        buf = io.BytesIO()
        return _map_pixels(render.render_snapshot(result, out=buf, **options), buf.getvalue())

    every = map_of(truth)
    assert np.array_equal(_map_pixels(png["summary"], png["bytes"]), every)
    assert not np.array_equal(map_of(png["result"]), every)  # the rows held alone: another map
    # The page says what the data files hold: every detection, written page by page.
    said = [c.value for c in app.caption if f"The window holds {total:,} detections" in c.value]
    assert said
    assert "the detections file holds every one" in said[0]
    # ... and it does: the CSV the button writes holds the rows of the in-memory export of
    # analyse over every row (the store read page by page, the reader of every row refused).
    button = next(b.proto for b in app.get("download_button") if b.proto.label == "CSV (zip)")
    got = _detections_csv(deferred[button.deferred_file_id]())
    shown = png["kw"]["shown"]
    want = _detections_csv(export_bytes(truth, fmt="csv", shown=shown))
    assert len(want) == total
    pd.testing.assert_frame_equal(got, want)
