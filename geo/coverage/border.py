"""The border as connected segments with a geodesic chainage.

The border arrives as line features. Lines that touch end to end are merged into connected
segments, numbered in input order (segment 0 holds the first input feature) and oriented like
the first input feature in them, so chainage runs from that feature's first vertex. Where
three or more lines meet, the chain stops: a segment is a single non-branching line.

Each segment is projected to the analysis CRS and split into short straight edges
(``settings.BORDER_MAX_SEGMENT_M``); every vertex carries its geodesic chainage (m), measured
on the ellipsoid between consecutive vertices. Segments are laid end to end on one global
axis, a 10 m spacer between them so no interval ever spans two segments.

On that axis, :func:`polygon_border_intervals` finds the pieces of border inside polygons
(the sectors) and :func:`nearest_chainage` the border point nearest to each of a set of
points.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.core import settings
from geo.core.antimeridian import wrap_geometries
from geo.core.errors import ValidationError
from geo.core.projection import GEOD, AnalysisCRS, choose_analysis_crs, to_projected
from geo.coverage import intervals as iv

_SPACER_M = 10.0


@dataclass(frozen=True)
class Border:
    """A prepared border.

    Attributes
    ----------
    acrs
        Analysis CRS.
    lines_lonlat
        One LineString per segment in EPSG:4326, in segment order.
    names
        Name of each segment (from the first input feature's ``name``), or ``None``.
    xy
        Per segment, projected vertex coordinates, shape (n, 2).
    chain_m
        Per segment, geodesic chainage of each vertex from the segment's first vertex (m).
    offset_m
        Start of each segment on the global axis (m).
    """

    acrs: AnalysisCRS
    lines_lonlat: NDArray[np.object_]
    names: list[str | None]
    xy: list[NDArray[np.float64]]
    chain_m: list[NDArray[np.float64]]
    offset_m: NDArray[np.float64]

    @property
    def n_segments(self) -> int:
        """Number of connected segments."""
        return len(self.xy)

    @property
    def length_m(self) -> NDArray[np.float64]:
        """Geodesic length of each segment (m)."""
        return np.array([c[-1] for c in self.chain_m])

    @property
    def spans(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Each segment as an interval on the global axis."""
        return self.offset_m, self.offset_m + self.length_m

    def edges(self) -> dict[str, NDArray[np.float64]]:
        """All straight edges: end points (analysis CRS) and global chainage at both ends."""
        parts = []
        for i, (xy, ch) in enumerate(zip(self.xy, self.chain_m, strict=True)):
            parts.append(
                np.column_stack(
                    [
                        xy[:-1],
                        xy[1:],
                        ch[:-1] + self.offset_m[i],
                        ch[1:] + self.offset_m[i],
                        np.full(len(xy) - 1, i),
                    ]
                )
            )
        a = np.concatenate(parts)
        a = a[a[:, 5] > a[:, 4]]  # drop zero-length edges
        return {
            "ax": a[:, 0],
            "ay": a[:, 1],
            "bx": a[:, 2],
            "by": a[:, 3],
            "c0": a[:, 4],
            "c1": a[:, 5],
            "segment": a[:, 6].astype(np.int64),
        }

    def locate(self, chain: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Segment number and chainage within it for positions on the global axis."""
        chain = np.asarray(chain, dtype=float)
        seg = np.clip(np.searchsorted(self.offset_m, chain, side="right") - 1, 0, None)
        return seg, chain - self.offset_m[seg]

    def point_at(self, chain: NDArray[np.float64]) -> NDArray[np.float64]:
        """Projected (x, y) at global chainage positions, shape (n, 2)."""
        seg, local = self.locate(chain)
        out = np.empty((seg.size, 2))
        for i in np.unique(seg):
            m = seg == i
            out[m, 0] = np.interp(local[m], self.chain_m[i], self.xy[i][:, 0])
            out[m, 1] = np.interp(local[m], self.chain_m[i], self.xy[i][:, 1])
        return out

    def slice(self, start: float, end: float) -> shapely.LineString:
        """The projected piece of border between two global chainages (same segment)."""
        seg, (s, e) = self.locate(np.array([start, end]))
        i = int(seg[0])
        ch, xy = self.chain_m[i], self.xy[i]
        inner = (ch > s) & (ch < e)
        ends = self.point_at(np.array([start, end]))
        return shapely.LineString(np.vstack([ends[:1], xy[inner], ends[1:]]))


def _merge_in_input_order(lines: NDArray[np.object_]) -> tuple[list[shapely.LineString], list[int]]:
    """Merge touching lines; return merged lines in input order and the first input of each."""
    merged = shapely.get_parts(shapely.line_merge(shapely.MultiLineString(list(lines))))
    if merged.size == 1:
        owner = np.zeros(lines.size, dtype=np.int64)
    else:
        mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
        owner = np.argmin(shapely.distance(mid[:, None], merged[None, :]), axis=1)
    order = []
    for j in range(merged.size):
        members = np.flatnonzero(owner == j)
        first = int(members.min()) if members.size else lines.size + j
        order.append((first, j))
    out_lines, out_first = [], []
    for first, j in sorted(order):
        line = merged[j]
        if first < lines.size:
            ref = lines[first]
            a = shapely.line_locate_point(line, shapely.get_point(ref, 0))
            b = shapely.line_locate_point(line, shapely.get_point(ref, -1))
            if a > b:
                line = shapely.reverse(line)
        out_lines.append(line)
        out_first.append(first)
    return out_lines, out_first


def _wrapped_round_centre(parts: NDArray[np.object_]) -> NDArray[np.object_]:
    """Lines with longitudes wrapped into the 360° round their centre (on the sphere).

    A border given cut at the antimeridian (RFC 7946 GeoJSON: one line ends at 180°, the
    next starts at -180°) is then one connected line again, as on the globe, and merges.
    Lines away from 180° come back unchanged (:func:`geo.core.antimeridian.wrap_lon` keeps
    longitudes already in the frame exactly).

    Examples
    --------
    >>> cut = np.array([shapely.LineString([(179, 65), (180, 65)]),
    ...                 shapely.LineString([(-180, 65), (-179, 65)])], dtype=object)
    >>> [line.wkt for line in _wrapped_round_centre(cut)]
    ['LINESTRING (179 65, 180 65)', 'LINESTRING (180 65, 181 65)']
    """
    lon, lat = shapely.get_coordinates(parts).T
    lam, phi = np.radians(lon), np.radians(lat)
    y, x = np.sum(np.cos(phi) * np.sin(lam)), np.sum(np.cos(phi) * np.cos(lam))
    if np.hypot(x, y) < 1e-9 * lon.size:  # round a pole or the whole world: no centre
        return parts
    return wrap_geometries(parts, float(np.degrees(np.arctan2(y, x))))


def prepare_border(border: gpd.GeoDataFrame, *, acrs: AnalysisCRS | None = None) -> Border:
    """Merge, orient, project and measure a border.

    Parameters
    ----------
    border
        Line features in EPSG:4326; an optional ``name`` column names the segments.
    acrs
        Analysis CRS; chosen from the border's vertices when not given.

    Returns
    -------
    Border
    """
    if border.crs is None or not border.crs.equals("EPSG:4326"):
        raise ValueError(f"border must be in EPSG:4326, got {border.crs}")
    geoms = border.geometry.to_numpy()
    names_col = border["name"].to_numpy() if "name" in border.columns else [None] * len(border)
    parts, part_feature = shapely.get_parts(geoms, return_index=True)
    keep = ~shapely.is_empty(parts) & (shapely.get_num_coordinates(parts) >= 2)
    parts, part_feature = parts[keep], part_feature[keep]
    if parts.size == 0:
        raise ValidationError(
            "border: no line with two or more distinct vertices; give the border as lines"
        )
    lines, first = _merge_in_input_order(_wrapped_round_centre(parts))
    if acrs is None:
        coords = shapely.get_coordinates(np.asarray(lines, dtype=object))
        acrs = choose_analysis_crs(coords[:, 0], coords[:, 1])

    projected = shapely.segmentize(to_projected(lines, acrs), settings.BORDER_MAX_SEGMENT_M)
    xy, chain, names = [], [], []
    lonlat_lines = []
    inv = acrs.to_lonlat
    for line, f in zip(projected, first, strict=True):
        c = shapely.get_coordinates(line)
        lon, lat = inv.transform(c[:, 0], c[:, 1])
        _, _, step = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
        xy.append(c)
        chain.append(np.concatenate([[0.0], np.cumsum(step)]))
        name = names_col[part_feature[f]] if f < parts.size else None
        names.append(
            None if name is None or (isinstance(name, float) and np.isnan(name)) else str(name)
        )
        lonlat_lines.append(shapely.LineString(np.column_stack([lon, lat])))
    lengths = np.array([c[-1] for c in chain])
    offsets = np.concatenate([[0.0], np.cumsum(lengths + _SPACER_M)[:-1]])
    return Border(acrs, np.asarray(lonlat_lines, dtype=object), names, xy, chain, offsets)


def polygon_border_intervals(
    border: Border, polygons: NDArray[np.object_]
) -> tuple[NDArray[np.int64], iv.Intervals]:
    """Pieces of border inside each polygon (analysis CRS), as global chainage intervals."""
    e = border.edges()
    polygons = np.asarray(polygons, dtype=object)
    if polygons.size == 0 or e["ax"].size == 0:
        return np.empty(0, dtype=np.int64), (np.empty(0), np.empty(0))
    a = np.column_stack([e["ax"], e["ay"]])
    b = np.column_stack([e["bx"], e["by"]])
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    tree = shapely.STRtree(lines)
    out_p, out_s, out_e = [], [], []
    for j, poly in enumerate(polygons):
        if poly is None or shapely.is_empty(poly):
            continue
        cand = tree.query(poly)
        if cand.size == 0:
            continue
        shapely.prepare(poly)
        inside = shapely.covers(poly, lines[cand])
        full = cand[inside]
        out_p.append(np.full(full.size, j))
        out_s.append(e["c0"][full])
        out_e.append(e["c1"][full])
        crossing = cand[~inside & shapely.intersects(poly, lines[cand])]
        if crossing.size:
            pieces, which = shapely.get_parts(
                shapely.intersection(lines[crossing], poly), return_index=True
            )
            is_line = shapely.get_type_id(pieces) == 1
            pieces, which = pieces[is_line], crossing[which[is_line]]
            if pieces.size:
                coords, cidx = shapely.get_coordinates(pieces, return_index=True)
                ei = which[cidx]
                d = b[ei] - a[ei]
                t = np.einsum("ij,ij->i", coords - a[ei], d) / np.einsum("ij,ij->i", d, d)
                first = np.flatnonzero(np.r_[True, cidx[1:] != cidx[:-1]])
                t_lo = np.minimum.reduceat(t, first).clip(0, 1)
                t_hi = np.maximum.reduceat(t, first).clip(0, 1)
                c0, c1 = e["c0"][which], e["c1"][which]
                out_p.append(np.full(pieces.size, j))
                out_s.append(c0 + t_lo * (c1 - c0))
                out_e.append(c0 + t_hi * (c1 - c0))
        shapely.destroy_prepared(poly)
    if not out_p:
        return np.empty(0, dtype=np.int64), (np.empty(0), np.empty(0))
    return np.concatenate(out_p), (np.concatenate(out_s), np.concatenate(out_e))


def nearest_chainage(
    border: Border, points: gpd.GeoDataFrame
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Nearest point of the border for each point.

    Returns
    -------
    segment : ndarray of int
        Border segment of the nearest border point.
    chainage_km : ndarray of float
        Its chainage along that segment (km).
    distance_m : ndarray of float
        Distance to it in the analysis CRS (m, to within the local scale factor).
    """
    n = len(points)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
    e = border.edges()
    a = np.column_stack([e["ax"], e["ay"]])
    b = np.column_stack([e["bx"], e["by"]])
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    x, y = border.acrs.to_proj.transform(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    pts = shapely.points(np.asarray(x), np.asarray(y))
    (pi, ei), dist = shapely.STRtree(lines).query_nearest(
        pts, return_distance=True, all_matches=False
    )
    order = np.argsort(pi)
    pi, ei, dist = pi[order], ei[order], dist[order]
    d = b[ei] - a[ei]
    p_xy = np.column_stack([np.asarray(x)[pi], np.asarray(y)[pi]])
    t = np.clip(np.einsum("ij,ij->i", p_xy - a[ei], d) / np.einsum("ij,ij->i", d, d), 0, 1)
    chain = e["c0"][ei] + t * (e["c1"][ei] - e["c0"][ei])
    seg, local = border.locate(chain)
    return seg, local / 1000.0, dist
