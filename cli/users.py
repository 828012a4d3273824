"""``python -m geo users add|remove|list``: manage sign-in accounts (the users file)."""

from __future__ import annotations

import argparse
import getpass
import hmac
import sys
from pathlib import Path
from typing import Any

from geo import access
from geo.core import settings
from geo.core.errors import ValidationError


def register(sub: Any) -> None:
    """Add the ``users`` command and its ``add``, ``remove`` and ``list``."""
    u = sub.add_parser(
        "users",
        help="manage sign-in accounts (the users file)",
        description="Add, remove or list users. Passwords are read from the terminal or, with "
        "--password-stdin, from standard input; only a slow salted hash is stored.",
    )
    uu = u.add_subparsers(dest="users_command", required=True)
    ua = uu.add_parser("add", help="add a user or change their partner, roles or password")
    ua.add_argument("name", help="user name (sign-in)")
    ua.add_argument("--partner", required=True, help="the partner the user works for")
    ua.add_argument(
        "--roles", required=True, help=f"comma-separated roles from {', '.join(settings.ROLES)}"
    )
    ua.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (for scripts); an empty line "
        "keeps an existing user's password",
    )
    ua.add_argument(
        "--oidc",
        action="store_true",
        help="the user signs in through the OIDC provider: NAME is their e-mail; "
        "no password is stored",
    )
    ur = uu.add_parser("remove", help="remove a user")
    ur.add_argument("name", help="user name")
    ul = uu.add_parser("list", help="list users (never their passwords)")
    for q in (ua, ur, ul):
        q.add_argument(
            "--users-file",
            type=Path,
            default=None,
            help=f"the users file (default: $LIMES_USERS_FILE, else {settings.USERS_FILE})",
        )
    u.set_defaults(run=run)


def _read_password(args: argparse.Namespace, *, has_one: bool) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    keep = " (Enter keeps the current one)" if has_one else ""
    first = getpass.getpass(f"Password for {args.name}{keep}: ")
    again = getpass.getpass("Repeat the password: ")
    if not hmac.compare_digest(first.encode("utf-8"), again.encode("utf-8")):
        raise ValidationError(f"password for {args.name!r}: the two entries differ. Try again.")
    return first


def _summary(user: access.User) -> dict[str, Any]:
    return {
        "name": user.name,
        "partner": user.partner,
        "roles": [r for r in settings.ROLES if r in user.roles],
        "sign_in": "oidc" if user.oidc else "password",
        "created_at": user.created_at,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``users add|remove|list``; return a JSON-able summary (never a password hash).

    ``args`` carries ``users_command``, ``users_file`` (None: the default users file) and,
    for ``add``, ``name``, ``partner``, ``roles``, ``password_stdin`` and optionally ``oidc``.
    """
    path = Path(args.users_file) if args.users_file is not None else access.default_users_file()
    command = args.users_command
    out: dict[str, Any] = {"users_file": str(path)}
    if command == "add":
        oidc = bool(getattr(args, "oidc", False))
        # Check the cheap arguments before asking for a password.
        access.check_account(args.name, partner=args.partner, roles=args.roles)
        has_one = access.has_password(path, args.name)
        password = None if oidc else _read_password(args, has_one=has_one)
        user, created = access.add_user(
            path, args.name, partner=args.partner, roles=args.roles, password=password, oidc=oidc
        )
        out |= {"action": "added" if created else "updated", "user": _summary(user)}
    elif command == "remove":
        access.remove_user(path, args.name)
        out |= {"action": "removed", "user": args.name}
    elif command == "list":
        out["users"] = [_summary(u) for _, u in sorted(access.load_users(path).items())]
    else:
        raise ValidationError(f"users: expected add, remove or list, got {command!r}")
    out["demo_mode"] = access.demo_mode(path)
    return out
