"""A column of rows on a page: headings, wrapped text, label/value pairs and legend swatches."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from layers.snapshot.drawer import rgba

#: A swatch painter: ``draw(x, y, w, h)`` paints a legend swatch in that box (inches).
Painter = Callable[[float, float, float, float], None]


class Column:
    """Rows of text and swatches written downwards in a box on the page (inches).

    :attr:`labels` records the legend lines written (entries and their notes) and
    :attr:`pairs` the label/value rows, for the render's summary.
    """

    def __init__(self, fig: Figure, box: tuple[float, float, float, float], *, unit: float) -> None:
        self.fig = fig
        self.x, self.bottom, self.w, top_h = box
        self.y = self.bottom + top_h
        self.u = unit
        self.labels: list[str] = []  # legend lines, as written
        self.pairs: dict[str, str] = {}  # label -> value rows, as written

    def gap(self, inches: float) -> None:
        """Move down ``inches`` (times the page's unit)."""
        self.y -= inches * self.u

    def heading(self, text: str) -> None:
        """A bold heading."""
        self.gap(0.06)
        self.fig.text(
            self.x,
            self.y,
            text,
            transform=self.fig.dpi_scale_trans,
            ha="left",
            va="top",
            fontsize=9 * self.u,
            fontweight="bold",
            color="#111111",
        )
        self.gap(0.2)

    def text(
        self,
        text: str,
        *,
        indent: float = 0.0,
        size: float = 7.0,
        color: str = "#222222",
        wrap: int = 58,
    ) -> None:
        """Text wrapped to ``wrap`` characters (less the indent), ``size`` pt."""
        for line in textwrap.wrap(text, wrap - int(indent * 12)) or [""]:
            self.fig.text(
                self.x + indent * self.u,
                self.y,
                line,
                transform=self.fig.dpi_scale_trans,
                ha="left",
                va="top",
                fontsize=size * self.u,
                color=color,
            )
            self.gap(0.135 * size / 7.0)

    def pair(self, label: str, value: str) -> None:
        """A label and its value (bold) beside it, each wrapped to its column.

        Recorded in :attr:`pairs`.
        """
        labels = textwrap.wrap(label, 25) or [""]
        values = textwrap.wrap(value, 31) or [""]
        for i in range(max(len(labels), len(values))):
            if i < len(labels):
                self.fig.text(
                    self.x,
                    self.y,
                    labels[i],
                    transform=self.fig.dpi_scale_trans,
                    ha="left",
                    va="top",
                    fontsize=7 * self.u,
                    color="#444444",
                )
            if i < len(values):
                self.fig.text(
                    self.x + 1.3 * self.u,
                    self.y,
                    values[i],
                    transform=self.fig.dpi_scale_trans,
                    ha="left",
                    va="top",
                    fontsize=7 * self.u,
                    color="#111111",
                    fontweight="bold",
                )
            self.gap(0.135)
        self.pairs[label] = value

    def entry(self, label: str, draw: Painter, *, indent: float = 0.0, record: bool = True) -> None:
        """A legend row: ``draw(x, y, w, h)`` paints the swatch (inches), then the label."""
        sw, sh = 0.28 * self.u, 0.1 * self.u
        x = self.x + indent * self.u
        draw(x, self.y - sh - 0.015 * self.u, sw, sh)
        for line in textwrap.wrap(label, 46 - int(indent * 12)) or [""]:
            self.fig.text(
                x + sw + 0.08 * self.u,
                self.y,
                line,
                transform=self.fig.dpi_scale_trans,
                ha="left",
                va="top",
                fontsize=7 * self.u,
                color="#222222",
            )
            self.gap(0.135)
        if record:
            self.labels.append(label)
        self.gap(0.015)

    @staticmethod
    def blank(x: float, y: float, w: float, h: float) -> None:
        """A swatch painter that paints nothing."""

    # swatch painters
    def box(
        self, fill: Sequence[float], edge: Sequence[float] | None = None, lw: float = 0.8
    ) -> Painter:
        """A painter of a filled box, outlined in ``edge`` (``lw`` pt) if given."""

        def draw(x: float, y: float, w: float, h: float) -> None:
            self.fig.add_artist(
                Rectangle(
                    (x, y),
                    w,
                    h,
                    transform=self.fig.dpi_scale_trans,
                    facecolor=rgba(fill),
                    edgecolor=rgba(edge) if edge is not None else "none",
                    linewidth=lw * self.u,
                )
            )

        return draw

    def ramp(self, colors: Sequence[Sequence[float]]) -> Painter:
        """A painter of a colour ramp: ``colors`` side by side, left to right."""

        def draw(x: float, y: float, w: float, h: float) -> None:
            step = w / len(colors)
            for i, c in enumerate(colors):
                self.fig.add_artist(
                    Rectangle(
                        (x + i * step, y),
                        step,
                        h,
                        transform=self.fig.dpi_scale_trans,
                        facecolor=rgba(c),
                        edgecolor="none",
                    )
                )

        return draw

    def line(
        self, color: Sequence[float], lw: float, dash: Sequence[float] | None = None
    ) -> Painter:
        """A painter of a line ``lw`` pt wide, dashed as ``dash`` if given.

        ``dash``: on, off in line widths.
        """

        def draw(x: float, y: float, w: float, h: float) -> None:
            style: Any = (0, tuple(dash)) if dash else "solid"
            self.fig.add_artist(
                Line2D(
                    [x, x + w],
                    [y + h / 2, y + h / 2],
                    transform=self.fig.dpi_scale_trans,
                    color=rgba(color),
                    linewidth=lw * self.u,
                    linestyle=style,
                    solid_capstyle="butt",
                )
            )

        return draw

    def dot(
        self,
        fill: Sequence[float],
        edge: Sequence[float] | None = None,
        size: float = 5.0,
        letter: str = "",
    ) -> Painter:
        """A painter of a dot ``size`` pt across, outlined in ``edge``, a white ``letter`` on it."""

        def draw(x: float, y: float, w: float, h: float) -> None:
            self.fig.add_artist(
                Line2D(
                    [x + w / 2],
                    [y + h / 2],
                    transform=self.fig.dpi_scale_trans,
                    marker="o",
                    markersize=size * self.u,
                    markerfacecolor=rgba(fill),
                    markeredgecolor=rgba(edge) if edge is not None else "none",
                    markeredgewidth=0.6 * self.u,
                    linestyle="none",
                )
            )
            if letter:
                self.fig.text(
                    x + w / 2,
                    y + h / 2,
                    letter,
                    transform=self.fig.dpi_scale_trans,
                    ha="center",
                    va="center",
                    fontsize=4.5 * self.u,
                    color="white",
                    fontweight="bold",
                )

        return draw
