"""Per-sector detection counts agree everywhere (issue 13).

The report's ``sectors[*].detections`` is the count of record. Every other place a user reads a
sector's count must show the same number, for the whole analysis and for every
:meth:`geo.coverage.analysis.Analysis.windowed` result (time window and viewer filter): the data
exports in each format, read back with GDAL as a user's GIS would; the PDF snapshot's sector
table, read back from the PDF's text; and the map's sector tooltips, read from the deck's JSON.

The report itself is checked against outside truths: hand counts on a small synthetic case,
and on the sample scenario a point-in-polygon recount with shapely in the analysis CRS
(projected with pyproj directly, not through :mod:`geo.coverage.pointindex`).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from pypdf import PdfReader

from cli import main
from geo.coverage.analysis import Analysis, analyse
from geo.coverage.views import visible_rows
from geo.inputs.scenario import load_scenario
from layers.map import build_map
from layers.snapshot import EXPORT_FILES, export_bytes, snapshot_bytes

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
TIME_FROM = "2026-11-02T00:00:00Z"
TIME_TO = "2026-11-05T00:00:00Z"


# ---- the cases -------------------------------------------------------------------------------


def _synthetic() -> tuple[dict[str, gpd.GeoDataFrame], Analysis]:
    """Two sectors side by side on a short border, seven detections placed by hand."""
    border = gpd.GeoDataFrame(geometry=[shapely.LineString([(24.0, 54.0), (24.6, 54.0)])], crs=4326)
    sectors = gpd.GeoDataFrame(
        {"sector_id": ["A-1", "B-1"], "partner": ["A", "B"], "name": ["West", "East"]},
        geometry=[shapely.box(24.0, 53.9, 24.3, 54.1), shapely.box(24.3, 53.9, 24.6, 54.1)],
        crs=4326,
    )
    sensors = gpd.GeoDataFrame(
        {
            "sensor_id": ["a", "b"],
            "partner": ["A", "B"],
            "kind": ["tower", "tower"],
            "range_m": [5000.0, 5000.0],
            "status": ["active", "active"],
        },
        geometry=[shapely.Point(24.15, 54.0), shapely.Point(24.45, 54.0)],
        crs=4326,
    )
    rows = [  # id, lon, lat, time, owner, releasable_to; sector by construction
        ("d1", 24.10, 54.02, "2026-11-01T01:00:00Z", "A", ""),
        ("d2", 24.12, 53.95, "2026-11-01T05:00:00Z", "A", ""),
        ("d3", 24.20, 54.05, "2026-11-02T01:00:00Z", "A", ""),  # A-1, after the window
        ("d4", 24.40, 54.03, "2026-11-01T02:00:00Z", "B", "A"),  # B-1, released to A
        ("d5", 24.50, 53.97, "2026-11-01T03:00:00Z", "B", ""),  # B-1, B's own
        ("d6", 24.55, 54.08, "2026-11-03T00:00:00Z", "B", "ALL"),  # B-1, after the window
        ("d7", 24.30, 54.50, "2026-11-01T04:00:00Z", "A", ""),  # in no sector
    ]
    detections = gpd.GeoDataFrame(
        {
            "detection_id": [r[0] for r in rows],
            "time": pd.to_datetime([r[3] for r in rows], utc=True),
            "partner": [r[4] for r in rows],
            "releasable_to": [r[5] for r in rows],
        },
        geometry=[shapely.Point(r[1], r[2]) for r in rows],
        crs=4326,
    )
    inputs = {"border": border, "sensors": sensors, "sectors": sectors, "detections": detections}
    return inputs, analyse(border, sensors, sectors=sectors, detections=detections)


@dataclass(frozen=True)
class Case:
    """One view of one analysis: what every output of it is checked on."""

    result: Analysis
    partner: str | None

    def expected(self) -> dict[str, int]:
        """The report's count of each sector of the view."""
        return {
            s["sector_id"]: s["detections"]
            for s in self.result.report["sectors"]
            if self.partner is None or s["partner"] == self.partner
        }


@pytest.fixture(scope="module")
def sample() -> tuple[Any, Analysis]:
    sc = load_scenario(SAMPLE)
    return sc, analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)


