"""Hostile uploads: every case is refused (or its bad rows rejected) with a clear message,
before GDAL sees the file, without side effects and in bounded memory.

Cases (issue 5, loader part): XML with a DOCTYPE or entities (KML, KMZ, GPX, CoT); zips and
KMZs that expand too far or hold ``..``, absolute or symbolic-link entries; content that does
not match the extension, GDAL virtual datasets (VRT, GDALG) under any name; GDAL paths
(``/vsicurl/...``) as names; files over the upload limit; NaN/inf/empty, out-of-range and
swapped coordinates; shapefiles without .shx/.dbf/.prj.
"""

from __future__ import annotations

import re
import stat
import tomllib
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pyogrio
import pyogrio.errors
import pytest
from shapely.geometry import LineString

from geo.core import settings
from geo.core.errors import ValidationError
from geo.inputs.loader import read_border, read_detections, read_sensors

ROOT = Path(__file__).resolve().parents[1]

BORDER = gpd.GeoDataFrame(
    {"name": ["north"]},
    geometry=[LineString([(14.0, 45.5), (14.2, 45.6), (14.4, 45.55)])],
    crs="EPSG:4326",
)

CSV_DETECTIONS = (
    "time,lat,lon,detection_id\n"
    "2024-05-01T12:00:00Z,45.5,14.5,d1\n2024-05-01T12:05:00Z,45.6,14.6,d2\n"
)


@pytest.fixture
def no_gdal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any GDAL read fail the test: the file must be refused before GDAL sees it."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("GDAL was handed a file that should have been refused")

    for name in ("list_layers", "read_arrow", "read_info", "read_dataframe", "open_arrow"):
        monkeypatch.setattr(pyogrio, name, boom)


def _vsimem() -> list[str]:
    try:
        return pyogrio.vsi_listtree("/vsimem/")
    except FileNotFoundError:
        return []


