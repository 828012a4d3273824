"""The Sensors page: a planner edits an operation's sensors, the shown change against ``analyse``.

The operation is made from the real Croatia–Slovenia land border of Natural Earth 1:10m
(``../shared/realdata``; see its PROVENANCE.md) and sensors generated along it (seeded, as
``test_operations_cli``), in the test's own store. The planner edits one sensor's range and
removes another in the page's table; the km gained and lost, the gaps opened and closed and
the coverage the page shows must be what two runs of ``python -m geo analyse`` (on the
sensors file before and after the same edit) give. Saving stores version 2 with an audit note.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
from streamlit.testing.v1 import AppTest
from test_operations_cli import NE_10M, _sensors

from geo import store
from geo.access import add_user
from geo.inputs import read_sensors
from geo.operations import (
    Operation,
    create_operation,
    diff,
    load_operation,
    read_partners,
    sensor_changes,
)

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE = "app_pages/sensors.py"

pytestmark = pytest.mark.skipif(not NE_10M.is_file(), reason="../shared/realdata is absent")

#: The edit: one tower sees three times as far, another sensor is taken away (both are
#: Croatia's, as the planner is; a Slovenian sensor is :data:`FOREIGN`).
EDITED, NEW_RANGE_M, REMOVED, FOREIGN = "HRV-015", 6000.0, "HRV-001", "SVN-000"
#: The move: a sensor's new position (lon, lat), typed into its row.
MOVED, MOVED_TO = "HRV-004", (15.70123, 45.86012)
CORRIDOR_KM, MIN_GAP_M = 3.0, 250.0


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hr-si-sensors")
    lines = pyogrio.read_dataframe(NE_10M)
    pair = lines[lines["adm0_a3_l"].isin(["HRV", "SVN"]) & lines["adm0_a3_r"].isin(["HRV", "SVN"])]
    border = gpd.GeoDataFrame(
        {"name": ["Croatia–Slovenia"]}, geometry=list(pair.geometry), crs="EPSG:4326"
    )
    paths = {
        "border": folder / "border.geojson",
        "sensors": folder / "sensors.csv",
        "after": folder / "sensors_after.csv",
        "moved": folder / "sensors_moved.csv",
        "partners": folder / "partners.csv",
    }
    border.to_file(paths["border"])
    before = _sensors(border.geometry.iloc[0], seed=1604)
    before.to_csv(paths["sensors"], index=False)
    # the same edit as the planner's, made on the file with pandas
    after = before[before["sensor_id"] != REMOVED].copy()
    after.loc[after["sensor_id"] == EDITED, "range_m"] = NEW_RANGE_M
    after.to_csv(paths["after"], index=False)
    moved = before.copy()
    moved.loc[moved["sensor_id"] == MOVED, ["lon", "lat"]] = MOVED_TO
    moved.to_csv(paths["moved"], index=False)
    paths["partners"].write_text(
        "id,name,colour\nSVN,Slovenian police,#1f77b4\nHRV,Croatian border police,#d62728\n",
        encoding="utf-8",
    )
    return paths


def _analyse(border: Path, sensors: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "geo", "analyse", "--border", border, "--sensors", sensors,
         "--corridor-km", str(CORRIDOR_KM), "--min-gap-m", str(MIN_GAP_M)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def truth(files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Two ``python -m geo analyse`` runs: the sensors file before and after the edit."""
    return {
        "before": _analyse(files["border"], files["sensors"]),
        "after": _analyse(files["border"], files["after"]),
    }


