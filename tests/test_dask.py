"""GeoParquet datasets of detections classified out of core on Dask equal the in-memory path.

The equality tests run the partitions in this process (``--scheduler sync``) or on one local
cluster per session (:func:`cluster`); the in-memory analysis of the same detections is the
truth. See docs/dask.md.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely

from cli import main
from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.coverage.dataset import analyse_dataset
from geo.dataset import dataset_files, write_dataset
from geo.inputs import read_border, read_detections, read_sectors, read_sensors
from geo.timeline import timeline
from geo.timeline.dataset import dataset_detections

LAYERS = [
    "--border",
    str(SAMPLE_DIR / "border.geojson"),
    "--sensors",
    str(SAMPLE_DIR / "sensors.csv"),
    "--sectors",
    str(SAMPLE_DIR / "sectors.geojson"),
]
ROOT = Path(__file__).resolve().parents[1]
WINDOW = ["--time-from", "2026-11-02T06:00Z", "--time-to", "2026-11-06T18:00Z"]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """One local Dask cluster (2 worker processes) for the session's tests."""
    from distributed import Client, LocalCluster

    from geo.dataset.cluster import no_main_script

    # Earlier tests (AppTest) leave app.py as __main__: the workers must not run it.
    with no_main_script():
        c = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
    with c, Client(c) as client:
        yield client


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return {
        "border": read_border(SAMPLE_DIR / "border.geojson")[0],
        "sensors": read_sensors(SAMPLE_DIR / "sensors.csv")[0],
        "sectors": read_sectors(SAMPLE_DIR / "sectors.geojson")[0],
    }


@pytest.fixture(scope="module")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's 22,000 detections as a dataset of 5 partitions."""
    det, _ = read_detections(SAMPLE_DIR / "detections.csv")
    out = tmp_path_factory.mktemp("ds") / "sample"
    write_dataset(det, out, rows_per_partition=5_000)
    return out


