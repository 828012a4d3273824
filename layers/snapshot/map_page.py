"""Page 1 of a snapshot: the map, framed by the header, furniture and the side panel."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from geo.core.antimeridian import wrap_lon
from geo.core.projection import AnalysisCRS
from layers.snapshot.drawer import DeckDrawer
from layers.snapshot.furniture import banner, header, north_arrow, scale_bar
from layers.snapshot.side_panel import side_panel
from layers.snapshot.view import View

#: Map width (px) the app fits its view to (``layers.deck.view_state``). Pixel sizes in the
#: deck (line widths, dot radii) are scaled to keep the same share of the map width on paper.
_APP_MAP_WIDTH_PX = 1000


def map_page(fig: Figure, view: View, *, unit: float) -> dict[str, Any]:
    """Draw page 1 of a snapshot (the map, its furniture and the side panel) on ``fig``.

    Parameters
    ----------
    fig
        The page, its size in inches.
    view
        What to draw (:func:`layers.snapshot.view.prepare_view`).
    unit
        Scale of every length on the page: 1 for a PDF page, the PNG's enlargement of it.

    Returns
    -------
    dict
        This page's part of the render summary: ``legend``, ``headline``, ``crs``,
        ``map_extent``, ``map_box``, ``scale_bar`` and ``north_deg``
        (see :func:`layers.snapshot.render_snapshot`).
    """
    w, h = fig.get_size_inches()
    banner(fig, view.banner, top=True, unit=unit)
    banner(fig, view.banner, top=False, unit=unit)
    body_top = header(fig, view, unit=unit, page="Page 1: map")
    m = 0.3 * unit
    body_bottom = 0.3 * unit + 0.32 * unit
    panel_w = 2.95 * unit
    map_box_in = (m, body_bottom, w - 2 * m - panel_w - 0.15 * unit, body_top - body_bottom)
    ax, (xmin, ymin, xmax, ymax) = _map_axes(fig, map_box_in, view.limits, unit=unit)
    off_paper, scale, north = _draw_map(
        ax, view, (xmin, ymin, xmax, ymax), width_in=map_box_in[2], unit=unit
    )
    fig.text(
        m,
        0.3 * unit + 0.1 * unit,
        f"Map projection: {view.acrs.name}. All lengths geodesic (WGS84).",
        transform=fig.dpi_scale_trans,
        ha="left",
        va="bottom",
        fontsize=6 * unit,
        color="#555555",
    )
    legend, head = side_panel(
        fig,
        view,
        (w - m - panel_w, body_bottom, panel_w, body_top - body_bottom),
        unit=unit,
        off_paper=off_paper,
    )

    # Where the map sits on the page, from the top-left corner: px (PNG) or pt (PDF).
    (x0, y0), (x1, y1) = ax.transData.transform([(xmin, ymin), (xmax, ymax)])
    height_units = h * fig.dpi
    return {
        "legend": legend,
        "headline": head,
        "crs": view.acrs.definition,
        "map_extent": [xmin, ymin, xmax, ymax],
        "map_box": [float(x0), float(height_units - y1), float(x1), float(height_units - y0)],
        "scale_bar": scale,
        "north_deg": north,
    }


def _draw_map(
    ax: Any, view: View, limits: tuple[float, float, float, float], *, width_in: float, unit: float
) -> tuple[set[str], dict[str, Any], float]:
    """Draw the deck's layers, the scale bar, the north arrow and the basemap's credit on the map.

    ``limits``: the map's x/y limits; ``width_in``: its width on the page (in). Returns the ids
    of the layers left off the paper (:attr:`DeckDrawer.off_paper`), the scale bar's summary
    and the north arrow's direction.
    """
    xmin, _, xmax, _ = limits
    pt_per_px = width_in * 72.0 / _APP_MAP_WIDTH_PX
    lonlat_box = _lonlat_box(view.acrs, limits)
    drawer = DeckDrawer(
        ax, view.acrs, lonlat_box, pt_per_px=pt_per_px, m_per_pt=(xmax - xmin) / (width_in * 72.0)
    )
    for z, layer in enumerate(view.spec_layers, start=1):
        drawer.draw(layer, zorder=z)
    n_layers = len(view.spec_layers) + 2
    scale = scale_bar(ax, view.acrs, limits, view.content, unit=unit, zorder=n_layers)
    north = north_arrow(ax, view.acrs, limits, view.content, unit=unit, zorder=n_layers)
    ax.text(
        0.995,
        0.005,
        "Basemap: Natural Earth (offline)",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=5.5 * unit,
        color="#555555",
        zorder=n_layers,
    )
    return drawer.off_paper, scale, north


def _map_axes(
    fig: Figure,
    box_in: tuple[float, float, float, float],
    limits: tuple[float, float, float, float],
    *,
    unit: float,
) -> tuple[Any, tuple[float, float, float, float]]:
    """The map's Axes in ``box_in`` (left, bottom, width, height; inches) and its x/y limits.

    The limits are ``limits`` widened to the box's shape (:func:`_fit`).
    """
    w, h = fig.get_size_inches()
    ax = fig.add_axes((box_in[0] / w, box_in[1] / h, box_in[2] / w, box_in[3] / h))
    xmin, ymin, xmax, ymax = _fit(limits, box_in[2] / box_in[3])
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("white")
    for spine in ax.spines.values():
        spine.set_linewidth(0.8 * unit)
    return ax, (xmin, ymin, xmax, ymax)


def _fit(
    limits: tuple[float, float, float, float], aspect: float
) -> tuple[float, float, float, float]:
    """Widen ``limits`` in x or y (about their centre, plus a 4 % margin) to ``aspect`` (w/h)."""
    xmin, ymin, xmax, ymax = limits
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    half_w, half_h = (xmax - xmin) / 2 * 1.04, (ymax - ymin) / 2 * 1.04
    if half_w / half_h < aspect:
        half_w = half_h * aspect
    else:
        half_h = half_w / aspect
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _lonlat_box(
    acrs: AnalysisCRS, limits: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """A lon/lat box holding the map's frame with a wide margin: data is clipped to it first."""
    xmin, ymin, xmax, ymax = limits
    dx, dy = (xmax - xmin) * 0.25, (ymax - ymin) * 0.25
    t = np.linspace(0.0, 1.0, 33)
    xs = np.concatenate(
        [
            xmin - dx + (xmax - xmin + 2 * dx) * t,
            np.full(33, xmax + dx),
            xmax + dx - (xmax - xmin + 2 * dx) * t,
            np.full(33, xmin - dx),
        ]
    )
    ys = np.concatenate(
        [
            np.full(33, ymin - dy),
            ymin - dy + (ymax - ymin + 2 * dy) * t,
            np.full(33, ymax + dy),
            ymax + dy - (ymax - ymin + 2 * dy) * t,
        ]
    )
    lon, lat = acrs.to_lonlat.transform(xs, ys)
    # In the map's frame (longitudes round the analysis' centre, as layers.map.on_map draws):
    # across 180° the box goes on past it, rather than spanning the world the other way.
    lon = wrap_lon(lon, acrs.lon_centre_deg)
    return float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))
