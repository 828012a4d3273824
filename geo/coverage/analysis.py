"""Coverage analysis: where the border and its corridor are watched, and where they are not.

:func:`analyse` is the one entry point the command line, the app and the exports share. It
takes validated layers in EPSG:4326 (see :mod:`geo.inputs.loader`) and returns an :class:`Analysis`: the
JSON report (a contract, see the README) and GeoDataFrames in EPSG:4326 for maps and exports.

Along the border everything is exact interval arithmetic on a geodesic chainage
(:mod:`geo.coverage.intervals`, :mod:`geo.coverage.footprints`); in the corridor it is polygon overlay in the
analysis CRS with areas measured on the ellipsoid (:mod:`geo.core.projection`).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from geo.core import settings
from geo.core.errors import ValidationError
from geo.core.projection import (
    AnalysisCRS,
    geodesic_area_m2,
    local_scale_and_convergence,
    to_lonlat,
    to_projected,
)
from geo.core.times import parse_utc
from geo.coverage import intervals as iv
from geo.coverage import pointindex
from geo.coverage.border import Border, prepare_border
from geo.coverage.footprints import FootprintParams, footprint_polygons, segment_intervals

if TYPE_CHECKING:
    from geo.terrain.grids import CoverageGrid

_WGS84 = "EPSG:4326"

#: With a DEM, map polygons (terrain footprints, blind and overlap areas) are polygonized on
#: the grid reduced to at most this many cells a side, and patches smaller than
#: ``_DISPLAY_MIN_CELLS`` cells are left out. For display only: numbers come from the grid.
_DISPLAY_GRID_MAX = 2500
_DISPLAY_MIN_CELLS = 4


@dataclass
class Analysis:
    """Result of :func:`analyse`.

    Attributes
    ----------
    report
        The JSON-ready report (keys documented in the README; a contract).
    acrs
        The analysis CRS.
    layers
        GeoDataFrames in EPSG:4326, by name: ``border``, ``corridor``, ``footprints``,
        ``sensors``, ``sectors``, ``gaps`` (border lines), ``overlaps`` (border lines),
        ``gap_areas``, ``overlap_areas`` (corridor polygons), ``detections``.

        ``sensors`` is the input sensors (every column kept) plus, per sensor, in km of
        border: ``covered_km``, the border it watches (its own pieces merged), and
        ``sole_km``, the part of that no other active sensor watches, i.e. the gap that
        would open without it (``sole_km <= covered_km``; the ``sole_km`` of all sensors
        plus ``border.redundant_km`` make ``border.covered_km``). Both are 0 for inactive
        sensors. With a DEM both are read from the grid along the border like every border
        figure: a sensor watches a piece of border when its cut viewshed sees the piece's cell.
    """

    report: dict[str, Any]
    acrs: AnalysisCRS
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    #: Per detection (all of them, whatever the window): membership of each sector.
    det_in_sector: NDArray[np.bool_] | None = None
    #: Partner of each sector, in the order of ``report["sectors"]``.
    sector_partner: NDArray[np.object_] = field(default_factory=lambda: np.empty(0, dtype=object))
    #: All classified detections; ``layers["detections"]`` holds those in the time window.
    all_detections: gpd.GeoDataFrame | None = None
    #: The prepared border (segments, chainage) the analysis ran on.
    border: Border | None = None
    #: Terrain coverage counts on the DEM's grid, when the analysis used a DEM.
    coverage: CoverageGrid | None = None

    def windowed(
        self,
        time_from: str | datetime | None = None,
        time_to: str | datetime | None = None,
        *,
        visible: NDArray[np.bool_] | None = None,
    ) -> Analysis:
        """The same analysis with detections restricted to a time window (and to a viewer).

        Coverage does not depend on time, so only detection counts (overall, per sector, per
        partner) and the detections layer change; nothing is recomputed geometrically.

        ``visible``: which of :attr:`all_detections` the viewer may see (see
        :func:`geo.coverage.views.visible_rows`); the others leave every count and layer.
        """
        t_from = parse_utc(time_from, "time_from")
        t_to = parse_utc(time_to, "time_to")
        if t_from is not None and t_to is not None and t_to < t_from:
            raise ValidationError(f"time window: time_to ({t_to}) is before time_from ({t_from})")
        report = copy.deepcopy(self.report)
        report["parameters"]["time_from"] = _iso(t_from)
        report["parameters"]["time_to"] = _iso(t_to)
        layers = dict(self.layers)
        det = self.all_detections
        if det is None or self.det_in_sector is None:
            return replace(self, report=report, layers=layers)
        keep = np.ones(len(det), dtype=bool)
        if visible is not None:
            if visible.shape != keep.shape:
                raise ValueError(f"visible: expected one flag per detection ({keep.size}), got {visible.shape}")
            keep &= visible
        if t_from is not None:
            keep &= (det["time"] >= t_from).to_numpy()
        if t_to is not None:
            keep &= (det["time"] <= t_to).to_numpy()
        status = det["coverage_status"].to_numpy()[keep]
        in_sector = self.det_in_sector[keep]
        report["detections"].update(
            {
                "total": int(keep.sum()),
                "in_coverage": int((status == "coverage").sum()),
                "in_gaps": int((status == "gap").sum()),
                "outside_corridor": int((status == "outside").sum()),
            }
        )
        for j, sec in enumerate(report["sectors"]):
            sec["detections"] = int(in_sector[:, j].sum())
        in_gap = status == "gap"
        for p, entry in report["partners"].items():
            cols = self.sector_partner == p
            mine = in_sector[:, cols].any(axis=1) if cols.any() else np.zeros(len(status), dtype=bool)
            entry["detections"] = int(mine.sum())
            entry["detections_in_gaps"] = int((mine & in_gap).sum())
        layers["detections"] = det[keep].reset_index(drop=True)
        if "sectors" in layers:
            layers["sectors"] = _sector_layer_counts(layers["sectors"], report["sectors"])
        return replace(self, report=report, layers=layers)


def _sector_layer_counts(
    sectors: gpd.GeoDataFrame, sectors_report: list[dict[str, Any]]
) -> gpd.GeoDataFrame:
    """A copy of the sectors layer whose ``detections`` are the report's, row by row.

    The layer's rows are the report's sectors in the same order (see :func:`_layers`), so
    the map's tooltips and every export carry the report's counts. The layer passed in (shared
    by every window of the analysis) is not changed.
    """
    if len(sectors) != len(sectors_report):
        raise ValueError(
            f"sectors layer: expected one row per report sector ({len(sectors_report)}), "
            f"got {len(sectors)}"
        )
    out = sectors.copy()
    out["detections"] = np.array([int(s["detections"]) for s in sectors_report], dtype=np.int64)
    return out


def _check_wgs84(gdf: gpd.GeoDataFrame | None, what: str) -> None:
    if gdf is not None and (gdf.crs is None or not gdf.crs.equals(_WGS84)):
        raise ValueError(f"{what} must be in EPSG:4326 (load it with geo.inputs.loader), got {gdf.crs}")


def sensor_footprints(sensors: gpd.GeoDataFrame, acrs: AnalysisCRS) -> FootprintParams:
    """Footprint parameters of every sensor in the analysis CRS.

    Ranges are scaled by the local scale factor and azimuths turned by the local meridian
    convergence, both measured on the ellipsoid at each sensor.
    """
    lon = sensors.geometry.x.to_numpy(dtype=float)
    lat = sensors.geometry.y.to_numpy(dtype=float)
    scale, north = local_scale_and_convergence(acrs, lon, lat)
    x, y = acrs.to_proj.transform(lon, lat)
    fov = sensors["fov_deg"].to_numpy(dtype=float) if "fov_deg" in sensors else np.full(lon.size, 360.0)
    fov = np.where(np.isnan(fov), 360.0, fov)
    az = sensors["azimuth_deg"].to_numpy(dtype=float) if "azimuth_deg" in sensors else np.zeros(lon.size)
    r_in = sensors["min_range_m"].to_numpy(dtype=float) if "min_range_m" in sensors else np.zeros(lon.size)
    return FootprintParams(
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        r_out=sensors["range_m"].to_numpy(dtype=float) * scale,
        r_in=np.nan_to_num(r_in) * scale,
        bearing_deg=np.nan_to_num(az) + north,
        fov_deg=fov,
    )


def border_intervals(border: Border, fp: FootprintParams) -> tuple[NDArray[np.int64], iv.Intervals]:
    """Exact pieces of border inside each footprint.

    Returns
    -------
    (footprint, (start, end))
        For every piece, the footprint it belongs to and its global chainage (m).
    """
    e = border.edges()
    if len(fp) == 0 or e["ax"].size == 0:
        return np.empty(0, dtype=np.int64), (np.empty(0), np.empty(0))
    edge_boxes = shapely.box(
        np.minimum(e["ax"], e["bx"]),
        np.minimum(e["ay"], e["by"]),
        np.maximum(e["ax"], e["bx"]),
        np.maximum(e["ay"], e["by"]),
    )
    fp_boxes = shapely.box(fp.x - fp.r_out, fp.y - fp.r_out, fp.x + fp.r_out, fp.y + fp.r_out)
    f_idx, e_idx = shapely.STRtree(edge_boxes).query(fp_boxes)
    sub = fp.take(f_idx)
    t_lo, t_hi = segment_intervals(e["ax"][e_idx], e["ay"][e_idx], e["bx"][e_idx], e["by"][e_idx], sub)
    valid = t_hi > t_lo  # NaN compares False
    rows, _ = np.nonzero(valid)
    c0, c1 = e["c0"][e_idx][rows], e["c1"][e_idx][rows]
    start = c0 + t_lo[valid] * (c1 - c0)
    end = c0 + t_hi[valid] * (c1 - c0)
    return f_idx[rows], (start, end)


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


def sensor_border_m(
    owner: NDArray[np.int64], ivs: iv.Intervals, n_sensors: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Border each sensor watches, and the part of it no other sensor watches.

    Parameters
    ----------
    owner, ivs
        Pieces of border (global chainage, m) and the sensor each belongs to, as
        :func:`border_intervals` gives them (a sensor's pieces may overlap or touch).
    n_sensors
        Number of sensors (owners are ``0 .. n_sensors - 1``).

    Returns
    -------
    covered_m, sole_m : ndarray of float, shape (n_sensors,)
        Per sensor, the length (m) of the union of its pieces, and of the part of that union
        covered by no other sensor's pieces (0 for a sensor without pieces).

    Examples
    --------
    >>> cov, sole = sensor_border_m(np.array([0, 1]), (np.array([0.0, 6.0]), np.array([10.0, 15.0])), 3)
    >>> cov.tolist(), sole.tolist()
    ([10.0, 9.0, 0.0], [6.0, 5.0, 0.0])
    """
    own, merged = iv.union_by(owner, ivs)
    # Each sensor's pieces merged first, so depth counts sensors, not pieces.
    once = iv.subtract(iv.union(merged), iv.at_least(*merged, k=2))
    piece_m = merged[1] - merged[0]
    covered_m = np.bincount(own, weights=piece_m, minlength=n_sensors)
    sole_m = np.bincount(own, weights=np.minimum(iv.overlap_lengths(merged, once), piece_m), minlength=n_sensors)
    return covered_m, sole_m


