"""``python -m geo site`` as a subprocess: its plan against ``python -m geo analyse``.

The plan's ``after`` must equal what ``analyse`` reports on the existing sensors plus the
sites the plan wrote with ``--sites-out`` (within 0.1 %), without and with a DEM, for the
whole border and for one partner's sectors; the partner's sites must stand in its country
(the bundled Natural Earth outlines, an outside reference). Bad input exits with status 2
and a message naming the flag or the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest

from geo.basemap import COUNTRIES_FILE

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
BORDER, SENSORS = SAMPLE / "border.geojson", SAMPLE / "sensors.csv"
SECTORS, DETECTIONS, DEM = SAMPLE / "sectors.geojson", SAMPLE / "detections.csv", SAMPLE / "dem.tif"


def geo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def plan_and_check(tmp_path: Path, *site_args: str, analyse_args: tuple[str, ...] = ()) -> Any:
    """Run ``site``, then ``analyse`` on the sensors plus its sites; return both results."""
    sites_csv = tmp_path / "sites.csv"
    out = tmp_path / "plan.json"
    res = geo("site", "--border", str(BORDER), "--sensors", str(SENSORS), *site_args,
              "--sites-out", str(sites_csv), "--out", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert json.loads(out.read_text()) == plan
    both = tmp_path / "both.csv"
    pd.concat([pd.read_csv(SENSORS), pd.read_csv(sites_csv)]).to_csv(both, index=False)
    res = geo("analyse", "--border", str(BORDER), "--sensors", str(both), *analyse_args)
    assert res.returncode == 0, res.stderr
    return plan, json.loads(res.stdout), pd.read_csv(sites_csv)


def test_after_equals_analyse_on_sensors_plus_sites(tmp_path: Path) -> None:
    plan, report, sites = plan_and_check(
        tmp_path, "--count", "3", "--range-m", "7000", "--spacing-m", "2000"
    )
    assert len(plan["sites"]) == 3 == len(sites)
    after, border = plan["after"], report["border"]
    assert after["covered_km"] == pytest.approx(border["covered_km"], rel=1e-3)
    assert after["gap_km"] == pytest.approx(border["gap_km"], rel=1e-3)
    assert after["longest_gap_km"] == pytest.approx(border["longest_gap_km"], rel=1e-3)
    assert plan["before"]["covered_km"] < after["covered_km"] <= plan["upper_bound_km"]
    gains = [s["gain_km"] for s in plan["sites"]]
    assert gains == sorted(gains, reverse=True)
    assert sum(gains) == pytest.approx(after["covered_km"] - plan["before"]["covered_km"], abs=1e-4)
    for site in plan["sites"]:
        closed = sum(g["end_km"] - g["start_km"] for g in site["gaps_closed"])
        assert closed == pytest.approx(site["gain_km"], abs=1e-4)
    assert set(plan) >= {"parameters", "before", "after", "sites", "candidates", "method",
                         "upper_bound_km"}  # fmt: skip
    assert plan["method"]["milp"]["status"]


def test_partner_plan_counts_its_sectors_and_stays_on_its_side(tmp_path: Path) -> None:
    plan, report, sites = plan_and_check(
        tmp_path, "--sectors", str(SECTORS), "--partner", "LTU", "--count", "4",
        "--range-m", "6000", analyse_args=("--sectors", str(SECTORS)),
    )  # fmt: skip
    ltu = report["partners"]["LTU"]
    assert plan["after"]["scope"] == "sectors of LTU"
    assert plan["after"]["covered_km"] == pytest.approx(ltu["sector_covered_km"], rel=1e-3)
    assert plan["after"]["length_km"] == pytest.approx(ltu["sector_border_km"], rel=1e-6)
    assert set(sites["partner"]) == {"LTU"}
    countries = gpd.read_file(COUNTRIES_FILE)
    points = gpd.GeoDataFrame(sites, geometry=gpd.points_from_xy(sites.lon, sites.lat), crs=4326)
    where = gpd.sjoin(points, countries[["name", "geometry"]], predicate="within")
    assert where["name"].tolist() == ["Lithuania"] * len(sites)


def test_terrain_plan_matches_analyse_with_the_dem(tmp_path: Path) -> None:
    plan, report, _ = plan_and_check(
        tmp_path, "--dem", str(DEM), "--count", "3", "--range-m", "5000", "--spacing-m", "4000",
        analyse_args=("--dem", str(DEM)),
    )  # fmt: skip
    assert plan["parameters"]["engine"] == "terrain"
    assert plan["after"]["covered_km"] == pytest.approx(report["border"]["covered_km"], rel=1e-3)
    assert plan["before"]["covered_km"] < plan["after"]["covered_km"] <= plan["upper_bound_km"]


def test_detections_weight_counts_gap_detections(tmp_path: Path) -> None:
    plan, report, _ = plan_and_check(
        tmp_path, "--detections", str(DETECTIONS), "--weight", "detections", "--count", "2",
        "--range-m", "6000", "--spacing-m", "2000",
        analyse_args=("--detections", str(DETECTIONS)),
    )  # fmt: skip
    before, after = plan["before"]["detections_in_gaps"], plan["after"]["detections_in_gaps"]
    assert after == report["detections"]["in_gaps"]
    caught = sum(s["gain_detections"] for s in plan["sites"])
    assert before - after == caught > 0
    assert plan["method"]["objective"] == "detections"
    assert caught <= plan["method"]["upper_bound_detections"]


def test_operation_layers_are_planned_like_the_files(tmp_path: Path) -> None:
    store = str(tmp_path / "store.gpkg")
    res = geo("operation", "create", "op1", "--border", str(BORDER), "--sensors", str(SENSORS),
              "--sectors", str(SECTORS), "--store", store)  # fmt: skip
    assert res.returncode == 0, res.stderr
    args = ("--count", "2", "--range-m", "6000", "--spacing-m", "3000", "--partner", "LVA")
    res = geo("site", "--operation", "op1", "--store", store, *args)
    assert res.returncode == 0, res.stderr
    stored = json.loads(res.stdout)
    res = geo("site", "--border", str(BORDER), "--sensors", str(SENSORS), "--sectors",
              str(SECTORS), *args)  # fmt: skip
    files = json.loads(res.stdout)
    assert stored["after"] == files["after"]
    assert [s["sensor_id"] for s in stored["sites"]] == ["SITE-001", "SITE-002"]
    assert [(s["lon"], s["lat"]) for s in stored["sites"]] == [
        (s["lon"], s["lat"]) for s in files["sites"]
    ]
    res = geo("site", "--operation", "op1", "--store", store, "--border", str(BORDER), *args)
    assert res.returncode == 2
    assert "--operation" in res.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--count", "0", "--range-m", "5000"), "--count"),
        (("--count", "2", "--range-m", "-5"), "--range-m"),
        (("--count", "2", "--range-m", "5000", "--weight", "detections"), "--detections"),
        (("--count", "2", "--range-m", "5000", "--azimuth-deg", "10"), "--azimuth-deg"),
        (("--count", "2", "--range-m", "5000", "--candidates", str(BORDER)), "border.geojson"),
        (("--count", "2", "--range-m", "5000", "--kind", "tank"), "--kind"),
    ],
)
def test_bad_input_exits_2_naming_the_flag_or_file(args: tuple[str, ...], names: str) -> None:
    res = geo("site", "--border", str(BORDER), "--sensors", str(SENSORS), *args)
    assert res.returncode == 2
    assert names in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout == ""
