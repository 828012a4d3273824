"""``python -m geo operation replace``: a new version of a border, sectors or DEM, as a user runs it.

The operation is made from the real Croatia–Slovenia border of Natural Earth 1:10m and
generated sensors (the files of ``test_operations_cli``); its border is replaced by the
line's first half, sectors are added and a real DEM (``../shared/realdata/dem``) is stored.
``analyse --operation`` must then give what ``analyse`` gives on the new files; refused input
must leave the operations' tables as they were.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
import shapely.ops
from test_operations_cli import (
    NE_10M,
    _operation_tables,
    analysed,
    files,  # noqa: F401  (the fixture)
    ok,
    refused,
)

from geo.operations import load_operation

DEM = NE_10M.parents[2] / "dem" / "pysheds_dem.tif"

pytestmark = pytest.mark.skipif(
    not (NE_10M.is_file() and DEM.is_file()), reason="../shared/realdata is absent"
)


@pytest.fixture(scope="module")
def new_files(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811
    """The first half of the border; two sectors (one per partner); a sector file with a bad row."""
    folder = tmp_path_factory.mktemp("replace")
    line = shapely.line_merge(gpd.read_file(files["border"]).geometry.iloc[0])
    first = shapely.ops.substring(line, 0, 0.5, normalized=True)
    half = gpd.GeoDataFrame({"name": ["first half"]}, geometry=[first], crs="EPSG:4326")
    half.to_file(folder / "half.geojson")
    x0, y0, x1, y1 = line.bounds
    xm = (x0 + x1) / 2
    sectors = gpd.GeoDataFrame(
        {"sector_id": ["SVN-1", "HRV-1"], "partner": ["SVN", "HRV"], "name": ["west", "east"]},
        geometry=[
            shapely.box(x0 - 0.2, y0 - 0.2, xm, y1 + 0.2),
            shapely.box(xm, y0 - 0.2, x1 + 0.2, y1 + 0.2),
        ],
        crs="EPSG:4326",
    )
    sectors.to_file(folder / "sectors.geojson")
    bad = sectors.copy()
    bad.loc[1, "sector_id"] = "SVN-1"  # a repeated id: the second feature is rejected
    bad.to_file(folder / "bad_sectors.geojson")
    (folder / "not_a_dem.tif").write_text("no raster here\n", encoding="utf-8")
    return {
        "half": folder / "half.geojson",
        "sectors": folder / "sectors.geojson",
        "bad_sectors": folder / "bad_sectors.geojson",
        "not_a_dem": folder / "not_a_dem.tif",
    }


@pytest.fixture
def created(files: dict[str, Path], tmp_path: Path) -> Path:  # noqa: F811
    store = tmp_path / "limes.gpkg"
    ok("operation", "create", "hr-si", "--border", files["border"], "--sensors",
       files["sensors"], "--partners", files["partners"], "--corridor-km", "3",
       "--store", store)  # fmt: skip
    return store


def test_replace_border_and_sectors_then_analyse_as_the_new_files(
    files: dict[str, Path],  # noqa: F811
    new_files: dict[str, Path],
    created: Path,
) -> None:
    store = created
    border = ok("operation", "replace", "hr-si", "--border", new_files["half"], "--user", "ann",
                "--store", store)  # fmt: skip
    assert set(border) == {"operation", "layer", "version", "inputs"}
    assert (border["operation"], border["layer"], border["version"]) == ("hr-si", "border", 2)
    truth = ok("analyse", "--border", new_files["half"], "--sensors", files["sensors"])
    assert border["inputs"]["border"] == truth["inputs"]["border"]
    shown = ok("operation", "show", "hr-si", "--store", store)
    assert shown["border_km"] == truth["border"]["length_km"]
    full = ok("analyse", "--border", files["border"], "--sensors", files["sensors"])
    assert 0.4 < shown["border_km"] / full["border"]["length_km"] < 0.6  # half the line
    audit = shown["versions"]["border"]
    assert [v["version"] for v in audit] == [1, 2]
    assert (audit[1]["created_by"], audit[1]["features"]) == ("ann", 1)
    assert "half.geojson" in audit[1]["note"]

    sectors = ok("operation", "replace", "hr-si", "--sectors", new_files["sectors"],
                 "--store", store)  # fmt: skip
    assert (sectors["layer"], sectors["version"]) == ("sectors", 1)  # it had none
    with_files = ("--border", new_files["half"], "--sensors", files["sensors"],
                  "--sectors", new_files["sectors"], "--corridor-km", "3")  # fmt: skip
    assert analysed("--operation", "hr-si", "--store", store) == analysed(*with_files)


def test_replace_the_dem_keeps_it_in_the_store(created: Path) -> None:
    store = created
    first = ok("operation", "replace", "hr-si", "--dem", DEM, "--store", store)
    assert (first["layer"], first["version"], first["inputs"]) == ("dem", 1, {})
    before = _operation_tables(store)
    again = refused("operation", "replace", "hr-si", "--dem", DEM, "--store", store)
    assert re.search(r"pysheds_dem\.tif: no change.*the same dem.*Nothing was stored", again)
    assert _operation_tables(store) == before
    assert ok("operation", "show", "hr-si", "--store", store)["dem"] == "pysheds_dem.tif"
    stored = load_operation(store, "hr-si").dem
    assert stored is not None
    assert stored[1] == DEM.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hr-si", "--sectors", "{bad_sectors}"),
         r"bad_sectors\.geojson row 2, field 'sector_id'.*duplicate.*Nothing was stored"),
        (("hr-si", "--dem", "{not_a_dem}"), r"DEM '.*not_a_dem\.tif': cannot open as a raster"),
        (("hr-si", "--border", "{tmp}/none.geojson"), r"none\.geojson"),
        (("nope", "--border", "{half}"), r"no such operation.*'nope'"),
        (("hr-si", "--border", "{half}", "--sectors", "{sectors}"), r"not allowed with argument"),
        (("hr-si",), r"one of the arguments --border --sectors --dem is required"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_and_stores_nothing(
    new_files: dict[str, Path], created: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    store = created
    values: dict[str, Any] = {**new_files, "tmp": tmp_path}
    before = _operation_tables(store)
    stderr = refused("operation", "replace", *(a.format(**values) for a in args), "--store", store)
    assert re.search(message, stderr), stderr
    assert _operation_tables(store) == before


def test_the_same_border_or_sectors_again_is_refused_and_stores_nothing(
    files: dict[str, Path],  # noqa: F811
    new_files: dict[str, Path],
    created: Path,
) -> None:
    store = created
    before = _operation_tables(store)
    same = refused("operation", "replace", "hr-si", "--border", files["border"], "--store", store)
    assert re.search(r"no change.*a border that differs.*Nothing was stored", same), same
    assert _operation_tables(store) == before
    # a sectors file is new the first time, the same the second
    ok("operation", "replace", "hr-si", "--sectors", new_files["sectors"], "--store", store)
    stored = _operation_tables(store)
    again = refused("operation", "replace", "hr-si", "--sectors", new_files["sectors"],
                    "--store", store)  # fmt: skip
    assert "the same sectors as the latest version" in again
    assert _operation_tables(store) == stored
    # a different border (the first half of the line) is a new version
    ok("operation", "replace", "hr-si", "--border", new_files["half"], "--store", store)
