"""The analysis' layers: GeoDataFrames in EPSG:4326 for maps and exports.

:func:`build_layers` draws what the report counts: the border and the corridor, the engine's
footprints, the sensors with the border each watches, the gaps and overlaps along the border
(lines), the blind and overlap areas of the corridor (polygons), the sectors with their
figures, and the classified detections.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.projection import AnalysisCRS, geodesic_area_m2, to_lonlat
from geo.coverage import intervals as iv
from geo.coverage.engine import Coverage
from geo.coverage.report import GAP_KEYS
from geo.coverage.scene import WGS84, Scene


def _gdf(data: dict[str, Any] | pd.DataFrame, geoms: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=WGS84)


def build_layers(
    scene: Scene,
    coverage: Coverage,
    *,
    gaps: list[dict[str, Any]],
    gap_ivs: iv.Intervals,
    sectors: list[dict[str, Any]],
    detections: gpd.GeoDataFrame | None,
) -> dict[str, gpd.GeoDataFrame]:
    """The layers of an analysis, by name (see :attr:`geo.coverage.analysis.Analysis.layers`).

    ``gaps`` and ``gap_ivs`` are the report's gaps and their chainage intervals, ``sectors``
    the report's sectors, ``detections`` the classified detections (or ``None``).
    """
    b, acrs = scene.border, scene.acrs
    border = coverage.border
    layers: dict[str, gpd.GeoDataFrame] = {}
    layers["border"] = _gdf(
        {"segment": np.arange(b.n_segments), "name": b.names, "length_km": b.length_m / 1000.0},
        b.lines_lonlat,
    )
    layers["corridor"] = _gdf({"name": ["corridor"]}, to_lonlat([scene.corridor], acrs))
    layers["footprints"] = coverage.footprints
    layers["sensors"] = scene.sensors.assign(
        covered_km=border.sensor_covered_m / 1000.0, sole_km=border.sensor_sole_m / 1000.0
    )
    gap_lines = [b.slice(s, e) for s, e in zip(*gap_ivs, strict=True)]
    layers["gaps"] = _gdf(
        pd.DataFrame(gaps, columns=list(GAP_KEYS)).drop(columns="midpoint"),
        to_lonlat(gap_lines, acrs) if gap_lines else [],
    )
    ov_s, ov_e = border.overlap
    ov_seg, ov_local = b.locate(ov_s)
    ov_lines = [b.slice(s, e) for s, e in zip(ov_s, ov_e, strict=True)]
    layers["overlaps"] = _gdf(
        {"segment": ov_seg, "start_km": ov_local / 1000.0, "length_km": (ov_e - ov_s) / 1000.0},
        to_lonlat(ov_lines, acrs) if ov_lines else [],
    )
    layers["gap_areas"] = _explode_polys(coverage.corridor.gap, acrs, "gap")
    layers["overlap_areas"] = _explode_polys(coverage.corridor.overlap, acrs, "overlap")
    table = scene.sectors.table
    if table is not None:
        stats = pd.DataFrame(sectors).drop(
            columns=["sector_id", "partner", "name"], errors="ignore"
        )
        layers["sectors"] = pd.concat([table.reset_index(drop=True), stats], axis=1)
    else:
        layers["sectors"] = _gdf({"sector_id": [], "partner": []}, [])
    if detections is not None:
        layers["detections"] = detections
    return layers


def _explode_polys(geom: shapely.Geometry, acrs: AnalysisCRS, kind: str) -> gpd.GeoDataFrame:
    parts = shapely.get_parts(geom)
    parts = parts[shapely.get_type_id(parts) == 3] if parts.size else parts
    area = geodesic_area_m2(parts, acrs) / 1e6 if parts.size else np.empty(0)
    return gpd.GeoDataFrame(
        {"kind": [kind] * parts.size, "area_km2": area},
        geometry=list(to_lonlat(parts, acrs)),
        crs=WGS84,
    )


__all__ = ["build_layers"]
