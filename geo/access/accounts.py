"""Users, passwords and roles: the users file behind sign-in (no Streamlit here).

The users file (default :data:`geo.core.settings.USERS_FILE`, ``data/users.json``) maps each user
to a partner and roles::

    {"version": 1,
     "users": {
       "alice": {"partner": "LTU", "roles": ["analyst", "commander"],
                 "password": "scrypt$32768$8$1$<salt b64>$<hash b64>",
                 "created_at": "2025-05-01T08:00:00+00:00"},
       "bob@example.org": {"partner": "POL", "roles": ["commander"], "oidc": true,
                           "created_at": "2025-05-01T08:00:00+00:00"}}}

It is created and changed with ``python -m geo users add|remove|list`` and written atomically
with mode 0600. Passwords are never stored: only a salted scrypt hash (memory-hard, 32 MiB and
~0.1 s per guess with the default :data:`geo.core.settings.SCRYPT_N`), compared in constant time.

Roles (:data:`geo.core.settings.ROLES`): ``analyst`` uploads, ``commander`` views, ``briefer``
exports, ``admin`` holds every other role too. Whatever the roles, a user sees only what
their partner may see.

Users who sign in through an OpenID Connect provider (Streamlit's ``st.login``) are listed too,
under their e-mail address (lower case), with ``"oidc": true`` and no password: the identity
comes from the provider, the partner and the roles from this file. Someone the provider
vouches for but who is not listed here gets no access.

While the file does not exist or lists nobody, the app runs in local demo mode
(:func:`demo_mode`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from geo.core import settings
from geo.core.errors import ValidationError

__all__ = [
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
    "oidc_configured",
    "oidc_providers",
    "oidc_user",
    "parse_roles",
    "remove_user",
    "verify",
]

FILE_VERSION = 1
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
_PARTNER_MAX_CHARS = 64
_PASSWORD_MAX_CHARS = 1024
_SALT_BYTES = 16
_HASH_BYTES = 32


# ---- passwords -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
        maxmem=settings.SCRYPT_MAXMEM_BYTES, dklen=_HASH_BYTES,
    )


def hash_password(
    password: str,
    *,
    n: int = settings.SCRYPT_N,
    r: int = settings.SCRYPT_R,
    p: int = settings.SCRYPT_P,
) -> str:
    """Hash a password with scrypt and a fresh 16-byte random salt.

    Parameters
    ----------
    password
        The password, any length up to 1024 characters.
    n, r, p
        scrypt cost (a power of two), block size and parallelism; the defaults come from
        :mod:`geo.core.settings`. They are stored in the result, so :func:`check_password` needs
        only the string.

    Returns
    -------
    str
        ``"scrypt$n$r$p$salt_b64$hash_b64"``.

    Examples
    --------
    >>> h = hash_password("correct horse battery", n=2**10)
    >>> h.startswith("scrypt$1024$8$1$"), "correct" in h
    (True, False)
    >>> check_password("correct horse battery", h), check_password("wrong horse", h)
    (True, False)
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """Split a stored hash; ValueError if it is not one :func:`hash_password` wrote."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not an scrypt hash")
    n, r, p = (int(v) for v in parts[1:4])
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        raise ValueError("bad scrypt parameters")
    if 128 * r * (n + p + 2) > settings.SCRYPT_MAXMEM_BYTES:
        raise ValueError("scrypt parameters need more memory than SCRYPT_MAXMEM_BYTES")
    salt = base64.b64decode(parts[4], validate=True)
    digest = base64.b64decode(parts[5], validate=True)
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("salt or hash too short")
    return n, r, p, salt, digest


def check_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded`` (from :func:`hash_password`).

    The comparison takes constant time. A malformed ``encoded`` is simply no match.
    """
    try:
        n, r, p, salt, digest = _parse_hash(encoded)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random password, checked for unknown users so they take as long."""
    return hash_password(secrets.token_urlsafe(16))


# ---- users ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """One entry of the users file.

    Attributes
    ----------
    name
        Sign-in name; for an OIDC user, the e-mail address in lower case.
    partner
        The partner the user works for.
    roles
        Roles from :data:`geo.core.settings.ROLES`.
    oidc
        True when the user signs in through the OIDC provider (no password stored).
    created_at
        ISO 8601 time the user was first added.
    """

    name: str
    partner: str
    roles: frozenset[str]
    oidc: bool = False
    created_at: str | None = field(default=None, compare=False)
    password_hash: str | None = field(default=None, repr=False, compare=False)

    def can(self, role: str) -> bool:
        """True if the user holds ``role``; ``admin`` holds every role.

        Examples
        --------
        >>> u = User("alice", "LTU", frozenset({"analyst"}))
        >>> u.can("analyst"), u.can("briefer")
        (True, False)
        >>> User("root", "LTU", frozenset({"admin"})).can("briefer")
        True
        """
        return _can(self.roles, role)

    @property
    def stamp(self) -> str:
        """A fingerprint of the user's credential: it changes when the password changes.

        A session remembers it at sign-in; a new password (or a switch between password and
        OIDC) signs the user's other sessions out.
        """
        secret = "oidc" if self.oidc else (self.password_hash or "")
        return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def _can(roles: frozenset[str], role: str) -> bool:
    if role not in settings.ROLES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(settings.ROLES)}")
    return role in roles or "admin" in roles


def parse_roles(text: str | Iterable[str]) -> frozenset[str]:
    """Roles from ``"analyst,commander"`` (or a list), checked against :data:`settings.ROLES`.

    Examples
    --------
    >>> sorted(parse_roles(" analyst, commander,"))
    ['analyst', 'commander']
    >>> parse_roles("pilot")
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: --roles: unknown role 'pilot': expected one of analyst, commander, briefer, admin
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


