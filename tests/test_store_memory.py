"""The store runs anywhere: in 4 GiB of address space, and out of memory says so.

An upload of a million detections, a one-row upload into that store and its reads work
under ``ulimit -v 4194304`` (each in a child process given that limit, as a server started
under it would be), and what they read is checked against the rows written; a read or an
upload that does run out of memory raises :class:`geo.store.StoreMemoryError` ("out of
memory"), never "not a Limes store".
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Detections in the large store, over 30 days of May 2024.
N = 1_000_000


def _address_space_4_gib() -> None:
    """In the child, before it runs: at most 4 GiB of address space (``ulimit -v 4194304``)."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _run_limited(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=_address_space_4_gib,
    )


#: A detection near Vilnius.
_DET_0 = {
    "time": "2026-11-01T00:00:00Z",
    "detection_id": "D0",
    "source": "radar-1",
    "lon": 25.0,
    "lat": 54.5,
    "class": "person",
    "confidence": 0.5,
}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def million_rows() -> pd.DataFrame:
    """The :data:`N` detections of the large store (the same on every call)."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "detection_id": [f"d{i}" for i in range(N)],
            "time": pd.Timestamp("2024-05-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86_400 * 30, N), unit="s"),
            "lon": rng.uniform(13.6, 16.5, N).round(6),
            "lat": rng.uniform(45.3, 46.5, N).round(6),
            "source": rng.choice(["radar-1", "cam-7", "patrol"], N),
            "class": rng.choice(["person", "vehicle", "animal"], N),
            "confidence": rng.uniform(0, 1, N).round(3),
        }
    )


#: Writes :func:`million_rows` into the new store argv[1] as one upload of SI, released to
#: HR (columns into an empty store: the bulk way, no index while the rows go in).
_BUILD_MILLION = """
import sys
sys.path.insert(0, "tests")
from test_store_memory import N, million_rows
from geo.inputs.loader import LoadReport
from geo.store import ingest
rows = million_rows()
report = LoadReport(source="million.csv", layer="detections", format="CSV",
                    source_crs="EPSG:4326", rows_read=N, rows_accepted=N)
result = ingest(sys.argv[1], {name: rows[name] for name in rows}, report,
                file_name="million.csv", sha256="0" * 64, partner="SI", releasable_to="HR")
