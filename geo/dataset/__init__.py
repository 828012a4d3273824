"""GeoParquet datasets of detections, and running work over their partitions on Dask.

``files`` finds a dataset's partition files and reads their points column by column,
``write`` writes detections as a dataset, ``cluster`` opens a Dask cluster (local, existing
or none) and runs a function over the partitions. See ``docs/dask.md``.
"""

from geo.dataset.cluster import SYNC, dask_client, iter_partitions, map_partitions, warm_workers
from geo.dataset.files import (
    PAGE_ROWS,
    PartitionPoints,
    dataset_files,
    is_dataset,
    iter_points,
    partition_schema,
    read_partition,
    read_points,
)
from geo.dataset.write import PARTITION_BY, ROWS_PER_PARTITION, write_dataset, write_partition

__all__ = [
    "PAGE_ROWS",
    "PARTITION_BY",
    "ROWS_PER_PARTITION",
    "SYNC",
    "PartitionPoints",
    "dask_client",
    "dataset_files",
    "is_dataset",
    "iter_partitions",
    "iter_points",
    "map_partitions",
    "partition_schema",
    "read_partition",
    "read_points",
    "warm_workers",
    "write_dataset",
    "write_partition",
]
