"""Reading each file format into one raw table, before any value is checked.

:func:`read_raw` (in ``dispatch``) checks a file and hands it to the reader of its format;
every reader returns a :class:`RawLayer` (``raw``). This package knows about file formats
(extensions, signatures, sidecar files, container layers, what CRS a format implies), not
what a sensor or a border is beyond the geometry family a layer needs; values are checked
in :mod:`geo.inputs.checks` and :mod:`geo.inputs.loader`.

One module per format family:

- ``csv``: CSV (delimited text); ``tables``: WKT or lat/lon columns of plain tables (CSV, Parquet)
- ``parquet``: GeoParquet and plain Parquet
- ``ogr``: what GDAL reads (GeoJSON, GeoPackage, FlatGeobuf), and the layer reading the
  next three share; ``shapefile``: zipped or plain Shapefiles; ``kml``: KML/KMZ and
  ``gx:Track`` times; ``gpx``: GPX
- ``cot``: Cursor-on-Target XML

A user's file is only ever read through ``files`` (its bytes: size limit), ``zips``
(zip bombs, unsafe entries), ``gdal`` (bytes only, never a path; importing it removes the
GDAL drivers Limes does not use and GDAL's network access), the CSV reader and
:func:`geo.inputs.guard.read_parquet_table`. Before a reader parses anything, ``detect``
refuses GDAL virtual datasets and content that does not match the extension, and
``xmlsafe`` refuses XML with a DTD or entities; rows, decoded sizes and GeoPackage schemas
are checked in :mod:`geo.inputs.guard`.
"""

from geo.inputs.readers.dispatch import read_raw
from geo.inputs.readers.raw import (
    FAMILY_OF,
    Family,
    RawLayer,
    is_wgs84,
    no_gc,
    normalise_name,
)

__all__ = ["FAMILY_OF", "Family", "RawLayer", "is_wgs84", "no_gc", "normalise_name", "read_raw"]
