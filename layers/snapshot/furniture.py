"""Map furniture: classification banners, the page header, a km scale bar and a north arrow."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow, Rectangle

from geo.core.projection import AnalysisCRS, local_scale_and_convergence
from layers.snapshot.view import View

#: The subtitle is wrapped to this many characters (8.5 pt: within the page on A4 and Letter).
SUBTITLE_WRAP_CHARS = 150
#: Height of each further line of the subtitle (in, times the page's unit).
SUBTITLE_LINE_IN = 0.155

_BANNER_COLORS = (
    # Colours of the usual classification markings, by the leading word of the banner.
    ("TOP SECRET", "#ff8c00", "black"),
    ("SECRET", "#c8102e", "white"),
    ("CONFIDENTIAL", "#0033a0", "white"),
    ("RESTRICTED", "#0033a0", "white"),
    ("UNCLASSIFIED", "#007a33", "white"),
)


def banner(fig: Figure, text: str, *, top: bool, unit: float) -> None:
    """Draw the classification banner ``text`` across the top or bottom of the page.

    Its colours are those of the usual marking named by the banner's leading word
    (``SECRET`` red, ``UNCLASSIFIED`` green, ...); grey for any other.
    """
    w, h = fig.get_size_inches()
    band = 0.3 * unit
    y = h - band if top else 0.0
    fill, ink = next(
        ((f, i) for word, f, i in _BANNER_COLORS if text.upper().startswith(word)),
        ("#333333", "white"),
    )
    fig.add_artist(
        Rectangle((0, y), w, band, transform=fig.dpi_scale_trans, facecolor=fill, edgecolor="none")
    )
    fig.text(
        w / 2,
        y + band / 2,
        text,
        transform=fig.dpi_scale_trans,
        ha="center",
        va="center",
        fontsize=11 * unit,
        fontweight="bold",
        color=ink,
    )


def header(fig: Figure, view: View, *, unit: float, page: str) -> float:
    """Title block under the top banner; returns the height (in) left below it."""
    w, h = fig.get_size_inches()
    m = 0.3 * unit
    top = h - 0.3 * unit - 0.12 * unit
    fig.text(
        m,
        top,
        view.title,
        transform=fig.dpi_scale_trans,
        ha="left",
        va="top",
        fontsize=15 * unit,
        fontweight="bold",
        color="#111111",
    )
    # A long subtitle (a moment and the exposure beside the window) goes on to a second line.
    lines = textwrap.wrap(view.subtitle, SUBTITLE_WRAP_CHARS) or [""]
    fig.text(
        m,
        top - 0.32 * unit,
        "\n".join(lines),
        transform=fig.dpi_scale_trans,
        ha="left",
        va="top",
        fontsize=8.5 * unit,
        color="#333333",
        linespacing=1.3,
    )
    fig.text(
        w - m,
        top,
        f"Generated {view.generated_at} (UTC)",
        transform=fig.dpi_scale_trans,
        ha="right",
        va="top",
        fontsize=8 * unit,
        color="#333333",
    )
    analysed = view.result.report.get("generated_at", "–")
    fig.text(
        w - m,
        0.4 * unit,
        f"Limes border coverage · analysed {analysed} (UTC) · {page}",
        transform=fig.dpi_scale_trans,
        ha="right",
        va="bottom",
        fontsize=6 * unit,
        color="#555555",
    )
    return top - (0.62 + SUBTITLE_LINE_IN * (len(lines) - 1)) * unit


def _nice_km(max_km: float) -> float:
    """The largest 1, 2 or 5 × 10^k km not above ``max_km``."""
    exp = math.floor(math.log10(max_km))
    for step in (5, 2, 1):
        if step * 10**exp <= max_km:
            return float(step * 10**exp)
    return float(10 ** (exp - 1) * 5)


def _quietest(
    content: shapely.Geometry, boxes: Sequence[tuple[float, float, float, float]]
) -> tuple[float, float, float, float]:
    """The box (x, y, w, h) that hides least of ``content`` (the first of equals)."""
    hidden = [
        shapely.area(shapely.intersection(content, shapely.box(x, y, x + w, y + h)))
        for x, y, w, h in boxes
    ]
    return boxes[int(np.argmin(hidden))]


def scale_bar(
    ax: Any,
    acrs: AnalysisCRS,
    limits: tuple[float, float, float, float],
    content: shapely.Geometry,
    *,
    unit: float,
    zorder: int,
) -> dict[str, Any]:
    """Draw a km scale bar in a lower corner; its length uses the scale at the map centre."""
    xmin, ymin, xmax, ymax = limits
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    clon, clat = acrs.to_lonlat.transform(cx, cy)
    k = float(local_scale_and_convergence(acrs, [clon], [clat])[0][0])  # map m per ground m
    km = _nice_km((xmax - xmin) / k / 1000.0 * 0.22)
    length = km * 1000.0 * k
    w, h = xmax - xmin, ymax - ymin
    bw, bh = length + 0.055 * w, 0.085 * h
    bx, by, _, _ = _quietest(
        content,
        [
            (xmin + 0.015 * w, ymin + 0.015 * h, bw, bh),
            (xmax - 0.015 * w - bw, ymin + 0.015 * h, bw, bh),
        ],
    )
    ax.add_patch(
        Rectangle(
            (bx, by),
            bw,
            bh,
            facecolor=(1, 1, 1, 0.85),
            edgecolor="#888888",
            linewidth=0.5 * unit,
            zorder=zorder,
        )
    )
    x0, y0 = bx + 0.015 * w, by + 0.03 * h
    bar_h = 0.011 * h
    for i in range(4):
        ax.add_patch(
            Rectangle(
                (x0 + i * length / 4, y0),
                length / 4,
                bar_h,
                facecolor="black" if i % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.6 * unit,
                zorder=zorder + 1,
            )
        )
    for frac, label in ((0.0, "0"), (0.5, f"{km / 2:g}"), (1.0, f"{km:g} km")):
        ax.text(
            x0 + frac * length,
            y0 + bar_h + 0.008 * h,
            label,
            ha="center",
            va="bottom",
            fontsize=7 * unit,
            zorder=zorder + 1,
        )
    return {"km": km, "map_units": length, "centre": [float(clon), float(clat)], "at": [x0, y0]}


def north_arrow(
    ax: Any,
    acrs: AnalysisCRS,
    limits: tuple[float, float, float, float],
    content: shapely.Geometry,
    *,
    unit: float,
    zorder: int,
) -> float:
    """Draw an arrow along the meridian at the map centre, in an upper corner.

    Returns its direction in degrees clockwise from the top of the map.
    """
    xmin, ymin, xmax, ymax = limits
    clon, clat = acrs.to_lonlat.transform((xmin + xmax) / 2, (ymin + ymax) / 2)
    north = float(local_scale_and_convergence(acrs, [clon], [clat])[1][0])
    w, h = xmax - xmin, ymax - ymin
    size = 0.055 * h
    bw, bh = 0.06 * w, 2.1 * size
    bx, by, _, _ = _quietest(
        content,
        [
            (xmax - 0.015 * w - bw, ymax - 0.015 * h - bh, bw, bh),
            (xmin + 0.015 * w, ymax - 0.015 * h - bh, bw, bh),
        ],
    )
    ax.add_patch(
        Rectangle(
            (bx, by),
            bw,
            bh,
            facecolor=(1, 1, 1, 0.85),
            edgecolor="#888888",
            linewidth=0.5 * unit,
            zorder=zorder,
        )
    )
    cx, cy = bx + bw / 2, by + 0.8 * size
    dx, dy = math.sin(math.radians(north)) * size, math.cos(math.radians(north)) * size
    ax.add_patch(
        FancyArrow(
            cx - dx / 2,
            cy - dy / 2,
            dx,
            dy,
            width=0.18 * size,
            head_width=0.55 * size,
            head_length=0.45 * size,
            length_includes_head=True,
            color="black",
            zorder=zorder + 1,
        )
    )
    ax.text(
        cx + dx * 0.6,
        cy + dy * 0.6 + 0.1 * size,
        "N",
        ha="center",
        va="bottom",
        fontsize=10 * unit,
        fontweight="bold",
        zorder=zorder + 1,
    )
    return north
