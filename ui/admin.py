"""Streamlit glue of the Admin page: its sections, reading widgets and calling the actions.

Users and partners go through :mod:`ui.admin_actions`; the audit log is read from the store.

Every change happens in a button's callback, before the page is drawn again, so the tables
show it at once; the outcome (done, or the reason it was refused) is shown above the section.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from geo import access, store
from geo.access import Viewer
from geo.core import settings
from geo.core.errors import ValidationError
from geo.export import csv_bytes
from geo.operations import Partner
from geo.operations.model import parse_colour
from layers.colour import alike_partner_colours
from layers.style import partner_colors
from ui import admin_actions as actions

__all__ = ["DEMO_USERS", "audit_section", "partners_section", "users_section"]

#: Shown instead of the users section while no users file lists anybody (demo mode).
DEMO_USERS = (
    "Users are managed here once a users file exists: the app runs in local demo mode (no "
    "sign-in). Create the first administrator on the server, then sign in as them:\n\n"
    "`python -m geo users add NAME --partner P --roles admin`\n\n"
    "(see docs/security.md, Accounts; the users file is `{path}`)."
)

_FLASH = "admin_flash"
_SIGN_IN = {"password": "Password", "oidc": "Single sign-on (OIDC)"}


def _flash_area(section: str) -> None:
    """Show (once) the outcome of the last change in ``section``."""
    flash = st.session_state.get(_FLASH)
    if flash and flash[0] == section:
        del st.session_state[_FLASH]
        kind, text = flash[1], flash[2]
        (st.success if kind == "ok" else st.info if kind == "info" else st.error)(text)


def _run(section: str, action: Callable[[], str | None]) -> None:
    """Run a change in a callback; remember its outcome (refusals as their message)."""
    try:
        said = action()
    except actions.NotAudited as exc:
        st.session_state[_FLASH] = (section, "error", str(exc))
        return
    except ValidationError as exc:
        st.session_state[_FLASH] = (section, "error", f"Not done: {exc}")
        return
    if said is None:
        st.session_state[_FLASH] = (section, "info", "Nothing changed.")
    else:
        st.session_state[_FLASH] = (section, "ok", said)


# ---- users and roles ---------------------------------------------------------------------------


def users_section(viewer: Viewer, users_file: Path, store_path: Path) -> None:
    """The users table, and changing, adding and removing users."""
    st.subheader("Users and roles")
    users = access.load_users(users_file)
    if not users:
        st.info(DEMO_USERS.format(path=users_file))
        return
    _flash_area("users")
    st.dataframe(
        actions.user_table(users),
        hide_index=True,
        width="stretch",
        column_config={"sign_in": "sign-in", "created_at": "added (UTC)"},
    )
    partners = actions.known_partners(users, store.operation_records(store_path))
    actor = viewer
    left, middle, right = st.columns(3, gap="large")
    with left:
        _edit_user(users, partners, users_file, store_path, actor)
    with middle:
        _add_user(partners, users_file, store_path, actor)
    with right:
        _remove_user(users, users_file, store_path, actor)


def _partner_box(label: str, partners: list[str], current: str | None, key: str) -> None:
    options = sorted({*partners, *([current] if current else [])})
    st.selectbox(
        label,
        options,
        index=options.index(current) if current in options else None,
        key=key,
        accept_new_options=True,
        placeholder="Choose or type a partner id",
        help="A partner id such as LTU; type a new one to add it",
    )


def _edit_user(
    users: dict[str, access.User], partners: list[str], path: Path, store_path: Path, actor: Viewer
) -> None:
    st.markdown("**Change a user's roles and partner**")
    name = st.selectbox("User", sorted(users), key="admin_edit_user")
    if name is None:
        return
    user = users[name]
    roles_key, partner_key = f"admin_roles__{name}", f"admin_partner__{name}"
    st.multiselect(
        "Roles",
        settings.ROLES,
        default=[r for r in settings.ROLES if r in user.roles],
        key=roles_key,
        help="admin holds every role",
    )
    _partner_box("Partner", partners, user.partner, partner_key)

    def save() -> None:
        def act() -> str | None:
            said = actions.change_account(
                path,
                name,
                partner=str(st.session_state.get(partner_key) or ""),
                roles=st.session_state.get(roles_key) or [],
                actor=actor,
                store_path=store_path,
            )
            return None if said is None else f"{name}: {said}."

        _run("users", act)

    st.button("Save changes", key="admin_save_user", on_click=save)


def _add_user(partners: list[str], path: Path, store_path: Path, actor: Viewer) -> None:
    st.markdown("**Add a user**")
    st.text_input("User name (an e-mail address for single sign-on)", key="admin_new_name")
    _partner_box("Partner", partners, None, "admin_new_partner")
    st.multiselect("Roles", settings.ROLES, default=["commander"], key="admin_new_roles")
    how = st.radio(
        "Sign-in",
        list(_SIGN_IN),
        format_func=_SIGN_IN.__getitem__,
        horizontal=True,
        key="admin_new_signin",
    )
    oidc = how == "oidc"
    st.text_input(
        f"Initial password (at least {settings.PASSWORD_MIN_CHARS} characters)",
        type="password",
        key="admin_new_password",
        disabled=oidc,
        autocomplete="new-password",
    )
    st.text_input(
        "Repeat the password",
        type="password",
        key="admin_new_repeat",
        disabled=oidc,
        autocomplete="new-password",
    )

    def add() -> None:
        state = st.session_state
        name = str(state.get("admin_new_name") or "")
        oidc = state.get("admin_new_signin") == "oidc"

        def act() -> str:
            user = actions.add_account(
                path,
                name,
                partner=str(state.get("admin_new_partner") or ""),
                roles=state.get("admin_new_roles") or [],
                password=None if oidc else state.get("admin_new_password"),
                repeat=None if oidc else state.get("admin_new_repeat"),
                oidc=oidc,
                actor=actor,
                store_path=store_path,
            )
            state["admin_new_name"] = ""
            return f"Added {user.name} ({user.partner})."

        _run("users", act)
        state["admin_new_password"] = state["admin_new_repeat"] = ""  # never kept

    st.button("Add user", key="admin_add_user", on_click=add)


def _remove_user(
    users: dict[str, access.User], path: Path, store_path: Path, actor: Viewer
) -> None:
    st.markdown("**Remove a user**")
    others = sorted(n for n in users if n != actor.name)
    if not others:
        st.caption("You are the only user: nobody else to remove.")
        return
    name = st.selectbox("User to remove", others, index=None, key="admin_remove_user")
    sure = st.checkbox(
        "Yes, remove this user (their open sessions end)",
        key="admin_remove_sure",
        disabled=name is None,
    )

    def remove() -> None:
        def act() -> str:
            actions.remove_account(path, str(name), actor=actor, store_path=store_path)
            return f"Removed {name}."

        _run("users", act)
        st.session_state["admin_remove_user"] = None
        st.session_state["admin_remove_sure"] = False

    st.button("Remove user", key="admin_remove", on_click=remove, disabled=name is None or not sure)


# ---- partners ----------------------------------------------------------------------------------


def _stored_partners(record: dict[str, Any]) -> list[Partner]:
    return [
        Partner(
            str(p["id"]), str(p.get("name") or p["id"]), parse_colour(p.get("colour"), "colour")
        )
        for p in record["partners"]
    ]


def partners_section(viewer: Viewer, store_path: Path) -> None:
    """Per operation, its partners' names and colours, checked against the status colours."""
    st.subheader("Partners")
    records = store.operation_records(store_path)
    if not records:
        st.info(
            "No operation in the store yet. Partners are kept per operation: a planner "
            "creates one with `python -m geo operation create` (or the Operations page)."
        )
        return
    _flash_area("partners")
    names = [r["name"] for r in records]
    op = st.selectbox("Operation", names, key="admin_operation")
    record = records[names.index(op)] if op in names else records[0]
    stored = _stored_partners(record)
    if not stored:
        st.caption("This operation lists no partners.")
        return
    # what the map draws: each partner's own colour, the palette's for the others
    palette = partner_colors((p.id for p in stored), {p.id: p.colour for p in stored if p.colour})
    st.dataframe(_swatches(stored, palette), hide_index=True, key=f"admin_partners__{op}")
    for p in stored:
        _partner_row(op, p, palette[p.id])
    chosen = _chosen(op, stored, palette)
    clashes = actions.colour_clashes(chosen)
    for pid, found in clashes.items():
        colour = actions.hex_colour(next(p.colour for p in chosen if p.id == pid) or ())
        reasons = "\n".join(f"- {c.message()}" for c in found)
        st.warning(
            f"**{pid}**: colour {colour} cannot be used on the map, it is\n\n{reasons}\n\n"
            "Saving is refused until it changes: pick another colour, or turn off "
            "*Own colour* to use the map's palette.",
            icon="⚠️",
        )
    shown = {p.id: p.colour or palette[p.id] for p in chosen}
    for a, b, d in alike_partner_colours(shown):
        st.info(
            f"**{a}** and **{b}** look alike on the map ({actions.hex_colour(shown[a])} and "
            f"{actions.hex_colour(shown[b])}, ΔE00 {d:g}): consider another colour for one "
            "of them.",
            icon="ℹ️",
        )

    def save() -> None:
        def act() -> str | None:
            now = _chosen(op, stored, palette)  # the widgets' values as the click found them
            changed = actions.save_partners(store_path, op, now, actor=viewer)
            return f"Saved: {', '.join(c['id'] for c in changed)}." if changed else None

        _run("partners", act)

    st.button(
        "Save partners",
        key="admin_save_partners",
        on_click=save,
        disabled=bool(clashes),
        help="Refused while a colour is too close to a status colour" if clashes else None,
    )