def refused(reader: Callable[..., object], path: Path | str, match: str, **kwargs: object) -> str:
    """Assert ``reader`` refuses ``path`` with ``match``, touching nothing; return the message.

    No side effects: the file's folder and GDAL's in-memory file system are unchanged.
    """
    folder = Path(path).parent
    before = sorted(folder.iterdir()) if folder.is_dir() else None
    vsimem = _vsimem()
    with pytest.raises(ValidationError, match=match) as info:
        reader(path, **kwargs)
    if before is not None:
        assert sorted(folder.iterdir()) == before
    assert _vsimem() == vsimem
    return str(info.value)


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak Python memory (bytes) allocated while running ``fn`` (exceptions swallowed)."""
    tracemalloc.start()
    try:
        fn()
    except ValidationError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def shapefile_parts(tmp_path: Path) -> dict[str, bytes]:
    parts = tmp_path / "shp_parts"
    parts.mkdir(exist_ok=True)
    BORDER.to_file(parts / "border.shp")
    return {f.name: f.read_bytes() for f in sorted(parts.iterdir())}


# --------------------------------------------------------------------------------------
# XML with a DOCTYPE or entities: KML, KMZ, GPX, CoT
# --------------------------------------------------------------------------------------

LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
BODIES = {
    "kml": (
        "kml",
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark>'
        "<name>{value}</name><TimeStamp><when>2024-05-01T12:00:00Z</when></TimeStamp>"
        "<Point><coordinates>14.5,45.5</coordinates></Point></Placemark></Document></kml>",
    ),
    "gpx": (
        "gpx",
        '<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
        '<wpt lat="45.5" lon="14.5"><time>2024-05-01T12:00:00Z</time><name>{value}</name>'
        "</wpt></gpx>",
    ),
    "cot": (
        "event",
        '<event version="2.0" uid="{value}" type="a-h-G" how="m-g" '
        'time="2024-05-01T12:00:00Z" start="2024-05-01T12:00:00Z" '
        'stale="2024-05-01T12:10:00Z"><point lat="45.5" lon="14.5" hae="0" ce="5" le="5"/>'
        "</event>",
    ),
}


def _xml(fmt: str, attack: str, secret: Path) -> str:
    root, body = BODIES["cot" if fmt in ("cot", "xml") else "gpx" if fmt == "gpx" else "kml"]
    doctype, value = {
        "none": ("", "plain"),
        "billion_laughs": (f'<!DOCTYPE {root} [<!ENTITY lol "lol">{LAUGHS}]>', "&lol9;"),
        "external_file": (f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file://{secret}">]>', "&xxe;"),
        "external_dtd": (f'<!DOCTYPE {root} SYSTEM "http://127.0.0.1:9/evil.dtd">', "plain"),
        "parameter_entity": (
            f'<!DOCTYPE {root} [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>',
            "plain",
        ),
        "empty_doctype": (f"<!DOCTYPE {root}>", "plain"),
    }[attack]
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + "\n" + body.format(value=value)


def _write_xml(tmp_path: Path, fmt: str, text: str) -> Path:
    if fmt == "kmz":
        path = tmp_path / "det.kmz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("doc.kml", text)
        return path
    path = tmp_path / f"det.{fmt}"
    path.write_text(text, encoding="utf-8")
    return path


XML_FORMATS = ["kml", "kmz", "gpx", "cot", "xml"]
ATTACKS = ["billion_laughs", "external_file", "external_dtd", "parameter_entity", "empty_doctype"]


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_xml_without_doctype_loads(tmp_path: Path, fmt: str) -> None:
    path = _write_xml(tmp_path, fmt, _xml(fmt, "none", tmp_path / "secret.txt"))
    got, report = read_detections(path)
    assert len(got) == 1
    assert report.rows_accepted == 1


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_xml_with_doctype_or_entities_is_refused_before_gdal(
    tmp_path: Path, fmt: str, attack: str, no_gdal: None
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    path = _write_xml(tmp_path, fmt, _xml(fmt, attack, secret))
    msg = refused(
        read_detections,
        path,
        rf"det\.{fmt}.*contains a DOCTYPE declaration \(DTD\), which Limes refuses: "
        r"entities can expand to gigabytes \('billion laughs'\) or pull in local "
        r"files and URLs.*standard .* has no DOCTYPE",
    )
    assert "TOPSECRET" not in msg


@pytest.mark.parametrize("fmt", ["kml", "gpx", "cot"])
def test_billion_laughs_costs_no_memory(tmp_path: Path, fmt: str) -> None:
    path = _write_xml(tmp_path, fmt, _xml(fmt, "billion_laughs", tmp_path / "s"))
    assert peak_memory(lambda: read_detections(path)) < 2_000_000  # expanded: 3 GB


def test_doctype_in_a_later_cot_document_is_refused(tmp_path: Path) -> None:
    one = _xml("cot", "none", tmp_path / "s")
    two = _xml("cot", "billion_laughs", tmp_path / "s")
    path = tmp_path / "stream.cot"
    path.write_text(one + "\n" + two)
    refused(read_detections, path, r"stream\.cot: is not well-formed XML")


def test_kmz_with_doctype_in_a_linked_document_is_refused(tmp_path: Path, no_gdal: None) -> None:
    path = tmp_path / "det.kmz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("doc.kml", _xml("kml", "none", tmp_path / "s"))
        zf.writestr("layers/b.kml", _xml("kml", "external_file", tmp_path / "s"))
    refused(
        read_detections,
        path,
        r"det\.kmz \(layers/b\.kml\): the KML file contains a "
        r"DOCTYPE",
    )


def test_kml_network_link_to_a_local_file_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.kml"
    secret.write_text(BODIES["kml"][1].format(value="SECRET"))
    path = tmp_path / "det.kml"
    path.write_text(
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<NetworkLink><name>x</name><Link><href>{secret}</href></Link></NetworkLink>"
        f"<NetworkLink><name>y</name><Link><href>file://{secret}</href></Link></NetworkLink>"
        "<Placemark><name>mine</name><TimeStamp><when>2024-05-01T12:00:00Z</when></TimeStamp>"
        "<Point><coordinates>14.6,45.6</coordinates></Point></Placemark></Document></kml>"
    )
    got, report = read_detections(path)
    assert report.rows_read == 1
    assert len(got) == 1


# --------------------------------------------------------------------------------------
# Zips and KMZs: bombs, escaping and linked entries
# --------------------------------------------------------------------------------------


def _zip(path: Path, entries: dict[str | zipfile.ZipInfo, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _zeros_entry(zf: zipfile.ZipFile, name: str, n_bytes: int) -> None:
    """Write ``n_bytes`` of zeros without holding them in memory (they compress ~1000:1)."""
    chunk = bytes(1 << 20)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as f:
        for _ in range(n_bytes // len(chunk)):
            f.write(chunk)


@pytest.mark.parametrize("kind", ["zip", "kmz"])
def test_zip_bomb_is_refused_by_ratio_in_bounded_memory(
    tmp_path: Path, kind: str, no_gdal: None
) -> None:
    path = tmp_path / f"bomb.{kind}"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if kind == "zip":
            for name, data in shapefile_parts(tmp_path).items():
                zf.writestr(name, data)
            _zeros_entry(zf, "border.dbf.bak", 60 << 20)
        else:
            _zeros_entry(zf, "doc.kml", 60 << 20)
    assert path.stat().st_size < 200_000
    label = "zip" if kind == "zip" else "KMZ"
    refused(
        read_border,
        path,
        rf"bomb\.{kind}: the {label} expands [\d,]+ times \(a zip "
        rf"bomb\?\): expected at most {settings.MAX_ZIP_RATIO:g} times its compressed size",
    )
    assert peak_memory(lambda: read_border(path)) < 5_000_000


def test_zip_expanding_past_the_size_limit_is_refused(
    tmp_path: Path, no_gdal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _zip(tmp_path / "border.zip", shapefile_parts(tmp_path))
    monkeypatch.setattr(settings, "MAX_UNZIPPED_BYTES", 500)
    refused(
        read_border,
        path,
        r"border\.zip: the zip would expand past the size limit: "
        r"expected at most 0\.0 MB unzipped",
    )


def test_zip_with_too_many_entries_is_refused(
    tmp_path: Path, no_gdal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries: dict[str | zipfile.ZipInfo, bytes] = dict(shapefile_parts(tmp_path))
    entries.update({f"junk/{i}.txt": b"x" for i in range(20)})
    path = _zip(tmp_path / "border.zip", entries)
    monkeypatch.setattr(settings, "MAX_ZIP_ENTRIES", 10)
    refused(
        read_border,
        path,
        r"border\.zip: the zip holds too many entries: expected at "
        r"most 10 files, got '2\d entries'",
    )


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../border.shp", r"a '\.\.' path \(it points outside the archive\)"),
        ("data/../../border.shp", r"a '\.\.' path"),
        ("..\\border.shp", r"a '\.\.' path"),
        ("/tmp/border.shp", r"an absolute path"),
        ("C:/border.shp", r"an absolute path"),
    ],
)
@pytest.mark.parametrize("kind", ["zip", "kmz"])
def test_zip_entries_escaping_the_archive_are_refused(
    tmp_path: Path, kind: str, entry: str, why: str, no_gdal: None
) -> None:
    entries: dict[str | zipfile.ZipInfo, bytes] = dict(shapefile_parts(tmp_path))
    if kind == "kmz":
        entries = {"doc.kml": _xml("kml", "none", tmp_path / "s").encode()}
        entry = entry.replace("border.shp", "doc.kml")
    entries[entry] = b"x"
    path = _zip(tmp_path / f"border.{kind}", entries)
    label = "zip" if kind == "zip" else "KMZ"
    refused(
        read_border,
        path,
        rf"border\.{kind}: the {label} entry .* is {why}.*, which Limes "
        r"never reads",
    )


@pytest.mark.parametrize("kind", ["zip", "kmz"])
def test_zip_symlink_entry_is_refused(tmp_path: Path, kind: str, no_gdal: None) -> None:
    entries: dict[str | zipfile.ZipInfo, bytes] = (
        dict(shapefile_parts(tmp_path))
        if kind == "zip"
        else {"doc.kml": _xml("kml", "none", tmp_path / "s").encode()}
    )
    link = zipfile.ZipInfo("border.prj" if kind == "zip" else "layers/a.kml")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    entries.pop("border.prj", None)
    entries[link] = b"/etc/passwd"
    path = _zip(tmp_path / f"border.{kind}", entries)
    refused(
        read_border,
        path,
        rf"border\.{kind}: the .* entry '.*' is a symbolic link, which "
        r"Limes never reads",
    )


def test_damaged_zip_is_refused(tmp_path: Path, no_gdal: None) -> None:
    path = _zip(tmp_path / "border.zip", shapefile_parts(tmp_path))
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    refused(read_border, path, r"border\.zip: is not a readable zip archive")


# --------------------------------------------------------------------------------------
# Content that is not what the extension says; GDAL virtual datasets under any name
# --------------------------------------------------------------------------------------


def _ogr_vrt(csv: Path) -> str:
    return (
        f'<OGRVRTDataSource><OGRVRTLayer name="det"><SrcDataSource>{csv}</SrcDataSource>'
        "<GeometryType>wkbPoint</GeometryType><LayerSRS>EPSG:4326</LayerSRS>"
        '<GeometryField encoding="PointFromColumns" x="lon" y="lat"/></OGRVRTLayer>'
        "</OGRVRTDataSource>"
    )


@pytest.mark.parametrize(
    "name",
    [
        "det.csv",
        "det.tif",
        "det.geojson",
        "det.gpkg",
        "det.kml",
        "det.gpx",
        "det.cot",
        "det.zip",
        "det.vrt",
        "det",
    ],
)
def test_ogr_vrt_under_any_name_is_never_opened(tmp_path: Path, name: str, no_gdal: None) -> None:
    target = tmp_path / "target.csv"  # read, this would give two detections
    target.write_text(CSV_DETECTIONS)
    path = tmp_path / name
    path.write_text("\n  " + _ogr_vrt(target))
    refused(
        read_detections,
        path,
        rf"{name.replace('.', chr(92) + '.')}: the file is an OGR "
        r"virtual vector dataset \(VRT\), which Limes never opens: it would make the server "
        r"read other files or addresses",
    )


@pytest.mark.parametrize("name", ["dem.tif", "sensors.geojson", "sensors.csv"])
def test_raster_vrt_and_gdal_pipeline_are_never_opened(
    tmp_path: Path, name: str, no_gdal: None
) -> None:
    target = tmp_path / "target.csv"
    target.write_text(CSV_DETECTIONS)
    path = tmp_path / name
    path.write_text(
        '<VRTDataset rasterXSize="1" rasterYSize="1"><VRTRasterBand band="1">'
        f"<SimpleSource><SourceFilename>{target}</SourceFilename></SimpleSource>"
        "</VRTRasterBand></VRTDataset>"
    )
    refused(
        read_sensors,
        path,
        r"the file is a GDAL virtual raster \(VRT\), which Limes never "
        r"opens",
    )
    path.write_text(
        '{"type": "gdal_streamed_alg", "command_line": "gdal vector pipeline ! '
        f'read {target} ! write --of stream streamed_dataset"}}'
    )
    refused(
        read_sensors,
        path,
        r"the file is a GDAL pipeline \(GDALG\), which Limes never "
        r"opens",
    )


def test_gdal_cannot_follow_a_vrt_even_if_handed_one(tmp_path: Path) -> None:
    """Second line of defence: the drivers that would follow a VRT are gone from GDAL."""
    target = tmp_path / "target.csv"
    target.write_text(CSV_DETECTIONS)
    drivers = set(pyogrio.list_drivers())
    assert drivers <= set(settings.GDAL_VECTOR_DRIVERS) | {d for d in drivers if " " in d}
    for gone in ("OGR_VRT", "GDALG", "SQLite", "WFS", "OAPIF", "HTTP", "Elasticsearch", "CSW"):
        assert gone not in drivers
    with pytest.raises(pyogrio.errors.DataSourceError, match="not recognized"):
        pyogrio.read_arrow(_ogr_vrt(target).encode())
    assert pyogrio.get_gdal_config_option("CPL_VSIL_CURL_ALLOWED_EXTENSIONS") == (
        ".limes-network-is-disabled"
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("det.csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", r"does not look like CSV"),
        ("det.csv", b"SQLite format 3\x00\x10\x00", r"does not look like CSV"),
        ("det.csv", b'<?xml version="1.0"?><kml><Document/></kml>', r"does not look like CSV"),
        ("det.gpkg", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", r"does not look like GPKG"),
        ("det.kml", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", r"does not look like KML"),
        ("det.geojson", b'<gpx version="1.1"></gpx>', r"does not look like GeoJSON"),
        ("det.gpx", b"SQLite format 3\x00", r"does not look like GPX"),
        (
            "det.cot",
            b'<kml xmlns="http://www.opengis.net/kml/2.2"/>',
            r"is not a CoT document.*got '<kml> as root element'.*\(a \.kml file is read as KML\)",
        ),
        ("det.xml", b"<gpx/>", r"is not a CoT document.*\(a \.gpx file is read as GPX\)"),
        ("det.fgb", b"{}", r"does not look like FlatGeobuf"),
    ],
)
def test_content_not_matching_the_extension_is_refused(
    tmp_path: Path, name: str, content: bytes, message: str, no_gdal: None
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    refused(read_detections, path, rf"{name.replace('.', chr(92) + '.')}: .*{message}")


# --------------------------------------------------------------------------------------
# GDAL paths as names: never interpreted
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source_name",
    [
        "/vsicurl/http://127.0.0.1:9/sensors.geojson",
        "/vsizip//etc/passwd.zip/sensors.geojson",
        "/vsicurl_streaming/https://example.invalid/sensors.geojson",
    ],
)
def test_gdal_path_as_upload_name_is_harmless(
    tmp_path: Path, source_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = tmp_path / "upload_3f9a"
    upload.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", '
        '"properties": {"sensor_id": "S1", "partner": "SI", "kind": "radar", '
        '"range_m": 5000}, "geometry": {"type": "Point", '
        '"coordinates": [14.5, 45.5]}}]}'
    )
    seen: list[type] = []
    real = pyogrio.read_arrow

    def spy(data: object, *args: object, **kwargs: object) -> object:
        seen.append(type(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(pyogrio, "read_arrow", spy)
    got, report = read_sensors(upload, source_name=source_name)
    assert report.source == "sensors.geojson"
    assert got["sensor_id"].tolist() == ["S1"]
    assert seen == [bytes]


@pytest.mark.parametrize(
    "path",
    [
        "/vsicurl/http://127.0.0.1:9/sensors.geojson",
        "/vsimem/sensors.geojson",
        "/vsistdin/",
    ],
)
def test_gdal_path_as_file_path_is_not_found(path: str, no_gdal: None) -> None:
    refused(read_sensors, path, r": file not found")


def test_vsizip_path_into_a_real_zip_is_not_found(tmp_path: Path, no_gdal: None) -> None:
    zpath = _zip(tmp_path / "border.zip", shapefile_parts(tmp_path))
    refused(read_border, f"/vsizip/{zpath}/border.shp", r"border\.shp: file not found")


# --------------------------------------------------------------------------------------
# Upload size limit
# --------------------------------------------------------------------------------------


def test_upload_limit_in_streamlit_config_equals_the_server_limit() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == settings.MAX_UPLOAD_MB


def test_file_over_the_upload_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "det.csv"
    with path.open("w") as f:
        f.write(CSV_DETECTIONS)
        f.write("2024-05-01T12:05:00Z,45.6,14.6,d2\n" * 40_000)  # 1.4 MB
    monkeypatch.setattr(settings, "MAX_UPLOAD_MB", 1)
    for reader in (read_detections,):
        refused(
            reader,
            path,
            r"det\.csv: the file is too large: expected at most 1 MB, got "
            r"'1\.\d MB'\. Split it into smaller files",
        )
    assert peak_memory(lambda: read_detections(path)) < 500_000


def test_sparse_file_over_the_real_limit_is_refused_unread(tmp_path: Path, no_gdal: None) -> None:
    path = tmp_path / "huge.geojson"
    with path.open("wb") as f:
        f.truncate(settings.MAX_UPLOAD_MB * 1024 * 1024 + 1)  # sparse: no disk used
    refused(
        read_border,
        path,
        rf"huge\.geojson: the file is too large: expected at most "
        rf"{settings.MAX_UPLOAD_MB} MB",
    )


# --------------------------------------------------------------------------------------
# Coordinates: NaN/inf/empty, out of range, swapped (rows rejected, the rest kept)
# --------------------------------------------------------------------------------------

GOOD = [(14.0 + i * 0.05, 45.0 + i * 0.03) for i in range(12)]
#: (lon, lat) text per bad row, and what its rejection says.
BAD = [
    ("nan", "45.5", r"missing|not finite|empty"),
    ("inf", "45.5", r"not (a )?finite"),
    ("", "", r"missing|empty"),
    ("14.5", "95.0", r"out of range.*look swapped"),
    ("200.0", "45.0", r"out of range"),
    ("45.5", "14.5", r"look swapped: this position is far from all the others"),
]


def _csv(tmp_path: Path) -> Path:
    rows = [f"2024-05-01T12:00:00Z,{lat},{lon}" for lon, lat in GOOD]
    rows += [f"2024-05-01T12:00:00Z,{lat},{lon}" for lon, lat, _ in BAD]
    path = tmp_path / "det.csv"
    path.write_text("time,lat,lon\n" + "\n".join(rows) + "\n")
    return path


def _cot(tmp_path: Path) -> Path:
    events = [
        f'<event version="2.0" uid="e{i}" type="a-h-G" time="2024-05-01T12:00:00Z">'
        f'<point lat="{lat}" lon="{lon}" hae="0" ce="5" le="5"/></event>'
        for i, (lon, lat, *_) in enumerate(GOOD + BAD)
    ]
    path = tmp_path / "det.cot"
    path.write_text("<events>" + "".join(events) + "</events>")
    return path


def _geojson(tmp_path: Path) -> Path:
    feats = []
    for lon, lat, *_ in GOOD + BAD:
        coords = f"[{lon or ''}{', ' if lon else ''}{lat}]".replace("nan", "NaN").replace(
            "inf", "Infinity"
        )
        feats.append(
            '{"type": "Feature", "properties": {"time": "2024-05-01T12:00:00Z"}, '
            f'"geometry": {{"type": "Point", "coordinates": {coords}}}}}'
        )
    path = tmp_path / "det.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [' + ",".join(feats) + "]}")
    return path


def _wkt(tmp_path: Path) -> Path:
    rows = [f'2024-05-01T12:00:00Z,"POINT ({lon} {lat})"' for lon, lat, *_ in GOOD + BAD[:2]]
    rows += ['2024-05-01T12:00:00Z,"POINT EMPTY"']
    rows += [f'2024-05-01T12:00:00Z,"POINT ({lon} {lat})"' for lon, lat, _ in BAD[3:]]
    path = tmp_path / "det_wkt.csv"
    path.write_text("time,wkt\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("write", [_csv, _wkt, _geojson, _cot])
def test_bad_coordinates_are_rejected_row_by_row(
    tmp_path: Path, write: Callable[[Path], Path]
) -> None:
    got, report = read_detections(write(tmp_path))
    assert len(got) == len(GOOD)
    assert report.rows_read == len(GOOD) + len(BAD)
    reasons = {int(e.row): e.reason for e in report.rejected}
    assert sorted(reasons) == list(range(len(GOOD) + 1, len(GOOD) + len(BAD) + 1))
    for k, (_, _, why) in enumerate(BAD):
        assert re.search(why, reasons[len(GOOD) + 1 + k]), (k, reasons[len(GOOD) + 1 + k])


def test_mostly_swapped_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "det.csv"
    path.write_text(
        "time,lat,lon\n"
        + "".join(
            f"2024-05-01T12:00:00Z,{lon},{lat}\n" for lon, lat in [(145.1, 45.2), (146.0, 45.3)]
        )
    )
    refused(
        read_detections,
        path,
        r"det\.csv: looks like latitude and longitude are swapped.*"
        r"Swap the columns",
    )


# --------------------------------------------------------------------------------------
# Shapefiles without their parts
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leave_out", "message"),
    [
        (".shx", r"the shapefile 'border\.shp' has no 'border\.shx' \(the shape index\)"),
        (".dbf", r"the shapefile 'border\.shp' has no 'border\.dbf' \(the attribute table\)"),
        (".prj", r"CRS unknown, add the \.prj: .*Limes never guesses a shapefile's CRS"),
    ],
)
def test_shapefile_zip_without_its_parts_is_refused(
    tmp_path: Path, leave_out: str, message: str, no_gdal: None
) -> None:
    parts = {n: b for n, b in shapefile_parts(tmp_path).items() if not n.endswith(leave_out)}
    path = _zip(tmp_path / "border.zip", dict(parts))
    refused(read_border, path, rf"border\.zip: {message}")


def test_projected_shapefile_without_prj_is_never_guessed(tmp_path: Path, no_gdal: None) -> None:
    folder = tmp_path / "utm"
    folder.mkdir()
    BORDER.to_crs("EPSG:32633").to_file(folder / "border.shp")
    (folder / "border.prj").unlink()
    refused(read_border, folder / "border.shp", r"border\.shp: CRS unknown, add the \.prj")


# --------------------------------------------------------------------------------------
# GDAL is only ever handed bytes
# --------------------------------------------------------------------------------------


@pytest.fixture
def gdal_inputs(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    seen: list[type] = []
    for name in ("list_layers", "read_arrow", "read_info"):
        real = getattr(pyogrio, name)

        def spy(
            data: object, *args: object, _real: Callable[..., object] = real, **kwargs: object
        ) -> object:
            seen.append(type(data))
            return _real(data, *args, **kwargs)

        monkeypatch.setattr(pyogrio, name, spy)
    return seen


def test_gdal_gets_bytes_for_every_gdal_format(tmp_path: Path, gdal_inputs: list[type]) -> None:
    BORDER.to_file(tmp_path / "b.geojson", driver="GeoJSON")
    BORDER.to_file(tmp_path / "b.gpkg", driver="GPKG")
    BORDER.to_file(tmp_path / "b.fgb", driver="FlatGeobuf")
    BORDER.to_file(tmp_path / "b.kml", driver="LIBKML")
    BORDER.to_file(tmp_path / "b.kmz", driver="LIBKML")
    pyogrio.write_dataframe(BORDER, tmp_path / "b.gpx", driver="GPX", layer="routes")
    _zip(tmp_path / "b.zip", shapefile_parts(tmp_path))
    paths = [tmp_path / f"b.{e}" for e in ("geojson", "gpkg", "fgb", "kml", "kmz", "gpx", "zip")]
    paths.append(tmp_path / "shp_parts" / "border.shp")
    for path in paths:
        got, _ = read_border(path)
        assert len(got) == 1, path
    assert gdal_inputs
    assert set(gdal_inputs) == {bytes}


def test_refusals_leave_no_in_memory_files(tmp_path: Path) -> None:
    path = _zip(tmp_path / "border.zip", shapefile_parts(tmp_path))
    read_border(path)
    assert _vsimem() == []
    bad = tmp_path / "cut.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    refused(read_border, bad, r"cut\.geojson: could not be read as GeoJSON")
    assert _vsimem() == []
