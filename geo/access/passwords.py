"""Passwords: salted scrypt hashes, their check in constant time, and what a new one must be.

Passwords are never stored: only a salted scrypt hash (memory-hard, 32 MiB and ~0.1 s per
guess with the default :data:`geo.core.settings.SCRYPT_N`), compared in constant time. A hash
is one string, ``"scrypt$n$r$p$salt_b64$hash_b64"``, so it carries its own cost parameters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from geo.core import settings
from geo.core.errors import ValidationError

__all__ = [
    "PASSWORD_MAX_CHARS",
    "check_new_password",
    "check_password",
    "hash_password",
    "parse_hash",
]

#: The longest password accepted (and the most of a typed one that is checked).
PASSWORD_MAX_CHARS = 1024
_SALT_BYTES = 16
_HASH_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=settings.SCRYPT_MAXMEM_BYTES,
        dklen=_HASH_BYTES,
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


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """Split a stored hash into ``(n, r, p, salt, digest)``.

    Raises
    ------
    ValueError
        ``encoded`` is not a hash :func:`hash_password` wrote (the message says why), or its
        parameters would need more memory than :data:`geo.core.settings.SCRYPT_MAXMEM_BYTES`.

    Examples
    --------
    >>> parse_hash(hash_password("correct horse battery", n=2**10))[:3]
    (1024, 8, 1)
    >>> parse_hash("plain")
    Traceback (most recent call last):
    ...
    ValueError: not an scrypt hash
    """
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

    Examples
    --------
    >>> check_password("anything", "not a hash")
    False
    """
    try:
        n, r, p, salt, digest = parse_hash(encoded)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


def check_new_password(name: str, password: str) -> str:
    """``password`` if it may become the password of user ``name``; else a ValidationError.

    It must have at least :data:`geo.core.settings.PASSWORD_MIN_CHARS` characters, at most
    :data:`PASSWORD_MAX_CHARS`, and not be the user name (in any case).

    Examples
    --------
    >>> check_new_password("alice", "correct horse battery")
    'correct horse battery'
    >>> check_new_password("alice", "")
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: password for 'alice': empty. Give a password.
    """
    if not password:
        raise ValidationError(f"password for {name!r}: empty. Give a password.")
    if len(password) < settings.PASSWORD_MIN_CHARS:
        raise ValidationError(
            f"password for {name!r}: too short: expected at least "
            f"{settings.PASSWORD_MIN_CHARS} characters, got {len(password)}"
        )
    if len(password) > PASSWORD_MAX_CHARS:
        raise ValidationError(
            f"password for {name!r}: too long: expected at most {PASSWORD_MAX_CHARS} "
            f"characters, got {len(password)}"
        )
    if password.casefold() == name.casefold():
        raise ValidationError(f"password for {name!r}: must not be the user name")
    return password
