"""``python -m geo export``: every format written, read back with GDAL/pandas and counted.

Expected counts come from :func:`geo.coverage.analysis.analyse` on the same sample inputs, filtered
here independently of :mod:`geo.export`.
"""

from __future__ import annotations

import ast
import csv
import html
import io as stdio
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.core.errors import ValidationError
from geo.coverage.analysis import analyse
from geo.export import (
    csv_bytes,
    escape_csv_cell,
    escape_csv_frame,
    escape_kml_text,
    export_layers,
    write_csv,
    write_export,
)
from geo.inputs import loader

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
BORDER = SAMPLE / "border.geojson"
SENSORS = SAMPLE / "sensors.csv"
SECTORS = SAMPLE / "sectors.geojson"
DETECTIONS = SAMPLE / "detections.csv"
TIME_FROM = "2026-11-02T00:00:00Z"
TIME_TO = "2026-11-05T00:00:00Z"
LAYER_NAMES = ["gaps", "coverage", "overlaps", "sectors", "detections"]


def _inputs(detections: Path = DETECTIONS) -> list[str]:
    return [
        "--border",
        str(BORDER),
        "--sensors",
        str(SENSORS),
        "--sectors",
        str(SECTORS),
        "--detections",
        str(detections),
    ]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", "export", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def analysis() -> Any:
    border, _ = loader.read_border(BORDER)
    sensors, _ = loader.read_sensors(SENSORS)
    sectors, _ = loader.read_sectors(SECTORS)
    detections, _ = loader.read_detections(DETECTIONS)
    return analyse(
        border,
        sensors,
        sectors=sectors,
        detections=detections,
        time_from=TIME_FROM,
        time_to=TIME_TO,
    )


@pytest.fixture(scope="module")
def expected(analysis: Any) -> dict[str, int]:
    lay = analysis.layers
    return {
        "gaps": len(lay["gaps"]),
        "coverage": int((lay["footprints"]["status"] == "active").sum()),
        "overlaps": len(lay["overlaps"]),
        "sectors": len(lay["sectors"]),
        "detections": len(lay["detections"]),
    }


def _read_counts(fmt: str, out: Path) -> dict[str, int]:
    if fmt == "geojson":
        return {p.stem: len(pyogrio.read_dataframe(p)) for p in sorted(out.glob("*.geojson"))}
    if fmt == "csv":
        return {p.stem: len(pd.read_csv(p)) for p in sorted(out.glob("*.csv"))}
    driver = "LIBKML" if fmt == "kml" else None
    return {
        str(name): pyogrio.read_info(out, layer=str(name), driver=driver)["features"]
        for name, _ in pyogrio.list_layers(out)
    }


