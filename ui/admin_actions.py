"""What the Admin page does, without Streamlit: user changes (audited) and the tables it shows.

The page (``app_pages/admin.py``, widgets in :mod:`ui.admin`) reads widgets and calls these;
each checks that an administrator asks, and what they ask for, changes the users file
through :mod:`geo.access.users` and records the change in the store's audit log (actions
``user.add``, ``user.roles``, ``user.remove``; partners: ``operation.partners``, written by
:func:`geo.operations.update_partners` with the change). Two rules keep an
administrator from locking everyone out: nobody removes themselves, and nobody takes away
their own ``admin`` role (so the one doing it is always an admin left).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from geo import access, store
from geo.access import User, Viewer
from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.operations import Partner, update_partners
from layers.colour import Clash, partner_colour_clashes

__all__ = [
    "USER_COLUMNS",
    "NotAudited",
    "add_account",
    "change_account",
    "colour_clashes",
    "filter_log",
    "hex_colour",
    "known_partners",
    "remove_account",
    "save_partners",
    "user_table",
]

#: The columns of :func:`user_table`.
USER_COLUMNS = ("name", "partner", "roles", "sign_in", "created_at")


def _roles_list(roles: Iterable[str]) -> list[str]:
    """Roles in the order of :data:`geo.core.settings.ROLES`."""
    chosen = set(roles)
    return [r for r in settings.ROLES if r in chosen]


def _roles_text(roles: Iterable[str]) -> str:
    """Roles in the order of :data:`geo.core.settings.ROLES`, comma-separated."""
    return ", ".join(_roles_list(roles))


def user_table(users: Mapping[str, User]) -> pd.DataFrame:
    """One row per user, by name: partner, roles, how they sign in, when added. No secrets.

    Examples
    --------
    >>> u = User("bob@example.org", "POL", frozenset({"commander", "analyst"}), oidc=True)
    >>> user_table({u.name: u}).iloc[0].tolist()
    ['bob@example.org', 'POL', 'analyst, commander', 'OIDC (single sign-on)', None]
    """
    rows = [
        (
            u.name,
            u.partner,
            _roles_text(u.roles),
            "OIDC (single sign-on)" if u.oidc else "password",
            u.created_at,
        )
        for _, u in sorted(users.items())
    ]
    return pd.DataFrame(rows, columns=list(USER_COLUMNS))


def known_partners(users: Mapping[str, User], operations: Iterable[Mapping[str, Any]]) -> list[str]:
    """Partner ids the page offers: those of the operations' partners and of the users.

    Examples
    --------
    >>> known_partners({}, [{"partners": [{"id": "POL"}, {"id": "LTU"}]}])
    ['LTU', 'POL']
    """
    ids = {u.partner for u in users.values()}
    for record in operations:
        ids |= {str(p["id"]) for p in record.get("partners") or []}
    return sorted(ids)


class NotAudited(ValidationError):
    """A change of the users file was made, but the store refused its audit row."""


def _who(actor: Viewer) -> str:
    """The name the audit gives ``actor``: their user name, or ``local demo``."""
    return actor.name or "local demo"


def _check_admin(actor: Viewer) -> None:
    """Refuse a change by anybody but an administrator (the page checks too)."""
    if not actor.can("admin"):
        raise ValidationError(
            describe(
                _who(actor),
                "only an administrator may change users and partners",
                field="roles",
                expected="the admin role",
            )
        )


def _audit(
    store_path: Path,
    action: str,
    *,
    actor: Viewer,
    target: str,
    detail: Mapping[str, Any],
) -> None:
    """Record a change of the users file in the store's audit log.

    The users file is changed first (it is the change that matters); should the store refuse
    the audit row, the message says the change was made but not recorded.
    """
    try:
        store.record_event(
            store_path,
            action,
            user=_who(actor),
            partner=actor.partner,
            target=target,
            detail=detail,
        )
    except ValidationError as exc:
        raise NotAudited(
            f"{action} {target}: done, but the audit log could not record it ({exc}). "
            "Tell whoever runs the store"
        ) from exc


def change_account(
    users_file: Path,
    name: str,
    *,
    partner: str,
    roles: Sequence[str],
    actor: Viewer,
    store_path: Path,
) -> str | None:
    """Change a user's partner and roles (their password and sessions are kept); audited.

    Returns
    -------
    str or None
        What changed, in words (also the audit record's detail); None when nothing did
        (nothing is written then).

    Raises
    ------
    ValidationError
        No such user, no role or an unknown one, a bad partner id, or ``actor`` taking
        away their own ``admin`` role.
    """
    _check_admin(actor)
    users = access.load_users(users_file)
    user = users.get(name)
    if user is None:
        raise ValidationError(describe(str(users_file), "no such user", field="name", got=name))
    role_set = access.parse_roles(list(roles))
    if name == actor.name and "admin" in user.roles and "admin" not in role_set:
        raise ValidationError(
            describe(
                name,
                "you cannot take away your own admin role",
                field="roles",
                expected="admin kept",
                fix="Ask another administrator to do it, so that an administrator is left",
            )
        )
    access.check_account(name, partner=partner, roles=role_set)
    partner = partner.strip()
    parts = []
    if role_set != user.roles:
        parts.append(f"roles {_roles_text(user.roles)} → {_roles_text(role_set)}")
    if partner != user.partner:
        parts.append(f"partner {user.partner} → {partner}")
    if not parts:
        return None
    access.add_user(users_file, name, partner=partner, roles=role_set, oidc=user.oidc)
    detail = {
        "roles": [_roles_list(user.roles), _roles_list(role_set)],
        "partner": [user.partner, partner],
    }
    _audit(store_path, "user.roles", actor=actor, target=name, detail=detail)
    return "; ".join(parts)


def add_account(
    users_file: Path,
    name: str,
    *,
    partner: str,
    roles: Sequence[str],
    actor: Viewer,
    store_path: Path,
    password: str | None = None,
    repeat: str | None = None,
    oidc: bool = False,
) -> User:
    """Add a new user, with an initial password typed twice or signing in through OIDC.

    Raises
    ------
    ValidationError
        A name that exists already (change that user instead), the two passwords differing,
        a password too weak (:func:`geo.access.passwords.check_new_password`), a password
        given for an OIDC user, a bad name, partner or roles. Nothing is written then.
    """
    _check_admin(actor)
    name = name.strip()
    access.check_account(name, partner=partner, roles=list(roles))
    existing = access.load_users(users_file)
    if name in existing or (oidc and name.lower() in existing):
        raise ValidationError(
            describe(
                name,
                "a user of that name exists already",
                field="name",
                expected="a new user name",
                fix="Change that user's partner and roles in the table above instead",
            )
        )
    if oidc:
        if password or repeat:
            raise ValidationError(
                describe(name, "an OIDC user has no password", field="password", got="a password")
            )
        password = None
    else:
        typed, again = (password or "").encode("utf-8"), (repeat or "").encode("utf-8")
        if not hmac.compare_digest(typed, again):
            raise ValidationError(
                describe(
                    name, "the two passwords differ", field="password", fix="Type it twice again"
                )
            )
    user, _ = access.add_user(
        users_file, name, partner=partner, roles=list(roles), password=password, oidc=oidc
    )
    detail = {
        "partner": user.partner,
        "roles": _roles_list(user.roles),
        "sign_in": "oidc" if oidc else "password",
    }
    _audit(store_path, "user.add", actor=actor, target=user.name, detail=detail)
    return user


def remove_account(users_file: Path, name: str, *, actor: Viewer, store_path: Path) -> None:
    """Remove a user (their open sessions end at their next rerun); audited.

    Raises
    ------
    ValidationError
        ``actor`` removing themselves, or no such user.
    """
    _check_admin(actor)
    if name == actor.name:
        raise ValidationError(
            describe(
                name,
                "you cannot remove yourself",
                field="name",
                fix="Ask another administrator to do it",
            )
        )
    user = access.load_users(users_file).get(name)
    access.remove_user(users_file, name)  # (raises for no such user)
    detail = {} if user is None else {"partner": user.partner, "roles": _roles_list(user.roles)}
    _audit(store_path, "user.remove", actor=actor, target=name, detail=detail)


def colour_clashes(partners: Sequence[Partner]) -> dict[str, list[Clash]]:
    """Per partner id, the map colours its chosen colour clashes with (only those that do).

    A partner without a colour of its own takes the map's palette, which passes the rule.
    """
    found = {p.id: partner_colour_clashes(p.colour) for p in partners if p.colour is not None}
    return {pid: clashes for pid, clashes in found.items() if clashes}


def hex_colour(rgb: Sequence[int]) -> str:
    """``#rrggbb`` of an RGB colour.

    Examples
    --------
    >>> hex_colour((85, 135, 255))
    '#5587ff'
    """
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))


def save_partners(
    store_path: Path,
    operation: str,
    partners: Sequence[Partner],
    *,
    actor: Viewer,
) -> list[dict[str, Any]]:
    """Store an operation's partners' display names and colours; audited. Returns the changes.

    A colour too close to a status colour (or the land) in any vision is refused, naming the
    partner, the map colour and the vision: the map would show the partner where the
    analysis shows a gap, an overlap or covered border
    (:func:`layers.colour.partner_colour_clashes`).

    Raises
    ------
    ValidationError
        A refused colour, or what :func:`geo.operations.update_partners` refuses. Nothing is
        stored then.
    """
    _check_admin(actor)
    bad = colour_clashes(partners)
    if bad:
        pid, clashes = next(iter(bad.items()))
        colour = next(p.colour for p in partners if p.id == pid)
        more = f" (and {len(bad) - 1} more partner(s))" if len(bad) > 1 else ""
        raise ValidationError(
            f"operation {operation}, partner {pid}: colour {hex_colour(colour or ())} is "
            f"{clashes[0].message()}{more}. Nothing was stored. Pick a colour the warnings "
            "do not name, or use the map's palette colour"
        )
    out = update_partners(store_path, operation, partners, user=_who(actor), partner=actor.partner)
    return list(out["changed"])


def filter_log(
    log: pd.DataFrame,
    *,
    actions: Iterable[str] = (),
    users: Iterable[str] = (),
    operations: Iterable[str] = (),
) -> pd.DataFrame:
    """The entries of an audit log (:func:`geo.store.audit_log`) that match every filter given.

    An empty filter keeps every entry; ``operations`` keeps only entries of those operations
    (a sign-in belongs to none). The order (newest first) is kept; ``log`` is not changed.

    Examples
    --------
    >>> log = pd.DataFrame({"action": ["signin", "upload"], "user": ["ana", "ana"],
    ...                     "operation": [None, "sample"]})
    >>> filter_log(log, operations=["sample"])["action"].tolist()
    ['upload']
    >>> len(filter_log(log))
    2
    """
    keep = pd.Series(True, index=log.index)
    for column, chosen in (("action", actions), ("user", users), ("operation", operations)):
        values = list(chosen)
        if values:
            keep &= log[column].isin(values)
    return log[keep].copy()
