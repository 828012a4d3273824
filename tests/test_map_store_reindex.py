"""The map's cell index (geo.store.spatial_index) stays exact through every change to a store.

Limes's own changes keep it right by themselves (re-marking, a backup restored); edits by
another tool are caught up by ``python -m geo reindex``. The truth: every visible row read
and tested against the extent (``_view_truth``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_map_store import _extent, _ingest, _rows, _view_truth
from test_store import put

from cli import main
from geo import store
from geo.core.errors import ValidationError
from geo.store.map_query import map_points

VIEW = ["LTU", "LVA", "POL"]


def _on_map(path: Path, scenario: Any) -> int:
    return int(map_points(path, VIEW, operation="sample", extent=_extent(scenario)).total)


def _point_blob(conn: sqlite3.Connection, fid: int, lon: float, lat: float) -> bytes:
    """The row's GeoPackage blob with the point moved (header kept, x and y replaced)."""
    blob = bytearray(
        conn.execute("SELECT geom FROM detections WHERE fid = ?", (fid,)).fetchone()[0]
    )
    blob[-16:] = np.array([lon, lat], dtype="<f8").tobytes()
    return bytes(blob)


def _move_out(path: Path, scenario: Any, rows: int) -> None:
    """Move ``rows`` visible detections from the middle of the extent far outside it, with
    sqlite3 as another tool could (the blob's header kept, its x and y replaced)."""
    ext = _extent(scenario)
    every = store.visible_detections(path, VIEW, operation="sample")
    x, y = every.geometry.x.to_numpy(), every.geometry.y.to_numpy()
    cx, cy = (ext.west + ext.east) / 2, (ext.south + ext.north) / 2
    middle = (np.abs(x - cx) < (ext.east - ext.west) / 4) & (
        np.abs(y - cy) < (ext.north - ext.south) / 4
    )
    chosen = list(every["detection_id"].astype(str)[middle][:rows])
    assert len(chosen) == rows
    conn = sqlite3.connect(path)
    try:
        for det in chosen:
            (fid,) = conn.execute(
                "SELECT fid FROM detections WHERE detection_id = ?", (det,)
            ).fetchone()
            blob = _point_blob(conn, int(fid), ext.east + 1.0, ext.north + 1.0)
            conn.execute("UPDATE detections SET geom = ? WHERE fid = ?", (blob, fid))
        conn.commit()
    finally:
        conn.close()


def test_re_marking_and_a_restored_backup_keep_the_index_exact(
    tmp_path: Path, scenario: Any
) -> None:
    path = tmp_path / "s.gpkg"
    _ingest(path, scenario)
    assert _on_map(path, scenario) == _view_truth(path, _extent(scenario))  # indexed now
    copy = tmp_path / "copy.gpkg"
    store.backup(path, copy)
    # re-marking: rows leave a view and come back, none moves
    upload = int(store.uploads(path, "LVA")["upload_id"].iloc[0])
    store.mark_upload(path, upload, "", partner="LVA", user="tester", is_admin=False)
    assert _on_map(path, scenario) == _view_truth(path, _extent(scenario))
    store.mark_upload(path, upload, "ALL", partner="LVA", user="tester", is_admin=False)
    assert _on_map(path, scenario) == _view_truth(path, _extent(scenario))
    # the store changes after the backup (a retraction, new rows on the same days) ...
    store.retract_upload(path, upload, partner="LVA", user="tester", is_admin=False)
    put(path, _rows(scenario, 400, 77), partner="POL", releasable_to="ALL")
    assert _on_map(path, scenario) == _view_truth(path, _extent(scenario))
    # ... and the backup is restored over it: the copy's index describes the copy's rows
    shutil.copyfile(copy, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert _on_map(path, scenario) == _view_truth(path, _extent(scenario))


def test_reindex_catches_up_with_points_another_tool_moved(
    tmp_path: Path, scenario: Any, capsys: Any
) -> None:
    path = tmp_path / "s.gpkg"
    _ingest(path, scenario)
    ext = _extent(scenario)
    assert _on_map(path, scenario) == _view_truth(path, ext)  # indexed now
    _move_out(path, scenario, 25)
    truth = _view_truth(path, ext)
    # the index still has them in their old cells (why the command exists)
    assert _on_map(path, scenario) == truth + 25
    assert main(["reindex", "--store", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["store"] == str(path)
    assert _on_map(path, scenario) == truth
    conn = sqlite3.connect(path)
    try:
        n = conn.execute("SELECT count(*) FROM detections").fetchone()[0]
        cells = conn.execute("SELECT count(*) FROM limes_detections_cells").fetchone()[0]
    finally:
        conn.close()
    assert out["indexed"] == n == cells


def test_reindex_of_no_store_is_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such store"):
        store.reindex(tmp_path / "none.gpkg")
