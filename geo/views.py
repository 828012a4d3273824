"""What a commander sees first: headline numbers for the joint view or one partner's view.

Pure functions of an analysis report, so the app, the exports and tests share them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

if TYPE_CHECKING:
    import geopandas as gpd

    from geo.analysis import Analysis

JOINT = "Joint view"


@dataclass(frozen=True)
class Headline:
    """Headline numbers of one view.

    Attributes
    ----------
    scope
        What the numbers cover: ``"border"`` (joint view) or ``"sectors of P"``.
    coverage_pct, covered_km, length_km
        Coverage of the scope.
    gap_km
        Uncovered length in the scope.
    gaps
        Gaps (report entries) in the scope, longest first.
    overlap_km, unassigned_km, contested_km
        Border-wide figures (the same in every view).
    detections, detections_in_gaps
        Detections in the scope and, of those, in blind parts of the corridor.
    """

    scope: str
    coverage_pct: float
    covered_km: float
    length_km: float
    gap_km: float
    gaps: list[dict[str, Any]]
    overlap_km: float
    unassigned_km: float
    contested_km: float
    detections: int
    detections_in_gaps: int

    @property
    def longest(self) -> dict[str, Any] | None:
        """The longest gap in the scope, or ``None``."""
        return self.gaps[0] if self.gaps else None


def headline(report: dict[str, Any], partner: str | None = None) -> Headline:
    """Headline numbers for the joint view (``partner=None``) or one partner's view.

    In a partner's view coverage, gaps and detections are those of the partner's sectors;
    a gap is listed when it runs through one of them.

    Examples
    --------
    >>> r = {"border": {"length_km": 10.0, "covered_km": 4.0, "coverage_pct": 40.0, "overlap_km": 0.0},
    ...      "gaps": [{"length_km": 6.0, "partners": ["A"]}], "partners": {}, "unassigned_border_km": 0.0,
    ...      "contested_border_km": 0.0, "detections": {"total": 3, "in_gaps": 1}}
    >>> headline(r).gap_km
    6.0
    """
    b = report["border"]
    common = {
        "overlap_km": b["overlap_km"],
        "unassigned_km": report["unassigned_border_km"],
        "contested_km": report["contested_border_km"],
    }
    if partner is None or partner == JOINT:
        gaps = sorted(report["gaps"], key=lambda g: -g["length_km"])
        return Headline(
            scope="border",
            coverage_pct=b["coverage_pct"],
            covered_km=b["covered_km"],
            length_km=b["length_km"],
            gap_km=round(b["length_km"] - b["covered_km"], 6),
            gaps=gaps,
            detections=report["detections"]["total"],
            detections_in_gaps=report["detections"]["in_gaps"],
            **common,
        )
    if partner not in report["partners"]:
        raise ValueError(f"unknown partner {partner!r}; expected one of {sorted(report['partners'])}")
    p = report["partners"][partner]
    gaps = sorted((g for g in report["gaps"] if partner in g["partners"]), key=lambda g: -g["length_km"])
    return Headline(
        scope=f"sectors of {partner}",
        coverage_pct=p.get("sector_coverage_pct", 0.0),
        covered_km=p["sector_covered_km"],
        length_km=p["sector_border_km"],
        gap_km=round(p["sector_border_km"] - p["sector_covered_km"], 6),
        gaps=gaps,
        detections=p["detections"],
        detections_in_gaps=p.get("detections_in_gaps", 0),
        **common,
    )


def detections_in_gap(result: Analysis, segment: int, start_km: float, end_km: float) -> gpd.GeoDataFrame:
    """Detections in the blind corridor along one gap (in the analysis' time window).

    A detection belongs to the gap when it is in the corridor but in no footprint, and its
    nearest border point lies on the gap's stretch (``segment``, ``start_km``–``end_km``).
    """
    from geo.analysis import nearest_chainage

    det = result.layers.get("detections")
    if det is None or result.border is None or not len(det):
        return det.iloc[0:0] if det is not None else det
    blind = det[det["coverage_status"] == "gap"]
    seg, km, _ = nearest_chainage(result.border, blind)
    return blind[(seg == segment) & (km >= start_km) & (km <= end_km)].reset_index(drop=True)


def detections_in_sector(result: Analysis, sector_id: str) -> gpd.GeoDataFrame:
    """Detections inside one sector (in the analysis' time window)."""
    det = result.layers.get("detections")
    ids = [s["sector_id"] for s in result.report["sectors"]]
    if sector_id not in ids:
        raise ValueError(f"unknown sector {sector_id!r}; expected one of {ids}")
    if det is None or not len(det):
        return det
    inside = det["sector_ids"].str.split(",").map(lambda xs: sector_id in xs)
    return det[inside.to_numpy(dtype=bool)].reset_index(drop=True)


def visible_rows(detections: pd.DataFrame, viewers: Iterable[str] | None) -> NDArray[np.bool_]:
    """Which detections a viewer may see: the releasability rule of the shared store.

    A row is visible to a partner that owns it (``owner``, else the ``partner`` column), to
    every partner when its ``releasable_to`` marking is ``ALL``, and to the partners the
    marking lists. A missing or unknown marking means the owner only (default deny); a row
    with no owner is visible only when marked ``ALL``. ``viewers`` is the set of partners whose rows the
    viewer may see (a signed-in user: their partner); ``None`` (local demo mode) sees all.

    Examples
    --------
    >>> rows = pd.DataFrame({"partner": ["A", "A", "B", "B", None],
    ...                      "releasable_to": ["", "C", "ALL", "zz?", "ALL"]})
    >>> visible_rows(rows, {"C"}).tolist()
    [False, True, True, False, True]
    >>> visible_rows(rows, {"B"}).tolist()
    [False, False, True, True, True]
    """
    from geo.store import ALL, parse_releasability

    n = len(detections)
    if viewers is None:
        return np.ones(n, dtype=bool)
    viewers = {str(v) for v in viewers}
    owner_col = "owner" if "owner" in detections else "partner"
    owner = detections[owner_col].astype("string").fillna("").to_numpy(dtype=object) if owner_col in detections else np.full(n, "", dtype=object)
    out = np.isin(owner, list(viewers)) & (owner != "")
    if "releasable_to" in detections:
        marking = detections["releasable_to"].astype("string").fillna("").to_numpy(dtype=object)
        for text in np.unique(marking):
            norm = parse_releasability(text)
            if norm and (norm == ALL or viewers & set(norm.split(","))):
                out |= marking == text
    return out
