"""Who is looking: the viewer of one rerun of the app, signed in or in local demo mode."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from geo.access.roles import has_role
from geo.access.users import User
from geo.core import settings

__all__ = ["Viewer"]


@dataclass(frozen=True)
class Viewer:
    """Who is using the app in this rerun, and what they may do.

    Attributes
    ----------
    name
        The signed-in user; None in demo mode.
    partner
        The user's partner; None in demo mode.
    roles
        The user's roles (every role in demo mode).
    demo
        True in local demo mode (no users configured, sign-in off).
    """

    name: str | None
    partner: str | None
    roles: frozenset[str]
    demo: bool = False

    @classmethod
    def demo_viewer(cls) -> Viewer:
        """The viewer of local demo mode: no name, no partner, every role."""
        return cls(name=None, partner=None, roles=frozenset(settings.ROLES), demo=True)

    @classmethod
    def for_user(cls, user: User) -> Viewer:
        """The viewer of a signed-in user."""
        return cls(name=user.name, partner=user.partner, roles=user.roles)

    def can(self, role: str) -> bool:
        """True if the viewer holds ``role`` (``admin`` holds all; demo mode holds all)."""
        return has_role(self.roles, role)

    def visible_partners(self, all_partners: Iterable[str]) -> list[str]:
        """The partner views this viewer may open.

        In demo mode every partner of ``all_partners`` (in their order). Signed in, only the
        user's own partner, whether or not ``all_partners`` lists it: the joint view and other
        partners' views are not offered. Which rows a partner may see (its own and those
        released to it) is decided by the store, not here.

        Examples
        --------
        >>> Viewer.demo_viewer().visible_partners(["LTU", "POL"])
        ['LTU', 'POL']
        >>> Viewer("alice", "POL", frozenset({"commander"})).visible_partners(["LTU", "POL"])
        ['POL']
        """
        if self.demo:
            return list(all_partners)
        return [self.partner] if self.partner else []
