"""``python -m geo uploads delete|mark|list`` and ``python -m geo audit``: uploads and the audit.

An upload is retracted (``delete``) or re-marked (``mark``) on behalf of a user of the users
file: a user of the uploading partner, or an admin (:func:`geo.store.retract_upload`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from pathlib import Path
from typing import Any

from cli.options import add_store_arg
from geo.core import settings
from geo.core.errors import ValidationError, describe


def _add_user_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--user",
        required=True,
        help="who does it: a user of the users file, of the uploading partner or an admin",
    )
    p.add_argument(
        "--users-file",
        type=Path,
        default=None,
        help=f"the users file (default: $LIMES_USERS_FILE, else {settings.USERS_FILE})",
    )


def register(sub: Any) -> None:
    """Add the ``uploads`` command (``delete``, ``mark``, ``list``) and ``audit``."""
    u = sub.add_parser(
        "uploads",
        help="retract or re-mark an upload, or list a partner's uploads",
        description="Retract an upload (its rows are served to nobody any more; the upload, "
        "its rows and the retraction stay in the store's audit) or change its "
        "releasability, as a user of the uploading partner or an admin. Prints JSON.",
    )
    uu = u.add_subparsers(dest="uploads_command", required=True)
    ud = uu.add_parser("delete", help="retract an upload: its rows are no longer served")
    ud.add_argument("upload_id", help="the upload (python -m geo uploads list shows them)")
    um = uu.add_parser("mark", help="change who an upload's rows are released to")
    um.add_argument("upload_id", help="the upload (python -m geo uploads list shows them)")
    um.add_argument(
        "--releasable-to",
        required=True,
        help="partners the rows are released to, A,B or ALL ('' for the owner only)",
    )
    for q in (ud, um):
        _add_user_args(q)
        q.set_defaults(upgrades_store=True)  # a writer: an older store is upgraded first
    ul = uu.add_parser("list", help="the uploads of one partner (its own), oldest first")
    ul.add_argument("--as-partner", required=True, help="the partner whose uploads to list")
    ul.add_argument("--operation", help="only this operation's uploads (default: every one)")
    ul.add_argument("--retracted", action="store_true", help="also list retracted uploads")
    for q in (ud, um, ul):
        add_store_arg(q)
    u.set_defaults(run=run_uploads)

    a = sub.add_parser(
        "audit",
        help="the audit log: uploads, sensor versions, retractions, sign-ins",
        description="Print the store's audit log as JSON, newest first: uploads, operations "
        "and their layer versions, retractions and re-markings of uploads, sign-ins.",
    )
    add_store_arg(a)
    a.add_argument("--limit", type=int, help="at most this many entries (the newest)")
    a.add_argument("--operation", help="only this operation's entries")
    a.set_defaults(run=run_audit)


def _user(args: argparse.Namespace) -> Any:
    """The ``--user`` of the users file, or a clear error."""
    from geo import access

    path = Path(args.users_file) if args.users_file is not None else access.default_users_file()
    users = access.load_users(path)
    user = users.get(args.user) or users.get(str(args.user).lower())
    if user is None:
        listed = "it lists nobody" if not users else f"it lists {len(users)} user(s)"
        raise ValidationError(
            describe(
                f"users file {path}",
                "no such user",
                field="--user",
                expected=f"a user of the users file ({listed})",
                got=args.user,
                fix="Nothing was changed. Check --user and --users-file, or add the user with "
                "python -m geo users add",
            )
        )
    return user


def run_uploads(args: argparse.Namespace) -> dict[str, Any]:
    """``uploads delete|mark|list``: what was done, or the uploads, as a JSON-able dict."""
    from geo import store

    command = args.uploads_command
    if command == "list":
        return _list(args)
    path = store.existing_store(args.store)
    user = _user(args)
    who = {"user": user.name, "partner": user.partner, "is_admin": "admin" in user.roles}
    if command == "delete":
        result = store.retract_upload(path, args.upload_id, **who)
    elif command == "mark":
        result = store.mark_upload(path, args.upload_id, args.releasable_to, **who)
    else:
        raise ValidationError(f"uploads: expected delete, mark or list, got {command!r}")
    return {"store": store.shown_store(path), **result}


def _plain(value: Any) -> Any:
    """A frame's value as JSON: times as ISO 8601 text, missing as null."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return None if str(value) == "NaT" else value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _list(args: argparse.Namespace) -> dict[str, Any]:
    from geo import store

    path = store.existing_store(args.store)
    frame = store.uploads(
        path, [args.as_partner], retracted=args.retracted, operation=args.operation
    )
    rows = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return {"store": store.shown_store(path), "partner": args.as_partner, "uploads": rows}


def run_audit(args: argparse.Namespace) -> dict[str, Any]:
    """``audit``: ``{"store", "entries"}``, each entry with its ``detail`` parsed."""
    from geo import store

    path = store.existing_store(args.store)
    frame = store.audit_log(path, limit=args.limit, operation=args.operation)
    entries = []
    for row in frame.to_dict(orient="records"):
        entry = {k: _plain(v) for k, v in row.items()}
        if entry["detail"] is not None:
            with contextlib.suppress(json.JSONDecodeError):  # else text another tool wrote
                entry["detail"] = json.loads(entry["detail"])
        entries.append(entry)
    return {"store": store.shown_store(path), "entries": entries}
