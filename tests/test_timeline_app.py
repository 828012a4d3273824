"""Issue 18 in the app: the sample's schedules and tracks, the editor keeping schedules, the
Map page's "When is it blind" section checked against ``python -m geo timeline``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.coverage.analysis import analyse
from geo.inputs import load_scenario, read_sensors, read_tracks
from geo.operations import checked_sensors, sensor_table
from geo.operations.editing import SCHEDULE_COLUMNS, TABLE_COLUMNS
from geo.timeline import detections_watched, exposed_layer, moment, timeline
from layers import timeline as lt

PARTNERS = ["EU", "LTU", "LVA", "POL"]


# ---- step 1: the scenario's tracks, the sample's schedules, the editor ------------------------


def _sample_timeline(sc: Any, time_from: str, time_to: str, *, terrain: bool = False) -> Any:
    """The engine's timeline of the sample over a window, over its DEM with ``terrain``."""
    return timeline(
        sc.border, sensors=sc.sensors, tracks=sc.tracks, sectors=sc.sectors,
        time_from=time_from, time_to=time_to, dem=sc.dem if terrain else None,
    )  # fmt: skip


def test_load_scenario_reads_the_manifests_tracks() -> None:
    sc = load_scenario(SAMPLE_DIR)
    direct, _ = read_tracks(SAMPLE_DIR / "tracks.csv")
    assert sc.tracks is not None
    pd.testing.assert_frame_equal(sc.tracks, direct)
    assert "tracks" in sc.reports
    assert sc.dem == SAMPLE_DIR / "dem.tif"


def test_a_scenario_without_tracks_has_none(tmp_path: Path) -> None:
    for name in ("border.geojson", "sensors.csv"):
        shutil.copy(SAMPLE_DIR / name, tmp_path / name)
    (tmp_path / "scenario.json").write_text(
        json.dumps({"border": "border.geojson", "sensors": "sensors.csv"}), encoding="utf-8"
    )
    sc = load_scenario(tmp_path)
    assert sc.tracks is None
    assert "tracks" not in sc.reports


def test_the_sample_sensors_have_schedules() -> None:
    sensors, report = read_sensors(SAMPLE_DIR / "sensors.csv")
    assert not report.rejected
    scheduled = sensors["schedule"].fillna("").astype(str) != ""
    assert 10 <= int(scheduled.sum()) < len(sensors)  # some, not all
    assert set(sensors.loc[scheduled, "schedule"]) == {"06:00-20:00", "06:00-12:00;14:00-20:00"}


def test_the_sample_manifest_keeps_dem_and_tracks() -> None:
    # make_sample.py writes the manifest the repository holds (dem and tracks included)
    src = (Path(__file__).parents[1] / "sample_data" / "make_sample.py").read_text("utf-8")
    manifest = json.loads((SAMPLE_DIR / "scenario.json").read_text("utf-8"))
    for key in ("dem", "tracks"):
        assert manifest[key]
        assert f'"{key}": "{manifest[key]}"' in src


def test_the_editor_keeps_every_schedule_column() -> None:
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    sensors = sensors.iloc[:6].copy()
    sensors["active_from"] = pd.Timestamp("2026-11-01T00:00Z")
    sensors["active_to"] = pd.Timestamp("2026-11-10T00:00Z")
    sensors.loc[sensors.index[0], "schedule"] = "22:00-06:00"
    sensors.loc[sensors.index[1], "outages"] = "2026-11-02T10:00:00Z/2026-11-02T11:00:00Z"
    table = sensor_table(sensors)
    assert list(table.columns) == [*TABLE_COLUMNS, *SCHEDULE_COLUMNS]
    table.loc[2, "range_m"] = 1234.0  # an edit elsewhere
    checked = checked_sensors(table, partners=PARTNERS)
    for column in SCHEDULE_COLUMNS:
        pd.testing.assert_series_equal(
            checked[column].reset_index(drop=True),
            sensors[column].reset_index(drop=True),
            check_names=False,
            check_dtype=False,
        )
    assert checked["range_m"].iloc[2] == 1234.0


def test_a_bad_schedule_in_the_editor_is_refused_naming_the_sensor() -> None:
    sensors, _ = read_sensors(SAMPLE_DIR / "sensors.csv")
    table = sensor_table(sensors.iloc[:3])
    table.loc[1, "schedule"] = "25:00-26:00"
    with pytest.raises(ValidationError, match=f"sensor {table.loc[1, 'sensor_id']}.*schedule"):
        checked_sensors(table, partners=PARTNERS)


