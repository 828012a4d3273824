"""The operation a page shows: chosen in the sidebar, kept in ``?op=NAME`` of the URL.

A user sees an operation only when their partner takes part in it (demo mode: every one).
The store's sample operation is created on the server's first run (:func:`seed_sample`).
Each page passes :attr:`Opened.source` to the cached functions of :mod:`ui.shared`: it names
the store, the operation and a stamp of its layers, so a saved sensor version or a replaced
layer is loaded and analysed afresh on the next rerun.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from geo import store
from geo.access import Viewer
from geo.core import settings
from geo.core.errors import ValidationError
from geo.operations import SAMPLE, ensure_sample, operation_stamp, operations_for

__all__ = ["Opened", "choose", "open_or_stop", "operation_ref", "seed_sample", "source_of"]


@dataclass(frozen=True)
class Opened:
    """The operation a page shows.

    ``source``: the key the cached functions of :mod:`ui.shared` take (a scenario folder when
    the store could not be used). ``record``: the store's record (None for a folder).
    """

    name: str
    source: str
    record: dict[str, Any] | None

    @property
    def timezone(self) -> str:
        """The IANA zone the operation's times are shown in."""
        return str((self.record or {}).get("timezone") or "UTC")


def source_of(store_path: Path, name: str) -> str:
    """The cache key of an operation of a store: path, name and a stamp of its contents."""
    return json.dumps(["operation", str(store_path), name, operation_stamp(store_path, name)])


def operation_ref(source: str) -> tuple[Path, str] | None:
    """The store and operation a :func:`source_of` key names; None for a scenario folder."""
    if not source.startswith('["operation"'):
        return None
    _, path, name, _ = json.loads(source)
    return settings.store_name(path), str(name)  # a PostgreSQL URL stays text


@st.cache_resource(show_spinner="Preparing the store…", max_entries=8)
def seed_sample(store_path: str) -> str | None:
    """Create the sample operation in a store once per server; the problem, if it cannot."""
    try:
        ensure_sample(store_path)
    except ValidationError as exc:
        return str(exc)
    return None


def _names(path: Path, viewer: Viewer) -> list[str]:
    """The operations the viewer may open: every one in demo mode, else their partner's."""
    return operations_for(path, None if viewer.demo else viewer.partner)


def _title(path: Path, name: str) -> str:
    record = store.operation_record(path, name)
    title = (record or {}).get("title") or ""
    return f"{name} — {title}" if title and title != name else name


def choose(viewer: Viewer, container: Any = None) -> Opened | None:
    """The "Operation" selector (key ``op``), mirrored into ``?op=``; None when none is open.

    The URL's ``?op=`` opens that operation when the viewer may see it (a link wins over the
    sidebar's choice; the URL then follows the sidebar); otherwise the page says so and opens
    the sample (or the viewer's first operation).
    """
    container = st.sidebar if container is None else container
    path = store_path_for_app()
    problem = seed_sample(str(path))
    if problem is not None:
        container.warning(f"The store cannot be used ({problem}); showing the bundled sample.")
        return Opened(SAMPLE, str(settings.SAMPLE_DIR), None)
    names = _names(path, viewer)
    wanted = st.query_params.get("op")
    if wanted is not None and wanted not in names:
        st.warning(
            f"Operation {wanted!r} is not open to you: it does not exist, or your partner "
            "does not take part in it."
        )
        st.query_params.pop("op", None)
        wanted = None
    if not names:
        return None
    state = st.session_state
    if wanted is not None and wanted != state.get("_op_in_url"):
        state.op = wanted  # a link to an operation: it wins over the sidebar's choice
    elif state.get("op") not in names:
        remembered = state.get("op_name")
        st.session_state.op = (
            wanted
            if wanted is not None
            else remembered
            if remembered in names
            else SAMPLE
            if SAMPLE in names
            else names[0]
        )
    name = container.selectbox("Operation", names, key="op", format_func=lambda n: _title(path, n))
    state.op_name = state._op_in_url = name
    st.query_params["op"] = name
    return Opened(name, source_of(path, name), store.operation_record(path, name))


def store_path_for_app() -> Path:
    """The store the app uses: ``$LIMES_STORE``, else the default."""
    return settings.store_path()


def open_or_stop(viewer: Viewer, container: Any = None) -> Opened:
    """:func:`choose`; with no operation open to the viewer, the page says so and stops.

    When the operation changes (or on the first run), the analysis parameters in the session
    (``corridor_km``, ``min_gap_m``) take the operation's defaults and the time window resets.
    """
    opened = choose(viewer, container)
    if opened is None:
        st.info(
            f"Your partner ({viewer.partner}) takes part in no operation yet. A planner creates "
            "one on the Operations page, naming the partners that take part."
        )
        st.stop()
    state = st.session_state
    if state.get("params_of") != opened.name or "corridor_km" not in state:
        record = opened.record or {}
        state.corridor_km = float(record.get("corridor_km", settings.CORRIDOR_KM))
        state.min_gap_m = float(record.get("min_gap_m", settings.MIN_GAP_M))
        if state.get("params_of") is not None:
            for key in ("win", "playing", "_focus", "window_all"):
                state.pop(key, None)
        state.params_of = opened.name
    return opened
