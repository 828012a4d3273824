"""A partition read and counted page by page gives what the whole partition gives.

The Dask path reads each partition file a page of rows at a time
(:func:`geo.dataset.iter_points`, :func:`geo.coverage.dataset.count_partition`); the equality
tests of tests/test_dask.py use partitions of one page. Here pages are small, so a partition
spans many, and the truth is the in-memory analysis (:func:`geo.coverage.analyse`).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.coverage.dataset import count_partition, prepare_dataset_analysis, with_counts
from geo.coverage.threads import cores
from geo.dataset import dataset_files, iter_points, read_points, write_dataset
from geo.inputs import read_border, read_detections, read_sectors, read_sensors


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return {
        "border": read_border(SAMPLE_DIR / "border.geojson")[0],
        "sensors": read_sensors(SAMPLE_DIR / "sensors.csv")[0],
        "sectors": read_sectors(SAMPLE_DIR / "sectors.geojson")[0],
    }


@pytest.fixture(scope="module")
def detections() -> gpd.GeoDataFrame:
    return read_detections(SAMPLE_DIR / "detections.csv")[0]


@pytest.mark.parametrize("rows", [1, 777, 5_000, 1_000_000])
def test_counts_page_by_page_equal_in_memory(
    layers: dict[str, gpd.GeoDataFrame],
    detections: gpd.GeoDataFrame,
    tmp_path: Path,
    rows: int,
) -> None:
    data = detections if rows > 1 else detections.iloc[::37]  # one row a page: fewer
    out = tmp_path / "ds"
    write_dataset(data, out, rows_per_partition=8_000)
    opts: dict[str, Any] = {
        "sectors": layers["sectors"],
        "time_from": "2026-11-02T06:00Z",
        "time_to": "2026-11-06T18:00Z",
    }
    mem = analyse(layers["border"], layers["sensors"], detections=data, **opts).report
    result, clf = prepare_dataset_analysis(layers["border"], layers["sensors"], **opts)
    clf = pickle.loads(pickle.dumps(clf))  # as a worker gets it (plain pickle suffices)
    parts = [count_partition(f, clf, rows=rows) for f in dataset_files(out)]
    counts = parts[0]
    for p in parts[1:]:
        counts = counts + p
    got = with_counts(result, counts).report
    for key in ("detections", "sectors", "partners"):
        assert got[key] == mem[key], key
    assert counts.rows == len(data) > mem["detections"]["total"] > 0


def test_pages_are_the_partition_in_order(detections: gpd.GeoDataFrame, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_dataset(detections, out, rows_per_partition=30_000)
    (path,) = dataset_files(out)
    whole = read_points(path)
    pages = list(iter_points(path, rows=4_096))
    assert [p.first_row for p in pages] == list(range(0, len(detections), 4_096))
    for field in ("lon", "lat", "time_us"):
        np.testing.assert_array_equal(
            np.concatenate([getattr(p, field) for p in pages]), getattr(whole, field)
        )
    np.testing.assert_array_equal(whole.lon, detections.geometry.x.to_numpy())
    times = detections["time"].dt.tz_convert("UTC").dt.as_unit("us").astype("int64")
    np.testing.assert_array_equal(whole.time_us, times.to_numpy())


def _partition(tmp_path: Path, encoding: str, n: int = 1_000) -> tuple[gpd.GeoDataFrame, Path]:
    rng = np.random.default_rng(7)
    gdf = gpd.GeoDataFrame(
        {"time": pd.Timestamp("2026-11-02T00:00Z") + pd.to_timedelta(np.arange(n), unit="s")},
        geometry=gpd.points_from_xy(rng.uniform(24, 26, n), rng.uniform(54, 55, n)),
        crs=4326,
    )
    gdf["time"] = gdf["time"].dt.as_unit("us")
    return gdf, tmp_path / f"p-{encoding}.parquet"


@pytest.mark.parametrize("encoding", ["geoarrow", "WKB"])
def test_a_bad_point_on_a_later_page_names_its_row_in_the_file(
    tmp_path: Path, encoding: str
) -> None:
    gdf, path = _partition(tmp_path, encoding)
    xy = np.column_stack([gdf.geometry.x, gdf.geometry.y])
    xy[700, 0] = 250.0  # rows 701 and 901 (from 1), pages of 256 rows: the third and fourth
    xy[900, 1] = -95.0
    gdf.geometry = gpd.points_from_xy(xy[:, 0], xy[:, 1])
    gdf.to_parquet(path, geometry_encoding=encoding)
    with pytest.raises(ValidationError) as err:
        list(iter_points(path, rows=256))
    message = str(err.value)
    assert f"{path} row 701, field 'geometry': not a usable point" in message
    assert "2 such row(s)" in message
    with pytest.raises(ValidationError) as whole:
        read_points(path)
    assert str(whole.value) == message


def test_a_missing_time_on_a_later_page_names_its_row_in_the_file(tmp_path: Path) -> None:
    gdf, path = _partition(tmp_path, "geoarrow")
    gdf["time"] = gdf["time"].astype(object)
    gdf.loc[[650, 651, 999], "time"] = None
    gdf["time"] = pd.to_datetime(gdf["time"], utc=True).dt.as_unit("us")
    gdf.to_parquet(path, geometry_encoding="geoarrow")
    with pytest.raises(ValidationError) as err:
        list(iter_points(path, rows=300))
    message = str(err.value)
    assert f"{path} row 651, field 'time': a detection without a time" in message
    assert "3 such row(s)" in message


def test_local_cluster_workers_run_a_task_in_its_thread_and_keep_freed_memory() -> None:
    """What made a partition cost twice its work on the local cluster, gone.

    Dask's workers hand freed memory back at once (``MALLOC_TRIM_THRESHOLD_``), so every
    array was mapped afresh; and each task's kernels shared themselves out to every core
    while the other worker did the same.
    """
    from geo.dataset import dask_client

    def names() -> set[str]:
        import threading

        from geo.coverage.dataset import in_task_thread
        from geo.coverage.threads import map_threads

        with in_task_thread():
            return set(map_threads(lambda _: threading.current_thread().name, range(8)))

    with dask_client(None) as client:
        trim = client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert set(trim.values()) == {None}
        in_task = client.submit(names, pure=False).result()
    assert len(in_task) == 1
    assert not any(n.startswith("limes") for n in in_task)  # no thread pool: the task's own
    if cores() > 1:  # elsewhere the kernels' pool threads do the work
        assert all(n.startswith("limes") for n in names())
