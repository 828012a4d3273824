"""An operation: its name, partners, analysis defaults, period and time zone.

The layers (border, sectors, sensor versions, DEM) are kept in the store beside it; this
module holds what describes an operation and checks what users type or upload for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from geo.access.releasability import is_partner
from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.core.times import check_timezone, parse_utc

__all__ = [
    "OPERATION_NAME",
    "SAMPLE",
    "Operation",
    "Partner",
    "check_name",
    "check_timezone",
    "parse_colour",
    "read_partners",
]

#: An operation's name: what ``--operation`` and ``?op=`` take. A letter or digit, then letters,
#: digits, ``_``, ``.`` or ``-``; at most 64 characters.
OPERATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")

#: The operation the bundled sample becomes, and that rows stored before operations belong to.
SAMPLE = "sample"

_HEX = re.compile(r"#?([0-9A-Fa-f]{6})")


def check_name(name: object, where: str = "operation") -> str:
    """``name`` if it is a valid operation name, else a ValidationError saying how to fix it.

    Examples
    --------
    >>> check_name("baltic-2026")
    'baltic-2026'
    >>> check_name("my op")
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: operation: not an operation name: expected letters, \
digits, '_', '.' or '-' (at most 64, starting with a letter or digit), got 'my op'. \
Use e.g. baltic-2026
    """
    if not isinstance(name, str) or not OPERATION_NAME.fullmatch(name):
        raise ValidationError(
            describe(
                where,
                "not an operation name",
                expected="letters, digits, '_', '.' or '-' (at most "
                "64, starting with a letter or digit)",
                got=name,
                fix="Use e.g. baltic-2026",
            )
        )
    return name


def parse_colour(text: object, where: str) -> tuple[int, int, int] | None:
    """``#RRGGBB`` (the ``#`` optional) as RGB; empty means none (the app assigns one).

    Examples
    --------
    >>> parse_colour("#5587ff", "colour"), parse_colour("", "colour")
    ((85, 135, 255), None)
    """
    if text is None or (isinstance(text, float) and pd.isna(text)) or str(text).strip() == "":
        return None
    m = _HEX.fullmatch(str(text).strip())
    if m is None:
        raise ValidationError(
            describe(where, "not a colour", expected="#RRGGBB, e.g. #5587ff", got=text)
        )
    h = m.group(1)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


@dataclass(frozen=True)
class Partner:
    """A partner taking part in an operation: its id, display name and map colour."""

    id: str
    name: str
    colour: tuple[int, int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``{"id", "name", "colour"}`` (colour ``#rrggbb`` or None)."""
        colour = None if self.colour is None else "#{:02x}{:02x}{:02x}".format(*self.colour)
        return {"id": self.id, "name": self.name, "colour": colour}


def read_partners(path: str | Path) -> list[Partner]:
    """Read a partners file: a CSV with ``id``, ``name`` and optionally ``colour`` (#RRGGBB).

    Raises
    ------
    ValidationError
        Naming the file, row and field of the first problem: a missing column, an id that is
        not a partner id, a repeated id, a bad colour.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValidationError(
            describe(
                str(path), "no such file", expected="a partners CSV", got="nothing at that path"
            )
        ) from None
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValidationError(
            describe(
                path.name,
                "not a readable CSV",
                expected="UTF-8 CSV with columns id,name[,colour]",
                got=str(exc)[:120],
            )
        ) from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    for col in ("id", "name"):
        if col not in df.columns:
            raise ValidationError(
                describe(
                    path.name,
                    f"no '{col}' column",
                    expected="columns id,name[,colour]",
                    got=list(df.columns),
                )
            )
    partners: list[Partner] = []
    seen: set[str] = set()
    for i, row in enumerate(df.to_dict("records"), start=1):
        pid = str(row["id"]).strip()
        if not is_partner(pid):
            raise ValidationError(
                describe(
                    path.name,
                    "not a partner id",
                    row=i,
                    field="id",
                    expected="letters, digits, '_', '.' or '-' (not ALL)",
                    got=row["id"],
                )
            )
        if pid in seen:
            raise ValidationError(
                describe(
                    path.name,
                    "partner listed twice",
                    row=i,
                    field="id",
                    expected="each id once",
                    got=pid,
                )
            )
        seen.add(pid)
        colour = parse_colour(row.get("colour"), f"{path.name} row {i}, field 'colour'")
        partners.append(Partner(pid, str(row["name"]).strip() or pid, colour))
    if not partners:
        raise ValidationError(
            describe(path.name, "no partners", expected="one row per partner", got="an empty table")
        )
    return partners


@dataclass(frozen=True)
class Operation:
    """What describes an operation (its layers are kept in the store beside it).

    ``period`` is the operation's start and end (UTC), either may be None; ``timezone`` the
    IANA zone its times are shown in (stored in UTC).
    """

    name: str
    title: str = ""
    description: str = ""
    partners: tuple[Partner, ...] = ()
    corridor_km: float = settings.CORRIDOR_KM
    min_gap_m: float = settings.MIN_GAP_M
    period: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None)
    timezone: str = "UTC"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        check_timezone(self.timezone)
        start, end = (
            parse_utc(t, k)
            for t, k in zip(self.period, ("period_start", "period_end"), strict=True)
        )
        if start is not None and end is not None and end < start:
            raise ValidationError(
                describe(
                    "period",
                    "ends before it starts",
                    expected="start <= end",
                    got=f"{start.isoformat()} .. {end.isoformat()}",
                )
            )
        object.__setattr__(self, "period", (start, end))
        for what, value in (("corridor_km", self.corridor_km), ("min_gap_m", self.min_gap_m)):
            if not (isinstance(value, (int, float)) and value >= 0 and value == value):
                raise ValidationError(
                    describe(what, "not a distance", expected="a number >= 0", got=value)
                )

    @property
    def partner_ids(self) -> list[str]:
        """The ids of the partners taking part."""
        return [p.id for p in self.partners]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description of the operation."""
        start, end = self.period
        return {
            "operation": self.name,
            "title": self.title,
            "description": self.description,
            "partners": [p.to_dict() for p in self.partners],
            "corridor_km": self.corridor_km,
            "min_gap_m": self.min_gap_m,
            "period": [None if t is None else t.isoformat() for t in (start, end)],
            "timezone": self.timezone,
        }