def _check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ValidationError(
            f"user name: expected 1–128 letters, digits or . _ @ + - (starting with a letter "
            f"or digit), got {name!r}"
        )
    return name


def _check_partner(partner: str) -> str:
    # The store's partner ids: they appear in comma-separated releasability markings.
    from geo.access.releasability import ALL, PARTNER_ID

    p = partner.strip()
    if not PARTNER_ID.fullmatch(p) or p.upper() == ALL:
        raise ValidationError(
            f"--partner: expected a partner code (letters, digits, '_', '.', '-'; up to "
            f"{_PARTNER_MAX_CHARS} characters, not ALL), got {partner!r}. Use the partner's short code, e.g. LTU"
        )
    return p


def _check_new_password(name: str, password: str) -> str:
    if not password:
        raise ValidationError(f"password for {name!r}: empty. Give a password.")
    if len(password) < settings.PASSWORD_MIN_CHARS:
        raise ValidationError(
            f"password for {name!r}: too short: expected at least "
            f"{settings.PASSWORD_MIN_CHARS} characters, got {len(password)}"
        )
    if len(password) > _PASSWORD_MAX_CHARS:
        raise ValidationError(
            f"password for {name!r}: too long: expected at most {_PASSWORD_MAX_CHARS} "
            f"characters, got {len(password)}"
        )
    if password.casefold() == name.casefold():
        raise ValidationError(f"password for {name!r}: must not be the user name")
    return password


def default_users_file(environ: Mapping[str, str] | None = None) -> Path:
    """The users file the app reads: ``$LIMES_USERS_FILE`` if set, else ``data/users.json``.

    Examples
    --------
    >>> str(default_users_file({"LIMES_USERS_FILE": "/srv/limes/users.json"}))
    '/srv/limes/users.json'
    >>> default_users_file({}) == settings.USERS_FILE
    True
    """
    env = os.environ if environ is None else environ
    value = env.get(settings.USERS_FILE_ENV, "").strip()
    return Path(value) if value else settings.USERS_FILE


def _malformed(path: Path, problem: str) -> ValidationError:
    return ValidationError(
        f"users file {path}: {problem}. Fix or delete the file and re-create the users with "
        "`python -m geo users add`."
    )


