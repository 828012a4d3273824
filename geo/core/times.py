"""Times given by users (command line, app, API): ISO 8601, always compared in UTC."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import pandas as pd

from geo.core.errors import ValidationError, describe

__all__ = ["check_timezone", "in_zone", "parse_utc", "zone_text"]


def parse_utc(value: str | datetime | pd.Timestamp | None, name: str) -> pd.Timestamp | None:
    """The time ``value`` in UTC; a time without a zone is taken as UTC.

    ``None`` or blank text is no time (``None``). ``name`` is the field or flag the value came
    from, for the message.

    Raises
    ------
    ValidationError
        When ``value`` is not a time.

    Examples
    --------
    >>> parse_utc("2026-11-01T08:00:00+02:00", "time_from")
    Timestamp('2026-11-01 06:00:00+0000', tz='UTC')
    >>> parse_utc("  ", "time_to") is None
    True
    >>> parse_utc("yesterday", "time_from")
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: time_from: not a time: expected an ISO 8601 time such as \
2026-11-01T06:00:00Z, got 'yesterday'
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    ts: pd.Timestamp | None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT:
        raise ValidationError(
            describe(
                name,
                "not a time",
                expected="an ISO 8601 time such as 2026-11-01T06:00:00Z",
                got=value,
            )
        )
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def in_zone(value: pd.Timestamp | datetime, tz: str) -> pd.Timestamp:
    """An instant as the clock in ``tz`` (an IANA zone) shows it; a naive value is UTC.

    Examples
    --------
    >>> in_zone(pd.Timestamp("2026-07-01 10:00", tz="UTC"), "Europe/Ljubljana")
    Timestamp('2026-07-01 12:00:00+0200', tz='Europe/Ljubljana')
    >>> in_zone(datetime(2026, 12, 1, 10, 0), "Europe/Vilnius").strftime("%H:%M %Z")
    '12:00 EET'
    """
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).tz_convert(tz)


def zone_text(value: pd.Timestamp | datetime, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``value`` in ``tz`` as text, without the zone (name the zone once beside it).

    Examples
    --------
    >>> zone_text(pd.Timestamp("2026-11-01 23:30", tz="UTC"), "Europe/Vilnius")
    '2026-11-02 01:30'
    """
    return in_zone(value, tz).strftime(fmt)


def check_timezone(name: object, where: str = "timezone") -> str:
    """An IANA time zone name (``Europe/Vilnius``, ``UTC``), else a ValidationError.

    Examples
    --------
    >>> check_timezone("Europe/Vilnius")
    'Europe/Vilnius'
    """
    try:
        if isinstance(name, str) and name and name in available_timezones() | {"UTC"}:
            ZoneInfo(name)
            return name
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise ValidationError(
        describe(
            where,
            "unknown time zone",
            expected="an IANA time zone name such as Europe/Vilnius or UTC",
            got=name,
        )
    )