def _minus(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Length of the union of ``a`` outside the union of ``b`` (intervals of km)."""
    points = sorted({x for iv in a + b for x in iv})
    total = 0.0
    for lo, hi in itertools.pairwise(points):
        mid = (lo + hi) / 2
        if any(s <= mid <= e for s, e in a) and not any(s <= mid <= e for s, e in b):
            total += hi - lo
    return total


def _expected_change(truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """From the two reports alone: km gained and lost, gaps opened and closed, coverage."""
    gaps = {k: truth[k]["gaps"] for k in ("before", "after")}
    segments = {g["segment"] for k in gaps for g in gaps[k]}

    def of(k: str, seg: int) -> list[tuple[float, float]]:
        return [(g["start_km"], g["end_km"]) for g in gaps[k] if g["segment"] == seg]

    def isolated(k: str, other: str) -> int:
        return sum(
            1
            for g in gaps[k]
            if not any(
                min(g["end_km"], e) > max(g["start_km"], s) for s, e in of(other, g["segment"])
            )
        )

    border = {k: truth[k]["border"] for k in truth}
    return {
        "Border gained": sum(_minus(of("before", s), of("after", s)) for s in segments),
        "Border lost": sum(_minus(of("after", s), of("before", s)) for s in segments),
        "Net change": border["after"]["covered_km"] - border["before"]["covered_km"],
        "Gaps opened": isolated("after", "before"),
        "Gaps closed": isolated("before", "after"),
        "Coverage": border["after"]["coverage_pct"],
        "Coverage before": border["before"]["coverage_pct"],
    }


def _create(files: dict[str, Path]) -> Path:
    path = Path(os.environ["LIMES_STORE"])
    op = Operation(
        "hr-si",
        title="Croatia–Slovenia",
        partners=tuple(read_partners(files["partners"])),
        corridor_km=CORRIDOR_KM,
        min_gap_m=MIN_GAP_M,
    )
    create_operation(path, op, border=files["border"], sensors=files["sensors"])
    return path


def _planner_opens_the_page(files: dict[str, Path]) -> tuple[AppTest, Path]:
    """Pia, a planner of HRV, signs in and opens the Sensors page of ``?op=hr-si``."""
    path = _create(files)
    users = Path(os.environ["LIMES_USERS_FILE"])
    add_user(users, "pia", partner="HRV", roles="planner", password="a long passphrase 2")
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["op"] = "hr-si"
    at.run()
    at.text_input(key="signin_name").input("pia")
    at.text_input(key="signin_password").input("a long passphrase 2")
    at.button(key="signin_submit").click().run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.title[0].value == "Sensors — Croatia–Slovenia"
    return at, path


def _edit(at: AppTest, *, range_m: float = NEW_RANGE_M, remove: bool = True) -> None:
    """Type a range into the edited sensor's row and delete the removed sensor's row."""
    editor = at.data_editor[0]
    rows = editor.value.reset_index(drop=True)
    edited = int(rows.index[rows["sensor_id"] == EDITED][0])
    removed = int(rows.index[rows["sensor_id"] == REMOVED][0])
    at.session_state[editor.key] = {
        "edited_rows": {edited: {"range_m": range_m}},
        "added_rows": [],
        "deleted_rows": [removed] if remove else [],
    }
    at.run()
    assert not at.exception


def _metrics(block: Any) -> dict[str, Any]:
    return {m.label: m for m in block.metric}


def _check_shown(metrics: dict[str, Any], want: dict[str, Any]) -> None:
    assert metrics["Border gained"].value == f"{want['Border gained']:,.2f} km"
    assert metrics["Border lost"].value == f"{want['Border lost']:,.2f} km"
    assert metrics["Net change"].value == f"{want['Net change']:+,.2f} km"
    assert metrics["Gaps opened"].value == str(want["Gaps opened"])
    assert metrics["Gaps closed"].value == str(want["Gaps closed"])
    assert metrics["Coverage"].value == f"{want['Coverage']:.1f} %"
    points = want["Coverage"] - want["Coverage before"]
    assert metrics["Coverage"].delta == f"{points:+.2f} points"


def test_the_shown_change_is_what_two_analyse_runs_give(
    files: dict[str, Path], truth: dict[str, dict[str, Any]]
) -> None:
    want = _expected_change(truth)
    assert want["Border gained"] > 1.0  # the edit gains border ...
    assert want["Border lost"] > 1.0  # ... and loses some
    at, _ = _planner_opens_the_page(files)
    shown = _metrics(at.tabs[0])
    assert shown["Border gained"].value == "0.00 km"  # nothing edited yet
    assert shown["Coverage"].value == f"{truth['before']['border']['coverage_pct']:.1f} %"
    _edit(at)
    _check_shown(_metrics(at.tabs[0]), want)
    caption = " ".join(c.value for c in at.caption)
    assert f"{EDITED}: range_m 2003 → 6000" in caption
    assert f"removed {REMOVED}" in caption


def test_saving_stores_an_audited_version_the_map_then_shows(
    files: dict[str, Path], truth: dict[str, dict[str, Any]]
) -> None:
    at, path = _planner_opens_the_page(files)
    _edit(at)
    note_box = next(t for t in at.text_input if t.label == "Note for the audit (what and why)")
    note_box.input("HRV-015 upgraded; SVN-000 withdrawn")
    at.button(key="save_sensors").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Version 2 saved: the Map now shows it."]
    versions = store.layer_versions(path, "hr-si", "sensors")
    assert versions["version"].tolist() == [1, 2]
    last = versions.iloc[-1]
    assert last["created_by"] == "pia"
    note = json.loads(last["note"])
    assert note["note"] == "HRV-015 upgraded; SVN-000 withdrawn"
    assert note["removed"] == [REMOVED]
    assert note["added"] == []
    assert note["changed"] == {EDITED: {"range_m": [2003.0, 6000.0]}}
    # the stored version is the edited file, sensor for sensor
    stored = load_operation(path, "hr-si").sensors
    assert not sensor_changes(read_sensors(files["after"])[0], stored)
    # the page now edits version 2: nothing changed against it
    assert _metrics(at.tabs[0])["Border gained"].value == "0.00 km"
    assert any("Editing **v2 ·" in c.value for c in at.caption)
    # the compare tab: version 1 against 2, the same numbers as the diff and the analyse runs
    compare = _metrics(at.tabs[1])
    _check_shown(compare, _expected_change(truth))
    d = diff(path, "hr-si", 1, 2)["coverage"]
    assert compare["Border gained"].value == f"{d['gained_km']:,.2f} km"
    assert compare["Gaps opened"].value == str(len(d["gaps_opened"]))
    # the Map page shows version 2's coverage, as analyse gives it for the edited file
    at.switch_page("app_pages/map.py").run()
    assert not at.exception
    assert _metrics(at)["Coverage"].value == f"{truth['after']['border']['coverage_pct']:.1f} %"


@pytest.mark.parametrize(
    ("range_m", "field"),
    [(-5.0, "range_m"), (0.0, "range_m")],
)
def test_a_bad_value_names_the_sensor_and_field_and_saves_nothing(
    files: dict[str, Path], range_m: float, field: str
) -> None:
    at, path = _planner_opens_the_page(files)
    _edit(at, range_m=range_m, remove=False)
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert f"sensor {EDITED}, field '{field}'" in errors[0]
    assert "the range must be positive" in errors[0]
    assert not [b for b in at.button if b.key == "save_sensors"]  # no save offered
    assert store.layer_versions(path, "hr-si", "sensors")["version"].tolist() == [1]


def test_a_planner_may_not_change_another_partner_s_sensors(files: dict[str, Path]) -> None:
    at, path = _planner_opens_the_page(files)
    assert any("You change **HRV**'s sensors" in c.value for c in at.caption)
    editor = at.data_editor[0]
    rows = editor.value.reset_index(drop=True)
    i = int(rows.index[rows["sensor_id"] == FOREIGN][0])
    for edited, deleted in (({}, [i]), ({i: {"range_m": 9000.0}}, [])):  # remove it; change it
        at.session_state[editor.key] = {
            "edited_rows": edited,
            "added_rows": [],
            "deleted_rows": deleted,
        }
        at.run()
        assert not at.exception
        errors = [e.value for e in at.error]
        assert len(errors) == 1, errors
        assert f"sensor {FOREIGN}, field 'partner': SVN's sensor was" in errors[0]
        assert "a planner of HRV changes HRV's sensors only" in errors[0]
        assert not [b for b in at.button if b.key == "save_sensors"]  # no save offered
    assert store.layer_versions(path, "hr-si", "sensors")["version"].tolist() == [1]
    # a new sensor can only be Croatia's
    assert at.selectbox(key="new_partner").options == ["HRV"]


def test_a_sensor_moved_in_the_table_shows_what_analyse_gives_for_it_moved(
    files: dict[str, Path],
) -> None:
    truth = {
        "before": _analyse(files["border"], files["sensors"]),
        "after": _analyse(files["border"], files["moved"]),
    }
    want = _expected_change(truth)
    assert want["Border gained"] > 0.3  # the move gains border (0.47 km)
    at, _ = _planner_opens_the_page(files)
    editor = at.data_editor[0]
    rows = editor.value.reset_index(drop=True)
    i = int(rows.index[rows["sensor_id"] == MOVED][0])
    lon, lat = MOVED_TO
    at.session_state[editor.key] = {
        "edited_rows": {i: {"lon": lon, "lat": lat}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    assert not at.error
    _check_shown(_metrics(at.tabs[0]), want)
    caption = " ".join(c.value for c in at.caption)
    assert f"{MOVED}: lon " in caption
    assert f"→ {lon:.5f}, lat " in caption
    assert f"→ {lat:.5f}." in caption


def test_a_sensor_is_added_at_a_clicked_grid_cell(files: dict[str, Path]) -> None:
    at, _ = _planner_opens_the_page(files)
    # what st.pydeck_chart reports for a click on a placement-grid cell (an object, no ground)
    cell = {"cell": 7, "lon": 15.61234, "lat": 45.81234}
    at.session_state["placement_map"] = {
        "selection": {"indices": {"placement_grid": [7]}, "objects": {"placement_grid": [cell]}}
    }
    at.run()
    assert at.number_input(key="new_lat").value == cell["lat"]
    assert at.number_input(key="new_lon").value == cell["lon"]
    at.text_input(key="new_id").input("HRV-NEW")
    at.selectbox(key="new_partner").select("HRV")
    at.selectbox(key="new_kind").select("radar")
    at.number_input(key="new_range").set_value(5000.0)
    at.button(key="FormSubmitter:add_sensor-Add to the table").click().run()
    assert not at.exception
    table = at.data_editor[0].value.reset_index(drop=True)
    new = table[table["sensor_id"] == "HRV-NEW"].iloc[0]
    assert (new["lon"], new["lat"], new["range_m"], new["kind"]) == (
        cell["lon"],
        cell["lat"],
        5000.0,
        "radar",
    )
    assert any("added HRV-NEW" in c.value for c in at.caption)
    # a second sensor with the same id is refused, the table unchanged
    at.text_input(key="new_id").input("HRV-NEW")
    at.button(key="FormSubmitter:add_sensor-Add to the table").click().run()
    assert any("'HRV-NEW' is already in the table" in e.value for e in at.error)
    assert len(at.data_editor[0].value) == len(table)


def test_a_non_planner_gets_no_sensors_page(files: dict[str, Path]) -> None:
    _create(files)
    users = Path(os.environ["LIMES_USERS_FILE"])
    add_user(users, "cora", partner="HRV", roles="commander", password="a long passphrase 3")
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["op"] = "hr-si"
    at.run()
    at.text_input(key="signin_name").input("cora")
    at.text_input(key="signin_password").input("a long passphrase 3")
    at.button(key="signin_submit").click().run()
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)
    assert not any(t.value.startswith("Sensors") for t in at.title)
    assert not at.data_editor


def test_the_page_refuses_a_non_planner_itself() -> None:
    """Run directly (as navigation never would for them), the page still says no."""
    users = Path(os.environ["LIMES_USERS_FILE"])
    add_user(users, "cora", partner="HRV", roles="commander", password="a long passphrase 3")
    script = f"""
import streamlit as st
from geo.access import Viewer
from ui import signin
st.session_state[signin._VIEWER] = Viewer("cora", "HRV", frozenset({{"commander"}}))
import pathlib
exec(pathlib.Path({str(ROOT / PAGE)!r}).read_text())
"""
    at = AppTest.from_string(script, default_timeout=60).run()
    assert [e.value for e in at.error] == [
        "The sensor editor is for planners: your account does not have the planner role."
    ]
    assert not at.data_editor
    assert not at.metric
