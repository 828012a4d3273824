"""Page 2 of a PDF snapshot: the gaps of the view, longest first, and each sector's coverage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import NDArray

from geo.coverage.views import headline
from layers.snapshot.furniture import banner, header
from layers.snapshot.view import View


def _table(
    fig: Figure,
    box: tuple[float, float, float, float],
    title: str,
    columns: Sequence[tuple[str, float, str]],
    rows: Sequence[Sequence[str]],
    *,
    unit: float,
    footer: str | None = None,
) -> int:
    """Draw a table in ``box`` (inches); return how many rows fit (the rest are left out)."""
    x, bottom, w, h = box
    y = bottom + h
    row_h = 0.165 * unit
    fig.text(
        x,
        y,
        title,
        transform=fig.dpi_scale_trans,
        ha="left",
        va="top",
        fontsize=10 * unit,
        fontweight="bold",
    )
    y -= 0.3 * unit
    widths = np.array([c[1] for c in columns], dtype=float)
    xs = x + np.concatenate([[0.0], np.cumsum(widths / widths.sum() * w)])
    _band(fig, (x, y - row_h, w, row_h), "#e6e6e6")
    names = [c[0] for c in columns]
    _cells(fig, names, columns, xs, y - row_h / 2, unit=unit, fontsize=7 * unit, fontweight="bold")
    y -= row_h
    room = int((y - bottom - (0.25 * unit if footer else 0.0) - row_h) // row_h)
    fits = len(rows) if len(rows) <= room else max(room - 1, 0)
    for i, row in enumerate(rows[:fits]):
        if i % 2:
            _band(fig, (x, y - row_h, w, row_h), "#f5f5f5")
        cells = [
            _clip_text(cell, (x1 - x0) / unit - 0.1)
            for cell, x0, x1 in zip(row, xs[:-1], xs[1:], strict=True)
        ]
        _cells(fig, cells, columns, xs, y - row_h / 2, unit=unit, fontsize=6.8 * unit)
        y -= row_h
    if fits < len(rows):
        fig.text(
            x + 0.05 * unit,
            y - row_h / 2,
            f"… and {len(rows) - fits:,} more (all of them are in the data export)",
            transform=fig.dpi_scale_trans,
            ha="left",
            va="center",
            fontsize=7 * unit,
            color="#444444",
        )
        y -= row_h
    if footer:
        fig.text(
            x,
            y - 0.08 * unit,
            footer,
            transform=fig.dpi_scale_trans,
            ha="left",
            va="top",
            fontsize=6.5 * unit,
            color="#444444",
        )
    return fits


def _band(fig: Figure, box: tuple[float, float, float, float], colour: str) -> None:
    """A filled band behind a table row; ``box``: left, bottom, width, height (inches)."""
    x, y, w, h = box
    fig.add_artist(
        Rectangle((x, y), w, h, transform=fig.dpi_scale_trans, facecolor=colour, edgecolor="none")
    )


def _cells(
    fig: Figure,
    texts: Sequence[str],
    columns: Sequence[tuple[str, float, str]],
    xs: NDArray[np.float64],
    y: float,
    *,
    unit: float,
    **style: Any,
) -> None:
    """One row of a table: each text in its column (edges ``xs``, inches), centred on ``y``.

    A column is (name, relative width, ``"left"`` or ``"right"`` alignment); ``style``: of the text.
    """
    for (_, _, align), x0, x1, text in zip(columns, xs[:-1], xs[1:], texts, strict=True):
        tx = x1 - 0.05 * unit if align == "right" else x0 + 0.05 * unit
        fig.text(tx, y, text, transform=fig.dpi_scale_trans, ha=align, va="center", **style)


def _clip_text(text: str, width_in: float) -> str:
    """Shorten ``text`` with an ellipsis to fit ``width_in`` inches at 6.8 pt.

    About 19 characters fit an inch.
    """
    room = max(int(width_in * 19), 2)
    return text if len(text) <= room else text[: room - 1] + "…"


def table_pages(view: View, page_w: float, page_h: float) -> list[Figure]:
    """The pages after the map (one for now): the view's gap table beside its sector table.

    Parameters
    ----------
    view
        What to draw (:func:`layers.snapshot.view.prepare_view`).
    page_w, page_h
        Page size (in).

    Returns
    -------
    list of Figure
        The pages, in order. Rows that do not fit are counted under their table.
    """
    fig = Figure(figsize=(page_w, page_h), dpi=72)
    banner(fig, view.banner, top=True, unit=1.0)
    banner(fig, view.banner, top=False, unit=1.0)
    top = header(fig, view, unit=1.0, page="Page 2: gaps and sectors")
    m, bottom = 0.3, 0.6
    gap_w = (page_w - 2 * m) * 0.55
    _gap_table(fig, view, (m, bottom, gap_w, top - bottom))
    x2 = m + gap_w + 0.3
    _sector_table(fig, view, (x2, bottom, page_w - m - x2, top - bottom))
    return [fig]


def _gap_table(fig: Figure, view: View, box: tuple[float, float, float, float]) -> None:
    """The gaps of the view, longest first (the app's gap table), in ``box`` (inches)."""
    report = view.result.report
    head = headline(report, view.partner)
    gaps = [
        (
            f"{i}",
            f"{g['length_km']:,.2f}",
            f"{g['segment']}",
            f"{g['start_km']:,.2f}",
            f"{g['end_km']:,.2f}",
            ", ".join(g["sector_ids"]) or "unassigned",
            ", ".join(g["partners"]) or "–",
            f"{g['midpoint'][1]:.5f}, {g['midpoint'][0]:.5f}",
        )
        for i, g in enumerate(head.gaps, start=1)
    ]
    _table(
        fig,
        box,
        f"Gaps in the {head.scope}, longest first ({len(gaps):,})",
        [
            ("#", 0.5, "right"),
            ("Length km", 1.0, "right"),
            ("Seg.", 0.5, "right"),
            ("From km", 0.95, "right"),
            ("To km", 0.95, "right"),
            ("Sectors", 1.3, "left"),
            ("Partners", 1.0, "left"),
            ("Midpoint lat, lon", 1.9, "left"),
        ],
        gaps,
        unit=1.0,
        footer=f"{head.gap_km:,.2f} km uncovered in the {head.scope}; stretches shorter than "
        f"{report['parameters']['min_gap_m']:g} m are not listed. "
        "Chainage from the first vertex of each border segment.",
    )


def _sector_table(fig: Figure, view: View, box: tuple[float, float, float, float]) -> None:
    """Coverage of each sector of the view, in ``box`` (inches)."""
    sectors = [
        s
        for s in view.result.report["sectors"]
        if view.partner is None or s["partner"] == view.partner
    ]
    rows = [
        (
            s["sector_id"],
            s["partner"],
            s.get("name") or "–",
            f"{s['border_km']:,.1f}",
            f"{s['covered_km']:,.1f}",
            f"{s['coverage_pct']:.1f}",
            f"{s['detections']:,}",
        )
        for s in sectors
    ]
    _table(
        fig,
        box,
        "Coverage by sector" + ("" if view.partner is None else f" ({view.partner})"),
        [
            ("Sector", 0.9, "left"),
            ("Partner", 0.8, "left"),
            ("Name", 1.4, "left"),
            ("Border km", 1.0, "right"),
            ("Covered km", 1.1, "right"),
            ("Cover %", 0.9, "right"),
            ("Detections", 1.05, "right"),
        ],
        rows,
        unit=1.0,
        footer=(f"Detections in the window: {view.time_text}." if view.time_text else None)
        if sectors
        else "No sectors in this view.",
    )
