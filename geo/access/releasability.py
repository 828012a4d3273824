"""Who may see a stored detection: the releasability rule, written once.

A partner sees a row when it owns the row, when the row's marking is ``ALL`` or when the
marking lists it. A missing or unknown marking releases to nobody but the owner. The rule
is stated once, as data (:data:`RULE`: the grants, any one of which shows a row); the
filters are derived from it: in Python for many rows (:func:`visible_mask`, which
:func:`may_see` and :func:`geo.coverage.views.visible_rows` use) and in SQL
(:func:`sql_where`, which the store uses) and as a PostgreSQL row-level security policy over
the viewers a transaction states (:func:`postgres_policy`, the PostGIS store; its query-side
twin :func:`postgres_where`), and the tests check they agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.core.errors import ValidationError, describe

__all__ = [
    "ALL",
    "PARTNER_ID",
    "RULE",
    "SEPARATORS",
    "VIEWERS_SETTING",
    "Grant",
    "check_partner",
    "is_partner",
    "may_see",
    "owns",
    "parse_marking",
    "parse_releasability",
    "postgres_owns",
    "postgres_policy",
    "postgres_where",
    "sql_where",
    "viewers",
    "visible_mask",
]

#: One value per row: a column, an array or a list.
Values: TypeAlias = "pd.Series[Any] | NDArray[Any] | Sequence[Any]"

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
    return describe(
        where,
        f"unknown marking: {problem}",
        expected="ALL or partner ids separated by commas (e.g. LVA,POL)",
        got=text,
        fix="Leave it empty to release to your own partner only",
    )


# ---- the rule -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One way a row is released to a viewer: a test on one of the row's fields.

    Attributes
    ----------
    field
        ``"owner"`` (the partner that owns the row) or ``"marking"`` (its ``releasable_to``,
        normalised by :func:`parse_releasability`: a missing or unknown marking is ``""``).
    test
        ``"is_viewer"``: the field is one of the viewers; ``"is_all"``: the field is
        :data:`ALL`; ``"lists_viewer"``: the field, partner ids joined by commas, lists one
        of the viewers.
    """

    field: Literal["owner", "marking"]
    test: Literal["is_viewer", "is_all", "lists_viewer"]


#: The releasability rule: a viewer sees a row when any of these grants holds, and no row
#: otherwise (default deny). A missing or unknown marking normalises to ``""``, which no
#: marking grant matches: the owner only. A row with no owner is seen only when marked ALL.
RULE: tuple[Grant, ...] = (
    Grant("owner", "is_viewer"),  # its own rows
    Grant("marking", "is_all"),  # rows released to every partner
    Grant("marking", "lists_viewer"),  # rows released to it by name
)


def _text_array(values: Values) -> NDArray[np.object_]:
    """Values as an object array of ``str``, missing ones (None, NaN, NA) as ``""``."""
    text = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    return text.astype("string").fillna("").to_numpy(dtype=object)


def _mask_is_viewer(values: NDArray[np.object_], viewers: frozenset[str]) -> NDArray[np.bool_]:
    return np.isin(values, list(viewers)) & (values != "")


def _mask_is_all(values: NDArray[np.object_], viewers: frozenset[str]) -> NDArray[np.bool_]:
    return np.asarray(values == ALL, dtype=bool)


