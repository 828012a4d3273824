"""The PostGIS upload's two ways (incremental, rebuild) keep the GeoPackage's duplicate results.

The GeoPackage store is the outside reference: the same uploads go into both. An upload at
least as big as the store rebuilds the indexes of ``detections`` (new index objects, the
same definitions); a smaller one keeps them. A store of layout 1 (with the foreign key and
the duplicate keys in the database's collation) is upgraded in place.
"""

from __future__ import annotations

from pathlib import Path

import adbc_driver_postgresql.dbapi as pg
import numpy as np
import pandas as pd
import pg_util
import pytest
from pg_util import csv_report

from geo import store
from geo.core.errors import ValidationError
from geo.store.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION
from geo.store.postgres import upload


def _columns(n: int, *, seed: int, first_id: int | None) -> dict[str, object]:
    """``n`` rows over 3 days; ids ``D<first_id>...`` with repeats, or none (positions only)."""
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {
        "time": pd.Timestamp("2026-11-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 3 * 86_400, size=n) // 600 * 600, unit="s"),
        "lon": np.round(rng.uniform(21.0, 21.05, size=n), 2),
        "lat": np.round(rng.uniform(54.0, 54.05, size=n), 2),
        "source": rng.choice(["radar-1", "patrol"], size=n).astype(object),
        "confidence": rng.uniform(0, 1, size=n),
    }
    if first_id is not None:
        out["detection_id"] = [f"D{i}" for i in first_id + rng.integers(0, n, size=n)]
    return out


def _indexes(url: str) -> dict[str, tuple[int, str]]:
    """Each index of ``detections``: its object id and definition."""
    with pg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT c.relname, c.oid, pg_get_indexdef(c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'detections'::regclass"
        )
        return {name: (int(oid), sql) for name, oid, sql in cur.fetchall()}


def _upload(where: str | Path, k: int, columns: dict[str, object], partner: str) -> dict:
    n = len(columns["time"])  # type: ignore[arg-type]
    result = store.ingest(
        where, columns, csv_report(n), file_name=f"{k}.csv", sha256=f"{k:064x}", partner=partner
    )
    return result.to_dict()


def test_big_and_small_uploads_over_stored_rows_keep_the_first(
    tmp_path: Path, pg_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload, "REBUILD_MIN_ROWS", 1000)  # small stores rebuild too
    uploads = [
        ("LVA", _columns(2000, seed=1, first_id=0)),  # empty store: rebuild
        ("LVA", _columns(5000, seed=2, first_id=500)),  # bigger, some ids stored: rebuild
        ("POL", _columns(16000, seed=2, first_id=500)),  # LVA's ids, another partner: rebuild
        ("LVA", _columns(300, seed=3, first_id=0)),  # small: incremental, ON CONFLICT
        ("LVA", _columns(1500, seed=4, first_id=None)),  # positions only (repeats): small
        ("LVA", _columns(40000, seed=5, first_id=None)),  # bigger, some stored: rebuild
    ]
    found = {}
    rebuilt = []
    for where in (tmp_path / "limes.gpkg", pg_store):
        results = []
        for k, (partner, columns) in enumerate(uploads):
            before = _indexes(pg_store) if where == pg_store and k else None
            results.append(_upload(where, k + 1, columns, partner))
            if before is not None:
                after = _indexes(pg_store)
                assert {n: d for n, (_, d) in after.items()} == {
                    n: d for n, (_, d) in before.items()
                }
                rebuilt.append(after["detections_geom"][0] != before["detections_geom"][0])
        frames = {p: store.visible_detections(where, [p]) for p in ("LVA", "POL")}
        found[str(where)] = (results, frames)
    (gp_results, gp_frames), (pg_results, pg_frames) = found.values()
    for a, b in zip(gp_results, pg_results, strict=True):
        a.pop("notes"), b.pop("notes")
        assert a == b
    for partner, frame in gp_frames.items():
        pd.testing.assert_frame_equal(frame, pg_frames[partner], check_exact=True)
    assert rebuilt == [True, True, False, False, True]
    assert all(r["accepted"] > 0 and r["duplicates"] > 0 for r in gp_results)
    pol = pd.DataFrame({k: uploads[2][1][k] for k in ("detection_id", "source")})
    assert gp_results[2]["accepted"] == len(pol.drop_duplicates())  # LVA's rows do not count
    lva = pd.DataFrame({k: uploads[1][1][k] for k in ("detection_id", "source")})
    assert gp_results[1]["accepted"] < len(lva.drop_duplicates())  # its stored ids do


def test_a_layout_1_store_is_upgraded(pg_cluster: pg_util.Cluster, pg_store: str) -> None:
    database = pg_store.rsplit("/", 1)[1]
    store.open_store(pg_store).close()
    pg_cluster.psql(
        "ALTER TABLE detections ADD FOREIGN KEY (upload_id) REFERENCES uploads (upload_id); "
        "DROP INDEX detections_dedupe_id, detections_dedupe_position; "
        "CREATE UNIQUE INDEX detections_dedupe_id ON detections "
        "(detection_id, coalesce(source, ''), owner, operation) WHERE detection_id IS NOT NULL;"
        "CREATE UNIQUE INDEX detections_dedupe_position ON detections (time_us, ST_X(geom), "
        "ST_Y(geom), coalesce(source, ''), owner, operation) WHERE detection_id IS NULL;"
        "UPDATE limes_store SET schema_version = 1",
        database=database,
    )
    keys = "SELECT count(*) FROM pg_constraint WHERE conrelid = 'detections'::regclass AND contype = 'f'"
    assert pg_cluster.psql(keys, database=database).strip() == "1"
    result = _upload(pg_store, 1, _columns(200, seed=5, first_id=0), "LTU")
    assert result["accepted"] + result["duplicates"] == 200
    assert pg_cluster.psql(keys, database=database).strip() == "0"
    assert pg_cluster.psql(
        "SELECT schema_version FROM limes_store", database=database
    ).strip() == str(PG_SCHEMA_VERSION)
    assert 'COLLATE "C"' in _indexes(pg_store)["detections_dedupe_id"][1]


def test_a_reader_holds_off_a_rebuild_not_a_small_upload(pg_store: str) -> None:
    """The locks of docs/store.md: a rebuild waits for a reader (busy past its timeout,
    nothing changed); an incremental upload goes in beside it."""
    _upload(pg_store, 1, _columns(500, seed=6, first_id=0), "LTU")
    reader = pg.connect(pg_store, autocommit=False)
    try:
        with reader.cursor() as cur:  # a read under way: ACCESS SHARE on detections
            cur.execute("SELECT count(*) FROM detections")
            cur.fetchall()
            small = store.ingest(
                pg_store, _columns(300, seed=7, first_id=10_000), csv_report(300),
                file_name="s.csv", sha256="5" * 64, partner="LTU", busy_timeout_s=1,
            )  # fmt: skip
            assert small.accepted > 0
            n = upload.REBUILD_MIN_ROWS + 10
            big = _columns(n, seed=8, first_id=None) | {"detection_id": [f"B{i}" for i in range(n)]}
            with pytest.raises(ValidationError, match="busy"):
                store.ingest(
                    pg_store, big, csv_report(upload.REBUILD_MIN_ROWS + 10), file_name="b.csv",
                    sha256="6" * 64, partner="LTU", busy_timeout_s=1,
                )  # fmt: skip
    finally:
        reader.close()
    assert list(store.uploads(pg_store, "LTU")["file_name"]) == ["1.csv", "s.csv"]
    done = store.ingest(
        pg_store, big, csv_report(upload.REBUILD_MIN_ROWS + 10), file_name="b.csv",
        sha256="6" * 64, partner="LTU",
    )  # fmt: skip
    assert done.accepted == n
