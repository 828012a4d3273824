"""Who may see a stored detection: the releasability rule, written once.

A partner sees a row when it owns the row, when the row's marking is ``ALL`` or when the
marking lists it. A missing or unknown marking releases to nobody but the owner. The same
rule filters rows in Python (:func:`may_see`, :func:`visible_mask`) and in SQL
(:func:`sql_where`), and the tests check the two agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import pandas as pd

from geo.core.errors import ValidationError, describe

__all__ = ["ALL", "PARTNER_ID", "SEPARATORS", "check_partner", "is_partner", "may_see", "parse_marking",
           "parse_releasability", "viewers"]

#: The marking that releases a row to every partner.
ALL = "ALL"

#: A partner id: a letter or digit, then letters, digits, ``_``, ``.`` or ``-`` (at most 64
#: characters in all). Compared exactly: ``LTU`` and ``ltu`` are different partners.
PARTNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")

#: What separates partner ids in a marking (here and where :mod:`geo.inputs.loader` reads a
#: file's markings).
SEPARATORS = re.compile(r"[\s,;/]+")




def parse_marking(text: object) -> tuple[str, str | None]:
    """Normalised marking and, if the text is not a valid marking, what is wrong with it."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
        return "", None
    tokens = [t for t in SEPARATORS.split(str(text).strip()) if t]
    if not tokens:
        return "", None
    if any(t.upper() == ALL for t in tokens):
        if len(tokens) == 1:
            return ALL, None
        return "", "ALL cannot be combined with partner ids"
    bad = [t for t in tokens if not PARTNER_ID.fullmatch(t)]
    if bad:
        return "", f"not partner ids: {', '.join(repr(t) for t in bad[:5])}"
    return ",".join(sorted(set(tokens))), None


def parse_releasability(text: str | None, *, strict: bool = False) -> str:
    """Normalise a releasability marking.

    Parameters
    ----------
    text
        ``"ALL"`` (any case), or partner ids separated by commas, spaces, semicolons or
        slashes; ``None`` or empty for the owner only.
    strict
        Raise on an unknown marking instead of falling back to the owner only (used for
        the marking an analyst types; markings read from files are lenient).

    Returns
    -------
    str
        ``"ALL"``, the partner ids sorted and joined by commas (``"LVA,POL"``), or ``""``
        for the owner only, which is also what an unknown marking means: text that is not a
        partner id (see :data:`PARTNER_ID`), or ``ALL`` together with partner ids.

    Raises
    ------
    ValidationError
        With ``strict=True``, for an unknown marking.

    Examples
    --------
    >>> parse_releasability("POL, LVA"), parse_releasability("all"), parse_releasability(None)
    ('LVA,POL', 'ALL', '')
    >>> parse_releasability("LVA;?!")  # unknown: the owner only
    ''
    >>> parse_releasability("ALL,LVA", strict=True)
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: releasable_to: unknown marking: ALL cannot be combined with \
partner ids: expected ALL or partner ids separated by commas (e.g. LVA,POL), got \
'ALL,LVA'. Leave it empty to release to your own partner only
    """
    marking, problem = parse_marking(text)
    if problem is not None and strict:
        raise ValidationError(_marking_message("releasable_to", text, problem))
    return marking


def _marking_message(where: str, text: object, problem: str) -> str:
    return describe(where, f"unknown marking: {problem}",
                    expected="ALL or partner ids separated by commas (e.g. LVA,POL)", got=text,
                    fix="Leave it empty to release to your own partner only")


def may_see(partner: str, owner: str, marking: str | None) -> bool:
    """Whether ``partner`` may see a row owned by ``owner`` with this marking.

    The rule for every view of stored detections: a partner sees its own rows, rows marked
    ``ALL`` and rows whose marking lists it. A missing or unknown marking releases to
    nobody but the owner (see :func:`parse_releasability`).

    Parameters
    ----------
    partner
        The partner who looks (a partner id; anything else sees nothing).
    owner
        The partner that owns the row.
    marking
        The row's ``releasable_to``.

    Examples
    --------
    >>> may_see("LTU", "LTU", None), may_see("LVA", "LTU", "LVA,POL"), may_see("EU", "LTU", "ALL")
    (True, True, True)
    >>> may_see("POL", "LTU", "LVA"), may_see("LVA", "LTU", None), may_see("LVA", "LTU", "lva?")
    (False, False, False)
    """
    if not is_partner(partner):
        return False
    if partner == owner:
        return True
    normalised = parse_releasability(marking)
    return normalised == ALL or partner in normalised.split(",")


def is_partner(partner: object) -> bool:
    """A partner id (see :data:`PARTNER_ID`), and not the keyword ``ALL``."""
    return isinstance(partner, str) and bool(PARTNER_ID.fullmatch(partner)) \
        and partner.upper() != ALL


def check_partner(partner: object, what: str) -> str:
    """``partner`` if it is a partner id (:func:`is_partner`); else a ValidationError naming ``what``."""
    if not is_partner(partner):
        raise ValidationError(describe(
            what, "not a partner id", expected="letters, digits, '_', '.' or '-' (at most 64, "
            "starting with a letter or digit, not ALL), e.g. LTU", got=partner,
            fix="Use the partner id your account belongs to"))
    return partner


def viewers(partners: Iterable[str] | str) -> list[str]:
    """The checked partner ids of a view, sorted and without repeats."""
    items = [partners] if isinstance(partners, str) else list(partners)
    return sorted({check_partner(p, "partner") for p in items})