@pytest.mark.parametrize(
    ("fmt", "out_name"),
    [("geojson", "geojson_dir"), ("gpkg", "limes.gpkg"), ("kml", "limes.kml"), ("csv", "csv_dir")],
)
def test_each_format_round_trips_the_layer_counts(
    tmp_path: Path, fmt: str, out_name: str, expected: dict[str, int]
) -> None:
    out = tmp_path / out_name
    proc = _run(
        *_inputs(),
        "--time-from",
        TIME_FROM,
        "--time-to",
        TIME_TO,
        "--format",
        fmt,
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary == {"format": fmt, "out": str(out), "layers": expected}
    counts = _read_counts(fmt, out)
    assert counts == expected
    if fmt in ("gpkg", "kml"):
        assert out.is_file()
        assert [str(n) for n, _ in pyogrio.list_layers(out)] == LAYER_NAMES


def test_geojson_is_lonlat_with_joined_lists(tmp_path: Path, analysis: Any) -> None:
    write_export(export_layers(analysis), tmp_path, fmt="geojson")
    gaps = gpd.read_file(tmp_path / "gaps.geojson")
    assert gaps.crs.to_epsg() == 4326
    want = [",".join(v) for v in analysis.layers["gaps"]["partners"]]
    assert gaps["partners"].tolist() == want
    minx, miny, maxx, maxy = gaps.total_bounds
    assert 20 < minx < maxx < 30
    assert 50 < miny < maxy < 60


def test_kml_has_one_folder_per_layer_with_names(tmp_path: Path, analysis: Any) -> None:
    out = tmp_path / "brief.kml"
    write_export(export_layers(analysis), out, fmt="kml")
    text = out.read_text(encoding="utf-8")
    for name in LAYER_NAMES:
        assert f'<Folder id="{name}">' in text
    assert "<description>" in text
    # The plain KML driver (as other clients parse it) sees the same layers.
    assert [str(n) for n, _ in pyogrio.list_layers(out)] == LAYER_NAMES
    det = pyogrio.read_dataframe(out, layer="detections", driver="KML")
    assert len(det) == len(analysis.layers["detections"])
    sectors = pyogrio.read_dataframe(out, layer="sectors", driver="LIBKML")
    assert sorted(sectors["Name"]) == sorted(analysis.layers["sectors"]["sector_id"])


def test_export_layers_does_not_change_the_analysis(analysis: Any) -> None:
    before = {k: v.copy() for k, v in analysis.layers.items()}
    layers = export_layers(analysis, partner="LTU")
    layers["sectors"]["partner"] = "X"
    for k, v in before.items():
        pd.testing.assert_frame_equal(analysis.layers[k], v)


@pytest.mark.parametrize("fmt", ["gpkg", "csv"])
def test_partner_exports_only_its_view(tmp_path: Path, fmt: str, analysis: Any) -> None:
    out = tmp_path / ("ltu.gpkg" if fmt == "gpkg" else "ltu")
    proc = _run(
        *_inputs(),
        "--time-from",
        TIME_FROM,
        "--time-to",
        TIME_TO,
        "--partner",
        "LTU",
        "--format",
        fmt,
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    lay = analysis.layers
    ltu_ids = set(lay["sectors"].loc[lay["sectors"]["partner"] == "LTU", "sector_id"])
    fp = lay["footprints"]
    want = {
        "gaps": int(lay["gaps"]["partners"].map(lambda p: "LTU" in p).sum()),
        "coverage": int(((fp["partner"] == "LTU") & (fp["status"] == "active")).sum()),
        "sectors": len(ltu_ids),
        "detections": int(
            lay["detections"]["sector_ids"].map(lambda s: bool(ltu_ids & set(s.split(",")))).sum()
        ),
    }
    assert 0 < want["gaps"] < len(lay["gaps"])
    assert json.loads(proc.stdout)["layers"] == want

    def read(name: str) -> pd.DataFrame:
        if fmt == "gpkg":
            return pyogrio.read_dataframe(out, layer=name)
        return pd.read_csv(out / f"{name}.csv")

    assert _read_counts(fmt, out) == want
    assert set(read("sectors")["partner"]) == {"LTU"}
    assert read("gaps")["partners"].map(lambda p: "LTU" in p.split(",")).all()
    assert set(read("coverage")["partner"]) == {"LTU"}


def test_unknown_partner_exits_2_listing_partners(tmp_path: Path) -> None:
    proc = _run(*_inputs(), "--partner", "XXX", "--format", "csv", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown partner 'XXX'" in proc.stderr
    assert "LTU" in proc.stderr
    assert "POL" in proc.stderr


def test_unknown_format_exits_2(tmp_path: Path) -> None:
    proc = _run(*_inputs(), "--format", "shp", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "expected one of geojson, gpkg, kml, csv, got 'shp'" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_export_layers_rejects_unknown_partner(analysis: Any) -> None:
    with pytest.raises(ValidationError, match=r"unknown partner 'XXX'; expected one of: .*LTU"):
        export_layers(analysis, partner="XXX")


def test_write_export_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="expected one of geojson, gpkg, kml, csv"):
        write_export({}, tmp_path / "x", fmt="shp")  # type: ignore[arg-type]


# ---- CSV injection ---------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_escape_csv_cell_escapes_formula_prefixes(prefix: str) -> None:
    assert escape_csv_cell(prefix + "SUM(A1)") == "'" + prefix + "SUM(A1)"


@pytest.mark.parametrize("value", ["patrol", "LTU-RAD-001", "", "a=b", 3, -3.5, None])
def test_escape_csv_cell_leaves_other_values(value: object) -> None:
    assert escape_csv_cell(value) == value


def test_escape_csv_frame_only_touches_text_columns() -> None:
    df = pd.DataFrame(
        {
            "s": pd.Series(["=1+1", "ok", None], dtype="string"),
            "o": pd.Series(["-x", "@y", "z"], dtype=object),
            "lon": [-3.5, 2.0, -0.1],
            "n": [-1, 2, 3],
        }
    )
    before = df.copy()
    got = escape_csv_frame(df)
    pd.testing.assert_frame_equal(df, before)
    assert got["s"].tolist()[:2] == ["'=1+1", "ok"]
    assert pd.isna(got["s"].iloc[2])
    assert got["o"].tolist() == ["'-x", "'@y", "z"]
    assert got["lon"].tolist() == [-3.5, 2.0, -0.1]
    assert got["n"].tolist() == [-1, 2, 3]


def test_csv_negative_longitude_stays_a_number(tmp_path: Path) -> None:
    pts = gpd.GeoDataFrame(
        {"label": ["-west", "east"], "value": [-1.25, 2.0]},
        geometry=[shapely.Point(-3.5, 40.0), shapely.Point(2.0, 41.0)],
        crs="EPSG:4326",
    )
    write_export({"detections": pts}, tmp_path, fmt="csv")
    back = pd.read_csv(tmp_path / "detections.csv")
    assert pd.api.types.is_float_dtype(back["lon"])
    assert back["lon"].tolist() == [-3.5, 2.0]
    assert back["value"].tolist() == [-1.25, 2.0]
    assert back["label"].tolist() == ["'-west", "east"]
    assert back["wkt"].tolist() == ["POINT (-3.5 40)", "POINT (2 41)"]


def test_csv_export_escapes_a_hostile_detection_source(tmp_path: Path) -> None:
    det = pd.read_csv(DETECTIONS, dtype=str, nrows=200)
    hostile = '=HYPERLINK("http://evil.example","click")'
    det.loc[0, "source"] = hostile
    det_path = tmp_path / "detections.csv"
    det.to_csv(det_path, index=False)
    out = tmp_path / "csv"
    proc = _run(*_inputs(det_path), "--format", "csv", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    back = pd.read_csv(out / "detections.csv")
    row = back[back["detection_id"] == det.loc[0, "detection_id"]]
    assert row["source"].tolist() == ["'" + hostile]
    assert (back["source"] == "patrol").any()  # ordinary text untouched
    assert pd.api.types.is_float_dtype(back["lon"])
    assert pd.api.types.is_float_dtype(back["lat"])


# ---- KML: partner text is shown as text in Google Earth ---------------------------------------

#: Text a partner could put in a released row's fields; Google Earth renders KML text as HTML.
HTML_ATTACKS = {
    "detection_id": "<img src=x onerror=alert(1)>",
    "source": "<script>alert('source')</script>",
    "class": 'person"><svg onload=alert(2)>',
    "caveat": "R&D <b>bold</b> &amp; <!-- comment --> <a href='javascript:alert(3)'>x</a>",
}
KML = "{http://www.opengis.net/kml/2.2}"


class _Elements(HTMLParser):
    """Every element, comment and declaration an HTML parse of a text finds."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append(tag)

    def handle_comment(self, data: str) -> None:
        self.found.append("<!--")


def _html_elements(text: str) -> list[str]:
    parser = _Elements()
    parser.feed(text)
    parser.close()
    return parser.found


def _hostile_detections() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            **{k: [v, "ok"] for k, v in HTML_ATTACKS.items()},
            "time": pd.to_datetime(["2026-11-03T10:00:00Z"] * 2),
            "confidence": [0.5, 1.0],
            "sector_ids": [["LTU-1", "<i>LTU-2</i>"], ["LTU-1"]],
        },
        geometry=[shapely.Point(25.77, 54.60), shapely.Point(25.78, 54.61)],
        crs="EPSG:4326",
    )


def test_escape_kml_text_escapes_markup_and_leaves_other_values() -> None:
    assert escape_kml_text("<b>&'\"") == "&lt;b&gt;&amp;&#x27;&quot;"
    assert escape_kml_text("LTU-1, patrol") == "LTU-1, patrol"
    assert escape_kml_text(-3.5) == -3.5
    assert escape_kml_text(None) is None


def test_kml_export_shows_partner_html_as_text(tmp_path: Path) -> None:
    det = _hostile_detections()
    before = det.copy()
    out = tmp_path / "brief.kml"
    write_export({"detections": det}, out, fmt="kml")
    pd.testing.assert_frame_equal(det, before)  # the layer is not changed
    data = out.read_bytes()
    for markup in (b"<img", b"<script", b"<svg", b"<b>", b"<a ", b"<i>", b"<!--"):
        assert markup not in data.lower()
    placemarks = ET.fromstring(data).findall(f".//{KML}Placemark")
    assert len(placemarks) == 2
    texts = {}
    for pm in placemarks:
        name = pm.findtext(f"{KML}name") or ""
        description = pm.findtext(f"{KML}description") or ""
        fields = {d.get("name"): d.text or "" for d in pm.iter(f"{KML}SimpleData")}
        # Google Earth renders these as HTML: a parse finds text only, no element.
        for text in (name, description, *fields.values()):
            assert _html_elements(text) == [], text
        texts[html.unescape(name)] = (description, fields)
    # What Google Earth shows is exactly what the partner wrote.
    description, fields = texts[HTML_ATTACKS["detection_id"]]
    for key, value in HTML_ATTACKS.items():
        assert html.unescape(fields[key]) == value
        assert f"{key}: {value}" in html.unescape(description)
    assert html.unescape(fields["sector_ids"]) == "LTU-1,<i>LTU-2</i>"
    assert texts["ok"][1]["source"] == "ok"  # ordinary text untouched
    # GDAL's own KML readers get the rows back, one per detection.
    assert len(pyogrio.read_dataframe(out, layer="detections", driver="LIBKML")) == 2


# ---- the one CSV writer ----------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def _hostile_frame() -> pd.DataFrame:
    n = len(HOSTILE) + 1
    return pd.DataFrame(
        {
            "sector_id": pd.Series([*HOSTILE, "Adutiškis"], dtype=object),
            "partner": pd.Series(["=A", *["LTU"] * (n - 1)], dtype="string"),
            "kind": pd.Categorical(["@k", *["tower"] * (n - 1)]),
            "lon": [-3.5, *[24.25] * (n - 1)],
            "count": [-2, *range(1, n)],
            "=cmd()": [True] * n,
        }
    )


def test_csv_bytes_escapes_text_cells_and_keeps_numbers() -> None:
    df = _hostile_frame()
    before = df.copy()
    data = csv_bytes(df)
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is not changed
    assert not data.startswith(b"\xef\xbb\xbf")  # UTF-8 without a byte-order mark
    rows = list(csv.reader(stdio.StringIO(data.decode("utf-8"), newline="")))
    header, first, *rest = rows
    assert header == ["sector_id", "partner", "kind", "lon", "count", "'=cmd()"]
    assert [r[0] for r in [first, *rest]] == ["'" + v for v in HOSTILE] + ["Adutiškis"]
    assert first[1:3] == ["'=A", "'@k"]  # string and categorical columns too
    assert [r[1:3] for r in rest] == [["LTU", "tower"]] * len(rest)
    # Numbers are written as numbers: no quote, no apostrophe, the minus sign kept.
    assert (first[3], first[4]) == ("-3.5", "-2")
    assert b",-3.5," in data
    assert b",-2," in data
    back = pd.read_csv(stdio.BytesIO(data))
    assert back["lon"].tolist() == df["lon"].tolist()
    assert back["count"].tolist() == df["count"].tolist()


def test_csv_bytes_keeps_a_row_whose_cell_holds_line_breaks() -> None:
    df = pd.DataFrame({"note": ["a\rb", "c\nd", "e\r\nf"], "n": [1, 2, 3]})
    data = csv_bytes(df)
    rows = list(csv.reader(stdio.StringIO(data.decode("utf-8"), newline="")))
    assert rows == [["note", "n"], ["a\rb", "1"], ["c\nd", "2"], ["e\r\nf", "3"]]
    pd.testing.assert_frame_equal(pd.read_csv(stdio.BytesIO(data)), df)


def test_write_csv_writes_the_csv_bytes(tmp_path: Path) -> None:
    df = _hostile_frame()
    write_csv(df, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == csv_bytes(df)


#: Production code: every module the app and the command line run.
PRODUCTION = [
    *sorted((ROOT / "geo").rglob("*.py")),
    *sorted((ROOT / "layers").rglob("*.py")),
    *sorted((ROOT / "app_pages").rglob("*.py")),
    *sorted((ROOT / "ui").rglob("*.py")),
    *sorted((ROOT / "cli").rglob("*.py")),
    ROOT / "app.py",
]


def _is_csv_write(node: ast.AST, csv_names: set[str]) -> bool:
    """``x.to_csv(...)``, ``csv.writer``/``csv.DictWriter`` or importing them from csv."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "to_csv"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr in ("writer", "DictWriter") and node.value.id in csv_names
    if isinstance(node, ast.ImportFrom) and node.module == "csv":
        return any(a.name in ("writer", "DictWriter", "*") for a in node.names)
    return False


def _csv_writes(source: str) -> list[tuple[int, str | None]]:
    """(line, enclosing function) of every CSV write (:func:`_is_csv_write`) in ``source``."""
    tree = ast.parse(source)
    csv_names = {
        a.asname or a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for a in node.names
        if a.name == "csv"
    }
    found: list[tuple[int, str | None]] = []

    def visit(node: ast.AST, func: str | None) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name
        if _is_csv_write(node, csv_names):
            found.append((node.lineno, func))
        for child in ast.iter_child_nodes(node):
            visit(child, func)

    visit(tree, None)
    return found


def test_csv_write_finder_sees_calls_not_comments() -> None:
    source = (
        "import csv as c\nfrom csv import DictWriter\n"
        "def f(df, fh):\n    # df.to_csv(fh)\n    s = 'x.to_csv('\n"
        "    df.to_csv(fh)\n    return c.writer(fh), c.reader(fh)\n"
    )
    assert _csv_writes(source) == [(2, None), (6, "f"), (7, "f")]


def test_every_csv_is_written_by_the_one_writer() -> None:
    writes = {
        str(p.relative_to(ROOT)): _csv_writes(p.read_text(encoding="utf-8")) for p in PRODUCTION
    }
    # geo/export/__init__.py: the one .to_csv call, inside csv_bytes (write_csv calls csv_bytes).
    assert [func for _, func in writes.pop("geo/export/__init__.py")] == ["csv_bytes"]
    # CSV text that never reaches a user: written to be read back by geo.inputs (the sensor
    # editor's table, a typed partners table) or hashed. Escaping formula cells there would
    # change the values read back.
    internal = {
        "geo/operations/editing.py": ["checked_sensors"],
        "ui/operation_form.py": ["partners_field"],
        "ui/sensor_editor.py": ["digest_of"],
    }
    for path, funcs in internal.items():
        assert [func for _, func in writes.pop(path)] == funcs
    assert {path: found for path, found in writes.items() if found} == {}
