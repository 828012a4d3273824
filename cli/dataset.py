"""A GeoParquet dataset as ``--detections``, and ``--scheduler``: analyse, export, timeline.

A ``--detections`` that names a directory or a glob is a dataset: it is classified out of
core on a Dask cluster (:mod:`geo.dataset`), never read into memory whole; an ordinary file
keeps the in-memory path.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DatasetInput", "add_scheduler_arg", "opened_dataset"]

SCHEDULER_HELP = (
    "with a GeoParquet dataset as --detections: the Dask scheduler, tcp://host:port "
    "(default: a local cluster of this machine's cores; 'sync': no cluster)"
)


def add_scheduler_arg(p: argparse.ArgumentParser) -> None:
    """Add ``--scheduler``."""
    p.add_argument("--scheduler", help=SCHEDULER_HELP)


@dataclass
class DatasetInput:
    """A dataset given as ``--detections``: its files, the cluster, and what was read."""

    source: str
    files: list[Path]
    client: Any
    scheduler: str
    rows: int = 0
    naive_times: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: The classifier of its detections, once the analysis has built it.
    classifier: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The input report of the dataset (the ``inputs.detections`` entry)."""
        return {
            "source": self.source,
            "format": "geoparquet dataset",
            "partitions": len(self.files),
            "rows_read": self.rows,
            "rows_accepted": self.rows,
            "rows_rejected": 0,
            "naive_times": self.naive_times,
            "scheduler": self.scheduler,
            **self.extra,
        }


@contextmanager
def opened_dataset(args: argparse.Namespace) -> Iterator[DatasetInput | None]:
    """The dataset ``--detections`` names, with a Dask client open; None for a file or none."""
    from geo.dataset import dask_client, dataset_files, is_dataset, partition_schema

    spec = getattr(args, "detections", None)
    if spec is None or not is_dataset(spec):
        yield None
        return
    files = dataset_files(spec)
    for f in files:  # every footer checked before any work is sent out
        partition_schema(f)
    scheduler = getattr(args, "scheduler", None)
    with dask_client(scheduler) as client:
        yield DatasetInput(
            source=str(spec),
            files=files,
            client=client,
            scheduler=scheduler or "local cluster",
        )
