"""Which format a file is: its extension, checked against its first bytes.

:func:`detect_format` picks the format from the extension (a nameless Cursor-on-Target
``<event>`` is recognised by its content); :func:`check_signature` refuses content that does
not match it; :func:`refuse_virtual` refuses a GDAL virtual dataset (VRT, GDALG pipeline,
service description) whatever its name, before anything is parsed.
"""

from __future__ import annotations

import re
from pathlib import Path

from geo.core.errors import ValidationError, describe
from geo.inputs.readers.xmlsafe import local_name, xml_root

__all__ = ["EXTENSIONS", "check_signature", "detect_format", "refuse_virtual"]


#: Extension -> (format key, label used in reports).
EXTENSIONS: dict[str, tuple[str, str]] = {
    ".csv": ("csv", "CSV"),
    ".geojson": ("geojson", "GeoJSON"),
    ".json": ("geojson", "GeoJSON"),
    ".gpkg": ("gpkg", "GPKG"),
    ".zip": ("shpzip", "ESRI Shapefile (zip)"),
    ".shp": ("shp", "ESRI Shapefile"),
    ".kml": ("kml", "KML"),
    ".kmz": ("kmz", "KMZ"),
    ".gpx": ("gpx", "GPX"),
    ".fgb": ("fgb", "FlatGeobuf"),
    ".parquet": ("parquet", "GeoParquet"),
    ".geoparquet": ("parquet", "GeoParquet"),
    ".cot": ("cot", "CoT"),
    ".xml": ("cot", "CoT"),
}


def detect_format(path: Path, source: str, head: bytes = b"") -> tuple[str, str]:
    """Choose the format from the extension (of the path, else of the source name).

    A file with neither extension known whose content is a Cursor-on-Target ``<event>`` is
    read as CoT.
    """
    for name in (path.name, source):
        ext = _extension(name)
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
    root = xml_root(_text_start(head))
    if root is not None and local_name(root) == "event":
        return "cot", "CoT"
    supported = ", ".join(sorted(EXTENSIONS))
    raise ValidationError(
        describe(
            source,
            "unsupported file type",
            expected=f"one of {supported}",
            got=_extension(source) or "(no extension)",
            fix="Export the layer as GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ, GPX, "
            "FlatGeobuf, GeoParquet, CSV or Cursor-on-Target XML",
        )
    )


def _extension(name: str) -> str:
    lower = name.lower()
    return ".geoparquet" if lower.endswith(".geoparquet") else Path(lower).suffix


def _text_start(head: bytes) -> bytes:
    """The head without a byte order mark and leading white space."""
    return head.lstrip(b"\xef\xbb\xbf").lstrip()


#: Root elements of XML files that make GDAL open other files, URLs or services.
_VIRTUAL_XML: dict[str, str] = {
    "OGRVRTDataSource": "an OGR virtual vector dataset (VRT)",
    "VRTDataset": "a GDAL virtual raster (VRT)",
    "GDAL_WMS": "a GDAL WMS service description",
    "GDAL_WMTS": "a GDAL WMTS service description",
    "WCS_GDAL": "a GDAL WCS service description",
    "GDAL_WCS": "a GDAL WCS service description",
}
_GDALG = re.compile(rb'"type"\s*:\s*"gdal_streamed_alg"')


def refuse_virtual(head: bytes, source: str) -> None:
    """Refuse a GDAL virtual dataset (VRT, GDALG pipeline, service description), any name.

    Such a file is a recipe that makes GDAL read other files or URLs, or run commands; the
    drivers that would follow it are removed too (:func:`_restrict_gdal`), but the user gets
    this message rather than a parse error.
    """
    text = _text_start(head)
    what: str | None = None
    if text[:1] == b"<":
        root = xml_root(text)
        what = _VIRTUAL_XML.get(root or "")
    elif text[:1] == b"{" and _GDALG.search(text[:4096]):
        what = "a GDAL pipeline (GDALG)"
    if what is not None:
        raise ValidationError(
            describe(
                source,
                f"the file is {what}, which Limes never opens: it would make the server "
                "read other files or addresses",
                expected="the data itself",
                got=f"{what} ({len(head):,}+ bytes)",
                fix="Export the layer itself (e.g. with ogr2ogr or QGIS 'Export') and upload that",
            )
        )


def check_signature(head: bytes, kind: str, label: str, source: str) -> bytes:
    """Check that the file's first bytes match its extension; return those bytes."""
    text = _text_start(head)
    ok: bool
    expected: str
    if kind == "gpkg":
        ok = head.startswith(b"SQLite format 3\x00")
        expected = "an SQLite database ('SQLite format 3')"
    elif kind in ("shpzip", "kmz"):
        ok, expected = head[:4] in (b"PK\x03\x04", b"PK\x05\x06"), "a zip archive"
    elif kind == "shp":
        ok, expected = head[:4] == b"\x00\x00\x27\x0a", "a Shapefile (.shp) header"
    elif kind == "fgb":
        ok, expected = head[:3] == b"fgb", "a FlatGeobuf header ('fgb')"
    elif kind == "parquet":
        ok, expected = head[:4] == b"PAR1", "a Parquet file ('PAR1')"
    elif kind == "geojson":
        ok, expected = text[:1] in (b"{", b"["), "JSON text starting with '{'"
    elif kind in ("kml", "gpx", "cot"):
        root = xml_root(text)
        name = local_name(root).lower() if root else None
        if kind == "cot":
            want = "event"
            ok = name == "event" or (root is not None and b"<event" in text)
            expected = "an XML document with an <event> root element (or a root holding <event>s)"
        else:
            want = kind
            ok = name == want
            expected = f"an XML document with a <{want}> root element"
        if text[:1] == b"<" and root is not None and not ok:
            hint = {
                "kml": " (a .kml file is read as KML)",
                "gpx": " (a .gpx file is read as GPX)",
                "event": " (a .cot or .xml file is read as CoT)",
            }
            raise ValidationError(
                describe(
                    source,
                    f"is not a {label} document",
                    expected=expected,
                    got=f"<{root}> as root element",
                    fix=f"Wrap the content in a complete <{want}> document, or export it "
                    f"again as {label}" + (hint.get(name or "", "") if name != want else ""),
                )
            )
    else:  # csv
        ok, expected = b"\x00" not in head and text[:1] != b"<", "text with a header line"
        if text[:1] == b"<":
            expected += " (this is XML or HTML)"
    if not ok:
        got = head[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise ValidationError(
            describe(
                source,
                f"the file content does not look like {label}",
                expected=expected,
                got=f"file starting with {got!r}",
                fix=f"Check that the file really is {label} (the extension may be wrong)",
            )
        )
    return head
