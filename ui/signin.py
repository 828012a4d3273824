"""Streamlit glue for sign-in: who is looking, checked on the server at every rerun.

``app.py`` calls :func:`current_viewer` first thing after ``st.set_page_config``, before
``st.navigation``; pages read the result with :func:`viewer` (and :func:`partner_options`
for the partner selector)::

    from ui import signin
    viewer = signin.current_viewer()   # stops the run at the sign-in form until signed in

Three ways in:

- **Local demo mode**: no users file, or one listing nobody (:func:`geo.access.users.demo_mode`).
  Sign-in is off, every partner view is open and a banner on every page says so. Served only
  when the server listens on localhost and the request is not proxied
  (:func:`geo.access.exposure.demo_exposure`); otherwise the app refuses and says how to fix
  it. A page opened under another name than localhost
  (:func:`geo.access.exposure.host_is_local`) gets only a short refusal.
- **Password**: a user of the users file signs in with the form. The session keeps the user
  name and a fingerprint of the password hash; every rerun looks the user up in the file
  again, so a removed user or a new password signs the session out at once and a changed
  partner or role applies at once.
- **OpenID Connect**: when ``.streamlit/secrets.toml`` has an ``[auth]`` section, the sign-in
  page offers ``st.login``. The provider's e-mail address must be listed in the users file as
  an OIDC user, which gives the partner and roles (see :mod:`geo.access.oidc`).

The users file is ``$LIMES_USERS_FILE`` if that is set, else ``data/users.json``.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import streamlit as st

from geo import access, store
from geo.access import User, Viewer
from geo.core import settings
from geo.core.errors import ValidationError
from geo.coverage.views import JOINT

__all__ = [
    "DEMO_BANNER",
    "DEMO_HOST_REFUSED",
    "Viewer",
    "current_viewer",
    "detection_viewers",
    "partner_options",
    "users_file",
    "viewer",
]

DEMO_BANNER = (
    "Local demo mode: sign-in is off and every partner view is open. "
    "The app listens on localhost only."
)

#: Shown, and nothing else, when a demo-mode page was opened under another name than
#: localhost (e.g. a web page that pointed its own name at 127.0.0.1: DNS rebinding).
DEMO_HOST_REFUSED = (
    "Refused: in local demo mode Limes answers only at localhost (or 127.0.0.1) on this "
    "machine, not under another name."
)

# Session-state keys (server side; the browser cannot set them).
_USER = "_limes_user"
_STAMP = "_limes_stamp"
_VIEWER = "_limes_viewer"
_NOTICE = "_limes_notice"
_SESSION_ID = "_limes_session_id"
#: The identity-provider account whose sign-in (or refusal) this session has audited.
_OIDC_AUDITED = "_limes_oidc_audited"

_LOG = logging.getLogger(__name__)

#: How long a sign-in waits for the store to record it (an upload being written holds the
#: store): a sign-in is never held up longer by its audit record.
_AUDIT_BUSY_TIMEOUT_S = 1.0


def users_file() -> Path:
    """The users file the app reads: ``$LIMES_USERS_FILE`` or ``data/users.json``."""
    return access.default_users_file()


@st.cache_resource
def _throttle() -> access.Throttle:
    """Failed sign-ins of the whole server, per browser session, user name and address."""
    return access.Throttle()


def current_viewer(*, url_paths: Iterable[str] = ()) -> Viewer:
    """Who is looking in this rerun; shows the sign-in page and stops the run until known.

    Call it at the top of every rerun (``app.py`` does, before the pages run). In demo mode
    it shows the demo banner; signed in, the account and a sign-out button in the sidebar.

    Parameters
    ----------
    url_paths
        The URL paths of the app's pages (``st.Page(...).url_path``). The sign-in page, the
        only page listed until someone signs in, answers at each of them too.
    """
    st.session_state.pop(_VIEWER, None)
    path = users_file()
    try:
        users = access.load_users(path)
    except ValidationError as exc:
        st.error(f"Sign-in is unavailable, so the app is closed: {exc}")
        st.stop()
    if not users:
        exposure = access.demo_exposure(st.get_option("server.address"), _headers())
        if exposure:
            st.error(
                f"No users are configured (local demo mode), but {exposure}: the app will "
                "not open every partner view to the network. Either create a user so that "
                "sign-in is required (`python -m geo users add NAME --partner P --roles "
                "commander`), or serve this machine only (`streamlit run app.py "
                "--server.address localhost`, as `make run` does)."
            )
            st.stop()
        if not access.host_is_local(_headers()):
            st.error(DEMO_HOST_REFUSED)
            st.stop()
        st.warning(DEMO_BANNER, icon="⚠️")
        current = Viewer.demo_viewer()
    else:
        user = _signed_in(users)
        if user is None:
            _sign_in_page(path, users, url_paths)  # stops the run
        _account_sidebar(user)
        current = Viewer.for_user(user)
    st.session_state[_VIEWER] = current
    return current


def viewer() -> Viewer:
    """The viewer :func:`current_viewer` found in this rerun (for pages)."""
    found = st.session_state.get(_VIEWER)
    if not isinstance(found, Viewer):
        raise RuntimeError("signin.current_viewer() has not run in this rerun: call it in app.py")
    return found


def partner_options(current: Viewer, partners: Iterable[str]) -> list[str]:
    """Choices of the partner-view selector.

    Demo mode: the joint view, then every partner. Signed in: the joint view and the user's
    own partner. The joint view of a signed-in user is the union of what they may see: the
    operation's sectors and sensors, and only the detections released to their partner
    (:func:`detection_viewers`).
    """
    if current.demo:
        return [JOINT, *partners]
    return [JOINT, *current.visible_partners(partners)]


def detection_viewers(current: Viewer) -> tuple[str, ...] | None:
    """Partners whose releasability decides which detections this viewer sees.

    ``None`` in local demo mode (everything is open); else the user's own partner. Pass it
    to :func:`geo.coverage.views.visible_rows` (and into the key of any cache holding the result).
    """
    if current.demo:
        return None
    return (current.partner,) if current.partner else ()


# ---- internals -----------------------------------------------------------------------------


def _headers() -> Mapping[str, str]:
    try:
        return dict(st.context.headers)
    except (AttributeError, RuntimeError):  # no browser connection (scripts, AppTest)
        return {}


def _client_address() -> str | None:
    """The client's IP address; None on this machine (or with no browser connection).

    The address of the connection's peer or, when that peer is a trusted proxy, the nearest
    address in its ``X-Forwarded-For`` that is not one (uvicorn trusts the proxies listed in
    ``$FORWARDED_ALLOW_IPS``, by default 127.0.0.1 and ::1).
    """
    try:
        return st.context.ip_address
    except (AttributeError, RuntimeError):  # no browser connection (scripts, AppTest)
        return None


def _secrets() -> Mapping[str, Any]:
    """``st.secrets``, or nothing when no secrets file exists (reading it would raise)."""
    return st.secrets if st.secrets.load_if_toml_exists() else {}


def _signed_in(users: Mapping[str, User]) -> User | None:
    """The user of this session, checked against the users file as it is now."""
    name = st.session_state.get(_USER)
    if name is not None:
        user = users.get(name)
        if user is None or user.oidc or user.stamp != st.session_state.get(_STAMP):
            _end_session("You were signed out: your account was removed or its password changed.")
            return None
        return user
    if access.oidc_configured(_secrets()) and st.user.get("is_logged_in"):
        email = st.user.get("email")
        user = access.oidc_user(users, str(email) if email else None)
        refused = user is None or st.user.get("email_verified") is False
        _audit_oidc_once(str(email) if email else "", None if refused else user)
        if refused:
            who = email or "an account with no e-mail address"
            st.error(
                f"You are signed in with the identity provider as {who}, but that is not a "
                "verified address of a Limes OIDC user. Ask an administrator to add it to the "
                "users file."
            )
            st.button("Sign out", key="signout", on_click=st.logout)
            st.stop()
        return user
    st.session_state.pop(_OIDC_AUDITED, None)  # signed out: the next arrival is audited again
    return None


def _sign_in_page(path: Path, users: Mapping[str, User], url_paths: Iterable[str]) -> NoReturn:
    """Show the sign-in page as the app's only page, and stop the run.

    It is the only page of the navigation, so no page of a user who signed out stays listed.
    It also answers, unlisted, at the app's other URL paths: a bookmarked page shows the
    sign-in page and, once signed in, that page (if the user may open it).
    """

    def sign_in() -> None:
        _sign_in_form(path, users)

    pages = [st.Page(sign_in, title="Sign in", default=True)]
    pages += [
        st.Page(sign_in, title="Sign in", url_path=u, visibility="hidden")
        for u in dict.fromkeys(url_paths)
        if u
    ]
    st.navigation(pages).run()
    st.stop()


def _sign_in_form(path: Path, users: Mapping[str, User]) -> None:
    st.title("Sign in to Limes")
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.info(notice)
    for provider in access.oidc_providers(_secrets()):
        st.button(
            "Sign in with single sign-on" if provider is None else f"Sign in with {provider}",
            key=f"signin_oidc_{provider or 'default'}",
            on_click=st.login,
            args=() if provider is None else (provider,),
        )
    if any(not u.oidc for u in users.values()):
        with st.form("signin", clear_on_submit=True):
            name = st.text_input("User name", key="signin_name", autocomplete="username")
            password = st.text_input(
                "Password",
                type="password",
                key="signin_password",
                autocomplete="current-password",
            )
            submitted = st.form_submit_button("Sign in", key="signin_submit")
        if submitted:
            _attempt(path, name.strip(), password)


def _attempt(path: Path, name: str, password: str) -> None:
    """Check a password sign-in; on success start the session and rerun."""
    session = st.session_state.setdefault(_SESSION_ID, secrets.token_hex(16))
    try:
        result = access.authenticate(
            path, name, password, throttle=_throttle(), session=session, address=_client_address()
        )
    except ValidationError as exc:
        st.error(f"Sign-in is unavailable: {exc}")
        return
    if result.wait_s > 0:
        _audit("signin.failed", name, None, reason="too many failed sign-ins")
        st.error(f"Too many failed sign-ins. Try again in {math.ceil(result.wait_s)} s.")
        return
    user = result.user
    if user is None:
        _audit("signin.failed", name, None, reason="wrong user name or password")
        st.error("Wrong user name or password.")
        return
    _audit("signin", user.name, user)
    _clear_session()
    st.session_state[_USER] = user.name
    st.session_state[_STAMP] = user.stamp
    st.rerun()


def _audit_oidc_once(email: str, user: User | None) -> None:
    """Audit a single-sign-on account's arrival once per session: signed in, or refused."""
    seen = (email, user is not None)
    if st.session_state.get(_OIDC_AUDITED) == seen:
        return
    st.session_state[_OIDC_AUDITED] = seen
    if user is not None:
        _audit("signin", user.name, user, method="oidc")
    else:
        _audit("signin.failed", email, None, method="oidc", reason="not a Limes OIDC user")