def _select(owner: NDArray[np.int64], ivs: iv.Intervals, mask: NDArray[np.bool_]) -> iv.Intervals:
    keep = mask[owner]
    return ivs[0][keep], ivs[1][keep]


def _km(m: float) -> float:
    return round(float(m) / 1000.0, 6)


def _km2(m2: float) -> float:
    return round(float(m2) / 1e6, 6)


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 4) if whole > 0 else 0.0


def _merged_by_partner(
    owner: NDArray[np.int64], ivs: iv.Intervals, owner_partner: NDArray[np.object_], partners: list[str]
) -> dict[str, iv.Intervals]:
    return {p: iv.union(_select(owner, ivs, owner_partner == p)) for p in partners}


def _union_all(geoms: NDArray[np.object_]) -> shapely.Geometry:
    geoms = np.asarray(geoms, dtype=object)
    if geoms.size == 0:
        return shapely.Polygon()
    return shapely.union_all(geoms)


def analyse(
    border: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    *,
    sectors: gpd.GeoDataFrame | None = None,
    detections: gpd.GeoDataFrame | None = None,
    corridor_km: float = settings.CORRIDOR_KM,
    min_gap_m: float = settings.MIN_GAP_M,
    time_from: str | datetime | None = None,
    time_to: str | datetime | None = None,
    dem: str | Path | None = None,
    target_height_m: float = settings.TARGET_HEIGHT_M,
    refraction_coeff: float = settings.REFRACTION_COEFF,
) -> Analysis:
    """Compute coverage of a border and its corridor by sensors.

    Parameters
    ----------
    border, sensors, sectors, detections
        Layers in EPSG:4326 as returned by :mod:`geo.inputs.loader` (sensors need ``sensor_id``,
        ``partner``, ``kind``, ``range_m``; optional columns take their defaults).
    corridor_km
        Depth of the corridor on each side of the border (km, > 0).
    min_gap_m
        Uncovered stretches shorter than this are not listed as gaps (m, >= 0).
    time_from, time_to
        Optional time window for detections (ISO 8601; without a zone, UTC).
    dem
        A terrain model (any raster GDAL reads, any CRS). With it every sensor's footprint is
        its viewshed over the terrain (line of sight from ``height_m`` above the ground to a
        target ``target_height_m`` above the ground, with earth curvature and refraction),
        cut to its range, annulus and wedge; coverage is counted on the DEM's grid
        (:mod:`geo.terrain.grids`) and the border results are read from that grid.
    target_height_m
        Height of the target above the ground (m, >= 0); a sensor's own ``target_height_m``
        overrides it. Used with ``dem``.
    refraction_coeff
        Atmospheric refraction coefficient ``k`` (-1 to 1); curvature is corrected with
        ``1 - k``. Used with ``dem``.

    Returns
    -------
    Analysis
        Report and map layers.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> b = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 0)])], crs=4326)
    >>> s = gpd.GeoDataFrame({"sensor_id": ["a"], "partner": ["P"], "kind": ["tower"],
    ...                       "range_m": [10_000.0]}, geometry=[shapely.Point(0.5, 0)], crs=4326)
    >>> round(analyse(b, s).report["border"]["covered_km"], 2)
    20.0
    """
    for gdf, what in ((border, "border"), (sensors, "sensors"), (sectors, "sectors"), (detections, "detections")):
        _check_wgs84(gdf, what)
    if not np.isfinite(corridor_km) or corridor_km <= 0:
        raise ValidationError(f"corridor_km: expected a number > 0, got {corridor_km!r}")
    if not np.isfinite(min_gap_m) or min_gap_m < 0:
        raise ValidationError(f"min_gap_m: expected a number >= 0, got {min_gap_m!r}")
    t_from = parse_utc(time_from, "time_from")
    t_to = parse_utc(time_to, "time_to")
    if t_from is not None and t_to is not None and t_to < t_from:
        raise ValidationError(f"time window: time_to ({t_to}) is before time_from ({t_from})")

    b = prepare_border(border)
    acrs = b.acrs
    total_m = float(b.length_m.sum())
    spans = b.spans

    # ---- sensors -------------------------------------------------------------------------
    sensors = sensors.reset_index(drop=True)
    status = sensors["status"].to_numpy(dtype=object) if "status" in sensors else np.full(len(sensors), "active", dtype=object)
    active = status == "active"
    fp_all = sensor_footprints(sensors, acrs)
    sensor_partner = sensors["partner"].astype(str).to_numpy(dtype=object)
    sector_partner = (
        sectors["partner"].astype(str).to_numpy(dtype=object) if sectors is not None else np.empty(0, dtype=object)
    )
    partners = sorted(set(sensor_partner) | set(sector_partner))

    border_lines = [shapely.LineString(xy) for xy in b.xy]
    k_mean = float(np.mean(local_scale_and_convergence(acrs, *shapely.get_coordinates(b.lines_lonlat).T)[0]))
    corridor = shapely.union_all(shapely.buffer(np.asarray(border_lines, dtype=object), corridor_km * 1000.0 * k_mean))

    grid = None
    if dem is None:
        fp_owner, fp_ivs = border_intervals(b, fp_all.take(np.flatnonzero(active)))
        fp_owner = np.flatnonzero(active)[fp_owner]
        covered = iv.union(fp_ivs)
        redundant = iv.at_least(*fp_ivs, k=2)
        by_partner_cov = _merged_by_partner(fp_owner, fp_ivs, sensor_partner, partners)
        sensor_cov_m, sensor_sole_m = sensor_border_m(fp_owner, fp_ivs, len(sensors))
    else:
        from geo.terrain import grids as tc

        tc._check_params(target_height_m, refraction_coeff)
        # The border's cells are probed: each sensor's viewshed is read there as it is counted.
        e = b.edges()
        a_lon, a_lat = acrs.to_lonlat.transform(e["ax"], e["ay"])
        b_lon, b_lat = acrs.to_lonlat.transform(e["bx"], e["by"])
        edges_lonlat = (np.asarray(a_lon, dtype=float), np.asarray(a_lat, dtype=float),
                        np.asarray(b_lon, dtype=float), np.asarray(b_lat, dtype=float))
        grid = tc.terrain_coverage(
            dem,
            tc.sensor_terrain(sensors[active], target_height_m=target_height_m),
            partners=partners,
            extent_lonlat=list(to_lonlat([corridor], acrs)),
            refraction_coeff=refraction_coeff,
            probe_edges_lonlat=edges_lonlat,
        )
        covered, redundant, by_partner_cov, (cov_m, sole_m) = _raster_border(b, grid, partners)
        sensor_cov_m, sensor_sole_m = np.zeros(len(sensors)), np.zeros(len(sensors))
        sensor_cov_m[active], sensor_sole_m[active] = cov_m, sole_m
    overlap = iv.at_least(
        np.concatenate([v[0] for v in by_partner_cov.values()] or [np.empty(0)]),
        np.concatenate([v[1] for v in by_partner_cov.values()] or [np.empty(0)]),
        k=2,
    )

    # ---- sectors -------------------------------------------------------------------------
    if sectors is not None and len(sectors):
        sectors = sectors.reset_index(drop=True)
        sector_poly = to_projected(sectors.geometry.to_numpy(), acrs)
        sec_owner, sec_ivs = polygon_border_intervals(b, sector_poly)
    else:
        sector_poly = np.empty(0, dtype=object)
        sec_owner, sec_ivs = np.empty(0, dtype=np.int64), (np.empty(0), np.empty(0))
    by_partner_sec = _merged_by_partner(sec_owner, sec_ivs, sector_partner, partners)
    any_sector = iv.union(sec_ivs)
    unassigned = iv.subtract(spans, any_sector)
    contested = iv.at_least(
        np.concatenate([v[0] for v in by_partner_sec.values()] or [np.empty(0)]),
        np.concatenate([v[1] for v in by_partner_sec.values()] or [np.empty(0)]),
        k=2,
    )
    sector_ivs = [iv.union(_select(sec_owner, sec_ivs, np.arange(len(sector_poly)) == j)) for j in range(len(sector_poly))]

    # ---- gaps along the border -----------------------------------------------------------
    gap_s, gap_e = iv.subtract(spans, covered)
    gap_len = gap_e - gap_s
    listed = gap_len >= min_gap_m
    gap_s, gap_e, gap_len = gap_s[listed], gap_e[listed], gap_len[listed]
    gap_seg, gap_local_s = b.locate(gap_s)
    gap_local_e = gap_e - b.offset_m[gap_seg]
    mid_xy = b.point_at((gap_s + gap_e) / 2)
    mid_lon, mid_lat = acrs.to_lonlat.transform(mid_xy[:, 0], mid_xy[:, 1]) if gap_s.size else ([], [])
    gap_sector_hit = np.zeros((gap_s.size, len(sector_ivs)), dtype=bool)
    for j, s_iv in enumerate(sector_ivs):
        gap_sector_hit[:, j] = iv.overlap_lengths((gap_s, gap_e), s_iv) > 1e-6
    sector_ids = sectors["sector_id"].astype(str).to_numpy(dtype=object) if len(sector_ivs) else np.empty(0, dtype=object)
    gaps = []
    for i in range(gap_s.size):
        hit = np.flatnonzero(gap_sector_hit[i])
        gaps.append(
            {
                "segment": int(gap_seg[i]),
                "start_km": _km(gap_local_s[i]),
                "end_km": _km(gap_local_e[i]),
                "length_km": _km(gap_len[i]),
                "midpoint": [round(float(mid_lon[i]), 7), round(float(mid_lat[i]), 7)],
                "sector_ids": [str(sector_ids[j]) for j in hit],
                "partners": sorted({str(sector_partner[j]) for j in hit}),
            }
        )

    # ---- corridor ------------------------------------------------------------------------
    if grid is None:
        fp_polys = footprint_polygons(fp_all)
        coverage = _union_all(fp_polys[active])
        partner_cov_poly = {p: _union_all(fp_polys[active & (sensor_partner == p)]) for p in partners}
        overlap_poly = _union_all(
            np.array(
                [shapely.intersection(partner_cov_poly[p], partner_cov_poly[q]) for p, q in itertools.combinations(partners, 2)],
                dtype=object,
            )
        )
        footprints = _footprint_layer(sensors, fp_polys, acrs)
    else:
        coverage = None
        footprints = _terrain_footprint_layer(grid, sensors[active])
    if grid is None:
        corridor_covered = shapely.intersection(corridor, coverage)
        corridor_gap = shapely.difference(corridor, coverage)
        corridor_overlap = shapely.intersection(corridor, overlap_poly)
        area = geodesic_area_m2([corridor, corridor_covered, corridor_gap, corridor_overlap], acrs)
    else:
        # From the counts: cells whose centre is in the corridor, by their ground area.
        ras = _raster_corridor(grid, corridor, acrs)
        corridor_gap, corridor_overlap = ras["gap"], ras["overlap"]
        area_m2 = float(geodesic_area_m2([corridor], acrs)[0])
        covered_m2 = min(ras["covered_m2"], area_m2)
        area = [area_m2, covered_m2, area_m2 - covered_m2, min(ras["overlap_m2"], covered_m2)]

    # ---- detections ----------------------------------------------------------------------
    det_layer = None
    in_sector = None
    if detections is not None:
        det = detections.reset_index(drop=True)
        status_col, in_sector = classify_points(
            det, acrs, corridor=corridor, coverage=coverage, sectors=sector_poly,
            covered_at=None if grid is None else grid.seen_at,
        )
        det_layer = det.assign(coverage_status=status_col)
        det_layer["sector_ids"] = _joined_ids(in_sector, sector_ids)

    # ---- report --------------------------------------------------------------------------
    covered_m = iv.length(covered)
    sectors_out = []
    for j in range(len(sector_poly)):
        held = iv.length(sector_ivs[j])
        cov = iv.length(iv.intersect(sector_ivs[j], covered))
        sectors_out.append(
            {
                "sector_id": str(sector_ids[j]),
                "partner": str(sector_partner[j]),
                "name": None if "name" not in sectors or pd.isna(sectors["name"].iloc[j]) else str(sectors["name"].iloc[j]),
                "border_km": _km(held),
                "covered_km": _km(cov),
                "coverage_pct": _pct(cov, held),
                "detections": 0,
            }
        )
    partners_out = {}
    for p in partners:
        sec_len = iv.length(by_partner_sec[p])
        sec_cov = iv.length(iv.intersect(by_partner_sec[p], covered))
        partners_out[p] = {
            "sensors": int((sensor_partner == p).sum()),
            "active_sensors": int((active & (sensor_partner == p)).sum()),
            "covered_km": _km(iv.length(by_partner_cov[p])),
            "sector_border_km": _km(sec_len),
            "sector_covered_km": _km(sec_cov),
            "sector_coverage_pct": _pct(sec_cov, sec_len),
            # The border-wide overlap and contested stretches, within this partner's sectors.
            "sector_overlap_km": _km(iv.length(iv.intersect(by_partner_sec[p], overlap))),
            "contested_km": _km(iv.length(iv.intersect(by_partner_sec[p], contested))),
            "detections": 0,
            "detections_in_gaps": 0,
        }
    report: dict[str, Any] = {
        "analysis_crs": str(acrs),
        "analysis_crs_name": acrs.name,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "parameters": {
            "corridor_km": float(corridor_km),
            "min_gap_m": float(min_gap_m),
            "time_from": None,
            "time_to": None,
            # With a DEM only: the same report without one is unchanged.
            **(
                {}
                if grid is None
                else {
                    "dem": str(dem),
                    "target_height_m": float(target_height_m),
                    "refraction_coeff": float(refraction_coeff),
                }
            ),
        },
        "border": {
            "length_km": _km(total_m),
            "covered_km": _km(covered_m),
            "coverage_pct": _pct(covered_m, total_m),
            "overlap_km": _km(iv.length(overlap)),
            "redundant_km": _km(iv.length(redundant)),
            "segments": b.n_segments,
            "gap_km": _km(total_m - covered_m),
            "longest_gap_km": max((g["length_km"] for g in gaps), default=0.0),
        },
        "gaps": gaps,
        "corridor": {
            "area_km2": _km2(area[0]),
            "covered_km2": _km2(area[1]),
            "gap_km2": _km2(area[2]),
            "overlap_km2": _km2(area[3]),
        },
        "partners": partners_out,
        "sectors": sectors_out,
        "unassigned_border_km": _km(iv.length(unassigned)),
        "contested_border_km": _km(iv.length(contested)),
        # Counted by Analysis.windowed below, from the classified detections.
        "detections": {"total": 0, "in_coverage": 0, "in_gaps": 0, "outside_corridor": 0},
    }
    if grid is not None:
        report["terrain"] = _terrain_report(grid, sensors)

    # ---- layers for maps and exports (EPSG:4326) -----------------------------------------
    layers = _layers(
        b,
        acrs,
        sensors=sensors,
        footprints=footprints,
        gaps=gaps,
        gap_ivs=(gap_s, gap_e),
        overlap=overlap,
        corridor=corridor,
        corridor_gap=corridor_gap,
        corridor_overlap=corridor_overlap,
        sectors=sectors,
        sectors_out=sectors_out,
        detections=det_layer,
        sensor_km=(sensor_cov_m / 1000.0, sensor_sole_m / 1000.0),
    )
    full = Analysis(
        report=report,
        acrs=acrs,
        layers=layers,
        det_in_sector=in_sector,
        sector_partner=sector_partner,
        all_detections=det_layer,
        border=b,
        coverage=grid,
    )
    return full.windowed(t_from, t_to)


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def _joined_ids(member: NDArray[np.bool_], ids: NDArray[np.object_]) -> NDArray[np.object_]:
    out = np.full(member.shape[0], "", dtype=object)
    for j, sid in enumerate(ids):
        hit = member[:, j]
        out[hit] = np.where(out[hit] == "", sid, out[hit] + "," + str(sid))
    return out


