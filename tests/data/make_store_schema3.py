"""Build ``store_schema3.gpkg.gz``: a store of schema 3, written by Limes before the audit table.

Run once with the code of commit 6044e87 (the last release of store schema 3): from a
checkout of that commit, or naming one (``git archive 6044e87 | tar -x -C /tmp/limes-3``)::

    PYTHONPATH=. .venv/bin/python tests/data/make_store_schema3.py [CHECKOUT]

Through ``python -m geo``: the operation ``baltic`` (the sample's border and sensors, created
by ``fixture``), then three uploads: LTU's 12 detections into ``sample`` released to LVA (two
rows carry their own marking ``ALL``), POL's 5 into ``baltic`` released to ALL, and LTU's 4
detections without ids into ``baltic``, owner only. The store is checkpointed (no ``-wal``)
and gzipped.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def _rows(prefix: str, n: int, **extra: object) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [f"2026-11-0{1 + i % 3}T{i:02d}:15:00Z" for i in range(n)],
            "detection_id": [f"{prefix}{i}" for i in range(n)],
            "source": "radar-1",
            "lon": [25.1 + i * 0.01 for i in range(n)],
            "lat": [54.6 + i * 0.005 for i in range(n)],
            "class": "person",
            "confidence": 0.75,
            **extra,
        }
    )


def _geo(root: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "geo", *args], cwd=root, check=True, capture_output=True)


def main(root: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = folder / "store.gpkg"
        sample = root / "sample_data"
        _geo(
            root,
            "operation",
            "create",
            "baltic",
            "--border",
            str(sample / "border.geojson"),
            "--sensors",
            str(sample / "sensors.csv"),
            "--user",
            "fixture",
            "--store",
            str(store),
        )
        ltu = _rows("L", 12)
        ltu["releasable_to"] = ["ALL" if i in (3, 7) else "" for i in range(12)]
        ltu.to_csv(folder / "ltu.csv", index=False)
        _rows("P", 5).to_csv(folder / "pol.csv", index=False)
        _rows("N", 4).drop(columns="detection_id").to_csv(folder / "ltu_no_ids.csv", index=False)
        for name, partner, marking, operation in (
            ("ltu.csv", "LTU", "LVA", "sample"),
            ("pol.csv", "POL", "ALL", "baltic"),
            ("ltu_no_ids.csv", "LTU", None, "baltic"),
        ):
            args = ["ingest", str(folder / name), "--store", str(store), "--partner", partner]
            args += ["--user", "fixture", "--operation", operation]
            if marking:
                args += ["--releasable-to", marking]
            _geo(root, *args)
        conn = sqlite3.connect(store)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        with store.open("rb") as src, gzip.open(HERE / "store_schema3.gpkg.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE.parents[1])