def _audit(
    action: str, name: str, user: User | None, *, method: str = "password", **detail: str
) -> None:
    """Record a sign-in (or a failed one) in the store's audit log.

    A store that cannot take the record (busy, read-only, not a store) never blocks a
    sign-in: the failure is logged on the server and the sign-in goes on.
    """
    address = _client_address()
    try:
        store.record_event(
            settings.store_path(),
            action,
            user=name,
            partner=None if user is None else user.partner,
            detail={
                "method": method,
                "address": address if isinstance(address, str) else None,
                **detail,
            },
            busy_timeout_s=_AUDIT_BUSY_TIMEOUT_S,
        )
    except ValidationError as exc:
        _LOG.warning("sign-in of %r not recorded in the audit log: %s", name[:128], exc)


def _clear_session() -> None:
    """Forget everything of the session (widgets too): nothing carries over between users."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def _end_session(notice: str) -> None:
    _clear_session()
    st.session_state[_NOTICE] = notice


def _account_sidebar(user: User) -> None:
    roles = ", ".join(r for r in settings.ROLES if r in user.roles)
    side = st.sidebar
    side.text(f"Signed in as {user.name}\nPartner: {user.partner}\nRoles: {roles}")
    if user.oidc:
        side.button("Sign out", key="signout", on_click=st.logout)
    else:
        side.button("Sign out", key="signout", on_click=_end_session, args=("You signed out.",))