def classify_points(
    points: gpd.GeoDataFrame,
    acrs: AnalysisCRS,
    *,
    corridor: shapely.Geometry,
    coverage: shapely.Geometry | None,
    sectors: NDArray[np.object_],
    covered_at: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.bool_]] | None = None,
) -> tuple[pd.Categorical, NDArray[np.bool_]]:
    """Classify points against the corridor, the coverage and the sectors.

    Coverage is the ``coverage`` polygon (analysis CRS) or, when given, ``covered_at(lon,
    lat)`` (e.g. :meth:`geo.terrain.grids.CoverageGrid.seen_at`: the cell under the point
    is seen).

    Returns
    -------
    status : pandas.Categorical
        ``"coverage"`` (in the corridor and covered), ``"gap"`` (in the corridor, not
        covered) or ``"outside"`` (outside the corridor).
    in_sector : ndarray of bool, shape (n_points, n_sectors)
    """
    xy = shapely.get_coordinates(points.geometry.to_numpy())
    if len(xy) != len(points):
        raise ValueError("classify_points needs one non-empty Point per row")
    lon, lat = xy[:, 0], xy[:, 1]
    # Work in lon/lat: outlines are densified to 500 m first, so their straight edges in
    # degrees follow the analysis-CRS edges to well under a metre, and a million points need
    # no reprojection.
    outlines = [corridor, *sectors] if covered_at is not None else [corridor, coverage, *sectors]
    polys = to_lonlat(shapely.segmentize(np.asarray(outlines, dtype=object), 500.0), acrs)
    member = pointindex.membership(list(polys), lon, lat)
    if covered_at is not None:
        in_corr, in_sector = member[:, 0], member[:, 1:]
        in_cov = covered_at(lon, lat)
    else:
        in_corr, in_cov, in_sector = member[:, 0], member[:, 1], member[:, 2:]
    codes = np.where(in_corr, np.where(in_cov, 0, 1), 2).astype(np.int8)
    status = pd.Categorical.from_codes(codes, categories=["coverage", "gap", "outside"])
    return status, in_sector


