"""The bytes of a user's file: the only functions that open it directly.

Each refuses a file larger than :func:`max_file_bytes` (:data:`settings.MAX_UPLOAD_MB`, as
Streamlit's upload limit) before reading it whole; GDAL is later handed these bytes, never
the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from geo.core import settings
from geo.core.errors import ValidationError, describe

__all__ = [
    "HEAD_BYTES",
    "check_file",
    "max_file_bytes",
    "mb",
    "read_bytes",
    "read_head",
    "too_large",
]

#: Bytes read from the start of a file for its signature and a CSV's header.
HEAD_BYTES = 65_536


def max_file_bytes() -> int:
    """Largest file read (bytes): :data:`settings.MAX_UPLOAD_MB` mebibytes, as Streamlit."""
    return settings.MAX_UPLOAD_MB * 1024 * 1024


def mb(n_bytes: float) -> str:
    """A size for messages: ``"12.5 MB"`` (mebibytes)."""
    return f"{n_bytes / 1024 / 1024:,.1f} MB"


def too_large(source: str, size: int | str) -> ValidationError:
    """The refusal of a file over the size limit; ``size`` in bytes, or said in words."""
    got = mb(size) if isinstance(size, int) else size
    return ValidationError(
        describe(
            source,
            "the file is too large",
            expected=f"at most {settings.MAX_UPLOAD_MB} MB",
            got=got,
            fix="Split it into smaller files (e.g. one per day or per partner), or ask "
            "an administrator to raise the upload limit",
        )
    )


def check_file(path: Path, source: str) -> bytes:
    """Refuse a missing, empty or too large file; return its first bytes."""
    try:
        size = path.stat().st_size if path.is_file() else None
    except OSError:
        size = None
    if size is None:
        raise ValidationError(
            describe(source, "file not found", got=str(path.name), fix="Check the path")
        )
    if size > max_file_bytes():
        raise too_large(source, size)
    head = read_head(path)
    if not head:
        raise ValidationError(
            describe(source, "the file is empty", expected="a file with data", got="0 bytes")
        )
    return head


def read_head(path: Path, n_bytes: int = HEAD_BYTES) -> bytes:
    """Return the first ``n_bytes`` of a file (for signatures and CSV headers)."""
    with open(path, "rb") as f:
        return f.read(n_bytes)


def read_bytes(path: Path, source: str) -> bytes:
    """Return a whole file's bytes, refusing more than :func:`max_file_bytes`."""
    limit = max_file_bytes()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise too_large(source, size)
        data = f.read(size + 1)  # read(n) allocates n bytes: never the whole limit
    if len(data) > size:  # the file grew while being read
        raise too_large(source, f"more than {mb(size)} and growing")
    return data
