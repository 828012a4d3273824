"""Which column of a file is which field: by name, case-insensitively, or by alias.

Column names are matched normalised (lower case, spaces or dashes as underscores,
:func:`geo.inputs.readers.raw.normalise_name`) against each field's :data:`ALIASES`; a
shapefile's names cut to 10 characters by dBASE (``min_range_``) are recognised. What was
matched, and the columns left unused, are said in the report's notes.
"""

from __future__ import annotations

from geo.core.errors import ValidationError, describe
from geo.inputs.readers.raw import RawLayer, normalise_name

__all__ = ["ALIASES", "OPTIONAL", "REQUIRED", "TIME_COLUMNS", "resolve_columns"]

#: Column names accepted for a detection's time, in order of preference.
TIME_COLUMNS: tuple[str, ...] = ("time", "timestamp", "datetime", "date_time", "when", "dtg")

#: Accepted column names per field (normalised: lower case, spaces as underscores).
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "border_name", "label", "title"),
    "sector_id": ("sector_id", "sectorid", "sector"),
    "sensor_id": ("sensor_id", "sensorid", "sensor"),
    "partner": ("partner", "partner_id", "partner_name", "agency"),
    "kind": ("kind", "sensor_kind", "sensor_type"),
    "range_m": ("range_m", "max_range_m", "range_meters"),
    "min_range_m": ("min_range_m", "min_range_meters"),
    "azimuth_deg": ("azimuth_deg", "azimuth", "bearing_deg", "heading_deg"),
    "fov_deg": ("fov_deg", "fov", "field_of_view_deg"),
    "height_m": ("height_m", "height", "mast_height_m", "height_agl_m"),
    "status": ("status", "state"),
    "detection_id": ("detection_id", "detectionid", "det_id"),
    "source": ("source", "src", "sensor", "sensor_id"),
    "class": ("class", "classification", "category", "type"),
    "confidence": ("confidence", "conf", "score", "probability"),
    "access": ("access",),
    "caveat": ("caveat", "caveats"),
    "releasable_to": ("releasable_to", "releasableto", "releaseable_to", "releaseableto", "rel_to"),
    "hae_m": ("hae_m", "hae"),
    "ce_m": ("ce_m", "ce"),
    "le_m": ("le_m", "le"),
    "active_from": ("active_from", "active_since", "in_service_from"),
    "active_to": ("active_to", "active_until", "in_service_to"),
    "schedule": ("schedule", "daily_schedule", "hours"),
    "outages": ("outages", "outage", "downtime"),
    "track_id": ("track_id", "trackid", "track", "callsign", "uid"),
}

#: Fields each layer must have.
REQUIRED: dict[str, tuple[str, ...]] = {
    "border": (),
    "sectors": ("sector_id", "partner"),
    "sensors": ("sensor_id", "partner", "kind", "range_m"),
    "detections": (),
    "tracks": (),  # track_id: GPX and KML name their tracks (geo.inputs.checks.track_fields)
}
#: Fields each layer may have.
OPTIONAL: dict[str, tuple[str, ...]] = {
    "border": ("name",),
    "sectors": ("name",),
    "sensors": (
        "min_range_m",
        "azimuth_deg",
        "fov_deg",
        "height_m",
        "status",
        "active_from",
        "active_to",
        "schedule",
        "outages",
    ),
    "tracks": ("track_id", "partner", "kind", "range_m", "fov_deg", "height_m"),
    "detections": (
        "detection_id",
        "source",
        "partner",
        "class",
        "confidence",
        "access",
        "caveat",
        "releasable_to",
        "hae_m",
        "ce_m",
        "le_m",
    ),
}
#: Columns that are never the file's own data (KML/GPX bookkeeping), ignored silently.
_FORMAT_COLUMNS = frozenset(
    "id description timestamp begin end altitudemode tessellate extrude visibility draworder "
    "icon ele magvar geoidheight cmt desc sym fix sat hdop vdop pdop ageofdgpsdata dgpsid "
    "number route_fid route_point_id track_fid track_seg_id track_seg_point_id course speed "
    "track_name "
    "link1_href link1_text link1_type link2_href link2_text link2_type fid".split()
)


