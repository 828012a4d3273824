"""KML and KMZ: every folder of every document, read by GDAL; ``gx:Track`` times read here.

A KMZ is a zip of KML documents (a ``doc.kml`` linking to ``layers/<name>.kml`` when GDAL or
QGIS wrote it); GDAL only ever sees each document's bytes, so links are never followed and
every document is read. Attributes come from ExtendedData.

GDAL reads a ``gx:Track`` (Google Earth's time-stamped GPS track) as a plain line and loses
its ``<when>`` times. For detections those times are the point, so the track is read again
here (through :mod:`geo.inputs.readers.xmlsafe`) and expanded to one timestamped point per
``<when>``/``<gx:coord>`` pair; a placemark's ``<TimeSpan><begin>`` stands in for a missing
``<TimeStamp>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import numpy as np
import pandas as pd
import shapely

from geo.core.errors import ValidationError, describe
from geo.inputs.readers.detect import refuse_virtual
from geo.inputs.readers.files import HEAD_BYTES
from geo.inputs.readers.ogr import merge_raws, read_vector
from geo.inputs.readers.raw import FAMILY_OF, Family, RawLayer, concat_frames
from geo.inputs.readers.xmlsafe import DefusedXmlException, check_xml, local_name, parse_document
from geo.inputs.readers.zips import open_zip, read_zip_entry

__all__ = ["Track", "expand_tracks", "read_kml", "read_tracks"]


def read_kml(data: bytes, source: str, layer_kind: str, *, kmz: bool) -> RawLayer:
    """A KML document (or, with ``kmz``, a KMZ archive) read as the layer ``layer_kind``.

    A KML document must have passed :func:`geo.inputs.readers.xmlsafe.check_xml`; the
    documents of a KMZ are checked here. For detections, ``gx:Track`` positions become
    timestamped points (:func:`expand_tracks`).
    """
    family = FAMILY_OF[layer_kind]
    if kmz:
        named = _kmz_documents(data, source)
        documents = [doc for _, doc in named]
        raw = _read_kml_documents(named, source, family)
    else:
        documents = [data]
        raw = read_vector(data, source, "kml", "KML", family)
    if layer_kind in ("detections", "tracks"):
        tracks = [t for doc in documents if b"Track" in doc for t in read_tracks(doc, source)]
        raw = expand_tracks(raw, tracks)
        _kml_time_span(raw)
    return raw


def _kmz_documents(data: bytes, source: str) -> list[tuple[str, bytes]]:
    """The KML documents of a KMZ (``doc.kml`` first), each checked by :func:`check_xml`.

    A KMZ written by GDAL/QGIS holds a ``doc.kml`` linking to ``layers/<name>.kml``; GDAL only
    ever sees each document's bytes, so links are never followed: every document is read.
    """
    zf, files = open_zip(data, source, "KMZ")
    with zf:
        kmls = sorted(
            (i for i in files if i.filename.lower().endswith(".kml")),
            key=lambda i: (
                Path(i.filename).name.lower() != "doc.kml",
                i.filename.count("/"),
                i.filename,
            ),
        )
        if not kmls:
            raise ValidationError(
                describe(
                    source,
                    "the KMZ holds no .kml document",
                    expected="a zip with doc.kml",
                    got=", ".join(i.filename for i in files[:10]) or "an empty zip",
                    fix="Save the file again as KMZ from Google Earth/QGIS, or upload the "
                    ".kml itself",
                )
            )
        documents = []
        for info in kmls:
            doc = read_zip_entry(zf, info, source)
            name = f"{source} ({info.filename})"
            refuse_virtual(doc[:HEAD_BYTES], name)
            check_xml(doc, name, "KML")
            documents.append((info.filename, doc))
    return documents


def _read_kml_documents(
    documents: list[tuple[str, bytes]], source: str, family: Family
) -> RawLayer:
    """Read the KML documents of a KMZ and concatenate those with features."""
    notes: list[str] = []
    read = [
        (name, read_vector(doc, source, "kmz", "KMZ", family, notes=notes))
        for name, doc in documents
    ]
    with_rows = [(n, r) for n, r in read if len(r.attrs)] or read[:1]
    return merge_raws(
        [r for _, r in with_rows], [n for n, _ in with_rows], source, what="KML documents"
    )


def _kml_time_span(raw: RawLayer) -> None:
    """Use a placemark's TimeSpan <begin> (LIBKML's ``begin``) where it has no <TimeStamp>."""
    cols = {str(c).lower(): c for c in raw.attrs.columns}
    if "begin" not in cols:
        return
    begin = raw.attrs[cols["begin"]]
    stamp = (
        raw.attrs[cols["timestamp"]]
        if "timestamp" in cols
        else pd.Series([None] * len(begin), dtype=object)
    )
    use = stamp.isna() & begin.notna()
    if use.any():
        raw.attrs[cols.get("timestamp", "timestamp")] = stamp.astype(object).where(
            ~use, begin.astype(object)
        )
        raw.notes.append(
            f"{int(use.sum())} placemark time(s) taken from <TimeSpan><begin> (no <TimeStamp>)"
        )


@dataclass
class Track:
    """One ``gx:Track``: its placemark's name, times (text) and lon/lat coordinates."""

    name: str | None
    whens: list[str]
    coords: list[tuple[float, float]]


