"""Each layer's fields checked value by value, and defaults filled in.

The checks of one layer run in a fixed order and a rejected row is reported with the first
problem found: sector and sensor ids are required and unique; a sensor's kind and status
come from :data:`geo.core.settings.SENSOR_KINDS` and :data:`~geo.core.settings.SENSOR_STATUSES`,
its ranges, field of view, azimuth and height are checked in metres and degrees (defaults
where optional and absent, counted in the notes); a detection's time is parsed to UTC and
must not be before :data:`EARLIEST_TIME`, its confidence is within [0, 1], its markings are
normalised and CoT's "unknown" errors (:data:`UNKNOWN_METRES`) become NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from geo.access.releasability import SEPARATORS
from geo.core import settings
from geo.inputs.checks.rejects import Rejects, fmt_value, reason
from geo.inputs.checks.schedule import schedule_columns
from geo.inputs.checks.times import Times, to_time
from geo.inputs.checks.values import to_float, to_text
from geo.inputs.readers.raw import RawLayer

__all__ = [
    "EARLIEST_TIME",
    "UNKNOWN_METRES",
    "FieldCheck",
    "FieldContext",
    "border_fields",
    "detection_fields",
    "sector_fields",
    "sensor_fields",
]

#: Detection times before this instant are rejected as clock errors: GPS receivers and
#: loggers with an unset clock write the 32-bit Unix time limit (1901-12-13T20:45:52Z), the
#: Unix epoch (1970-01-01) or the GPS epoch (1980-01-06).
EARLIEST_TIME = pd.Timestamp("1980-01-07T00:00:00Z")

#: CoT writes this (or more) in hae/ce/le for "unknown" (m).
UNKNOWN_METRES = 999_999.0


@dataclass
class FieldContext:
    """What the checks of a layer's fields need, and the notes and counts they add.

    Attributes
    ----------
    raw
        The layer as read.
    rej
        The rows rejected so far (by the reader and the geometry checks).
    cols
        The column of each field (:func:`geo.inputs.checks.columns.resolve_columns`).
    notes
        The report's notes so far; the checks add theirs.
    naive_times
        Detection times without a zone among the rows kept (set by :func:`detection_fields`).
    """

    raw: RawLayer
    rej: Rejects
    cols: dict[str, str | None]
    notes: list[str]
    naive_times: int = 0


#: A layer's field checks: its checked columns by name.
FieldCheck = Callable[[FieldContext], dict[str, Any]]


def _text_col(ctx: FieldContext, fld: str) -> pd.Series:
    col = ctx.cols.get(fld)
    if col is None:  # all missing (built from Arrow nulls: 200x faster than from NaNs)
        return pd.Series(pd.array(pa.nulls(len(ctx.raw.attrs), pa.large_string()), dtype="str"))
    return to_text(ctx.raw.attrs[col])


def _required_text(ctx: FieldContext, fld: str, what: str) -> pd.Series:
    values = _text_col(ctx, fld)
    ctx.rej.reject(
        values.isna().to_numpy(),
        ctx.cols[fld] or fld,
        reason("the value is missing", expected=what, got=None, fix=f"Fill in {fld} for every row"),
    )
    return values


def _number_col(ctx: FieldContext, fld: str, what: str) -> np.ndarray:
    """Float column (NaN if absent); values that are not numbers reject the row."""
    col = ctx.cols.get(fld)
    n = len(ctx.raw.attrs)
    if col is None:
        return np.full(n, np.nan)
    values, bad = to_float(ctx.raw.attrs[col])
    series = ctx.raw.attrs[col]
    ctx.rej.reject(
        bad, col, lambda i: reason("not a number", expected=what, got=fmt_value(series.iloc[i]))
    )
    return values


def _reject_duplicates(ctx: FieldContext, ids: pd.Series, fld: str) -> None:
    alive = ctx.rej.alive
    live = ids[alive]
    dup = live.duplicated(keep="first")
    if not dup.any():
        return
    kept = live[~dup]
    first_row = dict(zip(kept, ctx.raw.src_row[kept.index.to_numpy()].tolist(), strict=True))
    mask = np.zeros(len(ids), dtype=bool)
    mask[dup[dup].index.to_numpy()] = True
    label = ctx.raw.row_label
    ctx.rej.reject(
        mask,
        ctx.cols[fld] or fld,
        lambda i: reason(
            f"duplicate {fld}",
            expected=f"each {fld} once",
            got=ids.iloc[i],
            fix=f"It is already used in {label} {first_row.get(ids.iloc[i], '?')}; give this "
            f"{label} its own {fld} or remove it",
        ),
    )


def border_fields(ctx: FieldContext) -> dict[str, Any]:
    """The border's ``name`` (optional)."""
    return {"name": _text_col(ctx, "name")}


