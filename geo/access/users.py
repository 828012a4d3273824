"""The users file behind sign-in: who may sign in, for which partner, with which roles.

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
with mode 0600 under a lock. Passwords are never stored: only a salted scrypt hash
(:mod:`geo.access.passwords`). The roles are those of :mod:`geo.access.roles`.

Users who sign in through an OpenID Connect provider (Streamlit's ``st.login``) are listed too,
under their e-mail address (lower case), with ``"oidc": true`` and no password: the identity
comes from the provider, the partner and the roles from this file. Someone the provider
vouches for but who is not listed here gets no access.

While the file does not exist or lists nobody, the app runs in local demo mode
(:func:`demo_mode`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geo.access.passwords import check_new_password, check_password, hash_password, parse_hash
from geo.access.releasability import is_partner
from geo.access.roles import has_role, parse_roles
from geo.core import settings
from geo.core.errors import ValidationError

__all__ = [
    "FILE_VERSION",
    "User",
    "add_user",
    "check_account",
    "default_users_file",
    "demo_mode",
    "has_password",
    "load_users",
    "remove_user",
]

#: The version of the users file's format, written in its ``"version"``.
FILE_VERSION = 1
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
#: The longest partner id (as :data:`geo.access.releasability.PARTNER_ID` allows), for messages.
_PARTNER_MAX_CHARS = 64


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
        return has_role(self.roles, role)

    @property
    def stamp(self) -> str:
        """A fingerprint of the user's credential: it changes when the password changes.

        A session remembers it at sign-in; a new password (or a switch between password and
        OIDC) signs the user's other sessions out.
        """
        secret = "oidc" if self.oidc else (self.password_hash or "")
        return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def _check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ValidationError(
            f"user name: expected 1–128 letters, digits or . _ @ + - (starting with a letter "
            f"or digit), got {name!r}"
        )
    return name


def _check_partner(partner: str) -> str:
    # The releasability rule's partner ids (is_partner): they appear in markings. The
    # message is the users file's own, worded for `users add --partner`.
    p = partner.strip()
    if not is_partner(p):
        raise ValidationError(
            f"--partner: expected a partner code (letters, digits, '_', '.', '-'; up to "
            f"{_PARTNER_MAX_CHARS} characters, not ALL), got {partner!r}. "
            "Use the partner's short code, e.g. LTU"
        )
    return p


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
        raise _malformed(path, f"expected version {FILE_VERSION}, got {data.get('version')!r}")
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
    if not isinstance(roles, list) or not roles or any(r not in settings.ROLES for r in roles):
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
            parse_hash(password)
        except ValueError as exc:
            raise _malformed(
                path, f"{where}: password is not a valid scrypt hash ({exc})"
            ) from None
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
        name = _check_oidc_user(name, password)
    before = None if oidc else _password_hash(_read_raw(path), name)
    if not oidc and (password or before is None):
        check_new_password(name, password or "")  # (an empty one keeps the current one)
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
                check_new_password(name, password or "")
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


def _check_oidc_user(name: str, password: str | None) -> str:
    """The stored name of an OIDC user (lower case); they are named by e-mail, without password."""
    name = name.lower()
    if "@" not in name:
        raise ValidationError(
            f"user name {name!r}: an OIDC user is named by the e-mail address the identity "
            "provider reports"
        )
    if password is not None:
        raise ValidationError(f"user {name!r}: an OIDC user has no password")
    return name


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