@pytest.fixture(scope="module")
def synthetic() -> tuple[dict[str, gpd.GeoDataFrame], Analysis]:
    return _synthetic()


CASES = [
    "sample-joint",
    "sample-partner",
    "sample-window-visible-joint",
    "sample-window-visible-partner",
    "synthetic-joint",
    "synthetic-window-visible-joint",
    "synthetic-window-visible-partner",
]


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest, sample: Any, synthetic: Any) -> Case:
    name: str = request.param
    if name.startswith("sample"):
        _, full = sample
        ltu = visible_rows(full.all_detections, {"LTU"})
        windowed = full.windowed(TIME_FROM, TIME_TO, visible=ltu)
        return {
            "sample-joint": Case(full, None),
            "sample-partner": Case(full, "LTU"),
            "sample-window-visible-joint": Case(windowed, None),
            "sample-window-visible-partner": Case(windowed, "LTU"),
        }[name]
    _, full = synthetic
    windowed = _synthetic_window_seen_by_a(full)
    return {
        "synthetic-joint": Case(full, None),
        "synthetic-window-visible-joint": Case(windowed, None),
        "synthetic-window-visible-partner": Case(windowed, "B"),
    }[name]


def _synthetic_window_seen_by_a(full: Analysis) -> Analysis:
    """1 November only, as partner A may see it."""
    seen_by_a = visible_rows(full.all_detections, {"A"})
    return full.windowed("2026-11-01T00:00:00Z", "2026-11-01T23:59:59Z", visible=seen_by_a)


# ---- reading the outputs back ----------------------------------------------------------------


def _sector_counts_from_export(data: bytes, fmt: str, tmp: Path) -> dict[str, int]:
    """Per-sector counts of an ``export_bytes`` file, read with GDAL (pyogrio)."""
    suffix = EXPORT_FILES[fmt][0]
    path = tmp / f"export{suffix}"
    path.write_bytes(data)
    if fmt in ("geojson", "csv"):
        folder = tmp / fmt
        with zipfile.ZipFile(path) as zf:
            zf.extractall(folder)
        frame = pyogrio.read_dataframe(folder / f"sectors.{fmt}")
        ids = frame["sector_id"]
    elif fmt == "gpkg":
        frame = pyogrio.read_dataframe(path, layer="sectors")
        ids = frame["sector_id"]
    else:  # the placemark name is the sector id
        frame = pyogrio.read_dataframe(path, layer="sectors", driver="LIBKML")
        ids = frame["Name"]
    return {str(i): int(n) for i, n in zip(ids, frame["detections"], strict=True)}


def _sector_counts_from_pdf(pdf: bytes) -> dict[str, int]:
    """Rows of the "Coverage by sector" table on page 2: sector id first, detections last."""
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    lines = reader.pages[1].extract_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Sector Partner Name"))
    out = {}
    for line in lines[header + 1 :]:
        if line.startswith(("Detections in the window", "No sectors", "…")):
            break
        words = line.split()
        out[words[0]] = int(words[-1].replace(",", ""))
    return out


def _sector_counts_from_deck(result: Analysis, partner: str | None) -> dict[str, int]:
    """The detections in each sector's tooltip, from the deck JSON the browser receives."""
    spec = json.loads(build_map(result, partner=partner, shown=("sectors",)).to_json())
    (layer,) = [lay for lay in spec["layers"] if lay["id"] == "sectors"]
    out: dict[str, int] = {}
    for rec in layer["data"]:  # one record per polygon part: a sector may have several
        (count,) = re.findall(r"detections: ([\d,]+)$", rec["tooltip"], flags=re.M)
        out.setdefault(rec["sector_id"], int(count.replace(",", "")))
        assert out[rec["sector_id"]] == int(count.replace(",", ""))
    return out


# ---- tests -----------------------------------------------------------------------------------


def test_synthetic_report_matches_the_hand_counts(synthetic: Any) -> None:
    _, full = synthetic
    assert Case(full, None).expected() == {"A-1": 3, "B-1": 3}
    windowed = _synthetic_window_seen_by_a(full)
    # In the window and visible to A: d1, d2 and d4 (B-1); d5 is not released to A.
    assert Case(windowed, None).expected() == {"A-1": 2, "B-1": 1}
    assert Case(windowed, "B").expected() == {"B-1": 1}
    partners = windowed.report["partners"]
    assert (partners["A"]["detections"], partners["B"]["detections"]) == (2, 1)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv", "kml"])
