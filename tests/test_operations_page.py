"""The Operations page with AppTest: a planner creates an operation from files, then opens it.

The files are ones no other test uses: the real Estonia–Latvia land border of Natural Earth
1:10m (``../shared/realdata``; see its PROVENANCE.md), written as a shapefile's
``.shp``/``.shx``/``.dbf``/``.prj``/``.cpg`` files uploaded together, and sensors generated
along it (seeded). What the store then holds, and the Map page's headline, are checked
against ``python -m geo analyse`` on the same files with the same corridor and minimum gap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely import LineString
from streamlit.testing.v1 import AppTest
from test_operations_cli import NE_10M, _sensors

from geo import store
from geo.access import add_user
from geo.operations import SAMPLE, load_operation

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a long passphrase 16"

pytestmark = pytest.mark.skipif(not NE_10M.is_file(), reason="../shared/realdata is absent")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The border as a shapefile's files, the sensors, and the same sensors with a bad row."""
    folder = tmp_path_factory.mktemp("est-lva")
    lines = pyogrio.read_dataframe(NE_10M)
    pair = lines[lines["adm0_a3_l"].isin(["EST", "LVA"]) & lines["adm0_a3_r"].isin(["EST", "LVA"])]
    assert len(pair) == 1  # one feature: the Estonia–Latvia line
    border = gpd.GeoDataFrame(
        {"name": ["Estonia–Latvia"]}, geometry=list(pair.geometry), crs="EPSG:4326"
    )
    border.to_file(folder / "est_lva.shp", encoding="utf-8")
    sensors = _sensors(border.geometry.iloc[0], seed=1617)
    sensors["partner"] = sensors["partner"].map({"HRV": "EST", "SVN": "LVA"})
    sensors["sensor_id"] = [f"{p}-{i:03d}" for i, p in enumerate(sensors["partner"])]
    sensors.to_csv(folder / "sensors.csv", index=False)
    bad = sensors.copy()
    bad.loc[4, "range_m"] = -5  # data row 5
    bad.to_csv(folder / "bad_sensors.csv", index=False)
    shapefile = sorted(folder.glob("est_lva.*"))
    assert {p.suffix for p in shapefile} == {".shp", ".shx", ".dbf", ".prj", ".cpg"}
    return {
        "folder": folder,
        "shapefile": shapefile,
        "sensors": folder / "sensors.csv",
        "bad_sensors": folder / "bad_sensors.csv",
    }


