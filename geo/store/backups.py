"""A consistent copy of the store, made while uploads go on (SQLite's online backup)."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from geo.core import settings
from geo.core.errors import ValidationError, describe
from geo.store.connection import busy_error, is_busy
from geo.store.location import existing_store, postgres_url, sqlite_path
from geo.store.opening import open_store
from geo.store.postgres import backups as pg_backups

__all__ = ["backup"]


def backup(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict[str, Any]:
    """Copy the store with SQLite's online backup API (safe while uploads are written).

    The copy is written next to ``out`` under a temporary name, checked
    (``PRAGMA integrity_check``) and then renamed over ``out``, so ``out`` is never half
    written.

    Parameters
    ----------
    path
        The store. A PostgreSQL URL: ``out`` is a ``pg_dump -Fc`` archive (restore it with
        ``pg_restore``), and the summary says so (``"format"``).
    out
        The copy (a GeoPackage); replaced if it exists. Never the store itself.

    Returns
    -------
    dict
        ``{"store", "out", "bytes", "detections", "uploads"}``.

    Raises
    ------
    ValidationError
        No store at ``path``, ``out`` is the store (or one of its journal files) or a
        directory, or the copy cannot be written.
    """
    url = postgres_url(path)
    if url is not None:
        return pg_backups.backup(url, out)
    store = sqlite_path(path)
    target = Path(out)
    _check_paths(store, target)
    open_store(store, create=False).close()  # a store (upgraded if older), then closed:
    # the backup API is Python's sqlite3, another SQLite library (see Connection)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            counts = _copy(store, tmp, target)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ValidationError(
            describe(
                str(target),
                "cannot write the backup",
                expected="a writable file",
                got=exc.strerror or str(exc),
            )
        ) from exc
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise busy_error(store) from exc
        raise ValidationError(
            describe(str(store), "cannot read the store", expected="a readable store", got=str(exc))
        ) from exc
    return {
        "store": str(store),
        "out": str(target),
        "bytes": target.stat().st_size,
        "detections": counts[0],
        "uploads": counts[1],
    }


def _check_paths(store: Path, target: Path) -> None:
    """Refuse a missing store, and a copy that would overwrite it or is a directory."""
    existing_store(store)
    resolved = target.resolve()
    if resolved in {store.resolve(), *(Path(f"{store.resolve()}{s}") for s in ("-wal", "-shm"))}:
        raise ValidationError(
            describe(
                "--out",
                "the backup would overwrite the store",
                expected="another file",
                got=str(target),
                fix="Write the copy to a new file name",
            )
        )
    if target.is_dir():
        raise ValidationError(
            describe(
                "--out",
                "is a directory",
                expected="a file name",
                got=str(target),
                fix="Add a file name, e.g. copy.gpkg",
            )
        )


def _copy(store: Path, tmp: Path, target: Path) -> tuple[int, int]:
    """Copy ``store`` into ``tmp`` (one self-contained file) and check the copy.

    Returns the copy's detections and uploads; ``target`` names the copy in messages.
    """
    src = sqlite3.connect(store, isolation_level=None, timeout=settings.STORE_BUSY_TIMEOUT_S)
    dst = sqlite3.connect(tmp, isolation_level=None)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        counts = [
            int(dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("detections", "uploads")
        ]
    finally:
        dst.close()
        src.close()
    if check != "ok":
        raise ValidationError(
            describe(str(target), "the copy failed its integrity check", expected="ok", got=check)
        )
    return counts[0], counts[1]
