"""Rendering a snapshot: page 1 (the map) and, in a PDF, the pages of tables, written to a file."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import geopandas as gpd
from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from geo.core import settings
from geo.core.times import check_timezone
from geo.coverage.views import JOINT
from layers.map import layer_keys
from layers.snapshot.map_page import map_page
from layers.snapshot.output import (
    MATPLOTLIB_RC,
    PAPER_IN,
    PNG_DPI,
    PNG_WIDTH_PX,
    Paper,
    SnapshotFormat,
    check_paper,
    resolve_format,
)
from layers.snapshot.tables import table_pages
from layers.snapshot.view import View, prepare_view

#: Renders one at a time: matplotlib's settings (:data:`MATPLOTLIB_RC`) are global.
_LOCK = threading.Lock()


# long: the docstring documents every option and every key of the summary it returns
def render_snapshot(
    result: Any,
    *,
    out: str | Path | BinaryIO,
    fmt: SnapshotFormat | None = None,
    partner: str | None = None,
    shown: Iterable[str] | None = None,
    title: str | None = None,
    banner: str = settings.BANNER,
    extent: tuple[float, float, float, float] | None = None,
    dem: str | Path | None = None,
    partner_names: Mapping[str, str] | None = None,
    paper: Paper = "a4",
    timezone: str = "UTC",
    extra_layers: Sequence[Any] = (),
    timeline_layers: Mapping[str, Any] | None = None,
    note: str | None = None,
    hexagons: gpd.GeoDataFrame | None = None,
    detections_total: int | None = None,
    detections_span: tuple[datetime, datetime] | None = None,
) -> dict[str, Any]:
    """Render a snapshot of one view of an analysis to ``out`` (example: :mod:`layers.snapshot`).

    Parameters
    ----------
    result
        The :class:`geo.coverage.analysis.Analysis`, already restricted to the time window
        (:meth:`~geo.coverage.analysis.Analysis.windowed`). Not changed.
    out
        File path (``.png`` or ``.pdf``) or a binary file object.
    fmt
        ``"png"`` or ``"pdf"``; taken from the suffix of ``out`` when not given.
    partner
        The partner whose view is drawn (others muted, as in the app); ``None`` or
        :data:`geo.coverage.views.JOINT` for the joint view.
    shown
        Keys of :data:`layers.map.LAYERS` to draw; default: the app's default layers.
    title
        Title above the map; default: ``"Border coverage: <border name>"``.
    banner
        Classification banner printed at the top and bottom of every page.
    extent
        (west, south, east, north) in degrees that the map must show; default: the corridor,
        which the app's map opens on. The map is widened in one direction to fill its frame.
    dem
        Terrain model for the ``hillshade`` layer (drawn only when given and shown).
    partner_names
        Partner id -> full name, for the legend and the subtitle.
    paper
        PDF paper size, landscape: ``"a4"`` (297 × 210 mm) or ``"letter"`` (11 × 8.5 in).
    timezone
        IANA zone the detection window is printed in, named beside it (the operation's).
    extra_layers
        pydeck layers drawn over the view's (e.g. the suggested sites of a plan,
        :func:`layers.plan.plan_snapshot`).
    timeline_layers
        Coverage over time, by layer id (:mod:`layers.timeline`: exposure, tracks, one moment),
        added as the app's main map adds them (a moment's ``footprints`` replace the view's).
    note
        A line added to the subtitle under the title (e.g. the moment shown).
    hexagons, detections_total
        The window's detections counted per hexagon (:func:`geo.coverage.streamed.hexagons`)
        and how many the window holds, when ``result``'s ``detections`` layer holds fewer
        (:class:`geo.mapview.MapWindow`: ``hexagons``, ``total``). The map then draws what the
        app's map draws: these hexagons, counting every detection, and no points; the
        subtitle and the legend say "N detections counted in hexagons". Ignored when the
        layer holds them all (the snapshot is the same as without them).
    detections_span
        First and last detection time the view may see (UTC), printed when ``result`` has no
        time window; default: those of ``result.all_detections``.

    Returns
    -------
    dict
        JSON-ready summary: ``format``, ``out``, ``width_px``/``height_px`` and ``dpi`` (PNG) or
        ``page_size_mm`` and ``paper`` (PDF), ``pages``, ``layers`` (deck layers drawn), ``legend``
        (its lines: entries and their notes), ``headline`` (label -> value of the headline
        numbers, as printed), ``partner``, ``title``, ``subtitle``, ``banner``, ``generated_at``
        (UTC), ``crs`` (of the map), ``map_extent`` (its x/y limits in that CRS, m),
        ``map_box`` (left, top, right, bottom of the map frame from the top-left corner of the
        page: px for a PNG, pt for a PDF), ``scale_bar`` (``km``, ``map_units`` and the
        ``centre`` it is measured at),
        ``north_deg`` (the arrow's direction, clockwise from the top of the map) and ``seconds``.

    Raises
    ------
    ValidationError
        For an unknown format, partner, layer, paper size or an unusable extent.

    """
    t0 = time.perf_counter()
    fmt = resolve_format(out, fmt)
    check_paper(paper)
    view = prepare_view(
        result,
        partner=partner,
        shown=shown,
        title=title,
        banner=banner,
        extent=extent,
        dem=dem,
        partner_names=partner_names,
        timezone=check_timezone(timezone),
        extra_layers=extra_layers,
        timeline_layers=timeline_layers,
        note=note,
        hexagons=hexagons,
        detections_total=detections_total,
        detections_span=detections_span,
    )
    with _LOCK, rc_context(MATPLOTLIB_RC):
        page, file = (_write_png if fmt == "png" else _write_pdf)(view, out, paper)
    return _summary(view, fmt, out, file=file, page=page, seconds=time.perf_counter() - t0)


def _summary(
    view: View,
    fmt: SnapshotFormat,
    out: str | Path | BinaryIO,
    *,
    file: Mapping[str, Any],
    page: Mapping[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """The summary :func:`render_snapshot` returns, from the file's and the map page's parts."""
    return {
        "format": fmt,
        "out": str(out) if isinstance(out, (str, Path)) else None,
        **file,
        "partner": view.partner or JOINT,
        "title": view.title,
        "subtitle": view.subtitle,
        "banner": view.banner,
        "generated_at": view.generated_at,
        "layers": layer_keys(layer["id"] for layer in view.spec_layers),
        **page,
        "seconds": round(seconds, 3),
    }


def _write_png(
    view: View, out: str | Path | BinaryIO, paper: Paper
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write the map page, ``paper``'s shape, as a PNG :data:`PNG_WIDTH_PX` wide.

    Returns the map page's summary and the file's (size, dpi, pages).
    """
    page_w, page_h = PAPER_IN[paper]
    scale = PNG_WIDTH_PX / PNG_DPI / page_w
    fig = Figure(figsize=(page_w * scale, page_h * scale), dpi=PNG_DPI)
    info = map_page(fig, view, unit=scale)
    # What the page says, also as text a program can read (PNG text chunks): the subtitle
    # (partner, window, the moment or exposure drawn) and the legend's lines.
    meta = {
        "Title": view.title,
        "Description": view.subtitle,
        "Comment": "Legend: " + "; ".join(info["legend"]),
        "Software": "Limes",
    }
    # zlib level 3 instead of 6: a fifth larger, twice as fast on a terrain-shaded map.
    fig.savefig(
        out,
        format="png",
        dpi=PNG_DPI,
        metadata=meta,
        pil_kwargs={"compress_level": 3},
    )
    size = fig.get_size_inches() * PNG_DPI
    extra = {"width_px": round(size[0]), "height_px": round(size[1]), "dpi": PNG_DPI, "pages": 1}
    return info, extra


def _write_pdf(
    view: View, out: str | Path | BinaryIO, paper: Paper
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write the map page and the table pages as a PDF on ``paper``, landscape.

    Returns the map page's summary and the file's (paper, page size, pages).
    """
    page_w, page_h = PAPER_IN[paper]
    meta = {
        "Title": view.title,
        "Subject": view.banner,
        "Creator": "Limes",
        "Keywords": view.banner,
    }
    with PdfPages(out, metadata=meta) as pdf:
        fig = Figure(figsize=(page_w, page_h), dpi=72)
        info = map_page(fig, view, unit=1.0)
        pdf.savefig(fig)
        pages = table_pages(view, page_w, page_h)
        for page in pages:
            pdf.savefig(page)
    extra = {
        "paper": paper,
        "page_size_mm": [round(page_w * 25.4), round(page_h * 25.4)],
        "pages": 1 + len(pages),
    }
    return info, extra


def snapshot_bytes(result: Any, *, fmt: SnapshotFormat, **options: Any) -> bytes:
    """Render a snapshot (see :func:`render_snapshot`, same options) and return its bytes.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from geo.coverage.analysis import analyse
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(24, 54), (24.5, 54.1)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...     "range_m": [8000.0]}, geometry=[shapely.Point(24.1, 54.02)], crs=4326)
    >>> snapshot_bytes(analyse(b, s), fmt="pdf")[:5]
    b'%PDF-'
    """
    buf = io.BytesIO()
    render_snapshot(result, out=buf, fmt=fmt, **options)
    return buf.getvalue()