# ---- step 2: the Map page's "When is it blind" section --------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _cli_timeline(
    tmp_path: Path, time_from: str, time_to: str, tau: float, *, dem: bool = True
) -> dict:
    """``python -m geo timeline`` on the sample: the outside truth the page must show.

    ``dem``: with the sample's DEM (``--dem``), as the page with "Line of sight over
    terrain" on (its default).
    """
    out = tmp_path / f"timeline_{'dem' if dem else 'flat'}.json"
    s = SAMPLE_DIR
    subprocess.run(
        [
            sys.executable,
            "-m",
            "geo",
            "timeline",
            *("--border", str(s / "border.geojson"), "--sensors", str(s / "sensors.csv")),
            *("--tracks", str(s / "tracks.csv"), "--sectors", str(s / "sectors.geojson")),
            *("--time-from", time_from, "--time-to", time_to),
            *("--crossing-time-min", f"{tau:g}", "--out", str(out)),
            *(("--dem", str(s / "dem.tif")) if dem else ()),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    return json.loads(out.read_text("utf-8"))


def _chart_values(at: AppTest) -> list[float]:
    """The 24 bar heights of the section's hour chart, in hour order."""
    charts = [e for e in at.get("vega_lite_chart") if '"bar"' in e.proto.spec]
    assert len(charts) == 1
    table = pa.ipc.open_stream(charts[0].proto.datasets[0].data.data).read_all().to_pandas()
    labels = [c for c in table.columns if "index" in c]
    rows = table.sort_values(labels[0]) if labels else table
    return [float(v) for v in rows["watched %"]]


def test_the_map_pages_timeline_section_agrees_with_the_cli(tmp_path: Path) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=400).run()
    assert not at.exception
    at.sidebar.number_input(key="tau_min").set_value(45.0).run()
    assert not at.exception
    lo, hi = at.session_state["win"]  # the applied window (naive UTC)
    assert at.sidebar.toggle(key="terrain").value  # line of sight over terrain: the default
    rep = _cli_timeline(tmp_path, lo.isoformat() + "Z", hi.isoformat() + "Z", 45.0)
    assert rep["parameters"]["engine"] == "terrain"
    by_hour = [r["watched_pct"] for r in rep["by_hour"]]
    assert _chart_values(at) == pytest.approx(by_hour, abs=1e-9)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Exposed > 45 min"] == f"{rep['border']['exposed_km']:,.1f} km"
    assert metrics["Watched (time-average)"] == f"{rep['border']['watched_pct']:.1f} %"
    assert metrics["Never watched"] == f"{rep['border']['never_watched_km']:,.1f} km"
    # the exposed layer on the page's one map, once the user switches it on
    maps = at.get("deck_gl_json_chart")
    assert len(maps) == 1
    assert '"id":"exposed"' not in maps[0].proto.json
    at.sidebar.checkbox(key="layer_exposure").check()
    at.sidebar.checkbox(key="layer_tracks").check().run()
    assert not at.exception
    maps = at.get("deck_gl_json_chart")
    assert len(maps) == 1  # no second map
    spec = json.loads(maps[0].proto.json)
    layer = next(x for x in spec["layers"] if x["id"] == "exposed")
    sc = load_scenario(SAMPLE_DIR)
    tl = _sample_timeline(sc, lo.isoformat() + "Z", hi.isoformat() + "Z", terrain=True)
    runs = exposed_layer(tl, 45.0)
    assert len(layer["data"]) == len(runs) >= 1
    tips = sorted(d["tooltip"] for d in layer["data"])
    want = sorted(f"longest unwatched: {m:,.0f} min" for m in runs["max_unwatched_min"])
    assert sorted(t.splitlines()[-1] for t in tips) == want
    tracks = next(x for x in spec["layers"] if x["id"] == "tracks")
    assert len(tracks["data"]) == 5  # the sample's five drone and patrol tracks

    # Terrain off: the section is the flat engine's, which differs from the terrain's.
    at.sidebar.toggle(key="terrain").set_value(False).run()
    assert not at.exception
    flat = _cli_timeline(tmp_path, lo.isoformat() + "Z", hi.isoformat() + "Z", 45.0, dem=False)
    assert flat["parameters"]["engine"] == "flat"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Watched (time-average)"] == f"{flat['border']['watched_pct']:.1f} %"
    assert metrics["Exposed > 45 min"] == f"{flat['border']['exposed_km']:,.1f} km"
    assert _chart_values(at) == pytest.approx([r["watched_pct"] for r in flat["by_hour"]])
    assert f"{flat['border']['watched_pct']:.1f}" != f"{rep['border']['watched_pct']:.1f}"


def test_the_exposed_lines_add_up_to_the_reports_exposed_km() -> None:
    sc = load_scenario(SAMPLE_DIR)
    tl = timeline(
        sc.border,
        sensors=sc.sensors,
        tracks=sc.tracks,
        sectors=sc.sectors,
        time_from="2026-11-02T00:00Z",
        time_to="2026-11-04T00:00Z",
        crossing_time_min=60.0,
    )
    lines = lt.with_length(exposed_layer(tl, 60.0))
    assert lt.exposed_km(lines) == pytest.approx(tl.report["border"]["exposed_km"], rel=1e-6)
    assert (
        lt.exposed_km(lt.with_length(exposed_layer(tl, 10_000.0))) == 0.0
    )  # longer than the window


def test_a_partner_view_mutes_other_partners_tracks() -> None:
    sc = load_scenario(SAMPLE_DIR)
    lines = lt.track_lines(sc.tracks)
    assert sorted(lines["track_id"]) == sorted(sc.tracks["track_id"].unique())
    colors = dict.fromkeys(lines["partner"], (10, 20, 30))
    layer = lt.tracks_layer(lines, colors, highlight="LTU")
    assert not layer.pickable  # thousands of vertices must not slow the map's clicks
    alpha = {d["track_id"]: d["c"][3] for d in layer.data}
    for tid, partner in zip(lines["track_id"], lines["partner"], strict=True):
        assert (alpha[tid] > lt.MUTED_ALPHA) == (partner == "LTU")


def test_track_lines_are_drawn_simplified_within_their_tolerance() -> None:
    sc = load_scenario(SAMPLE_DIR)
    lines = lt.track_lines(sc.tracks)
    drawn = shapely.get_num_coordinates(lines.geometry.to_numpy()).sum()
    assert drawn < len(sc.tracks) / 4  # repeated sorties: far fewer vertices than fixes
    for tid, line in zip(lines["track_id"], lines.geometry, strict=True):
        fixes = sc.tracks[sc.tracks["track_id"] == tid].sort_values("time", kind="stable")
        full = shapely.LineString(np.column_stack([fixes.geometry.x, fixes.geometry.y]))
        # every fix lies on the drawn line within the tolerance, and the line on the fixes
        gap = shapely.hausdorff_distance(full, line)
        assert gap <= lt.TRACK_DRAW_TOLERANCE_DEG * 1.0001, (tid, gap)


def _step_truth(sc: Any, tl: Any, t0: Any, t1: Any) -> tuple[int, int]:
    """The playback step's detections and those in the corridor unwatched at their time.

    The corridor from ``analyse`` (flat: whether a point is in the corridor does not depend
    on the terrain), the count from the report of the engine's ``timeline`` (what
    ``python -m geo timeline --detections`` writes) over the same window and DEM.
    """
    det = sc.detections
    step = det[
        (det["time"] >= pd.Timestamp(t0, tz="UTC")) & (det["time"] <= pd.Timestamp(t1, tz="UTC"))
    ]
    status = analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=step).layers[
        "detections"
    ]["coverage_status"]
    inside = step[(status != "outside").to_numpy()]
    rep = timeline(
        sc.border,
        sensors=sc.sensors,
        tracks=sc.tracks,
        sectors=sc.sectors,
        detections=inside,
        time_from=tl.report["parameters"]["time_from"],
        time_to=tl.report["parameters"]["time_to"],
        dem=sc.dem,
    ).report["detections"]
    assert rep["total"] == len(inside)
    return len(step), rep["unwatched_at_time"]


