"""Keeping the map's bins current in the transaction of every change of the rows (GeoPackage).

The bins (:mod:`geo.store.map_bins`) of a layout hold every row of their operation when
the state's ``last_upload`` is the store's newest upload and its ``changes`` the audit's
retractions and re-markings. Each change keeps a layout current that was current before,
in the change's own write transaction, at a cost in proportion to the change:

- an upload (:func:`keep_upload`, from :func:`geo.store.bulk.insert_rows`) bins its new
  rows into the layout of its operation, and every current layout moves on to it;
- a retraction (:func:`keep_change`, from :mod:`geo.store.audit`, before the rows go)
  takes the upload's rows out of the bins (bins that reach 0 are deleted); a re-marking
  moves them from their old marking to the new one; either is counted as seen.

A layout behind (binned by an older Limes, or after a change another tool made) is left as
it is: the map's next query bins it as before (:func:`geo.store.map_bins.bin_new_rows`).
The layout is rebuilt from the state's name (:func:`layout_named`). Writers take the store
with ``BEGIN IMMEDIATE`` one at a time, and each reads the state in its own transaction, so
a map query filling the bins and an upload never count one row twice.
"""

from __future__ import annotations

import pyproj

from geo.core.cells import HexLayout
from geo.core.projection import AnalysisCRS
from geo.store.bins_table import BINS_STATE, has_map_bins
from geo.store.connection import Connection
from geo.store.hours import HOURS
from geo.store.map_bins import _bin_pages, _binned_as, _store_now
from geo.store.schema import first_fid, has_hours

__all__ = ["keep_change", "keep_upload", "layout_named"]


def layout_named(name: str) -> HexLayout | None:
    """The layout a state's name stands for (:func:`geo.store.map_bins._binned_as`).

    None when the name is not of this Limes (another block length, a CRS pyproj cannot
    read): such bins are made anew by the map's next query.

    Examples
    --------
    >>> layout_named("EPSG:32634|4000.0|16d").size_m
    4000.0
    """
    parts = name.rsplit("|", 2)
    if len(parts) != 3:
        return None
    definition, size = parts[0], parts[1]
    try:
        acrs = AnalysisCRS(pyproj.CRS.from_user_input(definition), definition, definition)
        layout = HexLayout(acrs, float(size))
    except (pyproj.exceptions.CRSError, ValueError):
        return None
    return layout if _binned_as(layout) == name else None


def keep_upload(
    conn: Connection, upload_id: int, operation: str, ranges: list[tuple[int, int]]
) -> None:
    """Bin a new upload's rows into the current layouts (the caller's write transaction).

    ``ranges``: the ``fid`` ranges (both ends inclusive) holding the upload's new rows and
    no other rows (:func:`geo.store.bulk.insert_rows` knows them). Every layout current
    before the upload moves on to it; the one of ``operation`` gets its rows.
    """
    if not has_map_bins(conn):
        return
    before = int(
        conn.execute(
            f"SELECT ifnull(max(upload_id), 0) FROM uploads WHERE upload_id < {int(upload_id)}"
        ).scalar()
    )
    _, changes = _store_now(conn)
    current = conn.execute(
        f"SELECT layout, name, operation FROM {BINS_STATE} "
        f"WHERE last_upload >= {before} AND changes = {changes}"
    ).fetchall()
    for layout_id, name, op in current:
        if op == operation and ranges:
            layout = layout_named(name)
            if layout is None:
                continue  # left behind: binned anew by the map
            _bin_pages(conn, layout_id, layout, f"+upload_id = {int(upload_id)}", ranges=ranges)
        conn.execute(
            f"UPDATE {BINS_STATE} SET last_upload = {int(upload_id)} WHERE layout = {layout_id}"
        )


def keep_change(conn: Connection, upload_id: int, *, marking_to: str | None = None) -> None:
    """Before a retraction (or with ``marking_to`` a re-marking) of an upload: its bins.

    In the change's write transaction, before its rows are deleted or re-marked and before
    its audit row is written: each layout that has seen every change so far takes the
    upload's rows out (or moves them to ``marking_to``) when it holds them, and counts the
    change as seen.
    """
    if not has_map_bins(conn):
        return
    _, changes = _store_now(conn)
    found = conn.execute(
        f"SELECT operation FROM uploads WHERE upload_id = {int(upload_id)}"
    ).fetchone()
    current = conn.execute(
        f"SELECT layout, name, operation, last_upload FROM {BINS_STATE} WHERE changes = {changes}"
    ).fetchall()
    for layout_id, name, op, last in current:
        if found is not None and op == found[0] and int(upload_id) <= int(last):
            layout = layout_named(name)
            if layout is None:
                continue
            _bin_pages(
                conn,
                layout_id,
                layout,
                f"upload_id = {int(upload_id)}",
                ranges=_upload_ranges(conn, upload_id),
                sign=-1,
                marking_to=marking_to,
            )
        conn.execute(f"UPDATE {BINS_STATE} SET changes = {changes + 1} WHERE layout = {layout_id}")


def _upload_ranges(conn: Connection, upload_id: int) -> list[tuple[int, int]] | None:
    """The ``fid`` ranges of the days holding an upload's rows (hourly summary); None: all.

    Each row is numbered in the day of its time, so the upload's rows lie in the days of
    its hours; consecutive days make one range.
    """
    if not has_hours(conn):
        return None
    days = [
        int(d)
        for (d,) in conn.execute(
            f"SELECT DISTINCT (hour - ((hour % 24) + 24) % 24) / 24 FROM {HOURS} "
            f"WHERE upload_id = {int(upload_id)} ORDER BY 1"
        ).fetchall()
    ]
    ranges: list[tuple[int, int]] = []
    for day in days:
        if ranges and ranges[-1][1] == first_fid(day) - 1:
            ranges[-1] = (ranges[-1][0], first_fid(day + 1) - 1)
        else:
            ranges.append((first_fid(day), first_fid(day + 1) - 1))
    return ranges
