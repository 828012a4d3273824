"""Exceptions raised by :mod:`geo`.

A small hierarchy on builtins (as osmnx ``_errors.py`` does) so callers can still catch
``ValueError``. Messages are written for the user: they name the input, what was expected,
what arrived, and how to fix it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class ValidationError(ValueError):
    """Input data that cannot be used as given.

    Parameters
    ----------
    message
        Full, user-facing message. Build it with :func:`describe` so every message names the
        file, the row (or feature), the field, what was expected and what arrived.
    """


def describe(
    source: str,
    problem: str,
    *,
    row: int | str | None = None,
    field: str | None = None,
    expected: str | None = None,
    got: object = None,
    fix: str | None = None,
) -> str:
    """Format a validation message.

    Examples
    --------
    >>> describe("sensors.csv", "bad range", row=17, field="range_m", expected="a number > 0",
    ...          got=-5)
    "sensors.csv row 17, field 'range_m': bad range: expected a number > 0, got -5"

    A store URL's password is never in a message:

    >>> describe("postgresql://limes:secret@db/limes", "no such operation")
    'postgresql://limes:***@db/limes: no such operation'
    """
    where = shown_url(source)
    if row is not None:
        where += f" row {row}"
    if field is not None:
        where += f", field '{field}'"
    msg = f"{where}: {problem}"
    if expected is not None:
        msg += f": expected {expected}, got {got!r}"
    if fix:
        msg += f". {fix}"
    return msg


def shown_url(url: str) -> str:
    """``url`` without its password (``***`` in its place), for messages; other text as is.

    Examples
    --------
    >>> shown_url("postgresql://limes:secret@db:5432/limes"), shown_url("data/limes.gpkg")
    ('postgresql://limes:***@db:5432/limes', 'data/limes.gpkg')
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL after all (a bad port, brackets): shown as it is
        return url
    if password is None:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
