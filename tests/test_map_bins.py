"""The map's pre-counted bins (geo.store.map_bins): counts per fine cell and hexagon.

The outside truth is every visible row read into memory (``store.visible_detections`` for
the viewers, operation and window), placed with ``fine_cells_of`` and ``HexLayout.keys``
and counted in numpy; for rows another tool made unreadable, the stored rows read raw and
decoded one by one with shapely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from test_store import put, report_for

from geo import store
from geo.access.releasability import visible_mask
from geo.core import settings
from geo.core.cells import NO_CELL, NO_HEX, HexLayout, fine_cells_of
from geo.core.projection import choose_analysis_crs
from geo.store import bins_keep, map_bins
from geo.store.bins_table import BINS, BINS_STATE
from geo.store.connection import connect
from geo.store.geometry import points
from geo.store.map_bins import BLOCK_DAYS, CellCounts, window_cells
from geo.store.map_query import window_positions
from geo.store.schema import DAY_US, SCHEMA_VERSION

LAYOUT = HexLayout(choose_analysis_crs([24.0], [55.0]), 4000.0)
OTHER_LAYOUT = HexLayout(choose_analysis_crs([24.0], [55.0]), 2500.0)

#: Uploads: (owner, marking, operation, rows).
UPLOADS = [
    ("LTU", "", "sample", 900),
    ("LVA", "ALL", "sample", 700),
    ("POL", "LTU", "sample", 800),
    ("LTU", "LVA,POL", "sample", 600),
    ("LVA", "ALL", "other", 300),
]
VIEWERS = [("LTU",), ("POL",), ("LVA", "POL"), ("EST",)]

#: The first day of the rows: they span 50 days (several blocks).
START_US = pd.Timestamp("2026-10-10T00:00:00Z").value // 1000
_BLOCK_US = BLOCK_DAYS * DAY_US
#: The first block edge after the rows begin, and the next one.
EDGE_US = (START_US // _BLOCK_US + 1) * _BLOCK_US
NEXT_US = EDGE_US + _BLOCK_US
HOUR = 3_600_000_000


def _iso(us: int) -> str:
    return pd.Timestamp(us * 1000, tz="UTC").isoformat()


WINDOWS = [
    (None, None),
    (EDGE_US, None),  # from a block edge
    (None, EDGE_US - 1),  # to the end of a block
    (EDGE_US, NEXT_US - 1),  # one whole block
    (EDGE_US + DAY_US, NEXT_US + DAY_US),  # most of one block, a day of the next
    (EDGE_US - 3 * DAY_US + 5 * HOUR, NEXT_US + 7 * DAY_US + 7 * HOUR),  # ends inside blocks
    (EDGE_US + 2 * DAY_US, EDGE_US + 5 * DAY_US),  # inside one block
    (EDGE_US - 1, EDGE_US),  # two microseconds across an edge
    (START_US + 20 * HOUR, None),
]


def _rows(n: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` detections over 50 days, some exactly on block edges and a microsecond before."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(21.0, 27.0, n)
    lat = rng.uniform(53.5, 56.5, n)
    time_us = rng.integers(START_US, START_US + 50 * DAY_US, n)
    time_us[:4] = [EDGE_US, EDGE_US - 1, NEXT_US, NEXT_US - 1]
    lon[4:8] = lon[0]  # a few rows sharing a fine cell across blocks
    lat[4:8] = lat[0]
    time_us = np.sort(time_us)
    return gpd.GeoDataFrame(
        {
            "time": pd.Series(time_us.view("datetime64[us]")).dt.tz_localize("UTC"),
            "detection_id": pd.Series([f"B{seed}-{i}" for i in range(n)], dtype="str"),
            "source": pd.Series(["radar"] * n, dtype="str"),
            "src_row": np.arange(1, n + 1, dtype=np.int64),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def _put(path: Path | str, owner: str, marking: str, operation: str, n: int, seed: int) -> None:
    rows = _rows(n, seed)
    if operation == "sample":
        put(path, rows, partner=owner, releasable_to=marking or None)
    else:
        store.ingest(
            path,
            rows,
            report_for(rows),
            file_name="other.csv",
            sha256=f"{seed:064x}",
            partner=owner,
            releasable_to=marking,
            operation=operation,
        )


@pytest.fixture
def filled(tmp_path: Path, scenario: Any) -> Path:
    path = tmp_path / "s.gpkg"
    store.put_operation(
        path, {"name": "other"}, {"border": scenario.border, "sensors": scenario.sensors}
    )
    for seed, upload in enumerate(UPLOADS):
        _put(path, *upload, seed)
    return path


def _counted(fine: np.ndarray, hexes: np.ndarray) -> CellCounts:
    frame = pd.DataFrame({"fine": fine, "hex": hexes})
    got = frame.groupby(["fine", "hex"], sort=True).size()
    return CellCounts(
        got.index.get_level_values(0).to_numpy(np.int64),
        got.index.get_level_values(1).to_numpy(np.int64),
        got.to_numpy(np.int64),
    )


def _truth(
    path: Path, viewers: Any, operation: str, window: Any, layout: HexLayout = LAYOUT
) -> CellCounts:
    lo, hi = (None if t is None else _iso(t) for t in window)
    rows = store.visible_detections(
        path, list(viewers), operation=operation, time_from=lo, time_to=hi
    )
    lon, lat = rows.geometry.x.to_numpy(), rows.geometry.y.to_numpy()
    return _counted(fine_cells_of(lon, lat), layout.keys(lon, lat))


def _cells(
    path: Path, viewers: Any, operation: str, window: Any, layout: HexLayout = LAYOUT
) -> CellCounts | None:
    lo, hi = (None if t is None else _iso(t) for t in window)
    return window_cells(path, viewers, operation=operation, layout=layout, time_from=lo, time_to=hi)


def _same(got: CellCounts | None, want: CellCounts) -> None:
    assert got is not None
    for a, b in zip(got, want, strict=True):
        assert a.dtype == np.int64
        np.testing.assert_array_equal(a, b)


def _check_all(path: Path, layout: HexLayout = LAYOUT, windows: Any = WINDOWS) -> None:
    for viewers in VIEWERS:
        for window in windows:
            for operation in ("sample", "other"):
                want = _truth(path, viewers, operation, window, layout)
                _same(_cells(path, viewers, operation, window, layout), want)


def _state(path: Path) -> list[tuple[Any, ...]]:
    conn = connect(path, busy_timeout_s=5)
    try:
        return conn.execute(
            f"SELECT name, operation, last_upload FROM {BINS_STATE} ORDER BY operation"
        ).fetchall()
    finally:
        conn.close()


def test_window_cells_equal_the_visible_rows_of_every_window(filled: Path) -> None:
    assert _truth(filled, ("LTU",), "sample", (None, None)).n.sum() > 2000
    _check_all(filled)
    # Both ways of reading a block partly inside were taken: its rows in, its rows out.
    assert len({t for w in WINDOWS for t in w}) > 5
    newest = int(store.uploads(filled, "LVA")["upload_id"].max())
    name = f"{LAYOUT.name}|{BLOCK_DAYS}d"
    assert _state(filled) == [(name, "other", newest), (name, "sample", newest)]


def test_after_an_upload_a_retraction_a_re_marking_and_reindex(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small pages, and bins written every few pages: a fill adds to bins it wrote itself
    monkeypatch.setattr(map_bins, "_PAGE_ROWS", 500)
    monkeypatch.setattr(map_bins, "_PENDING_BINS", 700)
    windows = WINDOWS[:1] + WINDOWS[4:6]
    _check_all(filled, windows=windows)  # binned
    _put(filled, "POL", "ALL", "sample", 400, 50)  # only the new upload is binned
    _check_all(filled, windows=windows)
    again = _rows(900, 0)  # the first upload's places and days again: its bins grow
    again["detection_id"] = again["detection_id"] + "-again"
    again["time"] = again["time"] + pd.Timedelta(microseconds=1)
    put(filled, again, partner="LTU", releasable_to=None)
    _check_all(filled, windows=windows)
    upload = int(store.uploads(filled, "LVA")["upload_id"].iloc[0])
    store.retract_upload(filled, upload, partner="LVA", user="tester", is_admin=False)
    _check_all(filled, windows=windows)
    _put(filled, "LVA", "ALL", "sample", 300, 51)  # new rows on the same days (fids again)
    _check_all(filled, windows=windows)
    upload = int(store.uploads(filled, "LTU")["upload_id"].iloc[0])
    store.mark_upload(filled, upload, "POL", user="tester", partner="LTU", is_admin=False)
    _check_all(filled, windows=windows)
    # Another tool moves rows and re-marks them: seen after reindex.
    conn = connect(filled, busy_timeout_s=5)
    try:
        conn.execute(
            "UPDATE detections SET geom = (SELECT geom FROM detections ORDER BY fid LIMIT 1), "
            "releasable_to = 'ALL' WHERE fid IN (SELECT fid FROM detections ORDER BY fid "
            "DESC LIMIT 200)"
        )
    finally:
        conn.close()
    want = _truth(filled, ("EST",), "sample", (None, None))
    assert not np.array_equal(_cells(filled, ("EST",), "sample", (None, None)).n, want.n)  # type: ignore[union-attr]
    store.reindex(filled)
    assert _state(filled) == []
    _check_all(filled, windows=windows)


def test_two_layouts_in_turn_each_exact_one_kept_per_operation(filled: Path) -> None:
    windows = WINDOWS[4:6]
    for layout in (LAYOUT, OTHER_LAYOUT, LAYOUT):
        _check_all(filled, layout, windows)
        name = f"{layout.name}|{BLOCK_DAYS}d"
        assert [r[0] for r in _state(filled)] == [name, name]
    conn = connect(filled, busy_timeout_s=5)
    try:
        layouts = conn.execute(f"SELECT DISTINCT layout FROM {BINS}").fetchall()
    finally:
        conn.close()
    assert len(layouts) == 2  # one per operation


def _raw_truth(path: Path, viewers: list[str], window: Any) -> CellCounts:
    """Every stored row read raw, the rule and window applied here, blobs decoded one by one."""
    conn = connect(path, busy_timeout_s=5)
    try:
        raw = conn.fetch_arrow(
            {"time_us": "integer", "owner": "text", "releasable_to": "text", "geom": "blob"},
            "FROM detections WHERE operation = 'sample'",
        )
    finally:
        conn.close()
    keep = visible_mask(
        raw["owner"].to_numpy(zero_copy_only=False),
        raw["releasable_to"].to_numpy(zero_copy_only=False),
        viewers,
    )
    t = raw["time_us"].to_numpy()
    keep &= (window[0] is None or t >= window[0]) & (window[1] is None or t <= window[1])
    xy = []
    for blob, k in zip(raw["geom"].to_pylist(), keep, strict=True):
        if not k:
            continue
        try:
            got = shapely.get_coordinates(points(pa.array([blob], pa.binary())))
        except (shapely.errors.GEOSException, ValueError, TypeError, IndexError):
            got = np.empty((0, 2))
        xy.append(got[0] if len(got) == 1 else (np.nan, np.nan))
    lon, lat = np.array(xy).T
    return _counted(fine_cells_of(lon, lat), LAYOUT.keys(lon, lat))


def test_rows_with_unreadable_positions_count_under_no_cell(filled: Path) -> None:
    conn = connect(filled, busy_timeout_s=5)
    try:
        conn.execute(
            "UPDATE detections SET geom = x'00' WHERE fid IN "
            "(SELECT fid FROM detections WHERE operation = 'sample' ORDER BY fid LIMIT 7)"
        )
        conn.execute(
            "UPDATE detections SET geom = x'4750000100000000' WHERE fid IN "
            "(SELECT fid FROM detections WHERE operation = 'sample' ORDER BY fid DESC LIMIT 3)"
        )
    finally:
        conn.close()
    for window in (WINDOWS[4], WINDOWS[5], WINDOWS[0]):
        want = _raw_truth(filled, ["LTU", "LVA", "POL"], window)
        got = _cells(filled, ("LTU", "LVA", "POL"), "sample", window)
        _same(got, want)
    assert got is not None
    assert got.fine[0] == NO_CELL
    assert got.hexes[0] == NO_HEX
    assert got.n[0] == 10  # 7 + 3 rows in the whole store
    # window_positions hands them (as NaN) when asked for NO_CELL
    pages = list(
        window_positions(
            filled, ["LTU", "LVA", "POL"], operation="sample", cells=np.array([NO_CELL])
        )
    )
    lon = np.concatenate([p.lon for p in pages])
    assert len(lon) == 10
    assert np.isnan(lon).all()


def test_a_store_that_cannot_bin_now_or_of_an_older_schema_gives_none(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "STORE_BUSY_TIMEOUT_S", 0.2)
    writer = connect(filled, busy_timeout_s=5)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another upload holds the store
        assert _cells(filled, ("LTU",), "sample", WINDOWS[4]) is None
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    # the caller's path: the window's rows read instead, still exact
    pages = list(
        window_positions(
            filled,
            ["LTU"],
            operation="sample",
            time_from=_iso(WINDOWS[4][0]),
            time_to=_iso(WINDOWS[4][1]),
        )
    )
    lon = np.concatenate([p.lon for p in pages])
    lat = np.concatenate([p.lat for p in pages])
    _same(
        _counted(fine_cells_of(lon, lat), LAYOUT.keys(lon, lat)),
        _truth(filled, ("LTU",), "sample", WINDOWS[4]),
    )
    # binned now; then a store of schema 6 read as it is: None
    _same(
        _cells(filled, ("LTU",), "sample", WINDOWS[4]),
        _truth(filled, ("LTU",), "sample", WINDOWS[4]),
    )
    conn = connect(filled, busy_timeout_s=5)
    try:
        conn.execute(f"DROP TABLE {BINS}")
        conn.execute(f"DROP TABLE {BINS_STATE}")
        conn.execute(
            "UPDATE gpkg_contents SET description = "
            f"replace(description, 'store schema {SCHEMA_VERSION}', 'store schema 6')"
        )
    finally:
        conn.close()
    assert _cells(filled, ("LTU",), "sample", WINDOWS[4]) is None
    store.open_store(filled).close()  # opened for writing: upgraded, bins made empty
    _same(
        _cells(filled, ("LTU",), "sample", WINDOWS[4]),
        _truth(filled, ("LTU",), "sample", WINDOWS[4]),
    )


def _sorted_xy(lon: np.ndarray, lat: np.ndarray) -> list[tuple[float, float]]:
    return sorted(zip(lon.tolist(), lat.tolist(), strict=True))


def test_window_positions_in_cells_are_the_in_memory_selection(any_store: Path | str) -> None:
    for seed, upload in enumerate(UPLOADS[:4]):
        _put(any_store, *upload, seed)
    window = WINDOWS[5]
    every = store.visible_detections(
        any_store,
        ["LVA", "POL"],
        operation="sample",
        time_from=_iso(window[0]),
        time_to=_iso(window[1]),
    )
    lon, lat = every.geometry.x.to_numpy(), every.geometry.y.to_numpy()
    fine = fine_cells_of(lon, lat)
    rng = np.random.default_rng(3)
    wanted = np.append(rng.choice(np.unique(fine), 40, replace=False), NO_CELL)
    keep = np.isin(fine, wanted)
    assert 0 < keep.sum() < len(fine)
    pages = list(
        window_positions(
            any_store,
            ["LVA", "POL"],
            operation="sample",
            time_from=_iso(window[0]),
            time_to=_iso(window[1]),
            cells=wanted,
        )
    )
    got_lon = np.concatenate([p.lon for p in pages])
    got_lat = np.concatenate([p.lat for p in pages])
    assert _sorted_xy(got_lon, got_lat) == _sorted_xy(lon[keep], lat[keep])
    counts = _cells(any_store, ("LVA", "POL"), "sample", window)  # type: ignore[arg-type]
    assert counts is not None
    assert int(counts.n[np.isin(counts.fine, wanted)].sum()) == int(keep.sum())


def test_a_backup_carries_the_bins(filled: Path, tmp_path: Path) -> None:
    window = WINDOWS[5]
    _same(_cells(filled, ("POL",), "sample", window), _truth(filled, ("POL",), "sample", window))
    copy = tmp_path / "copy.gpkg"
    store.backup(filled, copy)
    assert _state(copy) == _state(filled) != []  # binned already: nothing to bin again
    _same(_cells(copy, ("POL",), "sample", window), _truth(copy, ("POL",), "sample", window))


def test_bins_of_another_block_length_are_made_anew(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = WINDOWS[5]
    _same(_cells(filled, ("LTU",), "sample", window), _truth(filled, ("LTU",), "sample", window))
    monkeypatch.setattr(map_bins, "BLOCK_DAYS", BLOCK_DAYS // 2)
    monkeypatch.setattr(map_bins, "_BLOCK_US", BLOCK_DAYS // 2 * DAY_US)
    for window in WINDOWS:
        _same(
            _cells(filled, ("LTU",), "sample", window), _truth(filled, ("LTU",), "sample", window)
        )


# Bins kept by every change (geo.store.bins_keep)
# --------------------------------------------------------------------------------------


class _Reads:
    """Rows binned by the map's lazy fill (``map_bins._bin_pages``) and by the changes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lazy = self.fills = self.kept = 0
        lazy, kept = map_bins._bin_pages, bins_keep._bin_pages

        def count_lazy(*args: Any, **kwargs: Any) -> int:
            done = lazy(*args, **kwargs)
            self.lazy += done
            self.fills += 1
            return done

        def count_kept(*args: Any, **kwargs: Any) -> int:
            done = kept(*args, **kwargs)
            self.kept += done
            return done

        monkeypatch.setattr(map_bins, "_bin_pages", count_lazy)
        monkeypatch.setattr(bins_keep, "_bin_pages", count_kept)

    def take(self) -> tuple[int, int, int]:
        """Rows the map's fills read, the fills (each reads the store), rows changes read."""
        got = (self.lazy, self.fills, self.kept)
        self.lazy = self.fills = self.kept = 0
        return got


