"""A store a newer Limes wrote is refused; a map extent over a row another tool broke.

Outside truths: the schema number written into the store's own tables (raw SQL), and the
rows read whole (``store.visible_detections``) and tested against the extent in numpy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as pg
import numpy as np
import pyarrow as pa
import pytest
import shapely
from test_map_store import _extent, _ingest, _view_truth
from test_store import put

from geo import store
from geo.access.releasability import visible_mask
from geo.core.errors import ValidationError
from geo.store.connection import connect
from geo.store.geometry import points
from geo.store.map_query import map_points, window_batches
from geo.store.postgres.schema import SCHEMA_VERSION as PG_VERSION
from geo.store.schema import SCHEMA_VERSION

VIEWERS = ["LTU", "LVA", "POL"]


def _made_newer(path: Path | str) -> int:
    """Stamp the store as written by a newer Limes (raw SQL); the number written."""
    if isinstance(path, Path):
        newer = SCHEMA_VERSION + 1
        conn = connect(path, busy_timeout_s=5)
        try:
            conn.execute(
                "UPDATE gpkg_contents SET description = replace(description, "
                f"'store schema {SCHEMA_VERSION})', 'store schema {newer})')"
            )
        finally:
            conn.close()
        return newer
    newer = PG_VERSION + 1
    with pg.connect(path) as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE limes_store SET schema_version = {newer}")
        conn.commit()
    return newer


def _refused(message: str, where: str, found: int, supported: int) -> None:
    assert where in message
    assert "newer Limes" in message
    assert re.search(rf"or older, got {found}\b", message)
    assert f" {supported} or older" in message
    assert "Upgrade Limes" in message


def test_a_store_of_a_newer_limes_is_refused_by_readers_and_writers(
    any_store: Path | str, scenario: Any
) -> None:
    put(any_store, scenario.detections.head(20), partner="LTU")
    before = len(store.visible_detections(any_store, ["LTU"]))
    assert before == 20
    found = _made_newer(any_store)
    supported = SCHEMA_VERSION if isinstance(any_store, Path) else PG_VERSION
    where = str(any_store) if isinstance(any_store, Path) else "limes_"
    with pytest.raises(ValidationError, match="newer Limes") as read:
        store.visible_detections(any_store, ["LTU"])
    _refused(str(read.value), where, found, supported)
    with pytest.raises(ValidationError, match="newer Limes") as written:
        put(any_store, scenario.detections.tail(5), partner="LVA")
    _refused(str(written.value), where, found, supported)
    with pytest.raises(ValidationError, match="newer Limes"):
        store.open_store(any_store).close()
    if isinstance(any_store, Path):  # nothing was written: the stamp is as it was
        conn = connect(any_store, busy_timeout_s=5)
        try:
            rows = conn.execute("SELECT count(*) FROM detections").scalar()
            stamp = conn.execute(
                "SELECT description FROM gpkg_contents WHERE table_name = 'detections'"
            ).scalar()
        finally:
            conn.close()
        assert rows == before
        assert f"store schema {found})" in stamp


def _readable_truth(path: Path, ext: Any) -> int:
    """The visible ``sample`` rows in ``ext``: blobs read raw, decoded one by one with shapely."""
    conn = connect(path, busy_timeout_s=5)
    try:
        table = conn.fetch_arrow(
            {"geom": "blob", "owner": "text", "releasable_to": "text"},
            "FROM detections WHERE operation = 'sample'",
        )
    finally:
        conn.close()
    seen = visible_mask(
        table["owner"].to_numpy(zero_copy_only=False),
        table["releasable_to"].to_numpy(zero_copy_only=False),
        VIEWERS,
    )
    n = 0
    for blob, visible in zip(table["geom"].to_pylist(), seen, strict=True):
        try:
            xy = shapely.get_coordinates(points(pa.array([blob], pa.binary())))
        except (shapely.errors.GEOSException, ValueError, TypeError, IndexError):
            continue
        n += int(visible and len(xy) == 1 and ext.holds(xy[:, 0], xy[:, 1])[0])
    return n


def test_an_extent_skips_a_row_another_tool_made_unreadable(tmp_path: Path, scenario: Any) -> None:
    path = tmp_path / "s.gpkg"
    _ingest(path, scenario)
    ext = _extent(scenario)
    before = _view_truth(path, ext)
    conn = connect(path, busy_timeout_s=5)
    try:  # a row inside the extent made unreadable, as another tool might
        table = conn.fetch_arrow(
            {"fid": "integer", "geom": "blob", "owner": "text"},
            "FROM detections WHERE operation = 'sample' AND owner = 'LTU'",
        )
        xy = shapely.get_coordinates(points(table["geom"]))
        inside = np.flatnonzero(ext.holds(xy[:, 0], xy[:, 1]))
        bad = [int(table["fid"][int(i)].as_py()) for i in inside[:2]]
        conn.execute(f"UPDATE detections SET geom = x'00' WHERE fid IN ({bad[0]}, {bad[1]})")
    finally:
        conn.close()
    truth = _readable_truth(path, ext)
    assert truth == before - 2
    for indexed in (False, True):
        if indexed:
            store.reindex(path)
        got = map_points(path, VIEWERS, operation="sample", extent=ext)
        assert got.total == truth
        x, y = got.detections.geometry.x.to_numpy(), got.detections.geometry.y.to_numpy()
        assert ext.holds(x, y).all()
        pages = window_batches(path, VIEWERS, operation="sample", extent=ext)
        assert sum(len(p.lon) for p in pages) == truth
