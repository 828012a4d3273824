"""Uploaded layer files (ui.layer_files): grouped by stem, read, or refused with a message.

Real files: the Natural Earth 1:10m land borders (a shapefile set) and a real GeoTIFF DEM of
``../shared/realdata`` (see its PROVENANCE.md).
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from test_operations_cli import NE_10M

from ui.layer_files import check_layer

DEM = NE_10M.parents[2] / "dem" / "pysheds_dem.tif"

pytestmark = pytest.mark.skipif(
    not (NE_10M.is_file() and DEM.is_file()), reason="../shared/realdata is absent"
)


def _parts(with_prj: bool = True) -> list[tuple[str, bytes]]:
    exts = [".shp", ".shx", ".dbf", ".cpg"] + ([".prj"] if with_prj else [])
    return [(NE_10M.with_suffix(e).name, NE_10M.with_suffix(e).read_bytes()) for e in exts]


def test_a_shapefile_set_is_read_as_one_layer() -> None:
    checked = check_layer("border", _parts())
    assert checked.refused is None, checked.refused
    assert checked.name == NE_10M.name
    assert checked.report is not None
    assert checked.report.format == "ESRI Shapefile"
    assert checked.report.rows_read == 461  # PROVENANCE.md: 461 features
    assert checked.problem is None


def test_a_zipped_shapefile_and_a_path_in_the_name_work() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in _parts():
            zf.writestr(name, data)
    checked = check_layer("border", [("C:\\Users\\x\\..\\borders.zip", buf.getvalue())])
    assert checked.name == "borders.zip"  # the safe base name, never a path
    assert checked.report is not None
    assert checked.report.rows_read == 461


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (_parts(with_prj=False), r"has no 'ne_10m_admin_0_boundary_lines_land\.prj'"),
        ([p for p in _parts() if not p[0].endswith(".shp")], r"parts without its \.shp"),
        ([("a.geojson", b"{}"), ("b.geojson", b"{}")], r"border files: more than one layer file"),
    ],
)
def test_refused_files_say_why(files: list[tuple[str, bytes]], message: str) -> None:
    checked = check_layer("border", files)
    assert checked.refused is not None
    assert re.search(message, checked.refused), checked.refused
    assert checked.problem == checked.refused


def test_a_dem_must_be_a_georeferenced_geotiff() -> None:
    good = check_layer("dem", [(DEM.name, DEM.read_bytes())])
    assert good.refused is None, good.refused
    assert good.dem == {
        "CRS": "EPSG:4326",
        "Size": "367 × 359 cells",
        "Cell": "0.000833333 × 0.000833333",
    }
    # a GDAL virtual raster named .tif is refused before GDAL opens it
    vrt = b'<VRTDataset rasterXSize="1" rasterYSize="1"></VRTDataset>'
    refused = check_layer("dem", [("dem.tif", vrt)])
    assert refused.refused is not None
    assert refused.refused.startswith("dem.tif: not a GeoTIFF")
    # a TIFF without georeferencing: named by its file name, not a temporary path
    plain = DEM.read_bytes()[:8] + b"\x00" * 64
    broken = check_layer("dem", [("flat.tif", plain)])
    assert broken.refused is not None
    assert "'flat.tif'" in broken.refused
    assert "limes-layer-" not in broken.refused


def test_rejected_rows_are_the_layer_s_problem() -> None:
    csv = (
        b"sensor_id,partner,kind,lat,lon,range_m\n"
        b"S1,EST,radar,57.5,27.3,4000\n"
        b"S2,EST,radar,57.6,27.4,-5\n"
    )
    checked = check_layer("sensors", [("sensors.csv", csv)])
    assert checked.refused is None
    assert checked.report is not None
    assert (checked.report.rows_accepted, len(checked.report.rejected)) == (1, 1)
    assert checked.problem is not None
    assert checked.problem.startswith("sensors.csv row 2, field 'range_m'")