def _swatches(partners: list[Partner], palette: dict[str, tuple[int, int, int]]) -> Any:
    """The stored partners as a table with each colour shown as a swatch."""
    rows = pd.DataFrame(
        [
            {
                "id": p.id,
                "name": p.name,
                "colour": actions.hex_colour(p.colour or palette[p.id]),
                "source": "own" if p.colour else "map palette",
            }
            for p in partners
        ]
    )
    return rows.style.map(lambda v: f"background-color: {v}; color: {v}", subset=["colour"])


def _keys(op: str, pid: str) -> tuple[str, str, str]:
    """The widget keys of one partner's display name, own-colour toggle and colour."""
    key = f"{op}__{pid}"
    return f"admin_pname__{key}", f"admin_pown__{key}", f"admin_pcolour__{key}"


def _partner_row(op: str, partner: Partner, palette_rgb: tuple[int, int, int]) -> None:
    """One partner's widgets: display name, the map palette's colour or its own."""
    name_key, own_key, colour_key = _keys(op, partner.id)
    c_id, c_name, c_own, c_pick = st.columns([1, 3, 2, 2], vertical_alignment="bottom")
    c_id.markdown(f"**{partner.id}**")
    c_name.text_input("Display name", value=partner.name, key=name_key)
    own = c_own.toggle("Own colour", value=partner.colour is not None, key=own_key)
    start = actions.hex_colour(partner.colour or palette_rgb)
    c_pick.color_picker("Colour", value=start, key=colour_key, disabled=not own)