@pytest.fixture(scope="module")
def generated(
    layers: dict[str, gpd.GeoDataFrame], tmp_path_factory: pytest.TempPathFactory
) -> tuple[gpd.GeoDataFrame, Path]:
    """200,000 points scattered over the border's box (plus 0.2°), a week of times."""
    lo_x, lo_y, hi_x, hi_y = layers["border"].total_bounds
    rng = np.random.default_rng(19)
    n = 200_000
    lon = rng.uniform(lo_x - 0.2, hi_x + 0.2, n)
    lat = rng.uniform(lo_y - 0.2, hi_y + 0.2, n)
    t0 = pd.Timestamp("2026-11-01T00:00Z")
    time = t0 + pd.to_timedelta(np.sort(rng.integers(0, 7 * 86_400_000_000, n)), unit="us")
    det = gpd.GeoDataFrame(
        {"time": time.as_unit("us"), "detection_id": [f"g{i}" for i in range(n)]},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    out = tmp_path_factory.mktemp("gen") / "gen"
    write_dataset(det, out, rows_per_partition=30_000)
    return det, out


def _cli(*args: str, out: Path | None = None) -> dict[str, Any]:
    argv = list(args) + (["--out", str(out)] if out is not None else [])
    assert main(argv) == 0
    if out is not None and out.suffix == ".json":
        return dict(json.loads(out.read_text(encoding="utf-8")))
    return {}


def _same_report(a: dict[str, Any], b: dict[str, Any]) -> None:
    a, b = dict(a), dict(b)
    for key in ("generated_at", "inputs"):
        a.pop(key, None)
        b.pop(key, None)
    assert a == b


def test_analyse_of_the_sample_dataset_equals_the_file(
    sample_dataset: Path, tmp_path: Path
) -> None:
    mem = _cli(
        "analyse",
        *LAYERS,
        *WINDOW,
        "--detections",
        str(SAMPLE_DIR / "detections.csv"),
        out=tmp_path / "mem.json",
    )
    dask = _cli(
        "analyse",
        *LAYERS,
        *WINDOW,
        "--detections",
        str(sample_dataset),
        "--scheduler",
        "sync",
        out=tmp_path / "dask.json",
    )
    assert mem["detections"]["total"] > 10_000
    assert mem["detections"]["in_gaps"] > 0
    _same_report(mem, dask)
    inp = dask["inputs"]["detections"]
    assert (inp["partitions"], inp["rows_read"]) == (5, 22_000)


def test_a_glob_of_day_partitions_equals_the_file(tmp_path: Path) -> None:
    det, _ = read_detections(SAMPLE_DIR / "detections.csv")
    write_dataset(det, tmp_path / "days", by="day")
    names = sorted(p.name for p in (tmp_path / "days").iterdir())
    assert names == [f"2026-11-0{d}-00000.parquet" for d in range(1, 8)]
    mem = _cli(
        "analyse",
        *LAYERS,
        "--detections",
        str(SAMPLE_DIR / "detections.csv"),
        out=tmp_path / "mem.json",
    )
    # Only the days 3 to 5: the in-memory truth is the same rows from a file.
    part = det[(det["time"] >= "2026-11-03") & (det["time"] < "2026-11-06")]
    part.to_file(tmp_path / "part.gpkg", driver="GPKG")
    few = _cli(
        "analyse", *LAYERS, "--detections", str(tmp_path / "part.gpkg"), out=tmp_path / "few.json"
    )
    glob = _cli(
        "analyse",
        *LAYERS,
        "--detections",
        str(tmp_path / "days" / "2026-11-0[345]-*"),
        "--scheduler",
        "sync",
        out=tmp_path / "glob.json",
    )
    _same_report(few, glob)
    assert glob["detections"]["total"] == len(part) < mem["detections"]["total"]


def test_200000_points_on_the_local_cluster_equal_in_memory(
    layers: dict[str, gpd.GeoDataFrame], generated: tuple[gpd.GeoDataFrame, Path], cluster: Any
) -> None:
    det, out = generated
    opts = {
        "sectors": layers["sectors"],
        "time_from": "2026-11-01T12:00Z",
        "time_to": "2026-11-07T12:00Z",
    }
    mem = analyse(layers["border"], layers["sensors"], detections=det, **opts).report
    files = dataset_files(out)
    assert len(files) == 7
    result, counts, _ = analyse_dataset(
        layers["border"], layers["sensors"], files, client=cluster, **opts
    )
    _same_report(mem, result.report)
    d = result.report["detections"]
    assert min(d["in_coverage"], d["in_gaps"], d["outside_corridor"]) > 1_000
    assert counts.rows == len(det) > d["total"]


def test_scheduler_address_of_a_running_cluster(
    sample_dataset: Path, cluster: Any, tmp_path: Path
) -> None:
    address = cluster.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    mem = _cli(
        "analyse",
        *LAYERS,
        "--detections",
        str(SAMPLE_DIR / "detections.csv"),
        out=tmp_path / "mem.json",
    )
    dask = _cli(
        "analyse",
        *LAYERS,
        "--detections",
        str(sample_dataset),
        "--scheduler",
        address,
        out=tmp_path / "dask.json",
    )
    _same_report(mem, dask)
    assert dask["inputs"]["detections"]["scheduler"] == address


@pytest.mark.parametrize("fmt", ["gpkg", "csv", "geojson", "kml"])
@pytest.mark.parametrize("partner", [None, "POL"])
def test_export_rows_and_statuses_equal(
    sample_dataset: Path, tmp_path: Path, fmt: str, partner: str | None
) -> None:
    who = [] if partner is None else ["--partner", partner]
    name = {"gpkg": "x.gpkg", "kml": "x.kml"}.get(fmt, "x")
    common = ["export", *LAYERS, *WINDOW, *who, "--format", fmt]
    main_ok = main(
        [
            *common,
            "--detections",
            str(SAMPLE_DIR / "detections.csv"),
            "--out",
            str(tmp_path / "mem" / name),
        ]
    )
    dask_ok = main(
        [
            *common,
            "--detections",
            str(sample_dataset),
            "--scheduler",
            "sync",
            "--out",
            str(tmp_path / "dask" / name),
        ]
    )
    assert main_ok == dask_ok == 0
    if fmt == "csv":
        a = pd.read_csv(tmp_path / "mem" / name / "detections.csv")
        b = pd.read_csv(tmp_path / "dask" / name / "detections.csv")
    elif fmt in ("gpkg", "kml"):
        a = pyogrio.read_dataframe(tmp_path / "mem" / name, layer="detections")
        b = pyogrio.read_dataframe(tmp_path / "dask" / name, layer="detections")
    else:
        a = pyogrio.read_dataframe(tmp_path / "mem" / name / "detections.geojson")
        b = pyogrio.read_dataframe(tmp_path / "dask" / name / "detections.geojson")
    assert len(a) > 1_000
    assert set(a["coverage_status"]) == {"coverage", "gap", "outside"} or partner is not None
    pd.testing.assert_frame_equal(a, b)


def test_timeline_detections_equal(sample_dataset: Path, layers: dict[str, Any]) -> None:
    from geo.inputs import read_tracks

    det, _ = read_detections(SAMPLE_DIR / "detections.csv")
    tracks, _ = read_tracks(SAMPLE_DIR / "tracks.csv")
    opts = {
        "sensors": layers["sensors"],
        "sectors": layers["sectors"],
        "tracks": tracks,
        "time_from": "2026-11-02",
        "time_to": "2026-11-04",
    }
    mem = timeline(layers["border"], detections=det, **opts).report["detections"]
    bare = timeline(layers["border"], **opts)
    dask = dataset_detections(bare, dataset_files(sample_dataset))
    assert dask == mem
    assert mem["watched_at_time"] > 0
    assert mem["unwatched_at_time"] > 0
    # a partition counted a few hundred rows at a time gives the same counts
    from collections import Counter

    from geo.timeline.dataset import TimelineClassifier, count_partition

    clf = TimelineClassifier.from_timeline(bare)
    paged: Counter[str] = Counter()
    for f in dataset_files(sample_dataset):
        paged.update(count_partition(f, clf, rows=377))
    assert dict(paged) == mem


def test_timeline_cli_with_a_dataset(sample_dataset: Path, tmp_path: Path) -> None:
    args = ["timeline", *LAYERS, "--time-from", "2026-11-02", "--time-to", "2026-11-03"]
    mem = _cli(*args, "--detections", str(SAMPLE_DIR / "detections.csv"), out=tmp_path / "mem.json")
    dask = _cli(
        *args,
        "--detections",
        str(sample_dataset),
        "--scheduler",
        "sync",
        out=tmp_path / "dask.json",
    )
    assert dask["detections"] == mem["detections"]
    _same_report(mem, dask)


def test_detections_command_writes_a_geoparquet_dataset(tmp_path: Path) -> None:
    store = tmp_path / "store.gpkg"
    assert (
        main(
            [
                "ingest",
                str(SAMPLE_DIR / "detections.csv"),
                "--store",
                str(store),
                "--partner",
                "LTU",
                "--releasable-to",
                "POL",
            ]
        )
        == 0
    )
    out = tmp_path / "ds"
    assert (
        main(
            [
                "detections",
                "--store",
                str(store),
                "--as-partner",
                "POL",
                "--format",
                "geoparquet",
                "--out",
                str(out),
                "--partition-rows",
                "8000",
            ]
        )
        == 0
    )
    files = dataset_files(out)
    assert [f.name for f in files] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    geo = json.loads(pq.read_schema(files[0]).metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    assert geo["columns"]["geometry"]["encoding"] == "point"
    back = pd.concat([gpd.read_parquet(f) for f in files], ignore_index=True)
    src, _ = read_detections(SAMPLE_DIR / "detections.csv")
    assert len(back) == len(src) == 22_000
    assert sorted(back["detection_id"]) == sorted(src["detection_id"])
    # A partner the rows are not released to gets an empty dataset, still a valid one.
    assert (
        main(
            [
                "detections",
                "--store",
                str(store),
                "--as-partner",
                "EU",
                "--format",
                "geoparquet",
                "--out",
                str(tmp_path / "eu"),
            ]
        )
        == 0
    )
    assert pq.read_metadata(tmp_path / "eu" / "part-00000.parquet").num_rows == 0


def test_detections_command_refuses_to_overwrite(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "keep.txt").write_text("x")
    assert (
        main(
            [
                "detections",
                "--store",
                str(tmp_path / "none.gpkg"),
                "--as-partner",
                "LTU",
                "--format",
                "geoparquet",
                "--out",
                str(tmp_path / "ds"),
            ]
        )
        == 2
    )
    # (no store yet: the store is named first)
    assert "error:" in capsys.readouterr().err
    assert (tmp_path / "ds" / "keep.txt").read_text() == "x"


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ("tcp://127.0.0.1:9", "no Dask scheduler answers"),
        ("localhost:8786", "not a Dask scheduler address"),
    ],
)
def test_bad_scheduler_is_a_clear_message(
    sample_dataset: Path, capsys: Any, scheduler: str, message: str
) -> None:
    code = main(["analyse", *LAYERS, "--detections", str(sample_dataset), "--scheduler", scheduler])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "--scheduler" in err
    assert "Traceback" not in err


