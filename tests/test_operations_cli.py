"""``python -m geo operation ...`` run as a user runs it, checked against ``analyse``.

The border is a real one no other test uses: the Croatia–Slovenia land border of Natural
Earth 1:10m (``../shared/realdata/borders``, public domain; see its PROVENANCE.md). The
sensors are generated along it (seeded). Every figure an operation command prints is checked
against ``python -m geo analyse`` on the same files, and refused input against the store's
bytes before and after.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
NE_10M = (
    ROOT.parent
    / "shared"
    / "realdata"
    / "borders"
    / "ne_10m_boundary_lines_land"
    / "ne_10m_admin_0_boundary_lines_land.shp"
)

pytestmark = pytest.mark.skipif(not NE_10M.is_file(), reason="../shared/realdata is absent")

N_SENSORS = 40


def geo(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def ok(*args: str | Path) -> Any:
    done = geo(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refused(*args: str | Path) -> str:
    done = geo(*args)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def analysed(*args: str | Path) -> dict[str, Any]:
    report = ok("analyse", *args)
    report.pop("generated_at")
    report.pop("inputs")
    return report


def _sensors(border: shapely.Geometry, seed: int) -> pd.DataFrame:
    """Sensors along the border: a point at a random chainage, moved up to ~1 km off it."""
    rng = np.random.default_rng(seed)
    where = np.sort(rng.uniform(0, 1, N_SENSORS))
    points = shapely.line_interpolate_point(shapely.line_merge(border), where, normalized=True)
    partner = np.where(rng.uniform(size=N_SENSORS) < 0.5, "HRV", "SVN")
    kind = rng.choice(["camera", "radar", "tower"], N_SENSORS)
    fov = np.where(kind == "camera", rng.uniform(40, 120, N_SENSORS).round(1), np.nan)
    return pd.DataFrame(
        {
            "sensor_id": [f"{p}-{i:03d}" for i, p in enumerate(partner)],
            "partner": partner,
            "kind": kind,
            "lat": (shapely.get_y(points) + rng.uniform(-0.01, 0.01, N_SENSORS)).round(6),
            "lon": (shapely.get_x(points) + rng.uniform(-0.01, 0.01, N_SENSORS)).round(6),
            "range_m": rng.uniform(1500, 8000, N_SENSORS).round(0),
            "azimuth_deg": np.where(
                kind == "camera", rng.uniform(0, 360, N_SENSORS).round(1), np.nan
            ),
            "fov_deg": fov,
            "status": "active",
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("operation")
    lines = pyogrio.read_dataframe(NE_10M)
    pair = lines[lines["adm0_a3_l"].isin(["HRV", "SVN"]) & lines["adm0_a3_r"].isin(["HRV", "SVN"])]
    assert len(pair) == 1  # one feature: the Croatia–Slovenia line
    border = gpd.GeoDataFrame(
        {"name": ["Croatia–Slovenia"]}, geometry=list(pair.geometry), crs="EPSG:4326"
    )
    paths = {
        "border": folder / "border.geojson",
        "sensors": folder / "sensors.csv",
        "partners": folder / "partners.csv",
    }
    border.to_file(paths["border"])
    _sensors(border.geometry.iloc[0], seed=16).to_csv(paths["sensors"], index=False)
    paths["partners"].write_text(
        "id,name,colour\nSVN,Slovenian police,#00c8ff\nHRV,Croatian border police,#ff7f0e\n",
        encoding="utf-8",
    )
    return paths


def _operation_tables(store: Path) -> str:
    """A digest of the operations' tables and the uploads (what a refusal must not touch)."""
    conn = sqlite3.connect(store)
    try:
        digest = hashlib.sha256()
        for table in ("operations", "operation_layers", "operation_dems", "uploads"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def created(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = tmp_path_factory.mktemp("store") / "limes.gpkg"
    result = ok(
        "operation", "create", "hr-si", "--border", files["border"], "--sensors",
        files["sensors"], "--partners", files["partners"], "--corridor-km", "3",
        "--timezone", "Europe/Ljubljana", "--store", store, "--user", "planner1",
    )  # fmt: skip
    return {"store": store, "result": result}


def test_create_gives_the_contract_and_analyse_s_figures(
    files: dict[str, Path], created: dict[str, Any]
) -> None:
    result = created["result"]
    assert set(result) == {
        "operation",
        "version",
        "border_km",
        "sectors",
        "sensors",
        "partners",
        "inputs",
    }
    report = ok("analyse", "--border", files["border"], "--sensors", files["sensors"])
    assert result["border_km"] == report["border"]["length_km"]
    assert result["border_km"] > 400  # the real line, not a stub
    assert (result["operation"], result["version"], result["sectors"]) == ("hr-si", 1, 0)
    assert result["sensors"] == N_SENSORS == report["inputs"]["sensors"]["rows_accepted"]
    assert result["partners"] == ["SVN", "HRV"]  # the partners file's order
    assert result["inputs"] == report["inputs"]


def test_list_and_show(files: dict[str, Path], created: dict[str, Any]) -> None:
    store = created["store"]
    listed = ok("operation", "list", "--store", store)
    assert [o["operation"] for o in listed["operations"]] == ["hr-si"]
    assert listed["operations"][0]["created_by"] == "planner1"
    shown = ok("operation", "show", "hr-si", "--store", store)
    report = ok(
        "analyse", "--border", files["border"], "--sensors", files["sensors"], "--corridor-km", "3"
    )
    assert shown["border_km"] == report["border"]["length_km"]
    assert (shown["sensors"], shown["sectors"], shown["dem"]) == (N_SENSORS, 0, None)
    assert (shown["corridor_km"], shown["timezone"]) == (3.0, "Europe/Ljubljana")
    assert [p["id"] for p in shown["partners"]] == ["SVN", "HRV"]
    assert shown["partners"][0]["colour"] == "#00c8ff"


def test_export_reads_back_to_the_same_report(
    files: dict[str, Path], created: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "exported"
    written = ok("operation", "export", "hr-si", "--out", out, "--store", created["store"])
    assert written["files"] == [
        "border.geojson", "partners.csv", "scenario.json", "sensors.geojson",
    ]  # fmt: skip
    truth = analysed(
        "--border", files["border"], "--sensors", files["sensors"], "--corridor-km", "3"
    )
    again = analysed(
        "--border",
        out / "border.geojson",
        "--sensors",
        out / "sensors.geojson",
        "--corridor-km",
        "3",
    )
    assert again == truth
    manifest = json.loads((out / "scenario.json").read_text(encoding="utf-8"))
    assert (manifest["border"], manifest["sensors"]) == ("border.geojson", "sensors.geojson")
    assert list(manifest["partners"]) == ["SVN", "HRV"]


def test_a_sensor_version_and_its_diff(
    files: dict[str, Path], created: dict[str, Any], tmp_path: Path
) -> None:
    store = created["store"]
    table = pd.read_csv(files["sensors"])
    edited = table.copy()
    edited.loc[3, "range_m"] = 250.0
    removed = str(edited.loc[7, "sensor_id"])
    edited = edited.drop(index=7)
    new = edited.iloc[[0]].assign(sensor_id="SVN-NEW", partner="SVN", lat=table.lat.mean())
    edited = pd.concat([edited, new], ignore_index=True)
    path = tmp_path / "sensors_v2.csv"
    edited.to_csv(path, index=False)
    saved = ok("operation", "sensors", "hr-si", "--sensors", path, "--user", "ann", "--note",
               "moved", "--store", store)  # fmt: skip
    assert saved["version"] == 2
    changed_id = str(table.loc[3, "sensor_id"])
    expected = {
        "added": ["SVN-NEW"],
        "removed": [removed],
        "changed": {changed_id: {"range_m": [float(table.loc[3, "range_m"]), 250.0]}},
    }
    assert saved["changes"] == expected
    changes = ok("operation", "diff", "hr-si", "--from", "1", "--to", "2", "--store", store)
    assert {k: changes[k] for k in ("added", "removed", "changed")} == expected
    before = analysed(
        "--border", files["border"], "--sensors", files["sensors"], "--corridor-km", "3"
    )
    after = analysed("--border", files["border"], "--sensors", path, "--corridor-km", "3")
    coverage = changes["coverage"]
    assert coverage["covered_before_km"] == pytest.approx(before["border"]["covered_km"], abs=1e-3)
    assert coverage["covered_after_km"] == pytest.approx(after["border"]["covered_km"], abs=1e-3)
    shown = ok("operation", "show", "hr-si", "--store", store)
    assert shown["version"] == 2
    audit = shown["versions"]["sensors"][1]
    assert (audit["created_by"], json.loads(audit["note"])["note"]) == ("ann", "moved")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "nope"), r"no such operation.*'nope'"),
        (("export", "nope", "--out", "{tmp}/x"), r"no such operation.*'nope'"),
        (("sensors", "nope", "--sensors", "{sensors}"), r"no such operation.*'nope'"),
        (("diff", "hr-si", "--from", "1", "--to", "9"), r"no such sensors version.*9"),
        (("diff", "nope", "--from", "1", "--to", "2"), r"no such operation.*'nope'"),
        (
            ("create", "hr-si", "--border", "{border}", "--sensors", "{sensors}"),
            r"exists already.*'hr-si'.*Nothing was stored",
        ),
        (
            ("create", "bad name", "--border", "{border}", "--sensors", "{sensors}"),
            r"not an operation name",
        ),
        (
            (
                "create",
                "x2",
                "--border",
                "{border}",
                "--sensors",
                "{sensors}",
                "--partners",
                "{bad_partners}",
            ),
            r"partners\.csv row 2, field 'id': not a partner id.*'A B'",
        ),
        (
            (
                "create",
                "x3",
                "--border",
                "{border}",
                "--sensors",
                "{sensors}",
                "--partners",
                "{one_partner}",
            ),
            r"sensors\.csv row \d+, field 'partner': .*does not take part.*'HRV'",
        ),
        (
            ("create", "x4", "--border", "{border}", "--sensors", "{bad_sensors}"),
            r"bad_sensors\.csv row 3, field 'range_m': .*> 0.*Nothing was stored",
        ),
        (
            ("sensors", "hr-si", "--sensors", "{bad_sensors}"),
            r"bad_sensors\.csv row 3, field 'range_m'",
        ),
        (
            ("create", "x5", "--border", "{tmp}/none.geojson", "--sensors", "{sensors}"),
            r"none\.geojson",
        ),
        (
            (
                "create",
                "x6",
                "--border",
                "{border}",
                "--sensors",
                "{sensors}",
                "--partners",
                "{red_partners}",
            ),
            r"red\.csv, partner HRV: colour #d62728 is too close to the status colour gap.*"
            r"Nothing was stored.*map's palette",
        ),
    ],
)
def test_bad_input_exits_2_and_stores_nothing(
    files: dict[str, Path],
    created: dict[str, Any],
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    store = created["store"]
    (tmp_path / "partners.csv").write_text("id,name\nSVN,Slovenia\nA B,Nobody\n", encoding="utf-8")
    (tmp_path / "one" / "partners.csv").parent.mkdir()
    (tmp_path / "one" / "partners.csv").write_text("id,name\nSVN,Slovenia\n", encoding="utf-8")
    (tmp_path / "red.csv").write_text(  # the gap's red: a partner drawn like a gap
        "id,name,colour\nSVN,Slovenia,\nHRV,Croatia,#d62728\n", encoding="utf-8"
    )
    bad = pd.read_csv(files["sensors"])
    bad.loc[2, "range_m"] = -5
    bad.to_csv(tmp_path / "bad_sensors.csv", index=False)
    values = {
        "tmp": tmp_path,
        "border": files["border"],
        "sensors": files["sensors"],
        "bad_partners": tmp_path / "partners.csv",
        "one_partner": tmp_path / "one" / "partners.csv",
        "bad_sensors": tmp_path / "bad_sensors.csv",
        "red_partners": tmp_path / "red.csv",
    }
    before = (_operation_tables(store), ok("operation", "list", "--store", store))
    stderr = refused("operation", *(a.format(**values) for a in args), "--store", store)
    assert re.search(message, stderr), stderr
    assert (_operation_tables(store), ok("operation", "list", "--store", store)) == before


# --------------------------------------------------------------------------------------
# --operation on analyse, export, snapshot, ingest and detections
# --------------------------------------------------------------------------------------


@pytest.fixture
def fresh(files: dict[str, Path], tmp_path: Path) -> Path:
    store = tmp_path / "fresh.gpkg"
    ok("operation", "create", "hr-si", "--border", files["border"], "--sensors",
       files["sensors"], "--partners", files["partners"], "--corridor-km", "3",
       "--store", store)  # fmt: skip
    return store


def test_analyse_export_and_snapshot_of_a_stored_operation(
    files: dict[str, Path], fresh: Path, tmp_path: Path
) -> None:
    layer_files = ("--border", files["border"], "--sensors", files["sensors"])
    # the operation's corridor depth (3 km) is the default
    assert analysed("--operation", "hr-si", "--store", fresh) == analysed(
        *layer_files, "--corridor-km", "3"
    )
    assert analysed("--operation", "hr-si", "--store", fresh, "--corridor-km", "7") == analysed(
        *layer_files, "--corridor-km", "7"
    )
    a = ok("export", "--operation", "hr-si", "--store", fresh, "--format", "geojson",
           "--out", tmp_path / "a")  # fmt: skip
    b = ok("export", *layer_files, "--corridor-km", "3", "--format", "geojson",
           "--out", tmp_path / "b")  # fmt: skip
    assert {k: v for k, v in a.items() if k != "out"} == {k: v for k, v in b.items() if k != "out"}
    for name in sorted(p.name for p in (tmp_path / "b").iterdir()):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    shot = ok("snapshot", "--operation", "hr-si", "--store", fresh, "--partner", "SVN",
              "--out", tmp_path / "s.png")  # fmt: skip
    assert (tmp_path / "s.png").stat().st_size > 10_000
    assert shot["partner"] == "SVN"


def test_operation_or_layer_files_not_both_nor_neither(files: dict[str, Path], fresh: Path) -> None:
    both = refused("analyse", "--operation", "hr-si", "--store", fresh, "--border", files["border"])
    assert re.search(r"--operation: .*not both.*--border", both), both
    neither = refused("analyse", "--sensors", files["sensors"])
    assert "required: --border" in neither
    unknown = refused("export", "--operation", "nope", "--store", fresh, "--format", "csv",
                      "--out", fresh.parent / "x")  # fmt: skip
    assert re.search(r"no such operation.*'nope'", unknown)


def test_ingest_and_detections_by_operation(
    files: dict[str, Path], fresh: Path, tmp_path: Path
) -> None:
    sensors = pd.read_csv(files["sensors"])
    rows = pd.DataFrame(
        {
            "detection_id": [f"X{i}" for i in range(6)],
            "time": [f"2026-11-0{1 + i % 3}T0{i}:00:00Z" for i in range(6)],
            "lat": sensors["lat"][:6],
            "lon": sensors["lon"][:6],
            "source": "patrol",
            "class": "person",
        }
    )
    file = tmp_path / "patrol.csv"
    rows.to_csv(file, index=False)
    sample = ok("ingest", file, "--partner", "SVN", "--store", fresh)
    into_op = ok("ingest", file, "--partner", "SVN", "--operation", "hr-si", "--store", fresh)
    again = ok("ingest", file, "--partner", "SVN", "--operation", "hr-si", "--store", fresh)
    assert (sample["accepted"], into_op["accepted"]) == (6, 6)
    assert (again["accepted"], again["already_uploaded"]) == (0, True)
    before = _operation_tables(fresh)
    stderr = refused("ingest", file, "--partner", "SVN", "--operation", "nope", "--store", fresh)
    assert re.search(r"no such operation.*'nope'.*Nothing was added", stderr), stderr
    assert _operation_tables(fresh) == before
    seen = ok("detections", "--as-partner", "SVN", "--operation", "hr-si", "--store", fresh)
    default = ok("detections", "--as-partner", "SVN", "--store", fresh)
    assert [f["properties"]["upload_id"] for f in seen["features"]] == [into_op["upload_id"]] * 6
    assert [f["properties"]["upload_id"] for f in default["features"]] == [sample["upload_id"]] * 6
    assert ok("detections", "--as-partner", "HRV", "--operation", "hr-si", "--store", fresh) == {
        "type": "FeatureCollection",
        "features": [],
    }
