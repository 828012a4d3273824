"""A change of sensors on the border: the stretches gained and lost, and the figures beside them.

:func:`~geo.operations.changes.coverage_change` gives the km gained and lost; this module
puts them on the border: each stretch that was a gap and is now watched (``gained``) or was
watched and is now a gap (``lost``), as a line in EPSG:4326 that a map draws. Both analyses
must be of the same border (two sensor versions of one operation, or the editor's table and
the version it started from) with the same corridor depth and minimum gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.core.projection import to_lonlat
from geo.coverage import intervals as iv
from geo.coverage.analysis import Analysis
from geo.operations.changes import CoverageChange, SensorChanges, coverage_change, sensor_changes

__all__ = ["SensorEdit", "changed_stretches", "sensor_edit"]

_COLUMNS = ["change", "segment", "start_km", "end_km", "length_km"]


def _gap_intervals(gaps: Iterable[Mapping[str, Any]], n_segments: int) -> list[iv.Intervals]:
    """Per segment, the report's gaps as merged intervals of km along the segment."""
    starts: list[list[float]] = [[] for _ in range(n_segments)]
    ends: list[list[float]] = [[] for _ in range(n_segments)]
    for g in gaps:
        starts[int(g["segment"])].append(float(g["start_km"]))
        ends[int(g["segment"])].append(float(g["end_km"]))
    return [iv.union((np.asarray(s), np.asarray(e))) for s, e in zip(starts, ends, strict=True)]


def changed_stretches(before: Analysis, after: Analysis) -> gpd.GeoDataFrame:
    """The border stretches gained and lost from ``before`` to ``after`` (EPSG:4326 lines).

    Columns ``change`` (``"gained"``: a gap before, watched after; ``"lost"``: the reverse),
    ``segment``, ``start_km``, ``end_km``, ``length_km`` (km along the segment, as the
    report's gaps) and the line. Their lengths add up to ``coverage_change``'s
    ``gained_km`` and ``lost_km``.

    Examples
    --------
    >>> from geo.core.settings import SAMPLE_DIR
    >>> from geo.coverage import analyse
    >>> from geo.inputs import read_border, read_sensors
    >>> border = read_border(SAMPLE_DIR / "border.geojson")[0]
    >>> sensors = read_sensors(SAMPLE_DIR / "sensors.csv")[0]
    >>> edited = sensors.drop(index=18)  # LTU-TWR-002 removed, LTU-TWR-001 sees twice as far
    >>> edited.loc[3, "range_m"] *= 2
    >>> a, b = analyse(border, sensors), analyse(border, edited)
    >>> lines = changed_stretches(a, b)
    >>> change = coverage_change(a.report, b.report)
    >>> by = lines.groupby("change")["length_km"].sum()
    >>> gained_off, lost_off = by["gained"] - change.gained_km, by["lost"] - change.lost_km
    >>> bool(abs(gained_off) < 1e-9), bool(abs(lost_off) < 1e-9)
    (True, True)
    >>> float(round(by["gained"], 3)), float(round(by["lost"], 3))  # lost: what only it watched
    (8.117, 14.064)
    >>> round(float(a.layers["sensors"].loc[18, "sole_km"]), 3)
    14.064
    """
    prepared = before.border
    if prepared is None:
        raise ValueError("the analysis carries no prepared border")
    n = prepared.n_segments
    gaps_before = _gap_intervals(before.report["gaps"], n)
    gaps_after = _gap_intervals(after.report["gaps"], n)
    rows: list[list[Any]] = []
    lines = []
    for seg in range(n):
        for change, pieces in (
            ("gained", iv.subtract(gaps_before[seg], gaps_after[seg])),
            ("lost", iv.subtract(gaps_after[seg], gaps_before[seg])),
        ):
            for start, end in zip(*pieces, strict=True):
                if end <= start:
                    continue
                offset = float(prepared.offset_m[seg])
                lines.append(prepared.slice(offset + start * 1000.0, offset + end * 1000.0))
                rows.append([change, seg, float(start), float(end), float(end - start)])
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=_COLUMNS),
        geometry=list(to_lonlat(lines, prepared.acrs)) if lines else [],
        crs="EPSG:4326",
    )


@dataclass(frozen=True)
class SensorEdit:
    """What a change of sensors does: the sensors changed, the border gained and lost.

    ``coverage_pct_before`` and ``coverage_pct_after``: the border's coverage (%) of each
    analysis; ``stretches``: :func:`changed_stretches`.
    """

    sensors: SensorChanges
    coverage: CoverageChange
    stretches: gpd.GeoDataFrame
    coverage_pct_before: float
    coverage_pct_after: float


def sensor_edit(before: Analysis, after: Analysis) -> SensorEdit:
    """Compare two analyses of one border with different sensors (see :class:`SensorEdit`).

    Sensors are compared on the analyses' input sensors (``layers["sensors"]``).
    """
    return SensorEdit(
        sensors=sensor_changes(before.layers["sensors"], after.layers["sensors"]),
        coverage=coverage_change(before.report, after.report),
        stretches=changed_stretches(before, after),
        coverage_pct_before=float(before.report["border"]["coverage_pct"]),
        coverage_pct_after=float(after.report["border"]["coverage_pct"]),
    )
