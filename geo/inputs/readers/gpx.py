"""GPX: waypoints, route and track points, tracks and routes, read by GDAL.

Which GPX layers a Limes layer takes is in :data:`_GPX_LAYERS` (sensors: waypoints, else
route points, else track points; sectors: closed tracks or routes, GPX having no polygons).
Their rows are counted before any is decoded; ``<extensions>`` fields lose their namespace
prefix (``ogr_range_m`` -> ``range_m``).
"""

from __future__ import annotations

import re

import pandas as pd

from geo.core.errors import ValidationError, describe
from geo.inputs.guard import check_rows
from geo.inputs.readers.gdal import feature_count, list_layers
from geo.inputs.readers.ogr import read_vector
from geo.inputs.readers.raw import FAMILY_OF, RawLayer

__all__ = ["read_gpx"]


#: GPX layers to read per layer kind, in order.
_GPX_LAYERS: dict[str, tuple[str, ...]] = {
    "border": ("tracks", "routes"),
    "sectors": ("tracks", "routes"),
    "sensors": ("waypoints", "route_points", "track_points"),
    "detections": ("waypoints", "route_points", "track_points"),
    "tracks": ("track_points",),
}

#: Fields GDAL's GPX driver always creates (extension fields are everything else).
_GPX_STANDARD_FIELDS: frozenset[str] = frozenset(
    "ele time magvar geoidheight name cmt desc src sym type fix sat hdop vdop pdop "
    "ageofdgpsdata dgpsid number route_fid route_point_id track_fid track_seg_id "
    "track_seg_point_id course speed".split()
    + [f"link{i}_{p}" for i in (1, 2) for p in ("href", "text", "type")]
)


def read_gpx(data: bytes, head: bytes, source: str, layer_kind: str) -> RawLayer:
    """The GPX layers that stand for ``layer_kind`` (see :data:`_GPX_LAYERS`), from the bytes.

    ``head`` (the file's first bytes) declares the namespace prefixes of extension fields.
    """
    notes: list[str] = []
    found = dict(list_layers(data, source, "GPX", notes))
    wanted = [n for n in _GPX_LAYERS[layer_kind] if n in found]
    if layer_kind == "tracks" and "tracks" in found:
        wanted.append("tracks")  # counted only: the tracks' names (see _track_names)
    counts = {name: feature_count(data, source, "GPX", notes, layer=name) for name in wanted}
    non_empty = [n for n in wanted if counts.get(n, 0) > 0 and n in _GPX_LAYERS[layer_kind]]
    if layer_kind == "sensors" and non_empty:
        non_empty = non_empty[:1]  # waypoints if any, else route points, else track points
    names = counts.get("tracks", 0) if layer_kind == "tracks" else 0  # read for their names
    check_rows(source, sum(counts[n] for n in non_empty) + names, label="feature")
    if not non_empty:
        what = {
            "border": "tracks or routes",
            "sectors": "closed tracks or routes",
            "sensors": "waypoints",
            "detections": "waypoints or track/route points",
            "tracks": "tracks with timed points",
        }[layer_kind]
        raise ValidationError(
            describe(
                source,
                f"the GPX file has no {what}",
                expected=what,
                got=", ".join(f"{n}: {c}" for n, c in counts.items()) or "no GPX layers",
                fix="Export the data as GPX " + what,
            )
        )
    raw = read_vector(
        data, source, "gpx", "GPX", FAMILY_OF[layer_kind], layers=non_empty, notes=notes
    )
    if len(non_empty) == 1:
        raw.notes.append(f"read GPX {non_empty[0]} ({counts[non_empty[0]]})")
    raw.attrs = _strip_gpx_prefixes(raw.attrs, head)
    raw.closed_lines_are_polygons = layer_kind == "sectors"
    if layer_kind == "tracks" and counts.get("tracks", 0) and "track_fid" in raw.attrs:
        raw.attrs["track_name"] = _track_names(data, source, raw.attrs["track_fid"])
    return raw


def _track_names(data: bytes, source: str, track_fid: pd.Series) -> pd.Series:
    """The name of each track point's track (``<trk><name>``), by its ``track_fid``."""
    tracks = read_vector(data, source, "gpx", "GPX", "line", layers=["tracks"])
    if "name" not in tracks.attrs:
        return pd.Series([None] * len(track_fid), dtype=object)
    names = tracks.attrs["name"].astype(object).where(tracks.attrs["name"].notna(), None)
    by_fid = dict(enumerate(names.tolist()))
    return track_fid.map(lambda f: by_fid.get(int(f)) if pd.notna(f) else None)


def _strip_gpx_prefixes(attrs: pd.DataFrame, head: bytes) -> pd.DataFrame:
    """Rename GPX extension fields ``ogr_range_m`` -> ``range_m`` (namespace prefix off)."""
    declared = re.findall(rb"xmlns:([A-Za-z_][\w.-]*)=", head)
    prefixes = {p.decode("ascii", "replace") for p in declared}
    prefixes.discard("xsi")
    rename: dict[str, str] = {}
    for col in attrs.columns:
        if col in _GPX_STANDARD_FIELDS:
            continue
        for p in prefixes:
            if col.startswith(p + "_") and len(col) > len(p) + 1:
                new = col[len(p) + 1 :]
                if new not in attrs.columns and new not in rename.values():
                    rename[col] = new
                break
    return attrs.rename(columns=rename)
