"""What a change of sensors does: which sensors changed, and the coverage gained or lost.

Both compare two states of one operation (two sensor versions, or the table being edited and
the saved one). Sensors are matched by ``sensor_id``; coverage is compared on the border's
chainage, per border segment, from the ``gaps`` of two coverage reports of the same border.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo.coverage import intervals as iv

__all__ = ["EDITABLE", "CoverageChange", "SensorChanges", "coverage_change", "sensor_changes"]

#: The sensor fields whose change is reported, in this order (the position as lon/lat).
EDITABLE: tuple[str, ...] = (
    "partner",
    "kind",
    "status",
    "lon",
    "lat",
    "range_m",
    "min_range_m",
    "azimuth_deg",
    "fov_deg",
    "height_m",
    "target_height_m",
)


@dataclass(frozen=True)
class SensorChanges:
    """Sensors added, removed and changed between two sensor tables (by ``sensor_id``).

    ``changed`` maps a sensor id to ``{field: [before, after]}`` for each field that differs.
    """

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``{"added", "removed", "changed"}``."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": {k: dict(v) for k, v in self.changed.items()},
        }


def _value(v: Any) -> Any:
    """A JSON-able, comparable value: NaN/None/NA -> None, numpy scalars -> Python."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return _value(v.item())
    return v


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)
    return bool(a == b)


def _table(sensors: pd.DataFrame) -> pd.DataFrame:
    """The sensors by id with lon/lat columns (from the geometry when there is one)."""
    df = pd.DataFrame(sensors.drop(columns="geometry", errors="ignore"))
    geom = getattr(sensors, "geometry", None) if "geometry" in sensors else None
    if geom is not None:
        df["lon"], df["lat"] = geom.x.to_numpy(), geom.y.to_numpy()
    return df.set_index("sensor_id", drop=False)


def sensor_changes(
    before: pd.DataFrame, after: pd.DataFrame, fields: Sequence[str] = EDITABLE
) -> SensorChanges:
    """Compare two sensor tables (frames with ``sensor_id``; a geometry gives lon/lat).

    Examples
    --------
    >>> a = pd.DataFrame({"sensor_id": ["S1", "S2"], "range_m": [1000.0, 500.0],
    ...                   "status": ["active", "active"]})
    >>> b = pd.DataFrame({"sensor_id": ["S2", "S3"], "range_m": [800.0, 100.0],
    ...                   "status": ["active", "inactive"]})
    >>> sensor_changes(a, b).to_dict()
    {'added': ['S3'], 'removed': ['S1'], 'changed': {'S2': {'range_m': [500.0, 800.0]}}}
    """
    old, new = _table(before), _table(after)
    added = sorted(set(new.index) - set(old.index))
    removed = sorted(set(old.index) - set(new.index))
    changed: dict[str, dict[str, list[Any]]] = {}
    for sid in sorted(set(old.index) & set(new.index)):
        diffs = {}
        for f in fields:
            a = _value(old.at[sid, f]) if f in old.columns else None
            b = _value(new.at[sid, f]) if f in new.columns else None
            if not ((a is None and b is None) or (a is not None and b is not None and _same(a, b))):
                diffs[f] = [a, b]
        if diffs:
            changed[sid] = diffs
    return SensorChanges(
        added=[str(s) for s in added], removed=[str(s) for s in removed], changed=changed
    )


@dataclass(frozen=True)
class CoverageChange:
    """Border coverage after a change compared with before (same border, km).

    ``gained_km`` was a gap and is now watched; ``lost_km`` was watched and is now a gap.
    ``opened`` are gaps after the change that touch no gap before it; ``closed`` are gaps
    before it that touch no gap after it (each ``{"segment", "start_km", "end_km",
    "length_km"}``).
    """

    covered_before_km: float
    covered_after_km: float
    gained_km: float
    lost_km: float
    opened: list[dict[str, Any]]
    closed: list[dict[str, Any]]

    @property
    def net_km(self) -> float:
        """Covered km after minus before."""
        return self.covered_after_km - self.covered_before_km

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, every length in km rounded to the metre."""
        return {
            "covered_before_km": round(self.covered_before_km, 3),
            "covered_after_km": round(self.covered_after_km, 3),
            "net_km": round(self.net_km, 3),
            "gained_km": round(self.gained_km, 3),
            "lost_km": round(self.lost_km, 3),
            "gaps_opened": self.opened,
            "gaps_closed": self.closed,
        }


def _by_segment(gaps: Iterable[Mapping[str, Any]]) -> dict[int, iv.Intervals]:
    starts: dict[int, list[float]] = {}
    ends: dict[int, list[float]] = {}
    for g in gaps:
        s = int(g["segment"])
        starts.setdefault(s, []).append(float(g["start_km"]))
        ends.setdefault(s, []).append(float(g["end_km"]))
    return {s: iv.union((np.asarray(starts[s]), np.asarray(ends[s]))) for s in starts}


def _isolated(
    gaps: Sequence[Mapping[str, Any]], others: dict[int, iv.Intervals]
) -> list[dict[str, Any]]:
    """The gaps that share no stretch with ``others`` (on their segment)."""
    out = []
    for g in gaps:
        seg = int(g["segment"])
        mine = (np.asarray([float(g["start_km"])]), np.asarray([float(g["end_km"])]))
        other = others.get(seg, (np.empty(0), np.empty(0)))
        if iv.length(iv.intersect(mine, other)) <= 0.0:
            out.append(
                {
                    "segment": seg,
                    "start_km": g["start_km"],
                    "end_km": g["end_km"],
                    "length_km": g["length_km"],
                }
            )
    return out


def coverage_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> CoverageChange:
    """Compare two coverage reports of the same border (``analyse(...).report``).

    Examples
    --------
    >>> before = {"border": {"covered_km": 8.0}, "gaps": [
    ...     {"segment": 0, "start_km": 2.0, "end_km": 4.0, "length_km": 2.0}]}
    >>> after = {"border": {"covered_km": 8.5}, "gaps": [
    ...     {"segment": 0, "start_km": 3.0, "end_km": 4.0, "length_km": 1.0},
    ...     {"segment": 0, "start_km": 7.0, "end_km": 7.5, "length_km": 0.5}]}
    >>> c = coverage_change(before, after)
    >>> c.gained_km, c.lost_km, [g["start_km"] for g in c.opened], c.closed
    (1.0, 0.5, [7.0], [])
    """
    b, a = _by_segment(before["gaps"]), _by_segment(after["gaps"])
    empty: iv.Intervals = (np.empty(0), np.empty(0))
    gained = sum(iv.length(iv.subtract(b[s], a.get(s, empty))) for s in b)
    lost = sum(iv.length(iv.subtract(a[s], b.get(s, empty))) for s in a)
    return CoverageChange(
        covered_before_km=float(before["border"]["covered_km"]),
        covered_after_km=float(after["border"]["covered_km"]),
        gained_km=float(gained),
        lost_km=float(lost),
        opened=_isolated(after["gaps"], b),
        closed=_isolated(before["gaps"], a),
    )
