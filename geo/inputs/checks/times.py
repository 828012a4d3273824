"""Time columns to UTC: ISO 8601, native date-times, Unix epochs, military date-time groups.

Vectorised with Arrow for the common case; only values Arrow cannot take go through pandas'
parser and then the military date-time group (``091630ZJUL24``) reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.inputs.checks.values import to_float, to_text

__all__ = ["Times", "to_time"]


@dataclass
class Times:
    """Parsed times: values (datetime64[us, UTC]), unparseable and zone-less masks, a note."""

    values: pd.Series
    bad: np.ndarray
    naive: np.ndarray
    how: str | None = None


#: Unit of the times returned (microseconds).
_UNIT: Final = "us"
#: Strict ISO 8601 date or date-time, with or without a zone (what Arrow parses).
_ISO = (
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_ZONE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|(?:UTC|GMT)|[+-]\d{2}(?::?\d{2})?)$"
_DTG = (
    r"^(?P<d>\d{2})(?P<h>\d{2})(?P<m>\d{2})(?P<s>\d{2})?\s*(?P<z>[A-IK-Za-ik-z])\s*"
    r"(?P<mon>[A-Za-z]{3})\s*(?P<y>\d{4}|\d{2})$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}


def _zone_hours(letter: str) -> float:
    """Military time-zone letter -> UTC offset in hours (Z = 0, A-M east, N-Y west)."""
    letter = letter.upper()
    if letter == "Z":
        return 0.0
    if "A" <= letter <= "I":
        return float(ord(letter) - ord("A") + 1)
    if "K" <= letter <= "M":
        return float(ord(letter) - ord("K") + 10)
    return -float(ord(letter) - ord("N") + 1)


def to_time(values: pd.Series) -> Times:
    """Parse a time column to UTC; times without a zone are taken as UTC and flagged naive.

    Strict ISO 8601 text is parsed by Arrow, vectorised (values with ``Z``/offsets and
    values without a zone in two groups). Only the values Arrow cannot take go through
    pandas' ISO 8601 parser (GDAL's ``2024/05/01 12:00:00+00`` form, ``UTC`` suffixes, ...)
    and then military date-time groups (``091630ZJUL24``). A column of plain numbers is
    Unix epoch seconds (milliseconds if the values are large).
    """
    n = len(values)
    none = np.zeros(n, dtype=bool)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return Times(
            values.dt.tz_convert("UTC").dt.as_unit(_UNIT).reset_index(drop=True), none, none
        )
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return Times(
            values.dt.tz_localize("UTC").dt.as_unit(_UNIT).reset_index(drop=True),
            none,
            values.notna().to_numpy(),
        )
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return _epoch(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    text = to_text(values)
    arr = pa.array(text, type=pa.string())
    try:  # the common case: every value ISO 8601 with a zone
        return Times(pc.cast(arr, pa.timestamp(_UNIT, tz="UTC")).to_pandas(), none, none)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    present = text.notna().to_numpy()
    if present.any() and text[present].str.fullmatch(r"[+-]?\d+(?:\.\d+)?").all():
        num, _ = to_float(text)
        return _epoch(num)
    out = np.full(n, np.datetime64("NaT"), dtype=f"datetime64[{_UNIT}]")
    naive = np.zeros(n, dtype=bool)
    has_zone = pc.fill_null(pc.match_substring_regex(arr, _ZONE), False)
    iso = pc.fill_null(pc.match_substring_regex(arr, _ISO), False)
    done = np.zeros(n, dtype=bool)
    for group, target in (
        (pc.and_(iso, has_zone), pa.timestamp(_UNIT, tz="UTC")),
        (pc.and_(iso, pc.invert(has_zone)), pa.timestamp(_UNIT)),
    ):
        try:
            parsed = pc.cast(pc.filter(arr, group), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue  # e.g. a month 13 somewhere: leave the group to pandas
        mask = group.to_numpy(zero_copy_only=False)
        out[mask] = pc.cast(parsed, pa.timestamp(_UNIT)).to_numpy(zero_copy_only=False)
        done |= mask
        naive |= mask & (target.tz is None)
    how = None
    rest = present & ~done
    if rest.any():
        sub = text[rest]
        norm = sub.str.replace(r"^(\d{4})/(\d{2})/(\d{2})", r"\1-\2-\3", regex=True)
        norm = norm.str.replace(r"\s*(?:UTC|GMT)$", "Z", regex=True)
        parsed_rest = pd.to_datetime(norm, format="ISO8601", utc=True, errors="coerce")
        zone_rest = norm.str.contains(_ZONE, regex=True).fillna(False).astype(bool)
        naive[rest] = (parsed_rest.notna() & ~zone_rest).to_numpy(dtype=bool)
        todo = parsed_rest.isna().to_numpy()
        if todo.any():
            dtg = _parse_dtg(sub[todo])
            if dtg.notna().any():
                parsed_rest = parsed_rest.copy()
                parsed_rest[todo] = dtg.to_numpy()
                how = "military date-time groups (DDHHMMZ MON YY) were read"
        out[rest] = parsed_rest.dt.tz_convert(None).dt.as_unit(_UNIT).to_numpy()
    bad = present & np.isnat(out)
    series = pd.Series(out).dt.tz_localize("UTC")
    return Times(series, bad, naive & ~bad, how)


def _parse_dtg(text: pd.Series) -> pd.Series:
    parts = text.str.extract(_DTG)
    ok = parts["d"].notna()
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if not ok.any():
        return out
    p = parts[ok]
    year = p["y"].astype(int)
    year = year.where(year >= 100, year + 2000)
    month = p["mon"].str.upper().map(_MONTHS)
    frame = pd.DataFrame(
        {
            "year": year,
            "month": month,
            "day": p["d"].astype(int),
            "hour": p["h"].astype(int),
            "minute": p["m"].astype(int),
            "second": p["s"].fillna("0").astype(int),
        }
    )
    local = pd.to_datetime(frame, errors="coerce", utc=True)
    offset = pd.to_timedelta(p["z"].map(_zone_hours), unit="h")
    out[ok] = (local - offset).dt.as_unit("us")
    return out


def _epoch(num: np.ndarray) -> Times:
    finite = num[np.isfinite(num)]
    unit: Literal["ms", "s"] = "ms" if finite.size and np.median(np.abs(finite)) > 1e11 else "s"
    with np.errstate(all="ignore"):
        parsed = pd.to_datetime(pd.Series(num), unit=unit, utc=True, errors="coerce")
    bad = (pd.isna(parsed) & ~np.isnan(num)).to_numpy(dtype=bool)
    what = "milliseconds" if unit == "ms" else "seconds"
    return Times(
        parsed.dt.as_unit("us"),
        bad,
        np.zeros(len(num), dtype=bool),
        f"times are numbers: read as Unix epoch {what} (UTC)",
    )
