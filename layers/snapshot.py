"""Briefing snapshots: one view of the map as a PNG or a PDF, rendered on the server.

A snapshot draws exactly what the app's map draws: the deck of the view
(:func:`layers.map.build_map`, the same function the app caches) is turned into its deck.gl
JSON, the very spec the browser receives, and every layer of it is drawn with matplotlib. So
the layers, colours, muted partners and any filtering of a partner's view are the app's by
construction, not by a second copy of the rules. Around the map come a title, the partner and
the time window, a legend of every layer drawn (the app's own, :func:`layers.legend.legend_entries`,
less what shows only zoomed in), a km scale bar, a north arrow, the analysis
parameters, the headline numbers, the time of rendering (UTC) and a classification banner at
the top and bottom of every page. A PDF has a second page: the gaps of the view, longest
first, and the coverage of each sector.

Projection
    The map is drawn in the analysis CRS (``result.acrs``), not in the app's Web Mercator.
    It is conformal and fitted to the border, so its scale is within 0.05 % of true over the
    border and one scale bar is right everywhere along it; in Web Mercator the scale changes
    by about 5 % between the north and south ends of the sample border. Grid north is not true
    north in it: the north arrow points along the meridian at the map centre.

Output
    PNG: 2,600 px wide at 200 dpi (A4 proportions). PDF: A4 or Letter landscape, vector
    (text as TrueType, so it can be searched and copied), except the optional terrain
    hillshade, which is an image.

Matplotlib is used through its object API only (a :class:`~matplotlib.figure.Figure` per
page, no pyplot), and renders are serialised by a lock: matplotlib's settings are global.
"""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, get_args

import numpy as np
import shapely
from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.transforms import offset_copy
from numpy.typing import NDArray

from geo.core import settings
from geo.core.errors import ValidationError
from geo.core.projection import AnalysisCRS, local_scale_and_convergence, to_projected
from geo.coverage.views import JOINT, headline

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

#: Map width (px) the app fits its view to (``layers.deck.view_state``). Pixel sizes in the
#: deck (line widths, dot radii) are scaled to keep the same share of the map width on paper.
_APP_MAP_WIDTH_PX = 1000
_LOCK = threading.Lock()
_RC = {"pdf.fonttype": 42, "font.family": "DejaVu Sans", "path.simplify": True}
#: Data export format -> (file suffix, MIME type) of :func:`export_bytes`' one file.
EXPORT_FILES: dict[str, tuple[str, str]] = {
    "geojson": (".geojson.zip", "application/zip"),
    "gpkg": (".gpkg", "application/geopackage+sqlite3"),
    "kml": (".kml", "application/vnd.google-earth.kml+xml"),
    "csv": (".csv.zip", "application/zip"),
}
#: Data-export layers and the map layer that shows each (export only what the map shows).
EXPORT_SHOWN_BY: dict[str, str] = {
    "gaps": "gaps",
    "coverage": "footprints",
    "overlaps": "overlaps",
    "sectors": "sectors",
    "detections": "detections",
}


# ---- public API ------------------------------------------------------------------------------


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
) -> dict[str, Any]:
    """Render a snapshot of one view of an analysis and write it to ``out``.

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

    Returns
    -------
    dict
        JSON-ready summary: ``format``, ``out``, ``width_px``/``height_px`` and ``dpi`` (PNG)
        or ``page_size_mm`` and ``paper`` (PDF), ``pages``, ``layers`` (deck layers drawn),
        ``legend`` (its lines: entries and their notes), ``headline`` (label -> value of the
        headline numbers, as printed), ``partner``, ``title``, ``banner``, ``generated_at`` (UTC),
        ``crs`` (of the map), ``map_extent`` (its x/y limits in that CRS, m), ``map_box``
        (left, top, right, bottom of the map frame from the top-left corner of the page: px
        for a PNG, pt for a PDF), ``scale_bar`` (``km``, ``map_units`` and the ``centre``
        it is measured at), ``north_deg`` (the arrow's direction, clockwise from the top of
        the map) and ``seconds``.

    Raises
    ------
    ValidationError
        For an unknown format, partner, layer, paper size or an unusable extent.

    Examples
    --------
    >>> import io, geopandas as gpd, shapely
    >>> from geo.coverage.analysis import analyse
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(24, 54), (24.5, 54.1)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...     "range_m": [8000.0]}, geometry=[shapely.Point(24.1, 54.02)], crs=4326)
    >>> summary = render_snapshot(analyse(b, s), out=io.BytesIO(), fmt="png")
    >>> summary["width_px"], summary["dpi"], summary["pages"]
    (2600, 200, 1)
    """
    t0 = time.perf_counter()
    fmt = resolve_format(out, fmt)
    if paper not in PAPER_IN:
        raise ValidationError(f"paper: expected one of {', '.join(PAPER_IN)}, got {paper!r}")
    view = _prepare(
        result, partner=partner, shown=shown, title=title, banner=banner, extent=extent,
        dem=dem, partner_names=partner_names,
    )
    page_w, page_h = PAPER_IN[paper]
    with _LOCK, rc_context(_RC):
        if fmt == "png":
            scale = PNG_WIDTH_PX / PNG_DPI / page_w
            fig = Figure(figsize=(page_w * scale, page_h * scale), dpi=PNG_DPI)
            info = _map_page(fig, view, unit=scale)
            # zlib level 3 instead of 6: a fifth larger, twice as fast on a terrain-shaded map.
            fig.savefig(out, format="png", dpi=PNG_DPI, metadata={"Title": view.title, "Software": "Limes"},
                        pil_kwargs={"compress_level": 3})
            size = fig.get_size_inches() * PNG_DPI
            extra: dict[str, Any] = {
                "width_px": round(size[0]), "height_px": round(size[1]), "dpi": PNG_DPI, "pages": 1,
            }
        else:
            meta = {"Title": view.title, "Subject": view.banner, "Creator": "Limes", "Keywords": view.banner}
            with PdfPages(out, metadata=meta) as pdf:
                fig = Figure(figsize=(page_w, page_h), dpi=72)
                info = _map_page(fig, view, unit=1.0)
                pdf.savefig(fig)
                pages = _table_pages(view, page_w, page_h)
                for page in pages:
                    pdf.savefig(page)
            extra = {
                "paper": paper, "page_size_mm": [round(page_w * 25.4), round(page_h * 25.4)],
                "pages": 1 + len(pages),
            }
    return {
        "format": fmt,
        "out": str(out) if isinstance(out, (str, Path)) else None,
        **extra,
        "partner": view.partner or JOINT,
        "title": view.title,
        "banner": view.banner,
        "generated_at": view.generated_at,
        "layers": _layer_keys(layer["id"] for layer in view.spec_layers),
        **info,
        "seconds": round(time.perf_counter() - t0, 3),
    }


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


