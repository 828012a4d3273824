"""The map's time summary from the hourly summary table equals the row-based one.

:func:`geo.store.time_summary` reads its histogram, totals, first and last time from
``limes_detection_hours`` (:mod:`geo.store.hours`) and rows only for the bulk's ends. The
truth is the row-based summary of before (:func:`geo.store.map_query.summarise_times`, the
reference kept as it was) over every row the viewers may see
(:func:`geo.store.visible_detections`) and the extra times; and the table itself equals the
groups counted in pandas from the stored rows. Both back-ends; random times with ties and
times on the hour, several partners and markings, two operations, five viewer cases;
after an upload, a retraction, a re-marking, an upgrade of a store without the table,
``reindex`` after another tool edited rows, and an upload that failed midway.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pg_util import csv_report

from geo import store
from geo.store import hours, map_query
from geo.store import upload as gpkg_upload
from geo.store.postgres import upload as pg_upload
from geo.store.schema import SCHEMA_VERSION

#: Uploads: (owner, upload marking, per-row markings or None, operation, rows).
UPLOADS: list[tuple[str, str, list[str | None] | None, str, int]] = [
    ("LTU", "", None, "sample", 400),
    ("LVA", "ALL", None, "sample", 300),
    ("POL", "LTU", ["LVA", None, "ALL", "LTU,POL"], "sample", 350),
    ("LTU", "LVA,POL", None, "sample", 250),
    ("LVA", "ALL", None, "other", 200),
    ("EST", "", ["LVA", None], "other", 150),
]
VIEWERS: list[tuple[str, ...]] = [("LTU",), ("POL",), ("LVA", "POL"), ("EST",), ("XYZ",)]
OPERATIONS = ["sample", "other", None]
START_US = pd.Timestamp("2026-11-01T00:00:00Z").value // 1000
HOUR = hours.HOUR_US


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Times over three days: ties, many exactly on the hour, a few far outliers."""
    t = rng.integers(START_US, START_US + 3 * 86_400_000_000, n)
    t[: n // 5] = START_US + rng.integers(0, 72, n // 5) * HOUR  # on the hour
    t[n // 5 : n // 3] = t[: n // 3 - n // 5]  # ties
    t[-2:] = [START_US - 40 * 86_400_000_000 - 1, START_US + 20 * 86_400_000_000 + 7]
    return t


def _columns(n: int, seed: int, own: list[str | None] | None) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {
        "time": pd.Series(_times(rng, n).view("datetime64[us]")).dt.tz_localize("UTC"),
        "lon": rng.uniform(21.0, 28.0, n),
        "lat": rng.uniform(53.9, 56.4, n),
        "detection_id": pd.array([f"H{seed}-{i}" for i in range(n)], dtype="str"),
    }
    if own is not None:
        columns["releasable_to"] = np.array([own[i % len(own)] for i in range(n)], dtype=object)
    return columns


def _upload(path: Path | str, k: int) -> store.IngestResult:
    owner, marking, own, operation, n = UPLOADS[k]
    return store.ingest(
        path,
        _columns(n, k, own),
        csv_report(n),
        file_name=f"hours{k}.csv",
        sha256=f"{k + 1:064x}",
        partner=owner,
        releasable_to=marking,
        operation=operation,
    )


@pytest.fixture
def filled(any_store: Path | str) -> Path | str:
    store.put_operation(any_store, {"name": "other"}, _layers())
    for k in range(len(UPLOADS)):
        assert _upload(any_store, k).accepted == UPLOADS[k][4]
    return any_store


def _layers() -> dict[str, Any]:
    from geo.core.settings import SAMPLE_DIR
    from geo.inputs.scenario import load_scenario

    sc = load_scenario(SAMPLE_DIR)
    return {"border": sc.border, "sensors": sc.sensors}


def _reference(
    path: Path | str, viewers: tuple[str, ...], operation: str | None, extra: np.ndarray
) -> map_query.StoreTimes:
    """The row-based summary: every visible row's time and the extra ones, summarised row by row."""
    rows = store.visible_detections(path, list(viewers), operation=operation)
    stored = rows["time"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
    return map_query._memory_times(np.concatenate([stored, extra]).astype(np.int64), 0.95)


def _same(got: map_query.StoreTimes, want: map_query.StoreTimes, case: str) -> None:
    assert (got.total, got.first_us, got.last_us, got.bulk) == (
        want.total, want.first_us, want.last_us, want.bulk,
    ), case  # fmt: skip
    for field in ("hours", "counts", "on_hour"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=case)


def _check_summaries(path: Path | str) -> None:
    """Every viewer case and operation, without and with extra times: as the rows say."""
    extra = np.array([START_US + 5 * HOUR, START_US + 5 * HOUR, START_US + 7 * HOUR + 1])
    for viewers in VIEWERS:
        assert not store.has_visible(path, viewers, operation="no-such-operation")
        for operation in OPERATIONS:
            rows = store.visible_detections(path, list(viewers), operation=operation)
            assert store.has_visible(path, viewers, operation=operation) == (len(rows) > 0), (
                f"{viewers} {operation}"
            )
            for more in (np.zeros(0, dtype=np.int64), extra):
                case = f"{viewers} {operation} extra={len(more)}"
                got = store.time_summary(path, viewers, operation=operation, extra_us=more)
                _same(got, _reference(path, viewers, operation, more), case)


def _table_and_rows(path: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary table, and the same groups counted in pandas from the stored rows."""
    columns = "upload_id, operation, owner, releasable_to, time_us"
    table_sql = f"SELECT {', '.join(hours.COLUMNS)} FROM {hours.HOURS}"
    if isinstance(path, Path):
        conn = sqlite3.connect(path)
        try:
            table = pd.read_sql_query(table_sql, conn)
            rows = pd.read_sql_query(f"SELECT {columns} FROM detections", conn)
        finally:
            conn.close()
    else:
        table, rows = _pg_frames(path, table_sql, f"SELECT {columns} FROM detections")
    rows["hour"] = rows["time_us"] // HOUR
    rows["on"] = (rows["time_us"] % HOUR == 0).astype("int64")
    key = ["upload_id", "operation", "owner", "releasable_to", "hour"]
    counted = rows.groupby(key).agg(
        n=("time_us", "size"),
        on_hour=("on", "sum"),
        min_us=("time_us", "min"),
        max_us=("time_us", "max"),
    )
    return _ordered(table, key), _ordered(counted.reset_index(), key)


def _ordered(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    numbers = {
        c: "int64" for c in hours.COLUMNS if c not in ("operation", "owner", "releasable_to")
    }
    out = frame.astype(numbers)[list(hours.COLUMNS)]
    return out.sort_values(key).reset_index(drop=True)


def _pg_frames(url: str, *queries: str) -> list[pd.DataFrame]:
    """Query results as the app's role that states every partner (row-level security)."""
    import adbc_driver_postgresql.dbapi as pg

    out = []
    with pg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('limes.viewers', 'LTU,LVA,POL,EST', true)")
        cur.fetchall()
        for sql in queries:
            cur.execute(sql)
            out.append(cur.fetch_arrow_table().to_pandas())
        conn.rollback()
    return out


def _check_table(path: Path | str) -> None:
    table, counted = _table_and_rows(path)
    assert len(counted)
    pd.testing.assert_frame_equal(table, counted)


def test_the_summary_equals_the_rows_after_uploads(filled: Path | str) -> None:
    _check_table(filled)
    _check_summaries(filled)


def test_the_summary_follows_retraction_and_re_marking(filled: Path | str) -> None:
    store.retract_upload(filled, 2, user="root", partner="EU", is_admin=True)
    _check_table(filled)
    _check_summaries(filled)
    # re-marking: rows with file markings of their own get the new one too (groups merge)
    store.mark_upload(filled, 6, "POL", user="root", partner="EU", is_admin=True)
    store.mark_upload(filled, 1, "ALL", user="root", partner="EU", is_admin=True)
    _check_table(filled)
    _check_summaries(filled)
    # the retracted file again (its rows may take the retracted rows' fids)
    assert _upload(filled, 1).accepted == UPLOADS[1][4]
    _check_table(filled)
    _check_summaries(filled)


def test_an_upload_that_fails_midway_leaves_the_summary_as_the_rows(
    filled: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> list[str]:
        raise OSError("disk on fire")

    # after the rows and their groups are written, before the commit
    monkeypatch.setattr(
        pg_upload if isinstance(filled, str) else gpkg_upload, "upload_errors", fail
    )
    with pytest.raises(OSError, match="disk on fire"):
        store.ingest(
            filled, _columns(120, 99, None), csv_report(120), file_name="late.csv",
            sha256=f"{99:064x}", partner="LVA", releasable_to="ALL",
        )  # fmt: skip
    monkeypatch.undo()
    _check_table(filled)
    _check_summaries(filled)


def _edit_rows(path: Path | str) -> None:
    """Another tool moves some rows in time, deletes some and re-marks one: the table lags."""
    edits = [
        f"UPDATE detections SET time_us = time_us + {HOUR} + 1 WHERE upload_id IN (1, 4)",
        "DELETE FROM detections WHERE upload_id = 2 AND detection_id LIKE 'H1-1%'",
        "UPDATE detections SET releasable_to = 'ALL' WHERE upload_id = 3",
    ]
    if isinstance(path, Path):
        conn = sqlite3.connect(path)
        with conn:
            for sql in edits:
                conn.execute(sql)
        conn.close()
        return
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(path) as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('limes.viewers', 'LTU,LVA,POL,EST', true)")
        cur.fetchall()
        for sql in edits:
            cur.execute(sql)
        conn.commit()


def test_reindex_makes_the_summary_anew_after_another_tool(filled: Path | str) -> None:
    _edit_rows(filled)
    table, counted = _table_and_rows(filled)
    assert not table.equals(counted)  # the edits are not in the table
    got = store.reindex(filled)
    assert got["hours"] == len(counted)
    _check_table(filled)
    _check_summaries(filled)


def _drop_summary(path: Path | str) -> None:
    """The store as the layout before the summary left it (GeoPackage schema 5, PostGIS 2)."""
    if isinstance(path, Path):
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(f"DROP TABLE {hours.HOURS}")
            conn.execute(
                "UPDATE gpkg_contents SET description = replace(description, "
                f"'store schema {SCHEMA_VERSION})', 'store schema 5)')"
            )
        conn.close()
        return
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(path) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {hours.HOURS}")
        cur.execute("UPDATE limes_store SET schema_version = 2")
        conn.commit()


def _has_summary(path: Path | str) -> bool:
    if isinstance(path, Path):
        conn = sqlite3.connect(path)
        try:
            return bool(
                conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name = ?", (hours.HOURS,)
                ).fetchone()[0]
            )
        finally:
            conn.close()
    (found,) = _pg_frames(path, f"SELECT to_regclass('{hours.HOURS}') IS NOT NULL AS t")
    return bool(found["t"].iloc[0])


def test_an_older_store_is_read_from_its_rows_and_upgraded_with_the_summary(
    filled: Path | str,
) -> None:
    _drop_summary(filled)
    if isinstance(filled, Path):  # a reader reads the older store as it is: from the rows
        _check_summaries(filled)
        assert not _has_summary(filled)
    store.open_store(filled).close()  # opened for writing: upgraded
    assert _has_summary(filled)
    _check_table(filled)
    _check_summaries(filled)


@pytest.fixture
def one_store(tmp_path: Path) -> Path:
    return tmp_path / "s.gpkg"


def test_the_equality_check_sees_a_retraction_that_skips_the_summary(
    one_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above would fail if a retraction left the upload's groups in the table."""
    path = one_store
    for k in range(4):
        _upload(path, k)
    monkeypatch.setattr(
        hours, "delete_sql", lambda where: f"DELETE FROM {hours.HOURS} WHERE 0 AND {where}"
    )
    store.retract_upload(path, 2, user="root", partner="EU", is_admin=True)
    with pytest.raises(AssertionError):
        _check_table(path)
    with pytest.raises(AssertionError):
        _check_summaries(path)


def test_the_summary_has_the_row_security_of_the_detections(pg_store: str) -> None:
    """PostGIS: forced row-level security on the table, default deny, the one rule."""
    import adbc_driver_postgresql.dbapi as pg

    from geo.access.releasability import may_see

    store.put_operation(pg_store, {"name": "other"}, _layers())
    for k in range(len(UPLOADS)):
        _upload(pg_store, k)
    (every,) = _pg_frames(
        pg_store, f"SELECT owner, releasable_to, upload_id, hour, n FROM {hours.HOURS}"
    )
    assert set(every["owner"]) == {"LTU", "LVA", "POL", "EST"}

    def seen(cur: pg.Cursor, setting: str | None) -> list[tuple[Any, ...]]:
        if setting is not None:
            cur.execute("SELECT set_config('limes.viewers', $1, true)", (setting,))
            cur.fetchall()
        cur.execute(
            f"SELECT owner, releasable_to, upload_id, hour, n FROM {hours.HOURS} ORDER BY 1, 2, 3, 4"
        )
        return cur.fetchall()

    with pg.connect(pg_store) as conn, conn.cursor() as cur:
        assert seen(cur, None) == []  # no viewer stated: nothing
        conn.rollback()
        for setting in ("", "ALL", "LVA') OR true --"):
            assert seen(cur, setting) == [], setting
            conn.rollback()
        for viewer in ("LTU", "LVA", "POL", "EST", "EU", "lva"):
            want = every[
                [
                    may_see(viewer, o, m)
                    for o, m in zip(every["owner"], every["releasable_to"], strict=True)
                ]
            ]
            got = seen(cur, viewer)
            conn.rollback()
            assert got == sorted(want.itertuples(index=False, name=None)), viewer
        cur.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = $1",
            (hours.HOURS,),
        )
        assert cur.fetchall() == [(True, True)]
        # writes: only the groups of the partner the transaction states
        cur.execute("SELECT set_config('limes.viewers', 'LVA', true)")
        cur.fetchall()
        cur.execute(f"UPDATE {hours.HOURS} SET releasable_to = 'ALL' RETURNING owner")
        assert {r[0] for r in cur.fetchall()} == {"LVA"}
        cur.execute(f"DELETE FROM {hours.HOURS} WHERE owner = 'LTU' RETURNING 1")
        assert cur.fetchall() == []
        conn.rollback()
        cur.execute("SELECT set_config('limes.viewers', 'LVA', true)")
        cur.fetchall()
        with pytest.raises(pg.Error, match="violates row-level security policy"):
            cur.execute(
                f"INSERT INTO {hours.HOURS} VALUES (1, 'sample', 'LTU', 'ALL', 0, 1, 0, 0, 0)"
            )
        conn.rollback()


@pytest.mark.parametrize("share", [0.95, 0.5, 0.01, 1.0])
def test_the_bulk_from_the_histogram_equals_the_row_based_one(share: float) -> None:
    """Times at the edges of hours (-1, 0, +1 µs), ties, one to a few hundred of them."""
    mem = sqlite3.connect(":memory:")
    mem.execute("CREATE TABLE t (time_us INTEGER)")

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        return mem.execute(sql).fetchall()

    def window(lo: int | None, hi: int | None) -> str:
        bounds = [f"time_us >= {lo}"] if lo is not None else []
        bounds += [f"time_us <= {hi}"] if hi is not None else []
        return f"(SELECT time_us FROM t WHERE {' AND '.join(bounds) or '1'})"

    for seed in range(150):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 300))
        offsets = rng.choice([0, 1, -1, 2, -2, HOUR // 2], n) + rng.integers(0, 2, n) * int(
            rng.integers(0, HOUR)
        )
        t = rng.integers(-30, 30, n) * HOUR + offsets
        t = np.concatenate([t, t[: n // 3]])
        mem.execute("DELETE FROM t")
        mem.executemany("INSERT INTO t VALUES (?)", [(int(v),) for v in t])
        want = map_query.summarise_times("(SELECT time_us FROM t)", fetch, share=share)
        got = map_query.summarise_hours(
            map_query.rows_hours("(SELECT time_us FROM t)"), window, fetch, share=share
        )
        _same(got, want, f"seed {seed}")
    mem.close()


def test_a_bulk_padded_past_the_times_reads_no_span_rows() -> None:
    """Times spread over days: the widened span ends where no time lies, the histogram says.

    The bulk equals the row-based one, and no query reads the span's first and last rows
    (the ``row_number`` one); only the rows of at most two hours are read.
    """
    mem = sqlite3.connect(":memory:")
    mem.execute("CREATE TABLE t (time_us INTEGER)")
    queries: list[str] = []

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        queries.append(sql)
        return mem.execute(sql).fetchall()

    def window(lo: int | None, hi: int | None) -> str:
        bounds = [f"time_us >= {lo}"] if lo is not None else []
        bounds += [f"time_us <= {hi}"] if hi is not None else []
        return f"(SELECT time_us FROM t WHERE {' AND '.join(bounds) or '1'})"

    for seed in range(20):
        rng = np.random.default_rng(seed)
        days = int(rng.integers(2, 40))
        t = START_US + rng.integers(0, days * 24 * HOUR, int(rng.integers(50, 3000)))
        if seed % 2:  # a denser middle
            t = np.concatenate([t, START_US + days * 12 * HOUR + rng.integers(0, HOUR, 500)])
        mem.execute("DELETE FROM t")
        mem.executemany("INSERT INTO t VALUES (?)", [(int(v),) for v in t])
        want = map_query.summarise_times("(SELECT time_us FROM t)", fetch)
        queries.clear()
        got = map_query.summarise_hours(
            map_query.rows_hours("(SELECT time_us FROM t)"), window, fetch
        )
        _same(got, want, f"seed {seed}")
        assert not [q for q in queries if "row_number" in q], f"seed {seed}"
    mem.close()
