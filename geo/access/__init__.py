"""Who may do and see what: user accounts and sign-in, and the releasability rule.

One module per task:

``releasability``
    The one rule of who may see a stored row (Python and SQL).
``users``
    The users file (``data/users.json``): its :class:`User` entries, reading, checking and
    writing it (``add_user``, ``remove_user``, ``load_users``), local demo mode.
``passwords``
    Salted scrypt hashes of passwords and what a new password must be.
``roles``
    The roles (analyst, commander, briefer, admin) and who holds which.
``throttle``
    The budget of failed sign-ins per session, user name and address.
``signin``
    Password sign-in against the users file (``verify``, ``authenticate``).
``oidc``
    Sign-in through an OpenID Connect provider (Streamlit's ``st.login``).
``exposure``
    Whether local demo mode may answer a request (this machine only).
``viewer``
    Who is looking in one rerun of the app, and what they may do.

No Streamlit here: :mod:`ui.signin` is the glue.
"""

from geo.access.exposure import demo_exposure, host_is_local
from geo.access.oidc import oidc_configured, oidc_providers, oidc_user
from geo.access.passwords import check_password, hash_password
from geo.access.releasability import ALL, may_see, parse_releasability
from geo.access.roles import parse_roles
from geo.access.signin import SignIn, authenticate, verify
from geo.access.throttle import Throttle
from geo.access.users import (
    User,
    add_user,
    check_account,
    default_users_file,
    demo_mode,
    has_password,
    load_users,
    remove_user,
)
from geo.access.viewer import Viewer

__all__ = [
    "ALL",
    "SignIn",
    "Throttle",
    "User",
    "Viewer",
    "add_user",
    "authenticate",
    "check_account",
    "check_password",
    "default_users_file",
    "demo_exposure",
    "demo_mode",
    "has_password",
    "hash_password",
    "host_is_local",
    "load_users",
    "may_see",
    "oidc_configured",
    "oidc_providers",
    "oidc_user",
    "parse_releasability",
    "parse_roles",
    "remove_user",
    "verify",
]
