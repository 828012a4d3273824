"""Read any supported file into a raw layer: the checks every file passes, then its reader.

:func:`read_raw` is the one entry point of :mod:`geo.inputs.readers`. It checks the file
before anything is parsed (size, GDAL virtual datasets, signature, XML prolog, GeoPackage
schema), then hands it to the reader of its format, and counts the rows it yields.
"""

from __future__ import annotations

from pathlib import Path

from geo.core.errors import ValidationError, describe
from geo.inputs.guard import check_geopackage, check_rows
from geo.inputs.readers.cot import read_cot
from geo.inputs.readers.csv import read_csv
from geo.inputs.readers.detect import check_signature, detect_format, refuse_virtual
from geo.inputs.readers.files import check_file, read_bytes
from geo.inputs.readers.gpx import read_gpx
from geo.inputs.readers.kml import read_kml
from geo.inputs.readers.ogr import read_vector
from geo.inputs.readers.parquet import read_parquet
from geo.inputs.readers.raw import FAMILY_OF, RawLayer
from geo.inputs.readers.shapefile import read_shapefile, read_shapefile_zip
from geo.inputs.readers.xmlsafe import check_xml

__all__ = ["read_raw"]


def read_raw(path: Path, *, layer_kind: str, source: str) -> RawLayer:
    """Read any supported file into a :class:`RawLayer` for ``layer_kind``.

    Checks first, before anything is parsed: the file exists, is not empty and not larger
    than :func:`~geo.inputs.readers.files.max_file_bytes`; it is no GDAL virtual dataset
    (:func:`~geo.inputs.readers.detect.refuse_virtual`); its first bytes match its
    extension; XML has no DTD (:func:`~geo.inputs.readers.xmlsafe.check_xml`); zips pass
    :func:`~geo.inputs.readers.zips.open_zip`; a GeoPackage holds plain tables only
    (:func:`~geo.inputs.guard.check_geopackage`). GDAL is then handed the checked bytes,
    never ``path``. No file yields more rows than :data:`settings.MAX_ROWS_PER_FILE`:
    counted before decoding where the format says (CSV, Parquet, GeoPackage, GPX), else
    while reading.

    Parameters
    ----------
    path
        The file.
    layer_kind
        ``"border"``, ``"sectors"``, ``"sensors"`` or ``"detections"``: which geometry
        family to read (:data:`~geo.inputs.readers.raw.FAMILY_OF`).
    source
        The file's name for messages and for the format when ``path`` has no known
        extension (an upload's temporary file).

    Examples
    --------
    >>> from geo.core.settings import SAMPLE_DIR
    >>> raw = read_raw(SAMPLE_DIR / "sensors.csv", layer_kind="sensors", source="sensors.csv")
    >>> raw.format, raw.lonlat_cols
    ('CSV', ('lon', 'lat'))
    """
    raw = _read_raw(path, layer_kind=layer_kind, source=source)
    check_rows(source, len(raw.attrs) + len(raw.dropped), label=raw.row_label)
    return raw


def _read_raw(path: Path, *, layer_kind: str, source: str) -> RawLayer:
    """Check the file, then read it with the reader of its format."""
    head = check_file(path, source)
    refuse_virtual(head, source)
    kind, label = detect_format(path, source, head)
    check_signature(head, kind, label, source)
    family = FAMILY_OF[layer_kind]
    if kind == "csv":
        return read_csv(path, head, source)
    if kind == "parquet":
        return read_parquet(path, source)
    if kind == "shp":
        return read_shapefile(path, source, family)
    if kind == "gpkg":
        check_geopackage(path, source)
    data = read_bytes(path, source)
    if kind == "cot":
        if family != "point":
            raise ValidationError(
                describe(
                    source,
                    f"Cursor-on-Target events are points, but the {layer_kind} need {family}s",
                    expected=f"{family} geometry",
                    got="CoT events",
                    fix="Load CoT files as detections",
                )
            )
        return read_cot(data, source)
    if kind == "shpzip":
        return read_shapefile_zip(data, source, family)
    if kind in ("kml", "gpx"):
        check_xml(data, source, label)
    if kind == "gpx":
        return read_gpx(data, head, source, layer_kind)
    if kind in ("kml", "kmz"):
        return read_kml(data, source, layer_kind, kmz=kind == "kmz")
    return read_vector(data, source, kind, label, family)
