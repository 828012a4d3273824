"""Build ``store_schema2.gpkg.gz``: a store of schema 2, written by Limes before operations.

Run once with the code of commit 6e9d861 (the last release of store schema 2), from the
repository root::

    PYTHONPATH=. .venv/bin/python tests/data/make_store_schema2.py

Three uploads through ``python -m geo ingest``: LTU's 12 detections released to LVA (two rows
carry their own marking ``ALL``), POL's 5 released to ALL, and LTU's 4 detections without
ids, owner only. The store is checkpointed (no ``-wal``) and gzipped.
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
ROOT = HERE.parents[1]


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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = folder / "store.gpkg"
        ltu = _rows("L", 12)
        ltu["releasable_to"] = ["ALL" if i in (3, 7) else "" for i in range(12)]
        ltu.to_csv(folder / "ltu.csv", index=False)
        _rows("P", 5).to_csv(folder / "pol.csv", index=False)
        no_ids = _rows("N", 4).drop(columns="detection_id")
        no_ids.to_csv(folder / "ltu_no_ids.csv", index=False)
        for name, partner, marking in (
            ("ltu.csv", "LTU", "LVA"),
            ("pol.csv", "POL", "ALL"),
            ("ltu_no_ids.csv", "LTU", None),
        ):
            args = [
                sys.executable,
                "-m",
                "geo",
                "ingest",
                str(folder / name),
                "--store",
                str(store),
                "--partner",
                partner,
                "--user",
                "fixture",
            ]
            if marking:
                args += ["--releasable-to", marking]
            subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
        conn = sqlite3.connect(store)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        with store.open("rb") as src, gzip.open(HERE / "store_schema2.gpkg.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)


if __name__ == "__main__":
    main()