def test_playback_shows_the_moment_on_the_main_map() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=400).run()
    assert not at.exception
    before = {x.label: x.value for x in at.metric}
    lo, hi = at.session_state["win"]
    at.sidebar.button(key="play").click().run()
    assert not at.exception
    when = at.session_state["at"]
    assert when == at.session_state["win"][1]  # the playback window's end
    assert lo < when < hi
    sc = load_scenario(SAMPLE_DIR)
    tl = _sample_timeline(sc, lo.isoformat() + "Z", hi.isoformat() + "Z", terrain=True)
    m = moment(tl, when.isoformat() + "Z")
    metrics = {x.label: x for x in at.metric}
    # the moment's figures lead the metrics row: watched now over terrain, as the engine's
    assert metrics["Watched now"].value == f"{m.watched_pct:.1f} %"
    assert metrics["Watched now"].proto.delta == f"{int(m.active.sum())}/{m.active.size} on"
    n, unwatched = _step_truth(sc, tl, *at.session_state["win"])
    assert metrics["Unwatched then"].value == f"{unwatched:,}"
    assert metrics["Unwatched then"].proto.delta == f"of {n:,} detections"
    assert 0 < unwatched < n
    # the window's figures stay the analysis's, named as every sensor's
    assert metrics["Coverage, all on"].value == before["Coverage"]
    assert metrics["Longest gap"].value == before["Longest gap"]
    text = " ".join(e.value for e in at.markdown)
    assert "*now*, *then*: this moment" in text
    maps = at.get("deck_gl_json_chart")
    assert len(maps) == 1
    layers = {x["id"]: x for x in json.loads(maps[0].proto.json)["layers"]}
    # only the sensors active at the moment draw their footprints
    assert len(layers["footprints"]["data"]) == int(m.active.sum()) < len(sc.sensors)
    assert len(layers["moment_tracks"]["data"]) == len(m.positions)
    assert len(layers["moment_watched"]["data"]) == len(m.watched_lines)
    # pausing keeps the moment; leaving it shows the whole window again, without moment layers
    at.sidebar.button(key="play").click().run()
    at.sidebar.button(key="leave_moment").click().run()
    assert not at.exception
    layers = {x["id"] for x in json.loads(at.get("deck_gl_json_chart")[0].proto.json)["layers"]}
    assert "moment_watched" not in layers
    assert at.session_state["win"] == (lo, hi)
    assert "Watched now" not in {x.label for x in at.metric}
    assert "Partner overlap" in {x.label for x in at.metric}


