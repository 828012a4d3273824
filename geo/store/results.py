"""What an upload did (:class:`IngestResult`) and what its audit record says (:class:`Audit`).

Shared by both back-ends (the GeoPackage's :mod:`geo.store.upload` and the PostGIS store's
:mod:`geo.store.postgres.upload`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geo.core import settings
from geo.store.schema import DEFAULT_OPERATION

__all__ = ["Audit", "IngestResult", "upload_errors"]


@dataclass
class IngestResult:
    """What one upload did.

    Attributes
    ----------
    upload_id
        The audit record of the upload; for a file already uploaded by the partner, the
        earlier upload's.
    accepted
        Rows added to the store.
    rejected
        Rows of the file that failed validation (nothing of them is stored).
    duplicates
        Valid rows not added because the partner's store already holds them, or an earlier
        row of the file is the same detection; every valid row when the file was uploaded
        before (``accepted + rejected + duplicates`` = rows read).
    errors
        The first :data:`geo.core.settings.INGEST_MAX_ERRORS` rejected rows, each
        ``{"row", "reason"}``.
    already_uploaded
        The partner had uploaded this very file (same SHA-256) before: nothing was added.
    releasable_to
        The marking applied to rows without their own (``""``: the owner only).
    file_markings
        Rows that kept the marking they carried in the file.
    notes
        Sentences on what else happened (markings kept or refused, the earlier upload).
    """

    upload_id: int
    accepted: int
    rejected: int
    duplicates: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    already_uploaded: bool = False
    releasable_to: str = ""
    file_markings: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready types, contract keys first."""
        return {
            "upload_id": self.upload_id,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "errors": list(self.errors),
            "already_uploaded": self.already_uploaded,
            "releasable_to": self.releasable_to,
            "file_markings": self.file_markings,
            "notes": list(self.notes),
        }


def upload_errors(report: Any) -> list[dict[str, Any]]:
    """The first rejected rows of a load report, each ``{"row", "reason"}``."""
    out = []
    for err in list(getattr(report, "rejected", []))[: settings.INGEST_MAX_ERRORS]:
        row = err.row if isinstance(err.row, str) else int(err.row)
        why = f"field '{err.field}': {err.reason}" if err.field else err.reason
        out.append({"row": row, "reason": why})
    return out


@dataclass(frozen=True)
class Audit:
    """What the audit record of one upload says, beside the rows it adds."""

    file_name: str
    sha256: str
    owner: str
    marking: str
    user: str | None
    report: Any
    rows_read: int
    rejected: int
    operation: str = DEFAULT_OPERATION

    #: The audit record's insert, in portable SQL (``?`` parameters; PostgreSQL runs it
    #: through :func:`geo.store.postgres.dialect.to_postgres`): accepted and duplicates
    #: start at 0 and are set once the rows are in.
    INSERT_SQL = (
        "INSERT INTO uploads (uploaded_by, partner, file_name, sha256, format, rows_read, "
        "accepted, rejected, duplicates, releasable_to, file_markings, notes, operation) "
        "VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?, ?, ?) RETURNING upload_id"
    )

    def insert_values(self, file_markings: int, notes: list[str]) -> tuple[Any, ...]:
        """The values of :attr:`INSERT_SQL`, with the rows' file markings and notes."""
        return (
            self.user,
            self.owner,
            self.file_name,
            self.sha256,
            getattr(self.report, "format", None),
            self.rows_read,
            self.rejected,
            self.marking,
            file_markings,
            "; ".join(notes) or None,
            self.operation,
        )
