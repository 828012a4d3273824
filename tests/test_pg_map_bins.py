"""The map's pre-counted bins on PostGIS (geo.store.postgres.map_bins) and its edge rows.

The outside truth is that of :mod:`test_map_bins`: every visible row read into memory
(``store.visible_detections``), placed with ``fine_cells_of`` and ``HexLayout.keys`` and
counted in numpy; for the bins' row-level security, raw queries as the app's role.
"""

from __future__ import annotations

import itertools
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from test_map_bins import (
    EDGE_US,
    LAYOUT,
    NEXT_US,
    OTHER_LAYOUT,
    UPLOADS,
    VIEWERS,
    WINDOWS,
    _cells,
    _put,
    _rows,
    _same,
    _truth,
)
from test_store import put

from geo import store
from geo.access.releasability import may_see
from geo.core.cells import fine_cells_of
from geo.store.postgres import SCHEMA_VERSION
from geo.store.postgres import bins_keep as pg_keep
from geo.store.postgres import map_bins as pg_bins
from geo.store.postgres.bins_table import BINS, BINS_STATE, PACKED
from geo.store.postgres.connection import PgConnection
from geo.store.schema import DAY_US

#: Also a block all but its first and last microsecond (rows lie there): its bins less
#: the rows outside.
PG_WINDOWS = [*WINDOWS, (EDGE_US + 1, NEXT_US - 2)]


@pytest.fixture
def pg_filled(pg_store: str, scenario: Any) -> str:
    store.put_operation(
        pg_store, {"name": "other"}, {"border": scenario.border, "sensors": scenario.sensors}
    )
    for seed, upload in enumerate(UPLOADS):
        _put(pg_store, *upload, seed)
    return pg_store


def _check_all(url: str, layout: Any = LAYOUT, windows: Any = PG_WINDOWS) -> None:
    for viewers in VIEWERS:
        for window in windows:
            for operation in ("sample", "other"):
                want = _truth(url, viewers, operation, window, layout)  # type: ignore[arg-type]
                _same(_cells(url, viewers, operation, window, layout), want)  # type: ignore[arg-type]


def _raw(url: str, sql: str, viewers: str | None = "LTU,LVA,POL,EST") -> list[tuple[Any, ...]]:
    """A raw query as the app's role, stating ``viewers`` (None: no viewer)."""
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url) as conn, conn.cursor() as cur:
        if viewers is not None:
            cur.execute("SELECT set_config('limes.viewers', $1, true)", (viewers,))
            cur.fetchall()
        cur.execute(sql)
        rows = cur.fetchall()
        conn.rollback()
    return rows


def test_pg_window_cells_equal_the_visible_rows_of_every_window(pg_filled: str) -> None:
    assert _truth(pg_filled, ("LTU",), "sample", (None, None)).n.sum() > 2000  # type: ignore[arg-type]
    _check_all(pg_filled)
    newest = int(store.uploads(pg_filled, "LVA")["upload_id"].max())
    name = f"{LAYOUT.name}|16d"
    state = _raw(pg_filled, f"SELECT name, operation, last_upload FROM {BINS_STATE} ORDER BY 2")
    assert state == [(name, "other", newest), (name, "sample", newest)]


