"""The PostGIS store: the same API and results as the GeoPackage store, on PostgreSQL.

The GeoPackage store is the outside reference here: the same uploads go into both and the
frames, counts and audit records must agree. Then what only a server has: the layout
(PostGIS points with a GiST index, a time index), a database without PostGIS, a backup
restored with ``pg_restore``, two processes uploading at once, and an upload killed with
SIGKILL half-way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import adbc_driver_postgresql.dbapi as pg
import numpy as np
import pandas as pd
import pg_util
import pytest
from pg_util import csv_report

from geo import store
from geo.core.errors import ValidationError

ROOT = Path(__file__).resolve().parents[1]
DETECTIONS = ROOT / "sample_data" / "detections.csv"


def _columns(n: int, *, seed: int, ids: bool = True) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {
        # over several UTC days, not in time order
        "time": pd.Timestamp("2026-11-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 4 * 86_400, size=n), unit="s"),
        "lon": np.round(rng.uniform(21.0, 28.0, size=n), 3),
        "lat": np.round(rng.uniform(53.9, 56.4, size=n), 3),
        "source": rng.choice(["radar-1", "patrol"], size=n).astype(object),
        "confidence": rng.uniform(0, 1, size=n),
    }
    if ids:
        out["detection_id"] = [f"D{i}" for i in rng.integers(0, n, size=n)]  # with repeats
    return out


def _both(tmp_path: Path, pg_store: str) -> list[str | Path]:
    return [tmp_path / "limes.gpkg", pg_store]


def test_uploads_read_back_as_from_the_geopackage(tmp_path: Path, pg_store: str) -> None:
    results = {}
    for where in _both(tmp_path, pg_store):
        first = store.ingest_file(where, DETECTIONS, partner="LTU", releasable_to="LVA")
        again = store.ingest_file(where, DETECTIONS, partner="LTU")
        with_ids = _columns(3000, seed=1)
        more = store.ingest(
            where, with_ids, csv_report(3000), file_name="a.csv", sha256="a" * 64, partner="LVA"
        )
        overlap = store.ingest(
            where,
            _columns(3000, seed=1),  # the same detections under another file
            csv_report(3000),
            file_name="b.csv",
            sha256="b" * 64,
            partner="LVA",
            releasable_to="ALL",
        )
        no_ids = store.ingest(
            where,
            _columns(2000, seed=2, ids=False) | {"time": with_ids["time"][:2000]},
            csv_report(2000),
            file_name="c.csv",
            sha256="c" * 64,
            partner="POL",
            releasable_to="LTU,LVA",
        )
        results[str(where)] = (
            [r.to_dict() for r in (first, again, more, overlap, no_ids)],
            {p: store.visible_detections(where, [p]) for p in ("LTU", "LVA", "POL", "EU")},
            store.uploads(where, ["LTU", "LVA", "POL"]),
            store.owners(where),
            store.revision(where),
        )
    (gp_results, gp_frames, gp_uploads, gp_owners, gp_rev), (pg_results, *rest) = results.values()
    pg_frames, pg_uploads, pg_owners, pg_rev = rest
    for a, b in zip(gp_results, pg_results, strict=True):
        a.pop("notes"), b.pop("notes")  # the earlier upload's time differs
        assert a == b
    assert gp_results[0]["accepted"] == len(pd.read_csv(DETECTIONS))
    assert gp_results[1]["already_uploaded"]
    assert gp_results[3]["duplicates"] == 3000
    assert 0 < gp_results[2]["duplicates"] < 3000  # the file's own repeats
    for partner, frame in gp_frames.items():
        pd.testing.assert_frame_equal(frame, pg_frames[partner], check_exact=True)
    assert len(gp_frames["LTU"]) > 22000
    assert len(gp_frames["EU"]) == 0
    cols = ["upload_id", "partner", "file_name", "sha256", "rows_read", "accepted", "duplicates"]
    pd.testing.assert_frame_equal(gp_uploads[cols], pg_uploads[cols])
    assert str(pg_uploads["uploaded_at"].dtype) == "datetime64[ms, UTC]"
    assert gp_owners == pg_owners == ["LTU", "LVA", "POL"]
    assert gp_rev == pg_rev


def test_time_window_and_upload_range(tmp_path: Path, pg_store: str) -> None:
    window = {"time_from": "2026-11-02T06:00:00Z", "time_to": "2026-11-03T12:00:00"}
    frames = []
    for where in _both(tmp_path, pg_store):
        for k in range(3):
            store.ingest(
                where,
                _columns(500, seed=10 + k),
                csv_report(500),
                file_name=f"{k}.csv",
                sha256=f"{k:064x}",
                partner="LTU",
                releasable_to="ALL",
            )
        frames.append(
            [
                store.visible_detections(where, "LVA", **window),
                store.visible_detections(where, "LVA", after_upload=1, through_upload=2),
                store.visible_detections(where, "LVA", operation="sample"),
                store.visible_detections(where, "LVA", operation="other"),
            ]
        )
    for a, b in zip(*frames, strict=True):
        pd.testing.assert_frame_equal(a, b)
    window_frame, range_frame, sample, other = frames[1]
    assert (
        window_frame["time"]
        .between(pd.Timestamp(window["time_from"]), pd.Timestamp(window["time_to"], tz="UTC"))
        .all()
    )
    assert 0 < len(window_frame) < len(sample)
    assert set(range_frame["upload_id"]) == {2}
    assert len(other) == 0


def test_the_layout_is_postgis(pg_store: str) -> None:
    store.open_store(pg_store).close()
    with pg.connect(pg_store, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT type, srid FROM geometry_columns WHERE f_table_name = 'detections' "
            "AND f_geometry_column = 'geom'"
        )
        assert cur.fetchall() == [("POINT", 4326)]
        cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'detections'")
        indexes = " | ".join(r[0] for r in cur.fetchall())
        assert "USING gist (geom)" in indexes
        assert "USING btree (time_us)" in indexes


def test_an_upload_is_all_or_nothing(pg_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from geo.store.postgres import upload as pg_upload

    store.ingest_file(pg_store, DETECTIONS, partner="LTU")
    before = store.revision(pg_store)

    def fail_after_rows(*args: object, **kwargs: object) -> int:
        inserted = real(*args, **kwargs)
        assert inserted > 0
        raise OSError("disk on fire")

    real = pg_upload._insert_rows
    monkeypatch.setattr(pg_upload, "_insert_rows", fail_after_rows)
    with pytest.raises(OSError, match="disk on fire"):
        store.ingest(
            pg_store, _columns(1000, seed=5), csv_report(1000), file_name="x.csv",
            sha256="d" * 64, partner="LVA",
        )  # fmt: skip
    monkeypatch.undo()
    assert store.revision(pg_store) == before
    assert len(store.visible_detections(pg_store, "LVA")) == 0
    assert list(store.uploads(pg_store, "LVA")["upload_id"]) == []
    assert store.owners(pg_store) == ["LTU"]


def test_a_database_without_postgis_is_named(pg_cluster: pg_util.Cluster) -> None:
    url = pg_cluster.create_database("no_postgis", postgis=False)
    with pytest.raises(ValidationError, match=r"no PostGIS extension.*CREATE EXTENSION postgis"):
        store.ingest_file(url, DETECTIONS, partner="LTU")


def test_an_unreachable_server_is_named(pg_cluster: pg_util.Cluster) -> None:
    url = f"postgresql://limes_app@127.0.0.1:{pg_util.free_port()}/limes"
    with pytest.raises(ValidationError, match="cannot connect to the PostgreSQL store"):
        store.visible_detections(url, "LTU")


def test_backup_restores_with_pg_restore(
    pg_cluster: pg_util.Cluster, pg_store: str, tmp_path: Path
) -> None:
    store.ingest_file(pg_store, DETECTIONS, partner="LTU", releasable_to="ALL")
    store.ingest(
        pg_store, _columns(800, seed=3), csv_report(800), file_name="p.csv", sha256="e" * 64,
        partner="POL",
    )  # fmt: skip
    out = tmp_path / "limes.dump"
    summary = store.backup(pg_store, out)
    assert summary["format"] == "pg_dump -Fc"
    assert out.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert summary["uploads"] == 2
    assert summary["detections"] > 22000
    restored = pg_cluster.create_database("restored", postgis=False)
    done = subprocess.run(
        [pg_util.pg_bin() / "pg_restore", "-h", str(pg_cluster.directory), "-p",  # type: ignore[operator]
         str(pg_cluster.port), "-U", "postgres", "-d", "restored", str(out)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for partner in ("LTU", "POL", "EU"):
        pd.testing.assert_frame_equal(
            store.visible_detections(pg_store, partner), store.visible_detections(restored, partner)
        )
    pd.testing.assert_frame_equal(
        store.uploads(pg_store, ["LTU", "POL"]), store.uploads(restored, ["LTU", "POL"])
    )
    assert store.revision(restored) == store.revision(pg_store)


def _csv(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "detection_id": [f"S{seed}-{i}" for i in range(n)],
            "time": pd.Timestamp("2026-11-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86_400, size=n), unit="s"),
            "lat": rng.uniform(54.0, 56.0, size=n).round(6),
            "lon": rng.uniform(22.0, 27.0, size=n).round(6),
        }
    ).to_csv(path, index=False)
    return path


def _ingest_process(store_url: str, file: Path, partner: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "geo", "ingest", str(file), "--partner", partner,
         "--store", store_url],
        cwd=file.parent, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_two_processes_ingesting_at_once_both_land(pg_store: str, tmp_path: Path) -> None:
    store.open_store(pg_store).close()  # the tables exist: both go straight to their upload
    files = [_csv(tmp_path / f"{p}.csv", 40_000, seed) for seed, p in enumerate(("LTU", "LVA"))]
    procs = [_ingest_process(pg_store, f, f.stem) for f in files]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert json.loads(out)["accepted"] == 40_000
    assert sorted(json.loads(o)["upload_id"] for o, _ in outs) == [1, 2]
    assert len(store.visible_detections(pg_store, ["LTU", "LVA"])) == 80_000
    assert store.revision(pg_store).uploads == 2


def _upload_under_way(pg_cluster: pg_util.Cluster, database: str) -> bool:
    held = pg_cluster.psql(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        f"WHERE l.locktype = 'advisory' AND l.granted AND a.datname = '{database}'",
    )
    return held.strip() != "0"


def test_kill_9_during_an_upload_leaves_nothing(
    pg_cluster: pg_util.Cluster, pg_store: str, tmp_path: Path
) -> None:
    store.ingest_file(pg_store, DETECTIONS, partner="LTU")
    before = (store.revision(pg_store), len(store.visible_detections(pg_store, ["LTU", "LVA"])))
    database = pg_store.rsplit("/", 1)[1]
    proc = _ingest_process(pg_store, _csv(tmp_path / "big.csv", 200_000, 7), "LVA")
    deadline = time.monotonic() + 240
    while not _upload_under_way(pg_cluster, database):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # rows are going in
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    after = (store.revision(pg_store), len(store.visible_detections(pg_store, ["LTU", "LVA"])))
    assert after == before
    assert list(store.uploads(pg_store, "LVA")["upload_id"]) == []
    # The store takes the next upload (the killed one's lock went with its connection).
    again = store.ingest_file(pg_store, tmp_path / "big.csv", partner="LVA", busy_timeout_s=60)
    assert again.accepted == 200_000


def _geo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", *args],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_the_commands_take_a_postgresql_url(pg_store: str, tmp_path: Path) -> None:
    """``--store URL`` and ``LIMES_STORE=URL``: the same commands and JSON as with a file."""
    done = _geo("ingest", str(DETECTIONS), "--partner", "LTU", "--releasable-to", "POL",
                "--store", pg_store, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == len(pd.read_csv(DETECTIONS))
    out = tmp_path / "pol.geojson"
    done = _geo("detections", "--as-partner", "POL", "--out", str(out), "--store", pg_store,
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    features = json.loads(out.read_text())["features"]
    assert len(features) == len(pd.read_csv(DETECTIONS))
    assert {f["properties"]["owner"] for f in features} == {"LTU"}
    done = _geo("detections", "--as-partner", "LVA", "--store", pg_store, cwd=tmp_path)
    assert json.loads(done.stdout)["features"] == []
    done = _geo("uploads", "list", "--as-partner", "LTU", "--store", pg_store, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "detections.csv" in done.stdout
    done = _geo("backup", "--out", str(tmp_path / "x.dump"), "--store", pg_store, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["format"] == "pg_dump -Fc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pol.geojson", "x.dump"]