def resolve_columns(raw: RawLayer, layer: str) -> dict[str, str | None]:
    """Map each field of ``layer`` to a column of ``raw.attrs`` (``None``: not in the file).

    Notes on what was matched are added to ``raw.notes``.

    Raises
    ------
    ValidationError
        No time column (detections) or a required column missing, with the columns found.
    """
    picker = _Picker(raw)
    cols: dict[str, str | None] = {}
    if layer in ("detections", "tracks"):
        cols["time"] = _time_column(raw, picker)
    for fld in REQUIRED[layer] + OPTIONAL[layer]:
        cols[fld] = _field_column(raw, picker, fld)
    missing = [f for f in REQUIRED[layer] if cols.get(f) is None]
    if missing:
        shown = ", ".join(repr(c) for c in raw.attrs.columns[:25]) or "none"
        fld = missing[0]
        raise ValidationError(
            describe(
                raw.source,
                f"required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)} missing",
                field=fld,
                expected=f"a column named {fld!r} (or {', '.join(ALIASES[fld][1:]) or 'no alias'})",
                got=f"columns {shown}",
                fix=f"Add the {', '.join(missing)} column(s) to the file",
            )
        )
    _note_ignored(raw, picker.used)
    return cols


class _Picker:
    """Finds a field's column among the columns of a file not used by another field yet."""

    def __init__(self, raw: RawLayer) -> None:
        self.raw = raw
        self.by_norm: dict[str, list[str]] = {}
        for c in raw.attrs.columns:
            self.by_norm.setdefault(normalise_name(c), []).append(str(c))
        self.used: set[str] = set()

    def matches(self, alias: str) -> list[str]:
        """Columns named ``alias`` (normalised), or its first 10 characters in a shapefile."""
        found = list(self.by_norm.get(alias, []))
        if self.raw.kind == "shp" and len(alias) > 10:  # dBASE cuts names to 10 characters
            found += self.by_norm.get(alias[:10], [])
        return found

    def pick(self, names: tuple[str, ...]) -> str | None:
        """First column matching ``names`` (in order) that has values, else first match."""
        candidates = [c for alias in names for c in self.matches(alias) if c not in self.used]
        with_values = [c for c in candidates if self.raw.attrs[c].notna().any()]
        return next(iter(with_values or candidates), None)


def _time_column(raw: RawLayer, picker: _Picker) -> str:
    """The column of a detection's time (:data:`TIME_COLUMNS`); raise if there is none."""
    present = tuple(n for n in TIME_COLUMNS if n in picker.by_norm)
    tcol = picker.pick(present)
    if tcol is None:
        shown = ", ".join(repr(c) for c in raw.attrs.columns[:20]) or "none"
        raise ValidationError(
            describe(
                raw.source,
                "no time column",
                field="time",
                expected="a column named one of " + ", ".join(TIME_COLUMNS),
                got=f"columns {shown}",
                fix="Add a 'time' column with ISO 8601 times such as 2024-05-01T12:00:00Z",
            )
        )
    picker.used.add(tcol)
    others = [c for n in present for c in picker.by_norm[n] if c != tcol]
    raw.notes.append(
        f"time read from column {tcol!r}"
        + (f" (also found {', '.join(repr(c) for c in others)}, not used)" if others else "")
    )
    return tcol


def _field_column(raw: RawLayer, picker: _Picker, fld: str) -> str | None:
    """The column of ``fld`` by its aliases (a KML/GPX feature name for an id), or ``None``."""
    col = picker.pick(ALIASES[fld])
    by_name = (
        ("sensor_id", "sector_id") if raw.kind == "gpx" else ("sensor_id", "sector_id", "track_id")
    )
    if col is None and fld in by_name and raw.kind in ("kml", "kmz", "gpx"):
        col = picker.pick(("name",))
        if col is not None:
            raw.notes.append(f"{fld} taken from the {raw.format} feature name ({col!r})")
    elif col is not None and normalise_name(col) != fld and raw.attrs[col].notna().any():
        raw.notes.append(f"{fld} read from column {col!r}")
    if col is not None:
        picker.used.add(col)
    return col


def _note_ignored(raw: RawLayer, used: set[str]) -> None:
    """Name the columns with values that no field uses (format bookkeeping aside)."""
    ignored = [
        str(c)
        for c in raw.attrs.columns
        if c not in used
        and normalise_name(c) not in _FORMAT_COLUMNS
        and (raw.lonlat_cols is None or c not in raw.lonlat_cols)
        and raw.attrs[c].notna().any()
    ]
    if ignored:
        raw.notes.append(
            "ignored columns not used by Limes: "
            + ", ".join(ignored[:15])
            + (" ..." if len(ignored) > 15 else "")
        )