def export_bytes(
    result: Any,
    *,
    fmt: str,
    partner: str | None = None,
    shown: Iterable[str] | None = None,
) -> bytes:
    """The data export of one view (:mod:`geo.export`) as one downloadable file.

    Parameters
    ----------
    result
        The analysis (already restricted to the time window).
    fmt
        One of :data:`geo.export.FORMATS`. GeoJSON and CSV (a folder, one file per layer)
        come zipped; GeoPackage and KML are one file.
    partner
        Export only this partner's view (as ``python -m geo export --partner``).
    shown
        Map layers shown (keys of :data:`layers.map.LAYERS`): only the export layers they show
        are written (``coverage`` with ``footprints``). ``None``: every export layer.

    Returns
    -------
    bytes
        The file; its suffix and MIME type are in :data:`EXPORT_FILES`.

    Raises
    ------
    ValidationError
        For an unknown format or partner, or when no exported layer is shown.
    """
    from geo.export import FORMATS as EXPORT_FORMATS
    from geo.export import export_layers, write_export

    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"export format: expected one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    layers = export_layers(result, partner=None if partner in (None, JOINT) else partner)
    if shown is not None:
        shown = set(shown)
        layers = {k: v for k, v in layers.items() if EXPORT_SHOWN_BY[k] in shown}
        if not layers:
            wanted = ", ".join(sorted(set(EXPORT_SHOWN_BY.values())))
            raise ValidationError(f"data export: no exported layer is shown on the map; show one of: {wanted}")
    with tempfile.TemporaryDirectory(prefix="limes-export-") as tmp:
        if fmt in ("gpkg", "kml"):
            path = Path(tmp) / f"limes.{fmt}"
            write_export(layers, path, fmt=fmt)  # type: ignore[arg-type]
            return path.read_bytes()
        folder = Path(tmp) / f"limes_{fmt}"
        write_export(layers, folder, fmt=fmt)  # type: ignore[arg-type]
        archive = shutil.make_archive(str(Path(tmp) / "export"), "zip", root_dir=folder)
        return Path(archive).read_bytes()


# ---- the view: everything the pages draw, computed once ------------------------------------


@dataclass
class _View:
    result: Any
    acrs: AnalysisCRS
    partner: str | None
    partner_names: Mapping[str, str]
    colors: Mapping[str, tuple[int, int, int]]
    deck: Any  # the pydeck Deck of the view (its legend is the app's)
    spec_layers: list[dict[str, Any]]
    title: str
    subtitle: str
    banner: str
    generated_at: str
    limits: tuple[float, float, float, float]  # the region to show, analysis CRS (m)
    content: shapely.Geometry  # the corridor, analysis CRS: map furniture keeps off it
    time_text: str | None  # the detection time window; None: no detections


def _layer_keys(ids: Any) -> list[str]:
    from layers.map import layer_keys

    return layer_keys(ids)


