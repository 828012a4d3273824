"""Load the tracks of drones and patrols: timed positions of moving observers.

:func:`read_tracks` reads any track file Limes reads, through the same checks as every
layer (:mod:`geo.inputs.loader`):

- GPX: the track points (``<trk><trkseg><trkpt>`` with ``<time>``); the track id is the
  track's ``<name>``, else its number in the file (``track 1``, ...), unless the points
  carry a ``track_id`` extension;
- KML/KMZ: every ``gx:Track`` (also inside ``gx:MultiTrack``), one fix per ``<when>`` and
  ``<gx:coord>`` pair (GDAL drops those times; they are read from the XML with
  :mod:`geo.inputs.readers.xmlsafe`); the track id is the placemark's name;
- Cursor-on-Target: position reports, one track per event ``uid``;
- CSV (or any table/point format): ``track_id,time,lat,lon`` and optionally ``partner``,
  ``kind``, ``range_m``, ``fov_deg``, ``height_m`` per row or once per track.

What a GPX or KML cannot say (partner, range) the ``timeline`` command's flags fill in
(``--track-partner``, ``--track-range-m``).
"""

from __future__ import annotations

import os

import geopandas as gpd

from geo.inputs.checks.track_fields import track_fields
from geo.inputs.loader import LoadReport, _load

__all__ = ["read_tracks"]


def read_tracks(
    path: str | os.PathLike[str], *, source_name: str | None = None
) -> tuple[gpd.GeoDataFrame, LoadReport]:
    r"""Load the fixes of one or more tracks.

    Parameters
    ----------
    path
        File to read (GPX, KML/KMZ with ``gx:Track``, CSV, or any point format).
    source_name
        Name for messages and format detection; defaults to ``path``'s basename.

    Returns
    -------
    tracks : geopandas.GeoDataFrame
        EPSG:4326, one row per fix, in file order. Columns ``time`` (datetime64[us, UTC]),
        ``track_id`` (str), ``partner``, ``kind`` (str or NaN), ``range_m``, ``fov_deg``,
        ``height_m`` (float64 or NaN), ``src_row`` (int64), ``geometry`` (Point, 2D).
    report : LoadReport
        Rows without a time, with a time before 1980-01-07 (an unset clock) or a bad value
        are rejected and listed.

    Raises
    ------
    geo.core.errors.ValidationError
        Unusable file, e.g. no time column, or no fix left.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = f.write_text("track_id,time,lat,lon\nD1,2026-05-01T00:00Z,0,0.1\n")
    >>> read_tracks(f)[0]["track_id"].tolist()
    ['D1']
    """
    return _load(path, "tracks", source_name, track_fields)
