"""The coverage analysis of a GeoParquet dataset of detections, out of core, on Dask.

:func:`analyse_dataset` runs the analysis recipe of :func:`geo.coverage.analyse` without the
detections (coverage does not depend on them), then classifies the dataset partition by
partition on the cluster (:mod:`geo.dataset.cluster`) and adds up the counts: the report is
the one :func:`~geo.coverage.analyse` gives with all the detections in memory.

What goes to the workers is built once: the corridor's and the sectors' outlines in lon/lat
and the engine's ``covered_at`` with its index already built (the flat engine's
:class:`~geo.coverage.footprint_index.FootprintIndex`, the terrain engine's grid), sent to
every worker once. A partition is classified as :func:`geo.coverage.classify_points`
classifies points, from its lon/lat columns (no shapely object per row).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.core import settings
from geo.coverage import threads
from geo.coverage.analysis import Analysis, _sector_layer_counts, analyse_covered
from geo.coverage.detections import STATUS, PointTest
from geo.coverage.engine import CorridorCoverage
from geo.coverage.scene import Scene
from geo.dataset import (
    PAGE_ROWS,
    PartitionPoints,
    iter_points,
    map_partitions,
    read_partition,
    warm_workers,
)

__all__ = [
    "DatasetClassifier",
    "PartitionCounts",
    "analyse_dataset",
    "classify_partition",
    "count_partition",
    "in_task_thread",
    "prepare_dataset_analysis",
    "warm_up",
]


@dataclass(frozen=True, eq=False)
class DatasetClassifier:
    """What every worker needs to classify a partition (built once, sent once)."""

    #: The corridor, coverage and sector test of :func:`geo.coverage.classify_points`,
    #: its indexes built once (here, on the client).
    test: PointTest
    #: Sector ids, in the report's order.
    sector_ids: NDArray[np.object_]
    #: Per partner of the report (rows, in its order), which sectors are its.
    partner_sectors: NDArray[np.bool_]
    #: The time window, UTC microseconds (None: open).
    t_from_us: int | None
    t_to_us: int | None

    @classmethod
    def build(
        cls, scene: Scene, corridor: CorridorCoverage, partners: Sequence[str]
    ) -> DatasetClassifier:
        """From the prepared scene and the engine's corridor coverage."""
        test = PointTest(
            scene.acrs,
            corridor=scene.corridor,
            coverage=corridor.coverage,
            sectors=scene.sectors.polygons,
            covered_at=corridor.covered_at,
        )
        owner = np.asarray(scene.sectors.partner, dtype=object)
        partner_sectors = np.array([owner == p for p in partners], dtype=bool).reshape(
            len(partners), len(owner)
        )
        return cls(
            test=test.ready(),  # it travels built
            sector_ids=np.asarray(scene.sectors.ids, dtype=object),
            partner_sectors=partner_sectors,
            t_from_us=_us(scene.time_from),
            t_to_us=_us(scene.time_to),
        )

    def in_window(self, time_us: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which times lie in the window (ends included)."""
        keep = np.ones(time_us.size, dtype=bool)
        if self.t_from_us is not None:
            keep &= time_us >= self.t_from_us
        if self.t_to_us is not None:
            keep &= time_us <= self.t_to_us
        return keep

    def classify(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int8], NDArray[np.bool_]]:
        """Status codes (0 coverage, 1 gap, 2 outside) and sector membership per point."""
        return self.test.classify(lon, lat)


@dataclass(frozen=True)
class PartitionCounts:
    """The detection counts of one partition (or of several, added up)."""

    rows: int
    naive_rows: int
    #: Rows in the time window, by status: coverage, gap, outside.
    status: NDArray[np.int64]
    #: Per sector, rows in the window it holds.
    sectors: NDArray[np.int64]
    #: Per partner, rows in its sectors, and of those in gaps.
    partners: NDArray[np.int64]
    partners_gap: NDArray[np.int64]

    def __add__(self, other: PartitionCounts) -> PartitionCounts:
        return PartitionCounts(
            self.rows + other.rows,
            self.naive_rows + other.naive_rows,
            self.status + other.status,
            self.sectors + other.sectors,
            self.partners + other.partners,
            self.partners_gap + other.partners_gap,
        )


def count_partition(
    path: Path, clf: DatasetClassifier, *, rows: int = PAGE_ROWS
) -> PartitionCounts:
    """The counts of one partition file (run on a worker), ``rows`` rows at a time.

    A page's arrays stay in the CPU's caches and in memory the allocator hands out again:
    whole 2,000,000-row partitions spent a quarter of their time in the kernel, mapping
    fresh memory for every array.
    """
    total: PartitionCounts | None = None
    with in_task_thread():
        for pts in iter_points(path, rows=rows):
            page = _count_page(pts, clf)
            total = page if total is None else total + page
    assert total is not None  # iter_points yields at least one page
    return total


@contextmanager
def in_task_thread() -> Iterator[None]:
    """On a Dask worker, the kernels stay in the task's thread (:func:`threads.at_most`).

    Dask runs a task per worker thread and gives its workers one thread per core (it sets
    ``OMP_NUM_THREADS=1`` in them); elsewhere the kernels use every core.
    """
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):  # not in a worker's task
        yield
        return
    with threads.at_most(1):
        yield


def _count_page(pts: PartitionPoints, clf: DatasetClassifier) -> PartitionCounts:
    keep = clf.in_window(pts.time_us)
    lon, lat = (pts.lon, pts.lat) if keep.all() else (pts.lon[keep], pts.lat[keep])
    codes, in_sector = clf.classify(lon, lat)
    status, sectors, partners, partners_gap = _counts(codes, in_sector, clf.partner_sectors)
    return PartitionCounts(
        rows=len(pts),
        naive_rows=len(pts) if pts.naive else 0,
        status=status,
        sectors=sectors,
        partners=partners,
        partners_gap=partners_gap,
    )


#: Most sectors counted through one histogram of (sector set, status) (2**16 * 3 bins).
_HIST_SECTORS = 16


def _counts(
    codes: NDArray[np.int8], in_sector: NDArray[np.bool_], partner_sectors: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Rows by status, per sector, per partner and per partner in gaps.

    Points share few sets of sectors: one histogram of (set of sectors, status) in a pass,
    then every count from the histogram's few rows.

    Examples
    --------
    >>> codes = np.array([0, 1, 1, 2], dtype=np.int8)
    >>> member = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    >>> [c.tolist() for c in _counts(codes, member, np.array([[1, 0], [0, 1]], dtype=bool))]
    [[1, 2, 1], [2, 2], [2, 2], [1, 2]]
    """
    n_sec = in_sector.shape[1]
    if n_sec > _HIST_SECTORS:
        mine = (in_sector.astype(np.int64) @ partner_sectors.T.astype(np.int64)) > 0
        gap = codes == 1
        return (
            np.bincount(codes, minlength=3).astype(np.int64),
            np.count_nonzero(in_sector, axis=0).astype(np.int64),
            np.count_nonzero(mine, axis=0).astype(np.int64),
            np.count_nonzero(mine & gap[:, None], axis=0).astype(np.int64),
        )
    key = codes.astype(np.int32)  # 4 status slots a set of sectors
    for j in range(n_sec):  # column by column: in_sector is often a strided view
        key |= in_sector[:, j].astype(np.int32) << (j + 2)
    hist = np.bincount(key, minlength=4 << n_sec).reshape(1 << n_sec, 4)[:, :3]
    sets = ((np.arange(1 << n_sec)[:, None] >> np.arange(n_sec)) & 1).astype(bool)
    per_set = hist.sum(axis=1)
    mine = (sets.astype(np.int64) @ partner_sectors.T.astype(np.int64)) > 0  # (sets, partners)
    return (
        hist.sum(axis=0).astype(np.int64),
        (per_set @ sets).astype(np.int64),
        (per_set @ mine).astype(np.int64),
        (hist[:, 1] @ mine).astype(np.int64),
    )


def classify_partition(path: Path, clf: DatasetClassifier) -> gpd.GeoDataFrame:
    """The rows of one partition in the time window, with ``coverage_status`` and ``sector_ids``.

    The columns of :func:`geo.coverage.detections.classify_detections`' layer, on the
    partition's own columns.
    """
    gdf = read_partition(path)
    us = gdf["time"].dt.as_unit("us").astype("int64").to_numpy()
    gdf = gdf[clf.in_window(us)].reset_index(drop=True)
    xy = shapely.get_coordinates(gdf.geometry.to_numpy())
    with in_task_thread():
        codes, in_sector = clf.classify(xy[:, 0], xy[:, 1])
    gdf["coverage_status"] = pd.Categorical.from_codes(codes, categories=STATUS)
    gdf["sector_ids"] = _joined_ids(in_sector, clf.sector_ids)
    return gdf


def _joined_ids(member: NDArray[np.bool_], ids: NDArray[np.object_]) -> NDArray[np.object_]:
    """Per row, the ids of its sectors joined by commas ("" none), each distinct set once."""
    if member.shape[1] == 0 or member.shape[0] == 0:
        return np.full(member.shape[0], "", dtype=object)
    uniq, inverse = np.unique(member, axis=0, return_inverse=True)
    joined = np.array([",".join(str(s) for s in ids[row]) for row in uniq], dtype=object)
    return joined[inverse.ravel()]


def prepare_dataset_analysis(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    *,
    sectors: gpd.GeoDataFrame | None = None,
    corridor_km: float = settings.CORRIDOR_KM,
    min_gap_m: float = settings.MIN_GAP_M,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    dem: str | Path | None = None,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> tuple[Analysis, DatasetClassifier]:
    """The analysis without detections (counts 0) and the classifier of its detections.

    Parameters as :func:`geo.coverage.analyse`.
    """
    result, scene, coverage = analyse_covered(
        border, sensors, sectors=sectors, corridor_km=corridor_km, min_gap_m=min_gap_m,
        time_from=time_from, time_to=time_to, dem=dem, target_height_m=target_height_m,
        refraction_coeff=refraction_coeff,
    )  # fmt: skip
    clf = DatasetClassifier.build(scene, coverage.corridor, list(result.report["partners"]))
    return result, clf


def with_counts(result: Analysis, counts: PartitionCounts) -> Analysis:
    """The analysis with the dataset's counts in its report and its sectors layer."""
    report = result.report
    status = counts.status
    report["detections"].update(
        {
            "total": int(status.sum()),
            "in_coverage": int(status[0]),
            "in_gaps": int(status[1]),
            "outside_corridor": int(status[2]),
        }
    )
    for j, sec in enumerate(report["sectors"]):
        sec["detections"] = int(counts.sectors[j])
    for k, entry in enumerate(report["partners"].values()):
        entry["detections"] = int(counts.partners[k])
        entry["detections_in_gaps"] = int(counts.partners_gap[k])
    layers = dict(result.layers)
    if "sectors" in layers:
        layers["sectors"] = _sector_layer_counts(layers["sectors"], report["sectors"])
    return replace(result, report=report, layers=layers)


def analyse_dataset(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    files: Sequence[Path],
    *,
    client: Any = None,
    **options: Any,
) -> tuple[Analysis, PartitionCounts, DatasetClassifier]:
    """:func:`geo.coverage.analyse` of detections kept as GeoParquet partition files.

    Parameters
    ----------
    border, sensors
        As :func:`geo.coverage.analyse`.
    files
        The partition files (:func:`geo.dataset.dataset_files`).
    client
        A :class:`distributed.Client` (:func:`geo.dataset.dask_client`), or None: the
        partitions one after another in this process.
    **options
        The keyword options of :func:`geo.coverage.analyse` (``sectors``, ``time_from`` ...).

    Returns
    -------
    analysis : Analysis
        Its report equals the in-memory one; it holds no detection rows.
    counts : PartitionCounts
        The dataset's rows (``rows``, ``naive_rows``) and counts.
    classifier : DatasetClassifier
        What classified them (for an export of the rows).
    """
    warm_workers(client, warm_up)
    result, clf = prepare_dataset_analysis(border, sensors, **options)
    parts = map_partitions(client, count_partition, files, clf)
    counts = parts[0]
    for p in parts[1:]:
        counts = counts + p
    return with_counts(result, counts), counts, clf


def warm_up() -> None:
    """Load what classifying a partition loads on first use: modules and compiled kernels.

    Run on every worker (:func:`geo.dataset.warm_workers`) while the client prepares the
    analysis, so that the first partitions do not wait for it.
    """
    from geo.coverage.footprint_index import FootprintIndex
    from geo.coverage.pointindex import Membership

    box = shapely.box(0.0, 0.0, 1.0, 1.0)
    x = np.array([0.5, 2.0])
    Membership([box]).build_index().contains(x, x)
    FootprintIndex.from_polygons([box], [0.5], [0.5]).covers(x, x)


def _us(ts: pd.Timestamp | None) -> int | None:
    return None if ts is None else int(ts.value) // 1000  # Timestamp.value: ns, any unit
