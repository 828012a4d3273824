"""An operation kept in the store, opened in the app by ``?op=``, against ``python -m geo analyse``.

The operation is made from files no other app test uses: the real Croatia–Slovenia land
border of Natural Earth 1:10m (``../shared/realdata``; see its PROVENANCE.md) and sensors
generated along it (seeded, as ``test_operations_cli``). The Map page's headline must be what
``analyse`` prints for the same files with the operation's corridor depth and minimum gap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from streamlit.testing.v1 import AppTest
from test_operations_cli import NE_10M, _sensors

from geo import store
from geo.access import add_user
from geo.operations import SAMPLE, Operation, create_operation, read_partners

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not NE_10M.is_file(), reason="../shared/realdata is absent")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hr-si")
    lines = pyogrio.read_dataframe(NE_10M)
    pair = lines[lines["adm0_a3_l"].isin(["HRV", "SVN"]) & lines["adm0_a3_r"].isin(["HRV", "SVN"])]
    border = gpd.GeoDataFrame(
        {"name": ["Croatia–Slovenia"]}, geometry=list(pair.geometry), crs="EPSG:4326"
    )
    paths = {
        "border": folder / "border.geojson",
        "sensors": folder / "sensors.csv",
        "partners": folder / "partners.csv",
    }
    border.to_file(paths["border"])
    _sensors(border.geometry.iloc[0], seed=1616).to_csv(paths["sensors"], index=False)
    paths["partners"].write_text(
        "id,name,colour\nSVN,Slovenian police,#00c8ff\nHRV,Croatian border police,#ff7f0e\n",
        encoding="utf-8",
    )
    return paths


@pytest.fixture(scope="module")
def truth(files: dict[str, Path]) -> dict[str, Any]:
    """``python -m geo analyse`` on the files, with the operation's corridor and minimum gap."""
    done = subprocess.run(
        [sys.executable, "-m", "geo", "analyse", "--border", files["border"], "--sensors",
         files["sensors"], "--corridor-km", "3", "--min-gap-m", "250"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def _create(files: dict[str, Path]) -> Path:
    path = Path(os.environ["LIMES_STORE"])
    op = Operation(
        "hr-si",
        title="Croatia–Slovenia",
        partners=tuple(read_partners(files["partners"])),
        corridor_km=3.0,
        min_gap_m=250.0,
    )
    create_operation(path, op, border=files["border"], sensors=files["sensors"])
    return path


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_op_in_the_url_opens_the_operation_with_analyse_s_headline(
    files: dict[str, Path], truth: dict[str, Any]
) -> None:
    path = _create(files)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["op"] = "hr-si"
    at.run()
    assert not at.exception
    assert at.selectbox(key="op").value == "hr-si"
    assert at.title[0].value == "Croatia–Slovenia"
    border = truth["border"]
    got = _metrics(at)
    assert got["Coverage"] == f"{border['coverage_pct']:.1f} %"
    assert got["Gaps"] == f"{border['gap_km']:,.1f} km"
    assert got["Longest gap"] == f"{border['longest_gap_km']:,.1f} km"
    assert got["Partner overlap"] == f"{border['overlap_km']:,.1f} km"
    # the partners file's colours, not the palette's, on the map and in its legend
    legend = " ".join(h.proto.body for h in at.get("html"))
    assert "rgba(0,200,255," in legend  # SVN #00c8ff
    assert "rgba(255,127,14," in legend  # HRV #ff7f0e
    assert at.number_input(key="corridor_km").value == 3.0  # the operation's defaults
    assert at.number_input(key="min_gap_m").value == 250.0
    # both operations are offered; the sample stays in the store (seeded on first run)
    assert at.selectbox(key="op").options == [
        "hr-si — Croatia–Slovenia",
        "sample — Limes sample: Lithuania–Belarus joint operation",
    ]
    assert [o["name"] for o in store.operation_records(path)] == ["hr-si", SAMPLE]


def test_without_op_the_app_opens_on_the_sample(files: dict[str, Path]) -> None:
    _create(files)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    assert not at.exception
    assert at.selectbox(key="op").value == SAMPLE
    assert at.title[0].value.startswith("Limes sample")
    assert at.query_params["op"] == SAMPLE


def test_a_partner_sees_only_the_operations_it_takes_part_in(files: dict[str, Path]) -> None:
    _create(files)
    users = Path(os.environ["LIMES_USERS_FILE"])
    add_user(users, "lena", partner="LTU", roles="commander", password="a long passphrase 1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["op"] = "hr-si"
    at.run()
    at.text_input(key="signin_name").input("lena")
    at.text_input(key="signin_password").input("a long passphrase 1")
    at.button(key="signin_submit").click().run()
    assert not at.exception
    assert at.selectbox(key="op").options == [
        "sample — Limes sample: Lithuania–Belarus joint operation"
    ]
    assert any("'hr-si' is not open to you" in w.value for w in at.warning)
    assert at.title[0].value.startswith("Limes sample")


def test_times_are_shown_in_the_operation_s_zone(files: dict[str, Path], tmp_path: Path) -> None:
    """Slider, caption and tables in Europe/Ljubljana; the window applied is the same instants."""
    path = Path(os.environ["LIMES_STORE"])
    op = Operation(
        "hr-si-tz",
        partners=tuple(read_partners(files["partners"])),
        timezone="Europe/Ljubljana",
    )
    create_operation(path, op, border=files["border"], sensors=files["sensors"])
    border = gpd.read_file(files["border"]).geometry.iloc[0]
    mid = border.interpolate(0.5, normalized=True)
    # A summer day (UTC+2) and a winter day (UTC+1): the zone's offset is not one number.
    utc = ["2026-07-01T10:00:00Z", "2026-07-01T22:30:00Z", "2026-12-01T10:00:00Z"]
    csv = tmp_path / "patrol.csv"
    csv.write_text(
        "time,lat,lon,detection_id\n"
        + "".join(f"{t},{mid.y:.6f},{mid.x:.6f},d{i}\n" for i, t in enumerate(utc)),
        encoding="utf-8",
    )
    store.ingest_file(path, csv, partner="SVN", operation="hr-si-tz", releasable_to="ALL")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["op"] = "hr-si-tz"
    at.run()
    assert not at.exception
    slider = at.slider(key="window")
    assert slider.label == "Time window (Europe/Ljubljana)"
    # The slider's ends are whole hours around the first and last detection, in local time:
    # 10:00Z in July is 12:00 in Ljubljana, 10:00Z in December 11:00.
    lo, hi = slider.value
    first = pd.Timestamp(utc[0]).tz_convert(ZoneInfo("Europe/Ljubljana")).tz_localize(None)
    last = pd.Timestamp(utc[-1]).tz_convert(ZoneInfo("Europe/Ljubljana")).tz_localize(None)
    assert pd.Timestamp(lo) <= first < pd.Timestamp(lo) + pd.Timedelta(hours=1)
    assert pd.Timestamp(hi) - pd.Timedelta(hours=1) <= last <= pd.Timestamp(hi)
    # Apply a window of local times: 1 July 12:00 to 2 July 00:00 in Ljubljana is 10:00Z to
    # 22:00Z, so the 22:30Z detection (00:30 on 2 July there) falls outside it.
    slider.set_range(datetime(2026, 7, 1, 12, 0), datetime(2026, 7, 2, 0, 0))
    at.form_submit_button[0].click().run()
    assert not at.exception
    caption = " ".join(c.value for c in at.caption)
    assert "window 2026-07-01 12:00–2026-07-02 00:00 Europe/Ljubljana" in caption
    assert "2 detection(s) outside the window (of 3)" in caption
    assert at.session_state["win"] == (datetime(2026, 7, 1, 10, 0), datetime(2026, 7, 1, 22, 0))


def test_a_link_s_op_wins_over_the_sidebar_and_the_sidebar_then_leads(
    files: dict[str, Path],
) -> None:
    _create(files)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    assert at.selectbox(key="op").value == SAMPLE
    at.query_params["op"] = "hr-si"  # the user follows a link to the other operation
    at.run()
    assert at.selectbox(key="op").value == "hr-si"
    assert at.title[0].value == "Croatia–Slovenia"
    at.selectbox(key="op").set_value(SAMPLE).run()  # then picks the sample in the sidebar
    assert at.selectbox(key="op").value == SAMPLE
    assert at.query_params["op"] == SAMPLE
    assert at.title[0].value.startswith("Limes sample")
