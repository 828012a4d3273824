"""OpenID Connect: which providers Streamlit's ``[auth]`` secrets configure, and who they let in.

Users who sign in through an OpenID Connect provider (Streamlit's ``st.login``) are listed in
the users file (:mod:`geo.access.users`) under their e-mail address, with ``"oidc": true`` and
no password: the identity comes from the provider, the partner and the roles from the file.
Someone the provider vouches for but who is not listed there gets no access.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geo.access.users import User

__all__ = ["oidc_configured", "oidc_providers", "oidc_user"]


def oidc_providers(secrets: Mapping[str, Any]) -> list[str | None]:
    """The OIDC providers configured in Streamlit's ``[auth]`` secrets section.

    ``None`` stands for the single provider configured directly in ``[auth]``; a name for
    each ``[auth.NAME]`` subsection with a ``client_id`` (pass it to ``st.login(NAME)``).

    Examples
    --------
    >>> oidc_providers({})
    []
    >>> oidc_providers({"auth": {"redirect_uri": "u", "cookie_secret": "s", "client_id": "c"}})
    [None]
    >>> oidc_providers({"auth": {"redirect_uri": "u", "cookie_secret": "s",
    ...                          "microsoft": {"client_id": "c"}}})
    ['microsoft']
    """
    section = secrets.get("auth") if isinstance(secrets, Mapping) else None
    if not isinstance(section, Mapping):
        return []
    found: list[str | None] = []
    if "client_id" in section:
        found.append(None)
    found += [k for k, v in section.items() if isinstance(v, Mapping) and "client_id" in v]
    return found


def oidc_configured(secrets: Mapping[str, Any]) -> bool:
    """True if ``secrets`` has an ``[auth]`` section with at least one OIDC provider."""
    return bool(oidc_providers(secrets))


def oidc_user(users: Mapping[str, User], email: str | None) -> User | None:
    """The OIDC user listed under ``email`` (case-insensitive), else None.

    Examples
    --------
    >>> users = {"bob@example.org": User("bob@example.org", "POL", frozenset({"commander"}),
    ...                                  oidc=True)}
    >>> oidc_user(users, "Bob@Example.org").partner
    'POL'
    >>> oidc_user(users, "eve@example.org") is None
    True
    """
    if not email:
        return None
    wanted = email.strip().casefold()
    return next((u for u in users.values() if u.oidc and u.name.casefold() == wanted), None)
