"""The Upload page's history: the uploads a viewer may manage; retract one, or re-mark it.

Who may manage an upload is the store's rule (:func:`geo.store.retract_upload`): a user of
the uploading partner, or an admin. The history lists exactly those uploads of the chosen
operation: the viewer's own partner's; an admin's, every partner's; in local demo mode, every
partner's (the demo viewer holds every role; the audit records it as ``local demo``, as the
Admin page does). The store checks again when the change is written, so a list that went
stale in the meantime is refused with the store's message, never a traceback.

After a change the page reruns: the store's version grew (:func:`geo.store.version`), so the
Map page counts its window again from the store (:mod:`geo.mapview`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from geo import store
from geo.access import Viewer
from geo.core.errors import ValidationError

__all__ = [
    "MARKING_CHOICES",
    "choose_marking",
    "history_table",
    "managed_partners",
    "marking_text",
    "show_history",
]

#: The marking choices of the upload form, in its order.
MARKING_CHOICES = ("Our partner only", "All partners", "Selected partners")

#: The name the audit gives the local demo viewer (who has none): as the Admin page's.
DEMO_USER = "local demo"


def managed_partners(viewer: Viewer, partners: list[str], owners: list[str]) -> list[str]:
    """The partners whose uploads ``viewer`` may retract or re-mark.

    Their own partner's; an admin's or the demo viewer's, every partner's: the operation's
    (``partners``) and any other with uploads in the store (``owners``).

    Examples
    --------
    >>> managed_partners(Viewer("ana", "LTU", frozenset({"analyst"})), ["LTU", "POL"], ["LVA"])
    ['LTU']
    >>> managed_partners(Viewer.demo_viewer(), ["LTU", "POL"], ["LVA"])
    ['LTU', 'LVA', 'POL']
    """
    if viewer.demo or viewer.can("admin"):
        return sorted(set(partners) | set(owners))
    return [viewer.partner] if viewer.partner else []


def marking_text(marking: object, owner: object) -> str:
    """Who may see an upload's rows, in words.

    Examples
    --------
    >>> marking_text("", "LTU"), marking_text("ALL", "LTU"), marking_text("LVA,POL", "LTU")
    ('LTU only', 'all partners', 'LTU and LVA, POL')
    """
    text = "" if marking is None or pd.isna(marking) else str(marking)
    if not text:
        return f"{owner} only"
    if text == store.ALL:
        return "all partners"
    return f"{owner} and {text.replace(',', ', ')}"


def history_table(frame: pd.DataFrame, *, timezone: str = "UTC") -> pd.DataFrame:
    """The history as the page shows it: one row per upload, newest first.

    ``frame`` is :func:`geo.store.uploads` with ``retracted=True``; times are shown in
    ``timezone`` (the operation's), which the column names carry.
    """
    zone = f"({timezone})"

    def when(times: pd.Series) -> pd.Series:
        local = times.dt.tz_convert(timezone).dt.strftime("%Y-%m-%d %H:%M")
        return local.where(times.notna(), "")

    retracted = frame["retracted_at"].notna()
    by = frame["retracted_by"].fillna("").astype(str)
    out = pd.DataFrame(
        {
            "Upload": frame["upload_id"].astype(int),
            f"When {zone}": when(frame["uploaded_at"]),
            "Who": frame["uploaded_by"].fillna("—").astype(str),
            "Partner": frame["partner"].astype(str),
            "File": frame["file_name"].astype(str),
            "Rows accepted": frame["accepted"].astype(int),
            "Who may see": [
                marking_text(m, p)
                for m, p in zip(frame["releasable_to"], frame["partner"], strict=True)
            ],
            "Retracted": [
                f"retracted {at} by {who}" if who else f"retracted {at}" if gone else ""
                for gone, at, who in zip(retracted, when(frame["retracted_at"]), by, strict=True)
            ],
        }
    )
    return out.sort_values("Upload", ascending=False, ignore_index=True)


def choose_marking(partners: list[str], owner: str, *, key: str, current: str = "") -> str:
    """The marking widget of the upload form: our partner only, all, or selected partners.

    It starts at ``current`` (a marking). Returns the marking chosen: ``""`` (the owner
    only), ``"ALL"`` or partner ids joined by commas.
    """
    others = [p for p in partners if p != owner]
    named = [p for p in current.split(",") if p] if current != store.ALL else []
    start = 1 if current == store.ALL else 2 if named else 0
    choice = st.radio(
        "Who may see its rows",
        MARKING_CHOICES,
        index=start,
        key=f"{key}_release",
        help="Every row of the upload gets this marking, also rows that kept a marking of "
        "their own from the file.",
    )
    if choice == "All partners":
        return str(store.ALL)
    if choice == "Selected partners":
        chosen = st.multiselect(
            "Release to",
            sorted(set(others) | set(named)),
            default=named,
            key=f"{key}_release_to",
        )
        return ",".join(chosen)
    return ""


def _actor(viewer: Viewer) -> dict[str, Any]:
    """The user, partner and admin flag the store records and checks for ``viewer``."""
    return {
        "user": viewer.name or DEMO_USER,
        "partner": viewer.partner,
        "is_admin": viewer.demo or viewer.can("admin"),
    }


def _who_may(viewer: Viewer) -> str:
    if viewer.demo:
        return (
            "Local demo mode: every partner's uploads are listed and you may retract or "
            f"re-mark any of them; the audit records you as **{DEMO_USER}**."
        )
    if viewer.can("admin"):
        return (
            f"As an admin you may retract or re-mark every partner's uploads; the audit "
            f"records you as **{viewer.name}** of **{viewer.partner}**."
        )
    return (
        f"The uploads of your partner **{viewer.partner}**: you may retract or re-mark them "
        "(so may an admin). The audit records who did it."
    )


def _label(row: pd.Series, timezone: str) -> str:
    """One upload in the selectbox, its time in the operation's zone (as the table above)."""
    when = row["uploaded_at"].tz_convert(timezone).strftime("%Y-%m-%d %H:%M") + f" {timezone}"
    return (
        f"{row['upload_id']} · {row['file_name']} · {row['partner']} · "
        f"{int(row['accepted']):,} rows · {when}"
    )


def _change(message: str, call: Any, *args: Any, **kwargs: Any) -> None:
    """Make a change (a button's callback); keep its outcome for the rerun that follows.

    A callback runs before the rerun, so a click reaches the store even when the rerun no
    longer lists the upload (another user retracted it meanwhile): the store then refuses,
    and the page says why.
    """
    try:
        done = call(*args, **kwargs)
    except ValidationError as exc:
        st.session_state.history_outcome = ("error", f"Nothing was changed: {exc}")
    else:
        st.session_state.history_outcome = ("success", message.format(**done))
        st.session_state.history_round = st.session_state.get("history_round", 0) + 1


def _retract(viewer: Viewer, path: Path, row: pd.Series, key: str) -> None:
    st.markdown("**Retract**")
    n = int(row["accepted"])
    sure = st.checkbox(
        f"Retract upload {row['upload_id']}: its {n:,} rows leave every map; "
        "the audit keeps the record",
        key=f"{key}_retract_ok",
    )
    st.button(
        "Retract",
        key=f"{key}_retract",
        disabled=not sure,
        type="primary",
        on_click=_change,
        args=(
            "Upload {upload_id} ({file_name}) retracted: its {rows:,} rows left every map. "
            "The audit keeps the upload and the retraction.",
            store.retract_upload,
            path,
            int(row["upload_id"]),
        ),
        kwargs=_actor(viewer),
    )


def _remark(viewer: Viewer, path: Path, row: pd.Series, partners: list[str], key: str) -> None:
    st.markdown("**Change who may see it**")
    owner = str(row["partner"])
    current = "" if pd.isna(row["releasable_to"]) else str(row["releasable_to"])
    st.caption(f"Now: {marking_text(current, owner)}.")
    marking = choose_marking(partners, owner, key=key, current=current)
    st.button(
        "Change who may see it",
        key=f"{key}_mark",
        on_click=_change,
        args=(
            "Upload {upload_id} ({file_name}): who may see its {rows:,} rows changed to "
            f"{marking_text(marking, owner)} (the audit keeps the marking before and after).",
            store.mark_upload,
            path,
            int(row["upload_id"]),
            marking or None,
        ),
        kwargs=_actor(viewer),
    )


def show_history(
    viewer: Viewer, path: Path, operation: str, partners: list[str], timezone: str
) -> None:
    """The history section: the uploads ``viewer`` may manage; retract or re-mark one."""
    st.subheader("Upload history")
    st.caption(_who_may(viewer))
    outcome = st.session_state.pop("history_outcome", None)
    if outcome:
        getattr(st, outcome[0])(outcome[1])
    managed = managed_partners(viewer, partners, store.owners(path, retracted=True))
    frame = store.uploads(path, managed, retracted=True, operation=operation)
    if not len(frame):
        st.caption("No uploads yet.")
        return
    st.dataframe(history_table(frame, timezone=timezone), hide_index=True, width="stretch")
    live = frame[frame["retracted_at"].isna()].sort_values("upload_id", ascending=False)
    if not len(live):
        st.caption("Every upload listed is retracted: nothing left to change.")
        return
    rows = {int(r["upload_id"]): r for _, r in live.iterrows()}
    chosen = st.selectbox(
        "Upload to change",
        list(rows),
        format_func=lambda i: _label(rows[i], timezone),
        key="history_upload",
    )
    if chosen is None:
        return
    # a new key per change and per upload: the widgets start afresh at the upload's state
    key = f"history_{st.session_state.get('history_round', 0)}_{chosen}"
    left, right = st.columns(2)
    with left, st.container(border=True):
        _retract(viewer, path, rows[chosen], key)
    with right, st.container(border=True):
        _remark(viewer, path, rows[chosen], partners, key)