def test_every_export_format_carries_the_report_counts(
    case: Case, fmt: str, tmp_path: Path
) -> None:
    expected = case.expected()
    assert any(expected.values()), "a case with only zero counts could not catch the bug"
    data = export_bytes(case.result, fmt=fmt, partner=case.partner, shown=("sectors",))
    assert _sector_counts_from_export(data, fmt, tmp_path) == expected


def test_the_pdf_sector_table_carries_the_report_counts(case: Case) -> None:
    pdf = snapshot_bytes(case.result, fmt="pdf", partner=case.partner, shown=("sectors",))
    assert _sector_counts_from_pdf(pdf) == case.expected()


def test_the_map_sector_tooltips_carry_the_report_counts(case: Case) -> None:
    got = _sector_counts_from_deck(case.result, case.partner)
    # The map draws every sector (others muted in a partner view): each shows its own count.
    assert got == {s["sector_id"]: s["detections"] for s in case.result.report["sectors"]}


@pytest.mark.parametrize("windowed", [False, True], ids=["all", "window-visible"])
def test_sample_report_matches_a_recount(sample: Any, windowed: bool) -> None:
    """Point in polygon with shapely, sector edges straight in the analysis CRS as analysed."""
    sc, full = sample
    det = sc.detections
    keep = np.ones(len(det), dtype=bool)
    result = full
    if windowed:
        # LTU's own rows: no row of the sample is released to another partner.
        in_window = (det["time"] >= pd.Timestamp(TIME_FROM)) & (
            det["time"] <= pd.Timestamp(TIME_TO)
        )
        keep = (det["partner"].eq("LTU") & in_window).to_numpy()
        assert 0 < keep.sum() < len(det)
        result = full.windowed(
            TIME_FROM, TIME_TO, visible=visible_rows(full.all_detections, {"LTU"})
        )
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", result.acrs.crs, always_xy=True)
    x, y = to_metric.transform(det.geometry.x.to_numpy()[keep], det.geometry.y.to_numpy()[keep])
    recount = {}
    for sid, poly in zip(sc.sectors["sector_id"], sc.sectors.geometry, strict=True):
        metric = shapely.transform(
            poly, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1]))
        )
        recount[sid] = int(shapely.contains_xy(metric, x, y).sum())
    assert {s["sector_id"]: s["detections"] for s in result.report["sectors"]} == recount
    assert max(recount.values()) > 0


def test_windowed_leaves_the_shared_analysis_unchanged(synthetic: Any) -> None:
    _, full = synthetic
    before = full.layers["sectors"].copy()
    windowed = full.windowed("2026-11-01T00:00:00Z", "2026-11-01T02:30:00Z")
    assert windowed.layers["sectors"]["detections"].tolist() == [1, 1]  # d1; d4
    pd.testing.assert_frame_equal(full.layers["sectors"], before)
    assert full.layers["sectors"]["detections"].tolist() == [3, 3]


def test_cli_export_carries_the_cli_report_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m geo analyse`` and ``export`` on the same inputs and window agree."""
    inputs = [
        "--border",
        str(SAMPLE / "border.geojson"),
        "--sensors",
        str(SAMPLE / "sensors.csv"),
        "--sectors",
        str(SAMPLE / "sectors.geojson"),
        "--detections",
        str(SAMPLE / "detections.csv"),
        "--time-from",
        TIME_FROM,
        "--time-to",
        TIME_TO,
    ]
    report_path = tmp_path / "report.json"
    assert main(["analyse", *inputs, "--out", str(report_path)]) == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    out = tmp_path / "limes.gpkg"
    assert main(["export", *inputs, "--partner", "LVA", "--format", "gpkg", "--out", str(out)]) == 0
    capsys.readouterr()
    sectors = pyogrio.read_dataframe(out, layer="sectors")
    got = dict(zip(sectors["sector_id"], sectors["detections"].astype(int), strict=True))
    expected = {s["sector_id"]: s["detections"] for s in report["sectors"] if s["partner"] == "LVA"}
    assert got == expected
    assert min(expected.values()) > 0
