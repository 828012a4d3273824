"""KML ``gx:Track`` timestamps, which GDAL drops (private to :mod:`geo.inputs.loader`).

GDAL reads a ``gx:Track`` (Google Earth's time-stamped GPS track) as a plain line and loses
its ``<when>`` times. For detections those times are the point, so the track is read again
here, with :mod:`defusedxml` (never :mod:`xml.etree` directly on user data), and expanded to
one timestamped point per ``<when>``/``<gx:coord>`` pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import numpy as np
import pandas as pd
import shapely
from defusedxml import DefusedXmlException

from geo.core.errors import ValidationError, describe
from geo.inputs.formats import RawLayer, concat_frames


@dataclass
class Track:
    """One ``gx:Track``: its placemark's name, times (text) and lon/lat coordinates."""

    name: str | None
    whens: list[str]
    coords: list[tuple[float, float]]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_tracks(data: bytes, source: str) -> list[Track]:
    """All ``gx:Track`` elements of a KML document, in document order."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise ValidationError(describe(
            source, "the KML could not be parsed to read its gx:Track times",
            got=str(exc)[:160], fix="Check the file is complete, well-formed KML")) from exc
    tracks: list[Track] = []
    for placemark in root.iter():
        if _local(placemark.tag) != "Placemark":
            continue
        name = next((c.text.strip() for c in placemark if _local(c.tag) == "name" and c.text),
                    None)
        for el in placemark.iter():
            if _local(el.tag) == "Track":
                tracks.append(_track(el, name))
    return tracks


def _track(el: Element, name: str | None) -> Track:
    whens = [(c.text or "").strip() for c in el if _local(c.tag) == "when"]
    coords: list[tuple[float, float]] = []
    for c in el:
        if _local(c.tag) != "coord":
            continue
        parts = (c.text or "").split()
        try:
            coords.append((float(parts[0]), float(parts[1])))
        except (IndexError, ValueError):
            coords.append((np.nan, np.nan))
    return Track(name, whens, coords)


def _signature(line: shapely.Geometry) -> tuple[int, float, float]:
    xy = shapely.get_coordinates(line)
    return (len(xy), round(float(xy[0, 0]), 6), round(float(xy[0, 1]), 6)) if len(xy) else (
        0, 0.0, 0.0)


def expand_tracks(raw: RawLayer, tracks: list[Track]) -> RawLayer:
    """Replace GDAL's lines for ``tracks`` by one timestamped point per track position.

    The times go into the ``timestamp`` column (where GDAL's LIBKML driver puts a
    Placemark's ``<TimeStamp>``), so points and tracks share one time column.
    """
    if not tracks or raw.geometry is None:
        return raw
    signatures = {_signature(shapely.LineString(t.coords)) for t in tracks if len(t.coords) > 1}
    geoms = raw.geometry
    is_track = np.zeros(len(geoms), dtype=bool)
    for i, g in enumerate(geoms):
        if g is None or g.geom_type not in ("LineString", "MultiLineString") or g.is_empty:
            continue
        is_track[i] = all(_signature(p) in signatures for p in shapely.get_parts(g))
    rows = [(t.name, w, x, y) for t in tracks
            for w, (x, y) in zip(t.whens, t.coords, strict=False)]
    if not rows:
        return raw
    points = pd.DataFrame(rows, columns=["name", "timestamp", "lon", "lat"])
    time_col = next((c for c in raw.attrs.columns if str(c).lower() == "timestamp"), "timestamp")
    name_col = next((c for c in raw.attrs.columns if str(c).lower() == "name"), "name")
    new_attrs = points[["name", "timestamp"]].rename(columns={"name": name_col,
                                                              "timestamp": time_col})
    keep = ~is_track
    first = int(raw.src_row.max()) + 1 if len(raw.src_row) else 1
    kept_pos = np.flatnonzero(keep)
    remap = {int(p): k for k, p in enumerate(kept_pos)}
    raw.rejects = [(remap[p], f, why) for p, f, why in raw.rejects if p in remap]
    raw.attrs = concat_frames([raw.attrs.loc[keep].reset_index(drop=True), new_attrs])
    raw.geometry = np.concatenate([
        geoms[keep],
        np.asarray(shapely.points(points["lon"].to_numpy(), points["lat"].to_numpy()),
                   dtype=object),
    ])
    raw.src_row = np.concatenate([raw.src_row[keep],
                                  np.arange(first, first + len(points), dtype=np.int64)])
    n_tracks = len(tracks)
    raw.notes.append(
        f"expanded {n_tracks} gx:Track{'s' if n_tracks > 1 else ''} into {len(points)} "
        f"timestamped points (features {first}-{first + len(points) - 1}); GDAL alone drops "
        "their times"
    )
    mismatched = [t for t in tracks if len(t.whens) != len(t.coords)]
    if mismatched:
        raw.notes.append(f"{len(mismatched)} gx:Track(s) have different numbers of <when> and "
                         "<gx:coord>: only complete pairs were used")
    return raw