def _mask_lists_viewer(values: NDArray[np.object_], viewers: frozenset[str]) -> NDArray[np.bool_]:
    return np.fromiter(
        (bool(v) and not viewers.isdisjoint(v.split(",")) for v in values),
        dtype=bool,
        count=len(values),
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_is_viewer(column: str, viewers: list[str]) -> str:
    return f"{column} IN ({', '.join(_sql_text(v) for v in viewers)})"


def _sql_is_all(column: str, viewers: list[str]) -> str:
    return f"{column} = {_sql_text(ALL)}"


def _sql_lists_viewer(column: str, viewers: list[str]) -> str:
    return " OR ".join(f"instr(',' || {column} || ',', {_sql_text(f',{v},')}) > 0" for v in viewers)


#: Each test of a grant, over many rows in Python and as an SQL condition.
_MASKS: dict[str, Callable[[NDArray[np.object_], frozenset[str]], NDArray[np.bool_]]] = {
    "is_viewer": _mask_is_viewer,
    "is_all": _mask_is_all,
    "lists_viewer": _mask_lists_viewer,
}
_SQL: dict[str, Callable[[str, list[str]], str]] = {
    "is_viewer": _sql_is_viewer,
    "is_all": _sql_is_all,
    "lists_viewer": _sql_lists_viewer,
}


def visible_mask(owner: Values, marking: Values, viewers: Iterable[str]) -> NDArray[np.bool_]:
    """Which rows any of ``viewers`` may see (:data:`RULE`), for many rows at once.

    Parameters
    ----------
    owner
        The partner that owns each row (missing: no owner, so only a row marked ``ALL`` is
        seen).
    marking
        Each row's ``releasable_to`` as written anywhere (normalised here, see
        :func:`parse_releasability`; missing or unknown: the owner only).
    viewers
        The partners who look, compared exactly (``LTU`` is not ``ltu``); their joint view
        is the union of what each may see.

    Returns
    -------
    ndarray of bool
        One value per row.

    Examples
    --------
    >>> visible_mask(["A", "A", "B", "B", None], ["", "C", "all", "zz?", "ALL"], {"C"}).tolist()
    [False, True, True, False, True]
    >>> visible_mask(["A", "B"], ["C, D", "D;C"], ["B"]).tolist()
    [False, True]
    >>> visible_mask(["A"], ["ALL"], []).tolist()  # nobody looks: nothing is seen, as in SQL
    [False]
    """
    seen = frozenset(str(v) for v in viewers)
    owners = _text_array(owner)
    markings = _text_array(marking)
    if len(owners) != len(markings):
        raise ValueError(f"owner and marking differ in length: {len(owners)} and {len(markings)}")
    if not seen:  # no viewer: default deny (sql_where, may_see and the database agree)
        return np.zeros(len(owners), dtype=bool)
    # Each distinct marking is normalised once.
    distinct, inverse = np.unique(markings, return_inverse=True)
    normalised = np.array([parse_releasability(m) for m in distinct.tolist()], dtype=object)
    out = np.zeros(len(owners), dtype=bool)
    for grant in RULE:
        if grant.field == "owner":
            out |= _MASKS[grant.test](owners, seen)
        else:
            out |= _MASKS[grant.test](normalised, seen)[inverse.reshape(-1)]
    return out


def owns(owner: Values, viewers: Iterable[str]) -> NDArray[np.bool_]:
    """Which rows one of ``viewers`` owns (the first grant of :data:`RULE` alone).

    Examples
    --------
    >>> owns(["A", "B", None, ""], ["A"]).tolist()
    [True, False, False, False]
    """
    return _mask_is_viewer(_text_array(owner), frozenset(str(v) for v in viewers))


def sql_where(
    partners: Iterable[str] | str, *, owner: str = "owner", marking: str = "releasable_to"
) -> str:
    """The SQL condition for the rows any of ``partners`` may see (:data:`RULE`).

    The markings must be normalised (:func:`parse_releasability`), as the store writes
    them: the condition compares them as they are. The partner ids are checked and written
    into the SQL as quoted literals.

    Parameters
    ----------
    partners
        The viewers (partner ids; one string is one partner). None: a condition no row
        meets.
    owner, marking
        The columns holding a row's owner and its marking.

    Raises
    ------
    ValidationError
        A viewer that is not a partner id.

    Examples
    --------
    >>> sql_where(["LVA"])
    "(owner IN ('LVA') OR releasable_to = 'ALL' OR instr(',' || releasable_to || ',', ',LVA,') > 0)"
    """
    checked = viewers(partners)
    if not checked:
        return "(0)"
    column = {"owner": owner, "marking": marking}
    return "(" + " OR ".join(_SQL[grant.test](column[grant.field], checked) for grant in RULE) + ")"


#: The PostgreSQL setting in which a transaction states its viewers: checked partner ids
#: joined by commas (``SET LOCAL limes.viewers = 'LTU,LVA'``).
VIEWERS_SETTING = "limes.viewers"


def _pg_is_viewer(column: str, viewers: str) -> str:
    return f"{column} = ANY ({viewers})"


def _pg_is_all(column: str, viewers: str) -> str:
    return f"{column} = {_sql_text(ALL)}"


def _pg_lists_viewer(column: str, viewers: str) -> str:
    return f"string_to_array({column}, ',') && {viewers}"


#: Each test of a grant as a PostgreSQL condition over an array of viewers.
_PG: dict[str, Callable[[str, str], str]] = {
    "is_viewer": _pg_is_viewer,
    "is_all": _pg_is_all,
    "lists_viewer": _pg_lists_viewer,
}


def _pg_viewers(setting: str) -> str:
    """The viewers a transaction stated, as a PostgreSQL ``text[]`` (an InitPlan: once a query).

    Only partner ids count (:func:`is_partner`, as :func:`may_see` checks): no setting, an
    empty one or anything else in it is no viewer.
    """
    pattern = "^(?:" + PARTNER_ID.pattern.replace("\\-", "-") + ")$"
    return (
        f"ARRAY(SELECT v FROM unnest(string_to_array(current_setting({_sql_text(setting)}, "
        f"true), ',')) AS v WHERE v ~ {_sql_text(pattern)} AND upper(v) <> {_sql_text(ALL)})"
    )


def postgres_policy(
    *, owner: str = "owner", marking: str = "releasable_to", setting: str = VIEWERS_SETTING
) -> str:
    """The PostgreSQL row-level security expression of :data:`RULE`.

    A row is seen when any grant holds for one of the viewers the transaction stated in
    ``setting`` (``SET LOCAL limes.viewers = 'LTU,LVA'``); a transaction that states none
    sees no row (default deny). The markings must be normalised, as the store writes them.

    Parameters
    ----------
    owner, marking
        The columns holding a row's owner and its marking.
    setting
        The setting that holds the viewers (partner ids joined by commas).

    Examples
    --------
    >>> policy = postgres_policy()
    >>> policy.startswith("(cardinality(ARRAY(SELECT v FROM unnest(string_to_array(")
    True
    >>> print(policy.split(" > 0 AND ")[1])  # doctest: +NORMALIZE_WHITESPACE
    (owner = ANY (ARRAY(SELECT v FROM unnest(string_to_array(current_setting('limes.viewers',
    true), ',')) AS v WHERE v ~ '^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$' AND upper(v) <> 'ALL'))
    OR releasable_to = 'ALL' OR string_to_array(releasable_to, ',') && ARRAY(SELECT v FROM
    unnest(string_to_array(current_setting('limes.viewers', true), ',')) AS v WHERE v ~
    '^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$' AND upper(v) <> 'ALL')))
    """
    column = {"owner": owner, "marking": marking}
    seen = _pg_viewers(setting)
    grants = " OR ".join(_PG[grant.test](column[grant.field], seen) for grant in RULE)
    # No viewer sees nothing, also rows marked ALL (as sql_where and may_see).
    return f"(cardinality({seen}) > 0 AND ({grants}))"


def postgres_where(
    partners: Iterable[str] | str, *, owner: str = "owner", marking: str = "releasable_to"
) -> str:
    """:func:`sql_where` for PostgreSQL: the rows any of ``partners`` may see (:data:`RULE`).

    The condition of :func:`postgres_policy` over the viewers given here, written into the
    SQL as quoted literals (checked partner ids), not read from the transaction's setting:
    a query's own WHERE, a second line under row-level security (e.g. for aggregates, whose
    rows cannot be filtered again in Python). The markings must be normalised.

    Raises
    ------
    ValidationError
        A viewer that is not a partner id.

    Examples
    --------
    >>> print(postgres_where(["LVA"]))  # doctest: +NORMALIZE_WHITESPACE
    (owner = ANY (ARRAY['LVA']::text[]) OR releasable_to = 'ALL'
    OR string_to_array(releasable_to, ',') && ARRAY['LVA']::text[])
    >>> postgres_where([])
    'false'
    """
    checked = viewers(partners)
    if not checked:
        return "false"
    seen = "ARRAY[" + ", ".join(_sql_text(v) for v in checked) + "]::text[]"
    column = {"owner": owner, "marking": marking}
    return "(" + " OR ".join(_PG[grant.test](column[grant.field], seen) for grant in RULE) + ")"


def postgres_owns(*, owner: str = "owner", setting: str = VIEWERS_SETTING) -> str:
    """The PostgreSQL condition that one of the stated viewers owns the row (writes).

    The first grant of :data:`RULE` alone (see :func:`owns`): a transaction writes only rows
    of the partner it states.
    """
    return "(" + _pg_is_viewer(owner, _pg_viewers(setting)) + ")"


def may_see(partner: str, owner: str, marking: str | None) -> bool:
    """Whether ``partner`` may see a row owned by ``owner`` with this marking.

    The rule for every view of stored detections (:data:`RULE`): a partner sees its own
    rows, rows marked ``ALL`` and rows whose marking lists it. A missing or unknown marking
    releases to nobody but the owner (see :func:`parse_releasability`).

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
    return is_partner(partner) and bool(visible_mask([owner], [marking], [partner])[0])


# ---- partner ids ----------------------------------------------------------------------------


def is_partner(partner: object) -> bool:
    """A partner id (see :data:`PARTNER_ID`), and not the keyword ``ALL``."""
    return (
        isinstance(partner, str) and bool(PARTNER_ID.fullmatch(partner)) and partner.upper() != ALL
    )


def check_partner(partner: object, what: str) -> str:
    """``partner`` if it is a partner id (:func:`is_partner`).

    Otherwise a ValidationError naming ``what``.
    """
    if isinstance(partner, str) and is_partner(partner):
        return partner
    raise ValidationError(
        describe(
            what,
            "not a partner id",
            expected="letters, digits, '_', '.' or '-' (at most 64, "
            "starting with a letter or digit, not ALL), e.g. LTU",
            got=partner,
            fix="Use the partner id your account belongs to",
        )
    )


def viewers(partners: Iterable[str] | str) -> list[str]:
    """The checked partner ids of a view, sorted and without repeats."""
    items = [partners] if isinstance(partners, str) else list(partners)
    return sorted({check_partner(p, "partner") for p in items})
