"""The map's index and bins made ahead of the Map page: by ``reindex`` and by an upgrade.

After ``python -m geo reindex``, or the upgrade of a schema 7 store by a command that writes,
the next :func:`geo.mapview.map_window` bins no row and indexes no row (counted by wrapping
the store's fills, as :mod:`test_map_bins` counts them), and its figures equal those of the
rows path (the same window with every row read and classified: ``window_cells`` answering
None). The progress of the long steps is printed on stderr, the JSON on stdout.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
from test_fine_index import _as_schema_7
from test_map_page_store import WINDOWS
from test_map_store import CORRIDOR_KM, MIN_GAP_M, _ingest

from cli import main
from geo import store
from geo.mapview import map_base, map_window
from geo.mapview import window as mapview_window
from geo.operations import ensure_sample
from geo.store import map_bins, shown_store, spatial_index
from geo.store.bins_table import BINS, BINS_STATE
from geo.store.connection import connect
from geo.store.postgres import map_bins as pg_bins
from geo.store.postgres.bins_table import PACKED as PG_PACKED
from geo.store.schema import SCHEMA_VERSION, schema_version
from layers.map import MAP_HEXAGON_M

VIEWERS: list[tuple[str, ...] | None] = [None, ("LTU",), ("LVA", "POL")]


@pytest.fixture
def filled(tmp_path: Path, scenario: Any) -> Path:
    path = tmp_path / "s.gpkg"
    ensure_sample(path)  # the operation the Map page opens, as the app seeds it
    _ingest(path, scenario)  # rows of "sample" and of "other"
    return path


class _Work:
    """Rows the map's lazy fills read: binned (``map_bins._bin_pages``), indexed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.binned = self.indexed = 0
        for module, name, counter in (
            (map_bins, "_bin_pages", "binned"),
            (pg_bins, "_bin_uploads", "binned"),
            (spatial_index, "_index_pages", "indexed"),
        ):
            monkeypatch.setattr(module, name, self._counted(getattr(module, name), counter))

    def _counted(self, read: Callable[..., int], counter: str) -> Callable[..., int]:
        """``read``, its rows added to ``self.<counter>``."""

        def counted(*args: Any, **kwargs: Any) -> int:
            done = read(*args, **kwargs)
            setattr(self, counter, getattr(self, counter) + done)
            return done

        return counted


def _rows(path: Path) -> int:
    conn = connect(path, busy_timeout_s=5)
    try:
        return int(conn.execute("SELECT count(*) FROM detections").scalar())
    finally:
        conn.close()


def _pages_match_rows(
    path: Path | str, scenario: Any, monkeypatch: pytest.MonkeyPatch, *, binned: int, indexed: int
) -> None:
    """Every view of both operations: the rows the fills read, and the rows path's figures."""
    work = _Work(monkeypatch)
    for operation in ("sample", "other"):
        base = map_base(
            scenario.border, scenario.sensors, path, operation=operation,
            sectors=scenario.sectors, corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
        )  # fmt: skip
        assert base.stored
        for viewers, (tf, tt) in itertools.product(VIEWERS, WINDOWS):
            with monkeypatch.context() as m:  # the rows path: every row read and classified
                m.setattr(mapview_window.store, "window_cells", lambda *a, **k: None)
                want = map_window(
                    base, time_from=tf, time_to=tt, viewers=viewers, hex_size_m=MAP_HEXAGON_M
                )
            got = map_window(
                base, time_from=tf, time_to=tt, viewers=viewers, hex_size_m=MAP_HEXAGON_M
            )
            case = f"{operation} {viewers} {tf}"
            assert got.result.report["partners"] == want.result.report["partners"], case
            assert got.total == want.total, case
            assert got.hexagons["count"].tolist() == want.hexagons["count"].tolist(), case
            assert got.hexagons["flagged"].tolist() == want.hexagons["flagged"].tolist(), case
            reported = {k: v for k, v in got.result.report.items() if k != "generated_at"}
            truth = {k: v for k, v in want.result.report.items() if k != "generated_at"}
            assert reported == truth, case
    assert (work.binned, work.indexed) == (binned, indexed)


