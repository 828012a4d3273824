"""``python -m geo timeline``: its flags, its JSON contract and its refusals (exit 2)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from cli import main
from geo.core.settings import SAMPLE_DIR

BORDER = SAMPLE_DIR / "border.geojson"
#: The sample's sensors without the schedules the sample has (these tests add their own).
SENSORS = Path(tempfile.mkdtemp(prefix="limes-timeline-cli-")) / "sensors.csv"
pd.read_csv(SAMPLE_DIR / "sensors.csv", dtype=str, keep_default_na=False).drop(
    columns=["schedule", "outages"], errors="ignore"
).to_csv(SENSORS, index=False, lineterminator="\n")
SECTORS = SAMPLE_DIR / "sectors.geojson"

#: The contract's keys (keys may be added, never removed).
BORDER_KEYS = {"length_km", "watched_pct", "always_watched_km", "never_watched_km", "exposed_km"}
STRETCH_KEYS = {
    "segment",
    "start_km",
    "end_km",
    "max_unwatched_min",
    "mean_revisit_min",
    "watched_pct",
    "partners",
    "sector_ids",
}


def _equator_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    border = tmp_path / "border.geojson"
    border.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "equator"},
                        "geometry": {"type": "LineString", "coordinates": [[10, 0], [11, 0]]},
                    }
                ],
            }
        )
    )
    sensors = tmp_path / "sensors.csv"
    sensors.write_text(
        "sensor_id,partner,kind,lat,lon,range_m,schedule\nS1,P,tower,0,10.5,200000,00:00-12:00\n"
    )
    tracks = tmp_path / "tracks.csv"
    rows = ["track_id,time,lat,lon,partner"]
    for k in range(0, 721):  # one hour, a fix every 5 s, flying east at 0.0001°/5 s
        rows.append(
            f"D1,2026-05-01T13:{k * 5 // 60:02d}:{k * 5 % 60:02d}Z,0,{10.1 + k * 1e-4:.6f},Q"
        )
    tracks.write_text("\n".join(rows[:721]) + "\n")
    return border, sensors, tracks


def test_sample_report_has_the_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "timeline.json"
    code = main(
        [
            "timeline",
            "--border",
            str(BORDER),
            "--sensors",
            str(SENSORS),
            "--sectors",
            str(SECTORS),
            "--time-from",
            "2026-11-01T00:00:00Z",
            "--time-to",
            "2026-11-02T00:00:00Z",
            "--detections",
            str(SAMPLE_DIR / "detections.csv"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rep = json.loads(out.read_text())
    assert set(rep["border"]) >= BORDER_KEYS
    assert {"time_from", "time_to", "step_s", "crossing_time_min", "max_fix_gap_s"} <= set(
        rep["parameters"]
    )
    assert len(rep["by_hour"]) == 24
    assert [r["hour"] for r in rep["by_hour"]] == list(range(24))
    assert all(set(s) >= STRETCH_KEYS for s in rep["stretches"])
    worst = [s["max_unwatched_min"] for s in rep["stretches"]]
    assert worst == sorted(worst, reverse=True)
    assert {"watched_pct", "exposed_km"} <= set(next(iter(rep["partners"].values())))
    assert {"total", "watched_at_time", "unwatched_at_time"} <= set(rep["detections"])
    assert rep["detections"]["total"] > 0
    # No schedules in the sample: the timeline's watched share is analyse's coverage.
    assert main(["analyse", "--border", str(BORDER), "--sensors", str(SENSORS)]) == 0
    analysed = json.loads(capsys.readouterr().out)
    assert rep["border"]["watched_pct"] == pytest.approx(analysed["border"]["coverage_pct"])
    assert rep["border"]["never_watched_km"] == pytest.approx(analysed["border"]["gap_km"])


def test_aliases_tracks_and_flags(tmp_path: Path) -> None:
    border, sensors, tracks = _equator_files(tmp_path)
    out = tmp_path / "t.json"
    args = [
        "timeline",
        "--border",
        str(border),
        "--sensors",
        str(sensors),
        "--tracks",
        str(tracks),
        "--from",
        "2026-05-01T00:00Z",
        "--to",
        "2026-05-02T00:00Z",
        "--track-range-m",
        "1500",
        "--crossing-time-min",
        "45",
        "--step-s",
        "30",
        "--max-fix-gap-s",
        "60",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    rep = json.loads(out.read_text())
    p = rep["parameters"]
    assert (p["track_range_m"], p["crossing_time_min"], p["step_s"], p["max_fix_gap_s"]) == (
        1500.0,
        45.0,
        30.0,
        60.0,
    )
    assert p["tracks"] == 1
    assert set(rep["partners"]) == {"P", "Q"}
    # The drone flies 13:00-14:00, when the scheduled sensor is off: hour 13 is partly watched.
    assert rep["by_hour"][13]["watched_pct"] > 0
    assert rep["by_hour"][15]["watched_pct"] == 0.0
    assert rep["by_hour"][3]["watched_pct"] == pytest.approx(100.0)
    assert rep["inputs"]["tracks"]["rows_accepted"] == 720


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--time-from", "soon", "--time-to", "2026-05-02"], "time_from: not a time"),
        (["--time-from", "2026-05-02", "--time-to", "2026-05-01"], "before time_from"),
        (["--time-from", "2026-05-01", "--time-to", "2026-05-02", "--step-s", "0"], "--step-s"),
        (
            ["--time-from", "2026-05-01", "--time-to", "2026-05-02", "--track-range-m", "-1"],
            "--track-range-m",
        ),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], match: str
) -> None:
    border, sensors, _ = _equator_files(tmp_path)
    code = main(["timeline", "--border", str(border), "--sensors", str(sensors), *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert match in err
    assert "Traceback" not in err


def test_nothing_watching_and_missing_border_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    border, _, _ = _equator_files(tmp_path)
    window = ["--time-from", "2026-05-01", "--time-to", "2026-05-02"]
    assert main(["timeline", "--border", str(border), *window]) == 2
    assert "give --sensors, --tracks or both" in capsys.readouterr().err
    assert main(["timeline", "--sensors", str(SENSORS), *window]) == 2
    assert "--border" in capsys.readouterr().err


def test_operation_or_layer_files_not_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The timeline loads its layers as the other commands do (cli.options.load_layers)."""
    border, sensors, _ = _equator_files(tmp_path)
    window = ["--time-from", "2026-05-01", "--time-to", "2026-05-02"]
    store = ["--store", str(tmp_path / "none.gpkg")]
    both = ["timeline", "--operation", "x", "--border", str(border), "--sensors", str(sensors)]
    assert main([*both, *store, *window]) == 2
    err = capsys.readouterr().err
    assert "--operation or layer files, not both" in err
    assert "--border --sensors" in err
    assert not (tmp_path / "none.gpkg").exists()  # refused before the store is opened
    only_sensors = ["timeline", "--sensors", str(sensors), *store, *window]
    assert main(only_sensors) == 2
    assert "arguments are required: --border (or --operation NAME" in capsys.readouterr().err


