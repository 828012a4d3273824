"""The cell index at the fine grid (geo.store.spatial_index): its keys, the upgrade, the short window.

Outside truths: :func:`geo.core.cells.fine_cells_of` of each row's point (decoded here from
the blob with shapely), the rows read whole and tested with ``Extent.holds``, and the
window's rows selected in numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from test_map_store import _extent, _ingest, _rows, _view_truth
from test_store import put

from geo import store
from geo.core.cells import NO_CELL, cells_of, fine_cells_of
from geo.store import map_query
from geo.store.connection import connect
from geo.store.geometry import points
from geo.store.map_query import Extent, map_points, window_batches, window_positions
from geo.store.schema import SCHEMA_VERSION, schema_version
from geo.store.spatial_index import CELLS, FINE_SCHEMA, is_current

VIEWERS = ["LTU", "LVA", "POL"]


@pytest.fixture
def filled(tmp_path: Path, scenario: Any) -> Path:
    path = tmp_path / "s.gpkg"
    _ingest(path, scenario)
    return path


def _extents(path: Path, scenario: Any) -> list[Extent]:
    """The test's extent, and small ones (a few fine cells to a few 0.05° cells) at stored rows."""
    lon, lat = _xy_all(path)
    rng = np.random.default_rng(5)
    out = [_extent(scenario)]
    for size in (0.013, 0.03, 0.07, 0.2):
        for i in rng.choice(len(lon), 4, replace=False):
            w, s = lon[i] - rng.uniform(0, size), lat[i] - rng.uniform(0, size / 2)
            out.append(Extent(w, s, w + size, s + size / 2))
    return out


def _index(path: Path) -> dict[int, int]:
    """The index's ``fid -> cell``."""
    conn = connect(path, busy_timeout_s=5)
    try:
        table = conn.fetch_arrow({"cell": "integer", "fid": "integer"}, f"FROM {CELLS}")
    finally:
        conn.close()
    return dict(zip(table["fid"].to_pylist(), table["cell"].to_pylist(), strict=True))


def _fine_truth(path: Path) -> dict[int, int]:
    """``fid -> fine cell`` of every stored row, decoded with shapely (NO_CELL: unreadable)."""
    conn = connect(path, busy_timeout_s=5)
    try:
        table = conn.fetch_arrow({"fid": "integer", "geom": "blob"}, "FROM detections")
    finally:
        conn.close()
    out = {}
    for fid, blob in zip(table["fid"].to_pylist(), table["geom"].to_pylist(), strict=True):
        try:
            xy = shapely.get_coordinates(points(pa.array([blob], pa.binary())))
        except (shapely.errors.GEOSException, ValueError, TypeError, IndexError):
            xy = np.empty((0, 2))
        if len(xy) == 1:
            out[fid] = int(fine_cells_of(xy[:, 0], xy[:, 1])[0])
        else:
            out[fid] = NO_CELL
    return out


def test_the_index_keys_are_the_fine_cells_of_every_row(filled: Path, scenario: Any) -> None:
    for ext in _extents(filled, scenario):
        got = map_points(filled, VIEWERS, operation="sample", extent=ext).total
        assert got == _view_truth(filled, ext)
    assert _index(filled) == _fine_truth(filled)
    coarse = cells_of(*_xy_all(filled))
    assert len(set(_index(filled).values())) > len(set(coarse.tolist()))  # finer than 0.05°
    conn = connect(filled, busy_timeout_s=5)
    try:  # rows another tool broke: no cell, once indexed anew
        conn.execute(
            "UPDATE detections SET geom = x'00' WHERE fid IN "
            "(SELECT fid FROM detections ORDER BY fid LIMIT 5)"
        )
    finally:
        conn.close()
    assert store.reindex(filled)["indexed"] == len(_fine_truth(filled))
    pages = window_positions(filled, VIEWERS, cells=np.array([NO_CELL]))
    assert sum(len(p.lon) for p in pages) == 5
    got, want = _index(filled), _fine_truth(filled)
    assert got == want
    assert sum(cell == NO_CELL for cell in got.values()) == 5


def _xy_all(path: Path) -> tuple[np.ndarray, np.ndarray]:
    every = store.visible_detections(path, VIEWERS)
    return every.geometry.x.to_numpy(), every.geometry.y.to_numpy()


