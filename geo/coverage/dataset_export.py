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
import pandas as pd
import pyogrio

from geo.core.errors import ValidationError
from geo.coverage.dataset import DatasetClassifier, classify_partition
from geo.dataset import iter_partitions
from geo.export import (  # the in-memory export's own rows
    ExportFormat,
    _for_gdal,
    _for_kml,
    _to_csv_table,
    csv_bytes,
    write_export,
)

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
    others = {name: gdf for name, gdf in layers.items() if name != "detections"}
    summary = write_export(others, out, fmt=fmt)
    out = Path(out)
    ids = None if partner is None else frozenset(layers["sectors"]["sector_id"].astype(str))
    job = ExportJob(classifier, ids)
    n = 0
    try:
        parts = iter_partitions(client, export_partition, files, job)
        if fmt == "kml":  # LIBKML cannot append to a layer it wrote: one write, in memory
            parts = iter([pd.concat(list(parts), ignore_index=True)])
        for k, part in enumerate(parts):
            if k == 0 or len(part):
                _append(part, out, fmt, first=k == 0)
                n += len(part)
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    summary["layers"]["detections"] = n
    return summary


def _append(gdf: gpd.GeoDataFrame, out: Path, fmt: str, *, first: bool) -> None:
    """Add one partition's detections to the ``detections`` layer of the export."""
    if fmt == "geojson":
        pyogrio.write_dataframe(
            _for_gdal(gdf, datetimes_as_text=False),
            out / "detections.geojson",
            driver="GeoJSON",
            layer="detections",
            append=not first,
            layer_options={"RFC7946": "YES"} if first else None,
        )
    elif fmt == "gpkg":
        pyogrio.write_dataframe(
            _for_gdal(gdf, datetimes_as_text=False),
            out,
            driver="GPKG",
            layer="detections",
            append=True,
        )
    elif fmt == "kml":
        pyogrio.write_dataframe(
            _for_kml(gdf, "detections"),
            out,
            driver="LIBKML",
            layer="detections",
            append=True,
            layer_options={"FOLDER": "YES"} if first else None,
        )
    else:
        data = csv_bytes(_to_csv_table(gdf))
        path = out / "detections.csv"
        if first:
            path.write_bytes(data)
        else:
            with path.open("ab") as f:
                f.write(data.split(b"\r\n", 1)[1])
