"""The analysis report: a JSON-ready dict whose keys are a contract (see the README).

:func:`build_report` assembles it from the prepared scene and the engine's coverage: the
border (covered, overlap, redundant, gaps), the corridor areas, each partner and each sector,
the unassigned and contested border. Detection counts start at 0: they depend on the time
window and the viewer, and :meth:`geo.coverage.analysis.Analysis.windowed` fills them in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from geo.coverage import intervals as iv
from geo.coverage.engine import Coverage
from geo.coverage.scene import Scene

#: The columns of a gap in the report, in order.
GAP_KEYS = ("segment", "start_km", "end_km", "length_km", "midpoint", "sector_ids", "partners")


def km(m: float) -> float:
    """Metres as kilometres, rounded to the millimetre.

    Examples
    --------
    >>> km(1234.56789)
    1.234568
    """
    return round(float(m) / 1000.0, 6)


def km2(m2: float) -> float:
    """Square metres as square kilometres, rounded to the square metre."""
    return round(float(m2) / 1e6, 6)


def pct(part: float, whole: float) -> float:
    """``part`` as a percentage of ``whole`` (0 when ``whole`` is 0), 4 decimals."""
    return round(100.0 * part / whole, 4) if whole > 0 else 0.0


def border_gaps(scene: Scene, covered: iv.Intervals) -> tuple[list[dict[str, Any]], iv.Intervals]:
    """The stretches of border nobody watches, at least ``min_gap_m`` long.

    Returns
    -------
    gaps : list of dict
        One per gap, in chainage order: segment, start and end within it, length (km),
        midpoint (lon, lat), the sectors it crosses and their partners.
    intervals : (start, end)
        The same gaps on the global chainage axis (m).
    """
    b, sectors = scene.border, scene.sectors
    gap_s, gap_e = iv.subtract(b.spans, covered)
    gap_len = gap_e - gap_s
    listed = gap_len >= scene.min_gap_m
    gap_s, gap_e, gap_len = gap_s[listed], gap_e[listed], gap_len[listed]
    gap_seg, gap_local_s = b.locate(gap_s)
    gap_local_e = gap_e - b.offset_m[gap_seg]
    mid_xy = b.point_at((gap_s + gap_e) / 2)
    mid_lon, mid_lat = (
        scene.acrs.to_lonlat.transform(mid_xy[:, 0], mid_xy[:, 1]) if gap_s.size else ([], [])
    )
    gap_sector_hit = np.zeros((gap_s.size, len(sectors)), dtype=bool)
    for j, s_iv in enumerate(sectors.per_sector):
        gap_sector_hit[:, j] = iv.overlap_lengths((gap_s, gap_e), s_iv) > 1e-6
    gaps = []
    for i in range(gap_s.size):
        hit = np.flatnonzero(gap_sector_hit[i])
        gaps.append(
            {
                "segment": int(gap_seg[i]),
                "start_km": km(gap_local_s[i]),
                "end_km": km(gap_local_e[i]),
                "length_km": km(gap_len[i]),
                "midpoint": [round(float(mid_lon[i]), 7), round(float(mid_lat[i]), 7)],
                "sector_ids": [str(sectors.ids[j]) for j in hit],
                "partners": sorted({str(sectors.partner[j]) for j in hit}),
            }
        )
    return gaps, (gap_s, gap_e)


def sector_rows(scene: Scene, covered: iv.Intervals) -> list[dict[str, Any]]:
    """Per sector: the border it holds and the part of that watched (``detections`` 0)."""
    sectors = scene.sectors
    table = sectors.table
    rows = []
    for j, held_ivs in enumerate(sectors.per_sector):
        held = iv.length(held_ivs)
        cov = iv.length(iv.intersect(held_ivs, covered))
        name = None
        if table is not None and "name" in table and not pd.isna(table["name"].iloc[j]):
            name = str(table["name"].iloc[j])
        rows.append(
            {
                "sector_id": str(sectors.ids[j]),
                "partner": str(sectors.partner[j]),
                "name": name,
                "border_km": km(held),
                "covered_km": km(cov),
                "coverage_pct": pct(cov, held),
                "detections": 0,
            }
        )
    return rows


def partner_rows(scene: Scene, coverage: Coverage) -> dict[str, dict[str, Any]]:
    """Per partner: sensors, the border its sensors watch, and its sectors' border (km)."""
    border = coverage.border
    covered, overlap = border.covered, border.overlap
    out = {}
    for p in scene.partners:
        mine = scene.sensor_partner == p
        held = scene.sectors.by_partner[p]
        sec_len = iv.length(held)
        sec_cov = iv.length(iv.intersect(held, covered))
        out[p] = {
            "sensors": int(mine.sum()),
            "active_sensors": int((scene.active & mine).sum()),
            "covered_km": km(iv.length(border.by_partner[p])),
            "sector_border_km": km(sec_len),
            "sector_covered_km": km(sec_cov),
            "sector_coverage_pct": pct(sec_cov, sec_len),
            # The border-wide overlap and contested stretches, within this partner's sectors.
            "sector_overlap_km": km(iv.length(iv.intersect(held, overlap))),
            "contested_km": km(iv.length(iv.intersect(held, scene.sectors.contested))),
            "detections": 0,
            "detections_in_gaps": 0,
        }
    return out


def build_report(
    scene: Scene, coverage: Coverage, *, gaps: list[dict[str, Any]], sectors: list[dict[str, Any]]
) -> dict[str, Any]:
    """The report of an analysis (detection counts 0, time window open; see the module notes).

    ``gaps`` and ``sectors`` are :func:`border_gaps` and :func:`sector_rows` of the scene.
    """
    acrs, border, corridor = scene.acrs, coverage.border, coverage.corridor
    total_m = float(scene.border.length_m.sum())
    covered_m = iv.length(border.covered)
    return {
        "analysis_crs": str(acrs),
        "analysis_crs_name": acrs.name,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "parameters": {
            "corridor_km": float(scene.corridor_km),
            "min_gap_m": float(scene.min_gap_m),
            "time_from": None,
            "time_to": None,
            **coverage.parameters,
        },
        "border": {
            "length_km": km(total_m),
            "covered_km": km(covered_m),
            "coverage_pct": pct(covered_m, total_m),
            "overlap_km": km(iv.length(border.overlap)),
            "redundant_km": km(iv.length(border.redundant)),
            "segments": scene.border.n_segments,
            "gap_km": km(total_m - covered_m),
            "longest_gap_km": max((float(g["length_km"]) for g in gaps), default=0.0),
        },
        "gaps": gaps,
        "corridor": {
            "area_km2": km2(corridor.area_m2),
            "covered_km2": km2(corridor.covered_m2),
            "gap_km2": km2(corridor.gap_m2),
            "overlap_km2": km2(corridor.overlap_m2),
        },
        "partners": partner_rows(scene, coverage),
        "sectors": sectors,
        "unassigned_border_km": km(iv.length(scene.sectors.unassigned)),
        "contested_border_km": km(iv.length(scene.sectors.contested)),
        # Counted by Analysis.windowed, from the classified detections.
        "detections": {"total": 0, "in_coverage": 0, "in_gaps": 0, "outside_corridor": 0},
        **coverage.sections,
    }


__all__ = [
    "GAP_KEYS",
    "border_gaps",
    "build_report",
    "km",
    "km2",
    "partner_rows",
    "pct",
    "sector_rows",
]