def _as_schema_7(path: Path) -> None:
    """The store as schema 7 left it: a current index of 0.05° cells."""
    conn = connect(path, busy_timeout_s=5)
    try:
        table = conn.fetch_arrow({"fid": "integer", "geom": "blob"}, "FROM detections")
        xy = shapely.get_coordinates(points(table["geom"]))
        coarse = cells_of(xy[:, 0], xy[:, 1])
        fid = table["fid"].to_numpy()
        order = np.lexsort((fid, coarse))
        conn.execute(f"DELETE FROM {CELLS}")
        conn.insert(CELLS, pa.table({"cell": coarse[order], "fid": fid[order]}), constants={})
        newest = conn.execute("SELECT max(upload_id) FROM uploads").scalar()
        retracted = conn.execute(
            "SELECT count(*) FROM audit WHERE action = 'upload.retract'"
        ).scalar()
        conn.execute(
            f"UPDATE limes_cells_state SET last_upload = {newest}, retractions = {retracted}"
        )
        conn.execute(
            "UPDATE gpkg_contents SET description = "
            f"replace(description, 'store schema {SCHEMA_VERSION})', 'store schema 7)')"
        )
        assert schema_version(conn) == 7 < FINE_SCHEMA
        assert is_current(conn)
    finally:
        conn.close()


def test_a_schema_7_store_with_a_coarse_index_is_read_right_then_indexed_anew(
    filled: Path, scenario: Any
) -> None:
    map_points(filled, VIEWERS, operation="sample", extent=_extent(scenario))  # indexed
    _as_schema_7(filled)
    extents = _extents(filled, scenario)
    truth = [_view_truth(filled, ext) for ext in extents]
    assert sum(n > 0 for n in truth) >= 10, truth
    # read as it is (the coarse index not used): exact
    got = [map_points(filled, VIEWERS, operation="sample", extent=e).total for e in extents]
    assert got == truth
    for ext, want in zip(extents, truth, strict=True):
        pages = window_batches(filled, VIEWERS, operation="sample", extent=ext)
        assert sum(len(p.lon) for p in pages) == want
    assert _index(filled) != _fine_truth(filled)  # still the coarse one
    store.open_store(filled).close()  # opened for writing: upgraded, indexed anew
    conn = connect(filled, busy_timeout_s=5)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert is_current(conn)
    finally:
        conn.close()
    assert _index(filled) == _fine_truth(filled)  # indexed anew at the fine grid, by the upgrade
    got = [map_points(filled, VIEWERS, operation="sample", extent=e).total for e in extents]
    assert got == truth
    for ext, want in zip(extents, truth, strict=True):
        pages = window_batches(filled, VIEWERS, operation="sample", extent=ext)
        assert sum(len(p.lon) for p in pages) == want


def _cell_positions(path: Path, wanted: np.ndarray, window: tuple[str, str]) -> list[Any]:
    pages = window_positions(
        path, VIEWERS, operation="sample", time_from=window[0], time_to=window[1], cells=wanted
    )
    return sorted((float(x), float(y)) for p in pages for x, y in zip(p.lon, p.lat, strict=True))


@pytest.mark.parametrize(
    "window",
    [
        ("2026-11-01T00:00:00Z", "2026-11-03T23:59:59Z"),
        ("2026-11-02T10:00:00Z", "2026-11-02T10:30:00Z"),
    ],
)
def test_the_short_window_rule_gives_the_same_rows_both_ways(
    filled: Path, scenario: Any, monkeypatch: pytest.MonkeyPatch, window: tuple[str, str]
) -> None:
    put(filled, _rows(scenario, 300, 77), partner="LTU", releasable_to="ALL")
    every = store.visible_detections(
        filled, VIEWERS, operation="sample", time_from=window[0], time_to=window[1]
    )
    lon, lat = every.geometry.x.to_numpy(), every.geometry.y.to_numpy()
    fine = fine_cells_of(lon, lat)
    wanted = np.unique(fine_cells_of(*_xy_all(filled)))[::4]  # a quarter of the store's cells
    kept = np.isin(fine, wanted)
    want = sorted(zip(lon[kept].tolist(), lat[kept].tolist(), strict=True))
    assert 0 < len(want) < len(lon)
    chosen: list[bool] = []
    pays = map_query._index_pays

    def spy(*args: Any) -> bool:
        chosen.append(pays(*args))
        return chosen[-1]

    monkeypatch.setattr(map_query, "_index_pays", spy)
    assert _cell_positions(filled, wanted, window) == want
    # the whole store's three days: the index; half an hour: the window's rows
    assert chosen == [window[1].startswith("2026-11-03")]
    for forced in (True, False):
        monkeypatch.setattr(map_query, "_index_pays", lambda *_, f=forced: f)
        assert _cell_positions(filled, wanted, window) == want, forced