def read_tracks(data: bytes, source: str) -> list[Track]:
    """All ``gx:Track`` elements of a KML document, in document order."""
    try:
        root = parse_document(data)
    except (ParseError, DefusedXmlException) as exc:
        raise ValidationError(
            describe(
                source,
                "the KML could not be parsed to read its gx:Track times",
                got=str(exc)[:160],
                fix="Check the file is complete, well-formed KML",
            )
        ) from exc
    tracks: list[Track] = []
    for placemark in root.iter():
        if local_name(placemark.tag) != "Placemark":
            continue
        name = next(
            (c.text.strip() for c in placemark if local_name(c.tag) == "name" and c.text), None
        )
        for el in placemark.iter():
            if local_name(el.tag) == "Track":
                tracks.append(_track(el, name))
    return tracks


def _track(el: Element, name: str | None) -> Track:
    whens = [(c.text or "").strip() for c in el if local_name(c.tag) == "when"]
    coords: list[tuple[float, float]] = []
    for c in el:
        if local_name(c.tag) != "coord":
            continue
        parts = (c.text or "").split()
        try:
            coords.append((float(parts[0]), float(parts[1])))
        except (IndexError, ValueError):
            coords.append((np.nan, np.nan))
    return Track(name, whens, coords)


def _signature(line: shapely.Geometry) -> tuple[int, float, float]:
    xy = shapely.get_coordinates(line)
    return (
        (len(xy), round(float(xy[0, 0]), 6), round(float(xy[0, 1]), 6))
        if len(xy)
        else (0, 0.0, 0.0)
    )


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
    rows = [(t.name, w, x, y) for t in tracks for w, (x, y) in zip(t.whens, t.coords, strict=False)]
    if not rows:
        return raw
    points = pd.DataFrame(rows, columns=["name", "timestamp", "lon", "lat"])
    time_col = next((c for c in raw.attrs.columns if str(c).lower() == "timestamp"), "timestamp")
    name_col = next((c for c in raw.attrs.columns if str(c).lower() == "name"), "name")
    new_attrs = points[["name", "timestamp"]].rename(
        columns={"name": name_col, "timestamp": time_col}
    )
    keep = ~is_track
    first = int(raw.src_row.max()) + 1 if len(raw.src_row) else 1
    kept_pos = np.flatnonzero(keep)
    remap = {int(p): k for k, p in enumerate(kept_pos)}
    raw.rejects = [(remap[p], f, why) for p, f, why in raw.rejects if p in remap]
    raw.attrs = concat_frames([raw.attrs.loc[keep].reset_index(drop=True), new_attrs])
    raw.geometry = np.concatenate(
        [
            geoms[keep],
            np.asarray(
                shapely.points(points["lon"].to_numpy(), points["lat"].to_numpy()), dtype=object
            ),
        ]
    )
    raw.src_row = np.concatenate(
        [raw.src_row[keep], np.arange(first, first + len(points), dtype=np.int64)]
    )
    n_tracks = len(tracks)
    raw.notes.append(
        f"expanded {n_tracks} gx:Track{'s' if n_tracks > 1 else ''} into {len(points)} "
        f"timestamped points (features {first}-{first + len(points) - 1}); GDAL alone drops "
        "their times"
    )
    mismatched = [t for t in tracks if len(t.whens) != len(t.coords)]
    if mismatched:
        raw.notes.append(
            f"{len(mismatched)} gx:Track(s) have different numbers of <when> and "
            "<gx:coord>: only complete pairs were used"
        )
    return raw
