"""Exporting an analysis whose detections are a GeoParquet dataset, partition by partition.

The layers other than the detections are written as :func:`geo.export.write_export` writes
them; the detections layer is then classified on the cluster partition by partition
(:func:`geo.coverage.dataset.classify_partition`, a partner's view kept on the worker) and
each partition appended to the output as it arrives, in partition order: the rows and their
statuses are those of the in-memory export, and only a few partitions are held at a time
(KML excepted: LIBKML cannot append to a layer it wrote, so its detections are gathered and
written once; KML is for briefings, not millions of placemarks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd

from geo.coverage.dataset import DatasetClassifier, classify_partition
from geo.dataset import iter_partitions
from geo.export import ExportFormat, write_export_pages

__all__ = ["ExportJob", "export_partition", "write_dataset_export"]


@dataclass(frozen=True, eq=False)
class ExportJob:
    """What a worker needs to export a partition: the classifier and the partner's sectors."""

    classifier: DatasetClassifier
    #: The partner's sector ids (None: every row).
    sector_ids: frozenset[str] | None


def export_partition(path: Path, job: ExportJob) -> gpd.GeoDataFrame:
    """The exported detections of one partition file (run on a worker)."""
    gdf = classify_partition(path, job.classifier)
    if job.sector_ids is not None:
        mine = job.sector_ids
        keep = gdf["sector_ids"].map(lambda v: bool(mine & set(str(v).split(",")) - {""}))
        gdf = gdf[keep.to_numpy(dtype=bool)].reset_index(drop=True)
    return gdf


def write_dataset_export(
    layers: dict[str, gpd.GeoDataFrame],
    files: list[Path],
    classifier: DatasetClassifier,
    out: str | Path,
    *,
    fmt: ExportFormat,
    partner: str | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """Write ``layers`` (from :func:`geo.export.export_layers`) and the dataset's detections.

    Returns
    -------
    dict
        The summary of :func:`geo.export.write_export`, with the detections counted.
    """
    ids = None if partner is None else frozenset(layers["sectors"]["sector_id"].astype(str))
    parts = iter_partitions(client, export_partition, files, ExportJob(classifier, ids))
    return write_export_pages(layers, parts, out, fmt=fmt)