def sector_fields(ctx: FieldContext) -> dict[str, Any]:
    """A sector's ``sector_id`` (required, unique), ``partner`` (required) and ``name``."""
    sector_id = _required_text(ctx, "sector_id", "a sector id")
    partner = _required_text(ctx, "partner", "the partner responsible for the sector")
    _reject_duplicates(ctx, sector_id, "sector_id")
    return {"sector_id": sector_id, "partner": partner, "name": _text_col(ctx, "name")}


def sensor_fields(ctx: FieldContext) -> dict[str, Any]:
    """A sensor's id, partner, kind, ranges, field of view, azimuth, status and height.

    The checks run in this order: a row is reported with the first problem found.
    """
    sensor_id = _required_text(ctx, "sensor_id", "a sensor id")
    partner = _required_text(ctx, "partner", "the partner operating the sensor")
    kind = _sensor_kind(ctx)
    range_m = _sensor_range(ctx)
    min_range, no_min = _sensor_min_range(ctx, range_m)
    fov, no_fov = _sensor_fov(ctx)
    azimuth = _sensor_azimuth(ctx, fov)
    status, no_status = _sensor_status(ctx)
    height, no_height = _sensor_height(ctx, kind)
    # active_from, active_to, schedule, outages: only when the file has them (timeline).
    when = schedule_columns(ctx.raw.attrs, ctx.cols, ctx.rej)
    _reject_duplicates(ctx, sensor_id, "sensor_id")
    _note_sensor_defaults(
        ctx, kind, no_height=no_height, no_min=no_min, no_fov=no_fov, no_status=no_status
    )
    return {
        "sensor_id": sensor_id,
        "partner": partner,
        "kind": kind.astype("str"),
        "range_m": range_m,
        "min_range_m": min_range,
        "azimuth_deg": azimuth,
        "fov_deg": fov,
        "height_m": height,
        "status": status.astype("str"),
        **when,
    }


def _sensor_kind(ctx: FieldContext) -> pd.Series:
    """``kind`` in lower case with underscores; missing or unknown kinds reject the row."""
    kcol = ctx.cols["kind"] or "kind"
    kind_raw = _text_col(ctx, "kind")
    kind = kind_raw.str.lower().str.replace(r"[\s\-]+", "_", regex=True)
    allowed = ", ".join(settings.SENSOR_KINDS)
    ctx.rej.reject(
        kind.isna().to_numpy(),
        kcol,
        reason("the value is missing", expected=f"one of {allowed}", got=None),
    )
    ctx.rej.reject(
        (~kind.isin(settings.SENSOR_KINDS)).to_numpy(),
        kcol,
        lambda i: reason(
            "unknown sensor kind",
            expected=f"one of {allowed}",
            got=kind_raw.iloc[i],
            fix="Use one of the listed kinds (upper/lower case does not matter)",
        ),
    )
    return kind


def _sensor_range(ctx: FieldContext) -> np.ndarray:
    """``range_m``: required, a positive number of metres."""
    rcol = ctx.cols["range_m"] or "range_m"
    range_m = _number_col(ctx, "range_m", "a range in metres > 0")
    ctx.rej.reject(
        np.isnan(range_m),
        rcol,
        reason("the value is missing", expected="a range in metres > 0", got=None),
    )
    ctx.rej.reject(
        ~(range_m > 0) | ~np.isfinite(range_m),
        rcol,
        lambda i: reason(
            "the range must be positive",
            expected="a number of metres > 0",
            got=fmt_value(range_m[i]),
        ),
    )
    return range_m