def _read_raw(path: Path) -> dict[str, Any]:
    """The file's JSON, checked; an empty document when the file does not exist."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"version": FILE_VERSION, "users": {}}
    except (OSError, UnicodeDecodeError) as exc:
        raise _malformed(path, f"cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _malformed(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("users"), dict):
        raise _malformed(path, 'expected an object with a "users" object')
    if data.get("version") != FILE_VERSION:
        raise _malformed(
            path, f"expected version {FILE_VERSION}, got {data.get('version')!r}"
        )
    for name, entry in data["users"].items():
        _user_from_entry(path, name, entry)  # raises on a bad entry
    return data


def _user_from_entry(path: Path, name: Any, entry: Any) -> User:
    where = f"user {name!r}"
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise _malformed(path, f"{where}: invalid user name")
    if not isinstance(entry, dict):
        raise _malformed(path, f"{where}: expected an object")
    partner = entry.get("partner")
    if not isinstance(partner, str) or not partner.strip():
        raise _malformed(path, f"{where}: expected a partner, got {partner!r}")
    roles = entry.get("roles")
    if (
        not isinstance(roles, list)
        or not roles
        or any(r not in settings.ROLES for r in roles)
    ):
        raise _malformed(
            path, f"{where}: roles must be a list from {', '.join(settings.ROLES)}, got {roles!r}"
        )
    oidc = entry.get("oidc", False)
    if not isinstance(oidc, bool):
        raise _malformed(path, f"{where}: oidc must be true or false, got {oidc!r}")
    password = entry.get("password")
    if oidc:
        if password is not None:
            raise _malformed(path, f"{where}: an OIDC user has no password")
    else:
        if not isinstance(password, str):
            raise _malformed(path, f"{where}: no password hash (and not an OIDC user)")
        try:
            _parse_hash(password)
        except ValueError as exc:
            raise _malformed(path, f"{where}: password is not a valid scrypt hash ({exc})") from None
    created_at = entry.get("created_at")
    return User(
        name=name,
        partner=partner,
        roles=frozenset(roles),
        oidc=oidc,
        created_at=created_at if isinstance(created_at, str) else None,
        password_hash=password,
    )


def load_users(path: Path | str) -> dict[str, User]:
    """All users in the users file, by name; empty when the file does not exist.

    Raises
    ------
    ValidationError
        The file exists but is not a valid users file (the message names the file).
    """
    path = Path(path)
    data = _read_raw(path)
    return {name: _user_from_entry(path, name, e) for name, e in data["users"].items()}


def demo_mode(users_file: Path | str) -> bool:
    """True while no user is configured: the file does not exist or lists nobody.

    A file that exists but cannot be read raises :class:`ValidationError`: the app fails
    closed rather than opening every partner view.

    Examples
    --------
    >>> demo_mode("/nonexistent/users.json")
    True
    """
    return not load_users(users_file)


@contextlib.contextmanager
def _changing(path: Path) -> Iterator[None]:
    """Hold the users file's lock while it is read, changed and written again.

    Two ``users add`` at the same time would otherwise each write the file as they read it,
    and one user would be lost. The lock is a sidecar file (the users file itself is
    replaced on every write).
    """
    if not path.parent.is_dir():  # no users file either: nothing to change
        yield
        return
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_raw(path: Path, data: dict[str, Any]) -> None:
    """Write the users file atomically (temporary file, fsync, rename), mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_user(
    users_file: Path | str,
    name: str,
    *,
    partner: str,
    roles: str | Iterable[str],
    password: str | None = None,
    oidc: bool = False,
) -> tuple[User, bool]:
    """Add a user, or change an existing user's partner, roles and password.

    Changing an existing password user keeps their password hash, and so their open
    sessions, when ``password`` is empty or None or is the current password; a new password
    is hashed again and signs their sessions out.

    Parameters
    ----------
    users_file
        The users file; created (with its folder) when missing.
    name
        Sign-in name. For an OIDC user, the e-mail address the provider reports (stored in
        lower case).
    partner, roles
        The user's partner and roles (``"analyst,commander"`` or a list).
    password
        The password (at least :data:`settings.PASSWORD_MIN_CHARS` characters); only its hash
        is stored. Empty or None keeps an existing password user's password. Must be None
        for an OIDC user.
    oidc
        The user signs in through the OIDC provider and has no password.

    Returns
    -------
    tuple[User, bool]
        The stored user and True if they were new.
    """
    path = Path(users_file)
    name = _check_name(name.strip())
    if oidc:
        name = name.lower()
        if "@" not in name:
            raise ValidationError(
                f"user name {name!r}: an OIDC user is named by the e-mail address the identity "
                "provider reports"
            )
        if password is not None:
            raise ValidationError(f"user {name!r}: an OIDC user has no password")
    before = None if oidc else _password_hash(_read_raw(path), name)
    if not oidc and (password or before is None):
        _check_new_password(name, password or "")  # (an empty one keeps the current one)
    partner = _check_partner(partner)
    role_set = parse_roles(roles)
    hashed = None if oidc else _hash_to_store(password, before)  # slow: before the lock
    path.parent.mkdir(parents=True, exist_ok=True)
    with _changing(path):
        data = _read_raw(path)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        old = data["users"].get(name)
        current = None if oidc else _password_hash(data, name)
        if current != before:  # another `users add` or `remove` changed the user meanwhile
            if current is None:
                _check_new_password(name, password or "")
            hashed = _hash_to_store(password, current)
        entry: dict[str, Any] = {
            "partner": partner,
            "roles": [r for r in settings.ROLES if r in role_set],
            "created_at": old.get("created_at", now) if old else now,
        }
        if old:
            entry["updated_at"] = now
        if hashed is None:
            entry["oidc"] = True
        else:
            entry["password"] = hashed
        data["users"][name] = entry
        data["version"] = FILE_VERSION
        _write_raw(path, data)
    return _user_from_entry(path, name, entry), old is None