def _layers(
    b: Border,
    acrs: AnalysisCRS,
    *,
    sensors: gpd.GeoDataFrame,
    footprints: gpd.GeoDataFrame,
    gaps: list[dict[str, Any]],
    gap_ivs: iv.Intervals,
    overlap: iv.Intervals,
    corridor: shapely.Geometry,
    corridor_gap: shapely.Geometry,
    corridor_overlap: shapely.Geometry,
    sectors: gpd.GeoDataFrame | None,
    sectors_out: list[dict[str, Any]],
    detections: gpd.GeoDataFrame | None,
    sensor_km: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> dict[str, gpd.GeoDataFrame]:
    def gdf(data: dict[str, Any] | pd.DataFrame, geoms: Any) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(data, geometry=list(geoms), crs=_WGS84)

    layers: dict[str, gpd.GeoDataFrame] = {}
    layers["border"] = gdf(
        {"segment": np.arange(b.n_segments), "name": b.names, "length_km": b.length_m / 1000.0},
        b.lines_lonlat,
    )
    layers["corridor"] = gdf({"name": ["corridor"]}, to_lonlat([corridor], acrs))
    layers["footprints"] = footprints
    layers["sensors"] = sensors.assign(covered_km=sensor_km[0], sole_km=sensor_km[1])
    gap_lines = [b.slice(s, e) for s, e in zip(*gap_ivs, strict=True)]
    layers["gaps"] = gdf(
        pd.DataFrame(gaps, columns=["segment", "start_km", "end_km", "length_km", "midpoint", "sector_ids", "partners"]).drop(
            columns="midpoint"
        ),
        to_lonlat(gap_lines, acrs) if gap_lines else [],
    )
    ov_s, ov_e = overlap
    ov_seg, ov_local = b.locate(ov_s)
    ov_lines = [b.slice(s, e) for s, e in zip(ov_s, ov_e, strict=True)]
    layers["overlaps"] = gdf(
        {"segment": ov_seg, "start_km": ov_local / 1000.0, "length_km": (ov_e - ov_s) / 1000.0},
        to_lonlat(ov_lines, acrs) if ov_lines else [],
    )
    layers["gap_areas"] = _explode_polys(corridor_gap, acrs, "gap")
    layers["overlap_areas"] = _explode_polys(corridor_overlap, acrs, "overlap")
    if sectors is not None:
        stats = pd.DataFrame(sectors_out).drop(columns=["sector_id", "partner", "name"], errors="ignore")
        layers["sectors"] = pd.concat([sectors.reset_index(drop=True), stats], axis=1)
    else:
        layers["sectors"] = gdf({"sector_id": [], "partner": []}, [])
    if detections is not None:
        layers["detections"] = detections
    return layers


def _explode_polys(geom: shapely.Geometry, acrs: AnalysisCRS, kind: str) -> gpd.GeoDataFrame:
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3] if parts.size else parts
    area = geodesic_area_m2(parts, acrs) / 1e6 if parts.size else np.empty(0)
    return gpd.GeoDataFrame(
        {"kind": [kind] * parts.size, "area_km2": area}, geometry=list(to_lonlat(parts, acrs)), crs=_WGS84
    )


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
    (pi, ei), dist = shapely.STRtree(lines).query_nearest(pts, return_distance=True, all_matches=False)
    order = np.argsort(pi)
    pi, ei, dist = pi[order], ei[order], dist[order]
    d = b[ei] - a[ei]
    p_xy = np.column_stack([np.asarray(x)[pi], np.asarray(y)[pi]])
    t = np.clip(np.einsum("ij,ij->i", p_xy - a[ei], d) / np.einsum("ij,ij->i", d, d), 0, 1)
    chain = e["c0"][ei] + t * (e["c1"][ei] - e["c0"][ei])
    seg, local = border.locate(chain)
    return seg, local / 1000.0, dist


