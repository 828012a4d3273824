"""Deck.gl JSON layers drawn with matplotlib, sized as deck.gl sizes them.

:class:`DeckDrawer` draws the layers :func:`layers.map.build_map` makes (polygons, paths,
points, text and an inline bitmap) on an Axes in the analysis CRS; :func:`rgba` turns a deck
colour into matplotlib's.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.path import Path as MplPath
from matplotlib.transforms import offset_copy
from numpy.typing import NDArray
from PIL import Image

from geo.core import settings
from geo.core.projection import AnalysisCRS


def rgba(
    color: Sequence[float] | None, default: Sequence[float] = (0, 0, 0, 255)
) -> tuple[float, float, float, float]:
    """A deck colour (RGB or RGBA, 0–255; ``None``: ``default``) as matplotlib's RGBA in 0–1.

    Examples
    --------
    >>> rgba([255, 0, 51])
    (1.0, 0.0, 0.2, 1.0)
    """
    c = list(color) if color is not None else list(default)
    if len(c) == 3:
        c.append(255)
    r, g, b, a = (float(v) / 255.0 for v in c[:4])
    return r, g, b, a


def rgba_array(colors: Sequence[Sequence[float]]) -> NDArray[np.float64]:
    """Deck colours (RGB or RGBA, 0–255) as an (n, 4) array of RGBA in 0–1."""
    arr = np.asarray(colors, dtype=float).reshape(len(colors), -1)
    if arr.shape[1] == 3:
        arr = np.column_stack([arr, np.full(len(arr), 255.0)])
    return arr[:, :4] / 255.0


class DeckDrawer:
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
        self,
        ax: Any,
        acrs: AnalysisCRS,
        lonlat_box: tuple[float, float, float, float],
        *,
        pt_per_px: float,
        m_per_pt: float,
    ) -> None:
        self.ax = ax
        self.acrs = acrs
        self.box = lonlat_box
        self.pt_per_px = pt_per_px
        self.m_per_pt = m_per_pt
        self.off_paper: set[str] = set()

    # accessors: a constant, or "@@=field" read from each record
    def values(self, layer: Mapping[str, Any], key: str, default: Any) -> list[Any]:
        """The value of accessor ``key`` for each record of ``layer`` (``default`` if missing)."""
        data = layer.get("data") or []
        value = layer.get(key, default)
        if isinstance(value, str) and value.startswith("@@="):
            name = value[3:]
            if not name.isidentifier():
                raise ValueError(
                    f"snapshot: layer {layer.get('id')!r}: cannot evaluate accessor {key}={value!r}"
                )
            return [rec.get(name, default) for rec in data]
        return [value] * len(data)

    def size_pt(
        self, layer: Mapping[str, Any], values: Any, prop: str, *, units: str = "meters"
    ) -> NDArray[np.float64]:
        """Sizes on paper (pt) of deck sizes of ``prop`` (``"radius"``, ``"width"`` or ``"size"``).

        As deck.gl does: in ``<prop>Units`` (default ``units``), times ``<prop>Scale``,
        clamped to ``<prop>MinPixels`` … ``<prop>MaxPixels`` (each a pixel of the app's map).
        """
        unit = str(layer.get(f"{prop}Units", units))
        if unit not in ("meters", "pixels"):
            raise ValueError(
                f"snapshot: layer {layer.get('id')!r}: "
                f"{prop}Units must be 'meters' or 'pixels', got {unit!r}"
            )
        scale = float(layer.get(f"{prop}Scale", 1.0))
        pt = (
            np.asarray(values, dtype=float)
            * scale
            * (self.pt_per_px if unit == "pixels" else 1.0 / self.m_per_pt)
        )
        low = float(layer.get(f"{prop}MinPixels", 0.0)) * self.pt_per_px
        high = layer.get(f"{prop}MaxPixels")
        return np.clip(pt, low, np.inf if high is None else max(float(high) * self.pt_per_px, low))

    def project(self, geoms: NDArray[np.object_]) -> NDArray[np.object_]:
        """Lon/lat geometries in the analysis CRS (the map's)."""
        tr = self.acrs.to_proj
        return shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))

    def draw(self, layer: Mapping[str, Any], *, zorder: int) -> None:
        """Draw one deck layer at ``zorder``; a layer type that cannot be drawn is an error."""
        kind = layer.get("@@type")
        handler = {
            "PolygonLayer": self.polygons,
            "PathLayer": self.paths,
            "ScatterplotLayer": self.points,
            "TextLayer": self.texts,
            "BitmapLayer": self.bitmap,
        }.get(str(kind))
        if handler is None:
            raise ValueError(
                f"snapshot: layer {layer.get('id')!r} of type {kind!r} cannot be drawn"
            )
        if layer.get("data") or kind == "BitmapLayer":
            handler(layer, zorder)

    def polygons(self, layer: Mapping[str, Any], zorder: int) -> None:
        """A PolygonLayer: one compound path per record (holes kept), clipped to the map."""
        data = layer["data"]
        polys = np.array(
            [
                shapely.Polygon(rings[0], rings[1:])
                if rings and len(rings[0]) >= 4
                else shapely.Polygon()
                for rings in self.values(layer, "getPolygon", None)
            ],
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
            fc.append(rgba(fills[i]) if filled else (0, 0, 0, 0))
            ec.append(rgba(lines[i]) if width > 0 else (0, 0, 0, 0))
        if paths:
            self.ax.add_collection(
                PathCollection(
                    paths,
                    facecolors=fc,
                    edgecolors=ec,
                    linewidths=width,
                    zorder=zorder,
                    joinstyle="round",
                    gid=layer.get("id"),
                )
            )

    def paths(self, layer: Mapping[str, Any], zorder: int) -> None:
        """A PathLayer: its lines with their colours, widths, dashes and caps."""
        lines = np.array(
            [
                shapely.LineString(p) if p and len(p) >= 2 else shapely.LineString()
                for p in self.values(layer, "getPath", None)
            ],
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
                cs.append(rgba(c))
                ws.append(float(wd))
        if not segs:
            return
        ws = self.size_pt(layer, ws, "width").tolist()
        dash = layer.get("getDashArray")
        style: Any = (
            (0, tuple(float(d) for d in dash))
            if isinstance(dash, list) and len(dash) >= 2 and dash[0]
            else "solid"
        )
        cap = "round" if layer.get("capRounded") else "butt"
        self.ax.add_collection(
            LineCollection(
                segs,
                colors=cs,
                linewidths=ws,
                linestyles=style,
                capstyle=cap,
                joinstyle="round",
                zorder=zorder,
                gid=layer.get("id"),
            )
        )

    def _positions(
        self, layer: Mapping[str, Any]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        pos = np.asarray(self.values(layer, "getPosition", None), dtype=float).reshape(-1, 2)
        west, south, east, north = self.box
        keep = (
            (pos[:, 0] >= west) & (pos[:, 0] <= east) & (pos[:, 1] >= south) & (pos[:, 1] <= north)
        )
        x, y = self.acrs.to_proj.transform(pos[keep, 0], pos[keep, 1])
        return np.asarray(x), np.asarray(y), keep

    def points(self, layer: Mapping[str, Any], zorder: int) -> None:
        """A ScatterplotLayer: dots grouped by style (left off when under a quarter point)."""
        radii = self.size_pt(layer, self.values(layer, "getRadius", 1.0), "radius")
        if float(layer.get("radiusMinPixels", 1.0)) == 0 and radii.max() < 0.25:
            # shown in the browser only when zoomed in: below a quarter point on paper
            self.off_paper.add(str(layer.get("id")))
            return
        x, y, keep = self._positions(layer)
        if not keep.any():
            return
        fills = rgba_array(self.values(layer, "getFillColor", [0, 0, 0, 255]))[keep]
        radius = radii[keep]
        stroked = bool(layer.get("stroked", False))
        lw = float(layer.get("lineWidthMinPixels", 0.0)) * self.pt_per_px if stroked else 0.0
        edges = rgba_array(self.values(layer, "getLineColor", [0, 0, 0, 255]))[keep]
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
                x[sel],
                y[sel],
                linestyle="none",
                marker="o",
                markersize=2 * r,
                markerfacecolor=tuple(fill),
                markeredgecolor=tuple(edge) if edge[3] > 0 else "none",
                markeredgewidth=lw,
                zorder=zorder,
                rasterized=rasterized,
                gid=layer.get("id"),
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
        pad_pt = tuple(
            p * self.pt_per_px for p in _padding(layer.get("backgroundPadding", [0, 0, 0, 0]))
        )
        records = zip(
            x,
            y,
            kept("getText", ""),
            kept("getColor", [0, 0, 0, 255]),
            sizes[keep],
            kept("getPixelOffset", [0, 0]),
            kept("getTextAnchor", "middle"),
            kept("getAlignmentBaseline", "center"),
            kept("getBackgroundColor", [255, 255, 255, 255]),
            kept("getBorderColor", [0, 0, 0, 255]),
            kept("getBorderWidth", 0),
            strict=True,
        )
        offsets: dict[tuple[float, float], Any] = {}
        for xi, yi, text, color, size, offset, anchor, baseline, fill, edge, edge_px in records:
            if size < 3.0:
                continue
            dx, dy = (float(v) * self.pt_per_px for v in (offset or (0, 0))[:2])
            if (dx, dy) not in offsets:  # deck.gl's pixel offset points down the screen
                offsets[dx, dy] = offset_copy(
                    self.ax.transData, fig=self.ax.figure, x=dx, y=-dy, units="points"
                )
            ha, va = _alignment(layer, anchor, baseline)
            bbox = None
            if box:
                bbox = _label_box(fill, edge, float(edge_px or 0) * self.pt_per_px, pad_pt, size)
            self.ax.text(
                xi,
                yi,
                str(text),
                transform=offsets[dx, dy],
                fontsize=size,
                color=rgba(color),
                fontweight="bold" if bold else "normal",
                ha=ha,
                va=va,
                multialignment=ha,
                linespacing=1.1,
                bbox=bbox,
                zorder=zorder,
                clip_on=True,
                gid=layer.get("id"),
            )

    def bitmap(self, layer: Mapping[str, Any], zorder: int) -> None:
        """A BitmapLayer with an inline (data URL) image, resampled onto the map's grid."""
        url = str(layer.get("image", ""))
        if not url.startswith("data:image/") or ";base64," not in url:
            raise ValueError(
                f"snapshot: layer {layer.get('id')!r}: only inline (data URL) images can be drawn"
            )
        with Image.open(io.BytesIO(base64.b64decode(url.split(";base64,", 1)[1]))) as img:
            src = np.asarray(img.convert("RGBA"))
        west, south, east, north = (float(v) for v in layer["bounds"])
        # deck.gl stretches the image linearly in Web Mercator between its bounds: resample it
        # onto a grid of this map (nearest source pixel) the same way.
        xmin, xmax = self.ax.get_xlim()
        ymin, ymax = self.ax.get_ylim()
        nx = 1400
        ny = max(int(nx * (ymax - ymin) / (xmax - xmin)), 1)
        gx, gy = np.meshgrid(
            xmin + (np.arange(nx) + 0.5) * (xmax - xmin) / nx,
            ymax - (np.arange(ny) + 0.5) * (ymax - ymin) / ny,
        )
        lon, lat = self.acrs.to_lonlat.transform(gx.ravel(), gy.ravel())
        top, bottom = _mercator_y(north), _mercator_y(south)
        col = np.floor((np.asarray(lon) - west) / (east - west) * src.shape[1]).astype(np.int64)
        row = np.floor((top - _mercator_y(np.asarray(lat))) / (top - bottom) * src.shape[0]).astype(
            np.int64
        )
        inside = (col >= 0) & (col < src.shape[1]) & (row >= 0) & (row < src.shape[0])
        out = np.zeros((nx * ny, 4), dtype=np.uint8)
        out[inside] = src[row[inside], col[inside]]
        self.ax.imshow(
            out.reshape(ny, nx, 4),
            extent=(xmin, xmax, ymin, ymax),
            origin="upper",
            interpolation="bilinear",
            zorder=zorder,
            aspect="auto",
        )
        self.ax.set_xlim(xmin, xmax)
        self.ax.set_ylim(ymin, ymax)


def _mercator_y(lat_deg: Any) -> Any:
    """Web Mercator northing on the unit sphere (radians) of latitudes in degrees."""
    phi = np.radians(np.clip(lat_deg, -85.06, 85.06))
    return np.log(np.tan(np.pi / 4 + phi / 2))


#: deck.gl ``getTextAnchor`` / ``getAlignmentBaseline`` -> matplotlib ``ha`` / ``va``.
_TEXT_ANCHOR = {"start": "left", "middle": "center", "end": "right"}
_TEXT_BASELINE = {"top": "top", "center": "center", "bottom": "bottom"}


def _alignment(layer: Mapping[str, Any], anchor: Any, baseline: Any) -> tuple[str, str]:
    """Matplotlib's ``ha`` and ``va`` of a deck.gl text anchor and alignment baseline."""
    ha = _TEXT_ANCHOR.get(str(anchor))
    va = _TEXT_BASELINE.get(str(baseline))
    if ha is None or va is None:
        raise ValueError(
            f"snapshot: layer {layer.get('id')!r}: "
            f"text anchor {anchor!r} / baseline {baseline!r}; expected "
            f"one of {', '.join(_TEXT_ANCHOR)} / {', '.join(_TEXT_BASELINE)}"
        )
    return ha, va


def _label_box(
    fill: Sequence[float],
    edge: Sequence[float],
    edge_pt: float,
    pad_pt: Sequence[float],
    size: float,
) -> dict[str, Any]:
    """The ``bbox`` of a label of ``size`` pt: deck.gl's background, padded by ``pad_pt`` (pt)."""
    return {
        "boxstyle": _PadBox(tuple(p / size for p in pad_pt)),
        "facecolor": rgba(fill),
        "edgecolor": rgba(edge) if edge_pt > 0 else "none",
        "linewidth": edge_pt,
    }


def _padding(value: Any) -> tuple[float, float, float, float]:
    """deck.gl ``backgroundPadding`` as four values.

    The padding is ``[x, y]`` or ``[left, top, right, bottom]``.
    """
    pad = [float(v) for v in (value or [])]
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return pad[0], pad[1], pad[2], pad[3]
    raise ValueError(
        f"snapshot: backgroundPadding: expected [x, y] or [left, top, right, bottom], got {value!r}"
    )


class _PadBox:
    """A matplotlib box style: a rectangle around text, padded unevenly like deck.gl's labels.

    Parameters
    ----------
    pad_em
        Padding (left, top, right, bottom) in fractions of the font size.
    """

    def __init__(self, pad_em: tuple[float, ...]) -> None:
        self.pad_em = pad_em

    def __call__(
        self, x0: float, y0: float, width: float, height: float, mutation_size: float
    ) -> MplPath:
        """The box around a text of ``width`` × ``height`` at (``x0``, ``y0``).

        ``mutation_size``: the font size (px).
        """
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
                verts.append(np.asarray(sub.vertices, dtype=float))
                codes.append(np.asarray(sub.codes, dtype=MplPath.code_type))
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