def _password_hash(data: Mapping[str, Any], name: str) -> str | None:
    """The stored password hash of ``name`` in a read users file (None: no password user)."""
    entry = data["users"].get(name)
    if not isinstance(entry, dict) or entry.get("oidc"):
        return None
    found = entry.get("password")
    return found if isinstance(found, str) else None


def _hash_to_store(password: str | None, current: str | None) -> str:
    """The hash to store: ``current`` for no password or the current one, else a new hash.

    Keeping the hash keeps the user's sessions (:attr:`User.stamp`): changing a user's
    partner or roles does not sign them out.
    """
    if current is not None and (not password or check_password(password, current)):
        return current
    return hash_password(password or "")


def remove_user(users_file: Path | str, name: str) -> None:
    """Remove a user; sessions they have open are signed out at their next rerun.

    Raises
    ------
    ValidationError
        No such user (the message lists who is there).
    """
    path = Path(users_file)
    with _changing(path):
        data = _read_raw(path)
        if name not in data["users"]:
            known = ", ".join(sorted(data["users"])) or "nobody"
            raise ValidationError(f"users file {path}: no user {name!r} (users: {known})")
        del data["users"][name]
        _write_raw(path, data)


def verify(users_file: Path | str, name: str, password: str) -> User | None:
    """The user if ``name`` and ``password`` match a password user of the file, else None.

    An unknown name, an OIDC user or an over-long password costs the same scrypt work as a
    wrong password, so the time taken does not tell which names exist.

    Raises
    ------
    ValidationError
        The users file exists but is malformed.
    """
    user = load_users(users_file).get(name)
    password = password[:_PASSWORD_MAX_CHARS]
    if user is None or user.oidc or not user.password_hash:
        check_password(password, _dummy_hash())
        return None
    return user if check_password(password, user.password_hash) else None


# ---- OpenID Connect ------------------------------------------------------------------------


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