def _footprint_layer(sensors: gpd.GeoDataFrame, fp_polys: NDArray[np.object_], acrs: AnalysisCRS) -> gpd.GeoDataFrame:
    attrs = pd.DataFrame(sensors.drop(columns=sensors.geometry.name))
    return gpd.GeoDataFrame(attrs, geometry=list(to_lonlat(fp_polys, acrs)), crs=_WGS84)


def _raster_border(
    b: Border, grid: CoverageGrid, partners: list[str]
) -> tuple[iv.Intervals, iv.Intervals, dict[str, iv.Intervals], tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Border intervals read from the grid, and what each sensor watches.

    Returns the covered, redundant (2+ sensors) and per-partner intervals, and per sensor of
    the grid (:func:`_raster_sensor_m`) the length watched and watched by it alone (m).
    """
    from geo.terrain.grids import border_pieces

    e = b.edges()
    start, end, row, col = border_pieces(grid, e["ax"], e["ay"], e["bx"], e["by"], e["c0"], e["c1"], b.acrs.to_lonlat)
    on = row >= 0
    count = np.zeros(start.size, dtype=np.int64)
    count[on] = grid.count[row[on], col[on]]
    per_sensor = _raster_sensor_m(grid, end - start, row, col, count)
    covered = iv.union((start[count >= 1], end[count >= 1]))
    redundant = iv.union((start[count >= 2], end[count >= 2]))
    by_partner: dict[str, iv.Intervals] = {}
    for k, p in enumerate(grid.partners):
        seen = np.zeros(start.size, dtype=bool)
        seen[on] = grid.partner_count[k, row[on], col[on]] > 0
        by_partner[p] = iv.union((start[seen], end[seen]))
    for p in partners:
        by_partner.setdefault(p, (np.empty(0), np.empty(0)))
    return covered, redundant, by_partner, per_sensor


def _raster_sensor_m(
    grid: CoverageGrid, piece_m: NDArray[np.float64], row: NDArray[np.int64], col: NDArray[np.int64],
    count: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per sensor of the grid, the border length (m) it sees, and sees alone.

    Border pieces (disjoint, each in one cell: ``row = -1`` off the grid, ``count`` the
    sensors seeing its cell) are summed per probed cell, then per sensor through
    :attr:`~geo.terrain.grids.CoverageGrid.probe_seen`.
    """
    n_sensors = grid.sensors_seen + len(grid.sensors_off_terrain)
    cols_n = grid.shape[1]
    probe_key = grid.probe_row * cols_n + grid.probe_col
    on = row >= 0
    key = row[on] * cols_n + col[on]
    at = np.searchsorted(probe_key, key)
    # Every piece's cell was probed, and as many sensors see it there as the count says.
    probed = bool(np.all(at < probe_key.size)) and np.array_equal(probe_key[np.minimum(at, probe_key.size - 1)], key)
    seen_by = np.bincount(grid.probe_seen[:, 0], minlength=probe_key.size)
    if not (probed and np.array_equal(seen_by[at], count[on])):
        raise RuntimeError("terrain coverage: the probed border cells do not match the count grid")
    cell_m = np.bincount(at, weights=piece_m[on], minlength=probe_key.size)
    alone = np.bincount(at, weights=np.where(count[on] == 1, piece_m[on], 0.0), minlength=probe_key.size)
    cell, sensor = grid.probe_seen[:, 0], grid.probe_seen[:, 1]
    return (
        np.bincount(sensor, weights=cell_m[cell], minlength=n_sensors),
        np.bincount(sensor, weights=alone[cell], minlength=n_sensors),
    )


def _raster_corridor(grid: CoverageGrid, corridor: shapely.Geometry, acrs: AnalysisCRS) -> dict[str, Any]:
    """Corridor coverage from the count grids.

    Areas: the ground area of the cells whose centre is in the corridor and that at least
    one sensor sees (``covered_m2``), or two or more partners see (``overlap_m2``). For the
    map: the blind and the overlap cells of the corridor, polygonized once each (reduced to
    at most :data:`_DISPLAY_GRID_MAX` cells a side, specks under :data:`_DISPLAY_MIN_CELLS`
    cells dropped), in the analysis CRS.
    """
    from geo.terrain.grids import (
        corridor_mask,
        grid_transformer,
        mask_polygons,
        row_cell_areas_m2,
    )

    to_grid = pyproj.Transformer.from_crs(acrs.crs, grid.pcrs, always_xy=True)
    corridor_g = shapely.transform(
        shapely.segmentize(corridor, 500.0), lambda xy: np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1]))
    )
    inside = corridor_mask(grid, corridor_g)
    cell_m2 = row_cell_areas_m2(grid)
    seen = inside & (grid.count > 0)
    both = inside & (grid.partners_seeing() >= 2)
    to_acrs = grid_transformer(grid, acrs.crs)

    def polys(mask: NDArray[np.bool_]) -> shapely.Geometry:
        parts = mask_polygons(grid, mask, to_acrs, max_cells=_DISPLAY_GRID_MAX, min_cells=_DISPLAY_MIN_CELLS)
        return shapely.MultiPolygon(list(parts))

    return {
        "covered_m2": float(seen.sum(axis=1) @ cell_m2),
        "overlap_m2": float(both.sum(axis=1) @ cell_m2),
        "gap": polys(inside & ~seen),
        "overlap": polys(both),
    }