def _bad_dataset(tmp_path: Path, kind: str) -> tuple[Path, str]:
    ds = tmp_path / "bad"
    ds.mkdir()
    good = gpd.GeoDataFrame(
        {"time": pd.to_datetime(["2026-11-02T00:00Z"] * 3).as_unit("us")},
        geometry=gpd.points_from_xy([25.0, 25.1, 25.2], [54.5, 54.6, 54.7]),
        crs=4326,
    )
    good.to_parquet(ds / "a.parquet")
    if kind == "corrupt":
        (ds / "b.parquet").write_bytes(b"PAR1 not really")
        return ds, "b.parquet: could not be read as Parquet"
    if kind == "range":
        bad = good.copy()
        bad.geometry = gpd.points_from_xy([25.0, 250.0, 25.2], [54.5, 54.6, 54.7])
        bad.to_parquet(ds / "b.parquet")
        return ds, "b.parquet row 2, field 'geometry': not a usable point"
    if kind == "lines":
        lines = good.copy()
        lines.geometry = [shapely.LineString([(25, 54), (26, 55)])] * 3
        lines.to_parquet(ds / "b.parquet")
        return ds, "b.parquet, field 'geometry': detections must be points"
    if kind == "no time":
        good.drop(columns="time").to_parquet(ds / "b.parquet")
        return ds, "b.parquet, field 'time': detections need their time"
    return tmp_path / "empty", "no GeoParquet partitions"