@pytest.fixture(scope="module")
def truth(files: dict[str, Any]) -> dict[str, Any]:
    """``python -m geo analyse`` on the files, with the corridor and minimum gap typed below."""
    done = subprocess.run(
        [sys.executable, "-m", "geo", "analyse", "--border", files["folder"] / "est_lva.shp",
         "--sensors", files["sensors"], "--corridor-km", "3", "--min-gap-m", "250"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def _signed_in(name: str, partner: str, roles: str) -> AppTest:
    add_user(Path(os.environ["LIMES_USERS_FILE"]), name, partner=partner, roles=roles,
             password=PASSWORD)  # fmt: skip
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(PASSWORD)
    at.button(key="signin_submit").click().run()
    assert not at.exception
    return at


def _upload(at: AppTest, key: str, paths: list[Path]) -> None:
    uploader = next(u for u in at.file_uploader if u.key == key)
    uploader.set_value([(p.name, p.read_bytes(), "application/octet-stream") for p in paths]).run()
    assert not at.exception


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_planner_creates_an_operation_from_a_shapefile_set_and_opens_it(
    files: dict[str, Any], truth: dict[str, Any]
) -> None:
    path = Path(os.environ["LIMES_STORE"])
    # a planner of a partner without sensors: added to the partners, so it can open the result
    at = _signed_in("pia", "EU", "planner")
    at.switch_page("app_pages/operations.py").run()
    assert not at.exception
    assert at.title[0].value == "Operations"
    at.text_input(key="ops_name").input("est-lva")
    at.text_input(key="ops_title").input("Estonia–Latvia")
    at.number_input(key="ops_corridor_km").set_value(3.0)
    at.number_input(key="ops_min_gap_m").set_value(250.0)
    at.selectbox(key="ops_timezone").set_value("Europe/Tallinn").run()
    _upload(at, "ops_border_0", files["shapefile"])
    _upload(at, "ops_sensors_0", [files["sensors"]])

    # the validation report of each layer: rows read, accepted, rejected
    assert [(m.label, m.value) for m in at.metric] == [
        ("Rows read", "1"), ("Accepted", "1"), ("Rejected", "0"),
        ("Rows read", "40"), ("Accepted", "40"), ("Rejected", "0"),
    ]  # fmt: skip
    captions = [c.value for c in at.caption]
    assert any(c.startswith("est_lva.shp (ESRI Shapefile, CRS EPSG:4326)") for c in captions)
    assert "Preview: Border (1 line), 40 sensors" in captions
    assert any("**EU** takes part too" in i.value for i in at.info)
    preview = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert [layer["id"] for layer in preview["layers"]] == ["basemap", "border", "sensors"]
    assert store.operation_record(path, "est-lva") is None  # nothing stored before Create

    at.button(key="ops_create").click().run()
    assert not at.exception
    assert any("Operation **est-lva** created (version 1)" in s.value for s in at.success)
    assert at.selectbox(key="op").value == "est-lva"  # opened in the sidebar

    record = store.operation_record(path, "est-lva")
    assert record is not None
    assert (record["title"], record["created_by"], record["timezone"]) == (
        "Estonia–Latvia", "pia", "Europe/Tallinn",
    )  # fmt: skip
    assert (record["corridor_km"], record["min_gap_m"]) == (3.0, 250.0)
    assert [p["id"] for p in record["partners"]] == ["EST", "LVA", "EU"]
    stored = load_operation(path, "est-lva")
    assert len(stored.sensors) == 40
    assert stored.sectors is None
    assert stored.dem is None

    # the stored operation analyses as the files do
    again = subprocess.run(
        [sys.executable, "-m", "geo", "analyse", "--operation", "est-lva", "--store", path],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    stored_report = json.loads(again.stdout)
    assert stored_report["border"]["length_km"] == truth["border"]["length_km"] > 200
    assert stored_report["border"] == truth["border"]

    # on the Map: its title and analyse's headline
    at.switch_page("app_pages/map.py").run()
    assert not at.exception
    assert at.selectbox(key="op").value == "est-lva"
    assert at.title[0].value == "Estonia–Latvia"
    border = truth["border"]
    got = _metrics(at)
    assert got["Coverage"] == f"{border['coverage_pct']:.1f} %"
    assert got["Gaps"] == f"{border['gap_km']:,.1f} km"
    assert got["Longest gap"] == f"{border['longest_gap_km']:,.1f} km"


def test_a_file_with_a_rejected_row_is_refused_naming_it_and_nothing_is_stored(
    files: dict[str, Any],
) -> None:
    path = Path(os.environ["LIMES_STORE"])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()  # demo mode
    at.switch_page("app_pages/operations.py").run()
    at.text_input(key="ops_name").input("est-lva-bad").run()
    _upload(at, "ops_border_0", files["shapefile"])
    _upload(at, "ops_sensors_0", [files["bad_sensors"]])
    assert _metrics(at)["Rejected"] == "1"
    named = "bad_sensors.csv row 5, field 'range_m'"
    assert any(named in e.value for e in at.error)
    assert any(named in w.value for w in at.warning)  # why it cannot be created
    create = at.button(key="ops_create")
    assert create.disabled
    assert [r["name"] for r in store.operation_records(path)] == [SAMPLE]


def test_a_shapefile_without_its_prj_or_two_layers_are_refused(files: dict[str, Any]) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page("app_pages/operations.py").run()
    _upload(at, "ops_border_0", [p for p in files["shapefile"] if p.suffix != ".prj"])
    assert any(
        "has no 'est_lva.prj'" in e.value and e.value.startswith("Refused") for e in at.error
    )
    _upload(at, "ops_sensors_0", [files["sensors"], files["bad_sensors"]])
    assert any("sensors files: more than one layer file" in e.value for e in at.error)
    assert at.button(key="ops_create").disabled


def test_a_planner_replaces_the_border_of_the_operation_in_the_sidebar(
    files: dict[str, Any], tmp_path: Path
) -> None:
    path = Path(os.environ["LIMES_STORE"])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()  # seeds the sample
    # half of the sample's border, as GeoJSON: the sample's border version 2
    border = load_operation(path, SAMPLE).border
    coords = list(border.geometry.iloc[0].coords)
    half = gpd.GeoDataFrame(
        {"name": ["half"]}, geometry=[LineString(coords[: len(coords) // 2])], crs="EPSG:4326"
    )
    half.to_file(tmp_path / "half.geojson")
    at.switch_page("app_pages/operations.py").run()
    assert at.radio(key="ops_replace_layer").value == "border"
    _upload(at, "ops_replace_border_0", [tmp_path / "half.geojson"])
    at.button(key="ops_replace_confirm").click().run()
    assert not at.exception
    assert any("Stored border version 2 of **sample**" in s.value for s in at.success)
    stored = load_operation(path, SAMPLE).border
    assert len(stored) == 1
    assert stored.geometry.iloc[0].equals(half.geometry.iloc[0])
    versions = store.layer_versions(path, SAMPLE, "border")
    assert list(versions["version"]) == [1, 2]
    assert "replaced from half.geojson" in versions["note"].iloc[1]
    listed = pd.DataFrame(at.dataframe[-1].value)
    assert listed.set_index("operation").loc[SAMPLE, "versions"].startswith("border v2")


def test_the_page_is_for_planners_only() -> None:
    # a commander and analyst: the navigation does not offer the page, so it cannot be opened
    at = _signed_in("cory", "LTU", "commander,analyst")
    with pytest.raises(ValueError, match="Could not find a navigation page") as refused:
        at.switch_page("app_pages/operations.py")
    assert "upload.py" in str(refused.value)
    assert "operations.py'" not in str(refused.value).split("Known pages:")[1]
    # an admin holds every role: the page opens
    admin = _signed_in("ada", "LTU", "admin")
    admin.switch_page("app_pages/operations.py").run()
    assert not admin.exception
    assert admin.title[0].value == "Operations"