def test_pg_bins_follow_an_upload_a_retraction_a_re_marking_and_a_new_layout(
    pg_filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lazy fill, the safety net: changes made by a Limes that kept no bins."""
    monkeypatch.setattr(pg_keep, "keep_upload", lambda *a, **k: 0)
    monkeypatch.setattr(pg_keep, "keep_change", lambda *a, **k: 0)
    # small pages, and bins written every few pages: a fill adds to bins it wrote itself
    monkeypatch.setattr(pg_bins, "_PAGE_ROWS", 500)
    monkeypatch.setattr(pg_bins, "_PENDING_BINS", 700)
    filled: list[int] = []
    fill = pg_bins.fill_bins
    monkeypatch.setattr(pg_bins, "fill_bins", lambda *a: filled.append(fill(*a)) or filled[-1])
    windows = WINDOWS[:1] + WINDOWS[4:6]
    _check_all(pg_filled, windows=windows)
    assert filled == [3000, 300]  # each operation binned once, then read from the bins
    _put(pg_filled, "POL", "ALL", "sample", 400, 50)
    _check_all(pg_filled, windows=windows)
    assert filled[2:] == [400, 0]  # only the new upload binned (none in "other")
    upload = int(store.uploads(pg_filled, "LVA")["upload_id"].iloc[0])
    store.retract_upload(pg_filled, upload, partner="LVA", user="tester", is_admin=False)
    _check_all(pg_filled, windows=windows)
    _put(pg_filled, "LVA", "ALL", "sample", 300, 51)
    _check_all(pg_filled, windows=windows)
    upload = int(store.uploads(pg_filled, "LTU")["upload_id"].iloc[0])
    store.mark_upload(pg_filled, upload, "POL", user="tester", partner="LTU", is_admin=False)
    _check_all(pg_filled, windows=windows)
    _check_all(pg_filled, layout=OTHER_LAYOUT, windows=windows[1:])
    _check_all(pg_filled, windows=windows[1:])
    assert len(_raw(pg_filled, f"SELECT DISTINCT layout FROM {BINS}")) == 2  # one per operation
    store.reindex(pg_filled)  # clears them: binned anew
    assert _raw(pg_filled, f"SELECT count(*) FROM {BINS}") == [(0,)]
    assert _raw(pg_filled, f"SELECT count(*) FROM {BINS_STATE}") == [(0,)]
    _check_all(pg_filled, windows=windows[1:2])


def test_pg_cut_blocks_are_read_a_page_at_a_time(
    pg_filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of blocks a window cuts come in pages of ``_PAGE_ROWS``: memory is one page."""
    _check_all(pg_filled, windows=WINDOWS[:1])  # bins filled with the ordinary pages
    monkeypatch.setattr(pg_bins, "_PAGE_ROWS", 7)
    fetched: list[int] = []
    fetch, rows_binned = PgConnection.fetch_arrow, pg_bins._rows_binned
    reading = [False]

    def recorded(self: PgConnection, sql: str, params: Any = None) -> Any:
        table = fetch(self, sql, params)
        if reading[0]:  # the rows of a cut block
            fetched.append(table.num_rows)
        return table

    def read_rows(*args: Any) -> Any:
        reading[0] = True
        try:
            return rows_binned(*args)
        finally:
            reading[0] = False

    monkeypatch.setattr(PgConnection, "fetch_arrow", recorded)
    monkeypatch.setattr(pg_bins, "_rows_binned", read_rows)
    cut = [WINDOWS[5], WINDOWS[6], PG_WINDOWS[-1]]  # ends inside blocks: rows read
    _check_all(pg_filled, windows=cut)
    assert max(fetched) == 7  # never more than a page at once
    assert fetched.count(7) > 50  # and blocks of many pages


def test_pg_bins_have_the_row_security_of_the_detections(pg_filled: str) -> None:
    """Forced row-level security, default deny, the one rule; the WHERE states it too."""
    _cells(pg_filled, ("EST",), "sample", (None, None))  # type: ignore[arg-type]
    _cells(pg_filled, ("EST",), "other", (None, None))  # type: ignore[arg-type]
    columns = "SELECT owner, releasable_to, block, fine, hex, n FROM limes_map_bins ORDER BY 1, 2, 3, 4, 5"
    every = pd.DataFrame(_raw(pg_filled, columns), columns=["o", "m", "b", "f", "h", "n"])
    assert set(every["o"]) == {"LTU", "LVA", "POL"}
    assert int(every["n"].sum()) == sum(u[3] for u in UPLOADS)
    assert _raw(pg_filled, columns, None) == []  # no viewer stated: nothing
    for setting in ("", "ALL", "LVA') OR true --"):
        assert _raw(pg_filled, columns, setting) == [], setting
    for viewer in ("LTU", "LVA", "POL", "EST", "lva"):
        keep = [may_see(viewer, o, m) for o, m in zip(every["o"], every["m"], strict=True)]
        want = list(every[keep].itertuples(index=False, name=None))
        assert _raw(pg_filled, columns, viewer) == want, viewer
    security = _raw(
        pg_filled,
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
        f"WHERE relname IN ('{BINS}', '{PACKED}') ORDER BY 1",
    )
    assert security == [(BINS, True, True), (PACKED, True, True)]
    # the packed bins: the same bins, the same rows shown to each viewer
    packed = (
        f"SELECT owner, releasable_to, block, unnest(fine), unnest(hex), unnest(n) FROM {PACKED}"
    )
    assert sorted(_raw(pg_filled, packed)) == list(every.itertuples(index=False, name=None))
    assert _raw(pg_filled, packed, None) == []
    for setting in ("", "ALL", "LVA') OR true --"):
        assert _raw(pg_filled, packed, setting) == [], setting
    for viewer in ("LTU", "LVA", "POL", "EST", "lva"):
        keep = [may_see(viewer, o, m) for o, m in zip(every["o"], every["m"], strict=True)]
        want = list(every[keep].itertuples(index=False, name=None))
        assert sorted(_raw(pg_filled, packed, viewer)) == want, viewer


def test_pg_window_positions_in_cells_are_exactly_those_of_the_cells(
    pg_filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edge cells: each row of the cells once (rows on cell corners too), none of other cells.

    The database sends exactly those rows: the stored ``fine_cell`` is numpy's cell, so the
    neighbouring cells (9 times the rows) are not read to be dropped here.
    """
    on_edges = _rows(64, 77)  # rows on the corners of fine cells: in two to four boxes
    glon = 24.01 + 0.01 * (np.arange(64) % 8)
    glat = 55.01 + 0.01 * (np.arange(64) // 8)
    on_edges = on_edges.set_geometry(gpd.points_from_xy(glon, glat), crs="EPSG:4326")
    put(pg_filled, on_edges, partner="LVA", releasable_to="ALL")
    window = WINDOWS[5]
    lo, hi = (pd.Timestamp(t * 1000, tz="UTC").isoformat() for t in window)
    every = store.visible_detections(
        pg_filled, ["LVA", "POL"], operation="sample", time_from=lo, time_to=hi
    )
    lon, lat = every.geometry.x.to_numpy(), every.geometry.y.to_numpy()
    fine = fine_cells_of(lon, lat)
    rng = np.random.default_rng(5)
    unique = np.unique(fine)
    picked = rng.choice(unique, 60, replace=False)
    around = [
        fine_cells_of(glon + dx, glat + dy) for dx in (-0.005, 0.005) for dy in (-0.005, 0.005)
    ]
    wanted = np.unique(np.concatenate([picked, picked + 1, picked - 1, *around]))  # runs
    assert np.isin(fine_cells_of(glon, glat), wanted).all()
    keep = np.isin(fine, wanted)
    assert 0 < keep.sum() < len(fine)
    sent: list[int] = []
    fetch = PgConnection.fetch_arrow

    def recorded(self: PgConnection, sql: str, params: Any = None) -> Any:
        table = fetch(self, sql, params)
        sent.append(table.num_rows)
        return table

    monkeypatch.setattr(PgConnection, "fetch_arrow", recorded)
    pages = list(
        store.window_positions(
            pg_filled, ["LVA", "POL"], operation="sample", time_from=lo, time_to=hi, cells=wanted
        )
    )
    got = sorted(zip(np.concatenate([p.lon for p in pages]).tolist(),
                     np.concatenate([p.lat for p in pages]).tolist(), strict=True))  # fmt: skip
    assert got == sorted(zip(lon[keep].tolist(), lat[keep].tolist(), strict=True))
    assert sum(sent) == keep.sum()


def test_pg_map_window_equals_the_rows_path(
    pg_filled: str, scenario: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's figures and hexagons from the bins equal those from every row read."""
    from geo.mapview import map_base, map_window
    from layers.map import MAP_HEXAGON_M

    base = map_base(
        scenario.border, scenario.sensors, pg_filled, operation="sample",
        sectors=scenario.sectors, detections=scenario.detections,
    )  # fmt: skip
    stamp = [(None, None), *((pd.Timestamp(a * 1000, tz="UTC"), pd.Timestamp(b * 1000, tz="UTC"))
                             for a, b in (WINDOWS[5], WINDOWS[6]))]  # fmt: skip
    calls: list[bool] = []
    window_cells = store.window_cells

    def counted(*args: Any, **kwargs: Any) -> Any:
        got = window_cells(*args, **kwargs)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(store, "window_cells", counted)
    cases = [(v, w) for v in (None, ("LTU",), ("LVA", "POL")) for w in stamp]
    got = [
        map_window(base, time_from=tf, time_to=tt, viewers=v, hex_size_m=MAP_HEXAGON_M)
        for v, (tf, tt) in cases
    ]
    assert len(calls) == len(cases)
    assert all(calls)  # the bins answered every window
    monkeypatch.setattr(store, "window_cells", lambda *a, **k: None)
    for (v, (tf, tt)), mine in zip(cases, got, strict=True):
        want = map_window(base, time_from=tf, time_to=tt, viewers=v, hex_size_m=MAP_HEXAGON_M)
        case = f"{v} {tf}"
        drop = "generated_at"
        assert {k: x for k, x in mine.result.report.items() if k != drop} == {
            k: x for k, x in want.result.report.items() if k != drop
        }, case
        assert mine.total == want.total, case
        for column in ("count", "flagged"):
            assert mine.hexagons[column].tolist() == want.hexagons[column].tolist(), case


def test_a_layout_3_store_gets_the_bins_when_opened(pg_filled: str) -> None:
    """Upgrade: the bins' tables and their row security are made, then filled by the map."""
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(pg_filled) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {BINS}, {BINS_STATE}")
        cur.execute("UPDATE limes_store SET schema_version = 3")
        conn.commit()
    _check_all(pg_filled, windows=WINDOWS[4:5])
    assert _raw(pg_filled, "SELECT schema_version FROM limes_store") == [(SCHEMA_VERSION,)]
    assert _raw(
        pg_filled,
        f"SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = '{BINS}'",
    ) == [(True, True)]
    assert _raw(pg_filled, f"SELECT count(*) FROM {BINS}", None) == [(0,)]


def test_the_stored_fine_cell_is_numpys(pg_filled: str) -> None:
    """PostgreSQL's ``fine_cell`` equals ``fine_cells_of`` on every row, corners too."""
    on_edges = _rows(64, 78)
    glon = 21.0 + 0.01 * np.arange(64)  # fine cell edges, some on index cell edges
    glat = 53.5 + 0.01 * np.arange(64)
    on_edges = on_edges.set_geometry(gpd.points_from_xy(glon, glat), crs="EPSG:4326")
    put(pg_filled, on_edges, partner="LVA", releasable_to="ALL")
    rows = pd.DataFrame(
        _raw(pg_filled, "SELECT ST_X(geom), ST_Y(geom), fine_cell FROM detections"),
        columns=["lon", "lat", "fine"],
    )
    assert len(rows) == sum(u[3] for u in UPLOADS) + 64
    want = fine_cells_of(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    np.testing.assert_array_equal(rows["fine"].to_numpy(np.int64), want)


# Bins kept by every change (geo.store.postgres.bins_keep)
# --------------------------------------------------------------------------------------


class _PgReads:
    """Rows binned by the map's lazy fills (one entry a fill) and by the changes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fills: list[int] = []
        self.kept = 0
        fill, kept = pg_bins.fill_bins, pg_keep._bin_uploads

        def count_fill(*args: Any) -> int:
            self.fills.append(fill(*args))
            return self.fills[-1]

        def count_kept(*args: Any, **kwargs: Any) -> int:
            done = kept(*args, **kwargs)
            self.kept += done
            return done

        monkeypatch.setattr(pg_bins, "fill_bins", count_fill)
        monkeypatch.setattr(pg_keep, "_bin_uploads", count_kept)

    def take(self) -> tuple[list[int], int]:
        """The rows each fill of the map read, and the rows the changes read."""
        got = (self.fills, self.kept)
        self.fills, self.kept = [], 0
        return got


def _pg_first_upload(url: str, partner: str, operation: str = "sample") -> tuple[int, int]:
    ups = store.uploads(url, partner, operation=operation)
    return int(ups["upload_id"].iloc[0]), int(ups["accepted"].iloc[0])


def test_pg_every_change_keeps_the_bins_current_no_map_open_bins_again(
    pg_filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small pages, and bins written every few pages: a change adds to bins it wrote itself
    monkeypatch.setattr(pg_bins, "_PAGE_ROWS", 500)
    monkeypatch.setattr(pg_bins, "_PENDING_BINS", 700)
    reads = _PgReads(monkeypatch)
    windows = [*WINDOWS[:1], *WINDOWS[4:6], PG_WINDOWS[-1]]
    _check_all(pg_filled, windows=windows)  # the first map open bins both operations
    assert reads.take() == ([3000, 300], 0)

    _put(pg_filled, "POL", "ALL", "sample", 400, 50)  # the owner alone stated as viewer
    assert reads.take() == ([], 400)  # the upload bins its own rows, nothing else
    _check_all(pg_filled, windows=windows)
    assert reads.take() == ([], 0)  # and the map open bins nothing

    again = _rows(900, 0)  # the first upload's places and days again: its bins grow
    again["detection_id"] = again["detection_id"] + "-again"
    again["time"] = again["time"] + pd.Timedelta(microseconds=1)
    put(pg_filled, again, partner="LTU", releasable_to=None)
    _put(pg_filled, "LVA", "ALL", "other", 250, 52)  # the other operation's layout
    assert reads.take() == ([], 900 + 250)
    _check_all(pg_filled, windows=windows)
    assert reads.take() == ([], 0)

    upload, rows = _pg_first_upload(pg_filled, "LVA")
    store.retract_upload(pg_filled, upload, partner="LVA", user="tester", is_admin=False)
    assert reads.take() == ([], rows)  # its rows taken out of the bins
    _check_all(pg_filled, windows=windows)
    assert reads.take() == ([], 0)

    _put(pg_filled, "LVA", "ALL", "sample", 300, 51)
    upload, rows = _pg_first_upload(pg_filled, "LTU")
    store.mark_upload(pg_filled, upload, "POL", user="tester", partner="LTU", is_admin=False)
    assert reads.take() == ([], 300 + rows)
    _check_all(pg_filled, windows=windows)
    own = _rows(500, 55)  # rows with markings of their own from the file
    own["releasable_to"] = np.array(["ALL", "LVA", "", "LTU,LVA", "POL"])[np.arange(500) % 5]
    up = put(pg_filled, own, partner="POL", releasable_to="LTU")
    markings = _raw(
        pg_filled,
        f"SELECT count(DISTINCT releasable_to) FROM detections WHERE upload_id = {up.upload_id}",
    )
    assert markings[0][0] >= 4
    _check_all(pg_filled, windows=windows)
    store.mark_upload(pg_filled, up.upload_id, "LVA", user="tester", partner="POL", is_admin=False)
    _check_all(pg_filled, windows=windows)
    assert reads.take() == ([], 500 + 500)

    # a retraction in the other operation: seen by both, bins of "sample" untouched
    every_bin = f"SELECT * FROM {BINS} ORDER BY 1, 2, 3, 4, 5, 6"
    sample = _raw(pg_filled, f"SELECT layout FROM {BINS_STATE} WHERE operation = 'sample'")[0][0]
    before = [b for b in _raw(pg_filled, every_bin) if b[0] == sample]
    upload, rows = _pg_first_upload(pg_filled, "LVA", "other")
    store.retract_upload(pg_filled, upload, partner="LVA", user="tester", is_admin=False)
    assert [b for b in _raw(pg_filled, every_bin) if b[0] == sample] == before
    _check_all(pg_filled, windows=windows)
    assert reads.take() == ([], rows)
    assert all(b[-1] > 0 for b in _raw(pg_filled, every_bin))  # emptied bins deleted


@pytest.mark.parametrize("viewers", VIEWERS)
def test_pg_map_points_with_the_total_known_read_no_count(
    pg_filled: str, viewers: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The map's total given (its counts): no ``count(*)`` of the window, the same points.

    A count reads every row of the window (minutes on tens of millions of rows); the first
    ``limit`` rows in time do not. Truth: every visible row, sorted in memory.
    """
    seen: list[str] = []
    execute = PgConnection.execute

    def recorded(self: PgConnection, sql: str, params: Any = None) -> Any:
        seen.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(PgConnection, "execute", recorded)
    tf, tt = (pd.Timestamp(t * 1000, tz="UTC") for t in (EDGE_US - DAY_US, NEXT_US))
    every = store.visible_detections(
        pg_filled, list(viewers), operation="sample", time_from=tf, time_to=tt
    ).sort_values(["time", "upload_id", "src_row"], kind="stable")
    for limit in (0, 5, len(every) - 1, len(every) + 3):
        seen.clear()
        got = store.map_points(
            pg_filled, list(viewers), operation="sample", time_from=tf, time_to=tt,
            limit=limit, total=len(every),
        )  # fmt: skip
        assert not [s for s in seen if "count(*) FROM detections" in s], limit
        assert got.total == len(every)
        ids = got.detections["detection_id"].tolist()
        if limit >= len(every):  # all of them, any order
            assert sorted(ids) == sorted(every["detection_id"]), limit
        else:  # the first in time
            assert ids == every["detection_id"].head(limit).tolist(), limit


@pytest.mark.parametrize("page_rows", [1, 20, 10_000])
def test_pg_cut_spans_are_read_in_runs_of_hours_of_at_most_a_page(
    pg_filled: str, monkeypatch: pytest.MonkeyPatch, page_rows: int
) -> None:
    """A cut block's span in runs of whole hours: each µs once, at most a page each.

    Truth: the times of every visible row (numpy). A run over a page holds the rows of one
    hour (read then in keyset pages); the rows each run reads are the truth's rows of its
    times.
    """
    from geo.access.releasability import postgres_where
    from geo.store.hours import HOUR_US
    from geo.store.postgres.connection import connect

    monkeypatch.setattr(pg_bins, "_PAGE_ROWS", page_rows)
    viewers = ["LVA", "POL"]
    every = store.visible_detections(pg_filled, viewers, operation="sample")
    times = every["time"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    span = (EDGE_US - 3 * DAY_US + 5 * HOUR_US + 17, EDGE_US + 2 * DAY_US - 3)
    conn = connect(pg_filled)
    try:
        with conn.transaction(viewers, repeatable_read=True):
            rule = postgres_where(viewers)
            runs = pg_bins._hour_runs(conn, rule, "sample", span)
            pages = list(pg_bins._span_pages(conn, rule, "sample", span))
    finally:
        conn.close()
    assert runs[0][0] == span[0]
    assert runs[-1][1] == span[1]
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(runs))
    for lo, hi, rows in runs:
        inside = times[(times >= lo) & (times <= hi)]
        assert rows == len(inside), (lo, hi)
        assert rows <= page_rows or len(np.unique(inside // HOUR_US)) == 1  # one hour's rows
        assert lo == span[0] or lo % HOUR_US == 0
    assert max(p.num_rows for p in pages) <= page_rows
    assert sum(p.num_rows for p in pages) == int(((times >= span[0]) & (times <= span[1])).sum())
    assert len(runs) > 1 if page_rows < 1000 else len(runs) == 1


def test_pg_a_fill_leaves_the_planner_the_bins_figures(pg_filled: str) -> None:
    """After the first fill the bins are analysed: what follows is planned on their figures.

    Unanalysed, PostgreSQL guessed one bin for 1,785,711 (10,000,000 rows) and sorted them
    on disk to sum them (4.2 s against 2.0 s, layout 4's read). Truth: the bins counted as
    every partner.
    """
    _check_all(pg_filled, windows=WINDOWS[:1])
    bins = _raw(pg_filled, f"SELECT count(*) FROM {BINS}")[0][0]
    assert bins > 1000
    tuples = _raw(pg_filled, f"SELECT reltuples FROM pg_class WHERE relname = '{BINS}'")
    assert tuples == [(bins,)]


def test_a_layout_4_store_gets_its_bins_packed_when_opened(pg_filled: str) -> None:
    """Upgrade to layout 5: the packed bins made (row security too) from the bins there are."""
    import adbc_driver_postgresql.dbapi as pg

    _check_all(pg_filled, windows=WINDOWS[:1])  # bins filled
    bins = "SELECT layout, block, owner, releasable_to, fine, hex, n FROM " + BINS
    want = sorted(_raw(pg_filled, bins))
    with pg.connect(pg_filled) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {PACKED}")
        cur.execute("UPDATE limes_store SET schema_version = 4")
        conn.commit()
    store.uploads(pg_filled, "LVA")  # opened: upgraded
    assert _raw(pg_filled, "SELECT schema_version FROM limes_store") == [(SCHEMA_VERSION,)]
    packed = (
        "SELECT layout, block, owner, releasable_to, unnest(fine), unnest(hex), unnest(n) "
        f"FROM {PACKED}"
    )
    assert sorted(_raw(pg_filled, packed)) == want
    assert _raw(pg_filled, packed, None) == []
    _check_all(pg_filled, windows=PG_WINDOWS[4:6])