@pytest.mark.parametrize("kind", ["corrupt", "range", "lines", "no time", "empty"])
def test_unreadable_dataset_is_a_clear_message(tmp_path: Path, capsys: Any, kind: str) -> None:
    ds, message = _bad_dataset(tmp_path, kind)
    if kind == "empty":
        ds.mkdir()
    code = main(["analyse", *LAYERS, "--detections", str(ds), "--scheduler", "sync"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert "Traceback" not in err


def test_snapshot_refuses_a_dataset_with_a_message(
    sample_dataset: Path, tmp_path: Path, capsys: Any
) -> None:
    code = main(["snapshot", *LAYERS, "--detections", str(sample_dataset), "--out",
                 str(tmp_path / "x.png")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "a GeoParquet dataset is classified on Dask by analyse, export and timeline" in err
    assert not (tmp_path / "x.png").exists()


def test_terrain_engine_on_the_cluster_equals_in_memory(
    layers: dict[str, gpd.GeoDataFrame], sample_dataset: Path, cluster: Any
) -> None:
    """With a DEM the workers get the coverage grid (``covered_at``: the cell seen)."""
    det, _ = read_detections(SAMPLE_DIR / "detections.csv")
    sensors = layers["sensors"].iloc[::12].reset_index(drop=True)  # 15 viewsheds: quick
    opts = {"sectors": layers["sectors"], "dem": SAMPLE_DIR / "dem.tif"}
    mem = analyse(layers["border"], sensors, detections=det, **opts).report
    result, _, _ = analyse_dataset(
        layers["border"], sensors, dataset_files(sample_dataset), client=cluster, **opts
    )
    assert "terrain" in mem
    assert mem["detections"]["in_coverage"] > 0
    _same_report(mem, result.report)


def test_a_bad_row_on_a_worker_is_the_same_clear_message(
    layers: dict[str, gpd.GeoDataFrame], tmp_path: Path, cluster: Any
) -> None:
    from geo.core.errors import ValidationError

    ds, message = _bad_dataset(tmp_path, "range")
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        analyse_dataset(layers["border"], layers["sensors"], dataset_files(ds), client=cluster)


def test_membership_built_once_answers_as_shapely(layers: dict[str, Any]) -> None:
    """The index sent to the workers answers as ``contains_xy``, call after call."""
    import pickle

    from geo.coverage.pointindex import Membership

    polys = [*layers["sectors"].geometry, None, shapely.Polygon()]
    grid = pickle.loads(pickle.dumps(Membership(polys).build_index()))  # as a worker gets it
    rng = np.random.default_rng(7)
    lo_x, lo_y, hi_x, hi_y = layers["sectors"].total_bounds
    for n in (50_000, 30_000):  # two calls on one grid
        x, y = rng.uniform(lo_x - 0.1, hi_x + 0.1, n), rng.uniform(lo_y - 0.1, hi_y + 0.1, n)
        got = grid.contains(x, y)
        want = np.column_stack(
            [shapely.contains_xy(p, x, y) for p in layers["sectors"].geometry]
            + [np.zeros(n, bool), np.zeros(n, bool)]
        )
        assert got.shape == (n, len(polys))
        assert 0 < got.sum() < got.size
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n_sectors", [0, 1, 10, 16, 17])
def test_partition_counts_from_the_histogram_equal_direct_counts(n_sectors: int) -> None:
    from geo.coverage.dataset import _counts

    rng = np.random.default_rng(n_sectors)
    n = 50_000
    codes = rng.integers(0, 3, n).astype(np.int8)
    member = rng.random((n, n_sectors)) < 0.2
    partner_sectors = rng.random((4, n_sectors)) < 0.4
    mine = np.array([member[:, row].any(axis=1) for row in partner_sectors]).T.reshape(n, 4)
    want = (
        np.bincount(codes, minlength=3),
        member.sum(axis=0),
        mine.sum(axis=0),
        (mine & (codes == 1)[:, None]).sum(axis=0),
    )
    for got, exp in zip(_counts(codes, member, partner_sectors), want, strict=True):
        np.testing.assert_array_equal(got, exp)


def test_timeline_over_terrain_refuses_a_dataset(
    sample_dataset: Path, tmp_path: Path, capsys: Any
) -> None:
    code = main(["timeline", *LAYERS, "--dem", str(SAMPLE_DIR / "dem.tif"), "--time-from",
                 "2026-11-02", "--time-to", "2026-11-03", "--detections", str(sample_dataset),
                 "--out", str(tmp_path / "t.json")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "timeline classifies a GeoParquet dataset without terrain only" in err
    assert not (tmp_path / "t.json").exists()


def test_the_local_cluster_starts_when_main_is_a_script(tmp_path: Path) -> None:
    """Spawned workers would run the parent's main script (an app, a notebook): they don't."""
    script = tmp_path / "main_script.py"
    script.write_text("raise SystemExit('the main script ran in a worker')\n", encoding="utf-8")
    code = f"""
import sys, types
main = types.ModuleType("__main__")
main.__file__ = {str(script)!r}
sys.modules["__main__"] = main
from geo.dataset.cluster import dask_client
with dask_client(None) as client:
    print("workers", len(client.scheduler_info()["workers"]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the main script ran in a worker" not in done.stderr
    assert done.stdout.split() == ["workers", str(os.cpu_count() or 1)]


class _Processes:
    """``dask scheduler`` and ``dask worker`` started as a user would, each stopped after."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, limes: bool) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if limes:  # the checkout on PYTHONPATH, as docs/dask.md says
            env["PYTHONPATH"] = str(ROOT)
        dask = Path(sys.executable).with_name("dask")
        with (self.cwd / f"{len(self.started)}.log").open("wb") as log:  # the child's own copy
            proc = subprocess.Popen(
                [str(dask), *args], cwd=self.cwd, env=env, stdout=log, stderr=log
            )
        self.started.append(proc)
        return proc

    def scheduler(self, *, limes: bool) -> str:
        from browser_util import free_port

        port = free_port()
        self.start("scheduler", "--port", str(port), "--dashboard-address", ":0", limes=limes)
        return f"tcp://127.0.0.1:{port}"

    def worker(self, address: str, *, limes: bool) -> subprocess.Popen[bytes]:
        return self.start("worker", address, "--nthreads", "1", "--no-dashboard", limes=limes)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        from browser_util import stop_process

        stop_process(proc, timeout_s=20)


def _wait_for(address: str, workers: int) -> None:
    """Until the scheduler at ``address`` answers with exactly ``workers`` workers (60 s)."""
    import time

    from distributed import Client

    with Client(address, timeout=60) as client:
        deadline = time.monotonic() + 60
        while len(client.nthreads()) != workers:
            assert time.monotonic() < deadline, client.nthreads()
            time.sleep(0.2)


def test_a_cluster_started_by_hand_runs_limes_or_says_what_it_lacks(
    sample_dataset: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dask scheduler`` and ``dask worker`` processes, with and without Limes importable.

    A worker or a scheduler that cannot import Limes, and a scheduler with no worker, are
    each a message naming the fix (before, a worker stopped on the first task and the command
    died with a traceback); with both started as docs/dask.md says, the report equals the
    in-memory one.
    """
    from geo.dataset import cluster as dask_cluster

    monkeypatch.setattr(dask_cluster, "_CONNECT_TIMEOUT_S", 3)
    run = ["analyse", *LAYERS, "--detections", str(sample_dataset), "--scheduler"]
    procs = _Processes(tmp_path)
    try:
        address = procs.scheduler(limes=True)
        _wait_for(address, 0)
        assert main([*run, address]) == 2
        assert "no Dask worker has joined the scheduler" in capsys.readouterr().err
        lacking = procs.worker(address, limes=False)
        _wait_for(address, 1)
        assert main([*run, address]) == 2
        err = capsys.readouterr().err
        assert "the Dask cluster cannot run Limes's tasks" in err
        assert "No module named 'geo'" in err
        assert "PYTHONPATH" in err
        procs.stop(lacking)
        _wait_for(address, 0)  # the scheduler knows it is gone
        procs.worker(address, limes=True)
        _wait_for(address, 1)
        mem = _cli("analyse", *LAYERS, "--detections", str(SAMPLE_DIR / "detections.csv"),
                   out=tmp_path / "mem.json")  # fmt: skip
        _same_report(mem, _cli(*run, address, out=tmp_path / "dask.json"))

        bare = procs.scheduler(limes=False)  # a scheduler that cannot unpickle the tasks
        procs.worker(bare, limes=True)
        _wait_for(bare, 1)
        assert main([*run, bare]) == 2
        err = capsys.readouterr().err
        assert "the Dask cluster cannot run Limes's tasks" in err
        assert "Traceback" not in err
    finally:
        for proc in reversed(procs.started):
            procs.stop(proc)