def _terrain_footprint_layer(grid: CoverageGrid, active_sensors: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """What each partner's sensors see over the terrain, one (multi)polygon per partner.

    Polygonized on the grid reduced to at most :data:`_DISPLAY_GRID_MAX` cells a side,
    specks dropped: for display, not for measuring.
    """
    from geo.terrain.grids import grid_transformer, mask_polygons

    to_ll = grid_transformer(grid, _WGS84)
    rows, geoms = [], []
    for k, partner in enumerate(grid.partners):
        seen = grid.partner_count[k] > 0
        if not seen.any():
            continue
        geom = shapely.MultiPolygon(
            list(mask_polygons(grid, seen, to_ll, max_cells=_DISPLAY_GRID_MAX, min_cells=_DISPLAY_MIN_CELLS))
        )
        mine = active_sensors["partner"].astype(str) == partner
        rows.append(
            {
                "sensor_id": f"{partner} (terrain)",
                "partner": partner,
                "kind": "viewshed",
                "status": "active",
                "sensors": int(mine.sum()),
                "range_m": float(active_sensors.loc[mine, "range_m"].max()) if mine.any() else 0.0,
                "max_count": int(grid.partner_count[k].max()),
            }
        )
        geoms.append(geom)
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["sensor_id", "partner", "kind", "status", "sensors", "range_m", "max_count"]),
        geometry=geoms,
        crs=_WGS84,
    )


def _terrain_report(grid: CoverageGrid, sensors: gpd.GeoDataFrame) -> dict[str, Any]:
    rows, cols = grid.shape
    return {
        "dem_crs": grid.crs.to_string(),
        "grid": {
            "width": int(cols),
            "height": int(rows),
            "col_off": int(grid.window.col_off),
            "row_off": int(grid.window.row_off),
        },
        "cell_size_m": [round(grid.cell_size_m[0], 3), round(grid.cell_size_m[1], 3)],
        "distances": grid.distances,
        "viewsheds": grid.sensors_seen,
        "sensors_off_terrain": list(grid.sensors_off_terrain),
        "max_count": int(grid.count.max()) if grid.count.size else 0,
    }
