"""Writing detections as a GeoParquet dataset: a directory of partition files.

Layout (see ``docs/dask.md``): ``DIR/part-00000.parquet``, ``part-00001.parquet`` ... of at
most ``rows_per_partition`` rows each in the frame's order (``by="rows"``), or one file per
UTC day, ``DIR/2026-05-01-00000.parquet`` (further files of a large day ``-00001`` ...)
(``by="day"``). Every file is GeoParquet 1.1: the geometry in the GeoArrow ``point``
encoding (lon and lat read as two float columns, no WKB to decode), EPSG:4326, a ``time``
column (UTC timestamps, µs) and every other column of the frame. Name order is row order.

The dataset is written into a temporary directory beside ``out`` and renamed into place:
a reader never sees half a dataset.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np

from geo.core.errors import ValidationError, describe

__all__ = ["PARTITION_BY", "ROWS_PER_PARTITION", "write_dataset", "write_partition"]

#: Default rows per partition file.
ROWS_PER_PARTITION: Final[int] = 1_000_000
#: How rows are shared out among partition files.
PARTITION_BY: Final[tuple[str, ...]] = ("rows", "day")


def write_partition(gdf: gpd.GeoDataFrame, path: str | Path) -> None:
    """One partition file: GeoParquet 1.1, GeoArrow point encoding, no index.

    An empty partition gets the WKB encoding (geopandas writes no empty GeoArrow column).
    """
    empty = bool(gdf.geometry.isna().all())
    gdf.to_parquet(
        path,
        index=False,
        geometry_encoding="WKB" if empty else "geoarrow",
        schema_version="1.1.0",
        write_covering_bbox=False,
    )


def write_dataset(
    gdf: gpd.GeoDataFrame,
    out: str | Path,
    *,
    rows_per_partition: int = ROWS_PER_PARTITION,
    by: Literal["rows", "day"] = "rows",
) -> dict[str, Any]:
    """Write detections (EPSG:4326 points with a ``time`` column) as a GeoParquet dataset.

    Parameters
    ----------
    gdf
        The detections; not changed.
    out
        The directory to create; it must not exist, or be empty.
    rows_per_partition
        Most rows in one file (> 0).
    by
        ``"rows"``: files of ``rows_per_partition`` rows; ``"day"``: a file per UTC day
        (split when a day has more rows).

    Returns
    -------
    dict
        ``{"out", "format": "geoparquet", "partitions", "features"}``.
    """
    if by not in PARTITION_BY:
        raise ValidationError(
            f"--partition-by: expected one of {', '.join(PARTITION_BY)}, got {by!r}"
        )
    if rows_per_partition < 1:
        raise ValidationError(
            f"--partition-rows: expected a whole number > 0, got {rows_per_partition}"
        )
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValidationError(
            describe(
                str(out),
                "will not overwrite",
                expected="a new or empty directory",
                got="an existing file" if not out.is_dir() else "a directory with files",
                fix="Name a new directory with --out",
            )
        )
    names = _partitions(gdf, rows_per_partition, by)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    except OSError as exc:
        raise ValidationError(
            describe(str(out), "cannot write", got=exc.strerror or str(exc))
        ) from None
    try:
        for name, rows in names:
            write_partition(gdf.iloc[rows].reset_index(drop=True), tmp / name)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValidationError(
            describe(str(out), "cannot write", got=exc.strerror or str(exc))
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "out": str(out),
        "format": "geoparquet",
        "partitions": len(names),
        "features": len(gdf),
    }


def _partitions(
    gdf: gpd.GeoDataFrame, rows_per_partition: int, by: str
) -> list[tuple[str, np.ndarray]]:
    """(file name, row positions) of each partition; at least one (empty) partition."""
    n = len(gdf)
    if by == "rows" or n == 0:
        starts = range(0, max(n, 1), rows_per_partition)
        return [
            (f"part-{k:05d}.parquet", np.arange(s, min(s + rows_per_partition, n)))
            for k, s in enumerate(starts)
        ]
    day = gdf["time"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d").to_numpy()
    out = []
    for d in sorted(set(day)):
        rows = np.flatnonzero(day == d)
        for k, s in enumerate(range(0, rows.size, rows_per_partition)):
            out.append((f"{d}-{k:05d}.parquet", rows[s : s + rows_per_partition]))
    return out