def _bins(path: Path) -> list[tuple[Any, ...]]:
    conn = connect(path, busy_timeout_s=5)
    try:
        return conn.execute(f"SELECT * FROM {BINS} ORDER BY 1, 2, 3, 4, 5, 6").fetchall()
    finally:
        conn.close()


def _first_upload(path: Path, partner: str) -> tuple[int, int]:
    """The partner's first upload still served: its id and rows."""
    ups = store.uploads(path, partner, operation="sample")
    return int(ups["upload_id"].iloc[0]), int(ups["accepted"].iloc[0])


def test_every_change_keeps_the_bins_current_no_map_open_bins_again(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small pages, and bins written every few pages: a change adds to bins it wrote itself
    monkeypatch.setattr(map_bins, "_PAGE_ROWS", 500)
    monkeypatch.setattr(map_bins, "_PENDING_BINS", 700)
    reads = _Reads(monkeypatch)
    windows = WINDOWS[:1] + WINDOWS[4:6]
    _check_all(filled)  # the first map open bins every row of both operations
    assert reads.take() == (sum(u[3] for u in UPLOADS), 2, 0)

    _put(filled, "POL", "ALL", "sample", 400, 50)
    assert reads.take() == (0, 0, 400)  # the upload bins its own rows, nothing else
    _check_all(filled, windows=windows)
    assert reads.take() == (0, 0, 0)  # and the map open bins nothing

    again = _rows(900, 0)  # the first upload's places and days again: its bins grow
    again["detection_id"] = again["detection_id"] + "-again"
    again["time"] = again["time"] + pd.Timedelta(microseconds=1)
    put(filled, again, partner="LTU", releasable_to=None)
    _put(filled, "LVA", "ALL", "other", 250, 52)  # the other operation's layout
    assert reads.take() == (0, 0, 900 + 250)
    _check_all(filled, windows=windows)
    assert reads.take() == (0, 0, 0)

    upload, rows = _first_upload(filled, "LVA")
    store.retract_upload(filled, upload, partner="LVA", user="tester", is_admin=False)
    assert reads.take() == (0, 0, rows)  # its rows taken out of the bins
    _check_all(filled, windows=windows)
    assert reads.take() == (0, 0, 0)

    _put(filled, "LVA", "ALL", "sample", 300, 51)  # new rows on the same days (fids again)
    upload, rows = _first_upload(filled, "LTU")
    store.mark_upload(filled, upload, "POL", user="tester", partner="LTU", is_admin=False)
    assert reads.take() == (0, 0, 300 + rows)
    _check_all(filled, windows=windows)
    store.mark_upload(filled, upload, "POL", user="tester", partner="LTU", is_admin=False)
    own = _rows(500, 55)  # rows with markings of their own from the file
    own["releasable_to"] = np.array(["ALL", "LVA", "", "LTU,LVA", "POL"])[np.arange(500) % 5]
    up = put(filled, own, partner="POL", releasable_to="LTU")
    conn = connect(filled, busy_timeout_s=5)
    try:
        own_markings = conn.execute(
            f"SELECT count(DISTINCT releasable_to) FROM detections WHERE upload_id = {up.upload_id}"
        ).scalar()
    finally:
        conn.close()
    assert own_markings >= 4
    _check_all(filled, windows=windows)
    store.mark_upload(filled, up.upload_id, "LVA", user="tester", partner="POL", is_admin=False)
    _check_all(filled, windows=windows)
    assert reads.take() == (0, 0, 900 + 500 + 500)

    # a retraction in the other operation: seen by both, bins of "sample" untouched
    before = [b for b in _bins(filled) if b[0] == _layout_id(filled, "sample")]
    upload = int(store.uploads(filled, "LVA", operation="other")["upload_id"].iloc[0])
    store.retract_upload(filled, upload, partner="LVA", user="tester", is_admin=False)
    assert [b for b in _bins(filled) if b[0] == _layout_id(filled, "sample")] == before
    _check_all(filled, windows=windows)
    assert reads.take() == (0, 0, 300)
    assert all(b[-1] > 0 for b in _bins(filled))  # emptied bins deleted


def _layout_id(path: Path, operation: str) -> int:
    conn = connect(path, busy_timeout_s=5)
    try:
        return int(
            conn.execute(
                f"SELECT layout FROM {BINS_STATE} WHERE operation = '{operation}'"
            ).scalar()
        )
    finally:
        conn.close()


def test_a_failed_upload_or_change_leaves_the_bins_as_they_were(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_all(filled, windows=WINDOWS[:1])
    bins, state = _bins(filled), _state(filled)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(store.upload, "_update_contents", fail)  # after rows and bins
    with pytest.raises(OSError, match="disk on fire"):
        _put(filled, "POL", "ALL", "sample", 400, 50)
    monkeypatch.setattr(store.audit, "_recorded", fail)  # after the rows moved
    upload, _ = _first_upload(filled, "LTU")
    with pytest.raises(OSError, match="disk on fire"):
        store.retract_upload(filled, upload, partner="LTU", user="tester", is_admin=False)
    with pytest.raises(OSError, match="disk on fire"):
        store.mark_upload(filled, upload, "ALL", user="tester", partner="LTU", is_admin=False)
    assert (_bins(filled), _state(filled)) == (bins, state)
    monkeypatch.undo()
    reads = _Reads(monkeypatch)
    _check_all(filled, windows=WINDOWS[:1])
    assert reads.take() == (0, 0, 0)


def test_a_change_an_older_limes_made_is_binned_anew(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _Reads(monkeypatch)
    _check_all(filled, windows=WINDOWS[:1])
    reads.take()
    # an upload written without keeping the bins, retracted: the bins never held its rows
    with monkeypatch.context() as m:
        m.setattr(bins_keep, "keep_upload", lambda *a, **k: None)
        _put(filled, "POL", "ALL", "sample", 150, 56)
    newest = int(store.uploads(filled, "POL", operation="sample")["upload_id"].max())
    store.retract_upload(filled, newest, partner="POL", user="tester", is_admin=False)
    _check_all(filled, windows=WINDOWS[:1])
    assert reads.take() == (0, 2, 0)
    # an upload written without keeping the bins: the map bins that upload's rows
    with monkeypatch.context() as m:
        m.setattr(bins_keep, "keep_upload", lambda *a, **k: None)
        _put(filled, "POL", "ALL", "sample", 400, 50)
    assert reads.take() == (0, 0, 0)
    _check_all(filled, windows=WINDOWS[4:6])
    assert reads.take() == (400, 2, 0)  # "other" moves on too
    # later uploads are not kept into a layout behind (the lazy fill would count them twice)
    with monkeypatch.context() as m:
        m.setattr(bins_keep, "keep_upload", lambda *a, **k: None)
        _put(filled, "POL", "ALL", "sample", 100, 53)
    _put(filled, "LTU", "", "sample", 200, 54)
    assert reads.take() == (0, 0, 0)
    _check_all(filled, windows=WINDOWS[4:6])
    assert reads.take() == (300, 2, 0)
    # a retraction written as an older Limes did (rows moved, a raw audit row): all anew
    upload, rows = _first_upload(filled, "LVA")
    conn = connect(filled, busy_timeout_s=5)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"DELETE FROM detections WHERE upload_id = {upload}")
        conn.execute(f"DELETE FROM limes_detection_hours WHERE upload_id = {upload}")
        conn.execute(
            'INSERT INTO audit ("user", partner, action, operation, target) '
            f"VALUES ('old', 'LVA', 'upload.retract', 'sample', '{upload}')"
        )
        conn.execute(f"UPDATE uploads SET retracted_at = 'now' WHERE upload_id = {upload}")
        conn.execute("COMMIT")
    finally:
        conn.close()
    _check_all(filled, windows=WINDOWS[:1])
    total = sum(u[3] for u in UPLOADS) + 400 + 100 + 200 - rows
    assert reads.take() == (total, 2, 0)  # both operations (the count is the store's)


#: A map opening again and again in another process until the file argv[2] appears.
_OPENING = """
import sys
from pathlib import Path
from geo.core.cells import HexLayout
from geo.core.projection import choose_analysis_crs
from geo.store.map_bins import window_cells
layout = HexLayout(choose_analysis_crs([24.0], [55.0]), 4000.0)
while not Path(sys.argv[2]).exists():
    got = window_cells(sys.argv[1], ["LTU", "LVA", "POL"], operation="sample", layout=layout)
    print("none" if got is None else int(got.n.sum()), flush=True)
"""


def test_a_map_filling_in_another_process_and_changes_never_count_twice(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads that keep the bins and uploads that do not (the map's fill bins those, in
    the child's write transactions) interleave with re-markings and a retraction."""
    import subprocess
    import sys

    _check_all(filled, windows=WINDOWS[:1])  # current: the changes keep the bins
    root = Path(__file__).resolve().parents[1]
    stop = filled.parent / "stop"
    child = subprocess.Popen(
        [sys.executable, "-c", _OPENING, str(filled), str(stop)],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # the child is opening maps now
        for seed in range(60, 72):
            with monkeypatch.context() as m:
                if seed % 2:  # as an older Limes: the map's fill bins it
                    m.setattr(bins_keep, "keep_upload", lambda *a, **k: None)
                _put(filled, "POL", "ALL", "sample", 300, seed)
            if seed % 3 == 0:  # and re-markings
                upload = int(store.uploads(filled, "POL", operation="sample")["upload_id"].max())
                marking = "LTU" if seed % 2 else "ALL"
                store.mark_upload(filled, upload, marking, user="t", partner="POL", is_admin=False)
        upload, _ = _first_upload(filled, "LVA")
        store.retract_upload(filled, upload, partner="LVA", user="tester", is_admin=False)
        stop.touch()
        out, _ = child.communicate(timeout=300)
    finally:
        child.kill()
    assert child.returncode == 0
    seen = [int(n) for n in (first + out).split() if n != "none"]
    assert len(seen) >= 10  # most opens counted (busy: None, the rows read instead)
    every = int(_truth(filled, ("LTU", "LVA", "POL"), "sample", (None, None)).n.sum())
    assert min(seen) > 0
    assert max(seen) <= every + 700  # LVA's 700 rows retracted at the end
    reads = _Reads(monkeypatch)
    for viewers in VIEWERS:  # the bins the child filled and the changes kept, as they are
        for window in WINDOWS[:1] + WINDOWS[4:6]:
            want = _truth(filled, viewers, "sample", window, LAYOUT)
            _same(_cells(filled, viewers, "sample", window, LAYOUT), want)
    assert reads.take()[0] <= 300  # the last odd upload, if the child had not binned it