def _sensor_min_range(ctx: FieldContext, range_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``min_range_m`` (0 where not given) and where it was not given."""
    min_range = _number_col(ctx, "min_range_m", "a minimum range in metres >= 0")
    no_min = np.isnan(min_range)
    min_range = np.where(np.isnan(min_range), 0.0, min_range)
    mcol = ctx.cols["min_range_m"] or "min_range_m"
    ctx.rej.reject(
        ~(min_range >= 0) | ~np.isfinite(min_range),
        mcol,
        lambda i: reason(
            "the minimum range must be >= 0",
            expected="a number of metres >= 0",
            got=fmt_value(min_range[i]),
        ),
    )
    ctx.rej.reject(
        min_range >= range_m,
        mcol,
        lambda i: reason(
            "the minimum range must be smaller than range_m",
            expected=f"less than range_m {fmt_value(range_m[i])}",
            got=fmt_value(min_range[i]),
        ),
    )
    return min_range, no_min


def _sensor_fov(ctx: FieldContext) -> tuple[np.ndarray, np.ndarray]:
    """``fov_deg`` in (0, 360] (360 where not given) and where it was not given."""
    fov = _number_col(ctx, "fov_deg", "a field of view in degrees")
    no_fov = np.isnan(fov)
    fov = np.where(np.isnan(fov), 360.0, fov)
    fcol = ctx.cols["fov_deg"] or "fov_deg"
    ctx.rej.reject(
        ~((fov > 0) & (fov <= 360)),
        fcol,
        lambda i: reason(
            "field of view out of range",
            expected="degrees in (0, 360]",
            got=fmt_value(fov[i]),
            fix="Use 360 for an all-round sensor",
        ),
    )
    return fov, no_fov


def _sensor_azimuth(ctx: FieldContext, fov: np.ndarray) -> np.ndarray:
    """``azimuth_deg`` in [0, 360); required unless the sensor looks all round."""
    azimuth = _number_col(ctx, "azimuth_deg", "an azimuth in degrees")
    acol = ctx.cols["azimuth_deg"] or "azimuth_deg"
    ctx.rej.reject(
        np.isinf(azimuth),
        acol,
        reason("not a finite number", expected="degrees clockwise from north", got="infinity"),
    )
    ctx.rej.reject(
        np.isnan(azimuth) & (fov < 360),
        acol,
        lambda i: reason(
            "an azimuth is required when fov_deg < 360",
            expected="degrees clockwise from north",
            got=None,
            fix=f"Give the direction the sensor looks at (its fov_deg is {fmt_value(fov[i])})",
        ),
    )
    with np.errstate(invalid="ignore"):
        return np.mod(azimuth, 360.0)


def _sensor_status(ctx: FieldContext) -> tuple[pd.Series, np.ndarray]:
    """``status`` in lower case ("active" where not given) and where it was not given."""
    status_raw = _text_col(ctx, "status")
    no_status = status_raw.isna().to_numpy()
    status = status_raw.str.lower().fillna("active")
    statuses = ", ".join(settings.SENSOR_STATUSES)
    ctx.rej.reject(
        (~status.isin(settings.SENSOR_STATUSES)).to_numpy(),
        ctx.cols["status"] or "status",
        lambda i: reason("unknown status", expected=f"one of {statuses}", got=status_raw.iloc[i]),
    )
    return status, no_status


def _sensor_height(ctx: FieldContext, kind: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``height_m`` >= 0 (the default of the sensor's kind where not given), and where not."""
    height = _number_col(ctx, "height_m", "a height in metres >= 0")
    defaults = kind.map(settings.DEFAULT_HEIGHT_M).to_numpy(dtype=float, na_value=np.nan)
    no_height = np.isnan(height)
    height = np.where(no_height, defaults, height)
    ctx.rej.reject(
        ~(height >= 0) | ~np.isfinite(height),
        ctx.cols["height_m"] or "height_m",
        lambda i: reason(
            "the height must be >= 0", expected="metres above ground", got=fmt_value(height[i])
        ),
    )
    return height, no_height


def _note_sensor_defaults(
    ctx: FieldContext,
    kind: pd.Series,
    *,
    no_height: np.ndarray,
    no_min: np.ndarray,
    no_fov: np.ndarray,
    no_status: np.ndarray,
) -> None:
    """Say in the report how many accepted sensors got a default value, field by field."""
    alive = ctx.rej.alive
    n_height_default = int((no_height & alive).sum())
    if n_height_default:
        used = kind[alive & no_height].value_counts()
        parts = ", ".join(f"{k} {settings.DEFAULT_HEIGHT_M[k]:g} m" for k in used.index)
        ctx.notes.append(
            f"height_m not given for {n_height_default} sensor(s): used the "
            f"default height by kind ({parts})"
        )
    for count, what in (
        (int((no_min & alive).sum()), "min_range_m not given for {} sensor(s): 0 m used"),
        (int((no_fov & alive).sum()), "fov_deg not given for {} sensor(s): 360° (all-round) used"),
        (int((no_status & alive).sum()), "status not given for {} sensor(s): 'active' used"),
    ):
        if count:
            ctx.notes.append(what.format(count))


def detection_fields(ctx: FieldContext) -> dict[str, Any]:
    """A detection's time, ids, class, confidence, markings and position errors."""
    rej = ctx.rej
    tcol = ctx.cols["time"]
    assert tcol is not None
    raw_times = ctx.raw.attrs[tcol]
    times: Times = to_time(raw_times)
    if times.how:
        ctx.notes.append(times.how)
    values = times.values
    rej.reject(
        times.bad,
        tcol,
        lambda i: reason(
            "not a time",
            expected="ISO 8601 such as 2024-05-01T12:00:00Z",
            got=fmt_value(raw_times.iloc[i]),
            fix="Write times as YYYY-MM-DDTHH:MM:SSZ",
        ),
    )
    missing = values.isna().to_numpy()
    rej.reject(
        missing,
        tcol,
        reason("the time is missing", expected="a time such as 2024-05-01T12:00:00Z", got=None),
    )
    early = (values < EARLIEST_TIME).fillna(False).to_numpy(dtype=bool)
    rej.reject(
        early,
        tcol,
        lambda i: reason(
            "implausible time: before 1980-01-07, most likely an unset device clock (1901-12-13, "
            "1970-01-01 and 1980-01-06 are typical reset values)",
            expected="a time from 1980-01-07 on",
            got=values.iloc[i].isoformat(),
            fix="Correct the device's clock or the times in the file",
        ),
    )
    future = rej.alive & (values > pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).fillna(
        False
    ).to_numpy(dtype=bool)
    if future.any():
        ctx.notes.append(f"{int(future.sum())} time(s) are in the future (kept)")
    ctx.naive_times = int((times.naive & rej.alive).sum())

    ccol = ctx.cols["confidence"] or "confidence"
    conf = _number_col(ctx, "confidence", "a confidence between 0 and 1")

    def why_conf(i: int) -> str:
        v = fmt_value(conf[i])
        fix = (
            "It looks like a percentage: divide by 100"
            if 1 < conf[i] <= 100
            else "Use a value from 0 (unsure) to 1 (certain)"
        )
        return reason("confidence out of range", expected="a number from 0 to 1", got=v, fix=fix)

    rej.reject(~np.isnan(conf) & ~((conf >= 0) & (conf <= 1)), ccol, why_conf)
    return {
        "time": values,
        "detection_id": _text_col(ctx, "detection_id"),
        "source": _text_col(ctx, "source"),
        "partner": _text_col(ctx, "partner"),
        "class": _text_col(ctx, "class"),
        "confidence": conf,
        "access": _text_col(ctx, "access"),
        "caveat": _text_col(ctx, "caveat"),
        "releasable_to": _releasable_to(_text_col(ctx, "releasable_to")),
        **_position_errors(ctx),
    }


def _releasable_to(values: pd.Series) -> pd.Series:
    """``"ALL"``, or the partner ids as in the file joined by commas ("SI HR" -> "SI,HR")."""
    if not values.notna().any():
        return values
    ids = values.str.replace(SEPARATORS, ",", regex=True).str.strip(",")
    ids = ids.mask(ids.str.upper() == "ALL", "ALL")
    return ids.mask(ids == "").astype("str")


def _position_errors(ctx: FieldContext) -> dict[str, np.ndarray]:
    """``hae_m``, ``ce_m`` and ``le_m``: metres, NaN where absent or unknown (CoT 9999999)."""
    out: dict[str, np.ndarray] = {}
    unknown = 0
    for fld, what in (
        ("hae_m", "a height above the ellipsoid in metres"),
        ("ce_m", "a circular error in metres >= 0"),
        ("le_m", "a linear error in metres >= 0"),
    ):
        if ctx.cols.get(fld) is None:
            out[fld] = np.full(len(ctx.raw.attrs), np.nan)
            continue
        metres = _number_col(ctx, fld, what)
        big = np.abs(metres) >= UNKNOWN_METRES
        unknown += int((big & ctx.rej.alive).sum())
        metres = np.where(big | ~np.isfinite(metres), np.nan, metres)
        if fld != "hae_m":
            col = ctx.cols[fld] or fld
            ctx.rej.reject(metres < 0, col, _negative(metres, what))
        out[fld] = metres
    if unknown:
        ctx.notes.append(
            f"{unknown} hae/ce/le value(s) of 9999999 or more mean 'unknown' (CoT): left empty"
        )
    return out


def _negative(metres: np.ndarray, what: str) -> Callable[[int], str]:
    """The reason for the row at a position whose error in ``metres`` is negative."""
    return lambda i: reason("an error cannot be negative", expected=what, got=fmt_value(metres[i]))