def resolve_format(out: Any, fmt: str | None, *, flag: str = "out") -> str:
    """The snapshot format (png or pdf) from ``fmt`` or the file name; refuses a mismatch."""
    suffix = Path(out).suffix.lower().lstrip(".") if isinstance(out, (str, Path)) else None
    if fmt is None:
        if suffix is None:
            raise ValidationError(f"snapshot format: give fmt ({' or '.join(FORMATS)}) when writing to a file object")
        if suffix not in FORMATS:
            raise ValidationError(
                f"{flag} {out}: expected a file name ending in .png or .pdf, got "
                f"{('.' + suffix) if suffix else 'no extension'}"
            )
        return suffix
    if fmt not in FORMATS:
        raise ValidationError(f"snapshot format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if suffix is not None and suffix != fmt:
        raise ValidationError(f"{flag} {out}: the file name ends in .{suffix} but the format is {fmt}")
    return fmt


def _prepare(
    result: Any,
    *,
    partner: str | None,
    shown: Iterable[str] | None,
    title: str | None,
    banner: str,
    extent: tuple[float, float, float, float] | None,
    dem: str | Path | None,
    partner_names: Mapping[str, str] | None,
) -> _View:
    from layers.map import DEFAULT_OFF, LAYERS, build_map
    from layers.style import partner_colors

    report = result.report
    partner = None if partner in (None, JOINT) else str(partner)
    if partner is not None and partner not in report["partners"]:
        raise ValidationError(
            f"partner: unknown partner {partner!r}; expected one of: "
            f"{', '.join(sorted(report['partners'])) or '(none)'}"
        )
    shown = tuple(k for k in LAYERS if k not in DEFAULT_OFF) if shown is None else tuple(shown)
    unknown = sorted(set(shown) - set(LAYERS))
    if unknown:
        raise ValidationError(f"layers: unknown {unknown}; expected some of {list(LAYERS)}")
    deck = build_map(result, partner=partner, shown=shown, dem=dem)
    spec = json.loads(deck.to_json())
    acrs = result.acrs
    names = dict(partner_names or {})
    if title is None:
        border_names = [str(n) for n in result.layers["border"].get("name", []) if isinstance(n, str) and n]
        title = "Border coverage" + (f": {', '.join(dict.fromkeys(border_names))}" if border_names else "")
    if partner is None:
        view_text = f"{JOINT}: every partner's assets"
    else:
        full = f" ({names[partner]})" if partner in names else ""
        view_text = f"{partner} view{full}: its sectors and sensors lead, other partners muted"
    time_text = _time_text(result)
    content = shapely.union_all(to_projected(result.layers["corridor"].geometry.to_numpy(), acrs))
    # Default: the corridor, the region the app's map opens on (fitted to it).
    limits = tuple(shapely.bounds(content).tolist()) if extent is None else _limits(acrs, extent)
    return _View(
        result=result,
        acrs=acrs,
        partner=partner,
        partner_names=names,
        colors=partner_colors(report["partners"]),
        deck=deck,
        spec_layers=spec["layers"],
        title=str(title),
        subtitle=f"{view_text} · " + (f"detections {time_text}" if time_text else "no detections loaded"),
        banner=str(banner),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        limits=limits,  # type: ignore[arg-type]
        content=content,
        time_text=time_text,
    )


def _time_text(result: Any) -> str | None:
    """The detection time window, e.g. ``"2026-11-01 00:00 – 2026-11-07 23:59 UTC (all)"``."""
    params = result.report["parameters"]
    det = getattr(result, "all_detections", None)
    if det is None or not len(det):
        return None

    def fmt(value: Any) -> str:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")

    t0 = params.get("time_from") or det["time"].min().isoformat()
    t1 = params.get("time_to") or det["time"].max().isoformat()
    whole = "" if params.get("time_from") or params.get("time_to") else " (all)"
    return f"{fmt(t0)} – {fmt(t1)} UTC{whole}"


def _limits(acrs: AnalysisCRS, extent: Sequence[float]) -> tuple[float, float, float, float]:
    """Bounds in the analysis CRS of a lon/lat box (its outline densified)."""
    try:
        west, south, east, north = (float(v) for v in extent)
    except (TypeError, ValueError):
        raise ValidationError(f"extent: expected (west, south, east, north) in degrees, got {extent!r}") from None
    ok = all(map(math.isfinite, (west, south, east, north)))
    if not ok or not (-180 <= west < east <= 180 and -85 <= south < north <= 85):
        raise ValidationError(
            "extent: expected (west, south, east, north) in degrees with west < east and "
            f"south < north, inside ±180° and ±85°, got {tuple(extent)!r}"
        )
    t = np.linspace(0.0, 1.0, 65)
    lon = np.concatenate([west + (east - west) * t, np.full(65, east), east - (east - west) * t, np.full(65, west)])
    lat = np.concatenate([np.full(65, south), south + (north - south) * t, np.full(65, north), north - (north - south) * t])
    x, y = acrs.to_proj.transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValidationError(f"extent: {tuple(extent)!r} is too far from the border to draw in its map projection")
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


# ---- page 1: the map -------------------------------------------------------------------------


_BANNER_COLORS = (
    # Colours of the usual classification markings, by the leading word of the banner.
    ("TOP SECRET", "#ff8c00", "black"),
    ("SECRET", "#c8102e", "white"),
    ("CONFIDENTIAL", "#0033a0", "white"),
    ("RESTRICTED", "#0033a0", "white"),
    ("UNCLASSIFIED", "#007a33", "white"),
)


def _banner(fig: Figure, text: str, *, top: bool, unit: float) -> None:
    w, h = fig.get_size_inches()
    band = 0.3 * unit
    y = h - band if top else 0.0
    fill, ink = next(((f, i) for word, f, i in _BANNER_COLORS if text.upper().startswith(word)), ("#333333", "white"))
    fig.add_artist(Rectangle((0, y), w, band, transform=fig.dpi_scale_trans, facecolor=fill, edgecolor="none"))
    fig.text(
        w / 2, y + band / 2, text, transform=fig.dpi_scale_trans, ha="center", va="center",
        fontsize=11 * unit, fontweight="bold", color=ink,
    )


def _header(fig: Figure, view: _View, *, unit: float, page: str) -> float:
    """Title block under the top banner; returns the height (in) left below it."""
    w, h = fig.get_size_inches()
    m = 0.3 * unit
    top = h - 0.3 * unit - 0.12 * unit
    fig.text(m, top, view.title, transform=fig.dpi_scale_trans, ha="left", va="top",
             fontsize=15 * unit, fontweight="bold", color="#111111")
    fig.text(m, top - 0.32 * unit, view.subtitle, transform=fig.dpi_scale_trans, ha="left", va="top",
             fontsize=8.5 * unit, color="#333333")
    fig.text(w - m, top, f"Generated {view.generated_at} (UTC)", transform=fig.dpi_scale_trans,
             ha="right", va="top", fontsize=8 * unit, color="#333333")
    analysed = view.result.report.get("generated_at", "–")
    fig.text(w - m, 0.4 * unit, f"Limes border coverage · analysed {analysed} (UTC) · {page}",
             transform=fig.dpi_scale_trans, ha="right", va="bottom", fontsize=6 * unit, color="#555555")
    return top - 0.62 * unit


def _map_page(fig: Figure, view: _View, *, unit: float) -> dict[str, Any]:
    w, h = fig.get_size_inches()
    _banner(fig, view.banner, top=True, unit=unit)
    _banner(fig, view.banner, top=False, unit=unit)
    body_top = _header(fig, view, unit=unit, page="Page 1: map")
    m = 0.3 * unit
    body_bottom = 0.3 * unit + 0.32 * unit
    panel_w = 2.95 * unit
    map_box_in = (m, body_bottom, w - 2 * m - panel_w - 0.15 * unit, body_top - body_bottom)
    ax = fig.add_axes((map_box_in[0] / w, map_box_in[1] / h, map_box_in[2] / w, map_box_in[3] / h))
    xmin, ymin, xmax, ymax = _fit(view.limits, map_box_in[2] / map_box_in[3])
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("white")
    for spine in ax.spines.values():
        spine.set_linewidth(0.8 * unit)
    pt_per_px = map_box_in[2] * 72.0 / _APP_MAP_WIDTH_PX
    lonlat_box = _lonlat_box(view.acrs, (xmin, ymin, xmax, ymax))
    drawer = _Drawer(ax, view.acrs, lonlat_box, pt_per_px=pt_per_px, m_per_pt=(xmax - xmin) / (map_box_in[2] * 72.0))
    for z, layer in enumerate(view.spec_layers, start=1):
        drawer.draw(layer, zorder=z)
    n_layers = len(view.spec_layers) + 2
    scale = _scale_bar(ax, view.acrs, (xmin, ymin, xmax, ymax), view.content, unit=unit, zorder=n_layers)
    north = _north_arrow(ax, view.acrs, (xmin, ymin, xmax, ymax), view.content, unit=unit, zorder=n_layers)
    ax.text(0.995, 0.005, "Basemap: Natural Earth (offline)", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=5.5 * unit, color="#555555", zorder=n_layers)
    fig.text(m, 0.3 * unit + 0.1 * unit, f"Map projection: {view.acrs.name}. All lengths geodesic (WGS84).",
             transform=fig.dpi_scale_trans, ha="left", va="bottom", fontsize=6 * unit, color="#555555")
    legend, head = _side_panel(fig, view, (w - m - panel_w, body_bottom, panel_w, body_top - body_bottom), unit=unit,
                               off_paper=drawer.off_paper)

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


def _fit(limits: tuple[float, float, float, float], aspect: float) -> tuple[float, float, float, float]:
    """Widen ``limits`` in x or y (about their centre, plus a 4 % margin) to ``aspect`` (w/h)."""
    xmin, ymin, xmax, ymax = limits
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    half_w, half_h = (xmax - xmin) / 2 * 1.04, (ymax - ymin) / 2 * 1.04
    if half_w / half_h < aspect:
        half_w = half_h * aspect
    else:
        half_h = half_w / aspect
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _lonlat_box(acrs: AnalysisCRS, limits: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A lon/lat box holding the map's frame with a wide margin: data is clipped to it first."""
    xmin, ymin, xmax, ymax = limits
    dx, dy = (xmax - xmin) * 0.25, (ymax - ymin) * 0.25
    t = np.linspace(0.0, 1.0, 33)
    xs = np.concatenate([xmin - dx + (xmax - xmin + 2 * dx) * t, np.full(33, xmax + dx),
                         xmax + dx - (xmax - xmin + 2 * dx) * t, np.full(33, xmin - dx)])
    ys = np.concatenate([np.full(33, ymin - dy), ymin - dy + (ymax - ymin + 2 * dy) * t,
                         np.full(33, ymax + dy), ymax + dy - (ymax - ymin + 2 * dy) * t])
    lon, lat = acrs.to_lonlat.transform(xs, ys)
    return float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))


def _rgba(color: Sequence[float] | None, default: Sequence[float] = (0, 0, 0, 255)) -> tuple[float, ...]:
    c = list(color) if color is not None else list(default)
    if len(c) == 3:
        c.append(255)
    return tuple(float(v) / 255.0 for v in c[:4])


def _rgba_array(colors: Sequence[Sequence[float]]) -> NDArray[np.float64]:
    """Deck colours (RGB or RGBA, 0–255) as an (n, 4) array of RGBA in 0–1."""
    arr = np.asarray(colors, dtype=float).reshape(len(colors), -1)
    if arr.shape[1] == 3:
        arr = np.column_stack([arr, np.full(len(arr), 255.0)])
    return arr[:, :4] / 255.0


