"""The fields of a track fix (a drone's or a patrol's timed position), checked value by value.

A fix has a ``time`` (required, to UTC as for detections) and a ``track_id`` (required; from
a GPX file the track's name or number, from KML the placemark's name, from Cursor-on-Target the
event's ``uid`` when the file has no id), and
optionally ``partner``, ``kind`` (one of :data:`geo.core.settings.TRACK_KINDS`),
``range_m`` (> 0), ``fov_deg`` (in (0, 360]) and ``height_m`` (>= 0), per row or once per
track (the first value given in a track fills its other rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.inputs.checks.fields import EARLIEST_TIME, FieldContext, _number_col, _text_col
from geo.inputs.checks.rejects import fmt_value, reason
from geo.inputs.checks.times import to_time
from geo.inputs.checks.values import to_text as _text_col_named

__all__ = ["track_fields"]


def track_fields(ctx: FieldContext) -> dict[str, Any]:
    """A fix's time, track id, partner, kind, range, field of view and height."""
    times = _fix_times(ctx)
    track_id = _track_ids(ctx)
    partner = _per_track(_text_col(ctx, "partner"), track_id)
    kind = _track_kind(ctx, track_id)
    range_m = _positive(ctx, "range_m", "a range in metres > 0", strict=True)
    fov = _number_col(ctx, "fov_deg", "a field of view in degrees")
    ctx.rej.reject(
        ~np.isnan(fov) & ~((fov > 0) & (fov <= 360)),
        ctx.cols["fov_deg"] or "fov_deg",
        lambda i: reason(
            "field of view out of range", expected="degrees in (0, 360]", got=fmt_value(fov[i])
        ),
    )
    height = _positive(ctx, "height_m", "a height in metres >= 0", strict=False)
    return {
        "time": times,
        "track_id": track_id,
        "partner": partner,
        "kind": kind,
        "range_m": _fill_by_track(range_m, track_id),
        "fov_deg": _fill_by_track(fov, track_id),
        "height_m": _fill_by_track(height, track_id),
    }


def _fix_times(ctx: FieldContext) -> pd.Series:
    tcol = ctx.cols["time"]
    assert tcol is not None
    raw_times = ctx.raw.attrs[tcol]
    times = to_time(raw_times)
    if times.how:
        ctx.notes.append(times.how)
    ctx.rej.reject(
        times.bad,
        tcol,
        lambda i: reason(
            "not a time",
            expected="ISO 8601 such as 2026-05-01T12:00:00Z",
            got=fmt_value(raw_times.iloc[i]),
            fix="Write times as YYYY-MM-DDTHH:MM:SSZ",
        ),
    )
    values = times.values
    ctx.rej.reject(
        values.isna().to_numpy(),
        tcol,
        reason("the time is missing", expected="a time such as 2026-05-01T12:00:00Z", got=None),
    )
    ctx.rej.reject(
        (values < EARLIEST_TIME).fillna(False).to_numpy(dtype=bool),
        tcol,
        lambda i: reason(
            "implausible time: before 1980-01-07, most likely an unset device clock",
            expected="a time from 1980-01-07 on",
            got=values.iloc[i].isoformat(),
            fix="Correct the device's clock or the times in the file",
        ),
    )
    ctx.naive_times = int((times.naive & ctx.rej.alive).sum())
    return values


def _track_ids(ctx: FieldContext) -> pd.Series:
    """``track_id``; from GPX the track's name or number, else the file's name for KML."""
    attrs = ctx.raw.attrs
    if ctx.cols.get("track_id") is None and ctx.raw.kind == "cot" and "detection_id" in attrs:
        ctx.notes.append("track_id taken from the CoT event uid: one track per uid")
        ids = _text_col_named(attrs["detection_id"])
        ctx.rej.reject(
            ids.isna().to_numpy(),
            "uid",
            reason("the value is missing", expected="an event uid", got=None),
        )
        return ids
    if ctx.cols.get("track_id") is None and ctx.raw.kind not in ("gpx", "kml", "kmz"):
        shown = ", ".join(repr(c) for c in attrs.columns[:20]) or "none"
        raise ValidationError(
            describe(
                ctx.raw.source,
                "required column 'track_id' missing",
                field="track_id",
                expected="a column naming each fix's track (track_id, track, callsign or uid)",
                got=f"columns {shown}",
                fix="Add a track_id column: one id per drone or patrol",
            )
        )
    ids = _text_col(ctx, "track_id")
    missing = ids.isna().to_numpy()
    if missing.any() and ctx.raw.kind == "gpx" and "track_fid" in attrs:
        fid = pd.to_numeric(attrs["track_fid"], errors="coerce").to_numpy(dtype=float)
        label = pd.Series([f"track {int(f) + 1}" if np.isfinite(f) else None for f in fid])
        if "track_name" in attrs:
            named = attrs["track_name"].notna()
            label = label.where(~named.to_numpy(), attrs["track_name"].astype(object))
        ids = ids.astype(object).where(~missing, label).astype("str")
        ctx.notes.append(
            "track_id taken from the GPX track's <name>, else its number (track 1, track 2, ...)"
        )
    elif missing.any() and ctx.raw.kind in ("kml", "kmz"):
        ids = ids.fillna(ctx.raw.source).astype("str")
        ctx.notes.append(f"unnamed gx:Track(s) given the file's name {ctx.raw.source!r}")
    ctx.rej.reject(
        ids.isna().to_numpy(),
        ctx.cols["track_id"] or "track_id",
        reason("the value is missing", expected="a track id", got=None, fix="Fill in track_id"),
    )
    return ids


def _track_kind(ctx: FieldContext, track_id: pd.Series) -> pd.Series:
    kind_raw = _text_col(ctx, "kind")
    kind = _per_track(kind_raw.str.lower().str.replace(r"[\s\-]+", "_", regex=True), track_id)
    allowed = ", ".join(settings.TRACK_KINDS)
    ctx.rej.reject(
        (kind.notna() & ~kind.isin(settings.TRACK_KINDS)).to_numpy(),
        ctx.cols["kind"] or "kind",
        lambda i: reason("unknown track kind", expected=f"one of {allowed}", got=kind.iloc[i]),
    )
    return kind


def _positive(ctx: FieldContext, fld: str, what: str, *, strict: bool) -> np.ndarray:
    values = _number_col(ctx, fld, what)
    bad = ~np.isnan(values) & ~((values > 0) if strict else (values >= 0))
    ctx.rej.reject(
        bad | np.isinf(values),
        ctx.cols[fld] or fld,
        lambda i: reason("out of range", expected=what, got=fmt_value(values[i])),
    )
    return values


def _per_track(values: pd.Series, track_id: pd.Series) -> pd.Series:
    """Missing values filled with the first value given in the same track."""
    if values.notna().all() or values.isna().all():
        return values
    first = values.groupby(track_id, dropna=True).transform("first")
    return values.fillna(first).astype("str")


def _fill_by_track(values: np.ndarray, track_id: pd.Series) -> np.ndarray:
    s = pd.Series(values)
    if s.notna().all() or s.isna().all():
        return values
    first = s.groupby(track_id, dropna=True).transform("first")
    return s.fillna(first).to_numpy(dtype=float)
