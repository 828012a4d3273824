"""When a sensor watches: its optional ``active_from``, ``active_to``, ``schedule``, ``outages``.

Without these columns a sensor watches all the time. With them (see ``docs/timeline.md``):

- ``active_from``, ``active_to``: ISO 8601 times (UTC when no zone is given); either may be
  empty (open);
- ``schedule``: daily windows in UTC, ``HH:MM-HH:MM`` separated by ``;`` (``22:00-06:00``
  runs past midnight, ``24:00`` ends a day), e.g. ``06:00-18:00;20:00-22:00``;
- ``outages``: ISO intervals ``FROM/TO`` separated by ``;`` when the sensor is down.

Every value is checked row by row (a bad one rejects its row with the usual message); the
columns come out normalised (times as ``datetime64[us, UTC]``, schedules and outages as text
in one canonical form). The coverage analysis (``analyse``) ignores them; the ``timeline``
command reads them with :func:`daily_windows` and :func:`outage_intervals`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from geo.inputs.checks.rejects import Rejects, fmt_value, reason
from geo.inputs.checks.times import to_time
from geo.inputs.checks.values import to_text

__all__ = [
    "SCHEDULE_FIELDS",
    "daily_windows",
    "outage_intervals",
    "schedule_columns",
]

#: The optional time fields of a sensor.
SCHEDULE_FIELDS: tuple[str, ...] = ("active_from", "active_to", "schedule", "outages")

_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_WINDOW = re.compile(rf"^\s*{_CLOCK}\s*-\s*{_CLOCK}\s*$")
_DAY_S = 86_400


def _clock_s(h: str, m: str, s: str | None) -> int:
    hours, minutes, seconds = int(h), int(m), int(s or 0)
    if minutes > 59 or seconds > 59 or hours > 24 or (hours == 24 and (minutes or seconds)):
        raise ValueError(f"{h}:{m} is not a time of day")
    return hours * 3600 + minutes * 60 + seconds


def daily_windows(text: str) -> list[tuple[int, int]]:
    """Daily windows as ``(start_s, end_s)`` seconds after midnight UTC; ``end_s < start_s`` wraps.

    Raises
    ------
    ValueError
        With the reason, when ``text`` is not ``HH:MM-HH:MM[;HH:MM-HH:MM...]``.

    Examples
    --------
    >>> daily_windows("22:00-06:00; 12:00-13:30")
    [(79200, 21600), (43200, 48600)]
    """
    out: list[tuple[int, int]] = []
    for part in str(text).split(";"):
        if not part.strip():
            continue
        m = _WINDOW.match(part)
        if m is None:
            raise ValueError(f"{part.strip()!r} is not a window HH:MM-HH:MM")
        start = _clock_s(*m.group(1, 2, 3))
        end = _clock_s(*m.group(4, 5, 6))
        if start == _DAY_S:
            raise ValueError(f"{part.strip()!r} starts at 24:00; start at 00:00 instead")
        if start == end:
            raise ValueError(f"{part.strip()!r} starts and ends at the same time")
        out.append((start, end % _DAY_S if end != _DAY_S else _DAY_S))
    if not out:
        raise ValueError("no window given")
    return out


def outage_intervals(text: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Outages ``FROM/TO;FROM/TO`` as UTC timestamps (a time without a zone is UTC).

    Raises
    ------
    ValueError
        With the reason, when a part is not two ISO times ``FROM/TO`` with FROM before TO.

    Examples
    --------
    >>> outage_intervals("2026-05-01T06:00Z/2026-05-01T08:00Z")[0][1]
    Timestamp('2026-05-01 08:00:00+0000', tz='UTC')
    """
    out: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for part in str(text).split(";"):
        if not part.strip():
            continue
        ends = part.split("/")
        if len(ends) != 2:
            raise ValueError(f"{part.strip()!r} is not FROM/TO")
        times = []
        for end in ends:
            try:
                ts = pd.Timestamp(end.strip())
            except (ValueError, TypeError):
                ts = None
            if ts is None or ts is pd.NaT or not end.strip():
                raise ValueError(f"{end.strip()!r} is not an ISO 8601 time")
            times.append(ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC"))
        if times[1] <= times[0]:
            raise ValueError(f"{part.strip()!r} ends before it starts")
        out.append((times[0], times[1]))
    if not out:
        raise ValueError("no outage given")
    return out


def _hhmm(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _text_rows(
    values: pd.Series,
    col: str,
    rej: Rejects,
    parse: Any,
    fmt: Any,
    *,
    expected: str,
    fix: str,
) -> pd.Series:
    """Parse each non-empty value; reject rows that fail; return the canonical text (or NaN)."""
    text = to_text(values)
    out = pd.Series(np.full(len(text), np.nan, dtype=object))
    bad = np.zeros(len(text), dtype=bool)
    why: dict[int, str] = {}
    for i in np.flatnonzero(text.notna().to_numpy()):
        try:
            out.iloc[int(i)] = fmt(parse(text.iloc[i]))
        except ValueError as exc:
            bad[i] = True
            why[int(i)] = reason(
                f"not a valid {col} ({exc})",
                expected=expected,
                got=fmt_value(text.iloc[i]),
                fix=fix,
            )
    rej.reject(bad, col, lambda i: why[i])
    return out.astype("str")


def _time_col(values: pd.Series, col: str, rej: Rejects) -> pd.Series:
    times = to_time(values)
    rej.reject(
        times.bad,
        col,
        lambda i: reason(
            "not a time",
            expected="ISO 8601 such as 2026-05-01T06:00:00Z",
            got=fmt_value(values.iloc[i]),
            fix="Write times as YYYY-MM-DDTHH:MM:SSZ, or leave the cell empty",
        ),
    )
    return times.values


def schedule_columns(
    attrs: pd.DataFrame, cols: dict[str, str | None], rej: Rejects
) -> dict[str, Any]:
    """The sensor time fields present in the file, checked row by row.

    Parameters
    ----------
    attrs
        The file's columns.
    cols
        The column of each field (``None``: not in the file).
    rej
        Rejected rows; a bad value rejects its row.

    Returns
    -------
    dict
        Only the fields the file has: ``active_from``, ``active_to`` (datetime64[us, UTC],
        NaT where empty), ``schedule``, ``outages`` (canonical text, NaN where empty).
    """
    out: dict[str, Any] = {}
    for fld in ("active_from", "active_to"):
        col = cols.get(fld)
        if col is not None:
            out[fld] = _time_col(attrs[col], col, rej)
    if "active_from" in out and "active_to" in out:
        a, b = out["active_from"], out["active_to"]
        late = (b <= a).fillna(False).to_numpy(dtype=bool)
        col = cols["active_to"] or "active_to"
        rej.reject(
            late,
            col,
            lambda i: reason(
                "active_to is not after active_from",
                expected=f"a time after {_iso(a.iloc[i])}",
                got=_iso(b.iloc[i]),
            ),
        )
    if cols.get("schedule") is not None:
        out["schedule"] = _text_rows(
            attrs[cols["schedule"]],
            cols["schedule"] or "schedule",
            rej,
            daily_windows,
            lambda ws: ";".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in ws),
            expected="daily UTC windows such as 06:00-18:00 or 22:00-06:00;12:00-13:00",
            fix="Write HH:MM-HH:MM windows separated by ';', or leave the cell empty",
        )
    if cols.get("outages") is not None:
        out["outages"] = _text_rows(
            attrs[cols["outages"]],
            cols["outages"] or "outages",
            rej,
            outage_intervals,
            lambda iv: ";".join(f"{_iso(a)}/{_iso(b)}" for a, b in iv),
            expected="ISO intervals FROM/TO such as 2026-05-01T06:00Z/2026-05-01T09:00Z",
            fix="Write FROM/TO intervals separated by ';', or leave the cell empty",
        )
    return out