def test_playback_with_terrain_off_is_flat() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=400).run()
    at.sidebar.toggle(key="terrain").set_value(False).run()
    lo, hi = at.session_state["win"]
    at.sidebar.button(key="play").click().run()
    assert not at.exception
    sc = load_scenario(SAMPLE_DIR)
    tl = _sample_timeline(sc, lo.isoformat() + "Z", hi.isoformat() + "Z")
    m = moment(tl, at.session_state["at"].isoformat() + "Z")
    metrics = {x.label: x.value for x in at.metric}
    assert metrics["Watched now"] == f"{m.watched_pct:.1f} %"
    # In a partner view the step's detections are the headline's: those in its sectors.
    counts = {}
    for view in ("LTU", "Joint view"):
        at.sidebar.selectbox(key="partner").set_value(view).run()
        assert not at.exception
        got = {x.label: x.proto for x in at.metric}
        n = re.search(r"of ([\d,]+) detections", got["Detections in gaps"].help)
        assert n, got["Detections in gaps"].help
        assert got["Unwatched then"].delta == f"of {n.group(1)} detections"
        counts[view] = int(n.group(1).replace(",", ""))
    assert 0 < counts["LTU"] < counts["Joint view"]


@pytest.mark.parametrize("dem", [False, True], ids=["flat", "terrain"])
def test_detections_watched_adds_up_to_the_reports_counts(dem: bool) -> None:
    """Each detection's flag sums to the report's ``detections`` section (the CLI's)."""
    sc = load_scenario(SAMPLE_DIR)
    kw = {
        "sensors": sc.sensors,
        "tracks": sc.tracks,
        "sectors": sc.sectors,
        "time_from": "2026-11-02T00:00Z",
        "time_to": "2026-11-03T00:00Z",
        "dem": sc.dem if dem else None,
    }
    before = sc.detections.copy()
    report = timeline(sc.border, detections=sc.detections, **kw).report["detections"]
    inside, watched = detections_watched(timeline(sc.border, **kw), sc.detections)
    pd.testing.assert_frame_equal(sc.detections, before)  # the input is not changed
    assert int(inside.sum()) == report["total"] > 0
    assert int(watched.sum()) == report["watched_at_time"] > 0
    assert int((inside & ~watched).sum()) == report["unwatched_at_time"] > 0
    assert not watched[~inside].any()
