"""Password sign-in: check a name and password against the users file, throttled.

:func:`verify` checks one password and takes as long for a name that does not exist;
:func:`authenticate` wraps it in the server's :class:`~geo.access.throttle.Throttle`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geo.access.passwords import PASSWORD_MAX_CHARS, check_password, hash_password
from geo.access.throttle import Throttle
from geo.access.users import User, load_users
from geo.core import settings
from geo.core.errors import ValidationError

__all__ = ["SignIn", "authenticate", "verify"]


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random password, checked for unknown users so they take as long."""
    return hash_password(secrets.token_urlsafe(16))


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
    password = password[:PASSWORD_MAX_CHARS]
    if user is None or user.oidc or not user.password_hash:
        check_password(password, _dummy_hash())
        return None
    return user if check_password(password, user.password_hash) else None


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
    >>> from geo.access.users import add_user
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
    clear, refund = _throttle_keys(
        users_file,
        name,
        session=session,
        address=address,
        limit=throttle.max_failures,
        address_limit=max_failures_per_address,
    )
    wait = throttle.attempt(clear | refund)
    if wait > 0:
        return SignIn(None, wait)
    return SignIn(
        _verify_reserved(users_file, name, password, throttle=throttle, clear=clear, refund=refund)
    )


def _throttle_keys(
    users_file: Path | str,
    name: str,
    *,
    session: str,
    address: str | None,
    limit: int,
    address_limit: int | None,
) -> tuple[dict[str, int], dict[str, int]]:
    """The throttle keys of one attempt, each with its limit of failures in a row.

    First the keys a success clears (the session and the user name), then those it only
    gives its slot back to (the client address; none when ``address_limit`` is None).
    """
    where = Path(users_file).resolve()
    # The name typed may be anything, of any length: the key holds its digest.
    typed = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    clear = {f"session:{session}": limit, f"user:{where}:{typed}": limit}
    refund = (
        {f"address:{where}:{address or 'local'}": address_limit}
        if address_limit is not None
        else {}
    )
    return clear, refund


def _verify_reserved(
    users_file: Path | str,
    name: str,
    password: str,
    *,
    throttle: Throttle,
    clear: Collection[str],
    refund: Collection[str],
) -> User | None:
    """:func:`verify`, then settle the slots :meth:`Throttle.attempt` reserved for it.

    A success forgets the failures of the ``clear`` keys and gives the ``refund`` keys their
    slot back (their earlier failures stay). A malformed users file checked nothing: every
    key gets its slot back and the ValidationError goes on.
    """
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
    return user
