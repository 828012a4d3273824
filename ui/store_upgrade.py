"""An older store upgraded when the app first opens it, with its progress on the page.

Opening an older store for writing upgrades it (:func:`geo.store.schema.upgrade`: every
row indexed for the map), and the first Map page would then make its bins: minutes on tens
of millions of rows, with nothing on screen. The app's first write may be a sign-in, so
before anything else :func:`upgrade_if_older` upgrades the store itself
(:func:`geo.store.upgrade_store`, the Map page's hexagons binned as well) inside a status
box that shows the rows done. Once per server process and store; one session at a time
(another session waits, told so, and finds the store upgraded).
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from geo import store
from geo.core.errors import ValidationError
from geo.core.progress import every
from geo.operations import map_layouts
from layers.map import MAP_HEXAGON_M

__all__ = ["upgrade_if_older"]

#: The stores this server found current (no need to look again).
_CURRENT: set[str] = set()

#: One upgrade at a time in this server.
_LOCK = threading.Lock()


def upgrade_if_older(path: Path | str) -> None:
    """Upgrade the store at ``path`` when it is older than this Limes, showing the progress.

    A store that cannot be upgraded now (busy, read-only) is left as it is with a warning:
    readers read an older store as it is, and a writer says why it cannot write.
    """
    key = str(path)
    if key in _CURRENT:
        return
    if not _LOCK.acquire(blocking=False):
        with st.spinner("Another session is upgrading the store for this Limes…"):
            _LOCK.acquire()
    try:
        if store.needs_upgrade(path):
            _upgrade(path)
        _CURRENT.add(key)
    except ValidationError as exc:
        st.warning(f"The store could not be upgraded now: {exc}")
    finally:
        _LOCK.release()


def _upgrade(path: Path | str) -> None:
    """The upgrade, in a status box that shows each step's rows done."""
    with st.status("Upgrading the store for this version of Limes…", expanded=True) as box:
        line = st.empty()

        def show(step: str, done: int, total: int) -> None:
            line.write(f"{step}: {done:,} of {total:,} rows")

        done = store.upgrade_store(
            path,
            layouts=map_layouts(path, hex_size_m=MAP_HEXAGON_M),
            progress=every(show, seconds=1.0),
        )
        binned = f", {done['binned']:,} binned for the map" if done["binned"] else ""
        box.update(
            label=f"Store upgraded: {done['indexed']:,} rows indexed{binned}",
            state="complete",
            expanded=False,
        )