# ---- who is looking ------------------------------------------------------------------------


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
        return _can(self.roles, role)

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


_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def demo_exposure(address: str | None, headers: Mapping[str, str] | None = None) -> str | None:
    """Why demo mode must not serve this request, or None if it is local.

    Demo mode opens every partner view without sign-in, so it is for this machine only: the
    server must listen on a loopback address (``server.address``; unset means every network
    interface) and the request must not come through a reverse proxy (which would publish a
    localhost-bound server).

    Examples
    --------
    >>> demo_exposure("localhost") is None, demo_exposure("127.0.0.1") is None
    (True, True)
    >>> demo_exposure("0.0.0.0")
    'the server listens on 0.0.0.0, not on localhost only'
    >>> demo_exposure(None)
    'the server listens on every network interface, not on localhost only'
    >>> demo_exposure("localhost", {"X-Forwarded-For": "203.0.113.7"})
    'the request came through a proxy (X-Forwarded-For header)'
    """
    where = (address or "").strip()
    if not _is_loopback(where):
        shown = where or "every network interface"
        return f"the server listens on {shown}, not on localhost only"
    for key in headers or {}:
        if key.lower() in _PROXY_HEADERS:
            return f"the request came through a proxy ({key} header)"
    return None


def host_is_local(headers: Mapping[str, str]) -> bool:
    """True if the request's ``Host`` header names this machine: localhost or a loopback address.

    Demo mode answers only such requests. A web page elsewhere can point a name of its own at
    127.0.0.1 (DNS rebinding) and so reach a server that listens on localhost only; the browser
    then sends that name, not localhost, as the ``Host`` of the page and of its websocket.
    Any port is fine. No headers at all means no browser connection (a script, a test): there
    is nothing to check. A connection without a ``Host`` header is refused.

    Examples
    --------
    >>> [host_is_local({"Host": h}) for h in ("localhost:8501", "127.0.0.1", "[::1]:8501")]
    [True, True, True]
    >>> [host_is_local({"host": h}) for h in ("rebind.example:8501", "localhost.evil", "")]
    [False, False, False]
    >>> host_is_local({}), host_is_local({"User-Agent": "x"})
    (True, False)
    """
    if not headers:
        return True
    host = next((v for k, v in headers.items() if k.lower() == "host"), "").strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1] or [::1]:8501
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else (None if rest else "")
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    if port is None or (port and not port.isdigit()):
        return False
    return bool(name) and _is_loopback(name)


def _is_loopback(address: str) -> bool:
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


# ---- failed sign-ins -----------------------------------------------------------------------


