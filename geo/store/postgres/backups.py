"""A PostGIS store's backup: a ``pg_dump -Fc`` archive (``pg_restore`` reads it back).

The dump runs as the store's own role, which row-level security binds like any other: it
states every partner with an upload as a viewer (``PGOPTIONS``) and dumps with row security
on (``--enable-row-security``), so every row is in the archive. The archive is written under
a temporary name next to ``out`` and renamed over it when complete.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from geo.access.releasability import VIEWERS_SETTING
from geo.core.errors import ValidationError, describe
from geo.store.postgres.connection import connect, shown_url
from geo.store.postgres.schema import prepare

__all__ = ["backup", "pg_tool"]

#: How long a dump may take (s).
_DUMP_TIMEOUT_S = 3600


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client program (``pg_dump``, ``pg_restore``), newest first.

    Raises
    ------
    ValidationError
        The program is not installed.
    """
    found = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if on_path is None:
        raise ValidationError(
            describe(
                name,
                "not installed",
                expected=f"PostgreSQL's {name} (Debian: apt-get install postgresql-client)",
                got="nothing on PATH",
            )
        )
    return on_path


def backup(url: str, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Write a ``pg_dump -Fc`` archive of the store at ``url`` to ``out``.

    Returns
    -------
    dict
        ``{"store", "out", "bytes", "detections", "uploads", "format"}`` (the rows counted
        in the store as the dump began).
    """
    target = Path(out)
    if target.is_dir():
        raise ValidationError(
            describe(
                "--out",
                "is a directory",
                expected="a file name",
                got=str(target),
                fix="Add a file name, e.g. limes.dump",
            )
        )
    conn = connect(url)
    try:
        prepare(conn)
        with conn.transaction():
            partners = [r[0] for r in conn.execute("SELECT partner FROM limes_partners").fetchall()]
        with conn.transaction(partners):
            detections = int(conn.execute("SELECT count(*) FROM detections").scalar())
            uploads = int(conn.execute("SELECT count(*) FROM uploads").scalar())
    finally:
        conn.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _dump(url, tmp, partners)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return {
        "store": shown_url(url),
        "out": str(target),
        "bytes": target.stat().st_size,
        "detections": detections,
        "uploads": uploads,
        "format": "pg_dump -Fc",
    }


def _dump(url: str, tmp: Path, partners: list[str]) -> None:
    """Run ``pg_dump -Fc`` into ``tmp``, stating every partner as a viewer."""
    env = {**os.environ, "PGOPTIONS": f"-c {VIEWERS_SETTING}={','.join(partners)}"}
    done = subprocess.run(
        [pg_tool("pg_dump"), "-Fc", "--enable-row-security", "-f", str(tmp), "-d", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=_DUMP_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise ValidationError(
            describe(
                shown_url(url),
                "pg_dump failed",
                expected="a dump of the store",
                got=(done.stderr.strip().splitlines() or ["no message"])[-1],
                fix="Check that pg_dump is as new as the server",
            )
        )
