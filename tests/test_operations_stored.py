"""geo.operations.stored: operations created from files, exported, versioned, compared.

Checked against ``geo.coverage.analyse`` run on the same files (the figures of an operation
are what ``analyse`` reports) and against the files themselves (bytes of the DEM).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.inputs import load_scenario, read_border, read_sectors, read_sensors
from geo.operations import (
    Operation,
    create_operation,
    diff,
    export_operation,
    list_operations,
    load_operation,
    operation_summary,
    read_partners,
    save_sensors,
)

BORDER = SAMPLE_DIR / "border.geojson"
SENSORS = SAMPLE_DIR / "sensors.csv"
SECTORS = SAMPLE_DIR / "sectors.geojson"


def _report(border: Path, sensors: Path, sectors: Path | None = None) -> dict:
    report = analyse(
        read_border(border)[0],
        read_sensors(sensors)[0],
        sectors=None if sectors is None else read_sectors(sectors)[0],
    ).report
    report.pop("generated_at")
    return report


@pytest.fixture
def made(tmp_path: Path) -> Path:
    path = tmp_path / "s.gpkg"
    partners = tmp_path / "partners.csv"
    partners.write_text(
        "id,name,colour\nLTU,Lithuania,#5587ff\nPOL,Poland,\nLVA,Latvia,\nEU,Frontex,\n",
        encoding="utf-8",
    )
    op = Operation("baltic", title="Baltic", partners=tuple(read_partners(partners)))
    created = create_operation(
        path, op, border=BORDER, sensors=SENSORS, sectors=SECTORS, dem=SAMPLE_DIR / "dem.tif"
    )
    assert created["partners"] == ["LTU", "POL", "LVA", "EU"]
    assert set(created["inputs"]) == {"border", "sensors", "sectors"}
    return path


def test_figures_and_export_read_back_to_the_same_report(made: Path, tmp_path: Path) -> None:
    truth = _report(BORDER, SENSORS, SECTORS)
    summary = operation_summary(made, "baltic")
    assert summary["border_km"] == truth["border"]["length_km"]
    assert (summary["sensors"], summary["sectors"]) == (171, 10)
    assert summary["dem"] == "dem.tif"
    out = export_operation(made, "baltic", tmp_path / "out")
    assert "dem.tif" in out["files"]
    assert (tmp_path / "out" / "dem.tif").read_bytes() == (SAMPLE_DIR / "dem.tif").read_bytes()
    folder = tmp_path / "out"
    again = _report(
        folder / "border.geojson", folder / "sensors.geojson", folder / "sectors.geojson"
    )
    assert again == truth
    scenario = load_scenario(folder)  # the manifest names the files
    assert (len(scenario.sensors), scenario.dem) == (171, folder / "dem.tif")
    assert [p.id for p in read_partners(folder / "partners.csv")] == ["LTU", "POL", "LVA", "EU"]
    assert [o["operation"] for o in list_operations(made)] == ["baltic"]


def test_a_sensor_version_and_its_diff(made: Path, tmp_path: Path) -> None:
    lines = SENSORS.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    first = lines[1].split(",")
    sid = first[header.index("sensor_id")]
    edited = tmp_path / "sensors.csv"
    # the first sensor removed: coverage can only shrink
    edited.write_text("\n".join([lines[0], *lines[2:]]) + "\n", encoding="utf-8")
    saved = save_sensors(made, "baltic", edited, user="ann", note="S gone")
    assert saved["version"] == 2
    assert saved["changes"] == {"added": [], "removed": [sid], "changed": {}}
    assert load_operation(made, "baltic").sensors_version == 2
    note = json.loads(operation_summary(made, "baltic")["versions"]["sensors"][1]["note"])
    assert note == {"note": "S gone", "added": [], "removed": [sid], "changed": {}}
    with pytest.raises(ValidationError, match=r"no change.*Nothing was stored"):
        save_sensors(made, "baltic", edited)
    changes = diff(made, "baltic", 1, 2)
    assert (changes["from"], changes["to"], changes["removed"]) == (1, 2, [sid])
    # coverage against analyse on the two sensor files (terrain: the operation has a DEM)
    dem = str(SAMPLE_DIR / "dem.tif")
    covered = [
        analyse(
            read_border(BORDER)[0],
            read_sensors(s)[0],
            sectors=read_sectors(SECTORS)[0],
            dem=dem,
        ).report["border"]["covered_km"]
        for s in (SENSORS, edited)
    ]
    assert changes["coverage"]["covered_before_km"] == pytest.approx(covered[0], abs=1e-3)
    assert changes["coverage"]["covered_after_km"] == pytest.approx(covered[1], abs=1e-3)


def test_unknown_operation_and_existing_name(made: Path) -> None:
    with pytest.raises(ValidationError, match=r"no such operation.*'nope'"):
        load_operation(made, "nope")
    with pytest.raises(ValidationError, match=r"exists already.*'baltic'"):
        create_operation(made, Operation("baltic"), border=BORDER, sensors=SENSORS)