def _chosen(
    op: str, stored: list[Partner], palette: dict[str, tuple[int, int, int]]
) -> list[Partner]:
    """The partners as the widgets have them now (a partner without widgets: as stored)."""
    state = st.session_state
    out = []
    for p in stored:
        name_key, own_key, colour_key = _keys(op, p.id)
        own = bool(state.get(own_key, p.colour is not None))
        picked = state.get(colour_key, actions.hex_colour(p.colour or palette[p.id]))
        colour = parse_colour(picked, f"partner {p.id}, colour") if own else None
        out.append(Partner(p.id, str(state.get(name_key, p.name)), colour))
    return out


# ---- the audit log -----------------------------------------------------------------------------


def _choices(log: pd.DataFrame, column: str) -> list[str]:
    return sorted({str(v) for v in log[column].dropna()})


def audit_section(store_path: Path) -> None:
    """The audit log, newest first: filtered by action, user and operation; as CSV."""
    st.subheader("Audit log")
    log = store.audit_log(store_path)
    if log.empty:
        st.info("Nothing recorded yet: uploads, operations, sign-ins and changes appear here.")
        return
    left, middle, right = st.columns(3)
    shown = actions.filter_log(
        log,
        actions=left.multiselect("Action", _choices(log, "action"), key="admin_log_action"),
        users=middle.multiselect("User", _choices(log, "user"), key="admin_log_user"),
        operations=right.multiselect(
            "Operation", _choices(log, "operation"), key="admin_log_operation"
        ),
    )
    st.caption(f"{len(shown):,} of {len(log):,} entries, newest first. Times in UTC.")
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={"at": st.column_config.DatetimeColumn("at (UTC)", format="iso8601")},
    )
    st.download_button(
        "Download as CSV",
        data=csv_bytes(shown),
        file_name="limes-audit-log.csv",
        mime="text/csv",
        key="admin_log_csv",
        disabled=shown.empty,
    )