class Throttle:
    """Counts failed sign-ins per key and says how long the next attempt must wait.

    An attempt is counted as a failure *before* its password is checked: :meth:`attempt`
    reserves a slot in each of its keys under the lock, and a success then clears the key
    (:meth:`success`) or gives the one slot back (:meth:`refund`). Attempts made at the same
    time therefore share one budget: with ``max_failures`` N, at most N of them are checked
    (and after a lock-out has run out, one), however many arrive at once; the others are
    refused unchecked. (Checking the wait before the slow password hash and recording the
    failure after it let ten parallel attempts through.)

    After N failures in a row a key waits ``lockout_s``, doubling with each further failure up
    to ``max_lockout_s``, counted from the last failure. Thread-safe.

    At most ``max_keys`` keys are kept. A new key that finds the table full pushes out the
    oldest records that lock nobody (their wait is over, or they are below their limit).
    Locked records are never dropped, since otherwise anyone could unlock a user by failing
    under ``max_keys`` fresh names. When every record is locked, attempts that need a new key
    are refused until the first lock runs out: a flood of locked keys (each costs its sender
    several slow password checks, and one address only
    :data:`geo.core.settings.SIGNIN_MAX_FAILURES_PER_ADDRESS` failures in a row) can keep new
    sessions out for a while, but it never lets anyone in.

    Examples
    --------
    >>> now = [0.0]
    >>> t = Throttle(max_failures=2, lockout_s=10, clock=lambda: now[0])
    >>> t.attempt(["alice"]), t.wait_s("alice")  # granted: counted as a failure already
    (0.0, 0.0)
    >>> t.attempt(["alice"]), t.wait_s("alice")  # the second failure locks the key
    (0.0, 10.0)
    >>> t.attempt(["alice"])  # refused unchecked (and not counted)
    10.0
    >>> now[0] = 4.0; t.wait_s("alice")
    6.0
    >>> t.success("alice"); t.wait_s("alice")
    0.0
    """

    def __init__(
        self,
        *,
        max_failures: int = settings.SIGNIN_MAX_FAILURES,
        lockout_s: float = settings.SIGNIN_LOCKOUT_S,
        max_lockout_s: float = settings.SIGNIN_MAX_LOCKOUT_S,
        max_keys: int = settings.SIGNIN_MAX_RECORDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.max_lockout_s = max_lockout_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (failures in a row, time of the last, the key's max_failures); oldest first
        self._records: dict[str, tuple[int, float, int]] = {}

    def __len__(self) -> int:
        """Number of keys with a record."""
        with self._lock:
            return len(self._records)

    def _lock_s(self, count: int, limit: int) -> float:
        """How long ``count`` failures in a row lock a key of ``limit`` (0 below it)."""
        if count < limit:
            return 0.0
        return min(self.lockout_s * 2 ** (count - limit), self.max_lockout_s)

    def _wait(self, record: tuple[int, float, int], now: float) -> float:
        count, last, limit = record
        return max(0.0, last + self._lock_s(count, limit) - now)

    def wait_s(self, key: str) -> float:
        """Seconds before ``key`` may try again (0 if now)."""
        with self._lock:
            record = self._records.get(key)
            return 0.0 if record is None else self._wait(record, self._clock())

    def attempt(self, keys: Iterable[str] | Mapping[str, int]) -> float:
        """Reserve a slot for one sign-in attempt in every key, or say how long to wait.

        Parameters
        ----------
        keys
            The keys the attempt counts against (e.g. its session, user name and address),
            or a mapping of each key to its own ``max_failures`` (else :attr:`max_failures`).
            A key's limit is the one it was first recorded with.

        Returns
        -------
        float
            0.0 when the attempt may go ahead: it is now recorded as a failure in every key,
            until :meth:`success` or :meth:`refund`. Otherwise the seconds to wait (at least
            one key is locked, or the table is full of locks); nothing is recorded then.
        """
        limits = (dict(keys) if isinstance(keys, Mapping)
                  else dict.fromkeys(keys, self.max_failures))
        with self._lock:
            now = self._clock()
            waits = [self._wait(self._records[k], now) for k in limits if k in self._records]
            wait = max(waits, default=0.0)
            if wait > 0:
                return wait
            if not self._make_room(sum(k not in self._records for k in limits), limits, now):
                return max(min(self._wait(r, now) for r in self._records.values()), 1.0)
            for key, limit in limits.items():
                count, _, limit = self._records.pop(key, (0, 0.0, limit))
                self._records[key] = (count + 1, now, limit)
            return 0.0

    def _make_room(self, new: int, keep: Mapping[str, int], now: float) -> bool:
        """Drop the oldest unlocked records (not in ``keep``) until ``new`` keys fit."""
        excess = len(self._records) + new - self.max_keys
        if excess <= 0:
            return True
        victims = []
        for key, record in self._records.items():  # oldest first
            if key not in keep and self._wait(record, now) == 0:
                victims.append(key)
                if len(victims) == excess:
                    break
        else:
            return False  # every record that could go is a lock: keep them all
        for key in victims:
            del self._records[key]
        return True

    def success(self, key: str) -> None:
        """Forget the failures of ``key`` (its reserved slot included)."""
        with self._lock:
            self._records.pop(key, None)

    def refund(self, key: str) -> None:
        """Give back the slot :meth:`attempt` reserved in ``key``; earlier failures stay.

        For a key whose lock had run out when the slot was reserved, the lock stays run out.
        """
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return
            count, last, limit = record
            if count <= 1:
                del self._records[key]
                return
            # While count >= limit only one attempt at a time is granted (each locks the
            # key), so this slot is the only one outstanding: the key was free before it.
            if count - 1 >= limit:
                last = min(last, self._clock() - self._lock_s(count - 1, limit))
            self._records[key] = (count - 1, last, limit)


@dataclass(frozen=True)
class SignIn:
    """The outcome of :func:`authenticate`.

    Attributes
    ----------
    user
        The user, when name and password matched; else None.
    wait_s
        Seconds to wait when the attempt was refused unchecked (too many failures); else 0.
    """

    user: User | None
    wait_s: float = 0.0


def authenticate(
    users_file: Path | str,
    name: str,
    password: str,
    *,
    throttle: Throttle,
    session: str,
    address: str | None,
    max_failures_per_address: int | None = settings.SIGNIN_MAX_FAILURES_PER_ADDRESS,
) -> SignIn:
    """Check a password sign-in against the users file, throttled.

    The attempt counts against its browser session, the user name and (unless
    ``max_failures_per_address`` is None) the client address. It reserves its slot in each
    before the slow password check (:meth:`Throttle.attempt`), so parallel attempts share one
    budget. A success clears the session's and the name's failures and gives back the
    address's slot (the address's other failures stay: signing in to one's own account does
    not reset the budget for guessing others').

    Parameters
    ----------
    users_file
        The users file.
    name, password
        What the user typed.
    throttle
        The server's :class:`Throttle` (one for every session); its ``max_failures`` applies
        to the session and the user name.
    session
        A random id of the browser session.
    address
        The client's IP address; None for a client on this machine.
    max_failures_per_address
        Failures in a row before an address must wait.

    Returns
    -------
    SignIn

    Raises
    ------
    ValidationError
        The users file is malformed (the reserved slots are given back).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "users.json"
    ...     _ = add_user(path, "alice", partner="LTU", roles="commander",
    ...                  password="correct horse battery")
    ...     t = Throttle(max_failures=1)
    ...     wrong = authenticate(path, "alice", "wrong password", throttle=t, session="s1",
    ...                          address="203.0.113.7")
    ...     right = authenticate(path, "alice", "correct horse battery", throttle=t,
    ...                          session="s2", address="203.0.113.8")
    >>> wrong.user, wrong.wait_s
    (None, 0.0)
    >>> right.user, right.wait_s > 0  # refused unchecked: the name is locked
    (None, True)
    """
    where = Path(users_file).resolve()
    # The name typed may be anything, of any length: the key holds its digest.
    typed = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    limit = throttle.max_failures
    clear = {f"session:{session}": limit, f"user:{where}:{typed}": limit}
    refund = ({f"address:{where}:{address or 'local'}": max_failures_per_address}
              if max_failures_per_address is not None else {})
    wait = throttle.attempt(clear | refund)
    if wait > 0:
        return SignIn(None, wait)
    try:
        user = verify(users_file, name, password)
    except ValidationError:  # the file, not the password: nothing was checked
        for key in (*clear, *refund):
            throttle.refund(key)
        raise
    if user is not None:
        for key in clear:
            throttle.success(key)
        for key in refund:
            throttle.refund(key)
    return SignIn(user)


def check_account(name: str, *, partner: str, roles: str | Iterable[str]) -> None:
    """Raise :class:`ValidationError` unless the name, partner and roles are acceptable.

    The cheap checks of :func:`add_user`, for asking them before a password.
    """
    parse_roles(roles)
    _check_partner(partner)
    _check_name(name.strip())


def has_password(users_file: Path | str, name: str) -> bool:
    """Whether the user ``name`` exists in the users file with a password."""
    return _password_hash(_read_raw(Path(users_file)), name.strip()) is not None
