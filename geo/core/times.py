"""Times given by users (command line, app, API): ISO 8601, always compared in UTC."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from geo.core.errors import ValidationError, describe

__all__ = ["parse_utc"]


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