def test_bad_tracks_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    border, _, _ = _equator_files(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,lat,lon\n2026-05-01T00:00Z,0,10.1\n")
    code = main(
        [
            "timeline",
            "--border",
            str(border),
            "--tracks",
            str(bad),
            "--time-from",
            "2026-05-01",
            "--time-to",
            "2026-05-02",
        ]
    )
    assert code == 2
    assert "bad.csv" in capsys.readouterr().err


def test_dem_static_sensors_follow_their_viewsheds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a DEM, sensors watch what analyse --dem finds, gated by their schedules."""
    sensors = tmp_path / "sensors.csv"
    text = SENSORS.read_text().splitlines()
    sensors.write_text(
        "\n".join([text[0] + ",schedule"] + [line + ",00:00-12:00" for line in text[1:]]) + "\n"
    )
    dem = str(SAMPLE_DIR / "dem.tif")
    assert main(["analyse", "--border", str(BORDER), "--sensors", str(SENSORS), "--dem", dem]) == 0
    analysed = json.loads(capsys.readouterr().out)["border"]
    out = tmp_path / "t.json"
    args = ["timeline", "--border", str(BORDER), "--sensors", str(sensors), "--dem", dem]
    window = ["--time-from", "2026-05-01", "--time-to", "2026-05-03", "--out", str(out)]
    assert main(args + window) == 0
    rep = json.loads(out.read_text())
    assert rep["parameters"]["engine"] == "terrain"
    assert rep["border"]["watched_pct"] == pytest.approx(analysed["coverage_pct"] / 2, abs=1e-3)
    assert rep["by_hour"][6]["watched_pct"] == pytest.approx(analysed["coverage_pct"], abs=1e-3)
    assert rep["border"]["never_watched_km"] == pytest.approx(analysed["gap_km"], abs=1e-6)
    assert rep["border"]["always_watched_km"] == 0.0


def test_operation_keeps_schedules_through_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sensors with schedules stored in an operation give the timeline of the files."""
    sensors = tmp_path / "sensors.csv"
    text = SENSORS.read_text().splitlines()
    rows = [text[0] + ",schedule,outages"]
    for i, line in enumerate(text[1:]):
        schedule = "00:00-12:00" if i % 2 == 0 else ""
        outage = "2026-05-01T10:00Z/2026-05-01T11:00Z" if i % 3 == 0 else ""
        rows.append(f"{line},{schedule},{outage}")
    sensors.write_text("\n".join(rows) + "\n")
    store = tmp_path / "limes.gpkg"
    create = ["operation", "create", "t1", "--border", str(BORDER), "--sensors", str(sensors)]
    assert main([*create, "--store", str(store), "--user", "planner"]) == 0
    capsys.readouterr()
    window = ["--time-from", "2026-05-01", "--time-to", "2026-05-02"]
    from_store, from_files = tmp_path / "a.json", tmp_path / "b.json"
    stored = ["timeline", "--operation", "t1", "--store", str(store), *window]
    assert main([*stored, "--out", str(from_store)]) == 0
    files = ["timeline", "--border", str(BORDER), "--sensors", str(sensors), *window]
    assert main([*files, "--out", str(from_files)]) == 0
    a, b = json.loads(from_store.read_text()), json.loads(from_files.read_text())
    assert a["border"] == b["border"]
    assert a["by_hour"] == b["by_hour"]
    # The schedules matter: half the sensors off by night, a third down for an hour.
    assert a["by_hour"][20]["watched_pct"] < a["by_hour"][2]["watched_pct"]
    assert a["by_hour"][10]["watched_pct"] < a["by_hour"][9]["watched_pct"]


def test_sample_tracks_watch_part_of_the_gaps(tmp_path: Path) -> None:
    """The sample's drones and patrols watch border that no sensor watches, some of the time."""
    window = ["--time-from", "2026-11-01", "--time-to", "2026-11-08"]
    base = ["timeline", "--border", str(BORDER), "--sensors", str(SENSORS), *window]
    det = ["--detections", str(SAMPLE_DIR / "detections.csv")]
    static, tracked = tmp_path / "static.json", tmp_path / "tracked.json"
    assert main([*base, *det, "--out", str(static)]) == 0
    tracks = ["--tracks", str(SAMPLE_DIR / "tracks.csv")]
    assert main([*base, *det, *tracks, "--out", str(tracked)]) == 0
    a, b = json.loads(static.read_text()), json.loads(tracked.read_text())
    assert b["inputs"]["tracks"]["rejected"] == []
    assert b["parameters"]["tracks"] == 5
    assert b["border"]["never_watched_km"] < a["border"]["never_watched_km"] - 50
    assert b["border"]["watched_pct"] > a["border"]["watched_pct"]
    assert b["border"]["always_watched_km"] == a["border"]["always_watched_km"]
    assert b["detections"]["watched_at_time"] > a["detections"]["watched_at_time"]
    # Drones fly 00-04, 06-08, 11-13, 14-16 and 19-21 UTC, patrols 06-12 and 18-24 (see
    # sample_data/make_tracks.py): hour 1 gains, hours 4, 5, 16 and 17 do not.
    assert b["by_hour"][1]["watched_pct"] > a["by_hour"][1]["watched_pct"]
    for hour in (4, 5, 16, 17):
        assert b["by_hour"][hour]["watched_pct"] == a["by_hour"][hour]["watched_pct"]