def _progress(err: str, step: str, total: int) -> list[int]:
    """The rows done a step printed, checked against its total."""
    found = re.findall(rf"^{re.escape(step)}: ([\d,]+) / ([\d,]+) rows", err, re.MULTILINE)
    assert found, err
    assert {int(t.replace(",", "")) for _, t in found} == {total}, err
    return [int(d.replace(",", "")) for d, _ in found]


def _per_operation(path: Path) -> dict[str, int]:
    conn = connect(path, busy_timeout_s=5)
    try:
        rows = conn.execute("SELECT operation, count(*) FROM detections GROUP BY 1").fetchall()
    finally:
        conn.close()
    return {str(op): int(n) for op, n in rows}


def test_after_reindex_the_map_bins_and_indexes_nothing(
    filled: Path, scenario: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr(map_bins, "_PAGE_ROWS", 500)  # several pages: progress as they go
    monkeypatch.setattr(spatial_index, "_PAGE_ROWS", 700)
    assert main(["reindex", "--store", str(filled)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # stdout: the JSON alone
    n = _rows(filled)
    assert out["store"] == str(filled)
    assert out["indexed"] == n
    assert out["hours"] > 0
    assert out["binned"] == n
    assert out["operations"] == ["other", "sample"]
    assert _progress(captured.err, "indexing", n)[-1] == n
    for operation, rows in _per_operation(filled).items():
        done = _progress(captured.err, f"binning {operation}", rows)
        assert done[0] == 0 and done[-1] == rows
    _pages_match_rows(filled, scenario, monkeypatch, binned=0, indexed=0)


def test_without_reindex_the_first_map_bins_every_row(
    filled: Path, scenario: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lazy fills, the safety net (and what the counts above would see without reindex)."""
    n = _rows(filled)
    _pages_match_rows(filled, scenario, monkeypatch, binned=n, indexed=n)


def _bins_state(path: Path) -> list[tuple[Any, ...]]:
    conn = connect(path, busy_timeout_s=5)
    try:
        return conn.execute(f"SELECT operation, name FROM {BINS_STATE} ORDER BY 1").fetchall()
    finally:
        conn.close()


def test_a_writer_upgrading_a_schema_7_store_makes_the_index_and_bins(
    filled: Path, scenario: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    _as_schema_7(filled)  # a coarse index, as schema 7 left it; no bins yet
    conn = connect(filled, busy_timeout_s=5)
    try:
        assert conn.execute(f"SELECT count(*) FROM {BINS}").scalar() == 0
    finally:
        conn.close()
    assert store.needs_upgrade(filled)
    # a command that writes (here a backup) upgrades the store first, with progress
    assert main(["backup", "--store", str(filled), "--out", str(tmp_path / "copy.gpkg")]) == 0
    captured = capsys.readouterr()
    assert "upgrading the store" in captured.err
    json.loads(captured.out)
    n = _rows(filled)
    assert _progress(captured.err, "indexing", n)[-1] == n
    for operation, rows in _per_operation(filled).items():
        assert _progress(captured.err, f"binning {operation}", rows)[-1] == rows
    assert not store.needs_upgrade(filled)
    conn = connect(filled, busy_timeout_s=5)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
    finally:
        conn.close()
    assert [op for op, _ in _bins_state(filled)] == ["other", "sample"]
    _pages_match_rows(filled, scenario, monkeypatch, binned=0, indexed=0)


def test_an_upgrade_by_any_writer_indexes_every_row(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened for writing without layouts (an upload, a sign-in): the index is made at once."""
    _as_schema_7(filled)
    work = _Work(monkeypatch)
    told: list[tuple[str, int, int]] = []
    store.open_store(filled, progress=lambda *a: told.append(a)).close()
    n = _rows(filled)
    assert work.indexed == n
    assert told[0] == ("indexing", 0, n)
    assert told[-1] == ("indexing", n, n)
    assert np.all(np.diff([d for _, d, _ in told]) >= 0)
    assert store.upgrade_store(filled)["indexed"] == 0  # current now: nothing to do


def test_the_app_upgrades_an_older_store_in_a_status_box(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    _as_schema_7(filled)
    n = _rows(filled)
    monkeypatch.setenv("LIMES_STORE", str(filled))
    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app.py"), default_timeout=180).run()
    assert not at.exception
    boxes = [s for s in at.status if "upgraded" in s.label]
    assert len(boxes) == 1, [s.label for s in at.status]
    assert boxes[0].state == "complete"
    assert f"{n:,} rows indexed" in boxes[0].label
    assert f"{n:,} binned for the map" in boxes[0].label
    assert not store.needs_upgrade(filled)
    assert [op for op, _ in _bins_state(filled)] == ["other", "sample"]


def test_after_reindex_a_postgis_map_bins_nothing(
    pg_store: str, scenario: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    ensure_sample(pg_store)
    _ingest(pg_store, scenario)
    per_operation = {
        op: len(store.visible_detections(pg_store, store.owners(pg_store), operation=op))
        for op in ("sample", "other")
    }
    assert main(["reindex", "--store", pg_store]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["indexed"] == 0  # PostGIS keeps its spatial index itself
    assert out["binned"] == sum(per_operation.values())
    assert out["operations"] == ["other", "sample"]
    for operation, rows in per_operation.items():
        assert _progress(captured.err, f"binning {operation}", rows) == [rows]
    _pages_match_rows(pg_store, scenario, monkeypatch, binned=0, indexed=0)


def _as_layout_4(url: str) -> None:
    """A PostGIS store as layout 4 left it: bins one row per cell, no packed bins."""
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {PG_PACKED}")
        cur.execute("UPDATE limes_store SET schema_version = 4")
        conn.commit()


def test_a_postgis_store_of_layout_4_is_upgraded_by_the_app_and_by_a_writer(
    pg_store: str,
    scenario: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    tmp_path: Path,
) -> None:
    """The app (its status box) and a command that writes upgrade it: no map bins again."""
    from streamlit.testing.v1 import AppTest

    ensure_sample(pg_store)
    _ingest(pg_store, scenario)
    assert main(["reindex", "--store", pg_store]) == 0  # the bins of both operations
    capsys.readouterr()
    _as_layout_4(pg_store)
    assert store.needs_upgrade(pg_store)
    monkeypatch.setenv("LIMES_STORE", pg_store)
    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app.py"), default_timeout=180).run()
    assert not at.exception
    assert [s.label for s in at.status if "upgraded" in s.label] == [
        "Store upgraded: 0 rows indexed"
    ]
    assert not store.needs_upgrade(pg_store)
    _pages_match_rows(pg_store, scenario, monkeypatch, binned=0, indexed=0)

    _as_layout_4(pg_store)  # again, now a writer first: an upload (a URL with a password)
    parts = urlsplit(pg_store)
    with_password = urlunsplit(parts._replace(netloc=parts.netloc.replace("@", ":s3cret@")))
    csv = tmp_path / "more.csv"
    csv.write_text(
        "time,lat,lon,detection_id,source,class\n"
        + "".join(f"2026-11-02T0{i}:00:00Z,54.6,25.3,M{i},radar,person\n" for i in range(1, 6))
    )
    assert main(["ingest", str(csv), "--store", with_password, "--partner", "LTU"]) == 0
    captured = capsys.readouterr()
    assert f"upgrading the store {shown_store(with_password)} for" in captured.err
    assert ":***@" in captured.err
    assert "s3cret" not in captured.err + captured.out
    assert json.loads(captured.out)["accepted"] == 5
    assert not store.needs_upgrade(pg_store)
    _pages_match_rows(pg_store, scenario, monkeypatch, binned=0, indexed=0)