print(result.accepted)
"""


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A store of :data:`N` detections of SI released to HR, and the rows written into it.

    Written in a child process under the 4 GiB limit: a million-row upload runs there too.
    """
    db = tmp_path_factory.mktemp("million") / "limes.gpkg"
    proc = _run_limited(["-c", _BUILD_MILLION, str(db)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(N)]
    return db, million_rows()


#: Reads the store argv[1] as HR (everything, and one day) and as PL, and SI's audit log;
#: prints what it read and the process's peak address space and RSS.
_READ_MILLION = """
import json, sys
from geo import store
path = sys.argv[1]
everything = store.visible_detections(path, "HR")
day = store.visible_detections(path, "HR", time_from="2024-05-10T00:00:00Z",
                               time_to="2024-05-10T23:59:59Z")
log = store.uploads(path, "SI")
peaks = dict(line.split(":") for line in open("/proc/self/status")
             if line.startswith(("VmPeak", "VmHWM")))
print(json.dumps({
    "n": len(everything),
    "id_sum": int(everything["detection_id"].str.slice(1).astype("int64").sum()),
    "in_time_order": bool(everything["time"].is_monotonic_increasing),
    "first": [everything["detection_id"].iloc[0], everything["time"].iloc[0].isoformat()],
    "confidence_sum": float(everything["confidence"].sum()),
    "lon_sum": float(everything.geometry.x.sum()),
    "day": len(day), "day_id_sum": int(day["detection_id"].str.slice(1).astype("int64").sum()),
    "pl": len(store.visible_detections(path, "PL")),
    "log": log[["upload_id", "partner", "rows_read", "accepted", "duplicates"]].values.tolist(),
    "owners": store.owners(path), "version": store.version(path),
    "vm_peak_mb": int(peaks["VmPeak"].split()[0]) // 1024,
    "rss_peak_mb": int(peaks["VmHWM"].split()[0]) // 1024}))
"""


def test_a_million_row_store_reads_in_4_gib_of_address_space(
    million: tuple[Path, pd.DataFrame],
) -> None:
    db, rows = million
    proc = _run_limited(["-c", _READ_MILLION, str(db)])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ids = rows["detection_id"].str.slice(1).astype("int64")
    first = rows.sort_values(["time"], kind="stable").iloc[0]
    in_day = (rows["time"] >= "2024-05-10T00:00:00Z") & (rows["time"] <= "2024-05-10T23:59:59Z")
    assert out["n"] == N
    assert out["id_sum"] == N * (N - 1) // 2  # every row once
    assert out["in_time_order"]
    assert out["first"] == [first["detection_id"], first["time"].isoformat()]
    assert out["confidence_sum"] == pytest.approx(rows["confidence"].sum(), rel=1e-12)
    assert out["lon_sum"] == pytest.approx(rows["lon"].sum(), rel=1e-12)
    assert (out["day"], out["day_id_sum"]) == (int(in_day.sum()), int(ids[in_day].sum()))
    assert 30_000 < out["day"] < 37_000  # a thirtieth
    assert out["pl"] == 0  # released to HR only
    assert out["log"] == [[1, "SI", N, N, 0]]
    assert (out["owners"], out["version"]) == (["SI"], 1)
    print(
        f"read of {N:,} rows under a 4 GiB limit: peak address space "
        f"{out['vm_peak_mb']:,} MB, peak RSS {out['rss_peak_mb']:,} MB"
    )


def test_a_one_row_ingest_into_a_million_row_store_runs_in_4_gib_of_address_space(
    million: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    db = tmp_path / "copy.gpkg"
    shutil.copyfile(million[0], db)
    one = _write_csv(
        tmp_path / "one.csv",
        [{"time": "2024-05-10T12:00:00Z", "detection_id": "h1", "lat": 45.5, "lon": 15.0}],
    )
    proc = _run_limited(
        [
            "-m",
            "geo",
            "ingest",
            str(one),
            "--store",
            str(db),
            "--partner",
            "HR",
            "--releasable-to",
            "SI",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accepted"] == 1
    proc = _run_limited(["-c", _READ_MILLION, str(db)])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n"] == N + 1  # HR's own row and SI's released ones
    assert out["id_sum"] == N * (N - 1) // 2 + 1
    assert (out["owners"], out["version"]) == (["HR", "SI"], 2)


def test_a_one_row_ingest_runs_in_4_gib_of_address_space(tmp_path: Path) -> None:
    # Each query's driver reserved 2**30 rows per column: about 95 GB of address space for
    # one row (a segmentation fault under ulimit -v 4194304).
    db = tmp_path / "data" / "limes.gpkg"
    one = _write_csv(tmp_path / "one.csv", [_DET_0])
    proc = _run_limited(
        [
            "-m",
            "geo",
            "ingest",
            str(one),
            "--store",
            str(db),
            "--partner",
            "LTU",
            "--releasable-to",
            "ALL",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accepted"] == 1
    proc = _run_limited(["-m", "geo", "detections", "--store", str(db), "--as-partner", "POL"])
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["features"]) == 1


#: Reads a small window (Python, Arrow and GEOS set up), then limits the address space to
#: what the process holds plus argv[2] MiB and reads every row: too little for a million.
_READ_WITH_TOO_LITTLE_MEMORY = """
import resource, sys
from geo import store
path = sys.argv[1]
store.visible_detections(path, "HR", time_from="2024-05-10", time_to="2024-05-10T01:00Z")
held = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmSize:")) * 1024
limit = held + int(sys.argv[2]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    store.visible_detections(path, "HR")
except MemoryError as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("spare_mib", [100, 300])
def test_a_read_that_runs_out_of_memory_says_so(
    million: tuple[Path, pd.DataFrame], spare_mib: int
) -> None:
    million_store = million[0]
    proc = subprocess.run(
        [sys.executable, "-c", _READ_WITH_TOO_LITTLE_MEMORY, str(million_store), str(spare_mib)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"StoreMemoryError {million_store}: out of memory: "), proc.stdout
    assert "Free memory or raise the limit" in proc.stdout
    assert "not a Limes store" not in proc.stdout
    assert "no readable position" not in proc.stdout


#: Ingests argv[2] once (Python, Arrow, GDAL set up), then makes the driver reserve 2**26
#: rows (512 MiB) per column before each query's first batch and limits the address space
#: to what the process holds plus 1,000 MiB: a one-column query fits, but not its first
#: text value, for which the driver reserves that much twice again (the failure of the
#: issue: "ArrowBufferReserve(&offsets, ...) failed: (12) Cannot allocate memory"). The
#: ingest into the new store argv[1] meets it at ``PRAGMA journal_mode``. (A reservation
#: that fails before the first row crashes the driver: it frees buffers it never set up.)
_RESERVE_TOO_MUCH = """
import resource, sys
import cli
from geo.store import connection
assert cli.main(["ingest", sys.argv[2], "--store", sys.argv[3], "--partner", "LTU"]) == 0
connection._QUERY_BATCH_ROWS = 2**26
held = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmSize:")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (held + 1000 * 2**20, held + 1000 * 2**20))
sys.exit(cli.main(["ingest", sys.argv[2], "--store", sys.argv[1], "--partner", "LTU"]))
"""


def test_the_drivers_failed_reservation_is_reported_as_memory(tmp_path: Path) -> None:
    # It was reported as "not a Limes store".
    db = tmp_path / "data" / "limes.gpkg"
    one = _write_csv(tmp_path / "one.csv", [_DET_0])
    proc = subprocess.run(
        [sys.executable, "-c", _RESERVE_TOO_MUCH, str(db), str(one), str(tmp_path / "warm.gpkg")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {db}: out of memory: expected enough free memory")
    assert "ArrowBufferReserve" in proc.stderr
    assert "Cannot allocate memory" in proc.stderr
    assert "not a Limes store" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.count('"upload_id"') == 1  # the first ingest's report only