class _Drawer:
    """Draw deck.gl JSON layers (as :func:`layers.map.build_map` makes them) on an Axes.

    Sizes follow deck.gl's rules: a size in metres or pixels (``*Units``), times ``*Scale``,
    clamped to ``*MinPixels`` … ``*MaxPixels``; a pixel of the app's map is
    ``pt_per_px`` points on paper. Every artist carries the id of its layer as its ``gid``.

    Attributes
    ----------
    off_paper
        Ids of the layers left off the map because they show in the browser only when
        zoomed in (points under a quarter point, letters under 3 pt at this scale).
    """

    def __init__(
        self, ax: Any, acrs: AnalysisCRS, lonlat_box: tuple[float, float, float, float], *,
        pt_per_px: float, m_per_pt: float,
    ) -> None:
        self.ax = ax
        self.acrs = acrs
        self.box = lonlat_box
        self.pt_per_px = pt_per_px
        self.m_per_pt = m_per_pt
        self.off_paper: set[str] = set()

    # accessors: a constant, or "@@=field" read from each record
    def values(self, layer: Mapping[str, Any], key: str, default: Any) -> list[Any]:
        data = layer.get("data") or []
        value = layer.get(key, default)
        if isinstance(value, str) and value.startswith("@@="):
            name = value[3:]
            if not name.isidentifier():
                raise ValueError(f"snapshot: layer {layer.get('id')!r}: cannot evaluate accessor {key}={value!r}")
            return [rec.get(name, default) for rec in data]
        return [value] * len(data)

    def size_pt(self, layer: Mapping[str, Any], values: Any, prop: str, *, units: str = "meters") -> NDArray[np.float64]:
        """Sizes on paper (pt) of deck sizes of ``prop`` (``"radius"``, ``"width"`` or ``"size"``).

        As deck.gl does: in ``<prop>Units`` (default ``units``), times ``<prop>Scale``,
        clamped to ``<prop>MinPixels`` … ``<prop>MaxPixels`` (each a pixel of the app's map).
        """
        unit = str(layer.get(f"{prop}Units", units))
        if unit not in ("meters", "pixels"):
            raise ValueError(f"snapshot: layer {layer.get('id')!r}: {prop}Units must be 'meters' or 'pixels', got {unit!r}")
        scale = float(layer.get(f"{prop}Scale", 1.0))
        pt = np.asarray(values, dtype=float) * scale * (self.pt_per_px if unit == "pixels" else 1.0 / self.m_per_pt)
        low = float(layer.get(f"{prop}MinPixels", 0.0)) * self.pt_per_px
        high = layer.get(f"{prop}MaxPixels")
        return np.clip(pt, low, np.inf if high is None else max(float(high) * self.pt_per_px, low))

    def project(self, geoms: NDArray[np.object_]) -> NDArray[np.object_]:
        tr = self.acrs.to_proj
        return shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))

    def draw(self, layer: Mapping[str, Any], *, zorder: int) -> None:
        kind = layer.get("@@type")
        handler = {
            "PolygonLayer": self.polygons,
            "PathLayer": self.paths,
            "ScatterplotLayer": self.points,
            "TextLayer": self.texts,
            "BitmapLayer": self.bitmap,
        }.get(str(kind))
        if handler is None:
            raise ValueError(f"snapshot: layer {layer.get('id')!r} of type {kind!r} cannot be drawn")
        if layer.get("data") or kind == "BitmapLayer":
            handler(layer, zorder)

    def polygons(self, layer: Mapping[str, Any], zorder: int) -> None:
        data = layer["data"]
        polys = np.array(
            [shapely.Polygon(rings[0], rings[1:]) if rings and len(rings[0]) >= 4 else shapely.Polygon()
             for rings in self.values(layer, "getPolygon", None)],
            dtype=object,
        )
        polys = shapely.clip_by_rect(shapely.make_valid(polys), *self.box)
        polys = self.project(polys)
        filled = layer.get("filled", True)
        stroked = layer.get("stroked", True)
        fills = self.values(layer, "getFillColor", [0, 0, 0, 255])
        lines = self.values(layer, "getLineColor", [0, 0, 0, 255])
        width = float(layer.get("lineWidthMinPixels", 0.0)) * self.pt_per_px if stroked else 0.0
        paths, fc, ec = [], [], []
        for i in range(len(data)):
            path = _polygon_path(polys[i])
            if path is None:
                continue
            paths.append(path)
            fc.append(_rgba(fills[i]) if filled else (0, 0, 0, 0))
            ec.append(_rgba(lines[i]) if width > 0 else (0, 0, 0, 0))
        if paths:
            self.ax.add_collection(PathCollection(
                paths, facecolors=fc, edgecolors=ec, linewidths=width, zorder=zorder, joinstyle="round",
                gid=layer.get("id"),
            ))

    def paths(self, layer: Mapping[str, Any], zorder: int) -> None:
        lines = np.array(
            [shapely.LineString(p) if p and len(p) >= 2 else shapely.LineString() for p in self.values(layer, "getPath", None)],
            dtype=object,
        )
        lines = self.project(shapely.clip_by_rect(lines, *self.box))
        colors = self.values(layer, "getColor", [0, 0, 0, 255])
        widths = self.values(layer, "getWidth", 1.0)
        segs, cs, ws = [], [], []
        for geom, c, wd in zip(lines, colors, widths, strict=True):
            for part in shapely.get_parts(geom):
                if part.is_empty:
                    continue
                segs.append(np.asarray(part.coords)[:, :2])
                cs.append(_rgba(c))
                ws.append(float(wd))
        if not segs:
            return
        ws = self.size_pt(layer, ws, "width").tolist()
        dash = layer.get("getDashArray")
        style: Any = (0, tuple(float(d) for d in dash)) if isinstance(dash, list) and len(dash) >= 2 and dash[0] else "solid"
        cap = "round" if layer.get("capRounded") else "butt"
        self.ax.add_collection(LineCollection(
            segs, colors=cs, linewidths=ws, linestyles=style, capstyle=cap, joinstyle="round", zorder=zorder,
            gid=layer.get("id"),
        ))

    def _positions(self, layer: Mapping[str, Any]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        pos = np.asarray(self.values(layer, "getPosition", None), dtype=float).reshape(-1, 2)
        west, south, east, north = self.box
        keep = (pos[:, 0] >= west) & (pos[:, 0] <= east) & (pos[:, 1] >= south) & (pos[:, 1] <= north)
        x, y = self.acrs.to_proj.transform(pos[keep, 0], pos[keep, 1])
        return np.asarray(x), np.asarray(y), keep

    def points(self, layer: Mapping[str, Any], zorder: int) -> None:
        radii = self.size_pt(layer, self.values(layer, "getRadius", 1.0), "radius")
        if float(layer.get("radiusMinPixels", 1.0)) == 0 and radii.max() < 0.25:
            # shown in the browser only when zoomed in: below a quarter point on paper
            self.off_paper.add(str(layer.get("id")))
            return
        x, y, keep = self._positions(layer)
        if not keep.any():
            return
        fills = _rgba_array(self.values(layer, "getFillColor", [0, 0, 0, 255]))[keep]
        radius = radii[keep]
        stroked = bool(layer.get("stroked", False))
        lw = float(layer.get("lineWidthMinPixels", 0.0)) * self.pt_per_px if stroked else 0.0
        edges = _rgba_array(self.values(layer, "getLineColor", [0, 0, 0, 255]))[keep]
        if not stroked or lw <= 0:
            edges[:] = 0.0
        rasterized = bool(keep.sum() > settings.MAX_MAP_POINTS)
        # Dots of one colour and size are one marker line: a PDF then holds the dot once and
        # places it at every point (a scatter would write a path per dot, 5x slower). Groups
        # go least opaque first, so what leads is on top: in a partner's view the partner over
        # the muted others; detections in gaps over the rest.
        style = np.column_stack([fills, edges, radius])
        kinds, group = np.unique(style, axis=0, return_inverse=True)
        group = group.ravel()
        for g in np.lexsort((kinds[:, 8], kinds[:, 3])):
            sel = group == g
            fill, edge, r = kinds[g, :4], kinds[g, 4:8], kinds[g, 8]
            self.ax.plot(
                x[sel], y[sel], linestyle="none", marker="o", markersize=2 * r, markerfacecolor=tuple(fill),
                markeredgecolor=tuple(edge) if edge[3] > 0 else "none", markeredgewidth=lw,
                zorder=zorder, rasterized=rasterized, gid=layer.get("id"),
            )

    def texts(self, layer: Mapping[str, Any], zorder: int) -> None:
        """Labels as deck.gl's TextLayer draws them.

        Honoured: per-record or constant ``getText``, ``getColor``, ``getSize`` (units, scale,
        min/max pixels), ``getPixelOffset`` (pixels of the app's map, y down),
        ``getTextAnchor``, ``getAlignmentBaseline``, ``fontWeight``, several lines of text,
        and a ``background`` box in ``getBackgroundColor`` padded by ``backgroundPadding``
        (``[x, y]`` or ``[left, top, right, bottom]`` px) with ``getBorderColor`` /
        ``getBorderWidth``.
        """
        sizes = self.size_pt(layer, self.values(layer, "getSize", 32), "size", units="pixels")
        if sizes.max() < 3.0:
            self.off_paper.add(str(layer.get("id")))
            return  # letters shown in the browser only when zoomed in: unreadable on paper
        x, y, keep = self._positions(layer)

        def kept(key: str, default: Any) -> list[Any]:
            return [v for v, k in zip(self.values(layer, key, default), keep, strict=True) if k]

        weight = layer.get("fontWeight", 400)
        bold = weight == "bold" if isinstance(weight, str) else float(weight or 400) >= 600
        box = bool(layer.get("background", False))
        pad_pt = tuple(p * self.pt_per_px for p in _padding(layer.get("backgroundPadding", [0, 0, 0, 0])))
        records = zip(
            x, y, kept("getText", ""), kept("getColor", [0, 0, 0, 255]), sizes[keep],
            kept("getPixelOffset", [0, 0]), kept("getTextAnchor", "middle"), kept("getAlignmentBaseline", "center"),
            kept("getBackgroundColor", [255, 255, 255, 255]), kept("getBorderColor", [0, 0, 0, 255]),
            kept("getBorderWidth", 0), strict=True,
        )
        offsets: dict[tuple[float, float], Any] = {}
        for xi, yi, text, color, size, offset, anchor, baseline, fill, edge, edge_px in records:
            if size < 3.0:
                continue
            dx, dy = (float(v) * self.pt_per_px for v in (offset or (0, 0))[:2])
            if (dx, dy) not in offsets:  # deck.gl's pixel offset points down the screen
                offsets[dx, dy] = offset_copy(self.ax.transData, fig=self.ax.figure, x=dx, y=-dy, units="points")
            ha = _TEXT_ANCHOR.get(str(anchor))
            va = _TEXT_BASELINE.get(str(baseline))
            if ha is None or va is None:
                raise ValueError(
                    f"snapshot: layer {layer.get('id')!r}: text anchor {anchor!r} / baseline {baseline!r}; expected "
                    f"one of {', '.join(_TEXT_ANCHOR)} / {', '.join(_TEXT_BASELINE)}"
                )
            bbox = None
            if box:
                edge_pt = float(edge_px or 0) * self.pt_per_px
                bbox = {"boxstyle": _PadBox(tuple(p / size for p in pad_pt)), "facecolor": _rgba(fill),
                        "edgecolor": _rgba(edge) if edge_pt > 0 else "none", "linewidth": edge_pt}
            self.ax.text(xi, yi, str(text), transform=offsets[dx, dy], fontsize=size, color=_rgba(color),
                         fontweight="bold" if bold else "normal", ha=ha, va=va, multialignment=ha,
                         linespacing=1.1, bbox=bbox, zorder=zorder, clip_on=True, gid=layer.get("id"))

    def bitmap(self, layer: Mapping[str, Any], zorder: int) -> None:
        from PIL import Image

        url = str(layer.get("image", ""))
        if not url.startswith("data:image/") or ";base64," not in url:
            raise ValueError(f"snapshot: layer {layer.get('id')!r}: only inline (data URL) images can be drawn")
        with Image.open(io.BytesIO(base64.b64decode(url.split(";base64,", 1)[1]))) as img:
            src = np.asarray(img.convert("RGBA"))
        west, south, east, north = (float(v) for v in layer["bounds"])
        # deck.gl stretches the image linearly in Web Mercator between its bounds: resample it
        # onto a grid of this map (nearest source pixel) the same way.
        xmin, xmax = self.ax.get_xlim()
        ymin, ymax = self.ax.get_ylim()
        nx = 1400
        ny = max(int(nx * (ymax - ymin) / (xmax - xmin)), 1)
        gx, gy = np.meshgrid(xmin + (np.arange(nx) + 0.5) * (xmax - xmin) / nx,
                             ymax - (np.arange(ny) + 0.5) * (ymax - ymin) / ny)
        lon, lat = self.acrs.to_lonlat.transform(gx.ravel(), gy.ravel())
        top, bottom = _mercator_y(north), _mercator_y(south)
        col = np.floor((np.asarray(lon) - west) / (east - west) * src.shape[1]).astype(np.int64)
        row = np.floor((top - _mercator_y(np.asarray(lat))) / (top - bottom) * src.shape[0]).astype(np.int64)
        inside = (col >= 0) & (col < src.shape[1]) & (row >= 0) & (row < src.shape[0])
        out = np.zeros((nx * ny, 4), dtype=np.uint8)
        out[inside] = src[row[inside], col[inside]]
        self.ax.imshow(out.reshape(ny, nx, 4), extent=(xmin, xmax, ymin, ymax), origin="upper",
                       interpolation="bilinear", zorder=zorder, aspect="auto")
        self.ax.set_xlim(xmin, xmax)
        self.ax.set_ylim(ymin, ymax)


def _mercator_y(lat_deg: Any) -> Any:
    """Web Mercator northing on the unit sphere (radians) of latitudes in degrees."""
    phi = np.radians(np.clip(lat_deg, -85.06, 85.06))
    return np.log(np.tan(np.pi / 4 + phi / 2))


#: deck.gl ``getTextAnchor`` / ``getAlignmentBaseline`` -> matplotlib ``ha`` / ``va``.
_TEXT_ANCHOR = {"start": "left", "middle": "center", "end": "right"}
_TEXT_BASELINE = {"top": "top", "center": "center", "bottom": "bottom"}


def _padding(value: Any) -> tuple[float, float, float, float]:
    """deck.gl ``backgroundPadding`` (``[x, y]`` or ``[left, top, right, bottom]``) as four values."""
    pad = [float(v) for v in (value or [])]
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return pad[0], pad[1], pad[2], pad[3]
    raise ValueError(f"snapshot: backgroundPadding: expected [x, y] or [left, top, right, bottom], got {value!r}")


class _PadBox:
    """A matplotlib box style: a rectangle around text, padded unevenly like deck.gl's label backgrounds.

    Parameters
    ----------
    pad_em
        Padding (left, top, right, bottom) in fractions of the font size.
    """

    def __init__(self, pad_em: tuple[float, ...]) -> None:
        self.pad_em = pad_em

    def __call__(self, x0: float, y0: float, width: float, height: float, mutation_size: float) -> MplPath:
        """The box around a text of ``width`` × ``height`` at (``x0``, ``y0``); ``mutation_size``: font size (px)."""
        left, top, right, bottom = (p * mutation_size for p in self.pad_em)
        x1, y1 = x0 + width + right, y0 + height + top
        x0, y0 = x0 - left, y0 - bottom
        return MplPath([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], closed=True)


def _polygon_path(geom: shapely.Geometry) -> MplPath | None:
    """One compound path (holes included) for a Polygon or the polygons of a collection."""
    verts: list[NDArray[np.float64]] = []
    codes: list[NDArray[np.uint8]] = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "GeometryCollection" or part.geom_type.startswith("Multi"):
            sub = _polygon_path(part)
            if sub is not None:
                verts.append(sub.vertices)
                codes.append(sub.codes)
            continue
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        for ring in (part.exterior, *part.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            if len(xy) < 4:
                continue
            c = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
            c[0], c[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _nice_km(max_km: float) -> float:
    """The largest 1, 2 or 5 × 10^k km not above ``max_km``."""
    exp = math.floor(math.log10(max_km))
    for step in (5, 2, 1):
        if step * 10**exp <= max_km:
            return float(step * 10**exp)
    return float(10 ** (exp - 1) * 5)


def _quietest(content: shapely.Geometry, boxes: Sequence[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    """The box (x, y, w, h) that hides least of ``content`` (the first of equals)."""
    hidden = [shapely.area(shapely.intersection(content, shapely.box(x, y, x + w, y + h))) for x, y, w, h in boxes]
    return boxes[int(np.argmin(hidden))]


def _scale_bar(
    ax: Any, acrs: AnalysisCRS, limits: tuple[float, float, float, float], content: shapely.Geometry, *,
    unit: float, zorder: int,
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
    bx, by, _, _ = _quietest(content, [(xmin + 0.015 * w, ymin + 0.015 * h, bw, bh),
                                       (xmax - 0.015 * w - bw, ymin + 0.015 * h, bw, bh)])
    ax.add_patch(Rectangle((bx, by), bw, bh, facecolor=(1, 1, 1, 0.85), edgecolor="#888888",
                           linewidth=0.5 * unit, zorder=zorder))
    x0, y0 = bx + 0.015 * w, by + 0.03 * h
    bar_h = 0.011 * h
    for i in range(4):
        ax.add_patch(Rectangle((x0 + i * length / 4, y0), length / 4, bar_h, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.6 * unit, zorder=zorder + 1))
    for frac, label in ((0.0, "0"), (0.5, f"{km / 2:g}"), (1.0, f"{km:g} km")):
        ax.text(x0 + frac * length, y0 + bar_h + 0.008 * h, label, ha="center", va="bottom",
                fontsize=7 * unit, zorder=zorder + 1)
    return {"km": km, "map_units": length, "centre": [float(clon), float(clat)], "at": [x0, y0]}


def _north_arrow(
    ax: Any, acrs: AnalysisCRS, limits: tuple[float, float, float, float], content: shapely.Geometry, *,
    unit: float, zorder: int,
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
    bx, by, _, _ = _quietest(content, [(xmax - 0.015 * w - bw, ymax - 0.015 * h - bh, bw, bh),
                                       (xmin + 0.015 * w, ymax - 0.015 * h - bh, bw, bh)])
    ax.add_patch(Rectangle((bx, by), bw, bh, facecolor=(1, 1, 1, 0.85), edgecolor="#888888",
                           linewidth=0.5 * unit, zorder=zorder))
    cx, cy = bx + bw / 2, by + 0.8 * size
    dx, dy = math.sin(math.radians(north)) * size, math.cos(math.radians(north)) * size
    ax.add_patch(FancyArrow(cx - dx / 2, cy - dy / 2, dx, dy, width=0.18 * size, head_width=0.55 * size,
                            head_length=0.45 * size, length_includes_head=True, color="black", zorder=zorder + 1))
    ax.text(cx + dx * 0.6, cy + dy * 0.6 + 0.1 * size, "N", ha="center", va="bottom", fontsize=10 * unit,
            fontweight="bold", zorder=zorder + 1)
    return north


# ---- page 1: the side panel (legend, headline numbers, parameters) -------------------------


class _Column:
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
        self.y -= inches * self.u

    def heading(self, text: str) -> None:
        self.gap(0.06)
        self.fig.text(self.x, self.y, text, transform=self.fig.dpi_scale_trans, ha="left", va="top",
                      fontsize=9 * self.u, fontweight="bold", color="#111111")
        self.gap(0.2)

    def text(self, text: str, *, indent: float = 0.0, size: float = 7.0, color: str = "#222222", wrap: int = 58) -> None:
        for line in textwrap.wrap(text, wrap - int(indent * 12)) or [""]:
            self.fig.text(self.x + indent * self.u, self.y, line, transform=self.fig.dpi_scale_trans, ha="left",
                          va="top", fontsize=size * self.u, color=color)
            self.gap(0.135 * size / 7.0)

    def pair(self, label: str, value: str) -> None:
        """A label and its value (bold) beside it, each wrapped to its column; recorded in :attr:`pairs`."""
        labels = textwrap.wrap(label, 25) or [""]
        values = textwrap.wrap(value, 31) or [""]
        for i in range(max(len(labels), len(values))):
            if i < len(labels):
                self.fig.text(self.x, self.y, labels[i], transform=self.fig.dpi_scale_trans, ha="left", va="top",
                              fontsize=7 * self.u, color="#444444")
            if i < len(values):
                self.fig.text(self.x + 1.3 * self.u, self.y, values[i], transform=self.fig.dpi_scale_trans, ha="left",
                              va="top", fontsize=7 * self.u, color="#111111", fontweight="bold")
            self.gap(0.135)
        self.pairs[label] = value

    def entry(self, label: str, draw: Callable[[float, float, float, float], None], *, indent: float = 0.0,
              record: bool = True) -> None:
        """A legend row: ``draw(x, y, w, h)`` paints the swatch (inches), then the label."""
        sw, sh = 0.28 * self.u, 0.1 * self.u
        x = self.x + indent * self.u
        draw(x, self.y - sh - 0.015 * self.u, sw, sh)
        for line in textwrap.wrap(label, 46 - int(indent * 12)) or [""]:
            self.fig.text(x + sw + 0.08 * self.u, self.y, line, transform=self.fig.dpi_scale_trans, ha="left",
                          va="top", fontsize=7 * self.u, color="#222222")
            self.gap(0.135)
        if record:
            self.labels.append(label)
        self.gap(0.015)

    @staticmethod
    def blank(x: float, y: float, w: float, h: float) -> None:
        """A swatch painter that paints nothing."""

    # swatch painters
    def box(self, fill: Sequence[float], edge: Sequence[float] | None = None, lw: float = 0.8) -> Callable[..., None]:
        def draw(x: float, y: float, w: float, h: float) -> None:
            self.fig.add_artist(Rectangle((x, y), w, h, transform=self.fig.dpi_scale_trans, facecolor=_rgba(fill),
                                          edgecolor=_rgba(edge) if edge is not None else "none", linewidth=lw * self.u))
        return draw

    def ramp(self, colors: Sequence[Sequence[float]]) -> Callable[..., None]:
        def draw(x: float, y: float, w: float, h: float) -> None:
            step = w / len(colors)
            for i, c in enumerate(colors):
                self.fig.add_artist(Rectangle((x + i * step, y), step, h, transform=self.fig.dpi_scale_trans,
                                              facecolor=_rgba(c), edgecolor="none"))
        return draw

    def line(self, color: Sequence[float], lw: float, dash: Sequence[float] | None = None) -> Callable[..., None]:
        def draw(x: float, y: float, w: float, h: float) -> None:
            from matplotlib.lines import Line2D

            style: Any = (0, tuple(dash)) if dash else "solid"
            self.fig.add_artist(Line2D([x, x + w], [y + h / 2, y + h / 2], transform=self.fig.dpi_scale_trans,
                                       color=_rgba(color), linewidth=lw * self.u, linestyle=style, solid_capstyle="butt"))
        return draw

    def dot(self, fill: Sequence[float], edge: Sequence[float] | None = None, size: float = 5.0, letter: str = "") -> Callable[..., None]:
        def draw(x: float, y: float, w: float, h: float) -> None:
            from matplotlib.lines import Line2D

            self.fig.add_artist(Line2D([x + w / 2], [y + h / 2], transform=self.fig.dpi_scale_trans, marker="o",
                                       markersize=size * self.u, markerfacecolor=_rgba(fill),
                                       markeredgecolor=_rgba(edge) if edge is not None else "none",
                                       markeredgewidth=0.6 * self.u, linestyle="none"))
            if letter:
                self.fig.text(x + w / 2, y + h / 2, letter, transform=self.fig.dpi_scale_trans, ha="center",
                              va="center", fontsize=4.5 * self.u, color="white", fontweight="bold")
        return draw


def _style_of(layer: Mapping[str, Any], key: str, default: Any, *, lead: bool = False) -> Any:
    """A style value of a deck layer for its legend swatch.

    A constant is returned as it is. For a value read from each record: with ``lead``, the
    value of the most opaque record (in a partner's view: the leading partner's style, as
    the others are muted); otherwise the most common value.
    """
    value = layer.get(key, default)
    if not (isinstance(value, str) and value.startswith("@@=")):
        return value
    recs = layer.get("data") or []
    if not recs:
        return default
    name = value[3:]
    if lead:
        fill = layer.get("getFillColor")
        fill_name = fill[3:] if isinstance(fill, str) and fill.startswith("@@=") else None

        def opacity(rec: Mapping[str, Any]) -> float:
            c = rec.get(fill_name) if fill_name else None
            return float(c[3]) if isinstance(c, list) and len(c) == 4 else 255.0

        return max(recs, key=opacity).get(name, default)
    counts: dict[str, tuple[int, Any]] = {}
    for rec in recs:
        v = rec.get(name, default)
        n, _ = counts.get(repr(v), (0, v))
        counts[repr(v)] = (n + 1, v)
    return max(counts.values(), key=lambda nv: nv[0])[1]


def _side_panel(
    fig: Figure, view: _View, box: tuple[float, float, float, float], *, unit: float, off_paper: set[str],
) -> tuple[list[str], dict[str, str]]:
    """Legend, headline numbers and parameters; returns the legend lines and the headline rows."""
    col = _Column(fig, box, unit=unit)
    col.heading("Legend")
    _legend(col, view, off_paper)
    head = headline(view.result.report, view.partner)
    col.gap(0.05)
    col.heading(f"Headline ({head.scope})")
    for label, value in _headline_rows(head):
        col.pair(label, value)
    rows = dict(col.pairs)
    col.gap(0.05)
    col.heading("Analysis parameters")
    for label, value in _parameter_rows(view):
        col.pair(label, value)
    return col.labels, rows


def _legend(col: _Column, view: _View, off_paper: set[str]) -> None:
    """The app's legend (:func:`layers.legend.legend_entries`) of what this page's map draws.

    The legend is read from the view's deck less the layers this map leaves out: those
    shown only when zoomed in (``off_paper``) and sub-layers with nothing to draw. A layer
    switched on with nothing in the view is listed as "none in this view".
    """
    import pydeck as pdk

    from layers.legend import legend_entries
    from layers.map import LAYERS

    spec = {layer["id"]: layer for layer in view.spec_layers}

    def empty(layer_id: str) -> bool:
        layer = spec.get(layer_id, {})
        return not layer.get("data") and layer.get("@@type") != "BitmapLayer"

    kept = [layer for layer in view.deck.layers
            if layer.id not in off_paper and (layer.id in LAYERS or not empty(layer.id))]
    entries = legend_entries(
        pdk.Deck(layers=kept, map_provider=None), partner_colours=view.colors, partner_names=view.partner_names,
        partner=view.partner, corridor_km=view.result.report["parameters"]["corridor_km"],
    )
    partners = [e for e in entries if e.layer == "partners"]
    if partners:
        mine = view.partner
        col.text("Partners" + ("" if mine is None else f" ({mine} leads, others muted)"), color="#444444")
        for e in partners:
            col.entry(e.label, col.box(e.colours[0], (20, 20, 20, 255), 0.4), indent=0.1, record=False)
        col.gap(0.03)
    said_none: set[str] = set()
    for e in entries:
        if e.layer == "partners" or e.layer in said_none:
            continue
        if e.layer in LAYERS and empty(e.layer):
            said_none.add(e.layer)
            col.entry(f"{e.label}: none in this view", col.blank)
            continue
        col.entry(e.label, _swatch(col, e, spec.get(e.layer, {})))
        for note in e.notes:
            col.text(note, indent=0.36, size=6.5, color="#555555")
            col.labels.append(note)
        col.gap(0.015 if e.notes else 0.0)


def _swatch(col: _Column, entry: Any, layer: Mapping[str, Any]) -> Callable[[float, float, float, float], None]:
    """The swatch painter of a legend entry (:class:`layers.legend.LegendEntry`); ``layer``: its deck layer."""
    colours = entry.colours or ((0, 0, 0, 0),)
    if entry.symbol == "line":
        width = float(_style_of(layer, "getWidth", 4)) * 0.75  # px of the app's legend -> pt
        dash = layer.get("getDashArray")
        return col.line(colours[0], width, dash if isinstance(dash, list) and len(dash) >= 2 and dash[0] else None)
    if entry.symbol == "dot":
        if entry.layer == "sensors":  # the leading partner's colour (the app takes the first sensor's)
            fill = _style_of(layer, "getFillColor", colours[0], lead=True)
            return col.dot(fill, entry.outline or (255, 255, 255, 255), size=6.0)
        return col.dot(colours[0], entry.outline, size=4.0)
    if entry.symbol == "ramp":
        return col.ramp(colours)
    if entry.symbol == "box":
        return col.box(colours[0], entry.outline)
    return col.blank


def _headline_rows(head: Any) -> list[tuple[str, str]]:
    """Label and value of each headline number (:class:`geo.coverage.views.Headline`) as the page prints them.

    In a partner's view a border-wide figure (named in ``head.joint``) is labelled
    "(joint)", as in the app; the contested border is the partner's own: "contested with P".
    """
    def joint(name: str) -> str:
        return " (joint)" if head.partner is not None and head.scope_of(name) != head.scope else ""

    lg = head.longest
    contested = "contested" if head.partner is None or joint("contested_km") else f"contested with {head.partner}"
    return [
        ("Coverage", f"{head.coverage_pct:.1f} % ({head.covered_km:,.1f} of {head.length_km:,.1f} km)"),
        ("Gaps", f"{head.gap_km:,.1f} km, {len(head.gaps)} stretches listed"),
        ("Longest gap", f"{lg['length_km']:,.1f} km (G1: segment {lg['segment']}, km "
                        f"{lg['start_km']:,.1f}–{lg['end_km']:,.1f})" if lg else "none"),
        (f"Partner overlap{joint('overlap_km')}", f"{head.overlap_km:,.1f} km"),
        (f"Unassigned{joint('unassigned_km')} / {contested}{joint('contested_km')}",
         f"{head.unassigned_km:,.1f} / {head.contested_km:,.1f} km"),
        ("Detections in gaps", f"{head.detections_in_gaps:,} of {head.detections:,}"),
    ]


def _parameter_rows(view: _View) -> list[tuple[str, str]]:
    params = view.result.report["parameters"]
    rows = [
        ("Corridor depth", f"{params['corridor_km']:g} km each side of the border"),
        ("Shortest gap listed", f"{params['min_gap_m']:g} m"),
        ("Detection window", view.time_text or "no detections loaded"),
    ]
    known = {"corridor_km", "min_gap_m", "time_from", "time_to"}
    extra = {k: v for k, v in params.items() if k not in known and v is not None}
    if extra.get("dem"):
        terrain = f"line of sight over DEM {Path(str(extra.pop('dem'))).name}"
        cells = view.result.report.get("terrain", {}).get("cell_size_m")
        if cells:
            terrain += f" ({cells[0]:.0f} × {cells[1]:.0f} m cells)"
        for key, text in (("target_height_m", "target {:g} m above ground"), ("refraction_coeff", "refraction k {:g}")):
            if key in extra:
                terrain += ", " + text.format(extra.pop(key))
        rows.append(("Terrain", terrain))
    else:
        rows.append(("Terrain", "not used: flat-earth footprints (range and wedge only)"))
    rows += [(k.replace("_", " ").capitalize(), str(v)) for k, v in extra.items()]
    return rows


# ---- page 2: the gap table and per-sector coverage ------------------------------------------


def _table(
    fig: Figure, box: tuple[float, float, float, float], title: str, columns: Sequence[tuple[str, float, str]],
    rows: Sequence[Sequence[str]], *, unit: float, footer: str | None = None,
) -> int:
    """Draw a table in ``box`` (inches); return how many rows fit (the rest are left out)."""
    x, bottom, w, h = box
    y = bottom + h
    row_h = 0.165 * unit
    fig.text(x, y, title, transform=fig.dpi_scale_trans, ha="left", va="top", fontsize=10 * unit, fontweight="bold")
    y -= 0.3 * unit
    widths = np.array([c[1] for c in columns], dtype=float)
    xs = x + np.concatenate([[0.0], np.cumsum(widths / widths.sum() * w)])
    fig.add_artist(Rectangle((x, y - row_h), w, row_h, transform=fig.dpi_scale_trans, facecolor="#e6e6e6", edgecolor="none"))
    for (name, _, align), x0, x1 in zip(columns, xs[:-1], xs[1:], strict=True):
        tx = x1 - 0.05 * unit if align == "right" else x0 + 0.05 * unit
        fig.text(tx, y - row_h / 2, name, transform=fig.dpi_scale_trans, ha=align, va="center", fontsize=7 * unit, fontweight="bold")
    y -= row_h
    room = int((y - bottom - (0.25 * unit if footer else 0.0) - row_h) // row_h)
    fits = len(rows) if len(rows) <= room else max(room - 1, 0)
    for i, row in enumerate(rows[:fits]):
        if i % 2:
            fig.add_artist(Rectangle((x, y - row_h), w, row_h, transform=fig.dpi_scale_trans, facecolor="#f5f5f5", edgecolor="none"))
        for (_, _, align), x0, x1, cell in zip(columns, xs[:-1], xs[1:], row, strict=True):
            tx = x1 - 0.05 * unit if align == "right" else x0 + 0.05 * unit
            fig.text(tx, y - row_h / 2, _clip_text(cell, (x1 - x0) / unit - 0.1), transform=fig.dpi_scale_trans, ha=align, va="center", fontsize=6.8 * unit)
        y -= row_h
    if fits < len(rows):
        fig.text(x + 0.05 * unit, y - row_h / 2, f"… and {len(rows) - fits:,} more (all of them are in the data export)",
                 transform=fig.dpi_scale_trans, ha="left", va="center", fontsize=7 * unit, color="#444444")
        y -= row_h
    if footer:
        fig.text(x, y - 0.08 * unit, footer, transform=fig.dpi_scale_trans, ha="left", va="top", fontsize=6.5 * unit, color="#444444")
    return fits


def _clip_text(text: str, width_in: float) -> str:
    """Shorten ``text`` with an ellipsis to fit ``width_in`` inches at 6.8 pt (about 19 characters an inch)."""
    room = max(int(width_in * 19), 2)
    return text if len(text) <= room else text[: room - 1] + "…"


def _table_pages(view: _View, page_w: float, page_h: float) -> list[Figure]:
    report = view.result.report
    head = headline(report, view.partner)
    fig = Figure(figsize=(page_w, page_h), dpi=72)
    _banner(fig, view.banner, top=True, unit=1.0)
    _banner(fig, view.banner, top=False, unit=1.0)
    top = _header(fig, view, unit=1.0, page="Page 2: gaps and sectors")
    m, bottom = 0.3, 0.6
    gap_w = (page_w - 2 * m) * 0.55
    gaps = [
        (f"{i}", f"{g['length_km']:,.2f}", f"{g['segment']}", f"{g['start_km']:,.2f}", f"{g['end_km']:,.2f}",
         ", ".join(g["sector_ids"]) or "unassigned", ", ".join(g["partners"]) or "–",
         f"{g['midpoint'][1]:.5f}, {g['midpoint'][0]:.5f}")
        for i, g in enumerate(head.gaps, start=1)
    ]
    _table(
        fig, (m, bottom, gap_w, top - bottom), f"Gaps in the {head.scope}, longest first ({len(gaps):,})",
        [("#", 0.5, "right"), ("Length km", 1.0, "right"), ("Seg.", 0.5, "right"), ("From km", 0.95, "right"),
         ("To km", 0.95, "right"), ("Sectors", 1.3, "left"), ("Partners", 1.0, "left"), ("Midpoint lat, lon", 1.9, "left")],
        gaps, unit=1.0,
        footer=f"{head.gap_km:,.2f} km uncovered in the {head.scope}; stretches shorter than "
               f"{report['parameters']['min_gap_m']:g} m are not listed. Chainage from the first vertex of each border segment.",
    )
    sectors = [s for s in report["sectors"] if view.partner is None or s["partner"] == view.partner]
    rows = [
        (s["sector_id"], s["partner"], s.get("name") or "–", f"{s['border_km']:,.1f}", f"{s['covered_km']:,.1f}",
         f"{s['coverage_pct']:.1f}", f"{s['detections']:,}")
        for s in sectors
    ]
    x2 = m + gap_w + 0.3
    _table(
        fig, (x2, bottom, page_w - m - x2, top - bottom),
        "Coverage by sector" + ("" if view.partner is None else f" ({view.partner})"),
        [("Sector", 0.9, "left"), ("Partner", 0.8, "left"), ("Name", 1.4, "left"), ("Border km", 1.0, "right"),
         ("Covered km", 1.1, "right"), ("Cover %", 0.9, "right"), ("Detections", 1.05, "right")],
        rows, unit=1.0,
        footer=(f"Detections in the window: {view.time_text}." if view.time_text else None) if sectors else "No sectors in this view.",
    )
    return [fig]
