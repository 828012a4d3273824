"""The Upload page and releasability in the app, end to end with AppTest.

An analyst uploads a file, sees its validation report, picks a marking and confirms; the rows
land in the store (the one ``tests/conftest.py`` points ``LIMES_STORE`` at) and show on the map
of exactly the partners allowed to see them, on the next rerun.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo import store
from geo.core import settings
from geo.inputs import bounded

ROOT = Path(__file__).resolve().parents[1]

#: Three good rows inside the sample scenario's corridor and one without a time.
CSV = (
    "detection_id,time,lat,lon,source,class\n"
    "U1,2026-11-03T10:00:00Z,54.6012,25.7701,patrol,person\n"
    "U2,2026-11-03T11:00:00Z,54.6105,25.7802,patrol,vehicle\n"
    "U3,2026-11-03T12:00:00Z,54.6201,25.7903,patrol,person\n"
    "U4,,54.6301,25.7950,patrol,person\n"
).encode()


def map_detection_count(at: AppTest) -> int:
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    layer = next(lay for lay in spec["layers"] if lay["id"] == "detections")
    return sum(rec["n"] for rec in layer["data"])  # detections counted in the map's hexagons


def map_point_positions(at: AppTest) -> set[tuple[float, float]]:
    """Positions (lon, lat) of every detection point the map holds for zooming in."""
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    return {
        tuple(rec["p"])
        for lay in spec["layers"]
        if lay["id"].startswith("detection_points_")
        for rec in lay["data"]
    }


def upload_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    assert not at.exception
    at.switch_page("app_pages/upload.py").run()
    assert not at.exception
    return at


def test_demo_upload_releases_to_the_chosen_partners_only() -> None:
    path = Path(os.environ["LIMES_STORE"])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    at.selectbox(key="partner").set_value("POL").run()
    before_pol = map_detection_count(at)
    at.selectbox(key="partner").set_value("LTU").run()
    before_ltu = map_detection_count(at)

    at.switch_page("app_pages/upload.py").run()
    at.selectbox(key="upload_partner").set_value("LVA").run()
    at.file_uploader[0].set_value(("patrol.csv", CSV, "text/csv")).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accepted"] == "3" and metrics["Rejected"] == "1"
    assert store.version(path) == 0  # nothing is stored before the analyst confirms
    at.radio(key="upload_release").set_value("Selected partners").run()
    at.multiselect(key="upload_release_to").set_value(["POL"]).run()
    at.button(key="upload_confirm").click().run()
    assert not at.exception
    assert any("Upload finished" in s.value for s in at.success)

    rows = store.visible_detections(path, ["LVA"])
    assert sorted(rows["detection_id"]) == ["U1", "U2", "U3"]
    assert set(rows["owner"]) == {"LVA"} and set(rows["releasable_to"]) == {"POL"}
    history = store.uploads(path, ["LVA"])
    assert list(history["file_name"]) == ["patrol.csv"] and int(history["accepted"][0]) == 3

    # On the next rerun, the map of POL (released to) shows them; LTU's does not.
    at.switch_page("app_pages/map.py").run()
    at.selectbox(key="partner").set_value("POL").run()
    assert map_detection_count(at) == before_pol + 3
    at.selectbox(key="partner").set_value("LTU").run()
    assert map_detection_count(at) == before_ltu


def test_a_hostile_file_is_refused_with_a_message_and_nothing_stored() -> None:
    path = Path(os.environ["LIMES_STORE"])
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&b;</name>'
        b"<Point><coordinates>25.77,54.60</coordinates></Point></Placemark></kml>"
    )
    at = upload_page()
    at.file_uploader[0].set_value(("track.kml", bomb, "application/vnd.google-earth.kml+xml")).run()
    assert not at.exception
    assert any("Refused" in e.value and "DOCTYPE" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "upload_confirm"]
    assert store.version(path) == 0  # no upload stored


def test_each_file_is_checked_once_and_a_large_one_is_previewed_in_hexagons(monkeypatch) -> None:
    # Two files of one name: each checked once (not again on the reruns that follow), each
    # with its own preview; one has more rows than the map draws as points: hexagons.
    monkeypatch.setattr(settings, "MAX_MAP_POINTS", 2)
    calls: list[str] = []
    real = bounded.read_detections
    monkeypatch.setattr(
        bounded,
        "read_detections",
        lambda *a, **kw: calls.append(kw.get("source_name", "")) or real(*a, **kw),
    )
    small = b"detection_id,time,lat,lon\nW1,2026-11-03T10:00:00Z,54.60,25.77\nW2,2026-11-03T10:05:00Z,54.61,25.78\n"
    at = upload_page()
    at.file_uploader[0].set_value(
        [("patrol.csv", CSV, "text/csv"), ("patrol.csv", small, "text/csv")]
    ).run()
    assert not at.exception
    uploads_checked = [c for c in calls if c == "patrol.csv"]
    assert uploads_checked == ["patrol.csv", "patrol.csv"]
    kinds = [
        next(lay for lay in json.loads(c.proto.json)["layers"] if lay["id"] == "detections")[
            "@@type"
        ]
        for c in at.get("deck_gl_json_chart")
    ]
    assert kinds == ["PolygonLayer", "ScatterplotLayer"]  # 3 rows > 2; 2 rows
    captions = [c.value for c in at.caption if c.value.startswith("Preview:")]
    assert re.fullmatch(
        r"Preview: 3 rows: more than 2, so counted in \d hexagons of 1\.5 km", captions[0]
    )
    assert captions[1] == "Preview: 2 row(s) as points"
    at.radio(key="upload_release").set_value("All partners").run()
    at.button(key="upload_confirm").click().run()
    assert not at.exception
    assert [c for c in calls if c == "patrol.csv"] == uploads_checked  # reruns reused the checks
    stored = store.visible_detections(Path(os.environ["LIMES_STORE"]), ["EU"])
    assert sorted(stored["detection_id"]) == ["U1", "U2", "U3", "W1", "W2"]
    assert at.session_state["upload_checks"] == {}  # the uploader is empty again: checks gone


def _add_user(users: Path, name: str, partner: str, roles: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "geo",
            "users",
            "add",
            name,
            "--partner",
            partner,
            "--roles",
            roles,
            "--password-stdin",
            "--users-file",
            str(users),
        ],
        input="correct horse battery staple\n",
        text=True,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


def _sign_in(at: AppTest, name: str) -> AppTest:
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input("correct horse battery staple")
    return at.button(key="signin_submit").click().run()


def test_signed_in_partners_see_only_what_is_released_to_them() -> None:
    users = Path(os.environ["LIMES_USERS_FILE"])
    path = Path(os.environ["LIMES_STORE"])
    _add_user(users, "alice", "LTU", "analyst,commander")
    _add_user(users, "piotr", "POL", "commander")

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    assert not at.warning or not any("demo mode" in w.value for w in at.warning)
    assert at.text_input(key="signin_name") is not None and not at.get("deck_gl_json_chart")
    _sign_in(at, "alice")
    assert not at.exception
    # A signed-in user has the joint view (of what they may see) and their own partner only.
    assert [o.split(" — ")[0] for o in at.selectbox(key="partner").options] == ["Joint view", "LTU"]
    before = map_detection_count(at)
    at.switch_page("app_pages/upload.py").run()
    assert "upload_partner" not in [s.key for s in at.selectbox]  # the owner is the user's partner
    at.file_uploader[0].set_value(("ltu.csv", CSV, "text/csv")).run()
    at.button(key="upload_confirm").click().run()  # default marking: our partner only
    assert not at.exception
    rows = store.visible_detections(path, ["LTU"])
    assert set(rows["owner"]) == {"LTU"} and set(rows["releasable_to"].fillna("")) == {""}
    assert store.uploads(path, ["LTU"])["uploaded_by"].tolist() == ["alice"]
    at.switch_page("app_pages/map.py").run()
    assert map_detection_count(at) == before + 3

    # Piotr (POL, commander): no Upload page, and LTU's owner-only rows are not on his map,
    # not even in his joint view.
    other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    _sign_in(other, "piotr")
    assert not other.exception
    assert [o.split(" — ")[0] for o in other.selectbox(key="partner").options] == [
        "Joint view",
        "POL",
    ]
    spec = json.loads(other.get("deck_gl_json_chart")[0].proto.json)
    data = json.dumps(next(lay for lay in spec["layers"] if lay["id"] == "detections")["data"])
    assert "U1" not in data and "U2" not in data
    # Without the analyst (or briefer) role the Upload (Export) page is not registered at all:
    # a commander has the Map and the Plan page only.
    known = r"Known pages: \['[^']*app_pages/map.py', '[^']*app_pages/plan.py'\]"
    with pytest.raises(ValueError, match=known):
        other.switch_page("app_pages/upload.py")


def test_cache_rule_partner_a_then_b_on_a_warm_cache() -> None:
    """LVA's owner-only rows, cached for LVA's view, never reach another partner's view."""
    path = Path(os.environ["LIMES_STORE"])
    csv = CSV.replace(b"U", b"W")
    tmp = path.parent / "lva.csv"
    tmp.write_bytes(csv)
    store.ingest_file(path, tmp, partner="LVA")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    at.selectbox(key="partner").set_value("LVA").run()
    uploaded = {(25.7701, 54.6012), (25.7802, 54.6105), (25.7903, 54.6201)}
    assert uploaded <= map_point_positions(at)
    at.selectbox(key="partner").set_value("EU").run()  # warm caches now hold LVA's view
    assert not uploaded & map_point_positions(at)


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test starts from cold Streamlit caches (they are process-wide)."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def test_each_upload_is_counted_on_the_next_rerun_and_no_stored_row_is_read_whole(
    tmp_path: Path, monkeypatch
) -> None:
    # The app holds no stored row: after an upload the window of the new store version is
    # counted page by page (ui.shared.map_window), and the reader of every stored row
    # (store.visible_detections) is never called.
    from ui import shared as ui

    db = tmp_path / "store.gpkg"
    monkeypatch.setenv("LIMES_STORE", str(db))
    original = store.visible_detections

    def refused(*args, **kwargs):
        raise AssertionError("the app read every stored row")

    monkeypatch.setattr(store, "visible_detections", refused)
    sample = str(settings.SAMPLE_DIR)

    def held() -> set[str]:
        window = ui.map_window(sample, 5.0, 1.0, False, store.version(db), None, None, None)
        det = window.result.layers["detections"]
        assert window.total == len(det)
        return {i for i in det["detection_id"].astype(str) if i.startswith("F")}

    for i, partner in enumerate(("LTU", "LVA", "LTU")):
        csv = tmp_path / f"u{i}.csv"
        csv.write_bytes(CSV.replace(b"U", f"F{i}-".encode()))
        store.ingest_file(db, csv, partner=partner, releasable_to="ALL" if i == 0 else None)
        full = original(db, store.owners(db))
        assert held() == set(full["detection_id"].astype(str)), i
    assert held() == {f"F{i}-{j}" for i in range(3) for j in (1, 2, 3)}
