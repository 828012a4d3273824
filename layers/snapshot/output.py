"""What a snapshot is written as: its formats, paper sizes, resolution and matplotlib settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeGuard, get_args

from matplotlib.typing import RcKeyType

from geo.core.errors import ValidationError

SnapshotFormat = Literal["png", "pdf"]
#: Snapshot formats.
FORMATS: tuple[str, ...] = get_args(SnapshotFormat)
Paper = Literal["a4", "letter"]
#: Paper sizes of the PDF, landscape (width, height) in inches.
PAPER_IN: dict[str, tuple[float, float]] = {"a4": (297 / 25.4, 210 / 25.4), "letter": (11.0, 8.5)}
#: Resolution of the PNG (dots per inch, written into the file).
PNG_DPI = 200
#: Width of the PNG (px). The page is the PDF's page, scaled up to this width.
PNG_WIDTH_PX = 2600
#: Matplotlib settings of every render: TrueType text in a PDF (searchable), one font.
MATPLOTLIB_RC: dict[RcKeyType, Any] = {
    "pdf.fonttype": 42,
    "font.family": "DejaVu Sans",
    "path.simplify": True,
}


def is_format(value: object) -> TypeGuard[SnapshotFormat]:
    """Whether ``value`` is one of :data:`FORMATS`.

    Examples
    --------
    >>> is_format("pdf"), is_format("svg")
    (True, False)
    """
    return value in FORMATS


def check_paper(paper: object) -> None:
    """Refuse a paper size that is not one of :data:`PAPER_IN`.

    Raises
    ------
    ValidationError
        Naming the paper sizes there are.

    Examples
    --------
    >>> check_paper("letter")
    >>> check_paper("a3")
    Traceback (most recent call last):
    ...
    geo.core.errors.ValidationError: paper: expected one of a4, letter, got 'a3'
    """
    if paper not in PAPER_IN:
        raise ValidationError(f"paper: expected one of {', '.join(PAPER_IN)}, got {paper!r}")


def resolve_format(out: Any, fmt: str | None, *, flag: str = "out") -> SnapshotFormat:
    """The snapshot format (png or pdf) from ``fmt`` or the file name; refuses a mismatch.

    Parameters
    ----------
    out
        The file path the snapshot goes to, or a file object (no name to read).
    fmt
        The format asked for, or ``None`` to take it from the suffix of ``out``.
    flag
        How the messages name ``out`` (``"--out"`` on the command line).

    Returns
    -------
    str
        ``"png"`` or ``"pdf"``.

    Raises
    ------
    ValidationError
        For an unknown format, a file name without ``.png``/``.pdf``, a file object without
        ``fmt``, or a suffix that is not ``fmt``.

    Examples
    --------
    >>> resolve_format("brief.PDF", None), resolve_format("brief.png", "png")
    ('pdf', 'png')
    """
    suffix = Path(out).suffix.lower().lstrip(".") if isinstance(out, (str, Path)) else None
    if fmt is None:
        if suffix is None:
            raise ValidationError(
                f"snapshot format: give fmt ({' or '.join(FORMATS)}) when writing to a file object"
            )
        if not is_format(suffix):
            raise ValidationError(
                f"{flag} {out}: expected a file name ending in .png or .pdf, got "
                f"{('.' + suffix) if suffix else 'no extension'}"
            )
        return suffix
    if not is_format(fmt):
        raise ValidationError(f"snapshot format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if suffix is not None and suffix != fmt:
        raise ValidationError(
            f"{flag} {out}: the file name ends in .{suffix} but the format is {fmt}"
        )
    return fmt
