"""Roles: what a user may do (:data:`geo.core.settings.ROLES`).

``analyst`` uploads, ``commander`` views, ``briefer`` exports, ``planner`` creates operations
and saves sensor versions, ``admin`` holds every other role too. Whatever the roles, a user
sees only what their partner may see (:mod:`geo.access.releasability`).
"""

from __future__ import annotations

from collections.abc import Iterable

from geo.core import settings
from geo.core.errors import ValidationError

__all__ = ["has_role", "parse_roles"]


def has_role(roles: frozenset[str], role: str) -> bool:
    """True if ``roles`` grant ``role``: they list it, or they list ``admin``.

    Raises
    ------
    ValueError
        ``role`` is not one of :data:`geo.core.settings.ROLES` (a programming error).

    Examples
    --------
    >>> has_role(frozenset({"analyst"}), "analyst"), has_role(frozenset({"analyst"}), "briefer")
    (True, False)
    >>> has_role(frozenset({"admin"}), "briefer")
    True
    """
    if role not in settings.ROLES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(settings.ROLES)}")
    return role in roles or "admin" in roles


def parse_roles(text: str | Iterable[str]) -> frozenset[str]:
    """Roles from ``"analyst,commander"`` (or a list), checked against :data:`settings.ROLES`.

    Examples
    --------
    >>> sorted(parse_roles(" analyst, commander,"))
    ['analyst', 'commander']
    >>> parse_roles("pilot")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: --roles: unknown role 'pilot':
        expected one of analyst, commander, briefer, planner, admin
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    roles = [str(r).strip() for r in items if str(r).strip()]
    allowed = ", ".join(settings.ROLES)
    if not roles:
        raise ValidationError(f"--roles: no role given: expected one or more of {allowed}")
    for r in roles:
        if r not in settings.ROLES:
            raise ValidationError(f"--roles: unknown role {r!r}: expected one of {allowed}")
    return frozenset(roles)
