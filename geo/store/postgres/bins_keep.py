"""Keeping the map's bins current in the transaction of every change of the rows (PostGIS).

As :mod:`geo.store.bins_keep` does for a GeoPackage: the bins
(:mod:`geo.store.postgres.map_bins`) of a layout hold every row of their operation when
the state's ``last_upload`` is the store's newest upload and its ``changes`` the store's
retractions and re-markings. Each change keeps a layout current that was current before,
in the change's own transaction, at a cost in proportion to the change:

- an upload (:func:`keep_upload`, from :mod:`geo.store.postgres.upload`, after its hourly
  groups and before the store's ``last_upload`` moves on) bins its new rows into the layout
  of its operation, and every current layout moves on to it;
- a retraction or re-marking (:func:`keep_change`, from :mod:`geo.store.audit`, before the
  rows go or change) takes the upload's rows out of the bins (bins that reach 0 are
  deleted) or moves them to the new marking; either is counted as seen.

Row-level security: an upload's transaction states its owner as the viewer (its rows and
bins are the owner's); a change's states every partner (:func:`geo.store.postgres.dialect.
changing`). Both take :data:`~geo.store.postgres.bins_table.BINS_LOCK`, so a map's lazy fill
(:func:`geo.store.postgres.map_bins.fill_bins`, the safety net for a layout left behind)
and a change never count one row twice. A layout behind is left as it is.
"""

from __future__ import annotations

from geo.store.bins_keep import layout_named
from geo.store.postgres.bins_table import BINS_LOCK, BINS_STATE
from geo.store.postgres.connection import PgConnection
from geo.store.postgres.map_bins import _bin_uploads, _store_now

__all__ = ["keep_change", "keep_upload"]


def keep_upload(conn: PgConnection, upload_id: int, operation: str) -> int:
    """Bin a new upload's rows into the current layouts (the upload's transaction).

    Called before ``limes_store.last_upload`` is set to ``upload_id`` (it still names the
    upload before). Every layout current before the upload moves on to it; the one of
    ``operation`` gets its rows. Returns the rows binned.
    """
    conn.execute(f"SELECT pg_advisory_xact_lock({BINS_LOCK})").fetchall()
    before, changes = _store_now(conn)
    current = conn.execute(
        f"SELECT layout, name, operation FROM {BINS_STATE} "
        "WHERE last_upload >= $1 AND changes = $2",
        (before, changes),
    ).fetchall()
    done = 0
    for layout_id, name, op in current:
        if op == operation:
            layout = layout_named(name)
            if layout is None:
                continue  # left behind: binned anew by the map
            done += _bin_uploads(conn, int(layout_id), layout, op, (upload_id - 1, upload_id))
        conn.execute(
            f"UPDATE {BINS_STATE} SET last_upload = $1 WHERE layout = $2", (upload_id, layout_id)
        ).fetchall()
    return done


def keep_change(conn: PgConnection, upload_id: int, *, marking_to: str | None = None) -> int:
    """Before a retraction (or with ``marking_to`` a re-marking) of an upload: its bins.

    In the change's transaction (every partner stated as viewer), before its rows are
    deleted or re-marked and before ``limes_store.changes`` counts it: each layout that has
    seen every change so far takes the upload's rows out (or moves them to ``marking_to``)
    when it holds them, and counts the change as seen. Returns the rows binned.
    """
    conn.execute(f"SELECT pg_advisory_xact_lock({BINS_LOCK})").fetchall()
    _, changes = _store_now(conn)
    found = conn.execute(
        "SELECT operation FROM uploads WHERE upload_id = $1", (upload_id,)
    ).fetchone()
    current = conn.execute(
        f"SELECT layout, name, operation, last_upload FROM {BINS_STATE} WHERE changes = $1",
        (changes,),
    ).fetchall()
    done = 0
    for layout_id, name, op, last in current:
        if found is not None and op == found[0] and upload_id <= int(last):
            layout = layout_named(name)
            if layout is None:
                continue
            done += _bin_uploads(
                conn, int(layout_id), layout, op, (upload_id - 1, upload_id),
                sign=-1, marking_to=marking_to,
            )  # fmt: skip
        conn.execute(
            f"UPDATE {BINS_STATE} SET changes = $1 WHERE layout = $2", (changes + 1, layout_id)
        ).fetchall()
    return done
